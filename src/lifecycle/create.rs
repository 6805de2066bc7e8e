//! Making threads: a thread's struct in a fresh or reused block
//! (`create_thread_struct`), its pthread on the block's control stack, its
//! link into `all_threads`, `create_thread` putting these together under
//! `all_threads_lock`, and the initial thread (`create_initial_thread`,
//! `sbthread_attach`).

use core::sync::atomic::Ordering;

use super::run::{mark_running, pthread_entry, take_initial_function};
use crate::diag::lose::{addr, errno_name, lose};
use crate::diag::stats;
use crate::diag::trace::trace;
use crate::legacy::hooks::{hooks, Mode};
use crate::legacy::lisp::{global_value_cell, make_fixnum, sym, tls_index_cell, NIL, T, UNBOUND};
use crate::legacy::types::{lispobj, os_thread_t, Thread};
use crate::legacy::types::{SBTHREAD_INTERRUPT_DATA_SIZE, SBTHREAD_MAX_INTERRUPTS, SBTHREAD_STATE_STARTING};
use crate::sys::futex;
use crate::sys::sigset::MaskGuard;
use crate::thread::block::{self, Block, ALIEN_STACK_SIZE, BINDING_STACK_SIZE, CONTROL_STACK_SIZE};
use crate::thread::registry::{self, AllThreadsLock};
use crate::thread::thread_ref::ThreadRef;
use crate::world::protocol::protocol;

/// Word index of a `struct thread` field (its fixed TLS index).
macro_rules! slot {
    ($field:ident) => {
        make_fixnum((core::mem::offset_of!(Thread, $field) / 8) as i64)
    };
}

/// Fills a first thread's TLS area and gives the static symbols their
/// fixed TLS indices.
fn init_first_tls(words: *mut lispobj, count: usize) {
    for i in 0..count {
        // SAFETY: `words` is the TLS area of a block no thread uses yet.
        unsafe { words.add(i).write(UNBOUND) };
    }
    let free = global_value_cell(sym::FREE_TLS_INDEX);
    if free.load(Ordering::Relaxed) == UNBOUND {
        let first_free = SBTHREAD_MAX_INTERRUPTS as i64 + (core::mem::size_of::<Thread>() / 8) as i64;
        free.store(make_fixnum(first_free), Ordering::Relaxed);
    }
    for (symbol, index) in [
        (sym::BINDING_STACK_START, slot!(binding_stack_start)),
        (sym::BINDING_STACK_POINTER, slot!(binding_stack_pointer)),
        (sym::CONTROL_STACK_START, slot!(control_stack_start)),
        (sym::CONTROL_STACK_END, slot!(control_stack_end)),
        (sym::ALIEN_STACK, slot!(alien_stack_pointer)),
        (sym::PSEUDO_ATOMIC_ATOMIC, slot!(pseudo_atomic_atomic)),
        (sym::PSEUDO_ATOMIC_INTERRUPTED, slot!(pseudo_atomic_interrupted)),
    ] {
        tls_index_cell(symbol).store(index, Ordering::Relaxed);
    }
}

