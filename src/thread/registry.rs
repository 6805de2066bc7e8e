//! The thread registry: the `all_threads` list and the discipline of
//! `all_threads_lock`.
//!
//! Lock rules (from seeds 000 and 002):
//! - Every taker except the stopper goes through [`AllThreadsLock`]: it
//!   blocks the deferrable signals, then checks that `SIG_STOP_FOR_GC` can
//!   still arrive (not blocked, GC not inhibited, not pseudo-atomic), then
//!   locks. A thread waiting for the lock can therefore always be stopped
//!   by a stopper that holds it; otherwise they would deadlock.
//! - The stopper locks in `gc_stop_the_world` and unlocks in
//!   `gc_start_the_world`, on the same thread, without changing its mask.
//! - List changes (link, unlink) happen only under the lock, and so does
//!   the DEAD transition in standalone mode: while the world is stopped the
//!   list does not change, and (standalone) neither does the set of live
//!   threads. In host mode a thread becomes DEAD without the lock, as in
//!   0.9.4.1 (`host_protocol.rs`): a stopper counts it as stopped.
//! - Readers that do not hold the lock see a consistent list because
//!   links are published with release stores, and the library never
//!   unlinks a thread whose block another thread might still be walking
//!   (reaping happens under the lock, blocks are freed after).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::legacy::globals::{all_threads, all_threads_lock};
use crate::legacy::hooks::hooks;
use crate::legacy::lisp::{sym, NIL};
use crate::thread::symbols::{symbol_value};
use crate::diag::lose::{addr, lose, state_name};
use crate::sys::sigset::{self, MaskGuard};
use crate::thread::thread_ref::ThreadRef;

/// First thread in `all_threads`.
pub(crate) fn head() -> Option<ThreadRef> {
    // SAFETY: list members are live blocks (module invariant).
    unsafe { ThreadRef::new(all_threads.load(Ordering::Acquire)) }
}

/// Iterator over `all_threads`.
pub(crate) struct Iter(Option<ThreadRef>);

impl Iterator for Iter {
    type Item = ThreadRef;
    fn next(&mut self) -> Option<ThreadRef> {
        let cur = self.0?;
        self.0 = cur.next();
        Some(cur)
    }
}

/// Walks `all_threads` from the head.
pub(crate) fn iter() -> Iter {
    Iter(head())
}

/// Threads on the list (kept as a counter so that it can be read without
/// the lock).
static LIVE: AtomicU64 = AtomicU64::new(0);

/// Number of threads on the list.
pub(crate) fn live() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

/// Puts `th` at the front (`link_thread`). Caller holds the lock, or is
/// the only thread (the initial thread).
pub(crate) fn push_front(th: ThreadRef) {
    let old = all_threads.load(Ordering::Acquire);
    if let Some(old) = head() {
        old.prev_word().store(th.as_ptr(), Ordering::Release);
    }
    th.next_word().store(old, Ordering::Release);
    th.prev_word().store(core::ptr::null_mut(), Ordering::Release);
    let slot = crate::thread::table::take(th.as_ptr());
    th.private().slot.store((slot as *const crate::thread::table::Slot).cast_mut(), Ordering::Release);
    all_threads.store(th.as_ptr(), Ordering::Release);
    LIVE.fetch_add(1, Ordering::Relaxed);
}

