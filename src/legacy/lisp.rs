//! The few Lisp objects the thread subsystem touches (spec §4): fixnums,
//! the static symbols at their fixed addresses and their cells, and
//! conses. (A symbol's value as one thread sees it, through its TLS area,
//! is `thread/symbols.rs`.)
//!
//! Static symbols live in the host's static space, or in the one
//! `standalone/static_space.rs` maps for standalone use, at the same addresses.

use core::sync::atomic::AtomicU64;

use crate::legacy::types::{lispobj, SBTHREAD_NIL, SBTHREAD_T, SBTHREAD_UNBOUND_MARKER};

/// `make_fixnum(n)`.
pub(crate) const fn make_fixnum(n: i64) -> lispobj {
    (n << 3) as lispobj
}

/// `fixnum_value(x)`.
pub(crate) const fn fixnum_value(x: lispobj) -> i64 {
    (x as i64) >> 3
}

/// Lowtag of a list pointer (a cons).
pub(crate) const LIST_POINTER_LOWTAG: lispobj = 0x7;
/// Lowtag of an other-pointer (a symbol).
pub(crate) const OTHER_POINTER_LOWTAG: lispobj = 0xF;
/// The unbound marker.
pub(crate) const UNBOUND: lispobj = SBTHREAD_UNBOUND_MARKER;
/// `NIL`.
pub(crate) const NIL: lispobj = SBTHREAD_NIL;
/// `T`.
pub(crate) const T: lispobj = SBTHREAD_T;

/// The static symbols thread.c uses, tagged (spec §4).
pub(crate) mod sym {
    use crate::legacy::types::lispobj;
    pub(crate) const CURRENT_CATCH_BLOCK: lispobj = 0x4000_038F;
    pub(crate) const CURRENT_UNWIND_PROTECT_BLOCK: lispobj = 0x4000_03CF;
    pub(crate) const ALIEN_STACK: lispobj = 0x4000_040F;
    pub(crate) const PSEUDO_ATOMIC_ATOMIC: lispobj = 0x4000_044F;
    pub(crate) const PSEUDO_ATOMIC_INTERRUPTED: lispobj = 0x4000_048F;
    pub(crate) const INTERRUPTS_ENABLED: lispobj = crate::legacy::types::SBTHREAD_SYM_INTERRUPTS_ENABLED;
    pub(crate) const INTERRUPT_PENDING: lispobj = crate::legacy::types::SBTHREAD_SYM_INTERRUPT_PENDING;
    pub(crate) const FREE_INTERRUPT_CONTEXT_INDEX: lispobj = 0x4000_054F;
    pub(crate) const GC_INHIBIT: lispobj = crate::legacy::types::SBTHREAD_SYM_GC_INHIBIT;
    pub(crate) const STOP_FOR_GC_PENDING: lispobj = crate::legacy::types::SBTHREAD_SYM_STOP_FOR_GC_PENDING;
    pub(crate) const GC_PENDING: lispobj = 0x4000_060F;
    pub(crate) const FREE_TLS_INDEX: lispobj = crate::legacy::types::SBTHREAD_SYM_FREE_TLS_INDEX;
    pub(crate) const BINDING_STACK_POINTER: lispobj = 0x4000_06CF;
    pub(crate) const BINDING_STACK_START: lispobj = 0x4000_070F;
    pub(crate) const CONTROL_STACK_START: lispobj = 0x4000_074F;
    pub(crate) const CONTROL_STACK_END: lispobj = 0x4000_078F;

