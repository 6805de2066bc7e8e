/*
 * The legacy layout of `struct thread` and `struct alloc_region` as the
 * SBCL 0.9.4.1 build (genesis) lays them out on x86-64 Linux, written from
 * ../shared/spec/ABI.md §1-§4. This is the independent C description the
 * Rust types are checked against: by bindgen in build.rs (compile time) and
 * by ctest in layout-test/ (C compiler vs Rust compiler).
 *
 * Keep this file free of anything generated from the Rust side.
 */
#ifndef SBTHREAD_LEGACY_THREAD_H
#define SBTHREAD_LEGACY_THREAD_H

#include <pthread.h>
#include <ucontext.h>

typedef unsigned long lispobj;
typedef pthread_t os_thread_t;
typedef ucontext_t os_context_t;
typedef char *os_vm_address_t;
typedef size_t os_vm_size_t;
typedef int boolean;

#define STATE_STARTING 0x0UL
#define STATE_RUNNING 0x8UL
#define STATE_SUSPENDED 0x10UL
#define STATE_DEAD 0x18UL
#define MAX_INTERRUPTS 32
#define UNBOUND_MARKER_WIDETAG 0x52UL
#define INTERRUPT_DATA_SIZE 1312
#define NIL 0x40000017UL
#define T 0x4000004FUL

struct alloc_region {
    void *free_pointer;
    void *end_addr;
    long first_page;
    long last_page;
    void *start_addr;
};

struct interrupt_data;

struct thread {
    lispobj unbound_marker;              /*   0 */
    os_thread_t os_thread;               /*   8 */
    lispobj *binding_stack_start;        /*  16 */
    lispobj *binding_stack_pointer;      /*  24 */
    lispobj *control_stack_start;        /*  32 */
    lispobj *control_stack_end;          /*  40 */
    lispobj *alien_stack_start;          /*  48 */
    lispobj *alien_stack_pointer;        /*  56 */
    struct alloc_region alloc_region;    /*  64 */
    struct thread *this;                 /* 104 */
    struct thread *prev;                 /* 112 */
    struct thread *next;                 /* 120 */
    volatile lispobj state;              /* 128 */
    lispobj tls_cookie;                  /* 136 */
    lispobj pseudo_atomic_atomic;        /* 144 */
    lispobj pseudo_atomic_interrupted;   /* 152 */
    lispobj interrupt_fun;               /* 160 */
    volatile lispobj interrupt_fun_lock; /* 168 */
    struct interrupt_data *interrupt_data; /* 176 */
    os_context_t *interrupt_contexts[1]; /* 184, really MAX_INTERRUPTS long */
};

#endif
