/*
 * tests/interop/python.c - finding Pythons and running peer.py (see
 * python.h).
 */
#include "interop/python.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers/th.h"

#ifndef TH_INTEROP_DIR
#error "TH_INTEROP_DIR must name the directory holding peer.py"
#endif
#define PEER_SCRIPT TH_INTEROP_DIR "/peer.py"

/* ---- finding Pythons ---------------------------------------------------- */

/* Whether `name` is an executable on PATH; its path into path. */
static bool
find_on_path(const char *name, char *path, size_t size)
{
    const char *dirs = getenv("PATH");

    while (dirs != NULL && *dirs != '\0') {
        const char *end = strchr(dirs, ':');
        size_t len = end != NULL ? (size_t)(end - dirs) : strlen(dirs);

        snprintf(path, size, "%.*s/%s", (int)len, dirs, name);
        if (len > 0 && access(path, X_OK) == 0)
            return true;
        dirs = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* pyenv's root: $PYENV_ROOT, else what `pyenv root` says; false without
 * pyenv. */
static bool
pyenv_root(char *root, size_t size)
{
    const char *env = getenv("PYENV_ROOT");
    FILE *f;
    bool ok;

    if (env != NULL && *env != '\0') {
        snprintf(root, size, "%s", env);
        return true;
    }
    f = popen("pyenv root 2>/dev/null", "re");
    if (f == NULL)
        return false;
    ok = fgets(root, (int)size, f) != NULL;
    if (pclose(f) != 0 || !ok)
        return false;
    root[strcspn(root, "\n")] = '\0';
    return root[0] != '\0';
}

/* The interpreter for `version` ("3": PATH's python3; "3.12": a pyenv
 * 3.12.x, else PATH's python3.12), or skip the test. */
void
python_or_skip(const char *version, char *path, size_t size)
{
    char root[PATH_MAX], pattern[PATH_MAX + 64], name[32];
    glob_t g;

    snprintf(name, sizeof(name), "python%s", version);
    if (strcmp(version, "3") != 0 && pyenv_root(root, sizeof(root))) {
        snprintf(pattern, sizeof(pattern), "%s/versions/%s.*/bin/python3", root,
                 version);
        if (glob(pattern, 0, NULL, &g) == 0) {
            /* The last in glob's (lexical) order: usually the newest. */
            snprintf(path, size, "%s", g.gl_pathv[g.gl_pathc - 1]);
            globfree(&g);
            return;
        }
        globfree(&g);
    }
    if (!find_on_path(name, path, size))
        cr_skip_test("%s not installed", name);
}

/* ---- peers -------------------------------------------------------------- */

/* Start `python peer.py ARGS...`; with give_fd >= 0, that descriptor
 * becomes the peer's fd 3 (all others but 0-2 are closed in it). */
struct peer
peer_start(const char *python, const char *const *args, int give_fd)
{
    const char *argv[8] = { python, PEER_SCRIPT };
    pid_t parent = getpid();
    struct peer p;
    int fds[2];

    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert_lt(i + 3, sizeof(argv) / sizeof(argv[0]));
        argv[i + 2] = args[i];
    }
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL); /* the child must not inherit buffered output */
    p.pid = fork();
    cr_assert_geq(p.pid, 0);
    if (p.pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(126);
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(126);
        if (give_fd >= 0 && (dup2(give_fd, 3) < 0 || fcntl(3, F_SETFD, 0) < 0))
            _exit(126);
        /* Criterion's workers leak descriptors: pass only what was
         * meant. */
        close_range(give_fd >= 0 ? 4 : 3, ~0U, 0);
        execv(python, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    p.out = fds[0];
    return p;
}

/* Read the peer's stdout into buf (NUL-terminated, the rest dropped) up to
 * a newline (whole false) or its end (whole true, a last newline dropped),
 * within STEP_TIMEOUT. Returns false when the time ran out. */
bool
peer_read(struct peer *p, char *buf, size_t size, bool whole)
{
    double deadline = th_now() + STEP_TIMEOUT;
    size_t n = 0;

    buf[0] = '\0';
    for (;;) {
        struct pollfd pfd = { .fd = p->out, .events = POLLIN };
        double left = deadline - th_now();
        int ready;
        char c;
        ssize_t got;

        if (left <= 0)
            return false;
        ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return false;
        got = read(p->out, &c, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || (c == '\n' && !whole)) {
            if (n > 0 && buf[n - 1] == '\n')
                buf[n - 1] = '\0';
            return true;
        }
        if (n + 1 < size) {
            buf[n++] = c;
            buf[n] = '\0';
        }
    }
}

/* The first line the peer prints (a listener's address). */
void
peer_line(struct peer *p, char *buf, size_t size)
{
    cr_assert(peer_read(p, buf, size, false), "the peer printed nothing");
    cr_assert_neq(buf[0], '\0', "the peer printed an empty line");
}

/* Read the rest of the peer's output into buf, reap it and return its
 * exit status (-signal when killed); a peer still running after
 * STEP_TIMEOUT is killed and the test fails. */
int
peer_finish(struct peer *p, char *buf, size_t size)
{
    bool ended = peer_read(p, buf, size, true);
    int pidfd = pidfd_open(p->pid, 0);
    struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
    int status;

    close(p->out);
    if (!ended || pidfd < 0 || poll(&pfd, 1, (int)(STEP_TIMEOUT * 1000)) != 1)
        kill(p->pid, SIGKILL);
    if (pidfd >= 0)
        close(pidfd);
    while (waitpid(p->pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    cr_assert(ended, "the peer did not finish in %.0f s", STEP_TIMEOUT);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}
