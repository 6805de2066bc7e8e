/*
 * interrupt_thread's cons when a collection is due (host mode; the measure
 * HOLD_GC, src/host/cons.rs).
 *
 * 0.9.4.1's alloc_cons allocates pseudo-atomic and, once out of the
 * section, collects (or suspends for a stop deferred into it) right there:
 * the new cell is then held only by an untagged pointer, and the collector
 * frees it; alloc_cons writes its car and cdr into the free page and
 * interrupt_thread queues it. On the real runtime that cut a conser's list
 * (a (QUIT . NIL) cell in its middle) and lost interrupts
 * (sbcl/lisp/interrupt-cons-gc.lisp). The test host models it
 * (host_alloc_gc_every, host_conses_lost in host.c).
 *
 * Here every cons is allocated past the trigger, while the main thread
 * interrupts a busy thread ROUNDS times, and a second thread stops and
 * starts the world meanwhile (so stops arrive during the calls too). Every
 * function must run once, no cons may be lost, gc_triggers_held must count
 * every call that made a collection due, and afterwards the main thread's
 * *GC-PENDING* must be NIL again (its next allocation past the trigger
 * asks again). With SBTHREAD_HOLD_GC=0 (a child) the model must lose
 * conses: the child exits 3, the failure the measure prevents.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROUNDS = 2000 };

static long ran;
static int done, stopper_done;

static uintptr_t bump(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t busy(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        ;
    return 0;
}

static uintptr_t stopper(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stopper_done, __ATOMIC_ACQUIRE)) {
        gc_stop_the_world();
        gc_start_the_world();
        harness_sleep_us(50);
    }
    return 0;
}

/* Interrupts a busy thread ROUNDS times, a collection due at every cons;
 * returns the conses the model lost. */
static long run_rounds(void)
{
    struct sbthread_closure *fn = harness_closure(bump, NULL);
    __atomic_store_n(&ran, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&done, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&stopper_done, 0, __ATOMIC_SEQ_CST);
    long lost0 = host_conses_lost;
    struct thread *target = harness_spawn(busy, NULL);
    struct thread *st = harness_spawn(stopper, NULL);
    host_alloc_gc_every = 1;
    for (long i = 1; i <= ROUNDS; i++) {
        CHECK_EQ(interrupt_thread(target, (lispobj)fn), 0);
        if (i % 50 == 0) {
            uint64_t deadline = harness_now_ns() + 10ull * 1000000000;
            while (__atomic_load_n(&ran, __ATOMIC_SEQ_CST) < i) {
                if (harness_now_ns() > deadline) {
                    fprintf(stderr, "interrupt_cons: %ld of %ld functions ran in 10 s\n", ran, i);
                    harness_fail();
                }
                harness_sleep_us(20);
            }
        }
    }
    host_alloc_gc_every = 0;
    __atomic_store_n(&stopper_done, 1, __ATOMIC_RELEASE);
    harness_join(st);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    harness_join(target);
    CHECK_EQ(ran, ROUNDS);
    return host_conses_lost - lost0;
}

int test_main(int argc, char **argv)
{
    if (!harness_host_mode()) {
        printf("interrupt_cons: host mode only (the host's alloc_cons)\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "switched-off") == 0) {
        long lost = run_rounds();
        fprintf(stderr, "interrupt_cons: %ld of %d conses freed inside alloc_cons\n", lost, ROUNDS);
        _exit(lost > 0 ? 3 : 1);
    }
    struct sbthread_stats s0, s1;
    CHECK_EQ(sbthread_stats(&s0), 0);
    long lost = run_rounds();
    CHECK_EQ(sbthread_stats(&s1), 0);
    CHECK_EQ(lost, 0);
    /* Every call found *GC-PENDING* NIL again (the reset), so every one
     * made a collection due and had it held. */
    CHECK_EQ(s1.gc_triggers_held - s0.gc_triggers_held, ROUNDS);
    CHECK_EQ(host_symbol_value(GC_PENDING), SBTHREAD_NIL);
    printf("interrupt_cons: %d interrupts, a collection due at each cons: none lost, %lu held off\n", ROUNDS,
           (unsigned long)(s1.gc_triggers_held - s0.gc_triggers_held));
    static char out[4096];
    int status = harness_run_self("switched-off", "SBTHREAD_HOLD_GC=0", out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    printf("interrupt_cons: with SBTHREAD_HOLD_GC=0 conses are lost:\n  %s", out);
    return 0;
}
