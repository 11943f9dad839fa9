/*
 * tests/conn.c - mproc_conn against Python's Connection semantics: framing
 * (byte for byte), message boundaries, every receive form's timeout and end
 * of file, buffer-too-short keeping the stream in sync, poll consuming
 * nothing, no SIGPIPE, signals during blocking calls, descriptor passing,
 * mproc_wait over mixed descriptors.
 */
#include "helpers/th.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TestSuite(conn, .init = th_begin, .fini = th_end, .timeout = 60);

static void
duplex(mproc_conn **a, mproc_conn **b)
{
    cr_assert_eq(mproc_pipe(a, b, true), 0);
}

/* Write raw bytes on a connection's descriptor, bypassing the framing. */
static void
raw_write(mproc_conn *c, const void *buf, size_t len)
{
    cr_assert_eq(write(mproc_conn_fileno(c), buf, len), (ssize_t)len);
}

static void
fill(char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(seed + i * 31);
}

/* ---- framing and boundaries --------------------------------------------- */

Test(conn, messages_of_every_size_arrive_whole_and_in_order)
{
    static const size_t sizes[] = { 0, 1, 100, 65536, 1 << 20 };
    mproc_conn *a, *b;
    pthread_t t;

    duplex(&a, &b);
    (void)t;
    /* Queue several before receiving any: boundaries must survive. */
    for (size_t i = 0; i < 4; i++) {
        char *buf = malloc(sizes[i] + 1);

        fill(buf, sizes[i], (unsigned)i);
        cr_assert_eq(mproc_conn_send_bytes(a, buf, 0, sizes[i]), 0);
        free(buf);
    }
    for (size_t i = 0; i < 4; i++) {
        mproc_buf m = { 0 };
        char *want = malloc(sizes[i] + 1);

        fill(want, sizes[i], (unsigned)i);
        cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 5), 0);
        cr_assert_eq(m.len, sizes[i]);
        cr_assert(sizes[i] == 0 || memcmp(m.data, want, sizes[i]) == 0);
        mproc_buf_free(&m);
        free(want);
    }
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, the_wire_is_cpythons_four_byte_big_endian_length)
{
    mproc_conn *a, *b;
    unsigned char got[16];

    duplex(&a, &b);
    cr_assert_eq(mproc_conn_send_bytes(a, "xxhello", 2, 5), 0);
    cr_assert_eq(read(mproc_conn_fileno(b), got, 9), 9);
    cr_assert_eq(memcmp(got, "\0\0\0\5hello", 9), 0);
    cr_assert_eq(mproc_conn_send_bytes(a, "", 0, 0), 0);
    cr_assert_eq(read(mproc_conn_fileno(b), got, 4), 4);
    cr_assert_eq(memcmp(got, "\0\0\0\0", 4), 0);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, the_long_header_form_is_understood)
{
    /* CPython's form for messages of 2 GiB and more: -1, then a u64. */
    static const unsigned char wire[] = { 0xff, 0xff, 0xff, 0xff, 0,  0,
                                          0,    0,    0,    0,    0,  5,
                                          'h',  'e',  'l',  'l',  'o' };
    mproc_conn *a, *b;
    mproc_buf m = { 0 };

    duplex(&a, &b);
    raw_write(a, wire, sizeof(wire));
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 5), 0);
    cr_assert_eq(m.len, 5);
    cr_assert_eq(memcmp(m.data, "hello", 5), 0);
    mproc_buf_free(&m);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

struct big_send {
    mproc_conn *c;
    const char *buf;
    size_t len;
    int rc;
};

static void *
send_big(void *arg)
{
    struct big_send *s = arg;

    s->rc = mproc_conn_send_bytes(s->c, s->buf, 0, s->len);
    return NULL;
}

static size_t
mem_available(void)
{
    char line[256];
    size_t kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb * 1024;
}

