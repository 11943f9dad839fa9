/*
 * sys/proc.c - creating processes: fork(), and exec of a fresh program
 * through posix_spawn (a vfork-class clone in glibc: no page-table copy);
 * and what else a process asks of the kernel about itself (its CPUs,
 * random bytes).
 *
 * The exec'd child gets exactly the descriptors it was given: every other
 * one is closed with closefrom, because host programs (test runners among
 * them) leak descriptors that are not close-on-exec.
 */
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t
mproc__fork(int *pidfd)
{
    pid_t pid;
    int fd;

    mproc__mark_fork(true);
    pid = fork();
    mproc__mark_fork(false);

    *pidfd = -1;
    if (pid <= 0)
        return pid < 0 ? -errno : 0;
    fd = mproc__pidfd_open(pid);
    if (fd < 0) {
        /* Cannot watch it: do not leave it running unwatched. Its pid
         * cannot have been reused: it is our unreaped child. */
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        return fd;
    }
    *pidfd = fd;
    return pid;
}

int
mproc__fork_detached(void)
{
    pid_t middle = _Fork();
    int status = 0;

    if (middle < 0)
        return -errno;
    if (middle == 0) {
        pid_t pid;

        if (setsid() < 0)
            _exit(1);
        pid = _Fork();
        if (pid != 0)
            _exit(pid < 0 ? 1 : 0);
        return 0;
    }
    while (waitpid(middle, &status, 0) < 0) {
        if (errno == ECHILD) /* SIGCHLD ignored: reaped by the kernel */
            return 1;
        if (errno != EINTR)
            return -errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -EAGAIN;
}

/* Map child_fds onto 0..nfds-1 (MPROC__SPAWN_DEVNULL: /dev/null;
 * MPROC__SPAWN_INHERIT: left as the parent has it). Sources below nfds are
 * first copied above it, so no dup2 overwrites a source that a later one
 * still needs (the copies, in lifted[], are the caller's to close). Then
 * keep[] stay open at their numbers and, with close_rest, every other
 * descriptor from nfds up is closed. */
static int
spawn_actions(posix_spawn_file_actions_t *fa, const int *child_fds, int nfds,
              int *lifted, const int *keep, size_t nkeep, bool close_rest)
{
    int rc = 0, top = nfds - 1;

    for (int i = 0; i < nfds; i++) {
        int src = child_fds[i];

        lifted[i] = -1;
        if (src == MPROC__SPAWN_INHERIT)
            continue;
        if (src == MPROC__SPAWN_DEVNULL) {
            rc =
                posix_spawn_file_actions_addopen(fa, i, "/dev/null", O_RDWR, 0);
        } else {
            if (src < nfds) {
                lifted[i] = fcntl(src, F_DUPFD_CLOEXEC, nfds);
                if (lifted[i] < 0)
                    return -errno;
                src = lifted[i];
            }
            rc = posix_spawn_file_actions_adddup2(fa, src, i);
        }
        if (rc != 0)
            return -rc;
    }
    /* dup2 of a descriptor onto itself clears its close-on-exec flag. */
    for (size_t k = 0; k < nkeep; k++) {
        if (keep[k] < nfds)
            continue;
        rc = posix_spawn_file_actions_adddup2(fa, keep[k], keep[k]);
        if (rc != 0)
            return -rc;
        if (keep[k] > top)
            top = keep[k];
    }
    if (!close_rest)
        return 0;
    /* The gaps between kept ones one by one (closing one that is not open
     * is no failure), then everything above. */
    for (int fd = nfds; fd < top && rc == 0; fd++) {
        bool kept = false;

        for (size_t k = 0; k < nkeep && !kept; k++)
            kept = keep[k] == fd;
        if (!kept)
            rc = posix_spawn_file_actions_addclose(fa, fd);
    }
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(fa, top + 1);
    return -rc;
}

/* posix_spawn, then a pidfd to watch the child; the child is killed and
 * reaped when no pidfd can be had. */
static pid_t
spawn_watched(const char *path, bool search,
              const posix_spawn_file_actions_t *fa,
              const posix_spawnattr_t *attr, char *const argv[],
              char *const envp[], int *pidfd)
{
    pid_t pid = -1;
    int rc = search ? posix_spawnp(&pid, path, fa, attr, argv, envp)
                    : posix_spawn(&pid, path, fa, attr, argv, envp);

    if (rc != 0)
        return -rc;
    rc = mproc__pidfd_open(pid);
    if (rc < 0) {
        /* Cannot watch it: do not leave it running unwatched. */
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        return rc;
    }
    *pidfd = rc;
    return pid;
}

pid_t
mproc__spawn(const char *path, char *const argv[], char *const envp[],
             const int *child_fds, int nfds, int *pidfd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int lifted[8];
    sigset_t none;
    pid_t pid;

    *pidfd = -1;
    if (nfds > 8)
        return MPROC_EINVAL;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    /* A fresh program starts with nothing blocked; caught signals are reset
     * by exec itself, ignored ones stay ignored (as under Python). */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid = spawn_actions(&fa, child_fds, nfds, lifted, NULL, 0, true);
    if (pid == 0)
        pid = spawn_watched(path, false, &fa, &attr, argv, envp, pidfd);
    for (int i = 0; i < nfds; i++)
        if (lifted[i] >= 0)
            mproc__close(&lifted[i]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return pid;
}

pid_t
mproc__spawn_program(const struct mproc__spawn_spec *s, int *pidfd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int lifted[3] = { -1, -1, -1 };
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    sigset_t none, dflt;
    pid_t pid;
    int rc;

    *pidfd = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    /* Python's restore_signals: what a shell expects at their default. */
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    sigaddset(&dflt, SIGXFSZ);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    if (s->setsid)
        flags |= POSIX_SPAWN_SETSID;
    if (s->setpgroup) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, s->pgroup);
    }
    posix_spawnattr_setflags(&attr, flags);
    rc = spawn_actions(&fa, s->stdio, 3, lifted, s->keep, s->nkeep,
                       s->close_rest);
    if (rc == 0 && s->cwd != NULL)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
    pid = rc < 0 ? rc
                 : spawn_watched(s->path, s->search, &fa, &attr, s->argv,
                                 s->envp, pidfd);
    for (int i = 0; i < 3; i++)
        if (lifted[i] >= 0)
            mproc__close(&lifted[i]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return pid;
}

int
mproc__reap_nohang(pid_t pid)
{
    siginfo_t si = { 0 };

    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) < 0)
        if (errno != EINTR)
            return -errno;
    return si.si_pid == 0 ? -EAGAIN : 0;
}

int
mproc__random_bytes(void *buf, size_t n)
{
    unsigned char *at = buf;

    while (n > 0) {
        ssize_t got = getrandom(at, n, 0);

        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        at += got;
        n -= (size_t)got;
    }
    return 0;
}

int
mproc__cpu_count(void)
{
    for (int ncpu = 1024; ncpu <= (1 << 16); ncpu *= 2) {
        size_t size = CPU_ALLOC_SIZE(ncpu);
        cpu_set_t *set = CPU_ALLOC(ncpu);
        int count;

        if (set == NULL)
            return 1;
        if (sched_getaffinity(0, size, set) == 0) {
            count = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return count > 0 ? count : 1;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            break;
    }
    return 1;
}

int
mproc__thread_count(void)
{
    struct stat st;

    /* The task directory links one entry per thread, beside . and .. */
    if (stat("/proc/self/task", &st) < 0)
        return -errno;
    return st.st_nlink > 2 ? (int)(st.st_nlink - 2) : 1;
}
