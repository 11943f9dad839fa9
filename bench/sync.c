/*
 * bench/sync.c - locks, shared Values, events, barriers and named shared
 * memory, beside the raw-OS floor for the same work. Python twin:
 * bench/python/sync.py (multiprocessing.Lock, Value, Event, Barrier,
 * shared_memory.SharedMemory).
 *
 *   lock_pair_per_s            uncontended mproc_lock_acquire + release
 *                              pairs per second, in one process
 *     limit_pthread_mutex_pair_per_s   a process-shared pthread mutex's
 *                              lock + unlock pairs
 *   value_locked_2x1m          two forked processes each adding 1 to a
 *                              shared long Value 1,000,000 times under its
 *                              lock (the default RLock, as Python's
 *                              get_lock()); from the go to both done
 *     limit_mutex_counter_2x1m the same count under a process-shared
 *                              pthread mutex
 *   value_atomic_2x1m          the same count with mproc_value_add (Python
 *                              has no atomic add: its figure is its locked
 *                              count, the same work)
 *     limit_atomic_add_2x1m    __atomic_fetch_add on shared memory
 *   event_pingpong             one round trip between two processes over
 *                              two Events: set the other's, wait for ours,
 *                              clear it
 *     limit_futex_pingpong     the same protocol over two raw futex words,
 *                              each a raw event: a wait marks the word and
 *                              FUTEX_WAITs while it is not set; a set
 *                              exchanges it and FUTEX_WAKEs a marked word
 *   barrier_2party_per_s       passes per second of a 2-party Barrier that
 *                              two processes wait on in a loop
 *   shm_create_attach_close_unlink  a 4 KiB named segment: create, attach
 *                              by name, close both, unlink
 *     limit_shm_open_unlink    the same with raw shm_open, ftruncate, mmap,
 *                              munmap, close and shm_unlink
 *
 * mproc and limit samples alternate where a row has a limit; warm-up
 * samples are discarded; children are forked and reaped per row.
 *
 * Usage: bench_sync [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds (per second for
 * _per_s): <row> <mproc-value> [<limit-name> <limit-value>]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#define WARMUP 3
#define PAIRS 100000     /* lock pairs in one sample */
#define COUNT 1000000    /* increments per process */
#define PASSES 2000      /* barrier passes in one sample */
#define PINGS_WARMUP 200 /* round trips before timing */

/* What the parent and its children share. */
struct shared {
    pthread_mutex_t mutex;
    long counter;
};

static struct shared *sh;
static struct bench_pingpong *pingpong;

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, mproc_strerror(rc));
    exit(1);
}

/* ---- lock_pair_per_s ----------------------------------------------------- */

static double
lock_pairs(mproc_lock *l)
{
    double t0 = bench_now_us();

    for (int i = 0; i < PAIRS; i++) {
        mproc_lock_acquire(l, MPROC_FOREVER);
        mproc_lock_release(l);
    }
    return PAIRS / ((bench_now_us() - t0) / 1e6);
}

static double
mutex_pairs(void)
{
    double t0 = bench_now_us();

    for (int i = 0; i < PAIRS; i++) {
        pthread_mutex_lock(&sh->mutex);
        pthread_mutex_unlock(&sh->mutex);
    }
    return PAIRS / ((bench_now_us() - t0) / 1e6);
}

static void
row_lock_pair(int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));
    mproc_lock *l;
    int rc = mproc_lock_new(&l);

    if (rc < 0 || mine == NULL || limit == NULL)
        die("lock", rc < 0 ? rc : MPROC_ENOMEM);
    for (int i = 0; i < WARMUP; i++) {
        lock_pairs(l);
        mutex_pairs();
    }
    for (int i = 0; i < iters; i++) {
        mine[i] = lock_pairs(l);
        limit[i] = mutex_pairs();
    }
    printf("lock_pair_per_s %.1f limit_pthread_mutex_pair_per_s %.1f\n",
           bench_median(mine, (size_t)iters),
           bench_median(limit, (size_t)iters));
    mproc_lock_free(l);
    free(mine);
    free(limit);
}

/* ---- the counters -------------------------------------------------------- */

enum counter_kind {
    LOCKED_VALUE,
    ATOMIC_VALUE,
    MUTEX,
    RAW_ATOMIC
};

struct counter {
    enum counter_kind kind;
    mproc_value *v;
    int go; /* read end: a byte per child starts it */
};

