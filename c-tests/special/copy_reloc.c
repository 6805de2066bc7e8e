/*
 * Globals under copy relocation. This executable is built -no-pie and
 * refers to all_threads, dynamic_values_bytes and all_threads_lock
 * directly, so the linker copies them into the executable (the Makefile
 * checks the R_X86_64_COPY relocations). The library must use those copies:
 *  - a value the executable writes (dynamic_values_bytes) is what the
 *    library uses (the alternate signal stack sits at th + that many bytes);
 *  - what the library writes (all_threads on linking a thread) the
 *    executable reads;
 *  - the lock the library holds while the world is stopped is the one the
 *    executable sees held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "sbthread.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "copy_reloc: CHECK failed: %s (line %d)\n", #c, __LINE__); exit(1); } } while (0)

static uintptr_t idle(void *arg) { (void)arg; return 7; }

static uintptr_t program(void *arg)
{
    (void)arg;
    struct thread *me = sbthread_current();
    CHECK(me != NULL);
    /* library wrote, executable reads */
    CHECK(all_threads == me);
    CHECK(me->next == NULL);
    /* executable wrote, library read: TLS size and the alt stack after it */
    stack_t ss;
    CHECK(sigaltstack(NULL, &ss) == 0);
    CHECK((char *)ss.ss_sp == (char *)me + 65536);
    /* a second thread: its struct is at the start of a 64 KiB TLS area
     * copied from ours, and it is linked at the head of our all_threads */
    static struct sbthread_closure c = { idle, NULL };
    struct thread *kid = create_thread((lispobj)&c);
    CHECK(kid != NULL);
    CHECK(all_threads == kid && kid->next == me && me->prev == kid);
    /* the lock: held by the library while the world is stopped */
    gc_stop_the_world();
    CHECK(pthread_mutex_trylock(&all_threads_lock) == EBUSY);
    gc_start_the_world();
    CHECK(pthread_mutex_trylock(&all_threads_lock) == 0);
    pthread_mutex_unlock(&all_threads_lock);
    sbthread_wait_dead(kid);
    reap_dead_thread(kid);
    CHECK(all_threads == me && me->prev == NULL);
    printf("copy_reloc: library and executable share all_threads, dynamic_values_bytes (65536) and all_threads_lock\n");
    return 0;
}

int main(void)
{
    static struct sbthread_closure initial = { program, NULL };
    dynamic_values_bytes = 65536; /* before any thread: the library must see it */
    create_initial_thread((lispobj)&initial);
}
