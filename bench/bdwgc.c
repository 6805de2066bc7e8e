/*
 * Stop-the-world round trip, bdwgc versus libsbthread (make bench-bdwgc,
 * part of make bench). One source, built twice:
 *
 *   -DSTW_BDWGC  bdwgc (Debian's libgc-dev, 8.2): GC_INIT in main, threads
 *                made with GC_pthread_create (so registered with the
 *                collector), GC_stop_world_external + GC_start_world_external;
 *                blocking regions: GC_do_blocking.
 *   -DSTW_OURS   libsbthread in standalone mode: create_initial_thread,
 *                threads made with create_thread, gc_stop_the_world +
 *                gc_start_the_world; blocking regions: sbthread_do_blocking.
 *
 * The two cannot share a process: each installs its own stop and resume
 * signal handlers (bdwgc SIGPWR/SIGXCPU, ours SIGRTMIN+1/SIGRTMIN), and a
 * thread registered with both would be stopped by both. bench/run.py runs
 * them in fresh processes, taking turns.
 *
 * Usage: bdwgc-<impl> N blocked|busy|region ROUNDS
 *   N other threads, each blocked in read() on a pipe (blocked), the same
 *   read() inside the implementation's blocking region (region:
 *   GC_do_blocking / sbthread_do_blocking, whose threads a stop does not
 *   signal), or computing in a loop (busy); ROUNDS measured round trips
 *   per pass.
 *        bdwgc-<impl> cost K
 *   The cost of a blocking region with nothing to do inside, in the
 *   calling thread: K calls of do_blocking(a function that returns) in a
 *   row (ns per call); ours also K enter + leave pairs in a row, and the
 *   median of each enter and each leave timed alone (two clock reads
 *   around it, less the median of two clock reads around nothing).
 * Prints one JSON object:
 *   samples           latency of each round trip (stop + start), µs
 *   cpu_samples       the stopper's CPU time (CLOCK_THREAD_CPUTIME_ID) over
 *                     each round trip, µs (pass 2)
 *   stop_samples, stop_cpu_samples   latency and stopper CPU of the stop
 *                     alone (pass 2)
 *   start_samples     latency of the start alone (pass 2)
 *   stopper_cpu_mean_us  pass 1's stopper CPU / ROUNDS (no clock reads
 *                     between the calls)
 *   process_cpu_mean_us  pass 1's CPU of the whole process / ROUNDS: the
 *                     stopper and every thread it stopped (with busy
 *                     threads, mostly their computing)
 *   stopper_sleeps_mean, stopper_preempted_mean  pass 1's voluntary and
 *                     involuntary context switches of the stopper / ROUNDS
 *   cpu_clock_overhead_us  median of what pass 2's clock reads alone add
 *                     to cpu_samples (the same reads with nothing between:
 *                     a thread CPU clock read is a system call, more than a
 *                     whole round trip of threads in blocking regions)
 * Both builds measure with this same code; only the four calls differ.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(STW_BDWGC)
#define GC_THREADS
#include <gc/gc.h>
#define IMPL "bdwgc"
#elif defined(STW_OURS)
#include "sbthread.h"
#define IMPL "ours"
#else
#error "build with -DSTW_BDWGC or -DSTW_OURS"
#endif

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t process_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u
         + ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* The calling thread's voluntary and involuntary context switches. */
static void thread_switches(long *voluntary, long *involuntary)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    *voluntary = ru.ru_nvcsw;
    *involuntary = ru.ru_nivcsw;
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the threads being stopped ---- */
static int stw_pipe[2];
static volatile int done;
static int started;
static volatile uint64_t sink;

