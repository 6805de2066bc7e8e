//! Standalone mode: the library owns both sides of every protocol, so it
//! installs its own `SIG_STOP_FOR_GC` and `SIG_INTERRUPT_THREAD` handlers,
//! implements the deferral rules of the runtime (pseudo-atomic sections,
//! WITHOUT-GCING, WITHOUT-INTERRUPTS) and does better than the original
//! where it owns both ends:
//!
//! - the last thread to suspend wakes the stopper (a futex on the count of
//!   threads still to stop), instead of the stopper polling;
//! - resuming is one futex broadcast on a sequence number, not one signal
//!   per thread;
//! - at most one `SIG_INTERRUPT_THREAD` is in flight per thread (a doorbell
//!   word), so interrupts cannot fill the real-time signal queue.

pub(crate) mod deferral;
pub(crate) mod protocol;
pub(crate) mod signals;

use core::sync::atomic::AtomicU32;

use crate::abi_types::{SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::handshake::{States, World};

/// The one world (see `handshake.rs`).
pub(crate) static WORLD: World<AtomicU32> =
    World { pending: AtomicU32::new(0), stopped: AtomicU32::new(0), resume_seq: AtomicU32::new(0) };

/// The state words the handshake writes.
pub(crate) const STATES: States = States { running: SBTHREAD_STATE_RUNNING, suspended: SBTHREAD_STATE_SUSPENDED };
