/*
 * listener.c - mproc_listener and mproc_client: Python's
 * multiprocessing.connection Listener and Client over Unix sockets (path
 * and abstract) and TCP, with auth.c's authkey handshake.
 *
 * The listening socket is non-blocking, so an accept that loses a pending
 * peer to another thread (or to a peer's reset) goes back to waiting with
 * its deadline instead of blocking past it; accepted sockets are blocking.
 * Close may come while other threads wait in accept: it shuts the socket
 * down, which wakes them, and the descriptor is closed by whoever leaves
 * last (`users`), so no accept ever polls a number closed and reused under
 * it. Fork: a child may use an inherited listener; only the process that
 * bound a Unix path removes its file (as Python's finalizer).
 */
#include "mproc/listener.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "conn.h"
#include "sys/sys.h"

#define DEFAULT_BACKLOG 128
#define DEFAULT_HANDSHAKE_TIMEOUT 10.0
/* Room for any address this file formats: "unix:@" and a whole sun_path,
 * or a numeric IPv6 host with its scope, in brackets, and a port. */
#define ADDRESS_MAX 128

/* A parsed address: a Unix socket address ready to use, or a TCP host and
 * port still to resolve. */
struct address {
    bool tcp;
    struct sockaddr_un un;
    socklen_t un_len;
    char host[NI_MAXHOST];
    char port[sizeof("65535")];
};

struct mproc_listener {
    pthread_mutex_t mu; /* guards fd and users, and the writes of closed */
    int fd;             /* open until closed and no accept uses it */
    int users;          /* accepts in progress */
    atomic_bool closed;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "" if none */
    pid_t creator;          /* the process that bound `path` */
    unsigned char *authkey; /* NULL: no handshake */
    size_t authkey_len;
    double handshake_timeout; /* negative: none */
    char address[ADDRESS_MAX];
    char last_accepted[ADDRESS_MAX]; /* "" before the first accept */
};

/* ---- addresses ---------------------------------------------------------- */

/* "PATH" or "@NAME". Either way the name takes sun_path's bytes after one
 * NUL: the path's terminator, or the abstract name's leading zero. */
static int
parse_unix(const char *rest, struct address *a)
{
    bool abstract = rest[0] == '@';
    const char *name = abstract ? rest + 1 : rest;
    size_t len = strlen(name);

    if (len == 0 || len + 1 > sizeof(a->un.sun_path))
        return MPROC_EINVAL;
    memset(&a->un, 0, sizeof(a->un));
    a->un.sun_family = AF_UNIX;
    memcpy(a->un.sun_path + abstract, name, len);
    a->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    return 0;
}

/* "HOST:PORT" or "[V6]:PORT"; PORT decimal, 0 to 65535. */
static int
parse_tcp(const char *rest, struct address *a)
{
    const char *host = rest, *host_end, *port;
    size_t host_len, port_len;

    if (rest[0] == '[') {
        host = rest + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL || host_end[1] != ':')
            return MPROC_EINVAL;
        port = host_end + 2;
    } else {
        host_end = strrchr(rest, ':');
        if (host_end == NULL ||
            memchr(host, ':', (size_t)(host_end - host)) != NULL)
            return MPROC_EINVAL; /* no port, or IPv6 without brackets */
        port = host_end + 1;
    }
    host_len = (size_t)(host_end - host);
    port_len = strlen(port);
    if (host_len == 0 || host_len >= sizeof(a->host) || port_len == 0 ||
        port_len >= sizeof(a->port) || strspn(port, "0123456789") != port_len ||
        atoi(port) > 65535)
        return MPROC_EINVAL;
    a->tcp = true;
    memcpy(a->host, host, host_len);
    a->host[host_len] = '\0';
    memcpy(a->port, port, port_len + 1);
    return 0;
}

static int
parse_address(const char *s, struct address *a)
{
    memset(a, 0, sizeof(*a));
    if (strncmp(s, "unix:", 5) == 0)
        return parse_unix(s + 5, a);
    if (strncmp(s, "tcp://", 6) == 0)
        return parse_tcp(s + 6, a);
    return MPROC_EINVAL;
}

