//! Host mode's stop, top to bottom. The runtime is unchanged: its
//! `SIG_STOP_FOR_GC` handler marks its thread SUSPENDED and then waits in
//! our `sigwaitinfo` (`resume_wait.rs`). What the stopper does, in order
//! ([`await_stopped`] reads the same way):
//!
//! 1. **Signal.** The stopper collects the threads to stop, publishes them
//!    as a stack, and pops and signals until every one is signalled;
//!    threads entering their resume wait pop and signal too (a fan-out, as
//!    in standalone mode: `world/fanout.rs`).
//! 2. **Wait**, thread by thread (a stopped thread stays stopped): yield a
//!    bounded number of times (a thread usually reaches its handler within
//!    microseconds, maybe on the stopper's own CPU), then sleep on the
//!    event word, which every thread entering its resume wait, and every
//!    thread that dies, bumps; a 2 ms time-out is the safety net.
//! 3. **Stuck?** A thread still RUNNING after its signal and seen asleep
//!    for a while has deferred its stop and sleeps (`stuck.rs`); the
//!    stopper goes on to the next thread. Once every thread is stopped or
//!    seen stuck, the measures, by name (`measures.rs`): **adoption** of a
//!    sleeper on a Lisp mutex the stopper holds (`adopt.rs`); then, if
//!    sleepers remain, **back-off**: resume the threads this stop
//!    suspended, wait for the sleepers, stop again, and wait again.
//! 4. **Warn** on stderr, once, when a sleeper has held up the stop for
//!    5 s with nothing left to try: nothing the library does resolves it
//!    (RELIABILITY.md).
//! 5. **Helpers out**: the stop ends only when no helper is still popping.
//! 6. **Stack tops**: each SUSPENDED thread's innermost context shows a
//!    stack pointer one word lower until its resume, so that 0.9.4.1's
//!    collector scans the word at the real one (`stack_top.rs`).
//!
//! Resuming (`resume.rs`) marks every thread RUNNING and sends each its
//! resume signal, as in 0.9.4.1, with `SBTHREAD_RESUME_WAKE=0`; by default it wakes
//! one of them with a futex wake instead, and that one wakes the rest: the
//! handler's resume wait is ours, and waits for that (`world/resume.rs`);
//! a thread not seen in it still gets its own signal. The back-off resumes
//! the same way.
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

