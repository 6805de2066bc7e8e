//! The state of a standalone stop, shared by the stopper
//! (`protocol.rs`), the `SIG_STOP_FOR_GC` handler (`signals.rs`) and the
//! leave of a blocking region (`blocking.rs`): the world's words
//! (`world/handshake.rs`) and the stack of threads still to signal
//! (`world/fanout.rs`), with the sending of one stop signal.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use crate::legacy::types::{SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::world::fanout::{Fanout, Links};
use crate::world::handshake::{States, World};
use crate::world::region::Regions;
use crate::thread::kill::kill_thread_safely;
use crate::sys::sigset::sig_stop_for_gc;
use crate::sys::sync::Futex;
use crate::thread::thread_ref::ThreadRef;

/// The one world (see `handshake.rs`).
pub(crate) static WORLD: World<AtomicU32> =
    World { pending: AtomicU32::new(0), stopped: AtomicU32::new(0), resume_seq: AtomicU32::new(0) };

/// The state words the handshake writes.
pub(crate) const STATES: States = States { running: SBTHREAD_STATE_RUNNING, suspended: SBTHREAD_STATE_SUSPENDED };

/// Whether the stop signalled a thread (it suspends and sleeps on
/// `resume_seq`, which the start must then wake). The stopper's alone.
pub(crate) static SLEEPERS: AtomicBool = AtomicBool::new(false);

/// The words of blocking regions every thread shares (`region.rs`).
pub(crate) static REGIONS: Regions<AtomicU32, AtomicU64> =
    Regions { stopping: AtomicU32::new(0), waiting: AtomicU32::new(0), serial: AtomicU64::new(0) };

/// The serial of the current (or last) stop, for `region::is_counted`.
/// The stopper's alone.
pub(crate) fn stop_serial() -> u64 {
    REGIONS.serial.load(core::sync::atomic::Ordering::Relaxed)
}

/// The threads of the current stop still to signal (see `fanout.rs`).
pub(crate) static FANOUT: Fanout<AtomicU64, AtomicU32> = Fanout { head: AtomicU64::new(0), helping: AtomicU32::new(0) };

/// Fan-out nodes are thread addresses, linked through `stop_next`.
pub(crate) struct ThreadLinks;

impl Links<AtomicU64> for ThreadLinks {
    fn next(&self, node: u64) -> &AtomicU64 {
        &node_thread(node).private().stop_next
    }
}

/// The thread a fan-out node stands for.
pub(crate) fn node_thread(node: u64) -> ThreadRef {
    // SAFETY: nodes are addresses of threads on `all_threads` pushed by the
    // current stopper, which holds `all_threads_lock`, so none of them can
    // be unlinked or reaped before the stop ends.
    match unsafe { ThreadRef::new(node as usize as *mut crate::legacy::types::Thread) } {
        Some(th) => th,
        None => crate::diag::lose::lose!("stop fan-out: null thread"),
    }
}

/// Sends `SIG_STOP_FOR_GC` to a collected thread, from the stopper or from
/// a helping handler. A thread that died meanwhile no longer counts.
/// Async-signal-safe.
pub(crate) fn signal_stop(node: u64) {
    let th = node_thread(node);
    if !crate::world::stw::stop_signal_sent(th, kill_thread_safely(th.os_thread(), sig_stop_for_gc())) {
        WORLD.request_failed(&Futex);
    }
}

/// In a `SIG_STOP_FOR_GC` handler: helps send the stop signals still to
/// go. Async-signal-safe.
pub(crate) fn help_stop() -> u32 {
    let sent = FANOUT.help(&ThreadLinks, signal_stop);
    if sent != 0 {
        // Most handlers find nothing left to send: no shared write then.
        crate::diag::stats::STOP_SIGNALS_BY_HELPERS.add(sent.into());
    }
    sent
}
