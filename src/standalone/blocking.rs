//! Blocking regions: a thread says that it is about to block (in `read`,
//! `accept`, a condition variable, ...) and will not touch collected
//! memory until it leaves; a stop then counts it as stopped without a
//! signal, and its roots are the registers it saved here and its stack
//! above that point (bdwgc's `GC_do_blocking`, the JVM's "in native").
//! The protocol with the stopper and the start is `world/region.rs`; this
//! module is the thread's side: saving the registers, the rules, and the
//! interrupts that wait for the leave.
//!
//! **Saving the registers.** At a call, what the caller keeps live is in
//! the callee-saved registers (rbx, rbp, r12–r15) and on its stack.
//! [`save_registers_and_call`] has no prologue: it stores those six, the
//! stack pointer the caller has once the call returns and the return
//! address in a frame of its own before any compiled code can move them,
//! and passes them to its callback ([`enter_with`]), which copies them
//! into `Private::region_regs`. No system call (`getcontext` would make
//! one, for the signal mask); entering is a few stores, leaving one
//! compare-and-swap, unless a stop counted the thread (then the leave
//! sleeps until the start).
//!
//! **Rules** (README, "Blocking regions"), each misuse reported by `lose`:
//! - regions nest; only the outermost enter and leave change anything, and
//!   the roots are those of the outermost entry;
//! - a region does not begin inside a pseudo-atomic section or
//!   WITHOUT-GCING (a thread that holds off stops cannot count as
//!   stopped), nor in the thread holding a stopped world; inside one, no
//!   deferral section begins or ends, the world is not stopped, and
//!   nothing takes `all_threads_lock` (creating or reaping threads); a
//!   thread's function does not return inside one;
//! - interrupts sent to a thread inside a region wait until it leaves, as
//!   in WITHOUT-INTERRUPTS (an interrupt function may touch the heap): the
//!   handler records `INTERRUPT_PENDING` and leaves the doorbell rung, and
//!   the outermost leave raises them (unless WITHOUT-INTERRUPTS, entered
//!   before the region, still defers them); every accepted interrupt still
//!   runs exactly once;
//! - host mode: the host's handlers know nothing of regions, so a thread
//!   inside one is stopped by a signal as any other (always correct; only
//!   the saving is lost) and takes its interrupts as usual; enter and leave
//!   only check that they pair up.

use core::sync::atomic::Ordering::Relaxed;

use super::signals::raise_interrupt;
use super::stop::{REGIONS, WORLD};
use crate::diag::lose::{addr, lose};
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::legacy::hooks::{hooks, Mode};
use crate::legacy::lisp::{sym, NIL};
use crate::sys::sync::Futex;
use crate::thread::block::REGION_REGS;
use crate::thread::registry;
use crate::thread::symbols::symbol_value;
use crate::thread::thread_ref::ThreadRef;
use crate::world::region;

/// The registers [`save_registers_and_call`] saves, in the order of
/// `block::REGION_REGS`.
pub(crate) type EntryRegs = [usize; REGION_REGS.len()];

/// A callback of [`save_registers_and_call`].
pub(crate) type WithRegs = unsafe extern "C" fn(regs: *const EntryRegs);

/// Saves the caller's callee-saved registers, the stack pointer it has
/// once this returns, and the return address (see `block::REGION_REGS`
/// for the order) in its own frame, calls `then(&regs)`, and returns.
/// Every register the caller relies on is preserved (`then` follows the C
/// ABI). Called directly or reached by a jump from an export (which leaves
/// the export's caller's return address on the stack).
///
/// # Safety
/// `then` must be safe to call with a pointer to the saved words.
///
/// Async-signal-safe: as `then`.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn save_registers_and_call(then: WithRegs) {
    // At entry rsp + 8 is 16-byte aligned (the return address is on top);
    // 72 bytes make it aligned again for the call, with 64 for the words.
    core::arch::naked_asm!(
        "sub rsp, 72",
        "mov [rsp], rbx",
        "mov [rsp + 8], rbp",
        "mov [rsp + 16], r12",
        "mov [rsp + 24], r13",
        "mov [rsp + 32], r14",
        "mov [rsp + 40], r15",
        "lea rax, [rsp + 80]",
        "mov [rsp + 48], rax",
        "mov rax, [rsp + 72]",
        "mov [rsp + 56], rax",
        "mov rax, rdi",
        "mov rdi, rsp",
        "call rax",
        "add rsp, 72",
        "ret",
    )
}

/// The calling thread, which must be registered.
fn me(caller: &str) -> ThreadRef {
    match crate::thread::current() {
        Some(th) => th,
        None => lose!("{}: the calling thread is not a registered thread", caller),
    }
}

