//! The calling thread's `errno`: read, write, and a guard that puts it
//! back (signal handlers and trace lines must not change what the
//! interrupted code sees). Async-signal-safe.

/// The current value.
pub(crate) fn get() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets it.
pub(crate) fn set(v: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = v }
}

/// Saves `errno` when made, restores it when dropped.
pub(crate) struct Saved(i32);

impl Saved {
    /// Saves the current value.
    pub(crate) fn now() -> Self {
        Self(get())
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        set(self.0);
    }
}
