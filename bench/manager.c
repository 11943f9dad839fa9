/*
 * bench/manager.c - managers: proxy calls to the server process of
 * mproc_manager_new(), beside the raw-OS floor of the round trip each one
 * is. Python twin: bench/python/manager.py (multiprocessing.Manager(),
 * its dict() and Queue() proxies).
 *
 *   manager_dict_set_rtt       d["k"] = i (mproc_proxy_setitem, i a new int
 *                              object each call) through a dict proxy the
 *                              program's forked child inherited
 *     limit_socketpair_pingpong_64   one round trip of 64 bytes between
 *                              that child and a forked echo process over a
 *                              raw socketpair: a send and a recv in each
 *   manager_dict_get_rtt       d["k"] (mproc_proxy_getitem), the same way
 *     limit_socketpair_pingpong_64
 *     (a dict's calls are made in the caller's process, on the dict's
 *     memory the server shares with clients on its host: no round trip)
 *   manager_call_rtt           len(l) of a managed list (mproc_proxy_len):
 *                              one request to the server and its answer,
 *                              the same way
 *     limit_socketpair_pingpong_64
 *   manager_dict_8clients_ops_per_s  calls per second of 8 forked clients
 *                              on one dict, each alternating d[key] = i and
 *                              d[key] on a key of its own; from the go to
 *                              the last client's "done" (each has made a
 *                              call, so is connected, before the go)
 *   manager_queue_put_get_per_s  q.put(i) then q.get() pairs per second
 *                              on a managed Queue, in the program that
 *                              started the manager
 *     limit_socketpair_2pingpong_64_per_s   pairs of 64-byte socketpair
 *                              round trips per second, the same way
 *
 * One manager serves every row. Round trips alternate with the limit's in
 * blocks of 100 (bench_rtt_beside_socketpair), rate samples with the
 * limit's one by one; warm-up samples are discarded.
 *
 * Usage: bench_manager [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds (per second for
 * _per_s): <row> <mproc-value> [<limit-name> <limit-value>]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#define RTT_WARMUP 100 /* round trips; the first one connects */
#define SMALL 64       /* bytes of the limit's messages */
#define CLIENTS 8
#define CLIENT_OPS 1000 /* calls of each client in one sample */
#define PAIRS 1000      /* queue put + get pairs in one sample */
#define WARMUP 1        /* rate samples */

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_manager: %s: %s\n", what, mproc_strerror(rc));
    exit(1);
}

