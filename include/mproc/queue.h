/**
 * @file queue.h
 * Queues between processes: Queue, SimpleQueue, JoinableQueue.
 * Python: multiprocessing.Queue, SimpleQueue, JoinableQueue.
 *
 * A queue carries messages, each a string of bytes (mproc_queue_put(),
 * mproc_queue_get()) or an object (mproc_queue_put_obj(),
 * mproc_queue_get_obj(), as its pickle), from any number of producers to
 * any number of consumers, processes and threads alike. Each producer's
 * messages come out in the order it put them.
 *
 * The messages live in a ring of bytes in process-shared memory with no
 * name (memfd), so a killed process tree leaves nothing behind. The ring
 * holds `capacity` bytes (64 MiB by default): a message takes 8 bytes plus
 * its length rounded up to 8. Its memory is taken only while used: pages
 * are touched as messages fill them, and the pages beyond the first MiB
 * are given back to the system once the consumers have left them, so an
 * idle queue or one carrying small messages holds about 1 MiB whatever
 * its capacity. To stay in its first MiB, a producer past it goes back to
 * the ring's start when the consumers have left room there; should they
 * stop before they pass that point, a put that waited for them in vain
 * (one sleep of 50 ms without progress) or ran out of time goes on after
 * the lap they read, so the queue still holds its capacity.
 *
 * Unlike Python there is no feeder thread: a put copies the message into
 * the shared ring before it returns. So a producer that exits right after
 * a put loses nothing, and no process waits at exit for a queue to be
 * drained. A producer or consumer killed in the middle of an operation
 * does not block the others: a message half-written by a killed producer
 * is not there, one half-read by a killed consumer is still there, and the
 * next caller goes on (no error is reported: DESIGN §5.4).
 *
 * Handles are per process, as for the sync objects: a forked child
 * inherits its parent's handles (and may use and free them); a child
 * started by spawn or forkserver gets a handle from a token
 * (mproc_queue_token() ... mproc_queue_from_token()) sent in its argument
 * bytes. The queue lives until the last handle to it, in any process, is
 * freed; freeing a handle never drops the messages another process may
 * still get.
 *
 * Timeouts are seconds: 0 is Python's block=False (answer at once),
 * MPROC_FOREVER (any negative value, or +infinity) waits without limit,
 * NaN is MPROC_EINVAL. Every handle is thread-safe.
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A Queue, SimpleQueue or JoinableQueue: one handle type for the three. */
typedef struct mproc_queue mproc_queue;

/** Options of mproc_queue_new() and mproc_joinable_queue_new(); all zero
 *  means the defaults. */
typedef struct mproc_queue_opts {
    /** The most messages the queue holds; 0: no limit (Python: maxsize <=
     *  0). */
    size_t maxsize;
    /** Bytes of the ring, rounded up to a multiple of 4096, at most 2 GiB;
     *  0: the default, 64 MiB less 8 KiB (the queue is then one 64 MiB
     *  block of shared memory). Memory is taken only while used. A message
     *  longer than capacity - 8 bytes can never be put (MPROC_ETOOBIG). */
    size_t capacity;
} mproc_queue_opts;

/**
 * Create an empty Queue.
 *
 * Python: multiprocessing.Queue(maxsize).
 *
 * out   receives the handle, owned by the caller: free it with
 *       mproc_queue_free(). NULL on failure.
 * opts  NULL or the options (maxsize, capacity).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL, or the capacity is over 2 GiB
 *   MPROC_ENOMEM  no memory, or no more shared memory segments
 */
MPROC_API int mproc_queue_new(mproc_queue **out, const mproc_queue_opts *opts);

/**
 * Create an empty JoinableQueue: a Queue that also counts the messages
 * put and not yet marked done (mproc_queue_task_done(), mproc_queue_join()).
 *
 * Python: multiprocessing.JoinableQueue(maxsize).
 *
 * Returns: as mproc_queue_new().
 */
MPROC_API int mproc_joinable_queue_new(mproc_queue **out,
                                       const mproc_queue_opts *opts);

/**
 * Create an empty SimpleQueue: a Queue with no limit on the number of
 * messages and the default capacity.
 *
 * Python: multiprocessing.SimpleQueue().
 *
 * Returns: as mproc_queue_new().
 */
