//! The per-thread memory block (spec §3): one mapping holding, low to high,
//! the control stack, the binding stack, the alien stack, the TLS area (with
//! `struct thread` at its start), the alternate signal stack, and a last
//! page for the library's own per-thread words ([`Private`]) of the initial
//! thread; every other thread keeps them at the top of its control stack,
//! above its pthread stack ([`TOP_RESERVE`]).
//!
//! The layout is computed once, from `dynamic_values_bytes`, when the first
//! block is made, and frozen: the host may set `dynamic_values_bytes` before
//! that, never after (a change is reported by `lose`). The alternate signal
//! stack is `32 * max(8192, sysconf(_SC_SIGSTKSZ))` bytes, so it is never
//! smaller than what a host built with either the legacy constant or a
//! glibc >= 2.34 run-time `SIGSTKSZ` installs at `th + dynamic_values_bytes`.
//!
//! Blocks of reaped threads go to a bounded cache (`block_cache`) instead of
//! being unmapped; see there.

use core::mem::size_of;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::legacy::globals::dynamic_values_bytes;
use crate::legacy::types::{Thread, SBTHREAD_MAX_INTERRUPTS};
use crate::diag::lose::lose;
use crate::thread::table::Slot;

/// `THREAD_CONTROL_STACK_SIZE`.
pub(crate) const CONTROL_STACK_SIZE: usize = 2 << 20;
/// `BINDING_STACK_SIZE`.
pub(crate) const BINDING_STACK_SIZE: usize = 1 << 20;
/// `ALIEN_STACK_SIZE`.
pub(crate) const ALIEN_STACK_SIZE: usize = 1 << 20;
/// `SIGSTKSZ` of the original build.
const LEGACY_SIGSTKSZ: usize = 8192;
/// glibc's `_SC_SIGSTKSZ` (bits/confname.h; not in the libc crate).
const SC_SIGSTKSZ: libc::c_int = 250;
/// Smallest TLS area that holds the struct and the interrupt contexts.
const MIN_TLS_BYTES: usize = size_of::<Thread>() + 8 * (SBTHREAD_MAX_INTERRUPTS as usize - 1);

/// Marks a private area the library initialised.
pub(crate) const PRIVATE_MAGIC: u64 = 0x5342_5448_5245_4144; // "SBTHREAD"

