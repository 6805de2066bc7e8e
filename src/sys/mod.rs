//! Operating-system primitives, each async-signal-safe: `errno`, futexes,
//! the futex-backed wait/wake traits the protocol cores are written over
//! (`sync`, so that loom can model them), adaptive waiting (`backoff`), and
//! signal sets and masks (`sigset`, which asks the hook table for the
//! runtime's deferrable and blockable groups).

pub(crate) mod backoff;
pub(crate) mod errno;
pub(crate) mod futex;
pub(crate) mod sigset;
pub(crate) mod sync;