MPROC_API int mproc_simple_queue_new(mproc_queue **out);

/**
 * Put a copy of `len` bytes at the end of the queue, waiting up to
 * `timeout` seconds for room (maxsize messages held, or not enough free
 * bytes in the ring).
 *
 * Python: Queue.put(obj, block, timeout) for bytes; timeout 0 is
 * block=False.
 *
 * Uncontended, a put costs one compare-and-swap to lock the producers'
 * side, one copy into the ring, one atomic store to publish it and one
 * atomic exchange to unlock; a system call only when a consumer sleeps.
 * The message is in shared memory when the call returns.
 *
 * q        the queue (borrowed).
 * data     the bytes (may be NULL when len is 0).
 * len      their count; at most capacity - 8.
 * timeout  seconds; 0 answers at once, MPROC_FOREVER waits without limit.
 *
 * Returns: 0, or
 *   MPROC_EFULL    no room within the timeout (Python: queue.Full); also
 *                  with timeout 0 while another producer holds the
 *                  producers' lock, as Python's put(block=False)
 *   MPROC_ECLOSED  the queue was closed (mproc_queue_close())
 *   MPROC_ETOOBIG  the message can never fit: longer than capacity - 8
 *   MPROC_EINVAL   q is NULL, data is NULL with len > 0, timeout is NaN
 */
MPROC_API int mproc_queue_put(mproc_queue *q, const void *data, size_t len,
                              double timeout);

/**
 * Take the first message, waiting up to `timeout` seconds for one.
 *
 * Python: Queue.get(block, timeout); timeout 0 is block=False.
 *
 * q        the queue (borrowed).
 * out      receives the message, owned by the caller (mproc_buf_free());
 *          an empty message is {NULL, 0}. Empty on failure.
 * timeout  seconds; 0 answers at once, MPROC_FOREVER waits without limit.
 *
 * Returns: 0, or
 *   MPROC_EEMPTY   no message within the timeout (Python: queue.Empty);
 *                  also with timeout 0 while another consumer holds the
 *                  consumers' lock, as Python's get(block=False)
 *   MPROC_ECLOSED  the queue is closed and every message was taken
 *   MPROC_ENOMEM   no memory for the copy: the message stays first
 *   MPROC_EINVAL   q or out is NULL, timeout is NaN
 */
MPROC_API int mproc_queue_get(mproc_queue *q, mproc_buf *out, double timeout);

/**
 * Take the first message into the caller's buffer.
 *
 * Python: none (as Connection.recv_bytes_into for a queue).
 *
 * buf      the buffer, `size` bytes (may be NULL when size is 0).
 * len      receives the message's length; with MPROC_ETOOSHORT, the size
 *          the buffer would need.
 *
 * Returns: 0, or
 *   MPROC_ETOOSHORT  the message is longer than size: it stays first in
 *                    line for the next get (as BufferTooShort)
 *   MPROC_EEMPTY, MPROC_ECLOSED  as for mproc_queue_get()
 *   MPROC_EINVAL     q or len is NULL, buf NULL with size > 0, timeout NaN
 */
MPROC_API int mproc_queue_get_into(mproc_queue *q, void *buf, size_t size,
                                   size_t *len, double timeout);

/**
 * Put an object: its pickle (protocol 4, Python's multiprocessing
 * default) as one message. The object is encoded first, so an object that
 * cannot be encoded takes no place in the queue.
 *
 * Python: Queue.put(obj, block, timeout).
 *
 * Returns: 0, or the errors of mproc_queue_put() and mproc_obj_dumps()
 * (MPROC_EINVAL for a recursive object, MPROC_ENOMEM).
 */
MPROC_API int mproc_queue_put_obj(mproc_queue *q, const mproc_obj *o,
                                  double timeout);

/**
 * Take the first message as an object (decoded from its pickle).
 *
 * Python: Queue.get(block, timeout).
 *
 * out  receives the object (a new reference); NULL on failure.
 *
 * Returns: 0, or the errors of mproc_queue_get() and mproc_obj_loads()
 * (MPROC_EPROTOCOL: the message was not a pickle of data; it is taken
 * from the queue all the same).
 */
MPROC_API int mproc_queue_get_obj(mproc_queue *q, mproc_obj **out,
                                  double timeout);

