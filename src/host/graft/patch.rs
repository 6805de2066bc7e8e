//! Writing the graft's jumps into the executable's code (`graft/mod.rs`
//! decides what goes where): each patched entry gets
//! `jmp *0(%rip); .quad target`, an absolute jump that needs no register
//! and reaches anywhere.
//!
//! All or nothing. Before anything changes, every page to be written is
//! looked up in `/proc/self/maps` (it must be mapped executable; its
//! protection is recorded). Then every page is made writable (its
//! recorded protection plus `PROT_WRITE`: code that shares the page may
//! run meanwhile in another thread of a late load); if any `mprotect`
//! fails (a system that refuses writable code, SELinux's `execmod`),
//! every page already changed is given its recorded protection back and
//! nothing is written. Only then are the jumps written, and every page
//! gets exactly its recorded protection again.

use core::ffi::c_int;
use core::fmt;

/// Bytes of the jump written at each entry.
pub(crate) const JUMP_LEN: usize = 14;

/// The jump to `target`: `ff 25 00 00 00 00` (`jmp *0(%rip)`) and the
/// 8-byte address it reads.
fn jump_to(target: usize) -> [u8; JUMP_LEN] {
    let mut j = [0u8; JUMP_LEN];
    j[..6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
    j[6..].copy_from_slice(&(target as u64).to_le_bytes());
    j
}

/// Why the entries cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchError {
    /// `/proc/self/maps` could not be read.
    NoMaps,
    /// No mapping holds this page.
    NotMapped(usize),
    /// The page holding an entry is not executable.
    NotCode(usize),
    /// `mprotect` refused to make this page writable (errno).
    Refused(usize, c_int),
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PatchError::NoMaps => write!(f, "cannot read /proc/self/maps to learn the code's page protections"),
            PatchError::NotMapped(p) => write!(f, "no mapping holds page {p:#x}"),
            PatchError::NotCode(p) => write!(f, "page {p:#x} is not executable code"),
            PatchError::Refused(p, e) => write!(
                f,
                "the system refuses to make code writable (mprotect of page {p:#x}: {})",
                crate::diag::lose::errno_name(e)
            ),
        }
    }
}

/// One page to write, with the protection it had.
#[derive(Clone, Copy, Debug)]
struct Page {
    addr: usize,
    prot: c_int,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

/// The protection of the mapping holding `page`, from the text of
/// `/proc/self/maps` ("start-end rwxp ...").
fn protection_in(maps: &str, page: usize) -> Option<c_int> {
    maps.lines().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (range, perms) = (fields.next()?, fields.next()?.as_bytes());
        let (start, end) = range.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        if !(start <= page && page < end) || perms.len() < 3 {
            return None;
        }
        let bit = |i: usize, c: u8, p: c_int| if perms[i] == c { p } else { 0 };
        Some(bit(0, b'r', libc::PROT_READ) | bit(1, b'w', libc::PROT_WRITE) | bit(2, b'x', libc::PROT_EXEC))
    })
}

/// The pages that writes of `len` bytes at each `start` of `spans` touch,
/// each once, with their current protections. Writes nothing.
fn pages_of(spans: &[(usize, usize)]) -> Result<Vec<Page>, PatchError> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|_| PatchError::NoMaps)?;
    let size = page_size();
    let mut pages: Vec<Page> = Vec::new();
    for &(start, len) in spans {
        let first = start & !(size - 1);
        let last = (start + len.max(1) - 1) & !(size - 1);
        let mut addr = first;
        while addr <= last {
            if !pages.iter().any(|p| p.addr == addr) {
                let prot = protection_in(&maps, addr).ok_or(PatchError::NotMapped(addr))?;
                if prot & libc::PROT_EXEC == 0 {
                    return Err(PatchError::NotCode(addr));
                }
                pages.push(Page { addr, prot });
            }
            addr += size;
        }
    }
    Ok(pages)
}

