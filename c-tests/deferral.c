/*
 * The deferral rules (seeds 001/002). Standalone the sections are the
 * library's entry points; in host mode they are the test host's model of
 * 0.9.4.1's (its handler defers a stop inside pseudo-atomic or
 * WITHOUT-GCING and the section's end honours it), so a and b and the
 * misuses of e run in both modes; c and d are standalone-only (the test
 * host does not defer interrupts, and runs interrupt functions inside its
 * handler, where 0.9.4.1 returns to Lisp first):
 *  a. a stop requested inside a pseudo-atomic section completes only after
 *     the section ends;
 *  b. the same inside WITHOUT-GCING;
 *  c. an interrupt inside WITHOUT-INTERRUPTS (or pseudo-atomic) runs when
 *     the outermost section ends, exactly once, not before;
 *  d. a stop is never delayed by an interrupt function (one that spins
 *     until the world has been stopped);
 *  e. misuse: leave without enter, taking all_threads_lock inside
 *     WITHOUT-GCING or pseudo-atomic, ends in `lose`.
 * Deferral is observed through the thread's words (pseudo_atomic_
 * interrupted, STOP_FOR_GC_PENDING, INTERRUPT_PENDING), never by timing.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <string.h>

static volatile int phase;
static volatile int section_left;
static long ran_count;

static void wait_phase(int p)
{
    while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) < p)
        __builtin_ia32_pause();
}

static void set_phase(int p)
{
    __atomic_store_n(&phase, p, __ATOMIC_RELEASE);
}

static uintptr_t count_run(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran_count, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Pseudo-atomic (kind 0) or WITHOUT-GCING (kind 1): the library's
 * standalone, the test host's in host mode. */
static void section_enter(int kind)
{
    if (harness_host_mode())
        kind == 0 ? host_pseudo_atomic_enter() : host_without_gcing_enter();
    else
        kind == 0 ? sbthread_pseudo_atomic_enter() : sbthread_without_gcing_enter();
}

static void section_leave(int kind)
{
    if (harness_host_mode())
        kind == 0 ? host_pseudo_atomic_leave() : host_without_gcing_leave();
    else
        kind == 0 ? sbthread_pseudo_atomic_leave() : sbthread_without_gcing_leave();
}

/* a/b: holds a section until the stop request has been deferred. */
static uintptr_t stop_deferrer(void *arg)
{
    int kind = (int)(long)arg; /* 0 pseudo-atomic, 1 without-gcing */
    struct thread *me = sbthread_current();
    section_enter(kind);
    set_phase(1);
    /* The stop signal arrives and is recorded, not acted on. */
    if (kind == 0)
        while (__atomic_load_n(&me->pseudo_atomic_interrupted, __ATOMIC_ACQUIRE) == 0)
            __builtin_ia32_pause();
    else
        while (sbthread_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, me) != SBTHREAD_T)
            __builtin_ia32_pause();
    CHECK(me->state == SBTHREAD_STATE_RUNNING); /* still running: deferred */
    __atomic_store_n(&section_left, 1, __ATOMIC_RELEASE);
    section_leave(kind); /* suspends here, until the start */
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, me), SBTHREAD_NIL);
    wait_phase(2);
    return 0;
}

static void check_stop_deferred(int kind)
{
    set_phase(0);
    section_left = 0;
    struct thread *th = harness_spawn(stop_deferrer, (void *)(long)kind);
    wait_phase(1);
    gc_stop_the_world();
    /* the stop completed, so the section had ended first */
    CHECK(__atomic_load_n(&section_left, __ATOMIC_ACQUIRE) == 1);
    CHECK(th->state == SBTHREAD_STATE_SUSPENDED);
    gc_start_the_world();
    set_phase(2);
    harness_join(th);
    printf("  %s: the stop completed only after the section ended\n",
           kind == 0 ? "pseudo-atomic" : "WITHOUT-GCING");
}

/* c: interrupts inside WITHOUT-INTERRUPTS / pseudo-atomic, nested. */
static uintptr_t interrupt_deferrer(void *arg)
{
    int kind = (int)(long)arg; /* 0 without-interrupts, 1 pseudo-atomic */
    struct thread *me = sbthread_current();
    if (kind == 0) {
        sbthread_without_interrupts_enter();
        sbthread_without_interrupts_enter(); /* nested */
    } else {
        sbthread_pseudo_atomic_enter();
        sbthread_pseudo_atomic_enter();
    }
    set_phase(1);
    /* the interrupt arrives and is deferred */
    while (sbthread_symbol_value(SBTHREAD_SYM_INTERRUPT_PENDING, me) != SBTHREAD_T)
        __builtin_ia32_pause();
    CHECK_EQ(__atomic_load_n(&ran_count, __ATOMIC_SEQ_CST), 0);
    if (kind == 0)
        sbthread_without_interrupts_leave(); /* inner: still deferred */
    else
        sbthread_pseudo_atomic_leave();
    CHECK_EQ(__atomic_load_n(&ran_count, __ATOMIC_SEQ_CST), 0);
    if (kind == 0)
        sbthread_without_interrupts_leave(); /* outermost: runs now */
    else
        sbthread_pseudo_atomic_leave();
    CHECK_EQ(__atomic_load_n(&ran_count, __ATOMIC_SEQ_CST), 1);
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_INTERRUPT_PENDING, me), SBTHREAD_NIL);
    CHECK_EQ(sbthread_symbol_value(SBTHREAD_SYM_INTERRUPTS_ENABLED, me), SBTHREAD_T);
    return 0;
}

