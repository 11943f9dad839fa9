/**
 * @file conn.h
 * Connections: message channels over pipes and sockets. Python:
 * multiprocessing.Pipe, multiprocessing.connection.Connection and
 * multiprocessing.connection.wait; beyond Python's Connection, descriptors
 * passed over Unix connections (Python's reduction.send_handle/recv_handle).
 *
 * A message is a run of bytes, possibly empty; messages never merge or
 * split. The framing is CPython's, byte for byte, so a C process and a
 * Python process can talk over the same connection:
 *
 *     +----------------+----------------+
 *     | i32 length, BE |  length bytes   |      length < 2^31
 *     +----------------+----------------+
 *     +------+--------------+-----------+
 *     |  -1  | u64 length BE|   bytes   |      length >= 2^31
 *     +------+--------------+-----------+
 *
 * Receives never read past the message they return, so the descriptor's
 * readability (poll, epoll, mproc_wait) always tells whether a message is
 * coming. A receive that runs out of time keeps what it has read in the
 * connection and the next receive goes on from there: the stream stays in
 * sync. A peer's length is untrusted: memory is taken as the bytes arrive,
 * never on the peer's word alone.
 *
 * Costs, per message: a send is one send(2) (a message up to 16 KiB is
 * copied behind its header, as CPython does; a longer one goes as two
 * iovecs, uncopied); a receive is two reads (header, body). A receive
 * with a finite timeout on a socket first sets SO_RCVTIMEO to the time
 * left (when it changed; the option stays on the socket, so a process
 * sharing the descriptor sees it); on a pipe, it polls first.
 *
 * Thread-safe: yes; sends are serialised with sends and receives with
 * receives, so a message is never interleaved with another. Fork: a child
 * may use an inherited connection (Python's rules: only one process should
 * read a given connection at a time).
 */
#ifndef MPROC_CONN_H
#define MPROC_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A connection: one end of a pipe or a connected socket. */
typedef struct mproc_conn mproc_conn;

/** Options of mproc_conn_new(); all zero: readable and writable. */
typedef struct mproc_conn_opts {
    /** Only receive (Python: writable=False). */
    bool read_only;
    /** Only send (Python: readable=False). */
    bool write_only;
} mproc_conn_opts;

/**
 * Make a pair of connected connections.
 *
 * Python: multiprocessing.Pipe(duplex).
 *
 * a       receives the first end: with duplex false, the receiving end.
 * b       receives the second end: with duplex false, the sending end.
 * duplex  true: a socketpair, both ends send and receive; false: a pipe,
 *         `a` only receives and `b` only sends.
 *
 * Returns: 0, or a negated errno (-EMFILE ...). Both out-parameters are
 * NULL on failure.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_pipe(mproc_conn **a, mproc_conn **b, bool duplex);

/**
 * Wrap a descriptor (a socket or a pipe end) as a connection.
 *
 * Python: Connection(handle, readable, writable).
 *
 * out   receives the connection, owned by the caller (mproc_conn_free()).
 * fd    the descriptor, adopted: the connection closes it.
 * opts  NULL or options.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  fd is negative, or both read_only and write_only
 *   -EBADF        fd is not open
 */
MPROC_API int mproc_conn_new(mproc_conn **out, int fd,
                             const mproc_conn_opts *opts);

/**
 * Send one message: `size` bytes from `buf + offset`.
 *
 * Python: Connection.send_bytes(buf, offset, size).
 *
 * Blocks while the peer's buffer is full (no timeout: Python's send has
 * none; a peer that never reads is detected by closing it). A signal does
 * not interrupt it.
 *
 * Returns: 0, or
 *   -EPIPE         the peer closed its end (never a SIGPIPE)
 *   -EBADF         the connection is read-only
 *   MPROC_ECLOSED  the connection was closed
 *   MPROC_EINVAL   buf is NULL with size > 0
 */
MPROC_API int mproc_conn_send_bytes(mproc_conn *c, const void *buf,
                                    size_t offset, size_t size);

/**
 * Receive one message into a fresh buffer.
 *
 * Python: Connection.recv_bytes(maxlength).
 *
 * out        receives the message, owned by the caller (mproc_buf_free());
 *            an empty message is {NULL, 0}. Left empty on failure.
 * maxlength  the longest message accepted; 0: no limit.
 * timeout    seconds to wait for the whole message; 0 polls,
 *            MPROC_FOREVER blocks. What arrived before the time ran out
 *            stays in the connection for the next receive.
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  no whole message in time
 *   MPROC_EEOF       the peer closed its end (Python: EOFError)
 *   MPROC_ETOOBIG    the message is longer than maxlength; the connection
 *                    is then closed, as Python does (OSError "bad message
 *                    length")
 *   -EBADF           the connection is write-only
 *   MPROC_ECLOSED    the connection was closed
 */
MPROC_API int mproc_conn_recv_bytes(mproc_conn *c, mproc_buf *out,
                                    size_t maxlength, double timeout);

/**
 * Receive one message into the caller's buffer, at `buf + offset`.
 *
 * Python: Connection.recv_bytes_into(buf, offset).
 *
 * buf       the buffer, `size` bytes in all.
 * offset    where the message goes; at most size.
 * received  receives the message's length; with MPROC_ETOOSHORT, the
 *           length the buffer would need from offset on.
 * timeout   as for mproc_conn_recv_bytes().
 *
 * Returns: 0, or
 *   MPROC_ETOOSHORT  the message does not fit: it stays first in line for
 *                    the next receive (Python: BufferTooShort)
 *   MPROC_ETIMEDOUT, MPROC_EEOF, -EBADF, MPROC_ECLOSED  as for
 *                    mproc_conn_recv_bytes()
 *   MPROC_EINVAL     offset > size, or buf NULL with size > 0
 */