/// Takes `th` off the list. Caller holds the lock.
pub(crate) fn unlink(th: ThreadRef) {
    let next = th.next_word().load(Ordering::Acquire);
    match th.prev() {
        Some(prev) => prev.next_word().store(next, Ordering::Release),
        None => all_threads.store(next, Ordering::Release),
    }
    if let Some(next) = th.next() {
        next.prev_word().store(th.prev_word().load(Ordering::Acquire), Ordering::Release);
    }
    crate::thread::table::give_back(crate::thread::slot_of(th));
    th.private().slot.store(core::ptr::null_mut(), Ordering::Release);
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// Calls `f` with every registered thread and its stop-table slot, in
/// table order (for a stopper, which holds the lock: cheaper to walk than
/// `all_threads` when it needs no more of a thread than its slot).
pub(crate) fn for_each_member(mut f: impl FnMut(ThreadRef, &'static crate::thread::table::Slot)) {
    crate::thread::table::for_each_in_use(|s, th| {
        // SAFETY: a slot in use holds a linked thread (module invariant),
        // non-null (checked by the walk).
        f(unsafe { ThreadRef::new(th).unwrap_unchecked() }, s)
    });
}

/// `check_sig_stop_for_gc_can_arrive_or_lose`, naming `caller`.
pub(crate) fn check_sig_stop_for_gc_can_arrive(caller: &str) {
    let blocked = sigset::contains(&sigset::current_mask(), sigset::sig_stop_for_gc());
    check_stop_can_arrive(caller, blocked);
}

/// The same, when the caller already knows whether the signal is blocked.
fn check_stop_can_arrive(caller: &str, stop_blocked: bool) {
    let h = hooks();
    let th = crate::thread::current();
    let (t, state) = th.map_or((0, "not registered"), |t| (addr(t.as_ptr()), state_name(t.state())));
    if stop_blocked {
        lose!("{}: SIG_STOP_FOR_GC cannot arrive: it is blocked (thread {:#x}, state {})", caller, t, state);
    }
    if symbol_value(sym::GC_INHIBIT, th) != NIL {
        lose!("{}: SIG_STOP_FOR_GC cannot arrive: gc is inhibited (thread {:#x}, state {})", caller, t, state);
    }
    if h.arch_pseudo_atomic_atomic() {
        lose!("{}: SIG_STOP_FOR_GC cannot arrive: in pseudo atomic (thread {:#x}, state {})", caller, t, state);
    }
}

/// The pthread that holds the lock for a stopped world, or 0.
static STOPPER: AtomicU64 = AtomicU64::new(0);

fn self_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// Whether the calling thread has stopped the world.
pub(crate) fn i_am_stopper() -> bool {
    STOPPER.load(Ordering::Acquire) == self_id()
}

fn mutex_lock(caller: &str) {
    // SAFETY: the mutex is a process-lifetime global.
    let r = unsafe { libc::pthread_mutex_lock(all_threads_lock.get()) };
    if r != 0 {
        lose!("{}: pthread_mutex_lock(all_threads_lock) failed: {}", caller, crate::diag::lose::errno_name(r));
    }
}

fn mutex_unlock(caller: &str) {
    // SAFETY: the mutex is a process-lifetime global, held by this thread.
    let r = unsafe { libc::pthread_mutex_unlock(all_threads_lock.get()) };
    if r != 0 {
        lose!("{}: pthread_mutex_unlock(all_threads_lock) failed: {}", caller, crate::diag::lose::errno_name(r));
    }
}

/// `all_threads_lock` taken by the `GET_ALL_THREADS_LOCK` rule; released,
/// and the signal mask restored, on drop. While it is held no stop is in
/// progress (the stopper would hold the lock) and the deferrables,
/// `SIG_INTERRUPT_THREAD` among them, are blocked: the interrupt-queue
/// spinlock may be taken under it.
#[must_use = "the lock is released when the guard is dropped"]
pub(crate) struct AllThreadsLock<'m> {
    caller: &'static str,
    _mask: Mask<'m>,
}

/// The deferrables-blocked mask a lock guard relies on: its own, or one
/// the caller keeps for several acquisitions.
enum Mask<'m> {
    Own(#[allow(dead_code)] MaskGuard),
    Borrowed(#[allow(dead_code)] &'m MaskGuard),
}

impl AllThreadsLock<'static> {
    /// Blocks deferrables, checks that a stop can arrive, locks.
    pub(crate) fn acquire(caller: &'static str) -> Self {
        let mask = MaskGuard::deferrables();
        Self::lock(caller, mask.blocks_stop(), Mask::Own(mask))
    }

    /// As [`AllThreadsLock::acquire`], with `SIG_STOP_FOR_GC` unblocked
    /// first if the caller had it blocked (thread exit: the host's Lisp code
    /// may return with it blocked).
    pub(crate) fn acquire_opening_stop(caller: &'static str) -> Self {
        let mask = MaskGuard::deferrables_stop_open();
        Self::lock(caller, mask.blocks_stop(), Mask::Own(mask))
    }
}

impl<'m> AllThreadsLock<'m> {
    /// Locks under a mask the caller holds (made by
    /// `MaskGuard::deferrables`), saving the mask changes of taking the lock
    /// several times in a row.
    pub(crate) fn acquire_under(caller: &'static str, deferrables: &'m MaskGuard) -> Self {
        Self::lock(caller, deferrables.blocks_stop(), Mask::Borrowed(deferrables))
    }

    fn lock(caller: &'static str, stop_blocked: bool, mask: Mask<'m>) -> Self {
        check_stop_can_arrive(caller, stop_blocked);
        if let Some(th) = crate::thread::current()
            && crate::thread::region_depth(th) != 0
        {
            lose!(
                "{}: thread {:#x} is inside a blocking region, where it may not take all_threads_lock (create or reap threads); leave the region first",
                caller,
                addr(th.as_ptr())
            );
        }
        if i_am_stopper() {
            lose!("{}: this thread stopped the world and holds all_threads_lock; call gc_start_the_world first", caller);
        }
        mutex_lock(caller);
        Self { caller, _mask: mask }
    }
}

impl Drop for AllThreadsLock<'_> {
    fn drop(&mut self) {
        mutex_unlock(self.caller);
        // `_mask`, if owned, is dropped after this and restores the mask.
    }
}

