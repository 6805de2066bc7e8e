//! The half of each protocol that differs between the modes. The shared
//! algorithm (in `stw.rs`, `interrupt.rs`, `lifecycle.rs`) asks this
//! interface; `host_protocol.rs` implements it for a legacy runtime whose
//! own handlers do the signal side, `standalone/protocol.rs` for the
//! library's own handlers. [`protocol`] is the only place that chooses.

use core::ffi::c_int;

use crate::hooks::{hooks, Mode};
use crate::thread_ref::ThreadRef;

/// What a mode must provide.
pub(crate) trait Protocol: Sync {
    /// In a new thread, once it is RUNNING and before its function runs.
    fn thread_started(&self, th: ThreadRef);

    /// After a function was pushed on `th`'s queue: make `th` run it.
    /// Returns 0 or a `pthread_kill` error.
    fn notify_interrupt(&self, th: ThreadRef) -> c_int;

    /// In `th` itself, after its function returned: make it DEAD. From
    /// then on nothing queued for it runs, and a stop no longer waits for
    /// it. Returns how many queued interrupt functions were dropped.
    fn become_dead(&self, th: ThreadRef) -> u64;

    /// Start of a stop, with `all_threads_lock` held.
    fn begin_stop(&self);

    /// Ask one RUNNING thread to suspend. Returns 0 or a `pthread_kill`
    /// error.
    fn request_stop(&self, th: ThreadRef) -> c_int;

    /// After every `request_stop`: send what `request_stop` only collected
    /// (standalone; the host mode signals in `request_stop`).
    fn send_requests(&self) {}

    /// Wait until every thread but `me` is SUSPENDED or DEAD.
    fn await_stopped(&self, me: Option<ThreadRef>);

    /// Resume one SUSPENDED thread (marks it RUNNING). Returns 0 or a
    /// `pthread_kill` error.
    /// Starting the world: if `th` was counted as stopped without
    /// suspending (host mode, `host_adopt.rs`), undoes that and returns
    /// true: it needs no resume.
    fn release_adopted(&self, _th: ThreadRef) -> bool {
        false
    }
    fn resume(&self, th: ThreadRef) -> c_int;

    /// After every thread was resumed, before the lock is released.
    fn end_start(&self);
}

/// The protocol of this process's mode.
pub(crate) fn protocol() -> &'static dyn Protocol {
    match hooks().mode {
        Mode::Host => &crate::host_protocol::HostProtocol,
        Mode::Standalone => &crate::standalone::protocol::OwnProtocol,
    }
}
