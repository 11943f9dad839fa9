/**
 * @file pool.h
 * Pool: a fixed set of worker processes (or threads) running tasks.
 * Python: multiprocessing.Pool, multiprocessing.pool.AsyncResult,
 * multiprocessing.dummy.Pool (the thread backend).
 *
 * A task is a C function run in a worker: on bytes (mproc_task_fn), on an
 * object (mproc_obj_task_fn), or once per item of a typed array
 * (mproc_item_fn). Tasks travel through two queues in shared memory with
 * no name (a task queue every worker takes from, a result queue), so
 * dispatch costs no system call while workers are busy; an idle worker
 * sleeps on a futex and is woken by the next task.
 *
 * A task fails by returning non-zero, optionally after mproc_task_fail()
 * set a message; the future carries both (future.h).
 *
 * Beyond Python:
 * - A worker that dies (any signal, or exit) fails only the task it ran,
 *   with MPROC_ECRASHED and the signal, and is replaced; the pool goes on.
 * - task_timeout: a worker whose task runs longer is killed (SIGKILL) and
 *   replaced; the task fails with MPROC_ECRASHED, signal SIGKILL.
 * - Maps have a progress callback (done, total).
 * - mproc_pool_terminate() cancels every pending task at once
 *   (MPROC_ECANCELLED) instead of leaving its results unset.
 * - Workers ignore SIGINT (Ctrl-C reaches the parent, which decides), and
 *   leave when the parent dies, however it died.
 *
 * Functions: under fork and with threads a task function is called
 * through its pointer; under spawn and forkserver it is found again in the
 * worker by (loaded object, offset), as a process target is, so it must be
 * code of the program or of a library loaded at start-up.
 *
 * Callbacks (apply_async's callback and error_callback, a map's progress,
 * a future's done callbacks) run on the pool's result thread, in
 * completion order (DESIGN §5.15); they may call any mproc function but
 * mproc_pool_join() and mproc_pool_free() of their own pool (and should
 * not wait for a map of their own pool that has a progress callback: its
 * progress runs on their thread). A future is done before its callbacks
 * run (as in concurrent.futures), except a map with a progress callback,
 * done after its last progress call (so a blocking map returns after
 * it).
 *
 * Submitting copies the task into the task queue and never waits: while
 * the queue is full (capacity bytes of tasks waiting), further tasks wait
 * in this process, copied, in order, and go to the queue as the workers
 * make room (Python's queue has no bound either).
 *
 * Every handle is thread-safe. A pool belongs to the process that made it:
 * a forked child must not use its parent's pool.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "mproc/common.h"
#include "mproc/context.h"
#include "mproc/future.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A pool of workers. */
typedef struct mproc_pool mproc_pool;

/**
 * An imap's source of items: write the next item (in_size bytes) at item
 * and return 1, return 0 when there are no more, or a negative code to
 * stop (mproc_imap_next() then returns it once the items before are
 * given). Called from the threads that call mproc_pool_imap() and
 * mproc_imap_next(), never concurrently.
 */
typedef int (*mproc_produce_fn)(void *ctx, void *item);

/** A map's progress: done of total items finished. */
typedef void (*mproc_progress_fn)(size_t done, size_t total, void *ctx);

/** Options of mproc_pool_new(); all zero means the defaults. */
typedef struct mproc_pool_opts {
    /** Workers; 0: the CPUs this process may use (mproc_cpu_count()).
     *  Python: processes. */
    int processes;
    /** Run once in each worker before its first task; NULL: none. */
    mproc_pool_init_fn initializer;
    /** The initializer's argument bytes (copied). */
    const void *initargs;
    size_t initargs_len;
    /** Tasks a worker runs before it is replaced; 0: no limit. */
    int maxtasksperchild;
    /** Seconds a task may run before its worker is killed and replaced;
     *  0: no limit. Processes only (a thread cannot be stopped). */
    double task_timeout;
    /** How worker processes start; MPROC_START_DEFAULT: the process-wide
     *  choice. Python: the context. */
    enum mproc_start_method start_method;
    /** Threads of this process instead of processes
     *  (multiprocessing.dummy). */
    bool threads;
    /** Bytes of each of the task and result queues (see queue.h); 0: 64
     *  MiB. Memory is taken only while used. An argument or result that
     *  does not fit fails its task with MPROC_ETOOBIG. */
    size_t capacity;
} mproc_pool_opts;

