//! The host hooks (spec §6): the functions and data SBCL's thread.o takes
//! from the rest of its runtime. This is the one place that decides between
//! the two modes:
//!
//! - **host mode**: the process defines every hook (a legacy runtime); the
//!   library calls the executable's definitions and leaves signal handling
//!   to the host's handlers;
//! - **standalone mode**: the process defines none; the library uses its
//!   own defaults (`defaults.rs`), maps the static symbols
//!   (`static_space.rs`) and installs its own handlers.
//!
//! A process that defines some hooks but not all is refused with a message
//! naming the missing ones. Nothing happens when the library is loaded:
//! [`runtime`] initialises on the first call of an entry point.

pub(crate) mod cons_pool;
pub(crate) mod defaults;
pub(crate) mod static_space;

use core::ffi::{c_char, c_int};
use std::sync::OnceLock;

use crate::abi_types::{lispobj, AllocRegion, InterruptData, Thread};
use crate::thread_ref::ThreadRef;

/// Declarations bindgen generated from `ffi/host_hooks.h`.
#[allow(non_camel_case_types, non_upper_case_globals, dead_code, missing_docs, improper_ctypes, clippy::all)]
pub(crate) mod ffi {
    include!(concat!(env!("OUT_DIR"), "/host_hooks.rs"));
}

/// Who implements the other half of the protocols.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// A legacy runtime defines every hook and its own signal handlers.
    Host,
    /// The library is the whole runtime.
    Standalone,
}

/// The resolved hooks. In host mode every entry of `host` is set; in
/// standalone mode every entry is empty and the defaults are used.
pub(crate) struct Hooks {
    /// The mode, fixed for the life of the process.
    pub(crate) mode: Mode,
    host: ffi::sbthread_host_table,
}

// SAFETY: the table holds function pointers and addresses of data that live
// for the whole process; it is written once, before it is shared.
unsafe impl Sync for Hooks {}
// SAFETY: as above.
unsafe impl Send for Hooks {}

/// Names of the hooks, in the order of `struct sbthread_host_table`.
const NAMES: [&str; ffi::SBTHREAD_HOST_HOOK_COUNT as usize] = [
    "alloc_cons",
    "arch_os_thread_cleanup",
    "arch_os_thread_init",
    "arch_pseudo_atomic_atomic",
    "bind_variable",
    "call_into_lisp_first_time",
    "funcall0",
    "gc_alloc_update_page_tables",
    "gc_set_region_empty",
    "lose",
    "os_invalidate",
    "os_validate",
    "protect_control_stack_guard_page",
    "sigaddset_blockable",
    "sigaddset_deferrable",
    "global_interrupt_data",
    "linux_no_threads_p",
    "specials",
];

fn presence(t: &ffi::sbthread_host_table) -> [bool; NAMES.len()] {
    [
        t.alloc_cons.is_some(),
        t.arch_os_thread_cleanup.is_some(),
        t.arch_os_thread_init.is_some(),
        t.arch_pseudo_atomic_atomic.is_some(),
        t.bind_variable.is_some(),
        t.call_into_lisp_first_time.is_some(),
        t.funcall0.is_some(),
        t.gc_alloc_update_page_tables.is_some(),
        t.gc_set_region_empty.is_some(),
        t.lose.is_some(),
        t.os_invalidate.is_some(),
        t.os_validate.is_some(),
        t.protect_control_stack_guard_page.is_some(),
        t.sigaddset_blockable.is_some(),
        t.sigaddset_deferrable.is_some(),
        !t.global_interrupt_data.is_null(),
        !t.linux_no_threads_p.is_null(),
        !t.specials.is_null(),
    ]
}

fn read_table() -> ffi::sbthread_host_table {
    let mut t = core::mem::MaybeUninit::<ffi::sbthread_host_table>::zeroed();
    // SAFETY: the shim writes every field of the table.
    unsafe {
        ffi::sbthread_shim_host_table(t.as_mut_ptr());
        t.assume_init()
    }
}

