//! The per-thread memory block (spec §3): one mapping holding, low to high,
//! the control stack, the binding stack, the alien stack, the TLS area (with
//! `struct thread` at its start), the alternate signal stack, and a last
//! page for the library's own per-thread words ([`Private`]) of the initial
//! thread; every other thread keeps them at the top of its control stack,
//! above its pthread stack ([`TOP_RESERVE`]).
//!
//! The layout is computed once, from `dynamic_values_bytes`, when the first
//! block is made, and frozen: the host may set `dynamic_values_bytes` before
//! that, never after (a change is reported by `lose`). The alternate signal
//! stack is `32 * max(8192, sysconf(_SC_SIGSTKSZ))` bytes, so it is never
//! smaller than what a host built with either the legacy constant or a
//! glibc >= 2.34 run-time `SIGSTKSZ` installs at `th + dynamic_values_bytes`.
//!
//! Blocks of reaped threads go to a bounded cache (`block_cache`) instead of
//! being unmapped; see there.

use core::mem::size_of;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::legacy::globals::dynamic_values_bytes;
use crate::legacy::types::{Thread, SBTHREAD_MAX_INTERRUPTS};
use crate::diag::lose::lose;
pub(crate) use crate::thread::private::{init_private, Private, PRIVATE_MAGIC, REGION_REGS};

/// `THREAD_CONTROL_STACK_SIZE`.
pub(crate) const CONTROL_STACK_SIZE: usize = 2 << 20;
/// `BINDING_STACK_SIZE`.
pub(crate) const BINDING_STACK_SIZE: usize = 1 << 20;
/// `ALIEN_STACK_SIZE`.
pub(crate) const ALIEN_STACK_SIZE: usize = 1 << 20;
/// `SIGSTKSZ` of the original build.
const LEGACY_SIGSTKSZ: usize = 8192;
/// glibc's `_SC_SIGSTKSZ` (bits/confname.h; not in the libc crate).
const SC_SIGSTKSZ: libc::c_int = 250;
/// Smallest TLS area that holds the struct and the interrupt contexts.
const MIN_TLS_BYTES: usize = size_of::<Thread>() + 8 * (SBTHREAD_MAX_INTERRUPTS as usize - 1);

/// Where everything is in a block.
pub(crate) struct Layout {
    /// Bytes of TLS (`dynamic_values_bytes`).
    pub(crate) tls_bytes: usize,
    /// Offset of the TLS area (and `struct thread`).
    pub(crate) tls_offset: usize,
    /// Bytes of alternate signal stack, at `tls_offset + tls_bytes`.
    pub(crate) altstack_bytes: usize,
    /// Offset of the last page, which holds [`Private`] in the initial
    /// thread's block (other blocks: [`TOP_RESERVE`]).
    pub(crate) private_offset: usize,
    /// Size of the whole mapping.
    pub(crate) total: usize,
}

static LAYOUT: spin::Once<Layout> = spin::Once::new();

/// The system page size (4096 if `sysconf` cannot tell).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn compute_layout() -> Layout {
    let dvb = dynamic_values_bytes.load(Ordering::Relaxed);
    if dvb < MIN_TLS_BYTES as i32 || dvb % 8 != 0 {
        lose!(
            "create_thread: dynamic_values_bytes = {} is not a usable TLS size (need a multiple of 8, at least {})",
            dvb,
            MIN_TLS_BYTES
        );
    }
    // SAFETY: sysconf has no preconditions.
    let run_time = unsafe { libc::sysconf(SC_SIGSTKSZ) };
    let sigstksz = LEGACY_SIGSTKSZ.max(if run_time > 0 { run_time as usize } else { 0 });
    let page = page_size();
    let tls_bytes = dvb as usize;
    let tls_offset = CONTROL_STACK_SIZE + BINDING_STACK_SIZE + ALIEN_STACK_SIZE;
    let altstack_bytes = round_up(32 * sigstksz, page);
    let private_offset = round_up(tls_offset + tls_bytes + altstack_bytes, page);
    let total = private_offset + round_up(size_of::<Private>(), page);
    Layout { tls_bytes, tls_offset, altstack_bytes, private_offset, total }
}

