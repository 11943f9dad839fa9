/*
 * sync/barrier.c - mproc_barrier: Python's multiprocessing.Barrier.
 *
 * A pass is a numbered round. Arriving parties register under the mutex
 * (their process in `arrived`, an index from the free places); the last
 * one runs the action and ends the round; a timeout, abort or reset ends
 * it broken. Ending a round records how it ended in a ring of bits, bumps
 * `round` (the futex word every waiter sleeps on) and wakes them all; a
 * waiter reads how its own round ended from the ring, so a party that has
 * left may arrive at the next round at once without confusing those still
 * waking from the last. Nobody can lap a waiter by a whole pass (the next
 * round needs it); only resets and aborts could, 1024 times over, before it
 * wakes.
 *
 * A party killed while it waits is dropped: the last to arrive checks
 * that the others still exist (kill(pid, 0)), and waiters look closer (a
 * zombie, a reused pid) at the processes of the round every slice (50 ms)
 * they sleep without news; the place of one that is gone is freed and the
 * round waits for another party.
 * A process that dies holding the mutex (in the action, say) leaves the
 * round ended broken and the counts recomputed by the next locker.
 *
 * Invariants (under mu; unlock_mu() checks them in debug builds): count ==
 * the places of `arrived` in use < parties; broken implies count == 0.
 * System calls per operation: a wait that is not last, one FUTEX_WAIT per
 * sleep; the last, one kill(pid, 0) per other process in the round and one
 * FUTEX_WAKE, after the mutex is released; plus an uncontended mutex each.
 */
#include "sync/sync.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shm/shm.h"
#include "sys/sys.h"

#define MAX_PARTIES 65536
#define RING 1024 /* rounds whose ending is remembered */

struct place {
    int32_t pid;    /* 0: free */
    uint32_t start; /* the party's start time */
};

struct barrier_shared {
    pthread_mutex_t mu; /* robust, process-shared: guards what follows */
    /* Futex word: the current round; bumped (release) when it ends. */
    _Atomic uint32_t round;
    uint32_t parties;                 /* fixed */
    double timeout;                   /* fixed: the default, 0 = none */
    uint32_t count;                   /* parties in the current round */
    uint32_t broken;                  /* 1 while broken */
    uint64_t ended_broken[RING / 64]; /* bit r % RING: round r broke */
    struct place arrived[];           /* parties places */
};

struct mproc_barrier {
    struct barrier_shared *sh; /* one arena reference */
    int (*action)(void *ctx);  /* this handle's; NULL from a token */
    void *action_ctx;
};

/* Caller holds mu. count and broken are also read without it (n_waiting,
 * is_broken): stored atomically. */
static void
set_count(struct barrier_shared *sh, uint32_t n)
{
    __atomic_store_n(&sh->count, n, __ATOMIC_RELAXED);
}

static void
set_broken(struct barrier_shared *sh, uint32_t broken)
{
    __atomic_store_n(&sh->broken, broken, __ATOMIC_RELAXED);
}

/* Caller holds mu: end the current round, released or broken. The
 * waiters are woken by wake_all, after the mutex is released: woken on
 * this CPU, one would otherwise run at once only to find the mutex held. */
static void
end_round(struct barrier_shared *sh, bool broken)
{
    uint32_t r = atomic_load_explicit(&sh->round, memory_order_relaxed);
    uint64_t bit = (uint64_t)1 << (r % 64);
    uint64_t *word = &sh->ended_broken[(r % RING) / 64];

    /* Written before `round` is bumped (release): a waiter that sees the
     * new round (acquire) reads the bit without the mutex. */
    __atomic_store_n(word, broken ? *word | bit : *word & ~bit,
                     __ATOMIC_RELAXED);
    memset(sh->arrived, 0, sh->parties * sizeof(sh->arrived[0]));
    set_count(sh, 0);
    atomic_store_explicit(&sh->round, r + 1, memory_order_release);
}

/* Wake every waiter of a round that ended (one system call). */
static void
wake_all(struct barrier_shared *sh)
{
    mproc__futex_wake(&sh->round, INT_MAX);
}

