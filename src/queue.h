/*
 * queue.h - what the pool's engine needs of a queue beyond the public API.
 *
 * A claimed get: the claim sees a message after it was copied out and
 * before it leaves the ring, under the consumers' lock. A consumer killed
 * before its claim is done leaves the message to the next consumer, so a
 * claim that records "this message is mine" in shared memory is atomic
 * with taking the message, as far as anyone who outlives the consumer can
 * tell.
 */
#ifndef MPROC_QUEUE_PRIVATE_H
#define MPROC_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mproc/queue.h"

/* true: the message is the caller's; false: drop it and take the next. */
typedef bool (*mproc__queue_claim)(const void *msg, size_t len, void *ctx);

/* mproc_queue_get_into() with a claim: 0, MPROC_EEMPTY, MPROC_ECLOSED,
 * MPROC_ETOOSHORT (*len: the size needed; the message stays), or another
 * code of mproc_queue_get_into(). q, buf (unless size 0), len and claim
 * are not NULL. */
int mproc__queue_get_claimed(mproc_queue *q, void *buf, size_t size,
                             size_t *len, mproc__queue_claim claim, void *ctx,
                             double timeout);

/* mproc_queue_put() of the bytes of niov pieces, as one message. q is not
 * NULL. */
int mproc__queue_putv(mproc_queue *q, const struct iovec *iov, int niov,
                      double timeout);

/* Wake one consumer asleep in a get, if any: a consumer that took a
 * message and sees more hands them on at once, rather than leave them to
 * where the producer's wake-ups placed the sleepers. */
void mproc__queue_wake_consumer(mproc_queue *q);

/* Bytes of the ring in use now (records and their headers). */
uint64_t mproc__queue_used(const mproc_queue *q);

/* A Queue (or JoinableQueue) in a memory file of its own, which unrelated
 * processes map with mproc__queue_map() (a manager's queue, used directly
 * by its clients on the same host): the handle, and the file's descriptor
 * in *fd (the caller's to close; the mapping stays). mproc_queue_free()
 * unmaps it; it has no token. 0, MPROC_EINVAL (capacity), -errno. */
int mproc__queue_new_mapped(mproc_queue **out, const mproc_queue_opts *opts,
                            bool joinable, int *fd);
/* Whether mproc_queue_close() was called on the queue. */
bool mproc__queue_is_closed(const mproc_queue *q);
/* Map such a queue from its file (fd borrowed): 0, MPROC_EPROTOCOL (the
 * file holds no such queue), -errno. */
int mproc__queue_map(mproc_queue **out, int fd);

/* Bytes of the ring. */
uint64_t mproc__queue_capacity(const mproc_queue *q);

#endif /* MPROC_QUEUE_PRIVATE_H */
