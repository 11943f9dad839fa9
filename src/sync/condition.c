/*
 * sync/condition.c - mproc_condition: Python's multiprocessing.Condition.
 *
 * Like Python's Condition (a list of per-waiter locks), each waiter has its
 * own slot in shared memory: its futex word (WAITING, then NOTIFIED), its
 * process and start time, and a ticket giving the arrival order. notify(n)
 * marks the n oldest WAITING slots NOTIFIED and wakes each on its own word,
 * so exactly min(n, live waiters) wake up; with no slot waiting it does
 * nothing at all, so a notify is never remembered. A waiter that times out
 * takes its slot back under the mutex, unless a notify got there first (it
 * then returns notified): no stale count either way.
 *
 * A waiter killed while waiting leaves its slot WAITING: notify skips and
 * frees the slot of a process that is gone (or a zombie), so the dead never
 * swallow a notify; a full slot table also frees such slots.
 *
 * Invariant (under mu; unlock_mu() checks it in debug builds): nwaiting ==
 * the number of WAITING slots. A NOTIFIED slot is freed by its waiter
 * without the mutex (one atomic store).
 * A robust mutex whose holder died is made consistent and nwaiting is
 * recounted.
 *
 * System calls per operation: wait, one FUTEX_WAIT per sleep plus what its
 * lock costs to release and re-acquire; notify with no waiter, none; per
 * waiter woken, a kill(pid, 0) and a read of /proc/<pid>/stat (unless it is
 * this process) and one FUTEX_WAKE.
 *
 * Lock order: the condition's own lock (the user's), then mu.
 */
#include "sync/sync.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shm/shm.h"
#include "sys/sys.h"

#define MAX_WAITERS 256

enum {
    FREE = 0,
    WAITING = 1,
    NOTIFIED = 2
};

struct slot {
    _Atomic uint32_t state; /* futex word of one waiter */
    int32_t pid;            /* the waiter's process */
    uint32_t start;         /* its start time */
    uint32_t ticket;        /* arrival order (wraps; compared as a
                               difference) */
};

struct condition_shared {
    pthread_mutex_t mu;   /* robust, process-shared: guards what follows */
    uint32_t next_ticket; /* the next waiter's ticket */
    /* WAITING slots; also read without mu by a notifier, which holds the
     * user's lock under which every waiter registers. */
    _Atomic uint32_t nwaiting;
    uint32_t lock_kind;     /* MPROC__TOKEN_LOCK or MPROC__TOKEN_RLOCK */
    mproc_token lock_token; /* the lock, for handles made from a token */
    struct slot slots[MAX_WAITERS];
};

struct mproc_condition {
    struct condition_shared *sh; /* one arena reference */
    mproc_lock *lock;            /* exactly one of the two: the */
    mproc_rlock *rlock;          /* condition's own handle */
};

static void
destroy(mproc_condition *c)
{
    mproc_lock_free(c->lock);
    mproc_rlock_free(c->rlock);
    mproc__arena_unref(c->sh);
    free(c);
}

/* A handle of the lock a condition's memory names. */
static int
open_lock(mproc_condition *c)
{
    if (c->sh->lock_kind == MPROC__TOKEN_LOCK)
        return mproc_lock_from_token(&c->lock, &c->sh->lock_token);
    return mproc_rlock_from_token(&c->rlock, &c->sh->lock_token);
}

