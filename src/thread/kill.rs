//! Sending `SIG_INTERRUPT_THREAD` and `SIG_STOP_FOR_GC`, retrying while the
//! real-time signal queue is full.
//!
//! `pthread_kill` returns EAGAIN when the caller's queued-signal limit
//! (`RLIMIT_SIGPENDING`) is reached. The original slept a whole second per
//! retry; here the retry backs off exponentially from 1 µs and never sleeps
//! longer than [`MAX_BACKOFF_NS`] at a time, so a queue that drains quickly
//! costs microseconds. As in the original, a retry assumes the queue drains
//! without this signal's help. Async-signal-safe (`pthread_kill`,
//! `nanosleep`).

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use crate::legacy::types::os_thread_t;
use crate::diag::stats;
use crate::diag::trace::trace;

/// Longest single back-off sleep: 2 ms.
pub(crate) const MAX_BACKOFF_NS: u64 = 2_000_000;
const FIRST_BACKOFF_NS: u64 = 1_000;

/// Sends `signo` to `os_thread`; returns 0 or the `pthread_kill` error
/// other than EAGAIN.
pub(crate) fn kill_thread_safely(os_thread: os_thread_t, signo: c_int) -> c_int {
    let mut backoff = FIRST_BACKOFF_NS;
    loop {
        let r = if crate::diag::fault::queue_full_should_fail() {
            libc::EAGAIN
        } else if crate::diag::fault::target_gone_should_fail() {
            libc::ESRCH
        } else {
            // SAFETY: `os_thread` is a pthread that has not been joined:
            // callers only signal threads on `all_threads`, which are
            // joined only after being unlinked.
            unsafe { libc::pthread_kill(os_thread as libc::pthread_t, signo) }
        };
        if r != libc::EAGAIN {
            return r;
        }
        stats::QUEUE_FULL_RETRIES.bump();
        stats::QUEUE_FULL_WORST_NS.fetch_max(backoff, Ordering::Relaxed);
        trace!(1, "signal queue full sending {} to {:#x}; retry in {} ns", signo, os_thread, backoff);
        let ts = libc::timespec { tv_sec: 0, tv_nsec: backoff as libc::c_long };
        // SAFETY: `ts` is valid; an early wake-up just retries sooner.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        backoff = (backoff * 2).min(MAX_BACKOFF_NS);
    }
}

/// Whether the task `tid` of this process has exited: signal 0 only
/// checks that it is there, and ESRCH says it is gone (by then the kernel
/// has cleared its pthread's `tid` word, its last write to the thread's
/// memory). A reused id answers "there": the caller then only waits
/// longer. Async-signal-safe.
pub(crate) fn task_gone(tid: u32) -> bool {
    if tid == 0 {
        return false;
    }
    let saved = crate::sys::errno::Saved::now();
    // SAFETY: signal 0 sends nothing; getpid has no preconditions.
    let gone = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid() as libc::c_long, tid as libc::c_long, 0) } == -1
        && crate::sys::errno::get() == libc::ESRCH;
    drop(saved);
    gone
}