static void
lock_mu(struct barrier_shared *sh)
{
    uint32_t n = 0;

    if (!mproc__shared_mutex_lock(&sh->mu))
        return;
    /* The holder died inside: recount, and break a round it was ending. */
    for (uint32_t i = 0; i < sh->parties; i++)
        n += sh->arrived[i].pid != 0;
    set_count(sh, n);
    if (n == sh->parties) {
        set_broken(sh, 1);
        end_round(sh, true);
        wake_all(sh); /* rare: under the mutex */
    }
}

/* Check the invariants (debug builds), then unlock mu. */
static void
unlock_mu(struct barrier_shared *sh)
{
#ifndef NDEBUG
    uint32_t n = 0;

    for (uint32_t i = 0; i < sh->parties; i++)
        n += sh->arrived[i].pid != 0;
    assert(n == sh->count && sh->count < sh->parties);
    assert(!sh->broken || sh->count == 0);
#endif
    pthread_mutex_unlock(&sh->mu);
}

static bool
round_broke(const struct barrier_shared *sh, uint32_t r)
{
    return __atomic_load_n(&sh->ended_broken[(r % RING) / 64],
                           __ATOMIC_RELAXED) >>
               (r % 64) &
           1;
}

static int
wrap(struct barrier_shared *sh, const mproc_barrier_opts *opts,
     mproc_barrier **out)
{
    mproc_barrier *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        mproc__arena_unref(sh);
        return MPROC_ENOMEM;
    }
    b->sh = sh;
    if (opts != NULL) {
        b->action = opts->action;
        b->action_ctx = opts->action_ctx;
    }
    *out = b;
    return 0;
}

int
mproc_barrier_new(mproc_barrier **out, int parties,
                  const mproc_barrier_opts *opts)
{
    struct barrier_shared *sh;
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (parties < 1 || parties > MAX_PARTIES)
        return MPROC_EINVAL;
    if (opts != NULL && !(opts->timeout >= 0))
        return MPROC_EINVAL; /* negative or NaN */
    rc = mproc__arena_alloc(
        sizeof(*sh) + (size_t)parties * sizeof(struct place), 0, &mem);
    if (rc < 0)
        return rc;
    sh = mem;
    rc = mproc__shared_mutex_init(&sh->mu);
    if (rc < 0) {
        mproc__arena_unref(sh);
        return rc;
    }
    sh->parties = (uint32_t)parties;
    sh->timeout = opts != NULL ? opts->timeout : 0;
    return wrap(sh, opts, out);
}

/* Caller holds mu: take a free place for this process; its index. */
static uint32_t
arrive(struct barrier_shared *sh)
{
    uint32_t i = sh->count;

    if (sh->arrived[i].pid != 0) /* a hole left by a dead party */
        for (i = 0; sh->arrived[i].pid != 0; i++)
            ;
    sh->arrived[i] =
        (struct place){ mproc__self_pid(), mproc__self_start_time() };
    set_count(sh, sh->count + 1);
    return i;
}

/* Caller holds mu: free the places of parties that died (thorough: see
 * mproc__holder_is_dead). */
static void
drop_dead(struct barrier_shared *sh, bool thorough)
{
    pid_t self = mproc__self_pid();

    for (uint32_t i = 0; i < sh->parties; i++) {
        struct place *p = &sh->arrived[i];

        if (p->pid != 0 && p->pid != self &&
            mproc__holder_is_dead(p->pid, p->start, thorough)) {
            *p = (struct place){ 0, 0 };
            set_count(sh, sh->count - 1);
        }
    }
}

/* Wait for round r to end: 0 when it was released, MPROC_EBROKEN when it
 * broke (a timeout here breaks it). */
