//! `sigwaitinfo`, interposed (host mode's resume wait).
//!
//! 0.9.4.1's `SIG_STOP_FOR_GC` handler suspends a thread with
//! `sigwaitinfo({SIG_STOP_FOR_GC})` and takes *any* return as the resume:
//! it does not retry when the wait ends with EINTR, and then loses with
//! "wrong thread state on wakeup: 2" (the state is still SUSPENDED). On
//! the real runtime that happened in about one 10-second soak in twenty,
//! with upstream's thread library too: a diagnostic build of the handler
//! showed `sigwaitinfo` returning -1/EINTR although every signal glibc lets
//! it block was blocked.
//!
//! The runtime reaches `sigwaitinfo` through its PLT, and this library
//! comes before libc in the lookup order (a `DT_NEEDED` of the executable,
//! `LD_PRELOAD`, or linked in statically), so this definition is the one
//! it calls. It is libc's, except for that one wait: when the set is
//! exactly `{SIG_STOP_FOR_GC}` and the caller is a registered thread of a
//! host runtime, an EINTR is retried, so the wait ends only with a
//! `SIG_STOP_FOR_GC`, as the handler assumes. (Not only while the thread
//! is SUSPENDED: the stopper may mark it RUNNING and send the resume
//! between the EINTR and any check of the state; returning then would
//! leave that resume signal pending, to be taken later as a new stop.)
//! Every other caller gets libc's behaviour unchanged. The same wait is
//! where the thread helps send the signals of the stop still to go, and
//! wakes the stopper, before it sleeps (`host_fanout.rs`).

use core::ffi::c_int;

use crate::host_fanout;
use crate::sigset;

/// Whether this is the resume wait of the runtime's `SIG_STOP_FOR_GC`
/// handler: the set is just `SIG_STOP_FOR_GC`, the process runs in host
/// mode and the calling thread is registered. Async-signal-safe (no
/// initialisation: an uninitialised library has no registered threads).
fn is_resume_wait(set: &libc::sigset_t) -> bool {
    let stop = sigset::sig_stop_for_gc();
    if !sigset::contains(set, stop) {
        return false;
    }
    let only_stop = (1..=libc::SIGRTMAX()).all(|s| sigset::contains(set, s) == (s == stop));
    only_stop && crate::hooks::host_thread_if_ready().is_some()
}

// The signature is libc's (a drift is a build error).
const _: unsafe extern "C" fn(*const libc::sigset_t, *mut libc::siginfo_t) -> c_int = sigwaitinfo;
const _: unsafe extern "C" fn(*const libc::sigset_t, *mut libc::siginfo_t) -> c_int = libc::sigwaitinfo;

/// `sigwaitinfo(set, info)`: libc's, except that the resume wait of a
/// registered thread (see the module comment) is retried after EINTR.
///
/// # Safety
/// As libc's: `set` points to an initialised `sigset_t`; `info` is NULL or
/// writable.
///
/// Async-signal-safe (as libc's: it is called from signal handlers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    // SAFETY: `set` is NULL or initialised (the caller's contract).
    let resume_wait = !set.is_null() && is_resume_wait(unsafe { &*set });
    if resume_wait {
        host_fanout::entering_resume_wait();
    }
    loop {
        // SAFETY: the caller's arguments, passed on unchanged; a NULL
        // timeout makes sigtimedwait exactly sigwaitinfo.
        let r = unsafe { libc::sigtimedwait(set, info, core::ptr::null()) };
        if r >= 0 {
            return r;
        }
        if !resume_wait || crate::errno::get() != libc::EINTR {
            return r;
        }
    }
}
