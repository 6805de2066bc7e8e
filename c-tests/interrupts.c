/*
 * interrupt_thread, both modes: 100,000 interrupts from 3 sender threads
 * spread over 2 busy and 2 sleeping targets; each interrupt function counts
 * itself per (sender, target). At the end every function ran exactly once:
 * nothing lost, nothing twice. Then: interrupting a thread that has exited
 * but is not reaped returns -1 with errno ESRCH and leaves its queue empty.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <time.h>

enum { SENDERS = 3, TARGETS = 4, TOTAL = 100000, PER_SENDER = TOTAL / SENDERS + 1 };

/* One closure per (sender, target): its arg points at its counter. */
static long ran[SENDERS][TARGETS];
static long sent[SENDERS][TARGETS];
static struct sbthread_closure fns[SENDERS][TARGETS];
static struct thread *targets[TARGETS];
static volatile int stop_targets;

/* Runs in the target's signal handler: one atomic add, nothing else. */
static uintptr_t count_one(void *arg)
{
    __atomic_fetch_add((long *)arg, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t busy_target(void *arg)
{
    (void)arg;
    volatile unsigned long spin = 0;
    while (!__atomic_load_n(&stop_targets, __ATOMIC_ACQUIRE))
        spin++;
    return 0;
}

static uintptr_t sleeping_target(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_targets, __ATOMIC_ACQUIRE)) {
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}

static uintptr_t sender(void *arg)
{
    long s = (long)arg;
    unsigned seed = (unsigned)s * 2654435761u + 1;
    for (long i = 0; i < PER_SENDER && s * PER_SENDER + i < TOTAL; i++) {
        seed = seed * 1103515245u + 12345u;
        int t = (int)((seed >> 16) % TARGETS);
        if (interrupt_thread(targets[t], (lispobj)&fns[s][t]) != 0) {
            fprintf(stderr, "interrupt_thread failed: errno %d\n", errno);
            harness_fail();
        }
        sent[s][t]++;
    }
    return 0;
}

static long total(long (*m)[TARGETS])
{
    long n = 0;
    for (int s = 0; s < SENDERS; s++)
        for (int t = 0; t < TARGETS; t++)
            n += __atomic_load_n(&m[s][t], __ATOMIC_SEQ_CST);
    return n;
}

static uintptr_t quick(void *arg)
{
    (void)arg;
    return 0;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (int s = 0; s < SENDERS; s++)
        for (int t = 0; t < TARGETS; t++) {
            fns[s][t].fn = count_one;
            fns[s][t].arg = &ran[s][t];
        }
    for (int t = 0; t < TARGETS; t++)
        targets[t] = harness_spawn(t < 2 ? busy_target : sleeping_target, NULL);
    struct thread *senders[SENDERS];
    harness_note("sending %d interrupts", TOTAL);
    for (long s = 0; s < SENDERS; s++)
        senders[s] = harness_spawn(sender, (void *)s);
    for (int s = 0; s < SENDERS; s++)
        harness_join(senders[s]);
    CHECK_EQ(total(sent), TOTAL);
    /* Wait for the counts, not for time: the watchdog fails a loss. */
    harness_note("waiting for the interrupt functions to run");
    while (total(ran) < TOTAL)
        harness_sleep_us(200);
    /* Nothing twice: give late duplicates a chance to show up. */
    harness_sleep_us(20000);
    for (int s = 0; s < SENDERS; s++)
        for (int t = 0; t < TARGETS; t++)
            CHECK_EQ(ran[s][t], sent[s][t]);
    __atomic_store_n(&stop_targets, 1, __ATOMIC_RELEASE);
    for (int t = 0; t < TARGETS; t++) {
        sbthread_wait_dead(targets[t]);
        CHECK(targets[t]->interrupt_fun == SBTHREAD_NIL);
        reap_dead_thread(targets[t]);
    }
    struct sbthread_stats st;
    sbthread_stats(&st);
    CHECK(st.interrupts_sent >= TOTAL);
    if (!harness_host_mode()) {
        CHECK_EQ(st.interrupts_run, st.interrupts_sent);
        CHECK_EQ(st.conses_live, 0);
    }

    /* An exited but unreaped thread: ESRCH, and nothing stays queued. */
    struct thread *th = harness_spawn(quick, NULL);
    sbthread_wait_dead(th);
    errno = 0;
    static struct sbthread_closure late = { count_one, &ran[0][0] };
    CHECK_EQ(interrupt_thread(th, (lispobj)&late), -1);
    CHECK_EQ(errno, ESRCH);
    CHECK(th->interrupt_fun == SBTHREAD_NIL);
    reap_dead_thread(th);
    CHECK_EQ(ran[0][0], sent[0][0]); /* the refused function never ran */
    printf("interrupts: %d interrupts from %d senders to %d targets (2 busy, 2 sleeping): each ran "
           "exactly once; a DEAD thread refuses with ESRCH and keeps an empty queue; "
           "%lu queue-full retries\n",
           TOTAL, SENDERS, TARGETS, (unsigned long)st.queue_full_retries);
    return 0;
}
