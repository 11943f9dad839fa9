/*
 * startmethod/spawn.c - the spawn start method: Python's "spawn".
 *
 * The parent executes the program afresh through posix_spawn with
 * MPROC_BOOT=spawn in the environment, the child's end of a socketpair on
 * fd 3 and its own pidfd on fd 4. The library constructor in the child
 * (bootstrap.c) reads the spec from fd 3, finds the target, answers with a
 * status and runs it; main never runs. The parent waits for that answer, so
 * a target the child cannot find is an error of mproc_process_start(), not
 * a crash in the child. The descriptors of the shared arena's segments
 * (shm/arena.c) come with the spec and are mapped before the target runs.
 *
 * Cost per start: posix_spawn (a vfork-class clone plus exec), one spec
 * message and one status reply, plus the child's dynamic loading.
 */
#include "startmethod/startmethod.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "process.h"
#include "shm/shm.h"
#include "sys/sys.h"

extern char **environ;

/* environ without any MPROC_BOOT, plus MPROC_BOOT=mode. */
static char **
boot_environ(const char *mode, char **marker)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ != NULL && environ[n] != NULL)
        n++;
    env = calloc(n + 2, sizeof(*env));
    if (env == NULL || asprintf(marker, "%s=%s", MPROC__BOOT_ENV, mode) < 0) {
        free(env);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], MPROC__BOOT_ENV "=", sizeof(MPROC__BOOT_ENV)) !=
            0)
            env[k++] = environ[i];
    env[k++] = *marker;
    env[k] = NULL;
    return env;
}

pid_t
mproc__exec_self(const char *mode, const int *fds, int nfds, int *pidfd)
{
    char exe[PATH_MAX];
    char *argv[] = { program_invocation_name, NULL };
    int child_fds[8];
    char *marker = NULL;
    char **env;
    pid_t pid;
    int rc;

    *pidfd = -1;
    rc = mproc__executable(exe, sizeof(exe));
    if (rc < 0)
        return rc;
    if (nfds > 8)
        return MPROC_EINVAL;
    for (int i = 0; i < nfds; i++) {
        /* A program that closed its stdout gives the child /dev/null. */
        child_fds[i] = fds[i];
        if (fds[i] >= 0 && fcntl(fds[i], F_GETFD) < 0)
            child_fds[i] = -1;
    }
    env = boot_environ(mode, &marker);
    if (env == NULL)
        return MPROC_ENOMEM;
    pid = mproc__spawn(exe, argv, env, child_fds, nfds, pidfd);
    free(marker);
    free(env);
    return pid;
}

/* The child did not start its target: make sure it is gone and reaped. */
static void
discard_child(int pidfd)
{
    struct mproc__deadline forever = { .forever = true };
    int code;

    (void)mproc__pidfd_signal(pidfd, SIGKILL);
    (void)mproc__wait_readable(pidfd, &forever);
    (void)mproc__pidfd_reap(pidfd, &code);
}

int
mproc__start_spawn(const struct mproc__child_spec *spec, int parent_pidfd,
                   struct mproc__started *out)
{
    mproc_buf wire = { 0 };
    int seg_fds[MPROC__ARENA_MAX_SEGMENTS];
    int sv[2] = { -1, -1 };
    int32_t status = 0;
    int nseg;
    int pidfd = -1;
    pid_t pid;
    int rc;

    rc = mproc__spec_encode(spec, &wire);
    if (rc == 0)
        rc = mproc__socketpair(sv);
    if (rc < 0)
        goto done;
    pid = mproc__exec_self(
        "spawn",
        (int[]){ -1, STDOUT_FILENO, STDERR_FILENO, sv[1], parent_pidfd }, 5,
        &pidfd);
    mproc__close(&sv[1]);
    if (pid < 0) {
        rc = pid;
        goto done;
    }
    /* The arena's segments ride with the spec: shared objects made so far
     * are reachable by token in the child. */
    nseg = mproc__arena_fds(seg_fds, MPROC__ARENA_MAX_SEGMENTS);
    rc =
        nseg < 0 ? nseg : mproc__spec_send(sv[0], &wire, seg_fds, (size_t)nseg);
    while (nseg > 0)
        mproc__close(&seg_fds[--nseg]);
    if (rc == 0)
        rc = mproc__read_full(sv[0], &status, sizeof(status));
    if (rc == MPROC_EEOF || rc == -EPIPE || rc == -ECONNRESET)
        rc = MPROC_ECRASHED; /* died before it could start the target */
    if (rc == 0 && status < 0)
        rc = status;
    if (rc < 0) {
        discard_child(pidfd);
        mproc__close(&pidfd);
        goto done;
    }
    *out = (struct mproc__started){ pid, pidfd, pidfd };
done:
    mproc__close(&sv[0]);
    mproc_buf_free(&wire);
    return rc;
}

_Noreturn void
mproc__spawn_child_main(int boot_fd)
{
    struct mproc__child_spec spec;
    int seg_fds[MPROC__ARENA_MAX_SEGMENTS];
    int32_t status;
    size_t nfds;
    int rc;

    rc = mproc__spec_recv(boot_fd, &spec, seg_fds, MPROC__ARENA_MAX_SEGMENTS,
                          &nfds);
    if (rc == 0)
        rc = mproc__arena_adopt(seg_fds, nfds);
    if (rc == 0)
        rc = mproc__target_resolve(&spec.loc, &spec.target);
    status = rc;
    (void)mproc__send_full(boot_fd, &status, sizeof(status));
    if (rc < 0)
        _exit(70); /* EX_SOFTWARE; the parent has the reason */
    mproc__close(&boot_fd);
    /* Inherited without close-on-exec; the child's own execs must not. */
    (void)mproc__dup_to(MPROC__PARENT_FD, MPROC__PARENT_FD, true);
    mproc__process_run_child(&spec, MPROC__PARENT_FD);
}
