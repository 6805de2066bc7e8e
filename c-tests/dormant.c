/*
 * What a DEAD thread keeps until it is reaped (both modes).
 *
 * Threads that used a deep stack and dirtied their TLS area past its
 * first page end (with the block cache off, so that each one gives back
 * its memory: see src/thread/dormant.rs); before anyone reaps them the
 * test checks, from /proc and mincore: every block but those of at most
 * BATCH - 1 threads (their give-back waits for a later dying thread's
 * batch) has at most 3 resident pages (the top of its control stack,
 * where glibc's descriptor and the library's private words live, the page
 * below it, and the first page of the TLS area with the struct), the guard
 * page of those given back with more than 256 dead threads waiting is
 * writable again (so such a block is one map entry), and the struct still
 * says DEAD. Then everything is reaped, and new
 * threads, on the same blocks from the cache, run with their guard page
 * protected again and a TLS area copied afresh from their creator's.
 *
 * Under an address-space limit (RLIMIT_AS, set in a child; under
 * ASan/valgrind SBTHREAD_GIVE_BACK=unmap instead) a dead thread gives back
 * address space too: the test checks from /proc/self/maps that each dead
 * block keeps at most 150 KiB mapped, that its holes (the control stack
 * below the top 128 KiB, the binding stack past its first page with the
 * alien stack, the signal stack) are unmapped (mincore says ENOMEM), and
 * that the struct and its first binding page are intact; then, with a
 * foreign mapping put into one hole, that reaping unmaps every piece left
 * and not the foreign mapping, and caches none of those blocks; and that
 * threads dying one at a time, each exited before the next dies, keep at
 * most 72 KiB each but the last (each dying thread unmaps the stack margin
 * the one before it kept for its exit: src/thread/holes.rs).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* N dead threads at once: more than src/thread/dormant.rs's GUARD_AFTER (256),
 * so the last of them also unprotect their guard page. */
enum { N = 300, GUARD_AFTER = 256, REUSE = 4, DEEP = 256 << 10, TLS_WORD = 600 /* past the TLS area's first page */ };
/* src/thread/dormant.rs's BATCH: a dying thread leaves its give-back to a
 * later one's batch while fewer than BATCH - 1 others wait, so at most
 * BATCH - 1 dead threads keep their memory at any time. */
enum { BATCH = 8 };

static long page;

/* 1 if the guard page (the block's first page) is writable, 0 if not. */
static int guard_writable(struct thread *th)
{
    return harness_mapping_writable(th->control_stack_start);
}

static volatile int guard_was_protected[N + REUSE];

static uintptr_t busy(void *arg)
{
    long i = (long)arg;
    struct thread *me = sbthread_current();
    guard_was_protected[i] = !guard_writable(me);
    /* a deep stack, touched page by page */
    volatile char deep[DEEP];
    for (long k = 0; k < DEEP; k += 512)
        deep[k] = (char)k;
    /* a TLS word past the first page, as a Lisp special bound late would */
    ((volatile lispobj *)me)[TLS_WORD] = (lispobj)(i << 3);
    return (uintptr_t)deep[DEEP - 512];
}

/* Resident pages of the thread's block (which stays mapped until it is
 * reaped). */
static int resident_pages(struct thread *th, size_t bytes)
{
    int r = harness_resident_pages(th->control_stack_start, bytes);
    CHECK(r >= 0);
    return r;
}

/* Mapped bytes of /proc/self/maps within [lo, hi). */
static size_t mapped_in(uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        char *e;
        uintptr_t a = strtoul(line, &e, 16), b = strtoul(e + 1, NULL, 16);
        if (a < lo)
            a = lo;
        if (b > hi)
            b = hi;
        if (b > a)
            n += b - a;
    }
    fclose(f);
    return n;
}

/* 1 if mincore says the page at p is not mapped. */
static int unmapped_page(uintptr_t p)
{
    unsigned char v;
    return mincore((void *)p, (size_t)page, &v) == -1 && errno == ENOMEM;
}

enum { HOLED = 64, CONTROL = 2 << 20, KEEP_MAX = 150 << 10, TOP_KEPT = 128 << 10, ALTSTACK_MIN = 256 << 10 };

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static uintptr_t gated(void *arg)
{
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return busy(arg);
}

/* The block of th from its start to past the least signal stack. */
static uintptr_t block_lo(struct thread *th) { return (uintptr_t)th->control_stack_start; }
static uintptr_t block_hi(struct thread *th) { return (uintptr_t)th + (uintptr_t)dynamic_values_bytes + ALTSTACK_MIN; }

/* Tasks of this process. */
static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

