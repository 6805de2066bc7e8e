/*
 * Creation failures the kernel cannot be made to produce on demand, with
 * the test-only injection points of a `--features fault-injection` build:
 *  - pthread_create fails: create_thread returns NULL, all_threads and the
 *    mappings are unchanged, nothing is left behind (both modes);
 *  - the standalone os_validate fails (block, then interrupt data): same;
 *  - the guard page cannot be protected: a clear `lose` (standalone).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <string.h>

enum { POINT_MAPPING = 0, POINT_PTHREAD_CREATE = 1, POINT_GUARD = 2 };

static int ran;

static uintptr_t body(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void expect_failed_create(const char *what)
{
    struct thread *me = sbthread_current();
    int maps = harness_count_mappings();
    struct sbthread_stats before, after;
    sbthread_stats(&before);
    struct thread *th = create_thread((lispobj)harness_closure(body, NULL));
    CHECK(th == NULL);
    CHECK(all_threads == me && me->next == NULL);
    CHECK_MAPPINGS(harness_count_mappings(), maps);
    sbthread_stats(&after);
    CHECK_EQ(after.threads_created, before.threads_created);
    CHECK_EQ(after.threads_live, before.threads_live);
    printf("  %s: create_thread returned NULL; all_threads and %d mappings unchanged\n", what, maps);
}

int test_main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "guard")) {
        sbthread_set_block_cache_limit(0);
        CHECK(sbthread_test_inject(POINT_GUARD, 1) == 0);
        create_thread((lispobj)harness_closure(body, NULL));
        return 1; /* must have lost */
    }
    CHECK(sbthread_test_inject(99, 1) == -1);
    sbthread_set_block_cache_limit(0);
    /* warm up: the first thread creation maps things once (cons pool...) */
    harness_join(harness_spawn(body, NULL));

    CHECK(sbthread_test_inject(POINT_PTHREAD_CREATE, 1) == 0);
    expect_failed_create("pthread_create failure");
    if (!harness_host_mode()) {
        CHECK(sbthread_test_inject(POINT_MAPPING, 1) == 0);
        expect_failed_create("thread block mapping failure");
        /* (the interrupt-data mapping failure is lifecycle.c's RLIMIT_AS case) */
    }
    /* everything works again afterwards */
    harness_join(harness_spawn(body, NULL));
    CHECK_EQ(ran, 2);
    if (!harness_host_mode()) {
        static const char *const needles[] = { "protect_control_stack_guard_page", "cannot protect",
                                                "state STARTING", "ENOMEM", NULL };
        CHECK(harness_expect_death("guard", NULL, needles));
    }
    printf("fault_create: injected failures returned NULL and leaked nothing\n");
    return 0;
}