use super::{adopt, measures, resume, stack_top, stuck};
use crate::diag::lose::{addr, errno_name, lose};
use crate::diag::trace::trace;
use crate::diag::stats;
use crate::legacy::types::{SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::sys::backoff::Backoff;
use crate::sys::futex;
use crate::sys::sigset::sig_stop_for_gc;
use crate::thread::kill::kill_thread_safely;
use crate::thread::registry;
use crate::thread::thread_ref::ThreadRef;
use crate::world::fanout::{Fanout, Links};

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
    match unsafe { ThreadRef::new(node as usize as *mut crate::legacy::types::Thread) } {
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
    crate::world::stw::stop_signal_sent(th, kill_thread_safely(th.os_thread(), sig_stop_for_gc()));
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

/// Stopper: start of a stop (and of a back-off's second stop). A thread
/// the last start resumed that has not yet seen it is SUSPENDED again,
/// without a signal (`resume::take_back_unseen`); the others run.
pub(crate) fn begin_stop() {
    resume::take_back_unseen(crate::thread::current());
    STOPS_FILLING.store(0, Ordering::Relaxed);
}

/// Whether a stop signal sent to `th` has not been answered by a resume
/// yet: no stop sends it a second one (the signal is real-time and
/// queues; the extra one would be stale: `resume.rs`).
pub(crate) fn stop_on_its_way(th: ThreadRef) -> bool {
    th.private().stop_sent.load(Ordering::Acquire) == crate::world::resume::SENT
}

/// Stopper: `th` is to be stopped (unless its stop signal is still on its
/// way: then nothing is sent, and the stop waits for it all the same).
pub(crate) fn request_stop(th: ThreadRef) {
    if resume::claim_stop(th) {
        push_filling(&STOPS_FILLING, &th.private().stop_next, node(th));
    }
}

/// Stopper: signals until every thread of the stop has been signalled,
/// by it or by a helper.
pub(crate) fn send_stops() {
    publish(&STOPS, &STOPS_FILLING);
    let sent = STOPS.drain(&StopLinks, signal_stop);
    stats::STOP_SIGNALS_BY_STOPPER.add_by_stopper(sent.into());
}

/// Yields of the stopper, over a whole stop, before it sleeps: a thread
/// usually reaches its handler within microseconds, maybe on the
/// stopper's own CPU (the original's `sched_yield` loop was right about
/// that much; sleeping at once cost a wake-up per thread).
const YIELD_ROUNDS: u32 = 64;

/// Stopper, holding `all_threads_lock`, after [`send_stops`]: waits until
/// every thread but `me` is stopped, taking the measures a stuck stop
/// needs (steps 2 to 5 of the module comment).
pub(crate) fn await_stopped(me: Option<ThreadRef>) {
    let mut yields = YIELD_ROUNDS;
    loop {
        // 2. Wait for each thread until it is stopped or seen stuck. Every
        //    thread is waited for before any measure is taken: a thread
        //    still on its way to its handler must be SUSPENDED before a
        //    back-off resumes the suspended ones, or it would suspend
        //    after it and stay suspended (holding, maybe, the sleeper's
        //    lock).
        let mut stuck = 0;
        for th in others(me) {
            if !stopped_or_stuck(th, &mut yields) {
                stuck += 1;
            }
        }
        // 3. The measures, for the threads still not stopped (every other
        //    thread is stopped now): adoption, then back-off.
        if stuck != 0 && measures::ADOPT.on() {
            stuck = adopt::adopt_sleepers(me, stopped);
        }
        if stuck == 0 {
            break;
        }
        if measures::BACK_OFF.on() {
            await_helpers();
            back_off(me);
            continue;
        }
        // 4. Nothing left to try: wait, and say so after a while.
        await_stop_signals(me);
        break;
    }
    // 5. No helper may still be popping when the stop ends.
    await_helpers();
    // 6. The word at each stopped thread's stack pointer, for the
    //    collector (`stack_top.rs`).
    stack_top::lower_all(me);
}

/// The threads of the stop: every registered thread but the stopper.
fn others(me: Option<ThreadRef>) -> impl Iterator<Item = ThreadRef> {
    registry::iter().filter(move |t| Some(*t) != me)
}

/// Waits until `th` is stopped (true) or seen asleep with its stop
/// deferred (false): first spending the stop's yields, then sleeping on
/// the event word.
fn stopped_or_stuck(th: ThreadRef, yields: &mut u32) -> bool {
    let mut watch = stuck::Watch::new();
    loop {
        let seen = events();
        if stopped(th) {
            return true;
        }
        if *yields > 0 {
            *yields -= 1;
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
            continue;
        }
        if watch.stuck(th) {
            return false;
        }
        sleep_unless_changed(seen);
    }
}

/// Waits until every thread whose stop signal is still on its way (the
/// sleepers: every other thread is stopped, or was resumed by a back-off)
/// is stopped or adopted; says so on stderr once when one holds the stop
/// up for long.
fn await_stop_signals(me: Option<ThreadRef>) {
    for th in others(me).filter(|t| stop_on_its_way(*t)) {
        let mut watch = stuck::Watch::new();
        loop {
            let seen = events();
            // Adoption again: while backed off, the others run and may
            // leave the sleeper waiting for the stopper itself.
            if stopped(th) || (measures::ADOPT.on() && adopt::try_adopt(me, th)) {
                break;
            }
            watch.warn_once_if_stalled(th);
            sleep_unless_changed(seen);
        }
    }
}

/// The back-off (`measures::BACK_OFF`, `stuck.rs`): every other thread is
/// stopped, but some sleep with their stop deferred. Every thread this
/// stop suspended runs again; once the sleepers have stopped (or died, or
/// are adopted), the others are stopped again. The caller then waits for
/// the whole stop again.
fn back_off(me: Option<ThreadRef>) {
    resume_suspended(me);
    await_stop_signals(me);
    begin_stop();
    for th in others(me) {
        if th.state() == SBTHREAD_STATE_RUNNING && !stop_on_its_way(th) {
            request_stop(th);
        }
    }
    send_stops();
}

/// The back-off's first step: resumes every thread this stop suspended,
/// as `gc_start_the_world` would (no collection has started: to the
/// runtime it is a stop with nothing collected).
fn resume_suspended(me: Option<ThreadRef>) {
    stats::STOP_BACKOFFS.bump();
    let mut resumed = 0u32;
    for th in others(me).filter(|t| t.state() == SBTHREAD_STATE_SUSPENDED) {
        let r = resume(th);
        if r != 0 {
            lose!("gc_stop_the_world: cannot resume thread {:#x} while backing off: {}", addr(th.as_ptr()), errno_name(r));
        }
        resumed += 1;
    }
    resume::wake_resumed();
    trace!(1, "gc_stop_the_world: a thread deferred its stop and sleeps; {} thread(s) resumed until it stops", resumed);
}

/// SUSPENDED or DEAD (neither changes until the stopper resumes it), or
/// adopted (`adopt.rs`).
pub(crate) fn stopped(th: ThreadRef) -> bool {
    let s = th.state();
    s == SBTHREAD_STATE_SUSPENDED || s == SBTHREAD_STATE_DEAD || adopt::adopted(th)
}

/// Stopper: sleeps until an event after `seen`, or for [`SAFETY_NET`].
fn sleep_unless_changed(seen: u32) {
    STOPPER_SLEEPS.store(1, Ordering::SeqCst);
    futex::wait(&EVENTS, seen, Some(SAFETY_NET));
    STOPPER_SLEEPS.store(0, Ordering::SeqCst);
}

/// The event count, to pass to [`sleep_unless_changed`] after a look.
fn events() -> u32 {
    EVENTS.load(Ordering::SeqCst)
}

/// Stopper: resumes `th` (`resume.rs`: its stack top restored, RUNNING,
/// then a futex wake after the last one, or its own signal). Resume
/// signals, where still needed, are not fanned out: a start that waited
/// for helpers to send them was slower whenever the resumed threads had to
/// queue for a CPU (8 threads consing on 2 CPUs: 2× upstream's GC time).
pub(crate) fn resume(th: ThreadRef) -> libc::c_int {
    resume::resume(th)
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
