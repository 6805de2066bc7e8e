/*
 * The block cache's cold tier (both modes; src/thread/block_cache.rs).
 *
 * N threads die while none is reaped, so all but the first WARM give
 * their memory back (src/thread/dormant.rs: more dead threads wait than
 * the warm tier holds), in batches that leave at most BATCH - 1 waiting.
 * Reaping them all keeps WARM blocks as they are and every given-back
 * block beyond those in the cold tier (each holding at most 3 resident
 * pages), and unmaps only the few that were never given back. N new
 * threads alive at once then run on those very blocks (no new mapping),
 * with a fresh TLS and their guard page protected. Turning the cache off
 * empties both tiers and gives the mappings back. In children: with an
 * address-space limit set after the give-back and before the reaping, no
 * block goes cold (its address space is what the limit counts); with
 * SBTHREAD_BLOCK_CACHE_COLD=0 neither.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* WARM: the default warm bound; BATCH: dormant.rs's batch; TLS_WORD: a
 * word past the TLS area's first page. */
enum { N = 48, WARM = 4, BATCH = 8, TLS_WORD = 600, DEFAULT_COLD = 128 };

static volatile int hold;
static volatile int guard_protected[N];
static volatile lispobj tls_seen[N];

static uintptr_t work(void *arg)
{
    long i = (long)arg;
    struct thread *me = sbthread_current();
    guard_protected[i] = !harness_mapping_writable(me->control_stack_start);
    tls_seen[i] = ((volatile lispobj *)me)[TLS_WORD];
    while (__atomic_load_n(&hold, __ATOMIC_ACQUIRE))
        harness_sleep_us(100);
    /* a mark the next thread on this block must not see, and some stack */
    ((volatile lispobj *)me)[TLS_WORD] = (lispobj)(i << 3);
    volatile char deep[64 << 10];
    for (long k = 0; k < (long)sizeof deep; k += 512)
        deep[k] = (char)k;
    return (uintptr_t)deep[512];
}

/* Starts N threads that return at once and waits until each is DEAD,
 * none reaped; then until the give-back shows (at most BATCH - 1 blocks
 * plus the first WARM keep more than 3 resident pages). Sets light[i] if
 * the block of th[i] was given back by then. */
static void die_unreaped(struct thread **th, void **start, size_t *bytes, int *light)
{
    for (long i = 0; i < N; i++)
        th[i] = harness_spawn(work, (void *)i);
    for (int i = 0; i < N; i++)
        sbthread_wait_dead(th[i]);
    *bytes = harness_block_bytes(th[0]);
    for (int i = 0; i < N; i++) {
        start[i] = th[i]->control_stack_start;
        light[i] = 0;
    }
    if (harness_under_tool())
        return;
    int heavy = N;
    for (int tries = 0; tries < 1000 && heavy > WARM + BATCH - 1; tries++) {
        heavy = 0;
        for (int i = 0; i < N; i++) {
            light[i] = harness_resident_pages(start[i], *bytes) <= 3;
            heavy += !light[i];
        }
        if (heavy > WARM + BATCH - 1)
            harness_sleep_us(1000);
    }
    CHECK(heavy <= WARM + BATCH - 1);
}

/* Child: an address-space limit set between the give-back and the reap. */
static int limit_then_reap(void)
{
    struct thread *th[N];
    void *start[N];
    size_t bytes;
    int light[N];
    die_unreaped(th, start, &bytes, light);
    struct rlimit as = { .rlim_cur = (rlim_t)1 << 46, .rlim_max = RLIM_INFINITY };
    CHECK_EQ(setrlimit(RLIMIT_AS, &as), 0);
    for (int i = 0; i < N; i++)
        reap_dead_thread(th[i]);
    struct sbthread_stats st;
    sbthread_stats(&st);
    printf("under RLIMIT_AS: %llu warm, %llu cold\n", (unsigned long long)st.blocks_cached,
           (unsigned long long)st.blocks_cached_cold);
    return st.blocks_cached == WARM && st.blocks_cached_cold == 0 ? 0 : 1;
}

/* Child, run with SBTHREAD_BLOCK_CACHE_COLD=0. */
static int no_cold_tier(void)
{
    struct thread *th[N];
    void *start[N];
    size_t bytes;
    struct sbthread_stats st;
    sbthread_stats(&st);
    CHECK_EQ(st.cold_block_cache_limit, 0);
    int light[N];
    die_unreaped(th, start, &bytes, light);
    for (int i = 0; i < N; i++)
        reap_dead_thread(th[i]);
    sbthread_stats(&st);
    printf("SBTHREAD_BLOCK_CACHE_COLD=0: %llu warm, %llu cold\n", (unsigned long long)st.blocks_cached,
           (unsigned long long)st.blocks_cached_cold);
    return st.blocks_cached == WARM && st.blocks_cached_cold == 0 ? 0 : 1;
}

