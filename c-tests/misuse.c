/*
 * Death tests: every misuse a caller can reach ends in `lose` (an abort
 * with a message naming the function, the thread and its state), never a
 * silent crash or a hang. Each scenario runs in a fresh child process
 * (this program re-executed with the scenario's name).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <signal.h>
#include <string.h>

static volatile int release_flag;

static uintptr_t wait_for_release(void *arg)
{
    (void)arg;
    while (!release_flag)
        harness_sleep_us(1000);
    return 0;
}

static uintptr_t quick(void *arg)
{
    (void)arg;
    return 0;
}

static int run_scenario(const char *s)
{
    struct thread *me = sbthread_current();
    if (!strcmp(s, "reap-live")) {
        struct thread *th = harness_spawn(wait_for_release, NULL);
        while (th->state != SBTHREAD_STATE_RUNNING)
            harness_sleep_us(100);
        reap_dead_thread(th);
    } else if (!strcmp(s, "reap-self")) {
        reap_dead_thread(me);
    } else if (!strcmp(s, "reap-twice")) {
        struct thread *th = harness_spawn(quick, NULL);
        harness_join(th);
        reap_dead_thread(th);
    } else if (!strcmp(s, "reap-null")) {
        reap_dead_thread(NULL);
    } else if (!strcmp(s, "interrupt-self")) {
        interrupt_thread(me, (lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "interrupt-null")) {
        interrupt_thread(NULL, (lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "interrupt-reaped")) {
        struct thread *th = harness_spawn(quick, NULL);
        harness_join(th); /* the block stays mapped in the cache */
        interrupt_thread(th, (lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "interrupt-unmapped")) {
        /* A block reaped and given back to the system (or a corrupt
         * pointer): the library must not fault reading it. */
        sbthread_set_block_cache_limit(0);
        struct thread *th = harness_spawn(quick, NULL);
        harness_join(th);
        CHECK(harness_mapping_writable(th) == -1);
        interrupt_thread(th, (lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "interrupt-unaligned")) {
        /* Not a struct thread at all: inside a live thread's block (the
         * value seen once from Lisp, 0x...b00). */
        interrupt_thread((struct thread *)((char *)me + 0xb00), (lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "start-without-stop")) {
        gc_start_the_world();
    } else if (!strcmp(s, "stop-twice")) {
        gc_stop_the_world();
        gc_stop_the_world();
    } else if (!strcmp(s, "create-while-stopped")) {
        gc_stop_the_world();
        create_thread((lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "create-with-stop-blocked")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN + 1);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        create_thread((lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "check-with-stop-blocked")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN + 1);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        check_sig_stop_for_gc_can_arrive_or_lose();
    } else if (!strcmp(s, "initial-twice")) {
        create_initial_thread((lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "wait-dead-null")) {
        sbthread_wait_dead(NULL);
    } else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    fprintf(stderr, "scenario %s returned instead of losing\n", s);
    return 1;
}

struct death {
    const char *scenario;
    const char *needles[5];
};

static const struct death deaths[] = {
    { "reap-live", { "reap_dead_thread", "not joinable", "state=RUNNING", NULL } },
    { "reap-self", { "reap_dead_thread", "not joinable", "state=RUNNING", NULL } },
    { "reap-twice", { "reap_dead_thread", "not a registered thread", "already reaped", "[calling thread", NULL } },
    { "reap-null", { "reap_dead_thread", "NULL thread", "state RUNNING]", NULL } },
    { "interrupt-self", { "interrupt_thread", "cannot interrupt the current thread", "RUNNING", NULL } },
    { "interrupt-null", { "interrupt_thread", "NULL thread", "state RUNNING]", NULL } },
    { "interrupt-reaped", { "interrupt_thread", "not a live thread", "reaped", NULL } },
    { "interrupt-unmapped", { "interrupt_thread", "not a live thread", "no linked thread has it", NULL } },
    { "interrupt-unaligned", { "interrupt_thread", "not a live thread", "not page-aligned", NULL } },
    { "start-without-stop", { "gc_start_the_world", "not stopped", "state RUNNING]", NULL } },
    { "stop-twice", { "gc_stop_the_world", "already stopped the world", "state RUNNING]", NULL } },
    { "create-while-stopped", { "create_thread", "stopped the world", "gc_start_the_world first", NULL } },
    { "create-with-stop-blocked", { "create_thread", "SIG_STOP_FOR_GC cannot arrive: it is blocked", "state RUNNING", NULL } },
    { "check-with-stop-blocked", { "check_sig_stop_for_gc_can_arrive_or_lose", "it is blocked", "state RUNNING", NULL } },
    { "initial-twice", { "create_initial_thread", "already exist", "state RUNNING]", NULL } },
    { "wait-dead-null", { "sbthread_wait_dead", "NULL thread", "state RUNNING]", NULL } },
};

int test_main(int argc, char **argv)
{
    if (argc > 1)
        return run_scenario(argv[1]);
    int bad = 0;
    for (size_t i = 0; i < sizeof deaths / sizeof deaths[0]; i++) {
        harness_note("death scenario %s", deaths[i].scenario);
        if (!harness_expect_death(deaths[i].scenario, NULL, deaths[i].needles)) {
            fprintf(stderr, "death scenario %s: FAILED\n", deaths[i].scenario);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
    printf("misuse: %zu misuse scenarios each ended in lose with a clear message\n",
           sizeof deaths / sizeof deaths[0]);
    return 0;
}