/// Stoppers take turns in the order they arrive: the mutex alone is not
/// fair, and a thread waiting for it is suspended by each winner's stop and
/// then races the threads that winner resumes, so under a collector that
/// stops the world from many threads one caller could wait for hundreds
/// of other stops. A ticket (`STOP_TICKETS`) gives the order; the holder
/// of the turn (`STOP_TURN`) then takes the mutex, which it shares only
/// with short critical sections. Waiting for the turn is a futex wait: a
/// stop signal interrupts it (the waiter stays stoppable, as the lock rule
/// requires) and the wait resumes after.
static STOP_TICKETS: AtomicU32 = AtomicU32::new(0);
static STOP_TURN: AtomicU32 = AtomicU32::new(0);

/// `p` as a registered thread, found without walking the list (reaping
/// thousands of dead threads, as 0.9.4.1 does after a collection, would
/// otherwise walk it once per thread): the page of `p` is mapped
/// (`mincore`), the struct there points to itself, its block starts where
/// a block holding it would, and the block's private words are a live
/// thread's. A reaped thread fails one of these (its `this` is cleared
/// when its block goes to the cache or is unmapped). For callers holding
/// `all_threads_lock`, so that nothing is reaped meanwhile.
pub(crate) fn registered(p: *mut crate::legacy::types::Thread, _held: &AllThreadsLock<'_>) -> Option<ThreadRef> {
    let page = crate::thread::block::page_size();
    let mut resident = 0u8;
    // SAFETY: mincore only inspects the mapping of one page; it fails with
    // ENOMEM when the page is not mapped.
    if unsafe { libc::mincore(((p as usize) & !(page - 1)) as *mut libc::c_void, 1, &mut resident) } != 0 {
        return None;
    }
    // SAFETY: the page is mapped; the words are read atomically below.
    let th = unsafe { ThreadRef::new(p) }?;
    if !th.is_self_consistent() || th.block_start() as usize + crate::thread::block::layout().tls_offset != p as usize {
        return None;
    }
    (th.private().magic.load(Ordering::Acquire) == crate::thread::block::PRIVATE_MAGIC).then_some(th)
}

/// Takes the lock for a stop-the-world (no mask change, as the original).
pub(crate) fn lock_for_stop() {
    if i_am_stopper() {
        lose!("gc_stop_the_world: this thread has already stopped the world");
    }
    let ticket = STOP_TICKETS.fetch_add(1, Ordering::SeqCst);
    loop {
        let turn = STOP_TURN.load(Ordering::SeqCst);
        if turn == ticket {
            break;
        }
        crate::sys::futex::wait(&STOP_TURN, turn, None);
    }
    mutex_lock("gc_stop_the_world");
    STOPPER.store(self_id(), Ordering::Release);
}

/// Releases the lock at the end of `gc_start_the_world`, and passes the
/// turn on, waking the waiting stoppers if there are any: a waiter took
/// its ticket before it read the turn, so either it reads the new turn, or
/// the ticket is seen here (both sides are sequentially consistent).
pub(crate) fn unlock_after_start() {
    STOPPER.store(0, Ordering::Release);
    mutex_unlock("gc_start_the_world");
    let turn = STOP_TURN.fetch_add(1, Ordering::SeqCst) + 1;
    if STOP_TICKETS.load(Ordering::SeqCst) != turn {
        crate::sys::futex::wake_all(&STOP_TURN);
    }
}

/// Loses unless the caller stopped the world.
pub(crate) fn assert_stopper(caller: &str) {
    if !i_am_stopper() {
        let s = STOPPER.load(Ordering::Acquire);
        if s == 0 {
            lose!("{}: the world is not stopped (no gc_stop_the_world before it)", caller);
        }
        lose!("{}: the world was stopped by another thread ({:#x})", caller, s);
    }
}
