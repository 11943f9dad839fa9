/*
 * bench/harness/harness.c - see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double
bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
bench_fork(void (*fn)(void *), void *arg)
{
    pid_t pid;

    fflush(stdout); /* the child must not inherit buffered lines */
    pid = fork();
    if (pid < 0) {
        perror("bench: fork");
        exit(1);
    }
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    return (int)pid;
}

void
bench_reap(int pid)
{
    int status = 0;

    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench: a child failed (status %#x)\n", status);
        exit(1);
    }
}

static int
compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double
bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--iters N] [row-prefix...]\n", prog);
    exit(2);
}

void
bench_parse_args(int argc, char **argv, struct bench_args *out)
{
    *out = (struct bench_args){ .prefixes = argv + 1 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0) {
            char *end;

            if (i + 1 >= argc)
                usage(argv[0]);
            out->iters = (int)strtol(argv[++i], &end, 10);
            if (*end != '\0' || out->iters <= 0)
                usage(argv[0]);
        } else if (argv[i][0] == '-') {
            usage(argv[0]);
        } else {
            out->prefixes[out->nprefix++] = argv[i];
        }
    }
}

bool
bench_selected(const struct bench_args *a, const char *name,
               const char *(*name_at)(size_t i), size_t n)
{
    if (a->nprefix == 0)
        return true;
    for (int i = 0; i < a->nprefix; i++) {
        const char *arg = a->prefixes[i];
        bool whole = false;

        for (size_t j = 0; j < n; j++)
            whole = whole || strcmp(name_at(j), arg) == 0;
        if (whole ? strcmp(name, arg) == 0
                  : strncmp(name, arg, strlen(arg)) == 0)
            return true;
    }
    return false;
}

/* ---- the futex ping-pong ------------------------------------------------- */

/* Each word: 0 clear, 1 set, 2 clear with a sleeper. */
struct bench_pingpong {
    _Atomic uint32_t word[2];
};

static void
pp_wait(_Atomic uint32_t *w)
{
    uint32_t v;

    while ((v = atomic_load(w)) != 1) {
        if (v == 0 && !atomic_compare_exchange_strong(w, &v, 2))
            continue;
        syscall(SYS_futex, w, FUTEX_WAIT, 2, NULL, NULL, 0);
    }
    atomic_store(w, 0);
}

static void
pp_set(_Atomic uint32_t *w)
{
    if (atomic_exchange(w, 1) == 2)
        syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

struct bench_pingpong *
bench_pingpong_new(void)
{
    struct bench_pingpong *pp = mmap(NULL, sizeof(*pp), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (pp == MAP_FAILED) {
        perror("bench: mmap");
        exit(1);
    }
    return pp;
}

struct echo {
    struct bench_pingpong *pp;
    long n;
};

static void
pp_echo(void *arg)
{
    struct echo *e = arg;

    for (long i = 0; i < e->n; i++) {
        pp_wait(&e->pp->word[0]);
        pp_set(&e->pp->word[1]);
    }
}

int
bench_pingpong_start(struct bench_pingpong *pp, long n)
{
    struct echo e = { pp, n };

    return bench_fork(pp_echo, &e);
}

double
bench_pingpong_rtt(struct bench_pingpong *pp)
{
    double t0 = bench_now_us();

    pp_set(&pp->word[0]);
    pp_wait(&pp->word[1]);
    return bench_now_us() - t0;
}

void
bench_rtt_beside_pingpong(double (*one)(void *ctx, long i), void *ctx,
                          long warmup, long n, double *mine, double *limit)
{
    enum {
        BLOCK = 100
    };
    struct bench_pingpong *pp = bench_pingpong_new();
    long total = warmup + n;
    int kid = bench_pingpong_start(pp, total);

    for (long done = 0; done < total; done += BLOCK) {
        long end = done + BLOCK < total ? done + BLOCK : total;

        for (long i = done; i < end; i++) {
            double us = one(ctx, i);

            if (i >= warmup)
                mine[i - warmup] = us;
        }
        for (long i = done; i < end; i++) {
            double us = bench_pingpong_rtt(pp);

            if (i >= warmup)
                limit[i - warmup] = us;
        }
    }
    bench_reap(kid);
    munmap(pp, sizeof(*pp));
}