/// Each hook's name and the address the library would use (0: not
/// defined), without resolving the mode or initialising anything: the
/// graft (`host_graft.rs`) checks them at load time.
pub(crate) fn hook_addresses() -> [(&'static str, usize); NAMES.len()] {
    let t = read_table();
    let addrs = [
        t.alloc_cons.map_or(0, |f| f as usize),
        t.arch_os_thread_cleanup.map_or(0, |f| f as usize),
        t.arch_os_thread_init.map_or(0, |f| f as usize),
        t.arch_pseudo_atomic_atomic.map_or(0, |f| f as usize),
        t.bind_variable.map_or(0, |f| f as usize),
        t.call_into_lisp_first_time.map_or(0, |f| f as usize),
        t.funcall0.map_or(0, |f| f as usize),
        t.gc_alloc_update_page_tables.map_or(0, |f| f as usize),
        t.gc_set_region_empty.map_or(0, |f| f as usize),
        t.lose.map_or(0, |f| f as usize),
        t.os_invalidate.map_or(0, |f| f as usize),
        t.os_validate.map_or(0, |f| f as usize),
        t.protect_control_stack_guard_page.map_or(0, |f| f as usize),
        t.sigaddset_blockable.map_or(0, |f| f as usize),
        t.sigaddset_deferrable.map_or(0, |f| f as usize),
        t.global_interrupt_data as usize,
        t.linux_no_threads_p as usize,
        t.specials as usize,
    ];
    core::array::from_fn(|i| (NAMES[i], addrs[i]))
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();
static SETUP: OnceLock<()> = OnceLock::new();

fn resolve() -> Hooks {
    let host = read_table();
    let present = presence(&host);
    let count = present.iter().filter(|p| **p).count();
    if count == 0 {
        return Hooks { mode: Mode::Standalone, host };
    }
    if count == NAMES.len() {
        return Hooks { mode: Mode::Host, host };
    }
    let mut msg = crate::lose::MessageBuf::new();
    let _ = core::fmt::Write::write_fmt(
        &mut msg,
        format_args!(
            "libsbthread: the host runtime defines {} of the {} thread hooks; define all of them (host mode) or none (standalone). Missing:",
            count,
            NAMES.len()
        ),
    );
    for (name, _) in NAMES.iter().zip(present).filter(|(_, p)| !p) {
        let _ = core::fmt::Write::write_fmt(&mut msg, format_args!(" {name}"));
    }
    call_lose_with(host.lose, msg.as_c_str());
    // SAFETY: abort has no preconditions; `lose` must not return.
    unsafe { libc::abort() }
}

/// The hooks, resolved on first use (no side effects beyond reading the
/// weak references).
pub(crate) fn hooks() -> &'static Hooks {
    HOOKS.get_or_init(resolve)
}

/// The hooks, after the one-time set-up of the chosen mode: in standalone
/// mode the static space, the `specials` key and the signal handlers. Every
/// exported entry point starts here.
pub(crate) fn runtime() -> &'static Hooks {
    let h = hooks();
    SETUP.get_or_init(|| {
        crate::block_cache::configure_from_env();
        crate::dormant::configure_from_env();
        crate::trace::configure_from_env();
        if h.mode == Mode::Standalone {
            static_space::map_or_lose();
            defaults::create_specials_key();
            crate::standalone::signals::install();
        }
    });
    h
}

type LoseFn = unsafe extern "C" fn(fmt: *mut c_char, ...);

fn call_lose_with(host_lose: Option<LoseFn>, msg: *const c_char) {
    let f = host_lose.unwrap_or(ffi::sbthread_shim_default_lose);
    // SAFETY: `f` is a C `lose`; the shim calls it as lose("%s", msg) with
    // a NUL-terminated message.
    unsafe { ffi::sbthread_shim_call_lose(Some(f), msg) }
}

/// The calling thread, without initialising anything (for messages that
/// may be written while the hooks are being resolved).
pub(crate) fn current_thread_if_ready() -> Option<ThreadRef> {
    HOOKS.get().and_then(Hooks::current_thread)
}

