/*
 * shm/watcher.c - the named-segment reaper: what keeps a killed program
 * from leaving names in /dev/shm (Python's resource_tracker, for
 * shared_memory only, and robust to SIGKILL of the whole process group).
 *
 * The first named creation of a process starts the watcher: a process
 * made by fork, setsid, fork (so it is in no process group or session of
 * the tree, nobody's child but init's or a subreaper's) holding one end of
 * a SOCK_SEQPACKET pair. This process keeps the other end, close-on-exec,
 * and its forked children inherit it: they are the tree, and they register
 * with the same watcher. Every message is one operation and one name (see
 * watcher.h). When the last holder of the tree's end is gone, however it
 * ended, the watcher reads EOF, unlinks every name still registered and
 * exits. Exec'd children (spawn, forkserver children, subprocesses) do not
 * inherit the end: a segment one of them creates gets a watcher of its own.
 * A watcher started by a process that mproc started (any start method)
 * also holds its parent's pidfd, its anchor, and reaps only once the
 * parent has ended too: so a segment a child creates and leaves for its
 * parent outlives the child, as with Python's resource tracker, which the
 * whole program shares.
 * The first create waits for the watcher's "ready" byte, so once it
 * returns the watcher is whole: out of the group, its other descriptors
 * closed, deaf to SIGINT/SIGTERM/SIGHUP.
 *
 * The watcher is made with _Fork, so it runs no atfork handler and may use
 * only async-signal-safe calls: its table of names lives in its own mmap,
 * not on the heap. It keeps the mappings it inherited until it exits.
 *
 * Lock: `mu` guards `channel` and is held across a send; a fork waits for
 * it (atfork), so a child never inherits it held or a half-started
 * watcher.
 */
#include "shm/watcher.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mproc/process.h"
#include "sys/sys.h"

/* The longest name: a file name in /dev/shm. */
#define NAME_MAX_LEN 255

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int channel = -1; /* this tree's end; -1 before the first start */

/* ---- the watcher process ------------------------------------------------ */

/* One registered name. `count` is the number of creates in flight or done
 * under it (a name created twice by the tree after an outside unlink). */
struct entry {
    uint32_t count;
    uint32_t len;
    char name[NAME_MAX_LEN + 1];
};

/* The watcher's table: mmap'd, grown with mremap. */
struct table {
    struct entry *at;
    size_t len, cap;
};

static struct entry *
table_find(struct table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->len; i++)
        if (t->at[i].len == len && memcmp(t->at[i].name, name, len) == 0)
            return &t->at[i];
    return NULL;
}

static void
table_drop(struct table *t, struct entry *e)
{
    *e = t->at[--t->len];
}

/* Room for one more entry; false when the memory cannot grow. */
static bool
table_room(struct table *t)
{
    size_t cap = t->cap == 0 ? 64 : t->cap * 2;
    void *at;

    if (t->len < t->cap)
        return true;
    if (t->at == NULL)
        at = mmap(NULL, cap * sizeof(*t->at), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else
        at = mremap(t->at, t->cap * sizeof(*t->at), cap * sizeof(*t->at),
                    MREMAP_MAYMOVE);
    if (at == MAP_FAILED)
        return false;
    t->at = at;
    t->cap = cap;
    return true;
}

static void
apply(struct table *t, char op, const char *name, size_t len)
{
    struct entry *e = table_find(t, name, len);

    if (op == MPROC__WATCH_REGISTER) {
        if (e != NULL) {
            e->count++;
        } else if (table_room(t)) {
            e = &t->at[t->len++];
            e->count = 1;
            e->len = (uint32_t)len;
            memcpy(e->name, name, len);
            e->name[len] = '\0';
        }
    } else if (e != NULL && (op == MPROC__WATCH_FORGET || --e->count == 0)) {
        table_drop(t, e);
    }
}

/* A name the tree may have sent: what mproc__shm_open accepts. */
static bool
name_ok(const char *name, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN || memchr(name, '/', len) != NULL ||
        memchr(name, '\0', len) != NULL)
        return false;
    return !(len == 1 && name[0] == '.') &&
           !(len == 2 && name[0] == '.' && name[1] == '.');
}

static void
unlink_all(const struct table *t)
{
    static const char dir[] = "/dev/shm/";
    char path[sizeof(dir) + NAME_MAX_LEN];

    for (size_t i = 0; i < t->len; i++) {
        memcpy(path, dir, sizeof(dir) - 1);
        memcpy(path + sizeof(dir) - 1, t->at[i].name, t->at[i].len + 1);
        (void)unlink(path);
    }
}

