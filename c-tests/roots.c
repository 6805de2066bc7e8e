/*
 * sbthread_scan_roots: what a collector learns of a stopped world
 * (standalone mode).
 *
 * Three threads each keep a marker value only in a local of their own
 * stack: one blocked in read() on a pipe, one computing, one that is
 * inside a WITHOUT-GCING section when the stop begins (it is stopped only
 * after it leaves, with a context it saved itself). For each stop the
 * test checks, from the stopper: every live thread is visited once, the
 * others are SUSPENDED with a recorded context whose stack pointer lies in
 * the reported live range, each marker lies in [stack_low, stack_high),
 * the TLS area is the thread's, and each suspended thread has exactly one
 * context recorded (so the previous stop's was popped when it resumed).
 * After the threads end, the misuses: each ends in lose.
 *
 * Host mode: the runtime records its own contexts; the call loses.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

/* ABI.md §3: the static symbol FREE_INTERRUPT_CONTEXT_INDEX. */
#define SYM_FREE_INTERRUPT_CONTEXT_INDEX 0x4000054FUL
/* x86-64 0.9.4.1 fixnums: the value shifted left by 3 (ABI.md). */
#define FIXNUM(n) ((lispobj)(n) << 3)

enum { BLOCKED, BUSY, SECTION, NTHREADS };
static const char *const names[NTHREADS] = { "blocked in read()", "computing", "in WITHOUT-GCING" };
static const uintptr_t marks[NTHREADS] = { 0x5b0c3ed0a11UL, 0x5b0b05e7UL, 0x5b05ec7105UL };

static int pipefd[2];
static volatile int ready[NTHREADS];
static volatile int finish;
/* SECTION: 1 once inside the section, 2 just before leaving it. */
static volatile int section_phase;

/* Keeps `mark` in a stack slot of this frame until `finish`. */
static uintptr_t hold_mark(int who)
{
    volatile uintptr_t local[2] = { marks[who], ~marks[who] };
    if (who == BLOCKED) {
        char c;
        ready[who] = 1;
        CHECK_EQ(read(pipefd[0], &c, 1), 1);
    } else if (who == SECTION) {
        sbthread_without_gcing_enter();
        section_phase = 1;
        ready[who] = 1;
        harness_sleep_us(20000); /* a window for the stopper to begin; the check is section_phase */
        section_phase = 2;
        sbthread_without_gcing_leave();
        while (!finish)
            ;
    } else {
        ready[who] = 1;
        unsigned long x = 1;
        while (!finish)
            x = x * 6364136223846793005UL + 1;
        local[1] ^= x & 0; /* keep x alive */
    }
    return local[0] + local[1] == marks[who] + ~marks[who] ? 0 : 1;
}

static uintptr_t thread_main(void *arg)
{
    return hold_mark((int)(intptr_t)arg);
}

struct scan {
    struct thread *th[NTHREADS];
    int visited, self_seen;
    int found[NTHREADS];
    int section_phase_at_scan;
    const char *bad;
};

/* Reads other threads' stacks, red zones included: not instrumented. */
__attribute__((no_sanitize_address)) static int find_word(const void *low, const void *high, uintptr_t w)
{
    for (const uintptr_t *p = (const uintptr_t *)(((uintptr_t)low + 7) & ~7UL); (const void *)(p + 1) <= high; p++)
        if (*p == w)
            return 1;
    return 0;
}

static void visit(const struct sbthread_roots *r, void *arg)
{
    struct scan *s = arg;
    s->visited++;
    if (r->stack_low >= r->stack_high || r->context == NULL || r->context_size < sizeof(ucontext_t)) {
        s->bad = "an empty stack range or no context";
        return;
    }
    if (r->tls != (const void *)r->thread || r->tls_size != (size_t)dynamic_values_bytes) {
        s->bad = "the TLS area is not the thread's";
        return;
    }
    const ucontext_t *uc = (const ucontext_t *)r->context;
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    if (sp < (uintptr_t)r->stack_low || sp >= (uintptr_t)r->stack_high) {
        s->bad = "the saved stack pointer is outside the live range";
        return;
    }
    if (r->is_self) {
        volatile int here = 0;
        s->self_seen++;
        if ((const void *)&here >= r->stack_high || r->thread != sbthread_current())
            s->bad = "the caller's own stack range does not hold its frames";
        return;
    }
    if (r->thread->state != SBTHREAD_STATE_SUSPENDED) {
        s->bad = "a visited thread is not SUSPENDED";
        return;
    }
    if (r->stack_high != (const void *)r->thread->control_stack_end) {
        s->bad = "stack_high is not the end of the thread's control stack";
        return;
    }
    /* Exactly one: the context of the previous stop was popped on resume. */
    if (sbthread_symbol_value(SYM_FREE_INTERRUPT_CONTEXT_INDEX, r->thread) != FIXNUM(1)) {
        s->bad = "FREE_INTERRUPT_CONTEXT_INDEX of a suspended thread is not 1";
        return;
    }
    for (int i = 0; i < NTHREADS; i++)
        if (r->thread == s->th[i]) {
            s->found[i] += find_word(r->stack_low, r->stack_high, marks[i]);
            if (i == SECTION)
                s->section_phase_at_scan = section_phase;
        }
}

