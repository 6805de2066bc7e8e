//! DEAD threads whose memory waits to be given back in a batch, and the
//! claim that keeps a batch and the reaper apart (`dormant.rs` says what
//! is given back and why in batches).
//!
//! A dying thread that defers its give-back puts its `struct thread`
//! address into a free slot ([`Pending::put`]). A later dying thread gives
//! back a batch: it claims the waiting threads it can take
//! ([`Pending::claim`]: their pthreads must have exited, since their
//! stacks go too), discards their memory and its own in one system call,
//! then frees their slots ([`Pending::finish`]). The reaper of a waiting
//! thread takes it out of its slot before it releases the block
//! ([`Pending::forget`]), and waits while a batch holds it: no batch ever
//! touches a released block, which may already be someone else's.
//!
//! A slot holds 0 (free), the thread's address (waiting), or the address
//! tagged with [`CLAIMED`] (a batch holds it; only that batch changes the
//! slot then). Addresses are at least 8-aligned, so the tag bit is free.
//! Whoever waits for a claimed slot sleeps on `released`, a generation
//! that every batch bumps (and wakes) when it lets slots go.
//!
//! Memory ordering: `put` publishes the thread's private words written
//! before it (release; the claim's acquire reads them); a batch's
//! discards come before its `finish` stores (program order of the system
//! call and the release store), and the reaper's acquire load of the free
//! slot comes before it releases the block.
//!
//! The core is generic over its words so that the loom model
//! (`model_tests.rs`, `pending_*`) checks this very code.

use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::sys::sync::{Park, Word32, Word64};

/// Tag of a slot held by a batch.
const CLAIMED: u64 = 1;

/// The slots (at most 64: a batch's claims are one bit mask), a count of
/// the threads waiting in them, and the generation a reaper waits on.
pub(crate) struct Pending<S, C, const N: usize> {
    slots: [S; N],
    waiting: C,
    released: C,
}

impl<S: Word64, C: Word32, const N: usize> Pending<S, C, N> {
    /// Empty slots.
    pub(crate) const fn new(slots: [S; N], waiting: C, released: C) -> Self {
        const { assert!(N <= 64) };
        Pending { slots, waiting, released }
    }

    /// Threads waiting in a slot (or being given back by a batch).
    pub(crate) fn waiting(&self) -> u32 {
        self.waiting.load(Relaxed)
    }

    /// Puts the dying thread `th` (non-zero, untagged) into a free slot;
    /// false when every slot is taken (then it gives back at once).
    /// Async-signal-safe; never waits.
    pub(crate) fn put(&self, th: u64) -> bool {
        debug_assert!(th != 0 && th & CLAIMED == 0);
        for s in &self.slots {
            while s.load(Relaxed) == 0 {
                if s.compare_exchange_weak(0, th, Release, Relaxed).is_ok() {
                    self.waiting.fetch_add(1, Relaxed);
                    return true;
                }
            }
        }
        false
    }

    /// Claims every waiting thread that `take` accepts; `take` runs while
    /// the thread is claimed (its block cannot be released meanwhile), and
    /// a thread it refuses goes back to waiting. Returns the claimed slots,
    /// to be freed with [`Pending::finish`] once their memory is given back.
    pub(crate) fn claim(&self, mut take: impl FnMut(u64) -> bool, park: &impl Park<C>) -> u64 {
        let mut mask = 0u64;
        let mut refused = false;
        for (i, s) in self.slots.iter().enumerate() {
            let th = s.load(Relaxed);
            if th == 0 || th & CLAIMED != 0 || s.compare_exchange_weak(th, th | CLAIMED, Acquire, Relaxed).is_err() {
                continue;
            }
            if take(th) {
                mask |= 1 << i;
            } else {
                s.store(th, Release);
                refused = true;
            }
        }
        if refused {
            self.bump(park);
        }
        mask
    }

    /// Frees the slots a claim returned: their threads were given back.
    pub(crate) fn finish(&self, mask: u64, park: &impl Park<C>) {
        if mask == 0 {
            return;
        }
        for (i, s) in self.slots.iter().enumerate() {
            if mask & (1 << i) != 0 {
                s.store(0, Release);
                self.waiting.fetch_sub(1, Relaxed);
            }
        }
        self.bump(park);
    }

    /// In the reaper of `th`, after its pthread was joined and before its
    /// block is released: takes `th` out of its slot, waiting while a
    /// batch holds it. True if it was still waiting (its memory was not
    /// given back), false if it was in no slot (given back, or never put).
    pub(crate) fn forget(&self, th: u64, park: &impl Park<C>) -> bool {
        for s in &self.slots {
            loop {
                let seen = self.released.load(Acquire);
                let v = s.load(Acquire);
                if v == th {
                    if s.compare_exchange_weak(th, 0, Acquire, Relaxed).is_ok() {
                        self.waiting.fetch_sub(1, Relaxed);
                        return true;
                    }
                } else if v == th | CLAIMED {
                    park.wait(&self.released, seen);
                } else {
                    break;
                }
            }
        }
        false
    }

    /// Slot `i`, for the loom model's deliberately broken reaper.
    #[cfg(test)]
    pub(crate) fn slot(&self, i: usize) -> &S {
        &self.slots[i]
    }

    /// A batch let slots go: wakes reapers waiting for one.
    fn bump(&self, park: &impl Park<C>) {
        self.released.fetch_add(1, AcqRel);
        park.wake_all(&self.released);
    }
}
