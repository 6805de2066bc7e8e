//! Host mode: a 0.9.4.1 Lisp mutex seen from outside Lisp, by a thread
//! that found another task asleep in FUTEX_WAIT on some word
//! (`proc::futex_wait_of`): whether the word is a mutex's value slot,
//! whether it is free, and which `struct thread` holds it.
//!
//! 0.9.4.1's `mutex` (`src/code/target-thread.lisp:155-165`) is a
//! structure (header, layout, name, value); its value slot is the futex
//! word, NIL when free, else the holder's `thread` structure (header,
//! layout, name, `%sap`), whose `%sap` is a SAP of its `struct thread`.
//! A `waitqueue`'s data slot has the same place and may hold a thread
//! too: every user here treats a wake-up given in vain as harmless
//! (`GET-MUTEX` loops, `CONDITION-WAIT` may return early).
//!
//! Every read goes through `process_vm_readv` ([`read_word`]): a bad
//! guess gives an error, not a fault. Each step checks its lowtag and
//! widetag.

use crate::legacy::lisp::{NIL, OTHER_POINTER_LOWTAG};
use crate::legacy::types::lispobj;

const INSTANCE_POINTER_LOWTAG: u64 = 0x1;
const INSTANCE_HEADER_WIDETAG: u64 = 0x5A;
const SAP_WIDETAG: u64 = 0x4E;
/// Byte offset of the value slot of a `mutex`, and of the `%sap` slot of a
/// `thread` (slot 0 is the layout), from the instance's untagged address.
const SLOT_2: u64 = 8 * 3;

/// Who holds a Lisp mutex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Holder {
    /// The value slot's content: the holder's `thread` instance.
    pub(super) owner: lispobj,
    /// The address of the holder's `struct thread` (its `%sap`).
    pub(super) thread: u64,
}

/// The holder of the 0.9.4.1 mutex whose value word is at `uaddr`, if the
/// word still holds the value the waiter expects (`expected`, the low half
/// the futex compares) and every object on the way has the expected tags.
pub(super) fn holder(uaddr: u64, expected: u32) -> Option<Holder> {
    let owner = read_word(uaddr)?;
    if owner as u32 != expected || owner & 0xF != INSTANCE_POINTER_LOWTAG {
        return None;
    }
    let base = owner - INSTANCE_POINTER_LOWTAG;
    if read_word(base)? & 0xFF != INSTANCE_HEADER_WIDETAG {
        return None;
    }
    let sap: lispobj = read_word(base + SLOT_2)?;
    if sap & 0xF != OTHER_POINTER_LOWTAG {
        return None;
    }
    let sap_base = sap - OTHER_POINTER_LOWTAG;
    if read_word(sap_base)? & 0xFF != SAP_WIDETAG {
        return None;
    }
    Some(Holder { owner, thread: read_word(sap_base + 8)? })
}

/// Whether `uaddr` is the value slot of what looks like a 0.9.4.1 mutex
/// and holds NIL while its waiter expects (the low half of) an instance.
pub(super) fn is_free(uaddr: u64, expected: u32) -> bool {
    if u64::from(expected) & 0xF != INSTANCE_POINTER_LOWTAG || uaddr < SLOT_2 {
        return false;
    }
    let base = uaddr - SLOT_2;
    let (Some(value), Some(header), Some(layout)) = (read_word(uaddr), read_word(base), read_word(base + 8)) else {
        return false;
    };
    value == NIL
        && header & 0xFF == INSTANCE_HEADER_WIDETAG
        && header >> 8 >= 3
        && layout & 0xF == INSTANCE_POINTER_LOWTAG
}

