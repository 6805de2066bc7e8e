//! The standalone stop-the-world handshake, written once against
//! `sync.rs` so that the library and the loom model run the same code.
//!
//! `pending` counts threads asked to stop that have not suspended; the
//! stopper sleeps on it and the thread that brings it to zero wakes it.
//! `resume_seq` is bumped once per start; suspended threads sleep on it,
//! so resuming every thread is one broadcast.

use core::sync::atomic::Ordering;

use crate::sync::{Park, Word32, Word64};

/// The two futex words of the world.
pub(crate) struct World<W32> {
    /// Threads asked to stop that have not suspended yet.
    pub(crate) pending: W32,
    /// Bumped by every start.
    pub(crate) resume_seq: W32,
}

/// Thread states, as the caller's words hold them.
#[derive(Clone, Copy)]
pub(crate) struct States {
    /// RUNNING.
    pub(crate) running: u64,
    /// SUSPENDED.
    pub(crate) suspended: u64,
}

impl<W32: Word32> World<W32> {
    /// Start of a stop (the stopper holds `all_threads_lock`).
    pub(crate) fn begin_stop(&self) {
        self.pending.store(0, Ordering::Release);
    }

    /// Before signalling one thread.
    pub(crate) fn count_request(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// The signal could not be sent.
    pub(crate) fn uncount_request(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    /// In the thread asked to stop: RUNNING → SUSPENDED, wake the stopper
    /// if last, sleep until the next start. Returns the state found if it
    /// was not RUNNING (nothing done then).
    pub(crate) fn suspend<P: Park<W32>>(&self, state: &impl Word64, s: States, park: &P) -> Result<(), u64> {
        let found = state.load(Ordering::Acquire);
        if found != s.running {
            return Err(found);
        }
        let seq = self.resume_seq.load(Ordering::Acquire);
        state.store(s.suspended, Ordering::Release);
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            park.wake_all(&self.pending);
        }
        while self.resume_seq.load(Ordering::Acquire) == seq {
            park.wait(&self.resume_seq, seq);
        }
        Ok(())
    }

    /// In the stopper: sleeps until every thread asked has suspended.
    pub(crate) fn await_stopped<P: Park<W32>>(&self, park: &P) {
        loop {
            let n = self.pending.load(Ordering::Acquire);
            if n == 0 {
                return;
            }
            park.wait(&self.pending, n);
        }
    }

    /// In the starter, for each suspended thread.
    pub(crate) fn resume_one(&self, state: &impl Word64, s: States) {
        state.store(s.running, Ordering::Release);
    }

    /// After every thread was marked RUNNING: one broadcast.
    pub(crate) fn end_start<P: Park<W32>>(&self, park: &P) {
        self.resume_seq.fetch_add(1, Ordering::AcqRel);
        park.wake_all(&self.resume_seq);
    }
}