Test(conn, a_message_over_four_gib_uses_the_long_header_and_arrives,
     .timeout = 240)
{
    const size_t len = ((size_t)4 << 30) + 4099;
    struct big_send s = { .len = len };
    char *src, *dst;
    size_t got = 0;
    mproc_conn *a, *b;
    unsigned char hdr[12];
    pthread_t t;

    if (mem_available() < ((size_t)12 << 30))
        cr_skip_test("needs 12 GiB of free memory for a 4 GiB message");
    /* Untouched anonymous pages read as zeros without taking memory. */
    src = mmap(NULL, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    dst = mmap(NULL, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_neq(src, MAP_FAILED);
    cr_assert_neq(dst, MAP_FAILED);
    src[0] = 'A';
    src[len / 2] = 'M';
    src[len - 1] = 'Z';
    duplex(&a, &b);
    s.c = a;
    s.buf = src;
    cr_assert_eq(pthread_create(&t, NULL, send_big, &s), 0);
    /* The header first, by hand: -1 and the 64-bit length. */
    cr_assert_eq(read(mproc_conn_fileno(b), hdr, 12), 12);
    cr_assert_eq(memcmp(hdr, "\xff\xff\xff\xff", 4), 0);
    cr_assert_eq(((uint64_t)hdr[4] << 56 | (uint64_t)hdr[5] << 48 |
                  (uint64_t)hdr[6] << 40 | (uint64_t)hdr[7] << 32 |
                  (uint64_t)hdr[8] << 24 | (uint64_t)hdr[9] << 16 |
                  (uint64_t)hdr[10] << 8 | hdr[11]),
                 len);
    while (got < len) {
        ssize_t n = read(mproc_conn_fileno(b), dst + got, len - got);

        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    pthread_join(t, NULL);
    cr_assert_eq(s.rc, 0);
    cr_assert_eq(dst[0], 'A');
    cr_assert_eq(dst[len / 2], 'M');
    cr_assert_eq(dst[len - 1], 'Z');
    munmap(src, len);
    munmap(dst, len);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

/* ---- directions, closing ------------------------------------------------- */

Test(conn, a_simplex_pipe_refuses_the_wrong_direction)
{
    mproc_conn *r, *w;
    mproc_buf m = { 0 };
    size_t n;
    char buf[8];

    cr_assert_eq(mproc_pipe(&r, &w, false), 0);
    cr_assert(mproc_conn_is_readable(r));
    cr_assert_not(mproc_conn_is_writable(r));
    cr_assert(mproc_conn_is_writable(w));
    cr_assert_not(mproc_conn_is_readable(w));
    cr_assert_eq(mproc_conn_send_bytes(r, "x", 0, 1), -EBADF);
    cr_assert_eq(mproc_conn_recv_bytes(w, &m, 0, 0), -EBADF);
    cr_assert_eq(mproc_conn_recv_bytes_into(w, buf, 8, 0, &n, 0), -EBADF);
    cr_assert_eq(mproc_conn_poll(w, 0), -EBADF);
    cr_assert_eq(mproc_conn_send_bytes(w, "ping", 0, 4), 0);
    cr_assert_eq(mproc_conn_recv_bytes(r, &m, 0, 5), 0);
    cr_assert_eq(m.len, 4);
    mproc_buf_free(&m);
    mproc_conn_free(r);
    mproc_conn_free(w);
}

Test(conn, a_closed_connection_says_so)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };

    duplex(&a, &b);
    cr_assert_geq(mproc_conn_fileno(a), 0);
    cr_assert_eq(mproc_conn_close(a), 0);
    cr_assert_eq(mproc_conn_close(a), 0);
    cr_assert(mproc_conn_is_closed(a));
    cr_assert_eq(mproc_conn_fileno(a), MPROC_ECLOSED);
    cr_assert_eq(mproc_conn_send_bytes(a, "x", 0, 1), MPROC_ECLOSED);
    cr_assert_eq(mproc_conn_recv_bytes(a, &m, 0, 0), MPROC_ECLOSED);
    cr_assert_eq(mproc_conn_poll(a, 0), MPROC_ECLOSED);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, bad_arguments_are_refused)
{
    mproc_conn *c = NULL, *d = NULL;
    size_t n;
    int fds[2];

    cr_assert_eq(mproc_conn_new(&c, -1, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_conn_new(&c, 999, NULL), -EBADF);
    cr_assert_null(c);
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(mproc_conn_new(&c, fds[0],
                                &(mproc_conn_opts){ .read_only = true,
                                                    .write_only = true }),
                 MPROC_EINVAL);
    close(fds[0]);
    close(fds[1]);
    cr_assert_eq(mproc_pipe(NULL, &d, true), MPROC_EINVAL);
    duplex(&c, &d);
    cr_assert_eq(mproc_conn_send_bytes(c, NULL, 0, 3), MPROC_EINVAL);
    cr_assert_eq(mproc_conn_recv_bytes(d, NULL, 0, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_conn_recv_bytes_into(d, &n, 4, 5, &n, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_conn_poll(d, 0.0 / 0.0), MPROC_EINVAL);
    mproc_conn_free(c);
    mproc_conn_free(d);
    mproc_conn_free(NULL);
}

/* ---- maxlength, too short -------------------------------------------------
 */

Test(conn, a_message_over_maxlength_is_refused_and_closes_the_connection)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };

    duplex(&a, &b);
    cr_assert_eq(mproc_conn_send_bytes(a, "0123456789", 0, 10), 0);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 9, 5), MPROC_ETOOBIG);
    cr_assert_null(m.data);
    cr_assert(mproc_conn_is_closed(b));
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0), MPROC_ECLOSED);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, a_short_buffer_reports_the_size_and_keeps_the_stream_in_sync)
{
    mproc_conn *a, *b;
    char small[4], big[32];
    mproc_buf m = { 0 };
    size_t n = 0;

    duplex(&a, &b);
    cr_assert_eq(mproc_conn_send_bytes(a, "first message", 0, 13), 0);
    cr_assert_eq(mproc_conn_send_bytes(a, "second", 0, 6), 0);
    cr_assert_eq(mproc_conn_recv_bytes_into(b, small, sizeof(small), 0, &n, 5),
                 MPROC_ETOOSHORT);
    cr_assert_eq(n, 13);
    /* Offsets count: 13 bytes do not fit after offset 20 of 32. */
    cr_assert_eq(mproc_conn_recv_bytes_into(b, big, sizeof(big), 20, &n, 5),
                 MPROC_ETOOSHORT);
    cr_assert_eq(n, 13);
    cr_assert_eq(mproc_conn_recv_bytes_into(b, big, sizeof(big), 3, &n, 5), 0);
    cr_assert_eq(n, 13);
    cr_assert_eq(memcmp(big + 3, "first message", 13), 0);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 5), 0);
    cr_assert_eq(m.len, 6);
    cr_assert_eq(memcmp(m.data, "second", 6), 0);
    mproc_buf_free(&m);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

