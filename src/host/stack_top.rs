//! The word at a stopped thread's stack pointer, shown to 0.9.4.1's
//! collector (the measure `SCAN_TOP`, `measures.rs`).
//!
//! gencgc scans a stopped thread's control stack conservatively, from
//! `control_stack_end` down to the lowest stack pointer among its
//! interrupt contexts, but *excluding* the word at that stack pointer
//! (`src/runtime/gencgc.c:3605`, `for (ptr = ...control_stack_end; ptr >
//! esp; ptr--)`). That word is live whenever the thread stopped in a
//! routine without a frame of its own. The assembly routine
//! `ALLOCATE-VECTOR` (`src/assembly/x86-64/array.lisp:17`, behind
//! `MAKE-STRING` and other vector allocations) is entered with `call` and
//! allocates pseudo-atomic; a stop that arrives meanwhile is deferred and
//! honoured from the trap at the section's end, whose context's stack
//! pointer points at the routine's return address. If that address is the
//! only reference to its caller's code object and the object is young,
//! the collector moves it, and the thread returns into the place it left:
//! a `MEMORY-FAULT-ERROR` at the old return address (RELIABILITY.md).
//!
//! So, once every thread is stopped, the stopper lowers the stack pointer
//! of each SUSPENDED thread's innermost context (the one its stop handler
//! recorded) by one word, and puts the saved value back just before it
//! resumes the thread, which then returns through that context. The
//! thread cannot run in between: it waits in its stop handler for the
//! resume signal only the stopper sends. Nothing else reads the context
//! meanwhile: the collector uses the stack pointer only as the scan's
//! lower bound (and scans the context's own words, where a stack address
//! is no heap pointer). Adopted sleepers (`adopt.rs`) are left alone:
//! their stand-in context's stack pointer is inside a C function.

use core::sync::atomic::Ordering;

use super::{adopt, measures};
use crate::legacy::types::{os_context_t, SBTHREAD_STATE_SUSPENDED};
use crate::thread::contexts;
use crate::thread::registry;
use crate::thread::thread_ref::ThreadRef;

/// The stack pointer slot of `ctx`, a `ucontext_t` the runtime recorded.
fn sp_slot(ctx: *mut os_context_t) -> *mut i64 {
    let uc = ctx.cast::<libc::ucontext_t>();
    // SAFETY: `ctx` is a live ucontext_t (the stop handler's own, recorded
    // in interrupt_contexts[] and valid until the handler returns); gregs
    // has NGREG entries, REG_RSP among them. Only a pointer is formed here.
    unsafe { core::ptr::addr_of_mut!((*uc).uc_mcontext.gregs[libc::REG_RSP as usize]) }
}

/// Stopper, once every thread but `me` is stopped: lowers the innermost
/// context's stack pointer of every SUSPENDED thread by one word.
pub(crate) fn lower_all(me: Option<ThreadRef>) {
    if !measures::SCAN_TOP.on() {
        return;
    }
    for th in registry::iter().filter(|t| Some(*t) != me) {
        if th.state() == SBTHREAD_STATE_SUSPENDED && !adopt::adopted(th) {
            lower(th);
        }
    }
}

/// Lowers `th`'s innermost context's stack pointer by one word and keeps
/// the old value in its private words.
fn lower(th: ThreadRef) {
    let Some(ctx) = contexts::innermost(th) else { return };
    let p = th.private();
    if p.lowered_sp_slot.load(Ordering::Relaxed) != 0 {
        return;
    }
    let slot = sp_slot(ctx);
    // SAFETY: the slot lies in the stop handler's live context (see
    // sp_slot); the thread waits for its resume and touches it only after
    // `restore`.
    let saved = unsafe { slot.read() };
    // SAFETY: as above.
    unsafe { slot.write(saved.wrapping_sub(8)) };
    p.lowered_sp.store(saved as u64, Ordering::Relaxed);
    p.lowered_sp_slot.store(slot as usize, Ordering::Relaxed);
}

/// Stopper, before it resumes `th`: puts back the stack pointer `lower`
/// changed, if any.
pub(crate) fn restore(th: ThreadRef) {
    let p = th.private();
    let slot = p.lowered_sp_slot.swap(0, Ordering::Relaxed) as *mut i64;
    if !slot.is_null() {
        // SAFETY: `lower` took this slot from the context of a thread that
        // has waited for its resume since; the context is still live.
        unsafe { slot.write(p.lowered_sp.load(Ordering::Relaxed) as i64) };
    }
}
