/*
 * No interrupt is handled inside the join of reap_dead_thread
 * (src/lifecycle/reap.rs).
 *
 * 0.9.4.1 reaps dead threads from finalizers, in whichever thread
 * collected, and its TERMINATE-THREAD runs QUIT, a Lisp throw, in the
 * interrupted thread. glibc's pthread_join frees the joined thread's
 * descriptor holding its stack-list lock: a handler that unwinds out of
 * the join leaves that lock taken, and the next pthread_create of the
 * process waits for it forever (a hang of sbcl/lisp/stress-terminate.lisp:
 * the creator in allocate_stack on _rtld_global's stack lock, the stopper
 * on all_threads_lock behind it).
 *
 * This test wraps pthread_join and pthread_tryjoin_np (the library's calls
 * bind to the executable's, which is linked -rdynamic in host mode; the
 * static build calls them directly) and checks, at every call the library
 * makes while reaping, that SIG_INTERRUPT_THREAD is blocked. It also sends
 * the reaper an interrupt signal right before each join (from the wrapper
 * itself, to itself): it must be handled only after reap_dead_thread has
 * returned. Before the fix, the join ran with the deferrables unblocked
 * and both checks failed.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

enum { THREADS = 50 };

static volatile int in_reap, in_join, joins_seen, joins_unblocked, handled_inside, handled;

static void on_interrupt(int sig)
{
    (void)sig;
    if (in_join)
        handled_inside++;
    handled++;
}

/* Inside a join of a reap: whether SIG_INTERRUPT_THREAD is blocked; records
 * the call, and sends the signal to the calling thread, which must not take
 * it inside the join (an unblocked one is handled at once). */
static void check_mask(void)
{
    if (!in_reap)
        return;
    in_join = 1;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    joins_seen++;
    if (!sigismember(&cur, SIGRTMIN))
        joins_unblocked++;
    pthread_kill(pthread_self(), SIGRTMIN);
}

typedef int join_fn(pthread_t, void **);

/* libc's NAME (found once into *REAL), called between the checks. */
static int joined(join_fn **real, const char *name, pthread_t t, void **ret)
{
    if (!*real)
        *real = (join_fn *)dlsym(RTLD_NEXT, name);
    check_mask();
    int r = (*real)(t, ret);
    in_join = 0;
    return r;
}

int pthread_join(pthread_t t, void **ret)
{
    static join_fn *real;
    return joined(&real, "pthread_join", t, ret);
}

int pthread_tryjoin_np(pthread_t t, void **ret)
{
    static join_fn *real;
    return joined(&real, "pthread_tryjoin_np", t, ret);
}

static uintptr_t nothing(void *arg)
{
    return (uintptr_t)arg;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (!harness_host_mode()) {
        printf("reap_join: host mode only (the runtime's interrupts are what unwinds)\n");
        return 0;
    }
    /* The test host's SIG_INTERRUPT_THREAD handler pops a queued function;
     * here a plain one counts the signals sent by the wrappers. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGRTMIN, &sa, &old), 0);
    for (int i = 0; i < THREADS; i++) {
        struct thread *th = harness_spawn(nothing, NULL);
        sbthread_wait_dead(th);
        int before = handled;
        in_reap = 1;
        reap_dead_thread(th);
        in_reap = 0;
        /* Delivered once the reap unblocked it, before it returned here. */
        CHECK(handled > before);
    }
    CHECK_EQ(sigaction(SIGRTMIN, &old, NULL), 0);
    printf("reap_join: %d reaps, %d join calls: %d with SIG_INTERRUPT_THREAD unblocked, %d signals handled inside "
           "a join (0 and 0 expected), %d in all\n",
           THREADS, joins_seen, joins_unblocked, handled_inside, handled);
    CHECK(joins_seen >= THREADS);
    CHECK_EQ(joins_unblocked, 0);
    CHECK_EQ(handled_inside, 0);
    return 0;
}
