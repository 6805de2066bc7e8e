//! The hook table: the functions and data SBCL's thread.o takes from the
//! rest of its runtime (spec §6), as the rest of the library calls them.
//!
//! The table is filled once, by `init.rs`, before any entry point does its
//! work: with the executable's definitions in host mode, with the
//! standalone defaults otherwise. It is plain data (function and variable
//! pointers), so this module knows neither the defaults nor the modes; it
//! only records which mode filled it. Before it is filled, [`hooks`] loses
//! with a message (nothing initialises lazily from below).
//!
//! [`process_hooks`] reads what the process itself defines, through the
//! weak references of `shim.c`: the raw material `init.rs` chooses the mode
//! from, and the `lose` of last resort for a message written before the
//! table exists.

use core::ffi::{c_char, c_int};
use std::sync::OnceLock;

use crate::legacy::types::{lispobj, AllocRegion, InterruptData, Thread};

/// Declarations bindgen generated from `ffi/host_hooks.h`.
#[allow(non_camel_case_types, non_upper_case_globals, dead_code, missing_docs, improper_ctypes, clippy::all)]
pub(crate) mod ffi {
    include!(concat!(env!("OUT_DIR"), "/host_hooks.rs"));
}

/// What the process defines: one entry per hook, NULL where it defines
/// none (the weak references of `shim.c`).
pub(crate) type ProcessHooks = ffi::sbthread_host_table;

/// Who implements the other half of the protocols; fixed for the life of
/// the process once the table is filled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// A legacy runtime defines every hook and its own signal handlers.
    Host,
    /// The library is the whole runtime.
    Standalone,
}

/// `lose(fmt, ...)`.
pub(crate) type LoseFn = unsafe extern "C" fn(fmt: *mut c_char, ...);

/// Names of the hooks, in the order of `struct sbthread_host_table`.
pub(crate) const NAMES: [&str; ffi::SBTHREAD_HOST_HOOK_COUNT as usize] = [
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

/// Which entries of `t` are set, in the order of [`NAMES`].
pub(crate) fn presence(t: &ProcessHooks) -> [bool; NAMES.len()] {
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

/// The hooks in effect, every entry set (checked when the table is made).
/// The entries keep the C types bindgen read from `ffi/host_hooks.h`, so a
/// definition with another signature (a default of ours) does not compile.
pub(crate) struct Hooks {
    /// The mode that filled the table.
    pub(crate) mode: Mode,
    /// Whether `gc_alloc_update_page_tables` takes a lock of the runtime's
    /// collector (the host's takes `free_pages_lock`): then it is called
    /// with `SIG_STOP_FOR_GC` blocked, as the original does.
    pub(crate) page_tables_take_a_lock: bool,
    entries: ProcessHooks,
}

// SAFETY: the table holds function pointers and addresses of variables
// that live for the whole process; it is written once, before it is shared.
unsafe impl Sync for Hooks {}
// SAFETY: as above.
unsafe impl Send for Hooks {}

impl Hooks {
    /// A table from complete `entries`, or the name of the first missing
    /// one.
    pub(crate) fn new(mode: Mode, page_tables_take_a_lock: bool, entries: ProcessHooks) -> Result<Self, &'static str> {
        match presence(&entries).iter().position(|p| !p) {
            Some(i) => Err(NAMES[i]),
            None => Ok(Self { mode, page_tables_take_a_lock, entries }),
        }
    }
}

/// An entry of a complete table (checked in [`Hooks::new`]).
macro_rules! entry {
    ($self:ident . $name:ident) => {
        match $self.entries.$name {
            Some(f) => f,
            None => unreachable_entry(),
        }
    };
}

/// [`Hooks::new`] checked every entry: this cannot happen.
#[cold]
fn unreachable_entry() -> ! {
    call_lose(c"libsbthread: an entry of the hook table is missing".as_ptr());
    // SAFETY: abort has no preconditions; `lose` must not return.
    unsafe { libc::abort() }
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Fills the table (`init.rs`, once). A second call is a bug.
pub(crate) fn install(table: Hooks) {
    if HOOKS.set(table).is_err() {
        call_lose(c"libsbthread: the hook table was filled twice".as_ptr());
        // SAFETY: abort has no preconditions; `lose` must not return.
        unsafe { libc::abort() }
    }
}

/// The table in effect. Every caller runs after an entry point made sure
/// the library is initialised; anything else is a bug, reported.
pub(crate) fn hooks() -> &'static Hooks {
    match HOOKS.get() {
        Some(h) => h,
        None => not_initialised(),
    }
}

#[cold]
fn not_initialised() -> ! {
    call_lose(c"libsbthread: a hook was used before the library was initialised (an entry point skipped init::ensure)".as_ptr());
    // SAFETY: abort has no preconditions; `lose` must not return.
    unsafe { libc::abort() }
}

/// The table, if it has been filled (for code that may run first: signal
/// handlers, `sigwaitinfo`, messages).
pub(crate) fn hooks_if_ready() -> Option<&'static Hooks> {
    HOOKS.get()
}