MPROC_API int mproc_conn_recv_bytes_into(mproc_conn *c, void *buf, size_t size,
                                         size_t offset, size_t *received,
                                         double timeout);

/**
 * Send an object as one message: its pickle (protocol 4, as Python's
 * Connection.send), so a Python peer's recv() gets an equal object.
 *
 * Python: Connection.send(obj).
 *
 * Returns: 0, or the errors of mproc_conn_send_bytes() and
 * mproc_obj_dumps() (MPROC_EINVAL for a recursive object); nothing is
 * sent on an encoding error.
 */
MPROC_API int mproc_conn_send_obj(mproc_conn *c, const mproc_obj *o);

/**
 * Receive one message and decode it as a pickle of data only (never
 * executing anything it names; see mproc_obj_loads()).
 *
 * Python: Connection.recv().
 *
 * out      receives the object (a new reference); NULL on failure.
 * timeout  as for mproc_conn_recv_bytes().
 *
 * Returns: 0, or the errors of mproc_conn_recv_bytes(), or
 *   MPROC_EPROTOCOL, MPROC_ETOOBIG  the message is not an acceptable
 *                    pickle (it is consumed; the stream stays in sync)
 */
MPROC_API int mproc_conn_recv_obj(mproc_conn *c, mproc_obj **out,
                                  double timeout);

/**
 * Whether a message (or the end of the stream) is ready to receive,
 * waiting up to `timeout`. Consumes nothing.
 *
 * Python: Connection.poll(timeout).
 *
 * Returns: 0 when something is ready (a receive will not wait for its
 * first byte), or
 *   MPROC_ETIMEDOUT  nothing arrived in time
 *   -EBADF           the connection is write-only
 *   MPROC_ECLOSED    the connection was closed
 */
MPROC_API int mproc_conn_poll(mproc_conn *c, double timeout);

/**
 * Send descriptors over a Unix-socket connection, as one out-of-band
 * byte carrying them (Python's reduction.sendfds/send_handle, wire
 * compatible). The receiver must call mproc_conn_recv_fds() at the same
 * point of the stream.
 *
 * fds  the descriptors (borrowed: the receiver gets duplicates).
 * n    how many, 1 to 64.
 *
 * Returns: 0, or -EPIPE, -EBADF, MPROC_ECLOSED as for sending;
 *   -ENOTSOCK / -EINVAL  not a Unix socket; MPROC_EINVAL for a bad n.
 */
MPROC_API int mproc_conn_send_fds(mproc_conn *c, const int *fds, size_t n);

/**
 * Receive descriptors sent with mproc_conn_send_fds() (or Python's
 * send_handle). They arrive close-on-exec, owned by the caller.
 *
 * fds      receives exactly n descriptors.
 * n        how many are expected, 1 to 64.
 * timeout  as for receiving.
 *
 * Returns: 0, or MPROC_ETIMEDOUT, MPROC_EEOF, -EBADF, MPROC_ECLOSED, or
 *   MPROC_EPROTOCOL  no descriptors, or another number of them, came
 *                    (any that came are closed)
 */
MPROC_API int mproc_conn_recv_fds(mproc_conn *c, int *fds, size_t n,
                                  double timeout);

/**
 * Close the connection's descriptor. Later calls return MPROC_ECLOSED;
 * closing again does nothing.
 *
 * Python: Connection.close().
 *
 * Returns: 0.
 *
 * Thread-safe: not with a call in progress on the same connection in
 * another thread (as close(2) itself).
 */
MPROC_API int mproc_conn_close(mproc_conn *c);

/**
 * The connection's descriptor, for poll/epoll/mproc_wait. Owned by the
 * connection.
 *
 * Python: Connection.fileno().
 *
 * Returns: the descriptor, or MPROC_ECLOSED after close.
 */
MPROC_API int mproc_conn_fileno(const mproc_conn *c);

/**
 * Whether the connection is closed.
 *
 * Python: Connection.closed.
 *
 * Returns: true after mproc_conn_close() (or a maxlength violation).
 */
MPROC_API bool mproc_conn_is_closed(const mproc_conn *c);

/**
 * Whether the connection may receive.
 *
 * Python: Connection.readable.
 *
 * Returns: the flag.
 */
MPROC_API bool mproc_conn_is_readable(const mproc_conn *c);

/**
 * Whether the connection may send.
 *
 * Python: Connection.writable.
 *
 * Returns: the flag.
 */
MPROC_API bool mproc_conn_is_writable(const mproc_conn *c);

/**
 * Close (if open) and free a connection.
 *
 * c  the connection; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_conn_free(mproc_conn *c);

/**
 * Wait until some of the descriptors are ready: readable, at end of file,
 * or in error. Connections' filenos, process sentinels and any other
 * descriptors may be mixed.
 *
 * Python: multiprocessing.connection.wait(object_list, timeout).
 *
 * fds      the descriptors to watch (borrowed).
 * n        how many.
 * ready    receives the ready ones, in the order of fds (room for n).
 * nready   receives how many are ready; 0 when the time ran out.
 * timeout  seconds; 0 polls, MPROC_FOREVER waits for the first.
 *
 * Returns: 0 (also when the time ran out: *nready is then 0, as Python's
 * empty list), or
 *   MPROC_EINVAL  a NULL array with n > 0, a negative descriptor, or NaN
 *   -EBADF        a descriptor is not open
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_wait(const int *fds, size_t n, int *ready, size_t *nready,
                         double timeout);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CONN_H */
