/*
 * tests/filelock.c - file locks against their header's contract, between
 * real processes and threads: a lock held in another process times out at
 * once, after its timeout, or is waited for in the kernel until released
 * (through a signal storm too); shared holders together and an exclusive
 * one kept out; re-entrance; two handles on one file excluding each other
 * in one thread (open-file-description locks); a holder killed with
 * SIGKILL leaving the lock free; byte ranges; a directory and a missing
 * directory refused; a cash ledger appended to by 4 processes x 1,000
 * read-modify-writes with no update lost; lock-file mode (the file made
 * with the pid and removed, held by a live owner, stale when its owner is
 * dead or its pid names a newer process); threads sharing one handle; the
 * file's mode; every refusal.
 *
 * Each test works in its own directory under /tmp. Children report
 * through exit codes and pipes; a child that must see the parent waiting
 * finds it in /proc/locks. Nothing sleeps for luck.
 */
#include "helpers/th.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(filelock, .init = th_begin, .fini = th_end, .timeout = 60);

#define LEDGER_APPENDS 1000 /* per process */
#define LEDGER_PROCS 4

/* ---- directories and files ----------------------------------------------- */

struct dir {
    char path[64];
};

static struct dir
make_dir(void)
{
    struct dir d;

    snprintf(d.path, sizeof(d.path), "/tmp/mproc-filelock-XXXXXX");
    cr_assert_not_null(mkdtemp(d.path));
    return d;
}

/* Remove d and what is in it: files and empty directories. */
static void
remove_dir(const struct dir *d)
{
    DIR *h = opendir(d->path);
    struct dirent *e;

    cr_assert_not_null(h);
    while ((e = readdir(h)) != NULL) {
        char path[512];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", d->path, e->d_name);
        if (unlink(path) != 0)
            cr_assert_eq(rmdir(path), 0, "%s", path);
    }
    closedir(h);
    cr_assert_eq(rmdir(d->path), 0);
}

static void
join_path(char *out, size_t size, const struct dir *d, const char *name)
{
    int n = snprintf(out, size, "%s/%s", d->path, name);

    cr_assert(n > 0 && (size_t)n < size);
}

static bool
exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* The whole of a small file, NUL-terminated, into buf. */
static size_t
read_all(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    n = read(fd, buf, size - 1);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    close(fd);
    return (size_t)n;
}

static void
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static mproc_filelock *
new_lock(const char *path, const mproc_filelock_opts *opts)
{
    mproc_filelock *l = NULL;
    int rc = mproc_filelock_new(&l, path, opts);

    cr_assert_eq(rc, 0, "%s: %s", path, mproc_errname(rc));
    cr_assert_not_null(l);
    return l;
}

static void
assert_times_out(mproc_filelock *l, double timeout)
{
    int rc = mproc_filelock_acquire(l, timeout);

    cr_assert_eq(rc, MPROC_ETIMEDOUT, "%s", mproc_errname(rc));
    cr_assert_not(mproc_filelock_is_locked(l));
}

static void
assert_acquires(mproc_filelock *l, double timeout)
{
    int rc = mproc_filelock_acquire(l, timeout);

    cr_assert_eq(rc, 0, "%s", mproc_errname(rc));
    cr_assert(mproc_filelock_is_locked(l));
}

/* The start time /proc gives process pid (its 22nd stat field, clock ticks
 * since boot), as the lock file holds it; 0 if it cannot be read. */
static uint32_t
start_time_of(pid_t pid)
{
    char path[64], stat[1024];
    unsigned long long start = 0;
    const char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    p = strrchr(stat, ')');
    if (p == NULL)
        return 0;
    /* After the name: the state (field 3) ... the start time (field 22). */
    for (int field = 3; field <= 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p, " %llu", &start) != 1)
        return 0;
    return (uint32_t)start;
}

/* ---- a child that holds the lock ----------------------------------------- */

/* What a holder child gets: the path and options of its own handle, its
 * ends of two pipes (and the parent's, which it closes). */
struct hold_job {
    char path[200];
    mproc_filelock_opts opts;
    int ready_w, go_r;    /* the child's ends */
    int ready_r, go_w;    /* the parent's ends */
    bool wait_for_waiter; /* release once another process waits in the
                             kernel, having written "child" to the file */
};

struct holder {
    mproc_process *p;
    int ready, go;
};

/* Read one byte from fd within 30 s: the byte, or -1 (EOF, error, time). */
static int
read_byte(int fd)
{
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    unsigned char c;

    if (poll(&pf, 1, 30000) != 1 || read(fd, &c, 1) != 1)
        return -1;
    return c;
}

/* Whether /proc/locks shows a process waiting (a "->" line) for a lock on
 * the file with inode ino. */