/// The block layout, computed on first use and then fixed. Loses if the
/// host changed `dynamic_values_bytes` after it was fixed.
pub(crate) fn layout() -> &'static Layout {
    let l = LAYOUT.call_once(compute_layout);
    let now = dynamic_values_bytes.load(Ordering::Relaxed);
    if now as usize != l.tls_bytes {
        report_changed_tls_size(l.tls_bytes, now);
    }
    l
}

#[cold]
fn report_changed_tls_size(was: usize, now: i32) -> ! {
    lose!(
        "create_thread: dynamic_values_bytes changed from {} to {} after the first thread was created; set it before creating any thread",
        was,
        now
    )
}

/// Words in a TLS area; 0 before the first block exists. Usable from a
/// signal handler (no initialisation, no lock).
pub(crate) fn tls_words() -> usize {
    LAYOUT.get().map_or(0, |l| l.tls_bytes / 8)
}

/// Bytes at the top of the control stack that hold [`Private`] in the
/// block of every thread but the initial one (the pthread's stack ends
/// below them, with 0.9.4.1's 16 bytes of slack). There the private words
/// share the stack's topmost page with glibc's thread descriptor, a page
/// that stays resident as long as the thread is registered anyway: a
/// DEAD thread waiting to be reaped keeps one page less (`dormant.rs`).
/// The initial thread's stack starts at the very top of its control stack
/// (the host's `call_into_lisp_first_time` switches to it), so its block
/// keeps the private words in the block's last page instead.
pub(crate) const TOP_RESERVE: usize = size_of::<Private>().next_multiple_of(64) + 64;

/// The start of the initial thread's block (0 until it exists).
static INITIAL_BLOCK: AtomicUsize = AtomicUsize::new(0);

/// Records that the block at `base` is the initial thread's, before its
/// private words are first used.
pub(crate) fn mark_initial_block(base: *mut u8) {
    INITIAL_BLOCK.store(base as usize, Ordering::Release);
}

/// Where the private words of the block at `base` are.
fn private_offset_of(base: *mut u8, l: &Layout) -> usize {
    if base as usize == INITIAL_BLOCK.load(Ordering::Acquire) { l.private_offset } else { CONTROL_STACK_SIZE - TOP_RESERVE }
}

/// The private area of the live block holding the `struct thread` at
/// `th` (found from the address alone: a stopper walking hundreds of
/// threads reads no other line of the struct for it).
pub(crate) fn private_of_thread(th: *mut Thread) -> &'static Private {
    let Some(l) = LAYOUT.get() else {
        lose!("private_of: a thread at {:#x} exists before any block layout", th as usize)
    };
    private_in(th.cast::<u8>().wrapping_sub(l.tls_offset), l)
}

/// The private area of the block at `base`, laid out as `l`.
fn private_in(base: *mut u8, l: &Layout) -> &'static Private {
    let p = base.wrapping_add(private_offset_of(base, l)).cast::<Private>();
    // SAFETY: the block is mapped while its thread is in use (ThreadRef
    // contract), the private area is aligned (64 bytes at least) inside it,
    // zero-initialised by mmap or re-initialised by `init_private`, and
    // holds only atomics.
    unsafe { &*p }
}

/// The private area of the block starting at `base`.
fn private_at(base: *mut u8) -> &'static Private {
    let p = base.wrapping_add(private_offset_of(base, layout())).cast::<Private>();
    // SAFETY: `base` starts a mapped block of `layout().total` bytes (callers
    // hold a Block); the private area is aligned (64 bytes at least) inside
    // it and holds only atomics, zero-initialised by mmap.
    unsafe { &*p }
}

/// Unmaps a block and the `interrupt_data` mapping kept with it.
fn unmap(base: *mut u8) {
    let hooks = crate::legacy::hooks::hooks();
    let spare = private_at(base).spare_interrupt_data.swap(0, Ordering::Relaxed);
    if spare != 0 {
        // SAFETY: the spare mapping came from os_validate with this size
        // and belongs to no thread.
        unsafe { hooks.os_invalidate(spare as *mut _, crate::legacy::types::SBTHREAD_INTERRUPT_DATA_SIZE as usize) };
    }
    private_at(base).magic.store(0, Ordering::Relaxed);
    // SAFETY: the block came from os_validate with this size and belongs
    // to no thread (callers give back only blocks of finished threads).
    unsafe { hooks.os_invalidate(base.cast(), layout().total) };
}

