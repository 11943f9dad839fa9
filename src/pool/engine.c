/*
 * pool/engine.c - the task engine's parent side: slots, jobs, submitting
 * chunks, collecting results, completing jobs, waiting (pool/pool.h).
 *
 * Everything here runs under the pool's mutex unless its comment says
 * otherwise.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool/pool.h"
#include "queue.h"
#include "shm/shm.h"

/* ---- notify words ---------------------------------------------------------
 */

/* Count one event on a notify word and wake its sleepers, if any marked it
 * (any thread or process may call this). */
void
mproc__pool_notify(uint32_t *word)
{
    uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED), nw;

    do {
        nw = (old + 2) & ~1u;
    } while (!__atomic_compare_exchange_n(word, &old, nw, true,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    if (old & 1)
        mproc__futex_wake((_Atomic uint32_t *)word, INT_MAX);
}

/* ---- slots ----------------------------------------------------------------
 */

int
mproc__pool_slot_alloc(mproc_pool *p, uint32_t *slot)
{
    if (p->nfree > 0) {
        *slot = p->free_slots[--p->nfree];
    } else if (p->slots_used < MPROC__POOL_SLOTS) {
        *slot = p->slots_used++;
    } else {
        return MPROC_ENOMEM;
    }
    p->tab[*slot].gen = (p->tab[*slot].gen + 1) & 0xffffu;
    return 0;
}

void
mproc__pool_slot_release(mproc_pool *p, uint32_t slot)
{
    struct mproc__pool_slot *s = &p->sh->slots[slot];

    p->tab[slot].live = false;
    p->tab[slot].job = NULL;
    __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
    p->free_slots[p->nfree++] = slot;
}

/* ---- the area ---------------------------------------------------------- */

/* First fit, 64-byte granules, from the sorted free extents. */
int
mproc__pool_area_alloc(mproc_pool *p, uint64_t len, uint64_t *off)
{
    len = (len + 63) & ~(uint64_t)63;
    if (len == 0)
        len = 64;
    for (size_t i = 0; i < p->nextents; i++) {
        struct extent *e = &p->free_extents[i];

        if (e->len < len)
            continue;
        *off = e->off;
        e->off += len;
        e->len -= len;
        if (e->len == 0) {
            memmove(e, e + 1, (p->nextents - i - 1) * sizeof(*e));
            p->nextents--;
        }
        return 0;
    }
    return MPROC_ENOMEM;
}

/* Give an extent back, merging it with its neighbours. */
void
mproc__pool_area_free(mproc_pool *p, uint64_t off, uint64_t len)
{
    struct extent *x;
    size_t i = 0;

    len = (len + 63) & ~(uint64_t)63;
    if (len == 0)
        len = 64;
    while (i < p->nextents && p->free_extents[i].off < off)
        i++;
    x = p->free_extents;
    if (i > 0 && x[i - 1].off + x[i - 1].len == off) {
        x[i - 1].len += len;
        if (i < p->nextents && off + len == x[i].off) {
            x[i - 1].len += x[i].len;
            memmove(&x[i], &x[i + 1], (p->nextents - i - 1) * sizeof(*x));
            p->nextents--;
        }
        return;
    }
    if (i < p->nextents && off + len == x[i].off) {
        x[i].off = off;
        x[i].len += len;
        return;
    }
    if (p->nextents == p->extents_cap) {
        size_t cap = p->extents_cap ? p->extents_cap * 2 : 16;

        x = realloc(p->free_extents, cap * sizeof(*x));
        if (x == NULL)
            return; /* the extent is lost to this pool: no harm done */
        p->free_extents = x;
        p->extents_cap = cap;
    }
    memmove(&x[i + 1], &x[i], (p->nextents - i) * sizeof(*x));
    x[i] = (struct extent){ off, len };
    p->nextents++;
}

/* ---- jobs -----------------------------------------------------------------
 */

int
mproc__pool_job_new(mproc_pool *p, enum job_kind kind, size_t nchunks,
                    mproc_future **out)
{
    mproc_future *j = calloc(1, sizeof(*j));
    int rc;

    *out = NULL;
    if (j == NULL)
        return MPROC_ENOMEM;
    j->chunk_slots = calloc(nchunks ? nchunks : 1, sizeof(uint32_t));
    j->chunk_gens = calloc(nchunks ? nchunks : 1, sizeof(uint32_t));
    if (j->chunk_slots == NULL || j->chunk_gens == NULL) {
        free(j->chunk_slots);
        free(j->chunk_gens);
        free(j);
        return MPROC_ENOMEM;
    }
    rc = mproc__pool_slot_alloc(p, &j->notify);
    if (rc < 0) {
        free(j->chunk_slots);
        free(j->chunk_gens);
        free(j);
        return rc;
    }
    j->pool = p;
    j->kind = kind;
    j->area_out = AREA_NONE;
    j->efd = -1;
    j->refs = 1;
    j->nchunks = nchunks;
    p->refs++;
    *out = j;
    return 0;
}

void
mproc__pool_job_unref(mproc_future *j)
{
    mproc_pool *p = j->pool;

    if (--j->refs > 0)
        return;
    mproc__pool_slot_release(p, j->notify);
    mproc__close(&j->efd);
    free(j->chunk_slots);
    free(j->chunk_gens);
    free(j->callbacks);
    free(j->message);
    mproc_buf_free(&j->result);
    free(j);
    (void)mproc__pool_unref(p);
}

void
mproc__pool_job_unref_unlocked(mproc_future *j)
{
    mproc_pool *p = j->pool;
    bool last;

    pthread_mutex_lock(&p->mu);
    mproc__pool_job_unref(j);
    last = p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        /* The pool was freed by its owner and this was its last job. */
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->gone);
        free(p);
    }
}

