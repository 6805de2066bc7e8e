/*
 * Floors: what Linux allows on this machine for the work each library
 * benchmark does, written as plainly as possible (no library). Same
 * output format as bench.c.
 *
 *   create K               pthread_create (preallocated 2 MiB stack) + join
 *   create2 K              the same from 2 concurrent creator threads
 *   (stw and orig-stw take an optional 5th argument GAP: µs of untimed
 *   pause after each round trip, so that the resumed threads run first)
 *   stw N blocked|busy R   signal all N, each acks (last one futex-wakes the
 *                          stopper), resume with one futex broadcast
 *   orig-stw N blocked|busy R  the 0.9.4.1 algorithm, translated directly:
 *                          all_threads_lock (a pthread mutex), per-thread
 *                          signal, sched_yield until SUSPENDED, one signal
 *                          per thread to resume; its handler blocks every
 *                          other signal, then waits in sigwaitinfo (as the
 *                          0.9.4.1 handler and the test host's handler do)
 *   irq-latency busy|sleep K  pthread_kill -> handler running (+ semaphore ack)
 *   futex K                futex wake/wait round trip between two threads
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(volatile uint32_t *w, uint32_t v)
{
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}


static void futex_wake(volatile uint32_t *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static void emit(const char *name, long n, const double *s, long count, const char *extra)
{
    printf("{\"bench\": \"%s\", \"mode\": \"floor\", \"n\": %ld, \"unit\": \"us\", \"samples\": [", name, n);
    for (long i = 0; i < count; i++)
        printf("%s%.3f", i ? ", " : "", s[i]);
    printf("]%s%s}\n", extra ? ", " : "", extra ? extra : "");
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* ---- create ---- */
static void *nothing(void *arg)
{
    return arg;
}

static void create_loop(long k, double *s)
{
    size_t sz = 2 << 20;
    void *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, stack, sz - 16);
    /* Warm-up, as in bench.c: at least 50 threads and 50 ms. */
    for (uint64_t w0 = now(), w = 0; w < 50 || now() - w0 < 50000000u; w++) {
        pthread_t t;
        if (pthread_create(&t, &a, nothing, NULL))
            die("pthread_create");
        pthread_join(t, NULL);
    }
    for (long i = 0; i < k; i++) {
        uint64_t t0 = now();
        pthread_t t;
        if (pthread_create(&t, &a, nothing, NULL))
            die("pthread_create");
        pthread_join(t, NULL);
        s[i] = (double)(now() - t0) / 1000.0;
    }
}

struct creator_arg {
    long k;
    double *s;
};

static void *creator(void *arg)
{
    struct creator_arg *c = arg;
    create_loop(c->k, c->s);
    return NULL;
}

/* `creators` threads each creating and joining k threads. */
static int floor_create(long k, int creators)
{
    double *s = calloc((size_t)(k * creators), sizeof(double));
    if (creators == 1) {
        create_loop(k, s);
    } else {
        pthread_t t[2];
        struct creator_arg args[2];
        for (int i = 0; i < 2; i++) {
            args[i].k = k;
            args[i].s = s + i * k;
            pthread_create(&t[i], NULL, creator, &args[i]);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
    }
    emit(creators == 1 ? "create" : "create2", k, s, k * creators, NULL);
    return 0;
}

/* ---- stop-the-world, best case ---- */
#define SIG_STOP (SIGRTMIN + 1)
static volatile uint32_t pending, resume_seq, done;
static volatile uint32_t *states;
static __thread long my_index;
static int blk_pipe[2];

static void floor_stop_handler(int sig)
{
    (void)sig;
    int saved = errno;
    uint32_t seq = resume_seq;
    states[my_index] = 2;
    if (__atomic_sub_fetch(&pending, 1, __ATOMIC_ACQ_REL) == 0)
        futex_wake(&pending);
    while (resume_seq == seq)
        futex_wait(&resume_seq, seq);
    states[my_index] = 1;
    errno = saved;
}

/* ---- the original algorithm (host-style handler) ---- */
static void orig_stop_handler(int sig)
{
    (void)sig;
    int saved = errno;
    sigset_t ss;
    sigfillset(&ss);
    sigdelset(&ss, SIG_STOP);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    states[my_index] = 2; /* SUSPENDED */
    sigemptyset(&ss);
    sigaddset(&ss, SIG_STOP);
    while (sigwaitinfo(&ss, NULL) < 0 && errno == EINTR) {
    }
    errno = saved;
}

struct worker {
    long index;
    int busy;
};

static void *worker(void *arg)
{
    struct worker *w = arg;
    my_index = w->index;
    states[my_index] = 1;
    if (w->busy) {
        while (!done) {
        }
    } else {
        char c;
        while (read(blk_pipe[0], &c, 1) < 0 && errno == EINTR) {
        }
    }
    return NULL;
}

static double thread_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec * 1e6
           + (double)ru.ru_stime.tv_usec;
}

