/*
 * pool/pool.c - Pool's public verbs over the engine (pool/pool.h):
 * creating and ending a pool, apply, the maps, the imaps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mproc/pool.h"
#include "pool/pool.h"
#include "queue.h"
#include "shm/shm.h"

/* The most bytes of the typed maps' area (pool/pool.h): the capacity up to
 * this, 64 MiB by default. */
#define AREA_MAX ((uint64_t)64 << 20)

/* ---- the pool --------------------------------------------------------------
 */

static int
check_opts(const mproc_pool_opts *o)
{
    if (o->processes < 0 || o->processes > MPROC__POOL_MAX_WORKERS ||
        o->maxtasksperchild < 0 || isnan(o->task_timeout) ||
        o->task_timeout < 0 || (o->threads && o->task_timeout > 0) ||
        (o->initargs == NULL && o->initargs_len > 0) ||
        o->capacity > ((size_t)2 << 30) ||
        (unsigned)o->start_method > MPROC_START_FORKSERVER)
        return MPROC_EINVAL;
    return 0;
}

/* Free what mproc_pool_new() made before it failed. */
static void
abandon(mproc_pool *p)
{
    if (p->alive > 0 || p->supervisor_started) {
        (void)mproc_pool_terminate(p);
        (void)mproc_pool_join(p, MPROC_FOREVER);
    }
    mproc_pool_free(p);
}

int
mproc_pool_new(mproc_pool **out, const mproc_pool_opts *opts)
{
    static const mproc_pool_opts defaults;
    const mproc_pool_opts *o = opts != NULL ? opts : &defaults;
    mproc_queue_opts qo = { .capacity = o->capacity };
    pthread_condattr_t ca;
    mproc_pool *p;
    void *sh = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || check_opts(o) < 0)
        return MPROC_EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->gone, &ca);
    pthread_condattr_destroy(&ca);
    p->refs = 1;
    p->cmd_fd = -1;
    p->events_tail = &p->events;
    p->backlog_tail = &p->backlog;
    p->threads = o->threads;
    p->start_method = o->start_method != MPROC_START_DEFAULT
                          ? o->start_method
                          : mproc_get_start_method();
    p->locate = !p->threads && p->start_method != MPROC_START_FORK;
    p->spin = mproc__cpu_count() > 1;
    p->nworkers = o->processes > 0 ? o->processes : mproc_cpu_count();
    if (p->nworkers > MPROC__POOL_MAX_WORKERS)
        p->nworkers = MPROC__POOL_MAX_WORKERS;
    p->maxtasks = o->maxtasksperchild;
    p->task_timeout = o->task_timeout;
    p->initializer = o->initializer;
    if (o->initargs_len > 0) {
        p->initargs.data = malloc(o->initargs_len);
        if (p->initargs.data == NULL) {
            mproc_pool_free(p);
            return MPROC_ENOMEM;
        }
        memcpy(p->initargs.data, o->initargs, o->initargs_len);
        p->initargs.len = o->initargs_len;
    }
    rc = mproc__arena_alloc(sizeof(struct mproc__pool_shared), 64, &sh);
    p->sh = sh;
    if (rc == 0) {
        void *area = NULL;

        p->area_size =
            o->capacity > 0 && o->capacity < AREA_MAX ? o->capacity : AREA_MAX;
        rc = mproc__arena_alloc(p->area_size, 4096, &area);
        p->area = area;
        p->free_extents = malloc(16 * sizeof(struct extent));
        if (rc == 0 && p->free_extents == NULL)
            rc = MPROC_ENOMEM;
        if (rc == 0) {
            p->free_extents[0] = (struct extent){ 0, p->area_size };
            p->nextents = 1;
            p->extents_cap = 16;
        }
    }
    if (rc == 0)
        rc = mproc_queue_new(&p->tasks, &qo);
    if (rc == 0)
        rc = mproc_queue_new(&p->results, &qo);
    if (rc == 0) {
        p->sh->nworkers = (uint32_t)p->nworkers;
        p->tab = calloc(MPROC__POOL_SLOTS, sizeof(*p->tab));
        p->free_slots = malloc(MPROC__POOL_SLOTS * sizeof(uint32_t));
        p->workers = calloc((size_t)p->nworkers, sizeof(*p->workers));
        p->rcap = 65536;
        p->rbuf = malloc(p->rcap);
        if (p->tab == NULL || p->free_slots == NULL || p->workers == NULL ||
            p->rbuf == NULL)
            rc = MPROC_ENOMEM;
    }
    if (rc == 0) {
        p->cmd_fd = mproc__eventfd();
        if (p->cmd_fd < 0)
            rc = p->cmd_fd;
    }
    for (int i = 0; rc == 0 && i < p->nworkers; i++)
        rc = mproc__pool_start_worker(p, i);
    if (rc == 0)
        rc = mproc__pool_start_threads(p);
    if (rc < 0) {
        abandon(p);
        return rc;
    }
    *out = p;
    return 0;
}