/// The calling thread, if the library runs in host mode and it is
/// registered; without initialising anything. Async-signal-safe.
pub(crate) fn host_thread_if_ready() -> Option<ThreadRef> {
    HOOKS.get().filter(|h| h.mode == Mode::Host).and_then(Hooks::current_thread)
}

/// Passes a NUL-terminated message to the `lose` in effect.
pub(crate) fn call_lose(msg: *const c_char) {
    let host_lose = match HOOKS.get() {
        Some(h) => h.host.lose,
        None => read_table().lose,
    };
    call_lose_with(host_lose, msg);
}

impl Hooks {
    /// `alloc_cons(car, cdr)`.
    pub(crate) fn alloc_cons(&self, car: lispobj, cdr: lispobj) -> lispobj {
        let f = self.host.alloc_cons.unwrap_or(defaults::alloc_cons);
        // SAFETY: a host hook or our default with the C signature.
        unsafe { f(car, cdr) }
    }

    /// `arch_os_thread_init(th)`: non-zero on success.
    pub(crate) fn arch_os_thread_init(&self, th: ThreadRef) -> c_int {
        let f = self.host.arch_os_thread_init.unwrap_or(defaults::arch_os_thread_init);
        // SAFETY: `th` is a live thread (ThreadRef contract).
        unsafe { f(th.as_ptr()) }
    }

    /// `arch_os_thread_cleanup(th)`.
    pub(crate) fn arch_os_thread_cleanup(&self, th: ThreadRef) -> c_int {
        let f = self.host.arch_os_thread_cleanup.unwrap_or(defaults::arch_os_thread_cleanup);
        // SAFETY: `th` is a live thread (ThreadRef contract).
        unsafe { f(th.as_ptr()) }
    }

    /// `arch_pseudo_atomic_atomic(NULL)` for the calling thread.
    pub(crate) fn arch_pseudo_atomic_atomic(&self) -> bool {
        let f = self.host.arch_pseudo_atomic_atomic.unwrap_or(defaults::arch_pseudo_atomic_atomic);
        // SAFETY: NULL is the context the original passes.
        unsafe { f(core::ptr::null_mut()) != 0 }
    }

    /// `bind_variable(symbol, value, th)`.
    pub(crate) fn bind_variable(&self, symbol: lispobj, value: lispobj, th: ThreadRef) {
        let f = self.host.bind_variable.unwrap_or(defaults::bind_variable);
        // SAFETY: `th` is a live thread (ThreadRef contract).
        unsafe { f(symbol, value, th.as_ptr().cast()) }
    }

    /// `call_into_lisp_first_time(fun, NULL, 0)`.
    pub(crate) fn call_into_lisp_first_time(&self, fun: lispobj) -> lispobj {
        let f = self.host.call_into_lisp_first_time.unwrap_or(defaults::call_into_lisp_first_time);
        // SAFETY: no arguments are passed, as in the original.
        unsafe { f(fun, core::ptr::null_mut(), 0) }
    }

    /// `funcall0(fun)`.
    pub(crate) fn funcall0(&self, fun: lispobj) -> lispobj {
        let f = self.host.funcall0.unwrap_or(defaults::funcall0);
        // SAFETY: a host hook or our default with the C signature.
        unsafe { f(fun) }
    }

    /// `gc_alloc_update_page_tables(0, &th->alloc_region)`, for a caller
    /// that has the deferrable signals blocked. The host's function takes
    /// the collector's `free_pages_lock`, so it runs with the blockables
    /// blocked (`SIG_STOP_FOR_GC` too), as in the original; the default only
    /// writes the dead thread's own region and needs no mask change.
    pub(crate) fn gc_alloc_update_page_tables(&self, th: ThreadRef) {
        match self.host.gc_alloc_update_page_tables {
            Some(f) => {
                let _stop = crate::sigset::MaskGuard::block(&crate::sigset::only(crate::sigset::sig_stop_for_gc()));
                // SAFETY: the host's hook with the C signature; the region
                // is inside a live thread's struct.
                unsafe { f(0, alloc_region_of(th)) }
            }
            // SAFETY: our default; the region is inside a live thread's struct.
            None => unsafe { defaults::gc_alloc_update_page_tables(0, alloc_region_of(th)) },
        }
    }

