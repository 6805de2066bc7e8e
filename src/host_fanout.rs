//! Host mode's stop, faster than 0.9.4.1 without changing the runtime:
//! the threads being stopped help send the stop signals, and the stopper
//! sleeps instead of polling.
//!
//! The runtime's `SIG_STOP_FOR_GC` handler marks its thread SUSPENDED and
//! then waits in `sigwaitinfo({SIG_STOP_FOR_GC})`, which is ours
//! (`abi/sigwait.rs`). Entering that wait, the thread (SUSPENDED) pops
//! threads of the stop still to signal and signals them, as standalone
//! handlers do (`fanout.rs`), then counts an event and wakes the stopper
//! if it sleeps. The handler's own behaviour (its deferral, its mask, its
//! state checks) is untouched.
//!
//! The stopper collects the threads first, then pops and signals too until
//! every one is signalled (it does not hand over to helpers: on a busy
//! machine a helper can be preempted between two pops), and then waits:
//! it yields a bounded number of times, then sleeps on the event word,
//! with a short timeout as a safety net (a thread that dies
//! instead of stopping counts an event too, but nothing depends on every
//! wake-up arriving). Resuming is one signal per thread from the stopper,
//! after marking the thread RUNNING, as 0.9.4.1 does: a fanned-out resume
//! that waited for the resumed threads to send the rest was slower
//! whenever they had to queue for a CPU.
//!
//! Unlike standalone handlers, which help before they count as stopped, a
//! thread here is SUSPENDED before it reaches the wait, so a helper can be
//! late: still about to pop when its stop is over and the next one is
//! being set up. Hence: the stopper fills the stack privately and
//! publishes it whole (a push is not safe against a concurrent pop), and
//! no pop spans two stops (the Treiber stack's ABA): `ACTIVE` counts
//! helpers inside a pop loop, and a stop waits until it is 0 before it
//! ends; a helper that arrives later finds an empty stack, or the next
//! stop's, complete. The stack links through the thread's private words,
//! and every node is a thread on `all_threads`, which cannot be unlinked
//! while the stopper holds `all_threads_lock`. All of it is
//! async-signal-safe: atomics, `pthread_kill`, futex.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use crate::abi_types::{SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::backoff::Backoff;
use crate::fanout::{Fanout, Links};
use crate::futex;
use crate::host_adopt;
use crate::host_stuck;
use crate::kill::kill_thread_safely;
use crate::lose::lose;
use crate::registry;
use crate::sigset::sig_stop_for_gc;
use crate::stats;
use crate::thread_ref::ThreadRef;

/// Threads of the current stop still to signal.
static STOPS: Fanout<AtomicU64, AtomicU32> = Fanout { head: AtomicU64::new(0), helping: AtomicU32::new(0) };
/// The stacks being filled by the stopper, published whole when the
/// signalling starts: a late helper of the previous operation may pop
/// concurrently, and a push is not safe against a concurrent pop.
static STOPS_FILLING: AtomicU64 = AtomicU64::new(0);
/// Helpers inside a pop loop.
static ACTIVE: AtomicU32 = AtomicU32::new(0);
/// Counts threads that entered their resume wait or died (the stopper's
/// futex word).
static EVENTS: AtomicU32 = AtomicU32::new(0);
/// 1 while the stopper sleeps on `EVENTS`.
static STOPPER_SLEEPS: AtomicU32 = AtomicU32::new(0);

/// Longest sleep of the stopper between two looks at the threads.
const SAFETY_NET: Duration = Duration::from_millis(2);

struct StopLinks;
impl Links<AtomicU64> for StopLinks {
    fn next(&self, node: u64) -> &AtomicU64 {
        &thread(node).private().stop_next
    }
}

fn thread(node: u64) -> ThreadRef {
    // SAFETY: nodes are addresses of threads on `all_threads`, pushed by a
    // stopper holding `all_threads_lock`; none can be unlinked or reaped
    // until its operation has ended, and no pop outlives it (`ACTIVE`).
    match unsafe { ThreadRef::new(node as usize as *mut crate::abi_types::Thread) } {
        Some(th) => th,
        None => lose!("host stop fan-out: null thread"),
    }
}

fn node(th: ThreadRef) -> u64 {
    th.as_ptr() as usize as u64
}

/// Sends a stop signal; a thread that died meanwhile counts as stopped.
fn signal_stop(n: u64) {
    let th = thread(n);
    crate::stw::stop_signal_sent(th, kill_thread_safely(th.os_thread(), sig_stop_for_gc()));
}

/// Runs `help` counted in `ACTIVE`.
fn helping(help: impl FnOnce() -> u32) -> u32 {
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    let sent = help();
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    sent
}

/// Waits (briefly: helpers pop a few nodes and leave) until no helper is
/// inside a pop loop.
fn await_helpers() {
    let mut wait = Backoff::new();
    while ACTIVE.load(Ordering::SeqCst) != 0 {
        wait.pause();
    }
}

