//! The few atomic operations and waits the protocol cores (`queue.rs`,
//! `handshake.rs`, `fanout.rs`, `region.rs`, `resume.rs`, `pending.rs`) use,
//! as traits.
//! The library implements them with real atomics and futexes; the loom
//! model (`model_tests.rs`) with loom's, so that loom checks the very code
//! the library runs.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A 32-bit atomic word.
pub(crate) trait Word32 {
    fn load(&self, o: Ordering) -> u32;
    fn store(&self, v: u32, o: Ordering);
    fn swap(&self, v: u32, o: Ordering) -> u32;
    fn fetch_add(&self, v: u32, o: Ordering) -> u32;
    fn fetch_sub(&self, v: u32, o: Ordering) -> u32;
    fn compare_exchange(&self, current: u32, new: u32, success: Ordering, failure: Ordering) -> Result<u32, u32>;
}

/// A 64-bit atomic word.
pub(crate) trait Word64 {
    fn load(&self, o: Ordering) -> u64;
    fn store(&self, v: u64, o: Ordering);
    fn swap(&self, v: u64, o: Ordering) -> u64;
    fn compare_exchange_weak(&self, current: u64, new: u64, success: Ordering, failure: Ordering) -> Result<u64, u64>;
}

/// How a thread waits for a word to change, and how it spins.
pub(crate) trait Park<W: Word32> {
    /// Sleeps while `w` holds `expected` (may return early).
    fn wait(&self, w: &W, expected: u32);
    /// Wakes every waiter on `w`.
    fn wake_all(&self, w: &W);
    /// Wakes at least one waiter on `w`, if any sleeps (waking more is
    /// allowed: a woken waiter re-checks its condition).
    fn wake_one(&self, w: &W) {
        self.wake_all(w);
    }
    /// One round of a spin-wait for the spinlock `lock` to be released.
    fn relax(&self, lock: &impl Word64, round: u32);
    /// A spinlock was just released (the model wakes its spinners here;
    /// the library's spinners do not sleep).
    fn released(&self);
    /// A sequentially consistent fence (loom models `fence(SeqCst)`, not
    /// `SeqCst` accesses, so the cores that need one say so here).
    fn fence(&self);
}

macro_rules! delegate_word {
    ($trait:ident for $ty:ty, $int:ty, [$($extra:tt)*]) => {
        impl $trait for $ty {
            fn load(&self, o: Ordering) -> $int { <$ty>::load(self, o) }
            fn store(&self, v: $int, o: Ordering) { <$ty>::store(self, v, o) }
            fn swap(&self, v: $int, o: Ordering) -> $int { <$ty>::swap(self, v, o) }
            $($extra)*
        }
    };
}
#[cfg(test)]
pub(crate) use delegate_word;

delegate_word!(Word32 for AtomicU32, u32, [
    fn fetch_add(&self, v: u32, o: Ordering) -> u32 { AtomicU32::fetch_add(self, v, o) }
    fn fetch_sub(&self, v: u32, o: Ordering) -> u32 { AtomicU32::fetch_sub(self, v, o) }
    fn compare_exchange(&self, c: u32, n: u32, s: Ordering, f: Ordering) -> Result<u32, u32> {
        AtomicU32::compare_exchange(self, c, n, s, f)
    }
]);
delegate_word!(Word64 for AtomicU64, u64, [
    fn compare_exchange_weak(&self, c: u64, n: u64, s: Ordering, f: Ordering) -> Result<u64, u64> {
        AtomicU64::compare_exchange_weak(self, c, n, s, f)
    }
]);

/// The library's waits: futexes, and `sched_yield` every 128 spins (the
/// holder of a spinlock runs with signals blocked for a few instructions;
/// if it was preempted, let it run).
pub(crate) struct Futex;

impl Park<AtomicU32> for Futex {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        crate::sys::futex::wait(w, expected, None);
    }

    fn wake_all(&self, w: &AtomicU32) {
        crate::sys::futex::wake_all(w);
    }

    fn wake_one(&self, w: &AtomicU32) {
        crate::sys::futex::wake(w, 1);
    }

    fn relax(&self, _lock: &impl Word64, round: u32) {
        if round.is_multiple_of(128) {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        } else {
            core::hint::spin_loop();
        }
    }

    fn released(&self) {}

    fn fence(&self) {
        core::sync::atomic::fence(Ordering::SeqCst);
    }
}
