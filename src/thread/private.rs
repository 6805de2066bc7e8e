//! The library's own per-thread words (`Private`), kept in each thread's
//! block (where: `block.rs`), and their reset for a new thread.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::thread::table::Slot;

/// Marks a private area the library initialised.
pub(crate) const PRIVATE_MAGIC: u64 = 0x5342_5448_5245_4144; // "SBTHREAD"

/// The library's own per-thread words, at the top of the control stack
/// (the initial thread's: in the block's last page; see `block::TOP_RESERVE`).
/// Nothing in the ABI points here; the library finds it from
/// `control_stack_start`.
#[repr(C)]
pub(crate) struct Private {
    /// [`PRIVATE_MAGIC`] while the block belongs to a thread.
    pub(crate) magic: AtomicU64,
    /// Sequence number of the thread (for traces).
    pub(crate) serial: AtomicU64,
    /// Event (`futex::event`): `link_thread` published `os_thread`.
    pub(crate) linked: AtomicU32,
    /// Event: the thread left STARTING.
    pub(crate) started: AtomicU32,
    /// Event: the thread is DEAD.
    pub(crate) dead: AtomicU32,
    /// 1 once a `reap_dead_thread` claimed the thread.
    pub(crate) reaping: AtomicU32,
    /// 1 once the thread's function has returned: `interrupt_thread`
    /// refuses new functions (`queue.rs`).
    pub(crate) queue_closed: AtomicU32,
    /// Standalone: 1 while a `SIG_INTERRUPT_THREAD` is on its way or the
    /// queue is known to be non-empty (senders skip the signal then).
    /// Host mode: 1 once an interrupt was sent (`host/rewake.rs`).
    pub(crate) doorbell: AtomicU32,
    /// Standalone: depth of pseudo-atomic sections.
    pub(crate) pa_depth: AtomicU32,
    /// Standalone: depth of WITHOUT-GCING sections.
    pub(crate) wogc_depth: AtomicU32,
    /// Standalone: depth of WITHOUT-INTERRUPTS sections.
    pub(crate) woi_depth: AtomicU32,
    /// Interrupt functions run in this thread.
    pub(crate) interrupts_run: AtomicU64,
    /// Cached `interrupt_data` mapping kept with the block, or 0.
    pub(crate) spare_interrupt_data: AtomicUsize,
    /// Standalone: 1 while the guard page is protected. Survives reuse
    /// from the cache (the protection does), so a reused block is not
    /// protected again.
    pub(crate) guard_protected: AtomicU32,
    /// Standalone, during a stop: the next thread on the stack of threads
    /// still to signal (`fanout.rs`), 0 at the bottom.
    pub(crate) stop_next: AtomicU64,
    /// Standalone: the bounds of the stack the thread runs on when it is
    /// not the block's control stack (a thread registered with
    /// `sbthread_attach` keeps its own); 0 otherwise. For `roots.rs`.
    pub(crate) own_stack_low: AtomicUsize,
    /// See `own_stack_low` (exclusive end).
    pub(crate) own_stack_high: AtomicUsize,
    /// The thread's kernel id, set when it starts running (0 before):
    /// a host-mode stopper looks it up in `/proc` (`host_stuck.rs`).
    pub(crate) tid: AtomicU32,
    /// Host mode (`world/resume.rs`): SENT from the stop signal a
    /// stopper claimed for the thread until the thread is resumed, so that
    /// no stop sends it a second one (the signal is real-time and queues:
    /// the extra one would be stale); DRAINING while the resumed thread
    /// takes stale ones; NONE otherwise.
    pub(crate) stop_sent: AtomicU32,
    /// Host mode: the thread's side of its resume (`world/resume.rs`):
    /// IDLE, WAITING or SIGNALLED, and whether its handler's resume wait
    /// is ours (KNOWN).
    pub(crate) resume_wait: AtomicU32,
    /// Host mode, during a stop: 1 + the context slot the stopper uses for
    /// this thread, counted as stopped while it sleeps on a Lisp mutex the
    /// stopper holds (`host_adopt.rs`); 0 otherwise.
    pub(crate) adopted: AtomicU32,
    /// Host mode, while the world is stopped: the address of the stack
    /// pointer slot in the thread's innermost context, which the stopper
    /// lowered by one word for the collector (`host/stack_top.rs`); 0
    /// otherwise.
    pub(crate) lowered_sp_slot: AtomicUsize,
    /// The value that slot had before (meaningful while `lowered_sp_slot`
    /// is not 0).
    pub(crate) lowered_sp: AtomicU64,
    /// The thread's slot in the stop table (`table.rs`), which holds its
    /// blocking-region words; set while it is linked.
    pub(crate) slot: AtomicPtr<Slot>,
    /// Depth of blocking regions (both modes; only the outermost changes
    /// the region word of its slot). Written by the thread only.
    pub(crate) region_depth: AtomicU32,
    /// The registers the thread saved when it entered its outermost region
    /// ([`REGION_REGS`] says which is which), for a collector while a stop
    /// counts it as stopped. Written by the thread before its region word
    /// becomes INSIDE, read by a stopper only while that stop counts it.
    pub(crate) region_regs: [AtomicUsize; REGION_REGS.len()],
    /// The `block::HOLE_STACK`, `HOLE_STACKS` and `HOLE_TOP` pieces the
    /// thread unmapped once it was DEAD (`dormant.rs`); 0 for a whole
    /// block. Written by the thread before its pthread exits, read by the
    /// reaper after the join.
    pub(crate) holes: AtomicU32,
    /// With `block::HOLE_STACK`: where the part of the control stack the thread
    /// kept begins (the hole is `[block start, kept_low)`).
    pub(crate) kept_low: AtomicUsize,
    /// With `block::HOLE_STACK`: the end of the margin of stack the thread kept
    /// below its last frame for its exit, unmapped by a later dying thread
    /// once this one has exited (`holes.rs`); 0 otherwise.
    pub(crate) trim_to: AtomicUsize,
    /// Once DEAD, when the thread left its give-back to a later batch
    /// (`dormant.rs`): its frame then; below it, the control stack is
    /// garbage once the pthread has exited.
    pub(crate) exit_frame: AtomicUsize,
    /// 1 once the thread's memory was given back while it waited to be
    /// reaped (`dormant.rs`, a batch): its block may then go to the block
    /// cache's cold tier. Written before the pthread exits or, by another
    /// dying thread, before the batch lets go of it; read by the reaper
    /// after the join and `dormant::forget`.
    pub(crate) given_back: AtomicU32,
}

