/*
 * future.c - the public verbs of a future (include/mproc/future.h) over
 * the engine's jobs (pool/pool.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc/future.h"
#include "pool/pool.h"

/* Wait until done: 0, MPROC_ETIMEDOUT or MPROC_EINVAL. */
static int
wait_done(mproc_future *f, double timeout)
{
    struct mproc__deadline dl;

    if (f == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    return mproc__pool_wait(f->pool, f, mproc__pool_job_done, NULL, &dl);
}

int
mproc_future_get(mproc_future *f, mproc_buf *out, double timeout)
{
    int rc;

    if (out != NULL)
        *out = (mproc_buf){ NULL, 0 };
    rc = wait_done(f, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&f->pool->mu);
    rc = f->status;
    if (rc == 0 && out != NULL && f->result.len > 0) {
        out->data = malloc(f->result.len);
        if (out->data == NULL) {
            rc = MPROC_ENOMEM;
        } else {
            memcpy(out->data, f->result.data, f->result.len);
            out->len = f->result.len;
        }
    }
    pthread_mutex_unlock(&f->pool->mu);
    return rc;
}

int
mproc_future_get_obj(mproc_future *f, mproc_obj **out, double timeout)
{
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL)
        return MPROC_EINVAL;
    rc = wait_done(f, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&f->pool->mu);
    rc = f->status;
    if (rc == 0 && (!f->objs || f->kind != JOB_APPLY))
        rc = MPROC_EPROTOCOL;
    if (rc == 0 &&
        mproc_obj_loads(out, f->result.data, f->result.len, NULL) < 0)
        rc = MPROC_EPROTOCOL;
    pthread_mutex_unlock(&f->pool->mu);
    return rc;
}

int
mproc_future_wait(mproc_future *f, double timeout)
{
    return wait_done(f, timeout);
}

bool
mproc_future_ready(mproc_future *f)
{
    return f != NULL && wait_done(f, 0) == 0;
}

int
mproc_future_successful(mproc_future *f)
{
    int rc;

    if (f == NULL)
        return MPROC_EINVAL;
    if (wait_done(f, 0) < 0)
        return MPROC_ESTATE;
    pthread_mutex_lock(&f->pool->mu);
    rc = f->status == 0;
    pthread_mutex_unlock(&f->pool->mu);
    return rc;
}

int
mproc_future_exception(mproc_future *f, int *code, const char **message,
                       double timeout)
{
    int rc;

    if (code != NULL)
        *code = 0;
    if (message != NULL)
        *message = NULL;
    rc = wait_done(f, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&f->pool->mu);
    if (code != NULL)
        *code = f->status == MPROC_ETASK ? f->task_code : f->status;
    if (message != NULL)
        *message = f->message;
    rc = f->cancelled ? MPROC_ECANCELLED : 0;
    pthread_mutex_unlock(&f->pool->mu);
    return rc;
}

int
mproc_future_signal(mproc_future *f)
{
    int sig;

    if (f == NULL)
        return 0;
    pthread_mutex_lock(&f->pool->mu);
    sig = f->done && f->status == MPROC_ECRASHED ? f->signal : 0;
    pthread_mutex_unlock(&f->pool->mu);
    return sig;
}

bool
mproc_future_cancel(mproc_future *f)
{
    bool ok;

    if (f == NULL)
        return false;
    pthread_mutex_lock(&f->pool->mu);
    if (f->kind == JOB_APPLY && !f->complete)
        mproc__pool_cancel_pending(f->pool, f);
    ok = f->cancelled;
    pthread_mutex_unlock(&f->pool->mu);
    return ok;
}

bool
mproc_future_cancelled(mproc_future *f)
{
    bool c;

    if (f == NULL)
        return false;
    pthread_mutex_lock(&f->pool->mu);
    c = f->cancelled;
    pthread_mutex_unlock(&f->pool->mu);
    return c;
}

bool
mproc_future_running(mproc_future *f)
{
    bool r;

    if (f == NULL)
        return false;
    pthread_mutex_lock(&f->pool->mu);
    mproc__pool_collect(f->pool);
    r = mproc__pool_job_running(f->pool, f);
    pthread_mutex_unlock(&f->pool->mu);
    return r;
}