fn mprotect(addr: usize, prot: c_int) -> Result<(), c_int> {
    // SAFETY: `addr` is a page of the executable's code mapping; changing
    // its protection does not unmap anything, and the protections given
    // keep it readable and executable.
    if unsafe { libc::mprotect(addr as *mut libc::c_void, page_size(), prot) } == 0 {
        Ok(())
    } else {
        Err(crate::sys::errno::get())
    }
}

/// Checks that every entry can be written, without writing anything.
pub(crate) fn check(entries: &[usize]) -> Result<(), PatchError> {
    let spans: Vec<(usize, usize)> = entries.iter().map(|&e| (e, JUMP_LEN)).collect();
    pages_of(&spans).map(|_| ())
}

/// Writes a jump to `target` at each `entry` of `patches`, or nothing.
///
/// Returns how many pages kept a protection other than the one they had
/// (a failed restore: the jumps are written then).
///
/// # Safety
/// Each entry must be the start of a function of at least [`JUMP_LEN`]
/// bytes that no thread is executing, and each target a function with the
/// same signature.
pub(crate) unsafe fn write_jumps(patches: &[(usize, usize)]) -> Result<usize, PatchError> {
    let writes: Vec<(usize, [u8; JUMP_LEN])> = patches.iter().map(|&(entry, target)| (entry, jump_to(target))).collect();
    let spans: Vec<(usize, &[u8])> = writes.iter().map(|(entry, jump)| (*entry, &jump[..])).collect();
    // SAFETY: the caller's contract, for each jump.
    unsafe { write_code(&spans) }
}

/// Writes each `(start, bytes)` of `writes` into the executable's code, or
/// nothing (module comment: all pages are made writable first, and each
/// gets exactly its recorded protection back). Returns how many pages kept
/// another protection (a failed restore: the bytes are written then).
///
/// # Safety
/// No thread may be executing the bytes replaced, and the new bytes must
/// be code the callers of that place can run.
pub(crate) unsafe fn write_code(writes: &[(usize, &[u8])]) -> Result<usize, PatchError> {
    let spans: Vec<(usize, usize)> = writes.iter().map(|&(start, bytes)| (start, bytes.len())).collect();
    let pages = pages_of(&spans)?;
    for (i, page) in pages.iter().enumerate() {
        let made = if crate::diag::fault::graft_mprotect_should_fail() {
            Err(libc::EACCES)
        } else {
            mprotect(page.addr, page.prot | libc::PROT_WRITE)
        };
        if let Err(e) = made {
            for done in &pages[..i] {
                let _ = mprotect(done.addr, done.prot);
            }
            return Err(PatchError::Refused(page.addr, e));
        }
    }
    for &(start, bytes) in writes {
        // SAFETY: the pages are writable now; the caller vouches that no
        // thread runs these bytes.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), start as *mut u8, bytes.len()) };
    }
    Ok(pages.iter().filter(|p| mprotect(p.addr, p.prot).is_err()).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_encoding() {
        let j = jump_to(0x1122_3344_5566_7788);
        assert_eq!(j, [0xff, 0x25, 0, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    }

    #[test]
    fn protections_from_maps() {
        let maps = "00400000-00408000 r--p 00000000 08:01 1 /x\n\
                    00408000-0041c000 r-xp 00008000 08:01 1 /x\n\
                    0041c000-00424000 rw-p 00000000 00:00 0\n";
        assert_eq!(protection_in(maps, 0x408000), Some(libc::PROT_READ | libc::PROT_EXEC));
        assert_eq!(protection_in(maps, 0x41b000), Some(libc::PROT_READ | libc::PROT_EXEC));
        assert_eq!(protection_in(maps, 0x400000), Some(libc::PROT_READ));
        assert_eq!(protection_in(maps, 0x41c000), Some(libc::PROT_READ | libc::PROT_WRITE));
        assert_eq!(protection_in(maps, 0x424000), None);
    }

    #[test]
    fn data_is_not_code() {
        static DATA: [u8; 64] = [0; 64];
        let addr = DATA.as_ptr() as usize;
        assert!(matches!(check(&[addr]), Err(PatchError::NotCode(_))));
        assert!(matches!(check(&[8]), Err(PatchError::NotMapped(0))));
    }
}
