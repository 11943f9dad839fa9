/*
 * sync/rlock.c - mproc_rlock: Python's multiprocessing.RLock.
 *
 * The holder word (sync.h) names the owning thread by tid and start time;
 * `levels` counts its recursion and is read and written by the owner only.
 * Only the owner may release (MPROC_EPERM otherwise, MPROC_ESTATE when
 * nobody owns it). A thread that ends, or a process that dies, owning the
 * RLock is found by the waiters as for a Lock (lock.c) and the next
 * acquirer gets MPROC_EOWNERDEAD at level 1.
 *
 * System calls per operation: none for an uncontended acquire and release
 * or a recursive one (one compare-and-swap at the outermost level each
 * way; the thread's tid is cached); contended, as for a Lock.
 *
 * Fork: an RLock owned by a thread of the parent stays owned by that
 * thread: a forked child cannot release it (as under Python).
 */
#include "sync/sync.h"

#include <math.h>

#include "shm/shm.h"
#include "sys/sys.h"

/* The handle is the object itself, an arena block: a process holds one
 * reference per handle it was given (see shm/shm.h). */
struct mproc_rlock {
    uint64_t word;   /* holder word (sync.h); atomic access only */
    uint32_t levels; /* recursion depth; the owner's alone */
};

static inline uint64_t
self_word(void)
{
    pid_t tid;
    uint32_t start;

    mproc__self_thread(&tid, &start);
    return mproc__ow_make((uint32_t)tid, start);
}

static inline bool
owned_by(uint64_t v, uint64_t me)
{
    return (v & ~(uint64_t)MPROC__OW_WAITERS) == me;
}

int
mproc_rlock_new(mproc_rlock **out)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_alloc(sizeof(mproc_rlock), 0, &mem);
    *out = mem;
    return rc;
}

static int
acquire(struct mproc_rlock *sh, double timeout)
{
    uint64_t me = self_word(), seen;
    int rc;

    seen = __atomic_load_n(&sh->word, __ATOMIC_RELAXED);
    if (owned_by(seen, me)) {
        sh->levels++;
        return 0;
    }
    seen = 0;
    if (__atomic_compare_exchange_n(&sh->word, &seen, me, false,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        rc = 0;
    else
        rc = mproc__ow_acquire_slow(&sh->word, me, timeout, 0);
    if (rc == 0 || rc == MPROC_EOWNERDEAD)
        sh->levels = 1;
    return rc;
}

int
mproc_rlock_acquire(mproc_rlock *r, double timeout)
{
    if (r == NULL || isnan(timeout))
        return MPROC_EINVAL;
    return acquire(r, timeout);
}

/* Release every level at once (levels == 0) or one level. */
static int
release(struct mproc_rlock *sh, bool all, uint32_t *levels)
{
    uint64_t me = self_word();
    uint64_t v = __atomic_load_n(&sh->word, __ATOMIC_RELAXED);

    if (!owned_by(v, me))
        return (uint32_t)v == 0 ? MPROC_ESTATE : MPROC_EPERM;
    if (levels != NULL)
        *levels = sh->levels;
    if (!all && --sh->levels > 0)
        return 0;
    sh->levels = 0;
    /* Only the waiters bit can change under the owner. */
    while (!__atomic_compare_exchange_n(&sh->word, &v, 0, false,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
    mproc__ow_released(&sh->word, v);
    return 0;
}

int
mproc_rlock_release(mproc_rlock *r)
{
    if (r == NULL)
        return MPROC_EINVAL;
    return release(r, false, NULL);
}

int
mproc__rlock_release_save(mproc_rlock *r, uint32_t *levels)
{
    return release(r, true, levels);
}

int
mproc__rlock_acquire_restore(mproc_rlock *r, uint32_t levels)
{
    int rc = acquire(r, MPROC_FOREVER);

    r->levels = levels;
    return rc;
}

bool
mproc_rlock_is_owned(const mproc_rlock *r)
{
    return r != NULL &&
           owned_by(__atomic_load_n(&r->word, __ATOMIC_RELAXED), self_word());
}

int
mproc_rlock_token(const mproc_rlock *r, mproc_token *out)
{
    return mproc__arena_token(r, MPROC__TOKEN_RLOCK, out);
}

int
mproc_rlock_from_token(mproc_rlock **out, const mproc_token *t)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_RLOCK, &mem);
    *out = mem;
    return rc;
}

void
mproc_rlock_free(mproc_rlock *r)
{
    mproc__arena_unref(r);
}
