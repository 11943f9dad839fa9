/*
 * conn.c - mproc_conn: Python's multiprocessing Connection, Pipe and
 * connection.wait, with CPython's framing (see include/mproc/conn.h for
 * the byte layout).
 *
 * A receive reads the header, then exactly the body: never past the
 * message, so the descriptor's readability always tells the truth to poll
 * and epoll. When a receive runs out of time (or the caller's buffer is too
 * short), what it has read stays in `rx`, and the next receive continues
 * from there; the stream never loses sync.
 *
 * Invariants of rx (guarded by recv_mu):
 *   hdr_got <= hdr_need, hdr_need is 4, or 12 after a -1 length
 *   have_len  => the header is complete and len is the body's length
 *   body_got <= len; body holds body_got bytes (NULL when none are kept)
 * Lock order: send_mu and recv_mu are independent; neither is held while
 * taking the other.
 */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sys/sys.h"

/* Memory taken at once for a body on the peer's word alone; beyond it the
 * buffer grows as the bytes really arrive. malloc of this size maps pages
 * lazily, so a lying peer costs address space, not memory. */
#define TRUSTED_ALLOC ((size_t)64 << 20)
/* Headers: the i32 length, or -1 and a u64 length. Messages up to
 * SMALL_MESSAGE bytes are sent in one buffer with their header. */
#define SHORT_HEADER 4
#define LONG_HEADER 12
#define SMALL_MESSAGE 16384

struct rx {
    unsigned char hdr[LONG_HEADER];
    size_t hdr_got;
    size_t hdr_need;
    bool have_len;
    uint64_t len;
    char *body;
    size_t body_cap;
    size_t body_got;
};

struct mproc_conn {
    int fd;
    bool readable;
    bool writable;
    bool is_socket;  /* send with MSG_NOSIGNAL; pipes need care */
    int rcvtimeo_ms; /* the socket's SO_RCVTIMEO now; 0: none (recv_mu) */
    atomic_bool closed;
    pthread_mutex_t send_mu; /* one message at a time out */
    pthread_mutex_t recv_mu; /* one message at a time in; guards rx */
    struct rx rx;
};

static void
rx_reset(struct rx *rx)
{
    free(rx->body);
    memset(rx, 0, sizeof(*rx));
    rx->hdr_need = SHORT_HEADER;
}

static int
conn_make(mproc_conn **out, int fd, bool is_socket, bool readable,
          bool writable)
{
    struct mproc_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return MPROC_ENOMEM;
    c->fd = fd;
    c->readable = readable;
    c->writable = writable;
    c->is_socket = is_socket;
    pthread_mutex_init(&c->send_mu, NULL);
    pthread_mutex_init(&c->recv_mu, NULL);
    rx_reset(&c->rx);
    *out = c;
    return 0;
}

int
mproc_conn_new(mproc_conn **out, int fd, const mproc_conn_opts *opts)
{
    static const mproc_conn_opts defaults;
    struct stat st;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (fd < 0 || (opts->read_only && opts->write_only))
        return MPROC_EINVAL;
    if (fstat(fd, &st) < 0)
        return -errno;
    return conn_make(out, fd, S_ISSOCK(st.st_mode), !opts->write_only,
                     !opts->read_only);
}

int
mproc__conn_new_socket(mproc_conn **out, int fd)
{
    *out = NULL;
    return conn_make(out, fd, true, true, true);
}

int
mproc_pipe(mproc_conn **a, mproc_conn **b, bool duplex)
{
    int fds[2];
    int rc;

    if (a == NULL || b == NULL)
        return MPROC_EINVAL;
    *a = *b = NULL;
    rc = duplex ? mproc__socketpair(fds) : mproc__pipe(fds);
    if (rc < 0)
        return rc;
    rc = mproc_conn_new(a, fds[0], &(mproc_conn_opts){ .read_only = !duplex });
    if (rc == 0)
        rc = mproc_conn_new(b, fds[1],
                            &(mproc_conn_opts){ .write_only = !duplex });
    if (rc < 0) {
        if (*a == NULL)
            mproc__close(&fds[0]);
        mproc_conn_free(*a);
        *a = NULL;
        mproc__close(&fds[1]);
    }
    return rc;
}

