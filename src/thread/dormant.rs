//! What a DEAD thread gives back before it is reaped, and what it takes
//! down on its way out (its signal stack inside the block).
//!
//! 0.9.4.1 reaps a dead thread only from a finalizer after a collection,
//! so a program that makes threads and conses little keeps every dead
//! thread's block until the next GC: its touched stack pages, its TLS, its
//! signal stack, a separate map entry for its guard page, and all of its
//! 4.3 MiB of address space. That is how a low-consing create/join loop
//! ran out of map entries, and, under an `RLIMIT_AS`, out of address
//! space (`sbcl/lisp/exhaust-threads.lisp`).
//!
//! What is read of a DEAD, unreaped thread, and by whom (checked against
//! 0.9.4.1's sources): gencgc's `garbage_collect_generation` reads the
//! struct's fields (and `gc_alloc_update_all_page_tables` its allocation
//! region); its interrupt contexts, and the control stack from the lowest
//! context's stack pointer up, only while `FREE_INTERRUPT_CONTEXT_INDEX`
//! is above 0 (`gencgc.c`: `esp` stays -1 otherwise, and the loop
//! `ptr > esp` reads nothing; a dead thread's is 0: the variable is bound
//! around each handler and all of its function's bindings are undone);
//! every `interrupt_data->interrupt_handlers[]` entry that is not SIG_DFL
//! or SIG_IGN (its own mapping); `interrupt_fun`; the binding stack up to
//! `BINDING_STACK_POINTER` (for a dead thread the 7 bindings
//! `create_thread_struct` made: 112 bytes); the TLS words up to
//! `FREE_TLS_INDEX`, a global that grows, so the whole TLS area.
//! `is_valid_lisp_addr` (`linux-os.c`) only compares addresses with the
//! struct's stack bounds; SYMBOL-VALUE-IN-THREAD reads TLS words.
//! Besides: glibc's descriptor and static TLS at the top of the control
//! stack (`pthread_kill`, `setxid`, a `dlopen` with static TLS walk every
//! descriptor until the join), the library's private words there
//! (`block::TOP_RESERVE`), and the frames of the thread's own exit. Never
//! read: the control stack below those frames, the binding stack past its
//! first page, the alien stack, the signal stack, the block's last page.
//! Standalone, a stopper and `sbthread_scan_roots` skip DEAD threads.
//!
//! So, in the dying thread itself, after it is DEAD and has taken down its
//! signal stack (`pthread_entry`, once its trampoline's frames are gone):
//!
//! - memory: the control stack below the current frame (minus a margin
//!   for the calls still to come), the binding stack's first page, the TLS
//!   area past its first page (the struct, the interrupt contexts and the
//!   first symbol values stay) and the thread's `interrupt_data` (a copy
//!   of the creator's) are discarded
//!   with `MADV_DONTNEED`, all in one `process_madvise` where the kernel
//!   has it: they read as zeros from then on, which is fixnum 0 to a
//!   collector scanning the TLS and SIG_DFL in the handler table, and cost
//!   nothing until written; without holes (below), the rest of the
//!   binding stack, the alien stack and the signal stack too;
//! - address space, when the process has an `RLIMIT_AS` (or with
//!   `SBTHREAD_GIVE_BACK=unmap`): the never-read pieces are unmapped
//!   (`block::pieces`: the control stack more than `KEEP_BELOW` below the
//!   dying frame, with the guard page; the binding stack past its first
//!   page and the alien stack; the signal stack and the last page), each
//!   recorded in the private words (`Private::holes`, `kept_low`) once
//!   done. The margin (64 KiB: glibc's exit, destructors of thread-local
//!   data, a late signal; a fault there would kill the process) is needed
//!   only until the pthread has exited: the next thread that makes holes
//!   unmaps it then (`holes.rs`; whether it has exited: `tgkill` with
//!   signal 0 says ESRCH). A dead thread then keeps about 48 KiB of
//!   address space (the control stack's top page or two, the binding
//!   stack's first page, the TLS area, the interrupt data) instead of
//!   4.3 MiB (110 KiB before its margin is trimmed). `MADV_DONTNEED` gives
//!   back no address space, and a `PROT_NONE` reservation still counts. The block
//!   is then never cached, and `Block::release` unmaps only the pieces
//!   that are left, never the whole: by then a hole may hold someone
//!   else's mapping;
//! - otherwise, once hundreds of dead threads wait (`GUARD_AFTER`), the
//!   guard page is unprotected, so the block is one map entry again (and
//!   may merge with its neighbours).
//!
//! Why holes only under an address-space limit: a block with holes is two
//! map entries (its interrupt data a third) that merge with nothing, where
//! a whole block with its guard page unprotected merges with its
//! neighbours (0.26 entries per dead thread, BENCHMARKS.md). Without a
//! limit a 64-bit process has terabytes of address space, and
//! `vm.max_map_count` (65530) is what dead threads run out of first; under
//! one, address space runs out first (720 MiB is 160 whole blocks, or
//! about 15,000 with holes, 45,000 map entries). `RLIMIT_AS` is read at each
//! give-back: a program may set it at any time.
//!
//! DEAD comes first, and nothing waits for the giving back: `become_dead`
//! marks the thread DEAD (and wakes `sbthread_wait_dead`, a stopper, a
//! THREAD-ALIVE-P poller) before any of this, which runs afterwards
//! without a lock. That is safe because nothing it changes is read by
//! anyone who may see the thread DEAD, concurrently or later:
//! - a host-mode stopper counts a DEAD thread as stopped and the
//!   collector may then scan it while it gives back: the collector reads
//!   only what stays mapped (above); the zeros `MADV_DONTNEED` leaves in
//!   the bindings, the TLS tail and the interrupt data are as good as the
//!   old words to it (a word it scavenges reads either: 0 is fixnum 0,
//!   and SIG_DFL in the handler table), and the stopper itself reads only
//!   the struct's state and the private words (and a signal it sends reads
//!   glibc's descriptor, which stays);
//! - the thread's control stack is read only through its interrupt
//!   contexts, and a DEAD thread has none (`FREE_INTERRUPT_CONTEXT_INDEX`
//!   0, and the blockable signals stay blocked in host mode, so no handler
//!   pushes one; standalone, a late handler runs on the kept top of the
//!   stack, its signal stack taken down before; an adopted sleeper,
//!   `host/adopt.rs`, cannot run, let alone die, before the start pops
//!   its stand-in context);
//! - the reaper takes the block only after `pthread_join`, so it reads
//!   `holes` and `kept_low` after the thread wrote them, and unmaps
//!   nothing the thread is still using; before it releases the block it
//!   takes the thread out of `holes.rs`'s pending slot, or waits while a
//!   dying thread that claimed it trims it (`holes::forget_trim`):
//!   no trim touches a released block, whose holes may be someone else's
//!   by then. A trimmer only reads the private words of a thread it has
//!   claimed, and writes its new `kept_low` before it lets go (release,
//!   read by the reaper's acquire).
//!
//! Only when it pays: giving back costs system calls in the dying thread
//! (each a TLB shootdown) and, for a block that comes back through
//! the block cache, page faults when the next thread writes its TLS again
//! (create + reap in a loop: 28 → 130 µs per thread when every thread
//! gave back). A program that reaps promptly never has more dead threads
//! waiting than the cache holds, and their blocks are about to be reused;
//! so a thread gives back only when more dead, unreaped threads are
//! waiting than the cache can hold (`DEAD_WAITING`), which is exactly when
//! dead threads pile up (0.9.4.1 between two collections).
//!
//! In batches: each give-back is a system call whose fixed costs (the
//! lock, a TLB shootdown of every other CPU running the process) hit the
//! threads that are running, the creator of the next thread first. On the
//! real runtime, a create + join loop that gave back in every dying thread
//! was 1.16-1.28× of upstream's by polling, and 0.91× when one dying
//! thread in 16 gave back (BENCHMARKS.md). So a dying thread that finds
//! fewer than `BATCH - 1` others waiting only records its deepest frame
//! (`Private::exit_frame`) and waits in a slot (`pending.rs`); the one
//! that would be the `BATCH`-th gives back its own memory with that of
//! the waiting threads whose pthread has exited (`kill::task_gone`; then
//! their stack below the recorded frame is garbage too), in one
//! `process_madvise`; those not yet exited wait for the next batch. So at
//! most `BATCH - 1` (7) dead threads keep their memory at any time, until
//! another thread dies or they are reaped. A batch holds its threads by a
//! claim in their slots; the reaper takes its thread out of its slot
//! after the join and before it releases the block, waiting while a batch
//! holds it (`pending.rs`, loom model `pending_*`). Under an address-space
//! limit each dying thread still gives back alone, at once (its holes are
//! address space the limit counts).
//!
//! Reuse from the block cache restores everything without extra work:
//! `create_thread` rewrites the TLS and the interrupt data, the stacks are
//! garbage by definition, and `link_thread` protects the guard page again.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::legacy::hooks::hooks;
use crate::legacy::types::Thread;
use crate::sys::sync::Futex;
use crate::thread::block::{self, page_size, ALIEN_STACK_SIZE, BINDING_STACK_SIZE, CONTROL_STACK_SIZE};
use crate::thread::discard::{discard, Holes, Ranges};
use crate::thread::pending::Pending;
use crate::thread::thread_ref::ThreadRef;
use crate::thread::{holes, kill};

