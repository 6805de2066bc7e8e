/*
 * A 0.9.4.1 Lisp mutex left held by a thread that was unwound by an
 * interrupt between taking it and setting up its release, given back
 * (host mode; the measure ABANDONED, src/host/abandoned.rs).
 *
 * 0.9.4.1's WITH-MUTEX calls GET-MUTEX before it enters the UNWIND-PROTECT
 * whose cleanup releases the mutex (thread.lisp:22-26), interrupts
 * enabled: a TERMINATE-THREAD in between makes the thread exit holding
 * the mutex, and whoever asks for it sleeps for ever
 * (sbcl/lisp/abandoned-mutex.lisp does it on the real runtime).
 *
 * Here the mutex is a fake 0.9.4.1 `mutex` instance (header, layout, name,
 * value), its holder H a fake `thread` instance whose %sap is a SAP of H's
 * struct thread (as MAKE-THREAD sets it), and GET-MUTEX is modelled in C
 * with the runtime's shared FUTEX_WAIT. H takes the mutex, is sent an
 * interrupt whose function marks it unwound, and returns from its thread
 * function still holding the mutex. Two cases, deterministic:
 *   waiting  B already sleeps on the mutex when H exits;
 *   late     H is DEAD (not reaped: its Lisp instance is still the
 *            mutex's value) when B goes to sleep; then X, sent an
 *            interrupt, exits.
 * B must take the mutex within 5 s, and mutexes_given_back must count
 * exactly one per round. With SBTHREAD_ABANDONED=0 (a child) B must still
 * be asleep on the held word after 2 s: the child exits 3, the failure
 * the measure prevents.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROUNDS = 10 };

static struct host_lisp_obj layout; /* a stand-in layout */
static struct host_lisp_obj mutex;  /* header, layout, name, value */

#define INSTANCE HOST_INSTANCE
#define VALUE (&mutex.w[3])

#define init_mutex() host_mutex_init(&mutex, &layout)
#define futex host_futex

/* A thread of the model: its `thread` instance (header, layout, name,
 * %sap) and the SAP of its struct thread. */
struct actor {
    struct host_lisp_obj self, sap;
    volatile int ready;   /* %sap set (MAKE-THREAD, after create_thread) */
    volatile int holds;   /* it took the mutex */
    volatile int unwound; /* its interrupt function ran */
    volatile int got;     /* it took the mutex and released it (B) */
};

static struct thread *spawn(uintptr_t (*fn)(void *), struct actor *a)
{
    memset(a, 0, sizeof *a);
    struct thread *th = harness_spawn(fn, a);
    a->sap.w[0] = 0x4E;
    a->sap.w[1] = (uint64_t)(uintptr_t)th;
    a->self.w[0] = HOST_INSTANCE_HEADER(3);
    a->self.w[1] = INSTANCE(&layout);
    a->self.w[2] = SBTHREAD_NIL;
    a->self.w[3] = HOST_OTHER(&a->sap);
    __atomic_store_n(&a->ready, 1, __ATOMIC_RELEASE);
    return th;
}

static void wait_ready(struct actor *a)
{
    while (!__atomic_load_n(&a->ready, __ATOMIC_ACQUIRE))
        harness_sleep_us(100);
}

static uintptr_t unwind(void *arg)
{
    ((struct actor *)arg)->unwound = 1;
    return 0;
}

/* H (takes the mutex) or X (does not): waits for its interrupt, which
 * unwinds it before any release is set up, and exits. */
