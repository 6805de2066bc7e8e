//! The deferral sections of the runtime (seeds 001/002), for standalone
//! code: pseudo-atomic, WITHOUT-GCING, WITHOUT-INTERRUPTS. They use the
//! thread's own words and the static symbols exactly as Lisp code does, so
//! the handlers in `signals.rs` see them the way a legacy handler would.
//!
//! - **pseudo-atomic**: `pseudo_atomic_atomic` is set while inside. A stop
//!   or an interrupt arriving then is recorded (`STOP_FOR_GC_PENDING`,
//!   `INTERRUPT_PENDING`, `pseudo_atomic_interrupted`) and handled when the
//!   outermost section ends: first the stop (if GC is not inhibited), then
//!   the interrupts (if enabled). Nests by counting.
//! - **WITHOUT-GCING**: binds `GC_INHIBIT` to T. A stop is deferred until
//!   the outermost section ends. Interrupts are not deferred.
//! - **WITHOUT-INTERRUPTS**: binds `INTERRUPTS_ENABLED` to NIL. Interrupts
//!   are deferred until the outermost section ends; a stop is not.
//!
//! Sections must be left in the reverse order they were entered, by the
//! thread that entered them, and never begin or end inside a blocking
//! region (`blocking.rs`); anything else ends in `lose`.

use core::sync::atomic::{AtomicU32, Ordering};

use super::signals::{raise_interrupt, suspend_self};
use super::defaults;
use crate::legacy::hooks::{hooks, Mode};
use crate::legacy::lisp::{sym, NIL, T};
use crate::thread::symbols::{set_symbol_value, symbol_value};
use crate::diag::lose::{addr, lose};
use crate::thread::thread_ref::ThreadRef;

/// The calling thread, which must be registered, in standalone mode.
fn me(caller: &str) -> ThreadRef {
    if hooks().mode != Mode::Standalone {
        lose!("{}: only available in standalone mode; a host runtime manages its own sections", caller);
    }
    let th = match crate::thread::current() {
        Some(th) => th,
        None => lose!("{}: the calling thread is not a registered thread", caller),
    };
    super::blocking::assert_outside(th, caller, "no deferral section may begin or end");
    th
}

/// Increments a depth counter; returns the old depth.
fn enter_depth(depth: &AtomicU32) -> u32 {
    let d = depth.load(Ordering::Relaxed);
    depth.store(d + 1, Ordering::Relaxed);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    d
}

/// Decrements a depth counter, losing if it is already zero; returns the
/// new depth.
fn leave_depth(depth: &AtomicU32, caller: &str, th: ThreadRef) -> u32 {
    let d = depth.load(Ordering::Relaxed);
    if d == 0 {
        lose!("{}: thread {:#x} is not inside such a section (leave without enter)", caller, addr(th.as_ptr()));
    }
    depth.store(d - 1, Ordering::Relaxed);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    d - 1
}

/// Runs what a pseudo-atomic section deferred: the stop first, so that a
/// stop is never delayed by interrupt functions, then the interrupts.
fn run_deferred(th: ThreadRef) {
    if symbol_value(sym::STOP_FOR_GC_PENDING, Some(th)) != NIL && symbol_value(sym::GC_INHIBIT, Some(th)) == NIL {
        set_symbol_value(sym::STOP_FOR_GC_PENDING, NIL, Some(th));
        suspend_self(th);
    }
    if symbol_value(sym::INTERRUPT_PENDING, Some(th)) != NIL && symbol_value(sym::INTERRUPTS_ENABLED, Some(th)) != NIL {
        raise_interrupt(th);
    }
}

/// Enters a pseudo-atomic section.
pub(crate) fn pseudo_atomic_enter() {
    let th = me("sbthread_pseudo_atomic_enter");
    if enter_depth(&th.private().pa_depth) == 0 {
        th.pseudo_atomic_atomic().store(1, Ordering::Relaxed);
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }
}

/// Leaves a pseudo-atomic section; the outermost runs deferred work.
pub(crate) fn pseudo_atomic_leave() {
    let caller = "sbthread_pseudo_atomic_leave";
    let th = me(caller);
    if leave_depth(&th.private().pa_depth, caller, th) != 0 {
        return;
    }
    th.pseudo_atomic_atomic().store(0, Ordering::Relaxed);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    if th.pseudo_atomic_interrupted().swap(0, Ordering::Relaxed) != 0 {
        run_deferred(th);
    }
}

/// Enters WITHOUT-GCING.
pub(crate) fn without_gcing_enter() {
    let th = me("sbthread_without_gcing_enter");
    // SAFETY: the caller's own live thread, on its own binding stack.
    unsafe { defaults::bind_variable(sym::GC_INHIBIT, T, th.as_ptr().cast()) };
    enter_depth(&th.private().wogc_depth);
}

/// Leaves WITHOUT-GCING; when GC is allowed again, a deferred stop happens.
pub(crate) fn without_gcing_leave() {
    let caller = "sbthread_without_gcing_leave";
    let th = me(caller);
    leave_depth(&th.private().wogc_depth, caller, th);
    crate::thread::symbols::unbind_variable(sym::GC_INHIBIT, th, caller);
    if symbol_value(sym::GC_INHIBIT, Some(th)) == NIL && symbol_value(sym::STOP_FOR_GC_PENDING, Some(th)) != NIL {
        if th.in_pseudo_atomic() {
            th.pseudo_atomic_interrupted().store(1, Ordering::Relaxed);
        } else {
            set_symbol_value(sym::STOP_FOR_GC_PENDING, NIL, Some(th));
            suspend_self(th);
        }
    }
}

/// Enters WITHOUT-INTERRUPTS.
pub(crate) fn without_interrupts_enter() {
    let th = me("sbthread_without_interrupts_enter");
    // SAFETY: the caller's own live thread, on its own binding stack.
    unsafe { defaults::bind_variable(sym::INTERRUPTS_ENABLED, NIL, th.as_ptr().cast()) };
    enter_depth(&th.private().woi_depth);
}

/// Leaves WITHOUT-INTERRUPTS; when interrupts are enabled again, deferred
/// interrupts run.
pub(crate) fn without_interrupts_leave() {
    let caller = "sbthread_without_interrupts_leave";
    let th = me(caller);
    leave_depth(&th.private().woi_depth, caller, th);
    crate::thread::symbols::unbind_variable(sym::INTERRUPTS_ENABLED, th, caller);
    if symbol_value(sym::INTERRUPTS_ENABLED, Some(th)) != NIL && symbol_value(sym::INTERRUPT_PENDING, Some(th)) != NIL {
        if th.in_pseudo_atomic() {
            th.pseudo_atomic_interrupted().store(1, Ordering::Relaxed);
        } else {
            raise_interrupt(th);
        }
    }
}

/// Loses if `th` is inside any section (a thread's function must not
/// return from inside one).
pub(crate) fn assert_outside_sections(th: ThreadRef, caller: &str) {
    let p = th.private();
    let (pa, gc, wi) = (
        p.pa_depth.load(Ordering::Relaxed),
        p.wogc_depth.load(Ordering::Relaxed),
        p.woi_depth.load(Ordering::Relaxed),
    );
    if pa + gc + wi != 0 {
        lose!(
            "{}: thread {:#x} returned from its function inside {} pseudo-atomic, {} WITHOUT-GCING and {} WITHOUT-INTERRUPTS section(s)",
            caller,
            addr(th.as_ptr()),
            pa,
            gc,
            wi
        );
    }
}
