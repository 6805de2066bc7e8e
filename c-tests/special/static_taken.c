/*
 * Standalone mode maps the static symbols at their legacy addresses
 * (0x40000000) without clobbering anything: when the range is already
 * taken, the first call stops with a message saying so. A child maps the
 * page first, then calls into the library; it must abort with that message
 * and the page must still hold what the child put there.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbthread.h"
#include "child.h"

static void take_the_page_then_call(void)
{
    char *p = mmap((void *)0x40000000UL, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (char *)0x40000000UL)
        _exit(3);
    strcpy(p, "mine");
    (void)sbthread_current(); /* must lose */
    _exit(strcmp(p, "mine") == 0 ? 4 : 5);
}

int main(void)
{
    char out[2048];
    int status = run_child(take_the_page_then_call, out, sizeof out);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, "0x40000000")
          && strstr(out, "EEXIST") && strstr(out, "taken by another mapping"))) {
        fprintf(stderr, "static_taken: expected a clear refusal, got status %#x\n", status);
        return 1;
    }
    printf("static_taken: a taken static-space range is reported, not clobbered\n");
    return 0;
}
