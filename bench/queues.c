/*
 * bench/queues.c - Queue and SimpleQueue between processes, beside the
 * raw-OS floor for the same work. Python twin: bench/python/queues.py
 * (multiprocessing.Queue, SimpleQueue).
 *
 *   queue_1p1c_64_per_s        messages per second from one producer
 *                              process to one consumer process, 64 bytes
 *                              each; from the go to the last get
 *     limit_ring_1p1c_64_per_s the harness's own single-producer
 *                              single-consumer ring of 64-byte slots in
 *                              MAP_SHARED memory (16384 slots, the 1 MiB a
 *                              queue keeps to for small traffic): one
 *                              copy and one seq_cst store per message,
 *                              futex waits only when empty or full, after
 *                              the same short spin and one sched_yield as
 *                              the queue's
 *   queue_64k_mb_per_s         MB per second of 64 KiB messages, one
 *                              producer process to one consumer process
 *   queue_2p2c_64_per_s        messages per second of 64 bytes from two
 *                              producer processes to two consumer
 *                              processes; from the go to all four done
 *   simplequeue_1p1c_64_per_s  as queue_1p1c_64_per_s with a SimpleQueue
 *
 * The mproc and limit samples alternate; warm-up samples are discarded;
 * children are forked and reaped per sample.
 *
 * Usage: bench_queues [--iters N] [row-prefix...]
 * Output, one line per row, medians per second:
 *   <row> <mproc-value> [<limit-name> <limit-value>]
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#define WARMUP 1
#define SMALL_N 1000000 /* 64-byte messages in one sample */
#define BIG_N 8000      /* 64 KiB messages in one sample (500 MiB) */
#define MSG 64
#define BIG (64 * 1024)
#define SLOTS 16384
#define SPINS 200

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_queues: %s: %s\n", what, mproc_strerror(rc));
    exit(1);
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- the queue rows ------------------------------------------------------ */

/* What one sample's children get. */
struct work {
    mproc_queue *q;
    mproc_event *go;
    long n;     /* messages to put (producers) */
    size_t len; /* of each */
};

static void
producer(void *arg)
{
    struct work *w = arg;
    char *buf = calloc(1, w->len);

    if (buf == NULL || mproc_event_wait(w->go, MPROC_FOREVER) < 0)
        _exit(2);
    for (long i = 0; i < w->n; i++) {
        memcpy(buf, &i, sizeof(i));
        if (mproc_queue_put(w->q, buf, w->len, MPROC_FOREVER) < 0)
            _exit(3);
    }
    /* The end: an empty message (2p2c: one per consumer). */
    if (mproc_queue_put(w->q, "", 0, MPROC_FOREVER) < 0)
        _exit(4);
    free(buf);
}

/* Get until an empty message; return the count. */
static long
consume(mproc_queue *q, size_t len)
{
    char *buf = malloc(len);
    long got = 0;
    size_t n;

    if (buf == NULL)
        _exit(5);
    for (;;) {
        if (mproc_queue_get_into(q, buf, len, &n, MPROC_FOREVER) < 0)
            _exit(6);
        if (n == 0)
            break;
        got++;
    }
    free(buf);
    return got;
}

static _Atomic long *consumed; /* 2p2c: what the consumer children got */

static void
consumer(void *arg)
{
    struct work *w = arg;

    atomic_fetch_add(consumed, consume(w->q, w->len));
}

/* One sample: `producers` producer processes, `consumers` consumer
 * processes (0: this process consumes), n messages of len bytes in all.
 * Returns the messages per second from the go to the last. */
static double
queue_sample(mproc_queue *q, int producers, int consumers, long n, size_t len)
{
    struct work w = { q, NULL, n / producers, len };
    pid_t kids[4];
    int nk = 0, rc = mproc_event_new(&w.go);
    double t0, us;
    long got = 0;

    if (rc < 0)
        die("event", rc);
    atomic_store(consumed, 0);
    for (int i = 0; i < producers; i++)
        kids[nk++] = bench_fork(producer, &w);
    for (int i = 0; i < consumers; i++)
        kids[nk++] = bench_fork(consumer, &w);
    t0 = bench_now_us();
    mproc_event_set(w.go);
    if (consumers == 0)
        got = consume(q, len);
    for (int i = 0; i < nk; i++)
        bench_reap(kids[i]);
    us = bench_now_us() - t0;
    got += atomic_load(consumed);
    if (got != w.n * producers)
        die("lost messages", MPROC_EPROTOCOL);
    mproc_event_free(w.go);
    return (double)got / (us / 1e6);
}

/* ---- the limit ring ------------------------------------------------------ */

struct ring {
    _Alignas(64) _Atomic uint64_t tail;
    _Atomic uint32_t consumer_sleeps;
    _Alignas(64) _Atomic uint64_t head;
    _Atomic uint32_t producer_sleeps;
    _Alignas(64) char slots[SLOTS][MSG];
};

static struct ring *ring;

/* The low half of a counter: it changes with every message. */
static _Atomic uint32_t *
low_half(_Atomic uint64_t *w)
{
    return (_Atomic uint32_t *)(void *)w;
}

