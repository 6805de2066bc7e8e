//! Host mode: inside a legacy runtime, whose own signal handlers do the
//! signal side of each protocol (spec §6).
//!
//! - `graft`: taking over an unchanged 0.9.4.1 executable's thread code at
//!   load time (an `LD_PRELOAD`, or a `DT_NEEDED` added with patchelf);
//! - `protocol`: host mode's half of the shared algorithms;
//! - `stop`: the stop, in order: signal (with the help of stopped threads),
//!   wait (yield, then sleep), and the measures below when it is stuck;
//! - `resume_wait`: the runtime's handler waits for its resume in our
//!   `sigwaitinfo`: the hook where a stopped thread helps the stop, and
//!   where it waits for the futex wake of `resume` (the stopper's side:
//!   one wake for every thread, not a signal each);
//! - `measures`: the workarounds for 0.9.4.1's own behaviour, each with its
//!   switch: `stuck` (back off from a stop a sleeper deferred), `adopt`
//!   (count a sleeper on the stopper's own Lisp mutex as stopped), and the
//!   resume wait's EINTR retry (`resume_wait`), the word at a stopped
//!   thread's stack pointer shown to the collector (`stack_top`), a lost
//!   wake-up of a Lisp mutex given again when an interrupted thread exits
//!   (`rewake`), and a mutex a dead thread holds given back there
//!   (`abandoned`), the interrupt cons made with collections held off
//!   (`cons`), the runtime's interrupt handler's two stores put in order
//!   (`handler_order`); `proc` reads what the kernel shows of a sleeper,
//!   `lisp_mutex` what its Lisp mutex holds.

mod abandoned;
pub(crate) mod adopt;
mod cons;
pub(crate) mod handler_order;
pub(crate) mod graft;
mod lisp_mutex;
pub(crate) mod measures;
mod proc;
pub(crate) mod protocol;
mod resume;
pub(crate) mod resume_wait;
mod rewake;
mod stack_top;
pub(crate) mod stop;
pub(crate) mod stuck;
