//! Adaptive waiting for a condition another thread's code (not ours) will
//! make true, where there is nothing to sleep on: in host mode the host's
//! handler only writes `state`. Spins briefly (the common case is a thread
//! that reacts within microseconds), then sleeps with exponential back-off
//! up to [`MAX_SLEEP_NS`], so a waiter never burns a core and never adds
//! more than that much latency. Async-signal-safe (`nanosleep`).

/// Rounds of pure spinning before the first sleep.
const SPIN_ROUNDS: u32 = 64;
/// First sleep.
const FIRST_SLEEP_NS: u64 = 2_000;
/// Longest sleep between two checks: 200 µs.
pub(crate) const MAX_SLEEP_NS: u64 = 200_000;

/// State of one wait.
pub(crate) struct Backoff {
    round: u32,
    sleep_ns: u64,
}

impl Backoff {
    /// A fresh wait.
    pub(crate) const fn new() -> Self {
        Self { round: 0, sleep_ns: FIRST_SLEEP_NS }
    }

    /// Waits a little before the caller checks again.
    pub(crate) fn pause(&mut self) {
        if self.round < SPIN_ROUNDS {
            self.round += 1;
            for _ in 0..(1u32 << (self.round / 16)) * 8 {
                core::hint::spin_loop();
            }
            return;
        }
        let ts = libc::timespec { tv_sec: 0, tv_nsec: self.sleep_ns as libc::c_long };
        // SAFETY: `ts` is valid; an early wake-up only means an early check.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        self.sleep_ns = (self.sleep_ns * 2).min(MAX_SLEEP_NS);
    }

}