int
mproc_condition_new(mproc_condition **out, const mproc_condition_opts *opts)
{
    static const mproc_condition_opts defaults;
    mproc_condition *c;
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->lock != NULL && opts->rlock != NULL)
        return MPROC_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return MPROC_ENOMEM;
    rc = mproc__arena_alloc(sizeof(*c->sh), 0, &mem);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->sh = mem;
    rc = mproc__shared_mutex_init(&c->sh->mu);
    if (rc == 0 && opts->lock != NULL) {
        c->sh->lock_kind = MPROC__TOKEN_LOCK;
        rc = mproc_lock_token(opts->lock, &c->sh->lock_token);
    } else if (rc == 0) {
        mproc_rlock *fresh = NULL;

        c->sh->lock_kind = MPROC__TOKEN_RLOCK;
        if (opts->rlock == NULL)
            rc = mproc_rlock_new(&fresh);
        if (rc == 0)
            rc = mproc_rlock_token(fresh != NULL ? fresh : opts->rlock,
                                   &c->sh->lock_token);
        if (rc == 0)
            rc = open_lock(c);
        mproc_rlock_free(fresh); /* the condition's handle keeps it */
    }
    if (rc == 0 && c->lock == NULL && c->rlock == NULL)
        rc = open_lock(c);
    if (rc < 0) {
        destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

int
mproc_condition_acquire(mproc_condition *c, double timeout)
{
    if (c == NULL)
        return MPROC_EINVAL;
    return c->lock != NULL ? mproc_lock_acquire(c->lock, timeout)
                           : mproc_rlock_acquire(c->rlock, timeout);
}

int
mproc_condition_release(mproc_condition *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    return c->lock != NULL ? mproc_lock_release(c->lock)
                           : mproc_rlock_release(c->rlock);
}

/* Python's _is_owned: a Lock counts as owned when anyone holds it. */
static bool
is_owned(const mproc_condition *c)
{
    return c->lock != NULL ? mproc__lock_is_held(c->lock)
                           : mproc_rlock_is_owned(c->rlock);
}

static void
lock_mu(struct condition_shared *sh)
{
    uint32_t n = 0;

    if (!mproc__shared_mutex_lock(&sh->mu))
        return;
    /* The previous holder died inside: recount. */
    for (int i = 0; i < MAX_WAITERS; i++)
        n += atomic_load_explicit(&sh->slots[i].state, memory_order_relaxed) ==
             WAITING;
    atomic_store_explicit(&sh->nwaiting, n, memory_order_relaxed);
}

/* Check the invariant (debug builds), then unlock mu. */
static void
unlock_mu(struct condition_shared *sh)
{
#ifndef NDEBUG
    uint32_t n = 0;

    for (int i = 0; i < MAX_WAITERS; i++)
        n += atomic_load_explicit(&sh->slots[i].state, memory_order_relaxed) ==
             WAITING;
    assert(n == atomic_load(&sh->nwaiting));
#endif
    pthread_mutex_unlock(&sh->mu);
}

static bool
waiter_is_dead(const struct slot *s)
{
    return s->pid != mproc__self_pid() &&
           mproc__holder_is_dead(s->pid, s->start, true);
}

/* Caller holds mu: a slot for a new waiter, or -1 when all are taken by
 * live waiters. */
static int
take_slot(struct condition_shared *sh)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < MAX_WAITERS; i++) {
            struct slot *s = &sh->slots[i];
            uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

            if (st == FREE)
                return i;
            /* Second pass: the slot of a waiter that died. */
            if (pass == 1 && st == WAITING && waiter_is_dead(s)) {
                atomic_fetch_sub(&sh->nwaiting, 1);
                return i;
            }
        }
    }
    return -1;
}

/* Release the lock, remembering an RLock's level. */
static int
release_save(mproc_condition *c, uint32_t *levels)
{
    if (c->lock != NULL)
        return mproc_lock_release(c->lock);
    return mproc__rlock_release_save(c->rlock, levels);
}

static int
acquire_restore(mproc_condition *c, uint32_t levels)
{
    if (c->lock != NULL)
        return mproc_lock_acquire(c->lock, MPROC_FOREVER);
    return mproc__rlock_acquire_restore(c->rlock, levels);
}

/* Sleep on slot i until notified or the deadline: 0 or MPROC_ETIMEDOUT. */
static int
sleep_on(struct condition_shared *sh, int i, const struct mproc__deadline *dl)
{
    struct slot *s = &sh->slots[i];
    int rc = 0;

    while (atomic_load_explicit(&s->state, memory_order_acquire) == WAITING) {
        if (mproc__deadline_passed(dl)) {
            lock_mu(sh);
            /* Under mu: a notify that came first wins. */
            if (atomic_load_explicit(&s->state, memory_order_relaxed) ==
                WAITING) {
                atomic_fetch_sub(&sh->nwaiting, 1);
                rc = MPROC_ETIMEDOUT;
            }
            atomic_store_explicit(&s->state, FREE, memory_order_relaxed);
            unlock_mu(sh);
            return rc;
        }
        (void)mproc__futex_wait(&s->state, WAITING, mproc__deadline_ns(dl));
    }
    atomic_store_explicit(&s->state, FREE, memory_order_release);
    return 0;
}

