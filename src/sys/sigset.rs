//! Signal sets and masks: the deferrable and blockable groups of the
//! runtime (taken from the host's `sigaddset_*` hooks, or our defaults),
//! and a guard that blocks a set and restores the old mask when dropped.
//!
//! Everything here is async-signal-safe (`sigemptyset`, `sigaddset`,
//! `pthread_sigmask`).

use core::mem::MaybeUninit;

use crate::legacy::hooks::hooks;

/// `SIG_INTERRUPT_THREAD` (SIGRTMIN, 34 with glibc).
pub(crate) fn sig_interrupt_thread() -> libc::c_int {
    libc::SIGRTMIN()
}

/// `SIG_STOP_FOR_GC` (SIGRTMIN+1, 35 with glibc).
pub(crate) fn sig_stop_for_gc() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

/// An empty signal set.
pub(crate) fn empty() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

/// A full signal set minus the synchronous signals that must stay
/// deliverable (a fault while they are blocked kills the process).
pub(crate) fn all_but_synchronous() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set; sigdelset edits it in place.
    unsafe {
        libc::sigfillset(set.as_mut_ptr());
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGABRT] {
            libc::sigdelset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

/// The deferrable signals (the host's `sigaddset_deferrable`).
pub(crate) fn deferrable() -> libc::sigset_t {
    let mut set = empty();
    hooks().sigaddset_deferrable(&mut set);
    set
}

/// The blockable signals: deferrables plus `SIG_STOP_FOR_GC`.
pub(crate) fn blockable() -> libc::sigset_t {
    let mut set = empty();
    hooks().sigaddset_blockable(&mut set);
    set
}

/// A set holding just `sig`.
pub(crate) fn only(sig: libc::c_int) -> libc::sigset_t {
    let mut set = empty();
    // SAFETY: `set` is initialised; sigaddset validates `sig`.
    unsafe { libc::sigaddset(&mut set, sig) };
    set
}

/// Adds `sig` to `set`.
pub(crate) fn add(set: &mut libc::sigset_t, sig: libc::c_int) {
    // SAFETY: `set` is initialised; sigaddset validates `sig`.
    unsafe { libc::sigaddset(set, sig) };
}

/// Whether `sig` is in `set`.
pub(crate) fn contains(set: &libc::sigset_t, sig: libc::c_int) -> bool {
    // SAFETY: `set` is an initialised sigset_t.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// The calling thread's current mask.
pub(crate) fn current_mask() -> libc::sigset_t {
    let mut old = empty();
    let nothing = empty();
    // SAFETY: blocking the empty set only reads the mask into `old`.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &nothing, &mut old) };
    old
}

/// Sets the calling thread's mask.
pub(crate) fn set_mask(mask: &libc::sigset_t) {
    // SAFETY: `mask` is initialised; no old mask requested.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, core::ptr::null_mut()) };
}

/// Blocks `set` in the calling thread, for good (no guard restores it).
pub(crate) fn block(set: &libc::sigset_t) {
    // SAFETY: `set` is initialised; no old mask requested.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, core::ptr::null_mut()) };
}

/// Unblocks `set` in the calling thread.
pub(crate) fn unblock(set: &libc::sigset_t) {
    // SAFETY: `set` is initialised; no old mask requested.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, set, core::ptr::null_mut()) };
}

/// Blocks a set of signals for its lifetime and then restores the mask the
/// thread had before.
#[must_use = "the signals are unblocked again when the guard is dropped"]
pub(crate) struct MaskGuard {
    old: libc::sigset_t,
    blocks_stop: bool,
}

impl MaskGuard {
    /// Blocks `set` (adding to the current mask).
    pub(crate) fn block(set: &libc::sigset_t) -> Self {
        let mut old = empty();
        // SAFETY: both sets are initialised.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, &mut old) };
        let stop = sig_stop_for_gc();
        Self { blocks_stop: contains(&old, stop) || contains(set, stop), old }
    }

    /// Blocks the deferrable signals.
    pub(crate) fn deferrables() -> Self {
        Self::block(&deferrable())
    }

    /// Blocks the deferrable signals and makes sure `SIG_STOP_FOR_GC` is
    /// not blocked (for code about to wait for `all_threads_lock` whose
    /// caller may have left it blocked).
    pub(crate) fn deferrables_stop_open() -> Self {
        let mut g = Self::deferrables();
        if g.blocks_stop {
            unblock(&only(sig_stop_for_gc()));
            g.blocks_stop = false;
        }
        g
    }

    /// Blocks the blockable signals (deferrables and `SIG_STOP_FOR_GC`).
    pub(crate) fn blockables() -> Self {
        Self::block(&blockable())
    }

    /// Whether `SIG_STOP_FOR_GC` is blocked while the guard lives.
    pub(crate) fn blocks_stop(&self) -> bool {
        self.blocks_stop
    }
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        set_mask(&self.old);
    }
}

/// The blockable signals blocked: while this lives, neither
/// `SIG_STOP_FOR_GC` nor `SIG_INTERRUPT_THREAD` can be handled by this
/// thread (the rule for holding the interrupt-queue spinlock).
#[must_use = "the signals are unblocked again when the guard is dropped"]
pub(crate) struct Blockables(#[allow(dead_code)] MaskGuard);

impl Blockables {
    /// Blocks the blockable signals until dropped.
    pub(crate) fn block() -> Self {
        Self(MaskGuard::blockables())
    }
}
