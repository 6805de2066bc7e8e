//! The standalone stop-the-world handshake, written once against
//! `sync.rs` so that the library and the loom model run the same code.
//!
//! `pending` counts threads asked to stop that have not suspended, plus one
//! token the stopper holds while it is still sending signals, so that the
//! count cannot reach zero early. (With the fan-out of `fanout.rs` every
//! request is also counted before the first signal goes out, so either
//! would do alone; the token keeps the stopper's give-back the one place
//! where it learns that everyone had suspended already.) Whoever brings it
//! to zero sets
//! `stopped`, the one word the stopper sleeps on: the stopper wakes once,
//! when the last thread has suspended, not at every suspension.
//! `resume_seq` is bumped once per start; suspended threads sleep on it,
//! and so do threads waiting to leave a blocking region (`region.rs`), so
//! resuming every thread is one broadcast.

use core::sync::atomic::Ordering;

use crate::sys::sync::{Park, Word32, Word64};

/// The futex words of the world.
pub(crate) struct World<W32> {
    /// Threads asked to stop that have not suspended yet (+1 while the
    /// stopper is still signalling).
    pub(crate) pending: W32,
    /// 1 once `pending` reached zero in the current stop.
    pub(crate) stopped: W32,
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
    /// Start of a stop (the stopper holds `all_threads_lock`): the
    /// stopper takes its token.
    pub(crate) fn begin_stop(&self) {
        self.stopped.store(0, Ordering::Release);
        self.pending.store(1, Ordering::Release);
    }

    /// Before signalling one thread.
    pub(crate) fn count_request(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// The signal for a counted request could not be sent because the
    /// thread is DEAD. Signals are also sent by helping threads after the
    /// stopper gave back its token (`fanout.rs`), so this follows the same
    /// rule as `suspend`: whoever brings the count to zero wakes the
    /// stopper. (A helper is itself counted and suspends afterwards, so in
    /// the library's use this is never the last decrement; the rule is
    /// kept in one place anyway.)
    pub(crate) fn request_failed<P: Park<W32>>(&self, park: &P) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stopped.store(1, Ordering::Release);
            park.wake_all(&self.stopped);
        }
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
            self.stopped.store(1, Ordering::Release);
            park.wake_all(&self.stopped);
        }
        while self.resume_seq.load(Ordering::Acquire) == seq {
            park.wait(&self.resume_seq, seq);
        }
        Ok(())
    }

    /// In the stopper, once every signal is sent: gives back its token and
    /// sleeps until every thread asked has suspended.
    pub(crate) fn await_stopped<P: Park<W32>>(&self, park: &P) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            return; // everyone had suspended already
        }
        while self.stopped.load(Ordering::Acquire) == 0 {
            park.wait(&self.stopped, 0);
        }
    }

    /// In the starter, for each suspended thread.
    pub(crate) fn resume_one(&self, state: &impl Word64, s: States) {
        state.store(s.running, Ordering::Release);
    }

    /// After every thread was marked RUNNING: bumps `resume_seq`, then
    /// wakes everyone sleeping on it (one broadcast) if `sleepers`, asked
    /// after the bump, says someone may be: false only when this stop
    /// suspended no thread and no thread waits to leave a region
    /// (`region.rs`), so that a stop of threads that all sit in regions
    /// makes no system call for them.
    pub(crate) fn end_start<P: Park<W32>>(&self, park: &P, sleepers: impl FnOnce() -> bool) {
        self.resume_seq.fetch_add(1, Ordering::AcqRel);
        if sleepers() {
            park.wake_all(&self.resume_seq);
        }
    }
}
