/*
 * Thread exit racing stops and interrupts (both modes).
 *
 *  a. (host mode) the thread-exit deadlock the real 0.9.4.1 runtime found:
 *     a thread's Lisp exit code binds *GC-INHIBIT*, so a stop signal that
 *     reaches it there is deferred (STOP_FOR_GC_PENDING = T) and never
 *     honoured; the thread then returns to the library with the blockable
 *     signals blocked. The stopper holds all_threads_lock and waits for
 *     that thread: the thread must become DEAD without waiting for
 *     anything the stopper holds. Made deterministic with the test host's
 *     exit-window hook: the dying thread waits inside the window until the
 *     stop has reached it. A hang here is the deadlock (the watchdog
 *     prints every thread).
 *  b. (both modes) threads that end while an interrupter interrupts them
 *     and the initial thread stops and starts the world: no fatal error
 *     (the host's handlers lose on a signal that reaches a thread not
 *     RUNNING, or an interrupt with an empty queue), no hang, and every
 *     accepted interrupt accounted for: standalone, each ran exactly
 *     once; host mode, each ran at most once and the rest were dropped at
 *     exit (ran + dropped == accepted).
 *  c. (host mode) a suspended thread whose resume wait is interrupted
 *     (EINTR; seen on the real runtime) stays suspended: 0.9.4.1's handler
 *     would take the EINTR for the resume and lose ("wrong thread state on
 *     wakeup"); the library's interposed sigwaitinfo retries it.
 *  d. (host mode) the Lisp-level deadlock behind the real runtime's last
 *     soak hang: a thread holds the Lisp *ALL-THREADS-LOCK* with GC
 *     allowed (MAKE-THREAD) and is suspended by a stop, while a dying
 *     thread, its stop deferred, sleeps waiting for that lock. Neither
 *     can move until the other does; the stopper must see the sleeper,
 *     resume the suspended threads until it has stopped or died, and stop
 *     them again (host/stuck.rs). Deterministic: the holder keeps the
 *     lock until it has been suspended and resumed once. A hang here is
 *     the deadlock.
 *  e. (host mode) the same with the stopper itself holding the lock. For
 *     a real Lisp mutex the library counts the sleeper as stopped
 *     (host/adopt.rs; sbcl/lisp/gc-in-lock.lisp tests that on the real
 *     runtime); the test host's lock is a pthread mutex, which it cannot
 *     recognise, so this is the deadlock nothing resolves, and it must
 *     not be a silent one: in a child that SIGALRM ends after 8 s, the
 *     stopper must have said on stderr, after 5 s, which thread it waits
 *     for and why.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { DEFERRED_EXITS = 200, RACE_THREADS = 3000 };

/* ---- a ---- */
static volatile int in_window;

static void wait_for_deferred_stop(struct thread *th)
{
    __atomic_store_n(&in_window, 1, __ATOMIC_RELEASE);
    while (sbthread_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, th) != SBTHREAD_T)
        __builtin_ia32_pause();
}

static uintptr_t returns_at_once(void *arg)
{
    (void)arg;
    return 0;
}

static void deferred_stop_at_exit(void)
{
    host_exit_window_hook = wait_for_deferred_stop;
    for (int i = 0; i < DEFERRED_EXITS; i++) {
        harness_note("deferred stop at exit, round %d", i);
        __atomic_store_n(&in_window, 0, __ATOMIC_RELEASE);
        struct thread *th = harness_spawn(returns_at_once, NULL);
        while (!__atomic_load_n(&in_window, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        /* The thread is RUNNING, inside its exit code with GC inhibited:
         * the stop signal is deferred there, and the stop completes only
         * because the thread becomes DEAD on its own. */
        gc_stop_the_world();
        CHECK_EQ(th->state, SBTHREAD_STATE_DEAD);
        CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, th), SBTHREAD_T);
        gc_start_the_world();
        harness_join(th);
    }
    host_exit_window_hook = NULL;
}

/* ---- d ---- */
enum { LOCK_ROUNDS = 30 };
static volatile int holding, exiting, round_done;

static void hold_until_suspended(void *arg)
{
    (void)arg;
    long before = host_times_suspended();
    __atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
    while (host_times_suspended() == before)
        __builtin_ia32_pause();
}

