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

use crate::sys::sigset;
use crate::thread;

use super::{measures, stop};

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