int
mproc_condition_wait(mproc_condition *c, double timeout)
{
    struct mproc__deadline dl;
    struct condition_shared *sh;
    uint32_t levels = 0;
    int i, rc, again;

    if (c == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    if (!is_owned(c))
        return MPROC_ESTATE;
    sh = c->sh;
    lock_mu(sh);
    i = take_slot(sh);
    if (i >= 0) {
        struct slot *s = &sh->slots[i];

        s->pid = mproc__self_pid();
        s->start = mproc__self_start_time();
        s->ticket = sh->next_ticket++;
        atomic_store_explicit(&s->state, WAITING, memory_order_relaxed);
        atomic_fetch_add(&sh->nwaiting, 1);
    }
    unlock_mu(sh);
    if (i < 0)
        return -EAGAIN;
    rc = release_save(c, &levels);
    if (rc < 0) { /* a Lock another released meanwhile: undo */
        lock_mu(sh);
        if (atomic_exchange(&sh->slots[i].state, FREE) == WAITING)
            atomic_fetch_sub(&sh->nwaiting, 1);
        unlock_mu(sh);
        return rc;
    }
    rc = sleep_on(sh, i, &dl);
    again = acquire_restore(c, levels);
    return again == MPROC_EOWNERDEAD ? again : rc;
}

int
mproc_condition_wait_for(mproc_condition *c, bool (*pred)(void *ctx), void *ctx,
                         double timeout)
{
    struct mproc__deadline dl;
    bool owner_died = false;

    if (c == NULL || pred == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    if (!is_owned(c))
        return MPROC_ESTATE;
    while (!pred(ctx)) {
        double left;
        int rc;

        if (dl.forever) {
            left = MPROC_FOREVER;
        } else {
            left = (double)(dl.at_ns - mproc__now_ns()) / 1e9;
            if (left <= 0)
                return owner_died ? MPROC_EOWNERDEAD : MPROC_ETIMEDOUT;
        }
        rc = mproc_condition_wait(c, left);
        if (rc == MPROC_EOWNERDEAD)
            owner_died = true;
        else if (rc < 0 && rc != MPROC_ETIMEDOUT)
            return rc;
    }
    return owner_died ? MPROC_EOWNERDEAD : 0;
}

/* A waiting slot, as notify orders them. */
struct queued {
    uint32_t ticket;
    int index;
};

static int
by_ticket(const void *a, const void *b)
{
    int32_t d = (int32_t)(((const struct queued *)a)->ticket -
                          ((const struct queued *)b)->ticket);

    return (d > 0) - (d < 0);
}

/* Wake up to n waiters, oldest first, skipping (and freeing) the dead. */
static int
notify(mproc_condition *c, int n)
{
    struct condition_shared *sh = c->sh;
    struct queued order[MAX_WAITERS];
    int count = 0;

    if (!is_owned(c))
        return MPROC_ESTATE;
    if (n == 0 || atomic_load(&sh->nwaiting) == 0)
        return 0; /* nobody to wake: nothing is remembered */
    lock_mu(sh);
    for (int i = 0; i < MAX_WAITERS; i++)
        if (atomic_load_explicit(&sh->slots[i].state, memory_order_relaxed) ==
            WAITING)
            order[count++] = (struct queued){ sh->slots[i].ticket, i };
    qsort(order, (size_t)count, sizeof(order[0]), by_ticket);
    for (int k = 0; k < count && n > 0; k++) {
        struct slot *s = &sh->slots[order[k].index];
        uint32_t st = waiter_is_dead(s) ? FREE : NOTIFIED;

        atomic_store_explicit(&s->state, st, memory_order_release);
        atomic_fetch_sub(&sh->nwaiting, 1);
        if (st == NOTIFIED) {
            mproc__futex_wake(&s->state, 1);
            n--;
        }
    }
    unlock_mu(sh);
    return 0;
}

int
mproc_condition_notify(mproc_condition *c, int n)
{
    if (c == NULL || n < 0)
        return MPROC_EINVAL;
    return notify(c, n);
}

int
mproc_condition_notify_all(mproc_condition *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    return notify(c, MAX_WAITERS);
}

int
mproc_condition_token(const mproc_condition *c, mproc_token *out)
{
    if (c == NULL || out == NULL)
        return MPROC_EINVAL;
    return mproc__arena_token(c->sh, MPROC__TOKEN_CONDITION, out);
}

int
mproc_condition_from_token(mproc_condition **out, const mproc_token *t)
{
    mproc_condition *c;
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (t == NULL)
        return MPROC_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return MPROC_ENOMEM;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_CONDITION, &mem);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->sh = mem;
    rc = open_lock(c);
    if (rc < 0) {
        destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void
mproc_condition_free(mproc_condition *c)
{
    if (c != NULL)
        destroy(c);
}
