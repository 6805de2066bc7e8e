/*
 * Host mode's resume without a signal per thread (the measure
 * RESUME_WAKE: src/host/resume.rs, src/host/resume_wait.rs,
 * src/world/resume.rs).
 *
 * 0.9.4.1's stop handler waits for its resume in sigwaitinfo and takes the
 * next SIG_STOP_FOR_GC for it (interrupt.c:695-700; the test host's
 * handler does the same). That sigwaitinfo is the library's: it waits
 * until the thread is RUNNING again, on a futex the start wakes once for
 * every thread, and returns SIG_STOP_FOR_GC as the handler expects.
 *
 * 1. Counts: after one warm-up stop (a thread the stopper resumes before
 *    it was ever seen in the library's wait gets its own signal, the
 *    fallback), ROUNDS stops of THREADS threads send no resume signal at
 *    all and wake every thread (the default, a child); with
 *    SBTHREAD_RESUME_WAKE=0 (another child) every resume is a signal, as
 *    in 0.9.4.1. With the wake, stops back to back take back the
 *    resumes their threads have not yet seen (no stop signal for those):
 *    some are taken back, and every thread of every stop either gets a
 *    stop signal or is taken back.
 * 2. A stale SIG_STOP_FOR_GC (one no stop owes), sent to a suspended
 *    thread, is not taken for its resume: the thread stays asleep on the
 *    futex with the signal pending (seen in /proc: a sigtimedwait would
 *    have returned at once); after the start it takes the stale signal
 *    before its handler returns, so the signal starts no suspension no
 *    stopper asked for: the thread runs on (a child, the default). With
 *    SBTHREAD_RESUME_WAKE=0 (a death test) the handler takes it for the
 *    resume and loses ("wrong thread state on wakeup"), as 0.9.4.1 does.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { THREADS = 8, ROUNDS = 200 };

static volatile int done;
static volatile long progress;
static volatile pid_t stale_tid;

static uintptr_t spin(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    return 0;
}

/* Spins, counting; records its kernel thread id first. */
static uintptr_t count(void *arg)
{
    (void)arg;
    __atomic_store_n(&stale_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        __atomic_fetch_add(&progress, 1, __ATOMIC_RELAXED);
    return 0;
}

static struct sbthread_stats stats(void)
{
    struct sbthread_stats st;
    CHECK_EQ(sbthread_stats(&st), 0);
    return st;
}

/* One warm-up stop, then ROUNDS; prints "signals S wakes W". */
static void stop_rounds(void)
{
    struct thread *th[THREADS];
    __atomic_store_n(&done, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < THREADS; i++)
        th[i] = harness_spawn(spin, NULL);
    gc_stop_the_world();
    gc_start_the_world();
    struct sbthread_stats s0 = stats();
    for (int r = 0; r < ROUNDS; r++) {
        harness_note("resume counts, round %d", r);
        gc_stop_the_world();
        gc_start_the_world();
    }
    struct sbthread_stats s1 = stats();
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < THREADS; i++)
        harness_join(th[i]); /* a thread left suspended would hang here */
    unsigned long stops = (s1.stop_signals_by_stopper - s0.stop_signals_by_stopper) +
                          (s1.stop_signals_by_helpers - s0.stop_signals_by_helpers);
    fprintf(stderr, "signals %lu wakes %lu stop-signals %lu taken-back %lu\n",
            (unsigned long)(s1.resume_signals - s0.resume_signals), (unsigned long)(s1.resume_wakes - s0.resume_wakes),
            stops, (unsigned long)(s1.resumes_taken_back - s0.resumes_taken_back));
}

/* The line of /proc/self/task/TID/status starting with key, as a number
 * (base 16 for signal masks), or -1. */
static long long task_status(pid_t tid, const char *key, int base)
{
    char path[64], line[256];
    long long v = -1;
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtoll(line + strlen(key), NULL, base);
    fclose(f);
    return v;
}

/* The system call tid sleeps in, or -1. */
static long task_syscall(pid_t tid)
{
    char path[64];
    long nr = -1;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &nr) != 1)
        nr = -1;
    fclose(f);
    return nr;
}