static void scan_once(struct scan *s, int round)
{
    memset(s->found, 0, sizeof s->found);
    s->visited = s->self_seen = 0;
    s->bad = NULL;
    harness_note("round %d: stopping", round);
    gc_stop_the_world();
    int n = sbthread_scan_roots(visit, s);
    gc_start_the_world();
    if (s->bad) {
        fprintf(stderr, "round %d: %s\n", round, s->bad);
        CHECK(0);
    }
    CHECK_EQ(n, s->visited);
    CHECK_EQ(n, NTHREADS + 1);
    CHECK_EQ(s->self_seen, 1);
    for (int i = 0; i < NTHREADS; i++)
        if (s->found[i] != 1) {
            fprintf(stderr, "round %d: the thread %s: its marker found %d times in its live stack\n", round,
                    names[i], s->found[i]);
            CHECK(0);
        }
}

static void noop_visit(const struct sbthread_roots *r, void *arg)
{
    (void)r;
    (void)arg;
}

/* A thread the library does not know (plain pthread_create). */
static void *unregistered_scan(void *arg)
{
    (void)arg;
    sbthread_scan_roots(noop_visit, NULL);
    return NULL;
}

static int run_scenario(const char *s)
{
    if (!strcmp(s, "not-stopped")) {
        sbthread_scan_roots(noop_visit, NULL);
    } else if (!strcmp(s, "null-visitor")) {
        gc_stop_the_world();
        sbthread_scan_roots(NULL, NULL);
    } else if (!strcmp(s, "other-thread")) {
        /* Every registered thread but the stopper is suspended; an
         * unregistered one can still call. */
        pthread_t t;
        gc_stop_the_world();
        CHECK_EQ(pthread_create(&t, NULL, unregistered_scan, NULL), 0);
        pthread_join(t, NULL);
    } else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    fprintf(stderr, "scenario %s returned instead of losing\n", s);
    return 1;
}

int test_main(int argc, char **argv)
{
    if (argc > 1)
        return run_scenario(argv[1]);
    if (harness_host_mode()) {
        const char *const needles[] = { "sbthread_scan_roots", "only available in standalone mode", NULL };
        CHECK(harness_expect_death("not-stopped", NULL, needles));
        printf("roots: host mode: sbthread_scan_roots loses, as documented\n");
        return 0;
    }
    CHECK_EQ(pipe(pipefd), 0);
    struct scan s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < NTHREADS; i++)
        s.th[i] = harness_spawn(thread_main, (void *)(intptr_t)i);
    for (int i = 0; i < NTHREADS; i++)
        while (!ready[i])
            harness_sleep_us(100);

    /* The SECTION thread is inside its section: this stop waits for it to leave. */
    CHECK_EQ(section_phase, 1);
    scan_once(&s, 0);
    CHECK_EQ(s.section_phase_at_scan, 2);

    enum { ROUNDS = 300 };
    for (int round = 1; round <= ROUNDS; round++)
        scan_once(&s, round);

    finish = 1;
    CHECK_EQ(write(pipefd[1], "x", 1), 1);
    for (int i = 0; i < NTHREADS; i++)
        harness_join(s.th[i]);

    const struct { const char *scenario; const char *needles[4]; } deaths[] = {
        { "not-stopped", { "sbthread_scan_roots", "the world is not stopped", NULL } },
        { "null-visitor", { "sbthread_scan_roots", "NULL visitor", NULL } },
        { "other-thread", { "sbthread_scan_roots", "stopped by another thread", NULL } },
    };
    for (size_t i = 0; i < sizeof deaths / sizeof deaths[0]; i++)
        CHECK(harness_expect_death(deaths[i].scenario, NULL, deaths[i].needles));
    printf("roots: %d stops of 3 threads (blocked, computing, leaving WITHOUT-GCING): every marker in its "
           "thread's live stack, one context recorded per suspended thread; %zu misuses lose\n",
           ROUNDS + 1, sizeof deaths / sizeof deaths[0]);
    return 0;
}
