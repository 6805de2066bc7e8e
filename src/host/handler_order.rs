//! Host mode: the order of two stores in the runtime's compiled
//! `interrupt_thread_handler` — the measure `HANDLER_ORDER` (`measures.rs`,
//! `SBTHREAD_HANDLER_ORDER=0`).
//!
//! 0.9.4.1's handler pops a function off its thread's queue under the
//! spinlock `interrupt_fun_lock` (`src/runtime/interrupt.c:897-901`):
//! `th->interrupt_fun = c->cdr; release_spinlock(&th->interrupt_fun_lock);`.
//! `release_spinlock` is a plain store of 0 through a `volatile` pointer
//! (`x86-64-arch.h:41-44`) with no compiler barrier, and `interrupt_fun` is
//! not volatile, so a compiler may sink the store of the queue's head below
//! the release, and gcc 12 does (`-O2`, the fixture's runtime):
//!
//! ```text
//! 48 c7 82 a8 00 00 00 00 00 00 00    movq $0x0,0xa8(%rdx)   ; lock = 0
//! 48 89 82 a0 00 00 00                mov  %rax,0xa0(%rdx)   ; head = cdr
//! ```
//!
//! Between the two, `interrupt_thread` in another thread can take the lock,
//! push its cons in front of the head being popped and send its signal;
//! the late store then drops that cons, and the signal pops the next
//! function in its place, or, with the queue empty, NIL: the runtime dies
//! of "interrupt_thread_handler: NIL function" (1 run in 16 of 40,000
//! interrupts sent in bursts, `sbcl/lisp/interrupt-cons-gc.lisp`, with this
//! library; none in 16 with upstream's `interrupt_thread`, whose slower
//! push misses the window, but its push is exposed the same way). No
//! ordering on the pushing side can help: the popper's store is blind.
//!
//! So before the first thread runs (`init.rs`, the first entry point, while
//! the process has one thread), the two instructions are swapped in place
//! when they are found exactly so: a `movq $0,disp32(%base)` at the lock's
//! offset followed by a `mov %reg,disp32(%base)` at the head's offset, same
//! base register. Both only store registers computed before them, so the
//! swap changes nothing but the order. Anything else found (another
//! compiler, an already fixed order) is left alone and said once with
//! `SBTHREAD_TRACE=1`. Writing uses the graft's code writer
//! (`graft/patch.rs`: all pages writable first, protections restored).

use core::ffi::CStr;
use core::mem::offset_of;

use super::graft::{dl, patch};
use super::measures;
use crate::diag::trace::trace;
use crate::legacy::types::Thread;

/// The handler's name in the executable's dynamic symbol table.
const HANDLER: &CStr = c"interrupt_thread_handler";
/// Bytes of `movq $imm32,disp32(%base)` (REX.W C7 /0, ModRM, disp32, imm32).
const RELEASE_LEN: usize = 11;
/// Bytes of `mov %reg,disp32(%base)` (REX.W 89 /r, ModRM, disp32).
const STORE_LEN: usize = 7;

/// The lock release at `at`: `movq $0,lock_off(%base)`; returns the
/// ModRM's base register (mod 10, reg 000, no SIB).
fn release_at(code: &[u8], lock_off: u32) -> Option<u8> {
    let b = code.get(..RELEASE_LEN)?;
    let modrm = b[2];
    let ok = b[0] == 0x48
        && b[1] == 0xC7
        && modrm >> 6 == 0b10
        && (modrm >> 3) & 7 == 0
        && modrm & 7 != 0b100
        && b[3..7] == lock_off.to_le_bytes()
        && b[7..11] == [0, 0, 0, 0];
    ok.then_some(modrm & 7)
}

/// The head store at `at`: `mov %reg,fun_off(%base)` with the same base
/// register (REX.W without REX.R/B, so both registers are the first eight).
fn store_at(code: &[u8], fun_off: u32, base: u8) -> bool {
    code.get(..STORE_LEN).is_some_and(|b| {
        let modrm = b[2];
        b[0] == 0x48 && b[1] == 0x89 && modrm >> 6 == 0b10 && modrm & 7 == base && b[3..7] == fun_off.to_le_bytes()
    })
}

