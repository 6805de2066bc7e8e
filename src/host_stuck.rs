//! Host mode: a stop that cannot finish on its own, and how the stopper
//! gets out of it.
//!
//! The runtime's handler defers a stop that arrives while the thread is
//! pseudo-atomic or has GC inhibited (it sets `STOP_FOR_GC_PENDING` and
//! honours it when the section ends), and Lisp code sometimes blocks the
//! signals outright (a thread's exit code does both). If such a thread
//! then sleeps waiting for a Lisp mutex whose holder has already been
//! suspended by this stop, nothing ever wakes either of them: 0.9.4.1's
//! exit code takes `*all-threads-lock*` that way, while `MAKE-THREAD`
//! takes the same lock with GC allowed. The real runtime hung on it, with
//! upstream's library as with ours; no deferral rule forbids it.
//!
//! What the stopper does: a thread that is still RUNNING after its stop
//! signal and that the kernel shows asleep at every look for
//! [`ASLEEP_FOR_NS`] has deferred its stop (a deliverable signal wakes a
//! sleeping thread at once). The stopper then backs off: it resumes every
//! thread this stop has suspended, exactly as `gc_start_the_world` would
//! (no collection has started; to the runtime it is a stop with nothing
//! collected), waits until the sleeper has stopped or died, and stops the
//! others again. The stopper keeps `all_threads_lock` throughout, so the
//! set of threads does not change. A thread whose deferred stop signal is
//! still on its way (`Private::stop_sent`) is not signalled again: the
//! signal is real-time and queues, and the handler would take the second
//! one for its resume.
//!
//! Backing off cannot resolve a sleeper waiting for a lock the stopper
//! itself holds (0.9.4.1 can start a collection inside `MAKE-THREAD`'s
//! `WITH-MUTEX`): a Lisp mutex is adopted instead (`host_adopt.rs`), and
//! for anything else still asleep after [`STALL_WARNING_NS`] the stopper
//! says so on stderr, once.
//!
//! The stopper is an ordinary thread here (inside `gc_stop_the_world`),
//! not a signal handler: reading `/proc` is fine.

use core::sync::atomic::Ordering;

use crate::abi_types::{SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_SUSPENDED};
use crate::host_fanout;
use crate::lose::{addr, errno_name, lose};
use crate::registry;
use crate::stats;
use crate::thread_ref::ThreadRef;
use crate::trace::trace;

/// How long a thread must be seen asleep, still RUNNING after its stop
/// signal, before the stopper backs off. A sleeping thread that can take
/// the signal is woken within microseconds; a thread waiting for a CPU is
/// runnable, not asleep.
const ASLEEP_FOR_NS: u64 = 2_000_000;

/// How long the stopper waits for a thread before it starts looking in
/// `/proc` at all: nearly every stop is over by then, and a look costs
/// three system calls.
const LOOK_AFTER_NS: u64 = 1_000_000;

/// The stopper's watch over the one thread it is waiting for.
pub(crate) struct Watch {
    /// When the stopper first found the thread still RUNNING.
    waiting_since: Option<u64>,
    /// When the thread was first seen asleep in an unbroken run of looks.
    asleep_since: Option<u64>,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self { waiting_since: None, asleep_since: None }
    }

    /// Called each time the stopper finds `th` still RUNNING: true once
    /// `th` has been asleep at every look for [`ASLEEP_FOR_NS`].
    pub(crate) fn stuck(&mut self, th: ThreadRef) -> bool {
        let now = stats::now_ns();
        let waiting_since = *self.waiting_since.get_or_insert(now);
        if now - waiting_since < LOOK_AFTER_NS {
            return false;
        }
        if !asleep(th.private().tid.load(Ordering::Relaxed)) {
            self.asleep_since = None;
            return false;
        }
        let since = *self.asleep_since.get_or_insert(now);
        now - since >= ASLEEP_FOR_NS
    }
}

/// Whether the kernel shows task `tid` of this process asleep ('S', an
/// interruptible wait). False when it cannot tell (no tid, no `/proc`).
fn asleep(tid: u32) -> bool {
    let mut buf = [0u8; 256];
    match read_proc_task(tid, "stat", &mut buf) {
        Some(n) => task_state(&buf[..n]) == Some(b'S'),
        None => false,
    }
}

/// Reads `/proc/self/task/<tid>/<file>` into `buf` (one `read`); the
/// number of bytes, or None (no tid, no such task or file).
pub(crate) fn read_proc_task(tid: u32, file: &str, buf: &mut [u8]) -> Option<usize> {
    if tid == 0 {
        return None;
    }
    let mut path = [0u8; 64];
    let len = task_path(tid, file, &mut path)?;
    debug_assert!(path[len] == 0);
    // SAFETY: `path` is NUL-terminated (task_path); `buf` is writable for
    // its length; the descriptor is ours and closed here.
    let n = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    (n > 0).then_some(n as usize)
}

