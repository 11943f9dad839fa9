/*
 * bench/subprocesses.c - running programs: a run() of `true` and 100 MiB
 * through `cat` by communicate(), beside the raw-OS floor for the same
 * work. Python twin: bench/python/subprocesses.py (subprocess.run).
 *
 *   run_true                   one mproc_run of {"true", NULL}, stdio
 *                              inherited, then mproc_completed_free
 *     limit_posix_spawn_wait   posix_spawnp("true") + waitpid, nothing
 *                              else
 *   communicate_cat_100m_mb_per_s  MB (1e6 bytes) per second of 100 MiB
 *                              through `cat`: mproc_popen_new with stdin
 *                              and stdout pipes, mproc_popen_communicate
 *                              of the input, every byte read back, the
 *                              handle freed
 *     limit_pipe_cat_mb_per_s  the same with two raw pipe2() pipes, a
 *                              posix_spawnp of cat with its ends dup2'd
 *                              onto 0 and 1, and the harness's own poll
 *                              loop of non-blocking writes and reads,
 *                              into a fresh malloc of the known size
 *                              (faulted in, as mproc's buffer is),
 *                              then waitpid
 *
 * Named subprocesses, not subprocess: a bench/python/subprocess.py would
 * shadow Python's own subprocess module (which bench/run and the twins
 * import).
 *
 * The mproc and limit samples alternate; warm-up samples are discarded.
 * Output is checked outside the timed part.
 *
 * Usage: bench_subprocesses [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds (MB per second for
 * _per_s): <row> <mproc-value> [<limit-name> <limit-value>]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#define CAT_BYTES ((size_t)100 << 20) /* bytes through cat per sample */

extern char **environ;

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_subprocesses: %s: %s\n", what, mproc_strerror(rc));
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

static void
print_row(const char *name, double *mine, const char *limit_name, double *limit,
          int iters)
{
    printf("%s %.1f %s %.1f\n", name, bench_median(mine, (size_t)iters),
           limit_name, bench_median(limit, (size_t)iters));
    fflush(stdout);
}

/* Reap pid; exits the program unless it exited with status 0. */
static void
reap_ok(pid_t pid)
{
    int status = 0;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            die("waitpid", -errno);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_subprocesses: a child failed (status %#x)\n",
                status);
        exit(1);
    }
}

/* ---- run_true ------------------------------------------------------------ */

static char *true_argv[] = { "true", NULL };

static double
mproc_run_true(void)
{
    double t0 = bench_now_us(), us;
    mproc_completed c;
    int rc = mproc_run(true_argv, &(mproc_run_opts){ 0 }, &c, MPROC_FOREVER);
    int code = c.returncode;

    mproc_completed_free(&c);
    us = bench_now_us() - t0;
    if (rc < 0)
        die("run true", rc);
    if (code != 0)
        die("run true: return code", MPROC_EPROTOCOL);
    return us;
}

static double
raw_spawn_true(void)
{
    double t0 = bench_now_us();
    pid_t pid;
    int rc = posix_spawnp(&pid, "true", NULL, NULL, true_argv, environ);

    if (rc != 0)
        die("posix_spawnp true", -rc);
    reap_ok(pid);
    return bench_now_us() - t0;
}

static void
row_run_true(const char *name, int iters)
{
    double *mine = xcalloc((size_t)iters, sizeof(double));
    double *limit = xcalloc((size_t)iters, sizeof(double));

    for (int s = -20; s < iters; s++) {
        double a = mproc_run_true(), b = raw_spawn_true();

        if (s >= 0) {
            mine[s] = a;
            limit[s] = b;
        }
    }
    print_row(name, mine, "limit_posix_spawn_wait", limit, iters);
    free(mine);
    free(limit);
}

/* ---- communicate_cat_100m_mb_per_s --------------------------------------- */

static char *cat_argv[] = { "cat", NULL };

