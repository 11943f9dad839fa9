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
#include <sys/socket.h>
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

/* warmup + n calls of one(ctx, i) in blocks of BLOCK, each block followed
 * by as many raw(raw_ctx) round trips. */
static void
rtt_beside(double (*one)(void *ctx, long i), void *ctx,
           double (*raw)(void *raw_ctx), void *raw_ctx, long warmup, long n,
           double *mine, double *limit)
{
    enum {
        BLOCK = 100
    };
    long total = warmup + n;

    for (long done = 0; done < total; done += BLOCK) {
        long end = done + BLOCK < total ? done + BLOCK : total;

        for (long i = done; i < end; i++) {
            double us = one(ctx, i);

            if (i >= warmup)
                mine[i - warmup] = us;
        }
        for (long i = done; i < end; i++) {
            double us = raw(raw_ctx);

            if (i >= warmup)
                limit[i - warmup] = us;
        }
    }
}

static double
pingpong_rtt(void *pp)
{
    return bench_pingpong_rtt(pp);
}

void
bench_rtt_beside_pingpong(double (*one)(void *ctx, long i), void *ctx,
                          long warmup, long n, double *mine, double *limit)
{
    struct bench_pingpong *pp = bench_pingpong_new();
    int kid = bench_pingpong_start(pp, warmup + n);

    rtt_beside(one, ctx, pingpong_rtt, pp, warmup, n, mine, limit);
    bench_reap(kid);
    munmap(pp, sizeof(*pp));
}

/* ---- the socketpair echo ------------------------------------------------- */

int
bench_send_all(int fd, const void *p, size_t n)
{
    const char *at = p;

    while (n > 0) {
        ssize_t w = send(fd, at, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        at += w;
        n -= (size_t)w;
    }
    return 0;
}

int
bench_recv_all(int fd, void *p, size_t n)
{
    char *at = p;

    while (n > 0) {
        ssize_t r = recv(fd, at, n, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EPIPE;
        at += r;
        n -= (size_t)r;
    }
    return 0;
}

enum {
    ECHO_MAX = 4096
};

struct bench_sock_echo {
    int fd;   /* this process's end */
    int peer; /* the other end, while forking */
    int pid;
    size_t size;
    char buf[ECHO_MAX];
};

static void
sock_echo(void *arg)
{
    struct bench_sock_echo *e = arg; /* the child's copy */

    close(e->fd); /* so that the parent's close is our end of file */
    while (bench_recv_all(e->peer, e->buf, e->size) == 0 &&
           bench_send_all(e->peer, e->buf, e->size) == 0)
        ;
}

struct bench_sock_echo *
bench_sock_echo_start(size_t size)
{
    struct bench_sock_echo *e = calloc(1, sizeof(*e));
    int sv[2];

    if (e == NULL || size == 0 || size > ECHO_MAX ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("bench: socketpair echo");
        exit(1);
    }
    e->size = size;
    e->fd = sv[0];
    e->peer = sv[1];
    e->pid = bench_fork(sock_echo, e);
    close(e->peer);
    memset(e->buf, 'm', size);
    return e;
}

double
bench_sock_echo_rtt(struct bench_sock_echo *e)
{
    double t0 = bench_now_us();

    if (bench_send_all(e->fd, e->buf, e->size) != 0 ||
        bench_recv_all(e->fd, e->buf, e->size) != 0) {
        fprintf(stderr, "bench: the socketpair echo failed\n");
        exit(1);
    }
    return bench_now_us() - t0;
}

void
bench_sock_echo_stop(struct bench_sock_echo *e)
{
    close(e->fd);
    bench_reap(e->pid);
    free(e);
}

static double
sock_echo_rtt(void *e)
{
    return bench_sock_echo_rtt(e);
}

void
bench_rtt_beside_socketpair(double (*one)(void *ctx, long i), void *ctx,
                            size_t size, long warmup, long n, double *mine,
                            double *limit)
{
    struct bench_sock_echo *e = bench_sock_echo_start(size);

    rtt_beside(one, ctx, sock_echo_rtt, e, warmup, n, mine, limit);
    bench_sock_echo_stop(e);
}
