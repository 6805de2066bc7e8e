/*
 * Blocking regions (sbthread_blocking_enter / _leave, sbthread_do_blocking).
 * Standalone:
 *  a. threads blocked in read() inside regions are counted as stopped by
 *     every stop without a single stop signal (not suspended: their state
 *     stays RUNNING, sbthread_in_blocking_region says 1), and their read()
 *     is never interrupted;
 *  b. their roots are what they left at the entry: the callee-saved
 *     registers (set to known values by inline assembly just before the
 *     call), the stack pointer and return address of the call, and the
 *     stack above it (a marker in the caller's frame lies in
 *     [stack_low, stack_high));
 *  c. leaving while the world is stopped sleeps (seen asleep in a futex
 *     wait in /proc) and returns only after the start;
 *  d. a stop signal already on its way to a thread that then enters a
 *     region is handled there once (the stop completes, the thread is
 *     SUSPENDED; the next stop counts it without a signal);
 *  e. interrupts sent to a thread inside a region run when it leaves,
 *     each once, and not before; inside WITHOUT-INTERRUPTS, when that
 *     ends;
 *  f. regions nest;
 *  g. threads entering and leaving regions in a loop while the world is
 *     stopped again and again: every thread is stopped at every stop
 *     (counted or signalled, exactly one of the two), none makes progress
 *     outside its region while the world is stopped;
 *  h. misuse ends in lose.
 * Host mode: the regions only pair up; a thread inside one is stopped by
 * a signal like any other (a, f, g and the misuses that apply).
 * Decisions are taken on counts and states; sleeps only wait for them.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int host;

static uint64_t signals_sent(const struct sbthread_stats *st)
{
    return st->stop_signals_by_stopper + st->stop_signals_by_helpers;
}

static struct sbthread_stats stats_now(void)
{
    struct sbthread_stats st;
    CHECK_EQ(sbthread_stats(&st), 0);
    return st;
}

/* While the world is stopped: th is stopped, by a signal (SUSPENDED) or,
 * standalone, counted in its blocking region (RUNNING there). */
static int stopped(struct thread *th)
{
    return th->state == SBTHREAD_STATE_SUSPENDED ||
           (!host && th->state == SBTHREAD_STATE_RUNNING && sbthread_in_blocking_region(th));
}

/* Counted in its region (standalone) or suspended (host mode). */
static int counted_or_host_suspended(struct thread *th)
{
    return host ? th->state == SBTHREAD_STATE_SUSPENDED
                : th->state == SBTHREAD_STATE_RUNNING && sbthread_in_blocking_region(th) == 1;
}

static void wait_flag(volatile int *flag, int value)
{
    while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < value)
        harness_sleep_us(50);
}

static void set_flag(volatile int *flag, int value)
{
    __atomic_store_n(flag, value, __ATOMIC_RELEASE);
}

/* ---- a. blocked in read() inside regions: counted, never signalled ---- */
enum { READERS = 6, READ_STOPS = 200 };
static int read_pipe[2];
static volatile int readers_inside;
static volatile long read_results[READERS];

static uintptr_t read_one(void *arg)
{
    (void)arg;
    char c;
    ssize_t r = read(read_pipe[0], &c, 1);
    return r == 1 ? (uintptr_t)(unsigned char)c : (uintptr_t)-(long)errno;
}

static uintptr_t region_reader(void *arg)
{
    long i = (long)arg;
    if (i % 2 == 0) {
        sbthread_blocking_enter();
        __atomic_fetch_add(&readers_inside, 1, __ATOMIC_ACQ_REL);
        read_results[i] = (long)read_one(NULL);
        sbthread_blocking_leave();
    } else {
        __atomic_fetch_add(&readers_inside, 1, __ATOMIC_ACQ_REL);
        read_results[i] = (long)sbthread_do_blocking(read_one, NULL);
    }
    return 0;
}

