/*
 * A lost wake-up of a 0.9.4.1 Lisp mutex, given again when the thread that
 * lost it exits (host mode; the measure REWAKE, src/host/rewake.rs).
 *
 * 0.9.4.1's RELEASE-MUTEX stores NIL into the mutex's value word, then
 * wakes one waiter (FUTEX_WAKE 1); GET-MUTEX tries its compare-and-swap
 * again only when its FUTEX_WAIT returns (target-thread.lisp:184-221).
 * When the waiter the release woke is unwound by an interrupt before its
 * compare-and-swap, the other waiters sleep on a free mutex for ever
 * (sbcl/lisp/lost-wake.lisp does it on the real runtime).
 *
 * Here the mutex is a fake 0.9.4.1 `mutex` instance (header, layout, name,
 * value) and GET-MUTEX is modelled in C, with the runtime's shared
 * FUTEX_WAIT. Deterministic: waiter A sleeps with SIG_INTERRUPT_THREAD
 * blocked, is sent an interrupt (pending), then waiter B sleeps behind it;
 * the main thread releases (NIL, then FUTEX_WAKE 1: A, the first waiter);
 * A unblocks the signal as its wait returns, the host's handler runs the
 * interrupt function, which marks A unwound, and A returns from its
 * thread function without taking the mutex. B must take the mutex within
 * 5 s, and mutex_rewakes must count the wake-up. With SBTHREAD_REWAKE=0
 * (a child) B must still be asleep on the free word after 2 s: the child
 * exits 3, the failure the measure prevents.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROUNDS = 20 };

static struct host_lisp_obj layout;   /* a stand-in layout */
static struct host_lisp_obj holder;   /* a stand-in thread instance, the main thread's */
static struct host_lisp_obj mutex;    /* header, layout, name, value */

#define INSTANCE HOST_INSTANCE
#define VALUE (&mutex.w[3])

#define init_mutex() host_mutex_init(&mutex, &layout)
#define futex host_futex

struct waiter {
    struct host_lisp_obj self;  /* its own stand-in thread instance */
    int block_interrupts;  /* sleep with SIG_INTERRUPT_THREAD blocked */
    volatile int unwound;  /* set by its interrupt function */
    volatile int got;      /* it took the mutex */
};

static uintptr_t unwind(void *arg)
{
    ((struct waiter *)arg)->unwound = 1;
    return 0;
}

/* GET-MUTEX, then RELEASE-MUTEX at once; returns early, without the
 * mutex, when its interrupt function has run (the unwinding). */
static uintptr_t get_mutex(void *arg)
{
    struct waiter *w = arg;
    sigset_t sig;
    sigemptyset(&sig);
    sigaddset(&sig, SIGRTMIN);
    for (;;) {
        uint64_t old = SBTHREAD_NIL;
        if (__atomic_compare_exchange_n(VALUE, &old, INSTANCE(&w->self), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
        if (w->block_interrupts)
            pthread_sigmask(SIG_BLOCK, &sig, NULL);
        futex(VALUE, FUTEX_WAIT, (uint32_t)old);
        if (w->block_interrupts)
            pthread_sigmask(SIG_UNBLOCK, &sig, NULL); /* the pending interrupt runs here */
        if (w->unwound)
            return 1;
    }
    w->got = 1;
    __atomic_store_n(VALUE, SBTHREAD_NIL, __ATOMIC_SEQ_CST);
    futex(VALUE, FUTEX_WAKE, 1);
    return 0;
}

/* The tasks blocked in a futex call on the value word; the last one's id
 * in *tid. */
static int sleepers(pid_t *tid)
{
    return harness_futex_sleepers(VALUE, tid);
}

static int signal_pending(pid_t tid, int sig)
{
    char path[64], line[256];
    int pending = 0;
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "SigPnd:", 7) == 0)
            pending = (strtoull(line + 7, NULL, 16) >> (sig - 1)) & 1;
    fclose(f);
    return pending;
}

static pid_t a_tid;
static struct waiter a, b;
static int one_sleeper(void) { return sleepers(&a_tid) == 1; }
static int two_sleepers(void) { return sleepers(NULL) == 2; }
static int a_signal_pending(void) { return signal_pending(a_tid, SIGRTMIN); }

/* One round; returns whether B took the mutex within `seconds`. */
static int round_lost(int seconds)
{
    init_mutex();
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.block_interrupts = 1;
    __atomic_store_n(VALUE, INSTANCE(&holder), __ATOMIC_SEQ_CST);
    struct thread *ta = harness_spawn(get_mutex, &a);
    harness_await(one_sleeper, "A asleep on the mutex");
    CHECK_EQ(interrupt_thread(ta, (lispobj)harness_closure(unwind, &a)), 0);
    harness_await(a_signal_pending, "A's interrupt pending");
    struct thread *tb = harness_spawn(get_mutex, &b);
    harness_await(two_sleepers, "B asleep behind A");
    /* RELEASE-MUTEX: NIL, then one wake-up (A's). */
    __atomic_store_n(VALUE, SBTHREAD_NIL, __ATOMIC_SEQ_CST);
    futex(VALUE, FUTEX_WAKE, 1);
    harness_join(ta);
    CHECK(a.unwound && !a.got);
    uint64_t deadline = harness_now_ns() + (uint64_t)seconds * 1000000000;
    while (!__atomic_load_n(&b.got, __ATOMIC_ACQUIRE) && harness_now_ns() < deadline)
        harness_sleep_us(500);
    if (!b.got)
        return 0;
    harness_join(tb);
    return 1;
}

static int switched_off_child(void)
{
    if (round_lost(2))
        return 0;
    fprintf(stderr, "lost_wake: B asleep on the free mutex (%d sleeper(s)), value %s\n", sleepers(NULL),
            *VALUE == SBTHREAD_NIL ? "NIL" : "held");
    _exit(*VALUE == SBTHREAD_NIL && sleepers(NULL) == 1 ? 3 : 1);
}

int test_main(int argc, char **argv)
{
    if (!harness_host_mode()) {
        printf("lost_wake: host mode only (0.9.4.1's Lisp mutexes)\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "switched-off") == 0)
        return switched_off_child();
    struct sbthread_stats s0, s1;
    CHECK_EQ(sbthread_stats(&s0), 0);
    for (int i = 0; i < ROUNDS; i++) {
        harness_note("round %d", i);
        if (!round_lost(5)) {
            fprintf(stderr, "lost_wake: round %d: B still asleep on the free mutex after 5 s\n", i);
            harness_fail();
        }
    }
    CHECK_EQ(sbthread_stats(&s1), 0);
    CHECK(s1.mutex_rewakes - s0.mutex_rewakes >= ROUNDS);
    printf("lost_wake: %d wake-ups lost by an unwound waiter, each given again at its exit (mutex_rewakes %lu)\n",
           ROUNDS, (unsigned long)(s1.mutex_rewakes - s0.mutex_rewakes));
    static char out[4096];
    int status = harness_run_self("switched-off", "SBTHREAD_REWAKE=0", out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    printf("lost_wake: with SBTHREAD_REWAKE=0 the wake-up stays lost:\n  %s", out);
    return 0;
}
