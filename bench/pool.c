/*
 * bench/pool.c - a Pool of worker processes: maps, one task at a time, an
 * unordered imap and a CPU-bound speedup, beside the raw-OS floor for the
 * same work. Python twin: bench/python/pool.py (multiprocessing.Pool).
 *
 *   pool_map_1m_int64_per_s    items per second of mproc_pool_map over
 *                              1,000,000 int64 (out = in * 2), default
 *                              chunking, one worker per usable CPU
 *   pool_apply_async_rtt       one apply_async + future_get at a time,
 *                              one worker: the round trip of a task of 8
 *                              bytes and its 8-byte result
 *     limit_futex_pingpong     the same round trip over two raw futex
 *                              words to a forked child (bench/sync.c's
 *                              protocol): a wait marks the word and
 *                              FUTEX_WAITs while it is not set; a set
 *                              exchanges it and FUTEX_WAKEs a marked word
 *   pool_imap_unordered_100k_per_s  items per second of imap_unordered
 *                              with chunksize 1 over 100,000 int64, every
 *                              result taken with mproc_imap_next
 *   pool_cpu_speedup           serial time / pool time of 64 equal items
 *                              of about 2 ms of integer arithmetic each,
 *                              mapped over one worker per usable CPU
 *                              (a ratio: higher is better)
 *     limit_fork_speedup       serial time / the time of the same items
 *                              split over as many raw fork() children,
 *                              from the first fork to the last waitpid
 *
 * Each row's pool is made once, outside the timed part. mproc and limit
 * samples alternate (in blocks for the round trip); warm-up samples are
 * discarded.
 *
 * Usage: bench_pool [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds (per second for
 * _per_s, a ratio for _speedup): <row> <mproc-value> [<limit-name>
 * <limit-value>]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#define MAP_N 1000000      /* items of a map sample */
#define IMAP_N 100000      /* items of an imap sample */
#define RTT_WARMUP 200     /* round trips before timing */
#define BURN_ITEMS 64      /* items of a speedup sample */
#define BURN_STEPS 1200000 /* steps of one item: about 2 ms */

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_pool: %s: %s\n", what, mproc_strerror(rc));
    exit(1);
}

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL)
        die("memory", MPROC_ENOMEM);
    return p;
}

static mproc_pool *
new_pool(int processes)
{
    mproc_pool *p;
    int rc = mproc_pool_new(&p, &(mproc_pool_opts){ .processes = processes });

    if (rc < 0)
        die("pool", rc);
    return p;
}

/* Print a row's medians with `decimals` places (a speedup near 1 needs
 * more than a time). */
static void
print_row(const char *name, double *mine, const char *limit_name, double *limit,
          int iters, int decimals)
{
    printf("%s %.*f", name, decimals, bench_median(mine, (size_t)iters));
    if (limit_name != NULL)
        printf(" %s %.*f", limit_name, decimals,
               bench_median(limit, (size_t)iters));
    printf("\n");
    fflush(stdout);
}

/* ---- pool_map_1m_int64_per_s and pool_imap_unordered_100k_per_s --------- */

static int
double_item(const void *in, void *out)
{
    *(int64_t *)out = *(const int64_t *)in * 2;
    return 0;
}

static int64_t *
iota(size_t n)
{
    int64_t *v = xcalloc(n, sizeof(*v));

    for (size_t i = 0; i < n; i++)
        v[i] = (int64_t)i;
    return v;
}

static void
row_map(const char *name, int iters)
{
    mproc_pool *p = new_pool(0);
    int64_t *in = iota(MAP_N), *out = xcalloc(MAP_N, sizeof(*out));
    double *mine = xcalloc((size_t)iters, sizeof(double));

    for (int s = -2; s < iters; s++) {
        double t0 = bench_now_us(), us;
        int rc = mproc_pool_map(p, double_item, in, MAP_N, sizeof(*in), out,
                                sizeof(*out), NULL, MPROC_FOREVER);

        us = bench_now_us() - t0;
        if (rc < 0)
            die("map", rc);
        if (out[MAP_N - 1] != 2 * (MAP_N - 1) || out[MAP_N / 2] != MAP_N)
            die("map results", MPROC_EPROTOCOL);
        memset(out, 0, MAP_N * sizeof(*out));
        if (s >= 0)
            mine[s] = MAP_N / (us / 1e6);
    }
    print_row(name, mine, NULL, NULL, iters, 1);
    mproc_pool_free(p);
    free(in);
    free(out);
    free(mine);
}