static int
resolve(const struct address *a, struct addrinfo **out)
{
    const struct addrinfo hints = { .ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_flags = AI_NUMERICSERV };
    int rc = getaddrinfo(a->host, a->port, &hints, out);

    switch (rc) {
    case 0:
        return 0;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return MPROC_ENOMEM;
    case EAI_SYSTEM:
        return errno > 0 ? -errno : -EIO;
    default: /* EAI_NONAME, EAI_NODATA, EAI_FAIL, EAI_FAMILY ... */
        return -ENOENT;
    }
}

/* Write a socket address in this file's scheme into out[ADDRESS_MAX]. An
 * unnamed Unix peer is "unix:". */
static void
format_address(const struct sockaddr_storage *ss, socklen_t len, char *out)
{
    const size_t path_at = offsetof(struct sockaddr_un, sun_path);
    /* A numeric host: an IPv6 literal and "%scope" at most. */
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], port[sizeof("65535")];

    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        size_t n = len > path_at ? len - path_at : 0;

        if (n == 0)
            snprintf(out, ADDRESS_MAX, "unix:");
        else if (un->sun_path[0] == '\0')
            snprintf(out, ADDRESS_MAX, "unix:@%.*s", (int)(n - 1),
                     un->sun_path + 1);
        else
            snprintf(out, ADDRESS_MAX, "unix:%.*s", (int)n, un->sun_path);
        return;
    }
    if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, ADDRESS_MAX, "tcp://");
    else if (ss->ss_family == AF_INET6)
        snprintf(out, ADDRESS_MAX, "tcp://[%s]:%s", host, port);
    else
        snprintf(out, ADDRESS_MAX, "tcp://%s:%s", host, port);
}

/* A key as the options give it: none (NULL, 0), or 0 to INT_MAX bytes. */
static bool
key_is_valid(const void *key, size_t len)
{
    return key == NULL ? len == 0 : len <= INT_MAX;
}

/* ---- listener ----------------------------------------------------------- */

/* Remove the file a bind made for a Unix path (none for other kinds);
 * returns rc. */
static int
unbind(const struct sockaddr *addr, int rc)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)addr;

    if (addr->sa_family == AF_UNIX && un->sun_path[0] != '\0')
        (void)unlink(un->sun_path);
    return rc;
}

/* A listening socket on one address: the descriptor, or -errno. */
static int
listen_on(const struct sockaddr *addr, socklen_t len, int backlog)
{
    int fd = mproc__socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK);
    int one = 1;
    int rc = 0;

    if (fd < 0)
        return fd;
    if (addr->sa_family != AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        rc = -errno;
    else if (bind(fd, addr, len) < 0)
        rc = -errno;
    else if (listen(fd, backlog) < 0)
        rc = unbind(addr, -errno);
    if (rc < 0) {
        mproc__close(&fd);
        return rc;
    }
    return fd;
}

/* Bind to the first of the host's addresses that takes it. */
static int
listen_tcp(const struct address *a, int backlog)
{
    struct addrinfo *all;
    int rc = resolve(a, &all);

    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (struct addrinfo *ai = all; ai != NULL; ai = ai->ai_next) {
        rc = listen_on(ai->ai_addr, ai->ai_addrlen, backlog);
        if (rc >= 0)
            break;
    }
    freeaddrinfo(all);
    return rc;
}

