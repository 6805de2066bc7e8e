/*
 * A conservative mark-and-sweep collector written against libsbthread's
 * public API only (standalone mode): gc_stop_the_world,
 * sbthread_scan_roots, gc_start_the_world and the WITHOUT-GCING section.
 *
 * The heap is a fixed array of 64-byte cells (struct object, gc.h). Free
 * cells form one free list. Mutator threads keep their references where
 * C code keeps them: in local variables, which the compiler puts in
 * registers and stack slots. So the roots are every thread's registers,
 * the live part of its stack, and its TLS area, and the collector cannot
 * tell a pointer from an integer that happens to look like one: it is
 * conservative, any word that points into a live cell keeps that cell.
 *
 * The rules it relies on, each used once below:
 *
 *  R1 A thread inside a deferral section (WITHOUT-GCING, pseudo-atomic)
 *     when the world is being stopped is stopped only when it leaves the
 *     section: gc_stop_the_world waits for that. So while the world is
 *     stopped no thread is inside one.
 *  R2 While the world is stopped, the stopper must not call anything that
 *     may wait for a stopped thread: malloc, stdio, a mutex a mutator may
 *     hold. Everything the collector needs is mapped in gc_init.
 *  R3 A thread blocked in a system call is stopped by the signal too, and
 *     sbthread_scan_roots reports its registers and stack like any other.
 *     A thread that blocks inside a blocking region (sbthread_do_blocking)
 *     is not even signalled: it is counted as stopped (not suspended: it
 *     runs on, its state RUNNING, roots->in_blocking_region 1), and its
 *     roots are the registers it had when it entered the region and its
 *     stack above that point, which it does not touch until it leaves.
 *  R4 The stopper scans itself too: sbthread_scan_roots gives it a context
 *     saved inside the call and the stack below its own frames.
 *
 * Allocation pops the free list inside WITHOUT-GCING (R1): the pop and
 * the initialisation of the object happen with no stop in between, and
 * the lock that guards the free list is never held by a stopped thread.
 * The collector itself runs outside any section (gc_stop_the_world may
 * not be called inside one).
 */
#define _GNU_SOURCE
#include "gc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* ---- the heap and the collector's memory (all mapped by gc_init) ---- */

static struct object *heap;        /* heap_cells cells */
static size_t heap_cells;
static size_t heap_bytes;
static unsigned char *mark_bits;   /* one byte per cell: reached in this collection */
static uint32_t *mark_stack;       /* cells marked but not yet scanned; a cell is */
static size_t mark_top;            /*   pushed once, so heap_cells entries suffice */

/* The free list and the statistics. Taken only inside WITHOUT-GCING (by
 * gc_alloc, gc_get_stats) or by the collector with the world stopped. */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct object *free_list;
static struct gc_stats stats;

void (*gc_on_world_stopped)(void);
void (*gc_on_thread_roots)(const struct sbthread_roots *roots);

/* The first problem found while the world was stopped (R2: no stdio
 * then), reported by gc_collect after starting the world. */
static struct {
    const char *fmt;
    uintptr_t a, b, c, d;
    unsigned long count;
} problem;

void gc_problem(const char *fmt, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d)
{
    if (problem.count++ == 0) {
        problem.fmt = fmt;
        problem.a = a, problem.b = b, problem.c = c, problem.d = d;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  /* async-signal-safe, takes no lock */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *map_or_die(size_t bytes, const char *what)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        gc_fatal("cannot map %zu bytes for the %s", bytes, what);
    return p;
}

/* A freed cell: every word but the free-list link is poison, so a mutator
 * that still reaches it sees a wrong tag and a wrong checksum, and one
 * that follows its references faults. */
static void poison(struct object *o)
{
    o->tag = GC_TAG_FREE;
    o->right = (struct object *)(uintptr_t)GC_POISON;
    o->value = GC_POISON;
    for (int i = 0; i < 3; i++)
        o->extra[i] = GC_POISON;
    o->checksum = GC_POISON;
}

void gc_init(size_t cells)
{
    heap_cells = cells;
    heap_bytes = cells * sizeof(struct object);
    heap = map_or_die(heap_bytes, "heap");
    mark_bits = map_or_die(cells, "mark bits");
    mark_stack = map_or_die(cells * sizeof *mark_stack, "mark stack");
    for (size_t i = cells; i-- > 0;) {
        poison(&heap[i]);
        heap[i].left = free_list;
        free_list = &heap[i];
    }
    stats.heap_cells = cells;
}

int gc_is_cell(const void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)heap;
    return off < heap_bytes && off % sizeof(struct object) == 0;
}

/* ---- allocation ---- */

enum { ALLOC_ATTEMPTS = 8 };

