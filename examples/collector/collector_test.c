/*
 * The collector's test: several mutator threads share gc.c's heap, keep
 * their references only in local variables (so in registers and stack
 * slots: build with -O2), build linked lists and trees, verify them,
 * and drop them, while collections run from any thread. Plus, again and
 * again, a collection while one thread is blocked in read() on a pipe
 * inside a blocking region (sbthread_do_blocking: the stop counts it as
 * stopped without a signal) and another sits inside a deferral section,
 * each holding the only reference to a structure of its own.
 *
 * What it checks:
 *  - no reachable object is ever freed: every object's value is
 *    predictable from a seed the mutator keeps, and every traversal
 *    verifies tag, checksum and value of every object (a freed cell is
 *    poisoned; a freed and reused one has someone else's value);
 *  - unreachable objects are freed: the heap turns over many times, the
 *    live count after each collection stays far below its capacity, and
 *    once the mutators are gone a last collection frees nearly everything;
 *  - the roots the library reports are consistent (gc.c checks every
 *    thread's; this file also checks that each thread's stack range holds
 *    its outermost frame, and that no collection ever sees a thread
 *    inside its deferral section);
 *  - a collection taken while the reader is blocked in read() counts it
 *    in its blocking region (sbthread_stats: stop_counted_in_regions), so
 *    the reader's structures survive on the roots it left at the entry.
 *
 * Usage: collector_test [SECONDS]   (or COLLECTOR_SECONDS; default 3)
 *        COLLECTOR_SEED=n to repeat a run's random choices.
 * Exit status 0 on success; 1 with "collector: FAIL: ..." on a failure;
 * 3 if the watchdog finds it hung.
 */
#define _GNU_SOURCE
#include "gc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
    HEAP_CELLS = 1 << 15,     /* 2 MiB of 64-byte cells */
    MUTATORS = 6,
    MAX_LIST = 200,           /* a mutator holds at most 2 lists and 1 tree: */
    MAX_DEPTH = 8,            /*   2 * 200 + 255 objects */
    GARBAGE_LIST = 64,
    EXPLICIT_EVERY = 50,      /* even-numbered mutators collect every 50 rounds */
    SPECIAL_LIST = 1000,      /* the reader's and the section thread's structures */
    SPECIAL_DEPTH = 7,
    SECTION_MS = 50,          /* how long the section thread stays inside */
    ROUND_PAUSE_MS = 100,     /* mutators run freely between special rounds */
    /* Bounds: reachable data is at most MUTATORS * 655 + 2 * 1127 + the
     * coordinator's 64, about 6,300 objects; conservative scanning may
     * keep some more alive (a stale pointer keeps one dropped structure). */
    LIVE_BOUND = HEAP_CELLS / 2,
    FINAL_BOUND = 2048,       /* after the mutators are gone */
};

/* ---- per-thread bookkeeping: never a heap reference in here ---- */

struct worker {
    const char *name;
    int id;
    uint64_t seed;
    struct thread *thread;
    uintptr_t outer_frame;          /* an address in the thread's outermost frame */
    long rounds;
    /* the reader and the section thread */
    atomic_long request;            /* round the coordinator asked for */
    atomic_long ready;              /* reader: built, about to read(); section: inside */
    atomic_long done;               /* verified afterwards */
    atomic_int in_section;          /* section thread: between enter and leave */
    atomic_long tid;
    /* written by the roots hook with the world stopped */
    uint64_t seen_in_collection;
    uintptr_t seen_sp, seen_low, seen_high;
    int seen_in_region;             /* the last collection counted it in a blocking region */
};

static struct worker mutators[MUTATORS], reader, section;
static struct worker *const special[2] = { &reader, &section };
static atomic_int stopping;
static atomic_uint_fast64_t collection_no;  /* counted by the hook */
static int reader_pipe[2];
static const char *volatile phase = "starting";
static long seconds = 3;