/* ---- poll and timeouts
 * -------------------------------------------------------- */

Test(conn, poll_consumes_nothing)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };

    duplex(&a, &b);
    cr_assert_eq(mproc_conn_poll(b, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_conn_send_bytes(a, "x", 0, 1), 0);
    cr_assert_eq(mproc_conn_poll(b, 5), 0);
    cr_assert_eq(mproc_conn_poll(b, 0), 0);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0), 0);
    cr_assert_eq(m.len, 1);
    cr_assert_eq(mproc_conn_poll(b, 0), MPROC_ETIMEDOUT);
    mproc_buf_free(&m);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, every_receive_form_times_out_when_nothing_comes, .timeout = 30)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };
    char buf[8];
    size_t n;
    int fd;
    double t0;

    duplex(&a, &b);
    t0 = th_now();
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_conn_recv_bytes_into(b, buf, 8, 0, &n, 0.2),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_conn_poll(b, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_conn_recv_fds(b, &fd, 1, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, a_receive_that_times_out_mid_message_loses_nothing)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };
    char buf1[16], buf2[16];
    size_t n;

    duplex(&a, &b);
    /* recv_bytes: half a header, then the rest of it and half a body. */
    raw_write(a, "\0\0", 2);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0.05), MPROC_ETIMEDOUT);
    raw_write(a, "\0\6abc", 5);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0.05), MPROC_ETIMEDOUT);
    raw_write(a, "def", 3);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 1), 0);
    cr_assert_eq(m.len, 6);
    cr_assert_eq(memcmp(m.data, "abcdef", 6), 0);
    mproc_buf_free(&m);

    /* recv_bytes_into: the part read into one buffer reaches the next. */
    raw_write(a, "\0\0\0\6ghi", 7);
    cr_assert_eq(mproc_conn_recv_bytes_into(b, buf1, 16, 0, &n, 0.05),
                 MPROC_ETIMEDOUT);
    memset(buf1, 0, sizeof(buf1));
    raw_write(a, "jkl", 3);
    cr_assert_eq(mproc_conn_recv_bytes_into(b, buf2, 16, 2, &n, 1), 0);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(buf2 + 2, "ghijkl", 6), 0);

    /* and a kept part also reaches an allocating receive */
    raw_write(a, "\0\0\0\4mn", 6);
    cr_assert_eq(mproc_conn_recv_bytes_into(b, buf1, 16, 0, &n, 0.05),
                 MPROC_ETIMEDOUT);
    raw_write(a, "op", 2);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 1), 0);
    cr_assert_eq(m.len, 4);
    cr_assert_eq(memcmp(m.data, "mnop", 4), 0);
    mproc_buf_free(&m);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

