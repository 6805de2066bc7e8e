//! Loom models of the protocols, run by `cargo test`. They drive the
//! library's own protocol code (`queue.rs`, `handshake.rs`, `fanout.rs`,
//! `region.rs`, `resume.rs`, `pending.rs`), instantiated with loom's atomics instead of the real ones,
//! and check every interleaving loom produces (up to its preemption bound)
//! for 2 or 3 threads:
//!
//! - interrupt queue: two senders and a target that handles its signals
//!   and then exits: every accepted function runs exactly once, a refused
//!   one never runs, nothing deadlocks; and the host-mode variant, where
//!   the host's handler pops one function per signal and the exit drops
//!   what is left: each accepted function runs or is dropped, exactly
//!   once, and the handler never finds an empty queue;
//! - stop-the-world handshake with the signal fan-out (`fanout.rs`): a
//!   stopper and two targets whose handlers help send the signals: when
//!   the stop returns every target is suspended and none makes progress
//!   until the start; everyone finishes (no lost wake-up, no signal sent
//!   twice or never, no deadlock); also when the last signal fails
//!   because its target is gone;
//! - blocking regions (`region.rs` with the handshake): a thread that
//!   works, enters a region, leaves it and works again against one or two
//!   stops that count it or signal it: it never works while the world is
//!   stopped, each signal is handled once, a leave that waits is woken; and
//!   three deliberately broken variants (a leave without its fence, a stop
//!   without its fence, a start that does not wake a waiting leaver), each
//!   of which must make the model fail (`should_panic`);
//! - host mode's resume (`resume.rs`): a thread whose 0.9.4.1 handler
//!   waits in the library's resume wait, against two stops and starts and
//!   a stale `SIG_STOP_FOR_GC` sent while it is suspended: one suspension
//!   per stop, RUNNING when its wait returns, a resume signal only when the
//!   thread takes it, the stale one drained, no lost wake-up; and four
//!   broken variants (0.9.4.1's wait that takes any signal, no drain, a
//!   stopper that decides by a load instead of a compare-and-swap, a start
//!   that wakes before it marks RUNNING), each of which must fail; and
//!   its start's one wake: two suspended threads, a stopper that wakes one
//!   of them and hands it the other (`pass_on`), with or without a new stop
//!   beginning at once that takes back the resumes not yet seen (`cancel`)
//!   before another start, on a futex that wakes exactly whom it is asked
//!   to: both waits return, RUNNING, and no taken-back thread leaves before
//!   that start; two broken starts (one wake without the flag, the flag
//!   set after the wake) must fail with a lost wake-up, and a take-back by
//!   a plain store must let a thread leave;
//! - the batched give-back's slots (`thread/pending.rs`): a dying thread
//!   that waits in a slot, a later dying thread that gives back a batch,
//!   and the first one's reaper (after it joined it) that takes it out of
//!   its slot and releases its block: no batch touches a released block,
//!   each thread is given back or forgotten exactly once, every slot ends
//!   free; and a reaper that does not wait for a claimed slot must fail.
//!
//! What is not the library's code is the harness around it: a signal is a
//! counter under a model mutex that the target looks at between its steps
//! (where a handler could run) or sleeps on (a blocked system call); the
//! handler is the same core call the real handler makes; futexes and spin
//! waits are a mutex and condition variable (loom cannot explore unbounded
//! spinning).

use core::sync::atomic::Ordering::{self, SeqCst};

use loom::sync::atomic::{AtomicU32, AtomicU64};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use crate::world::fanout::{Fanout, Links};
use crate::world::handshake::{States, World};
use crate::world::region::{self, Regions};
use crate::world::resume;
use crate::interrupt::queue::{self, Cells, Push, Queue};
use crate::sys::sync::{delegate_word, Park, Word32, Word64};
use crate::thread::pending::Pending;

delegate_word!(Word32 for AtomicU32, u32, [
    fn fetch_add(&self, v: u32, o: Ordering) -> u32 { AtomicU32::fetch_add(self, v, o) }
    fn fetch_sub(&self, v: u32, o: Ordering) -> u32 { AtomicU32::fetch_sub(self, v, o) }
    fn compare_exchange(&self, c: u32, n: u32, s: Ordering, f: Ordering) -> Result<u32, u32> {
        AtomicU32::compare_exchange(self, c, n, s, f)
    }
]);
delegate_word!(Word64 for AtomicU64, u64, [
    fn compare_exchange_weak(&self, c: u64, n: u64, s: Ordering, f: Ordering) -> Result<u64, u64> {
        AtomicU64::compare_exchange_weak(self, c, n, s, f)
    }
]);

/// Futex and spin waits for the model: a waiter checks its word under the
/// mutex and sleeps on the condition variable; every wake-up and every
/// spinlock release notifies it after its store, so nothing is lost. The
/// mutex also keeps who sleeps on which word, so that a model can tell a
/// lost wake-up by an assertion rather than a deadlock: once the model is
/// done with a word ([`ModelPark::rescue`]), a thread still asleep on it,
/// or about to sleep on it, was never going to be woken.
struct ModelPark {
    state: Mutex<ParkState>,
    cond: Condvar,
}

#[derive(Default)]
struct ParkState {
    /// (word address, expected value) of each futex sleeper.
    sleepers: Vec<(usize, u32)>,
    /// The word `rescue` was called for.
    rescued: Option<usize>,
    /// A sleeper on the rescued word was found, or came.
    lost: bool,
    /// Signals sent to the region model's thread (`RegionModel`), and
    /// whether its stopper is done.
    sent: u32,
    done: bool,
}

fn key(w: &AtomicU32) -> usize {
    w as *const AtomicU32 as usize
}

impl ModelPark {
    fn new() -> Self {
        ModelPark { state: Mutex::new(ParkState::default()), cond: Condvar::new() }
    }

    fn notify(&self) {
        let _guard = self.state.lock().unwrap();
        self.cond.notify_all();
    }

    /// The model will wake `w` no more: wakes whoever sleeps on it, and
    /// makes later waits on it return at once. Whether any thread slept on
    /// it then or later is [`ModelPark::lost_wakeup`].
    fn rescue(&self, w: &AtomicU32) {
        let mut st = self.state.lock().unwrap();
        st.rescued = Some(key(w));
        if st.sleepers.iter().any(|&(word, _)| word == key(w)) {
            st.lost = true;
        }
        st.sleepers.retain(|&(word, _)| word != key(w));
        self.cond.notify_all();
    }