static void fail(const struct worker *w, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void fail(const struct worker *w, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gc_fatal("%s (round %ld): %s", w ? w->name : "coordinator", w ? w->rounds : 0L, msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps; a stop of the world may cut it short (EINTR), which is fine
 * for every caller here. */
static void nap_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static uint64_t next_random(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return gc_mix(*state);
}

/* ---- checking an object ---- */

static void check_object(const struct worker *w, const struct object *o, uint64_t expected,
                         const char *what, long index)
{
    if (!o)
        fail(w, "%s[%ld] is NULL", what, index);
    if (!gc_is_cell(o))
        fail(w, "%s[%ld] = %p is not a heap cell", what, index, (const void *)o);
    if (o->tag == GC_TAG_FREE)
        fail(w, "%s[%ld] = %p is reachable but was freed (poisoned cell)", what, index, (const void *)o);
    if (o->tag != GC_TAG_LIVE)
        fail(w, "%s[%ld] = %p has tag %#lx", what, index, (const void *)o, (unsigned long)o->tag);
    if (o->checksum != gc_checksum(o))
        fail(w, "%s[%ld] = %p is corrupted: checksum %#lx, expected %#lx", what, index, (const void *)o,
             (unsigned long)o->checksum, (unsigned long)gc_checksum(o));
    if (o->value != expected)
        fail(w, "%s[%ld] = %p holds %#lx, not %#lx: freed and reused while reachable", what, index,
             (const void *)o, (unsigned long)o->value, (unsigned long)expected);
}

/* ---- the structures ---- */

static uint64_t list_value(uint64_t seed, long i) { return gc_mix(seed + (uint64_t)i); }

/* A list of len objects: element i holds list_value(seed, i), linked
 * through right. Built from the end, so each new object refers to the
 * list built so far, which lives only in `head`. */
static struct object *build_list(long len, uint64_t seed)
{
    struct object *head = NULL;
    for (long i = len - 1; i >= 0; i--)
        head = gc_alloc(NULL, head, list_value(seed, i));
    return head;
}

static void verify_list(const struct worker *w, const struct object *o, long len, uint64_t seed,
                        const char *what)
{
    for (long i = 0; i < len; i++, o = o->right) {
        check_object(w, o, list_value(seed, i), what, i);
        if (o->left)
            fail(w, "%s[%ld] has a left reference", what, i);
    }
    if (o)
        fail(w, "%s is longer than %ld", what, len);
}

/* The list of a's values xor key, reversed (consing while walking a). */
static struct object *map_list(const struct object *a, uint64_t key)
{
    struct object *b = NULL;
    for (; a; a = a->right)
        b = gc_alloc(NULL, b, a->value ^ key);
    return b;
}

static void verify_mapped(const struct worker *w, const struct object *o, long len, uint64_t seed,
                          uint64_t key)
{
    for (long i = 0; i < len; i++, o = o->right)
        check_object(w, o, list_value(seed, len - 1 - i) ^ key, "mapped list", i);
    if (o)
        fail(w, "the mapped list is longer than %ld", len);
}

/* A complete tree of the given depth; a node holds its seed, its children
 * derive theirs from it. The left subtree lives only in this frame while
 * the right one is built (and collections happen). */
static struct object *build_tree(int depth, uint64_t seed)
{
    if (depth == 0)
        return NULL;
    struct object *l = build_tree(depth - 1, gc_mix(seed * 2 + 1));
    struct object *r = build_tree(depth - 1, gc_mix(seed * 2 + 2));
    return gc_alloc(l, r, seed);
}

static long verify_tree(const struct worker *w, const struct object *t, int depth, uint64_t seed)
{
    if (depth == 0) {
        if (t)
            fail(w, "a tree leaf has a child %p", (const void *)t);
        return 0;
    }
    check_object(w, t, seed, "tree node", depth);
    return 1 + verify_tree(w, t->left, depth - 1, gc_mix(seed * 2 + 1))
             + verify_tree(w, t->right, depth - 1, gc_mix(seed * 2 + 2));
}

/* ---- the threads ---- */

static void thread_started(struct worker *w)
{
    w->thread = sbthread_current();
    w->outer_frame = (uintptr_t)__builtin_frame_address(0);
    atomic_store(&w->tid, (long)syscall(SYS_gettid));
}

/* One round of a mutator: lists and a tree held in locals across
 * allocations (and so across collections), verified on every walk. */
static void mutator_round(struct worker *w, uint64_t *rng)
{
    uint64_t seed_a = next_random(rng), seed_t = next_random(rng), key = next_random(rng);
    long len = 1 + (long)(next_random(rng) % MAX_LIST);
    int depth = 1 + (int)(next_random(rng) % MAX_DEPTH);

    struct object *a = build_list(len, seed_a);
    verify_list(w, a, len, seed_a, "list");
    struct object *t = build_tree(depth, seed_t);
    verify_list(w, a, len, seed_a, "list");
    struct object *b = map_list(a, key);
    if (verify_tree(w, t, depth, seed_t) != (1L << depth) - 1)
        fail(w, "the tree lost nodes");

    /* garbage nobody keeps */
    long glen = (long)(next_random(rng) % GARBAGE_LIST);
    uint64_t gseed = next_random(rng);
    verify_list(w, build_list(glen, gseed), glen, gseed, "garbage list");

    if (w->id % 2 == 0 && w->rounds % EXPLICIT_EVERY == 0)
        gc_collect(GC_REQUESTED);

    verify_list(w, a, len, seed_a, "list");
    verify_mapped(w, b, len, seed_a, key);
    verify_tree(w, t, depth, seed_t);
}

static uintptr_t mutator_main(void *arg)
{
    struct worker *w = arg;
    thread_started(w);
    uint64_t rng = w->seed;
    while (!atomic_load(&stopping)) {
        mutator_round(w, &rng);
        w->rounds++;
    }
    return 0;
}

/* Waits for the coordinator's next round (or the end): 0 at the end. */
static long next_request(struct worker *w)
{
    for (;;) {
        long r = atomic_load(&w->request);
        if (r > w->rounds)
            return w->rounds = r;
        if (atomic_load(&stopping))
            return 0;
        nap_us(500);
    }
}

/* read(2) of one byte from the reader's pipe, inside the blocking region
 * of sbthread_do_blocking: it touches no heap object. */
static uintptr_t read_pipe_byte(void *arg)
{
    char c;
    ssize_t got;
    while ((got = read(reader_pipe[0], &c, 1)) < 0 && errno == EINTR) {
    }
    *(int *)arg = got < 0 ? errno : 0;
    return (uintptr_t)got;
}

/* The reader: builds a list and a tree, then blocks in read() holding the
 * only references, in this frame, while the coordinator collects (more
 * than once) and recycles the whole heap; verifies them when woken. The
 * read is inside a blocking region: the collections count the reader as
 * stopped without signalling it, and scan the registers it had when it
 * entered the region and its stack above (this frame, which holds the
 * list and the tree). */
static uintptr_t reader_main(void *arg)
{
    struct worker *w = arg;
    thread_started(w);
    for (long r; (r = next_request(w)) != 0;) {
        uint64_t seed = gc_mix((uint64_t)r ^ w->seed);
        struct object *list = build_list(SPECIAL_LIST, seed);
        struct object *tree = build_tree(SPECIAL_DEPTH, ~seed);
        verify_list(w, list, SPECIAL_LIST, seed, "reader's list");
        verify_tree(w, tree, SPECIAL_DEPTH, ~seed);
        atomic_store(&w->ready, r);
        int err = 0;
        ssize_t got = (ssize_t)sbthread_do_blocking(read_pipe_byte, &err);
        if (got != 1)
            fail(w, "read() from the pipe returned %zd (%s)", got, strerror(err));
        verify_list(w, list, SPECIAL_LIST, seed, "reader's list");
        verify_tree(w, tree, SPECIAL_DEPTH, ~seed);
        atomic_store(&w->done, r);
    }
    return 0;
}

/* The section thread: builds a list and a tree, then enters a deferral
 * section (WITHOUT-GCING on odd rounds, pseudo-atomic on even ones) and
 * stays there SECTION_MS, holding the only references. A collection
 * requested meanwhile waits until it leaves (R1 in gc.c). Inside it
 * waits for nobody (only the clock) and allocates nothing: a collection
 * cannot start there. */
static uintptr_t section_main(void *arg)
{
    struct worker *w = arg;
    thread_started(w);
    for (long r; (r = next_request(w)) != 0;) {
        uint64_t seed = gc_mix((uint64_t)r ^ w->seed);
        struct object *list = build_list(SPECIAL_LIST, seed);
        struct object *tree = build_tree(SPECIAL_DEPTH, ~seed);
        int pseudo_atomic = r % 2 == 0;
        if (pseudo_atomic)
            sbthread_pseudo_atomic_enter();
        else
            sbthread_without_gcing_enter();
        atomic_store(&w->in_section, 1);
        atomic_store(&w->ready, r);
        double until = now_s() + SECTION_MS / 1000.0;
        while (now_s() < until) {
            verify_list(w, list, SPECIAL_LIST, seed, "section thread's list (inside)");
            nap_us(5000);
        }
        atomic_store(&w->in_section, 0);
        if (pseudo_atomic)
            sbthread_pseudo_atomic_leave();
        else
            sbthread_without_gcing_leave();
        /* stopped here, at the leave, if a stop was requested inside */
        verify_list(w, list, SPECIAL_LIST, seed, "section thread's list");
        verify_tree(w, tree, SPECIAL_DEPTH, ~seed);
        atomic_store(&w->done, r);
    }
    return 0;
}

/* ---- checks run by gc_collect with the world stopped (no stdio) ---- */

static void on_world_stopped(void)
{
    atomic_fetch_add(&collection_no, 1);
    if (atomic_load(&section.in_section))
        gc_problem("the world is stopped while the section thread (%#lx) is inside its deferral section",
                   (uintptr_t)section.thread, 0, 0, 0);
}

static void on_thread_roots(const struct sbthread_roots *r)
{
    struct worker *all[MUTATORS + 2];
    for (int i = 0; i < MUTATORS; i++)
        all[i] = &mutators[i];
    all[MUTATORS] = &reader, all[MUTATORS + 1] = &section;
    for (int i = 0; i < MUTATORS + 2; i++) {
        struct worker *w = all[i];
        if (w->thread != r->thread)
            continue;
        /* The thread's outermost frame is live for its whole life. */
        if (w->outer_frame < (uintptr_t)r->stack_low || w->outer_frame >= (uintptr_t)r->stack_high)
            gc_problem("thread %#lx: its outermost frame %#lx is outside [stack_low %#lx, stack_high %#lx)",
                       (uintptr_t)r->thread, w->outer_frame, (uintptr_t)r->stack_low,
                       (uintptr_t)r->stack_high);
        w->seen_in_collection = atomic_load(&collection_no);
        w->seen_in_region = r->in_blocking_region;
        w->seen_sp = r->context ? (uintptr_t)r->context->uc_mcontext.gregs[REG_RSP] : 0;
        w->seen_low = (uintptr_t)r->stack_low;
        w->seen_high = (uintptr_t)r->stack_high;
    }
}

/* ---- the coordinator (the initial thread) ---- */

static int read_proc(long tid, const char *file, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/%s", tid, file);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return 0;
}

/* 1 when the thread is blocked in read(2) (system call 0), per /proc; if
 * its syscall file is not readable here, when it is asleep. */
static int blocked_in_read(long tid)
{
    char buf[512];
    if (read_proc(tid, "syscall", buf, sizeof buf) == 0)
        return strncmp(buf, "0 ", 2) == 0;
    const char *state;
    if (read_proc(tid, "stat", buf, sizeof buf) == 0 && (state = strrchr(buf, ')')) != NULL)
        return state[1] == ' ' && state[2] == 'S';
    return 0;
}

static void wait_for(atomic_long *what, long value, const char *desc)
{
    double give_up = now_s() + 30;
    while (atomic_load(what) < value) {
        if (now_s() > give_up)
            fail(NULL, "timed out waiting for %s", desc);
        nap_us(200);
    }
}

/* Garbage: n objects in short lists, each verified and dropped. */
static void churn(long n, uint64_t *rng)
{
    while (n > 0) {
        long len = 1 + (long)(next_random(rng) % GARBAGE_LIST);
        uint64_t seed = next_random(rng);
        verify_list(NULL, build_list(len, seed), len, seed, "coordinator's garbage");
        n -= len;
    }
}

struct special_totals {
    long rounds, section_inside_at_request, reader_in_read, reader_counted;
    double max_wait_ms;
    uintptr_t reader_sp, reader_low, reader_high; /* what the last round's collection saw */
};

static void special_round(long r, uint64_t *rng, struct special_totals *tot)
{
    /* 1. The reader builds its structures and blocks in read(). */
    phase = "special round: waiting for the reader to block in read()";
    atomic_store(&reader.request, r);
    wait_for(&reader.ready, r, "the reader to build its structures");
    int in_read = 0;
    for (double give_up = now_s() + 10; !in_read && now_s() < give_up; nap_us(200))
        in_read = blocked_in_read(atomic_load(&reader.tid));
    tot->reader_in_read += in_read;

    /* 2. The section thread enters its section. */
    phase = "special round: waiting for the section thread to enter its section";
    atomic_store(&section.request, r);
    wait_for(&section.ready, r, "the section thread to enter its section");

    /* 3. Collect: the stop waits for the section thread to leave. */
    phase = "special round: collecting";
    int inside = atomic_load(&section.in_section);
    uint64_t before = atomic_load(&collection_no);
    struct sbthread_stats st0, st1;
    sbthread_stats(&st0);
    double t0 = now_s();
    gc_collect(GC_REQUESTED);
    double waited_ms = (now_s() - t0) * 1000;
    sbthread_stats(&st1);
    /* Seen in read() before the collection, the reader is inside its
     * region: every stop since (this one at least) counted it, and this
     * collection scanned the roots it left at the entry. */
    int counted = st1.stop_counted_in_regions > st0.stop_counted_in_regions && reader.seen_in_region;
    if (in_read && !counted)
        fail(NULL, "the reader was blocked in read() inside its region, but the collection did not count it");
    tot->reader_counted += counted;
    tot->section_inside_at_request += inside;
    if (waited_ms > tot->max_wait_ms)
        tot->max_wait_ms = waited_ms;
    if (reader.seen_in_collection <= before)
        fail(NULL, "the collection did not visit the reader");
    if (section.seen_in_collection <= before)
        fail(NULL, "the collection did not visit the section thread");
    tot->reader_sp = reader.seen_sp, tot->reader_low = reader.seen_low, tot->reader_high = reader.seen_high;

    /* 4. Recycle the whole heap while the reader still sleeps: any of its
     * objects wrongly freed would now hold someone else's data. */
    phase = "special round: recycling the heap";
    churn(HEAP_CELLS, rng);

    /* 5. Wake the reader; both verify their structures. */
    phase = "special round: waiting for the reader and the section thread to verify";
    if (write(reader_pipe[1], "x", 1) != 1)
        fail(NULL, "write to the pipe: %s", strerror(errno));
    wait_for(&reader.done, r, "the reader to verify its structures");
    wait_for(&section.done, r, "the section thread to verify its structures");
    tot->rounds++;
}

static void *watchdog(void *arg)
{
    (void)arg;
    struct timespec ts = { seconds + 60, 0 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    char msg[512];
    int n = snprintf(msg, sizeof msg, "collector: FAIL: watchdog: still running after %ld s (run of %ld s), "
                     "the coordinator is in phase \"%s\"; %lu collections so far\n",
                     seconds + 60, seconds, phase, (unsigned long)atomic_load(&collection_no));
    if (n > 0 && write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0) {
    }
    _exit(3);
}

static uintptr_t program(void *arg)
{
    (void)arg;
    uint64_t seed = (uint64_t)time(NULL);
    const char *s = getenv("COLLECTOR_SEED");
    if (s && *s)
        seed = strtoull(s, NULL, 0);
    uint64_t rng = seed;

    gc_init(HEAP_CELLS);
    gc_on_world_stopped = on_world_stopped;
    gc_on_thread_roots = on_thread_roots;
    if (pipe(reader_pipe) != 0)
        fail(NULL, "pipe: %s", strerror(errno));
    printf("collector: %ld s, seed %lu, %d mutators + a reader + a section thread, heap of %d cells\n",
           seconds, (unsigned long)seed, MUTATORS, HEAP_CELLS);

    static char names[MUTATORS][16];
    static struct sbthread_closure bodies[MUTATORS + 2];
    struct thread *threads[MUTATORS + 2];
    for (int i = 0; i < MUTATORS + 2; i++) {
        struct worker *w = i < MUTATORS ? &mutators[i] : special[i - MUTATORS];
        w->id = i;
        w->seed = next_random(&rng);
        if (i < MUTATORS) {
            snprintf(names[i], sizeof names[i], "mutator %d", i);
            w->name = names[i];
            bodies[i] = (struct sbthread_closure){ mutator_main, w };
        } else {
            w->name = w == &reader ? "reader" : "section thread";
            bodies[i] = (struct sbthread_closure){ w == &reader ? reader_main : section_main, w };
        }
        threads[i] = create_thread((lispobj)&bodies[i]);
        if (!threads[i])
            fail(NULL, "create_thread failed for %s", w->name);
    }

    /* Special rounds until the time is up, with garbage in between. */
    struct special_totals tot = { 0 };
    double end = now_s() + (double)seconds;
    for (long r = 1; r == 1 || now_s() < end; r++) {
        special_round(r, &rng, &tot);
        phase = "making garbage";
        churn(HEAP_CELLS / 4, &rng);
        nap_us(ROUND_PAUSE_MS * 1000L);
    }

    phase = "waiting for the threads to finish";
    atomic_store(&stopping, 1);
    for (int i = 0; i < MUTATORS + 2; i++) {
        sbthread_wait_dead(threads[i]);
        reap_dead_thread(threads[i]);
    }

    /* Only this thread is left, holding nothing: nearly everything goes. */
    phase = "last collection";
    gc_collect(GC_REQUESTED);
    struct gc_stats st;
    gc_get_stats(&st);

    long rounds = 0;
    for (int i = 0; i < MUTATORS; i++)
        rounds += mutators[i].rounds;
    printf("collector: %lu collections (%lu on allocation failure, %lu requested), max %lu threads scanned\n",
           (unsigned long)st.collections, (unsigned long)st.on_allocation_failure,
           (unsigned long)st.requested, (unsigned long)st.max_threads_scanned);
    printf("collector: %lu objects allocated (the heap turned over %.0f times), %lu freed, "
           "max live after a collection %lu (bound %d), %lu live after the last (bound %d)\n",
           (unsigned long)st.allocated, (double)st.allocated / HEAP_CELLS, (unsigned long)st.freed,
           (unsigned long)st.max_live_after, LIVE_BOUND, (unsigned long)st.live_after_last, FINAL_BOUND);
    printf("collector: %ld mutator rounds; %ld special rounds: reader seen blocked in read() in %ld "
           "(counted in its blocking region, not signalled, in %ld), section thread inside at the request "
           "in %ld, longest such collection %.1f ms\n",
           rounds, tot.rounds, tot.reader_in_read, tot.reader_counted, tot.section_inside_at_request,
           tot.max_wait_ms);
    printf("collector: last special round, the reader: stopped at sp %#lx, scanned [%#lx, %#lx)\n",
           (unsigned long)tot.reader_sp, (unsigned long)tot.reader_low, (unsigned long)tot.reader_high);
    printf("collector: longest stop of the world %.1f us, longest time stopped %.1f us\n",
           (double)st.stop_wait_ns_max / 1e3, (double)st.stopped_ns_max / 1e3);

    if (st.freed == 0)
        fail(NULL, "no object was ever freed");
    if (st.allocated <= HEAP_CELLS)
        fail(NULL, "the heap never turned over (%lu allocations)", (unsigned long)st.allocated);
    if (st.on_allocation_failure == 0)
        fail(NULL, "no collection was started by an allocation failure");
    if (st.max_live_after > LIVE_BOUND)
        fail(NULL, "up to %lu objects live after a collection, more than the bound %d: garbage is kept",
             (unsigned long)st.max_live_after, LIVE_BOUND);
    if (st.live_after_last > FINAL_BOUND)
        fail(NULL, "%lu objects live after the mutators are gone, more than %d: garbage is kept",
             (unsigned long)st.live_after_last, FINAL_BOUND);
    if (tot.section_inside_at_request == 0)
        fail(NULL, "no collection was requested while the section thread was inside its section");
    if (tot.reader_in_read == 0)
        fail(NULL, "the reader was never seen blocked in read() at a collection");
    if (tot.reader_counted == 0)
        fail(NULL, "no collection counted the reader in its blocking region");
    printf("collector: PASS\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("COLLECTOR_SECONDS");
    if (s && *s)
        seconds = atol(s);
    if (seconds <= 0) {
        fprintf(stderr, "usage: %s [SECONDS]  (or COLLECTOR_SECONDS)\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The watchdog: a plain pthread, never registered, so never stopped. */
    pthread_t wd;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&wd, &attr, watchdog, NULL) != 0) {
        fprintf(stderr, "collector: cannot start the watchdog\n");
        return 1;
    }
    pthread_attr_destroy(&attr);
    static struct sbthread_closure initial = { program, NULL };
    create_initial_thread((lispobj)&initial);   /* never returns */
}
