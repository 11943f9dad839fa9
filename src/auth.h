/*
 * auth.h - the authkey handshake, private side: what listener.c needs
 * from auth.c.
 */
#ifndef MPROC_SRC_AUTH_H
#define MPROC_SRC_AUTH_H

#include <stddef.h>

#include "mproc/conn.h"
#include "sys/sys.h"

/* mproc_deliver_challenge() and mproc_answer_challenge() with the whole
 * exchange bounded by a deadline the caller already holds. key/len are
 * checked by the caller (not NULL; it may be empty). */
int mproc__deliver_challenge(mproc_conn *c, const void *key, size_t len,
                             const struct mproc__deadline *dl);
int mproc__answer_challenge(mproc_conn *c, const void *key, size_t len,
                            const struct mproc__deadline *dl);

#endif /* MPROC_SRC_AUTH_H */
