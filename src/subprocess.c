/*
 * subprocess.c - run, Popen, communicate (include/mproc/subprocess.h).
 *
 * A child starts through sys/proc.c's posix_spawn (a vfork-class start
 * that reports an exec failure as its errno) and is watched through its
 * pidfd: signals go through it, so they never reach a reused pid, and
 * waits poll it. communicate() polls the pipes (non-blocking) and the
 * deadline together; what it read before a timeout stays in the handle
 * for the next call.
 */
#include "mproc/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc/process.h"
#include "sys/sys.h"

struct mproc_popen {
    pthread_mutex_t mu;
    pthread_mutex_t comm; /* one communicate() at a time */
    pid_t pid;
    int pidfd;
    int returncode;
    int pipes[3]; /* the parent's ends, or -1 */
    /* communicate()'s state, kept across a timeout */
    bool started;
    const char *input; /* the caller's during a call, else a copy */
    bool input_owned;
    size_t input_len, input_off;
    mproc_buf got[2]; /* stdout, stderr read so far */
    size_t cap[2];
};

/* ---- children freed while running ------------------------------------------
 */

/* Python's _active list: pids of children whose handle was freed before
 * they ended, reaped when a later child is started. */
static pthread_mutex_t orphans_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t *orphans;
static size_t norphans, orphans_cap;

static void
reap_orphans(void)
{
    pthread_mutex_lock(&orphans_mu);
    for (size_t i = 0; i < norphans;) {
        if (mproc__reap_nohang(orphans[i]) == -EAGAIN) {
            i++;
            continue;
        }
        orphans[i] = orphans[--norphans];
    }
    pthread_mutex_unlock(&orphans_mu);
}

static void
adopt_orphan(pid_t pid)
{
    pthread_mutex_lock(&orphans_mu);
    if (norphans == orphans_cap) {
        size_t cap = orphans_cap ? orphans_cap * 2 : 16;
        pid_t *n = realloc(orphans, cap * sizeof(*n));

        if (n != NULL) {
            orphans = n;
            orphans_cap = cap;
        }
    }
    if (norphans < orphans_cap)
        orphans[norphans++] = pid; /* else a zombie until this process ends */
    pthread_mutex_unlock(&orphans_mu);
}

/* ---- starting
 * ---------------------------------------------------------------- */

extern char **environ;

/* env (or this process's environment) with env_add's names replaced or
 * added: a new NULL-ended array of borrowed strings. */
static char **
merged_env(char *const *env, char *const *add)
{
    char *const *base = env != NULL ? env : environ;
    size_t nb = 0, na = 0, n = 0;
    char **out;

    while (base != NULL && base[nb] != NULL)
        nb++;
    while (add != NULL && add[na] != NULL)
        na++;
    out = malloc((nb + na + 1) * sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < nb; i++) {
        const char *eq = strchr(base[i], '=');
        size_t name = eq != NULL ? (size_t)(eq - base[i]) : strlen(base[i]);
        bool replaced = false;

        for (size_t k = 0; k < na && !replaced; k++)
            replaced =
                strncmp(add[k], base[i], name) == 0 && add[k][name] == '=';
        if (!replaced)
            out[n++] = base[i];
    }
    for (size_t k = 0; k < na; k++)
        out[n++] = add[k];
    out[n] = NULL;
    return out;
}

/* argv for /bin/sh -c: "sh", "-c", argv[0], argv[1] ... */
static char **
shell_argv(char *const argv[])
{
    size_t n = 0;
    char **out;

    while (argv[n] != NULL)
        n++;
    out = malloc((n + 3) * sizeof(*out));
    if (out == NULL)
        return NULL;
    out[0] = "/bin/sh";
    out[1] = "-c";
    for (size_t i = 0; i <= n; i++)
        out[2 + i] = argv[i];
    return out;
}

static bool
valid_mode(enum mproc_stdio m, int fd, bool stdout_ok)
{
    return (unsigned)m <= MPROC_STDIO_STDOUT &&
           (m != MPROC_STDIO_STDOUT || stdout_ok) &&
           (m != MPROC_STDIO_FD || fd >= 0);
}