/// A hole a DEAD thread may leave in its block (`dormant.rs`): the
/// control stack below what it kept (`Private::kept_low`), with the guard
/// page.
pub(crate) const HOLE_STACK: u32 = 1;
/// A hole: the binding stack past its first page, and the alien stack.
pub(crate) const HOLE_STACKS: u32 = 2;
/// A hole: the alternate signal stack and the block's last page.
pub(crate) const HOLE_TOP: u32 = 4;

/// The five pieces of the block at `base`, low to high, each `[from, to)`
/// with the hole bit it may be unmapped under (0: never a hole): the
/// control stack below `kept_low`, the rest of it with the binding
/// stack's first page (glibc's descriptor, the private words, the frames
/// of the thread's exit; the bindings a dead thread keeps), the binding
/// stack's rest and the alien stack, the TLS area (with the struct), the
/// signal stack and the last page. `kept_low` is page-aligned and clamped
/// into the control stack below its top page.
pub(crate) fn pieces(base: usize, kept_low: usize, l: &Layout) -> [(usize, usize, u32); 5] {
    let page = page_size();
    let stack_top = base + CONTROL_STACK_SIZE;
    // Never above the stack's top page (glibc's descriptor, the private words).
    let kept_low = (kept_low & !(page - 1)).clamp(base, stack_top - page);
    let tls = base + l.tls_offset;
    let tls_end = (tls + l.tls_bytes).next_multiple_of(page);
    [
        (base, kept_low, HOLE_STACK),
        (kept_low, stack_top + page, 0),
        (stack_top + page, tls, HOLE_STACKS),
        (tls, tls_end, 0),
        (tls_end, base + l.total, HOLE_TOP),
    ]
}

/// Unmaps what is left of a block in which its thread made holes, and the
/// thread's `interrupt_data` mapping. Piece by piece, never the whole: a
/// hole may hold someone else's mapping by now.
fn unmap_around_holes(base: *mut u8, holes: u32, interrupt_data: *mut u8) {
    let hooks = crate::legacy::hooks::hooks();
    let p = private_at(base);
    let kept_low = p.kept_low.load(Ordering::Relaxed);
    let spare = p.spare_interrupt_data.swap(0, Ordering::Relaxed);
    for data in [interrupt_data as usize, spare] {
        if data != 0 {
            // SAFETY: the mapping came from os_validate with this size and
            // belongs to no thread any more.
            unsafe { hooks.os_invalidate(data as *mut _, crate::legacy::types::SBTHREAD_INTERRUPT_DATA_SIZE as usize) };
        }
    }
    // The private words are in the second piece: everything is read.
    for (from, to, hole) in pieces(base as usize, kept_low, layout()) {
        if to > from && holes & hole == 0 {
            // SAFETY: a piece of the block that its thread did not unmap;
            // the thread is joined, nobody uses the block any more.
            unsafe { hooks.os_invalidate(from as *mut _, to - from) };
        }
    }
}

/// Whether the process has an address-space limit (`RLIMIT_AS`) now: a
/// program may set one at any time, so it is read each time.
pub(crate) fn address_space_limited() -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into a valid rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) == 0 && lim.rlim_cur != libc::RLIM_INFINITY }
}

/// A mapped block, not (or no longer) owned by a thread.
pub(crate) struct Block {
    base: *mut u8,
}

impl Block {
    /// A block from the cache, or a fresh mapping from the `os_validate`
    /// hook. `None` when the mapping fails.
    pub(crate) fn obtain() -> Option<Block> {
        let l = layout();
        if let Some(base) = crate::thread::block_cache::take() {
            return Some(Block { base });
        }
        let base = crate::legacy::hooks::hooks().os_validate(core::ptr::null_mut(), l.total);
        if base.is_null() { None } else { Some(Block { base: base.cast() }) }
    }

    /// Where `struct thread` goes.
    pub(crate) fn thread_ptr(&self) -> *mut Thread {
        self.base.wrapping_add(layout().tls_offset).cast()
    }