int
mproc_pool_close(mproc_pool *p)
{
    int rc = 0;

    if (p == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->state != POOL_RUNNING) {
        rc = MPROC_ESTATE;
    } else {
        p->state = POOL_CLOSED;
        /* Workers leave once the queue is drained; with tasks still in
         * the backlog, once it is fed (mproc__pool_feed()). */
        if (p->backlog == NULL)
            (void)mproc_queue_close(p->tasks);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        mproc__pool_poke_supervisor(p);
    return rc;
}

int
mproc_pool_terminate(mproc_pool *p)
{
    if (p == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->state == POOL_TERMINATED) {
        pthread_mutex_unlock(&p->mu);
        return MPROC_ESTATE;
    }
    p->state = POOL_TERMINATED;
    mproc__pool_cancel_all(p, "the pool was terminated");
    mproc__pool_feed(p); /* drops the cancelled backlog */
    (void)mproc_queue_close(p->tasks);
    for (int i = 0; i < p->nworkers && !p->threads; i++)
        if (p->workers[i].live)
            (void)mproc_process_kill(p->workers[i].proc);
    pthread_mutex_unlock(&p->mu);
    mproc__pool_poke_supervisor(p);
    return 0;
}

int
mproc_pool_join(mproc_pool *p, double timeout)
{
    struct mproc__deadline dl;
    int rc = 0;

    if (p == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->state == POOL_RUNNING ||
        (p->result_started && pthread_equal(pthread_self(), p->result_thread)))
        rc = MPROC_ESTATE;
    while (rc == 0 && p->alive > 0) {
        if (dl.forever) {
            pthread_cond_wait(&p->gone, &p->mu);
        } else {
            struct timespec ts = { (time_t)(dl.at_ns / 1000000000),
                                   (long)(dl.at_ns % 1000000000) };

            if (pthread_cond_timedwait(&p->gone, &p->mu, &ts) != 0 &&
                p->alive > 0)
                rc = MPROC_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0 && !p->joined) {
        mproc__pool_stop_threads(p);
        p->joined = true;
    }
    return rc;
}

void
mproc_pool_free(mproc_pool *p)
{
    bool last;

    if (p == NULL)
        return;
    if (!p->joined && p->sh != NULL) {
        if (p->state == POOL_RUNNING)
            (void)mproc_pool_terminate(p);
        (void)mproc_pool_join(p, MPROC_FOREVER);
    }
    pthread_mutex_lock(&p->mu);
    last = mproc__pool_unref(p);
    pthread_mutex_unlock(&p->mu);
    if (last) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->gone);
        free(p);
    }
}

/* ---- submitting jobs
 * ----------------------------------------------------------- */

/* A new job, if the pool takes work (mu held). */
static int
job_begin(mproc_pool *p, enum job_kind kind, size_t nchunks,
          const mproc_async_opts *cbs, mproc_future **out)
{
    int rc;

    if (p->state != POOL_RUNNING)
        return MPROC_ESTATE;
    rc = mproc__pool_job_new(p, kind, nchunks, out);
    if (rc == 0 && cbs != NULL) {
        (*out)->on_success = cbs->callback;
        (*out)->on_failure = cbs->error_callback;
        (*out)->async_ctx = cbs->ctx;
    }
    return rc;
}

/* A submit failed part way: cancel what went, drop the job. */
static void
job_abort(mproc_pool *p, mproc_future *j)
{
    pthread_mutex_lock(&p->mu);
    j->out = NULL;
    j->bufs_out = NULL;
    mproc__pool_cancel_pending(p, j);
    pthread_mutex_unlock(&p->mu);
    mproc__pool_job_unref_unlocked(j);
}

/* Submit chunk after chunk; a job with none is done at once. */
static int
submit_chunks(mproc_pool *p, mproc_future *j, size_t nchunks,
              int (*one)(mproc_pool *p, mproc_future *j, size_t c, void *arg),
              void *arg)
{
    int rc = 0;

    for (size_t c = 0; rc == 0 && c < nchunks; c++)
        rc = one(p, j, c, arg);
    if (rc < 0) {
        job_abort(p, j);
        return rc;
    }
    if (nchunks == 0) {
        pthread_mutex_lock(&p->mu);
        j->complete = true;
        mproc__pool_set_done(p, j);
        pthread_mutex_unlock(&p->mu);
    }
    return 0;
}