/* Why a call cannot use this end, or 0. */
static int
check_usable(const mproc_conn *c, bool for_sending)
{
    if (c == NULL)
        return MPROC_EINVAL;
    if (atomic_load(&c->closed))
        return MPROC_ECLOSED;
    if (for_sending ? !c->writable : !c->readable)
        return -EBADF;
    return 0;
}

/* ---- sending ------------------------------------------------------------- */

/* Write every byte of iov: sendmsg for sockets, a SIGPIPE-safe writev for
 * pipes. Caller holds send_mu. */
static int
write_all(mproc_conn *c, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        ssize_t n;

        if (c->is_socket && iovcnt == 1) {
            n = send(c->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL);
        } else if (c->is_socket) {
            struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };

            n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        } else {
            n = mproc__writev_nosigpipe(c->fd, iov, iovcnt);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static size_t
put_be32(unsigned char *at, uint32_t v)
{
    at[0] = (unsigned char)(v >> 24);
    at[1] = (unsigned char)(v >> 16);
    at[2] = (unsigned char)(v >> 8);
    at[3] = (unsigned char)v;
    return 4;
}

/* Cost: one send. A short message is copied behind its header and goes
 * out as one buffer (as CPython does below 16 KiB: cheaper than gathering
 * two); a long one goes as two iovecs, never copied. */
int
mproc_conn_send_bytes(mproc_conn *c, const void *buf, size_t offset,
                      size_t size)
{
    unsigned char small[SHORT_HEADER + SMALL_MESSAGE];
    unsigned char hdr[LONG_HEADER];
    const char *body = size > 0 ? (const char *)buf + offset : NULL;
    struct iovec iov[2];
    size_t hdr_len;
    int rc;

    rc = check_usable(c, true);
    if (rc < 0)
        return rc;
    if (buf == NULL && size > 0)
        return MPROC_EINVAL;
    if (size <= SMALL_MESSAGE) {
        put_be32(small, (uint32_t)size);
        if (size > 0)
            memcpy(small + SHORT_HEADER, body, size);
        iov[0] = (struct iovec){ small, SHORT_HEADER + size };
    } else {
        if (size > INT32_MAX) {
            hdr_len = put_be32(hdr, UINT32_MAX); /* -1: a u64 follows */
            hdr_len += put_be32(hdr + 4, (uint32_t)((uint64_t)size >> 32));
            hdr_len += put_be32(hdr + 8, (uint32_t)size);
        } else {
            hdr_len = put_be32(hdr, (uint32_t)size);
        }
        iov[0] = (struct iovec){ hdr, hdr_len };
        iov[1] = (struct iovec){ (void *)body, size };
    }
    pthread_mutex_lock(&c->send_mu);
    rc = write_all(c, iov, size <= SMALL_MESSAGE ? 1 : 2);
    pthread_mutex_unlock(&c->send_mu);
    return rc;
}

/* ---- receiving ----------------------------------------------------------- */

/* Bound the socket's blocking reads by ms (0: unbounded), skipping the
 * syscall when that is already the setting. Caller holds recv_mu. */
static int
set_read_timeout(mproc_conn *c, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

    if (c->rcvtimeo_ms == ms)
        return 0;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    c->rcvtimeo_ms = ms;
    return 0;
}

/*
 * One read of up to len bytes, waiting as the deadline allows: the count,
 * 0 at end of file, or -1 with errno (EAGAIN when nothing came in time).
 *   - no limit: a blocking read;
 *   - bytes likely there already (the rest of a begun message): a read
 *     that does not wait;
 *   - a socket: a blocking recv bounded by SO_RCVTIMEO set to the time
 *     left (cheaper than a poll and a read: one wake-up path, not two);
 *   - a pipe, which has no such option: a poll, then a read.
 */
static ssize_t
read_once(mproc_conn *c, void *buf, size_t len, bool likely_ready,
          const struct mproc__deadline *dl)
{
    int ms, rc;

    if (dl->forever) {
        if (c->rcvtimeo_ms != 0 && set_read_timeout(c, 0) < 0)
            return -1;
        return read(c->fd, buf, len);
    }
    ms = mproc__deadline_ms_left(dl);
    if (c->is_socket) {
        if (likely_ready || ms == 0)
            return recv(c->fd, buf, len, MSG_DONTWAIT);
        rc = set_read_timeout(c, ms);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
        return recv(c->fd, buf, len, 0);
    }
    if (!likely_ready && mproc__wait_readable(c->fd, dl) < 0) {
        errno = EAGAIN;
        return -1;
    }
    if (!mproc__is_readable(c->fd)) {
        errno = EAGAIN;
        return -1;
    }
    return read(c->fd, buf, len);
}

/*
 * Read up to len bytes (at least one) before the deadline: the count, or
 * MPROC_EEOF, MPROC_ETIMEDOUT, -errno. Signals and early wake-ups go round
 * with the time left.
 */
static ssize_t
read_some(mproc_conn *c, void *buf, size_t len, bool likely_ready,
          const struct mproc__deadline *dl)
{
    for (;;) {
        ssize_t n = read_once(c, buf, len, likely_ready, dl);

        if (n > 0)
            return n;
        if (n == 0)
            return MPROC_EEOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if (dl->forever) {
            /* A descriptor someone made non-blocking: wait, then read. */
            int rc = mproc__wait_readable(c->fd, dl);

            if (rc < 0)
                return rc;
        } else if (mproc__deadline_passed(dl)) {
            return MPROC_ETIMEDOUT;
        }
        likely_ready = false; /* it was not there: wait for it */
    }
}

static uint32_t
get_be32(const unsigned char *at)
{
    return (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 |
           (uint32_t)at[2] << 8 | at[3];
}

/* Parse the header once its hdr_need bytes are in: 0 (have_len set, or a
 * long header now needed), or MPROC_EPROTOCOL. */
static int
parse_header(struct rx *rx)
{
    if (rx->hdr_need == SHORT_HEADER) {
        int32_t len = (int32_t)get_be32(rx->hdr);

        if (len == -1) {
            rx->hdr_need = LONG_HEADER;
            return 0;
        }
        if (len < 0)
            return MPROC_EPROTOCOL;
        rx->len = (uint64_t)len;
    } else {
        rx->len = (uint64_t)get_be32(rx->hdr + 4) << 32 | get_be32(rx->hdr + 8);
    }
    rx->have_len = true;
    return 0;
}

/* Complete the header in rx. Caller holds recv_mu. */
static int
read_header(mproc_conn *c, const struct mproc__deadline *dl)
{
    struct rx *rx = &c->rx;

    while (!rx->have_len) {
        ssize_t n = read_some(c, rx->hdr + rx->hdr_got,
                              rx->hdr_need - rx->hdr_got, rx->hdr_got > 0, dl);
        int rc;

        if (n < 0)
            return (int)n;
        rx->hdr_got += (size_t)n;
        if (rx->hdr_got < rx->hdr_need)
            continue;
        rc = parse_header(rx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Read the rest of the body into dst, which holds `got` of `len` bytes. */
static int
read_body(mproc_conn *c, char *dst, size_t *got, size_t len,
          const struct mproc__deadline *dl)
{
    while (*got < len) {
        ssize_t n = read_some(c, dst + *got, len - *got, true, dl);

        if (n < 0)
            return (int)n;
        *got += (size_t)n;
    }
    return 0;
}

/* A stream that can no longer be trusted is closed, as Python does. */
static int
fail_stream(mproc_conn *c, int rc)
{
    if (rc == MPROC_ETOOBIG || rc == MPROC_EPROTOCOL)
        mproc_conn_close(c);
    return rc;
}

/* Grow rx->body towards rx->len by what trust allows. */
static int
grow_body(struct rx *rx)
{
    size_t want =
        rx->body_got < TRUSTED_ALLOC / 2 ? TRUSTED_ALLOC : rx->body_got * 2;
    char *grown;

    if (want > rx->len)
        want = (size_t)rx->len;
    if (want <= rx->body_cap)
        return 0;
    grown = realloc(rx->body, want);
    if (grown == NULL)
        return MPROC_ENOMEM;
    rx->body = grown;
    rx->body_cap = want;
    return 0;
}

static int
recv_alloc(mproc_conn *c, mproc_buf *out, size_t maxlength,
           const struct mproc__deadline *dl)
{
    struct rx *rx = &c->rx;
    int rc = read_header(c, dl);

    if (rc < 0)
        return rc;
    if (rx->len > SIZE_MAX || (maxlength > 0 && rx->len > maxlength))
        return MPROC_ETOOBIG;
    while (rx->body_got < rx->len) {
        rc = grow_body(rx);
        if (rc == 0)
            rc = read_body(c, rx->body, &rx->body_got, rx->body_cap, dl);
        if (rc < 0)
            return rc;
    }
    out->data = rx->body;
    out->len = (size_t)rx->len;
    rx->body = NULL;
    rx_reset(rx);
    return 0;
}

int
mproc_conn_recv_bytes(mproc_conn *c, mproc_buf *out, size_t maxlength,
                      double timeout)
{
    struct mproc__deadline dl;
    int rc;

    if (out != NULL)
        *out = (mproc_buf){ 0 };
    rc = check_usable(c, false);
    if (rc == 0 && out == NULL)
        rc = MPROC_EINVAL;
    if (rc == 0)
        rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->recv_mu);
    rc = recv_alloc(c, out, maxlength, &dl);
    pthread_mutex_unlock(&c->recv_mu);
    return fail_stream(c, rc);
}

/* Caller holds recv_mu. */
static int
recv_into(mproc_conn *c, char *dst, size_t room, size_t *received,
          const struct mproc__deadline *dl)
{
    struct rx *rx = &c->rx;
    size_t got;
    int rc = read_header(c, dl);

    if (rc < 0)
        return rc;
    *received = rx->len > SIZE_MAX ? SIZE_MAX : (size_t)rx->len;
    if (rx->len > room)
        return MPROC_ETOOSHORT; /* the header stays: first in line */
    got = rx->body_got;
    if (got > 0)
        memcpy(dst, rx->body, got); /* kept by an earlier timeout */
    rc = read_body(c, dst, &got, (size_t)rx->len, dl);
    if (rc == MPROC_ETIMEDOUT && got > rx->body_got) {
        /* Keep what arrived for the next receive, whatever its buffer. */
        char *kept = realloc(rx->body, got);

        if (kept == NULL)
            return MPROC_ENOMEM;
        memcpy(kept, dst, got);
        rx->body = kept;
        rx->body_cap = rx->body_got = got;
    }
    if (rc < 0)
        return rc;
    rx_reset(rx);
    return 0;
}

/*
 * Take n bytes read ahead into rx: the header, then the body, which is
 * kept as an earlier timeout keeps it. Bytes past the message mean the
 * peer did not wait for its answer: MPROC_EPROTOCOL. Caller holds
 * recv_mu; rx is empty.
 */
static int
feed(struct rx *rx, const unsigned char *in, size_t n)
{
    while (n > 0 && !rx->have_len) {
        size_t take = rx->hdr_need - rx->hdr_got;
        int rc;

        if (take > n)
            take = n;
        memcpy(rx->hdr + rx->hdr_got, in, take);
        rx->hdr_got += take;
        in += take;
        n -= take;
        if (rx->hdr_got == rx->hdr_need && (rc = parse_header(rx)) < 0)
            return rc;
    }
    if (n == 0)
        return 0;
    if (n > rx->len)
        return MPROC_EPROTOCOL;
    rx->body = malloc(n);
    if (rx->body == NULL)
        return MPROC_ENOMEM;
    memcpy(rx->body, in, n);
    rx->body_cap = rx->body_got = n;
    return 0;
}

/* Cost of an exchange's receive: one read for a message of up to
 * EXCHANGE_READ bytes with its header (otherwise two: header, then body). */
#define EXCHANGE_READ 1024

static bool
readable(const void *c)
{
    return mproc__is_readable(((const mproc_conn *)c)->fd);
}

/* recv_bytes_into, reading ahead when the peer waits for an answer (and
 * spinning up to spin_ns for it first). */
static int
recv_into_buf(mproc_conn *c, char *dst, size_t size, size_t offset,
              size_t *received, bool exchange, int64_t spin_ns, double timeout)
{
    unsigned char in[SHORT_HEADER + EXCHANGE_READ];
    struct mproc__deadline dl;
    size_t ignored;
    int rc;

    if (received == NULL)
        received = &ignored;
    *received = 0;
    rc = check_usable(c, false);
    if (rc == 0 && (offset > size || (dst == NULL && size > 0)))
        rc = MPROC_EINVAL;
    if (rc == 0)
        rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->recv_mu);
    if (exchange && c->rx.hdr_got == 0) {
        ssize_t n;

        if (spin_ns > 0)
            (void)mproc__spin(readable, c, spin_ns);
        n = read_some(c, in, sizeof in, false, &dl);

        rc = n < 0 ? (int)n : feed(&c->rx, in, (size_t)n);
    }
    if (rc == 0)
        rc = recv_into(c, dst + offset, size - offset, received, &dl);
    pthread_mutex_unlock(&c->recv_mu);
    if (rc < 0 && rc != MPROC_ETOOSHORT)
        *received = 0;
    return fail_stream(c, rc);
}

int
mproc_conn_recv_bytes_into(mproc_conn *c, void *buf, size_t size, size_t offset,
                           size_t *received, double timeout)
{
    return recv_into_buf(c, buf, size, offset, received, false, 0, timeout);
}

int
mproc__conn_recv_exchange(mproc_conn *c, void *buf, size_t size,
                          size_t *received, int64_t spin_ns, double timeout)
{
    return recv_into_buf(c, buf, size, 0, received, true, spin_ns, timeout);
}

int
mproc_conn_poll(mproc_conn *c, double timeout)
{
    struct mproc__deadline dl;
    int rc = check_usable(c, false);

    if (rc == 0)
        rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    return mproc__wait_readable(c->fd, &dl);
}

/* ---- descriptors --------------------------------------------------------- */

#define MAX_FDS 64

int
mproc_conn_send_fds(mproc_conn *c, const int *fds, size_t n)
{
    unsigned char count = (unsigned char)(n % 256); /* Python's sendfds */
    int rc = check_usable(c, true);

    if (rc < 0)
        return rc;
    if (fds == NULL || n == 0 || n > MAX_FDS)
        return MPROC_EINVAL;
    pthread_mutex_lock(&c->send_mu);
    rc = mproc__send_fds(c->fd, &count, 1, fds, n);
    pthread_mutex_unlock(&c->send_mu);
    return rc;
}

int
mproc_conn_recv_fds(mproc_conn *c, int *fds, size_t n, double timeout)
{
    struct mproc__deadline dl;
    unsigned char count = 0;
    size_t got = 0;
    int rc;

    rc = check_usable(c, false);
    if (rc == 0 && (fds == NULL || n == 0 || n > MAX_FDS))
        rc = MPROC_EINVAL;
    if (rc == 0)
        rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->recv_mu);
    if (c->rx.hdr_got > 0)
        rc = MPROC_ESTATE; /* in the middle of a message */
    if (rc == 0)
        rc = mproc__wait_readable(c->fd, &dl);
    if (rc == 0)
        rc = mproc__recv_fds(c->fd, &count, 1, fds, n, &got);
    pthread_mutex_unlock(&c->recv_mu);
    if (rc == 0 && (got != n || count != n % 256))
        rc = MPROC_EPROTOCOL;
    if (rc < 0)
        for (size_t i = 0; i < got; i++)
            mproc__close(&fds[i]);
    return rc;
}

/* ---- the rest ------------------------------------------------------------ */

int
mproc_conn_close(mproc_conn *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    if (!atomic_exchange(&c->closed, true))
        mproc__close(&c->fd);
    return 0;
}

int
mproc_conn_fileno(const mproc_conn *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    return atomic_load(&c->closed) ? MPROC_ECLOSED : c->fd;
}

bool
mproc_conn_is_closed(const mproc_conn *c)
{
    return c == NULL || atomic_load(&c->closed);
}

bool
mproc_conn_is_readable(const mproc_conn *c)
{
    return c != NULL && c->readable;
}

bool
mproc_conn_is_writable(const mproc_conn *c)
{
    return c != NULL && c->writable;
}

void
mproc_conn_free(mproc_conn *c)
{
    if (c == NULL)
        return;
    mproc_conn_close(c);
    rx_reset(&c->rx);
    pthread_mutex_destroy(&c->send_mu);
    pthread_mutex_destroy(&c->recv_mu);
    free(c);
}

int
mproc_wait(const int *fds, size_t n, int *ready, size_t *nready, double timeout)
{
    struct pollfd small[16];
    struct pollfd *p = small;
    struct mproc__deadline dl;
    int rc;

    if (nready == NULL || ((fds == NULL || ready == NULL) && n > 0))
        return MPROC_EINVAL;
    *nready = 0;
    rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    if (n > sizeof(small) / sizeof(small[0])) {
        p = calloc(n, sizeof(*p));
        if (p == NULL)
            return MPROC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0) {
            rc = MPROC_EINVAL;
            goto done;
        }
        p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    }
    for (;;) {
        int got = poll(p, n, mproc__deadline_ms_left(&dl));

        if (got > 0)
            break;
        if (got == 0 && mproc__deadline_passed(&dl))
            goto done; /* nothing ready: 0, as Python's empty list */
        if (got < 0 && errno != EINTR) {
            rc = -errno;
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].revents & POLLNVAL) {
            rc = -EBADF;
            *nready = 0;
            goto done;
        }
        if (p[i].revents != 0)
            ready[(*nready)++] = fds[i];
    }
done:
    if (p != small)
        free(p);
    return rc;
}

/* ---- objects ---------------------------------------------------------------
 * Connection.send / recv: a pickle in one message (src/pickle.c). */

int
mproc_conn_send_obj(mproc_conn *c, const mproc_obj *o)
{
    mproc_buf pickle;
    int rc = mproc_obj_dumps(o, &pickle, 4);

    if (rc < 0)
        return rc;
    rc = mproc_conn_send_bytes(c, pickle.data, 0, pickle.len);
    mproc_buf_free(&pickle);
    return rc;
}

/* The message is read whole before it is decoded, so a pickle refused
 * here has already left the stream, which stays in sync. */
int
mproc_conn_recv_obj(mproc_conn *c, mproc_obj **out, double timeout)
{
    mproc_buf message;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    rc = mproc_conn_recv_bytes(c, &message, 0, timeout);
    if (rc < 0)
        return rc;
    rc = mproc_obj_loads(out, message.data, message.len, NULL);
    mproc_buf_free(&message);
    return rc;
}