static void check_counted_without_signals(void)
{
    struct thread *me = sbthread_current();
    struct thread *ths[READERS];
    CHECK(pipe(read_pipe) == 0);
    readers_inside = 0;
    for (long i = 0; i < READERS; i++)
        ths[i] = harness_spawn(region_reader, (void *)i);
    wait_flag(&readers_inside, READERS);
    /* Inside, maybe not yet in read(): that makes no difference to a stop. */
    struct sbthread_stats st0 = stats_now();
    for (int round = 0; round < READ_STOPS; round++) {
        harness_note("a: stop %d", round);
        gc_stop_the_world();
        for (struct thread *th = all_threads; th; th = th->next)
            CHECK(th == me ? th->state == SBTHREAD_STATE_RUNNING : counted_or_host_suspended(th));
        gc_start_the_world();
    }
    struct sbthread_stats st1 = stats_now();
    CHECK_EQ(st1.stops - st0.stops, READ_STOPS);
    if (host) {
        CHECK_EQ(st1.stop_counted_in_regions, 0);
        /* Signalled, or its resume taken back before it left its wait. */
        CHECK_EQ(signals_sent(&st1) - signals_sent(&st0) + (st1.resumes_taken_back - st0.resumes_taken_back),
                 (uint64_t)READ_STOPS * READERS);
    } else {
        CHECK_EQ(st1.stop_counted_in_regions - st0.stop_counted_in_regions, (uint64_t)READ_STOPS * READERS);
        CHECK_EQ(signals_sent(&st1) - signals_sent(&st0), 0);
    }
    for (int i = 0; i < READERS; i++)
        CHECK(write(read_pipe[1], "x", 1) == 1);
    for (int i = 0; i < READERS; i++) {
        harness_join(ths[i]);
        CHECK_EQ(read_results[i], 'x');
    }
    close(read_pipe[0]);
    close(read_pipe[1]);
    printf("  a: %d stops with %d threads blocked in read() inside regions: %s\n", READ_STOPS, READERS,
           host ? "each stopped by a signal (host mode)" : "each counted as stopped, not one signal sent");
}

/* ---- b. the roots of a thread inside a region ---- */
#define MARK_RBX 0x5b0000000000a001ULL
#define MARK_R12 0x5b0000000000a012ULL
#define MARK_R13 0x5b0000000000a013ULL
#define MARK_R14 0x5b0000000000a014ULL
#define MARK_R15 0x5b0000000000a015ULL
#define MARK_STACK 0x5b0000000000beefULL

/* Where the marked entry called sbthread_blocking_enter from (global, so
 * that the assembly can name them). */
uintptr_t blocking_test_entry_sp, blocking_test_entry_ip;

/* Enters a region with known values in the callee-saved registers (the
 * compiler saves and restores its own around the clobbers), recording the
 * stack pointer at the call and the return address. */
