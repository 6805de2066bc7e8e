//! The half of each protocol that differs between the modes. The shared
//! algorithms (`world/stw.rs`, `interrupt/`, `lifecycle/`) ask this
//! interface; `host/protocol.rs` implements it for a legacy runtime whose
//! own handlers do the signal side, `standalone/protocol.rs` for the
//! library's own handlers. `init.rs` installs one of them, once; nothing
//! else chooses.

use core::ffi::c_int;
use std::sync::OnceLock;

use crate::legacy::types::lispobj;
use crate::thread::registry;
use crate::thread::thread_ref::ThreadRef;

/// What a mode must provide.
pub(crate) trait Protocol: Sync {
    /// In a new thread, once it is RUNNING and before its function runs.
    fn thread_started(&self, th: ThreadRef);

    /// After a function was pushed on `th`'s queue: make `th` run it.
    /// Returns 0 or a `pthread_kill` error.
    fn notify_interrupt(&self, th: ThreadRef) -> c_int;

    /// Gives back the conses of a list no queue holds any more (`NIL`-
    /// terminated): the pool's in standalone mode; the host's belong to
    /// its collector, which may already have moved them, so they are left
    /// alone.
    fn release_conses(&self, list: lispobj);

    /// `interrupt_thread`'s cons `(function . NIL)`, made by the calling
    /// thread `me` (if registered), which has the blockable signals blocked
    /// and queues the cons before it unblocks them: standalone, from the
    /// pool; host mode, by the host's `alloc_cons`, with collections held
    /// off until then (`host/cons.rs`).
    fn make_interrupt_cons(&self, function: lispobj, me: Option<ThreadRef>) -> lispobj;

    /// In `th` itself, after its function returned: make it DEAD. From
    /// then on nothing queued for it runs, and a stop no longer waits for
    /// it. Returns how many queued interrupt functions were dropped.
    fn become_dead(&self, th: ThreadRef) -> u64;

    /// Start of a stop, with `all_threads_lock` held.
    fn begin_stop(&self);

    /// After `begin_stop`: calls `ask` with every registered thread but
    /// `me` that the stop must ask to stop (if RUNNING), and returns how
    /// many more it counted as stopped without asking (standalone: those in
    /// blocking regions, `region.rs`; they stay RUNNING, and
    /// `counted_in_region` says so until the start).
    fn for_each_to_stop(&self, me: Option<ThreadRef>, ask: &mut dyn FnMut(ThreadRef)) -> u32 {
        registry::iter().filter(|t| Some(*t) != me).for_each(ask);
        0
    }

    /// Starting the world: calls `start` with every registered thread but
    /// `me`, except those `for_each_to_stop` counted as stopped (which
    /// need nothing: `end_start` lets them go).
    fn for_each_to_start(&self, me: Option<ThreadRef>, start: &mut dyn FnMut(ThreadRef)) {
        registry::iter().filter(|t| Some(*t) != me).for_each(start);
    }

    /// While the world is stopped (for the stopper): whether `th` is
    /// counted as stopped in a blocking region by this stop.
    fn counted_in_region(&self, _th: ThreadRef) -> bool {
        false
    }

    /// Ask one RUNNING thread to suspend. Returns 0 or a `pthread_kill`
    /// error.
    fn request_stop(&self, th: ThreadRef) -> c_int;

    /// After every `request_stop`: send what `request_stop` only collected.
    fn send_requests(&self);

    /// Wait until every thread but `me` is stopped (SUSPENDED or DEAD, or
    /// counted as stopped by the mode).
    fn await_stopped(&self, me: Option<ThreadRef>);

    /// Starting the world, before any thread is resumed.
    fn begin_start(&self, _me: Option<ThreadRef>) {}

    /// Starting the world, for each thread `for_each_to_start` gives: true
    /// if `th` was counted as stopped without suspending (host mode's
    /// adoption), which this undoes; such a thread needs no resume.
    fn release_unsuspended(&self, _th: ThreadRef) -> bool {
        false
    }

    /// Resume one SUSPENDED thread (marks it RUNNING). Returns 0 or a
    /// `pthread_kill` error.
    fn resume(&self, th: ThreadRef) -> c_int;

    /// After every thread was resumed, before the lock is released.
    fn end_start(&self);
}

static PROTOCOL: OnceLock<&'static dyn Protocol> = OnceLock::new();

/// Installs the mode's protocol (`init.rs`, once).
pub(crate) fn install(p: &'static dyn Protocol) {
    if PROTOCOL.set(p).is_err() {
        crate::diag::lose::lose!("libsbthread: the protocol was installed twice");
    }
}

/// The protocol of this process's mode.
pub(crate) fn protocol() -> &'static dyn Protocol {
    match PROTOCOL.get() {
        Some(p) => *p,
        None => crate::diag::lose::lose!("libsbthread: a protocol was used before the library was initialised"),
    }
}
