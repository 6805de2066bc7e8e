//! Host mode: the legacy runtime's own handlers do the signal side
//! (spec §6). On `SIG_STOP_FOR_GC` a RUNNING thread marks itself SUSPENDED
//! and waits for the next `SIG_STOP_FOR_GC`, after which it runs again; on
//! `SIG_INTERRUPT_THREAD` it pops one function off `interrupt_fun`. The
//! handler writes `state` and nothing we could sleep on, so waiting is
//! adaptive polling ([`Backoff`]) instead of the original's sched_yield
//! loop. Resuming is one signal per thread, as the host's handler needs.

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use crate::abi_types::{SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::backoff::Backoff;
use crate::kill::kill_thread_safely;
use crate::lisp::NIL;
use crate::lose::addr;
use crate::protocol::Protocol;
use crate::registry;
use crate::sigset::{self, sig_interrupt_thread, sig_stop_for_gc};
use crate::thread_ref::ThreadRef;
use crate::trace::trace;

/// How long a dying thread waits for the host's handler to take functions
/// still queued for it before it gives up on them.
const EXIT_DRAIN_LIMIT_NS: u64 = 1_000_000_000;

/// The host-mode protocol.
pub(crate) struct HostProtocol;

impl Protocol for HostProtocol {
    fn thread_started(&self, _th: ThreadRef) {
        // The host's Lisp code unblocks signals itself once it is set up.
    }

    fn notify_interrupt(&self, th: ThreadRef) -> c_int {
        kill_thread_safely(th.os_thread(), sig_interrupt_thread())
    }

    fn drain_before_exit(&self, th: ThreadRef) {
        // Every function on the queue was followed by a signal to this
        // still-live thread; let those signals in so the host's handler
        // can pop them, and wait until the queue is empty.
        let saved = sigset::current_mask();
        sigset::unblock(&sigset::only(sig_interrupt_thread()));
        let deadline = crate::stats::now_ns() + EXIT_DRAIN_LIMIT_NS;
        let mut wait = Backoff::new();
        while th.interrupt_fun().load(Ordering::Acquire) != NIL {
            if crate::stats::now_ns() > deadline {
                trace!(1, "thread {:#x} exits with interrupts its host never took", addr(th.as_ptr()));
                crate::interrupt::discard_queue(th);
                break;
            }
            wait.pause();
        }
        sigset::set_mask(&saved);
    }

    fn begin_stop(&self) {}

    fn request_stop(&self, th: ThreadRef) -> c_int {
        crate::stats::STOP_SIGNALS_BY_STOPPER.bump();
        kill_thread_safely(th.os_thread(), sig_stop_for_gc())
    }

    fn await_stopped(&self, me: Option<ThreadRef>) {
        // One back-off for the whole wait: the threads stop in parallel,
        // so once the first one is waited for, the rest are mostly done.
        let mut wait = Backoff::new();
        for th in registry::iter().filter(|t| Some(*t) != me) {
            loop {
                let s = th.state();
                if s == SBTHREAD_STATE_SUSPENDED || s == SBTHREAD_STATE_DEAD {
                    break;
                }
                wait.pause();
            }
        }
    }

    fn resume(&self, th: ThreadRef) -> c_int {
        th.set_state(SBTHREAD_STATE_RUNNING);
        kill_thread_safely(th.os_thread(), sig_stop_for_gc())
    }

    fn end_start(&self) {}
}
