/*
 * SBTHREAD_TRACE (both modes): a child run with SBTHREAD_TRACE=2 prints one
 * line per lifecycle event, stop/start and interrupt on stderr; with it
 * unset, nothing. sbthread_set_trace_level switches it at run time.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <string.h>
#include <sys/wait.h>

static long hits;

static uintptr_t count(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&hits, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t wait_for_hit(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&hits, __ATOMIC_SEQ_CST) == 0)
        harness_sleep_us(100);
    return 0;
}

static void workload(void)
{
    __atomic_store_n(&hits, 0, __ATOMIC_SEQ_CST);
    struct thread *th = harness_spawn(wait_for_hit, NULL);
    gc_stop_the_world();
    gc_start_the_world();
    CHECK_EQ(interrupt_thread(th, (lispobj)harness_closure(count, NULL)), 0);
    harness_join(th);
}

static int count_lines(const char *out, const char *needle)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Runs a scenario in a child; fails the test, showing its stderr, unless
 * it exits with 0. */
static void run_ok(const char *scenario, const char *env, char *out, size_t len)
{
    int status = harness_run_self(scenario, env, out, len);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "scenario %s ended with status %#x:\n%s", scenario, status, out);
        harness_fail();
    }
}

int test_main(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "switched")) {
            CHECK_EQ(sbthread_set_trace_level(1), 0);
            workload();
            CHECK_EQ(sbthread_set_trace_level(0), 1);
            workload();
            return 0;
        }
        workload();
        return 0;
    }
    static char out[65536];
    run_ok("traced", "SBTHREAD_TRACE=2", out, sizeof out);
    static const char *const events[] = {
        "linked", "running", "gc_stop_the_world: waiting for all_threads_lock",
        "thread(s) stopped in", "gc_start_the_world:", "queued for thread", "dead", "reaped", NULL,
    };
    for (const char *const *e = events; *e; e++)
        if (!strstr(out, *e)) {
            fprintf(stderr, "trace lacks \"%s\":\n%s", *e, out);
            harness_fail();
        }
    int traced_lines = count_lines(out, "sbthread[");
    CHECK(traced_lines >= 8);
    if (!harness_host_mode())
        CHECK(strstr(out, "ran 1 interrupt function(s)") != NULL);

    run_ok("quiet", NULL, out, sizeof out);
    CHECK(strstr(out, "sbthread[") == NULL);

    run_ok("switched", NULL, out, sizeof out);
    CHECK_EQ(count_lines(out, "reaped"), 1); /* only the first workload traced */
    printf("trace: SBTHREAD_TRACE=2 traced every event (%d lines), unset traced nothing, "
           "sbthread_set_trace_level switched it at run time\n", traced_lines);
    return 0;
}
