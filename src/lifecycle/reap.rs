//! Reaping a DEAD thread: unlink it, close its allocation region, join
//! its pthread and give its block back (to the cache, or unmapped).

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use super::create::free_thread_struct;
use crate::diag::lose::{addr, errno_name, lose, state_name};
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::legacy::hooks::hooks;
use crate::legacy::lisp::NIL;
use crate::legacy::types::{lispobj, Thread, SBTHREAD_STATE_DEAD};
use crate::sys::futex;
use crate::sys::sigset::MaskGuard;
use crate::thread::registry::{self, AllThreadsLock};
use crate::thread::thread_ref::ThreadRef;

/// What a reap request found, judged under the lock and reported after it.
enum ReapCheck {
    Ok(ThreadRef),
    NotRegistered,
    NotDead(lispobj),
    AlreadyReaping,
}

/// `reap_dead_thread`.
pub(crate) fn reap_dead_thread(p: *mut Thread) {
    let h = hooks();
    if p.is_null() {
        lose!("reap_dead_thread: NULL thread");
    }
    // One mask change for the whole reap, the join included: an interrupt
    // handled inside `pthread_join` may unwind out of it (0.9.4.1's
    // TERMINATE-THREAD runs QUIT, a Lisp throw, in the reaper: reaping runs
    // from finalizers, in whichever thread collected), and glibc frees the
    // joined thread's descriptor holding its stack-list lock
    // (`dl_stack_cache_lock`): unwound there, the lock stays taken, and the
    // next `pthread_create` of the process waits for it forever (a hang of
    // `stress-terminate.lisp` with upstream's `reap_dead_thread` and ours
    // before this). Stops stay open: a stop suspends the reaper and resumes
    // it, and nothing stopped the world needs that lock.
    let deferrables = MaskGuard::deferrables();
    let check = {
        let lock = AllThreadsLock::acquire_under("reap_dead_thread", &deferrables);
        match registry::registered(p, &lock) {
            None => ReapCheck::NotRegistered,
            Some(th) if th.state() != SBTHREAD_STATE_DEAD => ReapCheck::NotDead(th.state()),
            Some(th) if th.private().reaping.swap(1, Ordering::AcqRel) != 0 => ReapCheck::AlreadyReaping,
            Some(th) => ReapCheck::Ok(th),
        }
    };
    let th = match check {
        ReapCheck::Ok(th) => th,
        ReapCheck::NotRegistered => lose!(
            "reap_dead_thread: {:#x} is not a registered thread (already reaped, or never created)",
            addr(p)
        ),
        ReapCheck::NotDead(s) => lose!("reap_dead_thread: thread {:#x} is not joinable, state={}", addr(p), state_name(s)),
        ReapCheck::AlreadyReaping => lose!("reap_dead_thread: thread {:#x} is already being reaped by another thread", addr(p)),
    };
    // With the deferrables blocked (and SIG_STOP_FOR_GC where the
    // runtime's function takes a lock).
    crate::thread::close_alloc_region(th);
    {
        let _lock = AllThreadsLock::acquire_under("reap_dead_thread", &deferrables);
        registry::unlink(th);
    }
    // SAFETY: the field is the thread's own; read as a signed word as C does.
    if unsafe { (*p).tls_cookie } as i64 >= 0 {
        // SAFETY: `th` is dead and unlinked, its block still mapped.
        unsafe { h.arch_os_thread_cleanup(th.as_ptr()) };
    }
    let r = join(th.os_thread() as libc::pthread_t);
    if r != 0 {
        lose!("reap_dead_thread: pthread_join of thread {:#x} failed: {}", addr(p), errno_name(r));
    }
    // DEAD was set with an empty queue and nothing is queued on a DEAD thread.
    debug_assert_eq!(th.interrupt_fun().load(Ordering::Relaxed), NIL);
    crate::thread::dormant::dead_waiting_sub();
    crate::thread::holes::forget_trim(th);
    crate::thread::dormant::forget(th);
    free_thread_struct(th);
    drop(deferrables);
    stats::REAPED.bump();
    trace!(1, "thread {:#x} reaped", addr(p));
}

/// Joins a DEAD thread's pthread. A DEAD thread is microseconds from
/// exiting: yield to it a few times (it may be waiting for this very CPU)
/// before blocking, which saves a sleep and a wake-up per thread.
fn join(pthread: libc::pthread_t) -> c_int {
    for _ in 0..futex::event::YIELDS {
        // SAFETY: the pthread was created joinable and is joined only here
        // (the reaping claim makes this the only reaper).
        match unsafe { libc::pthread_tryjoin_np(pthread, core::ptr::null_mut()) } {
            // SAFETY: sched_yield has no preconditions.
            libc::EBUSY => unsafe { libc::sched_yield() },
            r => return r,
        };
    }
    // SAFETY: as above.
    unsafe { libc::pthread_join(pthread, core::ptr::null_mut()) }
}

