/*
 * Thread-memory reuse (both modes): with the cache on, a reaped thread's
 * block is handed to the next thread — same address, guard page still
 * protected, TLS and struct fields fresh (nothing of the previous thread
 * shows through), binding stack back to its start. With the cache off,
 * every block is unmapped at reaping. The cache never holds more than its
 * bound, and lowering the bound unmaps the excess at once.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <string.h>

#define FIXNUM(n) ((lispobj)(n) << 3)

struct seen {
    struct thread *self;
    lispobj word300;
    long bsp_offset;
};

/* While set, scribble waits before it returns (the thread stays alive). */
static volatile int hold;

static uintptr_t scribble(void *arg)
{
    struct seen *s = arg;
    struct thread *me = sbthread_current();
    while (__atomic_load_n(&hold, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    s->self = me;
    s->word300 = ((lispobj *)me)[300];
    s->bsp_offset = (char *)me->binding_stack_pointer - (char *)me->binding_stack_start;
    /* leave marks a fresh thread must not see */
    ((lispobj *)me)[300] = FIXNUM(777);
    me->tls_cookie = FIXNUM(99);
    memset(me->binding_stack_pointer, 0xEE, 4096);
    return 0;
}

static int guard_protected(struct thread *th)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int prot = -1;
    while (fgets(line, sizeof line, f)) {
        char *p;
        unsigned long lo = strtoul(line, &p, 16), hi = strtoul(p + 1, &p, 16);
        if ((unsigned long)th->control_stack_start >= lo && (unsigned long)th->control_stack_start < hi)
            prot = p[2] != 'w';
    }
    fclose(f);
    return prot == 1;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct sbthread_stats st;
    sbthread_set_block_cache_limit(2);
    struct seen a = { 0 }, b = { 0 };
    struct thread *t1 = harness_spawn(scribble, &a);
    harness_join(t1);
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, 1);
    __atomic_store_n(&hold, 1, __ATOMIC_RELEASE);
    struct thread *t2 = harness_spawn(scribble, &b);
    CHECK(t2 == t1);                  /* the same block again */
    CHECK(t2->SBTHREAD_THIS == t2);
    CHECK(guard_protected(t2));       /* still protected */
    __atomic_store_n(&hold, 0, __ATOMIC_RELEASE);
    harness_join(t2);
    CHECK(b.self == t2);
    CHECK_EQ(b.word300, SBTHREAD_UNBOUND_MARKER); /* the mark did not survive */
    CHECK_EQ(b.bsp_offset, a.bsp_offset);        /* bindings start afresh */

    /* the bound holds: 3 dead threads, 2 cached, 1 unmapped */
    struct seen c[3];
    struct thread *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = harness_spawn(scribble, &c[i]);
    for (int i = 0; i < 3; i++)
        harness_join(ts[i]);
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, 2);
    CHECK_EQ(st.block_cache_limit, 2);
    int maps = harness_count_mappings();
    CHECK_EQ(sbthread_set_block_cache_limit(0), 2);
    sbthread_stats(&st);
    CHECK_EQ(st.blocks_cached, 0);
    CHECK(harness_under_tool() || harness_count_mappings() < maps); /* unmapped at once */

    /* cache off: a new thread gets a fresh mapping, reaping unmaps it */
    maps = harness_count_mappings();
    struct seen d = { 0 };
    harness_join(harness_spawn(scribble, &d));
    CHECK_MAPPINGS(harness_count_mappings(), maps);
    CHECK_EQ(d.word300, SBTHREAD_UNBOUND_MARKER);
    printf("block_reuse: reaped blocks reused (same address, guard kept, TLS fresh), bound of 2 "
           "kept, cache off unmaps at once\n");
    return 0;
}
