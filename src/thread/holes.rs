//! The holes a DEAD thread makes in its block when it gives back address
//! space (`dormant.rs` says when and why; `block::pieces` which), and the
//! later trim of the stack margin it kept for its own exit.
//!
//! The margin is needed only until the pthread has exited; then nothing
//! below its last frame is used (glibc's descriptor and static TLS, and
//! the private words, lie above it). The thread cannot unmap it itself, so
//! the next thread that makes holes does, if the kernel says the task is
//! gone. One slot ([`TRIM_PENDING`]) holds the last thread waiting for
//! that: best effort, a thread that finds the slot busy keeps its margin.
//! The reaper takes its thread out of the slot before it releases the
//! block ([`forget_trim`]), or waits while a trimmer holds it: no trim
//! ever touches a released block, whose holes may hold someone else's
//! mappings by then.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::diag::trace::trace;
use crate::thread::block::{self, page_size, Private, HOLE_STACK};
use crate::thread::thread_ref::ThreadRef;

/// In the dying thread, after its memory was discarded: unmaps each hole
/// of its block (`block::pieces`), recording each in `p` once done; with
/// `stack = Some((kept_low, here))` also the control stack below
/// `kept_low`, and notes the margin `[kept_low, here)` for a later trim.
/// A failure (`ENOMEM`: too many map entries to split one more) only
/// leaves that piece mapped.
pub(crate) fn make(p: &Private, base: usize, stack: Option<(usize, usize)>) {
    let kept_low = stack.map_or(0, |(low, _)| low);
    p.kept_low.store(kept_low, Ordering::Relaxed);
    if let Some((_, here)) = stack {
        p.trim_to.store(here & !(page_size() - 1), Ordering::Relaxed);
    }
    for (from, to, hole) in block::pieces(base, kept_low, block::layout()) {
        if hole == 0 || to <= from || (hole == HOLE_STACK && stack.is_none()) {
            continue;
        }
        // SAFETY: a piece of the calling thread's own block that nobody
        // reads from now on (`dormant.rs`); the thread runs above it.
        if unsafe { libc::munmap(from as *mut libc::c_void, to - from) } == 0 {
            p.holes.fetch_or(hole, Ordering::Relaxed);
        } else {
            munmap_failed(from, to - from);
        }
    }
}

/// The last thread that made holes and has its exit margin still to trim
/// (its `struct thread` address), tagged with [`TRIMMING`] while a later
/// dying thread trims it; 0 for none.
static TRIM_PENDING: AtomicUsize = AtomicUsize::new(0);
/// Tag of [`TRIM_PENDING`]: the thread in it is being trimmed.
const TRIMMING: usize = 1;

/// In a dying thread `me` that made holes: trims the exit margin of the
/// thread before it in [`TRIM_PENDING`] if that one has exited, then puts
/// `me` there in its place. Best effort: when another dying thread is
/// trimming, `me` keeps its margin (and when the previous one has not
/// exited yet, it keeps its own).
pub(crate) fn trim_previous_then_queue(me: ThreadRef) {
    if me.private().holes.load(Ordering::Relaxed) & HOLE_STACK == 0 {
        return;
    }
    let mut cur = TRIM_PENDING.load(Ordering::Acquire);
    loop {
        if cur & TRIMMING != 0 {
            return;
        }
        let next = if cur == 0 { me.as_ptr() as usize } else { cur | TRIMMING };
        match TRIM_PENDING.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
    if cur != 0 {
        trim(cur);
        // Only the claimer changes a tagged value.
        TRIM_PENDING.store(me.as_ptr() as usize, Ordering::Release);
    }
}

/// Unmaps the exit margin of the thread whose struct is at `th`, claimed
/// in [`TRIM_PENDING`] (so its reaper waits, [`forget_trim`]), if its
/// pthread has exited: then nothing below its last frame is used any more
/// (glibc's descriptor and static TLS, the private words, lie above it).
fn trim(th: usize) {
    let p = block::private_of_thread(th as *mut crate::legacy::types::Thread);
    let (from, to) = (p.kept_low.load(Ordering::Relaxed), p.trim_to.load(Ordering::Relaxed));
    if to <= from || !crate::thread::kill::task_gone(p.tid.load(Ordering::Relaxed)) {
        return;
    }
    // SAFETY: part of a claimed, not yet released block's control stack,
    // below the last frame of a thread that has exited.
    if unsafe { libc::munmap(from as *mut libc::c_void, to - from) } == 0 {
        p.kept_low.store(to, Ordering::Relaxed);
    } else {
        munmap_failed(from, to - from);
    }
}

/// In the reaper of `th`, after the join and before its block is
/// released: makes sure no dying thread trims it any more (waits while one
/// does: a couple of system calls).
pub(crate) fn forget_trim(th: ThreadRef) {
    let me = th.as_ptr() as usize;
    loop {
        let cur = TRIM_PENDING.load(Ordering::Acquire);
        if cur == me {
            if TRIM_PENDING.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return;
            }
        } else if cur == me | TRIMMING {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        } else {
            return;
        }
    }
}

/// Out of line: its formatting buffer must not enlarge the dying thread's
/// frames.
#[cold]
#[inline(never)]
fn munmap_failed(from: usize, len: usize) {
    trace!(1, "munmap({:#x}, {}) failed: errno {}", from, len, crate::sys::errno::get());
}