    /// The start of the mapping (= `control_stack_start`).
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// An `interrupt_data` mapping cached with this block, if any.
    pub(crate) fn take_spare_interrupt_data(&self) -> *mut u8 {
        private_at(self.base).spare_interrupt_data.swap(0, Ordering::Relaxed) as *mut u8
    }

    /// Takes back the block starting at `base`, of a thread that has fully
    /// finished (joined, or never started).
    ///
    /// # Safety
    /// `base` must start a block made by [`Block::obtain`] that no thread
    /// uses any more.
    pub(crate) unsafe fn of_finished_thread(base: *mut u8) -> Block {
        Block { base }
    }

    /// Returns the block, with the thread's `interrupt_data` mapping (or
    /// NULL), to the cache (a block whose thread gave its memory back to
    /// the cold tier when the warm one is full); unmaps both when the
    /// cache is full. A block
    /// its thread made holes in is never cached: only what is left of it
    /// is unmapped.
    pub(crate) fn release(self, interrupt_data: *mut u8) {
        let p = private_at(self.base);
        p.magic.store(0, Ordering::Relaxed);
        let holes = p.holes.load(Ordering::Relaxed);
        if holes != 0 {
            unmap_around_holes(self.base, holes, interrupt_data);
            return;
        }
        p.spare_interrupt_data.store(interrupt_data as usize, Ordering::Relaxed);
        let Err(base) = crate::thread::block_cache::put(self.base) else { return };
        // Given back: a page or two resident, only its address space to
        // keep, which an address-space limit would count.
        let cold = p.given_back.load(Ordering::Relaxed) != 0 && !address_space_limited();
        if !cold || crate::thread::block_cache::put_cold(base).is_err() {
            unmap(base);
        }
    }
}

/// Changes the cache bound, unmapping what no longer fits; returns the old
/// bound.
pub(crate) fn set_cache_limit(n: usize) -> usize {
    crate::thread::block_cache::set_limit(n, unmap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_spec_and_keeps_room_for_any_host_altstack() {
        let l = layout();
        assert_eq!(l.tls_offset, 4 << 20, "control + binding + alien stacks");
        assert_eq!(l.tls_bytes, 32768);
        assert!(l.altstack_bytes >= 32 * 8192);
        // SAFETY: sysconf has no preconditions.
        let run_time = unsafe { libc::sysconf(SC_SIGSTKSZ) } as usize;
        assert!(l.altstack_bytes >= 32 * run_time);
        assert!(l.private_offset >= l.tls_offset + l.tls_bytes + l.altstack_bytes);
        assert_eq!(l.private_offset % page_size(), 0);
        assert_eq!(l.total % page_size(), 0);
        assert!(l.total >= l.private_offset + size_of::<Private>());
        assert_eq!(tls_words(), 4096);
    }

    #[test]
    fn pieces_tile_the_block_page_aligned_and_keep_what_is_read() {
        let l = layout();
        let page = page_size();
        let base = 64 << 20;
        for kept_low in [0, base + 12345, base + CONTROL_STACK_SIZE - 70_000, base + CONTROL_STACK_SIZE + 99, usize::MAX] {
            let p = pieces(base, kept_low, l);
            assert_eq!(p[0].0, base);
            assert_eq!(p[4].1, base + l.total);
            for w in p.windows(2) {
                assert_eq!(w[0].1, w[1].0, "contiguous");
            }
            for (from, to, _) in p {
                assert!(from <= to && from % page == 0 && to % page == 0);
            }
            // Never a hole: the stack's top page (glibc's descriptor, the
            // private words), the first binding page, the TLS area.
            let kept = |a: usize| p.iter().any(|&(f, t, h)| h == 0 && (f..t).contains(&a));
            assert!(kept(base + CONTROL_STACK_SIZE - 1));
            assert!(kept(base + CONTROL_STACK_SIZE));
            assert!(kept(base + l.tls_offset) && kept(base + l.tls_offset + l.tls_bytes - 1));
            assert!(!kept(base + l.tls_offset - 1) && !kept(base + l.total - 1));
            // The stack's hole ends where the kept part begins (none when
            // that is the block's start).
            assert_eq!(kept(base), kept_low < base + page);
        }
    }
}