/**
 * The number of messages in the queue now (a moment later it may differ).
 *
 * Python: Queue.qsize().
 *
 * n  receives the count.
 *
 * Returns: 0, or MPROC_EINVAL (q or n is NULL).
 *
 * A process killed in the middle of a put or get may leave the count one
 * above the messages really there (never below); maxsize then counts that
 * phantom message too.
 */
MPROC_API int mproc_queue_qsize(const mproc_queue *q, size_t *n);

/**
 * Whether the queue holds no message now.
 *
 * Python: Queue.empty().
 *
 * Returns: true when empty, or when q is NULL.
 */
MPROC_API bool mproc_queue_empty(const mproc_queue *q);

/**
 * Whether the queue holds maxsize messages now (always false without a
 * maxsize; a put may still wait for bytes of room).
 *
 * Python: Queue.full().
 *
 * Returns: true when full; false otherwise or when q is NULL.
 */
MPROC_API bool mproc_queue_full(const mproc_queue *q);

/**
 * Close the queue for every process: later puts fail with MPROC_ECLOSED;
 * gets take the messages still there, then fail with MPROC_ECLOSED. Every
 * producer and consumer that waits is woken. Closing twice is harmless.
 * The handle itself stays valid until mproc_queue_free().
 *
 * Python: Queue.close() says "no more data from this process"; here the
 * queue is closed for all (Python's get raises OSError, put ValueError on
 * a closed queue).
 *
 * Returns: 0, or MPROC_EINVAL (q is NULL).
 */
MPROC_API int mproc_queue_close(mproc_queue *q);

/**
 * Python: Queue.join_thread(): wait for the feeder thread to flush. mproc
 * has no feeder thread (a put has copied its message into shared memory
 * before it returns), so there is nothing to wait for.
 *
 * Returns: 0, or MPROC_EINVAL (q is NULL).
 */
MPROC_API int mproc_queue_join_thread(mproc_queue *q);

/**
 * Python: Queue.cancel_join_thread(): let a process exit without flushing
 * its feeder thread (losing data). mproc has no feeder thread and never
 * makes an exit wait, so there is nothing to cancel; nothing is lost.
 *
 * Returns: 0, or MPROC_EINVAL (q is NULL).
 */
MPROC_API int mproc_queue_cancel_join_thread(mproc_queue *q);

/**
 * Mark one message taken from a JoinableQueue as processed.
 *
 * Python: JoinableQueue.task_done().
 *
 * Returns: 0, or
 *   MPROC_ESTATE  called more times than messages were put (Python:
 *                 ValueError); the count stays unchanged (at 0)
 *   MPROC_EINVAL  q is NULL or not a JoinableQueue
 *
 * A producer killed in the instant between writing a message and
 * publishing it leaves the count one too high, so join() then waits for
 * a task_done() that never comes: give it a timeout.
 */
MPROC_API int mproc_queue_task_done(mproc_queue *q);

/**
 * Wait until every message put in a JoinableQueue has been marked done.
 *
 * Python: JoinableQueue.join() (which has no timeout).
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  messages still unfinished when the time ran out
 *   MPROC_EINVAL     q is NULL or not a JoinableQueue, timeout NaN
 */
MPROC_API int mproc_queue_join(mproc_queue *q, double timeout);

/**
 * Name the queue as a token, for a child started by spawn or forkserver.
 *
 * Returns: 0, or MPROC_EINVAL (q or out is NULL).
 */
MPROC_API int mproc_queue_token(const mproc_queue *q, mproc_token *out);

/**
 * A handle of the queue a token names, in this process.
 *
 * out  receives the handle, owned by the caller: free it with
 *      mproc_queue_free(). NULL on failure.
 * t    a token from mproc_queue_token() (borrowed).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out or t is NULL, t is not a queue's token, or the queue
 *                 it named is gone (every handle was freed)
 *   -ENOENT       the queue lives in shared memory this process does not
 *                 map: made after this process started, or by a process
 *                 that is not an ancestor
 */
MPROC_API int mproc_queue_from_token(mproc_queue **out, const mproc_token *t);

/**
 * Free this process's handle. The queue and its messages live on while
 * another handle to it exists (in any process).
 *
 * q  the handle; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_queue_free(mproc_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_QUEUE_H */