    /// Whether a thread slept on a word that nobody was going to wake.
    fn lost_wakeup(&self) -> bool {
        self.state.lock().unwrap().lost
    }
}

impl Park<AtomicU32> for ModelPark {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        let mut st = self.state.lock().unwrap();
        if w.load(SeqCst) != expected {
            return;
        }
        if st.rescued == Some(key(w)) {
            st.lost = true;
            return;
        }
        st.sleepers.push((key(w), expected));
        st = self.cond.wait(st).unwrap();
        if let Some(i) = st.sleepers.iter().position(|&s| s == (key(w), expected)) {
            st.sleepers.swap_remove(i);
        }
    }
    fn wake_all(&self, w: &AtomicU32) {
        let mut st = self.state.lock().unwrap();
        st.sleepers.retain(|&(word, _)| word != key(w));
        self.cond.notify_all();
    }
    fn relax(&self, lock: &impl Word64, _round: u32) {
        let guard = self.state.lock().unwrap();
        if lock.load(SeqCst) != 0 {
            drop(self.cond.wait(guard).unwrap());
        }
    }
    fn released(&self) {
        self.notify();
    }
    fn fence(&self) {
        loom::sync::atomic::fence(SeqCst);
    }
}

/// Signals between model threads: counts under a mutex.
struct Signals {
    sent: Mutex<[u32; 2]>,
    cond: Condvar,
}

impl Signals {
    fn new() -> Self {
        Signals { sent: Mutex::new([0; 2]), cond: Condvar::new() }
    }

    /// `pthread_kill`.
    fn send(&self, to: usize) {
        self.sent.lock().unwrap()[to] += 1;
        self.cond.notify_all();
    }

    /// Signals of `to` beyond `handled`, without waiting.
    fn pending(&self, to: usize, handled: u32) -> bool {
        self.sent.lock().unwrap()[to] > handled
    }

    /// Sleeps until a signal beyond `handled` arrives.
    fn wait(&self, to: usize, handled: u32) {
        let mut sent = self.sent.lock().unwrap();
        while sent[to] <= handled {
            sent = self.cond.wait(sent).unwrap();
        }
    }
}

/// Loom's exploration bound: every interleaving with at most `bound`
/// preemptions (`LOOM_MAX_PREEMPTIONS` overrides it for longer runs). The
/// stop-the-world model uses 2: it has more atomic steps (the fan-out's
/// compare-and-swap pops), and bound 3 takes about a minute on the CI
/// machine (it passes: `LOOM_MAX_PREEMPTIONS=3 cargo test --lib model`).
fn builder(bound: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b
}

const NIL: u64 = crate::legacy::types::SBTHREAD_NIL;
const RUNNING: u64 = crate::legacy::types::SBTHREAD_STATE_RUNNING;
const SUSPENDED: u64 = crate::legacy::types::SBTHREAD_STATE_SUSPENDED;
const DEAD: u64 = crate::legacy::types::SBTHREAD_STATE_DEAD;

/// Two cons cells: cell `i` is the value `(i + 1) << 4 | 7`, car = `i`.
struct ModelCells {
    cdr: [AtomicU64; 2],
}

fn index(cons: u64) -> usize {
    ((cons >> 4) - 1) as usize
}

impl Cells for ModelCells {
    fn cdr(&self, cons: u64) -> u64 {
        self.cdr[index(cons)].load(SeqCst)
    }
    fn set_cdr(&self, cons: u64, v: u64) {
        self.cdr[index(cons)].store(v, SeqCst)
    }
}

struct QueueModel {
    lock: AtomicU64,
    head: AtomicU64,
    state: AtomicU64,
    closed: AtomicU32,
    doorbell: AtomicU32,
    cells: ModelCells,
    park: ModelPark,
    signals: Signals,
    ran: [AtomicU32; 2],
}

impl QueueModel {
    fn queue(&self) -> Queue<'_, AtomicU64, AtomicU32> {
        Queue { lock: &self.lock, head: &self.head, state: &self.state, closed: &self.closed, doorbell: &self.doorbell }
    }

    /// The standalone SIG_INTERRUPT_THREAD handler (`run_pending_interrupts`
    /// with `run_list`).
    fn handler(&self) {
        loop {
            let list = self.queue().take_for_run(1, NIL, &self.park);
            if list == NIL {
                break;
            }
            queue::for_each_oldest_first(list, NIL, &self.cells, |c| {
                self.ran[index(c)].fetch_add(1, SeqCst);
            });
        }
    }
}

impl QueueModel {
    fn new() -> Arc<Self> {
        Arc::new(QueueModel {
            lock: AtomicU64::new(0),
            head: AtomicU64::new(NIL),
            state: AtomicU64::new(RUNNING),
            closed: AtomicU32::new(0),
            doorbell: AtomicU32::new(0),
            cells: ModelCells { cdr: [AtomicU64::new(NIL), AtomicU64::new(NIL)] },
            park: ModelPark::new(),
            signals: Signals::new(),
            ran: [AtomicU32::new(0), AtomicU32::new(0)],
        })
    }

    /// `interrupt_thread` from sender `f`: whether the function was
    /// accepted. `doorbell`: standalone (signal only when the bell was
    /// quiet); host mode signals every push.
    fn send(&self, f: u64, doorbell: bool) -> bool {
        let cons = ((f + 1) << 4) | 7;
        match self.queue().push(cons, 2 + f, &self.cells, &self.park) {
            Push::Queued => {
                if !doorbell || self.queue().ring() {
                    self.signals.send(0);
                }
                true
            }
            Push::Closed => false,
        }
    }

    /// The host's SIG_INTERRUPT_THREAD handler (interrupt.c of 0.9.4.1,
    /// and the test host): pops ONE function under the spinlock; an empty
    /// queue is a fatal error there.
    fn host_handler(&self) {
        let popped = {
            let _held = self.queue().lock(1, &self.park);
            let c = self.head.load(SeqCst);
            assert_ne!(c, NIL, "host handler found an empty queue (the host loses)");
            self.head.store(self.cells.cdr(c), SeqCst);
            c
        };
        self.ran[index(popped)].fetch_add(1, SeqCst);
    }
}

