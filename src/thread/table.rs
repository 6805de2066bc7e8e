//! The stop table: one cache line per registered thread, in a few
//! contiguous pages, holding what a stopper needs to decide about a thread
//! without touching the thread's own memory: the thread's address and its
//! blocking-region words (`world/region.rs`).
//!
//! Why: every thread's `struct thread` and private words live in its own
//! block of several MiB, so a stopper that walks `all_threads` visits one
//! or two pages per thread; on a virtual machine each costs a TLB miss and
//! a nested page walk, about 7 ns per thread and pass with 256 threads
//! (measured), several times bdwgc's walk of its compact thread table. A
//! stop of threads that sit in blocking regions reads and writes only
//! their slots here, in order.
//!
//! A slot is taken when a thread is linked (`registry::push_front`) and
//! given back when it is unlinked (`registry::unlink`), both under
//! `all_threads_lock` (or by the only thread, at the start), so a stopper,
//! which holds the lock, sees a fixed set. Slots are never unmapped: a
//! chunk of 64 slots (4 KiB) is mapped when the table grows, and a free
//! slot is reused first. The thread finds its slot through
//! `Private::slot`; it writes only its `region` word, the stopper only
//! `counted`, and each slot has its own cache line, so threads entering and
//! leaving regions never share one.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};

use crate::diag::lose::{addr, lose};
use crate::legacy::types::Thread;

/// One thread's entry.
#[repr(C, align(64))]
pub(crate) struct Slot {
    /// The thread, or null while the slot is free.
    pub(crate) thread: AtomicPtr<Thread>,
    /// OUTSIDE or INSIDE a blocking region (`region.rs`; the thread's).
    pub(crate) region: AtomicU32,
    /// The serial of the stop that counted the thread as stopped in its
    /// region (`region.rs`; the stopper's). 0: never.
    pub(crate) counted: AtomicU64,
    /// While free: 1 + the index of the next free slot (0 ends the list).
    next_free: AtomicU32,
    /// The slot's own index.
    index: AtomicU32,
}

static_assertions::const_assert_eq!(core::mem::size_of::<Slot>(), 64);

/// Slots per chunk (one 4 KiB mapping).
const CHUNK: usize = 64;
/// Chunks the directory can hold: 262,144 threads at once.
const CHUNKS: usize = 4096;

/// The chunks mapped so far, in order.
static DIRECTORY: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; CHUNKS];
/// Slots handed out at least once (the table's extent).
static EXTENT: AtomicU32 = AtomicU32::new(0);
/// 1 + the index of the first free slot below `EXTENT`, 0 if none.
static FREE: AtomicU32 = AtomicU32::new(0);

/// Slot `i`, which lies at or below the extent, in a mapped chunk.
fn slot(i: u32) -> &'static Slot {
    let chunk = DIRECTORY[i as usize / CHUNK].load(Ordering::Acquire);
    // SAFETY: every chunk below the extent is mapped for the life of the
    // process and holds CHUNK slots, which hold only atomics.
    unsafe { &*chunk.add(i as usize % CHUNK) }
}

/// A slot for `th`, being linked. The caller holds `all_threads_lock` (or
/// is the only thread).
pub(crate) fn take(th: *mut Thread) -> &'static Slot {
    let free = FREE.load(Ordering::Relaxed);
    let s = if free != 0 {
        let s = slot(free - 1);
        FREE.store(s.next_free.load(Ordering::Relaxed), Ordering::Relaxed);
        s
    } else {
        let i = EXTENT.load(Ordering::Relaxed);
        if (i as usize).is_multiple_of(CHUNK) {
            map_chunk(i, th);
        }
        let s = slot(i);
        s.index.store(i, Ordering::Relaxed);
        EXTENT.store(i + 1, Ordering::Release);
        s
    };
    // 0 is OUTSIDE (`region.rs`).
    s.region.store(0, Ordering::Relaxed);
    s.counted.store(0, Ordering::Relaxed);
    s.thread.store(th, Ordering::Release);
    s
}

/// Maps the chunk that starts with slot `first`.
#[cold]
fn map_chunk(first: u32, th: *mut Thread) {
    let c = first as usize / CHUNK;
    if c >= CHUNKS {
        lose!("link_thread: thread {:#x} would be the {}th registered thread; the stop table holds {}", addr(th), first + 1, CHUNK * CHUNKS);
    }
    let Some(len) = core::num::NonZeroUsize::new(CHUNK * size_of::<Slot>()) else { unreachable!("non-zero constant") };
    // SAFETY: an anonymous private mapping at an address the kernel
    // chooses cannot disturb existing memory.
    let mapped = unsafe { mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_PRIVATE) };
    match mapped {
        Ok(p) => DIRECTORY[c].store(p.as_ptr().cast(), Ordering::Release),
        Err(e) => lose!("link_thread: cannot map {} bytes for the stop table (thread {:#x}): {}", len, addr(th), e.desc()),
    }
}

/// Gives back the slot of a thread being unlinked. The caller holds
/// `all_threads_lock`.
pub(crate) fn give_back(s: &'static Slot) {
    s.thread.store(core::ptr::null_mut(), Ordering::Release);
    s.next_free.store(FREE.load(Ordering::Relaxed), Ordering::Relaxed);
    FREE.store(s.index.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// The published chunks below the extent, each as its slice of slots (a
/// chunk being added by a `take` under the lock is skipped: its slots are
/// not in use yet).
fn chunks() -> impl Iterator<Item = &'static [Slot]> {
    let extent = EXTENT.load(Ordering::Acquire) as usize;
    DIRECTORY.iter().enumerate().take(extent.div_ceil(CHUNK)).filter_map(move |(c, chunk)| {
        let base = chunk.load(Ordering::Acquire).cast_const();
        // SAFETY: a chunk once published is mapped for the life of the
        // process and holds CHUNK slots of atomics.
        (!base.is_null()).then(|| unsafe { core::slice::from_raw_parts(base, CHUNK.min(extent - c * CHUNK)) })
    })
}

/// Whether `th` is the thread of a slot in use: a thread linked and not
/// yet unlinked (reaped). Takes no lock and reads only the table, whose
/// chunks are never unmapped, so a stale or corrupt `th` is answered, not
/// dereferenced; a thread linked or unlinked meanwhile may be seen either
/// way. For `interrupt_thread`'s check of its argument: a walk of a few
/// cache lines per 64 threads, where a read that cannot fault would cost
/// a system call per interrupt.
pub(crate) fn holds(th: *mut Thread) -> bool {
    chunks().flatten().any(|s| s.thread.load(Ordering::Acquire) == th)
}

/// Calls `f` with every slot in use and its thread, in table order (for
/// a stopper, which holds `all_threads_lock`: then none is taken or given
/// back meanwhile). A chunk at a time: this is the stopper's walk over
/// every thread, twice per stop.
pub(crate) fn for_each_in_use(mut f: impl FnMut(&'static Slot, *mut Thread)) {
    for s in chunks().flatten() {
        let th = s.thread.load(Ordering::Acquire);
        if !th.is_null() {
            f(s, th);
        }
    }
}
