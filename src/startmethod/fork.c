/*
 * startmethod/fork.c - the fork start method: Python's "fork".
 *
 * The child is a copy of the parent at the moment of the call, with only
 * the calling thread; it runs the target straight from the spec in its
 * copy of memory (process.c has flushed stdout and stderr, as Python does,
 * so text buffered before the fork is not printed twice).
 */
#include "startmethod/startmethod.h"

#include "process.h"
#include "sys/sys.h"

int
mproc__start_fork(const struct mproc__child_spec *spec, int parent_pidfd,
                  struct mproc__started *out)
{
    int pidfd;
    pid_t pid;

    pid = mproc__fork(&pidfd);
    if (pid == 0)
        mproc__process_run_child(spec, parent_pidfd);
    if (pid < 0)
        return pid;
    *out = (struct mproc__started){ pid, pidfd, pidfd };
    return 0;
}
