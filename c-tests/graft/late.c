/*
 * The graft when the executable is not linked with the library at all, as
 * the upstream-built sbcl is: the same stand-in thread.o (standins.c) and
 * test host hooks (host.c), and the library comes in by LD_PRELOAD or by
 * dlopen. No harness (it needs the library at link time): a watchdog and
 * checks of its own. Run without arguments, it is the test, and re-runs
 * itself as
 *   "work"     (LD_PRELOAD) must be grafted; runs the test host, whose
 *              test_main below makes threads, stops, interrupts;
 *   "fresh"    dlopens the library before any thread: grafted; then works;
 *   "running"  dlopens it after the runtime's first thread (all_threads
 *              set): refused, stand-ins untouched, create_thread aborts;
 *   "refused"  (LD_PRELOAD) must not be grafted: stand-ins untouched,
 *              create_thread aborts;
 * and it runs other test programs with the library preloaded (they must
 * not notice). GRAFT_LIB, GRAFT_FI_LIB, GRAFT_TESTS: paths given by the
 * Makefile.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbthread.h"
#include "graft.h"

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "late: %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

int host_main(int argc, char **argv);

/* What host.c needs of the harness. */
int harness_argc;
char **harness_argv;

static void *watchdog(void *arg)
{
    struct timespec ts = { (long)arg, 0 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    fprintf(stderr, "\nWATCHDOG: late %s still running after %ld s\n",
            harness_argc > 1 ? harness_argv[1] : "", (long)arg);
    for (struct thread *th = all_threads; th; th = th->next)
        fprintf(stderr, "WATCHDOG:   thread %p state %#lx\n", (void *)th, (unsigned long)th->state);
    _exit(3);
    return NULL;
}

void harness_init(int argc, char **argv)
{
    pthread_t w;
    harness_argc = argc;
    harness_argv = argv;
    CHECK(pthread_create(&w, NULL, watchdog, (void *)30L) == 0);
    pthread_detach(w);
}

/* ---- "work" and "fresh": the grafted test host ---- */

static int (*is_grafted)(void);
static void (*wait_dead)(struct thread *);
static long interrupts_seen;
static volatile int stop;

static uintptr_t spin(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
    }
    return 0;
}

static uintptr_t interrupted(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&interrupts_seen, 1, __ATOMIC_SEQ_CST);
    return 0;
}

int test_main(int argc, char **argv)
{
    static struct sbthread_closure body = { spin, NULL }, intr = { interrupted, NULL };
    struct thread *th[2];
    (void)argc;
    (void)argv;
    CHECK(is_grafted() == 1);
    for (int i = 0; i < 2; i++)
        CHECK((th[i] = create_thread((lispobj)&body)) != NULL); /* the executable's symbol */
    for (int r = 0; r < 10; r++) {
        gc_stop_the_world();
        CHECK(th[0]->state == SBTHREAD_STATE_SUSPENDED && th[1]->state == SBTHREAD_STATE_SUSPENDED);
        gc_start_the_world();
    }
    for (int i = 0; i < 2; i++)
        CHECK(interrupt_thread(th[i], (lispobj)&intr) == 0);
    while (__atomic_load_n(&interrupts_seen, __ATOMIC_SEQ_CST) < 2)
        usleep(100);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        wait_dead(th[i]);
        reap_dead_thread(th[i]);
    }
    CHECK(all_threads != NULL && all_threads->next == NULL);
    fprintf(stderr, "late: 2 threads, 10 stops, 2 interrupts, all in the library\n");
    return 0;
}

static int work(void *lib, int argc, char **argv)
{
    is_grafted = (int (*)(void))dlsym(lib, "sbthread_is_grafted");
    wait_dead = (void (*)(struct thread *))dlsym(lib, "sbthread_wait_dead");
    CHECK(is_grafted && wait_dead);
    if (!is_grafted()) {
        fprintf(stderr, "late: expected a graft\n");
        return 1;
    }
    CHECK(graft_check_grafted());
    return host_main(argc, argv);
}

static int refused(void)
{
    if (!graft_check_untouched())
        return 1;
    create_thread(0); /* the executable's stand-in: aborts */
    return 1;
}

/* ---- the test ---- */

static char out[1 << 16];

/* Runs prog with args and the extra environment (NULL-terminated), stderr
 * into out; returns the wait status. */
static int run(const char *prog, const char *arg, const char *const *env)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        for (; env && *env; env++)
            putenv((char *)*env);
        execl(prog, prog, arg, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    char sink[4096];
    while ((r = read(fds[0], n + 1 < sizeof out ? out + n : sink,
                     n + 1 < sizeof out ? sizeof out - 1 - n : sizeof sink)) > 0)
        if (n + 1 < sizeof out)
            n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return status;
}

static int exited_0(int s) { return WIFEXITED(s) && WEXITSTATUS(s) == 0; }
static int aborted(int s) { return WIFSIGNALED(s) && WTERMSIG(s) == SIGABRT; }

