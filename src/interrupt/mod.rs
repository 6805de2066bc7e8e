//! `interrupt_thread` and the per-thread queue of functions it feeds.
//!
//! The queue is the legacy one: `interrupt_fun` is a list of conses whose
//! cars are the functions, pushed at the front, guarded by the spinlock
//! word `interrupt_fun_lock` (0 = free, else the holder's thread address).
//! The protocol itself is `queue.rs` (shared with the loom model); this
//! module binds it to a thread's words and adds the signal-mask rule.
//!
//! Lock rule: the spinlock is held only while neither a stop nor an
//! interrupt can be handled by the holding thread — with the blockable
//! signals blocked, or under `all_threads_lock` with the deferrables
//! blocked (`sigset::SignalsQuiet`). The host's handler takes it with the
//! blockables blocked too. So a stop can never suspend a holder, and a
//! handler can never spin on a lock its own thread holds.
//!
//! Exactly-once (standalone): see `queue.rs`. Every function accepted
//! (return 0) runs once in its thread; a thread whose function has
//! returned refuses with ESRCH and keeps nothing. Host mode: a function
//! accepted runs at most once; it is dropped (and counted) when its
//! thread's Lisp function returns before the host's handler took it, see
//! `host/protocol.rs`.

pub(crate) mod queue;

use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, AtomicU64};

use crate::legacy::types::{lispobj, SBTHREAD_STATE_DEAD};
use crate::legacy::lisp::{cons_cell, NIL};
use crate::diag::lose::{addr, errno_name, lose, state_name};
use crate::world::protocol::protocol;
use queue::{Cells, Push, Queue};
use crate::sys::sigset::Blockables;
use crate::diag::stats;
use crate::sys::sync::Futex;
use crate::thread::thread_ref::ThreadRef;
use crate::diag::trace::trace;

/// Cons cells in memory (the host's heap or our pool).
pub(crate) struct RawCells;

impl Cells for RawCells {
    fn cdr(&self, cons: u64) -> u64 {
        // SAFETY: `cons` is a cons of a queue the caller owns (just made,
        // or detached under the lock).
        unsafe { (*cons_cell(cons)).cdr }
    }

    fn set_cdr(&self, cons: u64, v: u64) {
        // SAFETY: as above.
        unsafe { (*cons_cell(cons)).cdr = v }
    }
}

/// The queue words of `th`.
pub(crate) fn queue_of(th: ThreadRef) -> Queue<'static, AtomicU64, AtomicU32> {
    Queue {
        lock: th.interrupt_fun_lock(),
        head: th.interrupt_fun(),
        state: th.state_word(),
        closed: &th.private().queue_closed,
        doorbell: &th.private().doorbell,
    }
}

/// The value a holder writes into the spinlock word: the holder's thread.
fn owner_of(me: Option<ThreadRef>) -> u64 {
    me.map_or(1, |t| t.as_ptr() as u64)
}

/// `owner_of` the calling thread.
fn owner() -> u64 {
    owner_of(crate::thread::current())
}

/// Why `th` is not the `struct thread` of a thread that has not been
/// reaped, or None if it is. Nothing is read through `th` before the stop
/// table (`thread/table.rs`) says it is a linked thread's: the caller may
/// pass a stale or corrupt pointer (a Lisp thread object's `%sap` read
/// from a heap a collection got wrong), and the answer must be this
/// message, not a fault inside the library. A block reaped and reused by
/// a new thread passes: its struct is the new thread's.
fn not_a_thread(th: ThreadRef) -> Option<&'static str> {
    if !(th.as_ptr() as usize).is_multiple_of(crate::thread::block::page_size()) {
        Some("not page-aligned, as every struct thread is")
    } else if !crate::thread::table::holds(th.as_ptr()) {
        Some("no linked thread has it")
    } else if !th.is_self_consistent() {
        Some("its `this` word does not point to it")
    } else {
        None
    }
}

/// `interrupt_thread(th, function)`: 0, or -1 with errno = ESRCH.
pub(crate) fn interrupt_thread(th: ThreadRef, function: lispobj) -> c_int {
    if let Some(why) = not_a_thread(th) {
        lose!("interrupt_thread: {:#x} is not a live thread (never created, or already reaped): {}", addr(th.as_ptr()), why);
    }
    let me = crate::thread::current();
    if me == Some(th) {
        lose!(
            "interrupt_thread: cannot interrupt the current thread {:#x} (state {})",
            addr(th.as_ptr()),
            state_name(th.state())
        );
    }
    // The cons is made and queued with no stop or handler let in between:
    // until it is on the queue (a root) nothing else holds it, and the
    // host's collector would free it (`host/cons.rs`).
    let (c, pushed) = {
        let _quiet = Blockables::block();
        let c = protocol().make_interrupt_cons(function, me);
        (c, queue_of(th).push(c, owner_of(me), &RawCells, &Futex))
    };
    if pushed == Push::Closed {
        protocol().release_conses(c);
        trace!(2, "interrupt {:#x} refused: thread {:#x} has finished its function", function, addr(th.as_ptr()));
        crate::sys::errno::set(libc::ESRCH);
        return -1;
    }
    match protocol().notify_interrupt(th) {
        0 => {
            stats::INTERRUPTS_SENT.bump();
            trace!(2, "interrupt {:#x} queued for thread {:#x}", function, addr(th.as_ptr()));
            0
        }
        libc::ESRCH => {
            // The thread has exited: nothing on its queue can run.
            discard_queue(th);
            crate::sys::errno::set(libc::ESRCH);
            -1
        }
        e => lose!(
            "interrupt_thread: cannot send SIG_INTERRUPT_THREAD to thread {:#x}: {}",
            addr(th.as_ptr()),
            errno_name(e)
        ),
    }
}

/// Standalone, in `th` itself: re-arms the doorbell and takes the whole
/// queue (newest first).
pub(crate) fn take_for_run(th: ThreadRef) -> lispobj {
    let _quiet = Blockables::block();
    queue_of(th).take_for_run(owner(), NIL, &Futex)
}

/// Empties the queue of `th` without running it.
pub(crate) fn discard_queue(th: ThreadRef) {
    let list = {
        let _quiet = Blockables::block();
        queue_of(th).detach_all(owner(), NIL, &Futex)
    };
    protocol().release_conses(list);
}

/// Host mode, in `th` itself at exit (the host's handlers can no longer
/// run in it): marks it DEAD and drops whatever is still queued. Returns
/// how many functions were dropped.
pub(crate) fn close_discarding(th: ThreadRef) -> u64 {
    let dropped = {
        let _quiet = Blockables::block();
        // The host's conses are its collector's: dropped, not freed.
        queue_of(th).close(owner(), NIL, SBTHREAD_STATE_DEAD, &RawCells, &Futex, |_| {})
    };
    stats::INTERRUPTS_DISCARDED.add(dropped);
    dropped
}

/// In `th` itself at exit (standalone): accepts no new function.
pub(crate) fn refuse_new(th: ThreadRef) {
    let _quiet = Blockables::block();
    queue_of(th).refuse_new(owner(), &Futex);
}

/// Marks `th` DEAD if its queue is empty; returns whether it did. The
/// caller holds `all_threads_lock` (which keeps signals quiet).
pub(crate) fn close_if_empty(th: ThreadRef, _held: &crate::thread::registry::AllThreadsLock<'_>) -> bool {
    queue_of(th).close_if_empty(owner(), NIL, SBTHREAD_STATE_DEAD, &Futex)
}