/// `create_thread_struct`: a new thread block with TLS, struct fields,
/// bindings and interrupt data set up, state STARTING. `None` (nothing
/// leaked) when a mapping fails. `create_thread` calls it under
/// `all_threads_lock` (the copies hold heap pointers nothing scans yet).
pub(crate) fn create_thread_struct(initial_function: lispobj) -> Option<ThreadRef> {
    let h = hooks();
    let l = block::layout();
    let block = Block::obtain()?;
    let t = block.thread_ptr();
    let words = t.cast::<lispobj>();
    let count = l.tls_bytes / 8;
    let creator = crate::thread::current();
    match (registry::head(), creator) {
        (None, _) => init_first_tls(words, count),
        (Some(_), Some(cur)) => {
            // SAFETY: the source is the calling thread's own TLS area (only
            // this thread and its own handlers, which restore what they
            // bind, write it); the destination is a block no thread uses.
            unsafe { core::ptr::copy_nonoverlapping(cur.as_ptr().cast::<lispobj>(), words, count) };
        }
        (Some(_), None) => {
            block.release(core::ptr::null_mut());
            lose!("create_thread: the calling thread is not a registered thread; create threads from the initial thread or threads it created");
        }
    }
    let base = block.base();
    // SAFETY: `t` is the struct of the block we own; nothing else sees it.
    unsafe {
        (*t).control_stack_start = base.cast();
        (*t).binding_stack_start = base.add(CONTROL_STACK_SIZE).cast();
        (*t).control_stack_end = (*t).binding_stack_start;
        (*t).alien_stack_start = base.add(CONTROL_STACK_SIZE + BINDING_STACK_SIZE).cast();
        (*t).binding_stack_pointer = (*t).binding_stack_start;
        (*t).this = t;
        (*t).os_thread = 0;
        (*t).interrupt_fun = NIL;
        (*t).interrupt_fun_lock = 0;
        (*t).state = SBTHREAD_STATE_STARTING;
        (*t).alien_stack_pointer = base.add(CONTROL_STACK_SIZE + BINDING_STACK_SIZE + ALIEN_STACK_SIZE - 8).cast();
        (*t).pseudo_atomic_interrupted = 0;
        (*t).pseudo_atomic_atomic = 0;
        (*t).interrupt_data = core::ptr::null_mut();
    }
    // SAFETY: the block is mapped and stays so until free_thread_struct.
    let th = unsafe { ThreadRef::new(t) }?;
    if registry::head().is_none() {
        // Only the initial thread is made with no thread registered.
        block::mark_initial_block(base);
    }
    block::init_private(th.private());
    crate::thread::clear_alloc_region(th);
    for (symbol, value) in [
        (sym::CURRENT_CATCH_BLOCK, make_fixnum(0)),
        (sym::CURRENT_UNWIND_PROTECT_BLOCK, make_fixnum(0)),
        (sym::FREE_INTERRUPT_CONTEXT_INDEX, make_fixnum(0)),
        (sym::INTERRUPT_PENDING, NIL),
        (sym::INTERRUPTS_ENABLED, T),
        (sym::GC_PENDING, NIL),
        (sym::STOP_FOR_GC_PENDING, NIL),
    ] {
        // SAFETY: `th` is a live struct no thread runs on yet.
        unsafe { h.bind_variable(symbol, value, th.as_ptr()) };
    }
    let size = SBTHREAD_INTERRUPT_DATA_SIZE as usize;
    let mut data = block.take_spare_interrupt_data();
    if data.is_null() {
        data = h.os_validate(core::ptr::null_mut(), size).cast();
    }
    if data.is_null() {
        block.release(core::ptr::null_mut());
        return None;
    }
    let source = match (registry::head(), creator) {
        // SAFETY: the creator is live; its field was set at its creation.
        (Some(_), Some(cur)) => unsafe { (*cur.as_ptr()).interrupt_data }.cast::<u8>(),
        _ => h.global_interrupt_data().cast::<u8>(),
    };
    // SAFETY: both areas are `size` bytes (the source is the creator's or
    // the global interrupt data); the destination is our fresh mapping.
    unsafe {
        core::ptr::copy_nonoverlapping(source, data, size);
        (*t).interrupt_data = data.cast();
    }
    th.unbound_marker().store(initial_function, Ordering::Release);
    Some(th)
}

/// `free_thread_struct`: gives back the interrupt data and the block.
pub(crate) fn free_thread_struct(th: ThreadRef) {
    // SAFETY: the field was written at creation; the thread no longer runs.
    let data = unsafe { (*th.as_ptr()).interrupt_data }.cast::<u8>();
    th.this_word().store(core::ptr::null_mut(), Ordering::Release);
    // SAFETY: the thread has finished with its block (joined or never run).
    unsafe { Block::of_finished_thread(th.block_start()) }.release(data);
}

/// `create_os_thread`: starts a pthread on the block's control stack, with
/// the deferrable signals blocked (the child inherits that mask).
pub(crate) fn create_os_thread(th: ThreadRef, kid: &mut os_thread_t) -> bool {
    let _mask = MaskGuard::deferrables();
    start_pthread(th, kid)
}

/// `create_os_thread` for a caller that has the deferrables blocked already.
fn start_pthread(th: ThreadRef, kid: &mut os_thread_t) -> bool {
    let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: attr is initialised by pthread_attr_init before any other use
    // and destroyed on every path after; the stack lies in the block, which
    // outlives the pthread (reap joins before freeing it).
    unsafe {
        if libc::pthread_attr_init(attr.as_mut_ptr()) != 0 {
            return false;
        }
        let stack = (*th.as_ptr()).control_stack_start.cast::<core::ffi::c_void>();
        // The stack ends below the private words (block::TOP_RESERVE).
        let mut ok = libc::pthread_attr_setstack(attr.as_mut_ptr(), stack, CONTROL_STACK_SIZE - block::TOP_RESERVE) == 0;
        if ok {
            let r = if crate::diag::fault::pthread_create_should_fail() {
                libc::EAGAIN
            } else {
                let mut id: libc::pthread_t = 0;
                let r = libc::pthread_create(&mut id, attr.as_ptr(), pthread_entry, th.as_ptr().cast());
                *kid = id as os_thread_t;
                r
            };
            if r != 0 {
                trace!(1, "create_os_thread: pthread_create failed: {}", errno_name(r));
                ok = false;
            }
        }
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        ok
    }
}

