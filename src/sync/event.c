/*
 * sync/event.c - mproc_event: Python's multiprocessing.Event.
 *
 * The event is one futex word: SET, and WAITERS while someone may sleep
 * (only ever beside a clear flag). set() exchanges the word for SET and
 * wakes everyone only if WAITERS was there; wait() returns at once when
 * SET, else marks WAITERS and sleeps on the word. No owner, no bookkeeping:
 * a waiter that dies leaves at most a WAITERS bit, which costs the next
 * set() one wake-up call.
 *
 * System calls per operation: set with nobody waiting, none (one atomic
 * exchange); set with waiters, one FUTEX_WAKE; wait on a set event, none;
 * wait on a clear one, one FUTEX_WAIT per sleep. A ping-pong round trip
 * through two events is one wake and one wait per side, as with raw
 * futexes.
 */
#include "sync/sync.h"

#include <limits.h>
#include <stdatomic.h>

#include "shm/shm.h"
#include "sys/sys.h"

#define SET 1u
#define WAITERS 2u

/* The handle is the object itself, an arena block: a process holds one
 * reference per handle it was given (see shm/shm.h). */
struct mproc_event {
    _Atomic uint32_t word; /* SET | WAITERS */
};

int
mproc_event_new(mproc_event **out)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_alloc(sizeof(mproc_event), 0, &mem);
    *out = mem;
    return rc;
}

int
mproc_event_set(mproc_event *e)
{
    uint32_t old;

    if (e == NULL)
        return MPROC_EINVAL;
    /* Release: what the setter wrote before is seen by those it wakes. */
    old = atomic_exchange_explicit(&e->word, SET, memory_order_acq_rel);
    if (old & WAITERS)
        mproc__futex_wake(&e->word, INT_MAX);
    return 0;
}

int
mproc_event_clear(mproc_event *e)
{
    if (e == NULL)
        return MPROC_EINVAL;
    atomic_fetch_and_explicit(&e->word, ~SET, memory_order_relaxed);
    return 0;
}

bool
mproc_event_is_set(const mproc_event *e)
{
    return e != NULL &&
           (atomic_load_explicit(&e->word, memory_order_acquire) & SET);
}

int
mproc_event_wait(mproc_event *e, double timeout)
{
    struct mproc__deadline dl;
    uint32_t v;

    if (e == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    v = atomic_load_explicit(&e->word, memory_order_acquire);
    for (;;) {
        if (v & SET)
            return 0;
        if (mproc__deadline_passed(&dl))
            return MPROC_ETIMEDOUT;
        if (!(v & WAITERS) && !atomic_compare_exchange_weak_explicit(
                                  &e->word, &v, v | WAITERS,
                                  memory_order_acquire, memory_order_acquire))
            continue;
        (void)mproc__futex_wait(&e->word, v | WAITERS, mproc__deadline_ns(&dl));
        v = atomic_load_explicit(&e->word, memory_order_acquire);
    }
}

int
mproc_event_token(const mproc_event *e, mproc_token *out)
{
    return mproc__arena_token(e, MPROC__TOKEN_EVENT, out);
}

int
mproc_event_from_token(mproc_event **out, const mproc_token *t)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_EVENT, &mem);
    *out = mem;
    return rc;
}

void
mproc_event_free(mproc_event *e)
{
    mproc__arena_unref(e);
}
