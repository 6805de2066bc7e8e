//! Host mode: a wake-up of a Lisp mutex that 0.9.4.1 lost, given again —
//! the measure `REWAKE` (`measures.rs`, `SBTHREAD_REWAKE=0`). Tests:
//! `sbcl/lisp/lost-wake.lisp` (the real runtime; upstream's thread code
//! exits 3 there) and `c-tests/lost_wake.c` (the test host).
//!
//! 0.9.4.1's `RELEASE-MUTEX` (`src/code/target-thread.lisp:214-221`)
//! stores NIL into the mutex's value word, then wakes one waiter
//! (`futex-wake ... 1`); `GET-MUTEX` (lines 184-212) tries its
//! compare-and-swap again only when its `futex-wait` returns. So the one
//! wake-up is lost, and every other waiter sleeps on a free mutex, when
//! - the releaser is unwound between its two steps (`TERMINATE-THREAD`, or
//!   any interrupt function that throws: `WITH-MUTEX`'s cleanup,
//!   `src/code/thread.lisp:22-26`, runs with interrupts enabled), or
//! - the waiter it woke is unwound before its compare-and-swap: a
//!   termination that arrives while it is runnable but not yet running
//!   is handled as its FUTEX_WAIT returns.
//!
//! Seen in `stress-poll.lisp` on `*already-in-gc*` (SUB-GC's mutex,
//! `src/code/gc.lisp:187`): its workers are terminated at random while
//! they collect; a worker inside an interrupt function's
//! WITHOUT-INTERRUPTS slept on the free mutex for ever.
//!
//! Either way, a thread that was sent an interrupt is unwound and, with a
//! termination, exits: the exit runs this library's code
//! (`Protocol::become_dead`), after the thread's last Lisp code. There,
//! if an interrupt was ever sent to the exiting thread, the library looks
//! at every other task of the process (`/proc/self/task`): one blocked in
//! a FUTEX_WAIT on a word that is the value slot of a Lisp mutex that
//! holds NIL while its waiter waits for an instance (a thread) there
//! (`lisp_mutex::is_free`) sleeps on a free mutex, and the word gets a
//! FUTEX_WAKE for all its sleepers (same private flag as the wait). A
//! wake-up given in vain costs nothing: `GET-MUTEX` loops, and
//! `CONDITION-WAIT` may return early anyway. The same look gives back a
//! mutex the exiting thread, or a DEAD one, still holds
//! (`abandoned.rs`), and it is taken before the thread is DEAD, which
//! that needs (a stopper waits meanwhile: only for exits of interrupted
//! threads, one open, read and close per task).
//!
//! Only threads that were sent an interrupt look (`Private::doorbell`,
//! host mode: set by `notify_interrupt`): only they can be unwound in the
//! middle of either step, and an exit without interrupts costs nothing.
//! What it cannot see: a thread unwound by an interrupt that throws
//! without exiting, while it was between the two steps; its loss waits
//! for the next exit of an interrupted thread.

use core::sync::atomic::Ordering;

use super::abandoned;
use super::lisp_mutex;
use super::measures::{ABANDONED, REWAKE};
use super::proc;
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::thread::thread_ref::ThreadRef;

/// Host mode, `notify_interrupt`: remembers that `th` was sent an
/// interrupt (it may be unwound anywhere from now on).
pub(crate) fn interrupt_sent(th: ThreadRef) {
    th.private().doorbell.store(1, Ordering::Relaxed);
}

/// Host mode, in the exiting thread `th`, its stop signal blocked, just
/// before it is DEAD: if it was ever sent an interrupt, wakes the
/// sleepers of every free Lisp mutex and gives back every mutex with a
/// sleeper that a dead thread holds (module comment). Returns how many
/// sleepers of free mutexes the kernel woke (`mutex_rewakes`).
pub(crate) fn at_exit(th: ThreadRef) -> u64 {
    if !(REWAKE.on() || ABANDONED.on()) || th.private().doorbell.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    let me = th.private().tid.load(Ordering::Relaxed);
    let exiting = th.as_ptr() as u64;
    let mut woken = 0;
    proc::for_each_task(|tid| {
        if tid != me {
            woken += look_at_task(tid, exiting);
        }
    });
    if woken != 0 {
        stats::MUTEX_REWAKES.add(woken);
    }
    woken
}

/// If task `tid` sleeps on a free Lisp mutex, wakes that word's sleepers
/// (how many the kernel woke); if on one a dead thread holds, gives it
/// back (`abandoned.rs`, counted there).
fn look_at_task(tid: u32, exiting: u64) -> u64 {
    let Some(w) = proc::futex_wait_of(tid) else { return 0 };
    if !(REWAKE.on() && lisp_mutex::is_free(w.uaddr, w.expected)) {
        abandoned::release(&w, exiting);
        return 0;
    }
    let n = w.wake_all();
    if n > 0 {
        trace!(1, "thread exit: task {} slept on the free Lisp mutex word {:#x}: {} sleeper(s) woken (REWAKE)", tid, w.uaddr, n);
    }
    n
}