static void __attribute__((noinline)) enter_marked(void)
{
    __asm__ volatile(
        "mov %%rsp, %%rax\n\t"
        "sub $128, %%rsp\n\t" /* clear of the red zone */
        "and $-16, %%rsp\n\t"
        "push %%rax\n\t"
        "sub $8, %%rsp\n\t" /* 16-byte aligned at the call */
        "movabs $0x5b0000000000a001, %%rbx\n\t"
        "movabs $0x5b0000000000a012, %%r12\n\t"
        "movabs $0x5b0000000000a013, %%r13\n\t"
        "movabs $0x5b0000000000a014, %%r14\n\t"
        "movabs $0x5b0000000000a015, %%r15\n\t"
        "mov %%rsp, blocking_test_entry_sp(%%rip)\n\t"
        "lea 1f(%%rip), %%rax\n\t"
        "mov %%rax, blocking_test_entry_ip(%%rip)\n\t"
        "call sbthread_blocking_enter@PLT\n"
        "1:\n\t"
        "add $8, %%rsp\n\t"
        "pop %%rsp\n\t"
        :
        :
        : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "rbx", "r12", "r13", "r14", "r15",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
}

static int roots_pipe[2];
static volatile int roots_phase;
static volatile uint64_t *roots_marker;

static uintptr_t roots_subject(void *arg)
{
    (void)arg;
    volatile uint64_t marker[4] = { MARK_STACK, MARK_STACK, MARK_STACK, MARK_STACK };
    roots_marker = marker;
    enter_marked();
    set_flag(&roots_phase, 1);
    char c;
    CHECK(read(roots_pipe[0], &c, 1) == 1);
    sbthread_blocking_leave();
    CHECK_EQ(marker[0], MARK_STACK);
    return 0;
}

struct roots_seen {
    struct thread *subject;
    int visited, found_subject, in_region, registers_ok, marker_in_range, marker_found;
    uintptr_t sp, ip, low, high;
};

/* Reads another thread's stack: not instrumented under ASan. */
__attribute__((no_sanitize_address)) static void visit(const struct sbthread_roots *r, void *arg)
{
    struct roots_seen *s = arg;
    s->visited++;
    if (r->thread != s->subject)
        return;
    s->found_subject = 1;
    s->in_region = r->in_blocking_region;
    const greg_t *g = r->context->uc_mcontext.gregs;
    s->sp = (uintptr_t)g[REG_RSP];
    s->ip = (uintptr_t)g[REG_RIP];
    s->low = (uintptr_t)r->stack_low;
    s->high = (uintptr_t)r->stack_high;
    s->registers_ok = (uint64_t)g[REG_RBX] == MARK_RBX && (uint64_t)g[REG_R12] == MARK_R12 &&
                      (uint64_t)g[REG_R13] == MARK_R13 && (uint64_t)g[REG_R14] == MARK_R14 &&
                      (uint64_t)g[REG_R15] == MARK_R15 && r->context_size == sizeof(ucontext_t);
    uintptr_t m = (uintptr_t)roots_marker;
    s->marker_in_range = m >= s->low && m + 32 <= s->high;
    /* The caller's frame, intact. (Not from stack_low: the thread runs
     * below its entry's stack pointer meanwhile, and valgrind reports reads
     * below a thread's stack pointer.) */
    if (s->marker_in_range)
        for (const uint64_t *p = (const uint64_t *)m; (uintptr_t)(p + 1) <= s->high && p < (const uint64_t *)m + 4; p++)
            if (*p == MARK_STACK)
                s->marker_found = 1;
}

static void check_roots(void)
{
    CHECK(pipe(roots_pipe) == 0);
    roots_phase = 0;
    struct thread *th = harness_spawn(roots_subject, NULL);
    wait_flag(&roots_phase, 1);
    struct sbthread_stats st0 = stats_now();
    struct roots_seen s = { .subject = th };
    gc_stop_the_world();
    int n = sbthread_scan_roots(visit, &s);
    lispobj state = th->state;
    gc_start_the_world();
    struct sbthread_stats st1 = stats_now();
    CHECK_EQ(st1.stop_counted_in_regions - st0.stop_counted_in_regions, 1);
    CHECK_EQ(signals_sent(&st1) - signals_sent(&st0), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(s.visited, 2);
    CHECK(s.found_subject);
    CHECK(s.in_region);
    CHECK(state == SBTHREAD_STATE_RUNNING); /* counted, not suspended */
    CHECK(s.registers_ok);
    CHECK_EQ(s.sp, blocking_test_entry_sp);
    CHECK_EQ(s.ip, blocking_test_entry_ip);
    CHECK(s.low <= s.sp && s.sp < s.high);
    CHECK(s.marker_in_range);
    CHECK(s.marker_found);
    CHECK(write(roots_pipe[1], "x", 1) == 1);
    harness_join(th);
    close(roots_pipe[0]);
    close(roots_pipe[1]);
    printf("  b: roots of a thread counted in its region: the registers it had at the entry, "
           "its stack pointer and return address there, its caller's frame in [stack_low, stack_high)\n");
}

/* ---- c. leaving while the world is stopped waits for the start ---- */
static volatile int leaver_phase;
static volatile long leaver_tid;

static uintptr_t leaver(void *arg)
{
    (void)arg;
    leaver_tid = syscall(SYS_gettid);
    sbthread_blocking_enter();
    set_flag(&leaver_phase, 1);
    /* computing inside the region, no system call: still counted */
    while (__atomic_load_n(&leaver_phase, __ATOMIC_ACQUIRE) < 2)
        __builtin_ia32_pause();
    sbthread_blocking_leave();
    set_flag(&leaver_phase, 3);
    return 0;
}

/* The system call number tid is in (-1 if running or unknown). */
static long in_syscall(long tid)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0 || strncmp(buf, "running", 7) == 0)
        return -1;
    buf[r] = 0;
    return strtol(buf, NULL, 10);
}