/// Two senders, functions 0 and 1, each calling [`QueueModel::send`].
fn spawn_senders(m: &Arc<QueueModel>, doorbell: bool) -> Vec<thread::JoinHandle<bool>> {
    (0..2u64)
        .map(|f| {
            let m = m.clone();
            thread::spawn(move || m.send(f, doorbell))
        })
        .collect()
}

#[test]
fn interrupt_queue_runs_each_accepted_function_exactly_once() {
    builder(3).check(|| {
        let m = QueueModel::new();
        let senders = spawn_senders(&m, true);
        // The target handles the signals it has received, then exits
        // (standalone become_dead: refuse new functions, run what is
        // left, DEAD once empty).
        let mut handled = 0;
        while m.signals.pending(0, handled) {
            handled += 1;
            m.handler();
        }
        m.queue().refuse_new(1, &m.park);
        loop {
            if m.queue().close_if_empty(1, NIL, DEAD, &m.park) {
                break;
            }
            m.handler();
        }
        let accepted: Vec<bool> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        for (f, accepted) in accepted.into_iter().enumerate() {
            let ran = m.ran[f].load(SeqCst);
            assert_eq!(ran, u32::from(accepted), "function {f}: accepted {accepted}, ran {ran} times");
        }
        assert_eq!(m.head.load(SeqCst), NIL, "a DEAD thread keeps nothing queued");
    });
}

#[test]
fn host_interrupt_queue_runs_or_drops_each_accepted_function_once() {
    builder(3).check(|| {
        let m = QueueModel::new();
        let senders = spawn_senders(&m, false);
        // The target's host handler takes one function per signal while
        // the thread runs; at exit the thread blocks the signal (the rest
        // stay pending and die with it) and closes the queue, dropping
        // what is left (host_protocol.rs, become_dead).
        let mut handled = 0;
        while m.signals.pending(0, handled) {
            handled += 1;
            m.host_handler();
        }
        let mut dropped_each = [0u32; 2];
        let dropped = m.queue().close(1, NIL, DEAD, &m.cells, &m.park, |c| dropped_each[index(c)] += 1);
        assert_eq!(u64::from(dropped_each[0] + dropped_each[1]), dropped);
        let accepted: Vec<bool> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        for (f, accepted) in accepted.into_iter().enumerate() {
            let ran = m.ran[f].load(SeqCst);
            assert_eq!(
                ran + dropped_each[f],
                u32::from(accepted),
                "function {f}: accepted {accepted}, ran {ran} times, dropped {} times",
                dropped_each[f]
            );
        }
        assert_eq!(m.state.load(SeqCst), DEAD);
        assert_eq!(m.head.load(SeqCst), NIL, "a DEAD thread keeps nothing queued");
    });
}

struct WorldModel {
    world: World<AtomicU32>,
    fanout: Fanout<AtomicU64, AtomicU32>,
    /// `stop_next` of nodes 1 and 2 (targets 0 and 1); index 0 unused.
    links: [AtomicU64; 3],
    park: ModelPark,
    signals: Signals,
    state: [AtomicU64; 2],
    progress: [AtomicU32; 2],
    stopped: AtomicU32,
    /// The variant where target 1 died before its signal could be sent.
    target1_gone: bool,
}

impl Links<AtomicU64> for WorldModel {
    fn next(&self, node: u64) -> &AtomicU64 {
        &self.links[node as usize]
    }
}

impl WorldModel {
    /// `signal_stop` for fan-out node `node` (target `node - 1`).
    fn signal(&self, node: u64) {
        let t = node as usize - 1;
        if t == 1 && self.target1_gone {
            self.world.request_failed(&self.park); // ESRCH from a DEAD thread
        } else {
            self.signals.send(t);
        }
    }
}

const STATES: States = States { running: RUNNING, suspended: SUSPENDED };

/// A stopper and two targets (or one, when target 1 is gone): the stopper
/// collects both, sends until a handler helps, sleeps; each handler helps
/// send the rest, then suspends.
fn stop_the_world_model(target1_gone: bool) {
    builder(2).check(move || {
        let m = Arc::new(WorldModel {
            world: World { pending: AtomicU32::new(0), stopped: AtomicU32::new(0), resume_seq: AtomicU32::new(0) },
            fanout: Fanout { head: AtomicU64::new(0), helping: AtomicU32::new(0) },
            links: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            park: ModelPark::new(),
            signals: Signals::new(),
            state: [AtomicU64::new(RUNNING), AtomicU64::new(RUNNING)],
            progress: [AtomicU32::new(0), AtomicU32::new(0)],
            stopped: AtomicU32::new(0),
            target1_gone,
        });
        let live = if target1_gone { 1 } else { 2 };
        let targets: Vec<_> = (0..live)
            .map(|t| {
                let m = m.clone();
                thread::spawn(move || {
                    // Thread 0 works (one step) unless the signal came
                    // first; thread 1 is blocked in a system call. Either
                    // way the handler helps, then suspends.
                    if t == 0 && !m.signals.pending(t, 0) {
                        assert_eq!(m.stopped.load(SeqCst), 0, "thread {t} ran while the world was stopped");
                        m.progress[t].fetch_add(1, SeqCst);
                    }
                    m.signals.wait(t, 0);
                    m.fanout.help(&*m, |node| m.signal(node));
                    m.world.suspend(&m.state[t], STATES, &m.park).expect("RUNNING when asked");
                    assert_eq!(m.state[t].load(SeqCst), RUNNING, "resumed threads are RUNNING");
                    assert_eq!(m.stopped.load(SeqCst), 0, "thread {t} resumed while the world was stopped");
                    m.progress[t].fetch_add(1, SeqCst);
                })
            })
            .collect();
        // The stopper (gc_stop_the_world / gc_start_the_world).
        m.world.begin_stop();
        m.fanout.reset();
        for t in 0..2 {
            if m.state[t].load(SeqCst) == RUNNING {
                m.world.count_request();
                m.fanout.push(&*m, t as u64 + 1);
            }
        }
        let sent = m.fanout.send_until_helped(&*m, |node| m.signal(node));
        assert!(sent >= 1, "the stopper sends the first signal");
        m.world.await_stopped(&m.park);
        for t in 0..live {
            assert_eq!(m.state[t].load(SeqCst), SUSPENDED, "thread {t} not suspended when the stop returned");
        }
        m.stopped.store(1, SeqCst);
        let frozen = [m.progress[0].load(SeqCst), m.progress[1].load(SeqCst)];
        thread::yield_now();
        assert_eq!(frozen, [m.progress[0].load(SeqCst), m.progress[1].load(SeqCst)], "progress while stopped");
        m.stopped.store(0, SeqCst);
        for t in 0..live {
            m.world.resume_one(&m.state[t], STATES);
        }
        m.world.end_start(&m.park, || true);
        targets.into_iter().for_each(|t| t.join().unwrap());
        let expected = if target1_gone { [1, 0] } else { [1, 1] };
        assert_eq!(*m.signals.sent.lock().unwrap(), expected, "each live target signalled exactly once");
        if !target1_gone {
            assert_eq!(m.progress[1].load(SeqCst), 1);
        }
    });
}

