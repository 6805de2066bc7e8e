//! The standalone side of the shared algorithms (see `crate::world::protocol`).

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use super::signals::run_pending_interrupts;
use super::stop::{signal_stop, stop_serial, ThreadLinks, FANOUT, REGIONS, SLEEPERS, STATES, WORLD};
use crate::interrupt::{self, queue_of, RawCells};
use crate::legacy::lisp::NIL;
use crate::legacy::types::lispobj;
use crate::thread::kill::kill_thread_safely;
use crate::world::protocol::Protocol;
use crate::thread::registry::{self, AllThreadsLock};
use crate::sys::sigset::{self, sig_interrupt_thread, MaskGuard};
use crate::sys::sync::Futex;
use crate::thread::thread_ref::ThreadRef;
use crate::world::region;

/// The standalone protocol.
pub(crate) struct OwnProtocol;

impl Protocol for OwnProtocol {
    fn thread_started(&self, _th: ThreadRef) {
        // The thread inherited a mask with the deferrables blocked from
        // create_os_thread; it is set up now, so let them in (the role the
        // host's Lisp start-up code plays in host mode).
        sigset::unblock(&sigset::deferrable());
    }

    fn notify_interrupt(&self, th: ThreadRef) -> c_int {
        if !queue_of(th).ring() {
            return 0; // a signal is on its way, or the queue is deferred
        }
        let r = kill_thread_safely(th.os_thread(), sig_interrupt_thread());
        if r != 0 {
            th.private().doorbell.store(0, core::sync::atomic::Ordering::SeqCst);
        }
        r
    }

    /// First no new interrupt is accepted; then DEAD under
    /// `all_threads_lock` and the queue spinlock, and only with an empty
    /// queue: a stop in progress (its stopper holds the lock) finishes with
    /// this thread suspended, not dead, and every accepted interrupt runs
    /// exactly once. Nothing is dropped. The library owns both handlers
    /// here, so waiting for the lock is safe: they never leave a stop
    /// pending that this wait would hold up.
    fn become_dead(&self, th: ThreadRef) -> u64 {
        const CALLER: &str = "new_thread_trampoline";
        super::deferral::assert_outside_sections(th, CALLER);
        interrupt::refuse_new(th);
        loop {
            let closed = {
                // The thread's function may have returned with
                // SIG_STOP_FOR_GC blocked; it must be open while we wait
                // for the lock (seed 002's rule).
                let lock = AllThreadsLock::acquire_opening_stop(CALLER);
                interrupt::close_if_empty(th, &lock)
            };
            if closed {
                return 0;
            }
            let _deferrables = MaskGuard::deferrables();
            run_pending_interrupts(th);
        }
    }

    /// The pool's conses go back to the pool (every cons of a standalone
    /// queue is the pool's).
    fn release_conses(&self, list: lispobj) {
        interrupt::queue::for_each_oldest_first(list, NIL, &RawCells, |c| {
            if super::cons_pool::owns(c) {
                super::cons_pool::free(c);
            }
        });
    }

    /// The pool's `alloc_cons` (the default hook): no collection runs
    /// inside it.
    fn make_interrupt_cons(&self, function: lispobj, _me: Option<ThreadRef>) -> lispobj {
        crate::legacy::hooks::hooks().alloc_cons(function, NIL)
    }

    fn begin_stop(&self) {
        WORLD.begin_stop();
        FANOUT.reset();
        SLEEPERS.store(false, Ordering::Relaxed);
        region::begin_stop(&REGIONS, &Futex);
    }

    /// Walks the stop table: a thread inside a blocking region is counted
    /// from its slot, not asked (nothing else of it is read).
    fn for_each_to_stop(&self, me: Option<ThreadRef>, ask: &mut dyn FnMut(ThreadRef)) -> u32 {
        let serial = stop_serial();
        let mut counted = 0;
        registry::for_each_member(|th, slot| {
            if Some(th) == me {
                return;
            }
            if region::count(&slot.region, &slot.counted, serial) {
                counted += 1;
            } else {
                ask(th);
            }
        });
        counted
    }

    /// The threads in blocking regions need nothing from the start; when
    /// the stop signalled nobody, no thread needs anything (every other
    /// live one was counted, or is DEAD), and the table is not walked.
    fn for_each_to_start(&self, me: Option<ThreadRef>, start: &mut dyn FnMut(ThreadRef)) {
        if !SLEEPERS.load(Ordering::Relaxed) {
            return;
        }
        let serial = stop_serial();
        registry::for_each_member(|th, slot| {
            if Some(th) != me && !region::is_counted(&slot.counted, serial) {
                start(th);
            }
        });
    }

    fn counted_in_region(&self, th: ThreadRef) -> bool {
        region::is_counted(&crate::thread::slot_of(th).counted, stop_serial())
    }

    /// Only collects `th`: the signals go out in `send_requests`.
    fn request_stop(&self, th: ThreadRef) -> c_int {
        WORLD.count_request();
        FANOUT.push(&ThreadLinks, th.as_ptr() as usize as u64);
        SLEEPERS.store(true, Ordering::Relaxed);
        0
    }

    fn send_requests(&self) {
        let sent = FANOUT.send_until_helped(&ThreadLinks, signal_stop);
        if sent != 0 {
            crate::diag::stats::STOP_SIGNALS_BY_STOPPER.add_by_stopper(sent.into());
        }
        crate::diag::trace::trace!(1, "gc_stop_the_world: sent {} stop signal(s), stopped threads send the rest", sent);
    }

    fn await_stopped(&self, _me: Option<ThreadRef>) {
        WORLD.await_stopped(&Futex);
    }

    fn resume(&self, th: ThreadRef) -> c_int {
        WORLD.resume_one(th.state_word(), STATES);
        0
    }

    /// Leaves of blocking regions may go; one broadcast, if anyone sleeps.
    fn end_start(&self) {
        region::end_stop(&REGIONS);
        WORLD.end_start(&Futex, || SLEEPERS.load(Ordering::Relaxed) || region::someone_waits(&REGIONS, &Futex));
    }
}
