//! Where a stopped thread stopped (standalone): its interrupted register
//! context, kept where the legacy runtime keeps it, so that a collector
//! can scan it (`roots.rs`).
//!
//! 0.9.4.1's handlers push the `ucontext_t` they were given onto the
//! thread's `interrupt_contexts[]` and count it in the TLS value of
//! `FREE_INTERRUPT_CONTEXT_INDEX` (a fixnum), and pop it on the way out;
//! gencgc reads the innermost one for the registers and the stack pointer.
//! The standalone `SIG_STOP_FOR_GC` handler does the same for as long as
//! the thread is suspended. A stop honoured when a deferral section ends
//! has no signal context; there the thread saves its own with
//! `getcontext` (callee-saved registers and stack pointer: everything a
//! call leaves live) and records that.
//!
//! Only the owning thread writes its slots and the index, with every
//! asynchronous signal blocked (inside the stop handler, or under the
//! mask `suspend_self` sets), so no handler interleaves with a push or a
//! pop. A stopper reads them only while the thread is SUSPENDED: the
//! suspension's release/acquire handshake orders the push before it. The
//! one exception is host mode's adoption (`host_adopt.rs`): the stopper
//! pushes and pops for a thread that cannot run until the world starts.
//! Async-signal-safe.

use core::sync::atomic::Ordering;

use crate::legacy::types::os_context_t;
use crate::legacy::lisp::{fixnum_value, make_fixnum, sym};
use crate::thread::symbols::{set_symbol_value, symbol_value};
use crate::thread::thread_ref::ThreadRef;

/// How many contexts `th` has recorded.
pub(crate) fn depth(th: ThreadRef) -> usize {
    fixnum_value(symbol_value(sym::FREE_INTERRUPT_CONTEXT_INDEX, Some(th))).max(0) as usize
}

/// Puts `ctx` in slot `index` of `th`'s contexts and makes it the
/// innermost (`index` is `depth(th)`).
pub(crate) fn push(th: ThreadRef, index: usize, ctx: *mut os_context_t) {
    th.interrupt_context_slot(index).store(ctx, Ordering::Relaxed);
    set_symbol_value(sym::FREE_INTERRUPT_CONTEXT_INDEX, make_fixnum(index as i64 + 1), Some(th));
}

/// Takes the context in slot `index` (the innermost) off `th`'s contexts.
pub(crate) fn pop(th: ThreadRef, index: usize) {
    set_symbol_value(sym::FREE_INTERRUPT_CONTEXT_INDEX, make_fixnum(index as i64), Some(th));
    th.interrupt_context_slot(index).store(core::ptr::null_mut(), Ordering::Relaxed);
}

/// A context recorded for as long as this lives (pops it when dropped).
pub(crate) struct Recorded {
    th: ThreadRef,
    index: usize,
}

/// Pushes `ctx` onto `th`'s contexts; `th` must be the calling thread,
/// with every asynchronous signal blocked.
pub(crate) fn record(th: ThreadRef, ctx: *mut os_context_t) -> Recorded {
    let index = depth(th);
    push(th, index, ctx);
    Recorded { th, index }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        pop(self.th, self.index);
    }
}

/// The innermost context `th` recorded, if any. For a stopper, while `th`
/// is SUSPENDED.
pub(crate) fn innermost(th: ThreadRef) -> Option<*mut os_context_t> {
    let d = depth(th);
    if d == 0 {
        return None;
    }
    let ctx = th.interrupt_context_slot(d - 1).load(Ordering::Relaxed);
    (!ctx.is_null()).then_some(ctx)
}

/// Saves the calling thread's registers into `uc` (for a stop honoured
/// outside the signal handler). Returns false if `getcontext` failed.
pub(crate) fn save_own(uc: &mut core::mem::MaybeUninit<libc::ucontext_t>) -> bool {
    // SAFETY: `uc` is writable for one ucontext_t; getcontext fills it.
    unsafe { libc::getcontext(uc.as_mut_ptr()) == 0 }
}