static pthread_mutex_t orig_all_threads_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Stop every worker: the floor (signal all, the last to stop wakes us) or
 * the original (signal each, sched_yield until each is SUSPENDED; the
 * lock is held until stw_start, as in 0.9.4.1). */
static void stw_stop(pthread_t *ts, long n, int original)
{
    if (!original) {
        pending = (uint32_t)n;
        for (long i = 0; i < n; i++)
            pthread_kill(ts[i], SIG_STOP);
        uint32_t p;
        while ((p = pending) != 0)
            futex_wait(&pending, p);
    } else {
        pthread_mutex_lock(&orig_all_threads_lock);
        for (long i = 0; i < n; i++)
            pthread_kill(ts[i], SIG_STOP);
        for (long i = 0; i < n; i++)
            while (states[i] != 2)
                sched_yield();
    }
}

/* Resume them: one futex broadcast, or one signal each. */
static void stw_start(pthread_t *ts, long n, int original)
{
    if (!original) {
        __atomic_add_fetch(&resume_seq, 1, __ATOMIC_ACQ_REL);
        futex_wake(&resume_seq);
    } else {
        for (long i = 0; i < n; i++) {
            states[i] = 1; /* RUNNING */
            pthread_kill(ts[i], SIG_STOP);
        }
        pthread_mutex_unlock(&orig_all_threads_lock);
    }
}

static int floor_stw(long n, int busy, long rounds, int original, long gap_us)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = original ? orig_stop_handler : floor_stop_handler;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIG_STOP, &sa, NULL))
        die("sigaction");
    if (pipe(blk_pipe))
        die("pipe");
    states = calloc((size_t)n, sizeof *states);
    pthread_t *ts = calloc((size_t)n, sizeof *ts);
    struct worker *ws = calloc((size_t)n, sizeof *ws);
    for (long i = 0; i < n; i++) {
        ws[i].index = i;
        ws[i].busy = busy;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 256 << 10);
        if (pthread_create(&ts[i], &a, worker, &ws[i]))
            die("pthread_create");
    }
    for (long i = 0; i < n; i++)
        while (states[i] != 1)
            usleep(100);
    usleep(20000);
    double *s = calloc((size_t)rounds, sizeof(double));
    double cpu0 = 0;
    uint64_t wall0 = 0;
    /* Warm-up, as in bench.c: at least 2 round trips and 50 ms. */
    for (uint64_t w0 = now(), w = 0; w < 2 || now() - w0 < 50000000u; w++) {
        stw_stop(ts, n, original);
        stw_start(ts, n, original);
    }
    cpu0 = thread_cpu_us();
    wall0 = now();
    for (long r = 0; r < rounds; r++) {
        uint64_t t0 = now();
        stw_stop(ts, n, original);
        stw_start(ts, n, original);
        s[r] = (double)(now() - t0) / 1000.0;
        if (gap_us)
            usleep((useconds_t)gap_us);
    }
    double wall = (double)(now() - wall0) / 1000.0;
    double cpu = thread_cpu_us() - cpu0;
    /* the stopper's CPU inside the stop, measured as bench.c does */
    uint64_t stop_cpu = 0, stop_wall = 0;
    for (long r = 0; r < rounds; r++) {
        uint64_t c0 = thread_cpu_ns(), w0 = now();
        stw_stop(ts, n, original);
        uint64_t w1 = now(), c1 = thread_cpu_ns();
        stw_start(ts, n, original);
        stop_cpu += c1 - c0;
        stop_wall += w1 - w0;
        if (gap_us)
            usleep((useconds_t)gap_us);
    }
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"kind\": \"%s\", \"stopper_cpu_us\": %.1f, \"wall_us\": %.1f, \"in_stop_cpu_us\": %.1f, "
             "\"in_stop_wall_us\": %.1f, \"gap_us\": %ld",
             busy ? "busy" : "blocked", cpu, wall, (double)stop_cpu / 1000.0, (double)stop_wall / 1000.0, gap_us);
    emit(original ? "orig_stw" : "stw", n, s, rounds, extra);
    done = 1;
    for (long i = 0; i < n; i++)
        if (write(blk_pipe[1], "x", 1) != 1)
            die("write");
    for (long i = 0; i < n; i++)
        pthread_join(ts[i], NULL);
    return 0;
}

