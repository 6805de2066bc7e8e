//! What a DEAD thread gives back before it is reaped, and what it takes
//! down on its way out (its signal stack inside the block).
//!
//! 0.9.4.1 reaps a dead thread only from a finalizer after a collection,
//! so a program that makes threads and conses little keeps every dead
//! thread's block until the next GC: its touched stack pages, its TLS, its
//! signal stack, and a separate map entry for its guard page. That is how
//! a low-consing create/join loop ran out of map entries.
//!
//! Once its function has returned, a thread's stacks are garbage, yet the
//! block must stay valid until `reap_dead_thread`: the `struct thread`
//! (other threads and the collector read its words), the TLS area (gencgc
//! scavenges every registered thread's TLS, precisely), the binding stack
//! up to its pointer (scavenged too; empty once everything is unbound),
//! the top of the control stack (glibc keeps the thread's descriptor there
//! until the join, and the thread is still running its last frames), and
//! the library's private words. So, in the dying thread itself, after it
//! is DEAD and has taken down its signal stack:
//!
//! - the control stack below the current frame (minus a margin for the
//!   calls still to come), the binding and alien stacks, the TLS area past
//!   its first page (the struct, the interrupt contexts and the first
//!   symbol values stay), the signal stack and the thread's
//!   `interrupt_data` (a copy of the creator's) are discarded with
//!   `MADV_DONTNEED`, all in one `process_madvise` where the kernel has it:
//!   they read as zeros from then on, which is fixnum 0 to a collector
//!   scanning the TLS, and cost nothing until written;
//! - once hundreds of dead threads wait (`GUARD_AFTER`), the guard page
//!   is unprotected too, so the block is one map entry again (and may
//!   merge with its neighbours).
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
//! Reuse from the block cache restores everything without extra work:
//! `create_thread` rewrites the TLS and the interrupt data, the stacks are
//! garbage by definition, and `link_thread` protects the guard page again.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::thread::block::{self, page_size, ALIEN_STACK_SIZE, BINDING_STACK_SIZE, CONTROL_STACK_SIZE};
use crate::legacy::hooks::hooks;
use crate::thread::thread_ref::ThreadRef;
use crate::diag::trace::trace;

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

/// 0 when `SBTHREAD_GIVE_BACK=0` turned giving back off.
static ENABLED: AtomicUsize = AtomicUsize::new(1);

/// Reads `SBTHREAD_GIVE_BACK` (called once at initialisation): `0` keeps
/// every dead thread's memory until it is reaped, as 0.9.4.1 did (a
/// little faster where many threads die between two reaps; see
/// BENCHMARKS.md).
pub(crate) fn configure_from_env() {
    if std::env::var("SBTHREAD_GIVE_BACK").is_ok_and(|v| v.trim() == "0") {
        ENABLED.store(0, Ordering::Relaxed);
    }
}

/// Dead threads waiting to be reaped beyond which a dying thread also
/// unprotects its guard page. Map entries matter only by the thousands
/// (`vm.max_map_count`), and the `mprotect` is half of what giving back
/// costs a create + join loop that reaps in batches of a hundred.
const GUARD_AFTER: usize = 256;

/// Whether a thread that just died should give back its memory: more
/// dead threads wait to be reaped than the block cache can take.
pub(crate) fn worth_giving_back() -> bool {
    ENABLED.load(Ordering::Relaxed) != 0 && DEAD_WAITING.load(Ordering::Relaxed) > crate::thread::block_cache::limit()
}

/// Stack kept below the frame of `discard`: its callee's frame (the system
/// call wrapper: a return address and a few words) must survive the call.
/// Whatever the thread touches further down on its way out is faulted in
/// again.
const EXIT_MARGIN: usize = 256;

/// Up to this many ranges are discarded per dying thread (the stack, the
/// binding and alien stacks, the TLS tail with the signal stack, the
/// interrupt data).
const MAX_RANGES: usize = 5;

/// Ranges to discard, page-aligned inward, empty ones dropped.
struct Ranges {
    iov: [libc::iovec; MAX_RANGES],
    n: usize,
}

impl Ranges {
    fn new() -> Self {
        Ranges { iov: [libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; MAX_RANGES], n: 0 }
    }

    fn add(&mut self, from: usize, to: usize) {
        let page = page_size();
        let (from, to) = (from.next_multiple_of(page), to & !(page - 1));
        if to > from && self.n < MAX_RANGES {
            self.iov[self.n] = libc::iovec { iov_base: from as *mut libc::c_void, iov_len: to - from };
            self.n += 1;
        }
    }
}

/// `PIDFD_SELF` (Linux ≥ 6.14): the calling process, without a pidfd.
const PIDFD_SELF: libc::c_int = -10000;

