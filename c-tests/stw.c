/*
 * Stop-the-world, both modes: busy threads and threads blocked in system
 * calls (nanosleep, read on a pipe) are all SUSPENDED while the world is
 * stopped, none makes progress, all resume afterwards.
 *
 * What happens to a blocked call: the stop signal interrupts it, the
 * handler suspends the thread, and after the start the handler returns.
 * Handlers are installed with SA_RESTART, so read() on a pipe simply
 * continues (the reader below still gets its byte); nanosleep() is never
 * restarted by the kernel and returns -1/EINTR with the time left, which
 * the sleeper below handles like any caller must.
 *
 * Every stop signals each other thread exactly once, whoever sends it: in
 * standalone mode the stopped threads' handlers help the stopper send the
 * signals (with four threads blocked in system calls, they do, in some of
 * the 150 stops); in host mode the stopper sends them all.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

enum { BUSY = 3, SLEEPERS = 2, ROUNDS = 150 };

static volatile long busy_count[BUSY];
static volatile long sleep_count[SLEEPERS];
static volatile long sleep_eintr;
static volatile int done;
static int pipe_fds[2];
static volatile int read_result = -2;
static volatile char read_byte;

static uintptr_t busy(void *arg)
{
    long i = (long)arg;
    while (!done)
        busy_count[i]++;
    return 0;
}

static uintptr_t sleeper(void *arg)
{
    long i = (long)arg;
    while (!done) {
        struct timespec ts = { 0, 2000000 }; /* 2 ms */
        if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
            __atomic_fetch_add(&sleep_eintr, 1, __ATOMIC_RELAXED);
        sleep_count[i]++;
    }
    return 0;
}

static uintptr_t reader(void *arg)
{
    (void)arg;
    char c;
    ssize_t r = read(pipe_fds[0], &c, 1); /* blocks until the test writes */
    read_byte = c;
    read_result = (int)r;
    return 0;
}

static void snapshot(long *b, long *s)
{
    for (int i = 0; i < BUSY; i++)
        b[i] = busy_count[i];
    for (int i = 0; i < SLEEPERS; i++)
        s[i] = sleep_count[i];
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct thread *me = sbthread_current();
    struct thread *ths[BUSY + SLEEPERS + 1];
    int n = 0;
    CHECK(pipe(pipe_fds) == 0);
    for (long i = 0; i < BUSY; i++)
        ths[n++] = harness_spawn(busy, (void *)i);
    for (long i = 0; i < SLEEPERS; i++)
        ths[n++] = harness_spawn(sleeper, (void *)i);
    struct thread *rd = ths[n++] = harness_spawn(reader, NULL);

    struct sbthread_stats st0;
    sbthread_stats(&st0);
    for (int round = 0; round < ROUNDS; round++) {
        harness_note("round %d: stopping", round);
        long b0[BUSY], s0[SLEEPERS], b1[BUSY], s1[SLEEPERS];
        gc_stop_the_world();
        harness_note("round %d: stopped", round);
        int others = 0;
        for (struct thread *th = all_threads; th; th = th->next) {
            if (th == me) {
                CHECK(th->state == SBTHREAD_STATE_RUNNING);
                continue;
            }
            others++;
            CHECK(th->state == SBTHREAD_STATE_SUSPENDED);
        }
        CHECK_EQ(others, n);
        snapshot(b0, s0);
        if (round % 30 == 0)
            harness_sleep_us(3000); /* a window long enough for a sleeper to wake */
        snapshot(b1, s1);
        for (int i = 0; i < BUSY; i++)
            CHECK_EQ(b0[i], b1[i]);
        for (int i = 0; i < SLEEPERS; i++)
            CHECK_EQ(s0[i], s1[i]);
        CHECK(read_result == -2); /* the reader is still in read() */
        gc_start_the_world();
        harness_note("round %d: started", round);
        /* everyone runs again: each busy counter moves, each sleeper wakes */
        for (int i = 0; i < BUSY; i++)
            while (busy_count[i] == b1[i])
                harness_sleep_us(50);
        if (round % 30 == 0)
            for (int i = 0; i < SLEEPERS; i++)
                while (sleep_count[i] == s1[i])
                    harness_sleep_us(100);
    }
    struct sbthread_stats st1;
    sbthread_stats(&st1);
    uint64_t by_stopper = st1.stop_signals_by_stopper - st0.stop_signals_by_stopper;
    uint64_t by_helpers = st1.stop_signals_by_helpers - st0.stop_signals_by_helpers;
    CHECK_EQ(st1.stops - st0.stops, (uint64_t)ROUNDS);
    /* Each thread of each stop is signalled, or (host mode, the resume
     * wake) its resume was taken back before it left its wait. */
    uint64_t taken_back = st1.resumes_taken_back - st0.resumes_taken_back;
    CHECK_EQ(by_stopper + by_helpers + taken_back, (uint64_t)ROUNDS * (uint64_t)n);
    CHECK(by_stopper >= (uint64_t)ROUNDS); /* the stopper sends at least the first */
    /* Both modes: stopped threads help send (host mode: from the
     * host handler's resume wait, our sigwaitinfo). */
    CHECK(by_helpers > 0);
    /* the reader was stopped ROUNDS times inside read(); it continues */
    CHECK(rd->state == SBTHREAD_STATE_RUNNING);
    CHECK(write(pipe_fds[1], "x", 1) == 1);
    sbthread_wait_dead(rd);
    CHECK_EQ(read_result, 1);
    CHECK_EQ(read_byte, 'x');
    done = 1;
    for (int i = 0; i < n; i++)
        harness_join(ths[i]);
    CHECK_EQ(harness_count_threads(), 1);
    struct sbthread_stats st;
    sbthread_stats(&st);
    CHECK((long)st.stops >= ROUNDS);
    printf("stw: %d rounds with %d busy, %d sleeping and 1 reading thread: all stopped and resumed; "
           "read() restarted transparently, nanosleep returned EINTR %ld times; stop latency "
           "mean %lu us max %lu us; stop signals sent by the stopper %lu, by stopped threads %lu\n",
           ROUNDS, BUSY, SLEEPERS, sleep_eintr, (unsigned long)(st.stop_latency_mean_ns / 1000),
           (unsigned long)(st.stop_latency_max_ns / 1000), (unsigned long)by_stopper,
           (unsigned long)by_helpers);
    return 0;
}
