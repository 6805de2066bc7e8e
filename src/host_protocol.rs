//! Host mode: the legacy runtime's own handlers do the signal side
//! (spec §6). On `SIG_STOP_FOR_GC` a RUNNING thread marks itself SUSPENDED
//! and waits for the next `SIG_STOP_FOR_GC`, after which it runs again; on
//! `SIG_INTERRUPT_THREAD` it pops one function off `interrupt_fun`. The
//! handler writes `state` and nothing we could sleep on, so waiting is
//! adaptive polling ([`Backoff`]) instead of the original's sched_yield
//! loop. Resuming is one signal per thread, as the host's handler needs.

use core::ffi::c_int;

use crate::abi_types::{SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::backoff::Backoff;
use crate::kill::kill_thread_safely;
use crate::protocol::Protocol;
use crate::registry;
use crate::sigset::{self, sig_interrupt_thread, sig_stop_for_gc};
use crate::thread_ref::ThreadRef;

/// The host-mode protocol.
pub(crate) struct HostProtocol;

impl Protocol for HostProtocol {
    fn thread_started(&self, _th: ThreadRef) {
        // The host's Lisp code unblocks signals itself once it is set up.
    }

    fn notify_interrupt(&self, th: ThreadRef) -> c_int {
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
        crate::interrupt::close_discarding(th)
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
