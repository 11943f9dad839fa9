/*
 * bench/pickling.c - the pickle codec (src/pickle.c): encoding and
 * decoding objects as Python's Connection.send / recv do. Python twin:
 * bench/python/pickling.py (pickle.dumps(obj, 4) + pickle.loads, CPython's
 * C pickler). Not named pickle.c: its twin would be a pickle.py beside the
 * other twins, and would shadow the standard module they import.
 *
 *   pickle_roundtrip_1000_dicts  mproc_obj_dumps (protocol 4) and
 *                                mproc_obj_loads of a list of 1,000 dicts
 *                                {'name': 'item<i>', 'id': i,
 *                                'score': i * 0.5}, freeing what they made
 *
 * The keys are three str objects shared by every dict, as Python's
 * interned literals are, so both sides write the same pickle (each key
 * once, then memo references). There is no raw-OS limit for this work.
 *
 * Usage: bench_pickling [--iters N] [row-prefix...]
 * Output, one line per row, the median in microseconds: <row> <value>
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mproc.h>

#include "harness/harness.h"

#define WARMUP 50
#define ITERS 2000
#define N_DICTS 1000
#define ROW "pickle_roundtrip_1000_dicts"

/* [{'name': 'item<i>', 'id': i, 'score': i * 0.5} for i in range(n)] */
static int
make_dicts(mproc_obj **out)
{
    mproc_obj *keys[3] = { NULL, NULL, NULL };
    int rc = mproc_obj_list(out);

    if (rc == 0)
        rc = mproc_obj_build(&keys[0], "s", "name");
    if (rc == 0)
        rc = mproc_obj_build(&keys[1], "s", "id");
    if (rc == 0)
        rc = mproc_obj_build(&keys[2], "s", "score");
    for (int i = 0; i < N_DICTS && rc == 0; i++) {
        char name[32];
        mproc_obj *d = NULL;

        snprintf(name, sizeof(name), "item%d", i);
        rc = mproc_obj_build(&d, "{O:s, O:i, O:d}", keys[0], name, keys[1], i,
                             keys[2], i * 0.5);
        if (rc == 0)
            rc = mproc_obj_list_append(*out, d);
        mproc_obj_free(d);
    }
    for (int i = 0; i < 3; i++)
        mproc_obj_free(keys[i]);
    return rc;
}

/* One sample: encode, decode, free both. */
static int
roundtrip(const mproc_obj *o, double *sample_us)
{
    double t0 = bench_now_us();
    mproc_buf pickle;
    mproc_obj *back = NULL;
    int rc = mproc_obj_dumps(o, &pickle, 4);

    if (rc == 0) {
        rc = mproc_obj_loads(&back, pickle.data, pickle.len, NULL);
        mproc_buf_free(&pickle);
        mproc_obj_free(back);
    }
    *sample_us = bench_now_us() - t0;
    return rc;
}

static const char *
row_name(size_t i)
{
    (void)i;
    return ROW;
}

int
main(int argc, char **argv)
{
    struct bench_args args;
    mproc_obj *dicts = NULL;
    double *samples, ignored;
    int iters;
    int rc;

    bench_parse_args(argc, argv, &args);
    if (!bench_selected(&args, ROW, row_name, 1))
        return 0;
    iters = args.iters > 0 ? args.iters : ITERS;
    rc = make_dicts(&dicts);
    samples = calloc((size_t)iters, sizeof(*samples));
    if (rc < 0 || samples == NULL) {
        fprintf(stderr, "bench_pickling: %s\n", mproc_strerror(rc));
        return 1;
    }
    for (int i = 0; i < WARMUP && rc == 0; i++)
        rc = roundtrip(dicts, &ignored);
    for (int i = 0; i < iters && rc == 0; i++)
        rc = roundtrip(dicts, &samples[i]);
    if (rc < 0) {
        fprintf(stderr, "bench_pickling: %s\n", mproc_strerror(rc));
        return 1;
    }
    printf("%s %.1f\n", ROW, bench_median(samples, (size_t)iters));
    fflush(stdout);
    free(samples);
    mproc_obj_free(dicts);
    return 0;
}