static void show(const char *what, int status)
{
    printf("  %-52s %s %d\n", what, WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

#define EXPECT(what, cond)                                                      \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "late: %s: expected %s; its stderr:\n%s\n", what, #cond, out); \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static const char REFUSED[] = "libsbthread: not grafted, the executable's own thread code stays in charge: ";
static const char GRAFTED[] = "grafted: the executable's create_initial_thread";
static const char OWN[] = "graft test: the executable's own create_thread ran";
static const char WARN[] = "libsbthread: warning: the runtime's sigwaitinfo is libc's";

static void expect_refusal(const char *what, int status, const char *reason)
{
    show(what, status);
    EXPECT(what, aborted(status));
    EXPECT(what, graft_count(out, "libsbthread:") == 1 && graft_count(out, REFUSED) == 1);
    const char *line = strstr(out, REFUSED);
    EXPECT(what, strstr(line, reason) != NULL && strstr(line, reason) < strchr(line, '\n'));
    EXPECT(what, strstr(out, "stand-ins untouched (9 functions)") != NULL && strstr(out, OWN) != NULL);
}

static int the_test(const char *self)
{
    const char *preload[] = { "LD_PRELOAD=" GRAFT_LIB, "SBTHREAD_TRACE=1", NULL };
    const char *trace[] = { "SBTHREAD_TRACE=1", NULL };
    const char *fi_first[] = { "LD_PRELOAD=" GRAFT_FI_LIB, "SBTHREAD_TEST_INJECT=5:1", NULL };
    const char *fi_second[] = { "LD_PRELOAD=" GRAFT_FI_LIB, "SBTHREAD_TEST_INJECT=5:1:1", NULL };
    const char *fi_none[] = { "LD_PRELOAD=" GRAFT_FI_LIB, "SBTHREAD_TRACE=1", NULL };
    const char *off[] = { "LD_PRELOAD=" GRAFT_LIB, "SBTHREAD_GRAFT=0", NULL };
    int s;

    s = run(self, "work", preload);
    show("LD_PRELOAD: grafted, works", s);
    EXPECT("preload", exited_0(s) && graft_count(out, GRAFTED) == 1 && graft_count(out, "libsbthread:") == 0);

    s = run(self, "work", fi_none);
    show("LD_PRELOAD of the fault-injection build: grafted", s);
    EXPECT("preload fi", exited_0(s) && graft_count(out, GRAFTED) == 1);

    s = run(self, "fresh", trace);
    show("dlopen before any thread: grafted, with the warning", s);
    EXPECT("fresh", exited_0(s) && graft_count(out, GRAFTED) == 1);
    EXPECT("fresh", graft_count(out, WARN) == 1 && graft_count(out, "libsbthread:") == 1);

    expect_refusal("dlopen with threads running: refused", run(self, "running", NULL),
                   "the runtime's threads are already running (all_threads is set)");
    expect_refusal("mprotect refused on the first page", run(self, "refused", fi_first),
                   "the system refuses to make code writable (mprotect of page");
    EXPECT("fi first", strstr(out, "EACCES") != NULL && strstr(out, "nothing was changed") != NULL);
    expect_refusal("mprotect refused on the second page", run(self, "refused", fi_second),
                   "the system refuses to make code writable (mprotect of page");

    s = run(self, "refused", off);
    show("LD_PRELOAD, SBTHREAD_GRAFT=0: not grafted, silent", s);
    EXPECT("off", aborted(s) && graft_count(out, "libsbthread") == 0 && strstr(out, OWN) != NULL);

    /* Programs that are not SBCL: the library loaded into them changes
     * nothing and says nothing of a graft. */
    static const char *const others[] = { "lifecycle-so", "lifecycle-a", "lifecycle-host-so", "lifecycle-host-a" };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char prog[512], what[128];
        snprintf(prog, sizeof prog, "%s/%s", GRAFT_TESTS, others[i]);
        snprintf(what, sizeof what, "%s with LD_PRELOAD: untouched", others[i]);
        s = run(prog, NULL, preload);
        show(what, s);
        EXPECT(what, exited_0(s) && graft_count(out, "graft") == 0 && graft_count(out, "libsbthread:") == 0);
    }
    printf("late: as expected\n");
    return 0;
}

static struct thread fake_initial_thread;

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    if (strcmp(role, "work") == 0)
        return work(RTLD_DEFAULT, argc, argv);
    if (strcmp(role, "refused") == 0)
        return refused();
    if (strcmp(role, "fresh") == 0 || strcmp(role, "running") == 0) {
        if (strcmp(role, "running") == 0)
            all_threads = &fake_initial_thread; /* as after create_initial_thread */
        void *lib = dlopen(GRAFT_LIB, RTLD_NOW | RTLD_GLOBAL);
        CHECK(lib != NULL);
        if (strcmp(role, "running") == 0) {
            int (*grafted)(void) = (int (*)(void))dlsym(lib, "sbthread_is_grafted");
            CHECK(grafted && grafted() == 0);
            all_threads = NULL;
            return refused();
        }
        return work(lib, argc, argv);
    }
    return the_test(argv[0]);
}
