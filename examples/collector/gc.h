/*
 * A small conservative mark-and-sweep collector on libsbthread's roots
 * API (standalone mode). See gc.c for how it works and README.md for the
 * test that drives it.
 */
#ifndef COLLECTOR_GC_H
#define COLLECTOR_GC_H

#include <stddef.h>
#include <stdint.h>

#include "sbthread.h"

/*
 * Every heap cell is one of these (64 bytes). A live object never changes
 * after gc_alloc returns it; the checksum covers the whole cell and its
 * address, so a freed (poisoned) or reused cell does not verify.
 */
struct object {
    uint64_t tag;          /* GC_TAG_LIVE, or GC_TAG_FREE on the free list */
    struct object *left;   /* references the collector follows: NULL or an */
    struct object *right;  /*   object (free cell: left links the free list) */
    uint64_t value;        /* the mutator's payload */
    uint64_t extra[3];     /* filler derived from value */
    uint64_t checksum;     /* gc_checksum() of the words above */
};

#define GC_TAG_LIVE   0x4c4956454f424a31ULL /* "LIVEOBJ1" */
#define GC_TAG_FREE   0xf4eef4eef4eef4eeULL
#define GC_POISON     0xdeaddeaddeaddeadULL /* not a canonical address */

static inline uint64_t gc_mix(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t gc_checksum(const struct object *o)
{
    uint64_t h = gc_mix((uint64_t)(uintptr_t)o);
    h = gc_mix(h ^ o->tag);
    h = gc_mix(h ^ (uint64_t)(uintptr_t)o->left);
    h = gc_mix(h ^ (uint64_t)(uintptr_t)o->right);
    h = gc_mix(h ^ o->value);
    for (int i = 0; i < 3; i++)
        h = gc_mix(h ^ o->extra[i]);
    return h;
}

enum gc_reason { GC_ALLOCATION_FAILED, GC_REQUESTED };

struct gc_stats {
    uint64_t heap_cells;
    uint64_t collections;          /* all of them */
    uint64_t on_allocation_failure;/* started by gc_alloc finding no free cell */
    uint64_t requested;            /* gc_collect(GC_REQUESTED) */
    uint64_t allocated;            /* objects handed out by gc_alloc */
    uint64_t freed;                /* objects the sweeps freed */
    uint64_t live_after_last;      /* live objects after the last collection */
    uint64_t max_live_after;       /* the most live objects after any collection */
    uint64_t max_threads_scanned;  /* most threads visited by one scan */
    uint64_t stopped_ns_max;       /* longest time the world stayed stopped */
    uint64_t stop_wait_ns_max;     /* longest gc_stop_the_world call */
};

/* Maps the heap and the collector's own memory (before any mutator runs). */
void gc_init(size_t cells);

/* A new object with these fields; collects when the heap is full. Call from
 * a registered thread, outside any deferral section. */
struct object *gc_alloc(struct object *left, struct object *right, uint64_t value);

/* Stops the world, marks, sweeps, starts the world. Any registered thread,
 * outside any deferral section. */
void gc_collect(enum gc_reason why);

/* 1 if p is the start of a heap cell (free or live). */
int gc_is_cell(const void *p);

void gc_get_stats(struct gc_stats *out);

/* Prints "FAIL: ..." and the statistics, then exits with status 1. Never
 * with the world stopped (stdio). */
void gc_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/*
 * Test hooks, called by gc_collect with the world stopped, so under the
 * same rules as the collector there: no malloc, no stdio, no lock a
 * mutator may hold. gc_problem records a failure (fmt takes up to four
 * uintptr_t arguments, printed as %#lx or %lu); gc_collect reports it and
 * exits once the world runs again.
 */
extern void (*gc_on_world_stopped)(void);
extern void (*gc_on_thread_roots)(const struct sbthread_roots *roots);
void gc_problem(const char *fmt, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d);

#endif
