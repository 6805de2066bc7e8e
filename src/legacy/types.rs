//! The C-visible types and constants of the legacy thread ABI (spec §1–§4).
//!
//! This file is deliberately self-contained (only `core` paths): besides being
//! a module of the crate, it is read on its own by cbindgen (to write
//! `include/sbthread.h`) and by ctest (the `layout-test` crate compares it with
//! the C description in `ffi/legacy_thread.h`). Layout assertions live in
//! `layout.rs`; nothing here has behaviour.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_long, c_ulong, c_void};

/// A tagged Lisp word (`unsigned long`).
pub type lispobj = c_ulong;
/// A Lisp word the C side declares `volatile` (written by other threads or
/// signal handlers). In C it is `volatile lispobj`; Rust code accesses these
/// fields only through atomic views (see `thread_ref.rs`).
pub type volatile_lispobj = c_ulong;
/// `os_thread_t` is `pthread_t`, an `unsigned long` on x86-64 glibc.
pub type os_thread_t = c_ulong;
/// `os_context_t` is `ucontext_t`; Rust only ever handles pointers to it.
pub type os_context_t = c_void;
/// `os_vm_address_t` (`caddr_t`, a `char *`).
pub type os_vm_address_t = *mut c_char;
/// `os_vm_size_t` (`size_t`).
pub type os_vm_size_t = usize;
/// The runtime's `boolean` (an `int`).
pub type boolean = c_int;

/// Thread is being set up and not yet running Lisp code (fixnum 0).
pub const SBTHREAD_STATE_STARTING: lispobj = 0x0;
/// Thread is running (fixnum 1).
pub const SBTHREAD_STATE_RUNNING: lispobj = 0x8;
/// Thread is stopped for GC (fixnum 2).
pub const SBTHREAD_STATE_SUSPENDED: lispobj = 0x10;
/// Thread has returned from its initial function (fixnum 3).
pub const SBTHREAD_STATE_DEAD: lispobj = 0x18;
/// Length of the trailing `interrupt_contexts` array.
pub const SBTHREAD_MAX_INTERRUPTS: c_int = 32;
/// `UNBOUND_MARKER_WIDETAG`: the value of an unbound TLS word.
pub const SBTHREAD_UNBOUND_MARKER: lispobj = 0x52;
/// Byte size of `struct interrupt_data` (opaque; allocated and copied).
pub const SBTHREAD_INTERRUPT_DATA_SIZE: c_int = 1312;
/// `NIL` (static symbol, tagged). Also the empty `interrupt_fun` list.
pub const SBTHREAD_NIL: lispobj = 0x4000_0017;
/// `T` (static symbol, tagged).
pub const SBTHREAD_T: lispobj = 0x4000_004F;

/// Static symbols (tagged) the deferral rules use, for
/// `sbthread_symbol_value`.
pub const SBTHREAD_SYM_INTERRUPTS_ENABLED: lispobj = 0x4000_04CF;
/// `INTERRUPT_PENDING`.
pub const SBTHREAD_SYM_INTERRUPT_PENDING: lispobj = 0x4000_050F;
/// `GC_INHIBIT`.
pub const SBTHREAD_SYM_GC_INHIBIT: lispobj = 0x4000_058F;
/// `STOP_FOR_GC_PENDING`.
pub const SBTHREAD_SYM_STOP_FOR_GC_PENDING: lispobj = 0x4000_05CF;
/// `FREE_TLS_INDEX`.
pub const SBTHREAD_SYM_FREE_TLS_INDEX: lispobj = 0x4000_064F;

/// An allocation region of the host's collector (`struct alloc_region`).
#[repr(C)]
pub struct AllocRegion {
    /// Next free byte.
    pub free_pointer: *mut c_void,
    /// End of the region.
    pub end_addr: *mut c_void,
    /// First heap page of the region.
    pub first_page: c_long,
    /// Last heap page of the region.
    pub last_page: c_long,
    /// Start of the region.
    pub start_addr: *mut c_void,
}

/// `struct interrupt_data`: opaque here; the library only maps, copies and
/// frees `SBTHREAD_INTERRUPT_DATA_SIZE` bytes of it.
pub struct InterruptData {
    _opaque: [u8; 0],
}

