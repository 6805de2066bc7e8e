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
//! if an interrupt was ever sent to the dying thread, the library looks at
//! every other task of the process (`/proc/self/task`): one blocked in a
//! FUTEX_WAIT on a word that is the value slot of a Lisp instance (a
//! header with at least three slots, an instance pointer for a layout
//! before it), that holds NIL while its waiter waits for an instance (a
//! thread) there, sleeps on a free mutex, and the word gets a FUTEX_WAKE
//! for all its sleepers (same private flag as the wait). A wake-up given
//! in vain costs nothing: `GET-MUTEX` loops, and `CONDITION-WAIT` may
//! return early anyway. Every read of another object goes through
//! `process_vm_readv` (a bad guess gives an error, not a fault).
//!
//! Only threads that were sent an interrupt look (`Private::doorbell`,
//! host mode: set by `notify_interrupt`): only they can be unwound in the
//! middle of either step, and an exit without interrupts costs nothing.
//! What it cannot see: a thread unwound by an interrupt that throws
//! without exiting, while it was between the two steps; its loss waits
//! for the next exit of an interrupted thread.

use core::sync::atomic::Ordering;

use super::adopt::read_word;
use super::measures::REWAKE;
use super::proc;
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::legacy::lisp::NIL;
use crate::thread::thread_ref::ThreadRef;

const INSTANCE_POINTER_LOWTAG: u64 = 0x1;
const INSTANCE_HEADER_WIDETAG: u64 = 0x5A;
/// The value slot of a 0.9.4.1 `mutex` (header, layout, name, value):
/// the futex word is 3 words after the instance's start.
const VALUE_SLOT: u64 = 8 * 3;

/// Host mode, `notify_interrupt`: remembers that `th` was sent an
/// interrupt (it may be unwound anywhere from now on).
pub(crate) fn interrupt_sent(th: ThreadRef) {
    th.private().doorbell.store(1, Ordering::Relaxed);
}

/// Host mode, in the dying thread `th`, once it is DEAD: if it was ever
/// sent an interrupt, wakes the sleepers of every free Lisp mutex
/// (module comment). Returns how many sleepers the kernel woke.
pub(crate) fn after_exit(th: ThreadRef) -> u64 {
    if !REWAKE.on() || th.private().doorbell.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    let me = th.private().tid.load(Ordering::Relaxed);
    let mut woken = 0;
    proc::for_each_task(|tid| {
        if tid != me {
            woken += rewake_task(tid);
        }
    });
    if woken != 0 {
        stats::MUTEX_REWAKES.add(woken);
    }
    woken
}

/// If task `tid` sleeps on a free Lisp mutex, wakes that word's sleepers;
/// how many the kernel woke.
fn rewake_task(tid: u32) -> u64 {
    let Some(w) = proc::futex_wait_of(tid) else { return 0 };
    if !free_mutex_word(w.uaddr, w.expected) {
        return 0;
    }
    // SAFETY: FUTEX_WAKE only uses the address as a key (an unmapped one
    // fails with EFAULT); the op has the waiter's private flag, so the
    // key is the one it sleeps on.
    let n = unsafe { libc::syscall(libc::SYS_futex, w.uaddr as usize, libc::FUTEX_WAKE | w.private_flag, i32::MAX) };
    if n > 0 {
        trace!(1, "thread exit: task {} slept on the free Lisp mutex word {:#x}: {} sleeper(s) woken (REWAKE)", tid, w.uaddr, n);
        n as u64
    } else {
        0
    }
}

/// Whether `uaddr` is the value slot of what looks like a 0.9.4.1 mutex
/// and holds NIL while its waiter expects (the low half of) an instance.
fn free_mutex_word(uaddr: u64, expected: u32) -> bool {
    if u64::from(expected) & 0xF != INSTANCE_POINTER_LOWTAG || uaddr < VALUE_SLOT {
        return false;
    }
    let base = uaddr - VALUE_SLOT;
    let (Some(value), Some(header), Some(layout)) = (read_word(uaddr), read_word(base), read_word(base + 8)) else {
        return false;
    };
    value == NIL
        && header & 0xFF == INSTANCE_HEADER_WIDETAG
        && header >> 8 >= 3
        && layout & 0xF == INSTANCE_POINTER_LOWTAG
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lisp objects are 16-byte aligned (the lowtag is the low 4 bits).
    #[repr(C, align(16))]
    struct Obj<const N: usize>([u64; N]);

    #[test]
    fn only_a_mutex_value_slot_holding_nil_is_free() {
        let layout = Obj([0u64; 2]);
        let layout_ptr = layout.0.as_ptr() as u64 + INSTANCE_POINTER_LOWTAG;
        let holder = 0x1003_c831u32;
        let mut m = Obj([INSTANCE_HEADER_WIDETAG | (3 << 8), layout_ptr, NIL, NIL]);
        let word = m.0.as_ptr() as u64 + VALUE_SLOT;
        assert!(free_mutex_word(word, holder));
        assert!(!free_mutex_word(word, 0x1003_c830), "the waiter expects no instance");
        m.0[3] = u64::from(holder);
        core::hint::black_box(&mut m);
        assert!(!free_mutex_word(word, holder), "held");
        m.0[3] = NIL;
        m.0[0] = INSTANCE_HEADER_WIDETAG | (2 << 8);
        core::hint::black_box(&mut m);
        assert!(!free_mutex_word(word, holder), "too short for a mutex");
        m.0[0] = 0x4E;
        core::hint::black_box(&mut m);
        assert!(!free_mutex_word(word, holder), "not an instance");
        m.0[0] = INSTANCE_HEADER_WIDETAG | (3 << 8);
        m.0[1] = 0x1000;
        core::hint::black_box(&mut m);
        assert!(!free_mutex_word(word, holder), "no layout");
        assert!(!free_mutex_word(8, holder), "unreadable");
    }
}
