/*
 * filelock.c - file locks (include/mproc/filelock.h).
 *
 * The default lock is an open-file-description lock (F_OFD_SETLK): held by
 * the handle's own descriptor, so handles exclude each other even within
 * one thread, and the kernel drops it when the holder's descriptor goes,
 * however the holder ended. A timed acquire tries and backs off (0.1 ms
 * doubling to 10 ms), since F_OFD_SETLKW takes no timeout.
 *
 * Lock-file mode: the lock is the file itself, made with O_EXCL and
 * holding "pid start-time\n"; one whose owner is dead (or whose pid
 * belongs to a newer process) is stale: removed, if it is still the same
 * file, then made again.
 */
#include "mproc/filelock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sys/sys.h"

#define BACKOFF_FIRST_NS 100000 /* 0.1 ms */
#define BACKOFF_MAX_NS 10000000 /* 10 ms, as the issue allows */

struct mproc_filelock {
    pthread_mutex_t mu;
    char *path;
    int fd; /* the file's; lock-file mode: the lock file's while held */
    bool shared, lockfile;
    uint64_t offset, length;
    unsigned mode;
    unsigned holds;
    dev_t dev; /* lock-file mode: the lock file made, while held */
    ino_t ino;
};

int
mproc_filelock_new(mproc_filelock **out, const char *path,
                   const mproc_filelock_opts *opts)
{
    static const mproc_filelock_opts defaults;
    const mproc_filelock_opts *o = opts != NULL ? opts : &defaults;
    mproc_filelock *l;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || path == NULL ||
        (o->lockfile && (o->shared || o->offset || o->length)) ||
        o->offset > INT64_MAX ||
        (o->length > 0 && o->length - 1 > INT64_MAX - o->offset))
        return MPROC_EINVAL;
    if (o->lockfile) {
        struct stat st;

        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return -EISDIR;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->path = strdup(path)) == NULL) {
        free(l);
        return MPROC_ENOMEM;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->fd = -1;
    l->shared = o->shared;
    l->lockfile = o->lockfile;
    l->offset = o->offset;
    l->length = o->length;
    l->mode = o->mode != 0 ? o->mode : 0644;
    if (!l->lockfile) {
        l->fd = mproc__open(path, O_RDWR | O_CREAT, l->mode);
        /* A reader may lock a file it cannot write. */
        if (l->fd < 0 && l->shared && (l->fd == -EACCES || l->fd == -EROFS))
            l->fd = mproc__open(path, O_RDONLY, 0);
        if (l->fd < 0) {
            int rc = l->fd;

            pthread_mutex_destroy(&l->mu);
            free(l->path);
            free(l);
            return rc;
        }
    }
    *out = l;
    return 0;
}

/* ---- open-file-description locks --------------------------------------------
 */

/* F_OFD_SETLK(W) of type over the handle's range: 0, MPROC_ETIMEDOUT
 * (held elsewhere; not with wait), or -errno. */
static int
ofd_lock(const mproc_filelock *l, short type, bool wait)
{
    struct flock fl = { .l_type = type,
                        .l_whence = SEEK_SET,
                        .l_start = (off_t)l->offset,
                        .l_len = (off_t)l->length };

    while (fcntl(l->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EACCES ? MPROC_ETIMEDOUT : -errno;
    }
    return 0;
}

/* ---- lock files
 * --------------------------------------------------------------- */

/* The lock file's text: "pid start-time\n" (sys.h's holder identity). */
static int
identity(char *text, size_t size)
{
    return snprintf(text, size, "%d %" PRIu32 "\n", (int)mproc__self_pid(),
                    mproc__self_start_time());
}

/* A lock file held by someone else: remove it if it is stale (its owner
 * dead, or its pid now a newer process's). Open and locked (OFD) while
 * deciding, so its inode cannot be reused under the check, and two
 * removers cannot both act: 0 (removed, or gone already: try again),
 * MPROC_ETIMEDOUT (held), or -errno. */
static int
remove_if_stale(const char *path)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    struct stat st, now;
    char text[64];
    long long pid;
    uint32_t start;
    ssize_t n;
    int fd = mproc__open(path, O_RDWR, 0), rc = MPROC_ETIMEDOUT;

    /* Opened for writing, to lock it; a file this process cannot write is
     * judged unlocked (only a remover that can write it locks it). */
    if (fd == -EACCES || fd == -EROFS || fd == -EISDIR)
        fd = mproc__open(path, O_RDONLY, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
    } else if (fcntl(fd, F_OFD_SETLK, &fl) < 0 && errno != ENOLCK &&
               errno != EINVAL && errno != EBADF) {
        rc = MPROC_ETIMEDOUT; /* another acquirer is deciding */
    } else if ((n = read(fd, text, sizeof(text) - 1)) >= 0) {
        text[n] = '\0';
        if (sscanf(text, "%lld %" SCNu32, &pid, &start) == 2 && pid > 0 &&
            pid <= INT32_MAX &&
            mproc__holder_is_dead((pid_t)pid, start, true)) {
            /* Still that file (it is held open: its inode is not reused). */
            if (stat(path, &now) == 0 && now.st_dev == st.st_dev &&
                now.st_ino == st.st_ino)
                (void)unlink(path);
            rc = 0;
        }
    }
    mproc__close(&fd);
    return rc;
}

