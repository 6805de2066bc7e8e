/*
 * A test host: a stand-in for the SBCL 0.9.4.1 runtime around thread.o.
 * It defines every hook the library imports (ffi/host_hooks.h), maps the
 * static symbols as a core would, and installs its own SIG_STOP_FOR_GC and
 * SIG_INTERRUPT_THREAD handlers with the legacy protocol:
 *
 *  - SIG_STOP_FOR_GC: defer when pseudo-atomic or GC inhibited (set
 *    STOP_FOR_GC_PENDING); otherwise block all but SIG_STOP_FOR_GC, record
 *    the context in interrupt_contexts[] (FREE_INTERRUPT_CONTEXT_INDEX, as
 *    the collector reads it), check RUNNING, set SUSPENDED, sigwaitinfo()
 *    for the next SIG_STOP_FOR_GC, check RUNNING again.
 *  - SIG_INTERRUPT_THREAD: check RUNNING, pop ONE function off
 *    interrupt_fun under interrupt_fun_lock and run it.
 *
 * A new thread's function is wrapped the way 0.9.4.1's MAKE-THREAD wraps
 * it (funcall0 below): all signals let in first; when the function has
 * returned, *GC-INHIBIT* is bound to T, the blockable signals are blocked,
 * the thread takes itself off the Lisp list of threads under a Lisp mutex,
 * unbinds, and returns to C with the blockables still blocked. A stop that
 * arrived while GC was inhibited stays deferred (STOP_FOR_GC_PENDING = T)
 * and is never honoured. host.h declares what tests can use of the model:
 * a hook inside that window and WITHOUT-GCING / pseudo-atomic sections that
 * honour a deferred stop when they end, as Lisp code does.
 *
 * Linked with -rdynamic so that the shared library resolves the hooks here.
 * Functions use the same closure convention as standalone mode, so the
 * same tests run against both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host_hooks.h"
#include "host.h"
#include "../harness/harness.h"

#define STATIC_SPACE 0x40000000UL
#define OTHER_POINTER_LOWTAG 0xFUL
#define LIST_POINTER_LOWTAG 0x7UL
#define UNBOUND 0x52UL
#define NIL SBTHREAD_NIL
#define T SBTHREAD_T
#define FIXNUM(n) ((lispobj)(n) << 3)

struct symbol { lispobj header, value, hash, plist, name, package, tls_index; };
struct cons { lispobj car, cdr; };
struct binding { lispobj value, symbol; };

#define SYM(tagged) ((struct symbol *)((tagged) - OTHER_POINTER_LOWTAG))
#define CONS(tagged) ((struct cons *)((tagged) - LIST_POINTER_LOWTAG))

/* Static symbols (spec section 4). */
#define CURRENT_CATCH_BLOCK 0x4000038FUL
#define CURRENT_UNWIND_PROTECT_BLOCK 0x400003CFUL
#define FREE_INTERRUPT_CONTEXT_INDEX 0x4000054FUL
/* The host's own special (no 0.9.4.1 symbol lives there): bound, while a
 * thread is suspended, to the stack pointer its stop handler found in the
 * context it records (host_check_stack_tops). */
#define HOST_STOPPED_SP 0x40000F0FUL

/* ---- data hooks ---- */
struct interrupt_data *global_interrupt_data;
int linux_no_threads_p = 0;
pthread_key_t specials;

/* Counters the tests may look at. */
long host_region_updates;
long host_region_closes;
long host_interrupts_run;

/* ---- helpers ---- */
static struct thread *current(void)
{
    return pthread_getspecific(specials);
}

static lispobj symbol_value(lispobj sym, struct thread *th)
{
    struct symbol *s = SYM(sym);
    if (th && s->tls_index) {
        lispobj v = ((volatile lispobj *)th)[s->tls_index >> 3];
        if (v != UNBOUND)
            return v;
    }
    return s->value;
}

static void set_symbol_value(lispobj sym, lispobj val, struct thread *th)
{
    struct symbol *s = SYM(sym);
    if (th && s->tls_index) {
        volatile lispobj *p = &((volatile lispobj *)th)[s->tls_index >> 3];
        if (*p != UNBOUND) {
            *p = val;
            return;
        }
    }
    s->value = val;
}

