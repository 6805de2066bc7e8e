/*
 * Two threads calling gc_stop_the_world at once serialize (both modes):
 * two stopper threads each stop and start the world ROUNDS times while a
 * third thread works. A stopper that waits for all_threads_lock is itself
 * stopped by the other (it waits with SIG_STOP_FOR_GC deliverable). The
 * "owner" word proves the stopped periods never overlap, and while a
 * stopper holds the world the other stopper and the worker are SUSPENDED.
 */
#define _GNU_SOURCE
#include "harness.h"

enum { ROUNDS = 300 };

static volatile int done;
static volatile long work;
static struct thread *owner;
static long rounds_done[2];

static uintptr_t worker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        work++;
    return 0;
}

static uintptr_t stopper(void *arg)
{
    long id = (long)arg;
    struct thread *me = sbthread_current();
    for (int r = 0; r < ROUNDS; r++) {
        gc_stop_the_world();
        struct thread *prev = __atomic_exchange_n(&owner, me, __ATOMIC_SEQ_CST);
        CHECK(prev == NULL);
        for (struct thread *th = all_threads; th; th = th->next)
            if (th != me && th->state != SBTHREAD_STATE_DEAD)
                CHECK(th->state == SBTHREAD_STATE_SUSPENDED);
        long w = work;
        for (volatile int spin = 0; spin < 2000; spin++) {
        }
        CHECK_EQ(work, w);
        CHECK(__atomic_exchange_n(&owner, NULL, __ATOMIC_SEQ_CST) == me);
        gc_start_the_world();
        __atomic_fetch_add(&rounds_done[id], 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct thread *w = harness_spawn(worker, NULL);
    struct thread *a = harness_spawn(stopper, (void *)0L);
    struct thread *b = harness_spawn(stopper, (void *)1L);
    harness_note("two stoppers running");
    harness_join(a);
    harness_join(b);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    harness_join(w);
    CHECK_EQ(rounds_done[0], ROUNDS);
    CHECK_EQ(rounds_done[1], ROUNDS);
    struct sbthread_stats st;
    sbthread_stats(&st);
    CHECK_EQ(st.stops, 2 * ROUNDS);
    printf("stw_stoppers: two threads stopped and started the world %d times each, never at "
           "the same time; both completed\n", ROUNDS);
    return 0;
}
