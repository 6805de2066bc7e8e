//! A small safe Rust API over the same core the C ABI uses, for a Rust
//! runtime that wants the registry, thread lifecycle, interrupts and
//! stop-the-world without going through `extern "C"` (standalone mode).
//!
//! ```
//! use sbthread::rt;
//!
//! rt::attach().expect("first thread of the process");
//! let worker = rt::spawn(|| (1..=10).sum::<usize>()).unwrap();
//! worker.wait_dead();
//! assert_eq!(worker.state(), rt::State::Dead);
//! worker.reap();
//! assert_eq!(rt::stats().threads_reaped, 1);
//! ```
//!
//! Rules carried over from the runtime: threads are created and reaped by
//! registered threads; interrupt functions run in a signal handler of the
//! target, so they must be async-signal-safe (no allocation, no locks the
//! target may hold); never wait for another thread inside
//! [`without_gcing`]; inside [`blocking`], touch no memory a collector
//! manages.

use core::ffi::c_void;

use crate::legacy::types::{lispobj, SbthreadClosure, SbthreadStats, Thread as CThread};
use crate::legacy::types::{SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_STARTING};
use crate::init;
use crate::legacy::hooks::Mode;
use crate::standalone::blocking as standalone_blocking;
use crate::standalone::deferral;
use crate::thread::thread_ref::ThreadRef;
use crate::interrupt;
use crate::lifecycle;
use crate::thread::registry;
use crate::world::stw;

/// A thread's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Made, not yet running its function.
    Starting,
    /// Running.
    Running,
    /// Running inside a blocking region ([`blocking`]): a stop of the world
    /// counts it as stopped without suspending it.
    Blocking,
    /// Stopped by a stop-the-world.
    Suspended,
    /// Its function returned; waiting to be reaped.
    Dead,
}

impl State {
    fn of(th: ThreadRef) -> State {
        match th.state() {
            SBTHREAD_STATE_STARTING => State::Starting,
            SBTHREAD_STATE_RUNNING if standalone_blocking::inside(th) => State::Blocking,
            SBTHREAD_STATE_RUNNING => State::Running,
            SBTHREAD_STATE_DEAD => State::Dead,
            _ => State::Suspended,
        }
    }
}

/// Why [`attach`] refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The process runs in host mode: its runtime registers threads.
    HostMode,
    /// The calling thread is registered already.
    AlreadyRegistered,
    /// Another thread is the initial thread.
    OtherThreadsExist,
}

/// Registers the calling thread as the process's first thread (it keeps
/// its own stack). Needed once before [`spawn`].
pub fn attach() -> Result<Thread, AttachError> {
    if init::mode() == Mode::Host {
        return Err(AttachError::HostMode);
    }
    if crate::thread::current().is_some() {
        return Err(AttachError::AlreadyRegistered);
    }
    if registry::head().is_some() {
        return Err(AttachError::OtherThreadsExist);
    }
    Ok(Thread(lifecycle::attach_initial_thread()))
}

/// A registered thread (a `struct thread *`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread(ThreadRef);

/// A thread made by [`spawn`]; it must be reaped with
/// [`Spawned::reap`] once dead (dropping the handle leaves it registered).
#[derive(Debug)]
pub struct Spawned(ThreadRef);

/// The calling thread, if registered.
pub fn current() -> Option<Thread> {
    { init::ensure(); crate::thread::current() }.map(Thread)
}

impl Thread {
    /// The C `struct thread *`.
    pub fn as_ptr(&self) -> *mut CThread {
        self.0.as_ptr()
    }

    /// The state now.
    pub fn state(&self) -> State {
        State::of(self.0)
    }
}

struct Packet {
    closure: SbthreadClosure,
    body: Option<Box<dyn FnOnce() -> usize + Send>>,
}

unsafe extern "C" fn run_packet(arg: *mut c_void) -> usize {
    // SAFETY: `arg` is the packet `spawn` leaked for exactly this call; the
    // library read `fn_` and `arg` before calling, so freeing it is fine.
    let mut packet = unsafe { Box::from_raw(arg.cast::<Packet>()) };
    let body = packet.body.take();
    drop(packet);
    body.map_or(0, |f| f())
}