#[test]
fn stop_the_world_handshake_stops_everyone_and_resumes_everyone() {
    stop_the_world_model(false);
}

#[test]
fn stop_the_world_completes_when_a_signal_fails() {
    stop_the_world_model(true);
}

impl ModelPark {
    /// `pthread_kill` to the region model's thread.
    fn send(&self) {
        self.state.lock().unwrap().sent += 1;
        self.cond.notify_all();
    }

    /// The stopper is done: the thread may end.
    fn finish(&self) {
        self.state.lock().unwrap().done = true;
        self.cond.notify_all();
    }

    fn sent(&self) -> u32 {
        self.state.lock().unwrap().sent
    }

    /// Whether a signal beyond `handled` has arrived, without waiting.
    fn pending(&self, handled: u32) -> bool {
        self.state.lock().unwrap().sent > handled
    }

    /// Asleep in a system call: true when a signal beyond `handled`
    /// arrives, false once the stopper is done and none did.
    fn sleep(&self, handled: u32) -> bool {
        let mut st = self.state.lock().unwrap();
        loop {
            if st.sent > handled {
                return true;
            }
            if st.done {
                return false;
            }
            st = self.cond.wait(st).unwrap();
        }
    }

    /// A futex wait that a signal interrupts (a wait outside the handler,
    /// with the stop signal open): returns at once, without sleeping, if a
    /// signal beyond `handled` is there.
    fn wait_interruptible(&self, w: &AtomicU32, expected: u32, handled: u32) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.sent > handled {
            return true;
        }
        if w.load(SeqCst) != expected {
            return false;
        }
        if st.rescued == Some(key(w)) {
            st.lost = true;
            return false;
        }
        st.sleepers.push((key(w), expected));
        st = self.cond.wait(st).unwrap();
        if let Some(i) = st.sleepers.iter().position(|&x| x == (key(w), expected)) {
            st.sleepers.swap_remove(i);
        }
        st.sent > handled
    }
}

/// How the model's thread leaves its region and how the stopper counts and
/// starts: the library's code, or one deliberately broken step (each must
/// make the model fail: the `should_panic` tests below).
#[derive(Clone, Copy, PartialEq, Eq)]
enum RegionVariant {
    /// `region.rs` as the library runs it.
    Library,
    /// The leave reads `stopping` without the fence after its store.
    LeaveWithoutFence,
    /// The stopper looks at the thread without the fence after it set
    /// `stopping`.
    StopWithoutFence,
    /// The start does not look at `waiting` (it wakes `resume_seq` only
    /// when it had signalled someone).
    StartIgnoresWaiting,
}

struct RegionModel {
    world: World<AtomicU32>,
    regions: Regions<AtomicU32, AtomicU64>,
    /// The thread's stop-table slot: `region` and `counted`.
    region: AtomicU32,
    counted: AtomicU64,
    /// `state`.
    state: AtomicU64,
    park: ModelPark,
    /// 1 while the stopper holds the world stopped.
    stopped: AtomicU32,
    /// Steps the thread made outside its region (using "the heap").
    steps: AtomicU32,
    /// Signals the thread has handled.
    handled: AtomicU32,
    variant: RegionVariant,
}

impl RegionModel {
    /// The thread's `SIG_STOP_FOR_GC` handler: suspend (the fan-out is left
    /// out: modelled above). A thread a stop counted must never get a
    /// signal of that stop: it would find itself SUSPENDED already.
    fn handler(&self) {
        self.world.suspend(&self.state, STATES, &self.park).expect("a signalled thread is RUNNING, never counted");
    }

    /// Handles the signals that have arrived (a point where a handler can
    /// run).
    fn handle(&self) {
        while self.park.pending(self.handled.load(SeqCst)) {
            self.handled.fetch_add(1, SeqCst);
            self.handler();
        }
    }

    /// A step that uses collected memory: never while the world is stopped.
    fn step_outside(&self) {
        assert_eq!(self.stopped.load(SeqCst), 0, "the thread used the heap while the world was stopped");
        self.steps.fetch_add(1, SeqCst);
    }

    /// `region::leave` (or the broken one), whose wait a signal interrupts.
    fn leave(&self) {
        let r = if self.variant == RegionVariant::LeaveWithoutFence {
            region::leave(&self.region, &self.regions, &self.world.resume_seq, &ThreadPark { m: self, fence: false })
        } else {
            region::leave(&self.region, &self.regions, &self.world.resume_seq, &ThreadPark { m: self, fence: true })
        };
        r.expect("inside a region");
        self.handle();
    }
}

/// The model's futex as the region model's thread sees it outside its
/// handler: a wait that a stop signal interrupts (the handler runs, then
/// the wait returns early, as `futex` does with EINTR); optionally without
/// the fence (the broken leave).
struct ThreadPark<'a> {
    m: &'a RegionModel,
    fence: bool,
}

impl Park<AtomicU32> for ThreadPark<'_> {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        if self.m.park.wait_interruptible(w, expected, self.m.handled.load(SeqCst)) {
            self.m.handle();
        }
    }
    fn wake_all(&self, w: &AtomicU32) {
        self.m.park.wake_all(w);
    }
    fn relax(&self, lock: &impl Word64, round: u32) {
        self.m.park.relax(lock, round);
    }
    fn released(&self) {
        self.m.park.released();
    }
    fn fence(&self) {
        if self.fence {
            self.m.park.fence();
        }
    }
}

/// The model's park without the fence (for the broken leave and stop).
struct NoFencePark<'a>(&'a ModelPark);

