/**
 * @file sync.h
 * Synchronization between processes: Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Event, Barrier.
 * Python: multiprocessing.Lock, RLock, Semaphore, BoundedSemaphore,
 * Condition, Event, Barrier (threading's semantics, shared by processes).
 *
 * Every object lives in process-shared memory with no name (memfd), so a
 * killed process tree leaves nothing behind. A handle is per process: with
 * fork, a child inherits its parent's handles and may use and free them
 * (freeing a handle never destroys what another process still uses); a
 * child started by spawn or forkserver gets a handle from a token
 * (mproc_lock_token() ... mproc_lock_from_token()) sent inside its
 * argument bytes. The object lives until the last handle to it, in any
 * process, is freed.
 *
 * The death of a holder is reported, never a silent deadlock: when a
 * process dies holding an RLock, or holding a Lock it acquired and had not
 * released, the next acquirer (already waiting or arriving later) gets
 * MPROC_EOWNERDEAD within about 100 ms of the death, with the lock
 * acquired, so it can repair the state the lock guards and then release
 * it. A process killed while waiting on a Condition, a Semaphore or a
 * Barrier leaves the counts of the others intact.
 *
 * Timeouts are seconds: 0 tries once, MPROC_FOREVER (any negative value,
 * or +infinity) waits without limit, NaN is MPROC_EINVAL. Every handle is
 * thread-safe: the threads of one process may share it.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock ---------------------------------------------------------------- */

/** A non-recursive lock that any process (or thread) may release. */
typedef struct mproc_lock mproc_lock;

/**
 * Create an unlocked Lock.
 *
 * Python: multiprocessing.Lock().
 *
 * out  receives the handle, owned by the caller: free it with
 *      mproc_lock_free(). NULL on failure.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL
 *   MPROC_ENOMEM  no memory, or no more shared memory segments
 */
MPROC_API int mproc_lock_new(mproc_lock **out);

/**
 * Acquire the lock, waiting up to `timeout` seconds.
 *
 * Python: Lock.acquire(block, timeout); timeout 0 is block=False.
 *
 * Uncontended, this is one atomic compare-and-swap and no system call.
 *
 * l        the lock (borrowed).
 * timeout  seconds; 0 tries once, MPROC_FOREVER waits without limit.
 *
 * Returns: 0 (acquired), or
 *   MPROC_ETIMEDOUT   still held by another when the time ran out
 *                     (Python: acquire returned False)
 *   MPROC_EOWNERDEAD  acquired, but the process that held it died without
 *                     releasing it: repair what it guards, then release
 *   MPROC_EINVAL      l is NULL or timeout is NaN
 *
 * Thread-safe: yes. Acquiring a Lock the caller already holds waits (a
 * deadlock with MPROC_FOREVER), as in Python.
 */
MPROC_API int mproc_lock_acquire(mproc_lock *l, double timeout);

/**
 * Release the lock. Any process or thread may release it, not only the
 * one that acquired it (Python's rule).
 *
 * Python: Lock.release().
 *
 * Uncontended, this is one atomic compare-and-swap; a futex wake-up
 * (one system call) only when someone waits.
 *
 * Returns: 0, or
 *   MPROC_ESTATE  the lock was not locked (Python: ValueError)
 *   MPROC_EINVAL  l is NULL
 */
MPROC_API int mproc_lock_release(mproc_lock *l);

/**
 * Whether the lock is held by anyone now.
 *
 * Python: threading.Lock.locked() (multiprocessing's Lock has no such
 * method before 3.14).
 *
 * Returns: true when held; false when free or l is NULL.
 */
MPROC_API bool mproc_lock_locked(const mproc_lock *l);

/**
 * Name the lock as a token, for a child started by spawn or forkserver.
 *
 * l    the lock (borrowed).
 * out  receives the token (plain bytes: copy it into the argument bytes).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  l or out is NULL
 */
MPROC_API int mproc_lock_token(const mproc_lock *l, mproc_token *out);

/**
 * A handle of the lock a token names, in this process.
 *
 * out  receives the handle, owned by the caller: free it with
 *      mproc_lock_free(). NULL on failure.
 * t    a token from mproc_lock_token() (borrowed).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out or t is NULL, t is not a Lock's token, or the lock
 *                 it named is gone (every handle was freed)
 *   -ENOENT       the lock lives in shared memory this process does not
 *                 map: it was made after this process started, or by a
 *                 process that is not an ancestor
 */
