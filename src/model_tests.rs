//! Loom models of the two protocols, run by `cargo test`. They drive the
//! library's own protocol code (`queue.rs`, `handshake.rs`), instantiated
//! with loom's atomics instead of the real ones, and check every
//! interleaving loom can produce for 3 threads:
//!
//! - interrupt queue: two senders and a target that handles its signals
//!   and then exits: every accepted function runs exactly once, a refused
//!   one never runs, nothing deadlocks;
//! - stop-the-world handshake: a stopper and two targets: when the stop
//!   returns every target is suspended and makes no progress until the
//!   start; everyone finishes (no lost wake-up, no deadlock).
//!
//! A signal is modelled as a counter the sender bumps and the target polls
//! between its steps; the handler is the same core call the real handler
//! makes.

use core::sync::atomic::Ordering::{self, SeqCst};

use loom::sync::atomic::{AtomicU32, AtomicU64};
use loom::sync::Arc;
use loom::thread;

use crate::handshake::{States, World};
use crate::queue::{self, Cells, Push, Queue};
use crate::sync::{delegate_word, Park, Word32, Word64};

delegate_word!(Word32 for AtomicU32, u32, [
    fn fetch_add(&self, v: u32, o: Ordering) -> u32 { AtomicU32::fetch_add(self, v, o) }
    fn fetch_sub(&self, v: u32, o: Ordering) -> u32 { AtomicU32::fetch_sub(self, v, o) }
]);
delegate_word!(Word64 for AtomicU64, u64, [
    fn compare_exchange_weak(&self, c: u64, n: u64, s: Ordering, f: Ordering) -> Result<u64, u64> {
        AtomicU64::compare_exchange_weak(self, c, n, s, f)
    }
]);

/// Loom has no futex: one is emulated with a mutex and a condition
/// variable (a waiter checks the word under the mutex, a waker takes the
/// mutex after its store, so no wake-up is lost). Spins yield.
struct ModelPark {
    lock: loom::sync::Mutex<()>,
    cond: loom::sync::Condvar,
}

impl ModelPark {
    fn new() -> Self {
        ModelPark { lock: loom::sync::Mutex::new(()), cond: loom::sync::Condvar::new() }
    }
}

impl Park<AtomicU32> for ModelPark {
    fn wait(&self, w: &AtomicU32, expected: u32) {
        let guard = self.lock.lock().unwrap();
        if w.load(SeqCst) == expected {
            drop(self.cond.wait(guard).unwrap());
        }
    }
    fn wake_all(&self, _w: &AtomicU32) {
        let _guard = self.lock.lock().unwrap();
        self.cond.notify_all();
    }
    fn relax(&self, _round: u32) {
        thread::yield_now();
    }
}

const NIL: u64 = crate::abi_types::SBTHREAD_NIL;
const RUNNING: u64 = 0x8;
const SUSPENDED: u64 = 0x10;
const DEAD: u64 = 0x18;

/// Cons cells: cell `i` is the value `(i + 1) << 4 | 7`; car = function id.
struct ModelCells {
    car: [AtomicU64; 2],
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
    doorbell: AtomicU32,
    cells: ModelCells,
    park: ModelPark,
    signals_sent: AtomicU32,
    ran: [AtomicU32; 2],
}

impl QueueModel {
    fn queue(&self) -> Queue<'_, AtomicU64, AtomicU32> {
        Queue { lock: &self.lock, head: &self.head, state: &self.state, doorbell: &self.doorbell }
    }

    /// What the target does with a detached list (`run_list`).
    fn run(&self, list: u64) {
        queue::for_each_oldest_first(list, NIL, &self.cells, |c| {
            let f = self.cells.car[index(c)].load(SeqCst) as usize;
            self.ran[f].fetch_add(1, SeqCst);
        });
    }

    /// The standalone SIG_INTERRUPT_THREAD handler (`run_pending_interrupts`).
    fn handler(&self) {
        loop {
            let list = self.queue().take_for_run(1, NIL, &self.park);
            if list == NIL {
                break;
            }
            self.run(list);
        }
    }
}

/// Loom's exploration bound: every interleaving with at most this many
/// preemptions (`LOOM_MAX_PREEMPTIONS` overrides it for longer runs).
fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.max_branches = 20_000;
    b
}

