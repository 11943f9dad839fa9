/*
 * startmethod/forkserver.c - the forkserver start method: Python's
 * "forkserver".
 *
 * The server is a fresh execution of the program (MPROC_BOOT=forkserver,
 * caught by the constructor in bootstrap.c before main), so it is
 * single-threaded and holds nothing of the parent's. The parent talks to it
 * over a socketpair, one request at a time (server.mu):
 *
 *   request  u64 length + spec (bootstrap.c), with [the parent's pidfd,
 *            its stdout, its stderr] attached (SCM_RIGHTS): the pidfd for
 *            the child's parent_process and daemon watch, stdout and
 *            stderr so the child writes where the parent writes now, as
 *            under fork and spawn; then the descriptors of the shared
 *            arena's segments (shm/arena.c), which the child maps before
 *            its target runs
 *   reply    i32 status | i32 pid, with [child pidfd, status pipe read end]
 *            attached when status is 0
 *
 * The server forks the child, keeps the child's pidfd and the write end of
 * its status pipe, and when the pidfd turns readable reaps the child and
 * writes its exit code (i32) into the pipe: the pipe's read end is the
 * child's sentinel in the parent, as in Python. The server leaves when the
 * parent's end of the socket closes (the parent exited or died); a forked
 * child of the parent closes its inherited copy (atfork), so only the
 * parent keeps the server alive. A server found dead is restarted once.
 *
 * Signals: the server ignores SIGINT (a Ctrl-C meant for the program must
 * not kill it); children get the default action back.
 */
#include "startmethod/startmethod.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "process.h"
#include "shm/shm.h"
#include "sys/sys.h"

/* Descriptors passed with each request: parent pidfd, stdout, stderr,
 * then up to MPROC__ARENA_MAX_SEGMENTS arena segments. */
#define N_PASSED 3
#define MAX_PASSED (N_PASSED + MPROC__ARENA_MAX_SEGMENTS)

/* The parent's side. */
static struct {
    pthread_mutex_t mu; /* guards all below; one request at a time */
    int sock;           /* -1: not running */
    int pidfd;          /* the server: our child */
} server = { PTHREAD_MUTEX_INITIALIZER, -1, -1 };
static pthread_once_t server_once = PTHREAD_ONCE_INIT;

/* A forked child must not keep its parent's server alive or talk to it. */
static void
server_atfork_child(void)
{
    pthread_mutex_init(&server.mu, NULL);
    mproc__close(&server.sock);
    mproc__close(&server.pidfd);
}

static void
server_init(void)
{
    mproc__atfork(NULL, NULL, server_atfork_child);
}

/* Caller holds server.mu. */
static int
ensure_running_locked(void)
{
    int sv[2];
    pid_t pid;
    int rc;

    if (server.sock >= 0)
        return 0;
    rc = mproc__socketpair(sv);
    if (rc < 0)
        return rc;
    pid = mproc__exec_self("forkserver",
                           (int[]){ -1, STDOUT_FILENO, STDERR_FILENO, sv[1] },
                           4, &server.pidfd);
    mproc__close(&sv[1]);
    if (pid < 0) {
        mproc__close(&sv[0]);
        return pid;
    }
    server.sock = sv[0];
    return 0;
}

/* Caller holds server.mu: the server stopped answering; end and reap it. */
static void
drop_server_locked(void)
{
    struct mproc__deadline forever = { .forever = true };
    int code;

    mproc__close(&server.sock); /* EOF: a live server leaves by itself */
    if (server.pidfd >= 0) {
        (void)mproc__wait_readable(server.pidfd, &forever);
        (void)mproc__pidfd_reap(server.pidfd, &code);
        mproc__close(&server.pidfd);
    }
}

int
mproc_forkserver_start(void)
{
    int rc;

    pthread_once(&server_once, server_init);
    pthread_mutex_lock(&server.mu);
    rc = ensure_running_locked();
    pthread_mutex_unlock(&server.mu);
    return rc;
}