static void
row_imap_unordered(const char *name, int iters)
{
    mproc_pool *p = new_pool(0);
    int64_t *in = iota(IMAP_N);
    double *mine = xcalloc((size_t)iters, sizeof(double));

    for (int s = -1; s < iters; s++) {
        double t0 = bench_now_us(), us;
        int64_t sum = 0, v;
        mproc_imap *it;
        int rc = mproc_pool_imap_unordered(
            p, double_item, in, IMAP_N, sizeof(*in), sizeof(v),
            &(mproc_imap_opts){ .chunksize = 1 }, &it);

        if (rc < 0)
            die("imap_unordered", rc);
        while ((rc = mproc_imap_next(it, &v, NULL, MPROC_FOREVER)) == 0)
            sum += v;
        mproc_imap_free(it);
        us = bench_now_us() - t0;
        if (rc != MPROC_EEOF)
            die("imap_next", rc);
        if (sum != (int64_t)IMAP_N * (IMAP_N - 1))
            die("imap results", MPROC_EPROTOCOL);
        if (s >= 0)
            mine[s] = IMAP_N / (us / 1e6);
    }
    print_row(name, mine, NULL, NULL, iters, 1);
    mproc_pool_free(p);
    free(in);
    free(mine);
}

/* ---- pool_apply_async_rtt ------------------------------------------------ */

/* What the parent and its forked children share. */
struct shared {
    uint64_t burnt[BURN_ITEMS]; /* the raw fork children's results */
};

static struct shared *sh;

/* A task on bytes: the int64 argument doubled, as an int64 result. */
static int
double_task(const void *arg, size_t len, mproc_buf *out)
{
    int64_t v;

    if (len != sizeof(v))
        return mproc_task_fail(1, "argument of %zu bytes", len);
    memcpy(&v, arg, sizeof(v));
    v *= 2;
    out->data = malloc(sizeof(v));
    if (out->data == NULL)
        return mproc_task_fail(2, "no memory");
    memcpy(out->data, &v, sizeof(v));
    out->len = sizeof(v);
    return 0;
}

/* One round trip through the pool: submit, wait for the result, free
 * both (as Python drops its AsyncResult within the timed statement). */
static double
apply_async_rtt(mproc_pool *p, int64_t x)
{
    double t0 = bench_now_us(), us;
    mproc_future *f;
    mproc_buf out = { 0 };
    int64_t v = 0;
    int rc = mproc_pool_apply_async(p, double_task, &x, sizeof(x), NULL, &f);

    if (rc < 0)
        die("apply_async", rc);
    rc = mproc_future_get(f, &out, MPROC_FOREVER);
    if (rc == 0 && out.len == sizeof(v))
        memcpy(&v, out.data, sizeof(v));
    mproc_buf_free(&out);
    mproc_future_free(f);
    us = bench_now_us() - t0;
    if (rc < 0)
        die("future_get", rc);
    if (v != 2 * x)
        die("future result", MPROC_EPROTOCOL);
    return us;
}

static double
one_apply(void *p, long i)
{
    return apply_async_rtt(p, i);
}

/* Round trips through the pool beside the raw futexes' (the harness
 * alternates them in blocks). */
static void
row_apply_async(const char *name, int iters)
{
    mproc_pool *p = new_pool(1);
    double *mine = xcalloc((size_t)iters, sizeof(double));
    double *limit = xcalloc((size_t)iters, sizeof(double));

    bench_rtt_beside_pingpong(one_apply, p, RTT_WARMUP, iters, mine, limit);
    print_row(name, mine, "limit_futex_pingpong", limit, iters, 1);
    mproc_pool_free(p);
    free(mine);
    free(limit);
}

/* ---- pool_cpu_speedup ---------------------------------------------------- */

/* About 2 ms of integer arithmetic: a chain of dependent multiply-adds
 * and shifts (a PCG-style step) that no compiler can shorten. */
