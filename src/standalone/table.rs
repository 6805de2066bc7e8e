//! The standalone hook table: every entry is the library's own default
//! (`defaults.rs`), and the three variables of the runtime are storage of
//! ours. `init.rs` installs it when the process defines no hook.

use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use super::defaults;
use crate::legacy::hooks::ProcessHooks;
use crate::legacy::types::{InterruptData, SBTHREAD_INTERRUPT_DATA_SIZE};

#[repr(C, align(16))]
struct InterruptDataStorage(core::cell::UnsafeCell<[u8; SBTHREAD_INTERRUPT_DATA_SIZE as usize]>);
// SAFETY: the storage is only ever copied from (into new threads' data).
unsafe impl Sync for InterruptDataStorage {}
static INTERRUPT_DATA: InterruptDataStorage =
    InterruptDataStorage(core::cell::UnsafeCell::new([0; SBTHREAD_INTERRUPT_DATA_SIZE as usize]));

/// `global_interrupt_data`: points at zeroed storage of the right size.
static GLOBAL_INTERRUPT_DATA: AtomicPtr<InterruptData> = AtomicPtr::new(core::ptr::null_mut());

/// `linux_no_threads_p`: threads are always available.
static LINUX_NO_THREADS_P: AtomicI32 = AtomicI32::new(0);

/// Creates the `specials` key and returns the table of defaults.
pub(crate) fn entries() -> ProcessHooks {
    let specials = defaults::create_specials_key();
    GLOBAL_INTERRUPT_DATA.store(INTERRUPT_DATA.0.get().cast(), Ordering::Release);
    ProcessHooks {
        alloc_cons: Some(defaults::alloc_cons),
        arch_os_thread_cleanup: Some(defaults::arch_os_thread_cleanup),
        arch_os_thread_init: Some(defaults::arch_os_thread_init),
        arch_pseudo_atomic_atomic: Some(defaults::arch_pseudo_atomic_atomic),
        bind_variable: Some(defaults::bind_variable),
        call_into_lisp_first_time: Some(defaults::call_into_lisp_first_time),
        funcall0: Some(defaults::funcall0),
        gc_alloc_update_page_tables: Some(defaults::gc_alloc_update_page_tables),
        gc_set_region_empty: Some(defaults::gc_set_region_empty),
        lose: Some(crate::legacy::hooks::default_lose()),
        os_invalidate: Some(defaults::os_invalidate),
        os_validate: Some(defaults::os_validate),
        protect_control_stack_guard_page: Some(defaults::protect_control_stack_guard_page),
        sigaddset_blockable: Some(defaults::sigaddset_blockable),
        sigaddset_deferrable: Some(defaults::sigaddset_deferrable),
        global_interrupt_data: GLOBAL_INTERRUPT_DATA.as_ptr(),
        linux_no_threads_p: LINUX_NO_THREADS_P.as_ptr().cast::<c_int>(),
        specials,
    }
}
