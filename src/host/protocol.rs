//! Host mode: the legacy runtime's own handlers do the signal side
//! (spec §6). On `SIG_STOP_FOR_GC` a RUNNING thread marks itself SUSPENDED
//! and waits for the next `SIG_STOP_FOR_GC`, after which it runs again; on
//! `SIG_INTERRUPT_THREAD` it pops one function off `interrupt_fun`. Every
//! thread still needs its own stop signal, but stopped threads help send
//! them and the stopper sleeps; unless `SBTHREAD_RESUME_WAKE=0` the resume
//! is a futex wake instead of a signal per thread: the handler's wait is
//! our `sigwaitinfo` (`stop.rs`, `resume.rs`, `resume_wait.rs`).

use core::ffi::c_int;

use super::{adopt, rewake, stop};
use crate::legacy::types::lispobj;
use crate::sys::sigset::{self, sig_interrupt_thread, sig_stop_for_gc};
use crate::thread::kill::kill_thread_safely;
use crate::thread::thread_ref::ThreadRef;
use crate::world::protocol::Protocol;

/// The host-mode protocol.
pub(crate) struct HostProtocol;

impl Protocol for HostProtocol {
    fn thread_started(&self, _th: ThreadRef) {
        // The host's Lisp code unblocks signals itself once it is set up.
    }

    fn notify_interrupt(&self, th: ThreadRef) -> c_int {
        rewake::interrupt_sent(th);
        kill_thread_safely(th.os_thread(), sig_interrupt_thread())
    }

    /// DEAD at once, without `all_threads_lock`, as 0.9.4.1 does: the
    /// host's Lisp exit code may have taken a stop signal and deferred it
    /// (it binds `*gc-inhibit*`), so a stopper holding the lock may be
    /// waiting for this very thread; a stopper counts a DEAD thread as
    /// stopped. The host's handlers must never run here again (both lose
    /// on a thread that is not RUNNING): the blockable signals stay
    /// blocked until the thread is gone, and a signal still on its way
    /// dies with it. Interrupt functions still queued are dropped: the
    /// thread's Lisp dynamic extent (catch tags, handlers,
    /// `*current-thread*`) is gone, so there is nothing sane to run them in.
    fn become_dead(&self, th: ThreadRef) -> u64 {
        let mut quiet = sigset::blockable();
        for sig in [sig_interrupt_thread(), sig_stop_for_gc()] {
            sigset::add(&mut quiet, sig);
        }
        sigset::block(&quiet);
        // Close the thread's allocation region now, as reap would (and
        // reap's second close finds it empty): the rest of its heap page
        // goes to the next allocation instead of staying open, untouched,
        // until a collection reaps the thread. Safe here: the thread is
        // still RUNNING with the stop signal blocked, so no collection is
        // in progress, and nobody is suspended holding the page-table lock
        // (the host takes it only in pseudo-atomic code).
        crate::thread::close_alloc_region(th);
        // Still RUNNING, the stop signal blocked: no collection can move
        // a mutex while the sleepers' mutexes are looked at (abandoned.rs).
        rewake::at_exit(th);
        let dropped = crate::interrupt::close_discarding(th);
        stop::died();
        dropped
    }

    /// The host's conses belong to its collector: never walked here (a
    /// collection may already have moved or reused them).
    fn release_conses(&self, _list: lispobj) {}

    fn make_interrupt_cons(&self, function: lispobj, me: Option<ThreadRef>) -> lispobj {
        super::cons::make_interrupt_cons(function, me)
    }

    fn begin_stop(&self) {
        stop::begin_stop();
    }

    /// Only collects `th`: the signals go out in `send_requests`.
    fn request_stop(&self, th: ThreadRef) -> c_int {
        stop::request_stop(th);
        0
    }

    fn send_requests(&self) {
        stop::send_stops();
    }

    fn await_stopped(&self, me: Option<ThreadRef>) {
        stop::await_stopped(me);
    }

    fn resume(&self, th: ThreadRef) -> c_int {
        stop::resume(th)
    }

    /// Every adopted sleeper's stand-in context is popped before anyone is
    /// resumed: a sleeper may wait for a thread the start resumes.
    fn begin_start(&self, me: Option<ThreadRef>) {
        for th in crate::thread::registry::iter().filter(|t| Some(*t) != me) {
            adopt::release_context(th);
        }
    }

    fn release_unsuspended(&self, th: ThreadRef) -> bool {
        adopt::forget(th)
    }

    /// One futex wake for every thread `resume` did not signal.
    fn end_start(&self) {
        super::resume::wake_resumed();
    }
}