/// 1 until `process_madvise` on the calling process was refused (an
/// older kernel); then each range gets its own `madvise`.
static BATCHED: AtomicUsize = AtomicUsize::new(1);

/// Discards every range, and the calling thread's control stack
/// `[stack_low, ...)` below this frame, in one `process_madvise(PIDFD_SELF,
/// ..., MADV_DONTNEED)` where the kernel has it (one lock and one batch of
/// TLB shootdowns for all of them: five separate calls in the dying thread
/// measurably slowed a create + join loop on the real runtime), else one
/// `madvise` each. Below this frame the stack is garbage, except the frame
/// of the system call wrapper (within `EXIT_MARGIN`); not inlined, so that
/// "here" is the deepest frame left. A failure only means the memory stays
/// resident, so it is traced, not fatal.
#[inline(never)]
fn discard(mut r: Ranges, stack_low: usize, stack_high: usize) {
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    if (stack_low..stack_high).contains(&here) {
        r.add(stack_low, here.saturating_sub(EXIT_MARGIN));
    }
    let total: usize = r.iov[..r.n].iter().map(|v| v.iov_len).sum();
    if total == 0 {
        return;
    }
    if BATCHED.load(Ordering::Relaxed) != 0 {
        // SAFETY: the ranges lie inside the calling thread's own block (or
        // its interrupt data mapping), in parts nobody reads as anything
        // but garbage or zeros from now on (module comment); the iovec
        // array outlives the call.
        let done = unsafe { libc::syscall(libc::SYS_process_madvise, PIDFD_SELF, r.iov.as_ptr(), r.n, libc::MADV_DONTNEED, 0) };
        if done == total as libc::c_long {
            return;
        }
        BATCHED.store(0, Ordering::Relaxed);
    }
    for v in &r.iov[..r.n] {
        // SAFETY: as above, one range at a time.
        if unsafe { libc::madvise(v.iov_base, v.iov_len, libc::MADV_DONTNEED) } != 0 {
            report_failure(v.iov_base as usize, v.iov_len);
        }
    }
}

/// Out of line: its formatting buffer must not enlarge the frames that
/// stay on the stack's top page.
#[cold]
#[inline(never)]
fn report_failure(from: usize, len: usize) {
    trace!(1, "madvise({:#x}, {}) failed: errno {}", from, len, crate::sys::errno::get());
}

/// In `th` itself once `new_thread_trampoline` has returned (DEAD, its
/// signal stack taken down, only the pthread's own exit still to run, on
/// the topmost page or two of the stack): gives back what it no longer
/// needs (module comment). The block stays `th`'s until the reaper has
/// joined it.
pub(crate) fn give_back(th: ThreadRef) {
    let l = block::layout();
    let page = page_size();
    let start = th.block_start() as usize;
    let mut r = Ranges::new();
    let binding = start + CONTROL_STACK_SIZE;
    r.add(binding, binding + BINDING_STACK_SIZE + ALIEN_STACK_SIZE);
    r.add(start + l.tls_offset + page, start + l.private_offset);
    // SAFETY: the field was set at creation; the mapping belongs to `th`
    // until it is reaped.
    let data = unsafe { (*th.as_ptr()).interrupt_data } as usize;
    if data != 0 {
        // Its own mapping: whole pages.
        r.add(data, (data + crate::legacy::types::SBTHREAD_INTERRUPT_DATA_SIZE as usize).next_multiple_of(page));
    }
    discard(r, start + page, start + CONTROL_STACK_SIZE);
    if DEAD_WAITING.load(Ordering::Relaxed) > GUARD_AFTER {
        // SAFETY: `th` is the calling thread's own live struct.
        unsafe { hooks().protect_control_stack_guard_page(th.as_ptr(), false) };
    }
}

/// Takes down the alternate signal stack `arch_os_thread_init` put inside
/// the block, before the thread exits. Otherwise thread-exit hooks that
/// free "their" alternate stack (AddressSanitizer's, for one) would unmap
/// part of a block that the cache hands to the next thread.
pub(crate) fn release_altstack(th: ThreadRef) {
    let mut cur = core::mem::MaybeUninit::<libc::stack_t>::uninit();
    // SAFETY: querying the current alternate stack into a valid out-pointer.
    if unsafe { libc::sigaltstack(core::ptr::null(), cur.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: sigaltstack succeeded and filled `cur`.
    let cur = unsafe { cur.assume_init() };
    let start = th.block_start() as usize;
    let sp = cur.ss_sp as usize;
    if cur.ss_flags & libc::SS_DISABLE == 0 && sp >= start && sp < start + block::layout().total {
        let off = libc::stack_t { ss_sp: core::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: disabling the alternate stack; no handler runs on it now
        // (the thread is not in a handler: it is returning to glibc).
        unsafe { libc::sigaltstack(&off, core::ptr::null_mut()) };
    }
}