/// Writes `/proc/self/task/<tid>/<file>` and a NUL into `out`; returns the
/// length without the NUL.
fn task_path(tid: u32, file: &str, out: &mut [u8; 64]) -> Option<usize> {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut out[..]);
    write!(cursor, "/proc/self/task/{tid}/{file}\0").ok()?;
    Some(cursor.position() as usize - 1)
}

/// The state letter of a `/proc/.../stat` line: the field after the
/// command name, which is in parentheses and may itself hold any byte.
fn task_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// How long the stopper waits, backed off, for a sleeper before it says
/// so on stderr (once per back-off): the sleeper may be waiting for a
/// lock the stopper itself holds, which nothing can resolve.
const STALL_WARNING_NS: u64 = 5_000_000_000;

/// One line on stderr, whatever `SBTHREAD_TRACE` says: a stop that has
/// waited [`STALL_WARNING_NS`] for a sleeper is most likely a deadlock in
/// the runtime's Lisp code (RELIABILITY.md), and a hang says nothing.
fn warn_stalled(stuck: ThreadRef) {
    crate::trace::emit(format_args!(
        "warning: gc_stop_the_world has waited {} s for thread {:#x} (tid {}), asleep with its stop deferred, \
         every other thread resumed; if it waits for a lock the collecting thread holds, the runtime's Lisp \
         code is deadlocked",
        STALL_WARNING_NS / 1_000_000_000,
        addr(stuck.as_ptr()),
        stuck.private().tid.load(Ordering::Relaxed)
    ));
}

/// Stopper, holding `all_threads_lock`, no helper popping: `stuck` has
/// deferred its stop and sleeps. Resumes the threads this stop suspended,
/// waits until `stuck` is SUSPENDED or DEAD, then signals again every
/// RUNNING thread that has no stop signal on its way. The caller then
/// waits for the whole stop again.
pub(crate) fn back_off(me: Option<ThreadRef>, stuck: ThreadRef) {
    stats::STOP_BACKOFFS.bump();
    let mut resumed = 0u32;
    for th in registry::iter().filter(|t| Some(*t) != me) {
        if th.state() != SBTHREAD_STATE_SUSPENDED {
            continue;
        }
        let r = host_fanout::resume(th);
        if r != 0 {
            lose!("gc_stop_the_world: cannot resume thread {:#x} while backing off: {}", addr(th.as_ptr()), errno_name(r));
        }
        resumed += 1;
    }
    trace!(
        1,
        "gc_stop_the_world: thread {:#x} deferred its stop and sleeps; {} thread(s) resumed until it stops",
        addr(stuck.as_ptr()),
        resumed
    );
    let since = stats::now_ns();
    let mut warned = false;
    loop {
        let seen = host_fanout::events();
        if host_fanout::stopped(stuck) || crate::host_adopt::try_adopt(me, stuck) {
            break;
        }
        if !warned && stats::now_ns() - since >= STALL_WARNING_NS {
            warned = true;
            warn_stalled(stuck);
        }
        host_fanout::sleep_unless_changed(seen);
    }
    host_fanout::begin_stop();
    for th in registry::iter().filter(|t| Some(*t) != me) {
        if th.state() == SBTHREAD_STATE_RUNNING && th.private().stop_sent.load(Ordering::Relaxed) == 0 {
            host_fanout::request_stop(th);
        }
    }
    host_fanout::send_stops();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_letter_follows_the_last_parenthesis() {
        assert_eq!(task_state(b"123 (sbcl) S 1 2 3"), Some(b'S'));
        assert_eq!(task_state(b"123 (a) b) R 1"), Some(b'R'));
        assert_eq!(task_state(b"123 (sbcl"), None);
        assert_eq!(task_state(b"1 (x)"), None);
    }

    #[test]
    fn task_path_is_nul_terminated() {
        let mut out = [0u8; 64];
        let n = task_path(4_294_967_295, "stat", &mut out).unwrap();
        assert_eq!(&out[..n], b"/proc/self/task/4294967295/stat");
        assert_eq!(out[n], 0);
    }

    #[test]
    fn a_thread_blocked_in_a_read_is_seen_asleep() {
        let mut fds = [0; 2];
        // SAFETY: `fds` is writable for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as u32).unwrap();
            let mut b = 0u8;
            // SAFETY: reads one byte into `b` from our pipe.
            unsafe { libc::read(fds[0], (&mut b as *mut u8).cast(), 1) };
        });
        let tid = rx.recv().unwrap();
        let mut seen = false;
        for _ in 0..2000 {
            if asleep(tid) {
                seen = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: writes one byte to our pipe, then closes both ends.
        unsafe {
            libc::write(fds[1], b"x".as_ptr().cast(), 1);
        }
        reader.join().unwrap();
        // SAFETY: our descriptors, closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert!(seen);
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
        assert!(!asleep(me), "the calling thread is running");
        assert!(!asleep(0));
    }
}
