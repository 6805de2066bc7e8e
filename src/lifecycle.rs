//! Thread lifecycle (seed 000, spec §7–§8): making a thread's struct,
//! starting its pthread, linking it, the trampolines, and reaping.
//!
//! States: STARTING (made, maybe linked, not yet running its function) →
//! RUNNING ⇄ SUSPENDED (stop-the-world) → DEAD (function returned; how, in
//! `Protocol::become_dead`: standalone under `all_threads_lock` with an
//! empty queue, host mode at once with the host's handlers shut out) →
//! reaped (unlinked, joined, block back to the cache or unmapped).

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use crate::abi_types::{lispobj, os_thread_t, Thread};
use crate::abi_types::{SBTHREAD_INTERRUPT_DATA_SIZE, SBTHREAD_MAX_INTERRUPTS, SBTHREAD_STATE_DEAD};
use crate::abi_types::{SBTHREAD_STATE_RUNNING, SBTHREAD_STATE_STARTING};
use crate::block::{self, Block, ALIEN_STACK_SIZE, BINDING_STACK_SIZE, CONTROL_STACK_SIZE};
use crate::futex;
use crate::hooks::hooks;
use crate::lisp::{global_value_cell, make_fixnum, sym, tls_index_cell, NIL, T, UNBOUND};
use crate::lose::{addr, errno_name, lose, state_name};
use crate::protocol::protocol;
use crate::registry::{self, AllThreadsLock};
use crate::sigset::MaskGuard;
use crate::stats;
use crate::thread_ref::ThreadRef;
use crate::trace::trace;

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
    let creator = h.current_thread();
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
    h.gc_set_region_empty(th);
    for (symbol, value) in [
        (sym::CURRENT_CATCH_BLOCK, make_fixnum(0)),
        (sym::CURRENT_UNWIND_PROTECT_BLOCK, make_fixnum(0)),
        (sym::FREE_INTERRUPT_CONTEXT_INDEX, make_fixnum(0)),
        (sym::INTERRUPT_PENDING, NIL),
        (sym::INTERRUPTS_ENABLED, T),
        (sym::GC_PENDING, NIL),
        (sym::STOP_FOR_GC_PENDING, NIL),
    ] {
        h.bind_variable(symbol, value, th);
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
    unsafe { Block::of_finished_thread(th) }.release(data);
}

extern "C" fn pthread_entry(arg: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    // SAFETY: create_os_thread passes a live thread struct.
    let r = unsafe { crate::abi::thread_c::new_thread_trampoline(arg.cast()) };
    // SAFETY: as above; the block stays this thread's until it is joined.
    if let Some(th) = unsafe { ThreadRef::new(arg.cast()) } {
        // Here, not in the trampoline: its frames are gone, so only the
        // stack's topmost page stays in use.
        if crate::dormant::worth_giving_back() {
            crate::dormant::give_back(th);
        }
    }
    r as isize as *mut core::ffi::c_void
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
            let r = if crate::fault::pthread_create_should_fail() {
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
    hooks().protect_control_stack_guard_page(th, true);
    th.os_thread_word().store(kid, Ordering::Release);
    futex::event::set(&th.private().linked);
    trace!(1, "thread {:#x} linked (pthread {:#x})", addr(th.as_ptr()), kid);
}

/// Takes the initial function out of `unbound_marker` and restores it.
fn take_initial_function(th: ThreadRef) -> lispobj {
    th.unbound_marker().swap(UNBOUND, Ordering::AcqRel)
}

/// Marks `th` (the calling thread) RUNNING and wakes whoever waits for
/// it to start.
fn mark_running(th: ThreadRef) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    th.private().tid.store(tid as u32, Ordering::Relaxed);
    th.set_state(SBTHREAD_STATE_RUNNING);
    futex::event::set(&th.private().started);
}

/// The body of `new_thread_trampoline`.
pub(crate) fn run_new_thread(th: ThreadRef) -> c_int {
    let h = hooks();
    let function = take_initial_function(th);
    if h.arch_os_thread_init(th) == 0 {
        lose!("new_thread_trampoline: arch_os_thread_init failed for thread {:#x}", addr(th.as_ptr()));
    }
    futex::event::wait(&th.private().linked);
    mark_running(th);
    trace!(1, "thread {:#x} running", addr(th.as_ptr()));
    protocol().thread_started(th);
    let result = h.funcall0(function);
    exit_thread(th);
    result as c_int
}