/// `struct thread` of SBCL 0.9.4.1 on x86-64 (192 bytes). It sits at the
/// start of the thread's TLS area: TLS index *i* is word *i* of this struct
/// and of the words after it.
///
/// The field `this` is a C++ keyword: the header spells it `this` in C and
/// `this_` in C++ (through the `SBTHREAD_THIS` macro).
///
/// cbindgen:field-names=[unbound_marker, os_thread, binding_stack_start, binding_stack_pointer, control_stack_start, control_stack_end, alien_stack_start, alien_stack_pointer, alloc_region, SBTHREAD_THIS, prev, next, state, tls_cookie, pseudo_atomic_atomic, pseudo_atomic_interrupted, interrupt_fun, interrupt_fun_lock, interrupt_data, interrupt_contexts]
#[repr(C)]
pub struct Thread {
    /// Holds the initial function until the trampoline takes it, then
    /// `UNBOUND_MARKER_WIDETAG` (TLS index 0).
    pub unbound_marker: lispobj,
    /// The pthread running this thread (0 until linked).
    pub os_thread: os_thread_t,
    /// Start of the binding stack.
    pub binding_stack_start: *mut lispobj,
    /// Binding stack pointer (grows up).
    pub binding_stack_pointer: *mut lispobj,
    /// Start (lowest address) of the control stack; also the block start.
    pub control_stack_start: *mut lispobj,
    /// End of the control stack.
    pub control_stack_end: *mut lispobj,
    /// Start of the alien stack.
    pub alien_stack_start: *mut lispobj,
    /// Alien stack pointer (grows down).
    pub alien_stack_pointer: *mut lispobj,
    /// The thread's allocation region.
    pub alloc_region: AllocRegion,
    /// Points to this struct.
    pub this: *mut Thread,
    /// Previous thread in `all_threads`.
    pub prev: *mut Thread,
    /// Next thread in `all_threads`.
    pub next: *mut Thread,
    /// One of the `SBTHREAD_STATE_*` fixnums (C: `volatile lispobj`).
    pub state: volatile_lispobj,
    /// Architecture cookie for `arch_os_thread_cleanup`.
    pub tls_cookie: lispobj,
    /// Non-zero inside a pseudo-atomic section.
    pub pseudo_atomic_atomic: lispobj,
    /// Non-zero when a signal was deferred by a pseudo-atomic section.
    pub pseudo_atomic_interrupted: lispobj,
    /// List (conses) of functions queued by `interrupt_thread`.
    pub interrupt_fun: lispobj,
    /// Spinlock word guarding `interrupt_fun` (C: `volatile lispobj`).
    pub interrupt_fun_lock: volatile_lispobj,
    /// The thread's interrupt data (its own mapping).
    pub interrupt_data: *mut InterruptData,
    /// First element of an array of `SBTHREAD_MAX_INTERRUPTS` contexts.
    pub interrupt_contexts: [*mut os_context_t; 1],
}

/// The standalone calling convention for a `lispobj` function: the `lispobj`
/// is the address of one of these. `fn_` is called with `arg`; what it
/// returns is the function's result.
///
/// cbindgen:field-names=[fn, arg]
#[repr(C)]
pub struct SbthreadClosure {
    /// The code to run.
    pub fn_: Option<unsafe extern "C" fn(arg: *mut c_void) -> usize>,
    /// Passed to `fn_` unchanged.
    pub arg: *mut c_void,
}

/// What a stopper may scan of one live thread while the world is stopped,
/// passed to the visitor of `sbthread_scan_roots` (standalone mode). Scan
/// `[stack_low, stack_high)`, the `context_size` bytes at `context` and
/// the `tls_size` bytes at `tls` conservatively.
#[repr(C)]
pub struct SbthreadRoots {
    /// The thread.
    pub thread: *mut Thread,
    /// 1 for the calling thread (the stopper), 0 for a stopped thread.
    pub is_self: c_int,
    /// Where the thread stopped: a `ucontext_t` holding its general
    /// registers (the signal context; for a stop honoured at the end of a
    /// deferral section, and for the caller, one saved by `getcontext`,
    /// which holds the callee-saved registers; for a thread in a blocking
    /// region, see `in_blocking_region`). Vector registers are not
    /// included.
    pub context: *const os_context_t,
    /// Bytes at `context` (the whole `ucontext_t`).
    pub context_size: usize,
    /// Lowest live address of the thread's stack: its stack pointer where
    /// it stopped, less the 128-byte red zone (the whole stack if the
    /// pointer was outside it, e.g. on a signal stack).
    pub stack_low: *const c_void,
    /// End of the thread's stack (exclusive).
    pub stack_high: *const c_void,
    /// The thread's TLS area (`struct thread`, then the symbol values).
    pub tls: *const c_void,
    /// Bytes at `tls` (`dynamic_values_bytes`).
    pub tls_size: usize,
    /// 1 if the thread is not suspended but counted as stopped inside a
    /// blocking region: `context` holds the registers it saved when it
    /// entered the region (callee-saved registers, stack pointer, return
    /// address; the others 0), `stack_low` is below that stack pointer, and
    /// its state is RUNNING.
    pub in_blocking_region: c_int,
}

/// The visitor `sbthread_scan_roots` calls for each live thread.
pub type SbthreadRootsVisitor = Option<unsafe extern "C" fn(roots: *const SbthreadRoots, arg: *mut c_void)>;

