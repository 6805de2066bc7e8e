//! `SBTHREAD_TRACE`: one line per lifecycle, stop/start and interrupt
//! event on stderr, switchable at run time. Level 1 traces lifecycle and
//! stop/start; level 2 adds every interrupt and every signal handled.
//!
//! Lines are formatted on the stack and written with one `write(2)`, so
//! tracing is async-signal-safe and lines from different threads do not
//! interleave.

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::diag::lose::MessageBuf;

static LEVEL: AtomicU32 = AtomicU32::new(0);

/// Reads `SBTHREAD_TRACE` (once, at set-up).
pub(crate) fn configure_from_env() {
    if let Ok(v) = std::env::var("SBTHREAD_TRACE") {
        let level = v.trim().parse::<u32>().unwrap_or(if v.is_empty() { 0 } else { 1 });
        LEVEL.store(level, Ordering::Relaxed);
    }
}

/// Sets the level; returns the old one.
pub(crate) fn set_level(level: u32) -> u32 {
    LEVEL.swap(level, Ordering::Relaxed)
}

/// Whether events of `level` are traced.
pub(crate) fn enabled(level: u32) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level
}

/// Writes one trace line.
pub(crate) fn emit(args: core::fmt::Arguments<'_>) {
    let mut line = MessageBuf::new();
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let _ = write!(line, "sbthread[{tid}] ");
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    let bytes = line.as_bytes();
    let _errno = crate::sys::errno::Saved::now();
    // SAFETY: writing a stack buffer to fd 2.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// `trace!(level, "fmt", args...)`.
macro_rules! trace {
    ($level:expr, $($arg:tt)*) => {
        if $crate::diag::trace::enabled($level) {
            $crate::diag::trace::emit(format_args!($($arg)*));
        }
    };
}
pub(crate) use trace;
