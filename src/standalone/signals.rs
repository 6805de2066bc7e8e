//! The standalone signal handlers.
//!
//! Both handlers: async-signal-safe calls only (futex, pthread_sigmask,
//! pthread_kill, write for traces), no allocation (conses come from and go
//! back to the lock-free pool), no lock the interrupted code may hold (the
//! queue spinlock is only ever held with these signals blocked), errno
//! saved and restored. `SA_RESTART` is set: a thread stopped inside a
//! restartable system call (read on a pipe, waiting on a mutex) continues
//! it transparently after the world restarts; calls that are never
//! restarted (nanosleep, sleep, poll, epoll_wait, ...) return early with
//! EINTR or the time left, as they do for any handled signal.
//!
//! - `SIG_STOP_FOR_GC` runs with every asynchronous signal blocked. It
//!   first helps send the signals of the stop still to go (`fanout.rs`),
//!   even when it then defers the stop. Inside
//!   a pseudo-atomic section or WITHOUT-GCING it only records the request
//!   (`STOP_FOR_GC_PENDING`, and `pseudo_atomic_interrupted` inside a
//!   pseudo-atomic section); the section's end suspends. Otherwise the
//!   thread suspends here until the world is started, with the context it
//!   was interrupted in recorded in `interrupt_contexts[]` meanwhile
//!   (`contexts.rs`), for a collector to scan.
//! - `SIG_INTERRUPT_THREAD` runs with the deferrable signals blocked but
//!   `SIG_STOP_FOR_GC` open, so a stop is never delayed by an interrupt
//!   function. Inside a pseudo-atomic section, WITHOUT-INTERRUPTS or a
//!   blocking region it records `INTERRUPT_PENDING` and leaves the doorbell
//!   rung (so no more signals are sent until the section or region ends);
//!   otherwise it runs every queued function, oldest first.

use core::ffi::{c_int, c_void};
use core::sync::atomic::Ordering;

use super::stop::{help_stop, STATES, WORLD};
use crate::legacy::hooks::hooks;
use crate::interrupt::{self, queue, RawCells};
use crate::legacy::types::lispobj;
use crate::legacy::lisp::{cons_cell, sym, NIL, T};
use crate::thread::symbols::{set_symbol_value, symbol_value};
use crate::diag::lose::{addr, lose, state_name};
use crate::sys::sigset::{self, sig_interrupt_thread, sig_stop_for_gc, MaskGuard};
use crate::thread::thread_ref::ThreadRef;
use crate::sys::sync::Futex;
use crate::diag::trace::trace;

fn install_one(sig: c_int, handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void), mask: libc::sigset_t) {
    // SAFETY: an all-zero sigaction is a valid starting point.
    let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
    sa.sa_sigaction = handler as usize;
    sa.sa_mask = mask;
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `sa` is fully initialised; the handler is async-signal-safe.
    if unsafe { libc::sigaction(sig, &sa, core::ptr::null_mut()) } != 0 {
        lose!("libsbthread (standalone): cannot install the handler for signal {}", sig);
    }
}

/// Installs both handlers (once, at set-up).
pub(crate) fn install() {
    install_one(sig_stop_for_gc(), stop_for_gc_handler, sigset::all_but_synchronous());
    install_one(sig_interrupt_thread(), interrupt_thread_handler, sigset::deferrable());
}

extern "C" fn stop_for_gc_handler(_sig: c_int, _info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let _errno = crate::sys::errno::Saved::now();
    let Some(th) = crate::thread::current() else { return };
    // First pass the stop on (even if this thread defers it).
    let helped = help_stop();
    if helped != 0 {
        trace!(2, "thread {:#x} sent {} stop signal(s) for the stopper", addr(th.as_ptr()), helped);
    }
    let pa = th.in_pseudo_atomic();
    if pa || symbol_value(sym::GC_INHIBIT, Some(th)) != NIL {
        trace!(2, "SIG_STOP_FOR_GC deferred in thread {:#x} ({})", addr(th.as_ptr()), if pa { "pseudo-atomic" } else { "without-gcing" });
        set_symbol_value(sym::STOP_FOR_GC_PENDING, T, Some(th));
        if pa {
            th.pseudo_atomic_interrupted().store(1, Ordering::Relaxed);
        }
        return;
    }
    suspend(th, ctx);
}

