/*
 * libsbthread standalone demo: the library is the whole runtime.
 *
 * main() registers itself with create_initial_thread(); the closure it
 * passes runs the program. The program starts a few threads that count
 * primes, interrupts each one once, stops the world to look at everyone,
 * restarts it, waits for the threads to die, reaps them, and prints what
 * happened. The process exits with what the program's closure returns.
 */
#include <stdint.h>
#include <stdio.h>

#include "sbthread.h"

enum { WORKERS = 4 };

struct worker {
    long from, to;
    long primes;
    volatile long progress;
    volatile int interrupted;
};

static int is_prime(long n)
{
    if (n < 2)
        return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static uintptr_t count_primes(void *arg)
{
    struct worker *w = arg;
    for (long n = w->from; n < w->to; n++) {
        w->primes += is_prime(n);
        w->progress = n - w->from + 1;
    }
    /* stay alive until our interrupt has run, so that it runs here */
    while (!w->interrupted) {
    }
    return (uintptr_t)w->primes;
}

/* Runs inside the interrupted thread, in a signal handler: keep it short
 * and async-signal-safe. */
static uintptr_t note_interrupt(void *arg)
{
    struct worker *w = arg;
    w->interrupted = 1;
    return 0;
}

static const char *state_name(lispobj s)
{
    return s == SBTHREAD_STATE_RUNNING ? "RUNNING" : s == SBTHREAD_STATE_SUSPENDED ? "SUSPENDED"
         : s == SBTHREAD_STATE_DEAD ? "DEAD" : "STARTING";
}

static uintptr_t program(void *arg)
{
    (void)arg;
    static struct worker workers[WORKERS];
    static struct sbthread_closure bodies[WORKERS], interrupts[WORKERS];
    struct thread *threads[WORKERS];

    printf("initial thread %p registered (standalone mode: %s)\n", (void *)sbthread_current(),
           sbthread_is_host_mode() ? "no" : "yes");
    for (int i = 0; i < WORKERS; i++) {
        workers[i].from = 2 + i * 250000L;
        workers[i].to = 2 + (i + 1) * 250000L;
        bodies[i].fn = count_primes;
        bodies[i].arg = &workers[i];
        threads[i] = create_thread((lispobj)&bodies[i]);
        if (!threads[i]) {
            fprintf(stderr, "create_thread failed\n");
            return 1;
        }
        printf("created thread %d (%p): primes in [%ld, %ld)\n", i, (void *)threads[i],
               workers[i].from, workers[i].to);
    }

    gc_stop_the_world();
    printf("world stopped:\n");
    for (struct thread *th = all_threads; th; th = th->next)
        printf("  thread %p %s%s\n", (void *)th, state_name(th->state),
               th == sbthread_current() ? " (me, the stopper)" : "");
    gc_start_the_world();
    printf("world started again\n");

    for (int i = 0; i < WORKERS; i++) {
        interrupts[i].fn = note_interrupt;
        interrupts[i].arg = &workers[i];
        if (interrupt_thread(threads[i], (lispobj)&interrupts[i]) != 0)
            printf("thread %d had already finished\n", i);
    }

    long total = 0;
    for (int i = 0; i < WORKERS; i++) {
        sbthread_wait_dead(threads[i]);
        printf("thread %d is %s: %ld primes, interrupted: %s\n", i, state_name(threads[i]->state),
               workers[i].primes, workers[i].interrupted ? "yes" : "no");
        total += workers[i].primes;
        reap_dead_thread(threads[i]);
    }
    struct sbthread_stats st;
    sbthread_stats(&st);
    printf("total: %ld primes below %ld\n", total, 2 + WORKERS * 250000L);
    printf("stats: %lu threads created, %lu reaped, %lu live, %lu stop(s) of the world "
           "(%lu us), %lu interrupts sent, %lu run, %lu blocks cached for reuse\n",
           (unsigned long)st.threads_created, (unsigned long)st.threads_reaped,
           (unsigned long)st.threads_live, (unsigned long)st.stops,
           (unsigned long)(st.stop_latency_max_ns / 1000), (unsigned long)st.interrupts_sent,
           (unsigned long)st.interrupts_run, (unsigned long)st.blocks_cached);
    return 0; /* the process exits with this status */
}

int main(void)
{
    static struct sbthread_closure initial = { program, NULL };
    create_initial_thread((lispobj)&initial); /* never returns */
}
