//! Sending the stop signals of a standalone stop-the-world, shared between
//! the stopper and the threads it stops. Written once against `sync.rs`
//! so that the library and the loom model run the same code.
//!
//! The stopper first collects every thread it will ask to stop on a stack
//! (linked through a word in each thread's private area), then starts
//! signalling. Each stopped thread's `SIG_STOP_FOR_GC` handler, before
//! anything else, pops threads off the same stack and signals them too. So
//! with threads blocked in system calls every core helps send the signals,
//! and the stopper does not have to: as soon as one handler is helping,
//! the stopper stops sending and goes to sleep (once, see `handshake.rs`).
//! When the targets are busy computing and not scheduled, no handler runs
//! early, nobody helps, and the stopper sends every signal itself as
//! before: helping can only make sending finish earlier, never later.
//!
//! Nodes are non-zero `u64`s (thread addresses in the library, small
//! numbers in the model); 0 ends the stack. The stack is filled by the
//! stopper alone, before the first signal is sent, and then only popped,
//! so a popped node never comes back during the stop (no ABA): a pop that
//! loses its compare-and-swap just retries. Every popper is the stopper or
//! a thread of this stop, and a thread of this stop finishes helping before
//! it suspends, so nobody pops across stops either.

use core::sync::atomic::Ordering;

use crate::sys::sync::{Word32, Word64};

/// Where each node keeps its link.
pub(crate) trait Links<W64: Word64> {
    /// The word holding the node after `node`.
    fn next(&self, node: u64) -> &W64;
}

/// The stack of threads still to signal, and whether a handler helps.
pub(crate) struct Fanout<W64, W32> {
    /// The top of the stack, 0 when empty.
    pub(crate) head: W64,
    /// 1 once a stopped thread's handler has started helping.
    pub(crate) helping: W32,
}

impl<W64: Word64, W32: Word32> Fanout<W64, W32> {
    /// Start of a stop, in the stopper, before any `push`.
    pub(crate) fn reset(&self) {
        self.helping.store(0, Ordering::Relaxed);
        self.head.store(0, Ordering::Release);
    }

    /// In the stopper, before the first signal: adds `node`.
    pub(crate) fn push(&self, links: &impl Links<W64>, node: u64) {
        links.next(node).store(self.head.load(Ordering::Relaxed), Ordering::Relaxed);
        self.head.store(node, Ordering::Release);
    }

    /// Takes one node, or `None` when every one was taken.
    fn pop(&self, links: &impl Links<W64>) -> Option<u64> {
        let mut top = self.head.load(Ordering::Acquire);
        while top != 0 {
            let next = links.next(top).load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(top, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(top),
                Err(now) => top = now,
            }
        }
        None
    }

    /// In the stopper: signals nodes until none is left or a handler is
    /// helping (after at least one signal, which starts the helping).
    /// Returns how many it signalled.
    pub(crate) fn send_until_helped(&self, links: &impl Links<W64>, mut signal: impl FnMut(u64)) -> u32 {
        let mut sent = 0;
        while sent == 0 || self.helping.load(Ordering::Acquire) == 0 {
            let Some(node) = self.pop(links) else { break };
            signal(node);
            sent += 1;
        }
        sent
    }

    /// Signals nodes until none is left, without handing over to helpers
    /// (the host-mode stopper). Returns how many it signalled.
    pub(crate) fn drain(&self, links: &impl Links<W64>, mut signal: impl FnMut(u64)) -> u32 {
        let mut sent = 0;
        while let Some(node) = self.pop(links) {
            signal(node);
            sent += 1;
        }
        sent
    }

    /// In a handler of a thread being stopped: signals nodes until none is
    /// left. Returns how many it signalled.
    pub(crate) fn help(&self, links: &impl Links<W64>, mut signal: impl FnMut(u64)) -> u32 {
        if self.head.load(Ordering::Acquire) == 0 {
            return 0;
        }
        self.helping.store(1, Ordering::Release);
        let mut sent = 0;
        while let Some(node) = self.pop(links) {
            signal(node);
            sent += 1;
        }
        sent
    }
}
