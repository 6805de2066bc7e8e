/*
 * Soak (both modes): for SBTHREAD_SOAK_SECONDS (default 6) everything at
 * once — two creators keep up to 8 short-lived workers alive, creating and
 * reaping them; a stopper stops and starts the world in a loop; two
 * senders interrupt random live workers; workers (standalone) enter and
 * leave pseudo-atomic, WITHOUT-GCING and WITHOUT-INTERRUPTS sections, and
 * blocking regions (both forms; inside one they make no progress).
 * In host mode the workers use the test host's sections instead.
 * At the end: created == reaped, interrupts accepted == interrupts run
 * (host mode: run + dropped at exit),
 * every stop saw every other thread SUSPENDED, DEAD or counted in its
 * blocking region, nothing progressed while stopped, the mappings are back to the baseline, and the watchdog
 * never fired. Prints one "SOAK {json}" line with the figures
 * (RELIABILITY.md is made from it).
 */
#define _GNU_SOURCE
#include "harness.h"
#include "host.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

enum { SLOTS = 8, CREATORS = 2, SENDERS = 2 };

static struct thread *slots[SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop_all;
static long created, reaped, stops, bad_stops, sent, refused, ran, progress, sections, regions;

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static uintptr_t count_run(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Sections: standalone, the library's pseudo-atomic, WITHOUT-GCING and
 * WITHOUT-INTERRUPTS; host mode, the test host's pseudo-atomic and
 * WITHOUT-GCING (its handler defers a stop inside, the section's end
 * honours it, as 0.9.4.1's Lisp code does). */
static void enter_section(int section)
{
    int host = harness_host_mode();
    if (section == 0)
        host ? host_pseudo_atomic_enter() : sbthread_pseudo_atomic_enter();
    else if (section == 1)
        host ? host_without_gcing_enter() : sbthread_without_gcing_enter();
    else if (section == 2 && !host)
        sbthread_without_interrupts_enter();
}

static void leave_section(int section)
{
    int host = harness_host_mode();
    if (section == 0)
        host ? host_pseudo_atomic_leave() : sbthread_pseudo_atomic_leave();
    else if (section == 1)
        host ? host_without_gcing_leave() : sbthread_without_gcing_leave();
    else if (section == 2 && !host)
        sbthread_without_interrupts_leave();
}

/* Inside a blocking region: no progress (a stop counts the thread and
 * lets it run on). */
static uintptr_t spin_in_region(void *arg)
{
    for (volatile int k = 0; k < 200; k++) {
    }
    return (uintptr_t)arg;
}

static uintptr_t worker(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    long iterations = 200 + rnd(&seed) % 2000;
    for (long i = 0; i < iterations && !__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE); i++) {
        int section = (int)(rnd(&seed) % 8);
        if (section >= 6) {
            if (section == 6) {
                sbthread_blocking_enter();
                spin_in_region(NULL);
                sbthread_blocking_leave();
            } else {
                sbthread_do_blocking(spin_in_region, NULL);
            }
            __atomic_fetch_add(&progress, 1, __ATOMIC_SEQ_CST);
            __atomic_fetch_add(&regions, 1, __ATOMIC_RELAXED);
            continue;
        }
        enter_section(section);
        for (volatile int k = 0; k < 200; k++) {
        }
        __atomic_fetch_add(&progress, 1, __ATOMIC_SEQ_CST);
        leave_section(section);
        if (section < (harness_host_mode() ? 2 : 3))
            __atomic_fetch_add(&sections, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

static uintptr_t creator(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg * 7919u + 1;
    while (!__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE)) {
        int i = (int)(rnd(&seed) % SLOTS);
        pthread_mutex_lock(&slots_lock);
        struct thread *th = slots[i];
        if (th && th->state == SBTHREAD_STATE_DEAD) {
            slots[i] = NULL; /* senders no longer see it */
            pthread_mutex_unlock(&slots_lock);
            reap_dead_thread(th);
            __atomic_fetch_add(&reaped, 1, __ATOMIC_SEQ_CST);
        } else if (!th) {
            th = harness_spawn(worker, (void *)(uintptr_t)rnd(&seed));
            __atomic_fetch_add(&created, 1, __ATOMIC_SEQ_CST);
            slots[i] = th;
            pthread_mutex_unlock(&slots_lock);
        } else {
            pthread_mutex_unlock(&slots_lock);
            harness_sleep_us(50);
        }
    }
    return 0;
}

static uintptr_t sender(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg * 104729u + 3;
    struct sbthread_closure *f = harness_closure(count_run, NULL);
    while (!__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE)) {
        int i = (int)(rnd(&seed) % SLOTS);
        pthread_mutex_lock(&slots_lock); /* keeps the thread from being reaped */
        struct thread *th = slots[i];
        if (th) {
            errno = 0;
            int r = interrupt_thread(th, (lispobj)f);
            if (r == 0)
                __atomic_fetch_add(&sent, 1, __ATOMIC_SEQ_CST);
            else if (errno == ESRCH)
                __atomic_fetch_add(&refused, 1, __ATOMIC_SEQ_CST);
            else {
                fprintf(stderr, "interrupt_thread: %d errno %d\n", r, errno);
                harness_fail();
            }
        }
        pthread_mutex_unlock(&slots_lock);
        if (rnd(&seed) % 4 == 0)
            harness_sleep_us(20);
    }
    return 0;
}

static uintptr_t stopper(void *arg)
{
    (void)arg;
    struct thread *me = sbthread_current();
    while (!__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE)) {
        gc_stop_the_world();
        long p0 = __atomic_load_n(&progress, __ATOMIC_SEQ_CST);
        for (struct thread *th = all_threads; th; th = th->next)
            if (th != me && th->state != SBTHREAD_STATE_SUSPENDED && th->state != SBTHREAD_STATE_DEAD &&
                !(th->state == SBTHREAD_STATE_RUNNING && sbthread_in_blocking_region(th)))
                __atomic_fetch_add(&bad_stops, 1, __ATOMIC_SEQ_CST);
        for (volatile int k = 0; k < 3000; k++) {
        }
        if (__atomic_load_n(&progress, __ATOMIC_SEQ_CST) != p0)
            __atomic_fetch_add(&bad_stops, 1, __ATOMIC_SEQ_CST);
        gc_start_the_world();
        __atomic_fetch_add(&stops, 1, __ATOMIC_SEQ_CST);
        harness_sleep_us(200);
    }
    return 0;
}

int test_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    long seconds = 6;
    const char *env = getenv("SBTHREAD_SOAK_SECONDS");
    if (env && atol(env) > 0)
        seconds = atol(env);
    sbthread_set_block_cache_limit(0);
    /* first-use mappings (the standalone cons pool is reserved on the first
     * interrupt) are not leaks: make them before the baseline */
    struct thread *warm = harness_spawn(worker, (void *)1);
    if (interrupt_thread(warm, (lispobj)harness_closure(count_run, NULL)) != 0)
        CHECK(errno == ESRCH);
    harness_join(warm);
    ran = 0;
    int maps0 = harness_count_mappings();
    struct thread *helpers[CREATORS + SENDERS + 1];
    int n = 0;
    for (long i = 0; i < CREATORS; i++)
        helpers[n++] = harness_spawn(creator, (void *)i);
    for (long i = 0; i < SENDERS; i++)
        helpers[n++] = harness_spawn(sender, (void *)i);
    helpers[n++] = harness_spawn(stopper, NULL);
    uint64_t t0 = harness_now_ns();
    while (harness_now_ns() - t0 < (uint64_t)seconds * 1000000000u) {
        harness_note("soaking: %ld created, %ld reaped, %ld stops, %ld sent, %ld run", created, reaped,
                     stops, sent, ran);
        harness_sleep_us(100000);
    }
    __atomic_store_n(&stop_all, 1, __ATOMIC_RELEASE);
    harness_note("winding down");
    for (int i = 0; i < n; i++)
        harness_join(helpers[i]);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i]) {
            harness_join(slots[i]);
            reaped++;
        }
    struct sbthread_stats st;
    sbthread_stats(&st);
    /* Every accepted interrupt runs before its thread dies (standalone);
     * in host mode it runs, or is dropped because the thread's function
     * returned before the host's handler took it. */
    long dropped = (long)st.interrupts_discarded;
    CHECK_EQ(ran + dropped, sent);
    if (!harness_host_mode())
        CHECK_EQ(dropped, 0);
    CHECK_EQ(created, reaped);
    CHECK_EQ(bad_stops, 0);
    CHECK(stops > 0 && created > 0 && sent > 0 && regions > 0);
    CHECK_EQ(harness_count_threads(), 1);
    int maps1 = harness_count_mappings();
    CHECK_MAPPINGS(maps1, maps0);
    if (!harness_host_mode())
        CHECK_EQ(st.conses_live, 0);
    printf("SOAK {\"mode\": \"%s\", \"seconds\": %ld, \"created\": %ld, \"reaped\": %ld, \"stops\": %ld, "
           "\"bad_stops\": %ld, \"interrupts_sent\": %ld, \"interrupts_run\": %ld, \"interrupts_dropped\": %ld, "
           "\"refused_dead\": %ld, "
           "\"sections\": %ld, \"regions\": %ld, \"counted_in_regions\": %lu, \"region_leaves_waited\": %lu, "
           "\"mappings_before\": %d, \"mappings_after\": %d, \"queue_full_retries\": %lu, "
           "\"stop_latency_max_us\": %lu}\n",
           harness_host_mode() ? "host" : "standalone", seconds, created, reaped, stops, bad_stops, sent, ran,
           dropped, refused, sections, regions, (unsigned long)st.stop_counted_in_regions,
           (unsigned long)st.region_leaves_waited, maps0, maps1, (unsigned long)st.queue_full_retries,
           (unsigned long)(st.stop_latency_max_ns / 1000));
    return 0;
}
