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

/// The futex words of the standalone stop-the-world.
pub(crate) struct World {
    /// Threads asked to stop that have not suspended yet. The stopper
    /// sleeps on it; the thread that brings it to zero wakes the stopper.
    pub(crate) pending: AtomicU32,
    /// Bumped by `gc_start_the_world`; suspended threads sleep on it.
    pub(crate) resume_seq: AtomicU32,
}

/// The one world.
pub(crate) static WORLD: World = World { pending: AtomicU32::new(0), resume_seq: AtomicU32::new(0) };
