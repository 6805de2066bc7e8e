//! The library's own definition of every host hook, used in standalone
//! mode. Each has exactly the C signature of the hook (the hook table's
//! types come from `ffi/host_hooks.h` through bindgen, so a mismatch does
//! not compile). Together they make the library a complete runtime:
//!
//! - memory: `os_validate`/`os_invalidate` are anonymous mmap/munmap;
//! - functions: a `lispobj` function is the address of a
//!   `struct sbthread_closure`; `funcall0` calls it, and
//!   `call_into_lisp_first_time` switches to the thread's control stack,
//!   calls it and exits the process with its result;
//! - dynamic binding on the thread's binding stack, TLS indices allocated
//!   from `FREE_TLS_INDEX`;
//! - `arch_os_thread_init` publishes the thread in the `specials` key and
//!   installs the alternate signal stack inside the block;
//! - the guard page is the lowest page of the block, mapped `PROT_NONE`.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::legacy::types::{boolean, lispobj, os_context_t, AllocRegion, SbthreadClosure, Thread};
use crate::thread::block::layout;
use crate::legacy::lisp::{fixnum_value, global_value_cell, make_fixnum, sym, tls_index_cell, NIL, UNBOUND};
use crate::diag::lose::{addr, errno_name, lose};
use crate::sys::sigset::{sig_interrupt_thread, sig_stop_for_gc, MaskGuard};
use crate::thread::symbols::BINDING_WORDS;
use crate::thread::thread_ref::ThreadRef;

use crate::sys::errno::{get as errno, set as set_errno};

/// The calling thread, from the standalone `specials` key.
fn own_current_thread() -> Option<ThreadRef> {
    // SAFETY: the key holds NULL or a live thread of the caller (set by
    // arch_os_thread_init; blocks outlive their threads).
    unsafe { ThreadRef::new(libc::pthread_getspecific(specials_key()).cast()) }
}

/// Default `alloc_cons`: a cons from the standalone pool.
pub(crate) unsafe extern "C" fn alloc_cons(car: lispobj, cdr: lispobj) -> lispobj {
    super::cons_pool::alloc(car, cdr)
}

/// Default `arch_os_thread_init`: sets `specials` and the alternate signal
/// stack (at `th + dynamic_values_bytes`). Returns 1, or 0 on failure.
pub(crate) unsafe extern "C" fn arch_os_thread_init(th: *mut Thread) -> c_int {
    let l = layout();
    // SAFETY: `specials_key` was created during set-up.
    if unsafe { libc::pthread_setspecific(specials_key(), th.cast()) } != 0 {
        return 0;
    }
    let ss = libc::stack_t {
        ss_sp: th.cast::<u8>().wrapping_add(l.tls_bytes).cast(),
        ss_flags: 0,
        ss_size: l.altstack_bytes,
    };
    // SAFETY: the alternate stack lies inside the thread's block, which
    // outlives the thread.
    if unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) } != 0 {
        return 0;
    }
    1
}

/// Default `arch_os_thread_cleanup`: nothing to undo (the alternate stack
/// belonged to the dead thread). Returns 1.
pub(crate) unsafe extern "C" fn arch_os_thread_cleanup(_th: *mut Thread) -> c_int {
    1
}

/// Default `arch_pseudo_atomic_atomic`: the calling thread's flag.
pub(crate) unsafe extern "C" fn arch_pseudo_atomic_atomic(_context: *mut os_context_t) -> boolean {
    boolean::from(own_current_thread().is_some_and(|t| t.in_pseudo_atomic()))
}

/// Serialises TLS index allocation (taken with blockables blocked, so a
/// handler on the same thread can never find it held).
static TLS_INDEX_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// The symbol's TLS index, allocating one from `FREE_TLS_INDEX` on first use.
fn ensure_tls_index(symbol: lispobj) -> lispobj {
    let cell = tls_index_cell(symbol);
    let index = cell.load(Ordering::Acquire);
    if index != 0 {
        return index;
    }
    let _mask = MaskGuard::blockables();
    let _lock = TLS_INDEX_LOCK.lock();
    let index = cell.load(Ordering::Acquire);
    if index != 0 {
        return index;
    }
    let free = global_value_cell(sym::FREE_TLS_INDEX);
    let next = free.load(Ordering::Relaxed);
    if next == UNBOUND || fixnum_value(next) as usize >= crate::thread::block::tls_words() {
        lose!(
            "bind_variable: no TLS index left for symbol {:#x} (FREE_TLS_INDEX = {:#x}, {} words per thread)",
            symbol,
            next,
            crate::thread::block::tls_words()
        );
    }
    free.store(make_fixnum(fixnum_value(next) + 1), Ordering::Relaxed);
    cell.store(next, Ordering::Release);
    next
}