/// The general register (a `ucontext_t` `gregs` index) each word of
/// `Private::region_regs` holds, in the order the region's entry saves
/// them (`standalone/blocking.rs`): the callee-saved registers, the stack
/// pointer the caller has once the entry returns, and the return address.
pub(crate) const REGION_REGS: [libc::c_int; 8] =
    [libc::REG_RBX, libc::REG_RBP, libc::REG_R12, libc::REG_R13, libc::REG_R14, libc::REG_R15, libc::REG_RSP, libc::REG_RIP];

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Resets the private words of a block about to hold a new thread; keeps a
/// cached `interrupt_data` mapping.
pub(crate) fn init_private(p: &Private) {
    p.serial.store(SERIAL.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
    for w in [
        &p.linked,
        &p.started,
        &p.dead,
        &p.reaping,
        &p.queue_closed,
        &p.doorbell,
        &p.pa_depth,
        &p.wogc_depth,
        &p.woi_depth,
        &p.tid,
        &p.stop_sent,
        &p.resume_wait,
        &p.adopted,
        &p.region_depth,
        &p.holes,
        &p.given_back,
    ] {
        w.store(0, Ordering::Relaxed);
    }
    p.interrupts_run.store(0, Ordering::Relaxed);
    p.own_stack_low.store(0, Ordering::Relaxed);
    p.own_stack_high.store(0, Ordering::Relaxed);
    p.lowered_sp_slot.store(0, Ordering::Relaxed);
    p.lowered_sp.store(0, Ordering::Relaxed);
    p.kept_low.store(0, Ordering::Relaxed);
    p.trim_to.store(0, Ordering::Relaxed);
    p.exit_frame.store(0, Ordering::Relaxed);
    p.slot.store(core::ptr::null_mut(), Ordering::Relaxed);
    p.magic.store(PRIVATE_MAGIC, Ordering::Release);
}
