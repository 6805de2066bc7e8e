//! The `sbthread_*` extension API: what a standalone program (C or another
//! language's FFI) needs beyond the legacy functions. Documented in the
//! README; every function here is in `include/sbthread.h`.

use core::ffi::{c_int, c_uint, c_void};

use crate::legacy::types::{lispobj, SbthreadBlockingFn, SbthreadRootsVisitor, SbthreadStats, Thread};
use crate::init;
use crate::legacy::hooks::Mode;
use crate::diag::lose::lose;
use crate::standalone::{blocking, deferral};
use crate::thread::thread_ref::ThreadRef;
use crate::diag::{stats, trace};
use crate::lifecycle;
use crate::thread::{block, block_cache, registry};
use crate::world::roots;

/// The calling thread's `struct thread`, or NULL if it is not registered.
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: yes, once the library is initialised (it reads the
/// `specials` key).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_current() -> *mut Thread {
    { init::ensure(); crate::thread::current() }.map_or(core::ptr::null_mut(), |t| t.as_ptr())
}

/// Registers the calling thread as the initial thread and returns its
/// `struct thread` — `create_initial_thread` for programs that keep their
/// own `main` (other languages' FFIs, Rust). Standalone mode only; like
/// `create_initial_thread`, only once, and before any other thread.
/// The thread keeps running on its own stack.
///
/// # Safety
/// No memory-safety preconditions; misuse is reported by `lose`.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_attach() -> *mut Thread {
    init::ensure();
    lifecycle::attach_initial_thread().as_ptr()
}

/// 1 if the process runs in host mode (it defines the runtime hooks), 0 if
/// the library is standalone.
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: yes, once the library is initialised.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_is_host_mode() -> c_int {
    c_int::from(init::mode() == Mode::Host)
}

/// 1 if the library took over the executable's own thread functions when
/// it was loaded (the graft: an unchanged SBCL 0.9.4.1 executable with the
/// library in `LD_PRELOAD` or as a `DT_NEEDED`), 0 otherwise. Does not
/// initialise the library.
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_is_grafted() -> c_int {
    c_int::from(crate::host::graft::is_grafted())
}

/// Sleeps until `th` is DEAD (its function returned), without polling.
/// Then `reap_dead_thread(th)` may be called. NULL ends in `lose`.
///
/// # Safety
/// `th` must be a live (not yet reaped) thread this library created.
///
/// Async-signal-safe: yes (a futex wait), but a handler must not wait for
/// the thread it interrupted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_wait_dead(th: *mut Thread) {
    init::ensure();
    // SAFETY: contract of this function.
    match unsafe { ThreadRef::new(th) } {
        Some(t) => lifecycle::wait_until_dead(t),
        None => lose!("sbthread_wait_dead: NULL thread"),
    }
}

/// The value of the static symbol `symbol` (tagged) as thread `th` sees
/// it: its TLS binding if it has one, else the global value (`th` NULL:
/// the global value). For inspecting `INTERRUPTS_ENABLED`,
/// `INTERRUPT_PENDING`, `GC_INHIBIT`, `STOP_FOR_GC_PENDING`, ...
///
/// # Safety
/// `symbol` must be one of the static symbols (spec §4); `th` NULL or a
/// live thread.
///
/// Async-signal-safe: yes, once the library is initialised.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_symbol_value(symbol: lispobj, th: *mut Thread) -> lispobj {
    init::ensure();
    // SAFETY: contract of this function.
    crate::thread::symbols::symbol_value(symbol, unsafe { ThreadRef::new(th) })
}

/// Enters a pseudo-atomic section (standalone mode; nests). A stop or an
/// interrupt arriving inside is handled when the outermost section ends.
///
/// # Safety
/// Call from a registered thread; pair with `sbthread_pseudo_atomic_leave`.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_pseudo_atomic_enter() {
    init::ensure();
    deferral::pseudo_atomic_enter();
}

/// Leaves a pseudo-atomic section; the outermost one first lets a deferred
/// stop happen, then runs deferred interrupts.
///
/// # Safety
/// Must match an earlier `sbthread_pseudo_atomic_enter` of this thread.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_pseudo_atomic_leave() {
    init::ensure();
    deferral::pseudo_atomic_leave();
}

/// Enters WITHOUT-GCING (binds `GC_INHIBIT` to T; nests): a stop of the
/// world waits until the outermost section ends.
///
/// # Safety
/// Call from a registered thread; pair with `sbthread_without_gcing_leave`.
/// Never wait for another thread inside (it may be stopped: deadlock).
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_without_gcing_enter() {
    init::ensure();
    deferral::without_gcing_enter();
}

/// Leaves WITHOUT-GCING; the outermost one lets a deferred stop happen.
///
/// # Safety
/// Must match an earlier `sbthread_without_gcing_enter` of this thread.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_without_gcing_leave() {
    init::ensure();
    deferral::without_gcing_leave();
}

