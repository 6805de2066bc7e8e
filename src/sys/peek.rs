//! Reading a word of this process's memory that may not be mapped: through
//! `process_vm_readv`, which fails with EFAULT instead of faulting. For
//! checking a pointer that a caller passed and that may be stale or
//! corrupt before anything dereferences it. Async-signal-safe (one system
//! call).

/// The 8-byte word at `at`, or None if `at` is not 8-aligned or not
/// readable.
pub(crate) fn word(at: usize) -> Option<u64> {
    if !at.is_multiple_of(8) {
        return None;
    }
    let mut word = 0u64;
    let local = libc::iovec { iov_base: (&mut word as *mut u64).cast(), iov_len: 8 };
    let remote = libc::iovec { iov_base: at as *mut libc::c_void, iov_len: 8 };
    // SAFETY: `local` is our own 8-byte word; the kernel checks `remote`
    // and fails with EFAULT instead of faulting.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (n == 8).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_words_are_read_and_unmapped_ones_are_none() {
        let x = 0x1234_5678_9abc_def0u64;
        assert_eq!(word(&x as *const u64 as usize), Some(x));
        assert_eq!(word(8), None);
        assert_eq!(word(&x as *const u64 as usize + 1), None);
        // SAFETY: a fresh private mapping, unmapped at once; only its
        // address is used afterwards.
        let gone = unsafe {
            let p = libc::mmap(core::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
            assert_ne!(p, libc::MAP_FAILED);
            libc::munmap(p, 4096);
            p as usize
        };
        assert_eq!(word(gone), None);
    }
}
