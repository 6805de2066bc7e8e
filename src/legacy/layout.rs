//! Layout checks of the ABI types, at compile time, two independent ways:
//!
//! 1. against the numbers of the spec (§2), with a readable message each;
//! 2. against `ffi/legacy_thread.h`, a C description of the legacy layout,
//!    as bindgen (clang) lays it out: every field's offset, and the sizes
//!    and alignments, must agree.
//!
//! (The third way is the ctest suite in `layout-test/`, which asks the C
//! compiler at run time.) A wrong layout does not compile.

use core::mem::{align_of, offset_of, size_of};

use static_assertions::{assert_eq_align, assert_eq_size, assert_type_eq_all};

use crate::legacy::types::{lispobj, os_thread_t, AllocRegion, SbthreadClosure, Thread};

/// bindgen's view of `ffi/legacy_thread.h`.
#[allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code, missing_docs, clippy::all)]
mod legacy {
    include!(concat!(env!("OUT_DIR"), "/legacy_thread.rs"));
}

assert_type_eq_all!(lispobj, u64);
assert_type_eq_all!(os_thread_t, libc::pthread_t);
assert_eq_size!(Thread, [u8; 192]);
assert_eq_align!(Thread, u64);
assert_eq_size!(AllocRegion, [u8; 40]);
assert_eq_size!(SbthreadClosure, [usize; 2]);

macro_rules! at {
    ($ty:ty, $field:ident, $offset:expr) => {
        const _: () = assert!(
            offset_of!($ty, $field) == $offset,
            concat!(
                "layout: ",
                stringify!($ty),
                ".",
                stringify!($field),
                " must be at byte ",
                stringify!($offset),
                " (ABI.md section 2)"
            )
        );
    };
}

at!(Thread, unbound_marker, 0);
at!(Thread, os_thread, 8);
at!(Thread, binding_stack_start, 16);
at!(Thread, binding_stack_pointer, 24);
at!(Thread, control_stack_start, 32);
at!(Thread, control_stack_end, 40);
at!(Thread, alien_stack_start, 48);
at!(Thread, alien_stack_pointer, 56);
at!(Thread, alloc_region, 64);
at!(Thread, this, 104);
at!(Thread, prev, 112);
at!(Thread, next, 120);
at!(Thread, state, 128);
at!(Thread, tls_cookie, 136);
at!(Thread, pseudo_atomic_atomic, 144);
at!(Thread, pseudo_atomic_interrupted, 152);
at!(Thread, interrupt_fun, 160);
at!(Thread, interrupt_fun_lock, 168);
at!(Thread, interrupt_data, 176);
at!(Thread, interrupt_contexts, 184);
at!(AllocRegion, free_pointer, 0);
at!(AllocRegion, end_addr, 8);
at!(AllocRegion, first_page, 16);
at!(AllocRegion, last_page, 24);
at!(AllocRegion, start_addr, 32);

macro_rules! same_as_legacy {
    ($ours:ty, $theirs:ty, [$($field:ident),* $(,)?]) => {
        const _: () = assert!(
            size_of::<$ours>() == size_of::<$theirs>(),
            concat!("layout: size of ", stringify!($ours), " differs from ffi/legacy_thread.h")
        );
        const _: () = assert!(
            align_of::<$ours>() == align_of::<$theirs>(),
            concat!("layout: alignment of ", stringify!($ours), " differs from ffi/legacy_thread.h")
        );
        $(
            const _: () = assert!(
                offset_of!($ours, $field) == offset_of!($theirs, $field),
                concat!(
                    "layout: ", stringify!($ours), ".", stringify!($field),
                    " is not where ffi/legacy_thread.h puts it"
                )
            );
        )*
    };
}

same_as_legacy!(Thread, legacy::thread, [
    unbound_marker, os_thread, binding_stack_start, binding_stack_pointer,
    control_stack_start, control_stack_end, alien_stack_start, alien_stack_pointer,
    alloc_region, this, prev, next, state, tls_cookie, pseudo_atomic_atomic,
    pseudo_atomic_interrupted, interrupt_fun, interrupt_fun_lock, interrupt_data,
    interrupt_contexts,
]);
same_as_legacy!(AllocRegion, legacy::alloc_region, [free_pointer, end_addr, first_page, last_page, start_addr]);

const _: () = assert!(
    legacy::STATE_STARTING as u64 == crate::legacy::types::SBTHREAD_STATE_STARTING
        && legacy::STATE_RUNNING as u64 == crate::legacy::types::SBTHREAD_STATE_RUNNING
        && legacy::STATE_SUSPENDED as u64 == crate::legacy::types::SBTHREAD_STATE_SUSPENDED
        && legacy::STATE_DEAD as u64 == crate::legacy::types::SBTHREAD_STATE_DEAD,
    "layout: thread state values differ from ffi/legacy_thread.h"
);
const _: () = assert!(
    legacy::MAX_INTERRUPTS as i32 == crate::legacy::types::SBTHREAD_MAX_INTERRUPTS
        && legacy::INTERRUPT_DATA_SIZE as i32 == crate::legacy::types::SBTHREAD_INTERRUPT_DATA_SIZE
        && legacy::UNBOUND_MARKER_WIDETAG as u64 == crate::legacy::types::SBTHREAD_UNBOUND_MARKER
        && legacy::NIL as u64 == crate::legacy::types::SBTHREAD_NIL
        && legacy::T as u64 == crate::legacy::types::SBTHREAD_T,
    "layout: constants differ from ffi/legacy_thread.h"
);
