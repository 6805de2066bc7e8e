//! A bounded cache of thread blocks, so that creating a thread does not
//! cost an mmap/munmap of ~4.5 MiB and the page faults of a fresh mapping
//! (type-stable memory, in the manner of FreeBSD's thread zone).
//!
//! Two tiers:
//! - *warm*: blocks as their thread left them, pages and all, up to
//!   `SBTHREAD_BLOCK_CACHE` (default [`DEFAULT_LIMIT`]) or
//!   `sbthread_set_block_cache_limit`; 0 disables the whole cache;
//! - *cold*: blocks whose thread gave its memory back while it waited to
//!   be reaped (`dormant.rs`), when the warm tier is full, up to
//!   `SBTHREAD_BLOCK_CACHE_COLD` (default [`DEFAULT_COLD_LIMIT`]). Such a
//!   block holds a page or two of memory and its address space; reusing it
//!   saves the mapping, the guard page's `mprotect`, the unmapping and its
//!   TLB shootdown, not the page faults of writing a new TLS. 0.9.4.1
//!   reaps dead threads by the hundred after a collection (its
//!   finalizers), and the next hundred threads take these blocks back.
//!   A process with an address-space limit caches none (`block.rs`).
//!
//! Rules that keep reuse safe:
//! - only `reap_dead_thread` puts blocks here, after `pthread_join`
//!   returned, so the previous pthread (including glibc's own bookkeeping
//!   at the top of the stack) has completely finished with the memory;
//! - a block keeps its guard page protected and its `interrupt_data`
//!   mapping; `create_thread_struct` rewrites every TLS word, every struct
//!   field and the private words before a new thread sees it.
//!
//! Each tier is an array of slots claimed with compare-and-swap: no lock,
//! so nothing here can deadlock with a stop-the-world or a signal handler,
//! and no ABA problem (a slot is emptied by swapping out the very value).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Largest bound accepted, per tier.
pub(crate) const MAX_LIMIT: usize = 256;
/// Warm bound used when nothing is configured.
pub(crate) const DEFAULT_LIMIT: usize = 4;
/// Cold bound used when nothing is configured: a collection of 0.9.4.1
/// reaps every thread that died since the last one, and a program that
/// makes threads in a loop has about a hundred of them by then.
pub(crate) const DEFAULT_COLD_LIMIT: usize = 128;

/// One tier: slots and its bound.
struct Tier {
    slots: [AtomicUsize; MAX_LIMIT],
    limit: AtomicUsize,
}

impl Tier {
    const fn new(limit: usize) -> Tier {
        Tier { slots: [const { AtomicUsize::new(0) }; MAX_LIMIT], limit: AtomicUsize::new(limit) }
    }

    fn take(&self) -> Option<*mut u8> {
        for slot in &self.slots[..self.limit.load(Ordering::Acquire)] {
            if slot.load(Ordering::Relaxed) != 0 {
                let base = slot.swap(0, Ordering::AcqRel);
                if base != 0 {
                    return Some(base as *mut u8);
                }
            }
        }
        None
    }

    fn put(&self, base: *mut u8) -> Result<(), *mut u8> {
        for (i, slot) in self.slots[..self.limit.load(Ordering::SeqCst)].iter().enumerate() {
            if slot.compare_exchange(0, base as usize, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                // A bound lowered meanwhile (`set_limit`: the bound, then
                // the slots past it; all SeqCst, so one of the two sees
                // the other) may have drained the slot, and handed the
                // block to `unmap`, or not yet: then the block comes back.
                if i >= self.limit.load(Ordering::SeqCst)
                    && slot.compare_exchange(base as usize, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok()
                {
                    return Err(base);
                }
                return Ok(());
            }
        }
        Err(base)
    }

    /// Sets the bound; hands the blocks beyond it to `unmap`.
    fn set_limit(&self, n: usize, unmap: &mut impl FnMut(*mut u8)) -> usize {
        let old = self.limit.swap(n, Ordering::SeqCst);
        for slot in &self.slots[n..] {
            let base = slot.swap(0, Ordering::SeqCst);
            if base != 0 {
                unmap(base as *mut u8);
            }
        }
        old
    }

    fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.load(Ordering::Relaxed) != 0).count()
    }
}