/* ---- interrupt latency ---- */
#define SIG_IRQ SIGRTMIN
static volatile uint64_t irq_at;
static sem_t irq_ack;

static void irq_handler(int sig)
{
    (void)sig;
    irq_at = now();
    sem_post(&irq_ack);
}

static void *irq_target(void *arg)
{
    int busy = (int)(intptr_t)arg;
    while (!done) {
        if (!busy) {
            struct timespec ts = { 1, 0 };
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static int floor_irq(int busy, long k)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = irq_handler;
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIG_IRQ, &sa, NULL))
        die("sigaction");
    sem_init(&irq_ack, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, irq_target, (void *)(intptr_t)busy);
    usleep(10000);
    double *s = calloc((size_t)k, sizeof(double));
    for (long i = -20; i < k; i++) {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
        irq_at = 0;
        uint64_t t0 = now();
        pthread_kill(t, SIG_IRQ);
        while (sem_wait(&irq_ack) < 0 && errno == EINTR) {
        }
        if (i >= 0)
            s[i] = (double)(irq_at - t0) / 1000.0;
    }
    emit(busy ? "irq_latency_busy" : "irq_latency_sleep", k, s, k, NULL);
    done = 1;
    pthread_kill(t, SIG_IRQ);
    pthread_join(t, NULL);
    return 0;
}

/* ---- futex round trip ---- */
static volatile uint32_t ping, pong;

static void *ponger(void *arg)
{
    long k = (long)arg;
    for (long i = 1; i <= k; i++) {
        while (ping != i)
            futex_wait(&ping, (uint32_t)(i - 1));
        pong = (uint32_t)i;
        futex_wake(&pong);
    }
    return NULL;
}

static int floor_futex(long k)
{
    pthread_t t;
    pthread_create(&t, NULL, ponger, (void *)(k + 20));
    double *s = calloc((size_t)k, sizeof(double));
    for (long i = 1; i <= k + 20; i++) {
        uint64_t t0 = now();
        ping = (uint32_t)i;
        futex_wake(&ping);
        while (pong != i)
            futex_wait(&pong, (uint32_t)(i - 1));
        if (i > 20)
            s[i - 21] = (double)(now() - t0) / 1000.0;
    }
    pthread_join(t, NULL);
    emit("futex", k, s, k, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *w = argv[1];
    long a = argc > 2 ? atol(argv[2]) : 0;
    if (!strcmp(w, "create"))
        return floor_create(a ? a : 2000, 1);
    if (!strcmp(w, "create2"))
        return floor_create(a ? a : 1000, 2);
    if (!strcmp(w, "stw") || !strcmp(w, "orig-stw"))
        return floor_stw(a, argc > 3 && !strcmp(argv[3], "busy"), argc > 4 ? atol(argv[4]) : 100,
                         !strcmp(w, "orig-stw"), argc > 5 ? atol(argv[5]) : 0);
    if (!strcmp(w, "irq-latency"))
        return floor_irq(argc > 2 && !strcmp(argv[2], "busy"), argc > 3 ? atol(argv[3]) : 1000);
    if (!strcmp(w, "futex"))
        return floor_futex(a ? a : 10000);
    return 2;
}
