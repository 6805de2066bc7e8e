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
//! Reuse from the block cache restores everything without extra work:
//! `create_thread` rewrites the TLS and the interrupt data, the stacks are
//! garbage by definition, and `link_thread` protects the guard page again.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::diag::trace::trace;
use crate::legacy::hooks::hooks;
use crate::thread::block::{self, page_size, Private, ALIEN_STACK_SIZE, BINDING_STACK_SIZE, CONTROL_STACK_SIZE};
use crate::thread::holes;
use crate::thread::thread_ref::ThreadRef;

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
    if MODE.load(Ordering::Relaxed) == UNMAP {
        return true;
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into a valid rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) == 0 && lim.rlim_cur != libc::RLIM_INFINITY }
}

/// Stack kept below the frame of `discard`: its callee's frame (the system
/// call wrapper: a return address and a few words) must survive the call.
/// Whatever the thread touches further down on its way out is faulted in
/// again.
const EXIT_MARGIN: usize = 256;

/// Stack kept mapped below the frame of `discard` when the rest is
/// unmapped: the thread still runs glibc's exit (TLS and key destructors,
/// `__libc_thread_freeres`) there, and a fault below would kill the
/// process. Far more than that path uses; only its top pages stay
/// resident (the rest is discarded as above).
const KEEP_BELOW: usize = 64 << 10;

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

/// The holes to make, for [`discard`]: the thread's private words, where
/// they are recorded, and its block's start.
struct Holes {
    private: &'static Private,
    base: usize,
}

/// Discards every range, and the calling thread's control stack
/// `[stack_low, ...)` below this frame, in one `process_madvise(PIDFD_SELF,
/// ..., MADV_DONTNEED)` where the kernel has it (one lock and one batch of
/// TLB shootdowns for all of them: five separate calls in the dying thread
/// measurably slowed a create + join loop on the real runtime), else one
/// `madvise` each. Below this frame the stack is garbage, except the frame
/// of the system call wrapper (within `EXIT_MARGIN`); not inlined, so that
/// "here" is the deepest frame left. With `holes`, the stack more than
/// `KEEP_BELOW` below this frame is unmapped instead, then the other
/// holes (`block::pieces`), each recorded once done. A failure only means
/// the memory (or address space) stays, so it is traced, not fatal.
#[inline(never)]
fn discard(mut r: Ranges, stack_low: usize, stack_high: usize, holes: Option<Holes>) {
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    let on_stack = (stack_low..stack_high).contains(&here);
    let mut kept_low = 0;
    if on_stack {
        let low = if holes.is_some() {
            kept_low = here.saturating_sub(KEEP_BELOW) & !(page_size() - 1);
            kept_low
        } else {
            stack_low
        };
        r.add(low, here.saturating_sub(EXIT_MARGIN));
    }
    madvise_all(&r);
    if let Some(h) = holes {
        holes::make(h.private, h.base, on_stack.then_some((kept_low, here)));
    }
}

/// The `MADV_DONTNEED` of [`discard`].
fn madvise_all(r: &Ranges) {
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
            report_failure("madvise", v.iov_base as usize, v.iov_len);
        }
    }
}

/// Out of line: its formatting buffer must not enlarge the frames that
/// stay on the stack's top page.
#[cold]
#[inline(never)]
fn report_failure(what: &str, from: usize, len: usize) {
    trace!(1, "{}({:#x}, {}) failed: errno {}", what, from, len, crate::sys::errno::get());
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
    let binding = start + CONTROL_STACK_SIZE;
    let tls = start + l.tls_offset;
    let unmap = unmapping();
    let mut r = Ranges::new();
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
    let holes = unmap.then(|| Holes { private: th.private(), base: start });
    discard(r, start + page, binding, holes);
    if unmap {
        holes::trim_previous_then_queue(th);
    }
    if !unmap && DEAD_WAITING.load(Ordering::Relaxed) > GUARD_AFTER {
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
