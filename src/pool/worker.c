/*
 * pool/worker.c - a worker: take a task (claiming its slot), run it, put
 * its result, tell whoever waits (pool/pool.h). The same loop runs in a
 * worker process and in a worker thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/pool.h"
#include "queue.h"
#include "shm/shm.h"
#include "startmethod/startmethod.h"

#define MESSAGE_MAX 4096

/* The running task's failure message, per thread. */
static __thread char task_message[MESSAGE_MAX];
static __thread size_t task_message_len;

int
mproc_task_fail(int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (fmt == NULL)
        return code;
    va_start(ap, fmt);
    n = vsnprintf(task_message, sizeof(task_message), fmt, ap);
    va_end(ap);
    task_message_len = n < 0 ? 0
                       : (size_t)n >= sizeof(task_message)
                           ? sizeof(task_message) - 1
                           : (size_t)n;
    return code;
}

/* ---- functions by location ------------------------------------------------
 */

/* Wire form: u64 offset | u32 build id length | build id | object path. */
int
mproc__pool_fn_locate(uint64_t fn, mproc_buf *out)
{
    struct mproc__target_loc loc;
    size_t olen;
    char *b;
    int rc = mproc__target_locate((mproc_target)(uintptr_t)fn, &loc);

    if (rc < 0)
        return rc;
    olen = strlen(loc.object);
    b = malloc(12 + loc.build_id_len + olen);
    if (b == NULL) {
        mproc__target_loc_clear(&loc);
        return MPROC_ENOMEM;
    }
    memcpy(b, &loc.offset, 8);
    memcpy(b + 8, &loc.build_id_len, 4);
    memcpy(b + 12, loc.build_id, loc.build_id_len);
    memcpy(b + 12 + loc.build_id_len, loc.object, olen);
    *out = (mproc_buf){ b, 12 + loc.build_id_len + olen };
    mproc__target_loc_clear(&loc);
    return 0;
}

int
mproc__pool_fn_resolve(const void *wire, size_t len, uint64_t *fn)
{
    struct mproc__target_loc loc = { 0 };
    const char *b = wire;
    mproc_target t;
    int rc;

    if (len < 12)
        return MPROC_EPROTOCOL;
    memcpy(&loc.offset, b, 8);
    memcpy(&loc.build_id_len, b + 8, 4);
    if (loc.build_id_len > sizeof(loc.build_id) || loc.build_id_len > len - 12)
        return MPROC_EPROTOCOL;
    memcpy(loc.build_id, b + 12, loc.build_id_len);
    loc.object =
        strndup(b + 12 + loc.build_id_len, len - 12 - loc.build_id_len);
    if (loc.object == NULL)
        return MPROC_ENOMEM;
    rc = mproc__target_resolve(&loc, &t);
    mproc__target_loc_clear(&loc);
    *fn = (uint64_t)(uintptr_t)t;
    return rc;
}

/* The last function found by location: tasks mostly repeat one. */
struct fn_cache {
    mproc_buf wire;
    uint64_t fn;
};

static int
resolve_cached(struct fn_cache *c, const char *wire, size_t len, uint64_t *fn)
{
    int rc;

    if (c->wire.len == len && memcmp(c->wire.data, wire, len) == 0) {
        *fn = c->fn;
        return 0;
    }
    rc = mproc__pool_fn_resolve(wire, len, fn);
    if (rc < 0)
        return rc;
    mproc_buf_free(&c->wire);
    c->wire.data = malloc(len);
    if (c->wire.data != NULL) {
        memcpy(c->wire.data, wire, len);
        c->wire.len = len;
        c->fn = *fn;
    }
    return 0;
}

/* ---- the result being built ------------------------------------------------
 */

struct out {
    char *p;
    size_t len, cap;
};

