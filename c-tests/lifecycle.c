/*
 * Thread lifecycle (spec sections 3 and 8), in both modes:
 *  - the initial thread's block layout, struct fields, TLS and bindings;
 *  - threads created, run exactly once, see themselves registered and
 *    RUNNING with a protected guard page, become DEAD, are reaped;
 *  - all_threads and the process's mappings are back where they were;
 *  - a mapping failure (RLIMIT_AS, in a child) makes create_thread return
 *    NULL with all_threads and the mappings unchanged, for the block and
 *    for the interrupt data.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)
#define FIXNUM(n) ((lispobj)(n) << 3)
#define SYMBOL_TLS_INDEX(tagged) (((lispobj *)((tagged) - 0xF))[6])

enum { NTHREADS = 8 };

/* Defined by the test host (host mode only): calls of its hook. */
extern long host_region_updates __attribute__((weak));
extern long host_region_closes __attribute__((weak));

struct job {
    struct thread *self_seen;
    unsigned long os_thread_seen;
    lispobj state_seen;
    int guard_protected;
    int runs;
    long result;
};

static int guard_page_protected(struct thread *th)
{
    return harness_mapping_writable(th->control_stack_start) == 0;
}

/* End of the run of contiguous mappings that contains addr (tools such as
 * ASan may split one mapping into several). */
static unsigned long mapping_end(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long end = 0;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f)) {
        char *p;
        unsigned long lo = strtoul(line, &p, 16);
        unsigned long hi = strtoul(p + 1, &p, 16);
        if (((unsigned long)addr >= lo && (unsigned long)addr < hi) || (end && lo == end))
            end = hi;
    }
    fclose(f);
    return end;
}

static uintptr_t work(void *arg)
{
    struct job *j = arg;
    struct thread *me = sbthread_current();
    j->self_seen = me;
    j->os_thread_seen = (unsigned long)pthread_self();
    j->state_seen = me->state;
    j->guard_protected = guard_page_protected(me);
    long sum = 0;
    for (long i = 1; i <= 100000; i++)
        sum += i % 7;
    j->result = sum;
    __sync_fetch_and_add(&j->runs, 1);
    return 42;
}

static void check_struct(struct thread *th, int started)
{
    char *start = (char *)th->control_stack_start;
    CHECK(th->SBTHREAD_THIS == th);
    CHECK((char *)th->binding_stack_start == start + 2 * MIB);
    CHECK(th->control_stack_end == th->binding_stack_start);
    CHECK((char *)th->alien_stack_start == start + 3 * MIB);
    CHECK((char *)th->alien_stack_pointer == start + 4 * MIB - 8);
    CHECK((char *)th == start + 4 * MIB); /* TLS area right after the alien stack */
    CHECK(th->interrupt_fun == SBTHREAD_NIL);
    CHECK(th->interrupt_fun_lock == 0);
    /* until its trampoline takes it, the word holds the initial function */
    if (started)
        CHECK(th->unbound_marker == SBTHREAD_UNBOUND_MARKER);
    CHECK(th->pseudo_atomic_atomic == 0 && th->pseudo_atomic_interrupted == 0);
    /* emptied at creation; in host mode the test host's Lisp model marks
     * it in use (last_page 1) once the thread runs, maybe already */
    CHECK(th->alloc_region.free_pointer == NULL &&
          (th->alloc_region.last_page == -1 || (harness_host_mode() && th->alloc_region.last_page == 1)));
    /* seven bindings of two words were made on the binding stack */
    CHECK_EQ((char *)th->binding_stack_pointer - (char *)th->binding_stack_start, 7 * 16);
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_INTERRUPTS_ENABLED, th), SBTHREAD_T);
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_INTERRUPT_PENDING, th), SBTHREAD_NIL);
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, th), SBTHREAD_NIL);
    /* the whole block is one mapping (apart from the guard page split) that
     * holds the TLS area and at least 32 * max(8192, SIGSTKSZ) after it */
    long sigstksz = sysconf(_SC_SIGSTKSZ);
    unsigned long need = (unsigned long)th + (unsigned long)dynamic_values_bytes
                         + 32UL * (unsigned long)(sigstksz > 8192 ? sigstksz : 8192);
    if (mapping_end(th) < need) {
        fprintf(stderr, "thread %p: mapping ends at %#lx, the TLS area and alternate stack need %#lx\n",
                (void *)th, mapping_end(th), need);
        harness_fail();
    }
}

static void check_initial_thread(struct thread *me)
{
    CHECK(me != NULL);
    CHECK(all_threads == me && me->next == NULL && me->prev == NULL);
    CHECK(me->state == SBTHREAD_STATE_RUNNING);
    CHECK(me->os_thread == pthread_self());
    check_struct(me, 1);
    CHECK(guard_page_protected(me));
    /* TLS: the fixed indices of spec section 3, and FREE_TLS_INDEX, which
     * started at 56 and gave one index to each of the 7 symbols bound. */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x4000070FUL), FIXNUM(2));  /* BINDING_STACK_START */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x400006CFUL), FIXNUM(3));  /* BINDING_STACK_POINTER */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x4000074FUL), FIXNUM(4));  /* CONTROL_STACK_START */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x4000078FUL), FIXNUM(5));  /* CONTROL_STACK_END */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x4000040FUL), FIXNUM(7));  /* ALIEN_STACK */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x4000044FUL), FIXNUM(18)); /* PSEUDO_ATOMIC_ATOMIC */
    CHECK_EQ(SYMBOL_TLS_INDEX(0x4000048FUL), FIXNUM(19)); /* PSEUDO_ATOMIC_INTERRUPTED */
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_FREE_TLS_INDEX, NULL), FIXNUM(56 + 7));
    /* words past the struct and the bound symbols are unbound */
    CHECK_EQ(((lispobj *)me)[100], SBTHREAD_UNBOUND_MARKER);
    /* the alternate signal stack is installed right after the TLS area */
    stack_t ss;
    CHECK(sigaltstack(NULL, &ss) == 0);
    CHECK((char *)ss.ss_sp == (char *)me + dynamic_values_bytes);
    /* interrupt data: copied from global_interrupt_data (the test host
     * fills it with 0xA5; the library's default is zeroed) */
    unsigned char expect = harness_host_mode() ? 0xA5 : 0;
    for (int i = 0; i < SBTHREAD_INTERRUPT_DATA_SIZE; i++)
        CHECK(((unsigned char *)me->interrupt_data)[i] == expect);
}

