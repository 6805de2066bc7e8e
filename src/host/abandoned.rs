//! Host mode: a Lisp mutex whose holder has died, given back — the
//! measure `ABANDONED` (`measures.rs`, `SBTHREAD_ABANDONED=0`). Tests:
//! `sbcl/lisp/abandoned-mutex.lisp` (the real runtime; upstream's thread
//! code exits 3 there) and this module's unit tests.
//!
//! 0.9.4.1's `WITH-MUTEX` (`src/code/thread.lisp:22-26`) calls `GET-MUTEX`
//! and only then enters the `UNWIND-PROTECT` whose cleanup releases the
//! mutex, with interrupts enabled all the while. A `TERMINATE-THREAD`
//! whose signal lands between the two unwinds the thread past a cleanup
//! that was never set up: the thread exits holding the mutex, and every
//! thread that asks for it sleeps for ever. Later SBCLs take the mutex
//! inside `WITHOUT-INTERRUPTS`. Seen in `stress-terminate.lisp`: consers
//! terminated while they collect, inside `RUN-PENDING-FINALIZERS`'s
//! `(with-mutex (*finalizer-store-lock*) ...)` (`src/code/final.lisp:83`,
//! under `WITHOUT-GCING`, which does not hold interrupts off); four
//! threads asleep on the lock, held by a thread that was gone
//! (RELIABILITY.md).
//!
//! A DEAD thread never releases anything, so a mutex it holds is free in
//! all but its value; and the thread unwound before its body ran, so what
//! the mutex guards is as the last release left it. When a thread that
//! was sent an interrupt exits (only such a thread can be unwound there),
//! the exit's scan of sleepers (`rewake.rs`) asks [`release`] about each:
//! a sleeper on a mutex whose holder is the exiting thread, or a thread
//! already DEAD (one whose mutex found its first sleeper later), gets the
//! mutex's value swapped from that holder to NIL and its word woken. The
//! swap is a compare-and-swap from the very holder read: a thread taking
//! the mutex at the same moment either sees NIL or its own value stays.
//!
//! When: before the exiting thread is DEAD, so no collection can be in
//! progress or start while the words are read and written (a stopper
//! waits for the exiting thread, whose stop signal is blocked): the
//! mutex cannot move between the read and the swap.
//!
//! What it cannot see: a mutex whose first sleeper comes after the
//! holder's exit and after every later exit of an interrupted thread; it
//! is given back at the next such exit.

use core::sync::atomic::{AtomicU64, Ordering};

use super::lisp_mutex::{self, read_word};
use super::measures::ABANDONED;
use super::proc::FutexWait;
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::legacy::lisp::NIL;
use crate::legacy::types::{Thread, SBTHREAD_STATE_DEAD};

/// If the sleeper's wait `w` is on a Lisp mutex held by the exiting
/// thread (`exiting`, its `struct thread` address) or by a DEAD one, gives
/// the mutex back and wakes its sleepers; how many the kernel woke.
pub(super) fn release(w: &FutexWait, exiting: u64) -> u64 {
    if !ABANDONED.on() {
        return 0;
    }
    let Some(h) = lisp_mutex::holder(w.uaddr, w.expected) else { return 0 };
    if h.thread != exiting && !is_dead_thread(h.thread) {
        return 0;
    }
    // SAFETY: the word was just read (it is mapped) and is 8-byte
    // aligned (read_word checks); it is a Lisp mutex's value slot, which
    // the runtime itself changes only with atomic instructions. No
    // collection can move it meanwhile (module comment).
    let word = unsafe { AtomicU64::from_ptr(w.uaddr as usize as *mut u64) };
    if word.compare_exchange(h.owner, NIL, Ordering::SeqCst, Ordering::Relaxed).is_err() {
        return 0;
    }
    stats::MUTEXES_GIVEN_BACK.bump();
    let n = w.wake_all();
    trace!(1, "thread exit: Lisp mutex word {:#x} held by the dead thread {:#x}: given back, {} sleeper(s) woken (ABANDONED)", w.uaddr, h.thread, n);
    n
}

