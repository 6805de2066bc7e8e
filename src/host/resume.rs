//! Host mode: resuming stopped threads — the stopper's side of the
//! measure `RESUME_WAKE` (`measures.rs`, off with `SBTHREAD_RESUME_WAKE=0`; the
//! protocol: `world/resume.rs`; the thread's side: `resume_wait.rs`).
//!
//! `gc_start_the_world` and the back-off (`stop.rs`) resume threads the
//! same way: for each, [`resume`] restores the word `stack_top.rs`
//! lowered (before the thread can run again), marks the stop answered and
//! the thread RUNNING, and sends a `SIG_STOP_FOR_GC` only if the thread's
//! handler was not seen waiting in our resume wait; then [`wake_resumed`]
//! bumps the generation and wakes one of the others, which wakes the rest
//! (a stop that comes before that thread has run takes those resumes
//! back instead, [`take_back_unseen`]).
//! With the switch off, every thread gets its signal, as 0.9.4.1 does.
//!
//! Stop signals are claimed too ([`claim_stop`]): a thread whose stop
//! signal is still on its way (queued behind a blocked mask: an adopted
//! sleeper, `adopt.rs`) is not sent a second, which would be stale once
//! the first is answered; and a resumed thread taking stale ones
//! (`resume_wait.rs`) finishes before a new stop signals it.

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::{measures, stack_top};
use crate::diag::stats;
use crate::legacy::types::{SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::sys::backoff::Backoff;
use crate::sys::sigset::sig_stop_for_gc;
use crate::sys::sync::Futex;
use crate::thread::kill::kill_thread_safely;
use crate::thread::registry;
use crate::thread::thread_ref::ThreadRef;
use crate::world::resume;

/// The resume generation, bumped by every start (and back-off) that
/// resumed a thread without a signal, on which resume waits sleep; and the
/// flag of a start's wake still to be passed on (`world/resume.rs`).
pub(crate) static SHARED: resume::Shared<AtomicU32> =
    resume::Shared { generation: AtomicU32::new(0), delegate: AtomicU32::new(0) };

/// Whether the start in progress left a thread to [`wake_resumed`]
/// (the stopper's alone).
static TO_WAKE: AtomicBool = AtomicBool::new(false);

/// Stopper, holding `all_threads_lock`: `th` (SUSPENDED) runs again.
/// Returns 0 or the error of the resume signal, when one was needed.
pub(crate) fn resume(th: ThreadRef) -> c_int {
    // First of all: the thread may run as soon as it is RUNNING.
    stack_top::restore(th);
    let p = th.private();
    resume::stop_answered(&p.stop_sent);
    let signal = if measures::RESUME_WAKE.on() {
        resume::resume_one(&p.resume_wait, th.state_word(), SBTHREAD_STATE_RUNNING)
    } else {
        th.set_state(SBTHREAD_STATE_RUNNING);
        true
    };
    if !signal {
        TO_WAKE.store(true, Ordering::Relaxed);
        stats::RESUME_WAKES.add_by_stopper(1);
        return 0;
    }
    stats::RESUME_SIGNALS.add_by_stopper(1);
    let r = kill_thread_safely(th.os_thread(), sig_stop_for_gc());
    if measures::RESUME_WAKE.on() {
        resume::signal_sent(&p.resume_wait);
    }
    r
}

/// Stopper, after [`resume`] for every thread it resumes: wakes one of
/// those that wait in our resume wait, which wakes the others.
pub(crate) fn wake_resumed() {
    if measures::RESUME_WAKE.on() {
        resume::end(&SHARED, &Futex, TO_WAKE.swap(false, Ordering::Relaxed));
    }
}

/// Stopper, holding `all_threads_lock`, beginning a stop: takes back the
/// resume of every thread of the last start that has not yet seen it (it
/// is SUSPENDED again, still in its wait: stopped without a signal), and
/// with them the start's wake still to be passed on (nobody waits for it
/// now). A stop that follows a start at once used to wake them itself,
/// and with busy threads waited up to 0.26 s for a CPU behind them
/// (BENCHMARKS.md). Returns how many were taken back.
pub(crate) fn take_back_unseen(me: Option<ThreadRef>) -> u32 {
    if !measures::RESUME_WAKE.on() {
        return 0;
    }
    let mut n = 0;
    for th in registry::iter().filter(|t| Some(*t) != me) {
        if th.state() == SBTHREAD_STATE_RUNNING
            && resume::cancel(&th.private().resume_wait, th.state_word(), SBTHREAD_STATE_SUSPENDED)
        {
            n += 1;
        }
    }
    SHARED.delegate.store(0, Ordering::Release);
    if n != 0 {
        stats::RESUMES_TAKEN_BACK.add_by_stopper(n.into());
    }
    n
}

/// Stopper, about to send `th` (RUNNING) a stop signal: false if one is
/// still owed to it (no second is sent).
pub(crate) fn claim_stop(th: ThreadRef) -> bool {
    let mut wait = Backoff::new();
    resume::claim_stop(&th.private().stop_sent, || wait.pause())
}