static void
count(void *arg)
{
    struct counter *c = arg;
    long *p = mproc_value_get_obj(c->v);
    char byte;

    if (read(c->go, &byte, 1) != 1)
        _exit(2);
    for (int i = 0; i < COUNT; i++) {
        switch (c->kind) {
        case LOCKED_VALUE:
            mproc_value_acquire(c->v, MPROC_FOREVER);
            (*p)++;
            mproc_value_release(c->v);
            break;
        case ATOMIC_VALUE:
            mproc_value_add(c->v, 1, NULL);
            break;
        case MUTEX:
            pthread_mutex_lock(&sh->mutex);
            sh->counter++;
            pthread_mutex_unlock(&sh->mutex);
            break;
        case RAW_ATOMIC:
            __atomic_fetch_add(&sh->counter, 1, __ATOMIC_SEQ_CST);
            break;
        }
    }
}

/* Microseconds from the go to both children done; checks the total. */
static double
count_sample(enum counter_kind kind)
{
    struct counter c = { .kind = kind };
    int go[2];
    pid_t kids[2];
    double t0, us;
    long total;
    int rc = mproc_value_new(&c.v, MPROC_CTYPE_LONG, NULL);

    if (rc < 0)
        die("value", rc);
    if (pipe(go) < 0)
        die("pipe", -errno);
    c.go = go[0];
    sh->counter = 0;
    for (int k = 0; k < 2; k++)
        kids[k] = bench_fork(count, &c);
    t0 = bench_now_us();
    if (write(go[1], "gg", 2) != 2)
        die("write", -errno);
    for (int k = 0; k < 2; k++)
        bench_reap(kids[k]);
    us = bench_now_us() - t0;
    total = kind == LOCKED_VALUE || kind == ATOMIC_VALUE
                ? *(long *)mproc_value_get_obj(c.v)
                : sh->counter;
    if (total != 2L * COUNT)
        die("count", MPROC_EPROTOCOL);
    close(go[0]);
    close(go[1]);
    mproc_value_free(c.v);
    return us;
}

static void
row_counter(const char *name, enum counter_kind kind, const char *limit_name,
            enum counter_kind limit_kind, int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));

    if (mine == NULL || limit == NULL)
        die("memory", MPROC_ENOMEM);
    count_sample(kind); /* warm-up */
    for (int i = 0; i < iters; i++) {
        mine[i] = count_sample(kind);
        limit[i] = count_sample(limit_kind);
    }
    printf("%s %.1f %s %.1f\n", name, bench_median(mine, (size_t)iters),
           limit_name, bench_median(limit, (size_t)iters));
    free(mine);
    free(limit);
}

/* ---- event_pingpong ------------------------------------------------------ */

static mproc_event *ev[2];

static void
event_echo(void *arg)
{
    long n = (long)(intptr_t)arg;

    for (long i = 0; i < n; i++) {
        if (mproc_event_wait(ev[0], MPROC_FOREVER) < 0)
            _exit(2);
        mproc_event_clear(ev[0]);
        mproc_event_set(ev[1]);
    }
}

static void
row_event_pingpong(int iters)
{
    long n = PINGS_WARMUP + iters;
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));
    pid_t kid;

    if (mine == NULL || limit == NULL)
        die("memory", MPROC_ENOMEM);
    for (int k = 0; k < 2; k++) {
        int rc = mproc_event_new(&ev[k]);

        if (rc < 0)
            die("event", rc);
    }
    kid = bench_fork(event_echo, (void *)(intptr_t)n);
    for (long i = 0; i < n; i++) {
        double t0 = bench_now_us();

        mproc_event_set(ev[0]);
        mproc_event_wait(ev[1], MPROC_FOREVER);
        mproc_event_clear(ev[1]);
        if (i >= PINGS_WARMUP)
            mine[i - PINGS_WARMUP] = bench_now_us() - t0;
    }
    bench_reap(kid);
    kid = bench_pingpong_start(pingpong, n);
    for (long i = 0; i < n; i++) {
        double us = bench_pingpong_rtt(pingpong);

        if (i >= PINGS_WARMUP)
            limit[i - PINGS_WARMUP] = us;
    }
    bench_reap(kid);
    printf("event_pingpong %.1f limit_futex_pingpong %.1f\n",
           bench_median(mine, (size_t)iters),
           bench_median(limit, (size_t)iters));
    for (int k = 0; k < 2; k++)
        mproc_event_free(ev[k]);
    free(mine);
    free(limit);
}

/* ---- barrier_2party_per_s ------------------------------------------------ */

static mproc_barrier *bar;

static void
barrier_party(void *arg)
{
    long n = (long)(intptr_t)arg;

    for (long i = 0; i < n; i++) {
        if (mproc_barrier_wait(bar, MPROC_FOREVER, NULL) < 0)
            _exit(2);
    }
}