/* The child's ends of its three streams (stdio[]) and the parent's ends
 * of the pipes (p->pipes[]); extra[] are descriptors to close after the
 * start (the child's pipe ends, /dev/null). */
static int
make_streams(const mproc_popen_opts *o, mproc_popen *p, int stdio[3],
             int extra[4])
{
    enum mproc_stdio mode[3] = { o->in, o->out, o->err };
    int given[3] = { o->in_fd, o->out_fd, o->err_fd }, devnull = -1, n = 0;

    for (int i = 0; i < 3; i++) {
        int fds[2], rc;

        stdio[i] = MPROC__SPAWN_INHERIT;
        switch (mode[i]) {
        case MPROC_STDIO_INHERIT:
            break;
        case MPROC_STDIO_FD:
            stdio[i] = given[i];
            break;
        case MPROC_STDIO_STDOUT:
            stdio[i] = stdio[1] == MPROC__SPAWN_INHERIT ? 1 : stdio[1];
            break;
        case MPROC_STDIO_DEVNULL:
            if (devnull < 0) {
                devnull = mproc__open("/dev/null", O_RDWR, 0);
                if (devnull < 0)
                    return devnull;
                extra[n++] = devnull;
            }
            stdio[i] = devnull;
            break;
        case MPROC_STDIO_PIPE:
            rc = mproc__pipe(fds);
            if (rc < 0)
                return rc;
            /* stdin: the child reads; stdout, stderr: the child writes */
            stdio[i] = fds[i == 0 ? 0 : 1];
            p->pipes[i] = fds[i == 0 ? 1 : 0];
            extra[n++] = stdio[i];
            break;
        }
    }
    return 0;
}

static void
close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        mproc__close(&fds[i]);
}

