/*
 * sys/pidfd.c - processes through pidfds: open, signal, reap.
 *
 * A pidfd names one process for good: once it has ended and been reaped,
 * signals through it fail with ESRCH instead of reaching a process that
 * reused the pid. mproc signals and reaps only through pidfds and never
 * installs a SIGCHLD handler.
 */
#include "sys/sys.h"

#include <errno.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

int
mproc__pidfd_open(pid_t pid)
{
    int fd = pidfd_open(pid, 0); /* always close-on-exec */

    if (fd < 0)
        return -errno;
    if (fd <= 2) {
        int moved = mproc__dup(fd);

        mproc__close(&fd);
        return moved;
    }
    return fd;
}

int
mproc__pidfd_signal(int pidfd, int sig)
{
    if (pidfd_send_signal(pidfd, sig, NULL, 0) == 0)
        return 0;
    /* ESRCH: it has ended (and may have been reaped); nothing to signal. */
    return errno == ESRCH ? 0 : -errno;
}

int
mproc__pidfd_reap(int pidfd, int *exitcode)
{
    siginfo_t si = { 0 };

    for (;;) {
        if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) == 0)
            break;
        if (errno != EINTR)
            return -errno;
    }
    if (si.si_pid == 0)
        return -EAGAIN;
    *exitcode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    return 0;
}
