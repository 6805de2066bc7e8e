/*
 * Test harness for the C tests. A test defines
 *
 *     int test_main(int argc, char **argv);
 *
 * which runs inside the initial thread (registered with
 * create_initial_thread). It is linked with one of two mains:
 *  - harness/standalone_main.c: the library is the whole runtime;
 *  - host/host.c: a test host that defines every runtime hook and its own
 *    signal handlers the way SBCL 0.9.4.1 does (host mode).
 * test_main returns 0 (pass), 77 (skip) or anything else (fail).
 *
 * Every test runs under a watchdog: if it has not finished after
 * SBTHREAD_TEST_TIMEOUT seconds (default 30) the watchdog prints each
 * registered thread's state and the test's progress note, then aborts.
 */
#ifndef SBTHREAD_TEST_HARNESS_H
#define SBTHREAD_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "sbthread.h"

#define TEST_SKIP 77

int test_main(int argc, char **argv);

/* The command line, for tests that re-run themselves (death tests). */
extern int harness_argc;
extern char **harness_argv;

/* Fails the test with a message. */
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            harness_fail();                                                \
        }                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                     \
    do {                                                                   \
        long long _a = (long long)(a), _b = (long long)(b);                \
        if (_a != _b) {                                                    \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, _a, _b);                   \
            harness_fail();                                                \
        }                                                                  \
    } while (0)

void harness_fail(void) __attribute__((noreturn));

/* Called by the mains before anything else. */
void harness_init(int argc, char **argv);

/* Whether the library runs in host mode (the test is linked with host.c). */
int harness_host_mode(void);

/* A short note the watchdog prints if the test hangs ("phase 3, round 17"). */
void harness_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A closure that stays valid for the whole test. */
struct sbthread_closure *harness_closure(uintptr_t (*fn)(void *), void *arg);

/* create_thread with a fresh closure; fails the test if it returns NULL. */
struct thread *harness_spawn(uintptr_t (*fn)(void *), void *arg);

/* Waits until th is DEAD, then reaps it. */
void harness_join(struct thread *th);

/* Number of threads on all_threads (read under all_threads_lock). */
int harness_count_threads(void);

/* Number of lines of /proc/self/maps (mappings of the process). */
int harness_count_mappings(void);

/*
 * Whether the test runs under a checking tool (built with
 * -fsanitize=address, or under valgrind): such tools map and unmap memory
 * per thread on their own and reserve huge shadow regions, so mapping
 * counts and address-space limits mean nothing there. CHECK_MAPPINGS
 * compares mapping counts only without such a tool.
 */
int harness_under_tool(void);

#define CHECK_MAPPINGS(a, b)                                               \
    do {                                                                   \
        if (!harness_under_tool())                                         \
            CHECK_EQ(a, b);                                                \
    } while (0)

/* Whether a mapping starts at addr. */
int harness_mapping_at(unsigned long addr);

/* Whether the mapping holding addr is writable: 1, 0, or -1 if none does. */
int harness_mapping_writable(const void *addr);

/* Bytes of th's block from control_stack_start to the end of its TLS area
 * (the whole block but its signal stack and last page). */
size_t harness_block_bytes(struct thread *th);

/* Resident pages of [start, start + bytes) (mincore; start page-aligned),
 * or -1 if part of it is not mapped. */
int harness_resident_pages(const void *start, size_t bytes);

/*
 * Death tests. Re-runs this executable with argv[1] = scenario and the
 * given environment addition ("NAME=value", several separated by spaces,
 * or NULL), captures stderr, and
 * checks that the child ends by SIGABRT and that its stderr contains each
 * of the NULL-terminated needles. Prints the child's message. Returns 1 if
 * all holds, 0 otherwise.
 */
int harness_expect_death(const char *scenario, const char *env, const char *const *needles);

/*
 * Re-runs this executable with argv[1] = scenario and the environment
 * addition env ("NAME=value" or NULL); stores its stderr (NUL-terminated,
 * truncated to len - 1 bytes) in out and returns its wait status.
 */
int harness_run_self(const char *scenario, const char *env, char *out, size_t len);

/*
 * Polls cond every 200 µs until it holds; after 20 s prints "timed out
 * waiting for <what>" and fails the test (a hang becomes a failure).
 */
void harness_await(int (*cond)(void), const char *what);

/*
 * How many of this process's tasks are blocked in a futex system call on
 * word (/proc/self/task/TID/syscall); the last one's id in *tid if tid is
 * not NULL.
 */
int harness_futex_sleepers(const void *word, pid_t *tid);

/* Monotonic time in nanoseconds. */
uint64_t harness_now_ns(void);

/* Sleeps for the given microseconds (a window to observe, never a verdict). */
void harness_sleep_us(long us);

#endif
