//! A deliberately wrong binding of the legacy layout, so that the layout
//! check is shown to fail when a layout is wrong (tests/negative.rs):
//! - `state` and `tls_cookie` are swapped;
//! - `AllocRegion` is 16-byte aligned (wrong size and alignment, which also
//!   moves every `Thread` field after it);
//! - `SBTHREAD_STATE_SUSPENDED` has the value of a fixnum 3, not 2.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_long, c_ulong, c_void};

pub type lispobj = c_ulong;
pub type volatile_lispobj = c_ulong;
pub type os_thread_t = c_ulong;
pub type os_context_t = c_void;
pub type os_vm_address_t = *mut c_char;
pub type os_vm_size_t = usize;
pub type boolean = c_int;

pub const SBTHREAD_STATE_RUNNING: lispobj = 0x8;
pub const SBTHREAD_STATE_SUSPENDED: lispobj = 0x18;

#[repr(C, align(16))]
pub struct AllocRegion {
    pub free_pointer: *mut c_void,
    pub end_addr: *mut c_void,
    pub first_page: c_long,
    pub last_page: c_long,
    pub start_addr: *mut c_void,
}

pub struct InterruptData {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct Thread {
    pub unbound_marker: lispobj,
    pub os_thread: os_thread_t,
    pub binding_stack_start: *mut lispobj,
    pub binding_stack_pointer: *mut lispobj,
    pub control_stack_start: *mut lispobj,
    pub control_stack_end: *mut lispobj,
    pub alien_stack_start: *mut lispobj,
    pub alien_stack_pointer: *mut lispobj,
    pub alloc_region: AllocRegion,
    pub this: *mut Thread,
    pub prev: *mut Thread,
    pub next: *mut Thread,
    pub tls_cookie: lispobj,
    pub state: volatile_lispobj,
    pub pseudo_atomic_atomic: lispobj,
    pub pseudo_atomic_interrupted: lispobj,
    pub interrupt_fun: lispobj,
    pub interrupt_fun_lock: volatile_lispobj,
    pub interrupt_data: *mut InterruptData,
    pub interrupt_contexts: [*mut os_context_t; 1],
}
