/*
 * sys/sig.c - the library's few touches of signal state. mproc installs no
 * handler and changes no disposition of the host program; these are used
 * by threads the library owns and by processes it creates (the forkserver
 * ignores SIGINT as Python's does; its children restore it).
 */
#include "sys/sys.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

void
mproc__sig_block_all(sigset_t *old)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

void
mproc__sig_restore(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void
set_action(int sig, void (*handler)(int))
{
    struct sigaction sa = { .sa_handler = handler };

    sigemptyset(&sa.sa_mask);
    (void)sigaction(sig, &sa, NULL);
}

void
mproc__sig_ignore(int sig)
{
    set_action(sig, SIG_IGN);
}

void
mproc__sig_default(int sig)
{
    set_action(sig, SIG_DFL);
}

ssize_t
mproc__writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt)
{
    static const struct timespec no_wait = { 0, 0 };
    sigset_t pipe_only, old, pending;
    bool was_pending;
    ssize_t n;
    int saved;

    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    n = writev(fd, iov, iovcnt);
    saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        /* Ours: take it off the thread before the mask opens again. */
        while (sigtimedwait(&pipe_only, NULL, &no_wait) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

_Noreturn void
mproc__sig_kill_self(void)
{
    (void)kill(getpid(), SIGKILL);
    _exit(137); /* not reached: SIGKILL cannot be blocked */
}
