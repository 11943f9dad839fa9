/**
 * @file listener.h
 * Listeners and clients: connections between processes that know each
 * other only by an address, with CPython's authkey handshake. Python:
 * multiprocessing.connection.Listener, Client, deliver_challenge,
 * answer_challenge.
 *
 * Addresses (DESIGN.md §5.10):
 *   unix:PATH           a Unix socket at PATH
 *   unix:\@NAME         a Linux abstract socket (no file)
 *   tcp://HOST:PORT     TCP over IPv4 or IPv6; HOST a name or a literal,
 *                       IPv6 literals in brackets: tcp://[::1]:6000
 * A listener on TCP port 0 gets a free port; mproc_listener_address()
 * tells which.
 *
 * Authentication is CPython's challenge/response, byte-compatible with
 * both forms: a challenge "#CHALLENGE#{sha256}" + 40 random bytes (3.12+),
 * answered by "{sha256}" + HMAC-SHA256 over the whole challenge; peers of
 * 3.11 and older answer any challenge with a bare 16-byte HMAC-MD5, which
 * is accepted, and send bare 20-byte challenges, which are answered with
 * HMAC-MD5. The verifier sends "#WELCOME#" or "#FAILURE#". As in Python,
 * the listener delivers a challenge and then answers one, the client the
 * reverse, so both ends prove they hold the key. Challenges come from the
 * OS random source (getrandom), HMACs and the constant-time comparison
 * from libcrypto, and no handshake message over 256 bytes is read.
 * libcrypto is loaded at the first handshake (not linked: it would slow
 * every program's start); where it cannot be loaded, handshakes return
 * -ELIBACC.
 */
#ifndef MPROC_LISTENER_H
#define MPROC_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A listening socket. */
typedef struct mproc_listener mproc_listener;

/** Options of mproc_listener_new(); all zero means the defaults. */
typedef struct mproc_listener_opts {
    /** Pending connections the kernel queues; 0: 128 (Python: backlog,
     *  whose default is 1; a larger queue is never worse here). */
    int backlog;
    /** The key every client must prove it holds (copied; it may be
     *  empty, as Python's b""); NULL: no authentication, as Python's
     *  authkey=None. Use
     *  mproc_process_authkey(mproc_current_process(), ...) for Python's
     *  usual choice. */
    const void *authkey;
    /** Its length in bytes. */
    size_t authkey_len;
    /** Seconds a connecting peer has to complete the handshake before it
     *  is dropped; 0: 10 s; negative: no limit of its own. */
    double handshake_timeout;
} mproc_listener_opts;

/** Options of mproc_client(); all zero means the defaults. */
typedef struct mproc_client_opts {
    /** The key to prove and to demand (copied; it may be empty); NULL: no
     *  authentication. */
    const void *authkey;
    /** Its length in bytes. */
    size_t authkey_len;
} mproc_client_opts;

/**
 * Bind and listen on an address.
 *
 * Python: Listener(address, family, backlog, authkey).
 *
 * out      receives the listener, owned by the caller
 *          (mproc_listener_free()).
 * address  as in this file's comment (borrowed).
 * opts     NULL or options.
 *
 * Returns: 0, or
 *   MPROC_EINVAL   a malformed address (unknown scheme, missing port, bad
 *                  port number, path too long for a Unix socket: 107
 *                  bytes at most), a negative backlog, a NaN handshake
 *                  timeout, or an authkey of 0 bytes
 *   -EADDRINUSE    the address is taken (for a path: the file exists; it
 *                  is left alone, as Python does)
 *   -EACCES, ...   other errors of socket/bind/listen
 *   -ENOENT        the host name does not resolve (EAI errors map here)
 *   -EAGAIN        the resolver failed for now (EAI_AGAIN)
 */
MPROC_API int mproc_listener_new(mproc_listener **out, const char *address,
                                 const mproc_listener_opts *opts);

/**
 * Accept one connection and, with an authkey, authenticate it.
 *
 * Python: Listener.accept().
 *
 * out      receives the connection, owned by the caller.
 * timeout  seconds to wait for a peer; 0 polls, MPROC_FOREVER blocks. The
 *          handshake that follows is bounded by the listener's handshake
 *          timeout alone, so "wait until readable, then accept with 0"
 *          works with an authkey too.
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  no peer came in time, or a peer stalled in the
 *                    handshake (it is dropped)
 *   MPROC_EAUTH      the peer failed the handshake (it is dropped)
 *   MPROC_EEOF, -EPIPE, -ECONNRESET  the peer went away in the handshake
 *   MPROC_ECLOSED    the listener was closed, before or during the call
 *
 * Thread-safe: yes; mproc_listener_close() from another thread ends a
 * waiting accept with MPROC_ECLOSED.
 */