static int
apply_async(mproc_pool *p, uint64_t fn, uint32_t kind, const void *arg,
            size_t len, const mproc_async_opts *cbs, mproc_future **out)
{
    static const char pad[8];
    uint64_t l = len;
    struct iovec iov[3] = { { &l, sizeof(l) },
                            { (void *)arg, len },
                            { (void *)pad, ((len + 7) & ~(size_t)7) - len } };
    mproc_future *j = NULL;
    int rc;

    pthread_mutex_lock(&p->mu);
    rc = job_begin(p, JOB_APPLY, 1, cbs, &j);
    if (rc == 0)
        j->objs = kind == CHUNK_OBJS;
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        rc = mproc__pool_submit(p, j, 0, 0, kind, fn, iov, 3, 1, 0, 0);
    if (rc < 0 && j != NULL)
        job_abort(p, j);
    *out = rc == 0 ? j : NULL;
    return rc;
}

int
mproc_pool_apply_async(mproc_pool *p, mproc_task_fn fn, const void *arg,
                       size_t len, const mproc_async_opts *opts,
                       mproc_future **out)
{
    if (out != NULL)
        *out = NULL;
    if (p == NULL || fn == NULL || out == NULL || (arg == NULL && len > 0))
        return MPROC_EINVAL;
    return apply_async(p, (uint64_t)(uintptr_t)fn, CHUNK_BUFS, arg, len, opts,
                       out);
}

int
mproc_pool_apply_async_obj(mproc_pool *p, mproc_obj_task_fn fn,
                           const mproc_obj *arg, const mproc_async_opts *opts,
                           mproc_future **out)
{
    mproc_buf b = { NULL, 0 };
    int rc;

    if (out != NULL)
        *out = NULL;
    if (p == NULL || fn == NULL || out == NULL || arg == NULL)
        return MPROC_EINVAL;
    rc = mproc_obj_dumps(arg, &b, 0);
    if (rc < 0)
        return rc == MPROC_ENOMEM ? rc : MPROC_EINVAL;
    rc = apply_async(p, (uint64_t)(uintptr_t)fn, CHUNK_OBJS, b.data, b.len,
                     opts, out);
    mproc_buf_free(&b);
    return rc;
}

/* Wait for a future, then drop it, cancelling it when it did not start. */
static int
finish_apply(mproc_future *f, mproc_buf *out, double timeout)
{
    int rc = mproc_future_get(f, out, timeout);

    if (rc == MPROC_ETIMEDOUT)
        (void)mproc_future_cancel(f);
    mproc_future_free(f);
    return rc;
}

int
mproc_pool_apply(mproc_pool *p, mproc_task_fn fn, const void *arg, size_t len,
                 mproc_buf *out, double timeout)
{
    mproc_future *f;
    int rc;

    if (out != NULL)
        *out = (mproc_buf){ NULL, 0 };
    if (isnan(timeout))
        return MPROC_EINVAL;
    rc = mproc_pool_apply_async(p, fn, arg, len, NULL, &f);
    return rc < 0 ? rc : finish_apply(f, out, timeout);
}

int
mproc_pool_apply_obj(mproc_pool *p, mproc_obj_task_fn fn, const mproc_obj *arg,
                     mproc_obj **out, double timeout)
{
    mproc_future *f;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (isnan(timeout))
        return MPROC_EINVAL;
    rc = mproc_pool_apply_async_obj(p, fn, arg, NULL, &f);
    if (rc < 0)
        return rc;
    rc = out != NULL ? mproc_future_get_obj(f, out, timeout)
                     : mproc_future_get(f, NULL, timeout);
    if (rc == MPROC_ETIMEDOUT)
        (void)mproc_future_cancel(f);
    mproc_future_free(f);
    return rc;
}

/* ---- maps
 * ------------------------------------------------------------------------ */

/* Python's rule: n / (4 x workers), rounded up; 0 for no items. */
static size_t
chunk_size(const mproc_pool *p, long chunksize, size_t n)
{
    size_t d = (size_t)p->nworkers * 4, c;

    if (chunksize > 0)
        return (size_t)chunksize;
    if (n == 0)
        return 1;
    c = n / d;
    return n % d ? c + 1 : c;
}

struct items {
    mproc_item_fn fn;
    const char *in;
    size_t n, in_size, out_size, cs;
};

static int
submit_items(mproc_pool *p, mproc_future *j, size_t c, void *arg)
{
    const struct items *a = arg;
    size_t first = c * a->cs,
           count = a->n - first < a->cs ? a->n - first : a->cs;
    struct iovec iov = { (char *)a->in + first * a->in_size,
                         count * a->in_size };

    /* Into the area chunk by chunk, so the workers start on the first
     * while the rest is copied. */
    if (j->area_out != AREA_NONE && iov.iov_len > 0)
        memcpy(p->area + j->area_off + first * a->in_size, iov.iov_base,
               iov.iov_len);
    return mproc__pool_submit(
        p, j, c, first, CHUNK_ITEMS, (uint64_t)(uintptr_t)a->fn, &iov, 1,
        (uint32_t)count, (uint32_t)a->in_size, (uint32_t)a->out_size);
}

/* Give a map room in the pool's area for its items and results, if they
 * fit (mu held): each chunk's inputs are copied there once, the workers
 * read and write there in place, and each chunk's outputs are copied once,
 * to the caller's array. Else the items travel in the messages. */
