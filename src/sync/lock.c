/*
 * sync/lock.c - mproc_lock: Python's multiprocessing.Lock, and the holder
 * word it shares with the RLock (sync.h).
 *
 * The lock is one holder word in the arena: the holder's pid and start
 * time, or 0. Any process may release it (Python's rule); a holder that
 * dies before releasing is found by the waiters, which look at its health
 * before each sleep (kill(pid, 0)) and, after a sleep of a whole slice
 * (50 ms) with the word unchanged, also at /proc (a zombie, or the pid
 * reused): the first to see it takes the word over and reports
 * MPROC_EOWNERDEAD.
 *
 * System calls per operation: an uncontended acquire and release, none
 * (one compare-and-swap each). Contended: a short spin, then per sleep one
 * kill(pid, 0) and one FUTEX_WAIT; the release then does one FUTEX_WAKE.
 *
 * Fork: a child inherits its parent's handles (the arena adds references);
 * a Lock held by the parent stays held by the parent in the child's view.
 */
#include "sync/sync.h"

#include <math.h>

#include "shm/shm.h"
#include "sys/sys.h"

/* The handle is the lock itself, an arena block: a process holds one
 * reference per handle it was given (see shm/shm.h). */
struct mproc_lock {
    uint64_t word; /* holder word (sync.h); atomic access only */
};

/* Spins on a held word before sleeping: enough to outlast a short critical
 * section in another process on another CPU, far less than a sleep. */
#define SPINS 100

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static bool
take(uint64_t *w, uint64_t *seen, uint64_t me)
{
    return __atomic_compare_exchange_n(w, seen, me, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

int
mproc__ow_acquire_slow(uint64_t *w, uint64_t me, double timeout,
                       uint32_t self_id)
{
    struct mproc__deadline dl;
    bool thorough = false;
    int spins = timeout == 0 ? SPINS : 0;

    if (mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    for (;;) {
        uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
        uint32_t id = (uint32_t)v & ~MPROC__OW_WAITERS;
        int rc;

        /* Taken from here on with the waiters bit: others may sleep. */
        if (v == 0) {
            if (take(w, &v, me | MPROC__OW_WAITERS))
                return 0;
            continue;
        }
        if (spins < SPINS) {
            spins++;
            cpu_relax();
            continue;
        }
        if (id != self_id &&
            mproc__holder_is_dead((pid_t)id, (uint32_t)(v >> 32), thorough)) {
            /* The full word is compared: a holder that came meanwhile,
             * even under the same pid, makes this fail. */
            if (take(w, &v, me | MPROC__OW_WAITERS))
                return MPROC_EOWNERDEAD;
            continue;
        }
        if (mproc__deadline_passed(&dl))
            return MPROC_ETIMEDOUT;
        if (!(v & MPROC__OW_WAITERS)) {
            uint64_t marked = v | MPROC__OW_WAITERS;

            if (!__atomic_compare_exchange_n(
                    w, &v, marked, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                continue;
            v = marked;
        }
        rc = mproc__futex_wait(mproc__ow_futex(w), (uint32_t)v,
                               mproc__slice_ns(&dl, MPROC__SLICE_NS));
        /* A whole slice with the same holder: look closer next time. */
        thorough =
            rc == MPROC_ETIMEDOUT && __atomic_load_n(w, __ATOMIC_RELAXED) == v;
    }
}

void
mproc__ow_released(uint64_t *w, uint64_t held)
{
    if (held & MPROC__OW_WAITERS)
        mproc__futex_wake(mproc__ow_futex(w), 1);
}

int
mproc_lock_new(mproc_lock **out)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_alloc(sizeof(mproc_lock), 0, &mem);
    *out = mem;
    return rc;
}

int
mproc_lock_acquire(mproc_lock *l, double timeout)
{
    uint64_t me, seen = 0;

    if (l == NULL || isnan(timeout))
        return MPROC_EINVAL;
    me = mproc__self_holder();
    if (take(&l->word, &seen, me))
        return 0;
    return mproc__ow_acquire_slow(&l->word, me, timeout, (uint32_t)me);
}

int
mproc_lock_release(mproc_lock *l)
{
    uint64_t v;

    if (l == NULL)
        return MPROC_EINVAL;
    v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    do {
        if ((uint32_t)v == 0)
            return MPROC_ESTATE;
    } while (!__atomic_compare_exchange_n(&l->word, &v, 0, false,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    mproc__ow_released(&l->word, v);
    return 0;
}

bool
mproc_lock_locked(const mproc_lock *l)
{
    return l != NULL && mproc__lock_is_held(l);
}

bool
mproc__lock_is_held(const mproc_lock *l)
{
    return (uint32_t)__atomic_load_n(&l->word, __ATOMIC_RELAXED) != 0;
}

int
mproc_lock_token(const mproc_lock *l, mproc_token *out)
{
    return mproc__arena_token(l, MPROC__TOKEN_LOCK, out);
}

int
mproc_lock_from_token(mproc_lock **out, const mproc_token *t)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_LOCK, &mem);
    *out = mem;
    return rc;
}

void
mproc_lock_free(mproc_lock *l)
{
    mproc__arena_unref(l);
}
