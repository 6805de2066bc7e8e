//! The roots of a stopped world, for a collector (standalone mode): for
//! every live thread, where it stopped (its registers), the live part of
//! its stack, and its TLS area. This is what gencgc takes from the
//! legacy runtime's thread structures, and what bdwgc's stop-the-world
//! records for its own collector, offered on its own.
//!
//! Only the thread that stopped the world may ask, between
//! `gc_stop_the_world` and `gc_start_the_world`: then the set of threads
//! cannot change (link, unlink and the DEAD transition need the lock the
//! stopper holds) and every other live thread is SUSPENDED with its
//! context recorded (`thread/contexts.rs`), or counted as stopped in a
//! blocking region (`region.rs`) with the registers it saved when it
//! entered the region, given to the collector as a `ucontext_t` holding
//! those (the stack above that point is the live part: the thread runs
//! below it, touching no collected memory). A DEAD thread has no roots:
//! its function has returned.
//!
//! A thread that was inside a deferral section when asked to stop is
//! suspended only when it leaves it, so the stop itself waits for that;
//! by the time anyone can ask for roots, no thread is inside a
//! WITHOUT-GCING or pseudo-atomic section except, perhaps, the stopper.

use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::sync::atomic::Ordering;

use crate::legacy::types::{SbthreadRoots, SBTHREAD_STATE_DEAD, SBTHREAD_STATE_SUSPENDED};
use crate::thread::block;
use crate::legacy::hooks::{hooks, Mode};
use crate::diag::lose::{addr, lose, state_name};
use crate::thread::registry;
use crate::thread::contexts;
use crate::thread::thread_ref::ThreadRef;
use crate::world::protocol::protocol;

/// The System V x86-64 red zone: leaf code may keep data this far below
/// its stack pointer.
const RED_ZONE: usize = 128;

/// Records the bounds of the stack the calling thread runs on, when it is
/// not the block's control stack (a thread attached with
/// `sbthread_attach`). Not async-signal-safe (`pthread_getattr_np` reads
/// `/proc/self/maps` for the initial thread).
pub(crate) fn note_own_stack(th: ThreadRef) {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut low: *mut c_void = core::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: pthread_getattr_np initialises `attr` when it returns 0;
    // only then is it read and destroyed.
    let ok = unsafe {
        libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) == 0 && {
            let got = libc::pthread_attr_getstack(attr.as_ptr(), &mut low, &mut size) == 0;
            libc::pthread_attr_destroy(attr.as_mut_ptr());
            got
        }
    };
    if !ok || low.is_null() {
        lose!("sbthread_attach: cannot find the stack of thread {:#x}", addr(th.as_ptr()));
    }
    let p = th.private();
    p.own_stack_low.store(low as usize, Ordering::Relaxed);
    p.own_stack_high.store(low as usize + size, Ordering::Release);
}

/// `[low, high)` of the stack `th` runs on.
fn stack_bounds(th: ThreadRef) -> (usize, usize) {
    let p = th.private();
    let high = p.own_stack_high.load(Ordering::Acquire);
    if high != 0 {
        return (p.own_stack_low.load(Ordering::Relaxed), high);
    }
    // SAFETY: both fields are written at creation and never change.
    unsafe { ((*th.as_ptr()).control_stack_start as usize, (*th.as_ptr()).control_stack_end as usize) }
}

/// The stack pointer saved in a context.
fn saved_sp(ctx: *const libc::ucontext_t) -> usize {
    // SAFETY: `ctx` is a recorded context of a suspended thread (alive on
    // its stack until it resumes, which it cannot before the stopper
    // starts the world) or the caller's own, saved by getcontext.
    unsafe { (*ctx).uc_mcontext.gregs[libc::REG_RSP as usize] as usize }
}

/// The lowest live address of a stack `[low, high)` whose thread stopped
/// at `sp`: the red zone below `sp` included; the whole stack when `sp`
/// lies outside it (e.g. it stopped on a signal stack).
fn live_low(sp: usize, low: usize, high: usize) -> usize {
    if (low..high).contains(&sp) { sp.saturating_sub(RED_ZONE).max(low) } else { low }
}

