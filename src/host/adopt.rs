//! Host mode: a sleeper that waits for a Lisp mutex the stopper itself
//! holds, counted as stopped — the measure `ADOPT` (`measures.rs`,
//! `SBTHREAD_ADOPT=0`). Test: `sbcl/lisp/gc-in-lock.lisp` (a collection
//! inside `WITH-MUTEX *ALL-THREADS-LOCK*` while a thread ends: without
//! adoption the stop waits for ever).
//!
//! 0.9.4.1 can start a collection anywhere Lisp code allocates, also
//! inside `MAKE-THREAD`'s `(with-mutex (*all-threads-lock*) (push ...))`
//! (`src/code/target-thread.lisp:514`);
//! a thread ending at that moment waits for that lock in its exit code
//! with its stop deferred. Backing off (`stuck.rs`) cannot help: the
//! lock is the stopper's. But such a sleeper cannot run again before the
//! stopper releases the mutex, which it does only after the world is
//! started again: a Lisp mutex wakes its waiters only in RELEASE-MUTEX,
//! and the sleeper has the blockable signals blocked. So the stopper
//! counts it as stopped, and gives the collector what a suspended thread
//! would give it: a context whose stack pointer is the sleeper's (from
//! `/proc/self/task/TID/syscall`), pushed on the thread's
//! `interrupt_contexts[]`, so that its whole stack is scanned
//! conservatively (0.9.4.1's foreign calls leave every live Lisp value on
//! the stack). `gc_start_the_world` pops it.
//!
//! The holder is read from the mutex word (`lisp_mutex.rs`: every read
//! checked, a bad guess gives an error, not a fault); the sleeper is
//! adopted only if the holder is exactly the stopper.
//!
//! The sleeper's stop signal is still its own: if its handler deferred it
//! (`STOP_FOR_GC_PENDING`), the release clears that; if it is still
//! queued behind the blocked mask, it stays owed (`Private::stop_sent`),
//! no later stop sends another, and it either dies with the thread (the
//! exit code never unblocks) or is honoured later as a suspension that the
//! next stop counts and resumes.
//!
//! The same holds when the holder is not the stopper but a thread that
//! cannot run before the world is started again: one this stop has
//! suspended (or that is DEAD, or is itself adopted). 0.9.4.1 deadlocks
//! that way with three threads: `MAKE-THREAD`'s allocation under
//! `*all-threads-lock*` starts a collection and waits for
//! `*already-in-gc*`, which the collecting thread holds, while a dying
//! thread waits for `*all-threads-lock*` with its stop deferred; backing
//! off resumes the holder, which only goes back to sleep on the
//! stopper's mutex (found by `sbcl/lisp/stress-poll.lisp`; regression
//! test `sbcl/lisp/gc-behind-lock.lisp`). So the stopper adopts sleepers
//! only once every other thread is stopped ([`adopt_sleepers`]): then
//! nothing that could release their mutexes runs until
//! `gc_start_the_world`, which releases every adoption before it resumes
//! any thread ([`release_context`], then [`forget`]).

use core::sync::atomic::Ordering;

use super::lisp_mutex;
use super::proc;
use crate::diag::lose::addr;
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::legacy::lisp::{sym, NIL, T};
use crate::legacy::types::{os_context_t, SBTHREAD_MAX_INTERRUPTS};
use crate::thread::contexts;
use crate::thread::symbols::{set_symbol_value, symbol_value};
use crate::thread::thread_ref::ThreadRef;

/// Contexts for adopted threads; only a stopper holding
/// `all_threads_lock` touches them, and only the collector (on the same
/// thread) reads them while they are pushed.
struct Pool([core::cell::UnsafeCell<core::mem::MaybeUninit<libc::ucontext_t>>; POOL]);
// SAFETY: used only by the one stopper that holds `all_threads_lock`.
unsafe impl Sync for Pool {}
const POOL: usize = 8;
static CONTEXTS: Pool = Pool([const { core::cell::UnsafeCell::new(core::mem::MaybeUninit::zeroed()) }; POOL]);
/// Bit i set: `CONTEXTS[i]` in use (stopper only).
static IN_USE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// The `adopted` word of a thread whose context was released by the
/// start in progress (it still needs no resume).
const RELEASED: u32 = u32::MAX;

/// Most sleepers [`adopt_sleepers`] considers in one stop.
const MAX_SLEEPERS: usize = POOL;

/// Whether `th` is counted as stopped by adoption in the current stop.
pub(crate) fn adopted(th: ThreadRef) -> bool {
    th.private().adopted.load(Ordering::Relaxed) != 0
}