/// DEAD threads not yet reaped.
static DEAD_WAITING: AtomicUsize = AtomicUsize::new(0);

/// A thread became DEAD (it is counted until it is reaped).
pub(crate) fn dead_waiting_add() {
    DEAD_WAITING.fetch_add(1, Ordering::Relaxed);
}

/// A DEAD thread was reaped.
pub(crate) fn dead_waiting_sub() {
    DEAD_WAITING.fetch_sub(1, Ordering::Relaxed);
}

/// `SBTHREAD_GIVE_BACK`: [`OFF`], [`AUTO`] (the default) or [`UNMAP`].
static MODE: AtomicUsize = AtomicUsize::new(AUTO);
/// `SBTHREAD_GIVE_BACK=0`: a dead thread keeps its memory until reaped.
const OFF: usize = 0;
/// Memory always; address space too when `RLIMIT_AS` is finite.
const AUTO: usize = 1;
/// `SBTHREAD_GIVE_BACK=unmap`: memory and address space, always.
const UNMAP: usize = 2;

/// Reads `SBTHREAD_GIVE_BACK` (called once at initialisation): `0` keeps
/// every dead thread's memory until it is reaped, as 0.9.4.1 did (a
/// little faster where many threads die between two reaps; see
/// BENCHMARKS.md); `unmap` gives back address space even without an
/// `RLIMIT_AS` (for strict overcommit, say, where it is what runs out).
pub(crate) fn configure_from_env() {
    match std::env::var("SBTHREAD_GIVE_BACK").as_deref().map(str::trim) {
        Ok("0") => MODE.store(OFF, Ordering::Relaxed),
        Ok("unmap") => MODE.store(UNMAP, Ordering::Relaxed),
        _ => {}
    }
}

