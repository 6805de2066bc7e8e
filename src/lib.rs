//! libsbthread: the thread subsystem of the SBCL 0.9.4.1 runtime
//! (`src/runtime/thread.c`, x86-64 Linux, threads enabled) in Rust, with
//! the same exports, globals and `struct thread` layout, so that a legacy
//! runtime can be relinked against it, and with default host hooks, so
//! that it is a complete thread runtime on its own.
//!
//! Rust users: [`rt`] is a safe API over the same core (standalone mode).
//!
//! Map of the crate (one concern per module):
//! - `abi`: the thin C layer (`thread_c` = spec §5, `globals`, `ext` =
//!   the `sbthread_*` API); `abi_types`: the C types; `layout`: their
//!   compile-time layout checks;
//! - `hooks`: host hooks, mode choice, standalone defaults, static space;
//! - `registry`: `all_threads` and the lock discipline;
//! - `block`, `block_cache`: the per-thread memory block and its reuse;
//!   `dormant`: what a DEAD thread gives back before it is reaped;
//! - `lifecycle`: create, link, trampolines, reap;
//! - `stw`: stop/start the world; `roots`: what a collector scans of a
//!   stopped world; `interrupt`: `interrupt_thread` and the
//!   queue; `protocol` + `host_protocol` + `standalone`: the half that
//!   differs between host mode and standalone mode (`host_fanout`: the
//!   host-mode stop with helping threads; `host_stuck`: its way out when
//!   a thread defers its stop and then sleeps; `host_adopt`: such a
//!   sleeper waiting for a lock the stopper holds); `host_graft`: taking
//!   over an unchanged 0.9.4.1 executable's thread code at load time
//!   (`host_graft_dl`: what the dynamic linker knows; `host_graft_patch`:
//!   the jumps and page protections);
//! - protocol cores shared with the loom model: `queue` (interrupt
//!   queue), `handshake` (standalone stop/start), over `sync`;
//! - support: `thread_ref` (checked access to a thread's words), `lisp`
//!   (fixnums, static symbols, conses), `sigset`, `futex`, `kill`,
//!   `backoff`, `lose`, `trace`, `stats`, `fault`.

pub mod abi;
pub mod abi_types;
pub mod rt;

mod backoff;
mod block;
mod block_cache;
mod dormant;
mod errno;
mod fanout;
mod fault;
mod futex;
mod handshake;
mod hooks;
mod host_adopt;
mod host_fanout;
mod host_graft;
mod host_graft_dl;
mod host_graft_patch;
mod host_protocol;
mod host_stuck;
mod interrupt;
mod kill;
mod layout;
mod lifecycle;
mod lisp;
mod lose;
#[cfg(test)]
mod model_tests;
mod protocol;
mod queue;
mod registry;
mod roots;
mod sigset;
mod standalone;
mod stats;
mod stw;
mod sync;
mod thread_ref;
mod trace;
