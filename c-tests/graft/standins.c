/*
 * The executable's own thread.o, as upstream links SBCL 0.9.4.1: its nine
 * exported functions and its three globals, defined in the executable
 * (non-PIE, -rdynamic: all in its dynamic symbol table). The functions are
 * stand-ins that fail loudly: each says which one ran and aborts. After a
 * graft none of them runs (their callers land in the library); when the
 * library refuses, they are what a caller reaches.
 *
 * Variants (one executable each):
 *   GRAFT_OMIT_INTERRUPT_THREAD  interrupt_thread is not defined here
 *   GRAFT_SMALL_START            gc_start_the_world is 7 bytes long
 *
 * gc_stop_the_world starts a page of its own, so the stand-ins span at
 * least two pages (the graft's all-or-nothing page handling is tested
 * with a refusal on the second).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbthread.h"
#include "graft.h"

struct thread *volatile all_threads;
pthread_mutex_t all_threads_lock = PTHREAD_MUTEX_INITIALIZER;
int dynamic_values_bytes = 4096 * sizeof(lispobj);

void graft_standin_ran(const char *name)
{
    static const char head[] = "graft test: the executable's own ";
    static const char tail[] = " ran\n";
    if (write(2, head, sizeof head - 1) < 0 || write(2, name, strlen(name)) < 0 ||
        write(2, tail, sizeof tail - 1) < 0) {
        /* abort anyway */
    }
    abort();
}

void create_initial_thread(lispobj initial_function)
{
    (void)initial_function;
    graft_standin_ran("create_initial_thread");
}

struct thread *create_thread(lispobj initial_function)
{
    (void)initial_function;
    graft_standin_ran("create_thread");
    return NULL;
}

boolean create_os_thread(struct thread *th, os_thread_t *kid_tid)
{
    (void)th;
    (void)kid_tid;
    graft_standin_ran("create_os_thread");
    return 0;
}

int new_thread_trampoline(struct thread *th)
{
    (void)th;
    graft_standin_ran("new_thread_trampoline");
    return 0;
}

void reap_dead_thread(struct thread *th)
{
    (void)th;
    graft_standin_ran("reap_dead_thread");
}

#ifndef GRAFT_OMIT_INTERRUPT_THREAD
int interrupt_thread(struct thread *th, lispobj function)
{
    (void)th;
    (void)function;
    graft_standin_ran("interrupt_thread");
    return 0;
}
#endif

void check_sig_stop_for_gc_can_arrive_or_lose(void)
{
    graft_standin_ran("check_sig_stop_for_gc_can_arrive_or_lose");
}

__attribute__((aligned(4096))) void gc_stop_the_world(void)
{
    graft_standin_ran("gc_stop_the_world");
}

#ifdef GRAFT_SMALL_START
/* Shorter than the graft's 14-byte jump: a call and a trap. */
void graft_small_start_ran(void)
{
    graft_standin_ran("gc_start_the_world");
}
__asm__(".text\n"
        ".globl gc_start_the_world\n"
        ".type gc_start_the_world, @function\n"
        "gc_start_the_world:\n"
        "    call graft_small_start_ran\n"
        "    ud2\n"
        ".size gc_start_the_world, .-gc_start_the_world\n");
#else
void gc_start_the_world(void)
{
    graft_standin_ran("gc_start_the_world");
}
#endif