/// Suspends the calling thread `th` for a stop in progress: marks it
/// SUSPENDED, wakes the stopper if it was the last, sleeps until the world
/// is started (which marks it RUNNING again). Every asynchronous signal is
/// blocked meanwhile. For code outside the handler (the end of a deferral
/// section).
pub(crate) fn suspend_self(th: ThreadRef) {
    let _mask = MaskGuard::block(&sigset::all_but_synchronous());
    // No signal context here: the thread saves its own registers, for a
    // collector that scans them while it is suspended (`contexts.rs`).
    let mut uc = core::mem::MaybeUninit::<libc::ucontext_t>::uninit();
    if !crate::thread::contexts::save_own(&mut uc) {
        lose!("suspend: getcontext failed in thread {:#x}", addr(th.as_ptr()));
    }
    suspend(th, uc.as_mut_ptr().cast());
}

/// `suspend_self` inside the `SIG_STOP_FOR_GC` handler, whose `sa_mask`
/// already blocks every asynchronous signal. `ctx` (the interrupted
/// context) stays recorded in `interrupt_contexts[]` while suspended.
fn suspend(th: ThreadRef, ctx: *mut c_void) {
    let _recorded = crate::thread::contexts::record(th, ctx);
    trace!(2, "thread {:#x} suspending", addr(th.as_ptr()));
    if let Err(state) = WORLD.suspend(th.state_word(), STATES, &Futex) {
        lose!("SIG_STOP_FOR_GC: thread {:#x} asked to suspend in state {}", addr(th.as_ptr()), state_name(state));
    }
    trace!(2, "thread {:#x} resumed", addr(th.as_ptr()));
}

extern "C" fn interrupt_thread_handler(_sig: c_int, _info: *mut libc::siginfo_t, _ctx: *mut c_void) {
    let _errno = crate::sys::errno::Saved::now();
    let Some(th) = crate::thread::current() else { return };
    if th.in_pseudo_atomic() {
        set_symbol_value(sym::INTERRUPT_PENDING, T, Some(th));
        th.pseudo_atomic_interrupted().store(1, Ordering::Relaxed);
        trace!(2, "interrupt deferred in thread {:#x} (pseudo-atomic)", addr(th.as_ptr()));
        return;
    }
    if symbol_value(sym::INTERRUPTS_ENABLED, Some(th)) == NIL {
        set_symbol_value(sym::INTERRUPT_PENDING, T, Some(th));
        trace!(2, "interrupt deferred in thread {:#x} (without-interrupts)", addr(th.as_ptr()));
        return;
    }
    if super::blocking::defers_interrupts(th) {
        set_symbol_value(sym::INTERRUPT_PENDING, T, Some(th));
        trace!(2, "interrupt deferred in thread {:#x} (blocking region)", addr(th.as_ptr()));
        return;
    }
    run_pending_interrupts(th);
}

/// Runs everything on `th`'s queue until it stays empty, re-arming the
/// doorbell first so that a function queued meanwhile gets its own signal.
pub(crate) fn run_pending_interrupts(th: ThreadRef) {
    set_symbol_value(sym::INTERRUPT_PENDING, NIL, Some(th));
    loop {
        let list = interrupt::take_for_run(th);
        if list == NIL {
            break;
        }
        let ran = run_list(list);
        th.private().interrupts_run.fetch_add(ran, Ordering::Relaxed);
        trace!(2, "thread {:#x} ran {} interrupt function(s)", addr(th.as_ptr()), ran);
    }
}

/// Runs every function of a detached list, oldest first, giving each cons
/// back to the pool before its function runs. Returns how many ran.
fn run_list(list: lispobj) -> u64 {
    let h = hooks();
    let mut ran = 0;
    queue::for_each_oldest_first(list, NIL, &RawCells, |c| {
        // SAFETY: `c` is a cons of the detached list, ours until freed.
        let fun = unsafe { (*cons_cell(c)).car };
        super::cons_pool::free(c);
        h.funcall0(fun);
        crate::diag::stats::INTERRUPTS_RUN.bump();
        ran += 1;
    });
    ran
}

/// Delivers a deferred interrupt now: signals the calling thread, so the
/// functions run in signal context like any other interrupt.
pub(crate) fn raise_interrupt(th: ThreadRef) {
    let r = crate::thread::kill::kill_thread_safely(th.os_thread(), sig_interrupt_thread());
    if r != 0 {
        lose!("raise_interrupt: cannot signal thread {:#x}: {}", addr(th.as_ptr()), crate::diag::lose::errno_name(r));
    }
}