static void *
shared_doubles(size_t n)
{
    void *p = mmap(NULL, n * sizeof(double), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        die("mmap", -errno);
    return p;
}

/* d[key] = i: one proxy call. */
static void
dict_set(mproc_proxy *d, const mproc_obj *key, long i)
{
    mproc_obj *v;
    int rc = mproc_obj_int(&v, i);

    if (rc == 0)
        rc = mproc_proxy_setitem(d, key, v);
    if (rc < 0)
        die("d[k] = i", rc);
    mproc_obj_free(v);
}

/* d[key]: one proxy call. */
static void
dict_get(mproc_proxy *d, const mproc_obj *key)
{
    mproc_obj *v;
    int rc = mproc_proxy_getitem(d, key, &v);

    if (rc < 0)
        die("d[k]", rc);
    mproc_obj_free(v);
}

static mproc_obj *
str_obj(const char *s)
{
    mproc_obj *o;
    int rc = mproc_obj_str(&o, s, strlen(s));

    if (rc < 0)
        die("str", rc);
    return o;
}

/* ---- manager_dict_{set,get}_rtt ------------------------------------------ */

enum call {
    CALL_SET,
    CALL_GET,
    CALL_LEN
};

struct rtt {
    mproc_proxy *d, *l;
    mproc_obj *key;
    enum call call;
    long n;
    double *mine, *limit; /* shared with the parent */
};

static double
one_call(void *arg, long i)
{
    struct rtt *r = arg;
    double t0 = bench_now_us();

    size_t len;
    int rc;

    switch (r->call) {
    case CALL_SET:
        dict_set(r->d, r->key, i);
        break;
    case CALL_GET:
        dict_get(r->d, r->key);
        break;
    case CALL_LEN:
        rc = mproc_proxy_len(r->l, &len);
        if (rc < 0)
            die("len(l)", rc);
        break;
    }
    return bench_now_us() - t0;
}

/* The measuring child: its first call connects it to the server. */
static void
rtt_client(void *arg)
{
    struct rtt *r = arg;

    bench_rtt_beside_socketpair(one_call, r, SMALL, RTT_WARMUP, r->n, r->mine,
                                r->limit);
}

static void
row_rtt(const char *name, mproc_manager *m, enum call call, int iters)
{
    struct rtt r = { .call = call, .n = iters, .key = str_obj("k") };
    int rc = mproc_manager_dict(m, NULL, &r.d);

    if (rc == 0)
        rc = mproc_manager_list(m, NULL, &r.l);
    if (rc < 0)
        die("dict, list", rc);
    dict_set(r.d, r.key, 0); /* what get finds */
    r.mine = shared_doubles((size_t)iters);
    r.limit = shared_doubles((size_t)iters);
    bench_reap(bench_fork(rtt_client, &r));
    printf("%s %.1f limit_socketpair_pingpong_64 %.1f\n", name,
           bench_median(r.mine, (size_t)iters),
           bench_median(r.limit, (size_t)iters));
    fflush(stdout);
    munmap(r.mine, (size_t)iters * sizeof(double));
    munmap(r.limit, (size_t)iters * sizeof(double));
    mproc_obj_free(r.key);
    mproc_proxy_free(r.d);
    mproc_proxy_free(r.l);
}

/* ---- manager_dict_8clients_ops_per_s ------------------------------------- */

struct clients {
    mproc_proxy *d;
    int go[2];     /* a byte per client starts it */
    int report[2]; /* each client writes a byte when ready, one when done */
    bool raw;      /* the limit: round trips to an echo process instead */
    int index;     /* the client's, in its copy */
};

/* Read n bytes (at most CLIENTS) from a pipe. */
static void
read_bytes(int fd, size_t n)
{
    char buf[CLIENTS];

    while (n > 0) {
        ssize_t r = read(fd, buf, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("read", r < 0 ? -errno : -EPIPE);
        n -= (size_t)r;
    }
}

static void
client(void *arg)
{
    struct clients *c = arg;
    struct bench_sock_echo *e = NULL;
    char name[8], byte = 'r';
    mproc_obj *key;

    snprintf(name, sizeof(name), "k%d", c->index);
    key = str_obj(name);
    if (c->raw)
        e = bench_sock_echo_start(SMALL);
    else
        dict_set(c->d, key, 0); /* connects */
    if (write(c->report[1], &byte, 1) != 1 || read(c->go[0], &byte, 1) != 1)
        _exit(2);
    for (long i = 0; i < CLIENT_OPS / 2; i++) {
        if (c->raw) {
            bench_sock_echo_rtt(e);
            bench_sock_echo_rtt(e);
        } else {
            dict_set(c->d, key, i);
            dict_get(c->d, key);
        }
    }
    if (write(c->report[1], "d", 1) != 1)
        _exit(2);
    if (e != NULL)
        bench_sock_echo_stop(e);
    mproc_obj_free(key);
}

/* Calls (or round trips) per second of one sample. */
static double
clients_sample(struct clients *c, bool raw)
{
    int kids[CLIENTS];
    double t0, us;

    c->raw = raw;
    for (c->index = 0; c->index < CLIENTS; c->index++)
        kids[c->index] = bench_fork(client, c);
    read_bytes(c->report[0], CLIENTS);
    t0 = bench_now_us();
    if (write(c->go[1], "gggggggg", CLIENTS) != CLIENTS)
        die("write", -errno);
    read_bytes(c->report[0], CLIENTS);
    us = bench_now_us() - t0;
    for (int k = 0; k < CLIENTS; k++)
        bench_reap(kids[k]);
    return (double)CLIENTS * CLIENT_OPS / (us / 1e6);
}

static void
row_clients(mproc_manager *m, int iters)
{
    struct clients c;
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));
    int rc = mproc_manager_dict(m, NULL, &c.d);

    if (rc < 0 || mine == NULL || limit == NULL)
        die("dict", rc < 0 ? rc : MPROC_ENOMEM);
    if (pipe2(c.go, O_CLOEXEC) < 0 || pipe2(c.report, O_CLOEXEC) < 0)
        die("pipe", -errno);
    for (int i = 0; i < WARMUP; i++) {
        clients_sample(&c, false);
        clients_sample(&c, true);
    }
    for (int i = 0; i < iters; i++) {
        mine[i] = clients_sample(&c, false);
        limit[i] = clients_sample(&c, true);
    }
    printf("manager_dict_8clients_ops_per_s %.1f "
           "limit_socketpair_8clients_per_s %.1f\n",
           bench_median(mine, (size_t)iters),
           bench_median(limit, (size_t)iters));
    fflush(stdout);
    for (int k = 0; k < 2; k++) {
        close(c.go[k]);
        close(c.report[k]);
    }
    mproc_proxy_free(c.d);
    free(mine);
    free(limit);
}

