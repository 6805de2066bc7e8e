/*
 * A host that defines some runtime hooks but not all must be refused at
 * start-up with a message naming the missing ones. This program defines
 * `lose` and `funcall0` (exported with -rdynamic); a child calls into the
 * library and must abort with the message, which goes through our `lose`.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbthread.h"
#include "child.h"

void lose(char *fmt, ...);
lispobj funcall0(lispobj function);

void lose(char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "partial host lose: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

lispobj funcall0(lispobj function)
{
    return function;
}

static void call_the_library(void)
{
    (void)sbthread_current(); /* must lose */
}

int main(void)
{
    char out[4096];
    int status = run_child(call_the_library, out, sizeof out);
    int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT
        && strstr(out, "partial host lose:")           /* the host's own lose */
        && strstr(out, "defines 2 of the 18")
        && strstr(out, "os_validate") && strstr(out, "specials")
        && strstr(out, "alloc_cons") && strstr(out, "call_into_lisp_first_time")
        && !strstr(out, " funcall0") && !strstr(out, " lose ");
    if (!ok) {
        fprintf(stderr, "partial_hooks: expected a refusal naming the missing hooks\n");
        return 1;
    }
    printf("partial_hooks: refused with the missing hooks named\n");
    return 0;
}