/// Why [`spawn`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The caller is not a registered thread (see [`attach`]).
    NotRegistered,
    /// A mapping or `pthread_create` failed (or threads are disabled);
    /// nothing was leaked.
    Failed,
}

/// Starts a thread running `f`; its result becomes the thread's result.
pub fn spawn<F>(f: F) -> Result<Spawned, SpawnError>
where
    F: FnOnce() -> usize + Send + 'static,
{
    if current().is_none() {
        return Err(SpawnError::NotRegistered);
    }
    let packet = Box::into_raw(Box::new(Packet {
        closure: SbthreadClosure { fn_: Some(run_packet), arg: core::ptr::null_mut() },
        body: Some(Box::new(f)),
    }));
    // SAFETY: `packet` is a valid, uniquely owned allocation.
    unsafe { (*packet).closure.arg = packet.cast() };
    // SAFETY: as above; the closure is the packet's first field.
    let function = unsafe { &raw const (*packet).closure } as usize as lispobj;
    let th = lifecycle::create_thread(function);
    // SAFETY: create_thread returns NULL or a live thread.
    match unsafe { ThreadRef::new(th) } {
        Some(t) => Ok(Spawned(t)),
        None => {
            // SAFETY: the thread was not created, so the packet is ours.
            drop(unsafe { Box::from_raw(packet) });
            Err(SpawnError::Failed)
        }
    }
}

/// The thread is dead: it takes no interrupts.
#[derive(Debug, PartialEq, Eq)]
pub struct Dead;

/// An interrupt function: a plain `fn()` run in the target thread's
/// `SIG_INTERRUPT_THREAD` handler. Make it a `static`.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use sbthread::rt;
///
/// static HITS: AtomicUsize = AtomicUsize::new(0);
/// fn hit() { HITS.fetch_add(1, Ordering::SeqCst); }
/// static HIT: rt::Interrupt = rt::Interrupt::new(hit);
///
/// rt::attach().unwrap();
/// let t = rt::spawn(|| { while HITS.load(Ordering::SeqCst) == 0 {} 0 }).unwrap();
/// t.interrupt(&HIT).unwrap();
/// t.wait_dead();
/// assert_eq!(t.interrupt(&HIT), Err(rt::Dead));
/// t.reap();
/// assert_eq!(HITS.load(Ordering::SeqCst), 1);
/// ```
pub struct Interrupt(SbthreadClosure);

// SAFETY: an Interrupt holds a function pointer and a `fn()` pointer: both
// are plain code addresses, shareable between threads.
unsafe impl Sync for Interrupt {}

unsafe extern "C" fn run_fn(arg: *mut c_void) -> usize {
    // SAFETY: `arg` was made from a `fn()` by `Interrupt::new`.
    let f: fn() = unsafe { core::mem::transmute::<*mut c_void, fn()>(arg) };
    f();
    0
}

impl Interrupt {
    /// Wraps `f`.
    pub const fn new(f: fn()) -> Self {
        Interrupt(SbthreadClosure { fn_: Some(run_fn), arg: f as *mut c_void })
    }
}

impl Spawned {
    /// The thread as a [`Thread`].
    pub fn thread(&self) -> Thread {
        Thread(self.0)
    }

    /// The state now.
    pub fn state(&self) -> State {
        State::of(self.0)
    }

    /// Sleeps until the thread is dead.
    pub fn wait_dead(&self) {
        lifecycle::wait_until_dead(self.0);
    }

    /// Runs `f` once in the thread, or reports that it is dead.
    pub fn interrupt(&self, f: &'static Interrupt) -> Result<(), Dead> {
        let function = &raw const f.0 as usize as lispobj;
        if interrupt::interrupt_thread(self.0, function) == 0 { Ok(()) } else { Err(Dead) }
    }

    /// Waits until the thread is dead, then unregisters it and recycles its
    /// memory.
    pub fn reap(self) {
        self.wait_dead();
        lifecycle::reap_dead_thread(self.0.as_ptr());
    }
}

/// A stopped world: every other registered thread is suspended, dead, or
/// counted as stopped in a blocking region ([`State::Blocking`]), until
/// this is dropped.
///
/// ```
/// use sbthread::rt;
///
/// rt::attach().unwrap();
/// let t = rt::spawn(|| loop { std::hint::spin_loop() }).unwrap();
/// {
///     let world = rt::stop_the_world();
///     assert!(world.threads().all(|(th, state)| {
///         Some(th) == rt::current() || state == rt::State::Suspended
///     }));
/// } // started again here
/// ```
pub struct StoppedWorld(());

