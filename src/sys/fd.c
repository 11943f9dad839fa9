/*
 * sys/fd.c - the only place in src/ that creates descriptors.
 *
 * Every descriptor leaves this file close-on-exec (tools/lint rejects the
 * creating calls anywhere else) and, unless the caller names the target fd,
 * above 2, so a library descriptor never becomes a program's stdin, stdout
 * or stderr by accident. Sockets send with MSG_NOSIGNAL: no SIGPIPE.
 */
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Move a fresh descriptor off 0-2 (when a program has closed its stdio). */
static int
above_stdio(int fd)
{
    int moved;

    if (fd < 0 || fd > 2)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    (void)close(fd);
    return moved < 0 ? -1 : moved;
}

int
mproc__pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        int rc = -errno;

        mproc__close(&fds[0]);
        mproc__close(&fds[1]);
        return rc;
    }
    return 0;
}

static int
unix_pair(int type, int fds[2])
{
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        int rc = -errno;

        mproc__close(&fds[0]);
        mproc__close(&fds[1]);
        return rc;
    }
    return 0;
}

int
mproc__socketpair(int fds[2])
{
    return unix_pair(SOCK_STREAM, fds);
}

int
mproc__seqpacket_pair(int fds[2])
{
    return unix_pair(SOCK_SEQPACKET, fds);
}

int
mproc__open(const char *path, int flags, unsigned mode)
{
    int fd;

    do
        fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    fd = above_stdio(fd);
    return fd < 0 ? -errno : fd;
}

int
mproc__shm_open(const char *name, int flags, unsigned mode)
{
    char path[sizeof("/dev/shm/") + 256];
    int fd;

    if (snprintf(path, sizeof(path), "/dev/shm/%s", name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    do
        fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    fd = above_stdio(fd);
    return fd < 0 ? -errno : fd;
}

int
mproc__dup(int fd)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);

    return copy < 0 ? -errno : copy;
}

int
mproc__epoll_create(void)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);

    if (fd < 0)
        return -errno;
    fd = above_stdio(fd);
    return fd < 0 ? -errno : fd;
}

void
mproc__close(int *fd)
{
    if (*fd >= 0) {
        (void)close(*fd);
        *fd = -1;
    }
}

int
mproc__dup_to(int fd, int target, bool cloexec)
{
    if (fd == target) {
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0)
            return -errno;
        flags = cloexec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
    }
    if (dup3(fd, target, cloexec ? O_CLOEXEC : 0) < 0)
        return -errno;
    return 0;
}

void
mproc__close_from(int first)
{
    (void)close_range((unsigned)first, ~0U, 0);
}

int
mproc__stdin_to_devnull(void)
{
    int fd;

    /* 0 is the lowest free number once closed: usually two syscalls. */
    (void)close(STDIN_FILENO);
    do
        fd = open("/dev/null", O_RDONLY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    if (fd != STDIN_FILENO) {
        int rc = mproc__dup_to(fd, STDIN_FILENO, false);

        (void)close(fd);
        return rc;
    }
    return 0;
}

/* Wait until poll reports fd for `events` (or an error or hang-up), or the
 * deadline passes: 0 or MPROC_ETIMEDOUT. */
static int
wait_for(int fd, short events, const struct mproc__deadline *dl)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, mproc__deadline_ms_left(dl));

        if (n > 0)
            return 0;
        if (n == 0) {
            /* poll's millisecond rounding can wake a hair early. */
            if (mproc__deadline_passed(dl))
                return MPROC_ETIMEDOUT;
            continue;
        }
        if (errno != EINTR)
            return -errno;
        /* a signal: go round with whatever time is left */
    }
}

int
mproc__wait_readable(int fd, const struct mproc__deadline *dl)
{
    return wait_for(fd, POLLIN, dl);
}

bool
mproc__is_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, 0) > 0;
}