/// Stopper (`me`), holding `all_threads_lock`, every other thread stopped
/// except sleepers seen asleep with their stop deferred: adopts each
/// sleeper on a Lisp mutex that `me` holds, then, if the others all sleep
/// on Lisp mutexes held by `me`, by stopped threads or by another such
/// sleeper, adopts them all (none of them can run before
/// `gc_start_the_world`). `stopped` says whether a thread counts as
/// stopped for the stop in progress. Returns how many sleepers are left.
pub(crate) fn adopt_sleepers(me: Option<ThreadRef>, stopped: fn(ThreadRef) -> bool) -> usize {
    let sleepers = || crate::thread::registry::iter().filter(move |t| Some(*t) != me && !stopped(*t));
    let Some(me) = me else { return sleepers().count() };
    for th in sleepers() {
        try_adopt(Some(me), th);
    }
    let mut pending = [None; MAX_SLEEPERS];
    let mut n = 0;
    for th in sleepers() {
        if n == MAX_SLEEPERS {
            return sleepers().count();
        }
        pending[n] = Some(th);
        n += 1;
    }
    let pending: [ThreadRef; MAX_SLEEPERS] = core::array::from_fn(|i| pending[i].unwrap_or(me));
    if n == 0 || adopt_behind_stopped(me, &pending[..n], stopped) { 0 } else { n }
}

/// Stopper (`me`), holding `all_threads_lock`: adopts `th` if it sleeps
/// in a FUTEX_WAIT on a Lisp mutex that `me` holds (it cannot run before
/// `me` starts the world, whatever other threads do). True if adopted.
pub(crate) fn try_adopt(me: Option<ThreadRef>, th: ThreadRef) -> bool {
    let Some(me) = me else { return false };
    match lisp_mutex_wait(th) {
        Some((w, holder)) if holder == me.as_ptr() as u64 => adopt(th, &w),
        _ => false,
    }
}

/// Adopts every one of `pending` if each sleeps on a Lisp mutex held by
/// `me`, by a thread that is stopped, or by another of them that
/// qualifies; otherwise adopts none and returns false.
fn adopt_behind_stopped(me: ThreadRef, pending: &[ThreadRef], stopped: fn(ThreadRef) -> bool) -> bool {
    let mut waits: [Option<(proc::FutexWait, u64)>; MAX_SLEEPERS] = [const { None }; MAX_SLEEPERS];
    let mut holders = [None; MAX_SLEEPERS];
    let mut ids = [0u64; MAX_SLEEPERS];
    for (i, th) in pending.iter().enumerate() {
        waits[i] = lisp_mutex_wait(*th);
        holders[i] = waits[i].as_ref().map(|(_, h)| *h);
        ids[i] = th.as_ptr() as u64;
    }
    let n = pending.len();
    if !all_behind_stopped(&holders[..n], &ids[..n], me.as_ptr() as u64, |h| holder_is_stopped(h, pending, stopped)) {
        return false;
    }
    trace!(1, "gc_stop_the_world: {} sleeper(s) wait behind stopped threads; adopting them", n);
    for (th, w) in pending.iter().zip(&waits) {
        if !w.as_ref().is_some_and(|(w, _)| adopt(*th, w)) {
            // Cannot happen with a context per sleeper and a depth checked
            // by lisp_mutex_wait; undo, to stay consistent.
            for t in pending {
                if release_context(*t) {
                    forget(*t);
                }
            }
            return false;
        }
    }
    true
}

/// Whether every sleeper `i` (thread `ids[i]`, waiting for a mutex held by
/// `holders[i]`, None if it is not asleep on a Lisp mutex) waits behind
/// `me`, behind a thread `stopped` says is stopped, or behind another
/// sleeper that does, along a chain of any length; a cycle of sleepers
/// alone does not qualify (nothing would show they stay asleep).
fn all_behind_stopped(holders: &[Option<u64>], ids: &[u64], me: u64, stopped: impl Fn(u64) -> bool) -> bool {
    let mut ok = [false; MAX_SLEEPERS];
    loop {
        let mut grew = false;
        for (i, holder) in holders.iter().enumerate() {
            let Some(h) = *holder else { continue };
            if ok[i] {
                continue;
            }
            let behind_sleeper = ids.iter().zip(ok).any(|(id, y)| y && *id == h);
            let behind_other = !ids.contains(&h) && (h == me || stopped(h));
            if behind_sleeper || behind_other {
                ok[i] = true;
                grew = true;
            }
        }
        if !grew {
            return ok[..holders.len()].iter().all(|y| *y);
        }
    }
}

/// Whether the registered thread whose `struct thread` is at `holder`
/// (not one of `pending`) is SUSPENDED, DEAD or adopted: it runs no Lisp
/// before the world is started again.
fn holder_is_stopped(holder: u64, pending: &[ThreadRef], stopped: fn(ThreadRef) -> bool) -> bool {
    crate::thread::registry::iter().any(|t| t.as_ptr() as u64 == holder && !pending.contains(&t) && stopped(t))
}