    /// Every static symbol above plus NIL and T, with its initial global
    /// value in a fresh standalone static space.
    pub(crate) const ALL: [(lispobj, lispobj); 18] = {
        use crate::legacy::lisp::{make_fixnum, NIL, T, UNBOUND};
        [
            (NIL, NIL),
            (T, T),
            (CURRENT_CATCH_BLOCK, make_fixnum(0)),
            (CURRENT_UNWIND_PROTECT_BLOCK, make_fixnum(0)),
            (ALIEN_STACK, 0),
            (PSEUDO_ATOMIC_ATOMIC, 0),
            (PSEUDO_ATOMIC_INTERRUPTED, 0),
            (INTERRUPTS_ENABLED, T),
            (INTERRUPT_PENDING, NIL),
            (FREE_INTERRUPT_CONTEXT_INDEX, make_fixnum(0)),
            (GC_INHIBIT, NIL),
            (STOP_FOR_GC_PENDING, NIL),
            (GC_PENDING, NIL),
            (FREE_TLS_INDEX, UNBOUND),
            (BINDING_STACK_POINTER, 0),
            (BINDING_STACK_START, 0),
            (CONTROL_STACK_START, 0),
            (CONTROL_STACK_END, 0),
        ]
    };
}

/// `struct symbol` (7 words; `tls_index` at byte 48).
#[repr(C)]
pub(crate) struct Symbol {
    pub(crate) header: lispobj,
    pub(crate) value: lispobj,
    pub(crate) hash: lispobj,
    pub(crate) plist: lispobj,
    pub(crate) name: lispobj,
    pub(crate) package: lispobj,
    pub(crate) tls_index: lispobj,
}
static_assertions::const_assert_eq!(core::mem::offset_of!(Symbol, tls_index), 48);

/// A static symbol's cell. The symbol table is mapped for the life of the
/// process (by the host, or by `standalone/static_space.rs` before any use).
fn symbol_cell(tagged: lispobj) -> *mut Symbol {
    (tagged - OTHER_POINTER_LOWTAG) as usize as *mut Symbol
}

/// Atomic view of the word at byte `offset` of a static symbol.
fn symbol_word(tagged: lispobj, offset: usize) -> &'static AtomicU64 {
    let p = symbol_cell(tagged).wrapping_byte_add(offset).cast::<lispobj>();
    // SAFETY: static space is mapped for the whole process lifetime before
    // any thread exists (see module docs), words are 8-aligned, and every
    // access from this library is atomic.
    unsafe { AtomicU64::from_ptr(p) }
}

/// The symbol's global `value` cell.
pub(crate) fn global_value_cell(tagged: lispobj) -> &'static AtomicU64 {
    symbol_word(tagged, core::mem::offset_of!(Symbol, value))
}

/// The symbol's `tls_index` cell (a fixnum byte offset into the TLS area).
pub(crate) fn tls_index_cell(tagged: lispobj) -> &'static AtomicU64 {
    symbol_word(tagged, core::mem::offset_of!(Symbol, tls_index))
}

/// A cons cell.
#[repr(C)]
pub(crate) struct Cons {
    pub(crate) car: lispobj,
    pub(crate) cdr: lispobj,
}

/// Untags a list pointer. `c` must be a cons made by `alloc_cons`.
pub(crate) fn cons_cell(c: lispobj) -> *mut Cons {
    (c - LIST_POINTER_LOWTAG) as usize as *mut Cons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixnums_round_trip() {
        for n in [-5i64, 0, 1, 56, 4095, 1 << 40] {
            assert_eq!(fixnum_value(make_fixnum(n)), n);
        }
        assert_eq!(make_fixnum(56), 0x1C0);
        assert_eq!(make_fixnum(2), 16, "fixed TLS index of BINDING_STACK_START");
    }

    #[test]
    fn static_symbols_are_other_pointers_in_one_page() {
        for (tagged, _) in sym::ALL.iter().skip(1) {
            assert_eq!(tagged & 0xF, OTHER_POINTER_LOWTAG, "{tagged:#x}");
            let end = tagged - OTHER_POINTER_LOWTAG + core::mem::size_of::<Symbol>() as u64;
            assert!(end <= 0x4000_1000, "{tagged:#x} must fit the mapped page");
        }
        assert_eq!(NIL & 0xF, LIST_POINTER_LOWTAG);
    }
}
