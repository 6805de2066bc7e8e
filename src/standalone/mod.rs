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
//!   word), so interrupts cannot fill the real-time signal queue;
//! - a thread inside a blocking region (`blocking.rs`) is counted as
//!   stopped without a signal, and leaving one while the world is stopped
//!   waits for the start.
//!
//! Modules: `table` and `defaults` (the hook table: the library's own
//! definition of every hook), `static_space` (the static symbols at their
//! legacy addresses), `cons_pool` (conses for the interrupt queues),
//! `protocol` (standalone's half of the shared algorithms), `stop` (the
//! state of a stop: the world's words and the threads still to signal),
//! `signals` (the handlers), `deferral` (pseudo-atomic, WITHOUT-GCING,
//! WITHOUT-INTERRUPTS), `blocking` (blocking regions: threads a stop counts
//! as stopped without a signal).

pub(crate) mod blocking;
pub(crate) mod cons_pool;
pub(crate) mod defaults;
pub(crate) mod deferral;
pub(crate) mod protocol;
pub(crate) mod signals;
pub(crate) mod static_space;
pub(crate) mod stop;
pub(crate) mod table;

/// Starts standalone mode (`init.rs`, once, after the hook table is
/// filled): maps the static space and installs the signal handlers.
pub(crate) fn start() {
    static_space::map_or_lose();
    signals::install();
}
