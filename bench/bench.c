/*
 * libsbthread benchmarks (make bench). Linked like a C test: with the
 * standalone main, or with the host-mode test host (c-tests/host/host.c).
 * Usage: bench-<mode> <what> [args]; prints one JSON object per line:
 *   {"bench": NAME, "n": N, "unit": "us", "samples": [...], ...}
 * bench/run.py runs everything, repeats, and writes BENCHMARKS.md.
 *
 *   create K            create + wait DEAD + reap, K times, sequential
 *   create2 K           the same from 2 concurrent creator threads
 *   stw N blocked|busy R [GAP]  R stop/start round trips with N other
 *                       threads; GAP µs of pause after each (untimed), so
 *                       that the resumed threads run before the next stop
 *   irq-latency busy|sleep K   interrupt_thread -> function running
 *   irq-throughput SENDERS K   interrupts/s to one busy target
 *   memory K            mapped/resident bytes per live thread, after reap
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <semaphore.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static uint64_t now(void)
{
    return harness_now_ns();
}

static const char *mode(void)
{
    return harness_host_mode() ? "host" : "standalone";
}

static void emit(const char *name, long n, const double *samples, long count, const char *extra)
{
    printf("{\"bench\": \"%s\", \"mode\": \"%s\", \"n\": %ld, \"unit\": \"us\", \"samples\": [", name,
           mode(), n);
    for (long i = 0; i < count; i++)
        printf("%s%.3f", i ? ", " : "", samples[i]);
    printf("]%s%s}\n", extra ? ", " : "", extra ? extra : "");
    fflush(stdout);
}

static uintptr_t nothing(void *arg)
{
    (void)arg;
    return 0;
}

/* Uses 64 KiB of stack, then ends (as a Lisp thread's function would). */
static uintptr_t deep_then_return(void *arg)
{
    volatile char deep[64 << 10];
    for (long k = 0; k < (long)sizeof deep; k += 512)
        deep[k] = (char)k;
    (void)arg;
    return (uintptr_t)deep[0];
}

/* ---- 1. create + reap ---- */
static double *create_samples;

static void create_loop(long k, double *out)
{
    struct sbthread_closure *c = harness_closure(nothing, NULL);
    /* Warm-up (fills the block cache), as in floor.c: at least 50 threads
     * and 50 ms, until the scheduler has settled. */
    for (uint64_t w0 = now(), w = 0; w < 50 || now() - w0 < 50000000u; w++) {
        struct thread *th = create_thread((lispobj)c);
        CHECK(th != NULL);
        sbthread_wait_dead(th);
        reap_dead_thread(th);
    }
    for (long i = 0; i < k; i++) {
        uint64_t t0 = now();
        struct thread *th = create_thread((lispobj)c);
        CHECK(th != NULL);
        sbthread_wait_dead(th);
        reap_dead_thread(th);
        out[i] = (double)(now() - t0) / 1000.0;
    }
}

static uintptr_t creator(void *arg)
{
    create_loop((long)((uintptr_t *)arg)[0], (double *)((uintptr_t *)arg)[1]);
    return 0;
}

static int bench_create(long k, int creators)
{
    create_samples = calloc((size_t)(k * creators), sizeof(double));
    if (creators == 1) {
        create_loop(k, create_samples);
    } else {
        uintptr_t args[2][2];
        struct thread *ths[2];
        for (int i = 0; i < 2; i++) {
            args[i][0] = (uintptr_t)k;
            args[i][1] = (uintptr_t)(create_samples + i * k);
            ths[i] = harness_spawn(creator, args[i]);
        }
        for (int i = 0; i < 2; i++)
            harness_join(ths[i]);
    }
    emit(creators == 1 ? "create" : "create2", k, create_samples, k * creators, NULL);
    return 0;
}

/* ---- 2. stop-the-world round trip ---- */
static volatile int stw_done;
static int stw_pipe[2];

static uintptr_t blocked(void *arg)
{
    (void)arg;
    char c;
    while (read(stw_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
}

static uintptr_t busy(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stw_done, __ATOMIC_RELAXED)) {
    }
    return 0;
}

