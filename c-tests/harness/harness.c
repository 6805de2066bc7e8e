/* See harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int harness_argc;
char **harness_argv;

static char note[256] = "(no progress note)";
static const char *test_name = "?";

void harness_fail(void)
{
    fprintf(stderr, "FAIL %s (%s mode): last note: %s\n", test_name,
            harness_host_mode() ? "host" : "standalone", note);
    fflush(stderr);
    _exit(1);
}

void harness_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, sizeof note, fmt, ap);
    va_end(ap);
}

uint64_t harness_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void harness_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void harness_await(int (*cond)(void), const char *what)
{
    uint64_t deadline = harness_now_ns() + 20ull * 1000000000;
    while (!cond()) {
        if (harness_now_ns() > deadline) {
            fprintf(stderr, "%s: timed out waiting for %s\n", test_name, what);
            harness_fail();
        }
        harness_sleep_us(200);
    }
}

int harness_futex_sleepers(const void *word, pid_t *tid)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[320], line[256];
        unsigned long nr, addr;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(line, sizeof line, f) && sscanf(line, "%lu 0x%lx", &nr, &addr) == 2 && nr == SYS_futex &&
            addr == (unsigned long)(uintptr_t)word) {
            n++;
            if (tid)
                *tid = atoi(e->d_name);
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

static const char *state_name(lispobj s)
{
    switch (s) {
    case SBTHREAD_STATE_STARTING: return "STARTING";
    case SBTHREAD_STATE_RUNNING: return "RUNNING";
    case SBTHREAD_STATE_SUSPENDED: return "SUSPENDED";
    case SBTHREAD_STATE_DEAD: return "DEAD";
    default: return "?";
    }
}

/* The watchdog: a plain pthread (never registered, so never stopped). */
static void *watchdog(void *arg)
{
    long seconds = (long)arg;
    struct timespec ts = { seconds, 0 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    fprintf(stderr, "\nWATCHDOG: %s (%s mode) still running after %ld s; last note: %s\n",
            test_name, harness_host_mode() ? "host" : "standalone", seconds, note);
    /* A diagnostic read of the list without the lock (it may be held by a
     * stuck thread): good enough to see who is where. */
    int n = 0;
    for (struct thread *th = all_threads; th && n < 1000; th = th->next, n++)
        fprintf(stderr, "WATCHDOG:   thread %p pthread %#lx state %s interrupt_fun %#lx pa %lu\n",
                (void *)th, (unsigned long)th->os_thread, state_name(th->state),
                th->interrupt_fun, th->pseudo_atomic_atomic);
    fprintf(stderr, "WATCHDOG: %d registered thread(s)\n", n);
    if (getenv("SBTHREAD_TEST_GDB")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "gdb -q -batch -p %d -ex 'thread apply all bt' 1>&2", (int)getpid());
        if (system(cmd) != 0) {
            fprintf(stderr, "WATCHDOG: gdb failed\n");
        }
    }
    fflush(stderr);
    _exit(3);
    return NULL;
}

void harness_init(int argc, char **argv)
{
    harness_argc = argc;
    harness_argv = argv;
    test_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* One malloc arena: otherwise glibc maps a new arena for the first
     * malloc of each thread, which would blur the mapping counts that
     * leak checks compare. */
    mallopt(M_ARENA_MAX, 1);
    long seconds = 30;
    const char *t = getenv("SBTHREAD_TEST_TIMEOUT");
    if (t && atol(t) > 0)
        seconds = atol(t);
    pthread_t w;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&w, &attr, watchdog, (void *)seconds) != 0) {
        fprintf(stderr, "harness: cannot start the watchdog\n");
        exit(1);
    }
    pthread_attr_destroy(&attr);
}

int harness_under_tool(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#else
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload") != NULL;
#endif
}

int harness_host_mode(void)
{
    return sbthread_is_host_mode();
}

/* Closures live until the process ends; they are kept on a list so that
 * they stay reachable (LeakSanitizer and valgrind do not call them leaks). */
struct kept_closure {
    struct sbthread_closure closure; /* first: its address is the closure's */
    struct kept_closure *next;
};
static struct kept_closure *kept;

