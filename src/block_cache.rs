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
//! Lock rule: the cache lock is a spinlock taken only with the blockable
//! signals blocked and never in a signal handler, so its holder can neither
//! be suspended by a stop-the-world nor interrupted while holding it.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sigset::MaskGuard;

/// Largest bound accepted.
pub(crate) const MAX_LIMIT: usize = 256;
/// Bound used when nothing is configured.
pub(crate) const DEFAULT_LIMIT: usize = 4;

struct Cache {
    blocks: [usize; MAX_LIMIT],
    len: usize,
}

static CACHE: spin::Mutex<Cache> = spin::Mutex::new(Cache { blocks: [0; MAX_LIMIT], len: 0 });
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);

/// Reads `SBTHREAD_BLOCK_CACHE` (called once at initialisation).
pub(crate) fn configure_from_env() {
    if let Some(n) = std::env::var("SBTHREAD_BLOCK_CACHE").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        LIMIT.store(n.min(MAX_LIMIT), Ordering::Relaxed);
    }
}

/// Sets the bound; returns the previous one. Blocks beyond the new bound
/// are returned to the caller to unmap.
pub(crate) fn set_limit(n: usize, mut unmap: impl FnMut(*mut u8)) -> usize {
    let n = n.min(MAX_LIMIT);
    let old = LIMIT.swap(n, Ordering::Relaxed);
    while let Some(base) = take_if_over(n) {
        unmap(base);
    }
    old
}

fn take_if_over(n: usize) -> Option<*mut u8> {
    let _mask = MaskGuard::blockables();
    let mut c = CACHE.lock();
    if c.len > n {
        c.len -= 1;
        Some(c.blocks[c.len] as *mut u8)
    } else {
        None
    }
}

/// A cached block, if any.
pub(crate) fn take() -> Option<*mut u8> {
    if LIMIT.load(Ordering::Relaxed) == 0 && len() == 0 {
        return None;
    }
    let _mask = MaskGuard::blockables();
    let mut c = CACHE.lock();
    if c.len == 0 {
        return None;
    }
    c.len -= 1;
    Some(c.blocks[c.len] as *mut u8)
}

/// Keeps `base` for reuse; gives it back when the cache is full.
pub(crate) fn put(base: *mut u8) -> Result<(), *mut u8> {
    let limit = LIMIT.load(Ordering::Relaxed);
    if limit == 0 {
        return Err(base);
    }
    let _mask = MaskGuard::blockables();
    let mut c = CACHE.lock();
    if c.len >= limit {
        return Err(base);
    }
    let i = c.len;
    c.blocks[i] = base as usize;
    c.len += 1;
    Ok(())
}

/// Blocks currently cached.
pub(crate) fn len() -> usize {
    let _mask = MaskGuard::blockables();
    CACHE.lock().len
}

/// The current bound.
pub(crate) fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}