MPROC_API int mproc_lock_from_token(mproc_lock **out, const mproc_token *t);

/**
 * Free this process's handle. The lock itself lives on while another
 * handle to it exists (in any process). Freeing does not release the
 * lock: a Lock held by nobody alive is reported to its next acquirer as
 * MPROC_EOWNERDEAD only when its holder dies.
 *
 * l  the handle; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_lock_free(mproc_lock *l);

/* ---- RLock --------------------------------------------------------------- */

/** A recursive lock: owned by one thread, which may acquire it again. */
typedef struct mproc_rlock mproc_rlock;

/**
 * Create an unowned RLock.
 *
 * Python: multiprocessing.RLock().
 *
 * out  receives the handle, owned by the caller: free it with
 *      mproc_rlock_free(). NULL on failure.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL
 */
MPROC_API int mproc_rlock_new(mproc_rlock **out);

/**
 * Acquire the RLock: at once, counting one level more, when the calling
 * thread owns it; otherwise wait up to `timeout` seconds for it.
 *
 * Python: RLock.acquire(block, timeout).
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT   owned by another thread when the time ran out
 *   MPROC_EOWNERDEAD  acquired (at level 1), but the thread that owned it
 *                     died (its process died, or the thread ended) without
 *                     releasing it: repair, then release
 *   MPROC_EINVAL      r is NULL or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_rlock_acquire(mproc_rlock *r, double timeout);

/**
 * Release one level; the RLock is free when its level reaches 0.
 *
 * Python: RLock.release().
 *
 * Returns: 0, or
 *   MPROC_EPERM   another thread (of this or another process) owns it
 *                 (Python: RuntimeError "cannot release un-acquired lock")
 *   MPROC_ESTATE  nobody owns it (Python: the same RuntimeError)
 *   MPROC_EINVAL  r is NULL
 */
MPROC_API int mproc_rlock_release(mproc_rlock *r);

/**
 * Whether the calling thread owns the RLock.
 *
 * Python: RLock._is_owned().
 *
 * Returns: true when owned by the calling thread; false otherwise or when
 * r is NULL.
 */
MPROC_API bool mproc_rlock_is_owned(const mproc_rlock *r);

/**
 * Name the RLock as a token (see mproc_lock_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  r or out is NULL
 */
MPROC_API int mproc_rlock_token(const mproc_rlock *r, mproc_token *out);

/**
 * A handle of the RLock a token names (see mproc_lock_from_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, not an RLock's token, or the RLock is
 *                 gone
 *   -ENOENT       its memory is not mapped in this process
 */
MPROC_API int mproc_rlock_from_token(mproc_rlock **out, const mproc_token *t);

/**
 * Free this process's handle (see mproc_lock_free()).
 *
 * Returns: nothing.
 */
MPROC_API void mproc_rlock_free(mproc_rlock *r);

/* ---- Semaphore, BoundedSemaphore -------------------------------------- */

/** A counter that acquire decrements, waiting while it is 0. */
typedef struct mproc_semaphore mproc_semaphore;

/**
 * Create a Semaphore with an initial value.
 *
 * Python: multiprocessing.Semaphore(value).
 *
 * out    receives the handle, owned by the caller: free it with
 *        mproc_semaphore_free(). NULL on failure.
 * value  the initial value, 0 or more.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL or value is negative
 */
MPROC_API int mproc_semaphore_new(mproc_semaphore **out, int value);

/**
 * Create a BoundedSemaphore: a Semaphore whose value may never exceed its
 * initial value (mproc_semaphore_release() refuses).
 *
 * Python: multiprocessing.BoundedSemaphore(value).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL or value is negative
 */
MPROC_API int mproc_bounded_semaphore_new(mproc_semaphore **out, int value);

/**
 * Decrement the value, waiting up to `timeout` seconds while it is 0.
 *
 * Python: Semaphore.acquire(block, timeout).
 *
 * With the value above 0 this is one atomic compare-and-swap and no
 * system call. A waiter killed meanwhile takes nothing from the value.
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  the value stayed 0 (Python: acquire returned False)
 *   MPROC_EINVAL     s is NULL or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_semaphore_acquire(mproc_semaphore *s, double timeout);

/**
 * Increment the value, waking one waiter if any.
 *
 * Python: Semaphore.release().
 *
 * One atomic operation; a futex wake-up (one system call) only when a
 * waiter may be sleeping.
 *
 * Returns: 0, or
 *   MPROC_ESTATE  a BoundedSemaphore already at its initial value (Python:
 *                 ValueError); the value is unchanged
 *   -EOVERFLOW    the value is INT_MAX
 *   MPROC_EINVAL  s is NULL
 */
