//! What the kernel shows of one of this process's tasks, read from
//! `/proc/self/task/TID/`: whether it is asleep (`stat`), and the futex
//! wait it is blocked in (`syscall`). Only a stopper looks (an ordinary
//! thread inside `gc_stop_the_world`, not a signal handler); each look
//! is an open, a read and a close.

const SYS_FUTEX: u64 = 202;
const FUTEX_CMD_MASK: u64 = 0x7F;
const FUTEX_WAIT: u64 = 0;

/// Whether the kernel shows task `tid` of this process asleep ('S', an
/// interruptible wait). False when it cannot tell (no tid, no `/proc`).
pub(crate) fn asleep(tid: u32) -> bool {
    let mut buf = [0u8; 256];
    match read_proc_task(tid, "stat", &mut buf) {
        Some(n) => task_state(&buf[..n]) == Some(b'S'),
        None => false,
    }
}

/// Reads `/proc/self/task/<tid>/<file>` into `buf` (one `read`); the
/// number of bytes, or None (no tid, no such task or file).
fn read_proc_task(tid: u32, file: &str, buf: &mut [u8]) -> Option<usize> {
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

/// A FUTEX_WAIT a task is blocked in.
pub(crate) struct FutexWait {
    /// The futex word.
    pub(crate) uaddr: u64,
    /// The value the waiter expects there.
    pub(crate) expected: u32,
    /// The task's stack pointer and program counter.
    pub(crate) sp: u64,
    /// See `sp`.
    pub(crate) pc: u64,
    /// The wait's `FUTEX_PRIVATE_FLAG` (0 for a shared wait): a wake-up
    /// must use the same to reach it.
    pub(crate) private_flag: i32,
}

impl FutexWait {
    /// A FUTEX_WAKE of every sleeper on this wait's word; how many the
    /// kernel woke (0 on an error).
    pub(crate) fn wake_all(&self) -> u64 {
        // SAFETY: FUTEX_WAKE only uses the address as a key (an unmapped
        // one fails with EFAULT); the op has the waiter's private flag, so
        // the key is the one it sleeps on.
        let n = unsafe { libc::syscall(libc::SYS_futex, self.uaddr as usize, libc::FUTEX_WAKE | self.private_flag, i32::MAX) };
        n.max(0) as u64
    }
}

/// Reads `/proc/self/task/<tid>/syscall`: "nr a0 .. a5 sp pc" while the
/// task is blocked in a system call.
pub(crate) fn futex_wait_of(tid: u32) -> Option<FutexWait> {
    let mut buf = [0u8; 256];
    let n = read_proc_task(tid, "syscall", &mut buf)?;
    let text = core::str::from_utf8(&buf[..n]).ok()?;
    let mut fields = text.split_ascii_whitespace();
    let nr: u64 = fields.next()?.parse().ok()?;
    let mut v = [0u64; 8];
    for x in v.iter_mut() {
        *x = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    if nr != SYS_FUTEX || v[1] & FUTEX_CMD_MASK != FUTEX_WAIT {
        return None;
    }
    let private_flag = (v[1] as i32) & libc::FUTEX_PRIVATE_FLAG;
    Some(FutexWait { uaddr: v[0], expected: v[2] as u32, sp: v[6], pc: v[7], private_flag })
}

/// Calls `f` with the id of every task of this process
/// (`/proc/self/task`, read with `getdents64` into a buffer on the stack:
/// no allocation). Nothing when `/proc` cannot be read.
pub(crate) fn for_each_task(mut f: impl FnMut(u32)) {
    // SAFETY: a NUL-terminated path; the descriptor is ours, closed below.
    let fd = unsafe { libc::open(c"/proc/self/task".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: `buf` is writable for its length; `fd` is a directory.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break;
        }
        each_dirent_name(&buf[..n as usize], |name| {
            if let Some(tid) = core::str::from_utf8(name).ok().and_then(|t| t.parse().ok()) {
                f(tid);
            }
        });
    }
    // SAFETY: our descriptor, closed once.
    unsafe { libc::close(fd) };
}

/// The names in a `getdents64` buffer (`struct linux_dirent64`: inode 8,
/// offset 8, record length 2, type 1, then the NUL-terminated name).
fn each_dirent_name(buf: &[u8], mut f: impl FnMut(&[u8])) {
    let mut at = 0;
    while at + 19 <= buf.len() {
        let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
        if reclen == 0 || at + reclen > buf.len() {
            return;
        }
        let name = &buf[at + 19..at + reclen];
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        f(&name[..len]);
        at += reclen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::Ordering;

    #[test]
    fn state_letter_follows_the_last_parenthesis() {
        assert_eq!(task_state(b"123 (sbcl) S 1 2 3"), Some(b'S'));
        assert_eq!(task_state(b"123 (a) b) R 1"), Some(b'R'));
        assert_eq!(task_state(b"123 (sbcl"), None);
        assert_eq!(task_state(b"1 (x)"), None);
    }

    #[test]
    fn every_task_is_listed() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as u32).unwrap();
            wait.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
        let mut seen = Vec::new();
        for_each_task(|t| seen.push(t));
        go.send(()).unwrap();
        other.join().unwrap();
        assert!(seen.contains(&me) && seen.contains(&tid), "{seen:?}");
        assert!(!seen.contains(&0), "only numeric names: {seen:?}");
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

    #[test]
    fn a_blocked_futex_wait_is_read_from_proc() {
        let word = std::sync::Arc::new(core::sync::atomic::AtomicU32::new(7));
        let (tx, rx) = std::sync::mpsc::channel();
        let w = word.clone();
        let sleeper = std::thread::spawn(move || {
            let marker = 0u64;
            let at = core::hint::black_box(&marker) as *const u64 as u64;
            // SAFETY: gettid has no preconditions.
            tx.send((unsafe { libc::syscall(libc::SYS_gettid) } as u32, at)).unwrap();
            while w.load(Ordering::SeqCst) == 7 {
                crate::sys::futex::wait(&w, 7, None);
            }
        });
        let (tid, marker) = rx.recv().unwrap();
        let mut seen = None;
        for _ in 0..2000 {
            if let Some(f) = futex_wait_of(tid) {
                seen = Some(f);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        word.store(8, Ordering::SeqCst);
        crate::sys::futex::wake(&word, 1);
        sleeper.join().unwrap();
        let f = seen.expect("the sleeper's futex wait");
        assert_eq!(f.uaddr, word.as_ptr() as u64);
        assert_eq!(f.expected, 7);
        // The stack pointer is the sleeper's own, below its frames: a scan
        // from it up to the stack's end covers the marker's frame.
        assert!(f.sp < marker && marker - f.sp < 1 << 16, "sp {:#x}, marker at {:#x}", f.sp, marker);
        assert!(f.pc != 0);
    }
}