/// Dead threads waiting to be reaped beyond which a dying thread that
/// keeps its address space also unprotects its guard page. Map entries
/// matter only by the thousands (`vm.max_map_count`), and the `mprotect`
/// is half of what giving back costs a create + join loop that reaps in
/// batches of a hundred.
const GUARD_AFTER: usize = 256;

/// Whether a thread that just died should give back its memory: more
/// dead threads wait to be reaped than the block cache can take.
pub(crate) fn worth_giving_back() -> bool {
    MODE.load(Ordering::Relaxed) != OFF && DEAD_WAITING.load(Ordering::Relaxed) > crate::thread::block_cache::limit()
}

/// Whether the dying thread gives back address space too (module comment):
/// when the process has an address-space limit, which the program may set
/// at any time (so it is read each time).
fn unmapping() -> bool {
    MODE.load(Ordering::Relaxed) == UNMAP || block::address_space_limited()
}

/// Waiting threads that make a dying thread give back theirs with its
/// own (module comment, "In batches"): at most `BATCH - 1` wait.
const BATCH: usize = 8;
/// Slots for DEAD threads waiting for a batch (`pending.rs`): more than
/// `BATCH - 1`, for the dying threads that look at the count at once.
const SLOTS: usize = 2 * BATCH;
/// Ranges of one batch: five of the dying thread's own, four of each of
/// the at most `BATCH` threads it takes (stack, binding and alien stacks,
/// TLS tail, interrupt data). Small: the array lies on the dying thread's
/// stack, in pages that stay resident.
const BATCH_RANGES: usize = 5 + 4 * BATCH;