/** Callbacks of an asynchronous call: callback when the future succeeds,
 *  error_callback when it fails (cancelled included); each gets the
 *  future (read it with a zero timeout) and ctx. */
typedef struct mproc_async_opts {
    mproc_future_cb callback;
    mproc_future_cb error_callback;
    void *ctx;
} mproc_async_opts;

/** Options of the maps; all zero means the defaults. */
typedef struct mproc_map_opts {
    /** Items per task; 0: Python's rule (n / (4 x workers), rounded up).
     *  Negative: MPROC_EINVAL. */
    long chunksize;
    /** Called as chunks finish, with the items done so far; NULL: none. */
    mproc_progress_fn progress;
    void *progress_ctx;
    /** map_async only (a blocking map refuses them): the future's
     *  callbacks. */
    mproc_async_opts async;
} mproc_map_opts;

/** Options of the imaps; all zero means the defaults. */
typedef struct mproc_imap_opts {
    /** Items per task; 0: 1 (Python's default). Negative: MPROC_EINVAL. */
    long chunksize;
    /** A source of items instead of an array; it is asked for items as
     *  results are taken, so at most about 8 tasks per worker are in
     *  flight and memory stays bounded however many items it gives. */
    mproc_produce_fn produce;
    void *produce_ctx;
} mproc_imap_opts;

/**
 * Start a pool: its workers, a thread that watches them and one that
 * runs callbacks.
 *
 * Python: Pool(processes, initializer, initargs, maxtasksperchild,
 * context); multiprocessing.dummy.Pool with opts->threads.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL, processes, maxtasksperchild or
 *                 task_timeout is negative (or NaN), task_timeout with
 *                 threads, more than 4096 workers, initargs NULL with a
 *                 length, capacity over 2 GiB, or a bad start method
 *   MPROC_ENOMEM  no memory (private or shared)
 *   other         a worker could not be started (mproc_process_start()'s
 *                 codes), or a thread could not be created (-errno)
 *
 * Thread-safe: yes. Under fork the workers are copies of this process
 * made now (and later, when one is replaced).
 */
MPROC_API int mproc_pool_new(mproc_pool **out, const mproc_pool_opts *opts);

/**
 * Run fn(arg, len) in a worker and wait for its result.
 *
 * Python: Pool.apply(func, args).
 *
 * out      NULL, or receives the result bytes (free with mproc_buf_free());
 *          { NULL, 0 } on failure.
 * timeout  seconds; on timeout the task is cancelled if it has not
 *          started, else it runs on and its result is dropped.
 *
 * Returns: 0, a failure of the task (see future.h), or
 *   MPROC_ETIMEDOUT  no result within the timeout
 *   MPROC_ESTATE     the pool is closed or terminated
 *   MPROC_ETOOBIG    the argument does not fit the task queue
 *   MPROC_EINVAL     p or fn is NULL, arg NULL with len > 0, NaN timeout
 *   MPROC_ENOMEM     no memory
 *
 * Thread-safe: yes; not from a callback of this pool (it would wait for
 * the thread it runs on).
 */
MPROC_API int mproc_pool_apply(mproc_pool *p, mproc_task_fn fn, const void *arg,
                               size_t len, mproc_buf *out, double timeout);

