/**
 * @file future.h
 * Futures: the result of a task that runs elsewhere.
 * Python: multiprocessing.pool.AsyncResult and concurrent.futures.Future.
 *
 * One type serves both faces: a Pool's apply_async()/map_async() return
 * an mproc_future (pool.h), and so will an Executor's submit(). A future
 * is pending (its task waits in the pool's queue), running (a worker has
 * taken it), then done: succeeded, failed or cancelled.
 *
 * What a failed future carries:
 *   MPROC_ETASK      the task returned a non-zero code; mproc_future_
 *                    exception() gives that code and the message the task
 *                    set with mproc_task_fail() (pool.h)
 *   MPROC_ECRASHED   the worker running it ended first: killed by a signal
 *                    (mproc_future_signal() names it), exited, or killed
 *                    because the task ran past the pool's task_timeout
 *   MPROC_ECANCELLED cancelled before it started (mproc_future_cancel(),
 *                    or the pool was terminated first)
 *   MPROC_ETOOBIG    the argument or the result did not fit the pool's
 *                    queues
 *   MPROC_ENOMEM     the result could not be stored in this process
 *   MPROC_EPROTOCOL  an object task's argument or result could not be
 *                    decoded
 *
 * Callbacks (DESIGN §5.15) run on the pool's result thread of the process
 * that made the future, in completion order, once it is done (as in
 * concurrent.futures: a waiter may see it done before they ran; a map
 * with a progress callback is done after its last progress call); one
 * added to a future that is already done runs at once in the adding
 * thread. A callback may call
 * any mproc function except mproc_pool_join() and mproc_pool_free() of
 * its own pool.
 *
 * Handles are thread-safe: any thread may wait on, query or free a
 * future. A future is not shared with other processes; a forked child
 * must not use its parent's futures.
 */
#ifndef MPROC_FUTURE_H
#define MPROC_FUTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "mproc/common.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The result of a task, or of a whole map. */
typedef struct mproc_future mproc_future;

/** A done callback: the future and the context given with it. */
typedef void (*mproc_future_cb)(mproc_future *f, void *ctx);

/**
 * Wait until the future is done, then give its result bytes.
 *
 * Python: AsyncResult.get(timeout), Future.result(timeout).
 *
 * out      NULL, or receives a copy of the result bytes (free it with
 *          mproc_buf_free()); { NULL, 0 } on failure or when the task
 *          has no bytes to give (a map writes into the caller's array).
 * timeout  seconds; 0 answers at once, MPROC_FOREVER waits.
 *
 * Returns: 0 (succeeded), or
 *   MPROC_ETIMEDOUT  not done within the timeout (the task goes on)
 *   MPROC_ETASK, MPROC_ECRASHED, MPROC_ECANCELLED, MPROC_ETOOBIG,
 *   MPROC_EPROTOCOL  the task failed: see the file comment
 *   MPROC_ENOMEM     no memory for the copy (the result stays)
 *   MPROC_EINVAL     f is NULL, or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_get(mproc_future *f, mproc_buf *out, double timeout);

/**
 * Wait until the future of an object task is done, then decode its
 * result object.
 *
 * Python: AsyncResult.get(timeout) of apply_async(f, args).
 *
 * out      receives a new reference, owned by the caller; NULL on failure.
 * timeout  as mproc_future_get().
 *
 * Returns: as mproc_future_get(), and
 *   MPROC_EPROTOCOL  the result bytes are not an object (the task was not
 *                    an object task)
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_get_obj(mproc_future *f, mproc_obj **out,
                                   double timeout);

/**
 * Wait until the future is done, without looking at its outcome.
 *
 * Python: AsyncResult.wait(timeout) (which returns None either way; here
 * the code says whether it is done).
 *
 * Returns: 0 (done), or
 *   MPROC_ETIMEDOUT  not done within the timeout
 *   MPROC_EINVAL     f is NULL, or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_wait(mproc_future *f, double timeout);

/**
 * Whether the future is done (succeeded, failed or cancelled).
 *
 * Python: AsyncResult.ready(), Future.done().
 *
 * Returns: true when done; false when pending, running, or f is NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API bool mproc_future_ready(mproc_future *f);

/**
 * Whether a done future succeeded.
 *
 * Python: AsyncResult.successful() (a ValueError before it is ready).
 *
 * Returns: 1 (succeeded), 0 (failed or cancelled), or
 *   MPROC_ESTATE  not done yet
 *   MPROC_EINVAL  f is NULL
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_successful(mproc_future *f);

/**
 * Wait until the future is done, then give how it failed.
 *
 * Python: Future.exception(timeout).
 *
 * code     NULL, or receives 0 when the task succeeded, the task's own
 *          non-zero return code when it reported failure (MPROC_ETASK),
 *          else the failure's code (MPROC_ECRASHED ...).
 * message  NULL, or receives the failure's message (the task's
 *          mproc_task_fail() text, or the library's description of a
 *          crash), owned by the future, valid until it is freed; NULL when
 *          there is none.
 * timeout  as mproc_future_get().
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT   not done within the timeout
 *   MPROC_ECANCELLED  the future was cancelled (Python raises
 *                     CancelledError); *code is MPROC_ECANCELLED too
 *   MPROC_EINVAL      f is NULL, or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_exception(mproc_future *f, int *code,
                                     const char **message, double timeout);

/**
 * The signal that killed the worker running the task.
 *
 * Returns: the signal number when the future failed with MPROC_ECRASHED
 * because its worker was killed by a signal (SIGKILL for a task that ran
 * past the pool's task_timeout); 0 otherwise (also while not done).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_signal(mproc_future *f);

/**
 * Cancel the task if no worker has taken it yet. A cancelled future is
 * done, fails with MPROC_ECANCELLED and runs its callbacks.
 *
 * Python: Future.cancel().
 *
 * Returns: true when the future is cancelled now or was before; false
 * when it is running or done otherwise, f is NULL, or it is a map's
 * future (cancel its pending chunks by terminating the pool).
 *
 * Thread-safe: yes.
 */
MPROC_API bool mproc_future_cancel(mproc_future *f);

/**
 * Whether the future was cancelled.
 *
 * Python: Future.cancelled().
 *
 * Returns: true when cancelled; false otherwise or when f is NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API bool mproc_future_cancelled(mproc_future *f);

/**
 * Whether a worker runs the task now.
 *
 * Python: Future.running().
 *
 * Returns: true while some worker has taken the task (or, for a map,
 * any chunk of it) and the future is not done; false otherwise or when f
 * is NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API bool mproc_future_running(mproc_future *f);

/**
 * Call cb(f, ctx) once the future is done: on the pool's result thread,
 * in completion order, or at once in this thread when it is done already.
 * Callbacks run in the order they were added.
 *
 * Python: Future.add_done_callback(fn).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  f or cb is NULL
 *   MPROC_ENOMEM  no memory to record it
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_add_done_callback(mproc_future *f,
                                             mproc_future_cb cb, void *ctx);

/**
 * Free the caller's handle. A task still pending or running goes on (its
 * callbacks still run); its result is dropped when it comes. NULL does
 * nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses this handle.
 */
MPROC_API void mproc_future_free(mproc_future *f);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_FUTURE_H */
