//! Host mode's measures against 0.9.4.1's own behaviour: workarounds the
//! library takes because the real runtime's Lisp code and signal handler
//! do things no thread library should have to expect. Each is one named
//! measure, on by default, with a switch to turn it off for diagnosis
//! (`SBTHREAD_<NAME>=0`, read once at initialisation), the behaviour it
//! answers (file and lines of SBCL 0.9.4.1), where it is implemented, and
//! the test that shows the failure it prevents.
//!
//! | measure | switch | answers | code | test |
//! |---|---|---|---|---|
//! | back-off | `SBTHREAD_BACKOFF=0` | a thread that defers its stop, then sleeps on a Lisp mutex whose holder this stop suspended | `stuck.rs` | `c-tests/exit_races.c` case d; `sbcl/lisp/exit-lock.lisp` |
//! | adoption | `SBTHREAD_ADOPT=0` | the same sleeper, on a Lisp mutex the stopper itself holds | `adopt.rs` | `sbcl/lisp/gc-in-lock.lisp` |
//! | resume retry | `SBTHREAD_RESUME_RETRY=0` | the handler takes any return of its resume wait, EINTR too, for the resume | `resume_wait.rs` | `c-tests/exit_races.c` (the resume waits it interrupts; the resume wake, the default, needs no retry: its futex wait retries anyway) |
//! | stack-top scan | `SBTHREAD_SCAN_TOP=0` | gencgc skips the word at a stopped thread's stack pointer: a return address into young code, when the thread stopped in a frameless allocation routine | `stack_top.rs` | `c-tests/stack_top.c`; `sbcl/lisp/young-code.lisp` |
//! | resume wake | `SBTHREAD_RESUME_WAKE=0` | the handler's resume wait takes the next `SIG_STOP_FOR_GC` for its resume: one signal per thread to start the world, and a stale one is taken for a resume | `resume.rs`, `resume_wait.rs`, `world/resume.rs` | `c-tests/resume_wake.c`; the loom model `host_resume_*`; `sbcl/lisp/resume-wake.lisp` |
//! | rewake | `SBTHREAD_REWAKE=0` | `RELEASE-MUTEX` stores NIL, then wakes one waiter: a releaser unwound between the two, or a woken waiter unwound before it takes the mutex, leaves the others asleep on a free mutex | `rewake.rs` | `c-tests/lost_wake.c`; `sbcl/lisp/lost-wake.lisp` |
//! | abandoned | `SBTHREAD_ABANDONED=0` | `WITH-MUTEX` takes the mutex before it sets up the cleanup that releases it: a thread terminated in between exits holding it, and its sleepers sleep for ever | `abandoned.rs` (in `rewake.rs`'s look) | its unit tests; `sbcl/lisp/abandoned-mutex.lisp` |
//! | handler order | `SBTHREAD_HANDLER_ORDER=0` | the compiled `interrupt_thread_handler` stores the queue's head after it releases the queue's lock: a push in between is lost, and a later signal pops NIL | `handler_order.rs` | its unit tests; `sbcl/lisp/handler-order.lisp`; `sbcl/lisp/interrupt-cons-gc.lisp` |
//! | GC held off | `SBTHREAD_HOLD_GC=0` | a collection that starts inside `alloc_cons` frees the cons it is making: `interrupt_thread` queues a cell of a free page | `cons.rs` | `c-tests/interrupt_cons.c`; `sbcl/lisp/interrupt-cons-gc.lisp` |
//!
//! The behaviours, in 0.9.4.1's sources:
//! - `src/code/target-thread.lisp:500-509`: a thread's exit code binds
//!   `*gc-inhibit*` to T, blocks the blockable signals, then calls
//!   `handle-thread-exit`, which takes `*all-threads-lock*` (line 354);
//!   `src/runtime/interrupt.c:668-675`: a stop signal arriving while GC
//!   is inhibited is only recorded (`STOP_FOR_GC_PENDING`), never
//!   honoured on that path. Meanwhile `MAKE-THREAD` takes the same lock
//!   with GC allowed (line 514), and a collection may start inside it
//!   (its `PUSH` allocates).
//! - `src/runtime/interrupt.c:695-700`: `sigwaitinfo({SIG_STOP_FOR_GC})`,
//!   its result unchecked, then "wrong thread state on wakeup" if the
//!   thread is not RUNNING: any `SIG_STOP_FOR_GC` is the resume, so each
//!   thread needs its own, and a stale one (no stop owed it) is taken for
//!   it.
//! - `src/code/target-thread.lisp:214-221`: `RELEASE-MUTEX` does
//!   `(setf (mutex-value mutex) nil)`, then `(futex-wake ... 1)`;
//!   `GET-MUTEX` (184-212) retries only when its `futex-wait` returns;
//!   `src/code/thread.lisp:22-26`: `WITH-MUTEX` releases in an
//!   UNWIND-PROTECT cleanup, interrupts enabled, and takes the mutex
//!   before it enters the UNWIND-PROTECT.
//! - `src/runtime/alloc.c:37-52` and `111-119`: `pa_alloc` leaves its
//!   pseudo-atomic section and, if it was interrupted (a collection due,
//!   or a stop deferred), collects or suspends right there; the new cons
//!   is then held only by an untagged pointer, which the conservative scan
//!   does not take for a cons (`src/runtime/gencgc.c:2036`), and
//!   `alloc_cons` writes its car and cdr after the collection.
//! - `src/runtime/interrupt.c:897-901`, `x86-64-arch.h:41-44`: the handler
//!   pops with `th->interrupt_fun = c->cdr; release_spinlock(...)`, the
//!   release a volatile store without a barrier: compiled, the head's
//!   store comes after the release.
//! - `src/runtime/gencgc.c:3605`: a stopped thread's stack is scanned from
//!   its end down to, but not including, the word at the lowest stack
//!   pointer of its interrupt contexts.