static double thread_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec * 1e6
           + (double)ru.ru_stime.tv_usec;
}

/* CPU time of the calling thread, in ns (a system call). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int bench_stw(long n, int is_busy, long rounds, long gap_us)
{
    CHECK(pipe(stw_pipe) == 0);
    struct thread **ths = calloc((size_t)n, sizeof *ths);
    for (long i = 0; i < n; i++)
        ths[i] = harness_spawn(is_busy ? busy : blocked, NULL);
    for (long i = 0; i < n; i++)
        while (ths[i]->state != SBTHREAD_STATE_RUNNING)
            harness_sleep_us(100);
    harness_sleep_us(20000); /* let the blocked ones reach read() */
    double *s = calloc((size_t)rounds, sizeof(double));
    /* Warm-up, as in floor.c: at least 2 round trips and 50 ms, until the
     * scheduler has settled which CPU each thread runs on (the first stops
     * of a process may wake threads across CPUs, up to 4x slower here). */
    for (uint64_t w0 = now(), w = 0; w < 2 || now() - w0 < 50000000u; w++) {
        gc_stop_the_world();
        gc_start_the_world();
    }
    struct sbthread_stats st0, st1;
    sbthread_stats(&st0);
    /* Pass 1, latency: nothing but the round trips between clock reads. */
    double cpu0 = thread_cpu_us();
    uint64_t wall0 = now();
    for (long r = 0; r < rounds; r++) {
        uint64_t t0 = now();
        gc_stop_the_world();
        gc_start_the_world();
        s[r] = (double)(now() - t0) / 1000.0;
        if (gap_us)
            harness_sleep_us(gap_us);
    }
    double wall = (double)(now() - wall0) / 1000.0;
    double cpu = thread_cpu_us() - cpu0;
    sbthread_stats(&st1);
    /* Pass 2, the stopper's CPU time inside gc_stop_the_world (from the
     * call to the world being stopped), measured around the call. The two
     * clock reads add a little CPU of their own: the share is, if anything,
     * overstated. */
    uint64_t stop_cpu = 0, stop_wall = 0;
    for (long r = 0; r < rounds; r++) {
        uint64_t c0 = thread_cpu_ns(), w0 = now();
        gc_stop_the_world();
        uint64_t w1 = now(), c1 = thread_cpu_ns();
        gc_start_the_world();
        stop_cpu += c1 - c0;
        stop_wall += w1 - w0;
        if (gap_us)
            harness_sleep_us(gap_us);
    }
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"kind\": \"%s\", \"stopper_cpu_us\": %.1f, \"wall_us\": %.1f, "
             "\"stop_mean_us\": %.1f, \"wait_mean_us\": %.1f, \"in_stop_cpu_us\": %.1f, \"in_stop_wall_us\": %.1f, "
             "\"signals_by_stopper\": %llu, \"signals_by_helpers\": %llu, \"gap_us\": %ld",
             is_busy ? "busy" : "blocked", cpu, wall,
             (double)(st1.stop_latency_mean_ns * st1.stops - st0.stop_latency_mean_ns * st0.stops) / 1000.0 / (double)rounds,
             (double)(st1.stop_wait_ns - st0.stop_wait_ns) / 1000.0 / (double)rounds, (double)stop_cpu / 1000.0,
             (double)stop_wall / 1000.0,
             (unsigned long long)(st1.stop_signals_by_stopper - st0.stop_signals_by_stopper),
             (unsigned long long)(st1.stop_signals_by_helpers - st0.stop_signals_by_helpers), gap_us);
    emit("stw", n, s, rounds, extra);
    __atomic_store_n(&stw_done, 1, __ATOMIC_RELAXED);
    for (long i = 0; i < n; i++)
        CHECK(write(stw_pipe[1], "x", 1) == 1);
    for (long i = 0; i < n; i++)
        harness_join(ths[i]);
    return 0;
}

