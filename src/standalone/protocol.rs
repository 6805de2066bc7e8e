//! The standalone side of the shared algorithms (see `crate::protocol`).

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use super::signals::run_pending_interrupts;
use super::WORLD;
use crate::abi_types::SBTHREAD_STATE_RUNNING;
use crate::futex;
use crate::kill::kill_thread_safely;
use crate::protocol::Protocol;
use crate::sigset::{self, sig_interrupt_thread, sig_stop_for_gc};
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
        if th.private().doorbell.swap(1, Ordering::SeqCst) != 0 {
            return 0; // a signal is on its way, or the queue is deferred
        }
        kill_thread_safely(th.os_thread(), sig_interrupt_thread())
    }

    fn drain_before_exit(&self, th: ThreadRef) {
        run_pending_interrupts(th);
    }

    fn begin_stop(&self) {
        WORLD.pending.store(0, Ordering::Release);
    }

    fn request_stop(&self, th: ThreadRef) -> c_int {
        WORLD.pending.fetch_add(1, Ordering::AcqRel);
        let r = kill_thread_safely(th.os_thread(), sig_stop_for_gc());
        if r != 0 {
            WORLD.pending.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    fn await_stopped(&self, _me: Option<ThreadRef>) {
        loop {
            let n = WORLD.pending.load(Ordering::Acquire);
            if n == 0 {
                break;
            }
            futex::wait(&WORLD.pending, n, None);
        }
    }

    fn resume(&self, th: ThreadRef) -> c_int {
        th.set_state(SBTHREAD_STATE_RUNNING);
        0
    }

    fn end_start(&self) {
        WORLD.resume_seq.fetch_add(1, Ordering::AcqRel);
        futex::wake_all(&WORLD.resume_seq);
    }
}
