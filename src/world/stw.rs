//! Stop-the-world (spec §7): `gc_stop_the_world` takes `all_threads_lock`
//! and keeps it until `gc_start_the_world`, waits out threads still
//! STARTING, asks every other RUNNING thread to suspend (standalone: unless
//! it sits in a blocking region, which counts it as stopped at once: it
//! stays RUNNING, `region.rs`) and waits until each is SUSPENDED or DEAD.
//! Starting checks that every other live thread is SUSPENDED, resumes
//! them, and releases the lock. Which threads each walk visits is the
//! mode's (`Protocol::for_each_to_stop` and `for_each_to_start`): every
//! other registered thread, except that standalone walks the stop table
//! (`thread/table.rs`), counts a thread in a blocking region from its slot
//! without a visit to its own memory, and leaves such a thread out of the
//! start.
//!
//! Because link and unlink need the lock, the set of threads cannot change
//! while the world is stopped. In standalone mode the DEAD transition needs
//! it too, so a thread asked to stop cannot die instead of stopping; in
//! host mode it may (its Lisp exit code may have deferred the stop, see
//! `host_protocol.rs`), and a DEAD thread counts as stopped: it never runs
//! Lisp again and its stack is not scanned (no interrupt context). The
//! mode-specific half (signals and waiting) is `crate::world::protocol`.

use crate::legacy::types::{SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::sys::futex;
use crate::diag::lose::{addr, errno_name, lose, state_name};
use crate::world::protocol::protocol;
use crate::thread::registry;
use crate::diag::stats;
use crate::thread::thread_ref::ThreadRef;
use crate::diag::trace::trace;

/// Sleeps until `th` has left STARTING (its trampoline wakes us).
fn wait_until_started(th: ThreadRef) {
    futex::event::wait(&th.private().started);
}

/// The result `r` of sending `SIG_STOP_FOR_GC` to `th`, by the stopper or
/// (standalone) a helping handler: true if it was sent, false if `th` had
/// died (it no longer counts); anything else is fatal. Async-signal-safe.
pub(crate) fn stop_signal_sent(th: ThreadRef, r: libc::c_int) -> bool {
    match r {
        0 => true,
        libc::ESRCH if th.state() == SBTHREAD_STATE_DEAD => false,
        e => lose!("gc_stop_the_world: cannot suspend thread {:#x} (state {}): {}", addr(th.as_ptr()), state_name(th.state()), errno_name(e)),
    }
}

/// `gc_stop_the_world`.
pub(crate) fn stop_the_world() {
    let me = crate::thread::current();
    if let Some(me) = me
        && crate::thread::region_depth(me) != 0
    {
        lose!("gc_stop_the_world: thread {:#x} is inside a blocking region; leave it before stopping the world", addr(me.as_ptr()));
    }
    let p = protocol();
    trace!(1, "gc_stop_the_world: waiting for all_threads_lock");
    registry::lock_for_stop();
    // Only the monotonic clock here (vDSO, no system call): the stop is a
    // hot path, and CPU time would cost a system call per reading.
    let t0 = stats::now_ns();
    p.begin_stop();
    let mut asked = 0u32;
    let counted = p.for_each_to_stop(me, &mut |th| {
        wait_until_started(th);
        if th.state() == SBTHREAD_STATE_RUNNING && stop_signal_sent(th, p.request_stop(th)) {
            asked += 1;
        }
    });
    p.send_requests();
    let end = if asked == 0 {
        p.await_stopped(me); // nothing to wait for (standalone: returns at once)
        stats::now_ns()
    } else {
        let wait0 = stats::now_ns();
        p.await_stopped(me);
        let end = stats::now_ns();
        stats::record_stop_wait(end - wait0);
        end
    };
    let elapsed = end - t0;
    stats::record_stop(elapsed);
    if counted != 0 {
        stats::STOP_COUNTED_IN_REGIONS.add_by_stopper(counted.into());
    }
    trace!(1, "gc_stop_the_world: {} thread(s) stopped in {} ns, {} more counted in blocking regions", asked, elapsed, counted);
}

/// `gc_start_the_world`: every other live thread must be SUSPENDED, or
/// counted as stopped by the mode (then it is only released).
pub(crate) fn start_the_world() {
    registry::assert_stopper("gc_start_the_world");
    let me = crate::thread::current();
    let p = protocol();
    p.begin_start(me);
    let mut resumed = 0u32;
    p.for_each_to_start(me, &mut |th| {
        if p.release_unsuspended(th) {
            return;
        }
        let s = th.state();
        if s == SBTHREAD_STATE_DEAD {
            return;
        }
        if s != SBTHREAD_STATE_SUSPENDED {
            lose!("gc_start_the_world: thread {:#x} is in state {}, not SUSPENDED", addr(th.as_ptr()), state_name(s));
        }
        let r = p.resume(th);
        if r != 0 {
            lose!("gc_start_the_world: cannot resume thread {:#x}: {}", addr(th.as_ptr()), errno_name(r));
        }
        resumed += 1;
    });
    p.end_start();
    registry::unlock_after_start();
    trace!(1, "gc_start_the_world: {} thread(s) resumed", resumed);
}