enum { SEQ = 12, TRIMMED_MAX = 72 << 10 };
static pthread_mutex_t gates[SEQ];

static uintptr_t gated_one(void *arg)
{
    long i = (long)arg;
    pthread_mutex_lock(&gates[i]);
    pthread_mutex_unlock(&gates[i]);
    return busy(arg);
}

/* One at a time, each exited before the next dies: each dying thread also
 * unmaps the margin of stack the one before it kept for its exit. */
static int trims_margins(void)
{
    struct thread *th[SEQ];
    sbthread_set_block_cache_limit(0);
    for (long i = 0; i < SEQ; i++) {
        pthread_mutex_init(&gates[i], NULL);
        pthread_mutex_lock(&gates[i]);
        th[i] = harness_spawn(gated_one, (void *)i);
    }
    for (int i = 0; i < SEQ; i++) {
        int tasks = count_tasks();
        pthread_mutex_unlock(&gates[i]);
        sbthread_wait_dead(th[i]);
        int tries = 0;
        while (count_tasks() >= tasks && tries++ < 5000)
            harness_sleep_us(200);
        CHECK(tries < 5000);
    }
    size_t worst = 0;
    for (int i = 0; i < SEQ - 1 && !harness_under_tool(); i++) {
        size_t kept = mapped_in(block_lo(th[i]), block_hi(th[i]));
        if (kept > TRIMMED_MAX) {
            fprintf(stderr, "dead thread %d (not the last) keeps %zu KiB of its block mapped (at most %d expected)\n",
                    i, kept >> 10, TRIMMED_MAX >> 10);
            return 1;
        }
        if (kept > worst)
            worst = kept;
    }
    for (int i = 0; i < SEQ; i++)
        reap_dead_thread(th[i]);
    if (!harness_under_tool())
        fprintf(stderr, "%d dead threads, one at a time: at most %zu KiB each once the next one had died\n", SEQ,
                worst >> 10);
    return 0;
}