bool
mproc__peer_gone(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };

    return poll(&p, 1, 0) > 0 &&
           (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

int
mproc__read_full(int fd, void *buf, size_t len)
{
    char *at = buf;

    while (len > 0) {
        ssize_t n = read(fd, at, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return MPROC_EEOF;
        at += n;
        len -= (size_t)n;
    }
    return 0;
}

int
mproc__send_full(int sock, const void *buf, size_t len)
{
    const char *at = buf;

    while (len > 0) {
        ssize_t n = send(sock, at, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        at += n;
        len -= (size_t)n;
    }
    return 0;
}

int
mproc__socket(int domain, int type)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    fd = above_stdio(fd);
    return fd < 0 ? -errno : fd;
}

int
mproc__accept(int sock, struct sockaddr *addr, socklen_t *len)
{
    int fd;

    /* No SOCK_NONBLOCK: the new socket is blocking whatever sock is. */
    do
        fd = accept4(sock, addr, len, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    fd = above_stdio(fd);
    return fd < 0 ? -errno : fd;
}

static int
set_nonblocking(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -errno;
    flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static int
set_send_timeout_ms(int sock, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

    if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    return 0;
}

/* A Unix connect never goes on in the background: it succeeds, fails, or
 * sleeps while the listener's backlog is full. Without a deadline that is
 * one connect; with one, SO_SNDTIMEO bounds the sleep (0 there means
 * forever, so a deadline already reached is tried once without blocking
 * instead). A signal ends the sleep without connecting, so it is simply
 * tried again with the time left. */
static int
connect_unix(int sock, const struct sockaddr *addr, socklen_t len,
             const struct mproc__deadline *dl)
{
    for (;;) {
        int ms = mproc__deadline_ms_left(dl);
        int rc = 0;

        if (ms == 0)
            rc = set_nonblocking(sock, true);
        else if (!dl->forever)
            rc = set_send_timeout_ms(sock, ms);
        if (rc == 0 && connect(sock, addr, len) < 0)
            rc = -errno;
        if (ms == 0)
            (void)set_nonblocking(sock, false);
        else if (!dl->forever)
            (void)set_send_timeout_ms(sock, 0);
        if (rc == -EINTR)
            continue;
        return rc == -EAGAIN ? MPROC_ETIMEDOUT : rc;
    }
}

/* A TCP connect runs on in the kernel once started: start it without
 * blocking, wait for the socket to turn writable, read its outcome. */
static int
connect_inet(int sock, const struct sockaddr *addr, socklen_t len,
             const struct mproc__deadline *dl)
{
    socklen_t errlen = sizeof(int);
    int err = 0;
    int rc;

    rc = set_nonblocking(sock, true);
    if (rc < 0)
        return rc;
    if (connect(sock, addr, len) < 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            return -errno;
        rc = wait_for(sock, POLLOUT, dl);
        if (rc < 0)
            return rc;
        if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
            return -errno;
        if (err != 0)
            return -err;
    }
    return set_nonblocking(sock, false);
}

int
mproc__connect(int sock, const struct sockaddr *addr, socklen_t len,
               const struct mproc__deadline *dl)
{
    if (addr->sa_family == AF_UNIX)
        return connect_unix(sock, addr, len, dl);
    return connect_inet(sock, addr, len, dl);
}

int
mproc__send_fds(int sock, const void *buf, size_t len, const int *fds,
                size_t nfds)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * MPROC__FDS_MAX)];
    } control;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    if (len == 0 || nfds > MPROC__FDS_MAX)
        return MPROC_EINVAL;
    if (nfds > 0) {
        struct cmsghdr *c;

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.space;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* The descriptors went with the first byte; the rest is plain data. */
    return mproc__send_full(sock, (const char *)buf + n, len - (size_t)n);
}

int
mproc__recv_fds(int sock, void *buf, size_t len, int *fds, size_t max_fds,
                size_t *nfds)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * MPROC__FDS_MAX)];
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov,
                          .msg_iovlen = 1,
                          .msg_control = control.space,
                          .msg_controllen = sizeof(control.space) };
    struct cmsghdr *c;
    size_t got = 0;
    int rc = 0;
    ssize_t n;

    *nfds = 0;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return MPROC_EEOF;
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        size_t count;
        int one;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (got < max_fds) {
                fds[got++] = one;
            } else {
                (void)close(one);
                rc = MPROC_EPROTOCOL;
            }
        }
    }
    *nfds = got;
    if (rc == 0 && (msg.msg_flags & MSG_CTRUNC))
        rc = MPROC_EPROTOCOL;
    if (rc == 0)
        rc = mproc__read_full(sock, (char *)buf + n, len - (size_t)n);
    if (rc < 0) {
        for (size_t i = 0; i < got; i++)
            (void)close(fds[i]);
        *nfds = 0;
    }
    return rc;
}

int
mproc__eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    if (fd < 0)
        return -errno;
    fd = above_stdio(fd);
    return fd < 0 ? -errno : fd;
}

int
mproc__memfd(const char *name, uint64_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0)
        return -errno;
    fd = above_stdio(fd);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        int rc = -errno;

        (void)close(fd);
        return rc;
    }
    return fd;
}