static void blocked(void)
{
    __atomic_fetch_add(&started, 1, __ATOMIC_RELEASE);
    char c;
    while (read(stw_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
}

static void *read_pipe_byte(void *arg)
{
    (void)arg;
    char c;
    while (read(stw_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

static void *do_blocking(void *(*fn)(void *), void *arg);

static void region(void)
{
    __atomic_fetch_add(&started, 1, __ATOMIC_RELEASE);
    do_blocking(read_pipe_byte, NULL);
}

static void busy(void)
{
    __atomic_fetch_add(&started, 1, __ATOMIC_RELEASE);
    /* Computes in registers (an LCG), looking at the flag between steps. */
    uint64_t x = (uint64_t)(uintptr_t)&x;
    while (!__atomic_load_n(&done, __ATOMIC_RELAXED))
        for (int i = 0; i < 64; i++)
            x = x * 6364136223846793005u + 1442695040888963407u;
    sink = x;
}

/* ---- the four calls, and thread creation/joining, per implementation ---- */
#if defined(STW_BDWGC)
typedef pthread_t handle;

static void *bdwgc_body(void *arg)
{
    ((void (*)(void))arg)();
    return NULL;
}

static handle spawn(void (*fn)(void))
{
    pthread_t t;
    /* GC_pthread_create registers the new thread with the collector. */
    CHECK(GC_pthread_create(&t, NULL, bdwgc_body, (void *)fn) == 0);
    return t;
}

static void join(handle t)
{
    CHECK(GC_pthread_join(t, NULL) == 0);
}

static void stop_world(void)
{
    GC_stop_world_external();
}

static void start_world(void)
{
    GC_start_world_external();
}

static void *do_blocking(void *(*fn)(void *), void *arg)
{
    return GC_do_blocking(fn, arg);
}
#else
typedef struct thread *handle;

static uintptr_t ours_body(void *arg)
{
    ((void (*)(void))arg)();
    return 0;
}

static handle spawn(void (*fn)(void))
{
    /* Kept until the process exits (create_thread needs the closure until
     * the function is called). */
    struct sbthread_closure *c = malloc(sizeof *c);
    CHECK(c != NULL);
    c->fn = ours_body;
    c->arg = (void *)fn;
    struct thread *th = create_thread((lispobj)c);
    CHECK(th != NULL);
    return th;
}

static void join(handle th)
{
    sbthread_wait_dead(th);
    reap_dead_thread(th);
}

static void stop_world(void)
{
    gc_stop_the_world();
}

static void start_world(void)
{
    gc_start_the_world();
}

/* sbthread_do_blocking's function returns uintptr_t: the call goes
 * through a frame of the caller's, as GC_do_blocking's does. */
struct region_call {
    void *(*fn)(void *);
    void *arg;
};

static uintptr_t call_region_fn(void *p)
{
    struct region_call *c = p;
    return (uintptr_t)c->fn(c->arg);
}

static void *do_blocking(void *(*fn)(void *), void *arg)
{
    struct region_call c = { fn, arg };
    return (void *)sbthread_do_blocking(call_region_fn, &c);
}
#endif

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void emit_array(const char *name, const double *v, long k)
{
    printf(", \"%s\": [", name);
    for (long i = 0; i < k; i++)
        printf("%s%.3f", i ? ", " : "", v[i]);
    printf("]");
}

static const char *const kinds[] = { "blocked", "busy", "region" };
enum { BLOCKED, BUSY, REGION };

static int bench(long n, int kind, long rounds)
{
    CHECK(n >= 1 && rounds >= 1);
    CHECK(pipe(stw_pipe) == 0);
    handle *ths = calloc((size_t)n, sizeof *ths);
    CHECK(ths != NULL);
    for (long i = 0; i < n; i++)
        ths[i] = spawn(kind == BUSY ? busy : kind == REGION ? region : blocked);
    while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < n)
        sleep_us(100);
    sleep_us(20000); /* let the blocked ones reach read() */

    /* Warm-up, as in bench.c: at least 2 round trips and 50 ms, until the
     * scheduler has settled which CPU each thread runs on. */
    for (uint64_t w0 = now(), w = 0; w < 2 || now() - w0 < 50000000u; w++) {
        stop_world();
        start_world();
    }

    double *lat = calloc((size_t)rounds, sizeof(double));
    double *cpu = calloc((size_t)rounds, sizeof(double));
    double *stop_lat = calloc((size_t)rounds, sizeof(double));
    double *stop_cpu = calloc((size_t)rounds, sizeof(double));
    double *start_lat = calloc((size_t)rounds, sizeof(double));
    CHECK(lat && cpu && stop_lat && stop_cpu && start_lat);

    /* Pass 1, latency: nothing but the round trips between clock reads;
     * the stopper's CPU and the process's over the whole pass. */
    long v0, i0, v1, i1;
    thread_switches(&v0, &i0);
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), p0 = process_cpu_ns();
    for (long r = 0; r < rounds; r++) {
        uint64_t t0 = now();
        stop_world();
        start_world();
        lat[r] = (double)(now() - t0) / 1000.0;
    }
    uint64_t c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID), p1 = process_cpu_ns();
    thread_switches(&v1, &i1);

    /* Pass 2, the stopper's CPU per round trip and per stop: its thread
     * CPU clock read before the stop, once the world is stopped, and after
     * the start (the reads themselves count, alike for both). */
    for (long r = 0; r < rounds; r++) {
        uint64_t k0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now();
        stop_world();
        uint64_t w1 = now(), k1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        start_world();
        uint64_t w2 = now(), k2 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        cpu[r] = (double)(k2 - k0) / 1000.0;
        stop_cpu[r] = (double)(k1 - k0) / 1000.0;
        stop_lat[r] = (double)(w1 - w0) / 1000.0;
        start_lat[r] = (double)(w2 - w1) / 1000.0;
    }

    /* What pass 2's reads cost by themselves. */
    double *clock_cpu = calloc((size_t)rounds, sizeof(double));
    CHECK(clock_cpu);
    for (long r = 0; r < rounds; r++) {
        uint64_t k0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now();
        uint64_t w1 = now(), k1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t w2 = now(), k2 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        clock_cpu[r] = (double)(k2 - k0) / 1000.0;
        (void)w0, (void)w1, (void)w2, (void)k1;
    }
    qsort(clock_cpu, (size_t)rounds, sizeof(double), compare_double);

    printf("{\"bench\": \"bdwgc-stw\", \"impl\": \"%s\", \"n\": %ld, \"kind\": \"%s\", \"unit\": \"us\", "
           "\"rounds\": %ld, \"stopper_cpu_mean_us\": %.3f, \"process_cpu_mean_us\": %.3f, "
           "\"stopper_sleeps_mean\": %.3f, \"stopper_preempted_mean\": %.3f, \"cpu_clock_overhead_us\": %.3f",
           IMPL, n, kinds[kind], rounds, (double)(c1 - c0) / 1000.0 / (double)rounds,
           (double)(p1 - p0) / 1000.0 / (double)rounds, (double)(v1 - v0) / (double)rounds,
           (double)(i1 - i0) / (double)rounds, clock_cpu[rounds / 2]);
    emit_array("samples", lat, rounds);
    emit_array("cpu_samples", cpu, rounds);
    emit_array("stop_samples", stop_lat, rounds);
    emit_array("stop_cpu_samples", stop_cpu, rounds);
    emit_array("start_samples", start_lat, rounds);
    printf("}\n");
    fflush(stdout);

    __atomic_store_n(&done, 1, __ATOMIC_RELAXED);
    for (long i = 0; i < n; i++)
        CHECK(write(stw_pipe[1], "x", 1) == 1);
    for (long i = 0; i < n; i++)
        join(ths[i]);
    return 0;
}

/* ---- the cost of a region with nothing inside ---- */
static void *nothing(void *arg)
{
    return arg;
}

static __attribute__((unused)) int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static __attribute__((unused)) double median_ns(uint64_t *v, long k)
{
    qsort(v, (size_t)k, sizeof *v, compare_u64);
    return (double)v[k / 2];
}

static int cost(long k)
{
    CHECK(k >= 1000);
    for (long i = 0; i < k; i++) /* warm-up */
        do_blocking(nothing, NULL);
    uint64_t t0 = now();
    for (long i = 0; i < k; i++)
        do_blocking(nothing, NULL);
    double wrapped = (double)(now() - t0) / (double)k;
    printf("{\"bench\": \"region-cost\", \"impl\": \"%s\", \"k\": %ld, \"do_blocking_ns\": %.2f", IMPL, k, wrapped);
#if defined(STW_OURS)
    t0 = now();
    for (long i = 0; i < k; i++) {
        sbthread_blocking_enter();
        sbthread_blocking_leave();
    }
    double pair = (double)(now() - t0) / (double)k;
    uint64_t *clock = calloc((size_t)k, sizeof *clock), *enter = calloc((size_t)k, sizeof *enter),
             *leave = calloc((size_t)k, sizeof *leave);
    CHECK(clock && enter && leave);
    for (long i = 0; i < k; i++) {
        uint64_t a = now(), b = now();
        clock[i] = b - a;
    }
    for (long i = 0; i < k; i++) {
        uint64_t a = now();
        sbthread_blocking_enter();
        uint64_t b = now();
        sbthread_blocking_leave();
        uint64_t c = now();
        enter[i] = b - a;
        leave[i] = c - b;
    }
    double overhead = median_ns(clock, k);
    printf(", \"pair_ns\": %.2f, \"clock_overhead_ns\": %.2f, \"enter_ns\": %.2f, \"leave_ns\": %.2f", pair,
           overhead, median_ns(enter, k) - overhead, median_ns(leave, k) - overhead);
    free(clock);
    free(enter);
    free(leave);
#endif
    printf("}\n");
    fflush(stdout);
    return 0;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s N blocked|busy|region ROUNDS\n       %s cost K\n", argv0, argv0);
    return 2;
}

static int run(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "cost"))
        return cost(atol(argv[2]));
    if (argc != 4)
        return usage(argv[0]);
    for (int kind = 0; kind < 3; kind++)
        if (!strcmp(argv[2], kinds[kind]))
            return bench(atol(argv[1]), kind, atol(argv[3]));
    return usage(argv[0]);
}

#if defined(STW_BDWGC)
int main(int argc, char **argv)
{
    GC_INIT(); /* registers the main thread, the stopper */
    return run(argc, argv);
}
#else
static int g_argc;
static char **g_argv;

static uintptr_t program(void *arg)
{
    (void)arg;
    return (uintptr_t)run(g_argc, g_argv);
}

int main(int argc, char **argv)
{
    static struct sbthread_closure initial = { program, NULL };
    g_argc = argc;
    g_argv = argv;
    create_initial_thread((lispobj)&initial); /* never returns */
}
#endif
