//! What a DEAD thread gives back before it is reaped.
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
//!   symbol values stay) and the signal stack are discarded with
//!   `MADV_DONTNEED`: they read as zeros from then on, which is fixnum 0
//!   to a collector scanning the TLS, and cost nothing until written;
//! - the thread's `interrupt_data` (a copy of the creator's) likewise;
//! - the guard page is unprotected, so the block is one map entry again
//!   (and may merge with its neighbours).
//!
//! Only when it pays: giving back costs a few system calls in the dying
//! thread (each a TLB shootdown) and, for a block that comes back through
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

use crate::block::{self, ALIEN_STACK_SIZE, BINDING_STACK_SIZE, CONTROL_STACK_SIZE};
use crate::hooks::hooks;
use crate::thread_ref::ThreadRef;
use crate::trace::trace;

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

/// Whether a thread that just died should give back its memory: more
/// dead threads wait to be reaped than the block cache can take.
pub(crate) fn worth_giving_back() -> bool {
    ENABLED.load(Ordering::Relaxed) != 0 && DEAD_WAITING.load(Ordering::Relaxed) > crate::block_cache::limit()
}

/// Stack kept below the frame of `discard_stack_below_here`: its own
/// frame's callees (the `madvise` wrapper: a return address) must survive
/// the call. Whatever the thread touches further down on its way out is
/// faulted in again.
const EXIT_MARGIN: usize = 256;

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

/// Discards the pages of `[from, to)` (page-aligned inward). A failure
/// only means the memory stays resident, so it is traced, not fatal.
fn discard(from: usize, to: usize) {
    let page = page_size();
    let from = from.next_multiple_of(page);
    let to = to & !(page - 1);
    if to <= from {
        return;
    }
    // SAFETY: [from, to) lies inside the calling thread's own block (or its
    // interrupt data mapping), in parts nobody reads as anything but
    // garbage or zeros from now on (see the module comment).
    if unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) } != 0 {
        report_failure(from, to - from);
    }
}

/// Out of line: its formatting buffer must not enlarge the frames that
/// stay on the stack's top page.
#[cold]
#[inline(never)]
fn report_failure(from: usize, len: usize) {
    trace!(1, "madvise({:#x}, {}) failed: errno {}", from, len, crate::errno::get());
}

/// Discards the control stack `[low, ...)` below the caller's frame: all
/// of it is garbage (below the stack pointer), except this frame and the
/// `madvise` call's. Not inlined, so that "here" is the deepest live frame.
#[inline(never)]
fn discard_stack_below_here(low: usize, high: usize) {
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    if (low..high).contains(&here) {
        discard(low, here.saturating_sub(EXIT_MARGIN));
    }
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
    discard_stack_below_here(start + page, start + CONTROL_STACK_SIZE);
    let binding = start + CONTROL_STACK_SIZE;
    discard(binding, binding + BINDING_STACK_SIZE + ALIEN_STACK_SIZE);
    discard(start + l.tls_offset + page, start + l.private_offset);
    // SAFETY: the field was set at creation; the mapping belongs to `th`
    // until it is reaped.
    let data = unsafe { (*th.as_ptr()).interrupt_data } as usize;
    if data != 0 {
        // Its own mapping: whole pages.
        discard(data, (data + crate::abi_types::SBTHREAD_INTERRUPT_DATA_SIZE as usize).next_multiple_of(page));
    }
    hooks().protect_control_stack_guard_page(th, false);
}
