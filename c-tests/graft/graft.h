/*
 * What the graft tests share (c-tests/graft/): the executable's stand-in
 * thread.o (standins.c) and checks of its code (common.c).
 */
#ifndef SBTHREAD_GRAFT_TEST_H
#define SBTHREAD_GRAFT_TEST_H

#include <stddef.h>

/* The functions of 0.9.4.1's thread.o, as the library grafts them. */
#define GRAFT_FUNCTIONS 9
extern const char *const graft_names[GRAFT_FUNCTIONS];

/* Prints "graft test: the executable's own NAME ran" and aborts. */
void graft_standin_ran(const char *name) __attribute__((noreturn));

/* The executable's own definition of names[i], or NULL if it has none. */
void *graft_exe_function(int i);

/* Whether the first n bytes at addr are those of the executable's file. */
int graft_same_as_file(const void *addr, size_t n);

/* Whether addr starts with the graft's jump (jmp *0(%rip); .quad target). */
int graft_jumps_to(const void *addr, const void *target);

/* Whether every page holding a stand-in's first bytes is writable now. */
int graft_any_standin_writable(void);

/* Checks the executable's stand-ins are exactly as in its file and not
 * writable; prints "graft test: stand-ins untouched (N functions)";
 * returns 1 if so, else prints what differs and returns 0. */
int graft_check_untouched(void);

/* Checks that each stand-in starts with a jump to the library's function of
 * the same name (found after the executable in the lookup order) and is
 * otherwise as in its file, and not writable. 1 if so. */
int graft_check_grafted(void);

/* How many times needle occurs in haystack. */
int graft_count(const char *haystack, const char *needle);

#endif
