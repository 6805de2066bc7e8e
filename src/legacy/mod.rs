//! The legacy runtime's side of the ABI, as data: what SBCL 0.9.4.1's
//! thread.o shares with the rest of its runtime. The bottom layer: it
//! imports nothing of the crate.
//!
//! - `types`: `struct thread` and the other C-visible types and constants
//!   (read by cbindgen for the header and by the ctest suite);
//! - `layout`: their layout, checked at compile time;
//! - `globals`: `all_threads`, `all_threads_lock`, `dynamic_values_bytes`;
//! - `lisp`: fixnums, static symbols and conses;
//! - `hooks`: the table of the runtime's functions the library calls
//!   (filled once by `init.rs`), and the weak references (`shim.c`) that
//!   say what the process defines.

pub mod globals;
pub(crate) mod hooks;
mod layout;
pub(crate) mod lisp;
pub mod types;