use core::sync::atomic::{AtomicBool, Ordering};

/// One measure and its switch.
pub(crate) struct Measure {
    /// The environment variable that turns it off (`=0`; `=1` turns it on
    /// again).
    pub(crate) switch: &'static str,
    on: AtomicBool,
}

impl Measure {
    const fn new(switch: &'static str) -> Self {
        Self { switch, on: AtomicBool::new(true) }
    }

    /// Whether the measure is taken.
    pub(crate) fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

/// A stop deferred by a sleeper: resume the suspended threads until the
/// sleeper has stopped, then stop them again (`stuck.rs`).
pub(crate) static BACK_OFF: Measure = Measure::new("SBTHREAD_BACKOFF");

/// A sleeper on the stopper's own Lisp mutex counts as stopped
/// (`adopt.rs`).
pub(crate) static ADOPT: Measure = Measure::new("SBTHREAD_ADOPT");

/// The resume wait is retried after EINTR (`resume_wait.rs`).
pub(crate) static RESUME_RETRY: Measure = Measure::new("SBTHREAD_RESUME_RETRY");

/// While the world is stopped, each stopped thread's innermost context
/// shows a stack pointer one word lower, so that gencgc scans the word at
/// the real one (`stack_top.rs`).
pub(crate) static SCAN_TOP: Measure = Measure::new("SBTHREAD_SCAN_TOP");

/// The handler's resume wait waits for its thread to be RUNNING (a futex
/// wake), not for a signal: a start wakes one waiting thread, which wakes
/// the others (`resume.rs`, `world/resume.rs`). Its first form, the
/// stopper waking every thread at once, made a collection while 8 threads
/// cons twice as slow (the collecting thread queued behind them for a
/// CPU); handing the wake to a resumed thread made it 0.69× of upstream's,
/// and a stop + start with 64 idle threads 0.72× (README, BENCHMARKS.md).
/// It was opt-in while its soaks met a heap corruption and hangs, which
/// were 0.9.4.1's `alloc_cons` (`cons.rs`), `WITH-MUTEX` (`abandoned.rs`)
/// and unsynchronized hash tables (RELIABILITY.md), and while a stop right
/// after a start woke the start's sleepers itself, which with busy threads
/// starved the stopper; such a stop now takes those resumes back
/// (`resume.rs`).
pub(crate) static RESUME_WAKE: Measure = Measure::new("SBTHREAD_RESUME_WAKE");

/// When a thread that was sent an interrupt exits, every sleeper on a
/// free Lisp mutex is woken (`rewake.rs`).
pub(crate) static REWAKE: Measure = Measure::new("SBTHREAD_REWAKE");
/// That look also gives back a Lisp mutex whose holder is dead
/// (`abandoned.rs`).
pub(crate) static ABANDONED: Measure = Measure::new("SBTHREAD_ABANDONED");
/// `interrupt_thread` makes its cons with collections held off until the
/// cons is queued (`cons.rs`).
pub(crate) static HOLD_GC: Measure = Measure::new("SBTHREAD_HOLD_GC");
/// The runtime's `interrupt_thread_handler` is rewritten at start-up to
/// store the queue's head before it releases the lock (`handler_order.rs`).
pub(crate) static HANDLER_ORDER: Measure = Measure::new("SBTHREAD_HANDLER_ORDER");

/// Every measure.
pub(crate) static ALL: [&Measure; 9] =
    [&BACK_OFF, &ADOPT, &RESUME_RETRY, &SCAN_TOP, &RESUME_WAKE, &REWAKE, &ABANDONED, &HOLD_GC, &HANDLER_ORDER];

/// Reads the switches (`init.rs`, once, host mode).
pub(crate) fn configure_from_env() {
    for m in ALL {
        match std::env::var(m.switch).as_deref().map(str::trim) {
            Ok("0") => {
                m.on.store(false, Ordering::Relaxed);
                crate::diag::trace::trace!(1, "host mode: {}=0: measure off", m.switch);
            }
            Ok("1") => {
                m.on.store(true, Ordering::Relaxed);
                crate::diag::trace::trace!(1, "host mode: {}=1: measure on", m.switch);
            }
            _ => {}
        }
    }
}
