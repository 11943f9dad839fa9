/*
 * shm/shm.h - the private arena: process-shared, zeroed memory for the
 * library's own objects (locks, conditions, Values, queues ...), carved from
 * memfd segments, so no name is ever created and a killed process tree
 * leaves nothing behind.
 *
 * Every block carries a shared reference count. A handle in a process owns
 * one reference; the block returns to the arena's free lists when the last
 * reference is dropped, in whichever process that happens.
 *
 * Fork: mappings are inherited; a forked child adds one reference for each
 * reference its parent held (the arena's atfork child handler walks a
 * process-local registry), so a child freeing its copy of a handle never
 * frees what the parent still uses. A child that ends without freeing
 * leaves its references behind: that memory is reused only once the whole
 * tree has gone.
 *
 * Exec'd children (spawn, forkserver) get the arena's segment descriptors
 * with their spec (mproc__arena_fds) and map them before the target runs
 * (mproc__arena_adopt); a token then finds a block by (segment id, offset).
 */
#ifndef MPROC_SHM_ARENA_H
#define MPROC_SHM_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/common.h"
#include "sys/sys.h"

/* The most segments an arena maps, hence the most descriptors a start
 * method passes for it. */
#define MPROC__ARENA_MAX_SEGMENTS 16
_Static_assert(MPROC__ARENA_MAX_SEGMENTS + 3 <= MPROC__FDS_MAX,
               "the forkserver passes 3 descriptors and every segment");

/* Kinds of tokens: a token made for one kind does not open another. */
enum mproc__token_kind {
    MPROC__TOKEN_LOCK = 1,
    MPROC__TOKEN_RLOCK,
    MPROC__TOKEN_SEMAPHORE,
    MPROC__TOKEN_CONDITION,
    MPROC__TOKEN_EVENT,
    MPROC__TOKEN_BARRIER,
    MPROC__TOKEN_VALUE,
    MPROC__TOKEN_ARRAY,
    MPROC__TOKEN_QUEUE,
    MPROC__TOKEN_POOL,
};

/* size bytes (at least 1) aligned to align (a power of two up to 4096; 0
 * means 16), zeroed, with one reference: 0 and *mem, or MPROC_EINVAL,
 * MPROC_ENOMEM, -errno (the memfd could not be made or mapped). */
int mproc__arena_alloc(size_t size, size_t align, void **mem);
/* One more reference on a block this process holds. */
void mproc__arena_ref(void *mem);
/* One reference less; the block is freed at 0. NULL does nothing. */
void mproc__arena_unref(void *mem);
/* A child process's last act: drop every reference this process holds,
 * freeing the blocks no other process holds, so the handles a forked
 * child inherited and never freed do not keep their objects alive. Done
 * only when the process runs a single thread (another could still be
 * using a handle); every handle of the process is dangling afterwards. */
void mproc__arena_exit(void);
/* The block as a token of `kind`: 0, or MPROC_EINVAL when mem or out is
 * NULL or mem is not an arena block. */
int mproc__arena_token(const void *mem, uint32_t kind, mproc_token *out);
/* The block a token names, with one more reference: 0, MPROC_EINVAL (a
 * NULL argument, not a token of this kind, or its block was freed
 * meanwhile; *mem is then NULL), -ENOENT (its
 * segment is not mapped in this process: it was made after this process
 * started, or by a process that is not an ancestor). */
int mproc__arena_from_token(const mproc_token *t, uint32_t kind, void **mem);

/* Start methods: duplicates of the segment descriptors, up to max, for an
 * exec'd child: their count, or -errno. The caller closes them. */
int mproc__arena_fds(int *fds, size_t max);
/* Child side: map the segments whose descriptors came with the spec
 * (adopted: the descriptors now belong to the arena). 0 or -errno. */
int mproc__arena_adopt(const int *fds, size_t nfds);

#endif /* MPROC_SHM_ARENA_H */
