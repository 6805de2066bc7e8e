//! The three global variables of thread.o (spec §5), exported under their C
//! names with their C layouts.
//!
//! A legacy runtime is a non-PIE executable that refers to `all_threads`
//! and `dynamic_values_bytes` directly, so the static linker gives it its
//! own copies (copy relocations) and the dynamic linker binds every other
//! reference, including ours, to those copies. The library therefore only
//! ever touches these through their symbols (GOT-relative: they are
//! exported, default-visibility definitions in a shared object, which
//! rustc does not treat as DSO-local); `c-tests/copy_reloc.c` checks it.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicPtr};

use crate::legacy::types::Thread;

/// `pthread_mutex_t` with a stable address that C code locks directly.
#[repr(transparent)]
pub struct PthreadMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is designed to be shared between threads; it is
// only ever used through pthread_mutex_* calls on its address.
unsafe impl Sync for PthreadMutex {}

impl PthreadMutex {
    /// The mutex's address, for the pthread calls.
    pub fn get(&self) -> *mut libc::pthread_mutex_t {
        self.0.get()
    }
}

/// `struct thread * volatile all_threads`: the head of the registry.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static all_threads: AtomicPtr<Thread> = AtomicPtr::new(core::ptr::null_mut());

/// `pthread_mutex_t all_threads_lock = PTHREAD_MUTEX_INITIALIZER`.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static all_threads_lock: PthreadMutex = PthreadMutex(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));

/// `int dynamic_values_bytes = 4096 * sizeof(lispobj)`.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static dynamic_values_bytes: AtomicI32 = AtomicI32::new(4096 * 8);