/**
 * Queue fn(arg, len) for a worker; the future gives its result.
 *
 * Python: Pool.apply_async(func, args, callback, error_callback).
 *
 * opts  NULL, or the callbacks (borrowed; copied now).
 * out   receives the future, owned by the caller (mproc_future_free()).
 *
 * Returns: 0, or
 *   MPROC_ESTATE   the pool is closed or terminated
 *   MPROC_ETOOBIG  the argument does not fit the task queue
 *   MPROC_EINVAL   p, fn or out is NULL, or arg NULL with len > 0
 *   MPROC_ENOMEM   no memory, or over a million tasks in flight
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_apply_async(mproc_pool *p, mproc_task_fn fn,
                                     const void *arg, size_t len,
                                     const mproc_async_opts *opts,
                                     mproc_future **out);

/**
 * Run fn(arg) in a worker and wait for its result object.
 *
 * Python: Pool.apply(func, (arg,)).
 *
 * out  NULL, or receives a new reference to the result.
 *
 * Returns: as mproc_pool_apply(), and MPROC_EINVAL when arg cannot be
 * pickled (nothing is queued then), MPROC_EPROTOCOL when the result
 * cannot be decoded.
 *
 * Thread-safe: yes; not from a callback of this pool.
 */
MPROC_API int mproc_pool_apply_obj(mproc_pool *p, mproc_obj_task_fn fn,
                                   const mproc_obj *arg, mproc_obj **out,
                                   double timeout);

/**
 * Queue fn(arg) for a worker; mproc_future_get_obj() gives its result.
 *
 * Python: Pool.apply_async(func, (arg,), callback, error_callback).
 *
 * Returns: as mproc_pool_apply_async(), and MPROC_EINVAL when arg cannot
 * be pickled.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_apply_async_obj(mproc_pool *p, mproc_obj_task_fn fn,
                                         const mproc_obj *arg,
                                         const mproc_async_opts *opts,
                                         mproc_future **out);

/**
 * Map fn over n items of in_size bytes at in, writing n results of
 * out_size bytes at out, in order. Items go to workers in chunks; each
 * chunk's inputs and outputs are copied once, whole.
 *
 * Python: Pool.map(func, iterable, chunksize).
 *
 * in/out   NULL only with n 0 (or a size 0). out is written as chunks
 *          finish, never after the call returned; after a failure, items
 *          of chunks that did not run are left as they were.
 * opts     NULL or options; the async callbacks must be unset.
 * timeout  seconds for the whole map; on timeout the chunks not started
 *          are cancelled, and the results of those running are dropped.
 *
 * Returns: 0, the failure of the first chunk that failed, in completion
 * order (the chunks not yet started are then cancelled), or
 *   MPROC_ETIMEDOUT  not done within the timeout
 *   MPROC_ESTATE     the pool is closed or terminated
 *   MPROC_ETOOBIG    a chunk does not fit the queues: use a smaller one
 *   MPROC_EINVAL     p or fn is NULL, NULL arrays with items, a negative
 *                    chunksize, callbacks set, NaN timeout
 *   MPROC_ENOMEM     no memory
 *
 * Thread-safe: yes; not from a callback of this pool.
 */
MPROC_API int mproc_pool_map(mproc_pool *p, mproc_item_fn fn, const void *in,
                             size_t n, size_t in_size, void *out,
                             size_t out_size, const mproc_map_opts *opts,
                             double timeout);

/**
 * Start a map; the future is done when every chunk is. in is copied
 * before the call returns; out must stay valid until the future is done.
 *
 * Python: Pool.map_async(func, iterable, chunksize, callback,
 * error_callback).
 *
 * Returns: as mproc_pool_map() for the start (never MPROC_ETIMEDOUT);
 * the future fails as mproc_pool_map() would.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_map_async(mproc_pool *p, mproc_item_fn fn,
                                   const void *in, size_t n, size_t in_size,
                                   void *out, size_t out_size,
                                   const mproc_map_opts *opts,
                                   mproc_future **f);

/**
 * mproc_pool_map() where each item is an argument struct, fn unpacking
 * it: C's form of Python's tuples of arguments.
 *
 * Python: Pool.starmap(func, iterable_of_tuples, chunksize).
 *
 * Returns: as mproc_pool_map().
 *
 * Thread-safe: yes; not from a callback of this pool.
 */