MPROC_API int mproc_listener_accept(mproc_listener *l, mproc_conn **out,
                                    double timeout);

/**
 * The address the listener is bound to, in the scheme above, with the real
 * port for TCP port 0.
 *
 * Python: Listener.address.
 *
 * Returns: a string valid until the listener is freed.
 */
MPROC_API const char *mproc_listener_address(const mproc_listener *l);

/**
 * The address of the last accepted peer ("tcp://127.0.0.1:40512"; for
 * Unix sockets the peer is usually unnamed: "unix:"). Set when the peer is
 * accepted, before the handshake, as Python does.
 *
 * Python: Listener.last_accepted.
 *
 * Returns: a string valid until the next accept or free; NULL before the
 * first accept.
 */
MPROC_API const char *mproc_listener_last_accepted(const mproc_listener *l);

/**
 * The listening descriptor, for poll/epoll/mproc_wait.
 *
 * Returns: the descriptor, or MPROC_ECLOSED after close.
 */
MPROC_API int mproc_listener_fileno(const mproc_listener *l);

/**
 * Stop listening; for a Unix path, remove the socket file (only in the
 * process that created the listener, as Python's finalizer). Closing again
 * does nothing. Accepts waiting in other threads are woken and return
 * MPROC_ECLOSED: the socket is shut down for them, which a forked process
 * sharing it also sees; with no accept waiting it is simply closed.
 *
 * Python: Listener.close().
 *
 * Returns: 0, or MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_listener_close(mproc_listener *l);

/**
 * Close (if open) and free a listener.
 *
 * l  the listener; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_listener_free(mproc_listener *l);

/**
 * Connect to a listener and, with an authkey, authenticate.
 *
 * Python: multiprocessing.connection.Client(address, family, authkey).
 *
 * out      receives the connection, owned by the caller.
 * address  as in this file's comment (borrowed).
 * opts     NULL or options.
 * timeout  seconds for connecting and the handshake together (a host
 *          name's look-up is the system resolver's and not bounded by it).
 *
 * Returns: 0, or
 *   MPROC_EINVAL      a malformed address, or an authkey of 0 bytes
 *   -ECONNREFUSED, -ENOENT  nobody listens there; -ENOENT also when the
 *                     host name does not resolve (-EAGAIN: not for now)
 *   MPROC_ETIMEDOUT   the connection or handshake took too long
 *   MPROC_EAUTH       the keys differ (Python: AuthenticationError)
 *   MPROC_EEOF        the listener closed the connection in the handshake
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_client(mproc_conn **out, const char *address,
                           const mproc_client_opts *opts, double timeout);

/**
 * Send a challenge over a connection and check the answer: the verifying
 * half of the handshake.
 *
 * Python: multiprocessing.connection.deliver_challenge(conn, authkey).
 *
 * key, len  the authkey (borrowed); it may be empty, not NULL.
 * timeout   seconds for the whole exchange.
 *
 * Returns: 0 when the peer proved the key, or
 *   MPROC_EINVAL     a NULL connection, a NULL or empty key, a NaN timeout
 *   MPROC_EAUTH      a wrong answer ("#FAILURE#" was sent to the peer),
 *                    or an answer over 256 bytes (the connection is then
 *                    closed, as Python's recv_bytes(256) does)
 *   MPROC_ETIMEDOUT  the peer did not answer in time
 *   MPROC_EEOF, -EPIPE, -ECONNRESET  the peer went away
 */
MPROC_API int mproc_deliver_challenge(mproc_conn *c, const void *key,
                                      size_t len, double timeout);

/**
 * Answer a challenge received over a connection: the proving half of the
 * handshake.
 *
 * Python: multiprocessing.connection.answer_challenge(conn, authkey).
 *
 * key, len and timeout as for mproc_deliver_challenge().
 *
 * Returns: 0 when the peer accepted the answer, or
 *   MPROC_EINVAL     a NULL connection, a NULL or empty key, a NaN timeout
 *   MPROC_EAUTH      the peer rejected it, or the challenge was malformed
 *                    (nothing is sent back then; over 256 bytes, the
 *                    connection is closed)
 *   MPROC_ETIMEDOUT  the peer did not go on in time
 *   MPROC_EEOF, -EPIPE, -ECONNRESET  the peer went away
 */
MPROC_API int mproc_answer_challenge(mproc_conn *c, const void *key, size_t len,
                                     double timeout);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_LISTENER_H */