/// Whether a `struct thread` is at `at` (its `this` points to itself) and
/// is DEAD. A DEAD thread's struct stays until `reap_dead_thread`, which
/// its Lisp finalizer calls only once the `thread` instance is garbage:
/// never while a mutex still names it.
fn is_dead_thread(at: u64) -> bool {
    let this = at + core::mem::offset_of!(Thread, this) as u64;
    let state = at + core::mem::offset_of!(Thread, state) as u64;
    read_word(this) == Some(at) && read_word(state) == Some(SBTHREAD_STATE_DEAD)
}

#[cfg(test)]
mod tests {
    use super::super::lisp_mutex::tests::{fake_mutex, FakeThread, Obj};
    use super::*;
    use crate::legacy::types::SBTHREAD_STATE_RUNNING;

    fn wait_on(m: &Obj<4>, expected: u64) -> FutexWait {
        FutexWait { uaddr: m.0.as_ptr() as u64 + 24, expected: expected as u32, sp: 0, pc: 0, private_flag: 0 }
    }

    /// A fake `struct thread`: zeroed but for `this` and `state`.
    fn fake_struct(state: u64) -> Box<core::mem::MaybeUninit<Thread>> {
        let mut t = Box::new(core::mem::MaybeUninit::<Thread>::zeroed());
        let p = t.as_mut_ptr();
        // SAFETY: `p` points to our own zeroed Thread; plain field writes.
        unsafe {
            (*p).this = p;
            (*p).state = state;
        }
        t
    }

    #[test]
    fn only_a_mutex_of_the_exiting_or_a_dead_thread_is_given_back() {
        let layout = Obj([0u64; 2]);
        let running = fake_struct(SBTHREAD_STATE_RUNNING);
        let dead = fake_struct(SBTHREAD_STATE_DEAD);
        let (running, dead) = (running.as_ptr() as u64, dead.as_ptr() as u64);
        let exiting = 0x7f00_1000u64;

        // Held by a running thread: left alone.
        let t = FakeThread::new(running);
        let m = fake_mutex(&layout, t.owner());
        assert_eq!(release(&wait_on(&m, t.owner()), exiting), 0);
        assert_eq!(core::hint::black_box(&m).0[3], t.owner());

        // Held by the exiting thread, or by a DEAD one: given back.
        for holder in [exiting, dead] {
            let t = FakeThread::new(holder);
            let m = fake_mutex(&layout, t.owner());
            let before = stats::MUTEXES_GIVEN_BACK.get();
            assert_eq!(release(&wait_on(&m, t.owner()), exiting), 0, "nobody really sleeps there");
            assert_eq!(core::hint::black_box(&m).0[3], NIL, "holder {holder:#x}");
            assert!(stats::MUTEXES_GIVEN_BACK.get() > before);
        }

        // The value changed since the sleeper went to sleep: left alone.
        let t = FakeThread::new(dead);
        let m = fake_mutex(&layout, t.owner());
        assert_eq!(release(&wait_on(&m, t.owner() + 16), exiting), 0);
        assert_eq!(core::hint::black_box(&m).0[3], t.owner());

        // DEAD, but not a struct thread (its `this` is not itself).
        let mut bogus = fake_struct(SBTHREAD_STATE_DEAD);
        // SAFETY: our own zeroed Thread.
        unsafe { (*bogus.as_mut_ptr()).this = core::ptr::null_mut() };
        let t = FakeThread::new(bogus.as_ptr() as u64);
        let m = fake_mutex(&layout, t.owner());
        assert_eq!(release(&wait_on(&m, t.owner()), exiting), 0);
        assert_eq!(core::hint::black_box(&m).0[3], t.owner());
    }
}