static bool
has_kernel_waiter(ino_t ino)
{
    char line[256], needle[64];
    bool found = false;
    FILE *f = fopen("/proc/locks", "r");

    if (f == NULL)
        return false;
    snprintf(needle, sizeof(needle), ":%llu ", (unsigned long long)ino);
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, "->") != NULL && strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* A process target: take the lock (forever), say 'L' (or 'E') through
 * ready, then hold it until the parent writes to go or closes it; with
 * wait_for_waiter, instead until another waiter shows in /proc/locks, and
 * write "child" at the start of the file before letting go. */
static int
hold(const void *arg, size_t len)
{
    struct hold_job j;
    mproc_filelock *l = NULL;
    struct stat st;
    double t0;

    if (len != sizeof(j))
        return 10;
    memcpy(&j, arg, sizeof(j));
    close(j.ready_r);
    close(j.go_w);
    if (mproc_filelock_new(&l, j.path, &j.opts) != 0 ||
        mproc_filelock_acquire(l, MPROC_FOREVER) != 0) {
        return write(j.ready_w, "E", 1) == 1 ? 11 : 17;
    }
    if (write(j.ready_w, "L", 1) != 1)
        return 12;
    if (j.wait_for_waiter) {
        if (fstat(mproc_filelock_fd(l), &st) != 0)
            return 13;
        for (t0 = th_now(); !has_kernel_waiter(st.st_ino); sched_yield())
            if (th_now() - t0 > 30)
                return 14;
        if (pwrite(mproc_filelock_fd(l), "child", 5, 0) != 5)
            return 15;
    } else {
        (void)read_byte(j.go_r);
    }
    if (mproc_filelock_release(l) != 0)
        return 16;
    mproc_filelock_free(l);
    return 0;
}

/* Start a child holding a lock on path with opts; returns once it holds
 * it. */
static struct holder
start_holder_ex(const char *path, const mproc_filelock_opts *opts,
                bool wait_for_waiter)
{
    struct hold_job j;
    struct holder h;
    int ready[2], go[2];

    memset(&j, 0, sizeof(j));
    cr_assert_lt(strlen(path), sizeof(j.path));
    strcpy(j.path, path);
    if (opts != NULL)
        j.opts = *opts;
    j.wait_for_waiter = wait_for_waiter;
    cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
    j.ready_r = ready[0];
    j.ready_w = ready[1];
    j.go_r = go[0];
    j.go_w = go[1];
    h.p = th_start_daemon(hold, &j, sizeof(j), MPROC_START_FORK);
    close(ready[1]);
    close(go[0]);
    h.ready = ready[0];
    h.go = go[1];
    cr_assert_eq(read_byte(h.ready), 'L', "the child could not take the lock");
    return h;
}

static struct holder
start_holder(const char *path, const mproc_filelock_opts *opts)
{
    return start_holder_ex(path, opts, false);
}

/* Tell the holder to let go (without waiting for it). */
static void
let_go(struct holder *h)
{
    cr_assert_eq(write(h->go, "g", 1), 1);
}

/* Reap the holder (which must end with 0) and close the pipes. */
static void
finish_holder(struct holder *h)
{
    cr_assert_eq(th_join(h->p, 30), 0);
    close(h->ready);
    close(h->go);
}

static void
release_holder(struct holder *h)
{
    let_go(h);
    finish_holder(h);
}

/* ---- exclusion between processes ---------------------------------------- */

Test(filelock, a_lock_held_in_another_process_times_out_at_once_for_zero)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *l;
    double t0;

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, NULL);
    l = new_lock(path, NULL);
    t0 = th_now();
    assert_times_out(l, 0);
    th_assert_elapsed(t0, 0, 0.1);
    cr_assert_eq(mproc_filelock_release(l), MPROC_ESTATE);
    release_holder(&h);
    assert_acquires(l, 0);
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert_not(mproc_filelock_is_locked(l));
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, a_timed_acquire_times_out_after_its_timeout)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *l;
    double t0;

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, NULL);
    l = new_lock(path, NULL);
    t0 = th_now();
    assert_times_out(l, 0.3);
    th_assert_elapsed(t0, 0.3, 0.3);
    release_holder(&h);
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, signals_neither_end_nor_stretch_a_timed_wait)
{
    struct dir d = make_dir();
    char path[128];
    struct th_storm storm;
    struct holder h;
    mproc_filelock *l;
    double t0;

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, NULL);
    l = new_lock(path, NULL);
    th_storm_start(&storm);
    t0 = th_now();
    assert_times_out(l, 0.3);
    th_assert_elapsed(t0, 0.3, 0.3);
    th_storm_stop(&storm);
    release_holder(&h);
    mproc_filelock_free(l);
    remove_dir(&d);
}