static void check_leave_waits(void)
{
    leaver_phase = 0;
    struct thread *th = harness_spawn(leaver, NULL);
    wait_flag(&leaver_phase, 1);
    struct sbthread_stats st0 = stats_now();
    gc_stop_the_world();
    CHECK(counted_or_host_suspended(th));
    set_flag(&leaver_phase, 2); /* it tries to leave now */
    harness_note("c: waiting for the leaver to sleep in its leave");
    while (in_syscall(leaver_tid) != SYS_futex)
        harness_sleep_us(100);
    CHECK_EQ(leaver_phase, 2); /* asleep, not left */
    CHECK(counted_or_host_suspended(th)); /* still counted while it waits */
    gc_start_the_world();
    wait_flag(&leaver_phase, 3);
    CHECK_EQ(sbthread_in_blocking_region(th), 0);
    harness_join(th);
    struct sbthread_stats st1 = stats_now();
    CHECK_EQ(st1.stop_counted_in_regions - st0.stop_counted_in_regions, 1);
    CHECK_EQ(st1.region_leaves_waited - st0.region_leaves_waited, 1);
    CHECK_EQ(signals_sent(&st1) - signals_sent(&st0), 0);
    printf("  c: a leave while the world was stopped slept in a futex wait and returned after the start\n");
}

/* ---- d. a stop signal on its way, then the region ---- */
static volatile int inflight_phase;

static uintptr_t inflight(void *arg)
{
    (void)arg;
    sigset_t stop, pending;
    sigemptyset(&stop);
    sigaddset(&stop, SIGRTMIN + 1); /* SIG_STOP_FOR_GC */
    CHECK(pthread_sigmask(SIG_BLOCK, &stop, NULL) == 0);
    set_flag(&inflight_phase, 1);
    do {
        harness_sleep_us(50);
        CHECK(sigpending(&pending) == 0);
    } while (!sigismember(&pending, SIGRTMIN + 1));
    /* The stopper found this thread outside any region and signalled it. */
    sbthread_blocking_enter();
    CHECK(pthread_sigmask(SIG_UNBLOCK, &stop, NULL) == 0); /* suspends here, in the region */
    set_flag(&inflight_phase, 2);
    wait_flag(&inflight_phase, 3);
    sbthread_blocking_leave();
    return 0;
}

static void check_signal_in_flight(void)
{
    inflight_phase = 0;
    struct thread *th = harness_spawn(inflight, NULL);
    wait_flag(&inflight_phase, 1);
    struct sbthread_stats st0 = stats_now();
    gc_stop_the_world(); /* returns once the handler has suspended it */
    CHECK(th->state == SBTHREAD_STATE_SUSPENDED);
    CHECK_EQ(sbthread_in_blocking_region(th), 1); /* suspended inside its region */
    gc_start_the_world();
    struct sbthread_stats st1 = stats_now();
    CHECK_EQ(signals_sent(&st1) - signals_sent(&st0), 1);
    CHECK_EQ(st1.stop_counted_in_regions - st0.stop_counted_in_regions, 0);
    wait_flag(&inflight_phase, 2);
    gc_stop_the_world(); /* inside the region now: counted */
    CHECK(counted_or_host_suspended(th));
    gc_start_the_world();
    struct sbthread_stats st2 = stats_now();
    CHECK_EQ(signals_sent(&st2) - signals_sent(&st1), 0);
    CHECK_EQ(st2.stop_counted_in_regions - st1.stop_counted_in_regions, 1);
    set_flag(&inflight_phase, 3);
    harness_join(th);
    printf("  d: a stop signal sent before the entry was handled once inside the region; the next stop "
           "counted the thread without one\n");
}