static int in_set(void *p, void **set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == p)
            return 1;
    return 0;
}

int test_main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "limit"))
        return limit_then_reap();
    if (argc > 1 && !strcmp(argv[1], "nocold"))
        return no_cold_tier();
    struct rlimit as;
    CHECK_EQ(getrlimit(RLIMIT_AS, &as), 0);
    if (as.rlim_cur != RLIM_INFINITY) {
        printf("SKIP: RLIMIT_AS is set (no block goes cold then; a child below checks that)\n");
        return 77;
    }
    /* Baseline: the cache off, one thread made and reaped. */
    sbthread_set_block_cache_limit(0);
    harness_join(harness_spawn(work, (void *)0L));
    int baseline = harness_count_mappings();
    CHECK_EQ(sbthread_set_block_cache_limit(WARM), 0);
    struct sbthread_stats st;
    sbthread_stats(&st);
    CHECK_EQ(st.cold_block_cache_limit, DEFAULT_COLD);

    struct thread *th[N];
    void *start[N];
    size_t bytes;
    int light[N];
    die_unreaped(th, start, &bytes, light);
    for (int i = 0; i < N; i++)
        reap_dead_thread(th[i]);
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, WARM);
    /* Cold: every given-back block past the WARM reaped first (the first
     * to die, which gave nothing back); a block may have been given back
     * after light[] was read, not before. */
    long cold = (long)st.blocks_cached_cold, given = 0;
    for (int i = WARM; i < N; i++)
        given += light[i];
    if (cold < given || cold > N - WARM || cold < N / 2) {
        fprintf(stderr, "%ld blocks went cold: %ld were seen given back, at most %d\n", cold, given, N - WARM);
        CHECK(0);
    }
    void *cached[N];
    int mapped = 0, heavy = 0;
    if (!harness_under_tool()) {
        for (int i = 0; i < N; i++) {
            int r = harness_resident_pages(start[i], bytes);
            if (r >= 0)
                cached[mapped++] = start[i];
            heavy += r > 3;
        }
        /* The cached blocks stay mapped, the others are gone; of those
         * kept, only warm ones may hold more than 3 pages. */
        CHECK_EQ(mapped, WARM + cold);
        CHECK(heavy <= WARM);
    }

    /* N threads alive at once: every cached block is taken again. */
    __atomic_store_n(&hold, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < N; i++)
        th[i] = harness_spawn(work, (void *)i);
    /* (A fresh mapping may land where an unmapped block was: only the
     * blocks still mapped after the reap count.) */
    int reused = 0;
    for (int i = 0; i < N; i++)
        reused += in_set(th[i]->control_stack_start, cached, mapped);
    if (!harness_under_tool())
        CHECK_EQ(reused, WARM + cold);
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, 0);
    CHECK_EQ(st.blocks_cached_cold, 0);
    __atomic_store_n(&hold, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < N; i++) {
        harness_join(th[i]);
        CHECK(guard_protected[i]);
        CHECK_EQ(tls_seen[i], SBTHREAD_UNBOUND_MARKER);
    }
    /* The warm tier refilled (threads that died with others waiting may
     * have gone cold again). */
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, WARM);

    CHECK_EQ(sbthread_set_block_cache_limit(0), WARM);
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, 0);
    CHECK_EQ(st.blocks_cached_cold, 0);
    CHECK_EQ(st.cold_block_cache_limit, 0);
    CHECK_MAPPINGS(harness_count_mappings(), baseline);
    sbthread_set_block_cache_limit(WARM);
    sbthread_stats(&st);
    CHECK_EQ(st.cold_block_cache_limit, DEFAULT_COLD);

    char out[512];
    int status = harness_run_self("limit", NULL, out, sizeof out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "blocks went cold under an address-space limit: %s\n", out);
        CHECK(0);
    }
    printf("%s", out);
    status = harness_run_self("nocold", "SBTHREAD_BLOCK_CACHE_COLD=0", out, sizeof out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "SBTHREAD_BLOCK_CACHE_COLD=0 did not turn the cold tier off: %s\n", out);
        CHECK(0);
    }
    printf("%s", out);
    printf("cold_cache: %d dead threads, %d warm and %ld cold blocks after the reap (at most 3 resident pages "
           "each), all %ld taken again by %d live threads (fresh TLS, guard protected); cache off: mappings "
           "back to the baseline\n",
           N, WARM, cold, WARM + cold, N);
    return 0;
}