/* Drop a reference on the pool (mu held); at the last, free what it holds
 * and return true: the caller frees the pool itself once it unlocked. */
bool
mproc__pool_unref(mproc_pool *p)
{
    if (--p->refs > 0)
        return false;
    mproc_queue_free(p->tasks);
    mproc_queue_free(p->results);
    mproc__arena_unref(p->area);
    p->area = NULL;
    free(p->free_extents);
    p->free_extents = NULL;
    p->tasks = p->results = NULL;
    mproc__arena_unref(p->sh);
    p->sh = NULL;
    free(p->tab);
    free(p->free_slots);
    free(p->rbuf);
    free(p->workers);
    free(p->poll_room);
    mproc__close(&p->cmd_fd);
    mproc_buf_free(&p->initargs);
    for (size_t i = 0; i < p->nlocs; i++)
        mproc_buf_free(&p->locs[i].loc);
    p->tab = NULL;
    p->free_slots = NULL;
    p->rbuf = NULL;
    p->workers = NULL;
    p->poll_room = NULL;
    return true;
}

/* The job is done: wake its waiters, those watching it, its descriptor. */
void
mproc__pool_set_done(mproc_pool *p, mproc_future *j)
{
    static const uint64_t one = 1;

    if (j->done)
        return;
    j->done = true;
    mproc__pool_notify(&p->sh->slots[j->notify].notify);
    while (j->waiters != NULL) {
        struct waiter_link *l = j->waiters;

        j->waiters = l->next;
        pthread_mutex_lock(&l->w->mu);
        l->w->order[l->w->nready++] = l->index;
        pthread_mutex_unlock(&l->w->mu);
        mproc__pool_notify(&l->w->word);
        free(l);
    }
    if (j->efd >= 0 && write(j->efd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow with one write */
    }
}

/* Tell w when j is done, as index: 1 when it is done already (nothing
 * is recorded), 0, or MPROC_ENOMEM. */
int
mproc__pool_watch(mproc_future *j, struct mproc__waiter *w, size_t index)
{
    mproc_pool *p = j->pool;
    struct waiter_link *l;
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    if (j->done) {
        rc = 1;
    } else if ((l = malloc(sizeof(*l))) == NULL) {
        rc = MPROC_ENOMEM;
    } else {
        *l = (struct waiter_link){ j->waiters, w, index };
        j->waiters = l;
        /* The result thread must collect it: nobody else may. */
        mproc__pool_mark_async(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void
mproc__pool_unwatch(mproc_future *j, struct mproc__waiter *w)
{
    mproc_pool *p = j->pool;

    pthread_mutex_lock(&p->mu);
    for (struct waiter_link **at = &j->waiters; *at != NULL;) {
        struct waiter_link *l = *at;

        if (l->w == w) {
            *at = l->next;
            free(l);
        } else {
            at = &l->next;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

bool
mproc__pool_job_done(mproc_future *j, void *arg)
{
    (void)arg;
    return j->done;
}

/* Every chunk finished: the job is done now, its callbacks run next on
 * the result thread (done first, as concurrent.futures does: a callback
 * reads its future with a zero timeout). A map with a progress callback is
 * done only after its last progress call, queued before. */
static void
job_complete(mproc_pool *p, mproc_future *j)
{
    j->complete = true;
    /* No worker writes there any more: every chunk is over. */
    if (j->area_out != AREA_NONE) {
        mproc__pool_area_free(p, j->area_off, j->area_len);
        j->area_out = AREA_NONE;
    }
    if (j->progress == NULL)
        mproc__pool_set_done(p, j);
    if (j->ncallbacks > 0 || j->on_success != NULL || j->on_failure != NULL ||
        j->progress != NULL)
        mproc__pool_queue_event(p, j, false);
}

/* Record the first failure of a job; cancel its chunks not started. */
static void
job_fail(mproc_pool *p, mproc_future *j, int status, int task_code, int signal,
         const char *message)
{
    if (j->status != 0)
        return;
    j->status = status;
    j->task_code = task_code;
    j->signal = signal;
    free(j->message);
    j->message = message != NULL ? strdup(message) : NULL;
    if (j->kind != JOB_IMAP)
        mproc__pool_cancel_pending(p, j);
}

/* A chunk of j is over (its slot released already). */
static void
chunk_over(mproc_pool *p, mproc_future *j, size_t items)
{
    p->live_chunks--;
    j->chunks_done++;
    j->items_done += items;
    if (j->progress != NULL && items > 0)
        mproc__pool_queue_event(p, j, true);
    if (j->kind == JOB_IMAP) {
        mproc__pool_notify(&p->sh->slots[j->notify].notify);
    } else if (j->chunks_done == j->nchunks && !j->complete) {
        job_complete(p, j);
    }
    mproc__pool_job_unref(j);
}

/* ---- imap results
 * ------------------------------------------------------------ */

/* Keep a finished chunk for mproc_imap_next(): the chunk kept, or NULL
 * when the iterator is gone (the result is dropped) or memory ran out (the
 * iterator then ends early with MPROC_ENOMEM). */
static struct imap_chunk *
imap_store(mproc_future *j, const struct mproc__pool_task *t, int status,
           const struct mproc__result_msg *r, const char *message,
           const char *data, size_t len)
{
    struct mproc_imap *it = j->imap;
    struct imap_chunk *c;

    if (it == NULL)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        it->input_error = MPROC_ENOMEM;
        return NULL;
    }
    c->chunk = t->chunk;
    c->first = t->first;
    c->count = t->count;
    c->status = status;
    if (r != NULL) {
        c->task_code = r->task_code;
        c->item = r->item;
    }
    if (message != NULL && (c->message = strdup(message)) == NULL)
        c->status = MPROC_ENOMEM;
    /* Typed: count x out_size bytes; bufs: records, checked as read. */
    c->len = it->bufs ? len : t->count * it->out_size;
    if (c->status == 0 && !it->bufs && len != c->len)
        c->status = MPROC_EPROTOCOL;
    if (c->status == 0 && c->len > 0) {
        c->out = malloc(c->len);
        if (c->out == NULL)
            c->status = MPROC_ENOMEM;
        else
            memcpy(c->out, data, c->len);
    }
    if (it->ordered) {
        it->by_chunk[t->chunk % it->window] = c;
    } else {
        *it->ready_tail = c;
        it->ready_tail = &c->next;
    }
    return c;
}

/* ---- delivering results
 * ------------------------------------------------------ */

/* Walk n (u64 length, bytes, padding) records. false when malformed. */
static bool
next_record(const char **at, const char *end, const char **data, uint64_t *len)
{
    uint64_t l;

    if ((size_t)(end - *at) < sizeof(l))
        return false;
    memcpy(&l, *at, sizeof(l));
    if (l > (uint64_t)(end - *at) - sizeof(l))
        return false;
    *data = *at + sizeof(l);
    *len = l;
    *at += sizeof(l) + ((l + 7) & ~(uint64_t)7);
    if (*at > end)
        *at = end;
    return true;
}

/* Store the results of a successful chunk; a failure code otherwise. */
static int
store_results(mproc_future *j, struct mproc__pool_task *t, const char *data,
              uint64_t len)
{
    const char *at = data, *end = data + len, *item;
    uint64_t ilen;

    switch (j->kind) {
    case JOB_MAP:
        if (j->area_out != AREA_NONE) { /* the worker wrote in the area */
            data = j->pool->area + j->area_out + t->first * j->out_size;
            len = t->count * j->out_size;
        } else if (len != t->count * j->out_size) {
            return MPROC_EPROTOCOL;
        }
        if (len > 0 && j->out != NULL)
            memcpy(j->out + t->first * j->out_size, data, len);
        return 0;
    case JOB_APPLY:
        if (!next_record(&at, end, &item, &ilen))
            return MPROC_EPROTOCOL;
        if (ilen > 0) {
            j->result.data = malloc(ilen);
            if (j->result.data == NULL)
                return MPROC_ENOMEM;
            memcpy(j->result.data, item, ilen);
        }
        j->result.len = ilen;
        return 0;
    case JOB_MAP_BUFS:
        for (size_t i = 0; i < t->count && j->bufs_out != NULL; i++) {
            mproc_buf *b = &j->bufs_out[t->first + i];

            if (!next_record(&at, end, &item, &ilen))
                return MPROC_EPROTOCOL;
            b->data = ilen > 0 ? malloc(ilen) : NULL;
            if (ilen > 0 && b->data == NULL)
                return MPROC_ENOMEM;
            if (ilen > 0)
                memcpy(b->data, item, ilen);
            b->len = ilen;
        }
        return 0;
    case JOB_IMAP:
        break;
    }
    return 0;
}

/* One result message (rbuf, len bytes). */
static void
deliver(mproc_pool *p, const char *msg, size_t len)
{
    struct mproc__result_msg r;
    struct mproc__pool_task *t;
    mproc_future *j;
    const char *message = NULL, *data;
    char *msgcopy = NULL;
    size_t items;

    if (len < sizeof(r))
        return;
    memcpy(&r, msg, sizeof(r));
    if (r.slot >= p->slots_used ||
        MPROC__ALIGN16((size_t)r.msg_len) > len - sizeof(r) ||
        r.len > len - sizeof(r) - MPROC__ALIGN16((size_t)r.msg_len))
        return;
    t = &p->tab[r.slot];
    if (!t->live || t->gen != r.gen)
        return; /* failed already (crash, time limit) or dropped */
    j = t->job;
    if (r.msg_len > 0) {
        msgcopy = strndup(msg + sizeof(r), r.msg_len);
        message = msgcopy;
    }
    data = msg + sizeof(r) + MPROC__ALIGN16((size_t)r.msg_len);
    items = t->count;
    if (j->kind == JOB_IMAP) {
        (void)imap_store(j, t, r.status, &r, message, data, r.len);
    } else if (r.status == 0) {
        int rc = store_results(j, t, data, r.len);

        if (rc < 0)
            job_fail(p, j, rc, 0, 0, NULL);
    } else {
        job_fail(p, j, r.status, r.task_code, 0, message);
    }
    free(msgcopy);
    mproc__pool_slot_release(p, r.slot);
    chunk_over(p, j, r.status == 0 ? items : 0);
}

void
mproc__pool_collect(mproc_pool *p)
{
    for (;;) {
        size_t len;
        int rc = mproc_queue_get_into(p->results, p->rbuf, p->rcap, &len, 0);

        if (rc == MPROC_ETOOSHORT) {
            char *nb = realloc(p->rbuf, len);

            if (nb == NULL)
                break; /* tried again at the next collect */
            p->rbuf = nb;
            p->rcap = len;
            continue;
        }
        if (rc < 0)
            break;
        deliver(p, p->rbuf, len);
    }
    if (p->backlog != NULL)
        mproc__pool_feed(p);
}

/* A chunk failed without a result: its worker died, or it was cancelled. */
void
mproc__pool_chunk_failed(mproc_pool *p, uint32_t slot, int status, int signal,
                         const char *message)
{
    struct mproc__pool_task *t = &p->tab[slot];
    mproc_future *j = t->job;

    if (!t->live)
        return;
    if (j->kind == JOB_IMAP) {
        struct imap_chunk *c = imap_store(j, t, status, NULL, message, NULL, 0);

        if (c != NULL)
            c->signal = signal;
    } else {
        job_fail(p, j, status, 0, signal, message);
        if (status == MPROC_ECANCELLED && j->nchunks == 1)
            j->cancelled = true;
    }
    mproc__pool_slot_release(p, slot);
    chunk_over(p, j, 0);
}

/* ---- cancelling
 * --------------------------------------------------------------- */

/* Cancel the chunk in slot if no worker took it: true when it is now. */
static bool
cancel_slot(mproc_pool *p, uint32_t slot)
{
    struct mproc__pool_slot *s = &p->sh->slots[slot];
    uint32_t w = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

    do {
        if (SLOT_STATE(w) != SLOT_PENDING || SLOT_GEN(w) != p->tab[slot].gen)
            return false;
    } while (!__atomic_compare_exchange_n(&s->state, &w,
                                          (w & ~7u) | SLOT_CANCELLED, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE));
    return true;
}

void
mproc__pool_cancel_pending(mproc_pool *p, mproc_future *j)
{
    for (size_t c = 0; c < j->nchunks; c++) {
        uint32_t slot = j->chunk_slots[c];
        struct mproc__pool_task *t = &p->tab[slot];

        if (!t->live || t->job != j || t->gen != j->chunk_gens[c])
            continue;
        if (cancel_slot(p, slot))
            mproc__pool_chunk_failed(p, slot, MPROC_ECANCELLED, 0, NULL);
    }
}

void
mproc__pool_cancel_all(mproc_pool *p, const char *why)
{
    for (uint32_t slot = 0; slot < p->slots_used; slot++) {
        if (p->tab[slot].live && cancel_slot(p, slot))
            mproc__pool_chunk_failed(p, slot, MPROC_ECANCELLED, 0, why);
    }
}

bool
mproc__pool_job_running(mproc_pool *p, mproc_future *j)
{
    if (j->done || j->complete)
        return false;
    for (size_t c = 0; c < j->nchunks; c++) {
        uint32_t slot = j->chunk_slots[c];
        uint32_t w;

        if (!p->tab[slot].live || p->tab[slot].job != j)
            continue;
        w = __atomic_load_n(&p->sh->slots[slot].state, __ATOMIC_ACQUIRE);
        if (SLOT_STATE(w) == SLOT_RUNNING || SLOT_STATE(w) == SLOT_DONE)
            return true;
    }
    return false;
}

/* Ask the workers to tell the result thread when j's chunks end; a chunk
 * already past that point is told by this thread. */
void
mproc__pool_mark_async(mproc_pool *p, mproc_future *j)
{
    bool poke = false;

    for (size_t c = 0; c < j->nchunks; c++) {
        uint32_t slot = j->chunk_slots[c];
        struct mproc__pool_slot *s = &p->sh->slots[slot];
        uint32_t w;

        if (!p->tab[slot].live || p->tab[slot].job != j)
            continue;
        w = __atomic_fetch_or(&s->state, SLOT_ASYNC, __ATOMIC_SEQ_CST);
        if (SLOT_STATE(w) == SLOT_DONE)
            poke = true;
    }
    if (poke)
        mproc__pool_notify(&p->sh->engine);
}

/* ---- submitting
 * ----------------------------------------------------------------- */

/* The function as a task message carries it: its location under spawn and
 * forkserver (cached: a pool uses few functions), else nothing. */
static int
fn_location(mproc_pool *p, uint64_t fn, const mproc_buf **loc)
{
    static const mproc_buf none = { NULL, 0 };
    size_t i;
    int rc;

    *loc = &none;
    if (!p->locate)
        return 0;
    for (i = 0; i < p->nlocs; i++)
        if (p->locs[i].fn == fn) {
            *loc = &p->locs[i].loc;
            return 0;
        }
    i = p->nlocs < 16 ? p->nlocs++ : (size_t)(fn % 16);
    mproc_buf_free(&p->locs[i].loc);
    rc = mproc__pool_fn_locate(fn, &p->locs[i].loc);
    if (rc < 0) {
        p->locs[i].fn = 0;
        return rc;
    }
    p->locs[i].fn = fn;
    *loc = &p->locs[i].loc;
    return 0;
}

/* ---- the backlog ----------------------------------------------------------
 * Tasks the task queue could not take when submitted, in order, copied,
 * until it can. While there are any, workers wake the result thread after
 * every task (the shared backlog flag), so some collector feeds them on. */

static int
backlog_add(mproc_pool *p, uint32_t slot, const struct iovec *v, int n)
{
    struct backlog_entry *e;
    size_t len = 0, at = 0;

    for (int i = 0; i < n; i++)
        len += v[i].iov_len;
    if (len > mproc__queue_capacity(p->tasks) - 8)
        return MPROC_ETOOBIG;
    e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return MPROC_ENOMEM;
    for (int i = 0; i < n; i++) {
        memcpy(e->msg + at, v[i].iov_base, v[i].iov_len);
        at += v[i].iov_len;
    }
    e->next = NULL;
    e->slot = slot;
    e->len = len;
    *p->backlog_tail = e;
    p->backlog_tail = &e->next;
    __atomic_store_n(&p->sh->backlog, 1, __ATOMIC_SEQ_CST);
    return 0;
}

void
mproc__pool_feed(mproc_pool *p)
{
    while (p->backlog != NULL) {
        struct backlog_entry *e = p->backlog;
        struct mproc__task_msg m;
        int rc = 0;

        memcpy(&m, e->msg, sizeof(m));
        /* Cancelled meanwhile: nothing to send. */
        if (p->tab[e->slot].live && p->tab[e->slot].gen == m.gen) {
            rc = mproc__queue_putv(p->tasks, &(struct iovec){ e->msg, e->len },
                                   1, 0);
            if (rc == MPROC_EFULL)
                return;
            if (rc < 0 && cancel_slot(p, e->slot))
                mproc__pool_chunk_failed(
                    p, e->slot, rc == MPROC_ECLOSED ? MPROC_ESTATE : rc, 0,
                    NULL);
        }
        p->backlog = e->next;
        if (p->backlog == NULL)
            p->backlog_tail = &p->backlog;
        free(e);
    }
    __atomic_store_n(&p->sh->backlog, 0, __ATOMIC_SEQ_CST);
    /* A close waited for the backlog: the workers leave once it is run. */
    if (p->state == POOL_CLOSED)
        (void)mproc_queue_close(p->tasks);
}

int
mproc__pool_submit(mproc_pool *p, mproc_future *j, size_t chunk, size_t first,
                   uint32_t kind, uint64_t fn, const struct iovec *iov,
                   int niov, uint32_t count, uint32_t in_size,
                   uint32_t out_size)
{
    static const char pad[16];
    struct mproc__task_msg m = { .notify = j->notify,
                                 .kind = kind,
                                 .fn = fn,
                                 .count = count,
                                 .in_size = in_size,
                                 .out_size = out_size };
    struct iovec v[8];
    const mproc_buf *loc;
    uint32_t slot;
    int rc, n = 0;
    bool async;

    if (niov > 5)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    rc = p->state == POOL_RUNNING ? fn_location(p, fn, &loc) : MPROC_ESTATE;
    if (rc == 0)
        rc = mproc__pool_slot_alloc(p, &slot);
    if (rc < 0) {
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    m.slot = slot;
    m.gen = p->tab[slot].gen;
    m.loc_len = (uint32_t)loc->len;
    m.in_off = m.out_off = AREA_NONE;
    if (j->area_out != AREA_NONE) { /* the items are in the area */
        m.in_off = j->area_off + first * in_size;
        m.out_off = j->area_out + first * out_size;
        niov = 0;
    }
    v[n++] = (struct iovec){ &m, sizeof(m) };
    if (loc->len > 0) {
        v[n++] = (struct iovec){ loc->data, loc->len };
        v[n++] =
            (struct iovec){ (void *)pad, MPROC__ALIGN16(loc->len) - loc->len };
    }
    for (int i = 0; i < niov; i++)
        v[n++] = iov[i];
    p->tab[slot] = (struct mproc__pool_task){ .job = j,
                                              .gen = m.gen,
                                              .live = true,
                                              .chunk = chunk,
                                              .first = first,
                                              .count = count };
    async = j->on_success != NULL || j->on_failure != NULL ||
            j->ncallbacks > 0 || j->progress != NULL;
    __atomic_store_n(&p->sh->slots[slot].state,
                     SLOT_WORD(m.gen, 0, SLOT_PENDING) |
                         (async ? SLOT_ASYNC : 0),
                     __ATOMIC_RELEASE);
    j->chunk_slots[chunk % j->nchunks] = slot;
    j->chunk_gens[chunk % j->nchunks] = m.gen;
    j->refs++;
    p->live_chunks++;
    /* Never a wait: what the queue cannot take now waits here, in order
     * (Python's apply_async never blocks either). */
    rc =
        p->backlog != NULL ? MPROC_EFULL : mproc__queue_putv(p->tasks, v, n, 0);
    if (rc == MPROC_EFULL)
        rc = backlog_add(p, slot, v, n);
    if (rc < 0) {
        if (rc == MPROC_ECLOSED)
            rc = MPROC_ESTATE;
        if (cancel_slot(p, slot))
            mproc__pool_chunk_failed(p, slot, rc, 0, NULL);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- waiting
 * -------------------------------------------------------------------- */

struct word_seen {
    const uint32_t *word;
    uint32_t seen;
};

static bool
word_moved(const void *arg)
{
    const struct word_seen *ws = arg;

    return __atomic_load_n(ws->word, __ATOMIC_ACQUIRE) != ws->seen;
}

int
mproc__pool_wait(mproc_pool *p, mproc_future *j,
                 bool (*ready)(mproc_future *j, void *arg), void *arg,
                 const struct mproc__deadline *dl)
{
    uint32_t *word = &p->sh->slots[j->notify].notify;
    bool spun = false;

    for (;;) {
        uint32_t w = __atomic_load_n(word, __ATOMIC_SEQ_CST);
        bool ok;

        pthread_mutex_lock(&p->mu);
        mproc__pool_collect(p);
        ok = ready(j, arg);
        pthread_mutex_unlock(&p->mu);
        if (ok)
            return 0;
        if (mproc__deadline_passed(dl))
            return MPROC_ETIMEDOUT;
        /* Spin for one task's answer only: a map's waiter would take
         * the CPU its workers need. */
        if (!spun && p->spin && j->nchunks == 1) {
            spun = true;
            if (mproc__spin(word_moved, &(struct word_seen){ word, w },
                            MPROC__POOL_SPIN_NS))
                continue;
        }
        if (!(w & 1)) {
            if (!__atomic_compare_exchange_n(
                    word, &w, w | 1, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                continue;
            w |= 1;
        }
        (void)mproc__futex_wait((_Atomic uint32_t *)word, w,
                                mproc__deadline_ns(dl));
    }
}
