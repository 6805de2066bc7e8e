//! Host mode: a stop that cannot finish on its own, seen and backed off
//! from — the measure `BACK_OFF` (`measures.rs`, `SBTHREAD_BACKOFF=0`).
//!
//! The runtime's handler defers a stop that arrives while the thread is
//! pseudo-atomic or has GC inhibited (it sets `STOP_FOR_GC_PENDING` and
//! honours it when the section ends; `src/runtime/interrupt.c:668-675` of
//! 0.9.4.1), and Lisp code sometimes blocks the signals outright. If such
//! a thread then sleeps waiting for a Lisp mutex whose holder has already
//! been suspended by this stop, nothing ever wakes either of them:
//! 0.9.4.1's exit code takes `*all-threads-lock*` that way
//! (`src/code/target-thread.lisp:500-509`, `handle-thread-exit` at 354),
//! while `MAKE-THREAD` takes the same lock with GC allowed (line 514). The
//! real runtime hung on it, with upstream's library as with ours; no
//! deferral rule forbids it. Tests: `c-tests/exit_races.c` case d (the
//! test host models that exit code), `sbcl/lisp/exit-lock.lisp`.
//!
//! Seeing it ([`Watch`]): a thread that is still RUNNING after its stop
//! signal and that the kernel shows asleep at every look for
//! [`ASLEEP_FOR_NS`] has deferred its stop (a deliverable signal wakes a
//! sleeping thread at once).
//!
//! Backing off (`stop.rs` drives it, once every other thread is stopped or
//! seen asleep the same way): the stopper resumes every thread this stop
//! has suspended, exactly as `gc_start_the_world` would (no
//! collection has started; to the runtime it is a stop with nothing
//! collected; `stop::resume_suspended`), waits until the sleepers have
//! stopped or died, and stops the others again. The stopper keeps
//! `all_threads_lock` throughout, so the set of threads does not change. A
//! thread whose deferred stop signal is still on its way is not signalled
//! again (`stop::stop_on_its_way`).
//!
//! Backing off cannot resolve a sleeper waiting for a lock the stopper
//! itself holds (0.9.4.1 can start a collection inside `MAKE-THREAD`'s
//! `WITH-MUTEX`): a Lisp mutex is adopted instead (`adopt.rs`), and for
//! anything else still asleep after [`STALL_WARNING_NS`] the stopper says
//! so on stderr, once ([`Watch::warn_once_if_stalled`]).
//!
//! The stopper is an ordinary thread here (inside `gc_stop_the_world`),
//! not a signal handler: reading `/proc` is fine.

use core::sync::atomic::Ordering;

use super::{measures, proc};
use crate::diag::lose::addr;
use crate::diag::stats;
use crate::thread::thread_ref::ThreadRef;

/// How long a thread must be seen asleep, still RUNNING after its stop
/// signal, before the stopper backs off. A sleeping thread that can take
/// the signal is woken within microseconds; a thread waiting for a CPU is
/// runnable, not asleep.
const ASLEEP_FOR_NS: u64 = 2_000_000;

/// How long the stopper waits for a thread before it starts looking in
/// `/proc` at all: nearly every stop is over by then, and a look costs
/// three system calls.
const LOOK_AFTER_NS: u64 = 1_000_000;

/// The stopper's watch over the one thread it is waiting for.
pub(crate) struct Watch {
    /// When the stopper first found the thread still RUNNING.
    waiting_since: Option<u64>,
    /// When the thread was first seen asleep in an unbroken run of looks.
    asleep_since: Option<u64>,
    /// When the stopper first found nothing to do about the thread, and
    /// whether it has said so.
    stalled_since: Option<u64>,
    warned: bool,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self { waiting_since: None, asleep_since: None, stalled_since: None, warned: false }
    }

    /// Called each time the stopper waits for `th` with nothing left to
    /// try: says so on stderr once [`STALL_WARNING_NS`] have passed since
    /// the first such call.
    pub(crate) fn warn_once_if_stalled(&mut self, th: ThreadRef) {
        let now = stats::now_ns();
        let since = *self.stalled_since.get_or_insert(now);
        if !self.warned && now - since >= STALL_WARNING_NS {
            self.warned = true;
            warn_stalled(th);
        }
    }

    /// Called each time the stopper finds `th` still RUNNING: true once
    /// `th` has been asleep at every look for [`ASLEEP_FOR_NS`].
    pub(crate) fn stuck(&mut self, th: ThreadRef) -> bool {
        let now = stats::now_ns();
        let waiting_since = *self.waiting_since.get_or_insert(now);
        if now - waiting_since < LOOK_AFTER_NS {
            return false;
        }
        if !proc::asleep(th.private().tid.load(Ordering::Relaxed)) {
            self.asleep_since = None;
            return false;
        }
        let since = *self.asleep_since.get_or_insert(now);
        now - since >= ASLEEP_FOR_NS
    }
}

/// How long the stopper waits for a sleeper it can do nothing more about
/// before it says so on stderr (once per wait): the sleeper may be waiting
/// for a lock the stopper itself holds, which nothing can resolve.
const STALL_WARNING_NS: u64 = 5_000_000_000;

/// One line on stderr, whatever `SBTHREAD_TRACE` says: a stop that has
/// waited [`STALL_WARNING_NS`] for a sleeper is most likely a deadlock in
/// the runtime's Lisp code (RELIABILITY.md), and a hang says nothing.
fn warn_stalled(stuck: ThreadRef) {
    crate::diag::trace::emit(format_args!(
        "warning: gc_stop_the_world has waited {} s for thread {:#x} (tid {}), asleep with its stop deferred, \
         {}; if it waits for a lock {} holds, the runtime's Lisp code is deadlocked",
        STALL_WARNING_NS / 1_000_000_000,
        addr(stuck.as_ptr()),
        stuck.private().tid.load(Ordering::Relaxed),
        if measures::BACK_OFF.on() { "every other thread resumed" } else { "others suspended (SBTHREAD_BACKOFF=0)" },
        if measures::BACK_OFF.on() { "the collecting thread" } else { "a stopped thread" },
    ));
}
