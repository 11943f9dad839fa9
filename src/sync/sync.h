/*
 * sync/sync.h - what the sync objects share, private side: the holder word
 * of Lock and RLock, and the calls a Condition makes on its lock.
 *
 * The holder word is 64 bits in shared memory, read and changed only with
 * atomic operations:
 *
 *   low 32 bits   the holder's id (pid for a Lock, tid for an RLock), with
 *                 MPROC__OW_WAITERS set while someone may sleep on it;
 *                 0 when free. This half is the futex word.
 *   high 32 bits  the holder's start time (low bits, clock ticks since
 *                 boot), telling a reused pid from the holder.
 *
 * A free word is exactly 0: the waiters bit is only ever set beside a
 * holder, and a release stores 0. So the uncontended acquire is one
 * compare-and-swap from 0, and the release one compare-and-swap to 0 (a
 * futex wake only when the waiters bit was set).
 */
#ifndef MPROC_SYNC_PRIVATE_H
#define MPROC_SYNC_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/sync.h"

#define MPROC__OW_WAITERS 0x80000000u

/* How often a waiter looks at the health of a holder (or of the other
 * parties): a death is seen within one slice of it, plus the look. */
#define MPROC__SLICE_NS ((int64_t)50 * 1000 * 1000)

/* The futex half of a holder word. */
static inline _Atomic uint32_t *
mproc__ow_futex(uint64_t *w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (_Atomic uint32_t *)(void *)w;
#else
    return (_Atomic uint32_t *)(void *)w + 1;
#endif
}

static inline uint64_t
mproc__ow_make(uint32_t id, uint32_t start)
{
    return (uint64_t)start << 32 | id;
}

/* The contended acquire: wait until the word is free or its holder dead,
 * then take it as `me`. Returns 0, MPROC_EOWNERDEAD (taken from a dead
 * holder), MPROC_ETIMEDOUT or MPROC_EINVAL (NaN timeout). self_id is the
 * caller's process for a Lock (a holder of that id is alive by definition). */
int mproc__ow_acquire_slow(uint64_t *w, uint64_t me, double timeout,
                           uint32_t self_id);
/* Store 0 over a held word whose value was `held` (the compare-and-swap
 * the caller already did), waking a waiter if `held` had the bit set. */
void mproc__ow_released(uint64_t *w, uint64_t held);

/* A Condition's calls on its lock. */
bool mproc__lock_is_held(const mproc_lock *l);
/* Release an RLock whatever its level, and give the level back later. */
int mproc__rlock_release_save(mproc_rlock *r, uint32_t *levels);
int mproc__rlock_acquire_restore(mproc_rlock *r, uint32_t levels);

#endif /* MPROC_SYNC_PRIVATE_H */