static void check_interrupt_deferred(int kind)
{
    set_phase(0);
    ran_count = 0;
    struct thread *th = harness_spawn(interrupt_deferrer, (void *)(long)kind);
    wait_phase(1);
    CHECK_EQ(interrupt_thread(th, (lispobj)harness_closure(count_run, NULL)), 0);
    harness_join(th);
    CHECK_EQ(ran_count, 1);
    printf("  %s: the interrupt ran once, when the outermost section ended\n",
           kind == 0 ? "WITHOUT-INTERRUPTS" : "pseudo-atomic");
}

/* d: an interrupt function that waits for the world to be stopped. */
static volatile int world_was_stopped;

static uintptr_t wait_for_stop(void *arg)
{
    (void)arg;
    set_phase(1);
    while (!__atomic_load_n(&world_was_stopped, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    __atomic_fetch_add(&ran_count, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static uintptr_t spin_until_phase2(void *arg)
{
    (void)arg;
    wait_phase(2);
    return 0;
}

static void check_stop_not_delayed_by_interrupt(void)
{
    set_phase(0);
    ran_count = 0;
    world_was_stopped = 0;
    struct thread *th = harness_spawn(spin_until_phase2, NULL);
    CHECK_EQ(interrupt_thread(th, (lispobj)harness_closure(wait_for_stop, NULL)), 0);
    wait_phase(1); /* the interrupt function is running in th */
    gc_stop_the_world(); /* would deadlock if it waited for the function */
    CHECK(th->state == SBTHREAD_STATE_SUSPENDED);
    __atomic_store_n(&world_was_stopped, 1, __ATOMIC_RELEASE);
    gc_start_the_world();
    while (__atomic_load_n(&ran_count, __ATOMIC_SEQ_CST) == 0)
        harness_sleep_us(100);
    set_phase(2);
    harness_join(th);
    printf("  a stop completed while an interrupt function was running in its target\n");
}

static uintptr_t quick(void *arg)
{
    (void)arg;
    return 0;
}

static int run_scenario(const char *s)
{
    if (!strcmp(s, "pa-leave"))
        sbthread_pseudo_atomic_leave();
    else if (!strcmp(s, "wogc-leave"))
        sbthread_without_gcing_leave();
    else if (!strcmp(s, "woi-leave"))
        sbthread_without_interrupts_leave();
    else if (!strcmp(s, "lock-in-wogc")) {
        section_enter(1);
        create_thread((lispobj)harness_closure(quick, NULL));
    } else if (!strcmp(s, "check-in-pa")) {
        section_enter(0);
        check_sig_stop_for_gc_can_arrive_or_lose();
    } else if (!strcmp(s, "reap-in-pa")) {
        struct thread *th = harness_spawn(quick, NULL);
        sbthread_wait_dead(th);
        section_enter(0);
        reap_dead_thread(th);
    } else
        return 2;
    return 1;
}

int test_main(int argc, char **argv)
{
    int host = harness_host_mode();
    if (argc > 1)
        return run_scenario(argv[1]);
    check_stop_deferred(0);
    check_stop_deferred(1);
    if (!host) {
        check_interrupt_deferred(0);
        check_interrupt_deferred(1);
        check_stop_not_delayed_by_interrupt();
    }

    static const struct {
        const char *scenario;
        const char *needles[4];
    } deaths[] = {
        { "pa-leave", { "sbthread_pseudo_atomic_leave", "leave without enter", NULL } },
        { "wogc-leave", { "sbthread_without_gcing_leave", "leave without enter", NULL } },
        { "woi-leave", { "sbthread_without_interrupts_leave", "leave without enter", NULL } },
        { "lock-in-wogc", { "create_thread", "gc is inhibited", "state RUNNING", NULL } },
        { "check-in-pa", { "check_sig_stop_for_gc_can_arrive_or_lose", "in pseudo atomic", NULL } },
        { "reap-in-pa", { "reap_dead_thread", "in pseudo atomic", NULL } },
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof deaths / sizeof deaths[0]; i++) {
        if (host && strstr(deaths[i].scenario, "-leave"))
            continue; /* the library's own entry points */
        CHECK(harness_expect_death(deaths[i].scenario, NULL, deaths[i].needles));
        n++;
    }
    if (host)
        printf("deferral (host mode, the test host's sections): stops deferred by pseudo-atomic and "
               "WITHOUT-GCING, each honoured when the section ended; %zu misuses lose\n", n);
    else
        printf("deferral: stops deferred by pseudo-atomic and WITHOUT-GCING, interrupts by "
               "WITHOUT-INTERRUPTS and pseudo-atomic, each handled at the outermost end; a stop is "
               "not delayed by an interrupt; %zu misuses lose\n", n);
    return 0;
}