/// After the thread's function returned: DEAD (how depends on the mode,
/// see `Protocol::become_dead`), then wake whoever waits for that.
fn exit_thread(th: ThreadRef) {
    let dropped = protocol().become_dead(th);
    crate::dormant::dead_waiting_add();
    crate::dormant::release_altstack(th);
    futex::event::set(&th.private().dead);
    if dropped != 0 {
        trace!(1, "thread {:#x} dead; {} queued interrupt(s) dropped", addr(th.as_ptr()), dropped);
    } else {
        trace!(1, "thread {:#x} dead", addr(th.as_ptr()));
    }
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
    if h.arch_os_thread_init(th) == 0 {
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
    if hooks().mode != crate::hooks::Mode::Standalone {
        lose!("sbthread_attach: only available in standalone mode; a host runtime calls create_initial_thread");
    }
    let th = register_initial_thread("sbthread_attach", UNBOUND).0;
    crate::roots::note_own_stack(th);
    th
}

/// What a reap request found, judged under the lock and reported after it.
enum ReapCheck {
    Ok(ThreadRef),
    NotRegistered,
    NotDead(lispobj),
    AlreadyReaping,
}

/// `reap_dead_thread`.
pub(crate) fn reap_dead_thread(p: *mut Thread) {
    let h = hooks();
    if p.is_null() {
        lose!("reap_dead_thread: NULL thread");
    }
    // One mask change for the whole unlinking (three would do, but this is
    // on the path of every thread's end).
    let deferrables = MaskGuard::deferrables();
    let check = {
        let lock = AllThreadsLock::acquire_under("reap_dead_thread", &deferrables);
        match registry::registered(p, &lock) {
            None => ReapCheck::NotRegistered,
            Some(th) if th.state() != SBTHREAD_STATE_DEAD => ReapCheck::NotDead(th.state()),
            Some(th) if th.private().reaping.swap(1, Ordering::AcqRel) != 0 => ReapCheck::AlreadyReaping,
            Some(th) => ReapCheck::Ok(th),
        }
    };
    let th = match check {
        ReapCheck::Ok(th) => th,
        ReapCheck::NotRegistered => lose!(
            "reap_dead_thread: {:#x} is not a registered thread (already reaped, or never created)",
            addr(p)
        ),
        ReapCheck::NotDead(s) => lose!("reap_dead_thread: thread {:#x} is not joinable, state={}", addr(p), state_name(s)),
        ReapCheck::AlreadyReaping => lose!("reap_dead_thread: thread {:#x} is already being reaped by another thread", addr(p)),
    };
    // With the deferrables blocked; the hook layer blocks SIG_STOP_FOR_GC
    // too when the host's function (which takes a lock) is called.
    h.gc_alloc_update_page_tables(th);
    {
        let _lock = AllThreadsLock::acquire_under("reap_dead_thread", &deferrables);
        registry::unlink(th);
    }
    drop(deferrables);
    // SAFETY: the field is the thread's own; read as a signed word as C does.
    if unsafe { (*p).tls_cookie } as i64 >= 0 {
        h.arch_os_thread_cleanup(th);
    }
    let r = join(th.os_thread() as libc::pthread_t);
    if r != 0 {
        lose!("reap_dead_thread: pthread_join of thread {:#x} failed: {}", addr(p), errno_name(r));
    }
    // DEAD was set with an empty queue and nothing is queued on a DEAD thread.
    debug_assert_eq!(th.interrupt_fun().load(Ordering::Relaxed), NIL);
    crate::dormant::dead_waiting_sub();
    free_thread_struct(th);
    stats::REAPED.bump();
    trace!(1, "thread {:#x} reaped", addr(p));
}

/// Joins a DEAD thread's pthread. A DEAD thread is microseconds from
/// exiting: yield to it a few times (it may be waiting for this very CPU)
/// before blocking, which saves a sleep and a wake-up per thread.
fn join(pthread: libc::pthread_t) -> c_int {
    for _ in 0..futex::event::YIELDS {
        // SAFETY: the pthread was created joinable and is joined only here
        // (the reaping claim makes this the only reaper).
        match unsafe { libc::pthread_tryjoin_np(pthread, core::ptr::null_mut()) } {
            // SAFETY: sched_yield has no preconditions.
            libc::EBUSY => unsafe { libc::sched_yield() },
            r => return r,
        };
    }
    // SAFETY: as above.
    unsafe { libc::pthread_join(pthread, core::ptr::null_mut()) }
}

/// Sleeps until `th` is DEAD.
pub(crate) fn wait_until_dead(th: ThreadRef) {
    futex::event::wait_yielding_first(&th.private().dead);
}