/// Enters WITHOUT-INTERRUPTS (binds `INTERRUPTS_ENABLED` to NIL; nests):
/// interrupt functions wait until the outermost section ends. Stops do not.
///
/// # Safety
/// Call from a registered thread; pair with
/// `sbthread_without_interrupts_leave`.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_without_interrupts_enter() {
    init::ensure();
    deferral::without_interrupts_enter();
}

/// Leaves WITHOUT-INTERRUPTS; the outermost one runs deferred interrupts.
///
/// # Safety
/// Must match an earlier `sbthread_without_interrupts_enter` of this thread.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_without_interrupts_leave() {
    init::ensure();
    deferral::without_interrupts_leave();
}

/// Enters a blocking region: the calling thread is about to block (in a
/// system call, say) and will not touch memory a collector manages until
/// `sbthread_blocking_leave`. While it is inside, a stop of the world
/// counts it as stopped without signalling it (standalone mode; it is not
/// suspended and its state stays RUNNING), and `sbthread_scan_roots`
/// reports the registers it had here and its stack above this call
/// (`in_blocking_region` = 1). Regions nest (only the outermost pair
/// counts). Interrupts sent meanwhile run when it leaves. No system call.
///
/// Misuse goes to `lose`: an unregistered thread; entering inside a
/// pseudo-atomic section or WITHOUT-GCING, or with the world stopped by
/// this thread. Inside the region the thread must not begin or end a
/// deferral section, stop the world, create or reap threads. In host mode
/// it only checks the pairing (the host's stop signals the thread as any
/// other). `sbthread_do_blocking` is the safer form: the compiler cannot
/// move a heap pointer out of the caller's saved frame there.
///
/// # Safety
/// Pair it with `sbthread_blocking_leave` in the same thread; between the
/// two, use no memory a collector manages (no heap pointer is read,
/// written or created).
///
/// Async-signal-safe: yes.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_blocking_enter() {
    // Straight to the saver, with the caller's registers and return
    // address untouched (rdi is free: this function takes no argument).
    core::arch::naked_asm!(
        "lea rdi, [rip + {enter}]",
        "jmp {save}",
        enter = sym blocking_enter,
        save = sym blocking::save_registers_and_call,
    )
}

/// `sbthread_blocking_enter`'s body, with the caller's registers saved.
///
/// # Safety
/// `regs` is what `save_registers_and_call` saved.
unsafe extern "C" fn blocking_enter(regs: *const blocking::EntryRegs) {
    init::ensure();
    // SAFETY: passed through from the saver.
    unsafe { blocking::enter_with(regs) }
}

/// Leaves a blocking region. If a stop counted the thread as stopped, it
/// sleeps until the world is started (no spinning); then interrupts that
/// arrived inside run. Leaving without entering goes to `lose`.
///
/// # Safety
/// Must match an earlier `sbthread_blocking_enter` of this thread.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_blocking_leave() {
    init::ensure();
    blocking::leave();
}

/// Runs `function(arg)` inside a blocking region and returns its result:
/// the calling thread's registers and its stack above this call are its
/// roots meanwhile (see `sbthread_blocking_enter`). `function` must not use
/// memory a collector manages; it may block as long as it likes. A NULL
/// `function` goes to `lose`.
///
/// # Safety
/// `function` must be safe to call with `arg`, and keep the rules of a
/// region.
///
/// Async-signal-safe: if `function` is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_do_blocking(function: SbthreadBlockingFn, arg: *mut c_void) -> usize {
    init::ensure();
    let Some(f) = function else { lose!("sbthread_do_blocking: NULL function") };
    // SAFETY: this frame stays live while `f` runs, so the registers saved
    // and the stack above are what this thread leaves to a collector.
    unsafe { sbthread_blocking_enter() };
    // SAFETY: the caller vouches for `f` and `arg`.
    let r = unsafe { f(arg) };
    blocking::leave();
    r
}

/// 1 if `th` is inside a blocking region, else 0 (and 0 in host mode,
/// where regions change nothing). While the world is stopped, for the
/// stopper: 1 for a thread the stop counts as stopped in its region; such
/// a thread is not suspended and its state stays RUNNING. A NULL `th` goes
/// to `lose`.
///
/// # Safety
/// `th` must be a live (not yet reaped) thread.
///
/// Async-signal-safe: yes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_in_blocking_region(th: *mut Thread) -> c_int {
    init::ensure();
    // SAFETY: contract of this function.
    match unsafe { ThreadRef::new(th) } {
        Some(t) => c_int::from(blocking::inside(t)),
        None => lose!("sbthread_in_blocking_region: NULL thread"),
    }
}

