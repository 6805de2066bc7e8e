/*
 * sbtiming: where a Lisp thread's time goes, by library. LD_PRELOADed into
 * the real SBCL 0.9.4.1 runtime (sbcl/bench.py, `make sbcl-bench`), in front
 * of whichever libsbthread.so.0 the runtime loads (upstream's thread.c or
 * ours), and applied to both the same way.
 *
 * It wraps, with dlsym(RTLD_NEXT), the thread library's entry points that
 * the runtime and its Lisp code call (create_thread, reap_dead_thread,
 * gc_stop_the_world, gc_start_the_world, interrupt_thread) and
 * pthread_create, which the library calls to start a thread: the child's
 * start routine is wrapped so that its time in the library (its
 * trampoline: arch_os_thread_init, waiting to be linked, the state changes,
 * and whatever the library does after the Lisp function returned) is
 * measured too. The Lisp function itself is excluded: the library's GOT
 * entry for `funcall0` (a runtime function the library calls; neither an
 * LD_PRELOAD nor the library can interpose on the executable's own symbol)
 * is pointed at a wrapper that timestamps the call, in this library's
 * constructor, before the library's first use.
 *
 * Every time is CLOCK_MONOTONIC wall time, inclusive of what the call does
 * (system calls, runtime hooks, waiting for locks). Totals are process-wide.
 *
 * Interface (the Lisp side finds these with find-dynamic-foreign-symbol-address):
 *   void sbtiming_reset(void)               zero every counter
 *   void sbtiming_report(const char *label) append one line of totals to the
 *                                           file named by $SBTIMING_OUT (or
 *                                           stderr when unset)
 * and one line labelled "exit" from a destructor.
 *
 * Line format (one line, space separated key=value):
 *   sbtiming LABEL lib=upstream|ours funcall0_patched=N NAME.calls=N NAME.ns=N ...
 * NAME: create_thread, reap_dead_thread, gc_stop_the_world,
 * gc_start_the_world, interrupt_thread, pthread_create (its part in the
 * creator), child_before_lisp / child_after_lisp (the child's start routine
 * before its Lisp function is called and after it returned), child_lisp
 * (that function), funcall0_other (funcall0 calls outside a child's first).
 * LABEL is what the Lisp side passes (it may hold KEY=VALUE words of its own).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef uintptr_t lispobj;
struct thread;

enum {
    C_CREATE, C_REAP, C_STOP, C_START, C_INTERRUPT, C_PTHREAD_CREATE,
    C_CHILD_BEFORE, C_CHILD_AFTER, C_CHILD_LISP, C_FUNCALL0_OTHER, C_COUNT
};
static const char *const names[C_COUNT] = {
    "create_thread", "reap_dead_thread", "gc_stop_the_world", "gc_start_the_world",
    "interrupt_thread", "pthread_create", "child_before_lisp", "child_after_lisp", "child_lisp",
    "funcall0_other",
};
static uint64_t calls[C_COUNT], nsecs[C_COUNT];

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void add(int which, uint64_t ns)
{
    __atomic_fetch_add(&calls[which], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&nsecs[which], ns, __ATOMIC_RELAXED);
}

static void *next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "sbtiming: no %s after the interposer\n", name);
        abort();
    }
    return f;
}

/* ---- the library's entry points */

struct thread *create_thread(lispobj initial_function)
{
    static struct thread *(*real)(lispobj);
    if (!real) real = next("create_thread");
    uint64_t t0 = now_ns();
    struct thread *th = real(initial_function);
    add(C_CREATE, now_ns() - t0);
    return th;
}

void reap_dead_thread(struct thread *th)
{
    static void (*real)(struct thread *);
    if (!real) real = next("reap_dead_thread");
    uint64_t t0 = now_ns();
    real(th);
    add(C_REAP, now_ns() - t0);
}