static int
reserve(struct out *o, size_t more)
{
    size_t need = o->len + more, cap = o->cap ? o->cap : 4096;
    char *np;

    if (need <= o->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    np = realloc(o->p, cap);
    if (np == NULL)
        return MPROC_ENOMEM;
    o->p = np;
    o->cap = cap;
    return 0;
}

/* Append a record: u64 length, the bytes, padding to 8. */
static int
append_record(struct out *o, const void *data, uint64_t len)
{
    size_t padded = (len + 7) & ~(uint64_t)7;
    int rc = reserve(o, 8 + padded);

    if (rc < 0)
        return rc;
    memcpy(o->p + o->len, &len, 8);
    if (len > 0)
        memcpy(o->p + o->len + 8, data, len);
    memset(o->p + o->len + 8 + len, 0, padded - len);
    o->len += 8 + padded;
    return 0;
}

/* Replace what was built with a failure: header and message only. */
static void
set_failure(struct out *o, int status, int task_code, uint32_t item,
            const char *message, size_t mlen)
{
    struct mproc__result_msg r = { .status = status,
                                   .task_code = task_code,
                                   .item = item };

    o->len = 0;
    if (reserve(o, sizeof(r) + MPROC__ALIGN16(mlen)) < 0)
        mlen = 0; /* the header fits: reserve() kept 4096 at least */
    r.msg_len = (uint32_t)mlen;
    memcpy(o->p, &r, sizeof(r));
    memcpy(o->p + sizeof(r), message, mlen);
    memset(o->p + sizeof(r) + mlen, 0, MPROC__ALIGN16(mlen) - mlen);
    o->len = sizeof(r) + MPROC__ALIGN16(mlen);
}

static void
task_failed(struct out *o, int rc, uint32_t item)
{
    set_failure(o, MPROC_ETASK, rc, item, task_message, task_message_len);
}

/* ---- running a chunk -------------------------------------------------------
 */

/* A typed chunk: its items in the message, or in the pool's area (then
 * the outputs go there too, and the result message is its header). */
static void
run_items(struct out *o, const struct mproc__worker_ctx *w, mproc_item_fn fn,
          const char *in, size_t len, const struct mproc__task_msg *m)
{
    size_t total = (size_t)m->count * m->out_size;
    size_t in_total = (size_t)m->count * m->in_size;
    char *dst;

    if (m->in_off != AREA_NONE) {
        if (m->in_off > w->area_size || in_total > w->area_size - m->in_off ||
            m->out_off > w->area_size || total > w->area_size - m->out_off) {
            set_failure(o, MPROC_EPROTOCOL, 0, 0, NULL, 0);
            return;
        }
        in = w->area + m->in_off;
        dst = w->area + m->out_off;
        total = 0;
    } else if (in_total != len) {
        set_failure(o, MPROC_EPROTOCOL, 0, 0, NULL, 0);
        return;
    } else if (reserve(o, total) < 0) {
        set_failure(o, MPROC_ENOMEM, 0, 0, NULL, 0);
        return;
    } else {
        dst = o->p + o->len;
    }
    for (uint32_t i = 0; i < m->count; i++) {
        int rc = fn(in + (size_t)i * m->in_size, dst + (size_t)i * m->out_size);

        if (rc != 0) {
            task_failed(o, rc, i);
            return;
        }
    }
    o->len += total;
}

/* One item of a BUFS or OBJS chunk: append its result, or 0 < code. */
static int
run_one(struct out *o, uint32_t kind, uint64_t fn, const char *data,
        uint64_t len, int *status)
{
    mproc_buf b = { NULL, 0 };
    int rc;

    *status = 0;
    if (kind == CHUNK_BUFS) {
        rc = ((mproc_task_fn)(uintptr_t)fn)(len > 0 ? data : NULL, len, &b);
        if (rc != 0) {
            mproc_buf_free(&b);
            *status = MPROC_ETASK;
            return rc;
        }
    } else {
        mproc_obj *arg = NULL, *res = NULL;

        if (mproc_obj_loads(&arg, data, len, NULL) < 0) {
            *status = MPROC_EPROTOCOL;
            return 0;
        }
        rc = ((mproc_obj_task_fn)(uintptr_t)fn)(arg, &res);
        mproc_obj_free(arg);
        if (rc != 0) {
            mproc_obj_free(res);
            *status = MPROC_ETASK;
            return rc;
        }
        if (res == NULL && mproc_obj_none(&res) < 0) {
            *status = MPROC_ENOMEM;
            return 0;
        }
        rc = mproc_obj_dumps(res, &b, 0);
        mproc_obj_free(res);
        if (rc < 0) {
            *status = rc == MPROC_ENOMEM ? MPROC_ENOMEM : MPROC_EPROTOCOL;
            return 0;
        }
    }
    rc = append_record(o, b.data, b.len);
    mproc_buf_free(&b);
    if (rc < 0)
        *status = rc;
    return 0;
}

static void
run_records(struct out *o, uint32_t kind, uint64_t fn, const char *in,
            size_t len, const struct mproc__task_msg *m)
{
    const char *at = in, *end = in + len;

    for (uint32_t i = 0; i < m->count; i++) {
        uint64_t l;
        int status, rc;

        if ((size_t)(end - at) < 8) {
            set_failure(o, MPROC_EPROTOCOL, 0, i, NULL, 0);
            return;
        }
        memcpy(&l, at, 8);
        if (l > (uint64_t)(end - at) - 8) {
            set_failure(o, MPROC_EPROTOCOL, 0, i, NULL, 0);
            return;
        }
        rc = run_one(o, kind, fn, at + 8, l, &status);
        if (status == MPROC_ETASK) {
            task_failed(o, rc, i);
            return;
        }
        if (status != 0) {
            set_failure(o, status, 0, i, NULL, 0);
            return;
        }
        at += 8 + ((l + 7) & ~(uint64_t)7);
        if (at > end)
            at = end;
    }
}

/* Run the chunk in msg (len bytes); build its result message in o. */
static void
run_chunk(struct out *o, const struct mproc__worker_ctx *w,
          struct fn_cache *cache, const char *msg, size_t len,
          const struct mproc__task_msg *m)
{
    size_t skip = sizeof(*m) + MPROC__ALIGN16((size_t)m->loc_len);
    uint64_t fn = m->fn;
    struct mproc__result_msg r = { 0 };

    o->len = 0;
    task_message_len = 0;
    if (reserve(o, sizeof(r)) < 0) {
        set_failure(o, MPROC_ENOMEM, 0, 0, NULL, 0);
        return;
    }
    memcpy(o->p, &r, sizeof(r));
    o->len = sizeof(r);
    if (skip > len ||
        (m->loc_len > 0 &&
         resolve_cached(cache, msg + sizeof(*m), m->loc_len, &fn) < 0) ||
        fn == 0) {
        set_failure(o, MPROC_EPROTOCOL, 0, 0, NULL, 0);
        return;
    }
    if (m->kind == CHUNK_ITEMS)
        run_items(o, w, (mproc_item_fn)(uintptr_t)fn, msg + skip, len - skip,
                  m);
    else
        run_records(o, m->kind, fn, msg + skip, len - skip, m);
    if (((struct mproc__result_msg *)(void *)o->p)->status == 0 &&
        ((struct mproc__result_msg *)(void *)o->p)->msg_len == 0)
        ((struct mproc__result_msg *)(void *)o->p)->len = o->len - sizeof(r);
}

/* ---- the loop ---------------------------------------------------------------
 */

struct claim {
    struct mproc__worker_ctx *w;
    bool leave;
};

/* Under the task queue's lock: make the message's slot ours. */
static bool
claim(const void *msg, size_t len, void *arg)
{
    struct claim *c = arg;
    struct mproc__worker_ctx *w = c->w;
    struct mproc__pool_worker *rec = &w->sh->workers[w->wid];
    struct mproc__task_msg m;
    uint32_t *state, old;

    if (len < sizeof(m))
        return false;
    memcpy(&m, msg, sizeof(m));
    if (m.kind == CHUNK_EXIT) {
        c->leave = true;
        return true;
    }
    if (m.slot >= MPROC__POOL_SLOTS)
        return false;
    /* The record first: the supervisor trusts it only once the state
     * names this worker. */
    __atomic_store_n(&rec->gen, m.gen, __ATOMIC_RELAXED);
    __atomic_store_n(&rec->started_ns, mproc__now_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(&rec->slot, m.slot + 1, __ATOMIC_SEQ_CST);
    state = &w->sh->slots[m.slot].state;
    old = __atomic_load_n(state, __ATOMIC_ACQUIRE);
    do {
        if (SLOT_STATE(old) != SLOT_PENDING || SLOT_GEN(old) != m.gen) {
            __atomic_store_n(&rec->slot, 0, __ATOMIC_RELEASE);
            return false;
        }
    } while (!__atomic_compare_exchange_n(
        state, &old,
        SLOT_WORD(m.gen, w->wid, SLOT_RUNNING) | (old & SLOT_ASYNC), false,
        __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE));
    return true;
}

/* After the result is out: mark the slot done and tell the waiters. */
static void
finish(struct mproc__worker_ctx *w, const struct mproc__task_msg *m)
{
    uint32_t *state = &w->sh->slots[m->slot].state;
    uint32_t mine = SLOT_WORD(m->gen, w->wid, SLOT_RUNNING);
    uint32_t old = __atomic_load_n(state, __ATOMIC_ACQUIRE);
    bool async = false;

    /* Not ours any more when the parent gave up on it meanwhile. */
    while ((old & ~SLOT_ASYNC) == mine) {
        uint32_t done =
            SLOT_WORD(m->gen, w->wid, SLOT_DONE) | (old & SLOT_ASYNC);

        if (__atomic_compare_exchange_n(state, &old, done, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
            async = old & SLOT_ASYNC;
            break;
        }
    }
    if (m->notify < MPROC__POOL_SLOTS)
        mproc__pool_notify(&w->sh->slots[m->notify].notify);
    /* Callbacks wanted, tasks waiting in the parent for room, or results
     * piling up with nobody collecting. */
    if (async || __atomic_load_n(&w->sh->backlog, __ATOMIC_RELAXED) ||
        mproc__queue_used(w->results) > mproc__queue_capacity(w->results) / 4)
        mproc__pool_notify(&w->sh->engine);
    __atomic_store_n(&w->sh->workers[w->wid].slot, 0, __ATOMIC_RELEASE);
}

/* Put the result; one too big for the queue becomes that failure. */
static void
put_result(struct mproc__worker_ctx *w, struct out *o,
           const struct mproc__task_msg *m)
{
    struct mproc__result_msg *r = (struct mproc__result_msg *)(void *)o->p;
    int rc;

    r->slot = m->slot;
    r->gen = m->gen;
    rc = mproc_queue_put(w->results, o->p, o->len, MPROC_FOREVER);
    if (rc == MPROC_ETOOBIG) {
        static const char text[] = "the result does not fit the result queue";

        set_failure(o, MPROC_ETOOBIG, 0, 0, text, sizeof(text) - 1);
        r = (struct mproc__result_msg *)(void *)o->p;
        r->slot = m->slot;
        r->gen = m->gen;
        (void)mproc_queue_put(w->results, o->p, o->len, MPROC_FOREVER);
    }
}

static bool
has_task(const void *tasks)
{
    return !mproc_queue_empty(tasks);
}

int
mproc__pool_worker_loop(struct mproc__worker_ctx *w)
{
    struct out o = { 0 };
    struct fn_cache cache = { { NULL, 0 }, 0 };
    char *in = NULL;
    size_t cap = 0;
    int done = 0, rc = 0;

    for (;;) {
        struct claim c = { w, false };
        struct mproc__task_msg m;
        size_t len;

        /* Idle: spin a while before the get sleeps, for the next task of
         * a caller that waits for each result before it sends more. */
        if (w->spin)
            (void)mproc__spin(has_task, w->tasks, MPROC__POOL_SPIN_NS);
        rc = mproc__queue_get_claimed(w->tasks, in, cap, &len, claim, &c,
                                      MPROC_FOREVER);
        if (rc == MPROC_ETOOSHORT) {
            char *nb = realloc(in, len);

            if (nb == NULL)
                break;
            in = nb;
            cap = len;
            continue;
        }
        if (rc < 0 || c.leave) {
            rc = rc == MPROC_ECLOSED ? 0 : rc;
            break;
        }
        memcpy(&m, in, sizeof(m));
        /* More work queued: get another worker going now, from this CPU,
         * while the one that queued it may still hold the other. */
        if (!mproc_queue_empty(w->tasks))
            mproc__queue_wake_consumer(w->tasks);
        run_chunk(&o, w, &cache, in, len, &m);
        put_result(w, &o, &m);
        finish(w, &m);
        if (w->maxtasks > 0 && ++done >= w->maxtasks)
            break;
    }
    free(in);
    free(o.p);
    mproc_buf_free(&cache.wire);
    return rc;
}

/* ---- a worker process -------------------------------------------------------
 */

/* What a worker process is given: this header, the initializer's location
 * (init_loc_len bytes), the initializer's argument bytes. */
struct worker_args {
    mproc_token sh, tasks, results, area;
    uint64_t area_size;
    uint64_t init_fn;
    uint32_t wid, init_loc_len;
    int32_t maxtasks;
    uint32_t pad;
};

int
mproc__pool_worker_args(const mproc_pool *p, int wid, mproc_buf *out)
{
    struct worker_args a = { .area_size = p->area_size,
                             .init_fn = (uint64_t)(uintptr_t)p->initializer,
                             .wid = (uint32_t)wid,
                             .maxtasks = p->maxtasks };
    mproc_buf loc = { NULL, 0 };
    char *b;
    int rc;

    if (mproc__arena_token(p->sh, MPROC__TOKEN_POOL, &a.sh) < 0 ||
        mproc__arena_token(p->area, MPROC__TOKEN_POOL, &a.area) < 0 ||
        mproc_queue_token(p->tasks, &a.tasks) < 0 ||
        mproc_queue_token(p->results, &a.results) < 0)
        return MPROC_EINVAL;
    if (p->locate && p->initializer != NULL) {
        rc = mproc__pool_fn_locate(a.init_fn, &loc);
        if (rc < 0)
            return rc;
        a.init_loc_len = (uint32_t)loc.len;
    }
    b = malloc(sizeof(a) + loc.len + p->initargs.len + 1);
    if (b == NULL) {
        mproc_buf_free(&loc);
        return MPROC_ENOMEM;
    }
    memcpy(b, &a, sizeof(a));
    if (loc.len > 0)
        memcpy(b + sizeof(a), loc.data, loc.len);
    if (p->initargs.len > 0)
        memcpy(b + sizeof(a) + loc.len, p->initargs.data, p->initargs.len);
    *out = (mproc_buf){ b, sizeof(a) + loc.len + p->initargs.len };
    mproc_buf_free(&loc);
    return 0;
}

int
mproc__pool_worker_main(const void *arg, size_t len)
{
    struct mproc__worker_ctx w = { 0 };
    struct worker_args a;
    const char *b = arg;
    void *sh = NULL, *area = NULL;
    uint64_t init = 0;
    sigset_t none;
    int rc;

    /* A replacement is forked by the pool's supervisor thread, which
     * takes no signal: its child would inherit that mask. A worker starts
     * with none blocked, as Python's; Ctrl-C is the parent's to handle
     * (it terminates the pool). */
    sigemptyset(&none);
    mproc__sig_restore(&none);
    mproc__sig_ignore(SIGINT);
    if (len < sizeof(a))
        return 3;
    memcpy(&a, b, sizeof(a));
    if (a.init_loc_len > len - sizeof(a) || a.wid >= MPROC__POOL_MAX_WORKERS)
        return 3;
    if (mproc__arena_from_token(&a.sh, MPROC__TOKEN_POOL, &sh) < 0 ||
        mproc__arena_from_token(&a.area, MPROC__TOKEN_POOL, &area) < 0 ||
        mproc_queue_from_token(&w.tasks, &a.tasks) < 0 ||
        mproc_queue_from_token(&w.results, &a.results) < 0)
        return 3;
    w.sh = sh;
    w.spin = mproc__cpu_count() > 1;
    w.area = area;
    w.area_size = a.area_size;
    w.wid = a.wid;
    w.maxtasks = a.maxtasks;
    init = a.init_fn;
    if (a.init_loc_len > 0 &&
        mproc__pool_fn_resolve(b + sizeof(a), a.init_loc_len, &init) < 0)
        return 3;
    if (init != 0)
        ((mproc_pool_init_fn)(uintptr_t)init)(
            len - sizeof(a) - a.init_loc_len > 0
                ? b + sizeof(a) + a.init_loc_len
                : NULL,
            len - sizeof(a) - a.init_loc_len);
    rc = mproc__pool_worker_loop(&w);
    mproc_queue_free(w.tasks);
    mproc_queue_free(w.results);
    mproc__arena_unref(sh);
    mproc__arena_unref(area);
    return rc < 0 ? 1 : 0;
}