/// One word of this process's memory, or None if it is not readable.
pub(super) fn read_word(at: u64) -> Option<u64> {
    if !at.is_multiple_of(8) {
        return None;
    }
    let mut word = 0u64;
    let local = libc::iovec { iov_base: (&mut word as *mut u64).cast(), iov_len: 8 };
    let remote = libc::iovec { iov_base: at as usize as *mut libc::c_void, iov_len: 8 };
    // SAFETY: `local` is our own 8-byte word; the kernel checks `remote`
    // and fails with EFAULT instead of faulting.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (n == 8).then_some(word)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Lisp objects are 16-byte aligned (the lowtag is the low 4 bits).
    #[repr(C, align(16))]
    pub(in crate::host) struct Obj<const N: usize>(pub(in crate::host) [u64; N]);

    /// A fake 0.9.4.1 thread instance (header, layout, name, %sap) and its
    /// SAP (header, address of `struct thread`).
    pub(in crate::host) struct FakeThread {
        pub(in crate::host) inst: Box<Obj<4>>,
        _sap: Box<Obj<2>>,
    }

    impl FakeThread {
        pub(in crate::host) fn new(thread: u64) -> Self {
            let sap = Box::new(Obj([SAP_WIDETAG, thread]));
            let tagged = sap.0.as_ptr() as u64 + OTHER_POINTER_LOWTAG;
            Self { inst: Box::new(Obj([INSTANCE_HEADER_WIDETAG | (3 << 8), 0, 0, tagged])), _sap: sap }
        }
        pub(in crate::host) fn owner(&self) -> lispobj {
            self.inst.0.as_ptr() as u64 + INSTANCE_POINTER_LOWTAG
        }
    }

    /// A fake 0.9.4.1 mutex (header, layout, name, value) holding `value`.
    pub(in crate::host) fn fake_mutex(layout: &Obj<2>, value: lispobj) -> Box<Obj<4>> {
        let layout_ptr = layout.0.as_ptr() as u64 + INSTANCE_POINTER_LOWTAG;
        Box::new(Obj([INSTANCE_HEADER_WIDETAG | (3 << 8), layout_ptr, NIL, value]))
    }

    #[test]
    fn unreadable_words_are_none() {
        let x = 0x1234_5678_9abc_def0u64;
        assert_eq!(read_word(&x as *const u64 as u64), Some(x));
        assert_eq!(read_word(8), None);
        assert_eq!(read_word(&x as *const u64 as u64 + 1), None);
    }

    #[test]
    fn holder_needs_the_tags_of_a_thread_and_its_sap() {
        let mut t = FakeThread::new(0xdead_b000);
        let owner = t.owner();
        let word = Obj([owner]);
        let uaddr = word.0.as_ptr() as u64;
        assert_eq!(holder(uaddr, owner as u32), Some(Holder { owner, thread: 0xdead_b000 }));
        assert_eq!(holder(uaddr, owner as u32 ^ 1), None, "value changed: the waiter wakes");
        let sap = t.inst.0[3];
        t.inst.0[0] = SAP_WIDETAG;
        // The words are read behind the compiler's back (process_vm_readv).
        core::hint::black_box(&mut t);
        assert_eq!(holder(uaddr, owner as u32), None, "not an instance");
        t.inst.0[0] = INSTANCE_HEADER_WIDETAG;
        t.inst.0[3] = sap - OTHER_POINTER_LOWTAG + INSTANCE_POINTER_LOWTAG;
        core::hint::black_box(&mut t);
        assert_eq!(holder(uaddr, owner as u32), None, "%sap is not a SAP");
    }

    #[test]
    fn only_a_mutex_value_slot_holding_nil_is_free() {
        let layout = Obj([0u64; 2]);
        let holder = 0x1003_c831u32;
        let mut m = fake_mutex(&layout, NIL);
        let word = m.0.as_ptr() as u64 + SLOT_2;
        assert!(is_free(word, holder));
        assert!(!is_free(word, 0x1003_c830), "the waiter expects no instance");
        m.0[3] = u64::from(holder);
        core::hint::black_box(&mut m);
        assert!(!is_free(word, holder), "held");
        m.0[3] = NIL;
        m.0[0] = INSTANCE_HEADER_WIDETAG | (2 << 8);
        core::hint::black_box(&mut m);
        assert!(!is_free(word, holder), "too short for a mutex");
        m.0[0] = 0x4E;
        core::hint::black_box(&mut m);
        assert!(!is_free(word, holder), "not an instance");
        m.0[0] = INSTANCE_HEADER_WIDETAG | (3 << 8);
        m.0[1] = 0x1000;
        core::hint::black_box(&mut m);
        assert!(!is_free(word, holder), "no layout");
        assert!(!is_free(8, holder), "unreadable");
    }
}
