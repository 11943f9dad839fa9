/*
 * conn.h - Connection, private side: what listener.c needs from conn.c.
 */
#ifndef MPROC_SRC_CONN_H
#define MPROC_SRC_CONN_H

#include "mproc/conn.h"

/* mproc_conn_new() for a descriptor known to be a connected socket (one
 * fstat fewer on the connect and accept paths). Adopts fd on success. */
int mproc__conn_new_socket(mproc_conn **out, int fd);

/* mproc_conn_recv_bytes_into() for a request/reply exchange, whose peer
 * sends nothing more until answered (a manager's connections): a small
 * message comes with its header in one read. Bytes past the message are
 * MPROC_EPROTOCOL (the connection is closed, as for a malformed stream).
 * spin_ns > 0: spin up to that long for the message before sleeping (on
 * more than one CPU, a wake-up costs more than a short spin). */
int mproc__conn_recv_exchange(mproc_conn *c, void *buf, size_t size,
                              size_t *received, int64_t spin_ns,
                              double timeout);

#endif /* MPROC_SRC_CONN_H */
