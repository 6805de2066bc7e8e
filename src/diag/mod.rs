//! Diagnostics: fatal errors (`lose`), tracing (`SBTHREAD_TRACE`),
//! counters (`sbthread_stats`), and the test-only fault injection points.
//! Everything here is usable from signal handlers.

pub(crate) mod fault;
pub(crate) mod lose;
pub(crate) mod stats;
pub(crate) mod trace;