static int
await_round(struct barrier_shared *sh, uint32_t r,
            const struct mproc__deadline *dl)
{
    for (;;) {
        int rc;

        if (atomic_load_explicit(&sh->round, memory_order_acquire) != r)
            break;
        if (mproc__deadline_passed(dl)) {
            lock_mu(sh);
            if (atomic_load_explicit(&sh->round, memory_order_relaxed) == r) {
                set_broken(sh, 1);
                end_round(sh, true);
            }
            unlock_mu(sh);
            wake_all(sh);
            break;
        }
        rc = mproc__futex_wait(&sh->round, r,
                               mproc__slice_ns(dl, MPROC__SLICE_NS));
        if (rc == MPROC_ETIMEDOUT &&
            atomic_load_explicit(&sh->round, memory_order_relaxed) == r) {
            lock_mu(sh);
            if (atomic_load_explicit(&sh->round, memory_order_relaxed) == r)
                drop_dead(sh, true);
            unlock_mu(sh);
        }
    }
    return round_broke(sh, r) ? MPROC_EBROKEN : 0;
}

int
mproc_barrier_wait(mproc_barrier *b, double timeout, int *index)
{
    struct mproc__deadline dl;
    struct barrier_shared *sh;
    uint32_t i, r;
    int rc;

    if (index != NULL)
        *index = -1;
    if (b == NULL || isnan(timeout))
        return MPROC_EINVAL;
    sh = b->sh;
    if (timeout < 0) /* Python's timeout=None: the barrier's own */
        timeout = sh->timeout > 0 ? sh->timeout : MPROC_FOREVER;
    (void)mproc__deadline_init(&dl, timeout);
    lock_mu(sh);
    if (sh->broken) {
        unlock_mu(sh);
        return MPROC_EBROKEN;
    }
    /* Last in? Not beside a dead party's place: it would pass for it. */
    if (sh->count + 1 == sh->parties && sh->parties > 1)
        drop_dead(sh, false);
    i = arrive(sh);
    r = atomic_load_explicit(&sh->round, memory_order_relaxed);
    if (sh->count < sh->parties) {
        unlock_mu(sh);
        rc = await_round(sh, r, &dl);
    } else {
        /* The last: run the action, then release everyone. */
        rc = b->action != NULL && b->action(b->action_ctx) != 0 ? MPROC_EBROKEN
                                                                : 0;
        if (rc < 0)
            set_broken(sh, 1);
        end_round(sh, rc < 0);
        unlock_mu(sh);
        wake_all(sh);
    }
    if (rc == 0 && index != NULL)
        *index = (int)i;
    return rc;
}

int
mproc_barrier_reset(mproc_barrier *b)
{
    if (b == NULL)
        return MPROC_EINVAL;
    lock_mu(b->sh);
    if (b->sh->count > 0)
        end_round(b->sh, true);
    set_broken(b->sh, 0);
    unlock_mu(b->sh);
    wake_all(b->sh);
    return 0;
}

int
mproc_barrier_abort(mproc_barrier *b)
{
    if (b == NULL)
        return MPROC_EINVAL;
    lock_mu(b->sh);
    set_broken(b->sh, 1);
    if (b->sh->count > 0)
        end_round(b->sh, true);
    unlock_mu(b->sh);
    wake_all(b->sh);
    return 0;
}

bool
mproc_barrier_is_broken(const mproc_barrier *b)
{
    return b != NULL && __atomic_load_n(&b->sh->broken, __ATOMIC_RELAXED);
}

int
mproc_barrier_n_waiting(const mproc_barrier *b)
{
    if (b == NULL || __atomic_load_n(&b->sh->broken, __ATOMIC_RELAXED))
        return 0;
    return (int)__atomic_load_n(&b->sh->count, __ATOMIC_RELAXED);
}

int
mproc_barrier_parties(const mproc_barrier *b)
{
    return b == NULL ? 0 : (int)b->sh->parties;
}

int
mproc_barrier_token(const mproc_barrier *b, mproc_token *out)
{
    if (b == NULL || out == NULL)
        return MPROC_EINVAL;
    return mproc__arena_token(b->sh, MPROC__TOKEN_BARRIER, out);
}

int
mproc_barrier_from_token(mproc_barrier **out, const mproc_token *t)
{
    void *sh;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (t == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_BARRIER, &sh);
    return rc < 0 ? rc : wrap(sh, NULL, out);
}

void
mproc_barrier_free(mproc_barrier *b)
{
    if (b == NULL)
        return;
    mproc__arena_unref(b->sh);
    free(b);
}
