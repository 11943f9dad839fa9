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
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* This process's pid and a pidfd naming it, both cached: every start hands
 * the pidfd to the child (its parent_process sentinel), and every reap
 * checks the pid. Reset in a forked child, where they name the parent. */
static atomic_int self_pid;
static int self_pidfd = -1;
static pthread_mutex_t self_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
/* Set by the thread inside mproc__fork(): that child keeps the parent's
 * pidfd, which its start method passed it; any other fork's child closes
 * it. Thread-local, so the child (a copy of that thread) sees it. */
static _Thread_local bool in_mproc_fork
    __attribute__((tls_model("initial-exec")));

static void
self_atfork_child(void)
{
    if (!in_mproc_fork && self_pidfd >= 0)
        (void)close(self_pidfd);
    self_pidfd = -1;
    in_mproc_fork = false;
    atomic_store(&self_pid, 0);
    pthread_mutex_init(&self_mu, NULL);
}

static void
self_init(void)
{
    mproc__atfork(NULL, NULL, self_atfork_child);
}

pid_t
mproc__self_pid(void)
{
    pid_t pid = atomic_load_explicit(&self_pid, memory_order_relaxed);

    if (pid == 0) {
        pthread_once(&self_once, self_init);
        pid = getpid();
        atomic_store_explicit(&self_pid, pid, memory_order_relaxed);
    }
    return pid;
}

int
mproc__self_pidfd(void)
{
    int fd;

    pthread_once(&self_once, self_init);
    pthread_mutex_lock(&self_mu);
    if (self_pidfd < 0)
        self_pidfd = mproc__pidfd_open(getpid());
    fd = self_pidfd;
    if (self_pidfd < 0)
        self_pidfd = -1; /* an error: try again next time */
    pthread_mutex_unlock(&self_mu);
    return fd;
}

void
mproc__mark_fork(bool on)
{
    in_mproc_fork = on;
}

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