int
mproc_popen_new(mproc_popen **out, char *const argv[],
                const mproc_popen_opts *opts)
{
    static const mproc_popen_opts defaults;
    const mproc_popen_opts *o = opts != NULL ? opts : &defaults;
    struct mproc__spawn_spec spec = { 0 };
    int extra[4] = { -1, -1, -1, -1 };
    char **env = NULL, **args = NULL;
    mproc_popen *p;
    pid_t pid;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || argv == NULL || argv[0] == NULL ||
        !valid_mode(o->in, o->in_fd, false) ||
        !valid_mode(o->out, o->out_fd, false) ||
        !valid_mode(o->err, o->err_fd, true) ||
        (o->pass_fds == NULL && o->npass_fds > 0))
        return MPROC_EINVAL;
    for (size_t i = 0; i < o->npass_fds; i++)
        if (o->pass_fds[i] < 0)
            return MPROC_EINVAL;
    reap_orphans();
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->comm, NULL);
    p->pidfd = -1;
    p->returncode = MPROC_EXITCODE_NONE;
    p->pipes[0] = p->pipes[1] = p->pipes[2] = -1;
    rc = make_streams(o, p, spec.stdio, extra);
    if (rc == 0 && (o->env != NULL || o->env_add != NULL) &&
        (env = merged_env(o->env, o->env_add)) == NULL)
        rc = MPROC_ENOMEM;
    if (rc == 0 && o->shell && (args = shell_argv(argv)) == NULL)
        rc = MPROC_ENOMEM;
    if (rc == 0) {
        spec.argv = args != NULL ? args : argv;
        spec.path = o->executable != NULL ? o->executable
                    : o->shell            ? "/bin/sh"
                                          : argv[0];
        spec.search = strchr(spec.path, '/') == NULL;
        spec.envp = env != NULL ? env : environ;
        spec.keep = o->pass_fds;
        spec.nkeep = o->npass_fds;
        spec.close_rest = !o->keep_fds;
        spec.cwd = o->cwd;
        spec.setsid = o->start_new_session;
        spec.setpgroup = o->set_process_group;
        spec.pgroup = o->process_group;
        pid = mproc__spawn_program(&spec, &p->pidfd);
        rc = pid < 0 ? (int)pid : 0;
        p->pid = pid;
    }
    free(env);
    free(args);
    close_all(extra, 4);
    if (rc < 0) {
        close_all(p->pipes, 3);
        pthread_mutex_destroy(&p->mu);
        pthread_mutex_destroy(&p->comm);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- waiting
 * ----------------------------------------------------------------- */

/* Reap the child if it ended (mu held): 0, or MPROC_ETIMEDOUT. */
static int
try_reap(mproc_popen *p)
{
    int code, rc;

    if (p->returncode != MPROC_EXITCODE_NONE)
        return 0;
    rc = mproc__pidfd_reap(p->pidfd, &code);
    if (rc == 0) {
        /* The pidfd stays open until the handle is freed: a waiter in
         * another thread may be polling it. */
        p->returncode = code;
        return 0;
    }
    return rc == -EAGAIN ? MPROC_ETIMEDOUT : rc;
}

int
mproc_popen_poll(mproc_popen *p)
{
    int rc;

    if (p == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    rc = try_reap(p);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int
wait_until(mproc_popen *p, const struct mproc__deadline *dl)
{
    for (;;) {
        int fd, rc;

        pthread_mutex_lock(&p->mu);
        rc = try_reap(p);
        fd = p->pidfd;
        pthread_mutex_unlock(&p->mu);
        if (rc != MPROC_ETIMEDOUT)
            return rc;
        /* The pidfd turns readable when the child ends. */
        rc = mproc__wait_readable(fd, dl);
        if (rc < 0)
            return rc;
    }
}

int
mproc_popen_wait(mproc_popen *p, double timeout)
{
    struct mproc__deadline dl;

    if (p == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    return wait_until(p, &dl);
}

/* ---- communicate
 * --------------------------------------------------------------- */

/* Read what is there from stream i (1 stdout, 2 stderr): 0, or -errno;
 * the pipe is closed at its end. */
static int
read_some(mproc_popen *p, int i)
{
    mproc_buf *b = &p->got[i - 1];
    size_t *cap = &p->cap[i - 1];

    for (;;) {
        ssize_t n;

        if (*cap - b->len < 65536) {
            size_t nc = *cap ? *cap * 2 : 65536;
            void *nd = realloc(b->data, nc);

            if (nd == NULL)
                return MPROC_ENOMEM;
            b->data = nd;
            *cap = nc;
        }
        n = read(p->pipes[i], (char *)b->data + b->len, *cap - b->len);
        if (n > 0) {
            b->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            mproc__close(&p->pipes[i]);
            return 0;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN ? 0 : -errno;
    }
}

static void
drop_input(mproc_popen *p)
{
    if (p->input_owned)
        free((char *)p->input);
    p->input = NULL;
    p->input_owned = false;
    p->input_len = p->input_off = 0;
}

/* A call ends with input unsent (it timed out): keep a copy of the rest,
 * the caller's bytes being its own again. */
static int
keep_input(mproc_popen *p)
{
    size_t rest = p->input_len - p->input_off;
    char *copy;

    if (p->input == NULL || p->input_owned)
        return 0;
    copy = rest > 0 ? malloc(rest) : NULL;
    if (rest > 0 && copy == NULL)
        return MPROC_ENOMEM;
    if (rest > 0)
        memcpy(copy, p->input + p->input_off, rest);
    p->input = copy;
    p->input_owned = rest > 0;
    p->input_len = rest;
    p->input_off = 0;
    return 0;
}

/* Write what the pipe takes of the input left: 0, or -errno. A child
 * that does not read (EPIPE) just gets no more. */
static int
write_some(mproc_popen *p)
{
    while (p->input_off < p->input_len) {
        struct iovec v = { (char *)p->input + p->input_off,
                           p->input_len - p->input_off };
        ssize_t n = mproc__writev_nosigpipe(p->pipes[0], &v, 1);

        if (n > 0) {
            p->input_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0 && errno != EPIPE)
            return -errno;
        p->input_off = p->input_len; /* EPIPE: it stopped reading */
    }
    /* All sent: end of file for the child. */
    drop_input(p);
    mproc__close(&p->pipes[0]);
    return 0;
}

static int
set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* Move out what was read (mu held). */
static void
take_output(mproc_popen *p, mproc_buf *out, mproc_buf *err)
{
    mproc_buf *to[2] = { out, err };

    for (int i = 0; i < 2; i++) {
        if (p->got[i].len == 0) /* empty is { NULL, 0 } */
            mproc_buf_free(&p->got[i]);
        if (to[i] != NULL) {
            *to[i] = p->got[i];
        } else {
            mproc_buf_free(&p->got[i]);
        }
        p->got[i] = (mproc_buf){ NULL, 0 };
        p->cap[i] = 0;
    }
}

/* Pump the pipes until they are all closed or the deadline passes. */
static int
pump(mproc_popen *p, const struct mproc__deadline *dl)
{
    for (;;) {
        struct pollfd fds[3];
        int n = 0, rc, ms;

        if (p->pipes[0] >= 0 && p->input_off >= p->input_len) {
            drop_input(p);
            mproc__close(&p->pipes[0]);
        }
        for (int i = 0; i < 3; i++)
            if (p->pipes[i] >= 0)
                fds[n++] =
                    (struct pollfd){ .fd = p->pipes[i],
                                     .events = i == 0 ? POLLOUT : POLLIN };
        if (n == 0)
            return 0;
        ms = mproc__deadline_ms_left(dl);
        /* Other calls on the handle go on meanwhile (kill, wait ...). */
        pthread_mutex_unlock(&p->mu);
        rc = poll(fds, (nfds_t)n, ms);
        pthread_mutex_lock(&p->mu);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (rc == 0 && ms == 0)
            return MPROC_ETIMEDOUT;
        for (int k = 0; k < n; k++) {
            int i;

            if (fds[k].revents == 0)
                continue;
            i = fds[k].fd == p->pipes[0] ? 0 : fds[k].fd == p->pipes[1] ? 1 : 2;
            rc = i == 0 ? write_some(p) : read_some(p, i);
            if (rc < 0)
                return rc;
        }
        if (mproc__deadline_passed(dl) && rc == 0 &&
            (p->pipes[0] >= 0 || p->pipes[1] >= 0 || p->pipes[2] >= 0))
            return MPROC_ETIMEDOUT;
    }
}

int
mproc_popen_communicate(mproc_popen *p, const void *input, size_t len,
                        mproc_buf *out, mproc_buf *err, double timeout)
{
    struct mproc__deadline dl;
    int rc = 0;

    if (out != NULL)
        *out = (mproc_buf){ NULL, 0 };
    if (err != NULL)
        *err = (mproc_buf){ NULL, 0 };
    if (p == NULL || (input == NULL && len > 0) ||
        mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->comm);
    pthread_mutex_lock(&p->mu);
    if (len > 0 && (p->started || p->pipes[0] < 0)) {
        pthread_mutex_unlock(&p->mu);
        pthread_mutex_unlock(&p->comm);
        return MPROC_ESTATE;
    }
    if (!p->started) {
        p->started = true;
        /* Borrowed for this call; copied only if it ends unsent. */
        p->input = len > 0 ? input : NULL;
        p->input_len = len;
        for (int i = 0; i < 3 && rc == 0; i++)
            if (p->pipes[i] >= 0)
                rc = set_nonblocking(p->pipes[i]);
    }
    if (rc == 0)
        rc = pump(p, &dl);
    if (keep_input(p) < 0 && rc == 0)
        rc = MPROC_ENOMEM;
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        rc = wait_until(p, &dl);
    if (rc == 0) {
        pthread_mutex_lock(&p->mu);
        take_output(p, out, err);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->comm);
    return rc;
}

/* ---- signals and accessors
 * -------------------------------------------------------- */

int
mproc_popen_send_signal(mproc_popen *p, int sig)
{
    int rc = 0;

    if (p == NULL || sig < 0 || sig >= NSIG)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    /* Reaped: its pid may be someone else's now; the pidfd is closed. */
    if (p->returncode == MPROC_EXITCODE_NONE) {
        rc = mproc__pidfd_signal(p->pidfd, sig);
        if (rc == -ESRCH) /* ended, not yet reaped */
            rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int
mproc_popen_terminate(mproc_popen *p)
{
    return mproc_popen_send_signal(p, SIGTERM);
}

int
mproc_popen_kill(mproc_popen *p)
{
    return mproc_popen_send_signal(p, SIGKILL);
}

pid_t
mproc_popen_pid(const mproc_popen *p)
{
    return p != NULL ? p->pid : -1;
}

int
mproc_popen_returncode(const mproc_popen *p)
{
    int rc;

    if (p == NULL)
        return MPROC_EXITCODE_NONE;
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    rc = p->returncode;
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return rc;
}

int
mproc_popen_pipe(const mproc_popen *p, int which)
{
    int fd;

    if (p == NULL || which < 0 || which > 2)
        return -1;
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    fd = p->pipes[which];
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return fd;
}

int
mproc_popen_close_pipe(mproc_popen *p, int which)
{
    int rc = MPROC_EINVAL;

    if (p == NULL || which < 0 || which > 2)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->pipes[which] >= 0) {
        mproc__close(&p->pipes[which]);
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void
mproc_popen_free(mproc_popen *p)
{
    if (p == NULL)
        return;
    close_all(p->pipes, 3);
    if (p->returncode == MPROC_EXITCODE_NONE && try_reap(p) != 0)
        adopt_orphan(p->pid);
    mproc__close(&p->pidfd);
    drop_input(p);
    mproc_buf_free(&p->got[0]);
    mproc_buf_free(&p->got[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->comm);
    free(p);
}

/* ---- run
 * -------------------------------------------------------------------------- */

static char **
copy_argv(char *const argv[])
{
    size_t n = 0;
    char **out;

    while (argv[n] != NULL)
        n++;
    out = calloc(n + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(argv[i]);
        if (out[i] == NULL) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

int
mproc_run(char *const argv[], const mproc_run_opts *opts, mproc_completed *out,
          double timeout)
{
    static const mproc_run_opts defaults;
    const mproc_run_opts *o = opts != NULL ? opts : &defaults;
    mproc_popen_opts po;
    struct mproc__deadline dl;
    mproc_popen *p = NULL;
    int rc;

    if (out != NULL)
        *out = (mproc_completed){ .returncode = MPROC_EXITCODE_NONE };
    if (argv == NULL || argv[0] == NULL || out == NULL ||
        mproc__deadline_init(&dl, timeout) < 0 ||
        (o->input == NULL && o->input_len > 0))
        return MPROC_EINVAL;
    po = o->popen;
    if (o->input != NULL) {
        if (po.in != MPROC_STDIO_INHERIT)
            return MPROC_EINVAL;
        po.in = MPROC_STDIO_PIPE;
    }
    if (o->capture_output) {
        if (po.out != MPROC_STDIO_INHERIT || po.err != MPROC_STDIO_INHERIT)
            return MPROC_EINVAL;
        po.out = po.err = MPROC_STDIO_PIPE;
    }
    out->args = copy_argv(argv);
    if (out->args == NULL)
        return MPROC_ENOMEM;
    rc = mproc_popen_new(&p, argv, &po);
    if (rc < 0)
        return rc;
    rc = mproc_popen_communicate(p, o->input, o->input_len, &out->out,
                                 &out->err, mproc__deadline_seconds_left(&dl));
    if (rc == MPROC_ETIMEDOUT) {
        /* Killed and reaped; not read further: a grandchild may hold the
         * pipes open for good. What it wrote so far is kept. */
        (void)mproc_popen_kill(p);
        (void)mproc_popen_wait(p, MPROC_FOREVER);
        pthread_mutex_lock(&p->mu);
        take_output(p, &out->out, &out->err);
        pthread_mutex_unlock(&p->mu);
    }
    out->returncode = mproc_popen_returncode(p);
    mproc_popen_free(p);
    if (rc == 0 && o->check && out->returncode != 0)
        rc = MPROC_ECHECK;
    return rc;
}

int
mproc_completed_check_returncode(const mproc_completed *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    return c->returncode == 0 ? 0 : MPROC_ECHECK;
}

void
mproc_completed_free(mproc_completed *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->args != NULL && c->args[i] != NULL; i++)
        free(c->args[i]);
    free(c->args);
    mproc_buf_free(&c->out);
    mproc_buf_free(&c->err);
    *c = (mproc_completed){ .returncode = MPROC_EXITCODE_NONE };
}
