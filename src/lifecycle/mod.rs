//! Thread lifecycle (seed 000, spec §7–§8).
//!
//! States: STARTING (made, maybe linked, not yet running its function) →
//! RUNNING ⇄ SUSPENDED (stop-the-world) → DEAD (function returned; how, in
//! `Protocol::become_dead`: standalone under `all_threads_lock` with an
//! empty queue, host mode at once with the host's handlers shut out) →
//! reaped (unlinked, joined, block back to the cache or unmapped).
//!
//! - `create`: a thread's struct, its pthread, its link; the initial thread;
//! - `run`: the start routine and trampoline, the thread's end;
//! - `reap`: unlinking, joining and freeing a DEAD thread.

mod create;
mod reap;
mod run;

pub(crate) use create::{attach_initial_thread, create_initial_thread, create_os_thread, create_thread, link_thread};
pub(crate) use reap::reap_dead_thread;
pub(crate) use run::{run_new_thread, wait_until_dead};
