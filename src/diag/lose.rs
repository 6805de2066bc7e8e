//! Fatal errors. Every misuse and every impossible state ends here, with a
//! message naming the function, the thread and its state, passed to the
//! host's `lose` (or the library's default, which prints and aborts).
//!
//! Formatting uses `core::fmt` into a fixed stack buffer: no allocation and
//! no locks, so [`lose!`] may be used from signal handlers.

use core::ffi::{c_char, c_ulong};
use core::fmt::{self, Write};

use crate::legacy::types::{lispobj, SBTHREAD_STATE_DEAD, SBTHREAD_STATE_RUNNING};
use crate::legacy::types::{SBTHREAD_STATE_STARTING, SBTHREAD_STATE_SUSPENDED};

/// Longest message kept; longer ones are cut (and end in "...").
const CAPACITY: usize = 480;

/// A message being formatted on the stack.
pub(crate) struct MessageBuf {
    bytes: [u8; CAPACITY + 4],
    len: usize,
}

impl MessageBuf {
    /// An empty message.
    pub(crate) const fn new() -> Self {
        Self { bytes: [0; CAPACITY + 4], len: 0 }
    }

    /// The message so far, NUL-terminated, as a C string pointer. The
    /// pointer is valid while `self` is.
    pub(crate) fn as_c_str(&mut self) -> *const c_char {
        self.bytes[self.len] = 0;
        self.bytes.as_ptr().cast()
    }

    /// The bytes written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Write for MessageBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == CAPACITY {
                self.bytes[CAPACITY..CAPACITY + 3].copy_from_slice(b"...");
                self.len = CAPACITY + 3;
                return Ok(());
            }
            if self.len > CAPACITY {
                return Ok(());
            }
            // A NUL would cut the C string short; show it instead.
            self.bytes[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// The name of a thread state word, for messages.
pub(crate) fn state_name(state: lispobj) -> &'static str {
    match state {
        SBTHREAD_STATE_STARTING => "STARTING",
        SBTHREAD_STATE_RUNNING => "RUNNING",
        SBTHREAD_STATE_SUSPENDED => "SUSPENDED",
        SBTHREAD_STATE_DEAD => "DEAD",
        _ => "(not a thread state)",
    }
}

/// Formats `args` and hands the message to the `lose` hook. Never returns:
/// if a host's `lose` comes back, the process aborts.
///
/// Every message ends with the calling thread and its state, so that even
/// a misuse about a thread that does not exist (NULL, already reaped) says
/// who made it.
pub(crate) fn lose_fmt(args: fmt::Arguments<'_>) -> ! {
    let mut msg = MessageBuf::new();
    let _ = msg.write_fmt(args);
    let th = crate::legacy::hooks::current_thread_ptr_if_ready();
    let _ = if th.is_null() {
        msg.write_str(" [calling thread not registered]")
    } else {
        // SAFETY: a registered thread's own struct, live while it runs;
        // `state` is written atomically by the library (volatile in C).
        let state = unsafe { core::sync::atomic::AtomicU64::from_ptr(core::ptr::addr_of_mut!((*th).state)) }
            .load(core::sync::atomic::Ordering::Acquire);
        write!(msg, " [calling thread {:#x}, state {}]", addr(th), state_name(state))
    };
    crate::legacy::hooks::call_lose(msg.as_c_str());
    // SAFETY: abort is always safe to call; a `lose` must not return.
    unsafe { libc::abort() }
}

/// `lose!("fmt", args...)`: fatal error with a formatted message.
macro_rules! lose {
    ($($arg:tt)*) => {
        $crate::diag::lose::lose_fmt(format_args!($($arg)*))
    };
}
pub(crate) use lose;

/// Description of an `errno`-style code for messages (async-signal-safe:
/// a fixed table, no `strerror`).
pub(crate) fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EAGAIN => "EAGAIN (resource temporarily unavailable)",
        libc::ESRCH => "ESRCH (no such thread)",
        libc::EINVAL => "EINVAL (invalid argument)",
        libc::EPERM => "EPERM (operation not permitted)",
        libc::ENOMEM => "ENOMEM (out of memory)",
        libc::EDEADLK => "EDEADLK (deadlock)",
        libc::EEXIST => "EEXIST (already exists)",
        libc::EACCES => "EACCES (permission denied)",
        _ => "(see errno.h)",
    }
}

/// Shorthand used in messages: a thread pointer as a number.
pub(crate) fn addr<T>(p: *const T) -> c_ulong {
    p as usize as c_ulong
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_nul_terminated_and_cut_when_long() {
        let mut m = MessageBuf::new();
        write!(m, "thread {:#x} state {}", 0x1000, state_name(SBTHREAD_STATE_DEAD)).unwrap();
        assert_eq!(m.as_bytes(), b"thread 0x1000 state DEAD");
        let long = "x".repeat(CAPACITY * 2);
        let mut m = MessageBuf::new();
        m.write_str(&long).unwrap();
        assert_eq!(m.as_bytes().len(), CAPACITY + 3);
        assert!(m.as_bytes().ends_with(b"..."));
        let p = m.as_c_str();
        // SAFETY: as_c_str returns a NUL-terminated buffer owned by `m`.
        assert_eq!(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes().len(), CAPACITY + 3);
    }

    #[test]
    fn embedded_nul_does_not_cut_the_message() {
        let mut m = MessageBuf::new();
        m.write_str("a\0b").unwrap();
        assert_eq!(m.as_bytes(), b"a?b");
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(SBTHREAD_STATE_STARTING), "STARTING");
        assert_eq!(state_name(SBTHREAD_STATE_RUNNING), "RUNNING");
        assert_eq!(state_name(SBTHREAD_STATE_SUSPENDED), "SUSPENDED");
        assert_eq!(state_name(7), "(not a thread state)");
    }
}