/// The library's own per-thread words, at the top of the control stack
/// (the initial thread's: in the block's last page; see [`TOP_RESERVE`]).
/// Nothing in the ABI points here; the library finds it from
/// `control_stack_start`.
#[repr(C)]
pub(crate) struct Private {
    /// [`PRIVATE_MAGIC`] while the block belongs to a thread.
    pub(crate) magic: AtomicU64,
    /// Sequence number of the thread (for traces).
    pub(crate) serial: AtomicU64,
    /// Event (`futex::event`): `link_thread` published `os_thread`.
    pub(crate) linked: AtomicU32,
    /// Event: the thread left STARTING.
    pub(crate) started: AtomicU32,
    /// Event: the thread is DEAD.
    pub(crate) dead: AtomicU32,
    /// 1 once a `reap_dead_thread` claimed the thread.
    pub(crate) reaping: AtomicU32,
    /// 1 once the thread's function has returned: `interrupt_thread`
    /// refuses new functions (`queue.rs`).
    pub(crate) queue_closed: AtomicU32,
    /// Standalone: 1 while a `SIG_INTERRUPT_THREAD` is on its way or the
    /// queue is known to be non-empty (senders skip the signal then).
    /// Host mode: 1 once an interrupt was sent (`host/rewake.rs`).
    pub(crate) doorbell: AtomicU32,
    /// Standalone: depth of pseudo-atomic sections.
    pub(crate) pa_depth: AtomicU32,
    /// Standalone: depth of WITHOUT-GCING sections.
    pub(crate) wogc_depth: AtomicU32,
    /// Standalone: depth of WITHOUT-INTERRUPTS sections.
    pub(crate) woi_depth: AtomicU32,
    /// Interrupt functions run in this thread.
    pub(crate) interrupts_run: AtomicU64,
    /// Cached `interrupt_data` mapping kept with the block, or 0.
    pub(crate) spare_interrupt_data: AtomicUsize,
    /// Standalone: 1 while the guard page is protected. Survives reuse
    /// from the cache (the protection does), so a reused block is not
    /// protected again.
    pub(crate) guard_protected: AtomicU32,
    /// Standalone, during a stop: the next thread on the stack of threads
    /// still to signal (`fanout.rs`), 0 at the bottom.
    pub(crate) stop_next: AtomicU64,
    /// Standalone: the bounds of the stack the thread runs on when it is
    /// not the block's control stack (a thread registered with
    /// `sbthread_attach` keeps its own); 0 otherwise. For `roots.rs`.
    pub(crate) own_stack_low: AtomicUsize,
    /// See `own_stack_low` (exclusive end).
    pub(crate) own_stack_high: AtomicUsize,
    /// The thread's kernel id, set when it starts running (0 before):
    /// a host-mode stopper looks it up in `/proc` (`host_stuck.rs`).
    pub(crate) tid: AtomicU32,
    /// Host mode: 1 from the stop signal sent to the thread until the
    /// thread is resumed, so that a stop restarted after a back-off
    /// (`host_stuck.rs`) never sends it a second one: the signal is
    /// real-time and queues, and the runtime's handler would take the
    /// extra one for its resume.
    pub(crate) stop_sent: AtomicU32,
    /// Host mode, during a stop: 1 + the context slot the stopper uses for
    /// this thread, counted as stopped while it sleeps on a Lisp mutex the
    /// stopper holds (`host_adopt.rs`); 0 otherwise.
    pub(crate) adopted: AtomicU32,
    /// Host mode, while the world is stopped: the address of the stack
    /// pointer slot in the thread's innermost context, which the stopper
    /// lowered by one word for the collector (`host/stack_top.rs`); 0
    /// otherwise.
    pub(crate) lowered_sp_slot: AtomicUsize,
    /// The value that slot had before (meaningful while `lowered_sp_slot`
    /// is not 0).
    pub(crate) lowered_sp: AtomicU64,
    /// The thread's slot in the stop table (`table.rs`), which holds its
    /// blocking-region words; set while it is linked.
    pub(crate) slot: AtomicPtr<Slot>,
    /// Depth of blocking regions (both modes; only the outermost changes
    /// the region word of its slot). Written by the thread only.
    pub(crate) region_depth: AtomicU32,
    /// The registers the thread saved when it entered its outermost region
    /// ([`REGION_REGS`] says which is which), for a collector while a stop
    /// counts it as stopped. Written by the thread before its region word
    /// becomes INSIDE, read by a stopper only while that stop counts it.
    pub(crate) region_regs: [AtomicUsize; REGION_REGS.len()],
}

/// The general register (a `ucontext_t` `gregs` index) each word of
/// `Private::region_regs` holds, in the order the region's entry saves
/// them (`standalone/blocking.rs`): the callee-saved registers, the stack
/// pointer the caller has once the entry returns, and the return address.
pub(crate) const REGION_REGS: [libc::c_int; 8] =
    [libc::REG_RBX, libc::REG_RBP, libc::REG_R12, libc::REG_R13, libc::REG_R14, libc::REG_R15, libc::REG_RSP, libc::REG_RIP];

/// Where everything is in a block.
pub(crate) struct Layout {
    /// Bytes of TLS (`dynamic_values_bytes`).
    pub(crate) tls_bytes: usize,
    /// Offset of the TLS area (and `struct thread`).
    pub(crate) tls_offset: usize,
    /// Bytes of alternate signal stack, at `tls_offset + tls_bytes`.
    pub(crate) altstack_bytes: usize,
    /// Offset of the last page, which holds [`Private`] in the initial
    /// thread's block (other blocks: [`TOP_RESERVE`]).
    pub(crate) private_offset: usize,
    /// Size of the whole mapping.
    pub(crate) total: usize,
}

static LAYOUT: spin::Once<Layout> = spin::Once::new();

/// The system page size (4096 if `sysconf` cannot tell).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn compute_layout() -> Layout {
    let dvb = dynamic_values_bytes.load(Ordering::Relaxed);
    if dvb < MIN_TLS_BYTES as i32 || dvb % 8 != 0 {
        lose!(
            "create_thread: dynamic_values_bytes = {} is not a usable TLS size (need a multiple of 8, at least {})",
            dvb,
            MIN_TLS_BYTES
        );
    }
    // SAFETY: sysconf has no preconditions.
    let run_time = unsafe { libc::sysconf(SC_SIGSTKSZ) };
    let sigstksz = LEGACY_SIGSTKSZ.max(if run_time > 0 { run_time as usize } else { 0 });
    let page = page_size();
    let tls_bytes = dvb as usize;
    let tls_offset = CONTROL_STACK_SIZE + BINDING_STACK_SIZE + ALIEN_STACK_SIZE;
    let altstack_bytes = round_up(32 * sigstksz, page);
    let private_offset = round_up(tls_offset + tls_bytes + altstack_bytes, page);
    let total = private_offset + round_up(size_of::<Private>(), page);
    Layout { tls_bytes, tls_offset, altstack_bytes, private_offset, total }
}