void gc_stop_the_world(void)
{
    static void (*real)(void);
    if (!real) real = next("gc_stop_the_world");
    uint64_t t0 = now_ns();
    real();
    add(C_STOP, now_ns() - t0);
}

void gc_start_the_world(void)
{
    static void (*real)(void);
    if (!real) real = next("gc_start_the_world");
    uint64_t t0 = now_ns();
    real();
    add(C_START, now_ns() - t0);
}

int interrupt_thread(struct thread *th, lispobj function)
{
    static int (*real)(struct thread *, lispobj);
    if (!real) real = next("interrupt_thread");
    uint64_t t0 = now_ns();
    int r = real(th, function);
    add(C_INTERRUPT, now_ns() - t0);
    return r;
}

/* ---- the child: its start routine, minus the Lisp function */

struct start {
    void *(*fn)(void *);
    void *arg;
    int busy;
};

/* No malloc between pthread_create and the child's start: a thread stopped
 * for GC inside malloc must not hold its lock. A slot is free again as soon
 * as its child has copied it. */
#define SLOTS 4096
static struct start slots[SLOTS];
static unsigned slot_hint;

static struct start *take_slot(void)
{
    for (unsigned tries = 0; tries < SLOTS; tries++) {
        unsigned i = __atomic_fetch_add(&slot_hint, 1, __ATOMIC_RELAXED) % SLOTS;
        int idle = 0;
        if (__atomic_compare_exchange_n(&slots[i].busy, &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return &slots[i];
    }
    return NULL;
}

static void give_slot(struct start *s)
{
    __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
}

static __thread int in_child;          /* inside a wrapped start routine */
static __thread int lisp_called;
static __thread uint64_t child_t0, lisp_t0, lisp_t1;

/* The child's time in the library: from the start of its start routine to
 * the call of its Lisp function, and from that function's return to the
 * end of the start routine (or pthread_exit). */
static void child_end(void *unused)
{
    (void)unused;
    uint64_t t = now_ns();
    in_child = 0;
    if (lisp_called) {
        add(C_CHILD_BEFORE, lisp_t0 - child_t0);
        add(C_CHILD_LISP, lisp_t1 - lisp_t0);
        add(C_CHILD_AFTER, t - lisp_t1);
    } else {
        add(C_CHILD_BEFORE, t - child_t0);
    }
}

static void *child_start(void *p)
{
    struct start s = *(struct start *)p;
    give_slot(p);
    child_t0 = now_ns();
    lisp_called = 0;
    in_child = 1;
    void *r;
    /* the cleanup also runs if the routine ends with pthread_exit */
    pthread_cleanup_push(child_end, NULL);
    r = s.fn(s.arg);
    pthread_cleanup_pop(1);
    return r;
}

int pthread_create(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) real = next("pthread_create");
    struct start *s = take_slot();
    if (!s) return real(tid, attr, fn, arg);
    s->fn = fn;
    s->arg = arg;
    uint64_t t0 = now_ns();
    int r = real(tid, attr, child_start, s);
    add(C_PTHREAD_CREATE, now_ns() - t0);
    if (r) give_slot(s);
    return r;
}

static lispobj (*real_funcall0)(lispobj);

static lispobj funcall0_wrapper(lispobj fun)
{
    if (!in_child) {
        /* e.g. an interrupt function run by the library */
        uint64_t t0 = now_ns();
        lispobj r = real_funcall0(fun);
        add(C_FUNCALL0_OTHER, now_ns() - t0);
        return r;
    }
    /* The thread's Lisp function (called once; nested calls, e.g. an
     * interrupt function the library runs, count as funcall0_other). */
    in_child = 0;
    lisp_called = 1;
    lisp_t0 = now_ns();
    lispobj r = real_funcall0(fun);
    lisp_t1 = now_ns();
    return r;
}

/* ---- pointing the thread library's funcall0 GOT entries at the wrapper */

static int patched;
static int is_ours;

static uintptr_t abs_ptr(uintptr_t base, uintptr_t p)
{
    /* glibc relocates most d_ptr values in place; be robust either way */
    return p < base ? p + base : p;
}

static int patch_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libsbthread.so"))
        return 0;
    uintptr_t base = info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t relro_start = 0, relro_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
        if (ph->p_type == PT_GNU_RELRO) {
            relro_start = base + ph->p_vaddr;
            relro_end = relro_start + ph->p_memsz;
        }
    }
    if (!dyn) return 0;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    uintptr_t rela = 0, jmprel = 0;
    size_t relasz = 0, pltrelsz = 0;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)abs_ptr(base, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)abs_ptr(base, d->d_un.d_ptr); break;
        case DT_RELA: rela = abs_ptr(base, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_JMPREL: jmprel = abs_ptr(base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
        }
    }
    if (!symtab || !strtab) return 0;
    long page = sysconf(_SC_PAGESIZE);
    struct { uintptr_t start; size_t size; } tables[2] = { { rela, relasz }, { jmprel, pltrelsz } };
    for (int t = 0; t < 2; t++) {
        const ElfW(Rela) *r = (const ElfW(Rela) *)tables[t].start;
        for (size_t i = 0; r && i < tables[t].size / sizeof *r; i++) {
            unsigned type = ELF64_R_TYPE(r[i].r_info);
            if (type != R_X86_64_GLOB_DAT && type != R_X86_64_JUMP_SLOT) continue;
            const char *name = strtab + symtab[ELF64_R_SYM(r[i].r_info)].st_name;
            if (strcmp(name, "funcall0") != 0) continue;
            void **slot = (void **)(base + r[i].r_offset);
            uintptr_t pg = (uintptr_t)slot & ~(uintptr_t)(page - 1);
            int in_relro = (uintptr_t)slot >= relro_start && (uintptr_t)slot < relro_end;
            if (in_relro && mprotect((void *)pg, page, PROT_READ | PROT_WRITE) != 0) continue;
            *slot = (void *)funcall0_wrapper;
            if (in_relro) mprotect((void *)pg, page, PROT_READ);
            patched++;
        }
    }
    return 1;
}