/// Counters and latencies reported by `sbthread_stats`.
#[repr(C)]
pub struct SbthreadStats {
    /// Threads created (`create_thread` successes and the initial thread).
    pub threads_created: u64,
    /// Threads reaped.
    pub threads_reaped: u64,
    /// Threads on `all_threads` now.
    pub threads_live: u64,
    /// Thread blocks kept for reuse now, as their thread left them (the
    /// warm tier; the cold one: `blocks_cached_cold`).
    pub blocks_cached: u64,
    /// Bound of the block cache (its warm tier).
    pub block_cache_limit: u64,
    /// Completed `gc_stop_the_world` calls.
    pub stops: u64,
    /// Interrupts accepted by `interrupt_thread`.
    pub interrupts_sent: u64,
    /// Interrupt functions run (standalone mode).
    pub interrupts_run: u64,
    /// Signal sends retried because the signal queue was full.
    pub queue_full_retries: u64,
    /// Longest single back-off after a full queue, in nanoseconds.
    pub queue_full_worst_wait_ns: u64,
    /// Shortest stop-the-world (request to all stopped), in nanoseconds.
    pub stop_latency_min_ns: u64,
    /// Mean stop-the-world latency, in nanoseconds.
    pub stop_latency_mean_ns: u64,
    /// Longest stop-the-world latency, in nanoseconds.
    pub stop_latency_max_ns: u64,
    /// Conses of the standalone pool in use (interrupts queued, not run).
    pub conses_live: i64,
    /// Total time stoppers spent waiting for threads to stop after sending
    /// their signals, in ns (the rest of a stop is sending signals).
    pub stop_wait_ns: u64,
    /// Stop signals sent by the stoppers themselves.
    pub stop_signals_by_stopper: u64,
    /// Stop signals sent by the threads being stopped (standalone mode:
    /// each stopped thread's handler helps send the rest).
    pub stop_signals_by_helpers: u64,
    /// Interrupts accepted but never run because their thread's function
    /// returned first (host mode; always 0 standalone, where a thread runs
    /// its queue before it becomes DEAD).
    pub interrupts_discarded: u64,
    /// Stops that backed off (host mode): a thread had deferred its stop
    /// and was asleep, maybe waiting for a thread already stopped, so the
    /// stopper resumed the stopped threads until it had stopped, then
    /// stopped them again.
    pub stop_backoffs: u64,
    /// Threads counted as stopped without suspending (host mode): asleep
    /// with their stop deferred, waiting for a Lisp mutex the stopper
    /// itself holds, so they cannot run before the world is started; their
    /// stacks are scanned from where they sleep.
    pub stop_adoptions: u64,
    /// Threads that stops counted as stopped without a signal because they
    /// sat in a blocking region (standalone; one per thread and stop).
    pub stop_counted_in_regions: u64,
    /// Leaves of a blocking region that waited for the world to be started
    /// (a stop had counted the thread).
    pub region_leaves_waited: u64,
    /// Stopped threads resumed with a `SIG_STOP_FOR_GC` each (host mode:
    /// only a thread whose handler was not seen waiting in the library's
    /// resume wait; all of them with `SBTHREAD_RESUME_WAKE=0`).
    pub resume_signals: u64,
    /// Stopped threads resumed by the start's futex wake instead (host
    /// mode; standalone always resumes that way and does not count it).
    pub resume_wakes: u64,
    /// Stale `SIG_STOP_FOR_GC`s (no stop owed them) a resumed thread took
    /// before its handler returned, so that none starts a suspension no
    /// stopper asked for (host mode).
    pub stale_stop_signals: u64,
    /// Sleepers on a free Lisp mutex that the library woke when a thread
    /// that had been sent an interrupt exited (host mode: 0.9.4.1's
    /// `RELEASE-MUTEX` loses its one wake-up when the releaser, or the
    /// waiter it woke, is unwound in between; measure REWAKE).
    pub mutex_rewakes: u64,
    /// Collections that an `interrupt_thread` cons would have started
    /// inside the host's `alloc_cons`, which would then have queued a cell
    /// of a freed page; the library held them off until the cons was
    /// queued, and the thread's next allocation past the trigger collects
    /// (host mode, measure HOLD_GC).
    pub gc_triggers_held: u64,
    /// Lisp mutexes that a dead thread held (0.9.4.1's `WITH-MUTEX` takes
    /// the mutex before it sets up its release: a thread terminated in
    /// between exits holding it), given back when an interrupted thread
    /// exited while another slept on them (host mode, measure ABANDONED).
    pub mutexes_given_back: u64,
    /// Resumes that a stop following a start at once took back before
    /// their thread had left its resume wait: the thread stayed suspended,
    /// without a stop signal (host mode with the resume wake, the default).
    pub resumes_taken_back: u64,
    /// Thread blocks in the block cache's cold tier now: blocks whose
    /// thread gave its memory back while it waited to be reaped, kept for
    /// their address space when the warm bound (`blocks_cached`) is full.
    pub blocks_cached_cold: u64,
    /// Bound of the cold tier (`SBTHREAD_BLOCK_CACHE_COLD`, default 128;
    /// 0 while the block cache is off).
    pub cold_block_cache_limit: u64,
}

/// The function `sbthread_do_blocking` runs inside a blocking region, with
/// its argument; its result is returned.
pub type SbthreadBlockingFn = Option<unsafe extern "C" fn(arg: *mut c_void) -> usize>;