/* Wait for the anchor process (a pidfd, readable once it has ended). */
static void
wait_anchor(int anchor)
{
    struct pollfd p = { .fd = anchor, .events = POLLIN };

    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
}

/* The watcher's whole life: read messages until EOF, wait for the anchor
 * (-1: none), then reap. */
static _Noreturn void
watch(int fd, int anchor)
{
    struct table t = { 0 };
    char msg[1 + NAME_MAX_LEN + 1];

    /* Keep fd and the anchor (moved next to it), nothing else. */
    if (anchor >= 0 && mproc__dup_to(anchor, fd + 1, true) < 0)
        _exit(1);
    (void)close_range(0, (unsigned)fd - 1, 0);
    mproc__close_from(anchor >= 0 ? fd + 2 : fd + 1);
    (void)chdir("/");
    (void)prctl(PR_SET_NAME, "mproc-shm-reap");
    /* As Python's resource tracker: a Ctrl-C or a polite kill meant for
     * the program does not cost it its clean-up. */
    mproc__sig_ignore(SIGINT);
    mproc__sig_ignore(SIGTERM);
    mproc__sig_ignore(SIGHUP);
    /* Ready: the creator goes on only now, so the watcher is whole (out
     * of the group, its descriptors closed, deaf to those signals) by the
     * time the first create returns. */
    if (send(fd, "+", 1, MSG_NOSIGNAL) != 1)
        _exit(1);
    for (;;) {
        ssize_t n = recv(fd, msg, sizeof(msg), MSG_TRUNC);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF: every holder of the tree's end is gone */
        if ((size_t)n > sizeof(msg) - 1 || !name_ok(msg + 1, (size_t)n - 1))
            continue;
        apply(&t, msg[0], msg + 1, (size_t)n - 1);
    }
    if (anchor >= 0)
        wait_anchor(fd + 1);
    unlink_all(&t);
    _exit(0);
}

/* ---- the tree's side ---------------------------------------------------- */

static void
fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

static void
fork_release(void)
{
    pthread_mutex_unlock(&mu);
}

static void
install(void)
{
    mproc__atfork(fork_prepare, fork_release, fork_release);
}

/* The pidfd of the process that started this one through mproc, or -1
 * (the main process: its parent is not part of the program). */
static int
anchor(void)
{
    mproc_process *parent = mproc_parent_process();

    return parent != NULL ? mproc_process_sentinel(parent) : -1;
}

/* Start a watcher and make it this tree's. Called with mu held. */
static int
start(void)
{
    int fds[2];
    int rc;

    rc = mproc__seqpacket_pair(fds);
    if (rc < 0)
        return rc;
    rc = mproc__fork_detached();
    if (rc == 0)
        watch(fds[0], anchor());
    mproc__close(&fds[0]);
    if (rc > 0) {
        char ready;

        /* The watcher's first message; end-of-file if it died first. */
        rc = mproc__read_full(fds[1], &ready, 1);
        if (rc == MPROC_EEOF)
            rc = -EAGAIN;
    }
    if (rc < 0) {
        mproc__close(&fds[1]);
        return rc;
    }
    mproc__close(&channel);
    channel = fds[1];
    return 0;
}

static int
send_op(enum mproc__watch_op op, const char *name)
{
    char msg[1 + NAME_MAX_LEN];
    size_t len = strlen(name);

    if (len > NAME_MAX_LEN)
        return MPROC_EINVAL;
    msg[0] = (char)op;
    memcpy(msg + 1, name, len);
    return mproc__send_full(channel, msg, 1 + len);
}

int
mproc__watch(enum mproc__watch_op op, const char *name)
{
    int rc = 0;

    pthread_once(&once, install);
    pthread_mutex_lock(&mu);
    if (op != MPROC__WATCH_REGISTER) {
        if (channel >= 0)
            (void)send_op(op, name);
        pthread_mutex_unlock(&mu);
        return 0;
    }
    if (channel < 0)
        rc = start();
    if (rc == 0) {
        rc = send_op(op, name);
        /* The watcher was killed from outside: this process starts a new
         * one (children holding the old end do the same when they need
         * it). */
        if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
            rc = start();
            if (rc == 0)
                rc = send_op(op, name);
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}