static void
destroy(struct mproc_listener *l)
{
    mproc__close(&l->fd);
    if (l->authkey != NULL) {
        explicit_bzero(l->authkey, l->authkey_len);
        free(l->authkey);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int
mproc_listener_new(mproc_listener **out, const char *address,
                   const mproc_listener_opts *opts)
{
    static const mproc_listener_opts defaults;
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    struct mproc_listener *l;
    struct address a;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (address == NULL || opts->backlog < 0 ||
        isnan(opts->handshake_timeout) ||
        !key_is_valid(opts->authkey, opts->authkey_len))
        return MPROC_EINVAL;
    rc = parse_address(address, &a);
    if (rc < 0)
        return rc;

    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    l->fd = -1;
    l->handshake_timeout = opts->handshake_timeout != 0
                               ? opts->handshake_timeout
                               : DEFAULT_HANDSHAKE_TIMEOUT;
    if (opts->authkey != NULL) {
        rc = MPROC_ENOMEM;
        l->authkey = malloc(opts->authkey_len + 1); /* non-NULL if empty */
        if (l->authkey == NULL)
            goto fail;
        memcpy(l->authkey, opts->authkey, opts->authkey_len);
        l->authkey_len = opts->authkey_len;
    }
    rc = a.tcp ? listen_tcp(&a, opts->backlog ? opts->backlog : DEFAULT_BACKLOG)
               : listen_on((const struct sockaddr *)&a.un, a.un_len,
                           opts->backlog ? opts->backlog : DEFAULT_BACKLOG);
    if (rc < 0)
        goto fail;
    l->fd = rc;
    if (!a.tcp && a.un.sun_path[0] != '\0') {
        memcpy(l->path, a.un.sun_path, sizeof(l->path));
        l->creator = mproc__self_pid();
    }
    /* Python's address: what the socket is really bound to (the port). */
    if (getsockname(l->fd, (struct sockaddr *)&bound, &bound_len) < 0) {
        rc = -errno;
        goto fail;
    }
    format_address(&bound, bound_len, l->address);
    *out = l;
    return 0;

fail:
    if (l->path[0] != '\0')
        (void)unlink(l->path);
    destroy(l);
    return rc;
}

/* Register an accept in progress: the descriptor, or MPROC_ECLOSED. */
static int
enter(struct mproc_listener *l)
{
    int fd = MPROC_ECLOSED;

    pthread_mutex_lock(&l->mu);
    if (!atomic_load(&l->closed)) {
        l->users++;
        fd = l->fd;
    }
    pthread_mutex_unlock(&l->mu);
    return fd;
}

static void
leave(struct mproc_listener *l)
{
    pthread_mutex_lock(&l->mu);
    if (--l->users == 0 && atomic_load(&l->closed))
        mproc__close(&l->fd);
    pthread_mutex_unlock(&l->mu);
}

/* Wait for a peer and take it: its descriptor, or an error. Waits first:
 * a server mostly waits for peers still to come, and then a poll and an
 * accept4 is the whole cost. */
static int
take_peer(struct mproc_listener *l, const struct mproc__deadline *dl,
          struct sockaddr_storage *peer, socklen_t *peer_len)
{
    int fd = enter(l);
    int rc;

    if (fd < 0)
        return fd;
    for (;;) {
        rc = mproc__wait_readable(fd, dl);
        if (rc == 0 && atomic_load(&l->closed))
            rc = MPROC_ECLOSED; /* woken by close's shutdown */
        if (rc < 0)
            break;
        *peer_len = sizeof(*peer);
        rc = mproc__accept(fd, (struct sockaddr *)peer, peer_len);
        if (rc >= 0 || (rc != -EAGAIN && rc != -ECONNABORTED))
            break;
    }
    if (rc < 0 && atomic_load(&l->closed))
        rc = MPROC_ECLOSED; /* woken by close: not the socket's error */
    leave(l);
    return rc;
}

/* Python's order: prove the peer holds the key, then prove we do; within
 * the handshake timeout (not the accept's: that one is for a peer to
 * come, and may well be 0 once the socket polled readable). */
static int
authenticate_peer(const struct mproc_listener *l, mproc_conn *c)
{
    struct mproc__deadline dl;
    int rc = mproc__deadline_init(&dl, l->handshake_timeout);

    if (rc < 0)
        return rc;
    rc = mproc__deliver_challenge(c, l->authkey, l->authkey_len, &dl);
    if (rc == 0)
        rc = mproc__answer_challenge(c, l->authkey, l->authkey_len, &dl);
    return rc;
}

int
mproc_listener_accept(mproc_listener *l, mproc_conn **out, double timeout)
{
    struct sockaddr_storage peer;
    struct mproc__deadline dl;
    socklen_t peer_len;
    mproc_conn *c;
    int fd, rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (l == NULL)
        return MPROC_EINVAL;
    rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    fd = take_peer(l, &dl, &peer, &peer_len);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&l->mu);
    format_address(&peer, peer_len, l->last_accepted);
    pthread_mutex_unlock(&l->mu);
    rc = mproc__conn_new_socket(&c, fd);
    if (rc < 0) {
        mproc__close(&fd);
        return rc;
    }
    if (l->authkey != NULL) {
        rc = authenticate_peer(l, c);
        if (rc < 0) {
            mproc_conn_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

const char *
mproc_listener_address(const mproc_listener *l)
{
    return l != NULL ? l->address : "";
}

const char *
mproc_listener_last_accepted(const mproc_listener *l)
{
    if (l == NULL || l->last_accepted[0] == '\0')
        return NULL;
    return l->last_accepted;
}

int
mproc_listener_fileno(const mproc_listener *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    return atomic_load(&l->closed) ? MPROC_ECLOSED : l->fd;
}

int
mproc_listener_close(mproc_listener *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&l->mu);
    if (!atomic_load(&l->closed)) {
        atomic_store(&l->closed, true);
        /* Wake the accepts waiting in poll; the last one out closes. Only
         * then: a shutdown reaches every process sharing the socket. */
        if (l->users > 0)
            (void)shutdown(l->fd, SHUT_RDWR);
        else
            mproc__close(&l->fd);
        if (l->path[0] != '\0' && l->creator == mproc__self_pid())
            (void)unlink(l->path);
    }
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void
mproc_listener_free(mproc_listener *l)
{
    if (l == NULL)
        return;
    (void)mproc_listener_close(l);
    destroy(l);
}

/* ---- client ------------------------------------------------------------- */

/* A socket connected to one address: the descriptor, or an error. */
static int
connect_to(const struct sockaddr *addr, socklen_t len,
           const struct mproc__deadline *dl)
{
    int fd = mproc__socket(addr->sa_family, SOCK_STREAM);
    int rc;

    if (fd < 0)
        return fd;
    rc = mproc__connect(fd, addr, len, dl);
    if (rc < 0) {
        mproc__close(&fd);
        return rc;
    }
    return fd;
}

/* Try the host's addresses in the resolver's order until one answers. */
static int
connect_tcp(const struct address *a, const struct mproc__deadline *dl)
{
    struct addrinfo *all;
    int rc = resolve(a, &all);

    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (struct addrinfo *ai = all; ai != NULL; ai = ai->ai_next) {
        rc = connect_to(ai->ai_addr, ai->ai_addrlen, dl);
        if (rc >= 0 || rc == MPROC_ETIMEDOUT)
            break;
    }
    freeaddrinfo(all);
    return rc;
}

int
mproc_client(mproc_conn **out, const char *address,
             const mproc_client_opts *opts, double timeout)
{
    static const mproc_client_opts defaults;
    struct mproc__deadline dl;
    struct address a;
    mproc_conn *c;
    int fd, rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (address == NULL || !key_is_valid(opts->authkey, opts->authkey_len))
        return MPROC_EINVAL;
    rc = mproc__deadline_init(&dl, timeout);
    if (rc == 0)
        rc = parse_address(address, &a);
    if (rc < 0)
        return rc;
    fd = a.tcp ? connect_tcp(&a, &dl)
               : connect_to((const struct sockaddr *)&a.un, a.un_len, &dl);
    if (fd < 0)
        return fd;
    rc = mproc__conn_new_socket(&c, fd);
    if (rc < 0) {
        mproc__close(&fd);
        return rc;
    }
    /* Python's order, the listener's reversed: prove, then demand. */
    if (opts->authkey != NULL) {
        rc = mproc__answer_challenge(c, opts->authkey, opts->authkey_len, &dl);
        if (rc == 0)
            rc = mproc__deliver_challenge(c, opts->authkey, opts->authkey_len,
                                          &dl);
        if (rc < 0) {
            mproc_conn_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}