/* ---- e. interrupts wait for the leave ---- */
enum { IRQS = 50 };
static long irq_ran;
static int irq_pipe[2];
static volatile int irq_phase;

static uintptr_t count_irq(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&irq_ran, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t irq_target(void *arg)
{
    int with_woi = (int)(long)arg;
    struct thread *me = sbthread_current();
    if (with_woi)
        sbthread_without_interrupts_enter();
    sbthread_blocking_enter();
    set_flag(&irq_phase, 1);
    char c;
    CHECK(read(irq_pipe[0], &c, 1) == 1);
    CHECK_EQ(__atomic_load_n(&irq_ran, __ATOMIC_SEQ_CST), 0);
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_INTERRUPT_PENDING, me), SBTHREAD_T);
    sbthread_blocking_leave();
    if (with_woi) {
        CHECK_EQ(__atomic_load_n(&irq_ran, __ATOMIC_SEQ_CST), 0);
        sbthread_without_interrupts_leave();
    }
    CHECK_EQ(__atomic_load_n(&irq_ran, __ATOMIC_SEQ_CST), IRQS); /* all of them, at the end */
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_INTERRUPT_PENDING, me), SBTHREAD_NIL);
    return 0;
}

static void check_interrupts_wait(int with_woi)
{
    CHECK(pipe(irq_pipe) == 0);
    irq_ran = 0;
    irq_phase = 0;
    struct sbthread_stats st0 = stats_now();
    struct thread *th = harness_spawn(irq_target, (void *)(long)with_woi);
    wait_flag(&irq_phase, 1);
    struct sbthread_closure *fn = harness_closure(count_irq, NULL);
    for (int i = 0; i < IRQS; i++)
        CHECK_EQ(interrupt_thread(th, (lispobj)fn), 0);
    harness_note("e: waiting for the interrupt to be deferred");
    while (sbthread_symbol_value(SBTHREAD_SYM_INTERRUPT_PENDING, th) != SBTHREAD_T)
        harness_sleep_us(100);
    CHECK_EQ(__atomic_load_n(&irq_ran, __ATOMIC_SEQ_CST), 0);
    CHECK(write(irq_pipe[1], "x", 1) == 1);
    harness_join(th);
    struct sbthread_stats st1 = stats_now();
    CHECK_EQ(irq_ran, IRQS);
    CHECK_EQ(st1.interrupts_run - st0.interrupts_run, IRQS);
    close(irq_pipe[0]);
    close(irq_pipe[1]);
    printf("  e: %d interrupts sent to a thread in a region%s ran when it %s, each once\n", IRQS,
           with_woi ? " inside WITHOUT-INTERRUPTS" : "", with_woi ? "left WITHOUT-INTERRUPTS" : "left");
}

/* ---- f. nesting ---- */
static volatile int nest_phase;

static uintptr_t nester(void *arg)
{
    (void)arg;
    sbthread_blocking_enter();
    sbthread_blocking_enter();
    sbthread_blocking_leave(); /* still inside the outer one */
    set_flag(&nest_phase, 1);
    wait_flag(&nest_phase, 2);
    sbthread_blocking_leave();
    set_flag(&nest_phase, 3);
    return 0;
}