/* One round trip; caller holds server.mu. */
static int
request_locked(const mproc_buf *wire, const int *passed, size_t npassed,
               struct mproc__started *out)
{
    int32_t reply[2];
    int fds[2];
    size_t nfds = 0;
    int rc;

    rc = mproc__spec_send(server.sock, wire, passed, npassed);
    if (rc == 0)
        rc = mproc__recv_fds(server.sock, reply, sizeof(reply), fds, 2, &nfds);
    if (rc < 0)
        return rc;
    if (reply[0] == 0 && nfds == 2) {
        *out = (struct mproc__started){ reply[1], fds[0], fds[1] };
        return 0;
    }
    for (size_t i = 0; i < nfds; i++)
        mproc__close(&fds[i]);
    return reply[0] < 0 ? reply[0] : MPROC_EPROTOCOL;
}

int
mproc__start_forkserver(const struct mproc__child_spec *spec, int parent_pidfd,
                        struct mproc__started *out)
{
    mproc_buf wire = { 0 };
    int passed[MAX_PASSED] = { parent_pidfd, STDOUT_FILENO, STDERR_FILENO };
    int devnull = -1;
    int nseg;
    int rc;

    for (int i = 1; i < N_PASSED; i++) {
        if (fcntl(passed[i], F_GETFD) >= 0)
            continue;
        /* A closed stdout/stderr: the child gets /dev/null there. */
        if (devnull < 0)
            devnull = mproc__open("/dev/null", O_WRONLY, 0);
        if (devnull < 0)
            return devnull;
        passed[i] = devnull;
    }
    rc = mproc__spec_encode(spec, &wire);
    nseg = mproc__arena_fds(passed + N_PASSED, MPROC__ARENA_MAX_SEGMENTS);
    if (rc == 0 && nseg < 0)
        rc = nseg;
    if (rc < 0) {
        while (nseg > 0)
            mproc__close(&passed[N_PASSED + --nseg]);
        mproc_buf_free(&wire);
        mproc__close(&devnull);
        return rc;
    }
    pthread_once(&server_once, server_init);
    pthread_mutex_lock(&server.mu);
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = ensure_running_locked();
        if (rc < 0)
            break;
        rc = request_locked(&wire, passed, N_PASSED + (size_t)nseg, out);
        if (rc != MPROC_EEOF && rc != -EPIPE && rc != -ECONNRESET)
            break;
        drop_server_locked(); /* it died: start a new one, once */
    }
    pthread_mutex_unlock(&server.mu);
    mproc_buf_free(&wire);
    mproc__close(&devnull);
    while (nseg > 0)
        mproc__close(&passed[N_PASSED + --nseg]);
    return rc;
}

/* ---- the server ----------------------------------------------------------
 * Runs in the forkserver process only, single-threaded. */

struct child {
    int pidfd;
    int status_w;
};

static void
reply(int sock, int32_t status, pid_t pid, const int *fds, size_t nfds)
{
    int32_t msg[2] = { status, pid };

    if (mproc__send_fds(sock, msg, sizeof(msg), fds, nfds) < 0)
        _exit(0); /* the parent is gone */
}