MPROC_API int mproc_semaphore_release(mproc_semaphore *s);

/**
 * Read the value now.
 *
 * Python: Semaphore.get_value().
 *
 * Returns: 0, or
 *   MPROC_EINVAL  s or value is NULL
 */
MPROC_API int mproc_semaphore_get_value(const mproc_semaphore *s, int *value);

/**
 * Name the semaphore (bounded or not) as a token (see mproc_lock_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  s or out is NULL
 */
MPROC_API int mproc_semaphore_token(const mproc_semaphore *s, mproc_token *out);

/**
 * A handle of the semaphore a token names (see mproc_lock_from_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, not a semaphore's token, or it is gone
 *   -ENOENT       its memory is not mapped in this process
 */
MPROC_API int mproc_semaphore_from_token(mproc_semaphore **out,
                                         const mproc_token *t);

/**
 * Free this process's handle (see mproc_lock_free()).
 *
 * Returns: nothing.
 */
MPROC_API void mproc_semaphore_free(mproc_semaphore *s);

/* ---- Condition ----------------------------------------------------------- */

/** A condition variable over a Lock or an RLock. */
typedef struct mproc_condition mproc_condition;

/** Options of mproc_condition_new(); all zero means the defaults. */
typedef struct mproc_condition_opts {
    /** The Lock to use (the condition takes its own reference); NULL: see
     *  rlock (Python: lock). */
    mproc_lock *lock;
    /** The RLock to use, when lock is NULL; both NULL: a new RLock
     *  (Python's default). */
    mproc_rlock *rlock;
} mproc_condition_opts;

/**
 * Create a Condition.
 *
 * Python: multiprocessing.Condition(lock=None).
 *
 * out   receives the handle, owned by the caller: free it with
 *       mproc_condition_free(). NULL on failure.
 * opts  NULL or options (borrowed; the lock is shared, not copied).
 *
 * At most 256 processes or threads wait on one condition at a time.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL, or both lock and rlock are given
 */
MPROC_API int mproc_condition_new(mproc_condition **out,
                                  const mproc_condition_opts *opts);

/**
 * Acquire the condition's lock (see mproc_lock_acquire() and
 * mproc_rlock_acquire(): the same codes).
 *
 * Python: Condition.acquire(block, timeout).
 *
 * Returns: 0, or MPROC_ETIMEDOUT, MPROC_EOWNERDEAD, MPROC_EINVAL.
 */
MPROC_API int mproc_condition_acquire(mproc_condition *c, double timeout);

/**
 * Release the condition's lock (see mproc_lock_release() and
 * mproc_rlock_release()).
 *
 * Python: Condition.release().
 *
 * Returns: 0, or MPROC_ESTATE, MPROC_EPERM, MPROC_EINVAL.
 */
MPROC_API int mproc_condition_release(mproc_condition *c);

/**
 * Release the lock, wait until notified or `timeout` seconds pass, and
 * acquire the lock again (without limit) before returning. An RLock held at
 * several levels is released fully and given back at the same level.
 *
 * Python: Condition.wait(timeout).
 *
 * Returns: 0 (notified), or
 *   MPROC_ETIMEDOUT   not notified in time (Python: wait returned False)
 *   MPROC_EOWNERDEAD  notified or timed out, and re-acquiring the lock
 *                     found its holder dead: repair the state
 *   MPROC_ESTATE      the caller does not hold the lock (Python:
 *                     RuntimeError); nothing waited
 *   -EAGAIN           256 waiters already wait on this condition
 *   MPROC_EINVAL      c is NULL or timeout is NaN
 * In every case but the last three the lock is held again on return.
 */
MPROC_API int mproc_condition_wait(mproc_condition *c, double timeout);

