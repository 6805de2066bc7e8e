/*
 * What tests can use of the test host's model of the SBCL 0.9.4.1 runtime
 * (host.c). Declared weak: in a standalone build of a test they are NULL,
 * so a test checks harness_host_mode() before it uses them.
 */
#ifndef SBTHREAD_TEST_HOST_H
#define SBTHREAD_TEST_HOST_H

#include "sbthread.h"

#include <sys/syscall.h>
#include <unistd.h>

/* Called by a dying thread inside its Lisp exit code, after *GC-INHIBIT*
 * is bound and before the blockable signals are blocked: a stop signal
 * arriving here is deferred (STOP_FOR_GC_PENDING = T). NULL: no call. */
extern void (*host_exit_window_hook)(struct thread *th) __attribute__((weak));

/* Called by the SIG_STOP_FOR_GC handler on entry, before it looks at the
 * thread (a test can make a thread slow to reach its suspension, as a
 * busy machine does). Async-signal-safe code only. NULL: no call. */
extern void (*host_stop_handler_hook)(struct thread *th) __attribute__((weak));

/* Runs body(arg) holding the Lisp *ALL-THREADS-LOCK* that a dying thread
 * takes in its exit code, with GC allowed, as MAKE-THREAD does: a stop
 * can suspend the caller in body. */
void host_with_all_threads_lock(void (*body)(void *), void *arg) __attribute__((weak));

/* How many times the calling thread has been suspended and resumed. */
long host_times_suspended(void) __attribute__((weak));

/* WITHOUT-GCING: a stop is deferred inside; leaving honours it. */
void host_without_gcing_enter(void) __attribute__((weak));
void host_without_gcing_leave(void) __attribute__((weak));

/* Pseudo-atomic: a stop is deferred inside; leaving honours it. */
void host_pseudo_atomic_enter(void) __attribute__((weak));
void host_pseudo_atomic_leave(void) __attribute__((weak));

/* Interrupt functions the host's handler ran; calls of
 * gc_alloc_update_page_tables, and how many closed a region in use (each
 * thread's exactly once: at its death or at its reap). */
extern long host_interrupts_run __attribute__((weak));
extern long host_region_updates __attribute__((weak));
extern long host_region_closes __attribute__((weak));

/* With the world stopped, by the stopper: for each SUSPENDED thread, whether
 * 0.9.4.1's collector would scan the word at the stack pointer its stop
 * handler found (the word where a routine without a frame of its own
 * keeps its return address). It scans a stopped thread's control stack
 * from the end down to, not including, the lowest stack pointer among the
 * thread's interrupt contexts (gencgc.c:3605; the host's handler records
 * its context there, as 0.9.4.1's does). Counts both. */
void host_check_stack_tops(void) __attribute__((weak));
extern long host_stack_tops_checked __attribute__((weak));
extern long host_stack_tops_missed __attribute__((weak));

/* The model of 0.9.4.1's alloc_cons (host.c): every host_alloc_gc_every-th
 * cons (0: none) is allocated past the GC trigger, so a collection runs
 * inside alloc_cons unless GC is inhibited; host_conses_lost counts the
 * conses a collection (or a stop deferred into the allocation) freed
 * before alloc_cons wrote them. */
extern long host_alloc_gc_every __attribute__((weak));
extern long host_conses_lost __attribute__((weak));

/* A 0.9.4.1 Lisp object as the library reads it (16-byte aligned; an
 * instance pointer has lowtag 1, any other pointer, a SAP, lowtag 15), and
 * a 0.9.4.1 `mutex` instance (header, layout, name, value: the value slot
 * is the futex word, NIL when free), for the tests of the measures that
 * read Lisp mutexes (lost_wake.c, abandoned_mutex.c). */
struct host_lisp_obj { _Alignas(16) uint64_t w[4]; };
#define HOST_INSTANCE(o) ((uint64_t)(uintptr_t)(o) + 1)
#define HOST_OTHER(o) ((uint64_t)(uintptr_t)(o) + 15)
#define HOST_INSTANCE_HEADER(slots) (0x5A | ((uint64_t)(slots) << 8))
static inline void host_mutex_init(struct host_lisp_obj *m, const struct host_lisp_obj *layout)
{
    m->w[0] = HOST_INSTANCE_HEADER(3);
    m->w[1] = HOST_INSTANCE(layout);
    m->w[2] = SBTHREAD_NIL;
    __atomic_store_n(&m->w[3], SBTHREAD_NIL, __ATOMIC_SEQ_CST);
}

/* The runtime's futex_wait / futex_wake on a Lisp word: a shared (not
 * private) futex on its low half. */
static inline long host_futex(uint64_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)word, op, val, NULL, NULL, 0);
}

/* *GC-PENDING*, a static symbol, and a static symbol's value as the
 * calling thread sees it (its TLS word if bound there, else the global
 * value: the runtime's SymbolValue). */
#define GC_PENDING 0x4000060FUL
lispobj host_symbol_value(lispobj sym) __attribute__((weak));

#endif