static char lib_name[16] = "unknown";

__attribute__((constructor)) static void sbtiming_init(void)
{
    /* ours exports sbthread_* functions, upstream's thread.c none */
    is_ours = dlsym(RTLD_DEFAULT, "sbthread_is_host_mode") != NULL;
    real_funcall0 = (lispobj(*)(lispobj))dlsym(RTLD_DEFAULT, "funcall0");
    if (real_funcall0)
        dl_iterate_phdr(patch_one, NULL);
    strcpy(lib_name, is_ours ? "ours" : "upstream");
}

void sbtiming_reset(void)
{
    for (int i = 0; i < C_COUNT; i++) {
        __atomic_store_n(&calls[i], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&nsecs[i], 0, __ATOMIC_RELAXED);
    }
}

void sbtiming_report(const char *label)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "sbtiming %s lib=%s funcall0_patched=%d", label ? label : "-", lib_name,
                     patched);
    for (int i = 0; i < C_COUNT && n < (int)sizeof buf - 80; i++)
        n += snprintf(buf + n, sizeof buf - n, " %s.calls=%llu %s.ns=%llu", names[i],
                      (unsigned long long)__atomic_load_n(&calls[i], __ATOMIC_RELAXED), names[i],
                      (unsigned long long)__atomic_load_n(&nsecs[i], __ATOMIC_RELAXED));
    n += snprintf(buf + n, sizeof buf - n, "\n");
    const char *path = getenv("SBTIMING_OUT");
    int fd = path && *path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : 2;
    if (fd < 0) return;
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
    if (fd != 2) close(fd);
}

__attribute__((destructor)) static void sbtiming_fini(void)
{
    sbtiming_report("exit");
}
