/*
 * A signal's target gone (ESRCH) at each point where it can race, injected
 * into pthread_kill with the fault-injection build:
 *  - interrupt: -1 with errno ESRCH, the queue emptied, the function never
 *    runs, nothing leaked (both modes);
 *  - stop: a RUNNING thread that cannot be signalled is reported by `lose`
 *    with the thread and its state (both modes);
 *  - start (host mode, which resumes with signals): `lose` likewise.
 * A real exit cannot race with a stop (DEAD is set under all_threads_lock)
 * or leave an accepted interrupt behind (DEAD only with an empty queue);
 * these are the paths that would report a kernel saying otherwise.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <string.h>

enum { POINT_TARGET_GONE = 4 };

static volatile int done;
static long ran;

static uintptr_t count(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t spin(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        harness_sleep_us(100);
    return 0;
}

static int run_scenario(const char *s)
{
    struct thread *th = harness_spawn(spin, NULL);
    while (th->state != SBTHREAD_STATE_RUNNING)
        harness_sleep_us(100);
    if (!strcmp(s, "stop")) {
        CHECK(sbthread_test_inject(POINT_TARGET_GONE, 1) == 0);
        gc_stop_the_world();
    } else if (!strcmp(s, "start")) {
        gc_stop_the_world();
        CHECK(sbthread_test_inject(POINT_TARGET_GONE, 1) == 0);
        gc_start_the_world();
    }
    return 1;
}

int test_main(int argc, char **argv)
{
    if (argc > 1)
        return run_scenario(argv[1]);
    struct thread *th = harness_spawn(spin, NULL);
    while (th->state != SBTHREAD_STATE_RUNNING)
        harness_sleep_us(100);
    struct sbthread_closure *f = harness_closure(count, NULL);
    CHECK(sbthread_test_inject(POINT_TARGET_GONE, 1) == 0);
    errno = 0;
    CHECK_EQ(interrupt_thread(th, (lispobj)f), -1);
    CHECK_EQ(errno, ESRCH);
    CHECK(th->interrupt_fun == SBTHREAD_NIL);
    /* the thread is in fact alive: the next interrupt gets through */
    CHECK_EQ(interrupt_thread(th, (lispobj)f), 0);
    while (__atomic_load_n(&ran, __ATOMIC_SEQ_CST) < 1)
        harness_sleep_us(100);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    harness_join(th);
    CHECK_EQ(ran, 1); /* the refused one never ran */
    struct sbthread_stats st;
    sbthread_stats(&st);
    if (!harness_host_mode())
        CHECK_EQ(st.conses_live, 0);

    static const char *const stop_needles[] = { "gc_stop_the_world", "cannot suspend thread",
                                                "state RUNNING", "ESRCH", NULL };
    CHECK(harness_expect_death("stop", NULL, stop_needles));
    if (harness_host_mode()) {
        static const char *const start_needles[] = { "gc_start_the_world", "cannot resume thread",
                                                     "ESRCH", NULL };
        /* A resume signal is sent only with SBTHREAD_RESUME_WAKE=0 (or to
         * a thread never seen in the library's resume wait). */
        CHECK(harness_expect_death("start", "SBTHREAD_RESUME_WAKE=0", start_needles));
    }
    printf("fault_signals: ESRCH on interrupt returned -1/ESRCH with an empty queue; on stop%s it "
           "was reported by lose\n", harness_host_mode() ? " and start" : "");
    return 0;
}
