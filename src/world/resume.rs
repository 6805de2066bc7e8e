//! Host mode's resume, written once against `sync.rs` so that the library
//! and the loom model (`model_tests.rs`) run the same code: a stopped
//! thread waits for what its resume means (its state becoming RUNNING,
//! announced by a bump of one generation word), not for the next
//! `SIG_STOP_FOR_GC`, so that a start is a futex wake (the stopper's, of
//! one thread, and that thread's, of the others) instead of a signal for
//! each thread (the measure `RESUME_WAKE`, `host/measures.rs`).
//!
//! 0.9.4.1's handler waits for its resume in `sigwaitinfo` and takes the
//! next `SIG_STOP_FOR_GC` for it. That wait is ours (`abi/sigwait.rs`,
//! `host/resume_wait.rs`), and it runs [`wait`] instead.
//!
//! Words: per thread, `word` (its private `resume_wait`): a phase — IDLE,
//! WAITING (in [`wait`], woken by the generation) or SIGNALLED (the
//! stopper sent the resume signal: the thread must take it) — and the
//! flag KNOWN (the thread has waited in [`wait`] before: its handler's
//! wait is ours, so it will be again); for everyone, `generation`, bumped by
//! every start that woke anyone, the futex word the waiters sleep on.
//!
//! The stopper ([`resume_one`]) marks the thread RUNNING first, then
//! decides: KNOWN, or WAITING, → no signal (the thread sees RUNNING, now
//! or after the wake of [`end`]); otherwise it claims the thread with a
//! compare-and-swap to SIGNALLED and sends the signal, the fallback of a
//! thread whose handler may not wait in ours. The thread enters with a
//! compare-and-swap to KNOWN|WAITING; exactly one of the two swaps wins,
//! so a signal is sent exactly when the thread will take it; the stopper
//! adds OUT once it is sent, and the thread, having taken a signal, waits
//! for OUT before it drains (below): the one it took may have been a
//! stale one, the resume signal then pending. The thread
//! reads `generation` before the state, the stopper bumps it after every
//! state: a waiter that saw SUSPENDED sleeps on a value the bump changes.
//!
//! **One wake from the stopper, the rest from a resumed thread.** Waking
//! every waiter from the stopper's CPU at once made the stopper (the thread
//! that collected, with the rest of its `(gc)` still to run) queue behind
//! all of them whenever they were busy threads: with 8 threads consing on 2
//! CPUs a collection took 2.2× as long as with one resume signal per
//! thread. So [`end`] sets `delegate` and wakes *one* waiter; the first
//! resumed thread to leave [`wait`] (woken or never asleep) takes
//! `delegate` with a swap and wakes all the others ([`pass_on`]), from its
//! own CPU. The flag is set before the wake, so the woken one finds it (or
//! a thread that left before it took it and woke everyone); a waiter still
//! asleep then was asleep when the stopper woke one, so some resumed
//! thread leaves after the flag is set. Nobody waits on `generation` but
//! resumed threads at that moment: a new stop cannot begin before the start
//! returns (the stopper holds `all_threads_lock`).
//!
//! **A stop right after a start takes back what was not seen.** A new stop
//! may begin before the woken thread has run (a collection right after
//! another): its threads are RUNNING but still asleep in [`wait`]. Waking
//! them from the stopper (as a first form did) made the stopper queue
//! behind all of them whenever they were busy threads: 0.1-0.26 s a stop
//! with 64. Instead the stopper takes each such resume back ([`cancel`]):
//! one swap WAITING → CANCELLED on the thread's word, against the thread's
//! own swap WAITING → IDLE as it leaves, so exactly one wins; if the
//! stopper's does, it stores SUSPENDED and the thread, still in its wait,
//! is stopped without a signal; the flag is cleared (nobody waits for the
//! wake). The next start's [`resume_one`] turns CANCELLED back into
//! WAITING before its bump, and the thread leaves as after any start.
//!
//! A stale `SIG_STOP_FOR_GC` (one no stop is owed) is never taken for a
//! resume here, and [`drain_stale`] takes it before the handler returns,
//! or it would start a suspension that no stopper asked for. `sent` (the
//! thread's `stop_sent`) is SENT from a stopper's claim ([`claim_stop`])
//! until the thread is resumed: while the resumed thread sees it NONE,
//! every `SIG_STOP_FOR_GC` pending for it is stale; it holds DRAINING
//! while it takes them, and a stopper that wants to stop it meanwhile
//! waits (a few system calls of a thread inside its handler).

