//! The standalone side of the shared algorithms (see `crate::protocol`).

use core::ffi::c_int;

use super::signals::run_pending_interrupts;
use super::{STATES, WORLD};
use crate::interrupt::queue_of;
use crate::kill::kill_thread_safely;
use crate::protocol::Protocol;
use crate::sigset::{self, sig_interrupt_thread, sig_stop_for_gc};
use crate::sync::Futex;
use crate::thread_ref::ThreadRef;

/// The standalone protocol.
pub(crate) struct OwnProtocol;

impl Protocol for OwnProtocol {
    fn thread_started(&self, _th: ThreadRef) {
        // The thread inherited a mask with the deferrables blocked from
        // create_os_thread; it is set up now, so let them in (the role the
        // host's Lisp start-up code plays in host mode).
        sigset::unblock(&sigset::deferrable());
    }

    fn notify_interrupt(&self, th: ThreadRef) -> c_int {
        if !queue_of(th).ring() {
            return 0; // a signal is on its way, or the queue is deferred
        }
        let r = kill_thread_safely(th.os_thread(), sig_interrupt_thread());
        if r != 0 {
            th.private().doorbell.store(0, core::sync::atomic::Ordering::SeqCst);
        }
        r
    }

    fn drain_before_exit(&self, th: ThreadRef) {
        run_pending_interrupts(th);
    }

    fn begin_stop(&self) {
        WORLD.begin_stop();
    }

    fn request_stop(&self, th: ThreadRef) -> c_int {
        WORLD.count_request();
        let r = kill_thread_safely(th.os_thread(), sig_stop_for_gc());
        if r != 0 {
            WORLD.uncount_request();
        }
        r
    }

    fn await_stopped(&self, _me: Option<ThreadRef>) {
        WORLD.await_stopped(&Futex);
    }

    fn resume(&self, th: ThreadRef) -> c_int {
        WORLD.resume_one(th.state_word(), STATES);
        0
    }

    fn end_start(&self) {
        WORLD.end_start(&Futex);
    }
}