/* Part 2 (also the death scenario "stale"). */
static void stale_signal(void)
{
    const int stop = SIGRTMIN + 1;
    const unsigned long long bit = 1ULL << (stop - 1);
    __atomic_store_n(&done, 0, __ATOMIC_RELEASE);
    struct thread *t = harness_spawn(count, NULL);
    while (!__atomic_load_n(&stale_tid, __ATOMIC_ACQUIRE))
        sched_yield();
    pid_t tid = stale_tid;
    /* Warm up: the thread's handler has waited in the library's wait. */
    gc_stop_the_world();
    gc_start_the_world();
    struct sbthread_stats s0 = stats();
    gc_stop_the_world();
    CHECK_EQ(t->state, SBTHREAD_STATE_SUSPENDED);
    CHECK_EQ(pthread_kill((pthread_t)t->os_thread, stop), 0);
    /* Asleep in a futex wait with the stale signal pending: not taken
     * for the resume (sigtimedwait would have returned at once). */
    harness_note("stale signal: waiting for the thread to sleep with it pending");
    while (!((unsigned long long)task_status(tid, "ShdPnd:", 16) & bit ||
             (unsigned long long)task_status(tid, "SigPnd:", 16) & bit) ||
           task_syscall(tid) != SYS_futex)
        sched_yield();
    CHECK_EQ(t->state, SBTHREAD_STATE_SUSPENDED);
    long before = __atomic_load_n(&progress, __ATOMIC_RELAXED);
    gc_start_the_world();
    /* Taken before the handler returned; the thread runs on. */
    harness_note("stale signal: waiting for the thread to run on");
    struct sbthread_stats s1;
    do {
        CHECK(t->state == SBTHREAD_STATE_RUNNING); /* never an unasked suspension */
        s1 = stats();
    } while (s1.stale_stop_signals == s0.stale_stop_signals ||
             __atomic_load_n(&progress, __ATOMIC_RELAXED) - before < 1000);
    CHECK_EQ(s1.stale_stop_signals - s0.stale_stop_signals, 1);
    CHECK_EQ(s1.resume_signals - s0.resume_signals, 0);
    CHECK_EQ(task_status(tid, "SigPnd:", 16) & (long long)bit, 0);
    /* And the world stops and starts as before. */
    gc_stop_the_world();
    CHECK_EQ(t->state, SBTHREAD_STATE_SUSPENDED);
    gc_start_the_world();
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    harness_join(t);
}

int test_main(int argc, char **argv)
{
    if (!harness_host_mode()) {
        printf("resume_wake: host mode only (the runtime's handler waits for its resume)\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "rounds") == 0) {
        stop_rounds();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "stale") == 0) {
        stale_signal();
        return 0;
    }
    char out[4096];
    unsigned long s = 99, w = 99;
    const char *line;

    unsigned long stops = 0, back = 0;
    int status = harness_run_self("rounds", NULL, out, sizeof out);
    line = strstr(out, "signals ");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(line && sscanf(line, "signals %lu wakes %lu stop-signals %lu taken-back %lu", &s, &w, &stops, &back) == 4);
    CHECK_EQ(s, 0);
    CHECK_EQ(w, (long)ROUNDS * THREADS);
    /* Back to back, a stop finds threads that have not yet seen the last
     * start: their resume is taken back, they get no stop signal. Every
     * thread of every stop is one or the other. */
    CHECK(back > 0);
    CHECK_EQ(stops + back, (long)ROUNDS * THREADS);

    /* Switched off: a signal per resume. */
    status = harness_run_self("rounds", "SBTHREAD_RESUME_WAKE=0", out, sizeof out);
    line = strstr(out, "signals ");
    unsigned long s0 = 99, w0 = 99, stops0 = 99, back0 = 99;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(line && sscanf(line, "signals %lu wakes %lu stop-signals %lu taken-back %lu", &s0, &w0, &stops0, &back0) == 4);
    CHECK_EQ(s0, (long)ROUNDS * THREADS);
    CHECK_EQ(w0, 0);
    CHECK_EQ(back0, 0);
    CHECK_EQ(stops0, (long)ROUNDS * THREADS);

    status = harness_run_self("stale", NULL, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    static const char *const wakeup[] = { "wrong thread state on wakeup", NULL };
    CHECK(harness_expect_death("stale", "SBTHREAD_RESUME_WAKE=0", wakeup));
    printf("resume_wake: %d stops of %d threads resumed with no signal (%lu wakes, %lu of them taken back by the next "
           "stop before their thread saw them; with SBTHREAD_RESUME_WAKE=0: %lu signals); a stale SIG_STOP_FOR_GC not "
           "taken for a resume, and taken before the handler returned (with SBTHREAD_RESUME_WAKE=0: the handler "
           "loses)\n", ROUNDS, THREADS, w, back, s0);
    return 0;
}