static void
use_area(mproc_pool *p, mproc_future *j, size_t n, size_t in_size,
         size_t out_size)
{
    uint64_t in_len = ((uint64_t)n * in_size + 63) & ~(uint64_t)63;
    uint64_t len = in_len + (uint64_t)n * out_size, off;

    if (n == 0 || len > p->area_size ||
        mproc__pool_area_alloc(p, len, &off) < 0)
        return;
    j->area_off = off;
    j->area_len = len;
    j->area_out = off + in_len;
}

static int
map_async(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
          size_t in_size, void *out, size_t out_size, const mproc_map_opts *o,
          mproc_future **f)
{
    struct items a = { fn, in, n, in_size, out_size, 0 };
    size_t nchunks;
    mproc_future *j;
    int rc;

    if (p == NULL || fn == NULL || f == NULL || o->chunksize < 0 ||
        (n > 0 &&
         ((in == NULL && in_size > 0) || (out == NULL && out_size > 0))) ||
        in_size > UINT32_MAX || out_size > UINT32_MAX)
        return MPROC_EINVAL;
    a.cs = chunk_size(p, o->chunksize, n);
    if (a.cs > UINT32_MAX)
        a.cs = UINT32_MAX;
    nchunks = (n + a.cs - 1) / a.cs;
    pthread_mutex_lock(&p->mu);
    rc = job_begin(p, JOB_MAP, nchunks, &o->async, &j);
    if (rc == 0) {
        j->out = out;
        j->out_size = out_size;
        j->items_total = n;
        j->progress = o->progress;
        j->progress_ctx = o->progress_ctx;
        use_area(p, j, n, in_size, out_size);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        rc = submit_chunks(p, j, nchunks, submit_items, &a);
    *f = rc == 0 ? j : NULL;
    return rc;
}

int
mproc_pool_map_async(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
                     size_t in_size, void *out, size_t out_size,
                     const mproc_map_opts *opts, mproc_future **f)
{
    static const mproc_map_opts defaults;

    if (f != NULL)
        *f = NULL;
    return map_async(p, fn, in, n, in_size, out, out_size,
                     opts != NULL ? opts : &defaults, f);
}

/* Wait for a blocking map's future; on a timeout, cancel the chunks that
 * did not start. Either way, its results stop reaching the caller's memory
 * once this returns. */
static int
map_wait(mproc_future *f, double timeout)
{
    mproc_pool *p = f->pool;
    int rc = mproc_future_get(f, NULL, timeout);

    pthread_mutex_lock(&p->mu);
    if (rc == MPROC_ETIMEDOUT)
        mproc__pool_cancel_pending(p, f);
    f->out = NULL;
    f->bufs_out = NULL;
    pthread_mutex_unlock(&p->mu);
    mproc_future_free(f);
    return rc;
}

int
mproc_pool_map(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
               size_t in_size, void *out, size_t out_size,
               const mproc_map_opts *opts, double timeout)
{
    mproc_future *f;
    int rc;

    if (isnan(timeout) ||
        (opts != NULL &&
         (opts->async.callback != NULL || opts->async.error_callback != NULL)))
        return MPROC_EINVAL;
    rc = mproc_pool_map_async(p, fn, in, n, in_size, out, out_size, opts, &f);
    return rc < 0 ? rc : map_wait(f, timeout);
}

int
mproc_pool_starmap(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
                   size_t in_size, void *out, size_t out_size,
                   const mproc_map_opts *opts, double timeout)
{
    return mproc_pool_map(p, fn, in, n, in_size, out, out_size, opts, timeout);
}

int
mproc_pool_starmap_async(mproc_pool *p, mproc_item_fn fn, const void *in,
                         size_t n, size_t in_size, void *out, size_t out_size,
                         const mproc_map_opts *opts, mproc_future **f)
{
    return mproc_pool_map_async(p, fn, in, n, in_size, out, out_size, opts, f);
}

/* Items as records (u64 length, bytes, padding to 8), one chunk's worth. */
static int
pack_records(const mproc_buf *items, size_t count, mproc_buf *out)
{
    size_t total = 0, at = 0;
    char *b;

    for (size_t i = 0; i < count; i++)
        total += 8 + ((items[i].len + 7) & ~(size_t)7);
    b = malloc(total ? total : 1);
    if (b == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        uint64_t l = items[i].len;
        size_t padded = (l + 7) & ~(size_t)7;

        memcpy(b + at, &l, 8);
        if (l > 0)
            memcpy(b + at + 8, items[i].data, l);
        memset(b + at + 8 + l, 0, padded - l);
        at += 8 + padded;
    }
    *out = (mproc_buf){ b, total };
    return 0;
}

struct records {
    uint64_t fn;
    uint32_t kind;
    const mproc_buf *in;
    size_t n, cs;
};

static int
submit_records(mproc_pool *p, mproc_future *j, size_t c, void *arg)
{
    const struct records *a = arg;
    size_t first = c * a->cs,
           count = a->n - first < a->cs ? a->n - first : a->cs;
    mproc_buf packed;
    int rc = pack_records(a->in + first, count, &packed);

    if (rc == 0) {
        struct iovec iov = { packed.data, packed.len };

        rc = mproc__pool_submit(p, j, c, first, a->kind, a->fn, &iov, 1,
                                (uint32_t)count, 0, 0);
        mproc_buf_free(&packed);
    }
    return rc;
}

/* A map over byte strings (BUFS) or pickles (OBJS), into out[n]. */
static int
map_records(mproc_pool *p, uint64_t fn, uint32_t kind, const mproc_buf *in,
            size_t n, mproc_buf *out, const mproc_map_opts *o, double timeout)
{
    struct records a = { fn, kind, in, n, chunk_size(p, o->chunksize, n) };
    size_t nchunks = (n + a.cs - 1) / a.cs;
    mproc_future *j;
    int rc;

    for (size_t i = 0; i < n; i++)
        out[i] = (mproc_buf){ NULL, 0 };
    pthread_mutex_lock(&p->mu);
    rc = job_begin(p, JOB_MAP_BUFS, nchunks, NULL, &j);
    if (rc == 0) {
        j->bufs_out = out;
        j->objs = kind == CHUNK_OBJS;
        j->items_total = n;
        j->progress = o->progress;
        j->progress_ctx = o->progress_ctx;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        rc = submit_chunks(p, j, nchunks, submit_records, &a);
    return rc < 0 ? rc : map_wait(j, timeout);
}

int
mproc_pool_map_bufs(mproc_pool *p, mproc_task_fn fn, const mproc_buf *in,
                    size_t n, mproc_buf *out, const mproc_map_opts *opts,
                    double timeout)
{
    static const mproc_map_opts defaults;
    const mproc_map_opts *o = opts != NULL ? opts : &defaults;

    if (p == NULL || fn == NULL || (n > 0 && (in == NULL || out == NULL)) ||
        o->chunksize < 0 || isnan(timeout) || o->async.callback != NULL ||
        o->async.error_callback != NULL)
        return MPROC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (in[i].data == NULL && in[i].len > 0)
            return MPROC_EINVAL;
    return map_records(p, (uint64_t)(uintptr_t)fn, CHUNK_BUFS, in, n, out, o,
                       timeout);
}

int
mproc_pool_map_obj(mproc_pool *p, mproc_obj_task_fn fn, const mproc_obj *items,
                   mproc_obj **out, const mproc_map_opts *opts, double timeout)
{
    static const mproc_map_opts defaults;
    const mproc_map_opts *o = opts != NULL ? opts : &defaults;
    enum mproc_obj_type t;
    mproc_buf *in = NULL, *res = NULL;
    mproc_obj *list = NULL;
    size_t n = 0;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (p == NULL || fn == NULL || items == NULL || out == NULL ||
        o->chunksize < 0 || isnan(timeout) || o->async.callback != NULL ||
        o->async.error_callback != NULL)
        return MPROC_EINVAL;
    t = mproc_obj_type(items);
    if ((t != MPROC_OBJ_LIST && t != MPROC_OBJ_TUPLE) ||
        mproc_obj_len(items, &n) < 0)
        return MPROC_EINVAL;
    in = calloc(n ? n : 1, sizeof(*in));
    res = calloc(n ? n : 1, sizeof(*res));
    rc = in != NULL && res != NULL ? 0 : MPROC_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        mproc_obj *item;

        rc = mproc_obj_get(items, i, &item);
        if (rc == 0)
            rc = mproc_obj_dumps(item, &in[i], 0);
        if (rc < 0 && rc != MPROC_ENOMEM)
            rc = MPROC_EINVAL;
    }
    if (rc == 0)
        rc = map_records(p, (uint64_t)(uintptr_t)fn, CHUNK_OBJS, in, n, res, o,
                         timeout);
    if (rc == 0)
        rc = mproc_obj_list(&list);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        mproc_obj *v;

        rc = mproc_obj_loads(&v, res[i].data, res[i].len, NULL);
        if (rc < 0) {
            rc = rc == MPROC_ENOMEM ? rc : MPROC_EPROTOCOL;
            break;
        }
        rc = mproc_obj_list_append(list, v);
        mproc_obj_free(v);
    }
    for (size_t i = 0; i < n && in != NULL && res != NULL; i++) {
        mproc_buf_free(&in[i]);
        mproc_buf_free(&res[i]);
    }
    free(in);
    free(res);
    if (rc < 0) {
        mproc_obj_free(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* ---- imap
 * ------------------------------------------------------------------------ */

/* The iterator's lock: one caller of next at a time, and a caller that
 * waits for results holds it (others wait behind it). A futex word, not a
 * pthread mutex: it is taken once per item handed out, and this costs two
 * atomic operations uncontended. 0 free, 1 held, 2 held with waiters. */
static void
imap_lock(mproc_imap *it)
{
    uint32_t v = 0;

    if (__atomic_compare_exchange_n(&it->lock, &v, 1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return;
    while (__atomic_exchange_n(&it->lock, 2, __ATOMIC_ACQUIRE) != 0)
        (void)mproc__futex_wait((_Atomic uint32_t *)&it->lock, 2, -1);
}

static void
imap_unlock(mproc_imap *it)
{
    if (__atomic_exchange_n(&it->lock, 0, __ATOMIC_RELEASE) == 2)
        mproc__futex_wake((_Atomic uint32_t *)&it->lock, 1);
}

/* Submit chunks from the array or the producer while the window has room
 * (it->lock held, p->mu not). */
static int
imap_top_up(mproc_imap *it)
{
    mproc_pool *p = it->job->pool;
    int rc = 0;

    while (rc == 0 && !it->input_done &&
           it->submitted - it->handed < it->window) {
        size_t count = 0;
        const char *items;

        if (it->produce == NULL) {
            size_t first = it->submitted * it->chunksize;

            count =
                it->n - first < it->chunksize ? it->n - first : it->chunksize;
            items = it->in + first * it->in_size;
            if (first + count >= it->n)
                it->input_done = true;
        } else {
            while (count < it->chunksize) {
                int got = it->produce(it->produce_ctx,
                                      it->item + count * it->in_size);

                if (got <= 0) {
                    it->input_done = true;
                    if (got < 0)
                        it->input_error = got;
                    break;
                }
                count++;
            }
            items = it->item;
        }
        if (count == 0)
            break;
        rc = mproc__pool_submit(
            p, it->job, it->submitted, it->items_in, CHUNK_ITEMS,
            (uint64_t)(uintptr_t)it->fn,
            &(struct iovec){ (void *)items, count * it->in_size }, 1,
            (uint32_t)count, (uint32_t)it->in_size, (uint32_t)it->out_size);
        if (rc < 0) {
            it->input_done = true;
            if (it->input_error == 0)
                it->input_error = rc;
            break;
        }
        it->submitted++;
        it->items_in += count;
    }
    return rc;
}

static int
imap_new(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
         size_t in_size, size_t out_size, const mproc_imap_opts *opts,
         bool ordered, mproc_imap **out)
{
    static const mproc_imap_opts defaults;
    const mproc_imap_opts *o = opts != NULL ? opts : &defaults;
    mproc_imap *it;
    size_t cs;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (p == NULL || fn == NULL || out == NULL || o->chunksize < 0 ||
        (o->produce == NULL && n > 0 && in == NULL && in_size > 0) ||
        in_size > UINT32_MAX || out_size > UINT32_MAX)
        return MPROC_EINVAL;
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        return MPROC_ENOMEM;
    cs = o->chunksize > 0 ? (size_t)o->chunksize : 1;
    if (cs > UINT32_MAX)
        cs = UINT32_MAX;
    it->ordered = ordered;
    it->fn = fn;
    it->in_size = in_size;
    it->out_size = out_size;
    it->chunksize = cs;
    it->produce = o->produce;
    it->produce_ctx = o->produce_ctx;
    it->ready_tail = &it->ready_head;
    it->n = o->produce != NULL ? 0 : n;
    it->window =
        o->produce != NULL ? (size_t)p->nworkers * 8 : (it->n + cs - 1) / cs;
    if (it->window == 0) {
        it->window = 1;
        it->input_done = o->produce == NULL;
    }
    if (o->produce != NULL)
        it->item = malloc(cs * in_size > 0 ? cs * in_size : 1);
    else if (it->n > 0 && in_size > 0)
        it->in = malloc(it->n * in_size);
    it->by_chunk = calloc(it->window, sizeof(*it->by_chunk));
    if ((o->produce != NULL && it->item == NULL) ||
        (o->produce == NULL && it->n > 0 && in_size > 0 && it->in == NULL) ||
        it->by_chunk == NULL) {
        mproc_imap_free(it);
        return MPROC_ENOMEM;
    }
    if (it->in != NULL)
        memcpy(it->in, in, it->n * in_size);
    pthread_mutex_lock(&p->mu);
    rc = job_begin(p, JOB_IMAP, it->window, NULL, &it->job);
    if (rc == 0)
        it->job->imap = it;
    pthread_mutex_unlock(&p->mu);
    if (rc == 0) {
        imap_lock(it);
        rc = imap_top_up(it);
        imap_unlock(it);
        /* A failure at once is the call's; later ones are next()'s. */
        if (rc < 0 || (it->submitted == 0 && it->input_error < 0))
            rc = rc < 0 ? rc : it->input_error;
    }
    if (rc < 0) {
        mproc_imap_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

int
mproc__imap_items(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
                  size_t in_size, size_t out_size, long chunksize,
                  const struct mproc__deadline *dl, mproc_imap **out)
{
    int rc = imap_new(p, fn, in, n, in_size, out_size,
                      &(mproc_imap_opts){ .chunksize = chunksize }, true, out);

    if (rc == 0) {
        (*out)->has_deadline = true;
        (*out)->deadline = *dl;
    }
    return rc;
}

int
mproc__imap_bufs(mproc_pool *p, mproc_task_fn fn, const mproc_buf *in, size_t n,
                 long chunksize, const struct mproc__deadline *dl,
                 mproc_imap **out)
{
    size_t cs = chunksize > 0 ? (size_t)chunksize : 1;
    size_t nchunks = (n + cs - 1) / cs;
    mproc_imap *it;
    int rc;

    *out = NULL;
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        return MPROC_ENOMEM;
    it->ordered = it->bufs = it->has_deadline = true;
    it->deadline = *dl;
    it->chunksize = cs;
    it->ready_tail = &it->ready_head;
    it->window = nchunks ? nchunks : 1;
    it->input_done = true;
    it->by_chunk = calloc(it->window, sizeof(*it->by_chunk));
    if (it->by_chunk == NULL) {
        mproc_imap_free(it);
        return MPROC_ENOMEM;
    }
    pthread_mutex_lock(&p->mu);
    rc = job_begin(p, JOB_IMAP, it->window, NULL, &it->job);
    if (rc == 0)
        it->job->imap = it;
    pthread_mutex_unlock(&p->mu);
    /* Every chunk now, as Executor.map submits every item at once. */
    for (size_t c = 0; rc == 0 && c < nchunks; c++) {
        size_t first = c * cs, count = n - first < cs ? n - first : cs;
        mproc_buf packed;

        rc = pack_records(in + first, count, &packed);
        if (rc == 0) {
            rc = mproc__pool_submit(p, it->job, c, first, CHUNK_BUFS,
                                    (uint64_t)(uintptr_t)fn,
                                    &(struct iovec){ packed.data, packed.len },
                                    1, (uint32_t)count, 0, 0);
            mproc_buf_free(&packed);
        }
        if (rc == 0) {
            it->submitted++;
            it->items_in += count;
        }
    }
    if (rc < 0) {
        mproc_imap_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

int
mproc_pool_imap(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
                size_t in_size, size_t out_size, const mproc_imap_opts *opts,
                mproc_imap **out)
{
    return imap_new(p, fn, in, n, in_size, out_size, opts, true, out);
}

int
mproc_pool_imap_unordered(mproc_pool *p, mproc_item_fn fn, const void *in,
                          size_t n, size_t in_size, size_t out_size,
                          const mproc_imap_opts *opts, mproc_imap **out)
{
    return imap_new(p, fn, in, n, in_size, out_size, opts, false, out);
}

static void
imap_chunk_free(struct imap_chunk *c)
{
    if (c != NULL) {
        free(c->message);
        free(c->out);
        free(c);
    }
}

/* The next finished chunk to hand out, taken off its list (p->mu held). */
static struct imap_chunk *
imap_take(mproc_imap *it)
{
    struct imap_chunk *c;

    if (it->ordered) {
        c = it->by_chunk[it->handed % it->window];
        if (c == NULL || c->chunk != it->handed)
            return NULL;
        it->by_chunk[it->handed % it->window] = NULL;
    } else {
        c = it->ready_head;
        if (c == NULL)
            return NULL;
        it->ready_head = c->next;
        if (it->ready_head == NULL)
            it->ready_tail = &it->ready_head;
    }
    it->handed++;
    return c;
}

static bool
imap_ready(mproc_future *j, void *arg)
{
    mproc_imap *it = arg;

    (void)j;
    if (it->handed == it->submitted)
        return true;
    if (it->ordered) {
        struct imap_chunk *c = it->by_chunk[it->handed % it->window];

        return c != NULL && c->chunk == it->handed;
    }
    return it->ready_head != NULL;
}

/* Hand out the next result of the current chunk: true when there was
 * one (typed: out_size bytes at out; bufs: a copy in *buf, or the
 * chunk's failure in *rc). */
static inline bool
imap_give(mproc_imap *it, struct imap_chunk *c, void *out, mproc_buf *buf,
          size_t *index, int *rc)
{
    uint64_t l;

    if (c == NULL || c->taken >= c->count)
        return false;
    if (index != NULL)
        *index = c->first + c->taken;
    c->taken++;
    if (!it->bufs) {
        const char *src = c->out + (c->taken - 1) * it->out_size;

        if (it->out_size == sizeof(uint64_t)) /* a copy without a call */
            memcpy(out, src, sizeof(uint64_t));
        else if (it->out_size > 0)
            memcpy(out, src, it->out_size);
        return true;
    }
    if (c->len - c->at < 8) {
        *rc = MPROC_EPROTOCOL;
        return true;
    }
    memcpy(&l, c->out + c->at, 8);
    if (l > c->len - c->at - 8) {
        *rc = MPROC_EPROTOCOL;
        return true;
    }
    buf->data = l > 0 ? malloc(l) : NULL;
    if (l > 0 && buf->data == NULL) {
        c->taken--; /* given again at the next call */
        *rc = MPROC_ENOMEM;
        return true;
    }
    if (l > 0)
        memcpy(buf->data, c->out + c->at + 8, l);
    buf->len = l;
    c->at += 8 + ((l + 7) & ~(uint64_t)7);
    if (c->at > c->len)
        c->at = c->len;
    return true;
}

static int
imap_next(mproc_imap *it, void *out, mproc_buf *buf, size_t *index,
          const struct mproc__deadline *dl)
{
    mproc_pool *p = it->job->pool;
    int rc = 0;

    imap_lock(it);
    for (;;) {
        struct imap_chunk *c = it->current;

        if (imap_give(it, c, out, buf, index, &rc))
            break;
        imap_chunk_free(c);
        it->current = NULL;
        pthread_mutex_lock(&p->mu);
        mproc__pool_collect(p);
        c = imap_take(it);
        pthread_mutex_unlock(&p->mu);
        if (c != NULL) {
            (void)imap_top_up(it);
            if (c->status == 0) {
                it->current = c;
                continue;
            }
            /* A failed chunk: its error, once, at its failing item. */
            free(it->last_message);
            it->last_message = c->message;
            c->message = NULL;
            it->last_code = c->status == MPROC_ETASK ? c->task_code : c->status;
            if (index != NULL)
                *index = c->first + c->item;
            rc = c->status;
            imap_chunk_free(c);
            break;
        }
        if (it->handed == it->submitted) {
            (void)imap_top_up(it);
            if (it->handed < it->submitted)
                continue;
            rc = it->input_error < 0 ? it->input_error : MPROC_EEOF;
            it->input_error = 0;
            break;
        }
        rc = mproc__pool_wait(p, it->job, imap_ready, it, dl);
        if (rc < 0)
            break;
    }
    imap_unlock(it);
    return rc;
}

/* The call's timeout, cut to the iteration's own (executor.map). */
static int
next_deadline(const mproc_imap *it, double timeout, struct mproc__deadline *dl)
{
    if (mproc__deadline_init(dl, timeout) < 0)
        return MPROC_EINVAL;
    if (it->has_deadline && (dl->forever || (!it->deadline.forever &&
                                             it->deadline.at_ns < dl->at_ns)))
        *dl = it->deadline;
    return 0;
}

int
mproc_imap_next(mproc_imap *it, void *out, size_t *index, double timeout)
{
    struct mproc__deadline dl;

    if (index != NULL)
        *index = 0;
    if (it == NULL || it->bufs || (out == NULL && it->out_size > 0) ||
        next_deadline(it, timeout, &dl) < 0)
        return MPROC_EINVAL;
    return imap_next(it, out, NULL, index, &dl);
}

int
mproc_imap_next_buf(mproc_imap *it, mproc_buf *out, size_t *index,
                    double timeout)
{
    struct mproc__deadline dl;

    if (out != NULL)
        *out = (mproc_buf){ NULL, 0 };
    if (index != NULL)
        *index = 0;
    if (it == NULL || !it->bufs || out == NULL ||
        next_deadline(it, timeout, &dl) < 0)
        return MPROC_EINVAL;
    return imap_next(it, NULL, out, index, &dl);
}

int
mproc_imap_error(mproc_imap *it, int *code, const char **message)
{
    if (code != NULL)
        *code = 0;
    if (message != NULL)
        *message = NULL;
    if (it == NULL)
        return MPROC_EINVAL;
    imap_lock(it);
    if (code != NULL)
        *code = it->last_code;
    if (message != NULL)
        *message = it->last_message;
    imap_unlock(it);
    return 0;
}

void
mproc_imap_free(mproc_imap *it)
{
    if (it == NULL)
        return;
    if (it->job != NULL) {
        mproc_pool *p = it->job->pool;

        pthread_mutex_lock(&p->mu);
        it->job->imap = NULL;
        mproc__pool_cancel_pending(p, it->job);
        pthread_mutex_unlock(&p->mu);
        mproc__pool_job_unref_unlocked(it->job);
    }
    for (size_t i = 0; it->by_chunk != NULL && i < it->window; i++)
        imap_chunk_free(it->by_chunk[i]);
    while (it->ready_head != NULL) {
        struct imap_chunk *c = it->ready_head;

        it->ready_head = c->next;
        imap_chunk_free(c);
    }
    imap_chunk_free(it->current);
    free(it->by_chunk);
    free(it->in);
    free(it->item);
    free(it->last_message);
    free(it);
}
