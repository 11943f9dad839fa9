/*
 * manager/protocol.c - the manager's wire form (see manager.h): messages
 * built in a buffer that lives on the stack while small, and read back
 * with every length checked against what arrived.
 *
 * A message is built whole and sent with one send; it is received with
 * the conn's two reads (header, body) into a stack buffer, or a heap one
 * sized by the header when it does not fit.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../conn.h"
#include "../sys/sys.h"
#include "manager.h"

/* Largest message a manager accepts: bounds what a peer can make it
 * allocate. */
#define MGR_MAX_MESSAGE ((size_t)1 << 31)

void
mproc__wmsg_init(struct wmsg *w)
{
    w->p = w->small;
    w->len = 0;
    w->cap = sizeof w->small;
    w->failed = 0;
}

void
mproc__wmsg_free(struct wmsg *w)
{
    if (w->p != w->small)
        free(w->p);
    mproc__wmsg_init(w);
}

static unsigned char *
wmsg_room(struct wmsg *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > w->cap - w->len) {
        size_t cap = w->cap * 2 > w->len + n ? w->cap * 2 : w->len + n;
        unsigned char *p = w->p == w->small ? malloc(cap) : realloc(w->p, cap);

        if (p == NULL) {
            w->failed = MPROC_ENOMEM;
            return NULL;
        }
        if (w->p == w->small)
            memcpy(p, w->small, w->len);
        w->p = p;
        w->cap = cap;
    }
    w->len += n;
    return w->p + w->len - n;
}

void
mproc__wmsg_u8(struct wmsg *w, uint8_t v)
{
    unsigned char *at = wmsg_room(w, 1);

    if (at != NULL)
        *at = v;
}

void
mproc__wmsg_u64(struct wmsg *w, uint64_t v)
{
    unsigned char *at = wmsg_room(w, 8);

    for (int i = 0; at != NULL && i < 8; i++)
        at[i] = (unsigned char)(v >> (8 * i));
}

void
mproc__wmsg_bytes(struct wmsg *w, const void *data, size_t len)
{
    unsigned char *at = wmsg_room(w, len);

    if (at != NULL && len > 0)
        memcpy(at, data, len);
}

void
mproc__wmsg_str8(struct wmsg *w, const char *s)
{
    size_t len = strlen(s);

    if (len > 255) {
        if (!w->failed)
            w->failed = MPROC_EINVAL;
        return;
    }
    mproc__wmsg_u8(w, (uint8_t)len);
    mproc__wmsg_bytes(w, s, len);
}

void
mproc__wmsg_obj(struct wmsg *w, const mproc_obj *o)
{
    mproc_buf pickle;
    int rc;

    if (o == NULL || w->failed)
        return;
    rc = mproc_obj_dumps(o, &pickle, 5);
    if (rc < 0) {
        w->failed = rc;
        return;
    }
    mproc__wmsg_bytes(w, pickle.data, pickle.len);
    mproc_buf_free(&pickle);
}

int
mproc__wmsg_send(struct wmsg *w, mproc_conn *c)
{
    if (w->failed)
        return w->failed;
    return mproc_conn_send_bytes(c, w->p, 0, w->len);
}

/* How long a receive spins for its message before it sleeps: on more
 * than one CPU, the other side's answer usually comes sooner than a
 * wake-up would (35-100 us on a small virtual machine); on one, spinning
 * only delays it. */
#define SPIN_NS 20000

static int64_t
spin_ns(void)
{
    static _Atomic int cpus; /* racing threads store the same count */
    int n = atomic_load_explicit(&cpus, memory_order_relaxed);

    if (n == 0) {
        n = mproc__cpu_count();
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    return n > 1 ? SPIN_NS : 0;
}

int
mproc__rmsg_recv(struct rmsg *r, mproc_conn *c, bool exact, double timeout)
{
    size_t got = 0;
    int rc;

    r->heap = NULL;
    rc = exact ? mproc_conn_recv_bytes_into(c, r->small, sizeof r->small, 0,
                                            &got, timeout)
               : mproc__conn_recv_exchange(c, r->small, sizeof r->small, &got,
                                           spin_ns(), timeout);
    if (rc == MPROC_ETOOSHORT) {
        /* The header is in: got is the body's length, still unread. */
        if (got > MGR_MAX_MESSAGE)
            return MPROC_ETOOBIG;
        r->heap = malloc(got);
        if (r->heap == NULL)
            return MPROC_ENOMEM;
        rc = mproc_conn_recv_bytes_into(c, r->heap, got, 0, &got, timeout);
        if (rc < 0) {
            free(r->heap);
            r->heap = NULL;
            return rc;
        }
    } else if (rc < 0) {
        return rc;
    }
    r->p = r->heap != NULL ? r->heap : r->small;
    r->left = got;
    return 0;
}

void
mproc__rmsg_free(struct rmsg *r)
{
    free(r->heap);
    r->heap = NULL;
    r->left = 0;
}

static const unsigned char *
rmsg_take(struct rmsg *r, size_t n)
{
    const unsigned char *at = r->p;

    if (n > r->left)
        return NULL;
    r->p += n;
    r->left -= n;
    return at;
}

int
mproc__rmsg_u8(struct rmsg *r, uint8_t *v)
{
    const unsigned char *at = rmsg_take(r, 1);

    if (at == NULL)
        return MPROC_EPROTOCOL;
    *v = *at;
    return 0;
}

int
mproc__rmsg_u64(struct rmsg *r, uint64_t *v)
{
    const unsigned char *at = rmsg_take(r, 8);

    if (at == NULL)
        return MPROC_EPROTOCOL;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)at[i] << (8 * i);
    return 0;
}

int
mproc__rmsg_i32(struct rmsg *r, int32_t *v)
{
    const unsigned char *at = rmsg_take(r, 4);
    uint32_t u = 0;

    if (at == NULL)
        return MPROC_EPROTOCOL;
    for (int i = 0; i < 4; i++)
        u |= (uint32_t)at[i] << (8 * i);
    *v = (int32_t)u;
    return 0;
}

int
mproc__rmsg_str8(struct rmsg *r, char *buf, size_t cap)
{
    uint8_t len;
    const unsigned char *at;

    if (mproc__rmsg_u8(r, &len) < 0 || (size_t)len >= cap)
        return MPROC_EPROTOCOL;
    at = rmsg_take(r, len);
    if (at == NULL || memchr(at, '\0', len) != NULL)
        return MPROC_EPROTOCOL;
    memcpy(buf, at, len);
    buf[len] = '\0';
    return 0;
}

int
mproc__rmsg_obj(struct rmsg *r, mproc_obj **out)
{
    int rc;

    *out = NULL;
    if (r->left == 0)
        return 0;
    rc = mproc_obj_loads(out, r->p, r->left, NULL);
    r->p += r->left;
    r->left = 0;
    return rc;
}

int
mproc__mgr_send_error(mproc_conn *c, int code, const char *text)
{
    struct wmsg w;
    uint32_t u = (uint32_t)(int32_t)code;
    unsigned char le[4] = { (unsigned char)u, (unsigned char)(u >> 8),
                            (unsigned char)(u >> 16),
                            (unsigned char)(u >> 24) };
    int rc;

    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, MGR_ERROR);
    mproc__wmsg_bytes(&w, le, 4);
    if (text == NULL)
        text = mproc_strerror(code);
    mproc__wmsg_bytes(&w, text, strlen(text));
    rc = mproc__wmsg_send(&w, c);
    mproc__wmsg_free(&w);
    return rc;
}
