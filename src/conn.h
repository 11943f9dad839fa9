/*
 * conn.h - Connection, private side: what listener.c needs from conn.c.
 */
#ifndef MPROC_SRC_CONN_H
#define MPROC_SRC_CONN_H

#include "mproc/conn.h"

/* mproc_conn_new() for a descriptor known to be a connected socket (one
 * fstat fewer on the connect and accept paths). Adopts fd on success. */
int mproc__conn_new_socket(mproc_conn **out, int fd);

#endif /* MPROC_SRC_CONN_H */