/// The block layout, computed on first use and then fixed. Loses if the
/// host changed `dynamic_values_bytes` after it was fixed.
pub(crate) fn layout() -> &'static Layout {
    let l = LAYOUT.call_once(compute_layout);
    let now = dynamic_values_bytes.load(Ordering::Relaxed);
    if now as usize != l.tls_bytes {
        report_changed_tls_size(l.tls_bytes, now);
    }
    l
}

#[cold]
fn report_changed_tls_size(was: usize, now: i32) -> ! {
    lose!(
        "create_thread: dynamic_values_bytes changed from {} to {} after the first thread was created; set it before creating any thread",
        was,
        now
    )
}

/// Words in a TLS area; 0 before the first block exists. Usable from a
/// signal handler (no initialisation, no lock).
pub(crate) fn tls_words() -> usize {
    LAYOUT.get().map_or(0, |l| l.tls_bytes / 8)
}

/// Bytes at the top of the control stack that hold [`Private`] in the
/// block of every thread but the initial one (the pthread's stack ends
/// below them, with 0.9.4.1's 16 bytes of slack). There the private words
/// share the stack's topmost page with glibc's thread descriptor, a page
/// that stays resident as long as the thread is registered anyway: a
/// DEAD thread waiting to be reaped keeps one page less (`dormant.rs`).
/// The initial thread's stack starts at the very top of its control stack
/// (the host's `call_into_lisp_first_time` switches to it), so its block
/// keeps the private words in the block's last page instead.
pub(crate) const TOP_RESERVE: usize = size_of::<Private>().next_multiple_of(64) + 64;

/// The start of the initial thread's block (0 until it exists).
static INITIAL_BLOCK: AtomicUsize = AtomicUsize::new(0);

/// Records that the block at `base` is the initial thread's, before its
/// private words are first used.
pub(crate) fn mark_initial_block(base: *mut u8) {
    INITIAL_BLOCK.store(base as usize, Ordering::Release);
}

/// Where the private words of the block at `base` are.
fn private_offset_of(base: *mut u8, l: &Layout) -> usize {
    if base as usize == INITIAL_BLOCK.load(Ordering::Acquire) { l.private_offset } else { CONTROL_STACK_SIZE - TOP_RESERVE }
}

/// The private area of the live block holding the `struct thread` at
/// `th` (found from the address alone: a stopper walking hundreds of
/// threads reads no other line of the struct for it).
pub(crate) fn private_of_thread(th: *mut Thread) -> &'static Private {
    let Some(l) = LAYOUT.get() else {
        lose!("private_of: a thread at {:#x} exists before any block layout", th as usize)
    };
    private_in(th.cast::<u8>().wrapping_sub(l.tls_offset), l)
}

/// The private area of the block at `base`, laid out as `l`.
fn private_in(base: *mut u8, l: &Layout) -> &'static Private {
    let p = base.wrapping_add(private_offset_of(base, l)).cast::<Private>();
    // SAFETY: the block is mapped while its thread is in use (ThreadRef
    // contract), the private area is aligned (64 bytes at least) inside it,
    // zero-initialised by mmap or re-initialised by `init_private`, and
    // holds only atomics.
    unsafe { &*p }
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Resets the private words of a block about to hold a new thread; keeps a
/// cached `interrupt_data` mapping.
pub(crate) fn init_private(p: &Private) {
    p.serial.store(SERIAL.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
    for w in [
        &p.linked,
        &p.started,
        &p.dead,
        &p.reaping,
        &p.queue_closed,
        &p.doorbell,
        &p.pa_depth,
        &p.wogc_depth,
        &p.woi_depth,
        &p.tid,
        &p.stop_sent,
        &p.adopted,
        &p.region_depth,
    ] {
        w.store(0, Ordering::Relaxed);
    }
    p.interrupts_run.store(0, Ordering::Relaxed);
    p.own_stack_low.store(0, Ordering::Relaxed);
    p.own_stack_high.store(0, Ordering::Relaxed);
    p.lowered_sp_slot.store(0, Ordering::Relaxed);
    p.lowered_sp.store(0, Ordering::Relaxed);
    p.slot.store(core::ptr::null_mut(), Ordering::Relaxed);
    p.magic.store(PRIVATE_MAGIC, Ordering::Release);
}

/// The private area of the block starting at `base`.
fn private_at(base: *mut u8) -> &'static Private {
    let p = base.wrapping_add(private_offset_of(base, layout())).cast::<Private>();
    // SAFETY: `base` starts a mapped block of `layout().total` bytes (callers
    // hold a Block); the private area is aligned (64 bytes at least) inside
    // it and holds only atomics, zero-initialised by mmap.
    unsafe { &*p }
}