MPROC_API int mproc_pool_starmap(mproc_pool *p, mproc_item_fn fn,
                                 const void *in, size_t n, size_t in_size,
                                 void *out, size_t out_size,
                                 const mproc_map_opts *opts, double timeout);

/**
 * mproc_pool_map_async() over argument structs.
 *
 * Python: Pool.starmap_async(func, iterable, chunksize, callback,
 * error_callback).
 *
 * Returns: as mproc_pool_map_async().
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_starmap_async(mproc_pool *p, mproc_item_fn fn,
                                       const void *in, size_t n, size_t in_size,
                                       void *out, size_t out_size,
                                       const mproc_map_opts *opts,
                                       mproc_future **f);

/**
 * Map a task on bytes over n buffers: out[i] receives fn's result for
 * in[i] (free each with mproc_buf_free()).
 *
 * Python: Pool.map(func, list_of_bytes).
 *
 * out  an array of n buffers, set to { NULL, 0 } first; after a failure
 *      the ones set hold results, the rest stay empty.
 *
 * Returns: as mproc_pool_map().
 *
 * Thread-safe: yes; not from a callback of this pool.
 */
MPROC_API int mproc_pool_map_bufs(mproc_pool *p, mproc_task_fn fn,
                                  const mproc_buf *in, size_t n, mproc_buf *out,
                                  const mproc_map_opts *opts, double timeout);

/**
 * Map a task on objects over the items of a list or tuple; *out receives
 * a new list of the results, in order.
 *
 * Python: Pool.map(func, list).
 *
 * Returns: as mproc_pool_map(), and MPROC_EINVAL when items is not a list
 * or tuple or an item cannot be pickled, MPROC_EPROTOCOL when a result
 * cannot be decoded.
 *
 * Thread-safe: yes; not from a callback of this pool.
 */
MPROC_API int mproc_pool_map_obj(mproc_pool *p, mproc_obj_task_fn fn,
                                 const mproc_obj *items, mproc_obj **out,
                                 const mproc_map_opts *opts, double timeout);

/**
 * Map fn over items lazily: mproc_imap_next() gives the results in input
 * order. Items come from in (n of in_size bytes, copied before the call
 * returns) or, when opts->produce is set, from that callback (in and n are
 * then ignored).
 *
 * Python: Pool.imap(func, iterable, chunksize).
 *
 * out  receives the iterator, owned by the caller (mproc_imap_free());
 *      NULL on failure.
 *
 * Returns: 0, or
 *   MPROC_ESTATE   the pool is closed or terminated
 *   MPROC_ETOOBIG  a chunk does not fit the queues
 *   MPROC_EINVAL   p, fn or out is NULL, in NULL with items, a negative
 *                  chunksize
 *   MPROC_ENOMEM   no memory
 *   a produce callback's negative code, when it failed before giving
 *                  any item
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_imap(mproc_pool *p, mproc_item_fn fn, const void *in,
                              size_t n, size_t in_size, size_t out_size,
                              const mproc_imap_opts *opts, mproc_imap **out);

/**
 * As mproc_pool_imap(), but results come in completion order.
 *
 * Python: Pool.imap_unordered(func, iterable, chunksize).
 *
 * Returns: as mproc_pool_imap().
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_imap_unordered(mproc_pool *p, mproc_item_fn fn,
                                        const void *in, size_t n,
                                        size_t in_size, size_t out_size,
                                        const mproc_imap_opts *opts,
                                        mproc_imap **out);

/**
 * The next result: out_size bytes written at out, its item's index in
 * *index.
 *
 * Python: IMapIterator.next(timeout).
 *
 * out      out_size bytes; NULL only when out_size is 0.
 * index    NULL, or receives the item's index (its place in the input).
 * timeout  seconds; 0 answers at once.
 *
 * Returns: 0, or
 *   MPROC_EEOF       no more results (Python's StopIteration)
 *   MPROC_ETIMEDOUT  none within the timeout (Python's TimeoutError)
 *   a task failure   (future.h's codes) for the chunk holding *index, the
 *                    item that failed; the chunk's other results are not
 *                    given (as in Python) and the next call goes on with
 *                    the next chunk; mproc_imap_error() tells more
 *   a produce callback's negative code, once, then MPROC_EEOF
 *   MPROC_EINVAL     it or out is NULL (with out_size > 0), NaN timeout,
 *                    or it is a map over buffers (mproc_imap_next_buf())
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_imap_next(mproc_imap *it, void *out, size_t *index,
                              double timeout);

/**
 * The next result of a map over buffers (mproc_executor_map_bufs()), in
 * input order.
 *
 * Python: the iterator of Executor.map(fn, list_of_bytes).
 *
 * out      receives the result's bytes, owned by the caller
 *          (mproc_buf_free()); { NULL, 0 } unless 0 is returned.
 * index    NULL, or receives the item's index.
 * timeout  seconds; 0 answers at once.
 *
 * Returns: as mproc_imap_next(), and MPROC_EINVAL when the iterator is
 * not a map over buffers (mproc_imap_next() refuses those likewise).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_imap_next_buf(mproc_imap *it, mproc_buf *out, size_t *index,
                                  double timeout);

/**
 * How the last failure mproc_imap_next() returned came about (it stays
 * until another failure replaces it).
 *
 * code     NULL, or receives the task's own code (MPROC_ETASK failures)
 *          or the failure's code; 0 when there was none.
 * message  NULL, or receives its message, owned by the iterator until the
 *          next failure replaces it or the iterator is freed; NULL when
 *          there is none.
 *
 * Returns: 0, or MPROC_EINVAL when it is NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_imap_error(mproc_imap *it, int *code, const char **message);

/**
 * Free an iterator. Its tasks still queued are cancelled; running ones
 * finish and their results are dropped. NULL does nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses it.
 */