static uintptr_t unwound_thread(struct actor *a, int takes)
{
    wait_ready(a);
    uint64_t old = SBTHREAD_NIL;
    if (takes)
        CHECK(__atomic_compare_exchange_n(VALUE, &old, INSTANCE(&a->self), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    a->holds = 1;
    while (!a->unwound)
        harness_sleep_us(100);
    return 1;
}

static uintptr_t hold(void *arg) { return unwound_thread(arg, 1); }
static uintptr_t idle(void *arg) { return unwound_thread(arg, 0); }

/* B: GET-MUTEX, then RELEASE-MUTEX at once. */
static uintptr_t get_mutex(void *arg)
{
    struct actor *b = arg;
    wait_ready(b);
    for (;;) {
        uint64_t old = SBTHREAD_NIL;
        if (__atomic_compare_exchange_n(VALUE, &old, INSTANCE(&b->self), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
        futex(VALUE, FUTEX_WAIT, (uint32_t)old);
    }
    b->got = 1;
    __atomic_store_n(VALUE, SBTHREAD_NIL, __ATOMIC_SEQ_CST);
    futex(VALUE, FUTEX_WAKE, 1);
    return 0;
}

/* How many tasks are blocked in a futex call on the value word. */
static int sleepers(void)
{
    return harness_futex_sleepers(VALUE, NULL);
}

static struct actor h, b, x;
static struct thread *th_h;

static int h_holds(void) { return h.holds; }
static int x_running(void) { return x.holds; }
static int one_sleeper(void) { return sleepers() == 1; }
static int h_dead(void) { return __atomic_load_n(&th_h->state, __ATOMIC_ACQUIRE) == SBTHREAD_STATE_DEAD; }

/* H unwound by its interrupt: DEAD, holding the mutex (not reaped). */
static void unwind_h(void)
{
    CHECK_EQ(interrupt_thread(th_h, (lispobj)harness_closure(unwind, &h)), 0);
    harness_await(h_dead, "H DEAD");
    CHECK(h.unwound);
}

static int b_took_it(int seconds)
{
    uint64_t deadline = harness_now_ns() + (uint64_t)seconds * 1000000000;
    while (!__atomic_load_n(&b.got, __ATOMIC_ACQUIRE) && harness_now_ns() < deadline)
        harness_sleep_us(500);
    return b.got;
}

/* One round of a case; returns whether B took the mutex within `seconds`
 * (the threads are joined only then). */
static int round_abandoned(int late, int seconds)
{
    init_mutex();
    th_h = spawn(hold, &h);
    harness_await(h_holds, "H holding the mutex");
    if (late)
        unwind_h();
    struct thread *th_b = spawn(get_mutex, &b);
    harness_await(one_sleeper, "B asleep on the mutex");
    if (late) {
        CHECK_EQ(*VALUE, INSTANCE(&h.self));
        struct thread *th_x = spawn(idle, &x);
        harness_await(x_running, "X running");
        CHECK_EQ(interrupt_thread(th_x, (lispobj)harness_closure(unwind, &x)), 0);
        harness_join(th_x);
    } else {
        unwind_h();
    }
    if (!b_took_it(seconds))
        return 0;
    harness_join(th_b);
    harness_join(th_h);
    return 1;
}

static int switched_off_child(void)
{
    if (round_abandoned(0, 2))
        return 0;
    int held = *VALUE == INSTANCE(&h.self);
    fprintf(stderr, "abandoned_mutex: B asleep on the mutex (%d sleeper(s)), held by %s\n", sleepers(),
            held ? "the dead H" : "someone else");
    _exit(held && sleepers() == 1 ? 3 : 1);
}

int test_main(int argc, char **argv)
{
    if (!harness_host_mode()) {
        printf("abandoned_mutex: host mode only (0.9.4.1's Lisp mutexes)\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "switched-off") == 0)
        return switched_off_child();
    struct sbthread_stats s0, s1;
    CHECK_EQ(sbthread_stats(&s0), 0);
    for (int i = 0; i < ROUNDS; i++) {
        for (int late = 0; late <= 1; late++) {
            harness_note("round %d, %s", i, late ? "late" : "waiting");
            if (!round_abandoned(late, 5)) {
                fprintf(stderr, "abandoned_mutex: round %d (%s): B still asleep on the dead H's mutex after 5 s\n", i,
                        late ? "late" : "waiting");
                harness_fail();
            }
        }
    }
    CHECK_EQ(sbthread_stats(&s1), 0);
    CHECK_EQ(s1.mutexes_given_back - s0.mutexes_given_back, 2 * ROUNDS);
    printf("abandoned_mutex: %d mutexes left held by an unwound thread, each given back (mutexes_given_back %lu)\n",
           2 * ROUNDS, (unsigned long)(s1.mutexes_given_back - s0.mutexes_given_back));
    static char out[4096];
    int status = harness_run_self("switched-off", "SBTHREAD_ABANDONED=0", out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    printf("abandoned_mutex: with SBTHREAD_ABANDONED=0 the mutex stays held by the dead thread:\n  %s", out);
    return 0;
}
