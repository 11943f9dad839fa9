/**
 * @file future.h
 * Futures: the result of a task that runs elsewhere.
 * Python: multiprocessing.pool.AsyncResult and concurrent.futures.Future.
 *
 * One type serves both faces: a Pool's apply_async()/map_async() (pool.h)
 * and an Executor's submit() (below) return an mproc_future. A future is
 * pending (its task waits in the pool's queue), running (a worker has
 * taken it), then done: succeeded, failed or cancelled. Python's two
 * classes name some verbs twice; here each has one name:
 *
 *   AsyncResult.get(t), Future.result(t)    mproc_future_get(f, &out, t)
 *   AsyncResult.ready(), Future.done()      mproc_future_ready(f)
 *   AsyncResult.wait(t)                     mproc_future_wait(f, t)
 *   Future.exception(t)                     mproc_future_exception()
 *   Future.cancel(), cancelled(), running() mproc_future_cancel() ...
 *   Future.add_done_callback(fn)            mproc_future_add_done_callback()
 *   concurrent.futures.wait, as_completed   mproc_wait_futures(),
 *                                           mproc_as_completed()
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
#include "mproc/context.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The result of a task, or of a whole map. */
typedef struct mproc_future mproc_future;

/** A done callback: the future and the context given with it. */
typedef void (*mproc_future_cb)(mproc_future *f, void *ctx);

/** An iterator over results in input or completion order: of
 *  mproc_pool_imap(), mproc_pool_imap_unordered(), mproc_executor_map()
 *  and mproc_executor_map_bufs() (pool.h has its verbs). */
typedef struct mproc_imap mproc_imap;

/**
 * A task on bytes: arg/len are the argument bytes (NULL and 0 when there
 * are none); the task may set *out to result bytes it allocated with
 * malloc() (the pool frees them). Returns 0, or a non-zero failure code
 * (see mproc_task_fail()).
 */
typedef int (*mproc_task_fn)(const void *arg, size_t len, mproc_buf *out);

/**
 * A task on an object: arg is borrowed; the task sets *out to a new
 * reference (NULL is Python's None). Returns 0, or a non-zero failure
 * code.
 */
typedef int (*mproc_obj_task_fn)(const mproc_obj *arg, mproc_obj **out);

/**
 * A map's function, called once per item: in points at in_size bytes of
 * the item (for a starmap, the argument struct), out at out_size bytes to
 * fill (suitably aligned for any scalar when the sizes are multiples of
 * 8). Returns 0, or a non-zero failure code.
 */
typedef int (*mproc_item_fn)(const void *in, void *out);

/** A worker's initializer, run once in each worker before its first task,
 *  with a copy of the initializer's argument bytes. */
typedef void (*mproc_pool_init_fn)(const void *arg, size_t len);

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

/**
 * A descriptor that turns readable when the future is done, for event
 * loops (poll, epoll, libuv) to wait on. It stays readable; it belongs to
 * the future (do not close it) and lives until mproc_future_free().
 *
 * Returns: the descriptor, or
 *   MPROC_EINVAL  f is NULL
 *   -errno        no descriptor could be made (EMFILE ...)
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_future_fd(mproc_future *f);

/* ---- waiting for many --------------------------------------------------- */

/** When mproc_wait_futures() returns. */
enum mproc_return_when {
    /** Every future is done (Python: ALL_COMPLETED). */
    MPROC_ALL_COMPLETED = 0,
    /** Any future is done (Python: FIRST_COMPLETED). */
    MPROC_FIRST_COMPLETED,
    /** Any future failed (cancelled ones do not count), or all are done
     *  (Python: FIRST_EXCEPTION). */
    MPROC_FIRST_EXCEPTION
};

/**
 * Wait until the futures meet `when`, or the timeout passes; then say
 * which are done. The futures may come from different pools and
 * executors; one given twice counts once.
 *
 * Python: concurrent.futures.wait(fs, timeout, return_when).
 *
 * fs       n futures (borrowed).
 * when     an enum mproc_return_when.
 * timeout  seconds; 0 looks once.
 * done     NULL, or n flags: done[i] tells whether fs[i] is done (Python's
 *          done set; the others are its not_done set).
 * ndone    NULL, or receives how many of fs[i] are done.
 *
 * Returns: 0 (also when the timeout passed: look at done), or
 *   MPROC_EINVAL  fs NULL with n > 0, a NULL future, a bad when, NaN
 *                 timeout
 *   MPROC_ENOMEM  no memory
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_wait_futures(mproc_future *const *fs, size_t n,
                                 enum mproc_return_when when, double timeout,
                                 bool *done, size_t *ndone);

/** An iterator giving futures as they finish. */
typedef struct mproc_as_completed_iter mproc_as_completed_iter;

/**
 * Start giving the futures as they finish; the timeout counts from now
 * for the whole iteration. A future given twice is given once.
 *
 * Python: concurrent.futures.as_completed(fs, timeout).
 *
 * fs       n futures (borrowed: they must outlive the iterator).
 * timeout  seconds for all of them; MPROC_FOREVER: no limit.
 * out      receives the iterator (mproc_as_completed_free()).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  fs NULL with n > 0, a NULL future, out NULL, NaN
 *                 timeout
 *   MPROC_ENOMEM  no memory
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_as_completed(mproc_future *const *fs, size_t n,
                                 double timeout, mproc_as_completed_iter **out);

/**
 * The next future to finish (those done already first, in the order
 * given).
 *
 * f  receives the future (borrowed from the caller's array).
 *
 * Returns: 0, or
 *   MPROC_EEOF       every future was given
 *   MPROC_ETIMEDOUT  the iteration's timeout passed first (Python's
 *                    TimeoutError); later calls still give futures that
 *                    finish
 *   MPROC_EINVAL     it or f is NULL
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_as_completed_next(mproc_as_completed_iter *it,
                                      mproc_future **f);

/**
 * Free the iterator (the futures stay). NULL does nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses it.
 */