/// Loses unless `th` may begin a region now (standalone).
fn check_can_enter(th: ThreadRef, caller: &str) {
    let t = addr(th.as_ptr());
    if th.in_pseudo_atomic() {
        lose!("{}: thread {:#x} is inside a pseudo-atomic section, which holds off stops: it cannot count as stopped", caller, t);
    }
    if symbol_value(sym::GC_INHIBIT, Some(th)) != NIL {
        lose!("{}: thread {:#x} is inside WITHOUT-GCING (gc is inhibited): it cannot count as stopped", caller, t);
    }
    if registry::i_am_stopper() {
        lose!("{}: thread {:#x} stopped the world and holds all_threads_lock; call gc_start_the_world first", caller, t);
    }
}

/// The outermost entry, once the registers are saved; nested entries
/// only count.
///
/// # Safety
/// `regs` points to the words [`save_registers_and_call`] saved; the
/// library is initialised.
///
/// Async-signal-safe: yes.
pub(crate) unsafe extern "C" fn enter_with(regs: *const EntryRegs) {
    const CALLER: &str = "sbthread_blocking_enter";
    let th = me(CALLER);
    let p = th.private();
    let depth = p.region_depth.load(Relaxed);
    if depth != 0 {
        p.region_depth.store(depth + 1, Relaxed);
        return;
    }
    if hooks().mode == Mode::Standalone {
        check_can_enter(th, CALLER);
        // SAFETY: the caller's contract: eight words on the saver's frame.
        let regs = unsafe { &*regs };
        for (slot, r) in p.region_regs.iter().zip(regs) {
            slot.store(*r, Relaxed);
        }
        p.region_depth.store(1, Relaxed);
        // Last: from here on a stop may count the thread.
        if let Err(found) = region::enter(&crate::thread::slot_of(th).region) {
            lose!("{}: thread {:#x} is outside any region but its region word is {}", CALLER, addr(th.as_ptr()), found);
        }
    } else {
        p.region_depth.store(1, Relaxed);
    }
}

/// Leaves a region; the outermost leave waits for the start if a stop
/// counted the thread, then raises the interrupts that arrived inside.
pub(crate) fn leave() {
    const CALLER: &str = "sbthread_blocking_leave";
    let th = me(CALLER);
    let p = th.private();
    let depth = p.region_depth.load(Relaxed);
    if depth == 0 {
        lose!("{}: thread {:#x} is not inside a blocking region (leave without enter)", CALLER, addr(th.as_ptr()));
    }
    if depth > 1 || hooks().mode != Mode::Standalone {
        p.region_depth.store(depth - 1, Relaxed);
        return;
    }
    match region::leave(&crate::thread::slot_of(th).region, &REGIONS, &WORLD.resume_seq, &Futex) {
        Ok(false) => {}
        Ok(true) => {
            stats::REGION_LEAVES_WAITED.bump();
            trace!(2, "thread {:#x} left its blocking region after the world was started", addr(th.as_ptr()));
        }
        Err(found) => lose!("{}: thread {:#x} is inside a region but its region word is {}", CALLER, addr(th.as_ptr()), found),
    }
    p.region_depth.store(0, Relaxed);
    if symbol_value(sym::INTERRUPT_PENDING, Some(th)) != NIL
        && symbol_value(sym::INTERRUPTS_ENABLED, Some(th)) != NIL
        && !th.in_pseudo_atomic()
    {
        raise_interrupt(th);
    }
}

/// Whether `th`'s interrupts wait because it is inside a region (for its
/// own `SIG_INTERRUPT_THREAD` handler). The depth, not the region word:
/// a leave writes OUTSIDE before it may wait for a start, and interrupt
/// functions must not run in a thread a stop counts as stopped.
pub(crate) fn defers_interrupts(th: ThreadRef) -> bool {
    crate::thread::region_depth(th) != 0
}

/// Whether `th` is inside a blocking region (standalone: also a thread a
/// stop counted and that now waits in its leave).
pub(crate) fn inside(th: ThreadRef) -> bool {
    if hooks().mode != Mode::Standalone {
        return false;
    }
    let slot = crate::thread::slot_of(th);
    slot.region.load(Relaxed) != region::OUTSIDE
        || (registry::i_am_stopper() && region::is_counted(&slot.counted, super::stop::stop_serial()))
}

/// Loses if the calling thread `th` is inside a region: `caller` may not
/// run there.
pub(crate) fn assert_outside(th: ThreadRef, caller: &str, what: &str) {
    let depth = crate::thread::region_depth(th);
    if depth != 0 {
        lose!("{}: thread {:#x} is inside a blocking region (depth {}), where {}", caller, addr(th.as_ptr()), depth, what);
    }
}