/// The context of `th`, counted as stopped in a blocking region: a
/// `ucontext_t` with nothing but the registers it saved at the entry
/// (`block::REGION_REGS`: callee-saved registers, stack pointer, return
/// address), built in `buf`.
fn region_entry_context(th: ThreadRef, buf: &mut MaybeUninit<libc::ucontext_t>) -> *const libc::ucontext_t {
    buf.write(
        // SAFETY: an all-zero ucontext_t is a valid value (integers, and a
        // null `fpregs` pointer).
        unsafe { core::mem::zeroed() },
    );
    // SAFETY: initialised just above.
    let uc = unsafe { buf.assume_init_mut() };
    for (slot, reg) in th.private().region_regs.iter().zip(block::REGION_REGS) {
        // The stopper saw the thread INSIDE (acquire), after it saved these.
        uc.uc_mcontext.gregs[reg as usize] = slot.load(Ordering::Relaxed) as i64;
    }
    buf.as_ptr()
}

/// Calls `visit` with the roots of every live thread, the caller
/// included, in registry order; returns how many it visited. Loses unless
/// the caller is the registered thread that stopped the world (standalone
/// mode).
pub(crate) fn for_each(mut visit: impl FnMut(&SbthreadRoots)) -> u32 {
    const CALLER: &str = "sbthread_scan_roots";
    let h = hooks();
    if h.mode != Mode::Standalone {
        lose!("{}: only available in standalone mode; a host runtime's collector reads its own contexts", CALLER);
    }
    registry::assert_stopper(CALLER);
    let Some(me) = crate::thread::current() else { lose!("{}: the calling thread is not registered", CALLER) };
    let mut own = MaybeUninit::<libc::ucontext_t>::uninit();
    if !contexts::save_own(&mut own) {
        lose!("{}: getcontext failed", CALLER);
    }
    let tls_size = block::layout().tls_bytes;
    // The context of a thread counted in a blocking region, rebuilt for
    // each such thread from the registers it saved.
    let mut entry = MaybeUninit::<libc::ucontext_t>::zeroed();
    let mut visited = 0;
    for th in registry::iter() {
        let state = th.state();
        if state == SBTHREAD_STATE_DEAD {
            continue;
        }
        let is_self = th == me;
        let in_region = !is_self && protocol().counted_in_region(th);
        let context: *const libc::ucontext_t = if is_self {
            own.as_ptr()
        } else if in_region {
            region_entry_context(th, &mut entry)
        } else if state != SBTHREAD_STATE_SUSPENDED {
            lose!("{}: thread {:#x} is in state {}, not SUSPENDED, in a stopped world", CALLER, addr(th.as_ptr()), state_name(state))
        } else {
            match contexts::innermost(th) {
                Some(c) => c.cast_const().cast(),
                None => lose!("{}: suspended thread {:#x} recorded no context", CALLER, addr(th.as_ptr())),
            }
        };
        let (low, high) = stack_bounds(th);
        let roots = SbthreadRoots {
            thread: th.as_ptr(),
            is_self: is_self.into(),
            context: context.cast(),
            context_size: size_of::<libc::ucontext_t>(),
            stack_low: live_low(saved_sp(context), low, high) as *const c_void,
            stack_high: high as *const c_void,
            tls: th.as_ptr().cast_const().cast(),
            tls_size,
            in_blocking_region: in_region.into(),
        };
        visit(&roots);
        visited += 1;
    }
    visited
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_low_keeps_the_red_zone_and_stays_inside_the_stack() {
        assert_eq!(live_low(0x10_000, 0x8_000, 0x20_000), 0x10_000 - RED_ZONE);
        assert_eq!(live_low(0x8_040, 0x8_000, 0x20_000), 0x8_000);
        assert_eq!(live_low(0x7_000, 0x8_000, 0x20_000), 0x8_000);
        assert_eq!(live_low(0x20_000, 0x8_000, 0x20_000), 0x8_000);
    }
}
