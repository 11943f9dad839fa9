/*
 * shm/sharedmemory.c - named shared memory segments (Python's
 * shared_memory.SharedMemory): shm_open, ftruncate, mmap, under Python's
 * names, so either language attaches to what the other created.
 *
 * A handle is its mapping and its name; the descriptor is closed once the
 * segment is mapped (Linux keeps the mapping). A create registers the name
 * with the tree's watcher before the segment exists (watcher.c), so a kill
 * at any point leaves nothing behind: a create that then fails tells the
 * watcher so, and an unlink makes it forget the name.
 */
#include "mproc/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/watcher.h"
#include "sys/sys.h"

struct mproc_shm {
    void *buf;   /* NULL once closed */
    size_t size; /* what is (or was) mapped */
    char name[MPROC_SHM_NAME_MAX + 1];
};

/* What Python and glibc accept as a segment name, stricter where they
 * would reach outside /dev/shm. */
static bool
name_is_valid(const char *name)
{
    size_t len = strnlen(name, MPROC_SHM_NAME_MAX + 1);

    if (len == 0 || len > MPROC_SHM_NAME_MAX || strchr(name, '/') != NULL)
        return false;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Python's _make_filename: "psm_" and 4 random bytes in hex. */
static int
make_name(char *name)
{
    unsigned char r[4];
    int rc = mproc__random_bytes(r, sizeof(r));

    if (rc < 0)
        return rc;
    snprintf(name, MPROC_SHM_NAME_MAX + 1, "psm_%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3]);
    return 0;
}

/* Open (and with create, make) the segment: the descriptor or -errno. A
 * create registers first and reports a failure to the watcher. */
static int
open_segment(const char *name, bool create, bool keep)
{
    int fd, rc;

    if (!create)
        return mproc__shm_open(name, O_RDWR, 0);
    if (!keep) {
        rc = mproc__watch(MPROC__WATCH_REGISTER, name);
        if (rc < 0)
            return rc;
    }
    fd = mproc__shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && !keep)
        (void)mproc__watch(MPROC__WATCH_FAILED, name);
    return fd;
}

/* Open the segment `name` into s, or with name NULL create one under a
 * fresh name, drawing again while the name is taken. */
static int
open_named(struct mproc_shm *s, const char *name, bool create, bool keep)
{
    int fd, rc;

    if (name != NULL) {
        snprintf(s->name, sizeof(s->name), "%s", name);
        return open_segment(s->name, create, keep);
    }
    do {
        rc = make_name(s->name);
        if (rc < 0)
            return rc;
        fd = open_segment(s->name, true, keep);
    } while (fd == -EEXIST);
    return fd;
}

/* Size (when creating) and map the open segment into s. */
static int
map_segment(struct mproc_shm *s, int fd, bool create, size_t size)
{
    struct stat st;
    void *buf;

    if (create && ftruncate(fd, (off_t)size) < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size <= 0 || (uint64_t)st.st_size < size ||
        (uint64_t)st.st_size > SIZE_MAX)
        return MPROC_EINVAL;
    buf = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
               0);
    if (buf == MAP_FAILED)
        return -errno;
    s->buf = buf;
    s->size = (size_t)st.st_size;
    return 0;
}

/* Unlink a segment's name and make the watcher forget it: 0 or -errno. */
static int
unlink_name(const char *name)
{
    char path[sizeof("/dev/shm/") + MPROC_SHM_NAME_MAX];
    int rc = 0;

    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    if (unlink(path) < 0)
        rc = -errno;
    /* Gone either way: a stale registration must not outlive it. */
    if (rc == 0 || rc == -ENOENT)
        (void)mproc__watch(MPROC__WATCH_FORGET, name);
    return rc;
}

int
mproc_shm_new(mproc_shm **out, const char *name, bool create, size_t size,
              const mproc_shm_opts *opts)
{
    bool keep = opts != NULL && opts->keep;
    struct mproc_shm *s;
    int fd, rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if ((name == NULL && !create) || (name != NULL && !name_is_valid(name)) ||
        (create && size == 0) || size > (size_t)INT64_MAX)
        return MPROC_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return MPROC_ENOMEM;
    fd = open_named(s, name, create, keep);
    rc = fd < 0 ? fd : 0;
    if (rc >= 0) {
        rc = map_segment(s, fd, create, size);
        mproc__close(&fd);
        if (rc < 0 && create)
            (void)unlink_name(s->name);
    }
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void *
mproc_shm_buf(const mproc_shm *s)
{
    return s != NULL ? s->buf : NULL;
}

size_t
mproc_shm_size(const mproc_shm *s)
{
    return s != NULL ? s->size : 0;
}

const char *
mproc_shm_name(const mproc_shm *s)
{
    return s != NULL ? s->name : "";
}

int
mproc_shm_close(mproc_shm *s)
{
    if (s == NULL)
        return MPROC_EINVAL;
    if (s->buf != NULL) {
        (void)munmap(s->buf, s->size);
        s->buf = NULL;
    }
    return 0;
}

int
mproc_shm_unlink(mproc_shm *s)
{
    if (s == NULL)
        return MPROC_EINVAL;
    return unlink_name(s->name);
}

void
mproc_shm_free(mproc_shm *s)
{
    if (s == NULL)
        return;
    (void)mproc_shm_close(s);
    free(s);
}