/// What the process defines (weak references; no side effects).
pub(crate) fn process_hooks() -> ProcessHooks {
    let mut t = core::mem::MaybeUninit::<ProcessHooks>::zeroed();
    // SAFETY: the shim writes every field of the table.
    unsafe {
        ffi::sbthread_shim_host_table(t.as_mut_ptr());
        t.assume_init()
    }
}

/// Each hook's name and where the process defines it (0: nowhere),
/// without choosing a mode or initialising anything: the graft checks them
/// at load time (`host/graft/`).
pub(crate) fn hook_addresses() -> [(&'static str, usize); NAMES.len()] {
    let t = process_hooks();
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

/// The library's own `lose` (prints and aborts).
pub(crate) fn default_lose() -> LoseFn {
    ffi::sbthread_shim_default_lose
}

/// Passes a NUL-terminated message to `lose`: the table's, or before the
/// table exists the process's own (a host's), else the library's default.
pub(crate) fn call_lose(msg: *const c_char) {
    let f = match HOOKS.get() {
        Some(h) => entry!(h.lose),
        None => process_hooks().lose.unwrap_or(default_lose()),
    };
    // SAFETY: `f` is a C `lose`; the shim calls it as lose("%s", msg) with
    // a NUL-terminated message.
    unsafe { ffi::sbthread_shim_call_lose(Some(f), msg) }
}

impl Hooks {
    /// `alloc_cons(car, cdr)`.
    pub(crate) fn alloc_cons(&self, car: lispobj, cdr: lispobj) -> lispobj {
        // SAFETY: a host hook or our default with the C signature.
        unsafe { entry!(self.alloc_cons)(car, cdr) }
    }

    /// `arch_pseudo_atomic_atomic(NULL)` for the calling thread.
    pub(crate) fn arch_pseudo_atomic_atomic(&self) -> bool {
        // SAFETY: NULL is the context the original passes.
        unsafe { entry!(self.arch_pseudo_atomic_atomic)(core::ptr::null_mut()) != 0 }
    }

    /// `arch_os_thread_init(th)`: non-zero on success.
    ///
    /// # Safety
    /// `th` is a live thread (this one, starting).
    pub(crate) unsafe fn arch_os_thread_init(&self, th: *mut Thread) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.arch_os_thread_init)(th) }
    }

    /// `arch_os_thread_cleanup(th)`.
    ///
    /// # Safety
    /// `th` is a live (dead, not yet freed) thread.
    pub(crate) unsafe fn arch_os_thread_cleanup(&self, th: *mut Thread) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.arch_os_thread_cleanup)(th) }
    }

    /// `bind_variable(symbol, value, th)`.
    ///
    /// # Safety
    /// `th` is a live thread whose binding stack nothing else uses now.
    pub(crate) unsafe fn bind_variable(&self, symbol: lispobj, value: lispobj, th: *mut Thread) {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.bind_variable)(symbol, value, th.cast()) }
    }

    /// `gc_alloc_update_page_tables(0, region)`: closes an allocation
    /// region. With [`Hooks::page_tables_take_a_lock`] the caller has
    /// `SIG_STOP_FOR_GC` blocked.
    ///
    /// # Safety
    /// `region` is the region of a live thread that does not allocate now.
    pub(crate) unsafe fn gc_alloc_update_page_tables(&self, region: *mut AllocRegion) {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.gc_alloc_update_page_tables)(0, region) }
    }

    /// `gc_set_region_empty(region)`.
    ///
    /// # Safety
    /// As for [`Hooks::gc_alloc_update_page_tables`].
    pub(crate) unsafe fn gc_set_region_empty(&self, region: *mut AllocRegion) {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.gc_set_region_empty)(region) }
    }

    /// `protect_control_stack_guard_page(th, protect)`.
    ///
    /// # Safety
    /// `th` is a live thread.
    pub(crate) unsafe fn protect_control_stack_guard_page(&self, th: *mut Thread, protect: bool) {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.protect_control_stack_guard_page)(th, c_int::from(protect)) }
    }

    /// `call_into_lisp_first_time(fun, NULL, 0)`.
    pub(crate) fn call_into_lisp_first_time(&self, fun: lispobj) -> lispobj {
        // SAFETY: no arguments are passed, as in the original.
        unsafe { entry!(self.call_into_lisp_first_time)(fun, core::ptr::null_mut(), 0) }
    }

    /// `funcall0(fun)`.
    pub(crate) fn funcall0(&self, fun: lispobj) -> lispobj {
        // SAFETY: a host hook or our default with the C signature.
        unsafe { entry!(self.funcall0)(fun) }
    }

    /// `os_validate(addr, len)`: a new mapping, or NULL.
    pub(crate) fn os_validate(&self, addr: *mut c_char, len: usize) -> *mut c_char {
        // SAFETY: asking for a mapping has no memory-safety preconditions.
        unsafe { entry!(self.os_validate)(addr, len) }
    }

    /// `os_invalidate(addr, len)`.
    ///
    /// # Safety
    /// `addr`/`len` is a mapping obtained from `os_validate` that nothing
    /// uses any more.
    pub(crate) unsafe fn os_invalidate(&self, addr: *mut c_char, len: usize) {
        // SAFETY: the caller's contract.
        unsafe { entry!(self.os_invalidate)(addr, len) }
    }

    /// `sigaddset_blockable(set)`.
    pub(crate) fn sigaddset_blockable(&self, set: &mut libc::sigset_t) {
        // SAFETY: `set` is an initialised sigset_t.
        unsafe { entry!(self.sigaddset_blockable)(set) }
    }

    /// `sigaddset_deferrable(set)`.
    pub(crate) fn sigaddset_deferrable(&self, set: &mut libc::sigset_t) {
        // SAFETY: `set` is an initialised sigset_t.
        unsafe { entry!(self.sigaddset_deferrable)(set) }
    }

    /// The value of `global_interrupt_data`.
    pub(crate) fn global_interrupt_data(&self) -> *mut InterruptData {
        // SAFETY: the variable lives for the whole process.
        unsafe { self.entries.global_interrupt_data.read_volatile() }
    }

    /// The value of `linux_no_threads_p`.
    pub(crate) fn linux_no_threads_p(&self) -> bool {
        // SAFETY: the variable lives for the whole process.
        unsafe { self.entries.linux_no_threads_p.read_volatile() != 0 }
    }

    /// The `specials` key, read each time (the host creates it at start-up).
    pub(crate) fn specials(&self) -> libc::pthread_key_t {
        // SAFETY: the variable lives for the whole process.
        unsafe { self.entries.specials.read_volatile() }
    }

    /// `arch_os_get_current_thread()`: `pthread_getspecific(specials)`, NULL
    /// for a thread that is not registered. Used in handlers too: glibc's
    /// pthread_getspecific is a plain read of the thread's key array (not
    /// on POSIX's list, but lock-free).
    pub(crate) fn current_thread_ptr(&self) -> *mut Thread {
        // SAFETY: reading a key's value has no preconditions.
        unsafe { libc::pthread_getspecific(self.specials()).cast::<Thread>() }
    }
}

/// The calling thread's `struct thread`, or NULL: also before the table
/// exists (then NULL). Async-signal-safe.
pub(crate) fn current_thread_ptr_if_ready() -> *mut Thread {
    HOOKS.get().map_or(core::ptr::null_mut(), Hooks::current_thread_ptr)
}
