//! `ThreadRef`: a checked handle on a `struct thread` inside a mapped thread
//! block. Creating one is the single unsafe step (the caller vouches that
//! the block is mapped and stays mapped while the handle is used); every
//! field access after that is a safe method, atomic where other threads or
//! signal handlers write the field (`state`, `os_thread`, the spinlock word,
//! the pseudo-atomic words, TLS words).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::legacy::types::{lispobj, os_context_t, os_thread_t, Thread, SBTHREAD_MAX_INTERRUPTS};
use crate::thread::block::{self, Private};
use crate::legacy::lisp::fixnum_value;
use crate::diag::lose::{addr, lose};

impl core::fmt::Debug for ThreadRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "thread@{:p}", self.as_ptr())
    }
}

/// A live thread block's `struct thread`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThreadRef(NonNull<Thread>);

// SAFETY: a ThreadRef is an address; all access through it is atomic or
// follows the runtime's ownership rules (fields written only by the owning
// thread or under all_threads_lock), exactly as the C code shares them.
unsafe impl Send for ThreadRef {}
// SAFETY: as above.
unsafe impl Sync for ThreadRef {}

macro_rules! atomic_field {
    ($(#[$doc:meta])* $name:ident, $field:ident, $ty:ty, $atomic:ty) => {
        $(#[$doc])*
        pub(crate) fn $name(self) -> &'static $atomic {
            let p = self.field_ptr(core::mem::offset_of!(Thread, $field)).cast::<$ty>();
            // SAFETY: the block is mapped while the handle is in use (the
            // constructor's contract), the field is naturally aligned, and
            // the library accesses it only atomically.
            unsafe { <$atomic>::from_ptr(p) }
        }
    };
}

impl ThreadRef {
    /// Wraps a pointer to a `struct thread`.
    ///
    /// # Safety
    /// `p` must be NULL or point to the `struct thread` of a thread block
    /// that stays mapped for as long as the returned handle (or copies of
    /// it) are used.
    pub(crate) unsafe fn new(p: *mut Thread) -> Option<Self> {
        NonNull::new(p).map(Self)
    }

    /// The raw pointer, for the C side.
    pub(crate) fn as_ptr(self) -> *mut Thread {
        self.0.as_ptr()
    }

    fn field_ptr(self, offset: usize) -> *mut u8 {
        self.as_ptr().cast::<u8>().wrapping_add(offset)
    }

    atomic_field!(/// `state` (volatile in C).
        state_word, state, lispobj, AtomicU64);
    atomic_field!(/// `os_thread` (published last by `link_thread`).
        os_thread_word, os_thread, u64, AtomicU64);
    atomic_field!(/// `interrupt_fun_lock`, the spinlock word (volatile in C).
        interrupt_fun_lock, interrupt_fun_lock, lispobj, AtomicU64);
    atomic_field!(/// `interrupt_fun`, the queue head (guarded by the spinlock).
        interrupt_fun, interrupt_fun, lispobj, AtomicU64);
    atomic_field!(/// `pseudo_atomic_atomic`.
        pseudo_atomic_atomic, pseudo_atomic_atomic, lispobj, AtomicU64);
    atomic_field!(/// `pseudo_atomic_interrupted`.
        pseudo_atomic_interrupted, pseudo_atomic_interrupted, lispobj, AtomicU64);
    atomic_field!(/// `unbound_marker` (TLS word 0).
        unbound_marker, unbound_marker, lispobj, AtomicU64);
    atomic_field!(/// `next` in `all_threads`.
        next_word, next, *mut Thread, AtomicPtr<Thread>);
    atomic_field!(/// `prev` in `all_threads`.
        prev_word, prev, *mut Thread, AtomicPtr<Thread>);
    atomic_field!(/// `this`.
        this_word, this, *mut Thread, AtomicPtr<Thread>);

    /// The thread's state word value.
    pub(crate) fn state(self) -> lispobj {
        self.state_word().load(Ordering::Acquire)
    }

    /// Stores a new state.
    pub(crate) fn set_state(self, s: lispobj) {
        self.state_word().store(s, Ordering::Release);
    }

    /// The pthread id (0 before `link_thread`).
    pub(crate) fn os_thread(self) -> os_thread_t {
        self.os_thread_word().load(Ordering::Acquire) as os_thread_t
    }

    /// Next thread in `all_threads`.
    pub(crate) fn next(self) -> Option<ThreadRef> {
        // SAFETY: list members are live blocks (registry invariant).
        unsafe { ThreadRef::new(self.next_word().load(Ordering::Acquire)) }
    }

    /// Previous thread in `all_threads`.
    pub(crate) fn prev(self) -> Option<ThreadRef> {
        // SAFETY: list members are live blocks (registry invariant).
        unsafe { ThreadRef::new(self.prev_word().load(Ordering::Acquire)) }
    }

    /// Whether `this` still points at the struct (cleared when reaped).
    pub(crate) fn is_self_consistent(self) -> bool {
        self.this_word().load(Ordering::Relaxed) == self.as_ptr()
    }

    /// Whether the thread is inside a pseudo-atomic section.
    pub(crate) fn in_pseudo_atomic(self) -> bool {
        self.pseudo_atomic_atomic().load(Ordering::Relaxed) != 0
    }

    /// The TLS word for a symbol's `tls_index` (a fixnum byte offset).
    /// Loses when the index lies outside the thread's TLS area.
    pub(crate) fn tls_word(self, tls_index: lispobj) -> &'static AtomicU64 {
        let word = fixnum_value(tls_index);
        let words = block::tls_words() as i64;
        if word <= 0 || word >= words {
            lose!(
                "tls_word: TLS index {} is outside the {} words of thread {:#x}'s TLS area",
                word,
                words,
                addr(self.as_ptr())
            );
        }
        let p = self.as_ptr().cast::<lispobj>().wrapping_add(word as usize);
        // SAFETY: `p` is inside the TLS area of a mapped block (bounds
        // checked above), 8-aligned, and accessed atomically.
        unsafe { AtomicU64::from_ptr(p) }
    }

    /// Slot `i` of the trailing `interrupt_contexts` array (written by the
    /// thread itself, read by a stopper while it is suspended). Loses when
    /// `i` is not below `MAX_INTERRUPTS`.
    pub(crate) fn interrupt_context_slot(self, i: usize) -> &'static AtomicPtr<os_context_t> {
        if i >= SBTHREAD_MAX_INTERRUPTS as usize {
            lose!("interrupt_contexts: index {} of thread {:#x} is not below MAX_INTERRUPTS ({})", i, addr(self.as_ptr()), SBTHREAD_MAX_INTERRUPTS);
        }
        let offset = core::mem::offset_of!(Thread, interrupt_contexts) + i * core::mem::size_of::<*mut os_context_t>();
        let p = self.field_ptr(offset).cast::<*mut os_context_t>();
        // SAFETY: the TLS area holds MAX_INTERRUPTS context slots after the
        // struct (block.rs: MIN_TLS_BYTES), the block is mapped while the
        // handle is used, the slot is 8-aligned and accessed atomically.
        unsafe { AtomicPtr::from_ptr(p) }
    }

    /// The library's private per-thread words (`block::Private`), found
    /// from the struct's address (its block starts `tls_offset` below).
    pub(crate) fn private(self) -> &'static Private {
        block::private_of_thread(self.as_ptr())
    }

    /// `control_stack_start`, which is also the start of the block.
    pub(crate) fn block_start(self) -> *mut u8 {
        // SAFETY: the block is mapped; the field was written at creation
        // and never changes afterwards.
        unsafe { (*self.as_ptr()).control_stack_start.cast() }
    }

    /// `&alloc_region`, for the region hooks.
    pub(crate) fn alloc_region(self) -> *mut crate::legacy::types::AllocRegion {
        self.field_ptr(core::mem::offset_of!(Thread, alloc_region)).cast()
    }

    /// `control_stack_end` (exclusive).
    pub(crate) fn control_stack_end(self) -> *mut u8 {
        // SAFETY: as for `block_start`.
        unsafe { (*self.as_ptr()).control_stack_end.cast() }
    }
}
