/*
 * Signal handlers preserve errno (both modes). Worker threads keep setting
 * errno to a marker and checking it after a busy stretch, while they are
 * interrupted thousands of times and the world is stopped and started
 * hundreds of times (each interrupt function and each suspension also
 * clobbers errno inside the handler). errno never changes under them.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>

enum { WORKERS = 2, INTERRUPTS = 4000, STOPS = 200 };

static volatile int done;
static long checks[WORKERS], ran;

static uintptr_t clobber(void *arg)
{
    (void)arg;
    errno = EBADF; /* handlers must put the interrupted code's errno back */
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t worker(void *arg)
{
    long w = (long)arg;
    int marker = 1000 + (int)w;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        errno = marker;
        for (volatile int i = 0; i < 200; i++) {
        }
        if (errno != marker) {
            fprintf(stderr, "worker %ld: errno changed from %d to %d under it\n", w, marker, errno);
            harness_fail();
        }
        checks[w]++;
    }
    return 0;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct thread *ws[WORKERS];
    for (long w = 0; w < WORKERS; w++)
        ws[w] = harness_spawn(worker, (void *)w);
    struct sbthread_closure *f = harness_closure(clobber, NULL);
    for (int i = 0; i < INTERRUPTS; i++) {
        CHECK_EQ(interrupt_thread(ws[i % WORKERS], (lispobj)f), 0);
        if (i % (INTERRUPTS / STOPS) == 0) {
            gc_stop_the_world();
            gc_start_the_world();
        }
    }
    while (__atomic_load_n(&ran, __ATOMIC_SEQ_CST) < INTERRUPTS)
        harness_sleep_us(100);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int w = 0; w < WORKERS; w++) {
        harness_join(ws[w]);
        CHECK(checks[w] > 0);
    }
    printf("handler_errno: %d interrupts and %d stops while %ld errno checks ran: errno always "
           "preserved\n", INTERRUPTS, STOPS, checks[0] + checks[1]);
    return 0;
}
