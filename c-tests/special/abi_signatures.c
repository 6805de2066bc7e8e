/*
 * Compile-only check (make check-signatures): the legacy declarations of
 * thread.o's exports (ffi/legacy_decls.h, as SBCL 0.9.4.1's thread.h has
 * them) and the generated header in one translation unit. C requires every
 * redeclaration of a function or object to have a compatible type, so any
 * difference in a signature, a global's type or qualifiers is an error.
 */
#include "legacy_decls.h"
#include "sbthread.h"

/* Taking the addresses with the legacy pointer types checks the same
 * thing once more, in expressions. */
void (*const check_create_initial_thread)(lispobj) = create_initial_thread;
struct thread *(*const check_create_thread)(lispobj) = create_thread;
boolean (*const check_create_os_thread)(struct thread *, os_thread_t *) = create_os_thread;
int (*const check_new_thread_trampoline)(struct thread *) = new_thread_trampoline;
void (*const check_link_thread)(struct thread *, os_thread_t) = link_thread;
void (*const check_reap_dead_thread)(struct thread *) = reap_dead_thread;
int (*const check_interrupt_thread)(struct thread *, lispobj) = interrupt_thread;
void (*const check_gc_stop_the_world)(void) = gc_stop_the_world;
void (*const check_gc_start_the_world)(void) = gc_start_the_world;
void (*const check_check_sig)(void) = check_sig_stop_for_gc_can_arrive_or_lose;
struct thread *volatile *const check_all_threads = &all_threads;
pthread_mutex_t *const check_all_threads_lock = &all_threads_lock;
int *const check_dynamic_values_bytes = &dynamic_values_bytes;

/* The struct must be complete with the legacy size. */
typedef char check_thread_size[sizeof(struct thread) == 192 ? 1 : -1];