/**
 * Wait until pred(ctx) is true, for up to `timeout` seconds in all.
 *
 * Python: Condition.wait_for(predicate, timeout).
 *
 * The predicate is evaluated with the lock held, first before any wait.
 *
 * Returns: 0 (the predicate is true), or
 *   MPROC_ETIMEDOUT   still false when the time ran out (Python: wait_for
 *                     returned False)
 *   MPROC_EOWNERDEAD  a re-acquire found the lock's holder dead (the
 *                     predicate may be true or not; the lock is held):
 *                     repair the state
 *   MPROC_ESTATE      the caller does not hold the lock
 *   MPROC_EINVAL      c or pred is NULL, or timeout is NaN
 */
MPROC_API int mproc_condition_wait_for(mproc_condition *c,
                                       bool (*pred)(void *ctx), void *ctx,
                                       double timeout);

/**
 * Wake up to n of the waiters, oldest first. Exactly min(n, waiters alive
 * now) are woken; a notify with no waiter is not remembered, and a waiter
 * that died or timed out is skipped.
 *
 * Python: Condition.notify(n).
 *
 * Returns: 0, or
 *   MPROC_ESTATE  the caller does not hold the lock (Python: RuntimeError)
 *   MPROC_EINVAL  c is NULL or n is negative
 */
MPROC_API int mproc_condition_notify(mproc_condition *c, int n);

/**
 * Wake every waiter.
 *
 * Python: Condition.notify_all().
 *
 * Returns: 0, or
 *   MPROC_ESTATE  the caller does not hold the lock
 *   MPROC_EINVAL  c is NULL
 */
MPROC_API int mproc_condition_notify_all(mproc_condition *c);

/**
 * Name the condition as a token (see mproc_lock_token()); its lock comes
 * with it.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  c or out is NULL
 */
MPROC_API int mproc_condition_token(const mproc_condition *c, mproc_token *out);

/**
 * A handle of the condition a token names (see mproc_lock_from_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, not a condition's token, or it is gone
 *   -ENOENT       its memory is not mapped in this process
 */
MPROC_API int mproc_condition_from_token(mproc_condition **out,
                                         const mproc_token *t);

/**
 * Free this process's handle (see mproc_lock_free()); the condition's
 * reference to its lock goes with the condition itself.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_condition_free(mproc_condition *c);

/* ---- Event --------------------------------------------------------------- */

/** A flag that processes wait on until it is set. */
typedef struct mproc_event mproc_event;

/**
 * Create an Event, clear.
 *
 * Python: multiprocessing.Event().
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL
 */
MPROC_API int mproc_event_new(mproc_event **out);

/**
 * Set the flag and wake every waiter.
 *
 * Python: Event.set().
 *
 * One atomic exchange; a futex wake-up (one system call) only when someone
 * waits.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  e is NULL
 */
MPROC_API int mproc_event_set(mproc_event *e);

/**
 * Clear the flag.
 *
 * Python: Event.clear().
 *
 * Returns: 0, or
 *   MPROC_EINVAL  e is NULL
 */
MPROC_API int mproc_event_clear(mproc_event *e);

/**
 * Whether the flag is set.
 *
 * Python: Event.is_set().
 *
 * Returns: true when set; false when clear or e is NULL.
 */
MPROC_API bool mproc_event_is_set(const mproc_event *e);

/**
 * Wait until the flag is set, up to `timeout` seconds.
 *
 * Python: Event.wait(timeout).
 *
 * No system call when the flag is already set; one futex wait otherwise.
 *
 * Returns: 0 (set), or
 *   MPROC_ETIMEDOUT  still clear when the time ran out (Python: wait
 *                    returned False)
 *   MPROC_EINVAL     e is NULL or timeout is NaN
 */
MPROC_API int mproc_event_wait(mproc_event *e, double timeout);

/**
 * Name the event as a token (see mproc_lock_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  e or out is NULL
 */
MPROC_API int mproc_event_token(const mproc_event *e, mproc_token *out);

/**
 * A handle of the event a token names (see mproc_lock_from_token()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, not an event's token, or it is gone
 *   -ENOENT       its memory is not mapped in this process
 */
MPROC_API int mproc_event_from_token(mproc_event **out, const mproc_token *t);

/**
 * Free this process's handle (see mproc_lock_free()).
 *
 * Returns: nothing.
 */
MPROC_API void mproc_event_free(mproc_event *e);

/* ---- Barrier ------------------------------------------------------------- */

/** A meeting point for a fixed number of parties. */
typedef struct mproc_barrier mproc_barrier;

