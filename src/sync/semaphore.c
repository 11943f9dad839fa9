/*
 * sync/semaphore.c - mproc_semaphore: Python's multiprocessing.Semaphore
 * and BoundedSemaphore.
 *
 * The value is a futex word; `sleepers` counts waiters that may be asleep
 * on it. The value changes only by a successful acquire (compare-and-swap
 * from v > 0 to v - 1) or release, so a process killed while it waits
 * takes nothing; it leaves `sleepers` one too high, which costs later
 * releases a wake-up call and nothing else.
 *
 * Lost wake-ups: a waiter raises `sleepers` before it reads the value and
 * a release raises the value before it reads `sleepers` (both sequentially
 * consistent), so either the waiter sees the new value or the release sees
 * the waiter. A release wakes one sleeper; one that times out instead of
 * taking the unit passes the wake-up on.
 *
 * System calls per operation: an acquire with the value above 0, none (one
 * compare-and-swap); a release, none unless a waiter may sleep (then one
 * FUTEX_WAKE); a waiting acquire, one FUTEX_WAIT per sleep.
 */
#include "sync/sync.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>

#include "shm/shm.h"
#include "sys/sys.h"

/* The handle is the object itself, an arena block: a process holds one
 * reference per handle it was given (see shm/shm.h). */
struct mproc_semaphore {
    _Atomic uint32_t value;    /* futex word; 0..INT_MAX */
    _Atomic uint32_t sleepers; /* waiters between their count and leaving */
    int32_t bound;             /* the most release allows; -1: none */
};

static int
create(mproc_semaphore **out, int value, bool bounded)
{
    struct mproc_semaphore *sh;
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (value < 0)
        return MPROC_EINVAL;
    rc = mproc__arena_alloc(sizeof(*sh), 0, &mem);
    if (rc < 0)
        return rc;
    sh = mem;
    atomic_init(&sh->value, (uint32_t)value);
    sh->bound = bounded ? value : -1;
    *out = sh;
    return 0;
}

int
mproc_semaphore_new(mproc_semaphore **out, int value)
{
    return create(out, value, false);
}

int
mproc_bounded_semaphore_new(mproc_semaphore **out, int value)
{
    return create(out, value, true);
}

/* One compare-and-swap from v > 0 to v - 1; false when the value is 0. */
static bool
try_take(struct mproc_semaphore *sh)
{
    uint32_t v = atomic_load_explicit(&sh->value, memory_order_relaxed);

    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&sh->value, &v, v - 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

int
mproc_semaphore_acquire(mproc_semaphore *s, double timeout)
{
    struct mproc__deadline dl;
    int rc = 0;

    if (s == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    if (try_take(s))
        return 0;
    if (timeout == 0)
        return MPROC_ETIMEDOUT;
    atomic_fetch_add(&s->sleepers, 1);
    for (;;) {
        if (atomic_load(&s->value) > 0 && try_take(s))
            break;
        if (mproc__deadline_passed(&dl)) {
            rc = MPROC_ETIMEDOUT;
            break;
        }
        (void)mproc__futex_wait(&s->value, 0, mproc__deadline_ns(&dl));
    }
    atomic_fetch_sub(&s->sleepers, 1);
    /* A wake-up meant for a unit this waiter did not take goes on. */
    if (rc < 0 && atomic_load(&s->value) > 0 && atomic_load(&s->sleepers) > 0)
        mproc__futex_wake(&s->value, 1);
    return rc;
}

int
mproc_semaphore_release(mproc_semaphore *s)
{
    uint32_t v;

    if (s == NULL)
        return MPROC_EINVAL;
    v = atomic_load_explicit(&s->value, memory_order_relaxed);
    do {
        if (s->bound >= 0 && v >= (uint32_t)s->bound)
            return MPROC_ESTATE;
        if (v >= INT_MAX)
            return -EOVERFLOW;
    } while (!atomic_compare_exchange_weak_explicit(
        &s->value, &v, v + 1, memory_order_seq_cst, memory_order_relaxed));
    if (atomic_load(&s->sleepers) > 0)
        mproc__futex_wake(&s->value, 1);
    return 0;
}

int
mproc_semaphore_get_value(const mproc_semaphore *s, int *value)
{
    if (s == NULL || value == NULL)
        return MPROC_EINVAL;
    *value = (int)atomic_load_explicit(&s->value, memory_order_relaxed);
    return 0;
}

int
mproc_semaphore_token(const mproc_semaphore *s, mproc_token *out)
{
    return mproc__arena_token(s, MPROC__TOKEN_SEMAPHORE, out);
}

int
mproc_semaphore_from_token(mproc_semaphore **out, const mproc_token *t)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_SEMAPHORE, &mem);
    *out = mem;
    return rc;
}

void
mproc_semaphore_free(mproc_semaphore *s)
{
    mproc__arena_unref(s);
}