struct object *gc_alloc(struct object *left, struct object *right, uint64_t value)
{
    for (int attempt = 1;; attempt++) {
        /* R1: no stop between taking the cell and making it a valid
         * object. A stop requested meanwhile happens at the leave, when
         * the new object is complete and its address is in a register. */
        sbthread_without_gcing_enter();
        pthread_mutex_lock(&heap_lock);
        struct object *o = free_list;
        if (o) {
            free_list = o->left;
            stats.allocated++;
        }
        pthread_mutex_unlock(&heap_lock);
        if (o) {
            o->tag = GC_TAG_LIVE;
            o->left = left;
            o->right = right;
            o->value = value;
            for (int i = 0; i < 3; i++)
                o->extra[i] = gc_mix(value + (uint64_t)i);
            o->checksum = gc_checksum(o);
        }
        sbthread_without_gcing_leave();
        if (o)
            return o;
        /* The heap is full: collect, outside the section, and retry.
         * `left` and `right` stay alive in this frame across it (R4).
         * Other threads may take what this collection frees before we
         * retry, hence a few attempts. */
        if (attempt == ALLOC_ATTEMPTS)
            gc_fatal("heap exhausted: no free cell after %d collections (%zu cells)", attempt - 1,
                     heap_cells);
        gc_collect(GC_ALLOCATION_FAILED);
    }
}

/* ---- marking ---- */

/* Marks the cell a word points into, if it is a live object: interior
 * pointers count (an optimising compiler may keep &o->right instead of
 * o), pointers to free cells are stale values and keep nothing. */
static void mark_word(uintptr_t w)
{
    uintptr_t off = w - (uintptr_t)heap;   /* wraps for w below the heap */
    if (off >= heap_bytes)
        return;
    size_t i = off / sizeof(struct object);
    if (heap[i].tag != GC_TAG_LIVE || mark_bits[i])
        return;
    mark_bits[i] = 1;
    mark_stack[mark_top++] = (uint32_t)i;
}

/* Every aligned word of [low, high). It reads other threads' stacks,
 * including the redzones AddressSanitizer puts between locals: not
 * instrumented. (Under ASan, also run with detect_stack_use_after_return=0:
 * its "fake stacks" hold locals off the thread's stack, where no
 * conservative collector looks.) */
__attribute__((no_sanitize_address))
static void scan_range(const void *low, const void *high)
{
    for (uintptr_t p = ((uintptr_t)low + 7) & ~(uintptr_t)7; p + 8 <= (uintptr_t)high; p += 8)
        mark_word(*(const uintptr_t *)p);
}

/* The visitor of sbthread_scan_roots: one thread's roots. */
static void scan_thread(const struct sbthread_roots *r, void *arg)
{
    unsigned long *visited = arg;
    ++*visited;
    /* What the API promises, checked rather than trusted: a stopped
     * thread is SUSPENDED, its stack pointer lies in the range to scan,
     * its TLS area is its struct thread. A violation is a library bug. */
    const ucontext_t *uc = (const ucontext_t *)r->context;
    uintptr_t sp = uc ? (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] : 0;
    if (!uc || r->context_size < sizeof(ucontext_t))
        gc_problem("thread %#lx: no register context (context %#lx, %lu bytes)",
                   (uintptr_t)r->thread, (uintptr_t)uc, r->context_size, 0);
    else if (sp < (uintptr_t)r->stack_low || sp >= (uintptr_t)r->stack_high)
        gc_problem("thread %#lx: saved stack pointer %#lx outside [stack_low %#lx, stack_high %#lx)",
                   (uintptr_t)r->thread, sp, (uintptr_t)r->stack_low, (uintptr_t)r->stack_high);
    /* Stopped: suspended, or counted in a blocking region (R3), where it
     * runs on, RUNNING, without touching the heap. */
    lispobj state = r->thread->state;
    if (!r->is_self && (r->in_blocking_region ? state != SBTHREAD_STATE_RUNNING : state != SBTHREAD_STATE_SUSPENDED))
        gc_problem("thread %#lx: visited while the world is stopped, but its state is %lu (in a blocking region: %lu)",
                   (uintptr_t)r->thread, (uintptr_t)state, (uintptr_t)r->in_blocking_region, 0);
    if (r->tls != (const void *)r->thread)
        gc_problem("thread %#lx: TLS area %#lx is not its struct thread", (uintptr_t)r->thread,
                   (uintptr_t)r->tls, 0, 0);
    if (gc_on_thread_roots)
        gc_on_thread_roots(r);

    /* The roots: the registers where the thread stopped (a pointer may
     * live only in a callee-saved register), the live part of its stack
     * (below stack_low is dead: frames already returned from), and its
     * TLS area. */
    if (uc)
        scan_range(uc, (const char *)uc + r->context_size);
    scan_range(r->stack_low, r->stack_high);
    scan_range(r->tls, (const char *)r->tls + r->tls_size);
}

/* The transitive closure: the references inside a reached object are
 * exact (we know the layout), so they are checked, not guessed. A live
 * object whose child is a free cell means a reachable object was freed
 * by an earlier collection. */