/// `link_thread`: puts `th` on `all_threads`, protects its guard page, then
/// publishes `os_thread`, which lets the child run.
pub(crate) fn link_thread(th: ThreadRef, kid: os_thread_t) {
    registry::push_front(th);
    // SAFETY: `th` is a live struct.
    unsafe { hooks().protect_control_stack_guard_page(th.as_ptr(), true) };
    th.os_thread_word().store(kid, Ordering::Release);
    futex::event::set(&th.private().linked);
    trace!(1, "thread {:#x} linked (pthread {:#x})", addr(th.as_ptr()), kid);
}

/// `create_thread`: NULL when threads are disabled or anything fails.
pub(crate) fn create_thread(initial_function: lispobj) -> *mut Thread {
    let h = hooks();
    if h.linux_no_threads_p() {
        return core::ptr::null_mut();
    }
    // The new thread's TLS and interrupt data are copies of the creator's,
    // full of pointers into the host's heap, and nothing scans them until
    // the thread is on `all_threads`. So copy them under the lock, which a
    // stopper needs: no collection can move what they point to between the
    // copy and the link. (0.9.4.1 copied first and locked after; a
    // collection in between left the new thread with stale pointers, and
    // the real runtime died of memory faults under thread churn and GC,
    // with upstream's thread.c too.)
    let lock = AllThreadsLock::acquire("create_thread");
    let Some(th) = create_thread_struct(initial_function) else {
        drop(lock);
        trace!(1, "create_thread: cannot map a thread block or its interrupt data");
        return core::ptr::null_mut();
    };
    let mut kid: os_thread_t = 0;
    // The lock guard has the deferrables blocked: the child inherits that.
    let ok = start_pthread(th, &mut kid);
    if ok {
        link_thread(th, kid);
    } else {
        free_thread_struct(th);
    }
    drop(lock);
    if ok {
        stats::CREATED.bump();
        th.as_ptr()
    } else {
        core::ptr::null_mut()
    }
}

/// Set once the initial thread has been claimed (by `create_initial_thread`
/// or `sbthread_attach`): there is only ever one.
static INITIAL_CLAIMED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Registers the calling thread as the first thread: makes its struct,
/// links it, `arch_os_thread_init`, RUNNING. Returns the thread and the
/// initial function taken back out of it.
fn register_initial_thread(caller: &str, initial_function: lispobj) -> (ThreadRef, lispobj) {
    let h = hooks();
    if INITIAL_CLAIMED.swap(true, Ordering::AcqRel) || registry::head().is_some() {
        lose!("{}: threads already exist; the initial thread can be created only once", caller);
    }
    let Some(th) = create_thread_struct(initial_function) else {
        lose!("{}: can't create initial thread (cannot map its memory)", caller)
    };
    // SAFETY: pthread_self has no preconditions.
    let kid = unsafe { libc::pthread_self() } as os_thread_t;
    link_thread(th, kid);
    stats::CREATED.bump();
    let function = take_initial_function(th);
    // SAFETY: `th` is the calling thread's own live struct.
    if unsafe { h.arch_os_thread_init(th.as_ptr()) } == 0 {
        lose!("{}: arch_os_thread_init failed for thread {:#x}", caller, addr(th.as_ptr()));
    }
    mark_running(th);
    protocol().thread_started(th);
    (th, function)
}

/// `create_initial_thread`: registers the calling thread and enters the
/// initial function; never returns.
pub(crate) fn create_initial_thread(initial_function: lispobj) -> ! {
    let (_, function) = register_initial_thread("create_initial_thread", initial_function);
    hooks().call_into_lisp_first_time(function);
    lose!("create_initial_thread: the initial function returned")
}

/// `sbthread_attach`: registers the calling thread as the initial thread
/// and returns (standalone mode). The thread keeps running on its own
/// stack; the block's control stack is unused.
pub(crate) fn attach_initial_thread() -> ThreadRef {
    if hooks().mode != Mode::Standalone {
        lose!("sbthread_attach: only available in standalone mode; a host runtime calls create_initial_thread");
    }
    let th = register_initial_thread("sbthread_attach", UNBOUND).0;
    crate::world::roots::note_own_stack(th);
    th
}

