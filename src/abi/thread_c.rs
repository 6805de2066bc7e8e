//! The functions SBCL 0.9.4.1's `thread.o` exports (spec §5), with their C
//! signatures. Each initialises the library on first use, checks its
//! arguments (misuse ends in `lose` with a message naming the function),
//! and calls the module that does the work.

use core::ffi::c_int;

use crate::legacy::types::{boolean, lispobj, os_thread_t, Thread};
use crate::init;
use crate::diag::lose::lose;
use crate::thread::thread_ref::ThreadRef;
use crate::interrupt;
use crate::lifecycle;
use crate::thread::registry;
use crate::world::stw;

/// A non-NULL thread argument, or `lose` naming `caller`.
///
/// # Safety
/// `th` must be NULL or point to a `struct thread` whose block is mapped.
unsafe fn thread_arg(th: *mut Thread, caller: &str) -> ThreadRef {
    // SAFETY: forwarded contract.
    match unsafe { ThreadRef::new(th) } {
        Some(t) => t,
        None => lose!("{}: NULL thread", caller),
    }
}

/// Registers the calling thread as the first thread and enters
/// `initial_function` through `call_into_lisp_first_time`. Never returns.
/// Standalone: `initial_function` is the address of a `struct
/// sbthread_closure`; the process exits with what its `fn` returns.
///
/// # Safety
/// Call once, before any other thread exists. Standalone: the closure must
/// stay valid until its `fn` has started.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_initial_thread(initial_function: lispobj) -> ! {
    init::ensure();
    lifecycle::create_initial_thread(initial_function)
}

/// Creates a thread running `initial_function` (via `funcall0`). Returns
/// its `struct thread`, or NULL when threads are disabled
/// (`linux_no_threads_p`) or a mapping or `pthread_create` fails; nothing is
/// leaked and `all_threads` is unchanged then.
///
/// # Safety
/// Call from a registered thread. Standalone: `initial_function` is the
/// address of a `struct sbthread_closure` valid until its `fn` has started.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_thread(initial_function: lispobj) -> *mut Thread {
    init::ensure();
    lifecycle::create_thread(initial_function)
}

/// Starts the pthread of a thread made by `create_thread`'s first step, on
/// its control stack, with the deferrable signals blocked. Stores the
/// pthread id in `*kid_tid`. Returns 1 on success, 0 on failure.
///
/// # Safety
/// `th` must be a thread struct made by this library, not yet started;
/// `kid_tid` must be writable. The caller holds `all_threads_lock` and
/// links the thread (`link_thread`) on success, as `create_thread` does.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_os_thread(th: *mut Thread, kid_tid: *mut os_thread_t) -> boolean {
    init::ensure();
    // SAFETY: contract of this function.
    let th = unsafe { thread_arg(th, "create_os_thread") };
    if kid_tid.is_null() {
        lose!("create_os_thread: NULL kid_tid");
    }
    let mut kid: os_thread_t = 0;
    let ok = lifecycle::create_os_thread(th, &mut kid);
    // SAFETY: `kid_tid` is non-NULL and writable (contract).
    unsafe { kid_tid.write(kid) };
    boolean::from(ok)
}

/// Runs a new thread: takes its initial function, `arch_os_thread_init`,
/// waits until it is linked, becomes RUNNING, `funcall0`s the function,
/// becomes DEAD, and returns the function's result (truncated to `int`).
///
/// # Safety
/// Only as the start routine of a thread made by `create_os_thread`.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn new_thread_trampoline(th: *mut Thread) -> c_int {
    init::ensure();
    // SAFETY: contract of this function.
    let th = unsafe { thread_arg(th, "new_thread_trampoline") };
    lifecycle::run_new_thread(th)
}

/// Puts `th` on `all_threads`, protects its guard page and publishes
/// `kid_tid` as its `os_thread`, which lets the new thread run.
///
/// # Safety
/// `th` must be a thread struct made by this library and not linked yet;
/// the caller holds `all_threads_lock` (or no other thread exists).
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn link_thread(th: *mut Thread, kid_tid: os_thread_t) {
    init::ensure();
    // SAFETY: contract of this function.
    let th = unsafe { thread_arg(th, "link_thread") };
    lifecycle::link_thread(th, kid_tid);
}

/// Unlinks a DEAD thread, joins its pthread and frees (or caches) its
/// memory. Anything but a registered DEAD thread — NULL, a live thread, a
/// thread already reaped — ends in `lose`.
///
/// # Safety
/// `th` must be a pointer this library returned, or NULL (which is
/// reported, not dereferenced). It is only dereferenced once found on
/// `all_threads`.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reap_dead_thread(th: *mut Thread) {
    init::ensure();
    lifecycle::reap_dead_thread(th);
}

/// Queues `function` on `th` and signals it; the function runs exactly
/// once in `th`. Returns 0, or -1 with errno = ESRCH if `th` is DEAD (its
/// queue is then left empty). Interrupting the calling thread, NULL, or a
/// reaped thread ends in `lose`. Standalone: `function` is the address of a
/// `struct sbthread_closure` valid until its `fn` has run.
///
/// # Safety
/// `th` must be NULL or a thread this library created and has not unmapped.
///
/// Async-signal-safe: no (it conses).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn interrupt_thread(th: *mut Thread, function: lispobj) -> c_int {
    init::ensure();
    // SAFETY: contract of this function.
    let th = unsafe { thread_arg(th, "interrupt_thread") };
    interrupt::interrupt_thread(th, function)
}

/// Stops every other registered thread: takes `all_threads_lock` (held
/// until `gc_start_the_world`), waits out threads still STARTING, signals
/// the RUNNING ones and returns when each is SUSPENDED or DEAD; in
/// standalone mode a thread inside a blocking region is counted as stopped
/// instead, without a signal (it stays RUNNING). Loses if the caller is
/// inside a blocking region.
///
/// # Safety
/// The caller must call `gc_start_the_world` from the same thread.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gc_stop_the_world() {
    init::ensure();
    stw::stop_the_world();
}

/// Resumes the threads `gc_stop_the_world` stopped and releases
/// `all_threads_lock`. Loses if the calling thread did not stop the world
/// or a live thread is not SUSPENDED.
///
/// # Safety
/// No memory-safety preconditions; misuse is reported by `lose`.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gc_start_the_world() {
    init::ensure();
    stw::start_the_world();
}

/// Loses unless `SIG_STOP_FOR_GC` could be delivered to the calling thread
/// now: it is not blocked, GC is not inhibited, and the thread is not in a
/// pseudo-atomic section. Every taker of `all_threads_lock` (except the
/// stopper) runs this first.
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: yes (reads the mask and thread words; `lose` writes
/// and aborts).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn check_sig_stop_for_gc_can_arrive_or_lose() {
    init::ensure();
    registry::check_sig_stop_for_gc_can_arrive("check_sig_stop_for_gc_can_arrive_or_lose");
}
