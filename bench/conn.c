/*
 * bench/conn.c - connections: a 64-byte ping-pong, 1 MiB one-way
 * throughput and connect + authkey handshake, beside the raw-OS floor for
 * the same work. Python twin: bench/python/conn.py (multiprocessing.Pipe,
 * Connection.send_bytes / recv_bytes_into, connection.Listener / Client
 * with an authkey).
 *
 *   conn_pingpong_64           one round trip of a 64-byte message to a
 *                              forked child over mproc_pipe(duplex), which
 *                              echoes with recv_bytes_into + send_bytes
 *     limit_socketpair_pingpong_64   the same over a raw socketpair: write
 *                              64 bytes, read 64 bytes, in both processes
 *   conn_throughput_1m_per_s   MiB/s of 1 MiB messages sent one way over
 *                              mproc_pipe(duplex); the child receives each
 *                              with recv_bytes_into into one buffer and
 *                              acknowledges a batch of BATCH messages (an
 *                              empty message after them) with an empty one
 *     limit_socketpair_1m_per_s      the same bytes through a raw
 *                              socketpair, write and read loops of 1 MiB
 *                              and a one-byte acknowledgement
 *   conn_connect_auth          mproc_client to an mproc listener in another
 *                              process (a Unix path in a temporary
 *                              directory), the whole authkey handshake,
 *                              then mproc_conn_free
 *     limit_connect_6msg       raw connect to a raw Unix listener in another
 *                              process and six messages of the handshake's
 *                              framed sizes (63, 44 and 13 bytes each way)
 *                              with send/recv, then close
 *   conn_connect_auth_protocol the same mproc connect + handshake, beside
 *     limit_connect_6msg_framed_hmac   the raw exchange doing what the
 *                              protocol itself requires: each message read
 *                              as CPython's framing has it (the length,
 *                              then the body), the challenges' 40 random
 *                              bytes (getrandom) and the four HMAC-SHA256
 *                              (libcrypto, as mproc uses it) — the floor
 *                              of any implementation of the handshake
 *
 * mproc and limit samples alternate, so both see the same machine state,
 * and one child serves both in turn, so both cross between the same two
 * processes; warm-up iterations are discarded. A sample of a rate row is
 * one batch; the rate printed is BATCH MiB over the median batch time.
 *
 * Usage: bench_conn [--iters N] [row-prefix...]
 * Output, one line per row, medians in microseconds (MiB/s for _per_s):
 *   <row> <mproc-value> <limit-name> <limit-value>
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

#include "harness/harness.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define WARMUP 20
#define SMALL 64
#define MIB ((size_t)1 << 20)
/* Messages of 1 MiB in one throughput sample. */
#define BATCH 16
/* The handshake's messages as framed on the wire: a challenge
 * ("#CHALLENGE#{sha256}" + 40 bytes), a response ("{sha256}" + a 32-byte
 * HMAC), a verdict ("#WELCOME#"), each behind its 4-byte length. */
#define CHALLENGE_SIZE (4 + 11 + 8 + 40)
#define RESPONSE_SIZE (4 + 8 + 32)
#define WELCOME_SIZE (4 + 9)

static const char authkey[] = "bench-conn-authkey";

/* A row's state. One child serves both the mproc sample and the limit's,
 * in turn, as the parent alternates them: both then run between the same
 * two processes, placed alike by the scheduler (with two CPUs, separate
 * children could land one beside the parent and one across). */
struct bench {
    mproc_conn *conn;          /* the parent's end of the mproc pipe */
    int sock;                  /* the parent's end of the raw socketpair */
    pid_t child;               /* 0: none */
    char dir[64];              /* the listeners' directory; "" if none */
    char mproc_address[128];   /* unix:DIR/mproc */
    struct sockaddr_un raw_un; /* DIR/raw */
    bool protocol_floor;       /* raw handshake: framed reads and crypto */
    char buf[MIB];             /* what the parent sends */
};

/* What the child runs, with its mproc end and raw descriptor. */
typedef void (*child_fn)(const struct bench *b, mproc_conn *conn, int fd);

/* One measured operation: 0 on success, a negative code on failure. */
typedef int (*bench_op)(struct bench *b);

struct row {
    const char *name;
    int iters;
    const char *limit_name;
    int (*setup)(struct bench *b);
    bench_op mine;
    bench_op limit;
};