/* The child holds the lock until it sees this process wait for it in the
 * kernel, writes "child" into the file, then releases: the acquire must
 * return after that, never before. */
static void
wait_forever_for_a_holder(bool storm)
{
    struct dir d = make_dir();
    char path[128], text[16];
    struct th_storm s;
    struct holder h;
    mproc_filelock *l;

    join_path(path, sizeof(path), &d, "lock");
    l = new_lock(path, NULL);
    h = start_holder_ex(path, NULL, true);
    if (storm)
        th_storm_start(&s);
    assert_acquires(l, MPROC_FOREVER);
    if (storm)
        th_storm_stop(&s);
    read_all(path, text, sizeof(text));
    cr_assert_str_eq(text, "child", "acquired before the holder let go");
    finish_holder(&h);
    cr_assert_eq(mproc_filelock_release(l), 0);
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, acquire_forever_waits_in_the_kernel_until_the_holder_releases)
{
    wait_forever_for_a_holder(false);
}

Test(filelock, acquire_forever_waits_through_a_signal_storm)
{
    wait_forever_for_a_holder(true);
}

Test(filelock, a_timed_acquire_takes_the_lock_once_the_holder_lets_go)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *l;
    double t0;

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, NULL);
    l = new_lock(path, NULL);
    assert_times_out(l, 0);
    let_go(&h);
    t0 = th_now();
    assert_acquires(l, 20);
    th_assert_elapsed(t0, 0, 10);
    finish_holder(&h);
    cr_assert_eq(mproc_filelock_release(l), 0);
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, a_holder_killed_with_sigkill_leaves_the_lock_free)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *l;

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, NULL);
    l = new_lock(path, NULL);
    assert_times_out(l, 0);
    cr_assert_eq(mproc_process_kill(h.p), 0);
    cr_assert_eq(th_join(h.p, 30), -SIGKILL);
    close(h.ready);
    close(h.go);
    assert_acquires(l, 0);
    mproc_filelock_free(l);
    remove_dir(&d);
}

/* ---- shared and exclusive ------------------------------------------------ */

Test(filelock, shared_holders_hold_together_and_keep_an_exclusive_one_out)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *reader, *writer;
    const mproc_filelock_opts shared = { .shared = true };

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, &shared);
    reader = new_lock(path, &shared);
    writer = new_lock(path, NULL);
    assert_acquires(reader, 0); /* two shared holders at once */
    assert_times_out(writer, 0);
    assert_times_out(writer, 0.05);
    cr_assert_eq(mproc_filelock_release(reader), 0);
    assert_times_out(writer, 0); /* the child still reads */
    release_holder(&h);
    assert_acquires(writer, 0);
    cr_assert_eq(mproc_filelock_release(writer), 0);
    mproc_filelock_free(reader);
    mproc_filelock_free(writer);
    remove_dir(&d);
}

Test(filelock, an_exclusive_holder_keeps_shared_ones_out)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *reader;
    const mproc_filelock_opts shared = { .shared = true };

    join_path(path, sizeof(path), &d, "lock");
    h = start_holder(path, NULL);
    reader = new_lock(path, &shared);
    assert_times_out(reader, 0);
    assert_times_out(reader, 0.05);
    release_holder(&h);
    assert_acquires(reader, 0);
    cr_assert_eq(mproc_filelock_release(reader), 0);
    mproc_filelock_free(reader);
    remove_dir(&d);
}

/* ---- handles ------------------------------------------------------------- */

Test(filelock, acquire_is_reentrant_and_only_the_last_release_unlocks)
{
    struct dir d = make_dir();
    char path[128];
    mproc_filelock *l, *other;

    join_path(path, sizeof(path), &d, "lock");
    l = new_lock(path, NULL);
    other = new_lock(path, NULL);
    cr_assert_not(mproc_filelock_is_locked(l));
    assert_acquires(l, 0);
    assert_acquires(l, 0);
    assert_acquires(l, MPROC_FOREVER);
    assert_times_out(other, 0);
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert(mproc_filelock_is_locked(l));
    assert_times_out(other, 0);
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert_not(mproc_filelock_is_locked(l));
    assert_acquires(other, 0);
    cr_assert_eq(mproc_filelock_release(l), MPROC_ESTATE);
    cr_assert(mproc_filelock_is_locked(other), "another handle's hold");
    cr_assert_eq(mproc_filelock_release(other), 0);
    cr_assert_eq(mproc_filelock_release(other), MPROC_ESTATE);
    mproc_filelock_free(l);
    mproc_filelock_free(other);
    remove_dir(&d);
}

