/*
 * The symbols SBCL 0.9.4.1's thread.o takes from the rest of its runtime
 * (spec §6), with the signatures that runtime defines them with, and the
 * table through which the library reaches them.
 *
 * src/hooks/shim.c fills the table with weak references: an entry is the
 * executable's definition when the process has one and NULL otherwise.
 * build.rs runs bindgen over this file, so the Rust side calls every hook
 * with exactly these C types. c-tests/host/host.c defines all of them the
 * way the legacy runtime does and is compiled against this file too.
 */
#ifndef SBTHREAD_HOST_HOOKS_H
#define SBTHREAD_HOST_HOOKS_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <ucontext.h>

typedef unsigned long lispobj;
typedef int boolean;
typedef char *os_vm_address_t;
typedef size_t os_vm_size_t;
typedef ucontext_t os_context_t;

struct thread;
struct alloc_region;
struct interrupt_data;

/* Functions. */
extern lispobj alloc_cons(lispobj car, lispobj cdr);
extern int arch_os_thread_cleanup(struct thread *thread);
extern int arch_os_thread_init(struct thread *thread);
extern boolean arch_pseudo_atomic_atomic(os_context_t *context);
extern void bind_variable(lispobj symbol, lispobj value, void *thread);
extern lispobj call_into_lisp_first_time(lispobj fun, lispobj *args, int nargs);
extern lispobj funcall0(lispobj function);
extern void gc_alloc_update_page_tables(int unboxed, struct alloc_region *region);
extern void gc_set_region_empty(struct alloc_region *region);
extern void lose(char *fmt, ...);
extern void os_invalidate(os_vm_address_t addr, os_vm_size_t len);
extern os_vm_address_t os_validate(os_vm_address_t addr, os_vm_size_t len);
extern void protect_control_stack_guard_page(struct thread *th, int protect_p);
extern void sigaddset_blockable(sigset_t *set);
extern void sigaddset_deferrable(sigset_t *set);

/* Data. */
extern struct interrupt_data *global_interrupt_data;
extern int linux_no_threads_p;
extern pthread_key_t specials;

/* How many hooks there are; a host must define all of them or none. */
#define SBTHREAD_HOST_HOOK_COUNT 18

/*
 * One entry per hook, NULL when the process does not define it. The order
 * here is the order of the names in sbthread_host_hook_names().
 */
struct sbthread_host_table {
    lispobj (*alloc_cons)(lispobj car, lispobj cdr);
    int (*arch_os_thread_cleanup)(struct thread *thread);
    int (*arch_os_thread_init)(struct thread *thread);
    boolean (*arch_pseudo_atomic_atomic)(os_context_t *context);
    void (*bind_variable)(lispobj symbol, lispobj value, void *thread);
    lispobj (*call_into_lisp_first_time)(lispobj fun, lispobj *args, int nargs);
    lispobj (*funcall0)(lispobj function);
    void (*gc_alloc_update_page_tables)(int unboxed, struct alloc_region *region);
    void (*gc_set_region_empty)(struct alloc_region *region);
    void (*lose)(char *fmt, ...);
    void (*os_invalidate)(os_vm_address_t addr, os_vm_size_t len);
    os_vm_address_t (*os_validate)(os_vm_address_t addr, os_vm_size_t len);
    void (*protect_control_stack_guard_page)(struct thread *th, int protect_p);
    void (*sigaddset_blockable)(sigset_t *set);
    void (*sigaddset_deferrable)(sigset_t *set);
    struct interrupt_data **global_interrupt_data;
    int *linux_no_threads_p;
    pthread_key_t *specials;
};

/* Fills *out from the weak references (shim.c). */
void sbthread_shim_host_table(struct sbthread_host_table *out);
/* Calls the given variadic `lose` as lose("%s", message). */
void sbthread_shim_call_lose(void (*lose_fn)(char *fmt, ...), const char *message);
/* The library's own `lose`: prints to stderr and aborts. */
void sbthread_shim_default_lose(char *fmt, ...);

#endif