/* 100 MiB through cat with communicate; returns MB per second. */
static double
mproc_cat(const unsigned char *in)
{
    double t0 = bench_now_us(), us;
    mproc_popen *p;
    mproc_buf out = { 0 };
    int rc = mproc_popen_new(
        &p, cat_argv,
        &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE, .out = MPROC_STDIO_PIPE });

    if (rc < 0)
        die("popen cat", rc);
    rc = mproc_popen_communicate(p, in, CAT_BYTES, &out, NULL, MPROC_FOREVER);
    if (rc < 0)
        die("communicate", rc);
    if (mproc_popen_returncode(p) != 0)
        die("cat: return code", MPROC_EPROTOCOL);
    mproc_popen_free(p);
    us = bench_now_us() - t0;
    if (out.len != CAT_BYTES || memcmp(out.data, in, CAT_BYTES) != 0)
        die("cat: output", MPROC_EPROTOCOL);
    mproc_buf_free(&out);
    return (double)CAT_BYTES / (us / 1e6);
}

static void
nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        die("fcntl", -errno);
}

/* The floor: raw pipes, posix_spawnp, a poll loop; MB per second. */
static double
raw_cat(const unsigned char *in)
{
    double t0 = bench_now_us(), us;
    int to[2], from[2];
    posix_spawn_file_actions_t fa;
    pid_t pid;
    unsigned char *out;
    size_t sent = 0, got = 0;
    int rc;

    if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0)
        die("pipe2", -errno);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    rc = posix_spawnp(&pid, "cat", &fa, NULL, cat_argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        die("posix_spawnp cat", -rc);
    close(to[0]);
    close(from[1]);
    nonblocking(to[1]);
    nonblocking(from[0]);
    out = malloc(CAT_BYTES + 1); /* + 1: room to read the end of file */
    if (out == NULL)
        die("memory", MPROC_ENOMEM);
    for (;;) {
        struct pollfd pfd[2] = { { .fd = from[0], .events = POLLIN },
                                 { .fd = to[1], .events = POLLOUT } };
        ssize_t n;

        if (poll(pfd, to[1] >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll", -errno);
        }
        if (to[1] >= 0 && pfd[1].revents) {
            n = write(to[1], in + sent, CAT_BYTES - sent);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                die("write", -errno);
            if (n > 0)
                sent += (size_t)n;
            if (sent == CAT_BYTES) {
                close(to[1]);
                to[1] = -1;
            }
        }
        if (pfd[0].revents) {
            n = read(from[0], out + got, CAT_BYTES + 1 - got);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                die("read", -errno);
            if (n == 0)
                break;
            if (n > 0)
                got += (size_t)n;
        }
    }
    close(from[0]);
    reap_ok(pid);
    us = bench_now_us() - t0;
    if (got != CAT_BYTES || memcmp(out, in, CAT_BYTES) != 0)
        die("raw cat: output", MPROC_EPROTOCOL);
    free(out);
    return (double)CAT_BYTES / (us / 1e6);
}

static void
row_communicate_cat(const char *name, int iters)
{
    unsigned char *in = malloc(CAT_BYTES);
    double *mine = xcalloc((size_t)iters, sizeof(double));
    double *limit = xcalloc((size_t)iters, sizeof(double));

    if (in == NULL)
        die("memory", MPROC_ENOMEM);
    for (size_t i = 0; i < CAT_BYTES; i++)
        in[i] = (unsigned char)(i * 131 + (i >> 12));
    for (int s = -1; s < iters; s++) {
        double a = mproc_cat(in), b = raw_cat(in);

        if (s >= 0) {
            mine[s] = a / 1e6;
            limit[s] = b / 1e6;
        }
    }
    print_row(name, mine, "limit_pipe_cat_mb_per_s", limit, iters);
    free(in);
    free(mine);
    free(limit);
}

/* ---- main ---------------------------------------------------------------- */

static const char *const rows[] = {
    "run_true",
    "communicate_cat_100m_mb_per_s",
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
    fflush(stdout);
    if (bench_selected(&args, rows[0], row_name, N_ROWS))
        row_run_true(rows[0], iters_or(&args, 500));
    if (bench_selected(&args, rows[1], row_name, N_ROWS))
        row_communicate_cat(rows[1], iters_or(&args, 7));
    return 0;
}
