//! Standalone static space: the static symbols of spec §4 at the very
//! addresses a legacy runtime has them (0x40000000 upwards), so that the
//! tagged constants mean the same thing in both modes.
//!
//! The page is mapped with `MAP_FIXED_NOREPLACE`: if anything already lives
//! there, nothing is clobbered and the library stops with a clear error.

use core::sync::atomic::Ordering;

use crate::lisp::{global_value_cell, sym, tls_index_cell, Symbol, OTHER_POINTER_LOWTAG};
use crate::lose::{errno_name, lose};

/// Start of the static space of the legacy x86-64 build.
pub(crate) const STATIC_SPACE_START: usize = 0x4000_0000;
/// Bytes mapped: one page covers every static symbol thread.c uses.
pub(crate) const STATIC_SPACE_BYTES: usize = 0x1000;

/// Symbol header word: length 6 (words after the header) and the symbol
/// widetag, as the legacy build writes it; only cosmetic here.
const SYMBOL_HEADER: u64 = (6 << 8) | 0x2E;

/// Maps the static space and writes the symbols, or loses.
pub(crate) fn map_or_lose() {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the
    // kernel fails with EEXIST instead.
    let p = unsafe {
        libc::mmap(
            STATIC_SPACE_START as *mut libc::c_void,
            STATIC_SPACE_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED || p as usize != STATIC_SPACE_START {
        let err = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if p != libc::MAP_FAILED {
            // An old kernel ignored MAP_FIXED_NOREPLACE and put it elsewhere.
            // SAFETY: `p` is the mapping just made and nothing uses it.
            unsafe { libc::munmap(p, STATIC_SPACE_BYTES) };
        }
        lose!(
            "libsbthread (standalone): cannot map the static symbols at {:#x}-{:#x}: {}; the address range is taken by another mapping of this process",
            STATIC_SPACE_START,
            STATIC_SPACE_START + STATIC_SPACE_BYTES,
            if p == libc::MAP_FAILED { errno_name(err) } else { "the kernel chose another address" }
        );
    }
    for (tagged, value) in sym::ALL {
        let header = (tagged - OTHER_POINTER_LOWTAG) as usize as *mut Symbol;
        // NIL doubles as a cons: its value and hash words are its car and
        // cdr, both NIL, which the table gives as its value.
        // SAFETY: every symbol lies inside the page mapped above.
        unsafe { (*header).header = SYMBOL_HEADER };
        global_value_cell(tagged).store(value, Ordering::Relaxed);
        tls_index_cell(tagged).store(0, Ordering::Relaxed);
    }
    let nil = crate::lisp::NIL;
    let nil_cdr = (nil - crate::lisp::LIST_POINTER_LOWTAG + 8) as usize as *mut u64;
    // SAFETY: NIL's cdr word is inside the mapped page.
    unsafe { nil_cdr.write(nil) };
}
