//! A static symbol's value as one thread sees it (`SymbolValue` and
//! `SetSymbolValue` of the runtime): the thread's TLS word when the symbol
//! has a TLS index and the word is bound there, else the global value.

use core::sync::atomic::Ordering;

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