/* Reap a child the epoll reported and pass its exit code on. */
static void
finish_child(int epfd, struct child *c)
{
    int code = MPROC__EXITCODE_LOST;
    int32_t status;

    if (mproc__pidfd_reap(c->pidfd, &code) == -EAGAIN)
        return; /* spurious: not ended yet */
    status = code;
    (void)write(c->status_w, &status, sizeof(status));
    (void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
    mproc__close(&c->pidfd);
    mproc__close(&c->status_w);
    free(c);
}

/* The child side of a fork in the server: take the parent's stdout and
 * stderr, keep the parent's pidfd and the arena's segments (moved down to
 * 4, 5, ...), close everything else. */
static _Noreturn void
run_forked_child(struct mproc__child_spec *spec, int *passed, size_t npassed)
{
    int *seg = passed + N_PASSED;
    size_t nseg = npassed - N_PASSED;
    int first = MPROC__BOOT_FD + 1;

    if (mproc__dup_to(passed[1], STDOUT_FILENO, false) < 0 ||
        mproc__dup_to(passed[2], STDERR_FILENO, false) < 0 ||
        mproc__dup_to(passed[0], MPROC__BOOT_FD, true) < 0)
        _exit(70);
    /* Received descriptors are distinct and above MPROC__BOOT_FD: sorted,
     * seg[i] >= first + i, so moving each to first + i never overwrites
     * one still to be moved. */
    for (size_t i = 1; i < nseg; i++)
        for (size_t j = i; j > 0 && seg[j - 1] > seg[j]; j--) {
            int t = seg[j];

            seg[j] = seg[j - 1];
            seg[j - 1] = t;
        }
    for (size_t i = 0; i < nseg; i++) {
        if (mproc__dup_to(seg[i], first + (int)i, true) < 0)
            _exit(70);
        seg[i] = first + (int)i;
    }
    mproc__close_from(first + (int)nseg);
    if (mproc__arena_adopt(seg, nseg) < 0)
        _exit(70);
    mproc__sig_default(SIGINT);
    mproc__process_run_child(spec, MPROC__BOOT_FD);
}

static void
serve_request(int sock, int epfd)
{
    struct mproc__child_spec spec;
    struct child *c = NULL;
    int passed[MAX_PASSED];
    int pipefd[2] = { -1, -1 };
    int pidfd = -1;
    size_t nfds;
    pid_t pid;
    int rc;

    rc = mproc__spec_recv(sock, &spec, passed, MAX_PASSED, &nfds);
    if (rc == MPROC_EEOF || rc == -ECONNRESET)
        _exit(0); /* the parent closed its end: done */
    if (rc == 0 && nfds < N_PASSED)
        rc = MPROC_EPROTOCOL;
    if (rc == 0)
        rc = mproc__target_resolve(&spec.loc, &spec.target);
    if (rc == 0)
        rc = mproc__pipe(pipefd);
    if (rc == 0) {
        c = calloc(1, sizeof(*c));
        rc = c == NULL ? MPROC_ENOMEM : 0;
    }
    if (rc == 0) {
        pid = mproc__fork(&pidfd);
        if (pid == 0)
            run_forked_child(&spec, passed, nfds);
        rc = pid < 0 ? pid : 0;
    }
    if (rc == 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

        c->pidfd = pidfd;
        c->status_w = pipefd[1];
        pipefd[1] = -1;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0)
            _exit(70); /* cannot watch children: give up serving */
        reply(sock, 0, pid, (int[]){ pidfd, pipefd[0] }, 2);
        c = NULL;
    } else {
        reply(sock, rc, 0, NULL, 0);
    }
    free(c);
    mproc__close(&pipefd[0]);
    mproc__close(&pipefd[1]);
    for (size_t i = 0; i < nfds; i++)
        mproc__close(&passed[i]);
    mproc__spec_clear(&spec);
}

_Noreturn void
mproc__forkserver_main(int sock)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    int epfd;

    mproc__sig_ignore(SIGINT);
    mproc__sig_default(SIGCHLD); /* SIG_IGN, if inherited, would reap */
    (void)mproc__dup_to(sock, sock, true);
    epfd = mproc__epoll_create();
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, sock, &ev) < 0)
        _exit(70);
    for (;;) {
        struct epoll_event events[16];
        int n = epoll_wait(epfd, events, 16, -1);

        if (n < 0 && errno != EINTR)
            _exit(70);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL)
                serve_request(sock, epfd);
            else
                finish_child(epfd, events[i].data.ptr);
        }
    }
}
