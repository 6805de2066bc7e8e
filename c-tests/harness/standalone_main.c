/* main for standalone tests: the library is the whole runtime. The test
 * runs in the initial thread; the process exits with its result. */
#include "harness.h"

static uintptr_t run_test(void *arg)
{
    (void)arg;
    return (uintptr_t)test_main(harness_argc, harness_argv);
}

int main(int argc, char **argv)
{
    static struct sbthread_closure initial = { run_test, NULL };
    harness_init(argc, argv);
    create_initial_thread((lispobj)&initial);
}