/* ---- end of file, closed peers --------------------------------------------
 */

Test(conn, every_receive_form_reports_end_of_file)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };
    char buf[8];
    size_t n;
    int fd;

    duplex(&a, &b);
    mproc_conn_free(a);
    cr_assert_eq(mproc_conn_poll(b, 1), 0, "EOF counts as ready");
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 1), MPROC_EEOF);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, MPROC_FOREVER), MPROC_EEOF);
    cr_assert_eq(mproc_conn_recv_bytes_into(b, buf, 8, 0, &n, 1), MPROC_EEOF);
    cr_assert_eq(mproc_conn_recv_fds(b, &fd, 1, 1), MPROC_EEOF);
    mproc_conn_free(b);
}

Test(conn, end_of_file_in_the_middle_of_a_message_is_end_of_file)
{
    mproc_conn *a, *b;
    mproc_buf m = { 0 };

    duplex(&a, &b);
    raw_write(a, "\0\0\0\10abc", 7);
    mproc_conn_free(a);
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, MPROC_FOREVER), MPROC_EEOF);
    mproc_conn_free(b);
}

Test(conn, sending_to_a_closed_peer_is_an_error_not_a_sigpipe)
{
    mproc_conn *a, *b, *r, *w;
    sigset_t pending;

    duplex(&a, &b);
    mproc_conn_free(b);
    cr_assert_eq(mproc_conn_send_bytes(a, "x", 0, 1), -EPIPE);
    mproc_conn_free(a);

    cr_assert_eq(mproc_pipe(&r, &w, false), 0);
    mproc_conn_free(r);
    cr_assert_eq(mproc_conn_send_bytes(w, "x", 0, 1), -EPIPE);
    cr_assert_eq(sigpending(&pending), 0);
    cr_assert_not(sigismember(&pending, SIGPIPE));
    mproc_conn_free(w);
}

/* ---- signals
 * ------------------------------------------------------------------ */

