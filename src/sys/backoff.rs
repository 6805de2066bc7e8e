//! Adaptive waiting for a condition another thread's code (not ours) will
//! make true, where there is nothing to sleep on: in host mode the host's
//! handler only writes `state`. First yields the CPU a bounded number of
//! times (the common case is a thread that reacts within microseconds,
//! maybe on this very CPU: the original's `sched_yield` loop was right
//! about that much; a pure spin before it was measured to cost a few µs at
//! one thread), then sleeps with exponential back-off up to
//! [`MAX_SLEEP_NS`], so a waiter never burns a core for longer than the
//! first few tens of µs and never adds more than that much latency. While
//! sleeping, the thread's timer slack is lowered to 2 µs (and restored
//! after), so short sleeps stay short.
//! Async-signal-safe (`nanosleep`, `prctl`).

/// Rounds of `sched_yield` before the first sleep.
const YIELD_ROUNDS: u32 = 64;
/// First sleep.
const FIRST_SLEEP_NS: u64 = 5_000;
/// Longest sleep between two checks: 200 µs.
pub(crate) const MAX_SLEEP_NS: u64 = 200_000;

/// State of one wait.
pub(crate) struct Backoff {
    round: u32,
    sleep_ns: u64,
    /// The thread's timer slack before the wait, restored at the end.
    saved_slack: Option<libc::c_ulong>,
}

/// Timer slack while sleeping in a back-off: the kernel's default of 50 µs
/// would stretch every short sleep to ~55 µs.
const SLACK_NS: libc::c_ulong = 2_000;

impl Backoff {
    /// A fresh wait.
    pub(crate) const fn new() -> Self {
        Self { round: 0, sleep_ns: FIRST_SLEEP_NS, saved_slack: None }
    }

    /// Waits a little before the caller checks again.
    pub(crate) fn pause(&mut self) {
        if self.round < YIELD_ROUNDS {
            self.round += 1;
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
            return;
        }
        if self.saved_slack.is_none() {
            // SAFETY: PR_GET/SET_TIMERSLACK only read or set a per-thread value.
            let old = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
            if old > 0 {
                self.saved_slack = Some(old as libc::c_ulong);
                // SAFETY: as above.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, SLACK_NS, 0, 0, 0) };
            }
        }
        let ts = libc::timespec { tv_sec: 0, tv_nsec: self.sleep_ns as libc::c_long };
        // SAFETY: `ts` is valid; an early wake-up only means an early check.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        self.sleep_ns = (self.sleep_ns * 2).min(MAX_SLEEP_NS);
    }
}

impl Drop for Backoff {
    fn drop(&mut self) {
        if let Some(old) = self.saved_slack {
            // SAFETY: restores the per-thread value read in `pause`.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, old, 0, 0, 0) };
        }
    }
}