MPROC_API void mproc_imap_free(mproc_imap *it);

/**
 * Record a failure message for the task that is running in this thread,
 * and return code, so a task can end with
 * `return mproc_task_fail(7, "no such item %d", k);`. The message is cut
 * at 4096 bytes.
 *
 * Returns: code.
 *
 * Thread-safe: yes (the message is per thread). Outside a task it only
 * returns code.
 */
MPROC_API int mproc_task_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * Take no more tasks; workers leave once the queued tasks are done.
 *
 * Python: Pool.close().
 *
 * Returns: 0, or
 *   MPROC_ESTATE  closed or terminated before
 *   MPROC_EINVAL  p is NULL
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_close(mproc_pool *p);

/**
 * Stop at once: every pending task is cancelled (its future fails with
 * MPROC_ECANCELLED, its error callback runs), every worker process is
 * killed (SIGKILL; a running task fails with MPROC_ECANCELLED). A worker
 * thread cannot be killed: it finishes the task it runs (whose future
 * then gives its outcome) and leaves. Returns without waiting for the
 * workers (mproc_pool_join() does that).
 *
 * Python: Pool.terminate().
 *
 * Returns: 0, or
 *   MPROC_ESTATE  terminated before
 *   MPROC_EINVAL  p is NULL
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_terminate(mproc_pool *p);

/**
 * Wait for the workers to leave (after close) or die (after terminate),
 * and for the pool's threads to end, with every callback run.
 *
 * Python: Pool.join().
 *
 * Returns: 0, or
 *   MPROC_ESTATE     neither closed nor terminated (Python's ValueError),
 *                    or called from a callback of this pool
 *   MPROC_ETIMEDOUT  not all gone within the timeout (call again)
 *   MPROC_EINVAL     p is NULL, or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pool_join(mproc_pool *p, double timeout);

/**
 * Free a pool: terminate it unless it was joined, join it, and free it.
 * Futures and iterators of the pool stay valid handles (every one is
 * done). NULL does nothing.
 *
 * Python: Pool.__exit__ (terminate).
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses the pool; not from a
 * callback of this pool.
 */
MPROC_API void mproc_pool_free(mproc_pool *p);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_POOL_H */
