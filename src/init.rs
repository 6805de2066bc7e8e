//! The two ways in, at the top; nothing below initialises lazily.
//!
//! **At load time**, the dynamic linker runs [`at_load`] (a constructor).
//! It does one thing: in a process whose executable has 0.9.4.1's own
//! `thread.o` linked in, it grafts this library onto it (`host/graft/`).
//! In every other process it does nothing at all.
//!
//! **On the first call of any entry point** (the C exports, the Rust `rt`
//! API), [`ensure`] initialises, once:
//!
//! 1. What does the process define? Every hook of spec §6 (a legacy
//!    runtime): **host mode**; none: **standalone mode**; some but not all:
//!    refused, with a message naming the missing ones. This is the one
//!    place that chooses the mode.
//! 2. The hook table is filled: with the executable's definitions, or with
//!    the standalone defaults (`standalone/defaults.rs`).
//! 3. The environment is read (`SBTHREAD_TRACE`, `SBTHREAD_BLOCK_CACHE`,
//!    `SBTHREAD_GIVE_BACK`, and host mode's measure switches).
//! 4. The mode starts (standalone: the static space and the signal
//!    handlers; host mode: the runtime's interrupt handler gets its two
//!    stores in order, `host/handler_order.rs`, while the process still
//!    has one thread) and its half of the protocols is installed.
//!
//! Nothing else happens when the library is merely loaded.

use std::sync::Once;

use crate::diag::lose::{lose, MessageBuf};
use crate::legacy::hooks::{self, Hooks, Mode};
use crate::world::protocol;

static INIT: Once = Once::new();

/// Run by the dynamic linker when the library is loaded, before `main`
/// (or during the `dlopen` that loads it). glibc passes `argc, argv,
/// envp`, which this does not need.
#[used]
#[unsafe(link_section = ".init_array")]
static AT_LOAD: extern "C" fn() = at_load;

/// The load-time constructor: the graft, for an executable that has
/// 0.9.4.1's own thread code (`host/graft/`); nothing otherwise.
extern "C" fn at_load() {
    crate::host::graft::at_load();
}

/// Initialises the library if no entry point has yet.
pub(crate) fn ensure() {
    INIT.call_once(initialise);
}

/// The mode, initialising first if needed.
pub(crate) fn mode() -> Mode {
    ensure();
    hooks::hooks().mode
}

fn initialise() {
    let process = hooks::process_hooks();
    let present = hooks::presence(&process);
    let count = present.iter().filter(|p| **p).count();
    let (mode, entries) = match count {
        0 => (Mode::Standalone, crate::standalone::table::entries()),
        n if n == hooks::NAMES.len() => (Mode::Host, process),
        _ => refuse_partial(&present),
    };
    // The host's gc_alloc_update_page_tables takes its collector's lock.
    let table = match Hooks::new(mode, mode == Mode::Host, entries) {
        Ok(t) => t,
        Err(missing) => lose!("libsbthread: the {:?} hook table has no {}", mode, missing),
    };
    hooks::install(table);
    crate::diag::trace::configure_from_env();
    crate::thread::block_cache::configure_from_env();
    crate::thread::dormant::configure_from_env();
    match mode {
        Mode::Host => {
            crate::host::measures::configure_from_env();
            crate::host::handler_order::fix();
            protocol::install(&crate::host::protocol::HostProtocol);
        }
        Mode::Standalone => {
            crate::standalone::start();
            protocol::install(&crate::standalone::protocol::OwnProtocol);
        }
    }
}

/// Some hooks but not all: a runtime this library cannot serve.
fn refuse_partial(present: &[bool]) -> ! {
    let mut msg = MessageBuf::new();
    let defined = present.iter().filter(|p| **p).count();
    let _ = core::fmt::Write::write_fmt(
        &mut msg,
        format_args!(
            "libsbthread: the host runtime defines {} of the {} thread hooks; define all of them (host mode) or none (standalone). Missing:",
            defined,
            hooks::NAMES.len()
        ),
    );
    for (name, _) in hooks::NAMES.iter().zip(present).filter(|(_, p)| !**p) {
        let _ = core::fmt::Write::write_fmt(&mut msg, format_args!(" {name}"));
    }
    hooks::call_lose(msg.as_c_str());
    // SAFETY: abort has no preconditions; `lose` must not return.
    unsafe { libc::abort() }
}
