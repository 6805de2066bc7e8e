//! libsbthread: the thread subsystem of the SBCL 0.9.4.1 runtime
//! (`src/runtime/thread.c`, x86-64 Linux, threads enabled) in Rust, with
//! the same exports, globals and `struct thread` layout, so that a legacy
//! runtime can be relinked against it, and with default host hooks, so
//! that it is a complete thread runtime on its own.
//!
//! Rust users: [`rt`] is a safe API over the same core (standalone mode).
//!
//! The folders are the architecture, from the top down; a folder imports
//! only from folders below it:
//!
//! | layer | folder | what |
//! |---|---|---|
//! | C layer | `abi/` | the exports: thread.c's functions, the `sbthread_*` API, the interposed `sigwaitinfo` |
//! | Rust API | `rt.rs` | a safe API over the same core |
//! | initialisation | `init.rs` | at load time: the graft onto an executable with 0.9.4.1's own thread code, and nothing else; once, on the first call: choose the mode, fill the hook table, read the environment, start the mode |
//! | modes | `host/`, `standalone/` | each mode's half of the protocols (`Protocol`), its signal side, its own measures; `host/graft/` |
//! | protocols | `lifecycle/`, `interrupt/`, `world/` | a thread's life, `interrupt_thread` and its queue, stopping and starting the world |
//! | one thread | `thread/` | a thread's memory and words, the registry and its lock |
//! | support | `diag/`, `sys/` | `lose`, traces, counters, fault injection; futexes, signal masks, `errno` |
//! | the legacy ABI | `legacy/` | `struct thread` and the C types, the globals, Lisp objects, the hook table |
//!
//! `model_tests.rs` holds the loom models of the protocol cores
//! (`interrupt/queue.rs`, `world/handshake.rs`, `world/fanout.rs`,
//! `world/region.rs`).

pub mod abi;
pub mod legacy;
pub mod rt;

mod diag;
mod host;
mod init;
mod interrupt;
mod lifecycle;
#[cfg(test)]
mod model_tests;
mod standalone;
mod sys;
mod thread;
mod world;