/// The FUTEX_WAIT `th` sleeps in, on a Lisp mutex, with the mutex's
/// holder (its `struct thread` address), if its stack pointer lies in its
/// control stack and its context stack has room.
fn lisp_mutex_wait(th: ThreadRef) -> Option<(proc::FutexWait, u64)> {
    let w = proc::futex_wait_of(th.private().tid.load(Ordering::Relaxed))?;
    let holder = lisp_mutex::holder(w.uaddr, w.expected)?.thread;
    let (low, high) = (th.block_start() as u64, th.control_stack_end() as u64);
    if w.sp < low || w.sp >= high || contexts::depth(th) >= SBTHREAD_MAX_INTERRUPTS as usize {
        return None;
    }
    Some((w, holder))
}

/// Counts `th` as stopped, its stack scanned from the stack pointer of the
/// wait `w` (module comment). False when no context slot is free.
fn adopt(th: ThreadRef, w: &proc::FutexWait) -> bool {
    let index = contexts::depth(th);
    if index >= SBTHREAD_MAX_INTERRUPTS as usize {
        return false;
    }
    let used = IN_USE.load(Ordering::Relaxed);
    let Some(slot) = (0..POOL).find(|i| used & (1 << i) == 0) else { return false };
    IN_USE.store(used | (1 << slot), Ordering::Relaxed);
    let ctx = CONTEXTS.0[slot].get().cast::<libc::ucontext_t>();
    // SAFETY: slot `slot` is ours (IN_USE) until release; zero is a valid
    // ucontext_t; gregs has NGREG entries, REG_RSP and REG_RIP among them.
    unsafe {
        ctx.write_bytes(0, 1);
        (*ctx).uc_mcontext.gregs[libc::REG_RSP as usize] = w.sp as i64;
        (*ctx).uc_mcontext.gregs[libc::REG_RIP as usize] = w.pc as i64;
    }
    contexts::push(th, index, ctx.cast::<os_context_t>());
    th.private().adopted.store(slot as u32 + 1, Ordering::Relaxed);
    stats::STOP_ADOPTIONS.bump();
    trace!(
        1,
        "gc_stop_the_world: thread {:#x} sleeps on a Lisp mutex whose holder cannot run before the world starts; counted as stopped (sp {:#x})",
        addr(th.as_ptr()),
        w.sp
    );
    true
}

/// Stopper, starting the world, before it resumes anyone: pops the
/// stand-in context of `th` if it was adopted (an adopted sleeper may wait
/// for a thread the start resumes, and must not run with it still
/// pushed). True if `th` was adopted; it stays marked until [`forget`].
pub(crate) fn release_context(th: ThreadRef) -> bool {
    let p = th.private();
    let slot = p.adopted.load(Ordering::Relaxed);
    if slot == 0 || slot == RELEASED {
        return false;
    }
    contexts::pop(th, contexts::depth(th).max(1) - 1);
    if symbol_value(sym::STOP_FOR_GC_PENDING, Some(th)) == T {
        // Deferred by the handler: the signal is spent; forget the stop.
        set_symbol_value(sym::STOP_FOR_GC_PENDING, NIL, Some(th));
        p.stop_sent.store(0, Ordering::Relaxed);
    }
    IN_USE.fetch_and(!(1 << (slot - 1)), Ordering::Relaxed);
    p.adopted.store(RELEASED, Ordering::Relaxed);
    true
}

/// Stopper, starting the world: true if `th` was adopted and released by
/// [`release_context`] (it needs no resume: it never suspended); clears
/// the mark.
pub(crate) fn forget(th: ThreadRef) -> bool {
    th.private().adopted.swap(0, Ordering::Relaxed) == RELEASED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleepers_qualify_behind_me_stopped_threads_and_chains_only() {
        let (me, a, b, c, suspended, running) = (1, 10, 20, 30, 40, 50);
        let stopped = |h: u64| h == suspended;
        // Directly behind the stopper, or behind a suspended thread.
        assert!(all_behind_stopped(&[Some(me), Some(suspended)], &[a, b], me, stopped));
        // A chain: c waits for b, b for a, a for the stopper.
        assert!(all_behind_stopped(&[Some(me), Some(a), Some(b)], &[a, b, c], me, stopped));
        assert!(all_behind_stopped(&[Some(b), Some(suspended)], &[a, b], me, stopped));
        // Behind a running thread, or not on a Lisp mutex at all.
        assert!(!all_behind_stopped(&[Some(me), Some(running)], &[a, b], me, stopped));
        assert!(!all_behind_stopped(&[Some(me), None], &[a, b], me, stopped));
        // A cycle of sleepers proves nothing.
        assert!(!all_behind_stopped(&[Some(b), Some(a)], &[a, b], me, stopped));
        // A sleeper's own id is never "stopped", even if the callback says so.
        assert!(!all_behind_stopped(&[Some(a)], &[a], me, |_| true));
        assert!(all_behind_stopped(&[], &[], me, stopped));
    }
}