/* ---- 3. interrupts ---- */
static volatile uint64_t irq_ran_at;
static volatile long irq_count;
static volatile int irq_done;
static sem_t irq_ack;

/* The interrupt function: records when it ran and acknowledges, as the
 * floor's handler does (sem_post is async-signal-safe). */
static uintptr_t record_time(void *arg)
{
    (void)arg;
    irq_ran_at = now();
    sem_post(&irq_ack);
    return 0;
}

static uintptr_t count_irq(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&irq_count, 1, __ATOMIC_RELAXED);
    return 0;
}

static uintptr_t sleeping(void *arg)
{
    (void)arg;
    while (!irq_done) {
        struct timespec ts = { 1, 0 };
        nanosleep(&ts, NULL);
    }
    return 0;
}

static uintptr_t spinning(void *arg)
{
    (void)arg;
    while (!irq_done) {
    }
    return 0;
}

static int bench_irq_latency(int is_busy, long k)
{
    struct thread *t = harness_spawn(is_busy ? spinning : sleeping, NULL);
    while (t->state != SBTHREAD_STATE_RUNNING)
        harness_sleep_us(100);
    struct sbthread_closure *f = harness_closure(record_time, NULL);
    double *s = calloc((size_t)k, sizeof(double));
    sem_init(&irq_ack, 0, 0);
    for (long i = -20; i < k; i++) {
        harness_sleep_us(200); /* let a sleeping target fall asleep again */
        irq_ran_at = 0;
        uint64_t t0 = now();
        CHECK_EQ(interrupt_thread(t, (lispobj)f), 0);
        while (sem_wait(&irq_ack) < 0 && errno == EINTR) {
        }
        if (i >= 0)
            s[i] = (double)(irq_ran_at - t0) / 1000.0;
    }
    emit(is_busy ? "irq_latency_busy" : "irq_latency_sleep", k, s, k, NULL);
    irq_done = 1;
    /* Wake a sleeper. Not a busy target: it returns as soon as it sees
     * irq_done, and an interrupt accepted just before may then be refused
     * or (host mode) dropped at its exit, never acknowledged. */
    if (!is_busy && interrupt_thread(t, (lispobj)f) == 0)
        while (sem_wait(&irq_ack) < 0 && errno == EINTR) {
        }
    harness_join(t);
    irq_done = 0;
    return 0;
}

static struct thread *irq_target;
static struct sbthread_closure *irq_fn;

static uintptr_t irq_sender(void *arg)
{
    long k = (long)arg;
    for (long i = 0; i < k; i++)
        CHECK_EQ(interrupt_thread(irq_target, (lispobj)irq_fn), 0);
    return 0;
}

static int bench_irq_throughput(int senders, long k)
{
    irq_target = harness_spawn(spinning, NULL);
    irq_fn = harness_closure(count_irq, NULL);
    double rates[5];
    for (int rep = 0; rep < 5; rep++) {
        irq_count = 0;
        uint64_t t0 = now();
        struct thread *s[2];
        for (int i = 0; i < senders; i++)
            s[i] = harness_spawn(irq_sender, (void *)(k / senders));
        for (int i = 0; i < senders; i++)
            harness_join(s[i]);
        while (irq_count < (k / senders) * senders) {
        }
        double secs = (double)(now() - t0) / 1e9;
        rates[rep] = (double)irq_count / secs;
    }
    char name[64];
    snprintf(name, sizeof name, "irq_throughput_%d", senders);
    printf("{\"bench\": \"%s\", \"mode\": \"%s\", \"n\": %ld, \"unit\": \"per_s\", \"samples\": [%.0f, %.0f, %.0f, %.0f, %.0f]}\n",
           name, mode(), k, rates[0], rates[1], rates[2], rates[3], rates[4]);
    irq_done = 1;
    harness_join(irq_target);
    irq_done = 0;
    return 0;
}

/* ---- 4. memory ---- */
static void vm(long *size_kb, long *rss_kb)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "VmSize: %ld kB", size_kb);
        sscanf(line, "VmRSS: %ld kB", rss_kb);
    }
    fclose(f);
}