static uintptr_t make_thread_push(void *arg)
{
    host_with_all_threads_lock(hold_until_suspended, arg);
    /* Stoppable until the round ends: the restarted stop suspends it. */
    while (!__atomic_load_n(&round_done, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    return 0;
}

static void note_exiting(struct thread *th)
{
    (void)th;
    __atomic_store_n(&exiting, 1, __ATOMIC_RELEASE);
}

static void lisp_lock_held_by_a_suspended_thread(void)
{
    struct sbthread_stats st0, st1;
    CHECK_EQ(sbthread_stats(&st0), 0);
    host_exit_window_hook = note_exiting;
    for (int i = 0; i < LOCK_ROUNDS; i++) {
        harness_note("Lisp lock held by a suspended thread, round %d", i);
        __atomic_store_n(&holding, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&exiting, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&round_done, 0, __ATOMIC_RELEASE);
        struct thread *holder = harness_spawn(make_thread_push, NULL);
        while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        struct thread *dying = harness_spawn(returns_at_once, NULL);
        while (!__atomic_load_n(&exiting, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        /* The dying thread has GC inhibited and is about to block its
         * signals and wait for the lock: its stop is deferred. */
        gc_stop_the_world();
        CHECK_EQ(dying->state, SBTHREAD_STATE_DEAD);
        CHECK_EQ(holder->state, SBTHREAD_STATE_SUSPENDED);
        gc_start_the_world();
        __atomic_store_n(&round_done, 1, __ATOMIC_RELEASE);
        harness_join(dying);
        harness_join(holder);
    }
    host_exit_window_hook = NULL;
    CHECK_EQ(sbthread_stats(&st1), 0);
    long backoffs = (long)(st1.stop_backoffs - st0.stop_backoffs);
    CHECK_EQ(backoffs, LOCK_ROUNDS);
    printf("exit_races: %d stops found a dying thread asleep on a Lisp lock held by a suspended thread; "
           "each backed off once and completed\n", LOCK_ROUNDS);
}

/* ---- f ---- */
/* Case d with the holder slow to reach its suspension: its handler spins
 * for 20 ms before it suspends (a preempted thread on a busy machine:
 * runnable, not asleep), by
 * which time the stopper has seen the dying thread asleep with its stop
 * deferred. A back-off then must not run before the holder is SUSPENDED:
 * resuming "every suspended thread" while the holder is still on its way
 * left it suspended afterwards, holding the lock the sleeper waits for
 * (the stop hung; found by this suite under load). */
enum { SLOW_ROUNDS = 10 };
static struct thread *volatile slow_holder;
static volatile int slow_pending;

static void delay_holder(struct thread *th)
{
    if (th == slow_holder && __atomic_exchange_n(&slow_pending, 0, __ATOMIC_ACQ_REL)) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20 * 1000000L);
    }
}

static void holder_slow_to_suspend(void)
{
    struct sbthread_stats st0, st1;
    CHECK_EQ(sbthread_stats(&st0), 0);
    host_exit_window_hook = note_exiting;
    host_stop_handler_hook = delay_holder;
    for (int i = 0; i < SLOW_ROUNDS; i++) {
        harness_note("holder slow to suspend, round %d", i);
        __atomic_store_n(&holding, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&exiting, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&round_done, 0, __ATOMIC_RELEASE);
        struct thread *holder = harness_spawn(make_thread_push, NULL);
        while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        slow_holder = holder;
        __atomic_store_n(&slow_pending, 1, __ATOMIC_RELEASE);
        struct thread *dying = harness_spawn(returns_at_once, NULL);
        while (!__atomic_load_n(&exiting, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        gc_stop_the_world();
        CHECK_EQ(dying->state, SBTHREAD_STATE_DEAD);
        CHECK_EQ(holder->state, SBTHREAD_STATE_SUSPENDED);
        CHECK_EQ(__atomic_load_n(&slow_pending, __ATOMIC_ACQUIRE), 0);
        gc_start_the_world();
        __atomic_store_n(&round_done, 1, __ATOMIC_RELEASE);
        harness_join(dying);
        harness_join(holder);
    }
    host_stop_handler_hook = NULL;
    host_exit_window_hook = NULL;
    CHECK_EQ(sbthread_stats(&st1), 0);
    CHECK_EQ((long)(st1.stop_backoffs - st0.stop_backoffs), SLOW_ROUNDS);
    printf("exit_races: %d stops found the dying thread asleep while the lock's holder was still on its way "
           "to its suspension; each backed off once, after the holder suspended, and completed\n", SLOW_ROUNDS);
}

/* ---- the measures' switches: each turned off, the failure it prevents ---- */

/* One round of case d with SBTHREAD_BACKOFF=0: the stop never completes
 * (SIGALRM ends the child). */
static int lock_round_child(void)
{
    alarm(2);
    host_exit_window_hook = note_exiting;
    struct thread *holder = harness_spawn(make_thread_push, NULL);
    while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    harness_spawn(returns_at_once, NULL);
    while (!__atomic_load_n(&exiting, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    gc_stop_the_world();
    printf("the stop completed (holder %s)\n", holder->state == SBTHREAD_STATE_SUSPENDED ? "suspended" : "running");
    return 0;
}

static void measures_switched_off(void)
{
    static char out[8192];
    int status = harness_run_self("lock-round", "SBTHREAD_BACKOFF=0", out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM);
    printf("exit_races: with SBTHREAD_BACKOFF=0, a dying thread asleep on a lock its suspended holder keeps "
           "hangs the stop (the child ended by SIGALRM)\n");
    /* The retry is the signal wait's (SBTHREAD_RESUME_WAKE=0); the futex
     * wait of the resume wake retries anyway. */
    status = harness_run_self("resume-waits", "SBTHREAD_RESUME_WAKE=0", out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("exit_races: with SBTHREAD_RESUME_WAKE=0 (a signal resumes), the 50 interrupted resume waits are "
           "retried too\n");
    static const char *const wakeup[] = { "wrong thread state on wakeup", NULL };
    CHECK(harness_expect_death("resume-waits", "SBTHREAD_RESUME_WAKE=0 SBTHREAD_RESUME_RETRY=0", wakeup));
    printf("exit_races: with SBTHREAD_RESUME_WAKE=0 SBTHREAD_RESUME_RETRY=0, an interrupted resume wait is the "
           "handler's death\n");
}

/* ---- e ---- */
static void stop_while_holding(void *arg)
{
    (void)arg;
    struct thread *dying = harness_spawn(returns_at_once, NULL);
    (void)dying;
    while (!__atomic_load_n(&exiting, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    gc_stop_the_world(); /* never returns: SIGALRM ends the child */
}

static int stopper_holds_the_lock_child(void)
{
    host_exit_window_hook = note_exiting;
    alarm(8);
    host_with_all_threads_lock(stop_while_holding, NULL);
    return 1;
}

static void stopper_holds_the_lock(void)
{
    static char out[8192];
    int status = harness_run_self("stopper-holds-lock", NULL, out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM);
    CHECK(strstr(out, "gc_stop_the_world has waited 5 s for thread") != NULL);
    CHECK(strstr(out, "asleep with its stop deferred") != NULL);
    printf("exit_races: a stopper holding the lock its sleeper waits for said so after 5 s:\n  %s", out);
}

/* ---- b ---- */
static long accepted, refused;
static volatile long ran_standalone;
static struct thread *volatile target;
static volatile int racing_done;

static uintptr_t count_run(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran_standalone, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t short_lived(void *arg)
{
    volatile long x = 0;
    for (long i = 0; i < (long)arg; i++)
        x += i;
    return 0;
}

/* Interrupts whatever thread the initial thread published last. Reading
 * the target and interrupting it happen under `target_lock`, and the
 * initial thread unpublishes a target under it too, so a thread is never
 * reaped while the interrupter still uses it. (A flag the initial thread
 * had to see clear, between two iterations of this loop, could be missed
 * for ever on a loaded machine: the window is a few instructions.) */
static pthread_mutex_t target_lock = PTHREAD_MUTEX_INITIALIZER;

enum { PER_TARGET = 8 }; /* interrupts per target, at most */

static uintptr_t interrupter(void *arg)
{
    struct sbthread_closure *fn = arg;
    struct thread *last = NULL;
    int sent = 0;
    while (!__atomic_load_n(&racing_done, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&target_lock);
        struct thread *t = __atomic_load_n(&target, __ATOMIC_SEQ_CST);
        if (t != last) {
            last = t;
            sent = 0;
        }
        int idle = !(t && sent < PER_TARGET);
        if (!idle) {
            sent++;
            if (interrupt_thread(t, (lispobj)fn) == 0) {
                accepted++;
            } else {
                /* Refused: the thread's function has returned. */
                CHECK_EQ(errno, ESRCH);
                refused++;
            }
        }
        pthread_mutex_unlock(&target_lock);
        if (idle)
            sched_yield(); /* nothing to do until the next target: leave the CPU to it */
    }
    return 0;
}

static void exits_racing_interrupts_and_stops(void)
{
    struct sbthread_stats st0, st1;
    long host_ran0 = harness_host_mode() ? host_interrupts_run : 0;
    sbthread_stats(&st0);
    struct thread *irq = harness_spawn(interrupter, harness_closure(count_run, NULL));
    long stops = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        harness_note("racing exit %d", i);
        struct thread *th = harness_spawn(short_lived, (void *)(long)(i % 4 * 3000));
        __atomic_store_n(&target, th, __ATOMIC_SEQ_CST);
        if (i % 3 == 0) {
            gc_stop_the_world();
            stops++;
            gc_start_the_world();
        }
        sbthread_wait_dead(th);
        /* Reap only once the interrupter has let go of th. */
        pthread_mutex_lock(&target_lock);
        __atomic_store_n(&target, NULL, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&target_lock);
        reap_dead_thread(th);
    }
    __atomic_store_n(&racing_done, 1, __ATOMIC_RELEASE);
    harness_join(irq);
    sbthread_stats(&st1);
    long dropped = (long)(st1.interrupts_discarded - st0.interrupts_discarded);
    long ran = harness_host_mode() ? host_interrupts_run - host_ran0 : ran_standalone;
    printf("exit_races: %d threads ended under %ld interrupts accepted (%ld ran, %ld dropped at exit), "
           "%ld refused (function returned), %ld stops\n",
           RACE_THREADS, accepted, ran, dropped, refused, stops);
    CHECK_EQ(ran + dropped, accepted);
    if (!harness_host_mode())
        CHECK_EQ(dropped, 0);
    CHECK(accepted > 0);
}

/* ---- c ---- */
static volatile long pwr_count;

static void on_pwr(int sig)
{
    (void)sig;
    __atomic_fetch_add(&pwr_count, 1, __ATOMIC_SEQ_CST);
}

static volatile int spinning_done;

static uintptr_t spin_until_done(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&spinning_done, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    return 0;
}

static void resume_wait_interrupted(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_pwr;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGPWR, &sa, NULL) == 0);
    struct thread *th = harness_spawn(spin_until_done, NULL);
    for (int round = 0; round < 50; round++) {
        harness_note("interrupted resume wait, round %d", round);
        gc_stop_the_world();
        long before = __atomic_load_n(&pwr_count, __ATOMIC_SEQ_CST);
        CHECK(pthread_kill((pthread_t)th->os_thread, SIGPWR) == 0);
        while (__atomic_load_n(&pwr_count, __ATOMIC_SEQ_CST) == before)
            __builtin_ia32_pause();
        CHECK_EQ(th->state, SBTHREAD_STATE_SUSPENDED); /* still waiting */
        gc_start_the_world();
    }
    __atomic_store_n(&spinning_done, 1, __ATOMIC_RELEASE);
    harness_join(th);
    signal(SIGPWR, SIG_DFL);
    printf("exit_races: 50 resume waits interrupted by a signal; each thread stayed suspended until the start\n");
}

int test_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "stopper-holds-lock") == 0)
        return stopper_holds_the_lock_child();
    if (argc > 1 && strcmp(argv[1], "lock-round") == 0 && harness_host_mode())
        return lock_round_child();
    if (argc > 1 && strcmp(argv[1], "resume-waits") == 0 && harness_host_mode()) {
        resume_wait_interrupted();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "slow-holder") == 0 && harness_host_mode()) {
        holder_slow_to_suspend(); /* case f alone */
        return 0;
    }
    if (harness_host_mode()) {
        resume_wait_interrupted();
        lisp_lock_held_by_a_suspended_thread();
        holder_slow_to_suspend();
        measures_switched_off();
        stopper_holds_the_lock();
        deferred_stop_at_exit();
        printf("exit_races: %d threads ended with a stop deferred in their exit code; each stop completed "
               "with the thread DEAD\n", DEFERRED_EXITS);
    }
    exits_racing_interrupts_and_stops();
    CHECK_EQ(harness_count_threads(), 1);
    return 0;
}
