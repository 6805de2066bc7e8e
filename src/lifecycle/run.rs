//! A thread's run: the start routine, the trampoline (wait to be linked,
//! RUNNING, the function), its end (DEAD, as the mode says:
//! `Protocol::become_dead`), and waiting for that end.

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use crate::diag::lose::{addr, lose};
use crate::diag::trace::trace;
use crate::legacy::hooks::hooks;
use crate::legacy::lisp::UNBOUND;
use crate::legacy::types::{lispobj, SBTHREAD_STATE_RUNNING};
use crate::sys::futex;
use crate::thread::dormant;
use crate::thread::thread_ref::ThreadRef;
use crate::world::protocol::protocol;

/// The start routine of every thread but the initial one: the body of
/// `new_thread_trampoline`, then, once its frames are gone, what a dead
/// thread gives back (`dormant.rs`).
pub(crate) extern "C" fn pthread_entry(arg: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    // SAFETY: start_pthread passes a live thread struct; the block stays
    // this thread's until it is joined.
    let Some(th) = (unsafe { ThreadRef::new(arg.cast()) }) else {
        lose!("new_thread_trampoline: NULL thread")
    };
    let r = run_new_thread(th);
    // Here, not in the trampoline: its frames are gone, so only the
    // stack's topmost page stays in use.
    if dormant::worth_giving_back() {
        dormant::give_back(th);
    }
    r as isize as *mut core::ffi::c_void
}

/// Takes the initial function out of `unbound_marker` and restores it.
pub(super) fn take_initial_function(th: ThreadRef) -> lispobj {
    th.unbound_marker().swap(UNBOUND, Ordering::AcqRel)
}

/// Marks `th` (the calling thread) RUNNING and wakes whoever waits for
/// it to start.
pub(super) fn mark_running(th: ThreadRef) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    th.private().tid.store(tid as u32, Ordering::Relaxed);
    th.set_state(SBTHREAD_STATE_RUNNING);
    futex::event::set(&th.private().started);
}

/// The body of `new_thread_trampoline`.
pub(crate) fn run_new_thread(th: ThreadRef) -> c_int {
    let h = hooks();
    let function = take_initial_function(th);
    // SAFETY: `th` is the calling thread's own live struct.
    if unsafe { h.arch_os_thread_init(th.as_ptr()) } == 0 {
        lose!("new_thread_trampoline: arch_os_thread_init failed for thread {:#x}", addr(th.as_ptr()));
    }
    futex::event::wait(&th.private().linked);
    mark_running(th);
    trace!(1, "thread {:#x} running", addr(th.as_ptr()));
    protocol().thread_started(th);
    let result = h.funcall0(function);
    let regions = crate::thread::region_depth(th);
    if regions != 0 {
        lose!("new_thread_trampoline: thread {:#x} returned from its function inside {} blocking region(s)", addr(th.as_ptr()), regions);
    }
    exit_thread(th);
    result as c_int
}

/// After the thread's function returned: DEAD (how depends on the mode,
/// see `Protocol::become_dead`), then wake whoever waits for that.
fn exit_thread(th: ThreadRef) {
    let dropped = protocol().become_dead(th);
    dormant::dead_waiting_add();
    dormant::release_altstack(th);
    futex::event::set(&th.private().dead);
    if dropped != 0 {
        trace!(1, "thread {:#x} dead; {} queued interrupt(s) dropped", addr(th.as_ptr()), dropped);
    } else {
        trace!(1, "thread {:#x} dead", addr(th.as_ptr()));
    }
}

/// Sleeps until `th` is DEAD.
pub(crate) fn wait_until_dead(th: ThreadRef) {
    futex::event::wait_yielding_first(&th.private().dead);
}
