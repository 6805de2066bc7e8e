//! Counters behind `sbthread_stats`: plain relaxed atomics, updated from
//! any context including signal handlers.

use core::sync::atomic::{AtomicU64, Ordering};

/// One counter.
pub(crate) struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    /// Adds one.
    pub(crate) fn bump(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds `n`, for a counter only the stopper writes (it holds
    /// `all_threads_lock`): a plain load and store, no locked instruction
    /// on the stop's hot path.
    pub(crate) fn add_by_stopper(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
    /// The value.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Threads created by `create_thread` or `create_initial_thread`.
pub(crate) static CREATED: Counter = Counter::new();
/// Threads reaped.
pub(crate) static REAPED: Counter = Counter::new();
/// Completed `gc_stop_the_world` calls.
pub(crate) static STOPS: Counter = Counter::new();
/// Interrupts queued successfully by `interrupt_thread`.
pub(crate) static INTERRUPTS_SENT: Counter = Counter::new();
/// Interrupt functions run (standalone mode; the host runs its own).
pub(crate) static INTERRUPTS_RUN: Counter = Counter::new();
/// Interrupt functions dropped because their thread finished first (host
/// mode: queued, but the thread's Lisp function returned before the
/// host's handler took them).
pub(crate) static INTERRUPTS_DISCARDED: Counter = Counter::new();
/// Signal sends retried because the queue was full (EAGAIN).
pub(crate) static QUEUE_FULL_RETRIES: Counter = Counter::new();
/// Longest single back-off sleep after EAGAIN, in nanoseconds.
pub(crate) static QUEUE_FULL_WORST_NS: AtomicU64 = AtomicU64::new(0);

static STOP_MIN_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static STOP_MAX_NS: AtomicU64 = AtomicU64::new(0);
static STOP_TOTAL_NS: AtomicU64 = AtomicU64::new(0);

/// Records one stop-the-world latency (request to all stopped). By the
/// stopper, which holds `all_threads_lock`: the only writer of these.
pub(crate) fn record_stop(ns: u64) {
    STOPS.add_by_stopper(1);
    if ns < STOP_MIN_NS.load(Ordering::Relaxed) {
        STOP_MIN_NS.store(ns, Ordering::Relaxed);
    }
    if ns > STOP_MAX_NS.load(Ordering::Relaxed) {
        STOP_MAX_NS.store(ns, Ordering::Relaxed);
    }
    STOP_TOTAL_NS.store(STOP_TOTAL_NS.load(Ordering::Relaxed).wrapping_add(ns), Ordering::Relaxed);
}

/// (min, mean, max) stop latency in nanoseconds; zeros before any stop.
pub(crate) fn stop_latency() -> (u64, u64, u64) {
    let n = STOPS.get();
    if n == 0 {
        return (0, 0, 0);
    }
    (
        STOP_MIN_NS.load(Ordering::Relaxed),
        STOP_TOTAL_NS.load(Ordering::Relaxed) / n,
        STOP_MAX_NS.load(Ordering::Relaxed),
    )
}

/// Time stoppers spent waiting for threads to stop after sending their
/// signals, in ns.
pub(crate) static STOP_WAIT_NS: AtomicU64 = AtomicU64::new(0);
/// Stop signals sent by stoppers (standalone: the rest are sent by the
/// threads being stopped, see `fanout.rs`).
pub(crate) static STOP_SIGNALS_BY_STOPPER: Counter = Counter::new();
/// Stop signals sent by threads being stopped, helping the stopper.
pub(crate) static STOP_SIGNALS_BY_HELPERS: Counter = Counter::new();

/// Stops that backed off (`host_stuck.rs`).
pub(crate) static STOP_BACKOFFS: Counter = Counter::new();
/// Threads counted as stopped while asleep on a Lisp mutex their stopper
/// holds (`host_adopt.rs`).
pub(crate) static STOP_ADOPTIONS: Counter = Counter::new();

/// Sleepers on a free Lisp mutex woken when an interrupted thread exited
/// (host mode, `host/rewake.rs`).
pub(crate) static MUTEX_REWAKES: Counter = Counter::new();

/// Collections that an `interrupt_thread` cons would have started inside
/// the runtime's `alloc_cons`, held off until the cons was queued (host
/// mode, `host/cons.rs`).
pub(crate) static GC_TRIGGERS_HELD: Counter = Counter::new();
/// Lisp mutexes given back because their holder was dead, found when an
/// interrupted thread exited (host mode, `host/abandoned.rs`).
pub(crate) static MUTEXES_GIVEN_BACK: Counter = Counter::new();
/// Resumes a new stop took back before their thread had seen them (host
/// mode with the resume wake, `host/resume.rs`).
pub(crate) static RESUMES_TAKEN_BACK: Counter = Counter::new();

/// Threads a stop counted as stopped without a signal because they sat in
/// a blocking region (`region.rs`).
pub(crate) static STOP_COUNTED_IN_REGIONS: Counter = Counter::new();
/// Leaves of a blocking region that waited for the world to be started.
pub(crate) static REGION_LEAVES_WAITED: Counter = Counter::new();

/// Host mode: threads resumed with a signal each, by the futex wake, and
/// stale stop signals taken by resumed threads (`host/resume.rs`).
pub(crate) static RESUME_SIGNALS: Counter = Counter::new();
pub(crate) static RESUME_WAKES: Counter = Counter::new();
pub(crate) static STALE_STOP_SIGNALS: Counter = Counter::new();

/// Records one wait of a stopper (after it sent its signals); by the
/// stopper, the only writer.
pub(crate) fn record_stop_wait(wall_ns: u64) {
    STOP_WAIT_NS.store(STOP_WAIT_NS.load(Ordering::Relaxed).wrapping_add(wall_ns), Ordering::Relaxed);
}

/// Monotonic clock in nanoseconds (`clock_gettime` is async-signal-safe).
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