    /// `gc_set_region_empty(&th->alloc_region)`.
    pub(crate) fn gc_set_region_empty(&self, th: ThreadRef) {
        let f = self.host.gc_set_region_empty.unwrap_or(defaults::gc_set_region_empty);
        // SAFETY: the region is inside a live thread's struct.
        unsafe { f(alloc_region_of(th)) }
    }

    /// `os_validate(addr, len)`: a new mapping, or NULL.
    pub(crate) fn os_validate(&self, addr: *mut c_char, len: usize) -> *mut c_char {
        let f = self.host.os_validate.unwrap_or(defaults::os_validate);
        // SAFETY: asking for a mapping has no memory-safety preconditions.
        unsafe { f(addr, len) }
    }

    /// `os_invalidate(addr, len)`.
    pub(crate) fn os_invalidate(&self, addr: *mut c_char, len: usize) {
        let f = self.host.os_invalidate.unwrap_or(defaults::os_invalidate);
        // SAFETY: callers pass only mappings they obtained from os_validate
        // and no longer use (block and interrupt-data owners).
        unsafe { f(addr, len) }
    }

    /// `protect_control_stack_guard_page(th, protect)`.
    pub(crate) fn protect_control_stack_guard_page(&self, th: ThreadRef, protect: bool) {
        let f = self
            .host
            .protect_control_stack_guard_page
            .unwrap_or(defaults::protect_control_stack_guard_page);
        // SAFETY: `th` is a live thread (ThreadRef contract).
        unsafe { f(th.as_ptr(), c_int::from(protect)) }
    }

    /// `sigaddset_blockable(set)`.
    pub(crate) fn sigaddset_blockable(&self, set: &mut libc::sigset_t) {
        let f = self.host.sigaddset_blockable.unwrap_or(defaults::sigaddset_blockable);
        // SAFETY: `set` is an initialised sigset_t.
        unsafe { f(set) }
    }

    /// `sigaddset_deferrable(set)`.
    pub(crate) fn sigaddset_deferrable(&self, set: &mut libc::sigset_t) {
        let f = self.host.sigaddset_deferrable.unwrap_or(defaults::sigaddset_deferrable);
        // SAFETY: `set` is an initialised sigset_t.
        unsafe { f(set) }
    }

    /// The value of `global_interrupt_data`.
    pub(crate) fn global_interrupt_data(&self) -> *mut InterruptData {
        if self.host.global_interrupt_data.is_null() {
            defaults::global_interrupt_data()
        } else {
            // SAFETY: the host's variable lives for the whole process.
            unsafe { self.host.global_interrupt_data.read_volatile() }
        }
    }

    /// The value of `linux_no_threads_p`.
    pub(crate) fn linux_no_threads_p(&self) -> bool {
        // SAFETY: the host's variable lives for the whole process.
        !self.host.linux_no_threads_p.is_null() && unsafe { self.host.linux_no_threads_p.read_volatile() } != 0
    }

    /// The `specials` key, read each time (the host creates it at start-up).
    pub(crate) fn specials(&self) -> libc::pthread_key_t {
        if self.host.specials.is_null() {
            defaults::specials_key()
        } else {
            // SAFETY: the host's variable lives for the whole process.
            unsafe { self.host.specials.read_volatile() }
        }
    }

    /// `arch_os_get_current_thread()`: `pthread_getspecific(specials)`.
    /// Used in handlers too: glibc's pthread_getspecific is a plain read of
    /// the thread's key array (not on POSIX's list, but lock-free).
    pub(crate) fn current_thread(&self) -> Option<ThreadRef> {
        // SAFETY: reading a key's value has no preconditions; the value is
        // a struct thread pointer the thread set in arch_os_thread_init and
        // its block outlives the thread.
        unsafe { ThreadRef::new(libc::pthread_getspecific(self.specials()).cast::<Thread>()) }
    }
}

fn alloc_region_of(th: ThreadRef) -> *mut AllocRegion {
    th.as_ptr().cast::<u8>().wrapping_add(core::mem::offset_of!(Thread, alloc_region)).cast()
}
