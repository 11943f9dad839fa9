/*
 * sys/sig.c - the library's few touches of signal state. mproc installs no
 * handler and changes no disposition of the host program; these are used
 * by threads the library owns and by processes it creates (the forkserver
 * ignores SIGINT as Python's does; its children restore it).
 */
#include "sys/sys.h"

#include <pthread.h>
#include <signal.h>
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

_Noreturn void
mproc__sig_kill_self(void)
{
    (void)kill(getpid(), SIGKILL);
    _exit(137); /* not reached: SIGKILL cannot be blocked */
}