Test(filelock, two_handles_on_one_file_exclude_each_other_in_one_thread)
{
    struct dir d = make_dir();
    char path[128];
    mproc_filelock *a, *b;
    double t0;

    join_path(path, sizeof(path), &d, "lock");
    a = new_lock(path, NULL);
    b = new_lock(path, NULL);
    assert_acquires(a, 0);
    assert_times_out(b, 0);
    t0 = th_now();
    assert_times_out(b, 0.1);
    th_assert_elapsed(t0, 0.1, 0.3);
    cr_assert_eq(mproc_filelock_release(a), 0);
    assert_acquires(b, 0);
    assert_times_out(a, 0);
    cr_assert_eq(mproc_filelock_release(b), 0);
    mproc_filelock_free(a);
    mproc_filelock_free(b);
    remove_dir(&d);
}

Test(filelock, free_gives_back_every_hold)
{
    struct dir d = make_dir();
    char path[128];
    mproc_filelock *a, *b;

    join_path(path, sizeof(path), &d, "lock");
    a = new_lock(path, NULL);
    b = new_lock(path, NULL);
    assert_acquires(a, 0);
    assert_acquires(a, 0);
    assert_times_out(b, 0);
    mproc_filelock_free(a);
    assert_acquires(b, 0);
    mproc_filelock_free(b);
    mproc_filelock_free(NULL);
    remove_dir(&d);
}

Test(filelock, disjoint_byte_ranges_lock_together_and_overlapping_ones_exclude)
{
    struct dir d = make_dir();
    char path[128];
    struct holder h;
    mproc_filelock *low, *high, *middle, *tail, *whole, *shared_low;

    join_path(path, sizeof(path), &d, "lock");
    /* Bytes 0..9 held by a child, 10..19 and 100.. here. */
    h = start_holder(path, &(mproc_filelock_opts){ .length = 10 });
    low = new_lock(path, &(mproc_filelock_opts){ .length = 10 });
    high = new_lock(path, &(mproc_filelock_opts){ .offset = 10, .length = 10 });
    middle =
        new_lock(path, &(mproc_filelock_opts){ .offset = 5, .length = 10 });
    tail = new_lock(path, &(mproc_filelock_opts){ .offset = 100 });
    whole = new_lock(path, NULL);
    shared_low = new_lock(path, &(mproc_filelock_opts){
                                    .shared = true, .offset = 9, .length = 1 });
    assert_times_out(low, 0);
    assert_acquires(high, 0);
    assert_acquires(tail, 0);
    assert_times_out(middle, 0); /* overlaps both */
    assert_times_out(whole, 0);
    assert_times_out(shared_low, 0); /* byte 9 is the child's */
    release_holder(&h);
    assert_acquires(shared_low, 0); /* beside high and tail */
    cr_assert_eq(mproc_filelock_release(shared_low), 0);
    assert_acquires(low, 0);
    assert_times_out(middle, 0); /* low and high, both held here */
    cr_assert_eq(mproc_filelock_release(high), 0);
    assert_times_out(middle, 0); /* low still */
    cr_assert_eq(mproc_filelock_release(low), 0);
    assert_acquires(middle, 0);
    assert_times_out(shared_low, 0); /* byte 9 is middle's now */
    assert_times_out(whole, 0);      /* middle and tail */
    cr_assert_eq(mproc_filelock_release(middle), 0);
    cr_assert_eq(mproc_filelock_release(tail), 0);
    assert_acquires(whole, 0);
    cr_assert_eq(mproc_filelock_release(whole), 0);
    mproc_filelock_free(low);
    mproc_filelock_free(high);
    mproc_filelock_free(middle);
    mproc_filelock_free(tail);
    mproc_filelock_free(whole);
    mproc_filelock_free(shared_low);
    remove_dir(&d);
}

