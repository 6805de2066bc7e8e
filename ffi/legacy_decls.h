/*
 * The declarations a legacy runtime compiles against: the globals and
 * functions that SBCL 0.9.4.1's thread.o defines (spec §5), spelled the way
 * its thread.h spells them. c-tests/abi_signatures.c includes this together
 * with the generated include/sbthread.h; any difference in a signature or a
 * global's type is a compile error there.
 *
 * Types come from whichever header defined them first (typedefs may be
 * repeated in C11 when they name the same type).
 */
#ifndef SBTHREAD_LEGACY_DECLS_H
#define SBTHREAD_LEGACY_DECLS_H

#include <pthread.h>
#include <ucontext.h>

typedef unsigned long lispobj;
typedef pthread_t os_thread_t;
typedef ucontext_t os_context_t;
typedef int boolean;

struct thread;

extern struct thread * volatile all_threads;
extern pthread_mutex_t all_threads_lock;
extern int dynamic_values_bytes;

extern void create_initial_thread(lispobj initial_function);
extern struct thread *create_thread(lispobj initial_function);
extern boolean create_os_thread(struct thread *th, os_thread_t *kid_tid);
extern int new_thread_trampoline(struct thread *th);
extern void link_thread(struct thread *th, os_thread_t kid_tid);
extern void reap_dead_thread(struct thread *th);
extern int interrupt_thread(struct thread *th, lispobj function);
extern void gc_stop_the_world(void);
extern void gc_start_the_world(void);
extern void check_sig_stop_for_gc_can_arrive_or_lose(void);

#endif