/// Stopper: adds `n` to a stack being filled (not yet visible to helpers).
fn push_filling(filling: &AtomicU64, next: &AtomicU64, n: u64) {
    next.store(filling.load(Ordering::Relaxed), Ordering::Relaxed);
    filling.store(n, Ordering::Relaxed);
}

/// Stopper: makes a filled stack visible to helpers, in one store.
fn publish(fanout: &Fanout<AtomicU64, AtomicU32>, filling: &AtomicU64) {
    fanout.reset();
    fanout.head.store(filling.swap(0, Ordering::Relaxed), Ordering::SeqCst);
}

/// Stopper: start of a stop.
pub(crate) fn begin_stop() {
    STOPS_FILLING.store(0, Ordering::Relaxed);
}

/// Stopper: `th` is to be stopped.
pub(crate) fn request_stop(th: ThreadRef) {
    th.private().stop_sent.store(1, Ordering::Relaxed);
    push_filling(&STOPS_FILLING, &th.private().stop_next, node(th));
}

/// Stopper: signals until every thread of the stop has been signalled,
/// by it or by a helper.
pub(crate) fn send_stops() {
    publish(&STOPS, &STOPS_FILLING);
    let sent = STOPS.drain(&StopLinks, signal_stop);
    stats::STOP_SIGNALS_BY_STOPPER.add(sent.into());
}

/// Yields of the stopper, over a whole stop, before it sleeps: a thread
/// usually reaches its handler within microseconds, maybe on the
/// stopper's own CPU (the original's `sched_yield` loop was right about
/// that much; sleeping at once cost a wake-up per thread).
const YIELD_ROUNDS: u32 = 64;

/// Stopper: waits until every thread but `me` is SUSPENDED or DEAD (each
/// thread is looked at until it is: neither state changes during a stop),
/// first yielding, then sleeping on the event word; then until no helper
/// is still popping. A thread seen asleep with its stop deferred makes
/// the stopper back off and start over (`host_stuck.rs`).
pub(crate) fn await_stopped(me: Option<ThreadRef>) {
    let mut yields = 0;
    'round: loop {
        for th in registry::iter().filter(|t| Some(*t) != me) {
            let mut watch = host_stuck::Watch::new();
            loop {
                let seen = EVENTS.load(Ordering::SeqCst);
                if stopped(th) {
                    break;
                }
                if yields < YIELD_ROUNDS {
                    yields += 1;
                    // SAFETY: sched_yield has no preconditions.
                    unsafe { libc::sched_yield() };
                    continue;
                }
                if watch.stuck(th) {
                    if host_adopt::try_adopt(me, th) {
                        break;
                    }
                    await_helpers();
                    host_stuck::back_off(me, th);
                    continue 'round;
                }
                sleep_unless_changed(seen);
            }
        }
        break;
    }
    await_helpers();
}

/// SUSPENDED or DEAD (neither changes until the stopper resumes it), or
/// adopted (`host_adopt.rs`).
pub(crate) fn stopped(th: ThreadRef) -> bool {
    let s = th.state();
    s == SBTHREAD_STATE_SUSPENDED || s == SBTHREAD_STATE_DEAD || host_adopt::adopted(th)
}

/// Stopper: sleeps until an event after `seen`, or for [`SAFETY_NET`].
pub(crate) fn sleep_unless_changed(seen: u32) {
    STOPPER_SLEEPS.store(1, Ordering::SeqCst);
    futex::wait(&EVENTS, seen, Some(SAFETY_NET));
    STOPPER_SLEEPS.store(0, Ordering::SeqCst);
}

/// The event count, to pass to [`sleep_unless_changed`] after a look.
pub(crate) fn events() -> u32 {
    EVENTS.load(Ordering::SeqCst)
}

/// Stopper: marks `th` RUNNING (before its resume signal: the handler
/// checks its state when its wait returns) and sends that signal. Resume
/// signals are not fanned out: a start that waited for helpers to send
/// them was slower whenever the resumed threads had to queue for a CPU
/// (8 threads consing on 2 CPUs: 2× upstream's GC time), and the original
/// returns as soon as its signals are out.
pub(crate) fn resume(th: ThreadRef) -> libc::c_int {
    th.private().stop_sent.store(0, Ordering::Relaxed);
    th.set_state(SBTHREAD_STATE_RUNNING);
    kill_thread_safely(th.os_thread(), sig_stop_for_gc())
}

/// Counts an event and wakes the stopper if it sleeps.
fn event() {
    EVENTS.fetch_add(1, Ordering::SeqCst);
    if STOPPER_SLEEPS.load(Ordering::SeqCst) != 0 {
        futex::wake(&EVENTS, 1);
    }
}

/// A registered thread entering its resume wait (SUSPENDED, inside the
/// runtime's handler): helps the stop, then tells the stopper.
pub(crate) fn entering_resume_wait() {
    let sent = helping(|| STOPS.help(&StopLinks, signal_stop));
    if sent != 0 {
        stats::STOP_SIGNALS_BY_HELPERS.add(sent.into());
    }
    event();
}

/// A thread that became DEAD (a stopper may be waiting for it).
pub(crate) fn died() {
    event();
}