static void
row_barrier(int iters)
{
    long n = (long)PASSES * (WARMUP + iters);
    double *mine = calloc((size_t)iters, sizeof(double));
    pid_t kid;
    int rc = mproc_barrier_new(&bar, 2, NULL);

    if (rc < 0 || mine == NULL)
        die("barrier", rc < 0 ? rc : MPROC_ENOMEM);
    kid = bench_fork(barrier_party, (void *)(intptr_t)n);
    for (int s = -WARMUP; s < iters; s++) {
        double t0 = bench_now_us();

        for (int i = 0; i < PASSES; i++) {
            rc = mproc_barrier_wait(bar, MPROC_FOREVER, NULL);
            if (rc < 0)
                die("barrier wait", rc);
        }
        if (s >= 0)
            mine[s] = PASSES / ((bench_now_us() - t0) / 1e6);
    }
    bench_reap(kid);
    printf("barrier_2party_per_s %.1f\n", bench_median(mine, (size_t)iters));
    mproc_barrier_free(bar);
    free(mine);
}

/* ---- shm_create_attach_close_unlink -------------------------------------- */

#define SHM_SIZE 4096

static double
shm_cycle(void)
{
    double t0 = bench_now_us();
    mproc_shm *a, *b;
    int rc = mproc_shm_new(&a, NULL, true, SHM_SIZE, NULL);

    if (rc == 0)
        rc = mproc_shm_new(&b, mproc_shm_name(a), false, 0, NULL);
    if (rc < 0)
        die("shm", rc);
    mproc_shm_close(b);
    mproc_shm_close(a);
    rc = mproc_shm_unlink(a);
    if (rc < 0)
        die("shm unlink", rc);
    mproc_shm_free(b);
    mproc_shm_free(a);
    return bench_now_us() - t0;
}

static double
raw_shm_cycle(void)
{
    double t0 = bench_now_us();
    char name[64];
    int fd, fd2;
    void *p, *q;

    snprintf(name, sizeof(name), "/bench_sync_%d", (int)getpid());
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, SHM_SIZE) < 0)
        die("shm_open", -errno);
    p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fd2 = shm_open(name, O_RDWR | O_CLOEXEC, 0600);
    q = fd2 < 0
            ? MAP_FAILED
            : mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
    if (p == MAP_FAILED || q == MAP_FAILED)
        die("mmap", -errno);
    munmap(q, SHM_SIZE);
    close(fd2);
    munmap(p, SHM_SIZE);
    close(fd);
    shm_unlink(name);
    return bench_now_us() - t0;
}

static void
row_shm(int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));

    if (mine == NULL || limit == NULL)
        die("memory", MPROC_ENOMEM);
    for (int i = 0; i < 10 * WARMUP; i++) {
        shm_cycle();
        raw_shm_cycle();
    }
    for (int i = 0; i < iters; i++) {
        mine[i] = shm_cycle();
        limit[i] = raw_shm_cycle();
    }
    printf("shm_create_attach_close_unlink %.1f limit_shm_open_unlink %.1f\n",
           bench_median(mine, (size_t)iters),
           bench_median(limit, (size_t)iters));
    free(mine);
    free(limit);
}

/* ---- main ---------------------------------------------------------------- */

static const char *const rows[] = {
    "lock_pair_per_s", "value_locked_2x1m",    "value_atomic_2x1m",
    "event_pingpong",  "barrier_2party_per_s", "shm_create_attach_close_unlink",
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static const char *
row_name(size_t i)
{
    return rows[i];
}

static int
iters_or(const struct bench_args *a, int dflt)
{
    return a->iters > 0 ? a->iters : dflt;
}

int
main(int argc, char **argv)
{
    struct bench_args args;
    pthread_mutexattr_t attr;

    bench_parse_args(argc, argv, &args);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap", -errno);
    pingpong = bench_pingpong_new();
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&sh->mutex, &attr);
    if (bench_selected(&args, rows[0], row_name, N_ROWS))
        row_lock_pair(iters_or(&args, 30));
    if (bench_selected(&args, rows[1], row_name, N_ROWS))
        row_counter(rows[1], LOCKED_VALUE, "limit_mutex_counter_2x1m", MUTEX,
                    iters_or(&args, 3));
    if (bench_selected(&args, rows[2], row_name, N_ROWS))
        row_counter(rows[2], ATOMIC_VALUE, "limit_atomic_add_2x1m", RAW_ATOMIC,
                    iters_or(&args, 3));
    if (bench_selected(&args, rows[3], row_name, N_ROWS))
        row_event_pingpong(iters_or(&args, 5000));
    if (bench_selected(&args, rows[4], row_name, N_ROWS))
        row_barrier(iters_or(&args, 10));
    if (bench_selected(&args, rows[5], row_name, N_ROWS))
        row_shm(iters_or(&args, 2000));
    fflush(stdout);
    return 0;
}
