//! Standalone mode: the library owns both sides of every protocol, so it
//! installs its own `SIG_STOP_FOR_GC` and `SIG_INTERRUPT_THREAD` handlers,
//! implements the deferral rules of the runtime (pseudo-atomic sections,
//! WITHOUT-GCING, WITHOUT-INTERRUPTS) and does better than the original
//! where it owns both ends:
//!
//! - the threads being stopped help send the stop signals (`fanout.rs`),
//!   so the stopper sends few of them and sleeps for most of the stop;
//! - the last thread to suspend wakes the stopper (a futex on the count of
//!   threads still to stop), instead of the stopper polling;
//! - resuming is one futex broadcast on a sequence number, not one signal
//!   per thread;
//! - at most one `SIG_INTERRUPT_THREAD` is in flight per thread (a doorbell
//!   word), so interrupts cannot fill the real-time signal queue.

pub(crate) mod contexts;
pub(crate) mod deferral;
pub(crate) mod protocol;
pub(crate) mod signals;

use core::sync::atomic::{AtomicU32, AtomicU64};

use crate::abi_types::{SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::fanout::{Fanout, Links};
use crate::handshake::{States, World};
use crate::thread_ref::ThreadRef;

/// The one world (see `handshake.rs`).
pub(crate) static WORLD: World<AtomicU32> =
    World { pending: AtomicU32::new(0), stopped: AtomicU32::new(0), resume_seq: AtomicU32::new(0) };

/// The state words the handshake writes.
pub(crate) const STATES: States = States { running: SBTHREAD_STATE_RUNNING, suspended: SBTHREAD_STATE_SUSPENDED };

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
    match unsafe { ThreadRef::new(node as usize as *mut crate::abi_types::Thread) } {
        Some(th) => th,
        None => crate::lose::lose!("stop fan-out: null thread"),
    }
}