impl Park<AtomicU32> for NoFencePark<'_> {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        self.0.wait(w, expected);
    }
    fn wake_all(&self, w: &AtomicU32) {
        self.0.wake_all(w);
    }
    fn relax(&self, lock: &impl Word64, round: u32) {
        self.0.relax(lock, round);
    }
    fn released(&self) {
        self.0.released();
    }
    fn fence(&self) {}
}

/// A thread that works, enters a region (a blocking system call, where a
/// signal may still arrive), leaves it and works again, against a stopper
/// that stops and starts the world `stops` times, counting the thread when
/// it finds it inside its region and signalling it otherwise, as the
/// standalone protocol does. Checked: the thread never uses the heap while
/// the world is stopped (whether counted or signalled, and also when it
/// leaves its region meanwhile: it waits), when a stop returns it is
/// either counted (and RUNNING) or SUSPENDED, a counted thread gets no
/// signal and a signalled one handles each signal once, the start wakes a thread waiting to leave (no lost
/// wake-up), and nothing deadlocks.
///
/// Each stop begins with a yield: loom schedules a spawned thread only
/// once it has run, so without it the model would never see the thread
/// enter its region before the stopper looks.
fn region_model(stops: u32, variant: RegionVariant) {
    builder(3).check(move || {
        let m = Arc::new(RegionModel {
            world: World { pending: AtomicU32::new(0), stopped: AtomicU32::new(0), resume_seq: AtomicU32::new(0) },
            regions: Regions { stopping: AtomicU32::new(0), waiting: AtomicU32::new(0), serial: AtomicU64::new(0) },
            region: AtomicU32::new(region::OUTSIDE),
            counted: AtomicU64::new(0),
            state: AtomicU64::new(RUNNING),
            park: ModelPark::new(),
            stopped: AtomicU32::new(0),
            steps: AtomicU32::new(0),
            handled: AtomicU32::new(0),
            variant,
        });
        let target = {
            let m = m.clone();
            thread::spawn(move || {
                m.handle();
                m.step_outside();
                m.handle();
                region::enter(&m.region).expect("outside before the region");
                m.handle(); // asleep in the system call
                m.leave();
                m.step_outside();
                // Then asleep in another system call until the end.
                while m.park.sleep(m.handled.load(SeqCst)) {
                    m.handle();
                }
            })
        };
        let mut signalled = 0;
        for _ in 0..stops {
            thread::yield_now();
            // gc_stop_the_world.
            m.world.begin_stop();
            let serial = if variant == RegionVariant::StopWithoutFence {
                region::begin_stop(&m.regions, &NoFencePark(&m.park))
            } else {
                region::begin_stop(&m.regions, &m.park)
            };
            let mut sleepers = false;
            let counted = region::count(&m.region, &m.counted, serial);
            if !counted {
                m.world.count_request();
                m.park.send();
                signalled += 1;
                sleepers = true;
            }
            m.world.await_stopped(&m.park);
            if counted {
                assert_eq!(m.state.load(SeqCst), RUNNING, "a counted thread is not suspended");
            } else {
                assert_eq!(m.state.load(SeqCst), SUSPENDED, "the thread is not stopped when the stop returns");
            }
            assert_eq!(region::is_counted(&m.counted, serial), counted);
            m.stopped.store(1, SeqCst);
            let frozen = m.steps.load(SeqCst);
            thread::yield_now();
            assert_eq!(frozen, m.steps.load(SeqCst), "the thread made progress while the world was stopped");
            m.stopped.store(0, SeqCst);
            // gc_start_the_world.
            if !region::is_counted(&m.counted, serial) {
                m.world.resume_one(&m.state, STATES);
            }
            region::end_stop(&m.regions);
            m.world.end_start(&m.park, || {
                sleepers || (variant != RegionVariant::StartIgnoresWaiting && region::someone_waits(&m.regions, &m.park))
            });
        }
        // No more starts: a thread asleep on resume_seq now, or later, would
        // sleep for ever (reported once it could finish anyway).
        m.park.rescue(&m.world.resume_seq);
        m.park.finish();
        target.join().unwrap();
        assert!(!m.park.lost_wakeup(), "lost wake-up: the thread slept in its leave after the start that released it");
        assert_eq!(m.handled.load(SeqCst), signalled, "every signal handled once");
        assert_eq!(m.park.sent(), signalled);
        assert_eq!(m.steps.load(SeqCst), 2);
        assert_eq!(m.region.load(SeqCst), region::OUTSIDE);
        assert_eq!(m.regions.stopping.load(SeqCst), 0);
        assert_eq!(m.regions.waiting.load(SeqCst), 0);
        assert_eq!(m.state.load(SeqCst), RUNNING);
    });
}

#[test]
fn blocking_region_counted_or_signalled_never_runs_while_stopped() {
    region_model(1, RegionVariant::Library);
}

#[test]
fn blocking_region_two_stops_in_a_row() {
    region_model(2, RegionVariant::Library);
}

#[test]
#[should_panic(expected = "while the world was stopped")]
fn blocking_region_model_fails_with_a_leave_without_fence() {
    region_model(1, RegionVariant::LeaveWithoutFence);
}

#[test]
#[should_panic(expected = "while the world was stopped")]
fn blocking_region_model_fails_with_a_stop_without_fence() {
    region_model(1, RegionVariant::StopWithoutFence);
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn blocking_region_model_fails_when_the_start_ignores_a_waiting_leaver() {
    region_model(1, RegionVariant::StartIgnoresWaiting);
}

// ---- Host mode's resume (`world/resume.rs`) ----

/// How the model's stopper resumes and how the thread's handler waits: the
/// library's code, or one deliberately broken step (each must make the
/// model fail: the `should_panic` tests below).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ResumeVariant {
    /// `world/resume.rs` as the library runs it.
    Library,
    /// 0.9.4.1's own wait: the next `SIG_STOP_FOR_GC` is the resume.
    TakeAnySignal,
    /// The resumed thread does not take stale stop signals.
    NoDrain,
    /// The stopper decides between wake and signal by a load and a store
    /// instead of a compare-and-swap.
    DecideByLoad,
    /// The start bumps the generation and wakes before it marks the
    /// thread RUNNING.
    WakeBeforeRunning,
}

