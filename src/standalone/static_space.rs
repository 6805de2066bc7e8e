//! Standalone static space: the static symbols of spec §4 at the very
//! addresses a legacy runtime has them (0x40000000 upwards), so that the
//! tagged constants mean the same thing in both modes.
//!
//! The page is mapped with `MAP_FIXED_NOREPLACE`: if anything already lives
//! there, nothing is clobbered and the library stops with a clear error.

use core::num::NonZeroUsize;
use core::sync::atomic::Ordering;

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};

use crate::legacy::lisp::{global_value_cell, sym, tls_index_cell, Symbol, OTHER_POINTER_LOWTAG};
use crate::diag::lose::lose;

/// Start of the static space of the legacy x86-64 build.
pub(crate) const STATIC_SPACE_START: usize = 0x4000_0000;
/// Bytes mapped: one page covers every static symbol thread.c uses.
pub(crate) const STATIC_SPACE_BYTES: usize = 0x1000;

/// Symbol header word: length 6 (words after the header) and the symbol
/// widetag, as the legacy build writes it; only cosmetic here.
const SYMBOL_HEADER: u64 = (6 << 8) | 0x2E;

/// Maps the static space and writes the symbols, or loses.
pub(crate) fn map_or_lose() {
    let (Some(addr), Some(len)) = (NonZeroUsize::new(STATIC_SPACE_START), NonZeroUsize::new(STATIC_SPACE_BYTES)) else {
        unreachable!("constants are non-zero")
    };
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the
    // kernel fails with EEXIST instead.
    let mapped = unsafe {
        mmap_anonymous(
            Some(addr),
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED_NOREPLACE,
        )
    };
    let problem = match mapped {
        Ok(p) if p.as_ptr() as usize == STATIC_SPACE_START => None,
        Ok(p) => {
            // An old kernel ignored MAP_FIXED_NOREPLACE and put it elsewhere.
            // SAFETY: `p` is the mapping just made and nothing uses it.
            let _ = unsafe { munmap(p, STATIC_SPACE_BYTES) };
            Some("the kernel chose another address")
        }
        Err(e) => Some(crate::diag::lose::errno_name(e as i32)),
    };
    if let Some(why) = problem {
        lose!(
            "libsbthread (standalone): cannot map the static symbols at {:#x}-{:#x}: {}; the address range is taken by another mapping of this process",
            STATIC_SPACE_START,
            STATIC_SPACE_START + STATIC_SPACE_BYTES,
            why
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
    let nil = crate::legacy::lisp::NIL;
    let nil_cdr = (nil - crate::legacy::lisp::LIST_POINTER_LOWTAG + 8) as usize as *mut u64;
    // SAFETY: NIL's cdr word is inside the mapped page.
    unsafe { nil_cdr.write(nil) };
}
