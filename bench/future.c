/*
 * bench/future.c - an Executor of worker processes: one submit at a time
 * and a chunked map, beside the raw-OS floor of the round trip. Python
 * twin: bench/python/future.py (concurrent.futures.ProcessPoolExecutor).
 *
 *   executor_submit_rtt        one mproc_executor_submit + future_get +
 *                              future_free at a time, one worker: the
 *                              round trip of a task of 8 bytes and its
 *                              8-byte result
 *     limit_futex_pingpong     the same round trip over two raw futex
 *                              words to a forked child (bench/sync.c's
 *                              protocol): a wait marks the word and
 *                              FUTEX_WAITs while it is not set; a set
 *                              exchanges it and FUTEX_WAKEs a marked word
 *   executor_map_100k_per_s    items per second of mproc_executor_map
 *                              with chunksize 1000 over 100,000 int64
 *                              (out = in * 2), one worker per usable CPU,
 *                              every result taken with mproc_imap_next
 *                              and checked, from the call to the
 *                              iterator freed
 *
 * Each row's executor is made once, outside the timed part. mproc and
 * limit round trips alternate in blocks; warm-up samples are discarded.
 *
 * Usage: bench_future [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds (per second for
 * _per_s): <row> <mproc-value> [<limit-name> <limit-value>]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

#include "harness/harness.h"

#define MAP_N 100000   /* items of a map sample */
#define MAP_CHUNK 1000 /* items of a map task */
#define RTT_WARMUP 200 /* round trips before timing */

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_future: %s: %s\n", what, mproc_strerror(rc));
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

static mproc_executor *
new_executor(int max_workers)
{
    mproc_executor *e;
    int rc = mproc_executor_new(
        &e, &(mproc_executor_opts){ .max_workers = max_workers });

    if (rc < 0)
        die("executor", rc);
    return e;
}

static void
print_row(const char *name, double *mine, const char *limit_name, double *limit,
          int iters)
{
    printf("%s %.1f", name, bench_median(mine, (size_t)iters));
    if (limit_name != NULL)
        printf(" %s %.1f", limit_name, bench_median(limit, (size_t)iters));
    printf("\n");
    fflush(stdout);
}

/* ---- executor_submit_rtt ------------------------------------------------- */

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

/* One round trip through the executor: submit, wait for the result, free
 * both (as Python drops its Future within the timed statement). */
static double
submit_rtt(mproc_executor *e, int64_t x)
{
    double t0 = bench_now_us(), us;
    mproc_future *f;
    mproc_buf out = { 0 };
    int64_t v = 0;
    int rc = mproc_executor_submit(e, double_task, &x, sizeof(x), &f);

    if (rc < 0)
        die("submit", rc);
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
one_submit(void *e, long i)
{
    return submit_rtt(e, i);
}

/* Round trips through the executor beside the raw futexes' (the harness
 * alternates them in blocks). */
static void
row_submit(const char *name, int iters)
{
    mproc_executor *e = new_executor(1);
    double *mine = xcalloc((size_t)iters, sizeof(double));
    double *limit = xcalloc((size_t)iters, sizeof(double));

    bench_rtt_beside_pingpong(one_submit, e, RTT_WARMUP, iters, mine, limit);
    print_row(name, mine, "limit_futex_pingpong", limit, iters);
    mproc_executor_free(e);
    free(mine);
    free(limit);
}

/* ---- executor_map_100k_per_s --------------------------------------------- */

static int
double_item(const void *in, void *out)
{
    *(int64_t *)out = *(const int64_t *)in * 2;
    return 0;
}

static void
row_map(const char *name, int iters)
{
    mproc_executor *e = new_executor(mproc_cpu_count());
    int64_t *in = xcalloc(MAP_N, sizeof(*in));
    double *mine = xcalloc((size_t)iters, sizeof(double));

    for (size_t i = 0; i < MAP_N; i++)
        in[i] = (int64_t)i;
    for (int s = -2; s < iters; s++) {
        double t0 = bench_now_us(), us;
        int64_t v;
        size_t got = 0, index;
        mproc_imap *it;
        int rc = mproc_executor_map(e, double_item, in, MAP_N, sizeof(*in),
                                    sizeof(v), MAP_CHUNK, MPROC_FOREVER, &it);

        if (rc < 0)
            die("map", rc);
        while ((rc = mproc_imap_next(it, &v, &index, MPROC_FOREVER)) == 0) {
            if (index != got || v != 2 * (int64_t)got)
                die("map results", MPROC_EPROTOCOL);
            got++;
        }
        mproc_imap_free(it);
        us = bench_now_us() - t0;
        if (rc != MPROC_EEOF)
            die("imap_next", rc);
        if (got != MAP_N)
            die("map result count", MPROC_EPROTOCOL);
        if (s >= 0)
            mine[s] = MAP_N / (us / 1e6);
    }
    print_row(name, mine, NULL, NULL, iters);
    mproc_executor_free(e);
    free(in);
    free(mine);
}

/* ---- main ---------------------------------------------------------------- */

static const char *const rows[] = {
    "executor_submit_rtt",
    "executor_map_100k_per_s",
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
    if (bench_selected(&args, rows[0], row_name, N_ROWS))
        row_submit(rows[0], iters_or(&args, 5000));
    if (bench_selected(&args, rows[1], row_name, N_ROWS))
        row_map(rows[1], iters_or(&args, 50));
    return 0;
}
