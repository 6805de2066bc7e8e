//! `sigwaitinfo`, interposed: libc's, except for the resume wait of the
//! host runtime's `SIG_STOP_FOR_GC` handler (`host/resume_wait.rs`).

use core::ffi::c_int;

use crate::host::resume_wait;

// The signature is libc's (a drift is a build error).
const _: unsafe extern "C" fn(*const libc::sigset_t, *mut libc::siginfo_t) -> c_int = sigwaitinfo;
const _: unsafe extern "C" fn(*const libc::sigset_t, *mut libc::siginfo_t) -> c_int = libc::sigwaitinfo;

/// `sigwaitinfo(set, info)`: libc's, except that the resume wait of a
/// host runtime's registered thread helps the stop in progress, then waits
/// for the thread to be resumed, a futex wake, and returns
/// `SIG_STOP_FOR_GC` as if that signal had come (with
/// `SBTHREAD_RESUME_WAKE=0`: for the signal that resumes it, retried after
/// EINTR); see
/// `host/resume_wait.rs`.
///
/// # Safety
/// As libc's: `set` points to an initialised `sigset_t`; `info` is NULL or
/// writable.
///
/// Async-signal-safe (as libc's: it is called from signal handlers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    // SAFETY: `set` is NULL or initialised (the caller's contract).
    let resume_wait = !set.is_null() && resume_wait::enter(unsafe { &*set });
    if resume_wait && let Some(r) = resume_wait::await_resume(info) {
        return r;
    }
    loop {
        // SAFETY: the caller's arguments, passed on unchanged; a NULL
        // timeout makes sigtimedwait exactly sigwaitinfo.
        let r = unsafe { libc::sigtimedwait(set, info, core::ptr::null()) };
        if r >= 0 || !resume_wait::retry(resume_wait, crate::sys::errno::get()) {
            return r;
        }
    }
}