/* Child: under an address-space limit, dead threads unmap what nobody reads. */
static int makes_holes(void)
{
    if (!harness_under_tool()) {
        /* A finite RLIMIT_AS, far above what the test maps: the library
         * then gives back address space on its own. */
        struct rlimit r;
        CHECK_EQ(getrlimit(RLIMIT_AS, &r), 0);
        r.rlim_cur = (rlim_t)64 << 30;
        if (r.rlim_max != RLIM_INFINITY && r.rlim_cur > r.rlim_max)
            r.rlim_cur = r.rlim_max;
        CHECK_EQ(setrlimit(RLIMIT_AS, &r), 0);
    }
    sbthread_set_block_cache_limit(0);
    struct thread *th[HOLED];
    /* All made first, then released: no thread maps anything while the
     * others make their holes, so the holes stay empty for the checks. */
    pthread_mutex_lock(&gate);
    for (long i = 0; i < HOLED; i++)
        th[i] = harness_spawn(gated, (void *)i);
    pthread_mutex_unlock(&gate);
    for (int i = 0; i < HOLED; i++)
        sbthread_wait_dead(th[i]);
    size_t worst = 0;
    /* Such tools map memory of their own, into the holes too: they only
     * run the code (and see that nothing reads or unmaps amiss). */
    for (int i = 0; i < HOLED && !harness_under_tool(); i++) {
        /* It gives back after DEAD, on its way out: bounded wait. */
        size_t kept = 0;
        for (int tries = 0; tries < 2000; tries++) {
            kept = mapped_in(block_lo(th[i]), block_hi(th[i]));
            if (kept <= KEEP_MAX)
                break;
            harness_sleep_us(1000);
        }
        if (kept > KEEP_MAX) {
            fprintf(stderr, "dead thread %d keeps %zu KiB of its block mapped (at most %d expected)\n", i,
                    kept >> 10, KEEP_MAX >> 10);
            return 1;
        }
        if (kept > worst)
            worst = kept;
        uintptr_t lo = block_lo(th[i]), tls = (uintptr_t)th[i];
        uintptr_t holes[][2] = {
            { lo, lo + CONTROL - TOP_KEPT },                       /* the stack, with the guard page */
            { lo + CONTROL + (uintptr_t)page, tls },               /* binding stack's rest, alien stack */
            { tls + (uintptr_t)dynamic_values_bytes, block_hi(th[i]) }, /* the signal stack */
        };
        for (int h = 0; h < 3; h++) {
            if (mapped_in(holes[h][0], holes[h][1]) != 0 || !unmapped_page(holes[h][0]) ||
                !unmapped_page(holes[h][1] - (uintptr_t)page)) {
                fprintf(stderr, "dead thread %d: hole %d [%#lx, %#lx) still mapped\n", i, h,
                        (unsigned long)holes[h][0], (unsigned long)holes[h][1]);
                return 1;
            }
        }
        CHECK(th[i]->state == SBTHREAD_STATE_DEAD);
        CHECK(th[i]->SBTHREAD_THIS == th[i]);
        CHECK(!unmapped_page((uintptr_t)th[i]->binding_stack_start));
        CHECK(!unmapped_page(tls + (uintptr_t)dynamic_values_bytes - (uintptr_t)page));
        CHECK(!unmapped_page(lo + CONTROL - (uintptr_t)page)); /* glibc's descriptor */
    }
    /* Someone else's mapping in a hole of the first block: reaping must
     * unmap the pieces left around it, never the whole block. */
    uintptr_t in_hole = block_lo(th[0]) + CONTROL + 2 * (uintptr_t)page;
    volatile char *foreign = NULL;
    if (!harness_under_tool()) {
        foreign = mmap((void *)in_hole, (size_t)page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        CHECK(foreign == (volatile char *)in_hole);
        foreign[0] = 42;
    }
    /* A cache would take them if they were cacheable. */
    sbthread_set_block_cache_limit(REUSE);
    uintptr_t lo[HOLED], hi[HOLED];
    for (int i = 0; i < HOLED; i++) {
        lo[i] = block_lo(th[i]);
        hi[i] = block_hi(th[i]);
        reap_dead_thread(th[i]);
    }
    for (int i = 0; i < HOLED && foreign; i++) {
        size_t left = mapped_in(lo[i], hi[i]);
        size_t expect = i == 0 ? (size_t)page : 0;
        if (left != expect) {
            fprintf(stderr, "reaped block %d: %zu bytes still mapped (%zu expected)\n", i, left, expect);
            return 1;
        }
    }
    if (foreign) {
        CHECK_EQ(foreign[0], 42);
        munmap((void *)foreign, (size_t)page);
    }
    /* New threads run (fresh blocks: none was cached). */
    for (long i = 0; i < REUSE; i++) {
        struct thread *t = harness_spawn(busy, (void *)(N + i));
        sbthread_wait_dead(t);
        reap_dead_thread(t);
    }
    if (harness_under_tool())
        fprintf(stderr, "%d dead threads made holes and were reaped (address space not measured under this tool)\n",
                HOLED);
    else
        fprintf(stderr, "%d dead threads kept at most %zu KiB of address space each; their holes unmapped\n", HOLED,
                worst >> 10);
    return trims_margins();
}

/* Re-run with SBTHREAD_GIVE_BACK=0: a dead thread keeps its memory. */
static int keeps_memory(void)
{
    sbthread_set_block_cache_limit(0);
    struct thread *t = harness_spawn(busy, (void *)0L);
    sbthread_wait_dead(t);
    harness_sleep_us(50000); /* its pthread leaves; a kept block only stays as it is */
    size_t block = harness_block_bytes(t);
    int r = resident_pages(t, block);
    int w = guard_writable(t);
    reap_dead_thread(t);
    printf("with SBTHREAD_GIVE_BACK=0 a dead thread kept %d resident pages, guard page %s\n", r,
           w ? "writable" : "protected");
    return r > 3 && w == 0 ? 0 : 1;
}

/* How many of the COUNT dead threads TH keep more than 3 resident pages
 * of their blocks, once the count stops falling (a thread gives back after
 * it is DEAD, on its way out; a batch, once the threads in it exited): at
 * most a second of waiting. */
static int kept_memory(struct thread **th, int count, size_t bytes)
{
    int kept = count;
    for (int tries = 0; tries < 1000; tries++) {
        kept = 0;
        for (int i = 0; i < count; i++)
            kept += resident_pages(th[i], bytes) > 3;
        if (kept <= BATCH - 1)
            break;
        harness_sleep_us(1000);
    }
    return kept;
}

int test_main(int argc, char **argv)
{
    page = sysconf(_SC_PAGESIZE);
    if (argc > 1 && !strcmp(argv[1], "keep"))
        return keeps_memory();
    if (argc > 1 && !strcmp(argv[1], "holes"))
        return makes_holes();
    struct rlimit as;
    CHECK_EQ(getrlimit(RLIMIT_AS, &as), 0);
    if (as.rlim_cur != RLIM_INFINITY) {
        printf("SKIP: RLIMIT_AS is set (the library then unmaps; the child below sets its own)\n");
        return 77;
    }
    struct thread *me = sbthread_current();
    ((lispobj *)me)[TLS_WORD] = (lispobj)(4242 << 3);
    struct thread *th[N];
    /* A dead thread gives back only when more dead threads wait to be
     * reaped than the block cache holds: with the cache off, every one. */
    unsigned old_limit = sbthread_set_block_cache_limit(0);
    /* A few dead threads (far fewer than GUARD_AFTER) give back their
     * memory, but for at most BATCH - 1 of them, and keep their guard page:
     * an mprotect each is not worth it. */
    enum { FEW = 2 * BATCH };
    for (long i = 0; i < FEW; i++)
        th[i] = harness_spawn(busy, (void *)i);
    for (int i = 0; i < FEW; i++)
        sbthread_wait_dead(th[i]);
    if (!harness_under_tool()) {
        size_t blk = harness_block_bytes(th[0]);
        CHECK(kept_memory(th, FEW, blk) <= BATCH - 1);
        for (int i = 0; i < FEW; i++)
            CHECK_EQ(guard_writable(th[i]), 0);
    }
    for (int i = 0; i < FEW; i++)
        reap_dead_thread(th[i]);
    for (long i = 0; i < N; i++)
        th[i] = harness_spawn(busy, (void *)i);
    for (int i = 0; i < N; i++) {
        sbthread_wait_dead(th[i]);
        CHECK(guard_was_protected[i]);
    }
    /* A thread gives back its memory after it is DEAD, on its way out of
     * its pthread: wait (bounded) until each block shows it. */
    size_t block = harness_block_bytes(th[0]);
    for (int i = 0; i < N; i++) {
        CHECK(th[i]->state == SBTHREAD_STATE_DEAD);
        CHECK(th[i]->SBTHREAD_THIS == th[i]); /* the struct (TLS page 0) is intact */
    }
    /* Such tools keep their own per-thread memory. */
    int kept = harness_under_tool() ? 0 : kept_memory(th, N, block);
    if (kept > BATCH - 1) {
        fprintf(stderr, "%d dead threads keep more than 3 resident pages of their blocks (at most %d expected)\n",
                kept, BATCH - 1);
        CHECK(0);
    }
    /* The guard page: unprotected by the threads that died with more than
     * GUARD_AFTER waiting (a few dead threads keep it: see the start). */
    int writable = 0;
    if (!harness_under_tool()) {
        for (int tries = 0; tries < 1000; tries++) {
            writable = 0;
            for (int i = 0; i < N; i++)
                writable += guard_writable(th[i]) == 1;
            if (writable >= N - GUARD_AFTER - BATCH)
                break;
            harness_sleep_us(1000);
        }
        /* The k-th thread to die finds at least k dead threads waiting
         * (none is reaped yet): the last N - GUARD_AFTER unprotect, but
         * those still waiting for a batch (at most BATCH - 1). A thread may
         * give back later than it died, and then see more. */
        CHECK(writable >= N - GUARD_AFTER - BATCH);
    }
    /* Reaped in order of death: the cache keeps blocks of the last ones,
     * whose guard page was unprotected. */
    sbthread_set_block_cache_limit(REUSE);
    for (int i = 0; i < N; i++)
        reap_dead_thread(th[i]);
    /* Reuse: the same blocks from the cache, guard page protected again. */
    for (long i = 0; i < REUSE; i++)
        th[i] = harness_spawn(busy, (void *)(N + i));
    for (int i = 0; i < REUSE; i++) {
        sbthread_wait_dead(th[i]);
        CHECK(guard_was_protected[N + i]);
        reap_dead_thread(th[i]);
    }
    sbthread_set_block_cache_limit(old_limit);
    ((lispobj *)me)[TLS_WORD] = SBTHREAD_UNBOUND_MARKER;
    char out[512];
    if (!harness_under_tool()) {
        int status = harness_run_self("keep", "SBTHREAD_GIVE_BACK=0", out, sizeof out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "SBTHREAD_GIVE_BACK=0 did not keep a dead thread's memory: %s\n", out);
            CHECK(0);
        }
    }
    int status = harness_run_self("holes", harness_under_tool() ? "SBTHREAD_GIVE_BACK=unmap" : NULL, out, sizeof out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "dead threads did not give back their address space: %s\n", out);
        CHECK(0);
    }
    printf("%s", out);
    printf("dormant: %d dead threads kept at most 3 resident pages of their blocks but %d (waiting for a batch; "
           "at most %d); %d of them (those given back with more than %d waiting) no guard page; %d more ran on "
           "reused blocks with the guard page protected again\n", N, kept, BATCH - 1, writable, GUARD_AFTER, REUSE);
    return 0;
}