/// Default `bind_variable`: pushes (old value, symbol) on the thread's
/// binding stack and sets the thread's value.
pub(crate) unsafe extern "C" fn bind_variable(symbol: lispobj, value: lispobj, thread: *mut c_void) {
    // SAFETY: callers pass a live thread (create_thread_struct, or the
    // deferral entry points for the calling thread).
    let Some(th) = (unsafe { ThreadRef::new(thread.cast()) }) else {
        lose!("bind_variable: NULL thread for symbol {:#x}", symbol)
    };
    let index = ensure_tls_index(symbol);
    let slot = th.tls_word(index);
    let t = th.as_ptr();
    // SAFETY: the binding stack belongs to `th` and lies in its block; only
    // its own thread (or its creator, before it runs) pushes and pops.
    unsafe {
        let bsp = (*t).binding_stack_pointer;
        let limit = (*t).binding_stack_start.wrapping_byte_add(crate::thread::block::BINDING_STACK_SIZE);
        if bsp.wrapping_add(BINDING_WORDS) > limit {
            lose!("bind_variable: binding stack of thread {:#x} exhausted", addr(t));
        }
        bsp.write(slot.load(Ordering::Relaxed));
        bsp.add(1).write(symbol);
        (*t).binding_stack_pointer = bsp.add(BINDING_WORDS);
    }
    slot.store(value, Ordering::Relaxed);
}

/// Calls the closure a `lispobj` function stands for.
fn call_closure(fun: lispobj, caller: &str) -> lispobj {
    if fun == 0 || fun == NIL || !fun.is_multiple_of(8) {
        lose!("{}: {:#x} is not the address of a struct sbthread_closure", caller, fun);
    }
    let closure = fun as usize as *const SbthreadClosure;
    // SAFETY: the caller of create_thread/interrupt_thread promised a live,
    // aligned closure (documented convention); alignment checked above.
    let (f, arg) = unsafe { ((*closure).fn_, (*closure).arg) };
    let Some(f) = f else {
        lose!("{}: the closure at {:#x} has a NULL fn", caller, fun)
    };
    // SAFETY: calling the user's function with the user's argument is what
    // the convention promises.
    unsafe { f(arg) as lispobj }
}

/// Default `funcall0`: `closure->fn(closure->arg)`.
pub(crate) unsafe extern "C" fn funcall0(fun: lispobj) -> lispobj {
    call_closure(fun, "funcall0")
}

/// Runs the initial function on the new stack and exits with its result.
extern "C" fn initial_entry(fun: lispobj) -> ! {
    let r = call_closure(fun, "call_into_lisp_first_time");
    // SAFETY: exit runs atexit handlers and flushes stdio; always allowed.
    unsafe { libc::exit(r as c_int) }
}

/// Default `call_into_lisp_first_time`: switches to the calling thread's
/// control stack (as the legacy x86-64 runtime does), calls the closure
/// and exits the process with what it returns. Never returns.
pub(crate) unsafe extern "C" fn call_into_lisp_first_time(fun: lispobj, _args: *mut lispobj, _nargs: c_int) -> lispobj {
    let Some(th) = own_current_thread() else {
        lose!("call_into_lisp_first_time: the calling thread is not registered")
    };
    // SAFETY: the field was set at creation and never changes.
    let end = unsafe { (*th.as_ptr()).control_stack_end } as usize;
    let top = end & !15;
    // SAFETY: [control_stack_start, control_stack_end) is this thread's
    // unused 2 MiB control stack; we never return to the old stack, so
    // abandoning it is fine. `top` is 16-byte aligned, so the stack is
    // aligned as the ABI requires at the call.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            top = in(reg) top,
            entry = in(reg) initial_entry as extern "C" fn(lispobj) -> ! as usize,
            in("rdi") fun,
            options(noreturn),
        )
    }
}

/// Default `gc_set_region_empty`: there is no heap; the region is empty.
pub(crate) unsafe extern "C" fn gc_set_region_empty(region: *mut AllocRegion) {
    // SAFETY: callers pass a region inside a live struct thread.
    unsafe {
        (*region).free_pointer = core::ptr::null_mut();
        (*region).end_addr = core::ptr::null_mut();
        (*region).start_addr = core::ptr::null_mut();
        (*region).first_page = 0;
        (*region).last_page = -1;
    }
}

/// Default `gc_alloc_update_page_tables`: closes the region.
pub(crate) unsafe extern "C" fn gc_alloc_update_page_tables(_unboxed: c_int, region: *mut AllocRegion) {
    // SAFETY: same contract as gc_set_region_empty.
    unsafe { gc_set_region_empty(region) }
}