static void check_nesting(void)
{
    nest_phase = 0;
    struct thread *th = harness_spawn(nester, NULL);
    wait_flag(&nest_phase, 1);
    struct sbthread_stats st0 = stats_now();
    gc_stop_the_world();
    CHECK(counted_or_host_suspended(th));
    gc_start_the_world();
    struct sbthread_stats st1 = stats_now();
    CHECK_EQ(st1.stop_counted_in_regions - st0.stop_counted_in_regions, host ? 0 : 1);
    CHECK_EQ(sbthread_in_blocking_region(th), host ? 0 : 1);
    set_flag(&nest_phase, 2);
    wait_flag(&nest_phase, 3);
    harness_join(th);
    printf("  f: nested regions: still inside after the inner leave\n");
}

/* ---- g. entering and leaving in a loop under repeated stops ---- */
/* LOOP_STOPS stops (BLOCKING_LOOP_STOPS in the environment: valgrind,
 * which runs one thread at a time, takes seconds per stop of busy
 * loopers, so c-tests/sanitize.sh asks for fewer there). */
enum { LOOPERS = 4, LOOP_STOPS_DEFAULT = 400 };
static int loop_stops(void)
{
    const char *s = getenv("BLOCKING_LOOP_STOPS");
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : LOOP_STOPS_DEFAULT;
}
static volatile long loop_progress[LOOPERS];
static volatile int loop_done;

static uintptr_t nothing(void *arg)
{
    return (uintptr_t)arg;
}

static uintptr_t looper(void *arg)
{
    long i = (long)arg;
    for (long k = 0; !__atomic_load_n(&loop_done, __ATOMIC_ACQUIRE); k++) {
        loop_progress[i]++; /* outside: "the heap" */
        if (k % 2) {
            sbthread_blocking_enter();
            if (k % 8 == 1)
                syscall(SYS_getppid);
            sbthread_blocking_leave();
        } else {
            sbthread_do_blocking(nothing, NULL);
        }
    }
    return 0;
}

static void check_loop_under_stops(void)
{
    struct thread *me = sbthread_current();
    struct thread *ths[LOOPERS];
    loop_done = 0;
    for (long i = 0; i < LOOPERS; i++)
        ths[i] = harness_spawn(looper, (void *)i);
    const int LOOP_STOPS = loop_stops();
    struct sbthread_stats st0 = stats_now();
    for (int round = 0; round < LOOP_STOPS; round++) {
        harness_note("g: stop %d", round);
        long p0[LOOPERS], p1[LOOPERS];
        gc_stop_the_world();
        for (struct thread *th = all_threads; th; th = th->next)
            CHECK(th == me || stopped(th));
        for (int i = 0; i < LOOPERS; i++)
            p0[i] = loop_progress[i];
        if (round % 50 == 0)
            harness_sleep_us(2000); /* a window to see a leaver that did not wait */
        for (int i = 0; i < LOOPERS; i++)
            p1[i] = loop_progress[i];
        gc_start_the_world();
        for (int i = 0; i < LOOPERS; i++)
            CHECK_EQ(p0[i], p1[i]);
        for (int i = 0; i < LOOPERS; i++)
            while (loop_progress[i] == p1[i])
                harness_sleep_us(20);
    }
    struct sbthread_stats st1 = stats_now();
    set_flag(&loop_done, 1);
    for (int i = 0; i < LOOPERS; i++)
        harness_join(ths[i]);
    uint64_t counted = st1.stop_counted_in_regions - st0.stop_counted_in_regions;
    uint64_t signalled = signals_sent(&st1) - signals_sent(&st0);
    CHECK_EQ(counted + signalled, (uint64_t)LOOP_STOPS * LOOPERS);
    if (host)
        CHECK_EQ(counted, 0);
    printf("  g: %d stops of %d threads entering and leaving regions in a loop: %lu counted, %lu "
           "signalled, %lu leaves waited for a start; no progress outside a region while stopped\n",
           LOOP_STOPS, LOOPERS, (unsigned long)counted, (unsigned long)signalled,
           (unsigned long)(st1.region_leaves_waited - st0.region_leaves_waited));
}