static unsigned long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kb = 0;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        sscanf(line, "VmSize: %lu kB", &kb);
    fclose(f);
    return kb;
}

static void check_mapping_failure(int which)
{
    /* In a child: we are the only thread there, which matches all_threads. */
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct thread *me = sbthread_current();
        sbthread_set_block_cache_limit(0);
        /* the size of a block: the address space a thread adds, minus its
         * page of interrupt data (the cache is off, so both are fresh) */
        struct job j = { 0 };
        unsigned long vm0 = vm_size_kb();
        struct thread *probe = harness_spawn(work, &j);
        unsigned long block = (vm_size_kb() - vm0) * 1024 - 4096;
        harness_join(probe);
        int maps = harness_count_mappings();
        unsigned long vm_kb = vm_size_kb();
        /* which == 0: no room for the block; which == 1: room for the
         * block but not for the page of interrupt data after it */
        unsigned long limit = vm_kb * 1024 + (which ? block + 1024 : 0);
        struct rlimit rl = { limit, RLIM_INFINITY };
        CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
        struct job j2 = { 0 };
        struct thread *th = create_thread((lispobj)harness_closure(work, &j2));
        CHECK(th == NULL);
        CHECK(all_threads == me && me->next == NULL);
        CHECK_MAPPINGS(harness_count_mappings(), maps);
        CHECK(j2.runs == 0);
        rl.rlim_cur = RLIM_INFINITY;
        CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
        th = harness_spawn(work, &j2);
        harness_join(th);
        CHECK(j2.runs == 1);
        CHECK_MAPPINGS(harness_count_mappings(), maps);
        printf("  mapping failure (%s): create_thread returned NULL, nothing leaked\n",
               which ? "interrupt data" : "thread block");
        fflush(stdout);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct thread *me = sbthread_current();
    harness_note("initial thread checks");
    check_initial_thread(me);

    sbthread_set_block_cache_limit(0);
    int maps_before = harness_count_mappings();
    /* a mark in an unused TLS word of the creator: children copy it */
    ((lispobj *)me)[200] = FIXNUM(4242);
    static struct job jobs[NTHREADS];
    struct thread *ths[NTHREADS];
    harness_note("creating %d threads", NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
        ths[i] = harness_spawn(work, &jobs[i]);
        CHECK(ths[i]->SBTHREAD_THIS == ths[i]);
        CHECK(ths[i]->os_thread != 0);
        check_struct(ths[i], 0);
    }
    CHECK_EQ(harness_count_threads(), NTHREADS + 1);
    for (int i = 0; i < NTHREADS; i++) {
        sbthread_wait_dead(ths[i]);
        CHECK(ths[i]->state == SBTHREAD_STATE_DEAD);
        check_struct(ths[i], 1);
        CHECK(jobs[i].runs == 1);
        CHECK(jobs[i].self_seen == ths[i]);
        CHECK(jobs[i].os_thread_seen == (unsigned long)ths[i]->os_thread);
        CHECK(jobs[i].state_seen == SBTHREAD_STATE_RUNNING);
        CHECK(jobs[i].guard_protected);
        CHECK_EQ(jobs[i].result, 300000L);
        /* a child's TLS was copied from its creator's */
        CHECK_EQ(((lispobj *)ths[i])[200], FIXNUM(4242));
        reap_dead_thread(ths[i]);
    }
    ((lispobj *)me)[200] = SBTHREAD_UNBOUND_MARKER;
    /* host mode: the executable's hooks were the ones called */
    if (harness_host_mode()) {
        CHECK(&host_region_updates != NULL);
        CHECK(host_region_updates >= NTHREADS); /* at least one per reap */
        CHECK_EQ(host_region_closes, NTHREADS); /* each region closed once */
    } else {
        CHECK(&host_region_updates == NULL);
    }
    CHECK(all_threads == me && me->next == NULL && me->prev == NULL);
    CHECK_EQ(harness_count_threads(), 1);
    CHECK_MAPPINGS(harness_count_mappings(), maps_before);
    printf("lifecycle: %d threads created, ran once each, reaped; mappings back to %d\n",
           NTHREADS, maps_before);

    harness_note("mapping failures");
    if (harness_under_tool()) {
        /* ASan and valgrind reserve huge regions: an address-space limit breaks them first */
        printf("  (mapping failures under RLIMIT_AS not checked under a checking tool)\n");
        return 0;
    }
    check_mapping_failure(0);
    check_mapping_failure(1);
    return 0;
}
