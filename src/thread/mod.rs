//! One thread's memory and the registry of all of them, without the
//! protocols that drive them:
//!
//! - `thread_ref`: `ThreadRef`, checked atomic access to a thread's words;
//! - `symbols`: a static symbol's value as one thread sees it;
//! - `block`, `block_cache`: the per-thread memory block (spec §3), its
//!   private words, and the reuse of reaped blocks;
//! - `dormant`: what a DEAD thread gives back before it is reaped, and
//!   when; `pending`: the dead threads waiting to be given back in a
//!   batch, and the claim that keeps a batch and the reaper apart;
//!   `discard`: the system calls of a give-back; `holes`: the address
//!   space given back under a limit;
//! - `contexts`: the interrupt contexts a suspended thread records (the
//!   runtime's convention, used by both modes);
//! - `registry`: `all_threads` and the `all_threads_lock` discipline;
//! - `table`: the stop table, one cache line per registered thread (its
//!   blocking-region words), which a stopper reads instead of the
//!   threads' own memory;
//! - `kill`: sending a signal to a thread, retrying on a full queue.

pub(crate) mod block;
pub(crate) mod block_cache;
pub(crate) mod contexts;
pub(crate) mod discard;
pub(crate) mod dormant;
pub(crate) mod holes;
pub(crate) mod kill;
pub(crate) mod pending;
pub(crate) mod private;
pub(crate) mod registry;
pub(crate) mod symbols;
pub(crate) mod table;
pub(crate) mod thread_ref;

use crate::legacy::hooks::hooks;
use thread_ref::ThreadRef;

/// The calling thread, if it is registered.
pub(crate) fn current() -> Option<ThreadRef> {
    // SAFETY: the `specials` key holds NULL or the caller's own struct
    // thread, set in arch_os_thread_init; its block outlives the thread.
    unsafe { ThreadRef::new(hooks().current_thread_ptr()) }
}

/// The calling thread, if the library is initialised and it is
/// registered; initialises nothing. Async-signal-safe.
pub(crate) fn current_if_ready() -> Option<ThreadRef> {
    // SAFETY: as in `current`.
    unsafe { ThreadRef::new(crate::legacy::hooks::current_thread_ptr_if_ready()) }
}

/// `th`'s slot in the stop table; loses if it has none (not linked).
pub(crate) fn slot_of(th: ThreadRef) -> &'static table::Slot {
    let s = th.private().slot.load(core::sync::atomic::Ordering::Acquire);
    // SAFETY: slots are never unmapped; a linked thread's slot is its own
    // until it is unlinked.
    match unsafe { s.as_ref() } {
        Some(s) => s,
        None => crate::diag::lose::lose!("stop table: thread {:#x} is not linked", crate::diag::lose::addr(th.as_ptr())),
    }
}

/// How deep `th` is in blocking regions (0: outside any). Read by the
/// thread itself, for the rules of what may not run inside one.
pub(crate) fn region_depth(th: ThreadRef) -> u32 {
    th.private().region_depth.load(core::sync::atomic::Ordering::Relaxed)
}

/// Closes `th`'s allocation region (`gc_alloc_update_page_tables`). The
/// host's function takes its collector's `free_pages_lock`, so it is
/// called with `SIG_STOP_FOR_GC` blocked, as the original does (a thread
/// suspended holding that lock would deadlock the collection); the
/// standalone default takes no lock and needs no mask change.
pub(crate) fn close_alloc_region(th: ThreadRef) {
    let h = hooks();
    let _stop = h
        .page_tables_take_a_lock
        .then(|| crate::sys::sigset::MaskGuard::block(&crate::sys::sigset::only(crate::sys::sigset::sig_stop_for_gc())));
    // SAFETY: the region is inside a live thread's struct, and the thread
    // does not allocate now (it is starting, dying or dead).
    unsafe { h.gc_alloc_update_page_tables(th.alloc_region()) }
}

/// Marks `th`'s allocation region empty (`gc_set_region_empty`).
pub(crate) fn clear_alloc_region(th: ThreadRef) {
    // SAFETY: as in `close_alloc_region`.
    unsafe { hooks().gc_set_region_empty(th.alloc_region()) }
}
