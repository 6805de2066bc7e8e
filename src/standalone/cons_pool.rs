//! Standalone `alloc_cons`: conses for the `interrupt_fun` queues, from a
//! reserved arena of 16-byte cells with a lock-free free list.
//!
//! Standalone mode has no collector, so the library frees the conses it
//! pops. Popping happens in the `SIG_INTERRUPT_THREAD` handler, so freeing
//! must be async-signal-safe: the free list is a Treiber stack of cell
//! indices whose head carries a generation tag (no ABA), and the arena is
//! never unmapped, so a stale read of a link is harmless.

use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};

use crate::legacy::types::lispobj;
use crate::legacy::lisp::LIST_POINTER_LOWTAG;
use crate::diag::lose::lose;

/// Cells in the arena (64 MiB of address space, touched only as used).
const CELLS: u32 = 1 << 22;
const CELL_BYTES: usize = 16;

static ARENA: spin::Once<usize> = spin::Once::new();
/// Cells handed out from the fresh part of the arena.
static FRESH: AtomicU32 = AtomicU32::new(0);
/// Free list head: generation in the high half, index + 1 in the low half
/// (0 = empty).
static FREE: AtomicU64 = AtomicU64::new(0);
/// Conses currently allocated (for leak checks).
static LIVE: AtomicI64 = AtomicI64::new(0);

fn arena() -> usize {
    *ARENA.call_once(|| {
        const LEN: usize = CELLS as usize * CELL_BYTES;
        let Some(len) = core::num::NonZeroUsize::new(LEN) else { unreachable!("non-zero constant") };
        // SAFETY: an anonymous private mapping at an address the kernel
        // chooses cannot disturb existing memory.
        let mapped = unsafe {
            mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE)
        };
        match mapped {
            Ok(p) => p.as_ptr() as usize,
            Err(e) => lose!("alloc_cons: cannot reserve {} bytes for the cons arena: {}", LEN, e.desc()),
        }
    })
}

/// The (always mapped) cell with index `i`, as two atomic words.
fn cell(base: usize, i: u32) -> &'static [AtomicU64; 2] {
    let p = (base + i as usize * CELL_BYTES) as *const [AtomicU64; 2];
    // SAFETY: `i < CELLS`, so the cell lies in the arena, which is never
    // unmapped; cells are 16-aligned and accessed only atomically here.
    unsafe { &*p }
}

/// A new cons `(car . cdr)`, tagged as a list pointer. Loses when the
/// arena is exhausted (4 million live conses).
pub(crate) fn alloc(car: lispobj, cdr: lispobj) -> lispobj {
    let base = arena();
    let index = loop {
        let head = FREE.load(Ordering::Acquire);
        let top = (head & 0xFFFF_FFFF) as u32;
        if top == 0 {
            let i = FRESH.fetch_add(1, Ordering::Relaxed);
            if i >= CELLS {
                FRESH.fetch_sub(1, Ordering::Relaxed);
                lose!("alloc_cons: all {} cells of the standalone cons arena are in use", CELLS);
            }
            break i;
        }
        let next = cell(base, top - 1)[0].load(Ordering::Relaxed);
        let new = ((head >> 32).wrapping_add(1) << 32) | (next & 0xFFFF_FFFF);
        if FREE.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            break top - 1;
        }
    };
    let c = cell(base, index);
    c[0].store(car, Ordering::Relaxed);
    c[1].store(cdr, Ordering::Relaxed);
    LIVE.fetch_add(1, Ordering::Relaxed);
    (base + index as usize * CELL_BYTES) as lispobj | LIST_POINTER_LOWTAG
}

/// Returns a cons made by [`alloc`] to the pool. Async-signal-safe.
/// Loses if `cons` did not come from the pool.
pub(crate) fn free(cons: lispobj) {
    let base = match ARENA.get() {
        Some(b) => *b,
        None => lose!("free_cons: {:#x} is not a standalone cons (no arena yet)", cons),
    };
    let addr = (cons & !0xF) as usize;
    let end = base + CELLS as usize * CELL_BYTES;
    if cons & 0xF != LIST_POINTER_LOWTAG || addr < base || addr >= end {
        lose!("free_cons: {:#x} is not a cons from the standalone pool", cons);
    }
    let index = ((addr - base) / CELL_BYTES) as u32;
    let c = cell(base, index);
    loop {
        let head = FREE.load(Ordering::Acquire);
        c[0].store(head & 0xFFFF_FFFF, Ordering::Relaxed);
        let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(index + 1);
        if FREE.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            break;
        }
    }
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// Whether `x` is a cons of this pool (so the library may free it).
pub(crate) fn owns(x: lispobj) -> bool {
    ARENA.get().is_some_and(|&base| {
        let addr = (x & !0xF) as usize;
        x & 0xF == LIST_POINTER_LOWTAG && addr >= base && addr < base + CELLS as usize * CELL_BYTES
    })
}

/// Conses currently allocated.
pub(crate) fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is process-wide; these tests must not run at the same time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn conses_are_tagged_reused_and_counted() {
        let _serial = SERIAL.lock().unwrap();
        let live = super::live();
        let a = alloc(1, 2);
        assert_eq!(super::live(), live + 1);
        assert_eq!(a & 0xF, LIST_POINTER_LOWTAG);
        assert!(owns(a));
        assert!(!owns(a + 8));
        let cell = crate::legacy::lisp::cons_cell(a);
        // SAFETY: `a` is a live cons of the pool.
        unsafe {
            assert_eq!((*cell).car, 1);
            assert_eq!((*cell).cdr, 2);
        }
        free(a);
        assert_eq!(super::live(), live);
        let b = alloc(3, 4);
        assert_eq!(a, b, "a freed cell is handed out again first");
        free(b);
    }

    #[test]
    fn concurrent_alloc_and_free_never_hand_out_a_cell_twice() {
        let _serial = SERIAL.lock().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for round in 0..2000u64 {
                        let cs: Vec<_> = (0..8).map(|i| alloc(t, round * 8 + i)).collect();
                        for (i, c) in cs.iter().enumerate() {
                            // SAFETY: `c` is a live cons owned by this thread.
                            let cell = unsafe { &*crate::legacy::lisp::cons_cell(*c) };
                            assert_eq!((cell.car, cell.cdr), (t, round * 8 + i as u64), "cell shared");
                        }
                        cs.into_iter().for_each(free);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
    }
}