struct ResumeModel {
    /// The thread's `resume_wait`, `stop_sent` and `state`.
    word: AtomicU32,
    sent: AtomicU32,
    state: AtomicU64,
    /// The resume generation and the delegate flag.
    shared: resume::Shared<AtomicU32>,
    /// Futex, and the signals sent to the thread (`ModelPark::send`).
    park: ModelPark,
    /// Signals the thread has taken (delivered to its handler, taken in
    /// its wait, or drained), suspensions, stale ones drained.
    handled: AtomicU32,
    suspensions: AtomicU32,
    drained: AtomicU32,
    variant: ResumeVariant,
}

/// The thread's futex: a wait that nobody will end any more is reported
/// (the model would spin for ever otherwise).
struct ResumePark<'a>(&'a ModelPark);

impl Park<AtomicU32> for ResumePark<'_> {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        self.0.wait(w, expected);
        assert!(!self.0.lost_wakeup(), "host resume: lost wake-up: the thread waits for a resume nobody sends");
    }
    fn wake_all(&self, w: &AtomicU32) {
        self.0.wake_all(w);
    }
    fn relax(&self, lock: &impl Word64, round: u32) {
        self.0.relax(lock, round);
    }
    fn released(&self) {
        self.0.released();
    }
    fn fence(&self) {
        self.0.fence();
    }
}

impl ResumeModel {
    /// Takes one signal that has arrived or arrives (a blocked wait).
    fn take_waiting(&self) {
        assert!(self.park.sleep(self.handled.load(SeqCst)), "host resume: the thread waits for a signal nobody sends");
        self.handled.fetch_add(1, SeqCst);
    }

    /// Takes a pending signal without waiting, if there is one.
    fn take_pending(&self) -> bool {
        if !self.park.pending(self.handled.load(SeqCst)) {
            return false;
        }
        self.handled.fetch_add(1, SeqCst);
        true
    }

    /// 0.9.4.1's `SIG_STOP_FOR_GC` handler, its wait being the library's.
    fn handler(&self) {
        assert_eq!(self.sent.load(SeqCst), resume::SENT, "host resume: a suspension no stopper asked for");
        assert_eq!(self.state.load(SeqCst), RUNNING, "host resume: wrong thread state");
        self.suspensions.fetch_add(1, SeqCst);
        self.state.store(SUSPENDED, SeqCst);
        if self.variant == ResumeVariant::TakeAnySignal {
            self.take_waiting();
        } else if resume::wait(&self.word, &self.state, RUNNING, &self.shared, &ResumePark(&self.park))
            == resume::Resumed::Signalled
        {
            self.take_waiting();
            resume::signal_taken(&self.word, thread::yield_now);
        }
        if self.variant != ResumeVariant::NoDrain {
            let n = resume::drain_stale(&self.sent, || self.take_pending());
            self.drained.fetch_add(n, SeqCst);
        }
        assert_eq!(self.state.load(SeqCst), RUNNING, "host resume: wrong thread state on wakeup");
    }

    /// The stopper's start for the one thread.
    fn start(&self) {
        resume::stop_answered(&self.sent);
        let signal = match self.variant {
            ResumeVariant::DecideByLoad => {
                self.state.store(RUNNING, SeqCst);
                let cur = self.word.load(SeqCst);
                let signal = cur & resume::KNOWN == 0 && cur != resume::WAITING;
                if signal {
                    self.word.store(resume::SIGNALLED, SeqCst);
                }
                signal
            }
            ResumeVariant::WakeBeforeRunning => {
                resume::end(&self.shared, &self.park, true);
                resume::resume_one(&self.word, &self.state, RUNNING)
            }
            _ => resume::resume_one(&self.word, &self.state, RUNNING),
        };
        if signal {
            self.park.send();
            resume::signal_sent(&self.word);
        }
        if self.variant != ResumeVariant::WakeBeforeRunning {
            resume::end(&self.shared, &self.park, !signal);
        }
    }
}

/// A thread that runs (taking the signals that arrive, where a handler can
/// run) against a stopper that stops and starts it twice, sending one
/// stale `SIG_STOP_FOR_GC` while it is suspended the first time. The
/// thread's handler is 0.9.4.1's, waiting in the library's resume wait.
/// Checked: each stop suspends the thread exactly once and the thread is
/// RUNNING when its wait returns (the stale signal is never its resume,
/// and starts no suspension of its own), the start sends a resume signal
/// only when the thread takes it in its wait, the stale one is drained,
/// every signal is taken, no wake-up is lost, nothing deadlocks.
fn resume_model(variant: ResumeVariant) {
    builder(3).check(move || {
        let m = Arc::new(ResumeModel {
            word: AtomicU32::new(resume::IDLE),
            sent: AtomicU32::new(resume::NONE),
            state: AtomicU64::new(RUNNING),
            shared: resume::Shared { generation: AtomicU32::new(0), delegate: AtomicU32::new(0) },
            park: ModelPark::new(),
            handled: AtomicU32::new(0),
            suspensions: AtomicU32::new(0),
            drained: AtomicU32::new(0),
            variant,
        });
        let target = {
            let m = m.clone();
            thread::spawn(move || {
                loop {
                    while m.take_pending() {
                        m.handler();
                    }
                    if !m.park.sleep(m.handled.load(SeqCst)) {
                        break;
                    }
                }
            })
        };
        for stop in 0..2 {
            // gc_stop_the_world.
            if resume::claim_stop(&m.sent, thread::yield_now) {
                m.park.send();
            }
            while m.state.load(SeqCst) != SUSPENDED {
                thread::yield_now();
            }
            if stop == 0 {
                m.park.send(); // stale: no stop owes it
            }
            // gc_start_the_world.
            m.start();
        }
        m.park.rescue(&m.shared.generation);
        m.park.finish();
        target.join().unwrap();
        assert!(!m.park.lost_wakeup(), "host resume: lost wake-up");
        assert_eq!(m.suspensions.load(SeqCst), 2, "host resume: one suspension per stop");
        assert_eq!(m.drained.load(SeqCst), 1, "host resume: exactly the stale signal drained");
        assert_eq!(m.handled.load(SeqCst), m.park.sent(), "host resume: every signal taken");
        assert_eq!(m.state.load(SeqCst), RUNNING);
        assert_eq!(m.sent.load(SeqCst), resume::NONE);
    });
}

#[test]
fn host_resume_wakes_without_a_signal_and_ignores_a_stale_one() {
    resume_model(ResumeVariant::Library);
}

