//! The C ABI: thin `extern "C"` wrappers that check their arguments and
//! call into the modules that hold the logic. Nothing else in the crate is
//! `extern "C"` except the standalone hook defaults, the signal handlers
//! and the register saver of a blocking region's entry
//! (`standalone/blocking.rs`; `sbthread_blocking_enter` is a naked jump
//! to it, so that it sees its caller's registers).
//! Every export makes sure the library is initialised (`init.rs`) first.
//! (The three global variables of thread.o are exported by
//! `legacy/globals.rs`.)
//!
//! - `thread_c.rs`: the functions of SBCL 0.9.4.1's thread.o (spec §5);
//! - `ext.rs`: the documented `sbthread_*` extension API;
//! - `sigwait.rs`: `sigwaitinfo`, interposed for 0.9.4.1's resume wait.

pub mod ext;
pub mod sigwait;
pub mod thread_c;