use core::sync::atomic::Ordering::{AcqRel, Acquire, Release};

use crate::sys::sync::{Park, Word32, Word64};

/// Not in the resume wait.
pub(crate) const IDLE: u32 = 0;
/// In [`wait`]: resumed by the generation.
pub(crate) const WAITING: u32 = 1;
/// The stopper sent the resume signal; the thread takes it.
pub(crate) const SIGNALLED: u32 = 2;
/// A new stop took back a resume the thread had not seen ([`cancel`]):
/// it still waits, SUSPENDED, until the next start ([`resume_one`]).
pub(crate) const CANCELLED: u32 = 3;
const PHASE: u32 = 3;
/// The thread's handler waits in ours.
pub(crate) const KNOWN: u32 = 4;
/// With SIGNALLED: the stopper has sent the resume signal.
pub(crate) const OUT: u32 = 8;

/// No stop signal owed (`sent`).
pub(crate) const NONE: u32 = 0;
/// A stop signal sent and not answered by a resume yet.
pub(crate) const SENT: u32 = 1;
/// The resumed thread is taking stale stop signals.
pub(crate) const DRAINING: u32 = 2;

/// How [`wait`] ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Resumed {
    /// RUNNING, seen after the generation: no signal to take.
    Woken,
    /// The stopper sent the resume signal: take it, then
    /// [`signal_taken`].
    Signalled,
}

/// The words every thread's resume wait shares: the futex word and the
/// flag of a wake still to be passed on.
pub(crate) struct Shared<W> {
    pub(crate) generation: W,
    pub(crate) delegate: W,
}

/// In the thread, SUSPENDED, inside its handler's resume wait: waits
/// until its state is `running` (or the stopper signals it instead), then
/// passes the start's wake on.
pub(crate) fn wait<W: Word32, P: Park<W>>(word: &W, state: &impl Word64, running: u64, shared: &Shared<W>, park: &P) -> Resumed {
    let mut cur = word.load(Acquire);
    loop {
        if cur & PHASE == SIGNALLED {
            return Resumed::Signalled;
        }
        match word.compare_exchange(cur, KNOWN | WAITING, AcqRel, Acquire) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
    loop {
        let seen = shared.generation.load(Acquire);
        // RUNNING, and no stop took the resume back ([`cancel`]): the
        // swap decides which of the two came first. The word is WAITING
        // or CANCELLED here; anything else (only a stopper that broke the
        // protocol writes it) is left as before the take-back existed.
        if state.load(Acquire) == running {
            match word.compare_exchange(KNOWN | WAITING, KNOWN | IDLE, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) if now & PHASE != CANCELLED => {
                    word.store(KNOWN | IDLE, Release);
                    break;
                }
                Err(_) => {}
            }
        }
        park.wait(&shared.generation, seen);
    }
    pass_on(shared, park);
    Resumed::Woken
}

/// A resumed thread leaving [`wait`]: if the last start's wake is still to
/// be passed on, takes it and wakes every waiter. One load when there is
/// nothing to do.
pub(crate) fn pass_on<W: Word32, P: Park<W>>(shared: &Shared<W>, park: &P) {
    if shared.delegate.load(Acquire) != 0 && shared.delegate.swap(0, AcqRel) != 0 {
        park.wake_all(&shared.generation);
    }
}