#[test]
#[should_panic(expected = "wrong thread state on wakeup")]
fn host_resume_model_fails_when_any_signal_is_the_resume() {
    resume_model(ResumeVariant::TakeAnySignal);
}

#[test]
#[should_panic(expected = "a suspension no stopper asked for")]
fn host_resume_model_fails_without_the_drain() {
    resume_model(ResumeVariant::NoDrain);
}

#[test]
#[should_panic(expected = "exactly the stale signal drained")]
fn host_resume_model_fails_when_the_stopper_decides_by_a_load() {
    resume_model(ResumeVariant::DecideByLoad);
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn host_resume_model_fails_when_the_start_wakes_before_running() {
    resume_model(ResumeVariant::WakeBeforeRunning);
}

// ---- Host mode's resume: the stopper wakes one waiter, a resumed thread the rest ----

/// A futex that wakes exactly whom it is asked to, as Linux's does: its
/// sleepers in the order they came, a wake of one takes the first. A
/// sleeper returns only once woken (no early returns, which would hide a
/// wake nobody sends). It counts the model's threads that are neither
/// asleep nor finished: when that count reaches 0 with a sleeper left,
/// nobody can wake it any more; it is recorded as lost
/// ([`FifoFutex::lost`]) and let go, so that the model ends and says so
/// (a loom deadlock would abort the test instead of failing it).
struct FifoFutex {
    state: Mutex<FifoState>,
    cond: Condvar,
}

struct FifoState {
    /// (ticket, word) of each sleeper, oldest first.
    sleepers: Vec<(u32, usize)>,
    next: u32,
    /// Threads neither asleep nor finished (a woken one counts at once).
    running: u32,
    lost: bool,
}

impl FifoFutex {
    fn new(threads: u32) -> Self {
        let st = FifoState { sleepers: Vec::new(), next: 0, running: threads, lost: false };
        FifoFutex { state: Mutex::new(st), cond: Condvar::new() }
    }

    /// Called with `running` just lowered: lets every sleeper go if nobody
    /// is left to wake them.
    fn check(&self, st: &mut FifoState) {
        if st.running == 0 && !st.sleepers.is_empty() {
            st.lost = true;
            st.running += st.sleepers.len() as u32;
            st.sleepers.clear();
            self.cond.notify_all();
        }
    }

    /// A model thread is done: it wakes nobody any more.
    fn finish(&self) {
        let mut st = self.state.lock().unwrap();
        st.running -= 1;
        self.check(&mut st);
    }

    /// Whether a thread slept with nobody left to wake it.
    fn lost(&self) -> bool {
        self.state.lock().unwrap().lost
    }

    fn wake(&self, w: &AtomicU32, count: usize) {
        let mut st = self.state.lock().unwrap();
        let mut woken = 0;
        while woken < count {
            let Some(i) = st.sleepers.iter().position(|&(_, word)| word == key(w)) else { break };
            st.sleepers.remove(i);
            woken += 1;
        }
        st.running += woken as u32;
        self.cond.notify_all();
    }
}

impl Park<AtomicU32> for FifoFutex {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        let mut st = self.state.lock().unwrap();
        if w.load(SeqCst) != expected {
            return;
        }
        let ticket = st.next;
        st.next += 1;
        st.sleepers.push((ticket, key(w)));
        st.running -= 1;
        self.check(&mut st);
        while st.sleepers.iter().any(|&(t, _)| t == ticket) {
            st = self.cond.wait(st).unwrap();
        }
    }
    fn wake_all(&self, w: &AtomicU32) {
        self.wake(w, usize::MAX);
    }
    fn wake_one(&self, w: &AtomicU32) {
        self.wake(w, 1);
    }
    fn relax(&self, _lock: &impl Word64, _round: u32) {
        thread::yield_now();
    }
    fn released(&self) {}
    fn fence(&self) {
        loom::sync::atomic::fence(SeqCst);
    }
}

/// How the model's start wakes its waiters: the library's [`resume::end`],
/// followed or not by the next stop's [`resume::cancel`], or a broken
/// start or take-back (each must make the model fail).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DelegateVariant {
    /// `world/resume.rs` as the library runs it.
    Library,
    /// The same, and a new stop begins at once (`host/stop.rs`'s
    /// `begin_stop` takes back the resumes not yet seen), then a start
    /// resumes the threads it took back.
    NextStop,
    /// The same, but the new stop takes a resume back by a plain store
    /// of SUSPENDED (no swap with the thread's).
    TakeBackByStore,
    /// The start wakes one waiter without handing it the others.
    NoDelegate,
    /// The start sets the flag after its wake.
    FlagAfterWake,
}

struct DelegateModel {
    shared: resume::Shared<AtomicU32>,
    /// Each waiter's `resume_wait` and `state`.
    words: [AtomicU32; 2],
    states: [AtomicU64; 2],
    /// Each waiter has left its wait.
    left: [AtomicU32; 2],
    futex: FifoFutex,
}

