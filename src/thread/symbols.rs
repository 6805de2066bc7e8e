//! A static symbol's value as one thread sees it (`SymbolValue` and
//! `SetSymbolValue` of the runtime): the thread's TLS word when the symbol
//! has a TLS index and the word is bound there, else the global value.

use core::sync::atomic::Ordering;

use crate::diag::lose::{addr, lose};
use crate::legacy::lisp::{global_value_cell, tls_index_cell, UNBOUND};
use crate::legacy::types::lispobj;
use crate::thread::thread_ref::ThreadRef;

/// `SymbolValue(sym, thread)`: the thread's TLS word when the symbol has a
/// TLS index and the word is bound, else the global value.
pub(crate) fn symbol_value(tagged: lispobj, th: Option<ThreadRef>) -> lispobj {
    if let Some(th) = th {
        let index = tls_index_cell(tagged).load(Ordering::Relaxed);
        if index != 0 {
            let v = th.tls_word(index).load(Ordering::Relaxed);
            if v != UNBOUND {
                return v;
            }
        }
    }
    global_value_cell(tagged).load(Ordering::Relaxed)
}

/// `SetSymbolValue(sym, value, thread)`: writes the thread's TLS word when
/// bound there, else the global value.
pub(crate) fn set_symbol_value(tagged: lispobj, value: lispobj, th: Option<ThreadRef>) {
    if let Some(th) = th {
        let index = tls_index_cell(tagged).load(Ordering::Relaxed);
        if index != 0 {
            let w = th.tls_word(index);
            if w.load(Ordering::Relaxed) != UNBOUND {
                w.store(value, Ordering::Relaxed);
                return;
            }
        }
    }
    global_value_cell(tagged).store(value, Ordering::Relaxed);
}

/// Words of one binding-stack entry: the symbol's previous value, then
/// the symbol (the runtime's `struct binding`).
pub(crate) const BINDING_WORDS: usize = 2;

/// Pops the innermost binding of `th`, which must be of `symbol`, and
/// restores the symbol's previous value. Loses on an unbalanced unbind.
pub(crate) fn unbind_variable(symbol: lispobj, th: ThreadRef, caller: &str) {
    let t = th.as_ptr();
    // SAFETY: the binding stack belongs to `th` and lies in its block;
    // only its own thread pushes and pops (the caller is `th`).
    unsafe {
        let bsp = (*t).binding_stack_pointer;
        let top = bsp.wrapping_sub(BINDING_WORDS);
        if top < (*t).binding_stack_start || top.add(1).read() != symbol {
            lose!(
                "{}: the innermost binding of thread {:#x} is not of symbol {:#x}: leave calls do not match enter calls",
                caller,
                addr(t),
                symbol
            );
        }
        let old = top.read();
        top.write(0);
        top.add(1).write(0);
        (*t).binding_stack_pointer = top;
        th.tls_word(tls_index_cell(symbol).load(Ordering::Relaxed)).store(old, Ordering::Relaxed);
    }
}