/// Unmaps a block and the `interrupt_data` mapping kept with it.
fn unmap(base: *mut u8) {
    let hooks = crate::legacy::hooks::hooks();
    let spare = private_at(base).spare_interrupt_data.swap(0, Ordering::Relaxed);
    if spare != 0 {
        // SAFETY: the spare mapping came from os_validate with this size
        // and belongs to no thread.
        unsafe { hooks.os_invalidate(spare as *mut _, crate::legacy::types::SBTHREAD_INTERRUPT_DATA_SIZE as usize) };
    }
    private_at(base).magic.store(0, Ordering::Relaxed);
    // SAFETY: the block came from os_validate with this size and belongs
    // to no thread (callers give back only blocks of finished threads).
    unsafe { hooks.os_invalidate(base.cast(), layout().total) };
}

/// A mapped block, not (or no longer) owned by a thread.
pub(crate) struct Block {
    base: *mut u8,
}

impl Block {
    /// A block from the cache, or a fresh mapping from the `os_validate`
    /// hook. `None` when the mapping fails.
    pub(crate) fn obtain() -> Option<Block> {
        let l = layout();
        if let Some(base) = crate::thread::block_cache::take() {
            return Some(Block { base });
        }
        let base = crate::legacy::hooks::hooks().os_validate(core::ptr::null_mut(), l.total);
        if base.is_null() { None } else { Some(Block { base: base.cast() }) }
    }

    /// Where `struct thread` goes.
    pub(crate) fn thread_ptr(&self) -> *mut Thread {
        self.base.wrapping_add(layout().tls_offset).cast()
    }

    /// The start of the mapping (= `control_stack_start`).
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// An `interrupt_data` mapping cached with this block, if any.
    pub(crate) fn take_spare_interrupt_data(&self) -> *mut u8 {
        private_at(self.base).spare_interrupt_data.swap(0, Ordering::Relaxed) as *mut u8
    }

    /// Takes back the block starting at `base`, of a thread that has fully
    /// finished (joined, or never started).
    ///
    /// # Safety
    /// `base` must start a block made by [`Block::obtain`] that no thread
    /// uses any more.
    pub(crate) unsafe fn of_finished_thread(base: *mut u8) -> Block {
        Block { base }
    }

    /// Returns the block, with the thread's `interrupt_data` mapping (or
    /// NULL), to the cache; unmaps both when the cache is full.
    pub(crate) fn release(self, interrupt_data: *mut u8) {
        let p = private_at(self.base);
        p.magic.store(0, Ordering::Relaxed);
        p.spare_interrupt_data.store(interrupt_data as usize, Ordering::Relaxed);
        if let Err(base) = crate::thread::block_cache::put(self.base) {
            unmap(base);
        }
    }
}

/// Changes the cache bound, unmapping what no longer fits; returns the old
/// bound.
pub(crate) fn set_cache_limit(n: usize) -> usize {
    crate::thread::block_cache::set_limit(n, unmap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_spec_and_keeps_room_for_any_host_altstack() {
        let l = layout();
        assert_eq!(l.tls_offset, 4 << 20, "control + binding + alien stacks");
        assert_eq!(l.tls_bytes, 32768);
        assert!(l.altstack_bytes >= 32 * 8192);
        // SAFETY: sysconf has no preconditions.
        let run_time = unsafe { libc::sysconf(SC_SIGSTKSZ) } as usize;
        assert!(l.altstack_bytes >= 32 * run_time);
        assert!(l.private_offset >= l.tls_offset + l.tls_bytes + l.altstack_bytes);
        assert_eq!(l.private_offset % page_size(), 0);
        assert_eq!(l.total % page_size(), 0);
        assert!(l.total >= l.private_offset + size_of::<Private>());
        assert_eq!(tls_words(), 4096);
    }
}
