/**
 * @file filelock.h
 * File locks between processes that know nothing of each other.
 * Python: fcntl.lockf / fcntl.flock, lock files, the filelock package.
 *
 * A lock names a path (created if missing). By default it is an
 * open-file-description lock (Linux's F_OFD_SETLK): it belongs to the
 * handle, not to the process, so two handles on one file exclude each
 * other even in one thread; it goes away with its holder however the
 * holder ends (the kernel drops it when the last descriptor closes); it
 * may cover a byte range, as lockf does. Exclusive (a writer) or shared
 * (readers).
 *
 * A lock-file mode (opts.lockfile) serves file systems without locks: the
 * lock is the file itself, holding its owner's identity as the text
 * "PID START\n" (START: the process's start time, field 22 of
 * /proc/PID/stat, in clock ticks, cut to 32 bits); it is written under a
 * name of its own and linked into place, so it never exists empty. A lock
 * file whose owner is dead, or whose pid names a newer process, is stale:
 * the next acquirer removes it (deciding with the file open and locked, so
 * two acquirers never both remove one) and takes the lock.
 *
 * Handles are re-entrant (acquire twice, release twice, the file is
 * unlocked at the last release) and thread-safe: the threads of a process
 * using one handle share its hold. A forked child must not use its
 * parent's handle (it would share the parent's hold): it opens its own.
 */
#ifndef MPROC_FILELOCK_H
#define MPROC_FILELOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A lock on a file. */
typedef struct mproc_filelock mproc_filelock;

/** Options of mproc_filelock_new(); all zero means the defaults. */
typedef struct mproc_filelock_opts {
    /** A shared (read) lock: many holders at once, no exclusive one;
     *  default exclusive. Not with lockfile. */
    bool shared;
    /** Lock-file mode: the lock is the file at path, created exclusively
     *  (it must not exist while unlocked). */
    bool lockfile;
    /** The byte range: from offset, length bytes; length 0: to the end of
     *  the file and beyond (lockf's 0). Not with lockfile. */
    uint64_t offset, length;
    /** Permissions of a file it creates (before the umask); 0: 0644. */
    unsigned mode;
} mproc_filelock_opts;

/**
 * A lock handle on path, not yet acquired. The file is opened now
 * (created if missing), and the handle owns the descriptor (close-on-exec);
 * in lock-file mode nothing is made until acquire (path's directory must
 * exist then).
 *
 * Python: filelock.FileLock(path) / open(path) for fcntl.lockf.
 *
 * out receives the handle (mproc_filelock_free()); NULL on failure.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out or path NULL, shared or a range with lockfile, a
 *                 range whose last byte is past INT64_MAX
 *   -EISDIR       path is a directory
 *   other -errno  the file could not be opened or created (EACCES,
 *                 ENOENT for a missing directory ...)
 *   MPROC_ENOMEM  no memory
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_filelock_new(mproc_filelock **out, const char *path,
                                 const mproc_filelock_opts *opts);

/**
 * Take the lock, or take it once more if this handle holds it.
 *
 * Python: FileLock.acquire(timeout); fcntl.lockf(fd, LOCK_EX [| LOCK_NB]).
 *
 * timeout  MPROC_FOREVER waits in the kernel; 0 tries once; seconds
 *          retry with back-off (at most 10 ms between tries: the kernel's
 *          blocking lock takes no timeout). A signal does not end the
 *          wait.
 *
 * Waiting forever on a cycle (this handle waits for a lock held by one
 * that waits for a lock this one holds) never ends: the kernel does not
 * look for cycles among OFD locks.
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  another holder kept it (at once for 0)
 *   -EISDIR          lock-file mode: a directory took the lock file's
 *                    place
 *   MPROC_EINVAL     l NULL or NaN timeout
 *   other -errno     the lock or lock file failed (ENOLCK, EROFS ...)
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_filelock_acquire(mproc_filelock *l, double timeout);

/**
 * Give one hold back; the file is unlocked (the lock file removed) at the
 * last.
 *
 * Python: FileLock.release(); fcntl.lockf(fd, LOCK_UN).
 *
 * Returns: 0, or
 *   MPROC_ESTATE  this handle does not hold it
 *   MPROC_EINVAL  l NULL
 *   other -errno  the unlock failed (the hold is given back anyway)
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_filelock_release(mproc_filelock *l);

/**
 * Whether this handle holds the lock.
 *
 * Python: FileLock.is_locked.
 *
 * Returns: true while held by this handle; false otherwise or for NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API bool mproc_filelock_is_locked(mproc_filelock *l);

/**
 * The descriptor of the file (the lock's target, or the lock file while
 * held; -1 for a lock file not held), for reading and writing the file
 * under the lock. It belongs to the handle.
 *
 * Returns: the descriptor, or -1 (l NULL, or a lock file not held).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_filelock_fd(mproc_filelock *l);

/**
 * Release every hold of this handle and free it. NULL does nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses l.
 */
MPROC_API void mproc_filelock_free(mproc_filelock *l);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_FILELOCK_H */
