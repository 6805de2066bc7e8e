//! Futex wait/wake on 32-bit words: the sleeping primitive behind every wait
//! in the library that the library itself can wake (thread start-up, the
//! standalone stop-the-world, resuming, death). Both calls are plain system
//! calls and async-signal-safe.

use core::ptr;
use core::sync::atomic::AtomicU32;
use core::time::Duration;

/// Sleeps while `word` holds `expected`, for at most `timeout` if given.
/// Returns early on a wake-up, a signal, or when the value already differs;
/// callers re-check their condition in a loop.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic for the duration of the
    // call; the timespec (if any) lives on this stack frame. FUTEX_WAIT only
    // reads the word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
}

/// Wakes up to `count` waiters on `word` (`i32::MAX` wakes all).
pub(crate) fn wake(word: &AtomicU32, count: i32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; `word` is live.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            count,
        );
    }
}

/// Wakes every waiter on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    wake(word, i32::MAX);
}

/// A one-shot event on a futex word: 0 = not set, 1 = set, 2 = not set and
/// someone may be sleeping on it. Setting it makes a system call only when
/// someone waits; waiting makes one only when it is not set yet.
pub(crate) mod event {
    use core::sync::atomic::{AtomicU32, Ordering};

    const SET: u32 = 1;
    /// Yields before sleeping on an event that usually follows at once
    /// (also used by `lifecycle::join` for the same reason).
    pub(crate) const YIELDS: u32 = 20;
    const WAITING: u32 = 2;

    /// Sleeps until the event is set.
    pub(crate) fn wait(word: &AtomicU32) {
        loop {
            match word.load(Ordering::Acquire) {
                SET => return,
                0 if word.compare_exchange(0, WAITING, Ordering::AcqRel, Ordering::Acquire).is_err() => continue,
                _ => {}
            }
            super::wait(word, WAITING, None);
        }
    }

    /// As [`wait`], for an event that usually follows within microseconds
    /// and may be waiting for this very CPU (a thread about to die): yields
    /// a bounded number of times (`YIELDS`) before sleeping, which saves a
    /// sleep and a wake-up when the two threads share a core.
    pub(crate) fn wait_yielding_first(word: &AtomicU32) {
        for _ in 0..YIELDS {
            if word.load(Ordering::Acquire) == SET {
                return;
            }
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        wait(word);
    }

    /// Sets the event, waking every waiter.
    pub(crate) fn set(word: &AtomicU32) {
        if word.swap(SET, Ordering::AcqRel) == WAITING {
            super::wake_all(word);
        }
    }
}