Test(filelock, the_descriptor_reads_and_writes_the_locked_file)
{
    struct dir d = make_dir();
    char path[128], text[32];
    mproc_filelock *l;
    int fd;

    join_path(path, sizeof(path), &d, "data");
    cr_assert_not(exists(path));
    l = new_lock(path, NULL);
    cr_assert(exists(path), "the file is made by new");
    fd = mproc_filelock_fd(l);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_acquires(l, 0);
    cr_assert_eq(mproc_filelock_fd(l), fd);
    cr_assert_eq(pwrite(fd, "under the lock", 14, 0), 14);
    cr_assert_eq(mproc_filelock_release(l), 0);
    read_all(path, text, sizeof(text));
    cr_assert_str_eq(text, "under the lock");
    mproc_filelock_free(l);
    /* An existing file is opened, not truncated. */
    l = new_lock(path, NULL);
    read_all(path, text, sizeof(text));
    cr_assert_str_eq(text, "under the lock");
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, a_made_file_has_the_mode_asked_for_less_the_umask)
{
    struct dir d = make_dir();
    char path[128];
    mproc_filelock *l;
    struct stat st;
    mode_t old = umask(022);

    join_path(path, sizeof(path), &d, "default");
    l = new_lock(path, NULL);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    mproc_filelock_free(l);

    join_path(path, sizeof(path), &d, "private");
    l = new_lock(path, &(mproc_filelock_opts){ .mode = 0600 });
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    mproc_filelock_free(l);

    join_path(path, sizeof(path), &d, "lockfile");
    l = new_lock(path,
                 &(mproc_filelock_opts){ .lockfile = true, .mode = 0666 });
    assert_acquires(l, 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    mproc_filelock_free(l);
    cr_assert_not(exists(path), "free removes a held lock file");
    umask(old);
    remove_dir(&d);
}

Test(filelock, a_directory_is_refused)
{
    struct dir d = make_dir();
    mproc_filelock *l = (mproc_filelock *)1;

    cr_assert_eq(mproc_filelock_new(&l, d.path, NULL), -EISDIR);
    cr_assert_null(l);
    l = (mproc_filelock *)1;
    cr_assert_eq(mproc_filelock_new(&l, d.path,
                                    &(mproc_filelock_opts){ .shared = true }),
                 -EISDIR);
    cr_assert_null(l);
    remove_dir(&d);
}

/* In lock-file mode nothing is made before acquire; a directory at the
 * path must still be refused (at new or at acquire), not taken for a lock
 * file someone holds. */
Test(filelock, a_directory_is_refused_in_lock_file_mode_too)
{
    struct dir d = make_dir();
    mproc_filelock *l = NULL;
    int rc = mproc_filelock_new(&l, d.path,
                                &(mproc_filelock_opts){ .lockfile = true });

    if (rc == 0) {
        rc = mproc_filelock_acquire(l, 0);
        mproc_filelock_free(l);
    }
    remove_dir(&d);
    cr_assert_eq(rc, -EISDIR, "%s", mproc_errname(rc));
}

Test(filelock, a_missing_directory_is_refused)
{
    struct dir d = make_dir();
    char path[128];
    mproc_filelock *l = (mproc_filelock *)1;

    join_path(path, sizeof(path), &d, "sub/lock");
    cr_assert_eq(mproc_filelock_new(&l, path, NULL), -ENOENT);
    cr_assert_null(l);
    /* Lock-file mode makes nothing until acquire: the error comes then. */
    l = new_lock(path, &(mproc_filelock_opts){ .lockfile = true });
    cr_assert_eq(mproc_filelock_acquire(l, 0), -ENOENT);
    cr_assert_eq(mproc_filelock_acquire(l, 0.05), -ENOENT);
    cr_assert_not(mproc_filelock_is_locked(l));
    /* ... and once the directory is there, it works. */
    join_path(path, sizeof(path), &d, "sub");
    cr_assert_eq(mkdir(path, 0755), 0);
    assert_acquires(l, 0);
    cr_assert_eq(mproc_filelock_release(l), 0);
    mproc_filelock_free(l);
    remove_dir(&d);
}

/* ---- the cash ledger ----------------------------------------------------- */

struct ledger_job {
    char path[200];
    int id; /* which appender: its amount is amount_of(id) */
    int n;
};

/* The amount process id adds each time, in cents. */
static long long
amount_of(int id)
{
    return 2500LL * (id + 1) + id; /* +25.00, +50.01, +75.02, +100.03 */
}

/* The balance in cents on the last line of the CSV on fd ("date,amount,
 * balance\n" lines; an empty file is 0), or -1 if it cannot be read. */
static long long
last_balance(int fd)
{
    char tail[128];
    struct stat st;
    long long units, cents;
    off_t from;
    ssize_t n;
    char *comma;

    if (fstat(fd, &st) != 0)
        return -1;
    if (st.st_size == 0)
        return 0;
    from = st.st_size > (off_t)sizeof(tail) - 1
               ? st.st_size - (off_t)sizeof(tail) + 1
               : 0;
    n = pread(fd, tail, sizeof(tail) - 1, from);
    if (n <= 0 || tail[n - 1] != '\n')
        return -1;
    tail[n - 1] = '\0';
    comma = strrchr(tail, ',');
    if (comma == NULL || sscanf(comma + 1, "%lld.%lld", &units, &cents) != 2)
        return -1;
    return units * 100 + cents;
}

/* A process target: append n lines to the cash book, each one reading the
 * last balance and writing it plus this process's amount, under the lock
 * on the book itself. */
static int
append_to_ledger(const void *arg, size_t len)
{
    struct ledger_job j;
    mproc_filelock *l = NULL;

    if (len != sizeof(j))
        return 10;
    memcpy(&j, arg, sizeof(j));
    if (mproc_filelock_new(&l, j.path, NULL) != 0)
        return 11;
    for (int i = 0; i < j.n; i++) {
        long long amount = amount_of(j.id), balance;
        char line[96];
        struct stat st;
        int fd = mproc_filelock_fd(l), n;

        if (mproc_filelock_acquire(l, MPROC_FOREVER) != 0)
            return 12;
        balance = last_balance(fd);
        if (balance < 0 || fstat(fd, &st) != 0)
            return 13;
        balance += amount;
        n = snprintf(line, sizeof(line),
                     "2026-11-%02d,+%lld.%02lld,%lld.%02lld\n", 1 + i % 30,
                     amount / 100, amount % 100, balance / 100, balance % 100);
        if (pwrite(fd, line, (size_t)n, st.st_size) != n)
            return 14;
        if (mproc_filelock_release(l) != 0)
            return 15;
    }
    mproc_filelock_free(l);
    return 0;
}

Test(filelock, four_processes_append_to_a_cash_book_and_lose_no_update)
{
    struct dir d = make_dir();
    mproc_process *kids[LEDGER_PROCS];
    struct ledger_job j;
    long long expected = 0, balance;
    size_t lines = 0;
    char *text;
    mproc_filelock *l;
    struct stat st;
    int fd;

    memset(&j, 0, sizeof(j));
    join_path(j.path, sizeof(j.path), &d, "cash.csv");
    j.n = LEDGER_APPENDS;
    for (int i = 0; i < LEDGER_PROCS; i++) {
        j.id = i;
        kids[i] =
            th_start_daemon(append_to_ledger, &j, sizeof(j), MPROC_START_FORK);
        expected += amount_of(i) * LEDGER_APPENDS;
    }
    for (int i = 0; i < LEDGER_PROCS; i++)
        cr_assert_eq(th_join(kids[i], 60), 0, "appender %d", i);

    l = new_lock(j.path, &(mproc_filelock_opts){ .shared = true });
    assert_acquires(l, 0);
    fd = mproc_filelock_fd(l);
    balance = last_balance(fd);
    cr_assert_eq(balance, expected, "balance %lld, expected %lld", balance,
                 expected);
    cr_assert_eq(fstat(fd, &st), 0);
    text = malloc((size_t)st.st_size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(pread(fd, text, (size_t)st.st_size, 0), st.st_size);
    text[st.st_size] = '\0';
    for (char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    free(text);
    cr_assert_eq(lines, (size_t)LEDGER_PROCS * LEDGER_APPENDS);
    mproc_filelock_free(l);
    remove_dir(&d);
}

/* ---- lock files ---------------------------------------------------------- */

static const mproc_filelock_opts lockfile = { .lockfile = true };

Test(filelock, acquire_makes_the_lock_file_with_the_pid_and_release_removes_it)
{
    struct dir d = make_dir();
    char path[128], text[64], expect[32];
    mproc_filelock *l;
    int fd;

    join_path(path, sizeof(path), &d, "lock");
    l = new_lock(path, &lockfile);
    cr_assert_not(exists(path), "nothing is made before acquire");
    cr_assert_eq(mproc_filelock_fd(l), -1);
    assert_acquires(l, 0);
    cr_assert(exists(path));
    read_all(path, text, sizeof(text));
    snprintf(expect, sizeof(expect), "%d ", (int)getpid());
    cr_assert_eq(strncmp(text, expect, strlen(expect)), 0, "holds \"%s\"",
                 text);
    fd = mproc_filelock_fd(l);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_acquires(l, 0); /* re-entrant here too */
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert(exists(path));
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert_not(exists(path));
    cr_assert_eq(mproc_filelock_fd(l), -1);
    cr_assert_eq(mproc_filelock_release(l), MPROC_ESTATE);
    assert_acquires(l, 0); /* and again */
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert_not(exists(path));
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, a_held_lock_file_makes_other_handles_time_out)
{
    struct dir d = make_dir();
    char path[128], before[64], after[64];
    struct holder h;
    mproc_filelock *a, *b;
    double t0;

    join_path(path, sizeof(path), &d, "lock");
    a = new_lock(path, &lockfile);
    b = new_lock(path, &lockfile);
    assert_acquires(a, 0);
    assert_times_out(b, 0);
    t0 = th_now();
    assert_times_out(b, 0.3);
    th_assert_elapsed(t0, 0.3, 0.3);
    cr_assert_eq(mproc_filelock_fd(b), -1);
    cr_assert_eq(mproc_filelock_release(a), 0);
    assert_acquires(b, 0);
    cr_assert_eq(mproc_filelock_release(b), 0);

    /* Held by a live child: not stale, kept. */
    h = start_holder(path, &lockfile);
    read_all(path, before, sizeof(before));
    assert_times_out(a, 0);
    assert_times_out(a, 0.05);
    read_all(path, after, sizeof(after));
    cr_assert_str_eq(after, before, "the live owner's file was replaced");
    release_holder(&h);
    cr_assert_not(exists(path));
    assert_acquires(a, 0);
    mproc_filelock_free(a);
    mproc_filelock_free(b);
    remove_dir(&d);
}

Test(filelock, a_lock_file_whose_owner_is_dead_is_taken_over)
{
    struct dir d = make_dir();
    char path[128], text[64], expect[32];
    mproc_filelock *l;
    uint32_t start;
    pid_t pid;
    int status;

    join_path(path, sizeof(path), &d, "lock");
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    /* Its start time while it is a zombie, then reaped: dead. */
    cr_assert_eq(waitid(P_PID, (id_t)pid, NULL, WEXITED | WNOWAIT), 0);
    start = start_time_of(pid);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    snprintf(text, sizeof(text), "%d %" PRIu32 "\n", (int)pid, start);
    write_file(path, text);

    l = new_lock(path, &lockfile);
    assert_acquires(l, 0);
    read_all(path, text, sizeof(text));
    snprintf(expect, sizeof(expect), "%d ", (int)getpid());
    cr_assert_eq(strncmp(text, expect, strlen(expect)), 0, "holds \"%s\"",
                 text);
    cr_assert_eq(mproc_filelock_release(l), 0);
    cr_assert_not(exists(path));
    mproc_filelock_free(l);
    remove_dir(&d);
}

Test(filelock, a_lock_file_whose_pid_names_a_newer_process_is_taken_over)
{
    struct dir d = make_dir();
    char path[128], text[64], expect[32];
    mproc_filelock *l;
    uint32_t start;
    int fds[2], status;
    pid_t pid;

    join_path(path, sizeof(path), &d, "lock");
    /* A live process: blocked on a pipe until the test closes it. */
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char c;

        close(fds[1]);
        _exit(read(fds[0], &c, 1) == 0 ? 0 : 1);
    }
    close(fds[0]);
    start = start_time_of(pid);
    cr_assert_neq(start, 0u);

    /* Its pid with its own start time: a live owner, kept. */
    snprintf(text, sizeof(text), "%d %" PRIu32 "\n", (int)pid, start);
    write_file(path, text);
    l = new_lock(path, &lockfile);
    assert_times_out(l, 0);
    cr_assert(exists(path));

    /* Its pid with an earlier start time: the pid was reused, stale. */
    snprintf(text, sizeof(text), "%d %" PRIu32 "\n", (int)pid, start - 1);
    write_file(path, text);
    assert_acquires(l, 0);
    read_all(path, text, sizeof(text));
    snprintf(expect, sizeof(expect), "%d ", (int)getpid());
    cr_assert_eq(strncmp(text, expect, strlen(expect)), 0, "holds \"%s\"",
                 text);
    cr_assert_eq(mproc_filelock_release(l), 0);
    mproc_filelock_free(l);

    close(fds[1]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    remove_dir(&d);
}

/* ---- threads ------------------------------------------------------------- */

struct sharer {
    pthread_t thread;
    mproc_filelock *l;
    int rounds;
    _Atomic int *failures;
};

/* Acquire and release the shared handle rounds times; count anything
 * wrong (no cr_assert off the test's thread). */
static void *
share_run(void *arg)
{
    struct sharer *s = arg;

    for (int i = 0; i < s->rounds; i++) {
        if (mproc_filelock_acquire(s->l, i % 2 ? 0 : MPROC_FOREVER) != 0 ||
            !mproc_filelock_is_locked(s->l))
            ++*s->failures;
        if (mproc_filelock_release(s->l) != 0)
            ++*s->failures;
    }
    return NULL;
}

Test(filelock, threads_using_one_handle_share_its_hold)
{
    struct dir d = make_dir();
    char path[128];
    struct sharer s[2];
    _Atomic int failures = 0;
    mproc_filelock *l, *other;

    join_path(path, sizeof(path), &d, "lock");
    l = new_lock(path, NULL);
    other = new_lock(path, NULL);

    /* A hold taken by this thread is shared by another one. */
    assert_acquires(l, 0);
    s[0] = (struct sharer){ .l = l, .rounds = 1, .failures = &failures };
    cr_assert_eq(pthread_create(&s[0].thread, NULL, share_run, &s[0]), 0);
    pthread_join(s[0].thread, NULL);
    cr_assert_eq(failures, 0);
    cr_assert(mproc_filelock_is_locked(l));
    assert_times_out(other, 0);
    cr_assert_eq(mproc_filelock_release(l), 0);

    /* Two threads acquiring and releasing at once leave no hold behind. */
    for (int i = 0; i < 2; i++) {
        s[i] =
            (struct sharer){ .l = l, .rounds = 20000, .failures = &failures };
        cr_assert_eq(pthread_create(&s[i].thread, NULL, share_run, &s[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(s[i].thread, NULL);
    cr_assert_eq(failures, 0);
    cr_assert_not(mproc_filelock_is_locked(l));
    cr_assert_eq(mproc_filelock_release(l), MPROC_ESTATE);
    assert_acquires(other, 0);
    cr_assert_eq(mproc_filelock_release(other), 0);
    mproc_filelock_free(l);
    mproc_filelock_free(other);
    remove_dir(&d);
}

struct counter_job {
    pthread_t thread;
    const char *path;
    long *counter;
    int rounds;
    _Atomic int *failures;
};

/* With a handle of its own, add 1 to *counter rounds times under it,
 * slowly enough (a yield between read and write) that a lock that does not
 * exclude loses counts. */
static void *
count_run(void *arg)
{
    struct counter_job *c = arg;
    mproc_filelock *l = NULL;

    if (mproc_filelock_new(&l, c->path, NULL) != 0) {
        ++*c->failures;
        return NULL;
    }
    for (int i = 0; i < c->rounds; i++) {
        long v;

        if (mproc_filelock_acquire(l, MPROC_FOREVER) != 0) {
            ++*c->failures;
            continue;
        }
        v = *(volatile long *)c->counter;
        sched_yield();
        *(volatile long *)c->counter = v + 1;
        if (mproc_filelock_release(l) != 0)
            ++*c->failures;
    }
    mproc_filelock_free(l);
    return NULL;
}

Test(filelock, threads_with_handles_of_their_own_exclude_each_other)
{
    struct dir d = make_dir();
    char path[128];
    struct counter_job c[2];
    _Atomic int failures = 0;
    long counter = 0;

    join_path(path, sizeof(path), &d, "lock");
    for (int i = 0; i < 2; i++) {
        c[i] = (struct counter_job){ .path = path,
                                     .counter = &counter,
                                     .rounds = 2000,
                                     .failures = &failures };
        cr_assert_eq(pthread_create(&c[i].thread, NULL, count_run, &c[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(c[i].thread, NULL);
    cr_assert_eq(failures, 0);
    cr_assert_eq(counter, 4000);
    remove_dir(&d);
}

/* ---- refusals ------------------------------------------------------------ */

Test(filelock, bad_arguments_are_refused)
{
    struct dir d = make_dir();
    char path[128];
    mproc_filelock *l = (mproc_filelock *)1, *ok;

    join_path(path, sizeof(path), &d, "lock");
    cr_assert_eq(mproc_filelock_new(NULL, path, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_filelock_new(&l, NULL, NULL), MPROC_EINVAL);
    cr_assert_null(l);
    static const mproc_filelock_opts bad[] = {
        { .lockfile = true, .shared = true },
        { .lockfile = true, .offset = 1 },
        { .lockfile = true, .length = 1 },
        { .offset = (uint64_t)INT64_MAX + 1 },
        { .offset = UINT64_MAX },
        { .length = UINT64_MAX },
        { .offset = INT64_MAX, .length = 2 },
        { .offset = 1, .length = (uint64_t)INT64_MAX + 1 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = (mproc_filelock *)1;
        cr_assert_eq(mproc_filelock_new(&l, path, &bad[i]), MPROC_EINVAL,
                     "options %zu", i);
        cr_assert_null(l);
    }
    cr_assert_not(exists(path), "a refused new made the file");

    cr_assert_eq(mproc_filelock_acquire(NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_filelock_release(NULL), MPROC_EINVAL);
    cr_assert_not(mproc_filelock_is_locked(NULL));
    cr_assert_eq(mproc_filelock_fd(NULL), -1);
    mproc_filelock_free(NULL);

    ok = new_lock(path, NULL);
    cr_assert_eq(mproc_filelock_acquire(ok, NAN), MPROC_EINVAL);
    cr_assert_not(mproc_filelock_is_locked(ok));
    cr_assert_eq(mproc_filelock_release(ok), MPROC_ESTATE);
    /* After all of it the handle works. */
    assert_acquires(ok, 0);
    cr_assert_eq(mproc_filelock_release(ok), 0);
    mproc_filelock_free(ok);
    remove_dir(&d);
}