/* ---- h. misuse ---- */
static uintptr_t return_inside(void *arg)
{
    (void)arg;
    sbthread_blocking_enter();
    return 0;
}

static void *unregistered(void *arg)
{
    (void)arg;
    sbthread_blocking_enter();
    return NULL;
}

static int run_scenario(const char *s)
{
    if (!strcmp(s, "leave-without-enter")) {
        sbthread_blocking_leave();
    } else if (!strcmp(s, "stop-in-region")) {
        sbthread_blocking_enter();
        gc_stop_the_world();
    } else if (!strcmp(s, "create-in-region")) {
        sbthread_blocking_enter();
        create_thread((lispobj)harness_closure(nothing, NULL));
    } else if (!strcmp(s, "return-in-region")) {
        harness_join(harness_spawn(return_inside, NULL));
    } else if (!strcmp(s, "do-blocking-null")) {
        sbthread_do_blocking(NULL, NULL);
    } else if (!strcmp(s, "unregistered")) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, unregistered, NULL) == 0);
        pthread_join(t, NULL);
    } else if (!strcmp(s, "wogc-in-region")) {
        sbthread_blocking_enter();
        sbthread_without_gcing_enter();
    } else if (!strcmp(s, "woi-leave-in-region")) {
        sbthread_without_interrupts_enter();
        sbthread_blocking_enter();
        sbthread_without_interrupts_leave();
    } else if (!strcmp(s, "region-in-wogc")) {
        sbthread_without_gcing_enter();
        sbthread_blocking_enter();
    } else if (!strcmp(s, "region-in-pa")) {
        sbthread_pseudo_atomic_enter();
        sbthread_blocking_enter();
    } else if (!strcmp(s, "region-while-stopped")) {
        gc_stop_the_world();
        sbthread_blocking_enter();
    } else
        return 2;
    return 1;
}

int test_main(int argc, char **argv)
{
    host = harness_host_mode();
    if (argc > 1)
        return run_scenario(argv[1]);
    printf("blocking regions (%s):\n", host ? "host mode: they only pair up" : "standalone");
    check_counted_without_signals();
    if (!host) {
        check_roots();
        check_leave_waits();
        check_signal_in_flight();
        check_interrupts_wait(0);
        check_interrupts_wait(1);
    }
    check_nesting();
    check_loop_under_stops();

    static const struct {
        const char *scenario;
        int standalone_only;
        const char *needles[4];
    } deaths[] = {
        { "leave-without-enter", 0, { "sbthread_blocking_leave", "leave without enter", NULL } },
        { "stop-in-region", 0, { "gc_stop_the_world", "inside a blocking region", NULL } },
        { "create-in-region", 0, { "create_thread", "inside a blocking region", "all_threads_lock", NULL } },
        { "return-in-region", 0, { "new_thread_trampoline", "inside 1 blocking region", NULL } },
        { "do-blocking-null", 0, { "sbthread_do_blocking", "NULL function", NULL } },
        { "unregistered", 0, { "sbthread_blocking_enter", "not a registered thread", NULL } },
        { "wogc-in-region", 1, { "sbthread_without_gcing_enter", "inside a blocking region", NULL } },
        { "woi-leave-in-region", 1, { "sbthread_without_interrupts_leave", "inside a blocking region", NULL } },
        { "region-in-wogc", 1, { "sbthread_blocking_enter", "WITHOUT-GCING", "cannot count as stopped", NULL } },
        { "region-in-pa", 1, { "sbthread_blocking_enter", "pseudo-atomic", "cannot count as stopped", NULL } },
        { "region-while-stopped", 1, { "sbthread_blocking_enter", "stopped the world", NULL } },
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof deaths / sizeof deaths[0]; i++) {
        if (host && deaths[i].standalone_only)
            continue;
        CHECK(harness_expect_death(deaths[i].scenario, NULL, deaths[i].needles));
        n++;
    }
    printf("blocking: all checks passed; %zu misuses lose\n", n);
    return 0;
}