int
mproc_future_add_done_callback(mproc_future *f, mproc_future_cb cb, void *ctx)
{
    mproc_pool *p;

    if (f == NULL || cb == NULL)
        return MPROC_EINVAL;
    p = f->pool;
    pthread_mutex_lock(&p->mu);
    if (f->done) {
        pthread_mutex_unlock(&p->mu);
        cb(f, ctx);
        return 0;
    }
    if (f->ncallbacks == f->callbacks_cap) {
        size_t cap = f->callbacks_cap ? f->callbacks_cap * 2 : 4;
        struct callback *nc = realloc(f->callbacks, cap * sizeof(*nc));

        if (nc == NULL) {
            pthread_mutex_unlock(&p->mu);
            return MPROC_ENOMEM;
        }
        f->callbacks = nc;
        f->callbacks_cap = cap;
    }
    f->callbacks[f->ncallbacks++] = (struct callback){ cb, ctx };
    /* Complete, not yet done: its event is queued and runs this one too.
     * Not complete: whoever completes it queues the event, and the workers
     * must wake the result thread to collect it. */
    if (!f->complete)
        mproc__pool_mark_async(p, f);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void
mproc_future_free(mproc_future *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->pool->mu);
    /* Results that come later must not reach the caller's memory. */
    f->out = NULL;
    f->bufs_out = NULL;
    pthread_mutex_unlock(&f->pool->mu);
    mproc__pool_job_unref_unlocked(f);
}

int
mproc_future_fd(mproc_future *f)
{
    static const uint64_t one = 1;
    int fd;

    if (f == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&f->pool->mu);
    if (f->efd < 0) {
        f->efd = mproc__eventfd();
        if (f->efd >= 0 && f->done) {
            if (write(f->efd, &one, sizeof(one)) < 0) {
                /* a new counter takes one write */
            }
        } else if (f->efd >= 0) {
            /* The result thread must see it done: nobody may wait. */
            mproc__pool_mark_async(f->pool, f);
        }
    }
    fd = f->efd;
    pthread_mutex_unlock(&f->pool->mu);
    return fd;
}

/* ---- waiting for many -------------------------------------------------------
 */