static PENDING: Pending<AtomicU64, AtomicU32, SLOTS> =
    Pending::new([const { AtomicU64::new(0) }; SLOTS], AtomicU32::new(0), AtomicU32::new(0));

/// The ranges of `th`'s block that a DEAD thread no longer needs, but
/// its control stack (module comment); `unmap`: those that stay mapped
/// when the rest becomes holes.
fn add_ranges<const N: usize>(r: &mut Ranges<N>, th: ThreadRef, unmap: bool) {
    let l = block::layout();
    let page = page_size();
    let start = th.block_start() as usize;
    let binding = start + CONTROL_STACK_SIZE;
    let tls = start + l.tls_offset;
    if unmap {
        // The stacks' rest, the signal stack and the last page go with
        // the holes; the binding stack's first page and the TLS tail stay
        // mapped (the collector reads them; FREE_TLS_INDEX grows).
        r.add(binding, binding + page);
        r.add(tls + page, tls + l.tls_bytes);
    } else {
        r.add(binding, binding + BINDING_STACK_SIZE + ALIEN_STACK_SIZE);
        r.add(tls + page, start + l.private_offset);
    }
    // SAFETY: the field was set at creation; the mapping belongs to `th`
    // until it is reaped.
    let data = unsafe { (*th.as_ptr()).interrupt_data } as usize;
    if data != 0 {
        // Its own mapping: whole pages.
        r.add(data, (data + crate::legacy::types::SBTHREAD_INTERRUPT_DATA_SIZE as usize).next_multiple_of(page));
    }
}

/// In `th` itself once `new_thread_trampoline` has returned (DEAD, its
/// signal stack taken down, only the pthread's own exit still to run, on
/// the topmost page or two of the stack), when dead threads pile up
/// ([`worth_giving_back`]): gives back what it no longer needs (module
/// comment) now, with the waiting threads' of a batch, or later, in a
/// batch of another dying thread. The block stays `th`'s until the reaper
/// has joined it.
pub(crate) fn give_back(th: ThreadRef) {
    if unmapping() {
        give_back_alone(th);
        return;
    }
    if (PENDING.waiting() as usize) + 1 < BATCH {
        // Everything below the deepest frame of this give-back is garbage
        // once the pthread has exited: a batch discards the stack up to it.
        th.private().exit_frame.store(frame_address(), Ordering::Relaxed);
        if PENDING.put(th.as_ptr() as u64) {
            return;
        }
    }
    give_back_batch(th);
}

/// An address in the frame of this call: not inlined, so that it lies
/// below its caller's frame.
#[inline(never)]
fn frame_address() -> usize {
    let marker = 0u8;
    core::hint::black_box(&marker) as *const u8 as usize
}

