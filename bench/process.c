/*
 * bench/process.c - process start+join latency under each start method,
 * beside the raw-OS floor for the same work. Python twin:
 * bench/python/process.py (multiprocessing.Process start() + join()).
 *
 * One mproc sample is mproc_process_new + start + join(MPROC_FOREVER) +
 * free of a target that returns 0 at once. The limits do the same work
 * with bare system calls:
 *   fork        fork() + _exit(0) + waitpid()
 *   spawn       posix_spawn() of this same program, which exits at once
 *               from main (exec and dynamic loading of the same binary) +
 *               waitpid()
 *   forkserver  a bare server process (forked once) that, per one-byte
 *               request on a socketpair, forks a child that _exit(0)s,
 *               reaps it and writes back its status
 * mproc and limit samples alternate, so both see the same machine state;
 * warm-up iterations are discarded.
 *
 * Usage: bench_process [--iters N] [row-prefix...]
 *        bench_process --exit-at-once     (the spawn limit's child)
 * Output, one line per row, medians in microseconds:
 *   <row> <mproc-us> [<limit-name> <limit-us>]
 */
#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

extern char **environ;

#define WARMUP 5

/* One measured operation: 0 on success, a negative code on failure. */
typedef int (*bench_op)(enum mproc_start_method method);

struct row {
    const char *name;
    enum mproc_start_method method;
    int iters;
    const char *limit_name;
    bench_op limit;
};

static int
target(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}

static int
mproc_start_join(enum mproc_start_method method)
{
    mproc_process *p;
    int rc;

    rc = mproc_process_new(&p, target, NULL, 0,
                           &(mproc_process_opts){ .start_method = method });
    if (rc != 0)
        return rc;
    rc = mproc_process_start(p);
    if (rc == 0)
        rc = mproc_process_join(p, MPROC_FOREVER);
    if (rc == 0 && mproc_process_exitcode(p) != 0)
        rc = MPROC_ECHECK;
    mproc_process_free(p);
    return rc;
}

static int
reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : MPROC_ECHECK;
}

static int
limit_fork_waitpid(enum mproc_start_method method)
{
    pid_t pid;

    (void)method;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        _exit(0);
    return reap(pid);
}

static int
limit_spawn_self(enum mproc_start_method method)
{
    char *argv[] = { "bench_process", "--exit-at-once", NULL };
    pid_t pid;
    int err;

    (void)method;
    err = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    if (err != 0)
        return -err;
    return reap(pid);
}

/* The bare fork server: one byte in, fork + reap, the status back. */
static _Noreturn void
fork_server(int sock)
{
    char c;

    while (read(sock, &c, 1) == 1) {
        pid_t pid = fork();
        int status = -1;

        if (pid == 0)
            _exit(0);
        if (pid > 0)
            (void)waitpid(pid, &status, 0);
        if (write(sock, &status, sizeof(status)) != sizeof(status))
            break;
    }
    _exit(0);
}

static int
limit_fork_server(enum mproc_start_method method)
{
    static int sock = -1;
    int status;

    (void)method;
    if (sock < 0) {
        int sv[2];
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return -errno;
        pid = fork();
        if (pid < 0)
            return -errno;
        if (pid == 0) {
            close(sv[0]);
            fork_server(sv[1]); /* ends when the bench closes sv[0] */
        }
        close(sv[1]);
        sock = sv[0];
    }
    if (write(sock, "x", 1) != 1 ||
        read(sock, &status, sizeof(status)) != sizeof(status))
        return MPROC_EPROTOCOL;
    return status == 0 ? 0 : MPROC_ECHECK;
}

static const struct row rows[] = {
    { "process_start_join_fork", MPROC_START_FORK, 1000, "limit_fork_waitpid",
      limit_fork_waitpid },
    { "process_start_join_spawn", MPROC_START_SPAWN, 300, "limit_spawn_self",
      limit_spawn_self },
    { "process_start_join_forkserver", MPROC_START_FORKSERVER, 1000,
      "limit_fork_server", limit_fork_server },
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* Time one call of op into *sample_us. */
static int
sample(bench_op op, enum mproc_start_method method, double *sample_us)
{
    double t0 = bench_now_us();
    int rc = op(method);

    *sample_us = bench_now_us() - t0;
    return rc;
}

/* Measure one row and print it; 0, or the failing call's code. */
static int
run_row(const struct row *r, int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *raw = calloc((size_t)iters, sizeof(double));
    double ignored;
    int rc = MPROC_ENOMEM;

    if (mine == NULL || raw == NULL)
        goto done;
    if (r->method == MPROC_START_FORKSERVER) {
        rc = mproc_forkserver_start();
        if (rc != 0)
            goto done;
    }
    for (int i = 0; i < WARMUP + iters; i++) {
        bool keep = i >= WARMUP;

        rc = sample(mproc_start_join, r->method,
                    keep ? &mine[i - WARMUP] : &ignored);
        if (rc != 0)
            goto done;
        rc = sample(r->limit, r->method, keep ? &raw[i - WARMUP] : &ignored);
        if (rc != 0)
            goto done;
    }
    printf("%s %.1f %s %.1f\n", r->name, bench_median(mine, (size_t)iters),
           r->limit_name, bench_median(raw, (size_t)iters));
    /* Flush before the next row forks, so no child inherits the line. */
    fflush(stdout);
done:
    if (rc != 0)
        fprintf(stderr, "bench_process: %s: %s\n", r->name, mproc_strerror(rc));
    free(mine);
    free(raw);
    return rc;
}

static const char *
row_name(size_t i)
{
    return rows[i].name;
}

int
main(int argc, char **argv)
{
    struct bench_args args;

    if (argc == 2 && strcmp(argv[1], "--exit-at-once") == 0)
        return 0;
    bench_parse_args(argc, argv, &args);
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!bench_selected(&args, rows[i].name, row_name, N_ROWS))
            continue;
        if (run_row(&rows[i], args.iters > 0 ? args.iters : rows[i].iters) != 0)
            return 1;
    }
    return 0;
}
