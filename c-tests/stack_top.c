/*
 * The word at a stopped thread's stack pointer, as 0.9.4.1's collector
 * sees it (host mode; src/host/stack_top.rs).
 *
 * gencgc scans a stopped thread's control stack from its end down to, but
 * not including, the lowest stack pointer among the thread's interrupt
 * contexts (gencgc.c:3605). On the real runtime that word held the return
 * address of the frameless routine ALLOCATE-VECTOR whenever a stop was
 * deferred by its pseudo-atomic section and honoured from the trap at the
 * section's end; when that return address was the only reference to
 * young code, the collector moved the code and the thread returned into
 * the old place: MEMORY-FAULT-ERROR (RELIABILITY.md, sbcl/lisp/young-code.lisp).
 *
 * The test host records the context its stop handler runs in, as 0.9.4.1
 * does, and binds the stack pointer it found there; with the world
 * stopped, host_check_stack_tops applies the collector's rule to every
 * SUSPENDED thread. Threads stop both ways the runtime stops them: in the
 * handler (spinning threads) and when a pseudo-atomic section that
 * deferred the stop ends. Deterministic: every stop, every thread, must
 * have the word at its stack pointer inside the scanned range; and each
 * thread's handler checks, after its resume, that its context's stack
 * pointer is its own again (it returns through that context). With
 * SBTHREAD_SCAN_TOP=0 (a child) every check must miss: the test sees the
 * fault it guards against.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <string.h>
#include <sys/wait.h>

enum { SPINNERS = 2, PA_THREADS = 2, ROUNDS = 300 };

static volatile int done;

static uintptr_t spin(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    return 0;
}

/* Mostly inside pseudo-atomic sections: a stop that arrives there is
 * deferred and honoured when the section ends. */
static uintptr_t pseudo_atomic_loop(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        host_pseudo_atomic_enter();
        for (int i = 0; i < 2000; i++)
            __builtin_ia32_pause();
        host_pseudo_atomic_leave();
    }
    return 0;
}

/* ROUNDS stops; prints "checked C missed M". */
static void stop_rounds(void)
{
    struct thread *th[SPINNERS + PA_THREADS];
    __atomic_store_n(&done, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < SPINNERS; i++)
        th[i] = harness_spawn(spin, NULL);
    for (int i = 0; i < PA_THREADS; i++)
        th[SPINNERS + i] = harness_spawn(pseudo_atomic_loop, NULL);
    long checked0 = host_stack_tops_checked, missed0 = host_stack_tops_missed;
    for (int r = 0; r < ROUNDS; r++) {
        harness_note("stack tops, round %d", r);
        gc_stop_the_world();
        host_check_stack_tops();
        gc_start_the_world();
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < SPINNERS + PA_THREADS; i++)
        harness_join(th[i]);
    fprintf(stderr, "checked %ld missed %ld\n", host_stack_tops_checked - checked0,
            host_stack_tops_missed - missed0);
}

int test_main(int argc, char **argv)
{
    if (!harness_host_mode()) {
        printf("stack_top: host mode only (the collector's rule is the legacy runtime's)\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "rounds") == 0) {
        stop_rounds();
        return 0;
    }
    long checked0 = host_stack_tops_checked;
    stop_rounds();
    long checked = host_stack_tops_checked - checked0;
    /* Every other thread is checked in every round. */
    CHECK_EQ(checked, (long)ROUNDS * (SPINNERS + PA_THREADS));
    CHECK_EQ(host_stack_tops_missed, 0);

    /* Without the measure, the collector's rule misses every one. */
    char out[4096];
    int status = harness_run_self("rounds", "SBTHREAD_SCAN_TOP=0", out, sizeof out);
    long c = -1, m = -1;
    const char *line = strstr(out, "checked ");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(line && sscanf(line, "checked %ld missed %ld", &c, &m) == 2);
    CHECK_EQ(c, (long)ROUNDS * (SPINNERS + PA_THREADS));
    CHECK_EQ(m, c);
    printf("stack_top: %ld stopped threads, the word at each one's stack pointer inside the collector's scan "
           "(SBTHREAD_SCAN_TOP=0: %ld of %ld outside it)\n", checked, m, c);
    return 0;
}