struct sbthread_closure *harness_closure(uintptr_t (*fn)(void *), void *arg)
{
    struct kept_closure *c = malloc(sizeof *c);
    CHECK(c != NULL);
    c->closure.fn = fn;
    c->closure.arg = arg;
    struct kept_closure *head = __atomic_load_n(&kept, __ATOMIC_ACQUIRE);
    do
        c->next = head;
    while (!__atomic_compare_exchange_n(&kept, &head, c, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return &c->closure;
}

struct thread *harness_spawn(uintptr_t (*fn)(void *), void *arg)
{
    struct thread *th = create_thread((lispobj)harness_closure(fn, arg));
    if (!th) {
        fprintf(stderr, "harness_spawn: create_thread returned NULL\n");
        harness_fail();
    }
    return th;
}

void harness_join(struct thread *th)
{
    sbthread_wait_dead(th);
    CHECK(th->state == SBTHREAD_STATE_DEAD);
    reap_dead_thread(th);
}

int harness_count_threads(void)
{
    int n = 0;
    sigset_t all, old;
    /* all_threads_lock may only be taken with SIG_STOP_FOR_GC deliverable
     * and the deferrables blocked; block just SIG_INTERRUPT_THREAD. */
    sigemptyset(&all);
    sigaddset(&all, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_mutex_lock(&all_threads_lock);
    for (struct thread *th = all_threads; th; th = th->next)
        n++;
    pthread_mutex_unlock(&all_threads_lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n;
}

int harness_count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

int harness_mapping_at(unsigned long addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strtoul(line, NULL, 16) == addr)
            found = 1;
    fclose(f);
    return found;
}

int harness_mapping_writable(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[512];
    int w = -1;
    while (fgets(line, sizeof line, f)) {
        char *p;
        unsigned long lo = strtoul(line, &p, 16);
        unsigned long hi = strtoul(p + 1, &p, 16);
        if ((unsigned long)addr >= lo && (unsigned long)addr < hi)
            w = (p[2] == 'w'); /* " rw-p" vs " ---p" / " r--p" */
    }
    fclose(f);
    return w;
}

size_t harness_block_bytes(struct thread *th)
{
    return (size_t)((char *)th - (char *)th->control_stack_start) + (size_t)dynamic_values_bytes;
}

int harness_resident_pages(const void *start, size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (bytes + page - 1) / page;
    unsigned char *v = malloc(n);
    CHECK(v != NULL);
    if (mincore((void *)start, bytes, v) != 0) {
        CHECK_EQ(errno, ENOMEM);
        free(v);
        return -1;
    }
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

int harness_run_self(const char *scenario, const char *env, char *out, size_t len)
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
        if (env) {
            /* "NAME=value", or several separated by spaces */
            static char vars[1024];
            snprintf(vars, sizeof vars, "%s", env);
            for (char *save = NULL, *v = strtok_r(vars, " ", &save); v; v = strtok_r(NULL, " ", &save))
                putenv(v);
        }
        char *args[] = { harness_argv[0], (char *)scenario, NULL };
        /* argv[0], not /proc/self/exe: under valgrind the latter is the tool */
        execv(harness_argv[0], args);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    char sink[4096];
    while ((r = read(fds[0], n + 1 < len ? out + n : sink,
                     n + 1 < len ? len - 1 - n : sizeof sink)) > 0)
        if (n + 1 < len)
            n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return status;
}

int harness_expect_death(const char *scenario, const char *env, const char *const *needles)
{
    static char out[16384];
    int status = harness_run_self(scenario, env, out, sizeof out);
    int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (!ok)
        fprintf(stderr, "death test '%s': expected SIGABRT, got %s %d\n", scenario,
                WIFSIGNALED(status) ? "signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    for (const char *const *n = needles; *n; n++)
        if (!strstr(out, *n)) {
            fprintf(stderr, "death test '%s': message lacks \"%s\"\n", scenario, *n);
            ok = 0;
        }
    fprintf(stdout, "  death '%s': %s", scenario, out[0] ? out : "(no output)\n");
    return ok;
}
