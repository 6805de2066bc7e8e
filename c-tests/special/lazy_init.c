/*
 * Nothing happens at load time. Run with the library path as argv[1]:
 *  1. if LD_PRELOAD is not set yet, re-executes itself with LD_PRELOAD set
 *     to the library, and checks there that the process is untouched: no
 *     static space at 0x40000000, default dispositions for SIGRTMIN and
 *     SIGRTMIN+1, no extra threads;
 *  2. then loads the library with dlopen (already loaded: same copy),
 *     still untouched; then calls sbthread_current() through dlsym, which
 *     initialises standalone mode: now the static space and the handlers
 *     exist.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "lazy_init: CHECK failed: %s (line %d)\n", #c, __LINE__); exit(1); } } while (0)

static int mapped_at(unsigned long addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (strtoul(line, NULL, 16) == addr)
            found = 1;
    fclose(f);
    return found;
}

static int default_disposition(int sig)
{
    struct sigaction sa;
    CHECK(sigaction(sig, NULL, &sa) == 0);
    return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static void untouched(const char *when)
{
    CHECK(!mapped_at(0x40000000UL));
    CHECK(default_disposition(SIGRTMIN));
    CHECK(default_disposition(SIGRTMIN + 1));
    CHECK(thread_count() == 1);
    printf("lazy_init: %s: no static space, default handlers, one thread\n", when);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !strstr(pre, "libsbthread")) {
        setenv("LD_PRELOAD", argv[1], 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    unsetenv("LD_PRELOAD");
    untouched("loaded with LD_PRELOAD");
    void *h = dlopen(argv[1], RTLD_NOW);
    CHECK(h != NULL);
    untouched("after dlopen");
    void *(*current)(void) = (void *(*)(void))dlsym(h, "sbthread_current");
    CHECK(current != NULL);
    CHECK(current() == NULL); /* not registered, but the library is set up now */
    CHECK(mapped_at(0x40000000UL));
    CHECK(!default_disposition(SIGRTMIN));
    CHECK(!default_disposition(SIGRTMIN + 1));
    printf("lazy_init: first call set up standalone mode (static space, handlers)\n");
    return 0;
}