static uint64_t
burn(uint64_t x)
{
    for (long i = 0; i < BURN_STEPS; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        x ^= x >> 29;
    }
    return x;
}

static int
burn_item(const void *in, void *out)
{
    *(uint64_t *)out = burn(*(const uint64_t *)in);
    return 0;
}

/* What one raw fork child computes: items [first, first + count). */
struct burn_share {
    const uint64_t *in;
    int first, count;
};

static void
burn_child(void *arg)
{
    const struct burn_share *b = arg;

    for (int i = b->first; i < b->first + b->count; i++)
        sh->burnt[i] = burn(b->in[i]);
}

/* The items split over `workers` raw fork children; returns the time from
 * the first fork to the last waitpid. */
static double
fork_burn(const uint64_t *in, int workers)
{
    double t0 = bench_now_us();
    int *kids = xcalloc((size_t)workers, sizeof(*kids));
    struct burn_share *shares = xcalloc((size_t)workers, sizeof(*shares));
    double us;

    for (int k = 0; k < workers; k++) {
        int first = BURN_ITEMS * k / workers;

        shares[k] =
            (struct burn_share){ in, first,
                                 BURN_ITEMS * (k + 1) / workers - first };
        kids[k] = bench_fork(burn_child, &shares[k]);
    }
    for (int k = 0; k < workers; k++)
        bench_reap(kids[k]);
    us = bench_now_us() - t0;
    free(kids);
    free(shares);
    return us;
}

static void
check_burnt(const uint64_t *want, const uint64_t *got)
{
    if (memcmp(want, got, BURN_ITEMS * sizeof(*got)) != 0)
        die("speedup results", MPROC_EPROTOCOL);
}

/* Per sample: the items in this process, through the pool, through raw
 * fork children; each speedup is the serial time over the other. */
static void
row_cpu_speedup(const char *name, int iters)
{
    int workers = mproc_cpu_count();
    mproc_pool *p = new_pool(workers);
    uint64_t in[BURN_ITEMS], serial_out[BURN_ITEMS], pool_out[BURN_ITEMS];
    double *mine = xcalloc((size_t)iters, sizeof(double));
    double *limit = xcalloc((size_t)iters, sizeof(double));

    for (int i = 0; i < BURN_ITEMS; i++)
        in[i] = (uint64_t)i + 1;
    for (int s = -1; s < iters; s++) {
        double t0 = bench_now_us(), serial, pooled, forked;
        int rc;

        for (int i = 0; i < BURN_ITEMS; i++)
            serial_out[i] = burn(in[i]);
        serial = bench_now_us() - t0;
        t0 = bench_now_us();
        rc = mproc_pool_map(p, burn_item, in, BURN_ITEMS, sizeof(*in), pool_out,
                            sizeof(*pool_out), NULL, MPROC_FOREVER);
        pooled = bench_now_us() - t0;
        if (rc < 0)
            die("map", rc);
        check_burnt(serial_out, pool_out);
        forked = fork_burn(in, workers);
        check_burnt(serial_out, sh->burnt);
        if (s >= 0) {
            mine[s] = serial / pooled;
            limit[s] = serial / forked;
        }
    }
    print_row(name, mine, "limit_fork_speedup", limit, iters, 3);
    mproc_pool_free(p);
    free(mine);
    free(limit);
}

/* ---- main ---------------------------------------------------------------- */

static const char *const rows[] = {
    "pool_map_1m_int64_per_s",
    "pool_apply_async_rtt",
    "pool_imap_unordered_100k_per_s",
    "pool_cpu_speedup",
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

    bench_parse_args(argc, argv, &args);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap", -errno);
    if (bench_selected(&args, rows[0], row_name, N_ROWS))
        row_map(rows[0], iters_or(&args, 20));
    if (bench_selected(&args, rows[1], row_name, N_ROWS))
        row_apply_async(rows[1], iters_or(&args, 5000));
    if (bench_selected(&args, rows[2], row_name, N_ROWS))
        row_imap_unordered(rows[2], iters_or(&args, 10));
    if (bench_selected(&args, rows[3], row_name, N_ROWS))
        row_cpu_speedup(rows[3], iters_or(&args, 7));
    return 0;
}