/// Default `os_validate`: an anonymous read-write mapping (at `addr` only
/// if that range is free), or NULL.
pub(crate) unsafe extern "C" fn os_validate(addr: *mut c_char, len: usize) -> *mut c_char {
    if crate::diag::fault::mapping_should_fail() {
        set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    }
    let fixed = if addr.is_null() { 0 } else { libc::MAP_FIXED_NOREPLACE };
    // SAFETY: anonymous mapping; MAP_FIXED_NOREPLACE never clobbers.
    let p = unsafe {
        libc::mmap(
            addr.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | fixed,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED { core::ptr::null_mut() } else { p.cast() }
}

/// Default `os_invalidate`: munmap; a failure is fatal.
pub(crate) unsafe extern "C" fn os_invalidate(addr: *mut c_char, len: usize) {
    // SAFETY: the caller gives back a mapping it owns and no longer uses.
    if unsafe { libc::munmap(addr.cast(), len) } != 0 {
        lose!("os_invalidate: munmap({:#x}, {}) failed: {}", addr as usize, len, errno_name(errno()));
    }
}

/// Default `protect_control_stack_guard_page`: the lowest page of the
/// block becomes inaccessible (or read-write again).
pub(crate) unsafe extern "C" fn protect_control_stack_guard_page(th: *mut Thread, protect_p: c_int) {
    // SAFETY: callers pass a live thread whose block start never changes.
    let Some(t) = (unsafe { ThreadRef::new(th) }) else {
        lose!("protect_control_stack_guard_page: NULL thread")
    };
    let start = t.block_start();
    let flag = &t.private().guard_protected;
    if flag.load(Ordering::Relaxed) == u32::from(protect_p != 0) {
        return; // a block reused from the cache is still protected
    }
    let page = crate::thread::block::page_size();
    let prot = if protect_p != 0 { libc::PROT_NONE } else { libc::PROT_READ | libc::PROT_WRITE };
    let failed = if crate::diag::fault::guard_should_fail() {
        set_errno(libc::ENOMEM); // what mprotect reports when it cannot split the mapping
        true
    } else {
        // SAFETY: the page is the first page of the thread's own block.
        unsafe { libc::mprotect(start.cast(), page, prot) != 0 }
    };
    if !failed {
        flag.store(u32::from(protect_p != 0), Ordering::Relaxed);
    }
    if failed {
        lose!(
            "protect_control_stack_guard_page: cannot {} the guard page at {:#x} of thread {:#x} (state {}): {}",
            if protect_p != 0 { "protect" } else { "unprotect" },
            start as usize,
            addr(th),
            crate::diag::lose::state_name(t.state()),
            errno_name(errno())
        );
    }
}

/// Default `sigaddset_deferrable`: the asynchronous signals the runtime
/// defers, as SBCL lists them, plus `SIG_INTERRUPT_THREAD`.
pub(crate) unsafe extern "C" fn sigaddset_deferrable(set: *mut libc::sigset_t) {
    for sig in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGPIPE,
        libc::SIGALRM,
        libc::SIGURG,
        libc::SIGTSTP,
        libc::SIGCHLD,
        libc::SIGIO,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGWINCH,
        libc::SIGUSR1,
        libc::SIGUSR2,
        sig_interrupt_thread(),
    ] {
        // SAFETY: the caller passes an initialised set.
        unsafe { libc::sigaddset(set, sig) };
    }
}

/// Default `sigaddset_blockable`: the deferrables and `SIG_STOP_FOR_GC`.
pub(crate) unsafe extern "C" fn sigaddset_blockable(set: *mut libc::sigset_t) {
    // SAFETY: same contract as ours.
    unsafe {
        sigaddset_deferrable(set);
        libc::sigaddset(set, sig_stop_for_gc());
    }
}

/// `specials`: the key `arch_os_thread_init` publishes a thread in.
static SPECIALS: AtomicU32 = AtomicU32::new(u32::MAX);

/// The standalone `specials` key.
fn specials_key() -> libc::pthread_key_t {
    SPECIALS.load(Ordering::Acquire)
}

/// Creates the `specials` key (once, when the table is made) and returns
/// the variable that holds it, for the table.
pub(crate) fn create_specials_key() -> *mut libc::pthread_key_t {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; no destructor.
    if unsafe { libc::pthread_key_create(&mut key, None) } != 0 {
        lose!("libsbthread: cannot create the thread-specific key for the current thread");
    }
    SPECIALS.store(key, Ordering::Release);
    SPECIALS.as_ptr()
}
