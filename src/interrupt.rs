//! `interrupt_thread` and the per-thread queue of functions it feeds.
//!
//! The queue is the legacy one: `interrupt_fun` is a list of conses whose
//! cars are the functions, pushed at the front, guarded by the spinlock
//! word `interrupt_fun_lock` (0 = free, else the holder's thread address).
//!
//! Lock rule: the spinlock is held only with the blockable signals blocked
//! (the host's handler takes it that way too), never across a call out of
//! this module, so neither a stop nor an interrupt can find it held by the
//! thread it runs on.
//!
//! Exactly-once: a thread becomes DEAD only under the spinlock and only
//! when its queue is empty (`close_if_empty`); `interrupt_thread` pushes
//! only under the spinlock and only while the thread is not DEAD. So every
//! function accepted (return 0) is on the queue of a thread that will still
//! take it, and a thread that is DEAD refuses with ESRCH and takes nothing.

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use crate::abi_types::{lispobj, SBTHREAD_STATE_DEAD};
use crate::hooks::{cons_pool, hooks};
use crate::lisp::{cons_cell, NIL};
use crate::lose::{addr, errno_name, lose, state_name};
use crate::protocol::protocol;
use crate::sigset::{Blockables, SignalsQuiet};
use crate::stats;
use crate::thread_ref::ThreadRef;
use crate::trace::trace;

/// `interrupt_fun_lock`, held. Needs proof that no stop or interrupt can
/// be handled by this thread meanwhile.
struct FunLock {
    th: ThreadRef,
}

impl FunLock {
    fn lock(th: ThreadRef, _quiet: &impl SignalsQuiet) -> Self {
        let owner = hooks().current_thread().map_or(1, |t| t.as_ptr() as u64);
        let word = th.interrupt_fun_lock();
        let mut spins = 0u32;
        while word.compare_exchange_weak(0, owner, Ordering::Acquire, Ordering::Relaxed).is_err() {
            spins += 1;
            if spins.is_multiple_of(128) {
                // The holder runs with signals blocked for a few
                // instructions; if it was preempted, let it run.
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            } else {
                core::hint::spin_loop();
            }
        }
        Self { th }
    }
}

impl Drop for FunLock {
    fn drop(&mut self) {
        self.th.interrupt_fun_lock().store(0, Ordering::Release);
    }
}

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno.
    unsafe { *libc::__errno_location() = e };
}

/// Gives a cons back when it is ours (standalone); a host's conses belong
/// to its collector.
fn release_cons(c: lispobj) {
    if cons_pool::owns(c) {
        cons_pool::free(c);
    }
}

/// Frees a detached list of conses without running anything.
fn release_list(mut list: lispobj) {
    while list != NIL {
        // SAFETY: `list` is a cons of a queue this thread detached.
        let next = unsafe { (*cons_cell(list)).cdr };
        release_cons(list);
        list = next;
    }
}

/// `interrupt_thread(th, function)`: 0, or -1 with errno = ESRCH.
pub(crate) fn interrupt_thread(th: ThreadRef, function: lispobj) -> c_int {
    let h = hooks();
    if !th.is_self_consistent() {
        lose!("interrupt_thread: {:#x} is not a live thread (never created, or already reaped)", addr(th.as_ptr()));
    }
    let c = h.alloc_cons(function, NIL);
    {
        let blocked = Blockables::block();
        if h.current_thread() == Some(th) {
            lose!(
                "interrupt_thread: cannot interrupt the current thread {:#x} (state {})",
                addr(th.as_ptr()),
                state_name(th.state())
            );
        }
        let _lock = FunLock::lock(th, &blocked);
        if th.state() == SBTHREAD_STATE_DEAD {
            drop(_lock);
            release_cons(c);
            trace!(2, "interrupt {:#x} refused: thread {:#x} is DEAD", function, addr(th.as_ptr()));
            set_errno(libc::ESRCH);
            return -1;
        }
        let head = th.interrupt_fun();
        // SAFETY: `c` is a fresh cons from alloc_cons, not yet shared.
        unsafe { (*cons_cell(c)).cdr = head.load(Ordering::Relaxed) };
        head.store(c, Ordering::Release);
    }
    let status = protocol().notify_interrupt(th);
    match status {
        0 => {
            stats::INTERRUPTS_SENT.bump();
            trace!(2, "interrupt {:#x} queued for thread {:#x}", function, addr(th.as_ptr()));
            0
        }
        libc::ESRCH => {
            // The thread has exited: nothing on its queue can run.
            discard_queue(th);
            set_errno(libc::ESRCH);
            -1
        }
        e => lose!(
            "interrupt_thread: cannot send SIG_INTERRUPT_THREAD to thread {:#x}: {}",
            addr(th.as_ptr()),
            errno_name(e)
        ),
    }
}

/// Takes the whole queue of `th` (returns the list, oldest last).
pub(crate) fn detach_all(th: ThreadRef) -> lispobj {
    let blocked = Blockables::block();
    let _lock = FunLock::lock(th, &blocked);
    th.interrupt_fun().swap(NIL, Ordering::AcqRel)
}

/// Empties the queue of `th` without running it.
pub(crate) fn discard_queue(th: ThreadRef) {
    release_list(detach_all(th));
}

/// Marks `th` DEAD if its queue is empty; returns whether it did. The
/// caller holds `all_threads_lock`.
pub(crate) fn close_if_empty(th: ThreadRef, held: &crate::registry::AllThreadsLock) -> bool {
    let _lock = FunLock::lock(th, held);
    if th.interrupt_fun().load(Ordering::Acquire) != NIL {
        return false;
    }
    th.set_state(SBTHREAD_STATE_DEAD);
    true
}

/// Runs every function of a detached list, oldest first, freeing the
/// conses. Returns how many ran.
pub(crate) fn run_list(list: lispobj) -> u64 {
    // Reverse in place (the list is private to us now): oldest first.
    let mut reversed = NIL;
    let mut rest = list;
    while rest != NIL {
        let cell = cons_cell(rest);
        // SAFETY: conses of a detached queue belong to this thread.
        let next = unsafe { (*cell).cdr };
        // SAFETY: as above.
        unsafe { (*cell).cdr = reversed };
        reversed = rest;
        rest = next;
    }
    let mut ran = 0;
    let h = hooks();
    while reversed != NIL {
        let cell = cons_cell(reversed);
        // SAFETY: as above.
        let (fun, next) = unsafe { ((*cell).car, (*cell).cdr) };
        release_cons(reversed);
        h.funcall0(fun);
        stats::INTERRUPTS_RUN.bump();
        ran += 1;
        reversed = next;
    }
    ran
}