/// Stops every other registered thread.
pub fn stop_the_world() -> StoppedWorld {
    init::ensure();
    stw::stop_the_world();
    StoppedWorld(())
}

impl StoppedWorld {
    /// The registered threads and their states.
    pub fn threads(&self) -> impl Iterator<Item = (Thread, State)> + '_ {
        registry::iter().map(|t| (Thread(t), State::of(t)))
    }

    /// Calls `f` with the roots of every live thread, this one included;
    /// returns how many it visited. For a collector: while the world is
    /// stopped, scan each thread's registers, live stack and TLS. `f` must
    /// not allocate or take a lock a stopped thread may hold.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use sbthread::rt;
    ///
    /// static READY: AtomicBool = AtomicBool::new(false);
    /// static DONE: AtomicBool = AtomicBool::new(false);
    /// const MARK: usize = 0x5b7_0b5e_55ed_u64 as usize;
    ///
    /// rt::attach().unwrap();
    /// let t = rt::spawn(|| {
    ///     // A value that lives only on this thread's stack.
    ///     let local = std::hint::black_box([MARK ^ 1; 4]);
    ///     READY.store(true, Ordering::SeqCst);
    ///     while !DONE.load(Ordering::SeqCst) {}
    ///     std::hint::black_box(&local);
    ///     0
    /// }).unwrap();
    /// while !READY.load(Ordering::SeqCst) {}
    /// let (mut visited, mut found) = (0, false);
    /// {
    ///     let world = rt::stop_the_world();
    ///     world.roots(|r| {
    ///         if !r.is_self() {
    ///             for a in r.stack().step_by(8) {
    ///                 // SAFETY: the stack of a stopped thread, inside the range.
    ///                 found |= unsafe { (a as *const usize).read_volatile() } == MARK ^ 1;
    ///             }
    ///         }
    ///         visited += 1;
    ///     });
    /// }
    /// assert_eq!(visited, 2);
    /// assert!(found, "the stopped thread's local is on the part of its stack reported live");
    /// DONE.store(true, Ordering::SeqCst);
    /// t.reap();
    /// ```
    pub fn roots(&self, mut f: impl FnMut(&Roots<'_>)) -> usize {
        crate::world::roots::for_each(|r| f(&Roots(r))) as usize
    }
}

/// One live thread's roots in a stopped world ([`StoppedWorld::roots`]).
pub struct Roots<'a>(&'a crate::legacy::types::SbthreadRoots);

impl Roots<'_> {
    /// The thread.
    pub fn thread(&self) -> Thread {
        // SAFETY: a live registered thread; the world is stopped, so it
        // cannot be reaped while the handle is used in the visitor.
        Thread(unsafe { ThreadRef::new(self.0.thread) }.expect("a registered thread"))
    }

    /// Whether this is the calling thread.
    pub fn is_self(&self) -> bool {
        self.0.is_self != 0
    }

    /// Whether the thread is counted as stopped inside a blocking region
    /// (not suspended): its registers are those it had when it entered.
    pub fn in_blocking_region(&self) -> bool {
        self.0.in_blocking_region != 0
    }

    /// The saved registers (the whole `ucontext_t`), as words.
    pub fn registers(&self) -> &[usize] {
        // SAFETY: the context is valid and unchanged while the world is
        // stopped (a suspended thread's, or the caller's saved copy), and
        // 8-aligned.
        unsafe { core::slice::from_raw_parts(self.0.context.cast::<usize>(), self.0.context_size / 8) }
    }

    /// The live part of the stack, as addresses.
    pub fn stack(&self) -> core::ops::Range<usize> {
        self.0.stack_low as usize..self.0.stack_high as usize
    }

    /// The TLS area, as addresses.
    pub fn tls(&self) -> core::ops::Range<usize> {
        self.0.tls as usize..self.0.tls as usize + self.0.tls_size
    }
}

impl Drop for StoppedWorld {
    fn drop(&mut self) {
        stw::start_the_world();
    }
}