Test(conn, signals_during_a_blocked_receive_do_not_break_it, .timeout = 30)
{
    struct th_storm s;
    mproc_conn *a, *b;
    mproc_buf m = { 0 };
    double t0;

    duplex(&a, &b);
    th_storm_start(&s);
    t0 = th_now();
    cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 0.3), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 1.5);
    th_storm_stop(&s);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

struct reader {
    mproc_conn *c;
    size_t len;
    int rc;
    bool ok;
};

static void *
read_one(void *arg)
{
    struct reader *r = arg;
    mproc_buf m = { 0 };
    char *want = malloc(r->len);

    fill(want, r->len, 7);
    r->rc = mproc_conn_recv_bytes(r->c, &m, 0, 30);
    r->ok = m.len == r->len && memcmp(m.data, want, r->len) == 0;
    mproc_buf_free(&m);
    free(want);
    return NULL;
}

Test(conn, signals_during_a_large_send_do_not_break_it, .timeout = 60)
{
    const size_t len = 32 << 20;
    struct reader r = { .len = len };
    char *buf = malloc(len);
    struct th_storm s;
    mproc_conn *a, *b;
    pthread_t t;

    fill(buf, len, 7);
    duplex(&a, &b);
    r.c = b;
    th_storm_start(&s);
    cr_assert_eq(pthread_create(&t, NULL, read_one, &r), 0);
    cr_assert_eq(mproc_conn_send_bytes(a, buf, 0, len), 0);
    pthread_join(t, NULL);
    th_storm_stop(&s);
    cr_assert_eq(r.rc, 0);
    cr_assert(r.ok);
    free(buf);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

/* ---- threads and processes ------------------------------------------------
 */

struct sender {
    mproc_conn *c;
    char tag;
};

static void *
send_many(void *arg)
{
    struct sender *s = arg;
    char msg[300];

    memset(msg, s->tag, sizeof(msg));
    for (int i = 0; i < 1000; i++)
        if (mproc_conn_send_bytes(s->c, msg, 0, 1 + (size_t)i % 300) != 0)
            break;
    return NULL;
}

Test(conn, threads_sending_on_one_connection_never_interleave_messages)
{
    struct sender s1, s2;
    mproc_conn *a, *b;
    pthread_t t1, t2;
    int counts[2] = { 0, 0 };

    duplex(&a, &b);
    s1 = (struct sender){ a, 'x' };
    s2 = (struct sender){ a, 'y' };
    pthread_create(&t1, NULL, send_many, &s1);
    pthread_create(&t2, NULL, send_many, &s2);
    for (int i = 0; i < 2000; i++) {
        mproc_buf m = { 0 };
        const char *p;

        cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 10), 0);
        p = m.data;
        for (size_t k = 1; k < m.len; k++)
            cr_assert_eq(p[k], p[0], "message mixed up");
        counts[p[0] == 'y']++;
        mproc_buf_free(&m);
    }
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_assert_eq(counts[0], 1000);
    cr_assert_eq(counts[1], 1000);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

static mproc_conn *child_end, *parent_end;

/* Echo every message until end of file, then return how many. */
static int
echo_until_eof(const void *arg, size_t len)
{
    mproc_buf m = { 0 };
    int count = 0;

    (void)arg;
    (void)len;
    mproc_conn_free(parent_end); /* or the parent's close is no EOF here */
    while (mproc_conn_recv_bytes(child_end, &m, 0, MPROC_FOREVER) == 0) {
        if (mproc_conn_send_bytes(child_end, m.data, 0, m.len) != 0)
            return 200;
        mproc_buf_free(&m);
        count++;
    }
    return count;
}