static int bench_memory(long k)
{
    long s0, r0, s1, r1, s2, r2, s3, r3;
    CHECK(pipe(stw_pipe) == 0);
    sbthread_set_block_cache_limit(0);
    harness_join(harness_spawn(nothing, NULL)); /* first-use mappings */
    unsigned old = sbthread_set_block_cache_limit(4);
    (void)old;
    vm(&s0, &r0);
    struct thread **ths = calloc((size_t)k, sizeof *ths);
    for (long i = 0; i < k; i++)
        ths[i] = harness_spawn(blocked, NULL);
    harness_sleep_us(20000);
    vm(&s1, &r1);
    for (long i = 0; i < k; i++)
        CHECK(write(stw_pipe[1], "x", 1) == 1);
    for (long i = 0; i < k; i++)
        harness_join(ths[i]);
    vm(&s2, &r2);
    struct sbthread_stats st;
    sbthread_stats(&st);
    sbthread_set_block_cache_limit(0);
    vm(&s3, &r3);
    /* Dead but not reaped (where 0.9.4.1 leaves every thread until a GC
     * runs its finalizer): threads that used 64 KiB of stack end; their
     * blocks stay registered. */
    long s4, r4, s5, r5;
    int maps4 = harness_count_mappings();
    vm(&s4, &r4);
    for (long i = 0; i < k; i++)
        ths[i] = harness_spawn(deep_then_return, NULL);
    for (long i = 0; i < k; i++)
        sbthread_wait_dead(ths[i]);
    harness_sleep_us(50000); /* the last ones leave their pthreads */
    vm(&s5, &r5);
    int maps5 = harness_count_mappings();
    for (long i = 0; i < k; i++)
        reap_dead_thread(ths[i]);
    printf("{\"bench\": \"memory\", \"mode\": \"%s\", \"n\": %ld, \"mapped_per_thread_kb\": %.1f, "
           "\"resident_per_thread_kb\": %.1f, \"cached_blocks\": %lu, \"mapped_after_reap_kb\": %ld, "
           "\"resident_after_reap_kb\": %ld, \"mapped_after_cache_off_kb\": %ld, "
           "\"resident_after_cache_off_kb\": %ld, \"dead_resident_per_thread_kb\": %.1f, "
           "\"dead_maps_per_thread\": %.2f, \"cached_cold_blocks\": %lu}\n",
           mode(), k, (double)(s1 - s0) / (double)k, (double)(r1 - r0) / (double)k,
           (unsigned long)st.blocks_cached, s2 - s0, r2 - r0, s3 - s0, r3 - r0,
           (double)(r5 - r4) / (double)k, (double)(maps5 - maps4) / (double)k,
           (unsigned long)st.blocks_cached_cold);
    free(ths);
    return 0;
}

int test_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s create|create2|stw|irq-latency|irq-throughput|memory ...\n", argv[0]);
        return 2;
    }
    const char *what = argv[1];
    long a = argc > 2 ? atol(argv[2]) : 0;
    if (!strcmp(what, "create"))
        return bench_create(a ? a : 2000, 1);
    if (!strcmp(what, "create2"))
        return bench_create(a ? a : 1000, 2);
    if (!strcmp(what, "stw"))
        return bench_stw(a, argc > 3 && !strcmp(argv[3], "busy"), argc > 4 ? atol(argv[4]) : 100,
                         argc > 5 ? atol(argv[5]) : 0);
    if (!strcmp(what, "irq-latency"))
        return bench_irq_latency(argc > 2 && !strcmp(argv[2], "busy"), argc > 3 ? atol(argv[3]) : 1000);
    if (!strcmp(what, "irq-throughput"))
        return bench_irq_throughput((int)a, argc > 3 ? atol(argv[3]) : 100000);
    if (!strcmp(what, "memory"))
        return bench_memory(a ? a : 32);
    fprintf(stderr, "unknown benchmark %s\n", what);
    return 2;
}
