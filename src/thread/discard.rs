//! The system calls of a give-back (`dormant.rs` says what is given back,
//! when, and why it is safe): the ranges to discard, gathered into one
//! `process_madvise`, and the dying thread's own stack below its frame.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::diag::trace::trace;
use crate::thread::block::{page_size, Private};
use crate::thread::holes;

/// Stack kept below the frame of [`discard`]: its callee's frame (the
/// system call wrapper: a return address and a few words) must survive the
/// call. Whatever the thread touches further down on its way out is
/// faulted in again.
const EXIT_MARGIN: usize = 256;

/// Stack kept mapped below the frame of [`discard`] when the rest is
/// unmapped: the thread still runs glibc's exit (TLS and key destructors,
/// `__libc_thread_freeres`) there, and a fault below would kill the
/// process. Far more than that path uses; only its top pages stay
/// resident (the rest is discarded as above).
const KEEP_BELOW: usize = 64 << 10;

/// Ranges to discard (at most `N`), page-aligned inward, empty ones
/// dropped; one that does not fit is left alone (its memory stays).
pub(crate) struct Ranges<const N: usize> {
    iov: [libc::iovec; N],
    n: usize,
}

impl<const N: usize> Ranges<N> {
    pub(crate) fn new() -> Self {
        Ranges { iov: [libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; N], n: 0 }
    }

    pub(crate) fn add(&mut self, from: usize, to: usize) {
        let page = page_size();
        let (from, to) = (from.next_multiple_of(page), to & !(page - 1));
        if to > from && self.n < N {
            self.iov[self.n] = libc::iovec { iov_base: from as *mut libc::c_void, iov_len: to - from };
            self.n += 1;
        }
    }
}

/// `PIDFD_SELF` (Linux ≥ 6.14): the calling process, without a pidfd.
const PIDFD_SELF: libc::c_int = -10000;

/// 1 until `process_madvise` on the calling process was refused (an
/// older kernel); then each range gets its own `madvise`.
static BATCHED: AtomicUsize = AtomicUsize::new(1);

/// The holes to make, for [`discard`]: the thread's private words, where
/// they are recorded, and its block's start.
pub(crate) struct Holes {
    pub(crate) private: &'static Private,
    pub(crate) base: usize,
}

/// Discards every range of `r`, and the calling thread's control stack
/// `[stack_low, ...)` below this frame, in one `process_madvise(PIDFD_SELF,
/// ..., MADV_DONTNEED)` where the kernel has it (one lock and one batch of
/// TLB shootdowns for all of them: separate calls in the dying thread
/// measurably slowed a create + join loop on the real runtime), else one
/// `madvise` each. Below this frame the stack is garbage, except the frame
/// of the system call wrapper (within `EXIT_MARGIN`); not inlined, so that
/// "here" is the deepest frame left, and `r` lies in a caller's frame,
/// above it. With `holes`, the stack more than `KEEP_BELOW` below this
/// frame is unmapped instead, then the other holes (`block::pieces`), each
/// recorded once done. A failure only means the memory (or address space)
/// stays, so it is traced, not fatal.
#[inline(never)]
pub(crate) fn discard<const N: usize>(r: &mut Ranges<N>, stack_low: usize, stack_high: usize, holes: Option<Holes>) {
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    let on_stack = (stack_low..stack_high).contains(&here);
    let mut kept_low = 0;
    if on_stack {
        let low = if holes.is_some() {
            kept_low = here.saturating_sub(KEEP_BELOW) & !(page_size() - 1);
            kept_low
        } else {
            stack_low
        };
        r.add(low, here.saturating_sub(EXIT_MARGIN));
    }
    madvise_all(r);
    if let Some(h) = holes {
        holes::make(h.private, h.base, on_stack.then_some((kept_low, here)));
    }
}

/// The `MADV_DONTNEED` of [`discard`].
fn madvise_all<const N: usize>(r: &Ranges<N>) {
    let total: usize = r.iov[..r.n].iter().map(|v| v.iov_len).sum();
    if total == 0 {
        return;
    }
    if BATCHED.load(Ordering::Relaxed) != 0 {
        // SAFETY: each range lies inside the block (or the interrupt data
        // mapping) of the calling thread or of a DEAD thread whose pthread
        // has exited and whose reaper waits for this batch, in parts nobody
        // reads as anything but garbage or zeros from now on (`dormant.rs`);
        // the iovec array outlives the call.
        let done = unsafe { libc::syscall(libc::SYS_process_madvise, PIDFD_SELF, r.iov.as_ptr(), r.n, libc::MADV_DONTNEED, 0) };
        if done == total as libc::c_long {
            return;
        }
        BATCHED.store(0, Ordering::Relaxed);
    }
    for v in &r.iov[..r.n] {
        // SAFETY: as above, one range at a time.
        if unsafe { libc::madvise(v.iov_base, v.iov_len, libc::MADV_DONTNEED) } != 0 {
            report_failure("madvise", v.iov_base as usize, v.iov_len);
        }
    }
}

/// Out of line: its formatting buffer must not enlarge the frames that
/// stay on the stack's top page.
#[cold]
#[inline(never)]
fn report_failure(what: &str, from: usize, len: usize) {
    trace!(1, "{}({:#x}, {}) failed: errno {}", what, from, len, crate::sys::errno::get());
}