/// Calls `visit(roots, arg)` once for each live thread while the world is
/// stopped, the caller included (`roots->is_self` = 1), in registry order,
/// and returns how many threads it visited. `*roots` is valid only during
/// the call. For a collector: scan each thread's registers (`context`),
/// the live part of its stack and its TLS area conservatively. Standalone
/// mode only, and only in the thread that called `gc_stop_the_world`,
/// before its `gc_start_the_world`; anything else, or a NULL `visit`,
/// goes to `lose`.
///
/// While the world is stopped the visitor must not call anything that
/// may wait for a stopped thread: `malloc`, stdio, a lock a mutator may
/// hold. Allocate what the collector needs before stopping.
///
/// # Safety
/// `visit` must be a function that may be called with `arg`.
///
/// Async-signal-safe: yes (no allocation, no lock), though it is meant for
/// the stopper's ordinary code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_scan_roots(visit: SbthreadRootsVisitor, arg: *mut c_void) -> c_int {
    init::ensure();
    let Some(visit) = visit else { lose!("sbthread_scan_roots: NULL visitor") };
    // SAFETY: the caller vouches for `visit` and `arg`; `r` lives for the
    // call only, as documented.
    let n = roots::for_each(|r| unsafe { visit(r, arg) });
    n as c_int
}

/// Fills `*out` with the library's counters. Returns 0, or -1 if `out` is
/// NULL.
///
/// # Safety
/// `out` must be NULL or point to writable memory for one
/// `struct sbthread_stats`.
///
/// Async-signal-safe: no (it takes the block cache lock).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_stats(out: *mut SbthreadStats) -> c_int {
    init::ensure();
    if out.is_null() {
        return -1;
    }
    let (min, mean, max) = stats::stop_latency();
    let s = SbthreadStats {
        threads_created: stats::CREATED.get(),
        threads_reaped: stats::REAPED.get(),
        threads_live: registry::live(),
        blocks_cached: block_cache::len() as u64,
        block_cache_limit: block_cache::limit() as u64,
        stops: stats::STOPS.get(),
        interrupts_sent: stats::INTERRUPTS_SENT.get(),
        interrupts_run: stats::INTERRUPTS_RUN.get(),
        queue_full_retries: stats::QUEUE_FULL_RETRIES.get(),
        queue_full_worst_wait_ns: stats::QUEUE_FULL_WORST_NS.load(core::sync::atomic::Ordering::Relaxed),
        stop_latency_min_ns: min,
        stop_latency_mean_ns: mean,
        stop_latency_max_ns: max,
        conses_live: crate::standalone::cons_pool::live(),
        stop_wait_ns: stats::STOP_WAIT_NS.load(core::sync::atomic::Ordering::Relaxed),
        stop_signals_by_stopper: stats::STOP_SIGNALS_BY_STOPPER.get(),
        stop_signals_by_helpers: stats::STOP_SIGNALS_BY_HELPERS.get(),
        interrupts_discarded: stats::INTERRUPTS_DISCARDED.get(),
        stop_backoffs: stats::STOP_BACKOFFS.get(),
        stop_adoptions: stats::STOP_ADOPTIONS.get(),
        stop_counted_in_regions: stats::STOP_COUNTED_IN_REGIONS.get(),
        region_leaves_waited: stats::REGION_LEAVES_WAITED.get(),
        resume_signals: stats::RESUME_SIGNALS.get(),
        resume_wakes: stats::RESUME_WAKES.get(),
        stale_stop_signals: stats::STALE_STOP_SIGNALS.get(),
        mutex_rewakes: stats::MUTEX_REWAKES.get(),
        gc_triggers_held: stats::GC_TRIGGERS_HELD.get(),
        mutexes_given_back: stats::MUTEXES_GIVEN_BACK.get(),
        resumes_taken_back: stats::RESUMES_TAKEN_BACK.get(),
        blocks_cached_cold: block_cache::cold_len() as u64,
        cold_block_cache_limit: block_cache::cold_limit() as u64,
    };
    // SAFETY: `out` is non-NULL and writable (contract).
    unsafe { out.write(s) };
    0
}

/// Sets how many reaped thread blocks are kept for reuse as they are (the
/// warm tier; at most 256); 0 disables the cache, its cold tier too
/// (`SBTHREAD_BLOCK_CACHE_COLD`). Returns the previous bound. Blocks beyond
/// the new bound are unmapped at once.
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: no.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_set_block_cache_limit(limit: c_uint) -> c_uint {
    init::ensure();
    block::set_cache_limit(limit as usize) as c_uint
}

/// Sets the trace level (0 off, 1 lifecycle and stop/start, 2 also every
/// interrupt and handled signal); returns the previous level. The initial
/// level comes from `SBTHREAD_TRACE`.
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: yes, once the library is initialised.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_set_trace_level(level: c_uint) -> c_uint {
    init::ensure();
    trace::set_level(level)
}

/// Test builds only (`--features fault-injection`): makes injection point
/// `point` fail its next `times` uses. Returns 0, or -1 for an unknown
/// point. Points: 0 mapping (`os_validate`), 1 `pthread_create`, 2 guard
/// page `mprotect`, 3 signal queue full (EAGAIN), 4 signal target gone
/// (ESRCH), 5 the graft's `mprotect` of code (EACCES; it runs at load
/// time, so it is armed with `SBTHREAD_TEST_INJECT=5:times[:after]`).
///
/// # Safety
/// No preconditions.
///
/// Async-signal-safe: yes.
#[cfg(feature = "fault-injection")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbthread_test_inject(point: c_uint, times: c_uint) -> c_int {
    if crate::diag::fault::arm(point, times) { 0 } else { -1 }
}