/// Two threads suspended in their handlers' resume waits (both have waited
/// there before: no resume signal) and a stopper that resumes them. Checked:
/// both waits return, RUNNING, whichever of them the stopper's one wake
/// finds asleep (or neither); and when a new stop begins at once and takes
/// back the resumes not yet seen, a taken-back thread has not left and
/// does not leave before the next start, one that left was not taken
/// back, and the next start resumes the others.
fn delegate_model(variant: DelegateVariant) {
    // The take-back doubles the stopper's steps: two preemptions already
    // reach every order of the two swaps (and fail the store variant).
    let bound = if matches!(variant, DelegateVariant::NextStop | DelegateVariant::TakeBackByStore) { 2 } else { 3 };
    builder(bound).check(move || {
        let m = Arc::new(DelegateModel {
            shared: resume::Shared { generation: AtomicU32::new(0), delegate: AtomicU32::new(0) },
            words: [AtomicU32::new(resume::KNOWN), AtomicU32::new(resume::KNOWN)],
            states: [AtomicU64::new(SUSPENDED), AtomicU64::new(SUSPENDED)],
            left: [AtomicU32::new(0), AtomicU32::new(0)],
            futex: FifoFutex::new(3),
        });
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let m = m.clone();
                thread::spawn(move || {
                    let r = resume::wait(&m.words[i], &m.states[i], RUNNING, &m.shared, &m.futex);
                    m.left[i].store(1, SeqCst);
                    assert_eq!(r, resume::Resumed::Woken, "host resume: a known waiter needs no signal");
                    assert_eq!(m.states[i].load(SeqCst), RUNNING, "host resume: wrong thread state on wakeup");
                    m.futex.finish();
                })
            })
            .collect();
        for i in 0..2 {
            assert!(!resume::resume_one(&m.words[i], &m.states[i], RUNNING), "host resume: a signal for a known waiter");
        }
        match variant {
            DelegateVariant::Library | DelegateVariant::NextStop | DelegateVariant::TakeBackByStore => {
                resume::end(&m.shared, &m.futex, true)
            }
            DelegateVariant::NoDelegate => {
                m.shared.generation.fetch_add(1, SeqCst);
                m.futex.wake_one(&m.shared.generation);
            }
            DelegateVariant::FlagAfterWake => {
                m.shared.generation.fetch_add(1, SeqCst);
                m.futex.wake_one(&m.shared.generation);
                m.shared.delegate.store(1, SeqCst);
            }
        }
        if matches!(variant, DelegateVariant::NextStop | DelegateVariant::TakeBackByStore) {
            // The new stop (`host/resume.rs`, `take_back_unseen`).
            let taken: [bool; 2] = core::array::from_fn(|i| {
                if variant == DelegateVariant::NextStop {
                    resume::cancel(&m.words[i], &m.states[i], SUSPENDED)
                } else if m.words[i].load(SeqCst) & 3 == resume::WAITING {
                    m.states[i].store(SUSPENDED, SeqCst);
                    true
                } else {
                    false
                }
            });
            m.shared.delegate.store(0, SeqCst);
            // The world is stopped: a taken-back thread is still in its
            // wait, and stays there.
            let still_waiting = || {
                for (t, left) in taken.iter().zip(&m.left) {
                    assert!(!*t || left.load(SeqCst) == 0, "host resume: a taken-back thread left its wait");
                }
            };
            still_waiting();
            thread::yield_now();
            still_waiting();
            // The next start.
            for ((t, word), state) in taken.iter().zip(&m.words).zip(&m.states) {
                if *t {
                    assert!(!resume::resume_one(word, state, RUNNING), "host resume: a signal for a known waiter");
                }
            }
            resume::end(&m.shared, &m.futex, taken.iter().any(|&t| t));
        }
        m.futex.finish();
        for w in waiters {
            w.join().unwrap();
        }
        assert!(!m.futex.lost(), "host resume: lost wake-up: a waiter sleeps with nobody left to wake it");
    });
}

#[test]
fn host_resume_one_wake_from_the_stopper_resumes_every_waiter() {
    delegate_model(DelegateVariant::Library);
}

#[test]
fn host_resume_a_new_stop_takes_back_the_resumes_not_yet_seen() {
    delegate_model(DelegateVariant::NextStop);
}

#[test]
#[should_panic(expected = "host resume")]
fn host_resume_model_fails_when_a_resume_is_taken_back_by_a_store() {
    delegate_model(DelegateVariant::TakeBackByStore);
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn host_resume_model_fails_when_the_start_wakes_one_without_the_flag() {
    delegate_model(DelegateVariant::NoDelegate);
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn host_resume_model_fails_when_the_flag_follows_the_wake() {
    delegate_model(DelegateVariant::FlagAfterWake);
}

/// The batched give-back's model: thread `A` (struct address 8) died and
/// waits in a slot, and its pthread exits; a later dying thread gives back
/// a batch, taking `A` if it has exited; `A`'s reaper joins `A`, takes it
/// out of its slot and releases its block.
struct PendingModel {
    pending: Pending<AtomicU64, AtomicU32, 2>,
    park: ModelPark,
    /// `A`'s pthread has exited.
    exited: AtomicU32,
    /// `A`'s block was released by its reaper.
    released: AtomicU32,
    /// Times `A`'s memory was given back by a batch.
    given_back: AtomicU32,
}

const A: u64 = 8;

/// The reaper's side as the library has it, or (broken) one that takes
/// `A` out of its slot only if no batch holds it, and releases the block
/// either way.
fn pending_model(broken_reaper: bool) {
    builder(3).check(move || {
        let m = Arc::new(PendingModel {
            pending: Pending::new([AtomicU64::new(0), AtomicU64::new(0)], AtomicU32::new(0), AtomicU32::new(0)),
            park: ModelPark::new(),
            exited: AtomicU32::new(0),
            released: AtomicU32::new(0),
            given_back: AtomicU32::new(0),
        });
        assert!(m.pending.put(A), "pending: no free slot");
        let exit_a = {
            let m = m.clone();
            thread::spawn(move || m.exited.store(1, SeqCst))
        };
        let reaper = {
            let m = m.clone();
            thread::spawn(move || {
                exit_a.join().unwrap(); // pthread_join
                if broken_reaper {
                    let _ = m.pending.slot(0).compare_exchange(A, 0, SeqCst, SeqCst);
                } else {
                    let waited = m.pending.forget(A, &m.park);
                    assert_eq!(waited, m.given_back.load(SeqCst) == 0, "pending: forgotten and given back");
                }
                m.released.store(1, SeqCst);
            })
        };
        // A later dying thread gives back a batch.
        let mut took = false;
        let mask = m.pending.claim(
            |v| {
                assert_eq!(v, A, "pending: a slot held a thread nobody put");
                assert_eq!(m.released.load(SeqCst), 0, "pending: a batch read a released block");
                took = m.exited.load(SeqCst) == 1;
                took
            },
            &m.park,
        );
        if took {
            // The discard, while `A` is claimed.
            assert_eq!(m.released.load(SeqCst), 0, "pending: a batch discarded a released block");
            m.given_back.fetch_add(1, SeqCst);
        }
        m.pending.finish(mask, &m.park);
        reaper.join().unwrap();
        if !broken_reaper {
            assert_eq!(m.pending.waiting(), 0, "pending: a thread still counted as waiting");
            assert_eq!(m.pending.slot(0).load(SeqCst), 0, "pending: a slot still taken");
        }
    });
}

#[test]
fn pending_batch_never_touches_a_released_block() {
    pending_model(false);
}

#[test]
#[should_panic(expected = "released block")]
fn pending_model_fails_when_the_reaper_does_not_wait_for_a_batch() {
    pending_model(true);
}
