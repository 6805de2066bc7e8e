/*
 * For the special tests that are not linked with the harness: runs `body`
 * in a forked child with its stderr captured into `out` (NUL-terminated)
 * and prints it; returns the child's wait status.
 */
#ifndef SBTHREAD_TEST_CHILD_H
#define SBTHREAD_TEST_CHILD_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_child(void (*body)(void), char *out, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        body();
        _exit(0);
    }
    close(fds[1]);
    ssize_t n;
    size_t len = 0;
    while ((n = read(fds[0], out + len, size - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = 0;
    close(fds[0]);
    int status = -1;
    waitpid(pid, &status, 0);
    printf("child said: %s", out);
    return status;
}

#endif
