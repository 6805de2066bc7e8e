/*
 * The graft on the test host: an executable built the way upstream builds
 * SBCL 0.9.4.1 (non-PIE, -rdynamic, thread.o's functions and globals its
 * own: standins.c; every runtime hook: host.c), with the library as a
 * DT_NEEDED. Built three ways (Makefile, build/tests/graft/):
 *
 *   graft-needed   every stand-in: the library grafts itself at load;
 *   graft-missing  no interrupt_thread in the executable: refused;
 *   graft-small    a 7-byte gc_start_the_world: refused.
 *
 * Run without arguments, it is the test, and re-runs itself as
 *   "work"     (must be grafted) the test host's main, whose test_main
 *              below makes threads, stops and starts the world and
 *              interrupts, all through the executable's own symbols;
 *   "refused"  (must not be grafted) checks that the stand-ins are exactly
 *              as in the executable's file and their pages not writable,
 *              then calls create_thread: the executable's stand-in runs
 *              and aborts, so the caller reached the executable's code.
 * and checks their exit and their stderr (the library's lines).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "host.h"
#include "graft.h"

int host_main(int argc, char **argv);

static const char REFUSED[] = "libsbthread: not grafted, the executable's own thread code stays in charge: ";
__attribute__((unused)) static const char GRAFTED[] =
    "grafted: the executable's create_initial_thread create_thread create_os_thread new_thread_trampoline "
    "reap_dead_thread interrupt_thread gc_stop_the_world gc_start_the_world "
    "check_sig_stop_for_gc_can_arrive_or_lose jump to ";

/* ---- "work": the grafted test host ---- */

enum { WORKERS = 4, ROUNDS = 40 };
static volatile int stop_workers;
static long interrupts_seen;

static uintptr_t worker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_workers, __ATOMIC_ACQUIRE)) {
    }
    return 0;
}

static uintptr_t interrupted(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&interrupts_seen, 1, __ATOMIC_SEQ_CST);
    return 0;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct thread *th[WORKERS];
    struct sbthread_stats st;

    CHECK(sbthread_is_grafted() == 1);
    CHECK(harness_host_mode());
    CHECK(graft_check_grafted());
    /* The executable's all_threads is the library's list. */
    CHECK(all_threads == sbthread_current());
    for (int i = 0; i < WORKERS; i++)
        th[i] = harness_spawn(worker, NULL);
    CHECK_EQ(harness_count_threads(), WORKERS + 1);
    for (int r = 0; r < ROUNDS; r++) {
        harness_note("stop round %d", r);
        gc_stop_the_world();
        for (int i = 0; i < WORKERS; i++)
            CHECK(th[i]->state == SBTHREAD_STATE_SUSPENDED);
        gc_start_the_world();
    }
    for (int i = 0; i < WORKERS; i++)
        CHECK_EQ(interrupt_thread(th[i], (lispobj)harness_closure(interrupted, NULL)), 0);
    harness_note("waiting for %d interrupts", WORKERS);
    while (__atomic_load_n(&interrupts_seen, __ATOMIC_SEQ_CST) < WORKERS)
        harness_sleep_us(100);
    __atomic_store_n(&stop_workers, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < WORKERS; i++)
        harness_join(th[i]);
    CHECK_EQ(harness_count_threads(), 1);
    CHECK_EQ(host_interrupts_run, WORKERS);
    CHECK_EQ(sbthread_stats(&st), 0);
    CHECK_EQ(st.threads_created, WORKERS + 1);
    CHECK_EQ(st.threads_reaped, WORKERS);
    CHECK_EQ(st.stops, ROUNDS);
    CHECK_EQ(st.interrupts_sent, WORKERS);
    printf("graft: %d threads, %d stops, %d interrupts, all in the library\n", WORKERS, ROUNDS, WORKERS);
    return 0;
}

/* ---- the test: runs itself and reads what the library said ---- */

static char out[1 << 16];

/* The line of out holding needle, or "" (a static copy). */
static const char *line_with(const char *needle)
{
    static char line[1024];
    const char *p = strstr(out, needle);
    line[0] = 0;
    if (p) {
        while (p > out && p[-1] != '\n')
            p--;
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, p);
    }
    return line;
}

static int run(const char *role, const char *env, int want_abort)
{
    int status = harness_run_self(role, env, out, sizeof out);
    int ok = want_abort ? WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT
                        : WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("  %s (%s): %s %d\n", role, env ? env : "no environment",
           WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    if (!ok)
        fprintf(stderr, "graft test: %s (%s) ended wrongly; its stderr:\n%s\n", role, env ? env : "", out);
    return ok;
}

/* A refusal: exactly one line from the library, naming the reason, and the
 * executable's own code ran. */
__attribute__((unused)) static void expect_refusal(const char *env, const char *reason, int functions)
{
    char untouched[64];
    snprintf(untouched, sizeof untouched, "stand-ins untouched (%d functions)", functions);
    CHECK(run("refused", env, 1));
    printf("    %s\n", line_with("libsbthread:"));
    CHECK_EQ(graft_count(out, "libsbthread:"), 1);
    CHECK_EQ(graft_count(out, REFUSED), 1);
    CHECK(strstr(line_with(REFUSED), reason) != NULL);
    CHECK(strstr(out, untouched) != NULL);
    CHECK(strstr(out, "graft test: the executable's own create_thread ran") != NULL);
}

static int the_test(void)
{
#if defined(GRAFT_OMIT_INTERRUPT_THREAD)
    expect_refusal(NULL, "the executable does not define interrupt_thread", GRAFT_FUNCTIONS - 1);
#elif defined(GRAFT_SMALL_START)
    expect_refusal(NULL, "the executable's gc_start_the_world is 7 bytes, too small for the 14-byte jump", GRAFT_FUNCTIONS);
#else
    /* Grafted, silently. */
    CHECK(run("work", NULL, 0));
    CHECK_EQ(graft_count(out, "libsbthread"), 0);
    CHECK_EQ(graft_count(out, "sbthread["), 0);
    /* SBTHREAD_TRACE=1 says so, in one line. */
    CHECK(run("work", "SBTHREAD_TRACE=1", 0));
    printf("    %s\n", line_with(GRAFTED));
    CHECK_EQ(graft_count(out, GRAFTED), 1);
    CHECK(strstr(line_with(GRAFTED), "sigwaitinfo is libsbthread's") != NULL);
    CHECK_EQ(graft_count(out, "libsbthread:"), 0);
    /* SBTHREAD_GRAFT=0: the stand-ins stay in charge, nothing said. */
    CHECK(run("refused", "SBTHREAD_GRAFT=0", 1));
    CHECK_EQ(graft_count(out, "libsbthread"), 0);
    CHECK(strstr(out, "stand-ins untouched (9 functions)") != NULL);
    CHECK(strstr(out, "graft test: the executable's own create_thread ran") != NULL);
#endif
    printf("graft: as expected\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "work") == 0) {
        if (!sbthread_is_grafted()) {
            fprintf(stderr, "graft test: expected a graft\n");
            return 1;
        }
        return host_main(argc, argv);
    }
    if (argc > 1 && strcmp(argv[1], "refused") == 0) {
        if (sbthread_is_grafted() || !graft_check_untouched())
            return 1;
        create_thread(0); /* the executable's stand-in: aborts */
        return 1;
    }
    harness_init(argc, argv);
    return the_test();
}
