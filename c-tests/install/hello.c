/* Built against an installed copy with pkg-config (test_install.sh). */
#include <stdio.h>
#include "sbthread.h"

static uintptr_t child(void *arg)
{
    return (uintptr_t)arg + 1;
}

static uintptr_t program(void *arg)
{
    (void)arg;
    static struct sbthread_closure body = { child, (void *)41 };
    struct thread *th = create_thread((lispobj)&body);
    if (!th)
        return 1;
    sbthread_wait_dead(th);
    reap_dead_thread(th);
    struct sbthread_stats st;
    sbthread_stats(&st);
    printf("hello: %lu threads created, %lu reaped\n", (unsigned long)st.threads_created,
           (unsigned long)st.threads_reaped);
    return st.threads_reaped == 1 ? 0 : 1;
}

int main(void)
{
    static struct sbthread_closure initial = { program, NULL };
    create_initial_thread((lispobj)&initial);
}