/** Options of mproc_barrier_new(); all zero means the defaults. */
typedef struct mproc_barrier_opts {
    /** Run once per pass by the party that arrives last, before any party
     *  is released; a non-zero return breaks the barrier (every party
     *  gets MPROC_EBROKEN). NULL: none (Python: action). The function and
     *  its ctx belong to this handle and to handles a fork copies of it;
     *  a handle made from a token has none. */
    int (*action)(void *ctx);
    /** Passed to action. */
    void *action_ctx;
    /** Seconds a wait given MPROC_FOREVER waits before it breaks the
     *  barrier; 0: without limit (Python: timeout). */
    double timeout;
} mproc_barrier_opts;

/**
 * Create a Barrier for `parties` parties.
 *
 * Python: multiprocessing.Barrier(parties, action, timeout).
 *
 * out      receives the handle, owned by the caller: free it with
 *          mproc_barrier_free(). NULL on failure.
 * parties  how many parties each pass waits for, 1 or more.
 * opts     NULL or options (borrowed).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL, parties is below 1 or above 65536, or the
 *                 timeout is negative or NaN
 */
MPROC_API int mproc_barrier_new(mproc_barrier **out, int parties,
                                const mproc_barrier_opts *opts);

/**
 * Wait until `parties` parties have called wait, then all go on.
 *
 * Python: Barrier.wait(timeout).
 *
 * b        the barrier (borrowed).
 * timeout  seconds; any negative value (MPROC_FOREVER) uses the barrier's
 *          own timeout (opts.timeout: without limit when 0); +infinity
 *          waits without limit.
 * index    NULL, or receives this party's index in the pass: distinct,
 *          from 0 to parties-1 in the order of arrival (Python: wait's
 *          return value).
 *
 * A wait that times out breaks the barrier. A party that dies while it
 * waits is dropped from the pass within about 100 ms (the pass then waits
 * for another party to take its place).
 *
 * Returns: 0, or
 *   MPROC_EBROKEN  the barrier is broken or was reset while waiting, this
 *                  wait timed out (and broke it), or the action failed
 *                  (Python: BrokenBarrierError)
 *   MPROC_EINVAL   b is NULL or timeout is NaN
 */
MPROC_API int mproc_barrier_wait(mproc_barrier *b, double timeout, int *index);

/**
 * Return the barrier to its initial state: parties waiting now get
 * MPROC_EBROKEN; a broken barrier is usable again.
 *
 * Python: Barrier.reset().
 *
 * Returns: 0, or
 *   MPROC_EINVAL  b is NULL
 */
MPROC_API int mproc_barrier_reset(mproc_barrier *b);

/**
 * Break the barrier: parties waiting now and every later wait get
 * MPROC_EBROKEN until mproc_barrier_reset().
 *
 * Python: Barrier.abort().
 *
 * Returns: 0, or
 *   MPROC_EINVAL  b is NULL
 */
MPROC_API int mproc_barrier_abort(mproc_barrier *b);

/**
 * Whether the barrier is broken.
 *
 * Python: Barrier.broken.
 *
 * Returns: true when broken; false otherwise or when b is NULL.
 */
MPROC_API bool mproc_barrier_is_broken(const mproc_barrier *b);

/**
 * How many parties wait in the current pass.
 *
 * Python: Barrier.n_waiting.
 *
 * Returns: the count (0 when broken or b is NULL).
 */
MPROC_API int mproc_barrier_n_waiting(const mproc_barrier *b);

/**
 * How many parties a pass waits for.
 *
 * Python: Barrier.parties.
 *
 * Returns: the count (0 when b is NULL).
 */
MPROC_API int mproc_barrier_parties(const mproc_barrier *b);

/**
 * Name the barrier as a token (see mproc_lock_token()). The action does
 * not travel (opts.action).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  b or out is NULL
 */
MPROC_API int mproc_barrier_token(const mproc_barrier *b, mproc_token *out);

/**
 * A handle of the barrier a token names (see mproc_lock_from_token()),
 * without an action.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, not a barrier's token, or it is gone
 *   -ENOENT       its memory is not mapped in this process
 */
MPROC_API int mproc_barrier_from_token(mproc_barrier **out,
                                       const mproc_token *t);

/**
 * Free this process's handle (see mproc_lock_free()).
 *
 * Returns: nothing.
 */
MPROC_API void mproc_barrier_free(mproc_barrier *b);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SYNC_H */