static int
waiter_init(struct mproc__waiter *w, size_t n)
{
    memset(w, 0, sizeof(*w));
    w->order = malloc((n ? n : 1) * sizeof(size_t));
    if (w->order == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    return 0;
}

/* Sleep until w's word moves from seen (or the deadline): marked first,
 * since a completion wakes only a marked word (mproc__pool_notify()). */
static void
sleep_on_waiter(struct mproc__waiter *w, uint32_t seen,
                const struct mproc__deadline *dl)
{
    if (!(seen & 1)) {
        if (!__atomic_compare_exchange_n(&w->word, &seen, seen | 1, false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return; /* it moved: look again */
        seen |= 1;
    }
    (void)mproc__futex_wait((_Atomic uint32_t *)&w->word, seen,
                            mproc__deadline_ns(dl));
}

static void
waiter_destroy(struct mproc__waiter *w)
{
    pthread_mutex_destroy(&w->mu);
    free(w->order);
}

/* Watch fs[0..n) (dup[i]: a repeat of an earlier one, skipped): the done
 * ones go to w's order at once, in the order given. */
static int
watch_all(struct mproc__waiter *w, mproc_future *const *fs, size_t n,
          const bool *dup)
{
    for (size_t i = 0; i < n; i++) {
        int rc;

        if (dup[i])
            continue;
        rc = mproc__pool_watch(fs[i], w, i);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            pthread_mutex_lock(&w->mu);
            w->order[w->nready++] = i;
            pthread_mutex_unlock(&w->mu);
        }
    }
    return 0;
}

static void
unwatch_all(struct mproc__waiter *w, mproc_future *const *fs, size_t n,
            const bool *dup)
{
    for (size_t i = 0; i < n; i++)
        if (!dup[i])
            mproc__pool_unwatch(fs[i], w);
}

struct ptr_index {
    const void *ptr;
    size_t index;
};

static int
by_ptr(const void *a, const void *b)
{
    const struct ptr_index *x = a, *y = b;

    if (x->ptr != y->ptr)
        return (uintptr_t)x->ptr < (uintptr_t)y->ptr ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* dup[i]: fs[i] is given again after its first place. NULL futures are
 * refused. */
static int
find_repeats(mproc_future *const *fs, size_t n, bool *dup, size_t *distinct)
{
    struct ptr_index *v = malloc((n ? n : 1) * sizeof(*v));

    if (v == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (fs[i] == NULL) {
            free(v);
            return MPROC_EINVAL;
        }
        v[i] = (struct ptr_index){ fs[i], i };
        dup[i] = false;
    }
    qsort(v, n, sizeof(*v), by_ptr);
    *distinct = n;
    for (size_t i = 1; i < n; i++)
        if (v[i].ptr == v[i - 1].ptr) {
            dup[v[i].index] = true;
            (*distinct)--;
        }
    free(v);
    return 0;
}

/* Whether a done future failed (cancelled ones do not count). */
static bool
failed(mproc_future *f)
{
    bool x;

    pthread_mutex_lock(&f->pool->mu);
    x = f->status != 0 && !f->cancelled;
    pthread_mutex_unlock(&f->pool->mu);
    return x;
}

int
mproc_wait_futures(mproc_future *const *fs, size_t n,
                   enum mproc_return_when when, double timeout, bool *done,
                   size_t *ndone)
{
    struct mproc__deadline dl;
    struct mproc__waiter w;
    size_t distinct = 0, seen = 0;
    bool *dup, stop = false;
    int rc;

    if (ndone != NULL)
        *ndone = 0;
    if ((fs == NULL && n > 0) || (unsigned)when > MPROC_FIRST_EXCEPTION ||
        mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    dup = calloc(n ? n : 1, sizeof(bool));
    if (dup == NULL)
        return MPROC_ENOMEM;
    rc = find_repeats(fs, n, dup, &distinct);
    if (rc == 0)
        rc = waiter_init(&w, n);
    if (rc < 0) {
        free(dup);
        return rc;
    }
    rc = watch_all(&w, fs, n, dup);
    while (rc == 0) {
        uint32_t word = __atomic_load_n(&w.word, __ATOMIC_SEQ_CST);
        size_t nready;

        pthread_mutex_lock(&w.mu);
        nready = w.nready;
        pthread_mutex_unlock(&w.mu);
        for (; seen < nready && !stop; seen++)
            stop = when == MPROC_FIRST_COMPLETED ||
                   (when == MPROC_FIRST_EXCEPTION && failed(fs[w.order[seen]]));
        if (stop || nready == distinct || mproc__deadline_passed(&dl))
            break;
        sleep_on_waiter(&w, word, &dl);
    }
    unwatch_all(&w, fs, n, dup);
    if (rc == 0) {
        /* What is done now, repeats included. */
        for (size_t i = 0; i < n; i++) {
            bool d;

            pthread_mutex_lock(&fs[i]->pool->mu);
            d = fs[i]->done;
            pthread_mutex_unlock(&fs[i]->pool->mu);
            if (done != NULL)
                done[i] = d;
            if (d && !dup[i] && ndone != NULL)
                (*ndone)++;
        }
    }
    waiter_destroy(&w);
    free(dup);
    return rc;
}

struct mproc_as_completed_iter {
    struct mproc__waiter w;
    mproc_future **fs;
    bool *dup;
    size_t n, distinct, given;
    struct mproc__deadline dl;
};

int
mproc_as_completed(mproc_future *const *fs, size_t n, double timeout,
                   mproc_as_completed_iter **out)
{
    mproc_as_completed_iter *it;
    int rc;

    if (out != NULL)
        *out = NULL;
    if ((fs == NULL && n > 0) || out == NULL)
        return MPROC_EINVAL;
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        return MPROC_ENOMEM;
    if (mproc__deadline_init(&it->dl, timeout) < 0) {
        free(it);
        return MPROC_EINVAL;
    }
    it->n = n;
    it->fs = malloc((n ? n : 1) * sizeof(*it->fs));
    it->dup = calloc(n ? n : 1, sizeof(bool));
    rc = it->fs != NULL && it->dup != NULL ? 0 : MPROC_ENOMEM;
    if (rc == 0) {
        if (n > 0)
            memcpy(it->fs, fs, n * sizeof(*fs));
        rc = find_repeats(it->fs, n, it->dup, &it->distinct);
    }
    if (rc == 0)
        rc = waiter_init(&it->w, n);
    if (rc < 0) {
        free(it->fs);
        free(it->dup);
        free(it);
        return rc;
    }
    rc = watch_all(&it->w, it->fs, n, it->dup);
    if (rc < 0) {
        mproc_as_completed_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

int
mproc_as_completed_next(mproc_as_completed_iter *it, mproc_future **f)
{
    if (f != NULL)
        *f = NULL;
    if (it == NULL || f == NULL)
        return MPROC_EINVAL;
    for (;;) {
        uint32_t word = __atomic_load_n(&it->w.word, __ATOMIC_SEQ_CST);
        bool have;

        if (it->given == it->distinct)
            return MPROC_EEOF;
        pthread_mutex_lock(&it->w.mu);
        have = it->given < it->w.nready;
        if (have)
            *f = it->fs[it->w.order[it->given++]];
        pthread_mutex_unlock(&it->w.mu);
        if (have)
            return 0;
        if (mproc__deadline_passed(&it->dl))
            return MPROC_ETIMEDOUT;
        sleep_on_waiter(&it->w, word, &it->dl);
    }
}

void
mproc_as_completed_free(mproc_as_completed_iter *it)
{
    if (it == NULL)
        return;
    unwatch_all(&it->w, it->fs, it->n, it->dup);
    waiter_destroy(&it->w);
    free(it->fs);
    free(it->dup);
    free(it);
}

/* ---- executors --------------------------------------------------------------
 */

struct mproc_executor {
    mproc_pool *pool;
};

int
mproc_executor_new(mproc_executor **out, const mproc_executor_opts *opts)
{
    static const mproc_executor_opts defaults;
    const mproc_executor_opts *o = opts != NULL ? opts : &defaults;
    mproc_pool_opts po = { .processes = o->max_workers,
                           .initializer = o->initializer,
                           .initargs = o->initargs,
                           .initargs_len = o->initargs_len,
                           .maxtasksperchild = o->max_tasks_per_child,
                           .start_method = o->start_method,
                           .threads = o->threads,
                           .capacity = o->capacity };
    mproc_executor *e;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || o->max_workers < 0)
        return MPROC_EINVAL;
    /* Python's ThreadPoolExecutor: min(32, CPUs + 4). */
    if (o->threads && po.processes == 0)
        po.processes = mproc_cpu_count() + 4 < 32 ? mproc_cpu_count() + 4 : 32;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return MPROC_ENOMEM;
    rc = mproc_pool_new(&e->pool, &po);
    if (rc < 0) {
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int
mproc_executor_submit(mproc_executor *e, mproc_task_fn fn, const void *arg,
                      size_t len, mproc_future **out)
{
    if (out != NULL)
        *out = NULL;
    if (e == NULL)
        return MPROC_EINVAL;
    return mproc_pool_apply_async(e->pool, fn, arg, len, NULL, out);
}

int
mproc_executor_submit_obj(mproc_executor *e, mproc_obj_task_fn fn,
                          const mproc_obj *arg, mproc_future **out)
{
    if (out != NULL)
        *out = NULL;
    if (e == NULL)
        return MPROC_EINVAL;
    return mproc_pool_apply_async_obj(e->pool, fn, arg, NULL, out);
}

int
mproc_executor_map(mproc_executor *e, mproc_item_fn fn, const void *in,
                   size_t n, size_t in_size, size_t out_size, long chunksize,
                   double timeout, mproc_imap **out)
{
    struct mproc__deadline dl;

    if (out != NULL)
        *out = NULL;
    if (e == NULL || fn == NULL || out == NULL || chunksize < 0 ||
        (n > 0 && in == NULL && in_size > 0) ||
        mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    return mproc__imap_items(e->pool, fn, in, n, in_size, out_size, chunksize,
                             &dl, out);
}

int
mproc_executor_map_bufs(mproc_executor *e, mproc_task_fn fn,
                        const mproc_buf *in, size_t n, long chunksize,
                        double timeout, mproc_imap **out)
{
    struct mproc__deadline dl;

    if (out != NULL)
        *out = NULL;
    if (e == NULL || fn == NULL || out == NULL || chunksize < 0 ||
        (n > 0 && in == NULL) || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (in[i].data == NULL && in[i].len > 0)
            return MPROC_EINVAL;
    return mproc__imap_bufs(e->pool, fn, in, n, chunksize, &dl, out);
}

int
mproc_executor_shutdown(mproc_executor *e, bool wait, bool cancel_futures)
{
    mproc_pool *p;
    bool on_result_thread;

    if (e == NULL)
        return MPROC_EINVAL;
    p = e->pool;
    pthread_mutex_lock(&p->mu);
    on_result_thread =
        p->result_started && pthread_equal(pthread_self(), p->result_thread);
    if (wait && on_result_thread) {
        pthread_mutex_unlock(&p->mu);
        return MPROC_ESTATE;
    }
    pthread_mutex_unlock(&p->mu);
    /* Closed first: nothing submitted after escapes the cancelling. */
    (void)mproc_pool_close(p); /* MPROC_ESTATE the second time */
    if (cancel_futures) {
        pthread_mutex_lock(&p->mu);
        mproc__pool_cancel_all(p, "cancelled by the executor's shutdown");
        pthread_mutex_unlock(&p->mu);
    }
    return wait ? mproc_pool_join(p, MPROC_FOREVER) : 0;
}

void
mproc_executor_free(mproc_executor *e)
{
    if (e == NULL)
        return;
    (void)mproc_executor_shutdown(e, true, false);
    mproc_pool_free(e->pool);
    free(e);
}
