/*
 * The only C in the library: weak references to the host runtime's hooks
 * (spec §6) and the default `lose`, which has to be variadic.
 *
 * A weak undefined reference resolves to the executable's definition when
 * the process has one (a legacy runtime links with --export-dynamic, or the
 * linker exports what a shared library references) and to NULL otherwise.
 * This works for both the shared and the static library and with both GNU
 * ld and lld; weak *definitions* in Rust would not (rustc's version script
 * makes them local in a cdylib). Every symbol defined here is hidden.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host_hooks.h"

#pragma weak alloc_cons
#pragma weak arch_os_thread_cleanup
#pragma weak arch_os_thread_init
#pragma weak arch_pseudo_atomic_atomic
#pragma weak bind_variable
#pragma weak call_into_lisp_first_time
#pragma weak funcall0
#pragma weak gc_alloc_update_page_tables
#pragma weak gc_set_region_empty
#pragma weak lose
#pragma weak os_invalidate
#pragma weak os_validate
#pragma weak protect_control_stack_guard_page
#pragma weak sigaddset_blockable
#pragma weak sigaddset_deferrable
#pragma weak global_interrupt_data
#pragma weak linux_no_threads_p
#pragma weak specials

#define HIDDEN __attribute__((visibility("hidden")))

HIDDEN void sbthread_shim_host_table(struct sbthread_host_table *out)
{
    out->alloc_cons = &alloc_cons;
    out->arch_os_thread_cleanup = &arch_os_thread_cleanup;
    out->arch_os_thread_init = &arch_os_thread_init;
    out->arch_pseudo_atomic_atomic = &arch_pseudo_atomic_atomic;
    out->bind_variable = &bind_variable;
    out->call_into_lisp_first_time = &call_into_lisp_first_time;
    out->funcall0 = &funcall0;
    out->gc_alloc_update_page_tables = &gc_alloc_update_page_tables;
    out->gc_set_region_empty = &gc_set_region_empty;
    out->lose = &lose;
    out->os_invalidate = &os_invalidate;
    out->os_validate = &os_validate;
    out->protect_control_stack_guard_page = &protect_control_stack_guard_page;
    out->sigaddset_blockable = &sigaddset_blockable;
    out->sigaddset_deferrable = &sigaddset_deferrable;
    out->global_interrupt_data = &global_interrupt_data;
    out->linux_no_threads_p = &linux_no_threads_p;
    out->specials = &specials;
}

HIDDEN void sbthread_shim_call_lose(void (*lose_fn)(char *fmt, ...), const char *message)
{
    lose_fn((char *)"%s", message);
}

/* Formats into a stack buffer and writes with write(2): no stdio locks, no
 * allocation, so it is usable from a signal handler. Never returns. */
HIDDEN void sbthread_shim_default_lose(char *fmt, ...)
{
    char buf[1024];
    static const char prefix[] = "sbthread: fatal error: ";
    va_list ap;
    int n;
    int saved = errno;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    if (n == 0 || buf[n - 1] != '\n')
        buf[n++] = '\n';
    if (write(STDERR_FILENO, prefix, sizeof prefix - 1) < 0) { /* nothing to do */ }
    if (write(STDERR_FILENO, buf, (size_t)n) < 0) { /* nothing to do */ }
    errno = saved;
    abort();
}
