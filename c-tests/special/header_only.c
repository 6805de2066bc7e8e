/* Compiled as C99 and as C++11 with -Wall -Wextra -Werror -pedantic
 * (make check-header-compiles): the header alone must be clean. */
#include "sbthread.h"

int header_only_uses(struct thread *th);
int header_only_uses(struct thread *th)
{
    struct sbthread_closure c = { 0, 0 };
    struct sbthread_stats s;
    (void)c;
    (void)s;
    return th->SBTHREAD_THIS == th && th->state == SBTHREAD_STATE_RUNNING;
}