/* Wait until *pos != seen: spin, then sleep marked in *sleeps. */
static uint64_t
ring_wait(_Atomic uint64_t *pos, uint64_t seen, _Atomic uint32_t *sleeps)
{
    uint64_t v;

    for (int i = 0; i < SPINS; i++) {
        v = atomic_load_explicit(pos, memory_order_acquire);
        if (v != seen)
            return v;
        cpu_relax();
    }
    sched_yield();
    for (;;) {
        atomic_store(sleeps, 1);
        v = atomic_load(pos);
        if (v != seen)
            break;
        syscall(SYS_futex, low_half(pos), FUTEX_WAIT, (uint32_t)seen, NULL,
                NULL, 0);
    }
    atomic_store(sleeps, 0);
    return v;
}

static void
ring_publish(_Atomic uint64_t *pos, uint64_t v, _Atomic uint32_t *sleeps)
{
    atomic_store(pos, v); /* seq_cst: then the sleeper's mark is seen */
    if (atomic_load(sleeps))
        syscall(SYS_futex, low_half(pos), FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void
ring_producer(void *arg)
{
    long n = (long)(intptr_t)arg;
    uint64_t tail = atomic_load(&ring->tail), head = atomic_load(&ring->head);
    char buf[MSG] = { 0 };

    for (long i = 0; i < n; i++) {
        while (tail - head == SLOTS)
            head = ring_wait(&ring->head, head, &ring->producer_sleeps);
        memcpy(buf, &i, sizeof(i));
        memcpy(ring->slots[tail % SLOTS], buf, MSG);
        ring_publish(&ring->tail, ++tail, &ring->consumer_sleeps);
    }
}

static double
ring_sample(long n)
{
    uint64_t head = atomic_load(&ring->head), tail = head;
    char buf[MSG];
    double t0 = bench_now_us();
    pid_t kid = bench_fork(ring_producer, (void *)(intptr_t)n);

    for (long i = 0; i < n; i++) {
        while (tail == head)
            tail = ring_wait(&ring->tail, tail, &ring->consumer_sleeps);
        memcpy(buf, ring->slots[head % SLOTS], MSG);
        if (memcmp(buf, &i, sizeof(i)) != 0)
            die("ring order", MPROC_EPROTOCOL);
        ring_publish(&ring->head, ++head, &ring->producer_sleeps);
    }
    bench_reap(kid);
    return (double)n / ((bench_now_us() - t0) / 1e6);
}

/* ---- rows ---------------------------------------------------------------- */

enum kind {
    QUEUE,
    SIMPLE
};

static mproc_queue *
new_queue(enum kind kind)
{
    mproc_queue *q;
    int rc =
        kind == SIMPLE ? mproc_simple_queue_new(&q) : mproc_queue_new(&q, NULL);

    if (rc < 0)
        die("queue", rc);
    return q;
}

/* A row of rates; with_limit adds the ring's samples, alternating. */
static void
row(const char *name, enum kind kind, int producers, int consumers, long n,
    size_t len, double scale, bool with_limit, int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));
    mproc_queue *q = new_queue(kind);

    if (mine == NULL || limit == NULL)
        die("memory", MPROC_ENOMEM);
    for (int s = -WARMUP; s < iters; s++) {
        double r = queue_sample(q, producers, consumers, n, len) * scale;

        if (s >= 0)
            mine[s] = r;
        if (with_limit) {
            r = ring_sample(n);
            if (s >= 0)
                limit[s] = r;
        }
    }
    if (with_limit)
        printf("%s %.1f limit_ring_1p1c_64_per_s %.1f\n", name,
               bench_median(mine, (size_t)iters),
               bench_median(limit, (size_t)iters));
    else
        printf("%s %.1f\n", name, bench_median(mine, (size_t)iters));
    fflush(stdout);
    mproc_queue_free(q);
    free(mine);
    free(limit);
}

static const char *const rows[] = {
    "queue_1p1c_64_per_s",
    "queue_64k_mb_per_s",
    "queue_2p2c_64_per_s",
    "simplequeue_1p1c_64_per_s",
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static const char *
row_name(size_t i)
{
    return rows[i];
}

int
main(int argc, char **argv)
{
    struct bench_args args;
    int iters;

    bench_parse_args(argc, argv, &args);
    iters = args.iters > 0 ? args.iters : 5;
    ring = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    consumed = mmap(NULL, sizeof(*consumed), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED || consumed == MAP_FAILED)
        die("mmap", -errno);
    if (bench_selected(&args, rows[0], row_name, N_ROWS))
        row(rows[0], QUEUE, 1, 0, SMALL_N, MSG, 1, true, iters);
    if (bench_selected(&args, rows[1], row_name, N_ROWS))
        row(rows[1], QUEUE, 1, 0, BIG_N, BIG, BIG / 1e6, false, iters);
    if (bench_selected(&args, rows[2], row_name, N_ROWS))
        row(rows[2], QUEUE, 2, 2, SMALL_N, MSG, 1, false, iters);
    if (bench_selected(&args, rows[3], row_name, N_ROWS))
        row(rows[3], SIMPLE, 1, 0, SMALL_N, MSG, 1, false, iters);
    return 0;
}
