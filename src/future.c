/*
 * future.c - the public verbs of a future (include/mproc/future.h) over
 * the engine's jobs (pool/pool.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