lispobj host_symbol_value(lispobj sym)
{
    return symbol_value(sym, current());
}

/* ---- function hooks ---- */
void lose(char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fatal error encountered in test host pid %d:\n", (int)getpid());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

os_vm_address_t os_validate(os_vm_address_t addr, os_vm_size_t len)
{
    void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void os_invalidate(os_vm_address_t addr, os_vm_size_t len)
{
    if (munmap(addr, len) != 0)
        lose("os_invalidate: munmap failed: %s", strerror(errno));
}

/* Conses from a bump arena; the "collector" never frees them. */
static char *cons_arena;
static size_t cons_next;
static pthread_mutex_t cons_lock = PTHREAD_MUTEX_INITIALIZER;
#define CONS_ARENA_BYTES (64UL << 20)

long host_alloc_gc_every;
long host_conses_lost;
static long conses_made;

static void handle_pending(struct thread *th);

/* 0.9.4.1's alloc_cons (alloc.c:111-119) over pa_alloc (37-52): the cell
 * is allocated pseudo-atomic; an allocation past the GC trigger
 * (host_alloc_gc_every) sets *GC-PENDING* and, unless GC is inhibited,
 * marks the section interrupted, as a stop deferred inside it does; once
 * out of it, pa_alloc calls do_pending_interrupt: a deferred stop suspends
 * the thread there, a due collection runs there. Either way the collector
 * sees only pa_alloc's untagged pointer to the new cell, which it does not
 * take for a cons, and frees the cell: counted in host_conses_lost (the car
 * and cdr are then written into a free page). */
lispobj alloc_cons(lispobj car, lispobj cdr)
{
    struct thread *th = current();
    if (th) {
        th->pseudo_atomic_interrupted = 0;
        __atomic_store_n(&th->pseudo_atomic_atomic, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_lock(&cons_lock);
    if (cons_next + 16 > CONS_ARENA_BYTES)
        lose("alloc_cons: test host arena exhausted");
    struct cons *c = (struct cons *)(cons_arena + cons_next);
    cons_next += 16;
    long n = ++conses_made;
    pthread_mutex_unlock(&cons_lock);
    long every = __atomic_load_n(&host_alloc_gc_every, __ATOMIC_RELAXED);
    if (th && every > 0 && n % every == 0 && symbol_value(GC_PENDING, th) == NIL) {
        set_symbol_value(GC_PENDING, T, th);
        if (symbol_value(SBTHREAD_SYM_GC_INHIBIT, th) == NIL)
            th->pseudo_atomic_interrupted = 1;
    }
    if (th) {
        __atomic_store_n(&th->pseudo_atomic_atomic, 0, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&th->pseudo_atomic_interrupted, __ATOMIC_SEQ_CST)) {
            th->pseudo_atomic_interrupted = 0;
            /* do_pending_interrupt: the deferred stop, or the collection
             * itself (SUB-GC clears *GC-PENDING*). */
            handle_pending(th);
            set_symbol_value(GC_PENDING, NIL, th);
            __atomic_fetch_add(&host_conses_lost, 1, __ATOMIC_SEQ_CST);
        }
    }
    c->car = car;
    c->cdr = cdr;
    return (lispobj)c | LIST_POINTER_LOWTAG;
}

static lispobj call_closure(lispobj fun)
{
    struct sbthread_closure *c = (struct sbthread_closure *)fun;
    if (!c || !c->fn)
        lose("test host: %#lx is not a closure", fun);
    return (lispobj)c->fn(c->arg);
}

void (*host_exit_window_hook)(struct thread *th);
static void unbind_variable(struct thread *th);

/* *ALL-THREADS-LOCK*: the Lisp mutex a dying thread takes to leave the
 * Lisp list of threads (handle-thread-exit), with GC inhibited. */
static pthread_mutex_t lisp_all_threads_lock = PTHREAD_MUTEX_INITIALIZER;

/* MAKE-THREAD's (with-mutex (*all-threads-lock*) (push thread
 * *all-threads*)): the same Lisp mutex, held with GC allowed, so a stop
 * can suspend its holder while a dying thread waits for it with its stop
 * deferred (the deadlock host/stuck.rs backs off from). */
void host_with_all_threads_lock(void (*body)(void *), void *arg)
{
    pthread_mutex_lock(&lisp_all_threads_lock);
    body(arg);
    pthread_mutex_unlock(&lisp_all_threads_lock);
}

/* Suspensions of the calling thread (host_times_suspended). */
static __thread long suspensions;

long host_times_suspended(void)
{
    return __atomic_load_n(&suspensions, __ATOMIC_SEQ_CST);
}

/* The only caller is new_thread_trampoline, so this is MAKE-THREAD's
 * lambda around the thread's function (src/code/target-thread.lisp). */
lispobj funcall0(lispobj function)
{
    struct thread *th = current();
    sigset_t s;
    lispobj result;
    /* (sb-unix::reset-signal-mask): new threads start with the deferrable
     * signals blocked (create_os_thread) and let everything in here. */
    sigemptyset(&s);
    pthread_sigmask(SIG_SETMASK, &s, NULL);
    /* Lisp code conses: the thread's allocation region is open. */
    th->alloc_region.first_page = 1;
    th->alloc_region.last_page = 1;
    result = call_closure(function);
    /* The unwind-protect cleanup: (let ((*gc-inhibit* t))
     * (block-blockable-signals) (handle-thread-exit thread)). A stop
     * signal from here on is deferred, or stays pending once blocked. */
    bind_variable(SBTHREAD_SYM_GC_INHIBIT, T, th);
    if (host_exit_window_hook)
        host_exit_window_hook(th);
    sigemptyset(&s);
    sigaddset_blockable(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_mutex_lock(&lisp_all_threads_lock);
    pthread_mutex_unlock(&lisp_all_threads_lock);
    unbind_variable(th);
    /* Back to C, blockables blocked, a deferred stop never honoured. */
    return result;
}

lispobj call_into_lisp_first_time(lispobj fun, lispobj *args, int nargs)
{
    (void)args;
    (void)nargs;
    exit((int)call_closure(fun));
}

void bind_variable(lispobj symbol, lispobj value, void *thread)
{
    struct thread *th = thread;
    struct symbol *s = SYM(symbol);
    static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
    if (!s->tls_index) {
        pthread_mutex_lock(&tls_lock);
        if (!s->tls_index) {
            s->tls_index = SYM(SBTHREAD_SYM_FREE_TLS_INDEX)->value;
            SYM(SBTHREAD_SYM_FREE_TLS_INDEX)->value += FIXNUM(1);
        }
        pthread_mutex_unlock(&tls_lock);
    }
    /* The pointer first, as 0.9.4.1's dynbind.c does: a handler that binds
     * and unbinds in between (a stop's context index, an interrupt
     * function) then uses the slot above, never this one. */
    struct binding *b = (struct binding *)th->binding_stack_pointer;
    th->binding_stack_pointer = (lispobj *)(b + 1);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    b->value = ((lispobj *)th)[s->tls_index >> 3];
    b->symbol = symbol;
    ((lispobj *)th)[s->tls_index >> 3] = value;
}

/* Undoes the newest binding on th's binding stack. */
static void unbind_variable(struct thread *th)
{
    struct binding *b = (struct binding *)th->binding_stack_pointer - 1;
    ((lispobj *)th)[SYM(b->symbol)->tls_index >> 3] = b->value;
    b->symbol = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    th->binding_stack_pointer = (lispobj *)b;
}

int arch_os_thread_init(struct thread *thread)
{
    stack_t ss;
    if (pthread_setspecific(specials, thread) != 0)
        return 0;
    /* As a runtime built against glibc >= 2.34 with _GNU_SOURCE does:
     * SIGSTKSZ is sysconf(_SC_SIGSTKSZ) there, larger than the legacy 8192. */
    ss.ss_sp = (char *)thread + dynamic_values_bytes;
    ss.ss_flags = 0;
    ss.ss_size = 32 * SIGSTKSZ;
    return sigaltstack(&ss, 0) == 0;
}

int arch_os_thread_cleanup(struct thread *thread)
{
    (void)thread;
    return 1;
}

boolean arch_pseudo_atomic_atomic(os_context_t *context)
{
    (void)context;
    struct thread *th = current();
    return th && th->pseudo_atomic_atomic != 0;
}

void gc_set_region_empty(struct alloc_region *region)
{
    region->free_pointer = region->end_addr = region->start_addr = NULL;
    region->first_page = 0;
    region->last_page = -1;
}

/* As 0.9.4.1's: an unused region returns at once; a used one is closed
 * under free_pages_lock, a spinlock the collector takes too, so a stop must
 * not catch the caller in there (SIG_STOP_FOR_GC blocked), and no
 * collection may be in progress (the caller is RUNNING, or reaping). */
void gc_alloc_update_page_tables(int unboxed, struct alloc_region *region)
{
    (void)unboxed;
    __sync_fetch_and_add(&host_region_updates, 1);
    if (region->first_page == 0 && region->last_page == -1)
        return;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    if (!sigismember(&cur, SIGRTMIN + 1)) /* SIG_STOP_FOR_GC */
        lose("gc_alloc_update_page_tables: called with SIG_STOP_FOR_GC deliverable");
    struct thread *owner = (struct thread *)((char *)region - offsetof(struct thread, alloc_region));
    if (owner->state != SBTHREAD_STATE_RUNNING && owner->state != SBTHREAD_STATE_DEAD)
        lose("gc_alloc_update_page_tables: region of a thread in state %lu", (unsigned long)owner->state);
    __sync_fetch_and_add(&host_region_closes, 1);
    gc_set_region_empty(region);
}

void protect_control_stack_guard_page(struct thread *th, int protect_p)
{
    long page = sysconf(_SC_PAGESIZE);
    if (mprotect(th->control_stack_start, (size_t)page,
                 protect_p ? PROT_READ : PROT_READ | PROT_WRITE) != 0)
        lose("protect_control_stack_guard_page: %s", strerror(errno));
}

void sigaddset_deferrable(sigset_t *s)
{
    int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGURG, SIGTSTP, SIGCHLD,
                   SIGIO, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(s, sigs[i]);
    sigaddset(s, SIGRTMIN); /* SIG_INTERRUPT_THREAD */
}

void sigaddset_blockable(sigset_t *s)
{
    sigaddset_deferrable(s);
    sigaddset(s, SIGRTMIN + 1); /* SIG_STOP_FOR_GC */
}

/* ---- the host's handlers (interrupt.c of the legacy runtime) ---- */

/* Suspends the calling thread until the next SIG_STOP_FOR_GC. As in
 * 0.9.4.1, one sigwaitinfo and no retry: an EINTR would be taken for the
 * resume (the real handler then loses, as this one does). glibc keeps
 * SIGCANCEL and SIGSETXID deliverable whatever the mask says; the model
 * keeps SIGPWR (not one of its blockable signals) deliverable too, so that a test can interrupt the wait.
 * The library's interposed sigwaitinfo (src/host/resume_wait.rs) retries it. */
static void suspend_for_gc(struct thread *th, ucontext_t *ctx)
{
    sigset_t ss, old;
    long index, sp;
    sigfillset(&ss); /* 0.9.4.1 blocks everything, SIG_STOP_FOR_GC too */
    sigdelset(&ss, SIGPWR);
    pthread_sigmask(SIG_BLOCK, &ss, &old);
    /* fake_foreign_function_call: the context the collector scans the
     * thread from (interrupt.c:225-266). */
    index = (long)symbol_value(FREE_INTERRUPT_CONTEXT_INDEX, th) >> 3;
    if (index >= SBTHREAD_MAX_INTERRUPTS)
        lose("sig_stop_for_gc_handler: maximum interrupt nesting depth exceeded");
    sp = ctx->uc_mcontext.gregs[REG_RSP];
    bind_variable(HOST_STOPPED_SP, (lispobj)sp, th);
    th->interrupt_contexts[index] = ctx;
    bind_variable(FREE_INTERRUPT_CONTEXT_INDEX, FIXNUM(index + 1), th);
    if (th->state != SBTHREAD_STATE_RUNNING)
        lose("sig_stop_for_gc_handler: wrong thread state: %ld", (long)th->state >> 3);
    th->state = SBTHREAD_STATE_SUSPENDED;
    sigemptyset(&ss);
    sigaddset(&ss, SIGRTMIN + 1);
    sigwaitinfo(&ss, 0);
    if (th->state != SBTHREAD_STATE_RUNNING)
        lose("sig_stop_for_gc_handler: wrong thread state on wakeup: %ld", (long)th->state >> 3);
    /* The handler returns through this context: whatever was shown to the
     * collector, the stack pointer must be the thread's own again. */
    if (ctx->uc_mcontext.gregs[REG_RSP] != sp)
        lose("sig_stop_for_gc_handler: the stack pointer of thread %p's context is %#lx after its resume, not %#lx",
             (void *)th, (long)ctx->uc_mcontext.gregs[REG_RSP], sp);
    unbind_variable(th); /* undo_fake_foreign_function_call */
    unbind_variable(th);
    __atomic_fetch_add(&suspensions, 1, __ATOMIC_SEQ_CST);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void (*host_stop_handler_hook)(struct thread *th);

/* ---- the collector's view of a stopped thread's stack ---- */

long host_stack_tops_checked, host_stack_tops_missed;

void host_check_stack_tops(void)
{
    struct thread *me = current();
    for (struct thread *th = all_threads; th; th = th->next) {
        long free_index, sp = (long)symbol_value(HOST_STOPPED_SP, th);
        uintptr_t esp = UINTPTR_MAX;
        if (th == me || th->state != SBTHREAD_STATE_SUSPENDED || !sp)
            continue;
        /* gencgc.c:3580-3607: the lowest stack pointer among the
         * thread's contexts inside its control stack, then the words
         * from control_stack_end down to it, that word excluded. */
        free_index = (long)symbol_value(FREE_INTERRUPT_CONTEXT_INDEX, th) >> 3;
        for (long i = free_index - 1; i >= 0; i--) {
            uintptr_t e = (uintptr_t)th->interrupt_contexts[i]->uc_mcontext.gregs[REG_RSP];
            if (e >= (uintptr_t)th->control_stack_start && e < (uintptr_t)th->control_stack_end && e < esp)
                esp = e;
        }
        host_stack_tops_checked++;
        if (!((uintptr_t)sp > esp))
            host_stack_tops_missed++;
    }
}

static void sig_stop_for_gc_handler(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;
    struct thread *th = current();
    (void)sig; (void)info; (void)ctx;
    if (!th)
        lose("sig_stop_for_gc_handler: unregistered thread");
    if (host_stop_handler_hook)
        host_stop_handler_hook(th);
    if (th->pseudo_atomic_atomic || symbol_value(SBTHREAD_SYM_GC_INHIBIT, th) != NIL) {
        set_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, T, th);
        if (symbol_value(SBTHREAD_SYM_GC_INHIBIT, th) == NIL)
            th->pseudo_atomic_interrupted = 1;
        errno = saved;
        return;
    }
    suspend_for_gc(th, ctx);
    errno = saved;
}

/* interrupt_handle_pending: what a section's end does with a deferred
 * stop (Lisp calls it through receive-pending-interrupt). */
static void handle_pending(struct thread *th)
{
    sigset_t ss, old;
    sigemptyset(&ss);
    sigaddset_blockable(&ss);
    pthread_sigmask(SIG_BLOCK, &ss, &old);
    if (symbol_value(SBTHREAD_SYM_GC_INHIBIT, th) == NIL &&
        symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, th) != NIL) {
        set_symbol_value(GC_PENDING, NIL, th);
        set_symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, NIL, th);
        /* The runtime's context here is the trap's at the section's end;
         * the model takes its own registers. */
        ucontext_t uc;
        if (getcontext(&uc) != 0)
            lose("handle_pending: getcontext failed");
        suspend_for_gc(th, &uc);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void host_without_gcing_enter(void)
{
    bind_variable(SBTHREAD_SYM_GC_INHIBIT, T, current());
}

void host_without_gcing_leave(void)
{
    struct thread *th = current();
    unbind_variable(th);
    if (symbol_value(SBTHREAD_SYM_GC_INHIBIT, th) == NIL &&
        symbol_value(SBTHREAD_SYM_STOP_FOR_GC_PENDING, th) != NIL)
        handle_pending(th);
}

void host_pseudo_atomic_enter(void)
{
    struct thread *th = current();
    th->pseudo_atomic_interrupted = 0;
    __atomic_store_n(&th->pseudo_atomic_atomic, 1, __ATOMIC_SEQ_CST);
}

void host_pseudo_atomic_leave(void)
{
    struct thread *th = current();
    __atomic_store_n(&th->pseudo_atomic_atomic, 0, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&th->pseudo_atomic_interrupted, __ATOMIC_SEQ_CST)) {
        th->pseudo_atomic_interrupted = 0;
        handle_pending(th);
    }
}

static void interrupt_thread_handler(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;
    struct thread *th = current();
    lispobj c;
    (void)sig; (void)info; (void)ctx;
    if (!th)
        lose("interrupt_thread_handler: unregistered thread");
    if (th->state != SBTHREAD_STATE_RUNNING)
        lose("interrupt_thread_handler: thread %p in wrong state: %ld", (void *)th, (long)th->state >> 3);
    /* The handler runs with the blockables blocked (sa_mask). */
    while (!__sync_bool_compare_and_swap(&th->interrupt_fun_lock, 0, (lispobj)th)) {
    }
    c = th->interrupt_fun;
    if (c == NIL)
        lose("interrupt_thread_handler: no function queued for thread %p", (void *)th);
    th->interrupt_fun = CONS(c)->cdr;
    __sync_synchronize();
    th->interrupt_fun_lock = 0;
    call_closure(CONS(c)->car);
    __sync_fetch_and_add(&host_interrupts_run, 1);
    errno = saved;
}

static void install(int signo, void (*handler)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset_blockable(&sa.sa_mask);
    if (sigaction(signo, &sa, NULL) != 0)
        lose("test host: sigaction(%d) failed", signo);
}

/* ---- start-up, as the runtime's main would do ---- */
static void map_static_space(void)
{
    static const lispobj syms[][2] = {
        { NIL, NIL }, { T, T },
        { CURRENT_CATCH_BLOCK, FIXNUM(0) }, { CURRENT_UNWIND_PROTECT_BLOCK, FIXNUM(0) },
        { 0x4000040FUL, 0 }, { 0x4000044FUL, 0 }, { 0x4000048FUL, 0 },
        { SBTHREAD_SYM_INTERRUPTS_ENABLED, T }, { SBTHREAD_SYM_INTERRUPT_PENDING, NIL },
        { FREE_INTERRUPT_CONTEXT_INDEX, FIXNUM(0) }, { SBTHREAD_SYM_GC_INHIBIT, NIL },
        { SBTHREAD_SYM_STOP_FOR_GC_PENDING, NIL }, { GC_PENDING, NIL },
        { SBTHREAD_SYM_FREE_TLS_INDEX, UNBOUND }, { 0x400006CFUL, 0 }, { 0x4000070FUL, 0 },
        { 0x4000074FUL, 0 }, { 0x4000078FUL, 0 }, { HOST_STOPPED_SP, 0 },
    };
    void *p = mmap((void *)STATIC_SPACE, 0x1000, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (void *)STATIC_SPACE)
        lose("test host: cannot map static space");
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        SYM(syms[i][0])->value = syms[i][1];
    ((lispobj *)(NIL - LIST_POINTER_LOWTAG))[1] = NIL; /* NIL's cdr */
}

static uintptr_t run_test(void *arg)
{
    (void)arg;
    return (uintptr_t)test_main(harness_argc, harness_argv);
}

/* The graft tests (c-tests/graft/) have a main of their own that calls
 * this one under another name (-DHOST_MAIN=host_main). */
#ifndef HOST_MAIN
#define HOST_MAIN main
#endif
int HOST_MAIN(int argc, char **argv);
int HOST_MAIN(int argc, char **argv)
{
    static struct sbthread_closure initial = { run_test, NULL };
    harness_init(argc, argv);
    map_static_space();
    cons_arena = mmap(NULL, CONS_ARENA_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (cons_arena == MAP_FAILED)
        lose("test host: cannot map the cons arena");
    global_interrupt_data = calloc(1, SBTHREAD_INTERRUPT_DATA_SIZE);
    memset(global_interrupt_data, 0xA5, SBTHREAD_INTERRUPT_DATA_SIZE);
    if (pthread_key_create(&specials, NULL) != 0)
        lose("test host: pthread_key_create failed");
    install(SIGRTMIN + 1, sig_stop_for_gc_handler);
    install(SIGRTMIN, interrupt_thread_handler);
    create_initial_thread((lispobj)&initial);
}