Test(conn, a_child_process_echoes_through_a_pipe)
{
    mproc_conn *a;
    mproc_process *p;

    duplex(&a, &child_end);
    parent_end = a;
    /* A daemon: should the test fail, the exit-time join cannot hang. */
    p = th_start(echo_until_eof, NULL, 0,
                 &(mproc_process_opts){ .daemon = true });
    mproc_conn_free(child_end); /* the child has its own copy */
    for (int i = 0; i < 10; i++) {
        mproc_buf m = { 0 };
        char msg[16];
        int len = snprintf(msg, sizeof(msg), "msg %d", i);

        cr_assert_eq(mproc_conn_send_bytes(a, msg, 0, (size_t)len), 0);
        cr_assert_eq(mproc_conn_recv_bytes(a, &m, 0, 10), 0);
        cr_assert_eq(m.len, (size_t)len);
        cr_assert_eq(memcmp(m.data, msg, m.len), 0);
        mproc_buf_free(&m);
    }
    mproc_conn_close(a);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_process_exitcode(p), 10);
    mproc_process_free(p);
    mproc_conn_free(a);
}

/* ---- descriptors
 * ---------------------------------------------------------------- */

Test(conn, descriptors_pass_over_a_unix_connection)
{
    mproc_conn *a, *b;
    int p[2], got[2];
    char c;

    duplex(&a, &b);
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(mproc_conn_send_fds(a, p, 2), 0);
    cr_assert_eq(mproc_conn_send_bytes(a, "after", 0, 5), 0);
    cr_assert_eq(mproc_conn_recv_fds(b, got, 2, 5), 0);
    cr_assert_neq(got[0], p[0]);
    cr_assert_eq(write(got[1], "z", 1), 1);
    cr_assert_eq(read(p[0], &c, 1), 1);
    cr_assert_eq(c, 'z');
    {
        mproc_buf m = { 0 };

        cr_assert_eq(mproc_conn_recv_bytes(b, &m, 0, 5), 0);
        cr_assert_eq(m.len, 5);
        mproc_buf_free(&m);
    }
    close(got[0]);
    close(got[1]);
    close(p[0]);
    close(p[1]);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, a_wrong_number_of_descriptors_is_a_protocol_error)
{
    mproc_conn *a, *b;
    int p[2], got[3];

    duplex(&a, &b);
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(mproc_conn_send_fds(a, p, 2), 0);
    cr_assert_eq(mproc_conn_recv_fds(b, got, 3, 5), MPROC_EPROTOCOL);
    cr_assert_eq(mproc_conn_send_bytes(a, "plain", 0, 5), 0);
    cr_assert_eq(mproc_conn_recv_fds(b, got, 1, 5), MPROC_EPROTOCOL);
    cr_assert_eq(mproc_conn_send_fds(a, p, 0), MPROC_EINVAL);
    close(p[0]);
    close(p[1]);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

/* ---- mproc_wait
 * ------------------------------------------------------------------ */

Test(conn, wait_returns_the_ready_ones_among_mixed_descriptors)
{
    mproc_conn *a, *b;
    mproc_process *p;
    int plain[2], fds[3], ready[3];
    size_t n = 99;
    double t0;

    duplex(&a, &b);
    cr_assert_eq(pipe(plain), 0);
    p = th_start(th_return_zero, NULL, 0, NULL);
    fds[0] = mproc_conn_fileno(b);
    fds[1] = mproc_process_sentinel(p);
    fds[2] = plain[0];
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_wait(fds, 3, ready, &n, 5), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ready[0], fds[1]);
    cr_assert_eq(mproc_conn_send_bytes(a, "x", 0, 1), 0);
    cr_assert_eq(write(plain[1], "y", 1), 1);
    cr_assert_eq(mproc_wait(fds, 3, ready, &n, 5), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(ready[0], fds[0]);
    cr_assert_eq(ready[2], fds[2]);
    /* Timeout: nothing among these two: 0 with none, after the time. */
    {
        int quiet[1] = { mproc_conn_fileno(a) };

        t0 = th_now();
        cr_assert_eq(mproc_wait(quiet, 1, ready, &n, 0.2), 0);
        th_assert_elapsed(t0, 0.2, 1.0);
        cr_assert_eq(n, 0);
    }
    mproc_process_free(p);
    close(plain[0]);
    close(plain[1]);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, wait_refuses_bad_descriptors)
{
    int fds[2] = { 0, -1 }, ready[2];
    int closed_fd = 987;
    size_t n;

    cr_assert_eq(mproc_wait(fds, 2, ready, &n, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_wait(&closed_fd, 1, ready, &n, 0), -EBADF);
    cr_assert_eq(mproc_wait(NULL, 1, ready, &n, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_wait(NULL, 0, NULL, &n, 0), 0);
    cr_assert_eq(n, 0);
}

/* ---- objects --------------------------------------------------------------
 */

Test(conn, objects_cross_as_protocol_4_pickles)
{
    mproc_conn *a, *b;
    mproc_obj *o = NULL, *got = NULL;
    mproc_buf raw = { 0 };
    static const unsigned char pickle[] = { 0x80, 0x04, 0x95, 0x09, 0,
                                            0,    0,    0,    0,    0,
                                            0,    ']',  0x94, '(',  'K',
                                            0x01, 'N',  0x88, 'e',  '.' };

    duplex(&a, &b);
    cr_assert_eq(mproc_obj_build(&o, "[i n b]", 1, 1), 0);
    cr_assert_eq(mproc_conn_send_obj(a, o), 0);
    cr_assert_eq(mproc_conn_recv_obj(b, &got, 5), 0);
    cr_assert(mproc_obj_equal(o, got));
    mproc_obj_free(got);
    /* what Python's send() writes: pickle.dumps([1, None, True], 4) */
    cr_assert_eq(mproc_conn_send_obj(a, o), 0);
    cr_assert_eq(mproc_conn_recv_bytes(b, &raw, 0, 5), 0);
    cr_assert_eq(raw.len, sizeof(pickle));
    cr_assert_arr_eq(raw.data, pickle, sizeof(pickle));
    mproc_buf_free(&raw);
    mproc_obj_free(o);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, a_refused_pickle_is_consumed_and_the_stream_stays_in_sync)
{
    static const char global[] = "cos\nsystem\n(S'true'\ntR.";
    mproc_conn *a, *b;
    mproc_obj *o = NULL, *got = NULL;

    duplex(&a, &b);
    cr_assert_eq(mproc_conn_send_bytes(a, global, 0, sizeof(global) - 1), 0);
    cr_assert_eq(mproc_conn_send_bytes(a, "\x80\x04N", 0, 3), 0);
    cr_assert_eq(mproc_obj_build(&o, "s", "after"), 0);
    cr_assert_eq(mproc_conn_send_obj(a, o), 0);
    cr_assert_eq(mproc_conn_recv_obj(b, &got, 5), MPROC_EPROTOCOL);
    cr_assert_null(got);
    cr_assert_eq(mproc_conn_recv_obj(b, &got, 5), MPROC_EPROTOCOL);
    cr_assert_eq(mproc_conn_recv_obj(b, &got, 5), 0);
    cr_assert(mproc_obj_equal(o, got));
    mproc_obj_free(got);
    mproc_obj_free(o);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

Test(conn, a_recursive_object_is_not_sent)
{
    mproc_conn *a, *b;
    mproc_obj *list = NULL, *tuple = NULL;

    duplex(&a, &b);
    cr_assert_eq(mproc_obj_list(&list), 0);
    cr_assert_eq(mproc_obj_build(&tuple, "(O)", list), 0);
    cr_assert_eq(mproc_obj_list_append(list, tuple), 0);
    cr_assert_eq(mproc_conn_send_obj(a, list), MPROC_EINVAL);
    cr_assert_eq(mproc_conn_poll(b, 0), MPROC_ETIMEDOUT); /* nothing sent */
    cr_assert_eq(mproc_obj_list_delete(list, 0), 0);
    mproc_obj_free(tuple);
    mproc_obj_free(list);
    mproc_conn_free(a);
    mproc_conn_free(b);
}