/* ---- processes ----------------------------------------------------------- */

/* Fork the child running fn with the given ends, which are then the
 * child's alone: the parent closes them, the child the parent's. */
static int
start_child(struct bench *b, child_fn fn, mproc_conn *conn, int fd)
{
    pid_t pid;

    fflush(stdout); /* the child must not inherit buffered lines */
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        mproc_conn_free(b->conn);
        if (b->sock >= 0)
            close(b->sock);
        fn(b, conn, fd);
        _exit(0);
    }
    b->child = pid;
    mproc_conn_free(conn);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* An mproc pipe and a raw socketpair to one child running fn. */
static int
start_pair_child(struct bench *b, child_fn fn)
{
    mproc_conn *child_end;
    int sv[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    b->sock = sv[0];
    rc = mproc_pipe(&b->conn, &child_end, true);
    if (rc != 0) {
        close(sv[1]);
        return rc;
    }
    return start_child(b, fn, child_end, sv[1]);
}

static void
teardown(struct bench *b)
{
    mproc_conn_free(b->conn);
    b->conn = NULL;
    if (b->sock >= 0)
        close(b->sock);
    b->sock = -1;
    if (b->child > 0) {
        kill(b->child, SIGKILL);
        while (waitpid(b->child, NULL, 0) < 0 && errno == EINTR)
            ;
        b->child = 0;
    }
    if (b->dir[0] != '\0') {
        /* The server was killed: its socket files are still there. */
        unlink(b->raw_un.sun_path);
        unlink(b->mproc_address + strlen("unix:"));
        rmdir(b->dir);
        b->dir[0] = '\0';
    }
}

/* ---- ping-pong: one 64-byte round trip ---------------------------------- */

/* Echo one message on the mproc end, then 64 bytes on the raw one, as long
 * as the parent goes on. */
static void
echo_child(const struct bench *b, mproc_conn *c, int fd)
{
    char buf[SMALL];
    size_t n;

    (void)b;
    while (mproc_conn_recv_bytes_into(c, buf, sizeof(buf), 0, &n,
                                      MPROC_FOREVER) == 0 &&
           mproc_conn_send_bytes(c, buf, 0, n) == 0 &&
           bench_recv_all(fd, buf, sizeof(buf)) == 0 &&
           bench_send_all(fd, buf, sizeof(buf)) == 0)
        ;
}

static int
setup_pingpong(struct bench *b)
{
    return start_pair_child(b, echo_child);
}

/* Cost: one sendmsg and two reads a side, two wake-ups. */
static int
pingpong_mproc(struct bench *b)
{
    char back[SMALL];
    size_t n;
    int rc;

    rc = mproc_conn_send_bytes(b->conn, b->buf, 0, SMALL);
    if (rc == 0)
        rc = mproc_conn_recv_bytes_into(b->conn, back, sizeof(back), 0, &n,
                                        MPROC_FOREVER);
    return rc == 0 && n != SMALL ? MPROC_EPROTOCOL : rc;
}

static int
pingpong_raw(struct bench *b)
{
    char back[SMALL];
    int rc = bench_send_all(b->sock, b->buf, SMALL);

    return rc != 0 ? rc : bench_recv_all(b->sock, back, sizeof(back));
}

/* ---- throughput: BATCH messages of 1 MiB one way ------------------------ */

/* Receive into buf until an empty message, and answer it with one. */
static int
mproc_sink_batch(mproc_conn *c, char *buf)
{
    size_t n;
    int rc;

    do
        rc = mproc_conn_recv_bytes_into(c, buf, MIB, 0, &n, MPROC_FOREVER);
    while (rc == 0 && n > 0);
    return rc != 0 ? rc : mproc_conn_send_bytes(c, NULL, 0, 0);
}

/* Receive BATCH MiB in reads of up to 1 MiB, and answer one byte. */
static int
raw_sink_batch(int fd, char *buf)
{
    size_t left = BATCH * MIB;

    while (left > 0) {
        ssize_t r = recv(fd, buf, left < MIB ? left : MIB, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return MPROC_EEOF;
        left -= (size_t)r;
    }
    return bench_send_all(fd, "k", 1);
}

/* A batch on the mproc end, then one on the raw one, and again. */
static void
sink_child(const struct bench *b, mproc_conn *c, int fd)
{
    char *buf = malloc(MIB);

    (void)b;
    while (buf != NULL && mproc_sink_batch(c, buf) == 0 &&
           raw_sink_batch(fd, buf) == 0)
        ;
    free(buf);
}

static int
setup_throughput(struct bench *b)
{
    return start_pair_child(b, sink_child);
}

static int
throughput_mproc(struct bench *b)
{
    size_t n;
    int rc = 0;

    for (int i = 0; i < BATCH && rc == 0; i++)
        rc = mproc_conn_send_bytes(b->conn, b->buf, 0, MIB);
    if (rc == 0)
        rc = mproc_conn_send_bytes(b->conn, NULL, 0, 0);
    if (rc == 0)
        rc = mproc_conn_recv_bytes_into(b->conn, NULL, 0, 0, &n, MPROC_FOREVER);
    return rc;
}

static int
throughput_raw(struct bench *b)
{
    char ack;
    int rc = 0;

    for (int i = 0; i < BATCH && rc == 0; i++)
        rc = bench_send_all(b->sock, b->buf, MIB);
    return rc != 0 ? rc : bench_recv_all(b->sock, &ack, 1);
}

/* ---- connect + authkey handshake ---------------------------------------- */

/* What the protocol costs a sender before message i goes out: random
 * bytes for a challenge, an HMAC-SHA256 for a response or a verdict. */
static void
protocol_work(size_t i, char *buf)
{
    static const char key[] = "bench-conn-authkey";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len;

    if (i % 3 == 0)
        (void)getrandom(buf + CHALLENGE_SIZE - 40, 40, 0);
    else
        (void)HMAC(EVP_sha256(), key, sizeof(key) - 1,
                   (unsigned char *)buf + 15, 48, mac, &mac_len);
}

/* The six messages, in the listener's order: challenge, response, verdict,
 * twice; the listener sends the first challenge, the second response and
 * the first verdict. With protocol_floor, each message is read the way the
 * framing forces (its length, then its body) and the crypto is done. */
static int
raw_handshake(int fd, bool listener, bool protocol_floor)
{
    static const size_t sizes[] = {
        CHALLENGE_SIZE, RESPONSE_SIZE, WELCOME_SIZE,
        CHALLENGE_SIZE, RESPONSE_SIZE, WELCOME_SIZE
    };
    char buf[CHALLENGE_SIZE] = { 0 };
    int rc = 0;

    for (size_t i = 0; i < 6 && rc == 0; i++) {
        bool sends = (i % 2 == 0) == listener;

        if (sends && protocol_floor)
            protocol_work(i, buf);
        if (sends) {
            rc = bench_send_all(fd, buf, sizes[i]);
        } else if (protocol_floor) {
            rc = bench_recv_all(fd, buf, 4);
            if (rc == 0)
                rc = bench_recv_all(fd, buf + 4, sizes[i] - 4);
        } else {
            rc = bench_recv_all(fd, buf, sizes[i]);
        }
    }
    return rc;
}

/* An mproc listener and a raw one; accept on each in turn, for ever. */
static void
server_child(const struct bench *b, mproc_conn *unused, int ready)
{
    mproc_listener_opts opts = { .authkey = authkey,
                                 .authkey_len = sizeof(authkey) - 1 };
    mproc_listener *l;
    int raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    (void)unused;
    if (mproc_listener_new(&l, b->mproc_address, &opts) != 0 || raw < 0 ||
        bind(raw, (const struct sockaddr *)&b->raw_un, sizeof(b->raw_un)) < 0 ||
        listen(raw, 128) < 0 || write(ready, "r", 1) != 1)
        _exit(1);
    close(ready);
    for (;;) {
        mproc_conn *c;
        int fd;

        if (mproc_listener_accept(l, &c, MPROC_FOREVER) == 0)
            mproc_conn_free(c);
        fd = accept4(raw, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            (void)raw_handshake(fd, true, b->protocol_floor);
            close(fd);
        }
    }
}

/* Start the server and wait for its one byte "listening". */
static int
setup_connect(struct bench *b)
{
    int ready[2], rc;
    ssize_t r;
    char c;

    snprintf(b->dir, sizeof(b->dir), "/tmp/bench-conn-XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        b->dir[0] = '\0';
        return -errno;
    }
    snprintf(b->mproc_address, sizeof(b->mproc_address), "unix:%s/mproc",
             b->dir);
    b->raw_un.sun_family = AF_UNIX;
    snprintf(b->raw_un.sun_path, sizeof(b->raw_un.sun_path), "%s/raw", b->dir);
    if (pipe2(ready, O_CLOEXEC) < 0)
        return -errno;
    rc = start_child(b, server_child, NULL, ready[1]);
    if (rc == 0) {
        do
            r = read(ready[0], &c, 1);
        while (r < 0 && errno == EINTR);
        rc = r == 1 ? 0 : MPROC_EEOF;
    }
    close(ready[0]);
    return rc;
}

static int
setup_connect_protocol(struct bench *b)
{
    b->protocol_floor = true;
    return setup_connect(b);
}

static int
connect_mproc(struct bench *b)
{
    mproc_client_opts opts = { .authkey = authkey,
                               .authkey_len = sizeof(authkey) - 1 };
    mproc_conn *c;
    int rc = mproc_client(&c, b->mproc_address, &opts, MPROC_FOREVER);

    mproc_conn_free(c);
    return rc;
}

static int
connect_raw(struct bench *b)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -errno;
    rc = connect(fd, (const struct sockaddr *)&b->raw_un, sizeof(b->raw_un));
    rc = rc < 0 ? -errno : raw_handshake(fd, false, b->protocol_floor);
    close(fd);
    return rc;
}

/* ---- the harness -------------------------------------------------------- */

static const struct row rows[] = {
    { "conn_pingpong_64", 20000, "limit_socketpair_pingpong_64", setup_pingpong,
      pingpong_mproc, pingpong_raw },
    { "conn_throughput_1m_per_s", 200, "limit_socketpair_1m_per_s",
      setup_throughput, throughput_mproc, throughput_raw },
    { "conn_connect_auth", 3000, "limit_connect_6msg", setup_connect,
      connect_mproc, connect_raw },
    { "conn_connect_auth_protocol", 3000, "limit_connect_6msg_framed_hmac",
      setup_connect_protocol, connect_mproc, connect_raw },
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* Time one call of op into *sample_us. */
static int
sample(bench_op op, struct bench *b, double *sample_us)
{
    double t0 = bench_now_us();
    int rc = op(b);

    *sample_us = bench_now_us() - t0;
    return rc;
}

/* A row's figure from its median sample: the time, or for a rate row the
 * MiB per second of one batch. */
static double
figure(const struct row *r, double median_us)
{
    size_t len = strlen(r->name);

    if (len > 6 && strcmp(r->name + len - 6, "_per_s") == 0)
        return BATCH / (median_us / 1e6);
    return median_us;
}

/* Measure one row and print it; 0, or the failing call's code. */
static int
run_row(const struct row *r, struct bench *b, int iters)
{
    double *mine = calloc((size_t)iters, sizeof(double));
    double *raw = calloc((size_t)iters, sizeof(double));
    double ignored;
    int rc = MPROC_ENOMEM;

    if (mine == NULL || raw == NULL)
        goto done;
    rc = r->setup(b);
    for (int i = 0; rc == 0 && i < WARMUP + iters; i++) {
        bool keep = i >= WARMUP;

        rc = sample(r->mine, b, keep ? &mine[i - WARMUP] : &ignored);
        if (rc == 0)
            rc = sample(r->limit, b, keep ? &raw[i - WARMUP] : &ignored);
    }
    if (rc == 0) {
        printf("%s %.1f %s %.1f\n", r->name,
               figure(r, bench_median(mine, (size_t)iters)), r->limit_name,
               figure(r, bench_median(raw, (size_t)iters)));
        /* Flush before the next row forks, so no child inherits the line. */
        fflush(stdout);
    }
done:
    teardown(b);
    if (rc != 0)
        fprintf(stderr, "bench_conn: %s: %s\n", r->name, mproc_strerror(rc));
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
    static struct bench b = { .sock = -1 };
    struct bench_args args;

    bench_parse_args(argc, argv, &args);
    memset(b.buf, 'm', sizeof(b.buf));
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!bench_selected(&args, rows[i].name, row_name, N_ROWS))
            continue;
        if (run_row(&rows[i], &b,
                    args.iters > 0 ? args.iters : rows[i].iters) != 0)
            return 1;
    }
    return 0;
}
