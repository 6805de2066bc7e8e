//! Blocking regions (standalone): the protocol between a thread that
//! enters and leaves a region, a stopper that counts a thread inside one
//! as stopped without signalling it, and the start that lets it go.
//! Written once against `sync.rs`, so that the library and the loom model
//! (`model_tests.rs`) run the same code.
//!
//! A thread inside a region has promised not to touch collected memory
//! until it leaves; its roots are what it left when it entered (the
//! registers it saved and the stack above that point). One word per
//! thread (`Private::region`) says where it is:
//!
//! | word | meaning | who moves it, and where to |
//! |---|---|---|
//! | `OUTSIDE` | the thread may use collected memory; a stop signals it | the thread: → `INSIDE` (a store: nobody else writes `OUTSIDE`) |
//! | `INSIDE` | inside a region, not counted | the thread: → `OUTSIDE` (compare-and-swap); a stopper: → `COUNTED` (compare-and-swap) |
//! | `COUNTED` | a stopper counted it as stopped; it may not leave before that stop's start | the thread, leaving: → `WAITING`; the start: → `INSIDE` |
//! | `WAITING` | counted, and the thread sleeps in its leave on the world's `resume_seq` | the start: → `INSIDE`, and it must wake the sleeper |
//!
//! Both the thread's leave and the stopper's count are compare-and-swaps
//! from `INSIDE`, so exactly one of them wins: either the stopper counted
//! the thread, and then the thread cannot leave before the start (its
//! compare-and-swap fails and it waits), or the thread left first, and then
//! the stopper finds it `OUTSIDE` and signals it as any other thread. A
//! stopper never counts a thread it has signalled in the same stop: it
//! looks once, and signals only a thread it found `OUTSIDE`; if that thread
//! enters a region before the signal arrives, its handler suspends it there
//! as usual (it was counted as pending, and it suspends once).
//!
//! A counted thread's `state` is the stopper's until the start: the stopper
//! marks it SUSPENDED (to everyone, and to a collector, it is stopped) and
//! the start marks it RUNNING before it lets the thread go.
//!
//! The leaver waits on `resume_seq`, the word suspended threads wait on,
//! after reading it before it announced itself (`COUNTED` → `WAITING`), so
//! no start can be missed; a start wakes `resume_seq` only if it suspended
//! a thread or found one `WAITING` (`Released::Waiting`): a stop of threads
//! that all sit in regions makes no system call for them at all.

use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::sys::sync::{Park, Word32, Word64};
use crate::world::handshake::States;

/// The thread is outside any region.
pub(crate) const OUTSIDE: u32 = 0;
/// Inside a region, not counted by a stopper.
pub(crate) const INSIDE: u32 = 1;
/// Inside, counted as stopped by the current stop.
pub(crate) const COUNTED: u32 = 2;
/// Counted, and the thread waits in its leave for the start.
pub(crate) const WAITING: u32 = 3;

/// In the thread, once it has saved its registers: OUTSIDE → INSIDE. The
/// release store publishes the registers (and everything the thread did
/// with collected memory before) to the stopper that counts it. Returns
/// the word found if it was not OUTSIDE (nothing done then).
pub(crate) fn enter(word: &impl Word32) -> Result<(), u32> {
    let found = word.load(Relaxed);
    if found != OUTSIDE {
        return Err(found);
    }
    word.store(INSIDE, Release);
    Ok(())
}

/// In the thread: INSIDE → OUTSIDE. If a stopper counted the thread, waits
/// until its start let the thread go (sleeping on `resume_seq`), then
/// leaves. Returns whether it had to wait, or the word found if the thread
/// was not inside a region (nothing done then).
pub(crate) fn leave<W: Word32, P: Park<W>>(word: &W, resume_seq: &W, park: &P) -> Result<bool, u32> {
    match word.compare_exchange(INSIDE, OUTSIDE, AcqRel, Acquire) {
        Ok(_) => Ok(false),
        Err(found) => leave_counted(word, resume_seq, park, found).map(|()| true),
    }
}

/// `leave` once the first compare-and-swap failed.
#[cold]
fn leave_counted<W: Word32, P: Park<W>>(word: &W, resume_seq: &W, park: &P, mut found: u32) -> Result<(), u32> {
    loop {
        found = match found {
            INSIDE => match word.compare_exchange(INSIDE, OUTSIDE, AcqRel, Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => now,
            },
            COUNTED => {
                // Read before the announcement: the start that releases
                // this count bumps it after it sees WAITING.
                let seq = resume_seq.load(Acquire);
                match word.compare_exchange(COUNTED, WAITING, AcqRel, Acquire) {
                    Ok(_) => {
                        park.wait(resume_seq, seq);
                        word.load(Acquire)
                    }
                    Err(now) => now,
                }
            }
            WAITING => {
                // Woken early: wait again unless the start has come.
                let seq = resume_seq.load(Acquire);
                let now = word.load(Acquire);
                if now == WAITING {
                    park.wait(resume_seq, seq);
                    word.load(Acquire)
                } else {
                    now
                }
            }
            other => return Err(other),
        };
    }
}

/// In the stopper, for a RUNNING thread: counts it as stopped if it is
/// inside a region (INSIDE → COUNTED, then `state` SUSPENDED). Returns
/// whether it did; if not, the thread is outside and must be signalled.
pub(crate) fn count(word: &impl Word32, state: &impl Word64, s: States) -> bool {
    if word.compare_exchange(INSIDE, COUNTED, AcqRel, Relaxed).is_err() {
        return false;
    }
    state.store(s.suspended, Release);
    true
}

/// What [`release`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// The thread was not counted by this stop (it was signalled, or it is
    /// not stopped at all): resume it the usual way.
    NotCounted,
    /// Counted; it is inside its region again and RUNNING.
    Counted,
    /// Counted and waiting in its leave: the start must wake `resume_seq`.
    Waiting,
}

/// In the starter, for each thread: if the stop counted it, marks it
/// RUNNING and lets it go (COUNTED or WAITING → INSIDE).
pub(crate) fn release(word: &impl Word32, state: &impl Word64, s: States) -> Released {
    let w = word.load(Acquire);
    if w != COUNTED && w != WAITING {
        return Released::NotCounted;
    }
    state.store(s.running, Release);
    // A swap, not a store: the thread may move COUNTED → WAITING meanwhile.
    match word.swap(INSIDE, AcqRel) {
        WAITING => Released::Waiting,
        _ => Released::Counted,
    }
}

/// Whether the thread is counted as stopped (for a collector's roots:
/// then its context is the one it saved at its region's entry).
pub(crate) fn is_counted(word: &impl Word32) -> bool {
    matches!(word.load(Acquire), COUNTED | WAITING)
}
