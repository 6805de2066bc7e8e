/*
 * What a DEAD thread keeps until it is reaped (both modes).
 *
 * Threads that used a deep stack and dirtied their TLS area past its
 * first page end (with the block cache off, so that each one gives back
 * its memory: see src/thread/dormant.rs); before anyone reaps them the
 * test checks, from /proc and mincore: each block has at most 3 resident
 * pages (the top of its control stack, where glibc's descriptor and the
 * library's private words live, the page below it, and the first page of
 * the TLS area with the struct), the guard page of those that died with
 * more than 256 dead threads waiting is writable again (so such a block is
 * one map entry), and the struct still says DEAD. Then everything is reaped, and new
 * threads, on the same blocks from the cache, run with their guard page
 * protected again and a TLS area copied afresh from their creator's.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* N dead threads at once: more than src/thread/dormant.rs's GUARD_AFTER (256),
 * so the last of them also unprotect their guard page. */
enum { N = 300, GUARD_AFTER = 256, REUSE = 4, DEEP = 256 << 10, TLS_WORD = 600 /* past the TLS area's first page */ };

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

/* Resident pages of the thread's block: its mapping from control_stack_start
 * to the end of the TLS area's neighbourhood (the whole block). */
static int resident_pages(struct thread *th, size_t bytes)
{
    size_t n = bytes / (size_t)page;
    unsigned char *v = malloc(n);
    CHECK(v != NULL);
    CHECK_EQ(mincore(th->control_stack_start, bytes, v), 0);
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

/* Re-run with SBTHREAD_GIVE_BACK=0: a dead thread keeps its memory. */
static int keeps_memory(void)
{
    sbthread_set_block_cache_limit(0);
    struct thread *t = harness_spawn(busy, (void *)0L);
    sbthread_wait_dead(t);
    harness_sleep_us(50000); /* its pthread leaves; a kept block only stays as it is */
    size_t block = (size_t)((char *)t - (char *)t->control_stack_start) + (size_t)dynamic_values_bytes;
    int r = resident_pages(t, block);
    int w = guard_writable(t);
    reap_dead_thread(t);
    printf("with SBTHREAD_GIVE_BACK=0 a dead thread kept %d resident pages, guard page %s\n", r,
           w ? "writable" : "protected");
    return r > 3 && w == 0 ? 0 : 1;
}

int test_main(int argc, char **argv)
{
    page = sysconf(_SC_PAGESIZE);
    if (argc > 1 && !strcmp(argv[1], "keep"))
        return keeps_memory();
    struct thread *me = sbthread_current();
    ((lispobj *)me)[TLS_WORD] = (lispobj)(4242 << 3);
    struct thread *th[N];
    /* A dead thread gives back only when more dead threads wait to be
     * reaped than the block cache holds: with the cache off, every one. */
    unsigned old_limit = sbthread_set_block_cache_limit(0);
    /* A few dead threads (far fewer than GUARD_AFTER) give back their
     * memory but keep their guard page: an mprotect each is not worth it. */
    enum { FEW = 8 };
    for (long i = 0; i < FEW; i++)
        th[i] = harness_spawn(busy, (void *)i);
    for (int i = 0; i < FEW; i++)
        sbthread_wait_dead(th[i]);
    if (!harness_under_tool()) {
        size_t blk = (size_t)((char *)th[0] - (char *)th[0]->control_stack_start) + (size_t)dynamic_values_bytes;
        for (int i = 0; i < FEW; i++) {
            int r = 0;
            for (int tries = 0; tries < 1000 && (r = resident_pages(th[i], blk)) > 3; tries++)
                harness_sleep_us(1000);
            CHECK(r <= 3);
            CHECK_EQ(guard_writable(th[i]), 0);
        }
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
    size_t block = (size_t)((char *)th[0] - (char *)th[0]->control_stack_start) + (size_t)dynamic_values_bytes;
    for (int i = 0; i < N; i++) {
        CHECK(th[i]->state == SBTHREAD_STATE_DEAD);
        CHECK(th[i]->SBTHREAD_THIS == th[i]); /* the struct (TLS page 0) is intact */
        if (harness_under_tool())
            continue; /* such tools keep their own per-thread memory */
        int r = 0;
        for (int tries = 0; tries < 1000; tries++) {
            r = resident_pages(th[i], block);
            if (r <= 3)
                break;
            harness_sleep_us(1000);
        }
        if (r > 3) {
            fprintf(stderr, "dead thread %d keeps %d resident pages of its block (at most 3 expected)\n", i, r);
            CHECK(0);
        }
    }
    /* The guard page: unprotected by the threads that died with more than
     * GUARD_AFTER waiting (a few dead threads keep it: see the start). */
    int writable = 0;
    if (!harness_under_tool()) {
        for (int tries = 0; tries < 1000; tries++) {
            writable = 0;
            for (int i = 0; i < N; i++)
                writable += guard_writable(th[i]) == 1;
            if (writable >= N - GUARD_AFTER - 1)
                break;
            harness_sleep_us(1000);
        }
        /* The k-th thread to die finds at least k dead threads waiting
         * (none is reaped yet): the last N - GUARD_AFTER unprotect. A
         * thread may give back later than it died, and then see more. */
        CHECK(writable >= N - GUARD_AFTER - 1);
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
    if (!harness_under_tool()) {
        char out[512];
        int status = harness_run_self("keep", "SBTHREAD_GIVE_BACK=0", out, sizeof out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "SBTHREAD_GIVE_BACK=0 did not keep a dead thread's memory: %s\n", out);
            CHECK(0);
        }
    }
    printf("dormant: %d dead threads kept at most 3 resident pages of their blocks; %d of them (those that "
           "died with more than %d waiting) no guard page; %d more ran on reused blocks with the guard page "
           "protected again\n", N, writable, GUARD_AFTER, REUSE);
    return 0;
}