MPROC_API void mproc_as_completed_free(mproc_as_completed_iter *it);

/* ---- executors ------------------------------------------------------------
 */

/** concurrent.futures' ProcessPoolExecutor and ThreadPoolExecutor: the
 *  pool's engine (pool.h) seen as an executor. */
typedef struct mproc_executor mproc_executor;

/** Options of mproc_executor_new(); all zero means the defaults. */
typedef struct mproc_executor_opts {
    /** Workers; 0: the CPUs this process may use for processes, that
     *  plus 4 (at most 32) for threads, as Python. */
    int max_workers;
    /** Run once in each worker before its first task; NULL: none. */
    mproc_pool_init_fn initializer;
    const void *initargs;
    size_t initargs_len;
    /** Tasks a worker runs before it is replaced; 0: no limit. */
    int max_tasks_per_child;
    /** How worker processes start; MPROC_START_DEFAULT: the process-wide
     *  choice (Python: mp_context). */
    enum mproc_start_method start_method;
    /** Threads of this process: ThreadPoolExecutor. */
    bool threads;
    /** Bytes of the task and result queues (pool.h); 0: 64 MiB. */
    size_t capacity;
} mproc_executor_opts;

/**
 * Start an executor: its workers and the threads of its pool.
 *
 * Python: ProcessPoolExecutor(max_workers, mp_context, initializer,
 * initargs, max_tasks_per_child); ThreadPoolExecutor with opts->threads.
 *
 * Beyond Python: a worker that dies fails only the task it ran (the
 * future gives MPROC_ECRASHED and the signal) and is replaced; Python
 * breaks the whole executor (BrokenProcessPool).
 *
 * Returns: 0, or as mproc_pool_new() (MPROC_EINVAL for a negative count,
 * initargs NULL with a length, a bad start method).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_executor_new(mproc_executor **out,
                                 const mproc_executor_opts *opts);

/**
 * Queue fn(arg, len) for a worker.
 *
 * Python: Executor.submit(fn, *args).
 *
 * out  receives the future, owned by the caller (mproc_future_free()).
 *
 * Returns: 0, or
 *   MPROC_ESTATE   shut down (Python's RuntimeError)
 *   MPROC_ETOOBIG  the argument does not fit the task queue
 *   MPROC_EINVAL   e, fn or out NULL, arg NULL with len > 0
 *   MPROC_ENOMEM   no memory
 *
 * Thread-safe: yes (from a done callback too).
 */
MPROC_API int mproc_executor_submit(mproc_executor *e, mproc_task_fn fn,
                                    const void *arg, size_t len,
                                    mproc_future **out);

/**
 * Queue fn(arg) for a worker; mproc_future_get_obj() gives its result.
 *
 * Python: Executor.submit(fn, arg).
 *
 * Returns: as mproc_executor_submit(), and MPROC_EINVAL when arg cannot
 * be pickled.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_executor_submit_obj(mproc_executor *e, mproc_obj_task_fn fn,
                                        const mproc_obj *arg,
                                        mproc_future **out);

/**
 * Map fn over n items of in_size bytes (copied now, all queued at once,
 * in chunks of chunksize items); mproc_imap_next() then gives the results
 * in input order, a failure at its item. The timeout counts from this
 * call for the whole iteration: next() returns MPROC_ETIMEDOUT once it
 * passed.
 *
 * Python: Executor.map(fn, iterable, timeout, chunksize).
 *
 * chunksize  items per task; 0: 1 (Python's default); negative:
 *            MPROC_EINVAL.
 * out        receives the iterator (mproc_imap_free() cancels what has
 *            not started).
 *
 * Returns: 0, or
 *   MPROC_ESTATE   shut down
 *   MPROC_ETOOBIG  a chunk does not fit the task queue
 *   MPROC_EINVAL   e, fn or out NULL, in NULL with items of some size,
 *                  NaN timeout, negative chunksize
 *   MPROC_ENOMEM   no memory
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_executor_map(mproc_executor *e, mproc_item_fn fn,
                                 const void *in, size_t n, size_t in_size,
                                 size_t out_size, long chunksize,
                                 double timeout, mproc_imap **out);

/**
 * Map a task on bytes over n buffers (copied now); mproc_imap_next_buf()
 * gives the results in input order.
 *
 * Python: Executor.map(fn, list_of_bytes, timeout, chunksize).
 *
 * Returns: as mproc_executor_map().
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_executor_map_bufs(mproc_executor *e, mproc_task_fn fn,
                                      const mproc_buf *in, size_t n,
                                      long chunksize, double timeout,
                                      mproc_imap **out);

/**
 * Stop taking tasks. With cancel_futures, every task not yet started is
 * cancelled (its future fails with MPROC_ECANCELLED and its callbacks
 * run); the others run to the end. With wait, return once they have and
 * every worker left; without, return at once (mproc_executor_free()
 * waits). Calling it again only waits (if asked).
 *
 * Python: Executor.shutdown(wait, cancel_futures).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  e is NULL
 *   MPROC_ESTATE  wait from a done callback of this executor (it would
 *                 wait for its own thread)
 *
 * Thread-safe: yes; a callback may call it without wait.
 */
MPROC_API int mproc_executor_shutdown(mproc_executor *e, bool wait,
                                      bool cancel_futures);

/**
 * Shut down (waiting) unless done, and free the executor. Its futures
 * stay valid handles. NULL does nothing.
 *
 * Python: Executor.__exit__.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses it; not from its callbacks.
 */
MPROC_API void mproc_executor_free(mproc_executor *e);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_FUTURE_H */