/* Make the lock file: written under a name of its own, then linked into
 * place, so it never exists without its owner's identity. 0,
 * MPROC_ETIMEDOUT (held), or -errno. */
static int
lockfile_try(mproc_filelock *l)
{
    size_t plen = strlen(l->path);
    char *tmp = malloc(plen + 32), text[64];
    struct stat st;
    int fd, n, rc;

    if (tmp == NULL)
        return MPROC_ENOMEM;
    (void)snprintf(tmp, plen + 32, "%s.%d.tmp", l->path,
                   (int)mproc__self_pid());
    n = identity(text, sizeof(text));
    fd = mproc__open(tmp, O_RDWR | O_CREAT | O_TRUNC, l->mode);
    if (fd < 0) {
        free(tmp);
        return fd;
    }
    rc = write(fd, text, (size_t)n) == n && fstat(fd, &st) == 0 ? 0 : -EIO;
    for (int tries = 0; rc == 0 && tries < 3; tries++) {
        if (link(tmp, l->path) == 0) {
            rc = 1;
            break;
        }
        rc = errno == EEXIST ? remove_if_stale(l->path) : -errno;
        if (rc == 0 && tries == 2)
            rc = MPROC_ETIMEDOUT;
    }
    (void)unlink(tmp);
    free(tmp);
    if (rc != 1) {
        mproc__close(&fd);
        return rc == -EPERM ? -EISDIR : rc;
    }
    l->fd = fd;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    return 0;
}

static void
lockfile_remove(mproc_filelock *l)
{
    struct stat now;

    /* Ours only: never a file someone else made after a stale take-over. */
    if (stat(l->path, &now) == 0 && now.st_dev == l->dev &&
        now.st_ino == l->ino)
        (void)unlink(l->path);
    mproc__close(&l->fd);
}

/* ---- acquire and release
 * ------------------------------------------------------- */

/* One try, or (OFD, forever) a kernel wait: 0, MPROC_ETIMEDOUT, -errno.
 * mu held for a lock file (its try changes the handle). */
static int
try_lock(mproc_filelock *l, bool wait)
{
    if (l->lockfile)
        return lockfile_try(l);
    return ofd_lock(l, l->shared ? F_RDLCK : F_WRLCK, wait);
}

static void
backoff(int64_t *step, const struct mproc__deadline *dl)
{
    int64_t left = mproc__deadline_ns(dl) - mproc__now_ns();
    struct timespec ts;

    if (left > *step || dl->forever)
        left = *step;
    if (left <= 0)
        return;
    ts = (struct timespec){ (time_t)(left / 1000000000),
                            (long)(left % 1000000000) };
    (void)nanosleep(&ts, NULL);
    *step = *step * 2 < BACKOFF_MAX_NS ? *step * 2 : BACKOFF_MAX_NS;
}

int
mproc_filelock_acquire(mproc_filelock *l, double timeout)
{
    struct mproc__deadline dl;
    int64_t step = BACKOFF_FIRST_NS;

    if (l == NULL || mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    for (;;) {
        int rc;

        pthread_mutex_lock(&l->mu);
        if (l->holds > 0) {
            l->holds++;
            pthread_mutex_unlock(&l->mu);
            return 0;
        }
        if (l->lockfile) {
            rc = try_lock(l, false);
        } else {
            /* The kernel wait happens without the mutex; the take that
             * counts is the try under it (a release of this handle may
             * have come in between). */
            pthread_mutex_unlock(&l->mu);
            if (dl.forever) {
                rc = try_lock(l, true);
                if (rc < 0)
                    return rc;
            }
            pthread_mutex_lock(&l->mu);
            rc = l->holds > 0 ? 0 : try_lock(l, false);
        }
        if (rc == 0)
            l->holds++;
        pthread_mutex_unlock(&l->mu);
        if (rc != MPROC_ETIMEDOUT)
            return rc;
        if (mproc__deadline_passed(&dl))
            return MPROC_ETIMEDOUT;
        backoff(&step, &dl);
    }
}

int
mproc_filelock_release(mproc_filelock *l)
{
    int rc = 0;

    if (l == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&l->mu);
    if (l->holds == 0) {
        rc = MPROC_ESTATE;
    } else if (--l->holds == 0) {
        if (l->lockfile)
            lockfile_remove(l);
        else
            rc = ofd_lock(l, F_UNLCK, false);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool
mproc_filelock_is_locked(mproc_filelock *l)
{
    bool held;

    if (l == NULL)
        return false;
    pthread_mutex_lock(&l->mu);
    held = l->holds > 0;
    pthread_mutex_unlock(&l->mu);
    return held;
}

int
mproc_filelock_fd(mproc_filelock *l)
{
    int fd;

    if (l == NULL)
        return -1;
    pthread_mutex_lock(&l->mu);
    fd = l->fd;
    pthread_mutex_unlock(&l->mu);
    return fd;
}

void
mproc_filelock_free(mproc_filelock *l)
{
    if (l == NULL)
        return;
    if (l->holds > 0 && l->lockfile)
        lockfile_remove(l);
    mproc__close(&l->fd); /* drops an OFD lock with it */
    pthread_mutex_destroy(&l->mu);
    free(l->path);
    free(l);
}