/// In the thread, once it took a signal after [`wait`] told it of the
/// resume signal: waits (`relax`) until the stopper has sent it, so that
/// [`drain_stale`] then finds it pending if the signal taken was a stale
/// one instead (they are the same signal).
pub(crate) fn signal_taken(word: &impl Word32, mut relax: impl FnMut()) {
    while word.load(Acquire) & OUT == 0 {
        relax();
    }
    word.store(KNOWN | IDLE, Release);
}

/// Stopper, for one SUSPENDED thread (its stack restored: it may run as
/// soon as it sees RUNNING): marks it `running`; true if the stopper must
/// send it the resume signal, false if [`end`] must wake it.
pub(crate) fn resume_one(word: &impl Word32, state: &impl Word64, running: u64) -> bool {
    state.store(running, Release);
    let mut cur = word.load(Acquire);
    loop {
        if cur & PHASE == CANCELLED {
            // Still in [`wait`] since a stop took its last resume back:
            // waiting again, it sees RUNNING after [`end`]'s bump.
            word.store(KNOWN | WAITING, Release);
            return false;
        }
        if cur & KNOWN != 0 || cur & PHASE == WAITING {
            return false;
        }
        match word.compare_exchange(cur, SIGNALLED, AcqRel, Acquire) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
}

/// Stopper, beginning a stop, for a thread the last start marked
/// `running`: if the thread has not yet seen it (WAITING in [`wait`]),
/// takes the resume back: the thread stays in its wait and is `suspended`
/// again, stopped without a signal; true then. False if it has left its
/// wait (it runs, and gets a stop signal) or never waited in ours.
/// Exactly one of this swap and the thread's own (WAITING → IDLE) wins.
pub(crate) fn cancel(word: &impl Word32, state: &impl Word64, suspended: u64) -> bool {
    if word.compare_exchange(KNOWN | WAITING, KNOWN | CANCELLED, AcqRel, Acquire).is_err() {
        return false;
    }
    state.store(suspended, Release);
    true
}

/// Stopper, once the resume signal [`resume_one`] asked for is sent.
pub(crate) fn signal_sent(word: &impl Word32) {
    word.store(SIGNALLED | OUT, Release);
}

/// Stopper, after [`resume_one`] for every thread: bumps the generation
/// and, if any of them is to be woken (`woken`), wakes one waiter, which
/// wakes the others ([`pass_on`]).
pub(crate) fn end<W: Word32, P: Park<W>>(shared: &Shared<W>, park: &P, woken: bool) {
    shared.generation.fetch_add(1, AcqRel);
    if woken {
        shared.delegate.store(1, Release);
        park.wake_one(&shared.generation);
    }
}

/// Stopper, about to send a stop signal to a RUNNING thread: claims it
/// (NONE → SENT; `relax` while the thread drains). False if a signal is
/// owed already (SENT): it is still on its way, and a second would be
/// stale.
pub(crate) fn claim_stop(sent: &impl Word32, mut relax: impl FnMut()) -> bool {
    loop {
        match sent.compare_exchange(NONE, SENT, AcqRel, Acquire) {
            Ok(_) => return true,
            Err(SENT) => return false,
            Err(_) => relax(),
        }
    }
}

/// Stopper, resuming a thread: its stop is answered (before [`resume_one`]).
pub(crate) fn stop_answered(sent: &impl Word32) {
    sent.store(NONE, Release);
}

/// In the thread, resumed, before its handler returns: while no stop is
/// owed, takes every pending stop signal with `take_one` (true while it
/// took one). Returns how many it took.
pub(crate) fn drain_stale(sent: &impl Word32, mut take_one: impl FnMut() -> bool) -> u32 {
    if sent.compare_exchange(NONE, DRAINING, AcqRel, Acquire).is_err() {
        return 0; // a new stop has asked already: what is pending is its
    }
    let mut n = 0;
    while take_one() {
        n += 1;
    }
    sent.store(NONE, Release);
    n
}
