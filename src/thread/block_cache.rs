//! A bounded cache of thread blocks, so that creating a thread does not
//! cost an mmap/munmap of ~4.5 MiB and the page faults of a fresh mapping
//! (type-stable memory, in the manner of FreeBSD's thread zone).
//!
//! Rules that keep reuse safe:
//! - only `reap_dead_thread` puts blocks here, after `pthread_join`
//!   returned, so the previous pthread (including glibc's own bookkeeping
//!   at the top of the stack) has completely finished with the memory;
//! - a block keeps its guard page protected and its `interrupt_data`
//!   mapping; `create_thread_struct` rewrites every TLS word, every struct
//!   field and the private words before a new thread sees it;
//! - the bound is `SBTHREAD_BLOCK_CACHE` (environment, read once) or
//!   `sbthread_set_block_cache_limit`; 0 disables the cache.
//!
//! The cache is an array of slots claimed with compare-and-swap: no lock,
//! so nothing here can deadlock with a stop-the-world or a signal handler,
//! and no ABA problem (a slot is emptied by swapping out the very value).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Largest bound accepted.
pub(crate) const MAX_LIMIT: usize = 256;
/// Bound used when nothing is configured.
pub(crate) const DEFAULT_LIMIT: usize = 4;

static SLOTS: [AtomicUsize; MAX_LIMIT] = [const { AtomicUsize::new(0) }; MAX_LIMIT];
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);

/// Reads `SBTHREAD_BLOCK_CACHE` (called once at initialisation).
pub(crate) fn configure_from_env() {
    if let Some(n) = std::env::var("SBTHREAD_BLOCK_CACHE").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        LIMIT.store(n.min(MAX_LIMIT), Ordering::Relaxed);
    }
}

/// Sets the bound; returns the previous one. Blocks cached beyond the new
/// bound are handed to `unmap`.
pub(crate) fn set_limit(n: usize, mut unmap: impl FnMut(*mut u8)) -> usize {
    let n = n.min(MAX_LIMIT);
    let old = LIMIT.swap(n, Ordering::AcqRel);
    for slot in &SLOTS[n..] {
        let base = slot.swap(0, Ordering::AcqRel);
        if base != 0 {
            unmap(base as *mut u8);
        }
    }
    old
}

/// A cached block, if any.
pub(crate) fn take() -> Option<*mut u8> {
    for slot in &SLOTS[..LIMIT.load(Ordering::Acquire)] {
        if slot.load(Ordering::Relaxed) != 0 {
            let base = slot.swap(0, Ordering::AcqRel);
            if base != 0 {
                return Some(base as *mut u8);
            }
        }
    }
    None
}

/// Keeps `base` for reuse; gives it back when the cache is full.
pub(crate) fn put(base: *mut u8) -> Result<(), *mut u8> {
    for slot in &SLOTS[..LIMIT.load(Ordering::Acquire)] {
        if slot.compare_exchange(0, base as usize, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            return Ok(());
        }
    }
    Err(base)
}

/// Blocks currently cached.
pub(crate) fn len() -> usize {
    SLOTS.iter().filter(|s| s.load(Ordering::Relaxed) != 0).count()
}

/// The current bound.
pub(crate) fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}