static void mark_child(const struct object *parent, const struct object *child)
{
    if (!child)
        return;
    if (!gc_is_cell(child))
        gc_problem("object %#lx refers to %#lx, which is not a heap cell", (uintptr_t)parent,
                   (uintptr_t)child, 0, 0);
    else if (child->tag != GC_TAG_LIVE)
        gc_problem("object %#lx refers to %#lx, a free cell: a reachable object was freed",
                   (uintptr_t)parent, (uintptr_t)child, 0, 0);
    else
        mark_word((uintptr_t)child);
}

static void trace(void)
{
    while (mark_top > 0) {
        const struct object *o = &heap[mark_stack[--mark_top]];
        /* R1: nobody is inside gc_alloc's section, so every live object
         * is complete and must verify. */
        if (o->checksum != gc_checksum(o))
            gc_problem("object %#lx is corrupted (checksum %#lx, expected %#lx)", (uintptr_t)o,
                       o->checksum, gc_checksum(o), 0);
        mark_child(o, o->left);
        mark_child(o, o->right);
    }
}

/* ---- sweeping ---- */

/* Rebuilds the free list from every cell not reached, poisoning the ones
 * freed now. Returns the number of live objects. */
static uint64_t sweep(void)
{
    uint64_t live = 0, freed = 0;
    free_list = NULL;
    for (size_t i = heap_cells; i-- > 0;) {   /* backwards: the list comes out in address order */
        struct object *o = &heap[i];
        if (o->tag == GC_TAG_LIVE && mark_bits[i]) {
            live++;
            continue;
        }
        if (o->tag == GC_TAG_LIVE) {
            poison(o);
            freed++;
        }
        o->left = free_list;
        free_list = o;
    }
    stats.freed += freed;
    return live;
}

/* ---- a collection ---- */

void gc_collect(enum gc_reason why)
{
    uint64_t t0 = now_ns();
    gc_stop_the_world();
    uint64_t t1 = now_ns();

    /* R1 again: with the world stopped nobody is inside gc_alloc's
     * section, so nobody holds heap_lock. trylock checks that instead of
     * waiting (R2): a failure means a thread was stopped inside
     * WITHOUT-GCING. */
    if (pthread_mutex_trylock(&heap_lock) != 0) {
        gc_problem("the heap lock is held while the world is stopped: a thread was stopped inside WITHOUT-GCING",
                   0, 0, 0, 0);
    } else {
        if (gc_on_world_stopped)
            gc_on_world_stopped();

        /* 1. Nothing is marked. */
        memset(mark_bits, 0, heap_cells);
        mark_top = 0;

        /* 2. The roots of every live thread, this one included (R3, R4). */
        unsigned long visited = 0;
        int n = sbthread_scan_roots(scan_thread, &visited);
        if ((unsigned long)n != visited)
            gc_problem("sbthread_scan_roots returned %lu but visited %lu threads", (uintptr_t)n, visited, 0, 0);
        if (visited > stats.max_threads_scanned)
            stats.max_threads_scanned = visited;

        /* 3. Everything reachable from them. */
        trace();

        /* 4. Everything else is garbage. */
        uint64_t live = sweep();
        stats.collections++;
        if (why == GC_ALLOCATION_FAILED)
            stats.on_allocation_failure++;
        else
            stats.requested++;
        stats.live_after_last = live;
        if (live > stats.max_live_after)
            stats.max_live_after = live;
        if (t1 - t0 > stats.stop_wait_ns_max)
            stats.stop_wait_ns_max = t1 - t0;
        uint64_t stopped = now_ns() - t1;
        if (stopped > stats.stopped_ns_max)
            stats.stopped_ns_max = stopped;
        pthread_mutex_unlock(&heap_lock);
    }

    gc_start_the_world();

    /* The world runs again: stdio is safe. */
    if (problem.count) {
        char msg[512];
        snprintf(msg, sizeof msg, problem.fmt, problem.a, problem.b, problem.c, problem.d);
        gc_fatal("found with the world stopped (%lu problem(s), the first): %s", problem.count, msg);
    }
}

void gc_get_stats(struct gc_stats *out)
{
    sbthread_without_gcing_enter();   /* heap_lock is only taken inside */
    pthread_mutex_lock(&heap_lock);
    *out = stats;
    pthread_mutex_unlock(&heap_lock);
    sbthread_without_gcing_leave();
}

void gc_fatal(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "collector: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* Read without the lock: the process is about to exit. */
    fprintf(stderr, "\ncollector: %lu collections, %lu allocated, %lu freed, %lu live after the last\n",
            (unsigned long)stats.collections, (unsigned long)stats.allocated,
            (unsigned long)stats.freed, (unsigned long)stats.live_after_last);
    fflush(stderr);
    _exit(1);
}
