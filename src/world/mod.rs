//! Stopping and starting the world.
//!
//! - `protocol`: the interface to the half that differs between the modes,
//!   and the one instance `init.rs` installs;
//! - `stw`: `gc_stop_the_world` / `gc_start_the_world`, the shared
//!   algorithm;
//! - `roots`: what a collector scans of a stopped world (standalone);
//! - `handshake`, `fanout`, `region`: the standalone stop/start protocol
//!   cores, the stack of threads still to signal, and the blocking regions
//!   (threads a stop counts as stopped without a signal), written over
//!   atomic traits so that the loom models (`model_tests.rs`) check the
//!   code the library runs;
//! - `resume`: host mode's resume without a signal per thread (the
//!   handler's resume wait sleeps on a generation word; the stopper wakes
//!   one waiter, which wakes the others), loom-modelled too.

pub(crate) mod fanout;
pub(crate) mod handshake;
pub(crate) mod protocol;
pub(crate) mod region;
pub(crate) mod resume;
pub(crate) mod roots;
pub(crate) mod stw;
