//! The interrupt-queue protocol, written once against `sync.rs` so that
//! the library and the loom model run the same code.
//!
//! Words: `lock` (`interrupt_fun_lock`: 0 free, else the holder), `head`
//! (`interrupt_fun`: a list of conses, newest first), `state` (the thread
//! state), `closed` (1 once the thread's function has returned: no new
//! function is accepted) and, standalone only, `doorbell` (1 while a signal
//! is on its way or the queue is deferred).
//!
//! Exactly-once (standalone): `push` refuses a closed queue; a dying
//! thread closes its queue (`refuse_new`), runs what is on it, and
//! `close_if_empty` makes it DEAD only with an empty queue, all under the
//! lock; so every accepted function is on a queue that its thread will
//! still take, and a flood of interrupts cannot keep a dying thread alive.
//! At most once (host mode): `close` closes the queue, makes the thread
//! DEAD and takes what is left under the same lock, so a function is
//! either taken by the thread's handler or returned by `close`.

use core::sync::atomic::Ordering;

use crate::sys::sync::{Park, Word32, Word64};

/// Reads and writes the cdr of cons cells (raw memory in the library).
pub(crate) trait Cells {
    /// The cdr of `cons`.
    fn cdr(&self, cons: u64) -> u64;
    /// Sets the cdr of `cons`.
    fn set_cdr(&self, cons: u64, v: u64);
}

/// The words of one thread's queue.
pub(crate) struct Queue<'a, W64, W32> {
    /// `interrupt_fun_lock`.
    pub(crate) lock: &'a W64,
    /// `interrupt_fun`.
    pub(crate) head: &'a W64,
    /// `state`.
    pub(crate) state: &'a W64,
    /// 1 once no new function is accepted.
    pub(crate) closed: &'a W32,
    /// The doorbell (standalone).
    pub(crate) doorbell: &'a W32,
}

/// What `push` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// The function is queued.
    Queued,
    /// The thread's function has returned (the queue is closed);
    /// nothing was queued.
    Closed,
}

/// The spinlock, held.
pub(crate) struct Held<'q, 'p, W64: Word64, W32: Word32, P: Park<W32>> {
    lock: &'q W64,
    park: &'p P,
    _word: core::marker::PhantomData<W32>,
}

impl<W64: Word64, W32: Word32, P: Park<W32>> Drop for Held<'_, '_, W64, W32, P> {
    fn drop(&mut self) {
        self.lock.store(0, Ordering::Release);
        self.park.released();
    }
}

impl<'a, W64: Word64, W32: Word32> Queue<'a, W64, W32> {
    /// Takes the spinlock for `owner` (non-zero). The caller guarantees
    /// that no handler of this thread can take it meanwhile.
    pub(crate) fn lock<'p, P: Park<W32>>(&self, owner: u64, park: &'p P) -> Held<'a, 'p, W64, W32, P> {
        let mut round = 0u32;
        while self.lock.compare_exchange_weak(0, owner, Ordering::Acquire, Ordering::Relaxed).is_err() {
            round = round.wrapping_add(1);
            park.relax(self.lock, round);
        }
        Held { lock: self.lock, park, _word: core::marker::PhantomData }
    }

    /// Queues `cons` (whose car is the function) unless the queue is closed.
    pub(crate) fn push<P: Park<W32>>(&self, cons: u64, owner: u64, cells: &impl Cells, park: &P) -> Push {
        let _held = self.lock(owner, park);
        if self.closed.load(Ordering::Acquire) != 0 {
            return Push::Closed;
        }
        cells.set_cdr(cons, self.head.load(Ordering::Relaxed));
        self.head.store(cons, Ordering::Release);
        Push::Queued
    }

    /// After a push: whether the pusher must send the signal (standalone;
    /// only when none is on its way and the queue is not deferred).
    pub(crate) fn ring(&self) -> bool {
        self.doorbell.swap(1, Ordering::SeqCst) == 0
    }

    /// Takes the whole list (`nil` when empty).
    pub(crate) fn detach_all<P: Park<W32>>(&self, owner: u64, nil: u64, park: &P) -> u64 {
        let _held = self.lock(owner, park);
        self.head.swap(nil, Ordering::AcqRel)
    }

    /// The target's side, standalone: re-arms the doorbell, then takes the
    /// list. A function queued after this gets its own signal.
    pub(crate) fn take_for_run<P: Park<W32>>(&self, owner: u64, nil: u64, park: &P) -> u64 {
        self.doorbell.store(0, Ordering::SeqCst);
        self.detach_all(owner, nil, park)
    }

    /// Marks the thread `dead` and drops whatever is still queued (host
    /// mode's exit: those functions can no longer run, see
    /// `host_protocol.rs`), calling `each` on every dropped cons first;
    /// returns how many were dropped. A push after this is refused; a push
    /// before it is either popped by the thread's handler or dropped here,
    /// never both.
    ///
    /// The conses are walked (read only) *before* the thread becomes DEAD
    /// and never touched after: in host mode they live in the host's heap,
    /// and once the thread is DEAD a stopper no longer waits for it, so a
    /// collection may move or reuse them at any moment.
    pub(crate) fn close<P: Park<W32>>(
        &self,
        owner: u64,
        nil: u64,
        dead: u64,
        cells: &impl Cells,
        park: &P,
        mut each: impl FnMut(u64),
    ) -> u64 {
        let _held = self.lock(owner, park);
        self.closed.store(1, Ordering::Release);
        let mut dropped = 0;
        let mut c = self.head.swap(nil, Ordering::AcqRel);
        while c != nil {
            each(c);
            dropped += 1;
            c = cells.cdr(c);
        }
        self.state.store(dead, Ordering::Release);
        dropped
    }

    /// Accepts no new function from now on (standalone exit, before the
    /// thread runs what is left).
    pub(crate) fn refuse_new<P: Park<W32>>(&self, owner: u64, park: &P) {
        let _held = self.lock(owner, park);
        self.closed.store(1, Ordering::Release);
    }

    /// Marks the thread `dead` if the queue is empty; returns whether it
    /// did. The queue must be closed already (`refuse_new`).
    pub(crate) fn close_if_empty<P: Park<W32>>(&self, owner: u64, nil: u64, dead: u64, park: &P) -> bool {
        let _held = self.lock(owner, park);
        if self.head.load(Ordering::Acquire) != nil {
            return false;
        }
        self.state.store(dead, Ordering::Release);
        true
    }
}

/// Reverses a detached list in place (oldest first) and calls `each` on
/// every cons.
pub(crate) fn for_each_oldest_first(list: u64, nil: u64, cells: &impl Cells, mut each: impl FnMut(u64)) {
    let mut reversed = nil;
    let mut rest = list;
    while rest != nil {
        let next = cells.cdr(rest);
        cells.set_cdr(rest, reversed);
        reversed = rest;
        rest = next;
    }
    while reversed != nil {
        let next = cells.cdr(reversed);
        each(reversed);
        reversed = next;
    }
}