/* ---- manager_queue_put_get_per_s ----------------------------------------- */

/* Pairs per second of PAIRS put + get. */
static double
queue_pairs(mproc_proxy *q)
{
    double t0 = bench_now_us();

    for (long i = 0; i < PAIRS; i++) {
        mproc_obj *item;
        int rc = mproc_obj_int(&item, i);

        if (rc == 0)
            rc = mproc_proxy_put(q, item, -1);
        mproc_obj_free(item);
        if (rc == 0)
            rc = mproc_proxy_get(q, &item, -1);
        if (rc < 0)
            die("queue", rc);
        mproc_obj_free(item);
    }
    return PAIRS / ((bench_now_us() - t0) / 1e6);
}

/* Pairs per second of PAIRS pairs of round trips to the echo process. */
static double
echo_pairs(struct bench_sock_echo *e)
{
    double t0 = bench_now_us();

    for (long i = 0; i < 2 * PAIRS; i++)
        bench_sock_echo_rtt(e);
    return PAIRS / ((bench_now_us() - t0) / 1e6);
}

static void
row_queue(mproc_manager *m, int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *limit = calloc((size_t)iters, sizeof(double));
    struct bench_sock_echo *e = bench_sock_echo_start(SMALL);
    mproc_proxy *q;
    int rc = mproc_manager_queue(m, 0, false, &q);

    if (rc < 0 || mine == NULL || limit == NULL)
        die("queue", rc < 0 ? rc : MPROC_ENOMEM);
    for (int i = 0; i < WARMUP; i++) {
        queue_pairs(q);
        echo_pairs(e);
    }
    for (int i = 0; i < iters; i++) {
        mine[i] = queue_pairs(q);
        limit[i] = echo_pairs(e);
    }
    printf("manager_queue_put_get_per_s %.1f "
           "limit_socketpair_2pingpong_64_per_s %.1f\n",
           bench_median(mine, (size_t)iters),
           bench_median(limit, (size_t)iters));
    fflush(stdout);
    bench_sock_echo_stop(e);
    mproc_proxy_free(q);
    free(mine);
    free(limit);
}

/* ---- main ---------------------------------------------------------------- */

static const char *const rows[] = {
    "manager_dict_set_rtt",
    "manager_dict_get_rtt",
    "manager_call_rtt",
    "manager_dict_8clients_ops_per_s",
    "manager_queue_put_get_per_s",
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
    bool want[N_ROWS], any = false;
    mproc_manager *m = NULL;
    int rc;

    bench_parse_args(argc, argv, &args);
    for (size_t i = 0; i < N_ROWS; i++) {
        want[i] = bench_selected(&args, rows[i], row_name, N_ROWS);
        any = any || want[i];
    }
    if (!any)
        return 0;
    rc = mproc_manager_new(&m, NULL);
    if (rc < 0)
        die("manager", rc);
    if (want[0])
        row_rtt(rows[0], m, CALL_SET, iters_or(&args, 3000));
    if (want[1])
        row_rtt(rows[1], m, CALL_GET, iters_or(&args, 3000));
    if (want[2])
        row_rtt(rows[2], m, CALL_LEN, iters_or(&args, 3000));
    if (want[3])
        row_clients(m, iters_or(&args, 3));
    if (want[4])
        row_queue(m, iters_or(&args, 5));
    mproc_manager_free(m);
    return 0;
}