/// Runs `f` with GC inhibited: a stop of the world waits until it returns.
pub fn without_gcing<R>(f: impl FnOnce() -> R) -> R {
    init::ensure();
    deferral::without_gcing_enter();
    let r = f();
    deferral::without_gcing_leave();
    r
}

/// Runs `f` with interrupts deferred until it returns.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    init::ensure();
    deferral::without_interrupts_enter();
    let r = f();
    deferral::without_interrupts_leave();
    r
}

/// Runs `f` inside a blocking region: for a thread about to block (in a
/// system call, a lock, a condition variable) that will not touch memory
/// a collector manages until `f` returns. Meanwhile a stop of the world
/// counts this thread as stopped without signalling it (and does not wait
/// for it; its state is [`State::Blocking`], not `Suspended`: it runs on),
/// [`StoppedWorld::roots`] reports the registers it had when `blocking`
/// was called and its stack above that point, and interrupts sent to it
/// wait until `f` returns. If the world is stopped when `f` returns,
/// `blocking` waits until it is started. Regions nest.
///
/// Inside `f`: no [`without_gcing`], [`without_interrupts`],
/// [`pseudo_atomic`], [`stop_the_world`], [`spawn`] or reaping (each is
/// reported by `lose`); and `blocking` itself may not be called inside a
/// pseudo-atomic section or [`without_gcing`], nor while this thread holds
/// a stopped world.
///
/// ```
/// use std::io::{Read, Write};
/// use sbthread::rt;
///
/// rt::attach().unwrap();
/// let (mut rx, mut tx) = std::io::pipe().unwrap();
/// let reader = rt::spawn(move || {
///     let mut byte = [0u8; 1];
///     // Asleep in read(2): stops count this thread without a signal.
///     rt::blocking(|| rx.read_exact(&mut byte)).unwrap();
///     byte[0] as usize
/// }).unwrap();
/// // Stop and start until a stop has found the reader inside its region
/// // (it may not have entered it yet at the first ones).
/// let counted = rt::stats().stop_counted_in_regions;
/// while rt::stats().stop_counted_in_regions == counted {
///     let world = rt::stop_the_world();
///     assert!(world.threads().all(|(th, state)| {
///         Some(th) == rt::current() || state == rt::State::Suspended || state == rt::State::Blocking
///     }));
/// }
/// // From now on it stays there: 100 more stops, not one signal; it is
/// // not suspended (it sleeps in read), but counted as stopped.
/// let before = rt::stats();
/// for _ in 0..100 {
///     let world = rt::stop_the_world();
///     assert_eq!(reader.state(), rt::State::Blocking);
///     let mut in_region = 0;
///     world.roots(|r| in_region += usize::from(r.in_blocking_region()));
///     assert_eq!(in_region, 1);
/// }
/// let after = rt::stats();
/// assert_eq!(after.stops, before.stops + 100);
/// assert_eq!(after.stop_counted_in_regions, before.stop_counted_in_regions + 100);
/// assert_eq!(after.stop_signals_by_stopper, before.stop_signals_by_stopper);
/// tx.write_all(b"x").unwrap();
/// reader.wait_dead();
/// assert_eq!(reader.state(), rt::State::Dead);
/// reader.reap();
/// ```
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    /// Leaves the region when `f` returns, or unwinds.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            standalone_blocking::leave();
        }
    }
    init::ensure();
    // SAFETY: `enter_with` takes what the saver saved; this frame (and
    // `f`'s captures in it) stays live until the region is left.
    unsafe { standalone_blocking::save_registers_and_call(standalone_blocking::enter_with) };
    let _leave = Leave;
    f()
}

/// Runs `f` as a pseudo-atomic section: stops and interrupts wait.
pub fn pseudo_atomic<R>(f: impl FnOnce() -> R) -> R {
    init::ensure();
    deferral::pseudo_atomic_enter();
    let r = f();
    deferral::pseudo_atomic_leave();
    r
}

/// The library's counters.
pub fn stats() -> SbthreadStats {
    let mut s = core::mem::MaybeUninit::<SbthreadStats>::uninit();
    // SAFETY: `s` is writable for one struct.
    unsafe {
        crate::abi::ext::sbthread_stats(s.as_mut_ptr());
        s.assume_init()
    }
}
