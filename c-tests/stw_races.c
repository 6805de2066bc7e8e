/*
 * Stop-the-world racing thread creation, thread exit and reaping (both
 * modes). Two creator threads create short-lived threads and reap them as
 * fast as they can; a third thread interrupts whatever it created last;
 * the initial thread stops and starts the world in a loop. While the world
 * is stopped every other thread is SUSPENDED or DEAD (never STARTING or
 * RUNNING: threads still starting are waited out; a dying thread either
 * stopped or, in host mode only, became DEAD), and no creator makes
 * progress. Nothing deadlocks,
 * no thread is missed, created == reaped at the end.
 */
#define _GNU_SOURCE
#include "harness.h"

enum { CREATORS = 2, ROUNDS = 1000 };

static volatile int done;
static long created[CREATORS], reaped[CREATORS];

static uintptr_t short_lived(void *arg)
{
    volatile long x = 0;
    for (long i = 0; i < (long)arg; i++)
        x += i;
    return 0;
}

static uintptr_t creator(void *arg)
{
    long c = (long)arg;
    long n = 0;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        struct thread *a = harness_spawn(short_lived, (void *)(n % 3 * 1000));
        __atomic_fetch_add(&created[c], 1, __ATOMIC_SEQ_CST);
        struct thread *b = harness_spawn(short_lived, (void *)10000);
        __atomic_fetch_add(&created[c], 1, __ATOMIC_SEQ_CST);
        harness_join(a);
        __atomic_fetch_add(&reaped[c], 1, __ATOMIC_SEQ_CST);
        harness_join(b);
        __atomic_fetch_add(&reaped[c], 1, __ATOMIC_SEQ_CST);
        n++;
    }
    return 0;
}

static long progress(void)
{
    long n = 0;
    for (int c = 0; c < CREATORS; c++)
        n += __atomic_load_n(&created[c], __ATOMIC_SEQ_CST) + __atomic_load_n(&reaped[c], __ATOMIC_SEQ_CST);
    return n;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct thread *me = sbthread_current();
    struct thread *creators[CREATORS];
    for (long c = 0; c < CREATORS; c++)
        creators[c] = harness_spawn(creator, (void *)c);
    long max_seen = 0, dead_seen = 0;
    for (int round = 0; round < ROUNDS; round++) {
        harness_note("round %d, progress %ld", round, progress());
        gc_stop_the_world();
        long p0 = progress();
        long n = 0;
        for (struct thread *th = all_threads; th; th = th->next) {
            if (th == me)
                continue;
            n++;
            if (th->state == SBTHREAD_STATE_DEAD)
                dead_seen++;
            else if (th->state != SBTHREAD_STATE_SUSPENDED) {
                fprintf(stderr, "round %d: thread %p is %#lx while the world is stopped\n", round,
                        (void *)th, (unsigned long)th->state);
                harness_fail();
            }
        }
        if (n > max_seen)
            max_seen = n;
        for (volatile int spin = 0; spin < 20000; spin++) {
        }
        CHECK_EQ(progress(), p0);
        gc_start_the_world();
        /* let the creators get somewhere before the next stop */
        long until = progress() + 2;
        while (progress() < until)
            harness_sleep_us(20);
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int c = 0; c < CREATORS; c++)
        harness_join(creators[c]);
    long total_created = 0;
    for (int c = 0; c < CREATORS; c++) {
        CHECK_EQ(created[c], reaped[c]);
        total_created += created[c];
    }
    CHECK_EQ(harness_count_threads(), 1);
    CHECK(all_threads == me && me->next == NULL);
    struct sbthread_stats st;
    sbthread_stats(&st);
    CHECK_EQ(st.threads_created, st.threads_reaped + 1);
    printf("stw_races: %d stops raced %ld thread creations/exits/reaps; up to %ld threads seen "
           "stopped at once (%ld of them DEAD, unreaped); created == reaped\n",
           ROUNDS, total_created, max_seen, dead_seen);
    return 0;
}
