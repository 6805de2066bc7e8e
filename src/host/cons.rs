//! Host mode: the cons `interrupt_thread` queues, made with the runtime's
//! `alloc_cons` while collections are held off — the measure `HOLD_GC`
//! (`measures.rs`, `SBTHREAD_HOLD_GC=0`).
//!
//! 0.9.4.1's `alloc_cons` (`src/runtime/alloc.c:111-119`) gets its cell
//! from `pa_alloc` (37-52), which allocates pseudo-atomic and, once out of
//! the section, calls `do_pending_interrupt` if the section was
//! interrupted: when the allocation opened a region past the GC trigger
//! (`alloc()` marks the section so unless `*GC-INHIBIT*` is set), or when
//! a stop arrived meanwhile (its handler deferred it). The calling thread
//! then collects right there, or suspends while another thread does. The
//! only reference to the new cell is `pa_alloc`'s untagged pointer, which
//! the conservative scan does not take for a cons (`gencgc.c:2036`: an
//! untagged pointer counts only into a code object), so the collection
//! frees the cell's page and zeroes it. `alloc_cons` then writes the car
//! and the cdr into the free page, and `interrupt_thread` queues the cell.
//! The next object allocated there is overwritten, or finds its memory not
//! zeroed; the target may pop a function that is no longer there. On the
//! real runtime (`stress-terminate.lisp`): a conser's kept list cut by a
//! `(QUIT . NIL)` cell, "no transport function for object ... (widetag
//! 0xa9)" (0xa9 is the low byte of `#'QUIT`), lost interrupts, and, with
//! gencgc's zero check on, "The new region at ... is not zero". Upstream's
//! `interrupt_thread` calls `alloc_cons` the same way (`thread.c:425`).
//!
//! So the cell is made with the blockable signals blocked (no stop can be
//! deferred into the section: the stopper waits for the few instructions
//! until the cons is queued, a root the collector scavenges) and with
//! `*GC-INHIBIT*` bound to T around the call, with the runtime's own
//! `bind_variable` (which gives the symbol a TLS index if it has none yet),
//! as `WITHOUT-GCING` does: `alloc()` then only records that a collection
//! is due (`*GC-PENDING*`), and `pa_alloc` has nothing pending. The binding
//! is undone at once (nothing can unwind in between: the handlers are
//! blocked, and no Lisp code runs inside the call). If the call is what
//! made a collection due (it was neither due nor inhibited before),
//! `*GC-PENDING*` goes back to NIL, so that the thread's next allocation
//! past the trigger asks for the collection again (`alloc()` asks only
//! when `*GC-PENDING*` is NIL); counted in `gc_triggers_held`.

use crate::diag::stats;
use crate::legacy::hooks::hooks;
use crate::legacy::lisp::{sym, NIL, T};
use crate::legacy::types::lispobj;
use crate::thread::symbols::{set_symbol_value, symbol_value, unbind_variable};
use crate::thread::thread_ref::ThreadRef;

use super::measures;

/// The cons `(function . NIL)` for `interrupt_thread`, made by the host's
/// `alloc_cons` in `me` (the calling thread, if registered) with
/// collections held off. The caller has the blockable signals blocked and
/// queues the cons before it unblocks them.
pub(crate) fn make_interrupt_cons(function: lispobj, me: Option<ThreadRef>) -> lispobj {
    let h = hooks();
    let Some(me) = me.filter(|_| measures::HOLD_GC.on()) else {
        return h.alloc_cons(function, NIL);
    };
    let was_inhibited = symbol_value(sym::GC_INHIBIT, Some(me)) != NIL;
    let was_pending = symbol_value(sym::GC_PENDING, Some(me)) != NIL;
    // SAFETY: `me` is the calling thread, live; the binding is undone below
    // before anything else can run on this thread.
    unsafe { h.bind_variable(sym::GC_INHIBIT, T, me.as_ptr()) };
    let c = h.alloc_cons(function, NIL);
    unbind_variable(sym::GC_INHIBIT, me, "interrupt_thread");
    if !was_inhibited && !was_pending && symbol_value(sym::GC_PENDING, Some(me)) != NIL {
        set_symbol_value(sym::GC_PENDING, NIL, Some(me));
        stats::GC_TRIGGERS_HELD.bump();
    }
    c
}
