//! Blocking regions (standalone): the protocol between a thread that
//! enters and leaves a region, a stopper that counts a thread inside one
//! as stopped without signalling it, and the start that lets it go.
//! Written once against `sync.rs`, so that the library and the loom model
//! (`model_tests.rs`) run the same code.
//!
//! A thread inside a region has promised not to touch collected memory
//! until it leaves; its roots are what it left when it entered (the
//! registers it saved and the stack above that point).
//!
//! Words: per thread, in its slot of the stop table (`thread/table.rs`,
//! one cache line per thread, contiguous, so that a stop of threads that
//! sit in regions reads none of their own memory): `region` (OUTSIDE or
//! INSIDE, written by the thread only) and `counted` (the serial of the
//! stop that counted the thread, written by the stopper only); for
//! everyone, [`Regions`]: `stopping` (1 from before a stopper looks at the
//! threads until its start), `waiting` (threads waiting in a leave) and
//! `serial` (the current stop's).
//!
//! The stopper sets `stopping`, then a sequentially consistent fence, then
//! reads each thread's `region`; a leaving thread writes OUTSIDE, then a
//! fence, then reads `stopping`. With a fence on both sides at least one
//! of the two sees the other's write (the store-buffering pattern), so:
//! - either the stopper saw INSIDE and counted the thread, and then the
//!   thread sees `stopping` and waits until the start before it leaves;
//! - or the stopper saw OUTSIDE and signals the thread as any other (if it
//!   then sees `stopping` too, it waits in its leave, where the signal
//!   suspends it as usual; it leaves after the start).
//!
//! A thread that enters during a stop is either seen INSIDE (counted, with
//! the registers it saved before, released to the stopper by the store of
//! INSIDE) or OUTSIDE (signalled, and its handler suspends it inside the
//! region, once). A counted thread cannot leave and enter again before the
//! start, so its saved registers stay those of the counted region.
//!
//! A counted thread is not suspended: it runs on (blocked in a system call,
//! or waiting in its leave), its `state` stays RUNNING, and nothing of it
//! is written but its slot's `counted`; the start does nothing for it but
//! clear `stopping`. So the stopper's work per thread in a region is one
//! read and one write of its slot, the start's one read (none at all when
//! the stop signalled nobody: it does not walk the table); the leaver's a
//! store, a fence and a load of a word that changes twice per stop: no
//! read-modify-write on either fast path, no system call.
//!
//! The leaver waits on `resume_seq`, the word suspended threads wait on,
//! reading it before it looks at `stopping`; the start wakes that word
//! only if a thread was signalled or `waiting` is not 0 ([`someone_waits`],
//! again with a fence on both sides), so a stop of threads that all sit in
//! regions makes no system call for them at all.

use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::sys::sync::{Park, Word32, Word64};

/// The thread is outside any region (the value a new slot holds).
pub(crate) const OUTSIDE: u32 = 0;
/// Inside a region.
pub(crate) const INSIDE: u32 = 1;

/// The words every thread shares.
pub(crate) struct Regions<W32, W64> {
    /// 1 from the start of a stop (before the stopper looks at any thread)
    /// until its start (after every thread is RUNNING again).
    pub(crate) stopping: W32,
    /// Threads waiting in their leave for a start.
    pub(crate) waiting: W32,
    /// The current (or last) stop's serial, from 1 (64 bits: it never
    /// wraps, so a `counted` left by an old stop never equals it): a slot's
    /// `counted` equal to it says that this stop counted the thread.
    pub(crate) serial: W64,
}

/// In the thread, once it has saved its registers: OUTSIDE → INSIDE. The
/// release store publishes the registers (and everything the thread did
/// with collected memory before) to a stopper that sees it INSIDE. Returns
/// the word found if it was not OUTSIDE (nothing done then).
pub(crate) fn enter(word: &impl Word32) -> Result<(), u32> {
    let found = word.load(Relaxed);
    if found != OUTSIDE {
        return Err(found);
    }
    word.store(INSIDE, Release);
    Ok(())
}

/// In the thread: INSIDE → OUTSIDE; then, if a stop is under way, waits
/// until its start (sleeping on `resume_seq`). Returns whether it waited,
/// or the word found if the thread was not inside a region (nothing done
/// then).
pub(crate) fn leave<W: Word32, P: Park<W>>(word: &W, regions: &Regions<W, impl Word64>, resume_seq: &W, park: &P) -> Result<bool, u32> {
    let found = word.load(Relaxed);
    if found != INSIDE {
        return Err(found);
    }
    word.store(OUTSIDE, Relaxed);
    park.fence();
    // Acquire: after a stop that counted this thread, what the collector
    // did is visible once the start's clearing is.
    if regions.stopping.load(Acquire) == 0 {
        return Ok(false);
    }
    wait_for_start(regions, resume_seq, park);
    Ok(true)
}

/// The rest of a leave that found a stop under way.
#[cold]
fn wait_for_start<W: Word32, P: Park<W>>(regions: &Regions<W, impl Word64>, resume_seq: &W, park: &P) {
    loop {
        // Read before `stopping`: the start clears `stopping`, then bumps.
        let seq = resume_seq.load(Acquire);
        if regions.stopping.load(Acquire) == 0 {
            return;
        }
        regions.waiting.fetch_add(1, AcqRel);
        park.fence();
        park.wait(resume_seq, seq);
        regions.waiting.fetch_sub(1, AcqRel);
    }
}

/// In the stopper, before it looks at any thread. Returns the stop's
/// serial.
pub(crate) fn begin_stop<W: Word32, P: Park<W>>(regions: &Regions<W, impl Word64>, park: &P) -> u64 {
    let serial = regions.serial.load(Relaxed) + 1;
    regions.serial.store(serial, Relaxed);
    regions.stopping.store(1, Relaxed);
    park.fence();
    serial
}

/// In the stopper, for each thread (its slot's words): counts it as
/// stopped if it is inside a region. Returns whether it did; if not, the
/// thread is handled as any other (signalled if RUNNING).
pub(crate) fn count(word: &impl Word32, counted: &impl Word64, serial: u64) -> bool {
    // Acquire: the registers the thread saved before its store of INSIDE.
    if word.load(Acquire) != INSIDE {
        return false;
    }
    counted.store(serial, Relaxed);
    true
}

/// Whether the stop with this serial counted the thread (for the stopper
/// and the starter: such a thread needs no resume, and its context for a
/// collector is the one it saved at its region's entry).
pub(crate) fn is_counted(counted: &impl Word64, serial: u64) -> bool {
    counted.load(Relaxed) == serial
}

/// In the starter, once every suspended thread is RUNNING, before
/// `resume_seq` is bumped: leaves may go.
pub(crate) fn end_stop<W: Word32>(regions: &Regions<W, impl Word64>) {
    regions.stopping.store(0, Release);
}

/// In the starter, after `resume_seq` was bumped: whether a thread may
/// sleep in its leave (then `resume_seq` must be woken).
pub(crate) fn someone_waits<W: Word32, P: Park<W>>(regions: &Regions<W, impl Word64>, park: &P) -> bool {
    park.fence();
    regions.waiting.load(Relaxed) != 0
}
