//! The resume wait of the runtime's `SIG_STOP_FOR_GC` handler, which runs
//! in our `sigwaitinfo` (`abi/sigwait.rs`).
//!
//! 0.9.4.1's handler marks its thread SUSPENDED, then waits in
//! `sigwaitinfo({SIG_STOP_FOR_GC})` and takes *any* return for the resume
//! (`src/runtime/interrupt.c:695-700`): it does not retry when the wait
//! ends with EINTR, and then loses with "wrong thread state on wakeup: 2"
//! (the state is still SUSPENDED). On the real runtime that happened in
//! about one 10-second soak in twenty, with upstream's thread library too:
//! a diagnostic build of the handler showed `sigwaitinfo` returning
//! -1/EINTR although every signal glibc lets it block was blocked.
//!
//! The runtime reaches `sigwaitinfo` through its PLT, and this library
//! comes before libc in the lookup order (`LD_PRELOAD`, a `DT_NEEDED` of
//! the executable, or linked in statically), so ours is the one it calls.
//! It is libc's, except for this one wait: the set is exactly
//! `{SIG_STOP_FOR_GC}` and the caller is a registered thread of a host
//! runtime. Entering it, the thread helps the stop in progress and tells
//! the stopper (`stop.rs`). And, as the measure `RESUME_RETRY`
//! (`measures.rs`), an EINTR is retried, so that the wait ends only with a
//! `SIG_STOP_FOR_GC`, as the handler assumes (not only while the thread is
//! SUSPENDED: the stopper may mark it RUNNING and send the resume between
//! the EINTR and any check of the state; returning then would leave that
//! resume signal pending, to be taken later as a new stop). Test:
//! `c-tests/exit_races.c` interrupts 50 resume waits of the test host's
//! copy of the handler.
//!
//! With the measure `RESUME_WAKE` (`measures.rs`), the wait does not wait
//! for a signal at all ([`await_resume`]): it waits until the thread is
//! RUNNING again, on the futex word of the start (`resume.rs`,
//! `world/resume.rs`: the stopper wakes one waiter, the first resumed
//! thread wakes the others), and returns what the handler expects
//! of `sigwaitinfo`: `SIG_STOP_FOR_GC`, with a siginfo saying so. A thread
//! the stopper signalled instead (it was not seen waiting here yet) takes
//! that signal, as before. Before it returns, a thread that no stop has
//! asked since takes every `SIG_STOP_FOR_GC` still pending: each is stale,
//! and once the handler unblocks the signal it would start a suspension
//! no stopper asked for. Test: `c-tests/resume_wake.c`.

use core::ffi::c_int;

use crate::diag::stats;
use crate::legacy::types::SBTHREAD_STATE_RUNNING;
use crate::sys::sigset;
use crate::sys::sync::Futex;
use crate::thread;
use crate::world::resume::{self as protocol, Resumed};

use super::{measures, resume, stop};

/// Whether `set` is the resume wait's set, in a registered thread of a
/// host runtime. Async-signal-safe (no initialisation: an uninitialised
/// library has no registered threads).
fn is_resume_wait(set: &libc::sigset_t) -> bool {
    let Some(h) = crate::legacy::hooks::hooks_if_ready() else { return false };
    if h.mode != crate::legacy::hooks::Mode::Host {
        return false;
    }
    let stop = sigset::sig_stop_for_gc();
    let only_stop = (1..=libc::SIGRTMAX()).all(|s| sigset::contains(set, s) == (s == stop));
    only_stop && thread::current_if_ready().is_some()
}

/// Called as a `sigwaitinfo(set, ..)` begins: true if it is the resume
/// wait, which has then helped the stop and told the stopper.
/// Async-signal-safe.
pub(crate) fn enter(set: &libc::sigset_t) -> bool {
    let resume_wait = is_resume_wait(set);
    if resume_wait {
        stop::entering_resume_wait();
    }
    resume_wait
}

/// After the wait failed with `errno`: whether to wait again.
/// Async-signal-safe.
pub(crate) fn retry(resume_wait: bool, errno: i32) -> bool {
    resume_wait && errno == libc::EINTR && measures::RESUME_RETRY.on()
}

/// The resume wait with `RESUME_WAKE` on, for the registered thread that
/// entered it: waits until the thread is resumed, takes stale stop
/// signals, and returns `SIG_STOP_FOR_GC` (filling `info` as the signal's
/// would) or what taking the resume signal returned. `errno` is kept
/// unless that failed.
/// Async-signal-safe.
pub(crate) fn await_resume(info: *mut libc::siginfo_t) -> Option<c_int> {
    if !measures::RESUME_WAKE.on() {
        return None;
    }
    let th = thread::current_if_ready()?;
    let errno = crate::sys::errno::get();
    let p = th.private();
    let sig = sigset::sig_stop_for_gc();
    let r = match protocol::wait(&p.resume_wait, th.state_word(), SBTHREAD_STATE_RUNNING, &resume::SHARED, &Futex) {
        Resumed::Woken => {
            fill(info, sig);
            sig
        }
        Resumed::Signalled => {
            let r = take_signal(sig, info, None);
            let mut wait = crate::sys::backoff::Backoff::new();
            protocol::signal_taken(&p.resume_wait, || wait.pause());
            r
        }
    };
    let stale = protocol::drain_stale(&p.stop_sent, || take_signal(sig, core::ptr::null_mut(), Some(ZERO)) == sig);
    if stale != 0 {
        stats::STALE_STOP_SIGNALS.add(stale.into());
    }
    if r >= 0 {
        crate::sys::errno::set(errno);
    }
    Some(r)
}

const ZERO: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 0 };

/// Takes one pending `sig` (waiting for it, or not if `timeout` is zero),
/// retrying EINTR as [`retry`] says. Returns the signal, or -1.
fn take_signal(sig: c_int, info: *mut libc::siginfo_t, timeout: Option<libc::timespec>) -> c_int {
    let set = sigset::only(sig);
    let ts = timeout.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: `set` is initialised, `info` NULL or the caller's
        // writable siginfo, `ts` NULL or a live timespec.
        let r = unsafe { libc::sigtimedwait(&set, info, ts) };
        if r >= 0 || !retry(true, crate::sys::errno::get()) {
            return r;
        }
    }
}

/// What `sigwaitinfo` would have stored in `info` for a `sig` sent by
/// this process with `pthread_kill`.
fn fill(info: *mut libc::siginfo_t, sig: c_int) {
    if info.is_null() {
        return;
    }
    // SAFETY: `info` is the caller's writable siginfo (sigwaitinfo's
    // contract); all zeroes is a valid siginfo_t.
    unsafe {
        info.write_bytes(0, 1);
        (*info).si_signo = sig;
        (*info).si_code = libc::SI_TKILL;
    }
}