#[test]
fn interrupt_queue_runs_each_accepted_function_exactly_once() {
    builder().check(|| {
        let m = Arc::new(QueueModel {
            lock: AtomicU64::new(0),
            head: AtomicU64::new(NIL),
            state: AtomicU64::new(RUNNING),
            doorbell: AtomicU32::new(0),
            cells: ModelCells {
                car: [AtomicU64::new(0), AtomicU64::new(1)],
                cdr: [AtomicU64::new(NIL), AtomicU64::new(NIL)],
            },
            park: ModelPark::new(),
            signals_sent: AtomicU32::new(0),
            ran: [AtomicU32::new(0), AtomicU32::new(0)],
        });
        let senders: Vec<_> = (0..2u64)
            .map(|f| {
                let m = m.clone();
                thread::spawn(move || {
                    let cons = ((f + 1) << 4) | 7;
                    match m.queue().push(cons, 2 + f, DEAD, &m.cells, &m.park) {
                        Push::Queued => {
                            if m.queue().ring() {
                                m.signals_sent.fetch_add(1, SeqCst);
                            }
                            true
                        }
                        Push::Dead => false,
                    }
                })
            })
            .collect();
        // The target: handles the signals it has received, then exits
        // (new_thread_trampoline's exit loop), handling what is left.
        let target = {
            let m = m.clone();
            thread::spawn(move || {
                let mut handled = 0;
                loop {
                    while handled < m.signals_sent.load(SeqCst) {
                        handled += 1;
                        m.handler();
                    }
                    if m.queue().close_if_empty(1, NIL, DEAD, &m.park) {
                        break;
                    }
                    m.handler(); // drain_before_exit
                }
            })
        };
        let accepted: Vec<bool> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        target.join().unwrap();
        for (f, accepted) in accepted.into_iter().enumerate() {
            let ran = m.ran[f].load(SeqCst);
            assert_eq!(ran, u32::from(accepted), "function {f}: accepted {accepted}, ran {ran} times");
        }
        assert_eq!(m.head.load(SeqCst), NIL, "a DEAD thread keeps nothing queued");
    });
}

struct WorldModel {
    world: World<AtomicU32>,
    park: ModelPark,
    state: [AtomicU64; 2],
    stop_signal: [AtomicU32; 2],
    progress: [AtomicU32; 2],
    stopped: AtomicU32,
}

const STATES: States = States { running: RUNNING, suspended: SUSPENDED };

#[test]
fn stop_the_world_handshake_stops_everyone_and_resumes_everyone() {
    builder().check(|| {
        let m = Arc::new(WorldModel {
            world: World { pending: AtomicU32::new(0), resume_seq: AtomicU32::new(0) },
            park: ModelPark::new(),
            state: [AtomicU64::new(RUNNING), AtomicU64::new(RUNNING)],
            stop_signal: [AtomicU32::new(0), AtomicU32::new(0)],
            progress: [AtomicU32::new(0), AtomicU32::new(0)],
            stopped: AtomicU32::new(0),
        });
        let targets: Vec<_> = (0..2)
            .map(|t| {
                let m = m.clone();
                thread::spawn(move || {
                    // Works (at most two steps, to keep the model finite)
                    // until it has been stopped once; the signal is noticed
                    // between steps, as a handler would run, or while it
                    // sleeps (a blocked system call).
                    let mut steps = 0;
                    loop {
                        if m.stop_signal[t].swap(0, SeqCst) == 1 {
                            m.world.suspend(&m.state[t], STATES, &m.park).expect("RUNNING when asked");
                            break;
                        }
                        if steps < 2 {
                            assert_eq!(m.stopped.load(SeqCst), 0, "thread {t} ran while the world was stopped");
                            m.progress[t].fetch_add(1, SeqCst);
                            steps += 1;
                        } else {
                            m.park.wait(&m.stop_signal[t], 0);
                        }
                    }
                    assert_eq!(m.state[t].load(SeqCst), RUNNING, "resumed threads are RUNNING");
                })
            })
            .collect();
        // The stopper (gc_stop_the_world / gc_start_the_world).
        m.world.begin_stop();
        for t in 0..2 {
            if m.state[t].load(SeqCst) == RUNNING {
                m.world.count_request();
                m.stop_signal[t].store(1, SeqCst); // pthread_kill
                m.park.wake_all(&m.stop_signal[t]);
            }
        }
        m.world.await_stopped(&m.park);
        for t in 0..2 {
            assert_eq!(m.state[t].load(SeqCst), SUSPENDED, "thread {t} not suspended when the stop returned");
        }
        m.stopped.store(1, SeqCst);
        let frozen = [m.progress[0].load(SeqCst), m.progress[1].load(SeqCst)];
        thread::yield_now();
        assert_eq!(frozen, [m.progress[0].load(SeqCst), m.progress[1].load(SeqCst)], "progress while stopped");
        m.stopped.store(0, SeqCst);
        for t in 0..2 {
            m.world.resume_one(&m.state[t], STATES);
        }
        m.world.end_start(&m.park);
        targets.into_iter().for_each(|t| t.join().unwrap());
    });
}

#[test]
fn model_park_wakes() {
    builder().check(|| {
        let park = Arc::new(ModelPark::new());
        let w = Arc::new(AtomicU32::new(0));
        let t = {
            let (park, w) = (park.clone(), w.clone());
            thread::spawn(move || {
                while w.load(SeqCst) == 0 {
                    park.wait(&w, 0);
                }
            })
        };
        w.store(1, SeqCst);
        park.wake_all(&w);
        t.join().unwrap();
    });
}