/// Where in `code` the release of the lock (at `lock_off`) comes right
/// before the store of the head (at `fun_off`): the offset of the
/// release. None unless exactly one such pair is found.
fn find_late_store(code: &[u8], lock_off: u32, fun_off: u32) -> Option<usize> {
    let mut found = None;
    for i in 0..code.len() {
        if let Some(base) = release_at(&code[i..], lock_off)
            && store_at(&code[i + RELEASE_LEN..], fun_off, base)
        {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

/// The bytes of the pair at `code[at..]` in the right order: the store of
/// the head, then the release.
fn swapped(code: &[u8], at: usize) -> [u8; RELEASE_LEN + STORE_LEN] {
    let mut out = [0u8; RELEASE_LEN + STORE_LEN];
    out[..STORE_LEN].copy_from_slice(&code[at + RELEASE_LEN..at + RELEASE_LEN + STORE_LEN]);
    out[STORE_LEN..].copy_from_slice(&code[at..at + RELEASE_LEN]);
    out
}

/// Threads of the process (`/proc/self/task`), or 0 if unknown.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Host mode, at initialisation: puts the handler's two stores in order
/// (module comment). Does nothing with the measure off, when the handler
/// is not found in the executable as compiled above, or once a second
/// thread exists (no thread may run the bytes while they change).
pub(crate) fn fix() {
    if !measures::HANDLER_ORDER.on() {
        return;
    }
    let Some(exe) = dl::executable() else { return };
    let Some(def) = dl::global(HANDLER).filter(|d| exe.contains(d.addr)) else {
        trace!(1, "handler order: the executable defines no interrupt_thread_handler; nothing to fix");
        return;
    };
    let dl::Kind::Function(size) = def.kind else { return };
    // SAFETY: the symbol table says the function's `size` bytes are there,
    // in the executable's mapped code; only read here.
    let code = unsafe { core::slice::from_raw_parts(def.addr as *const u8, size as usize) };
    let lock_off = offset_of!(Thread, interrupt_fun_lock) as u32;
    let fun_off = offset_of!(Thread, interrupt_fun) as u32;
    let Some(at) = find_late_store(code, lock_off, fun_off) else {
        trace!(1, "handler order: interrupt_thread_handler releases its lock after the queue's head is stored, or is compiled otherwise; left alone");
        return;
    };
    if threads() != 1 {
        trace!(1, "handler order: other threads run already; interrupt_thread_handler left alone");
        return;
    }
    let fixed = swapped(code, at);
    // SAFETY: one thread only (checked), this one, which is not in the
    // handler; the swapped instructions store the same registers.
    match unsafe { patch::write_code(&[(def.addr + at, &fixed[..])]) } {
        Ok(_) => trace!(1, "handler order: interrupt_thread_handler stores the queue's head before it releases the lock now"),
        Err(e) => trace!(1, "handler order: cannot write interrupt_thread_handler: {}", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handler's pop as gcc 12 compiled it (the fixture's runtime),
    /// with a few bytes around.
    const LATE: [u8; 24] = [
        0x48, 0x8b, 0x40, 0x08, // mov 0x8(%rax),%rax
        0x48, 0xc7, 0x82, 0xa8, 0, 0, 0, 0, 0, 0, 0, // movq $0,0xa8(%rdx)
        0x48, 0x89, 0x82, 0xa0, 0, 0, 0, // mov %rax,0xa0(%rdx)
        0x48, 0x81, // the next instruction's start
    ];

    #[test]
    fn the_late_store_is_found_and_swapped() {
        let at = find_late_store(&LATE, 0xa8, 0xa0).expect("found");
        assert_eq!(at, 4);
        let fixed = swapped(&LATE, at);
        assert_eq!(fixed[..7], [0x48, 0x89, 0x82, 0xa0, 0, 0, 0]);
        assert_eq!(fixed[7..], [0x48, 0xc7, 0x82, 0xa8, 0, 0, 0, 0, 0, 0, 0]);
        let mut after = LATE;
        after[at..at + fixed.len()].copy_from_slice(&fixed);
        assert_eq!(find_late_store(&after, 0xa8, 0xa0), None, "a fixed order is left alone");
    }

    #[test]
    fn anything_else_is_left_alone() {
        assert_eq!(find_late_store(&LATE, 0xb0, 0xa0), None, "another lock offset");
        assert_eq!(find_late_store(&LATE, 0xa8, 0x98), None, "another head offset");
        let mut other_base = LATE;
        other_base[17] = 0x81; // mov %rax,0xa0(%rcx)
        assert_eq!(find_late_store(&other_base, 0xa8, 0xa0), None, "another base register");
        let mut nonzero = LATE;
        nonzero[11] = 1; // movq $1,...
        assert_eq!(find_late_store(&nonzero, 0xa8, 0xa0), None, "not a release");
        let mut twice = [0u8; 48];
        twice[..24].copy_from_slice(&LATE);
        twice[24..].copy_from_slice(&LATE);
        assert_eq!(find_late_store(&twice, 0xa8, 0xa0), None, "ambiguous");
        assert_eq!(find_late_store(&LATE[..12], 0xa8, 0xa0), None, "cut short");
    }
}
