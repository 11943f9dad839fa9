/*
 * bench/filelocks.c - file locks: an uncontended take and give back,
 * beside the raw-OS floor for the same work. Python twin:
 * bench/python/filelocks.py (fcntl.lockf, and the filelock package).
 *
 *   filelock_acquire_release   one mproc_filelock_acquire(0) +
 *                              mproc_filelock_release on a handle made
 *                              once (an exclusive open-file-description
 *                              lock on a file in a temporary directory),
 *                              in microseconds a pair, PAIRS pairs to a
 *                              sample
 *     limit_ofd_setlk_pair     fcntl(F_OFD_SETLK) of F_WRLCK and of
 *                              F_UNLCK on a descriptor of the same file
 *   filelock_package_acquire_release  the same mproc pairs, beside the
 *                              Python twin's filelock.FileLock (the
 *                              package) acquire(timeout=0) + release()
 *
 * Named filelocks, not filelock: a bench/python/filelock.py would shadow
 * the filelock package its twin measures.
 *
 * The mproc and limit samples alternate; warm-up samples are discarded.
 *
 * Usage: bench_filelocks [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds:
 * <row> <mproc-value> [<limit-name> <limit-value>]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#define WARMUP 3
#define PAIRS 10000 /* acquire + release pairs in one sample */

static char dir[] = "/tmp/mproc-bench-filelocks-XXXXXX";
static char path[128];

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_filelocks: %s: %s\n", what, mproc_strerror(rc));
    exit(1);
}

/* Microseconds a pair of mproc acquire(0) + release. */
static double
mproc_pairs(mproc_filelock *l)
{
    double t0 = bench_now_us();

    for (int i = 0; i < PAIRS; i++) {
        int rc = mproc_filelock_acquire(l, 0);

        if (rc == 0)
            rc = mproc_filelock_release(l);
        if (rc != 0)
            die("acquire/release", rc);
    }
    return (bench_now_us() - t0) / PAIRS;
}

static int
ofd(int fd, short type)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

    return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Microseconds a pair of raw F_OFD_SETLK lock + unlock. */
static double
limit_pairs(int fd)
{
    double t0 = bench_now_us();

    for (int i = 0; i < PAIRS; i++)
        if (ofd(fd, F_WRLCK) != 0 || ofd(fd, F_UNLCK) != 0)
            die("F_OFD_SETLK", -errno);
    return (bench_now_us() - t0) / PAIRS;
}

static void
row_pairs(const char *name, const char *limit_name, int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));
    mproc_filelock *l;
    int rc = mproc_filelock_new(&l, path, NULL);
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (rc < 0 || mine == NULL || limit == NULL || fd < 0)
        die("setup", rc < 0 ? rc : fd < 0 ? -errno : MPROC_ENOMEM);
    for (int i = -WARMUP; i < iters; i++) {
        double m = mproc_pairs(l), r = limit_pairs(fd);

        if (i >= 0) {
            mine[i] = m;
            limit[i] = r;
        }
    }
    printf("%s %.3f", name, bench_median(mine, (size_t)iters));
    if (limit_name != NULL)
        printf(" %s %.3f", limit_name, bench_median(limit, (size_t)iters));
    printf("\n");
    fflush(stdout);
    close(fd);
    mproc_filelock_free(l);
    free(mine);
    free(limit);
}

/* ---- main ---------------------------------------------------------------- */

static const char *const rows[] = {
    "filelock_acquire_release",
    "filelock_package_acquire_release",
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
    iters = args.iters > 0 ? args.iters : 50;
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", -errno);
    snprintf(path, sizeof(path), "%s/bench.lock", dir);
    fflush(stdout);
    if (bench_selected(&args, rows[0], row_name, N_ROWS))
        row_pairs(rows[0], "limit_ofd_setlk_pair", iters);
    if (bench_selected(&args, rows[1], row_name, N_ROWS))
        row_pairs(rows[1], NULL, iters);
    unlink(path);
    rmdir(dir);
    return 0;
}