/// Under an address-space limit: memory and address space, at once, in
/// the dying thread alone (holes are made one thread at a time).
fn give_back_alone(th: ThreadRef) {
    let start = th.block_start() as usize;
    let mut r = Ranges::<5>::new();
    add_ranges(&mut r, th, true);
    let holes = Some(Holes { private: th.private(), base: start });
    discard(&mut r, start + page_size(), start + CONTROL_STACK_SIZE, holes);
    holes::trim_previous_then_queue(th);
}

/// The memory of `me` and of up to `BATCH` waiting threads whose pthread
/// has exited, in one system call; the others keep waiting. Not inlined:
/// its arrays must not deepen `give_back`'s frame, below which a waiting
/// thread's stack is discarded.
#[inline(never)]
fn give_back_batch(me: ThreadRef) {
    let page = page_size();
    let mut r = Ranges::<BATCH_RANGES>::new();
    let mut taken = [0u64; BATCH];
    let mut n = 0;
    let mask = PENDING.claim(
        |v| {
            if n == BATCH {
                return false;
            }
            // SAFETY: a waiting thread's struct, claimed: its reaper waits
            // (`forget`) before it releases the block.
            let Some(th) = (unsafe { ThreadRef::new(v as *mut Thread) }) else { return false };
            let p = th.private();
            if !kill::task_gone(p.tid.load(Ordering::Relaxed)) {
                return false;
            }
            add_ranges(&mut r, th, false);
            r.add(th.block_start() as usize + page, p.exit_frame.load(Ordering::Relaxed));
            taken[n] = v;
            n += 1;
            true
        },
        &Futex,
    );
    add_ranges(&mut r, me, false);
    let start = me.block_start() as usize;
    discard(&mut r, start + page, start + CONTROL_STACK_SIZE, None);
    let unprotect = DEAD_WAITING.load(Ordering::Relaxed) > GUARD_AFTER;
    for &v in taken[..n].iter().chain(&[me.as_ptr() as u64]) {
        // SAFETY: `me`'s own struct, or a claimed one (as above).
        let Some(th) = (unsafe { ThreadRef::new(v as *mut Thread) }) else { continue };
        th.private().given_back.store(1, Ordering::Relaxed);
        if unprotect {
            // SAFETY: as above.
            unsafe { hooks().protect_control_stack_guard_page(th.as_ptr(), false) };
        }
    }
    PENDING.finish(mask, &Futex);
}

/// In the reaper of `th`, after its join and before its block is
/// released: takes it out of the batch's slots, waiting while a batch
/// gives it back.
pub(crate) fn forget(th: ThreadRef) {
    PENDING.forget(th.as_ptr() as u64, &Futex);
}

/// Takes down the alternate signal stack `arch_os_thread_init` put inside
/// the block, before the thread exits. Otherwise thread-exit hooks that
/// free "their" alternate stack (AddressSanitizer's, for one) would unmap
/// part of a block that the cache hands to the next thread.
pub(crate) fn release_altstack(th: ThreadRef) {
    let off = libc::stack_t { ss_sp: core::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
    let mut old = core::mem::MaybeUninit::<libc::stack_t>::uninit();
    // SAFETY: disabling the alternate stack, the old one into a valid
    // out-pointer; no handler runs on it now (the thread is not in a
    // handler: it is returning to glibc).
    if unsafe { libc::sigaltstack(&off, old.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: sigaltstack succeeded and filled `old`.
    let old = unsafe { old.assume_init() };
    let start = th.block_start() as usize;
    let sp = old.ss_sp as usize;
    if old.ss_flags & libc::SS_DISABLE == 0 && !(sp >= start && sp < start + block::layout().total) {
        // Not ours (a thread-exit hook may own it): put it back.
        // SAFETY: re-installing the stack that was installed a moment ago.
        unsafe { libc::sigaltstack(&old, core::ptr::null_mut()) };
    }
}