static WARM: Tier = Tier::new(DEFAULT_LIMIT);
static COLD: Tier = Tier::new(DEFAULT_COLD_LIMIT);
/// The cold bound as configured (the tier's own bound is 0 while the warm
/// bound is, so that 0 turns the whole cache off).
static COLD_CONFIGURED: AtomicUsize = AtomicUsize::new(DEFAULT_COLD_LIMIT);

fn env_limit(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse::<usize>().ok()).map(|n| n.min(MAX_LIMIT))
}

/// Reads `SBTHREAD_BLOCK_CACHE` and `SBTHREAD_BLOCK_CACHE_COLD` (called
/// once at initialisation).
pub(crate) fn configure_from_env() {
    if let Some(n) = env_limit("SBTHREAD_BLOCK_CACHE_COLD") {
        COLD_CONFIGURED.store(n, Ordering::Relaxed);
        COLD.limit.store(n, Ordering::Relaxed);
    }
    if let Some(n) = env_limit("SBTHREAD_BLOCK_CACHE") {
        set_limit(n, |_| {});
    }
}

/// Sets the warm bound (0: no cache at all, the cold tier emptied too);
/// returns the previous one. Blocks cached beyond the new bounds are
/// handed to `unmap`.
pub(crate) fn set_limit(n: usize, mut unmap: impl FnMut(*mut u8)) -> usize {
    let n = n.min(MAX_LIMIT);
    let old = WARM.set_limit(n, &mut unmap);
    let cold = if n == 0 { 0 } else { COLD_CONFIGURED.load(Ordering::Relaxed) };
    COLD.set_limit(cold, &mut unmap);
    old
}

/// A cached block, if any: a warm one first.
pub(crate) fn take() -> Option<*mut u8> {
    WARM.take().or_else(|| COLD.take())
}

/// Keeps `base` for reuse as it is; gives it back when the warm tier is
/// full.
pub(crate) fn put(base: *mut u8) -> Result<(), *mut u8> {
    WARM.put(base)
}

/// Keeps `base`, whose memory its thread gave back, in the cold tier;
/// gives it back when that is full too.
pub(crate) fn put_cold(base: *mut u8) -> Result<(), *mut u8> {
    COLD.put(base)
}

/// Warm blocks cached now.
pub(crate) fn len() -> usize {
    WARM.len()
}

/// Cold blocks cached now.
pub(crate) fn cold_len() -> usize {
    COLD.len()
}

/// The warm bound.
pub(crate) fn limit() -> usize {
    WARM.limit.load(Ordering::Relaxed)
}

/// The cold bound in force (0 while the cache is off).
pub(crate) fn cold_limit() -> usize {
    COLD.limit.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_holds_at_most_its_bound_and_a_lower_bound_hands_back_the_rest() {
        let t = Tier::new(3);
        let blocks = [0x1000usize, 0x2000, 0x3000, 0x4000];
        let kept: Vec<bool> = blocks.iter().map(|&b| t.put(b as *mut u8).is_ok()).collect();
        assert_eq!(kept, [true, true, true, false]);
        assert_eq!(t.len(), 3);
        let mut handed = Vec::new();
        assert_eq!(t.set_limit(1, &mut |b: *mut u8| handed.push(b as usize)), 3);
        handed.sort();
        assert_eq!(handed, [0x2000, 0x3000]);
        assert_eq!(t.take(), Some(0x1000 as *mut u8));
        assert_eq!(t.take(), None);
        assert!(t.put(0x5000 as *mut u8).is_ok() && t.put(0x6000 as *mut u8).is_err());
    }
}
