/*
 * tests/queue.c - Queue, SimpleQueue and JoinableQueue against Python's
 * semantics, between real processes and threads: order across a fork,
 * nothing lost when producers exit at once, maxsize and every timeout
 * path, task_done and join, 4 producers x 4 consumers with every message
 * accounted for exactly once, messages from 0 bytes to over half the
 * capacity, a producer and a consumer killed inside put and get (a fault
 * inside the copy stops each there, deterministically, before the
 * SIGKILL), close, get_into's too-short buffer, objects, tokens to spawn
 * and forkserver children, memory given back, and every refusal.
 *
 * Children report through exit codes, queues and shared pages; nothing
 * sleeps for luck.
 */
#include "helpers/th.h"

#include <dirent.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(queue, .init = th_begin, .fini = th_end, .timeout = 60);

/* What a child gets: tokens of the queues it uses, and numbers. */
struct job {
    mproc_token a, b;
    int id;
    int n;
    size_t size;
};

static struct job
arg_job(const void *arg, size_t len)
{
    struct job j;

    memset(&j, 0, sizeof(j));
    if (len == sizeof(j))
        memcpy(&j, arg, sizeof(j));
    return j;
}

static mproc_process *
start(mproc_target target, const struct job *j, enum mproc_start_method m)
{
    return th_start_daemon(target, j, sizeof(*j), m);
}

static int
join(mproc_process *p)
{
    return th_join(p, 60);
}

static mproc_queue *
new_queue(size_t maxsize, size_t capacity)
{
    mproc_queue *q = NULL;

    cr_assert_eq(
        mproc_queue_new(&q, &(mproc_queue_opts){ .maxsize = maxsize,
                                                 .capacity = capacity }),
        0);
    return q;
}

static struct job
job_of(mproc_queue *a, mproc_queue *b)
{
    struct job j;

    memset(&j, 0, sizeof(j));
    cr_assert_eq(mproc_queue_token(a, &j.a), 0);
    if (b != NULL)
        cr_assert_eq(mproc_queue_token(b, &j.b), 0);
    return j;
}

static void *
shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert_neq(p, MAP_FAILED);
    return p;
}

static void
put_u32(mproc_queue *q, uint32_t v)
{
    cr_assert_eq(mproc_queue_put(q, &v, sizeof(v), MPROC_FOREVER), 0);
}

static uint32_t
get_u32(mproc_queue *q, double timeout)
{
    uint32_t v = 0;
    size_t len = 0;

    cr_assert_eq(mproc_queue_get_into(q, &v, sizeof(v), &len, timeout), 0);
    cr_assert_eq(len, sizeof(v));
    return v;
}

/* The byte at i of a test message seeded by `seed`. */
static unsigned char
pattern(size_t i, unsigned seed)
{
    return (unsigned char)(i * 131 + seed * 7 + (i >> 12));
}

static void
fill(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(i, seed);
}

static bool
check(const unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(i, seed))
            return false;
    return true;
}

/* ---- child targets ------------------------------------------------------ */

/* a: the queue. Put 0 .. n-1 (u32) and return at once. */
static int
put_sequence(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    for (int i = 0; i < j.n; i++) {
        uint32_t v = (uint32_t)(j.id << 24 | i);

        if (mproc_queue_put(q, &v, sizeof(v), MPROC_FOREVER) != 0)
            return 11;
    }
    mproc_queue_free(q);
    return 0;
}

/* a: the queue. Get n u32 and expect 0 .. n-1 in order. */
static int
get_sequence(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    for (int i = 0; i < j.n; i++) {
        uint32_t v;
        size_t n;

        if (mproc_queue_get_into(q, &v, sizeof(v), &n, 30) != 0)
            return 11;
        if (n != sizeof(v) || v != (uint32_t)i)
            return 12;
    }
    mproc_queue_free(q);
    return 0;
}

/* a: requests, b: replies. Get one message, put back "echo:" + it. */
static int
echo_once(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *in = NULL, *out = NULL;
    mproc_buf m;
    char reply[256];
    int rc;

    if (mproc_queue_from_token(&in, &j.a) != 0 ||
        mproc_queue_from_token(&out, &j.b) != 0)
        return 10;
    if (mproc_queue_get(in, &m, 30) != 0 || m.len > 200)
        return 11;
    memcpy(reply, "echo:", 5);
    memcpy(reply + 5, m.data, m.len);
    rc = mproc_queue_put(out, reply, 5 + m.len, 30);
    mproc_buf_free(&m);
    mproc_queue_free(in);
    mproc_queue_free(out);
    return rc == 0 ? 0 : 12;
}

/* ---- order, exit, timeouts ---------------------------------------------- */

Test(queue, order_holds_across_a_fork_both_ways)
{
    mproc_queue *q = new_queue(0, 0);
    struct job j = job_of(q, NULL);
    mproc_process *p;

    j.n = 10000;
    p = start(get_sequence, &j, MPROC_START_FORK);
    for (int i = 0; i < j.n; i++)
        put_u32(q, (uint32_t)i);
    cr_assert_eq(join(p), 0);

    p = start(put_sequence, &j, MPROC_START_FORK);
    for (int i = 0; i < j.n; i++)
        cr_assert_eq(get_u32(q, 30), (uint32_t)i);
    cr_assert_eq(join(p), 0);
    cr_assert(mproc_queue_empty(q));
    mproc_queue_free(q);
}

Test(queue, nothing_is_lost_when_producers_exit_right_after_put)
{
    mproc_queue *q = new_queue(0, 0);
    struct job j = job_of(q, NULL);
    mproc_process *p[8];
    int next[8] = { 0 };
    size_t n;

    j.n = 500;
    for (int i = 0; i < 8; i++) {
        j.id = i;
        p[i] = start(put_sequence, &j, MPROC_START_FORK);
    }
    for (int i = 0; i < 8; i++)
        cr_assert_eq(join(p[i]), 0);
    /* Every producer has exited: all it put is there. */
    cr_assert_eq(mproc_queue_qsize(q, &n), 0);
    cr_assert_eq(n, 8u * 500);
    for (int i = 0; i < 8 * 500; i++) {
        uint32_t v = get_u32(q, 0);
        uint32_t who = v >> 24;

        cr_assert_lt(who, 8u);
        cr_assert_eq(v & 0xffffff, (uint32_t)next[who]++, "FIFO per producer");
    }
    cr_assert_eq(mproc_queue_get_into(q, NULL, 0, &n, 0), MPROC_EEMPTY);
    mproc_queue_free(q);
}

Test(queue, maxsize_makes_put_wait_then_fail_full)
{
    mproc_queue *q = new_queue(2, 0);
    size_t n;
    double t0;

    cr_assert_not(mproc_queue_full(q));
    put_u32(q, 1);
    put_u32(q, 2);
    cr_assert(mproc_queue_full(q));
    cr_assert_eq(mproc_queue_qsize(q, &n), 0);
    cr_assert_eq(n, 2u);

    t0 = th_now();
    cr_assert_eq(mproc_queue_put(q, "x", 1, 0), MPROC_EFULL);
    th_assert_elapsed(t0, 0, 0.5);
    t0 = th_now();
    cr_assert_eq(mproc_queue_put(q, "x", 1, 0.2), MPROC_EFULL);
    th_assert_elapsed(t0, 0.2, 1.0);

    cr_assert_eq(get_u32(q, 0), 1u);
    cr_assert_not(mproc_queue_full(q));
    put_u32(q, 3);
    cr_assert_eq(get_u32(q, 0), 2u);
    cr_assert_eq(get_u32(q, 0), 3u);
    mproc_queue_free(q);
}

Test(queue, get_on_empty_fails_empty_at_once_or_after_the_timeout)
{
    mproc_queue *q = new_queue(0, 0);
    mproc_buf b = { (void *)1, 1 };
    double t0 = th_now();

    cr_assert(mproc_queue_empty(q));
    cr_assert_eq(mproc_queue_get(q, &b, 0), MPROC_EEMPTY);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_eq(b.data, NULL);
    cr_assert_eq(b.len, 0u);
    t0 = th_now();
    cr_assert_eq(mproc_queue_get(q, &b, 0.2), MPROC_EEMPTY);
    th_assert_elapsed(t0, 0.2, 1.0);
    mproc_queue_free(q);
}

/* a: queue (maxsize 1, full). Take one message after the parent says so
 * through b. */
static int
get_when_told(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL, *go = NULL;
    mproc_buf m;

    if (mproc_queue_from_token(&q, &j.a) != 0 ||
        mproc_queue_from_token(&go, &j.b) != 0)
        return 10;
    if (mproc_queue_get(go, &m, 30) != 0)
        return 11;
    mproc_buf_free(&m);
    if (mproc_queue_get(q, &m, 30) != 0)
        return 12;
    mproc_buf_free(&m);
    mproc_queue_free(q);
    mproc_queue_free(go);
    return 0;
}

Test(queue, a_blocked_put_goes_on_when_a_consumer_makes_room)
{
    mproc_queue *q = new_queue(1, 0), *go = new_queue(0, 0);
    struct job j = job_of(q, go);
    mproc_process *p = start(get_when_told, &j, MPROC_START_FORK);

    put_u32(q, 1);
    cr_assert_eq(mproc_queue_put(q, "x", 1, 0), MPROC_EFULL);
    put_u32(go, 0);
    cr_assert_eq(mproc_queue_put(q, "y", 1, 30), 0);
    cr_assert_eq(join(p), 0);
    mproc_queue_free(q);
    mproc_queue_free(go);
}

Test(queue, a_full_ring_makes_put_wait_for_bytes)
{
    mproc_queue *q = new_queue(0, 8192);
    unsigned char big[5000];
    size_t n;

    fill(big, sizeof(big), 1);
    cr_assert_eq(mproc_queue_put(q, big, sizeof(big), 0), 0);
    cr_assert_eq(mproc_queue_put(q, big, sizeof(big), 0), MPROC_EFULL);
    cr_assert_eq(mproc_queue_put(q, big, 3000, 0), 0);
    cr_assert_eq(mproc_queue_get_into(q, big, sizeof(big), &n, 0), 0);
    cr_assert_eq(n, sizeof(big));
    cr_assert(check(big, n, 1));
    /* Room again, across the ring's end. */
    fill(big, sizeof(big), 2);
    cr_assert_eq(mproc_queue_put(q, big, sizeof(big), 0), 0);
    cr_assert_eq(mproc_queue_get_into(q, big, sizeof(big), &n, 0), 0);
    cr_assert_eq(n, 3000u);
    cr_assert_eq(mproc_queue_get_into(q, big, sizeof(big), &n, 0), 0);
    cr_assert_eq(n, sizeof(big));
    cr_assert(check(big, n, 2));
    mproc_queue_free(q);
}

/* ---- JoinableQueue ------------------------------------------------------ */

Test(queue, task_done_called_too_often_fails_and_changes_nothing)
{
    mproc_queue *q = NULL;

    cr_assert_eq(mproc_joinable_queue_new(&q, NULL), 0);
    cr_assert_eq(mproc_queue_task_done(q), MPROC_ESTATE);
    cr_assert_eq(mproc_queue_join(q, 0), 0);
    put_u32(q, 1);
    put_u32(q, 2);
    cr_assert_eq(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(get_u32(q, 0), 1u);
    cr_assert_eq(mproc_queue_task_done(q), 0);
    cr_assert_eq(get_u32(q, 0), 2u);
    cr_assert_eq(mproc_queue_task_done(q), 0);
    cr_assert_eq(mproc_queue_task_done(q), MPROC_ESTATE);
    cr_assert_eq(mproc_queue_join(q, 0), 0);
    /* The count stayed at 0: one put needs exactly one task_done. */
    put_u32(q, 3);
    cr_assert_eq(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_queue_task_done(q), 0);
    cr_assert_eq(mproc_queue_join(q, 0), 0);
    mproc_queue_free(q);
}

/* a: JoinableQueue. Get n messages, marking each done. */
static int
work_and_mark_done(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    for (int i = 0; i < j.n; i++) {
        mproc_buf m;

        if (mproc_queue_get(q, &m, 30) != 0)
            return 11;
        mproc_buf_free(&m);
        if (mproc_queue_task_done(q) != 0)
            return 12;
    }
    mproc_queue_free(q);
    return 0;
}

Test(queue, join_times_out_then_returns_when_every_task_is_done)
{
    mproc_queue *q = NULL;
    struct job j;
    mproc_process *p;
    double t0;

    cr_assert_eq(mproc_joinable_queue_new(&q, NULL), 0);
    for (int i = 0; i < 100; i++)
        put_u32(q, (uint32_t)i);
    t0 = th_now();
    cr_assert_eq(mproc_queue_join(q, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    j = job_of(q, NULL);
    j.n = 100;
    p = start(work_and_mark_done, &j, MPROC_START_FORK);
    cr_assert_eq(mproc_queue_join(q, 30), 0);
    cr_assert(mproc_queue_empty(q));
    cr_assert_eq(join(p), 0);
    mproc_queue_free(q);
}

/* ---- many producers, many consumers ------------------------------------- */

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 100000

struct msg {
    uint32_t producer;
    uint32_t seq;
    uint64_t check;
};

static uint64_t
msg_check(uint32_t producer, uint32_t seq)
{
    uint64_t x = (uint64_t)producer << 32 | seq;

    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
}

/* What the consumers share with the parent: one bit per message. */
struct tally {
    uint64_t seen[PRODUCERS * PER_PRODUCER / 64 + 1];
    uint64_t count;
    uint64_t errors;
};

/* Account for one message: its check, FIFO per producer (last[] is this
 * consumer's last sequence number of each), exactly once. */
static void
tally_one(struct tally *t, const struct msg *m, size_t len, int64_t *last)
{
    uint64_t bit;

    if (len != sizeof(*m) || m->producer >= PRODUCERS ||
        m->seq >= PER_PRODUCER || m->check != msg_check(m->producer, m->seq) ||
        (int64_t)m->seq <= last[m->producer]) {
        __atomic_fetch_add(&t->errors, 1, __ATOMIC_RELAXED);
        return;
    }
    last[m->producer] = m->seq;
    bit = (uint64_t)m->producer * PER_PRODUCER + m->seq;
    if (__atomic_fetch_or(&t->seen[bit / 64], (uint64_t)1 << (bit % 64),
                          __ATOMIC_RELAXED) &
        ((uint64_t)1 << (bit % 64)))
        __atomic_fetch_add(&t->errors, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->count, 1, __ATOMIC_RELAXED);
}

static struct tally *tally_shared; /* set before the forks */

static int
produce(mproc_queue *q, uint32_t id, int n)
{
    for (int i = 0; i < n; i++) {
        struct msg m = { id, (uint32_t)i, msg_check(id, (uint32_t)i) };

        if (mproc_queue_put(q, &m, sizeof(m), 30) != 0)
            return 11;
    }
    return 0;
}

/* Get until the queue is closed and drained. */
static int
consume(mproc_queue *q)
{
    int64_t last[PRODUCERS];
    struct msg m;
    size_t len;
    int rc;

    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    while ((rc = mproc_queue_get_into(q, &m, sizeof(m), &len, 30)) == 0)
        tally_one(tally_shared, &m, len, last);
    return rc == MPROC_ECLOSED ? 0 : 20;
}

static int
producer_target(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    return produce(q, (uint32_t)j.id, j.n);
}

static int
consumer_target(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    return consume(q);
}

static void
assert_all_accounted(const struct tally *t, uint64_t per_producer)
{
    cr_assert_eq(t->errors, 0u);
    cr_assert_eq(t->count, PRODUCERS * per_producer);
    for (uint64_t p = 0; p < PRODUCERS; p++)
        for (uint64_t s = 0; s < per_producer; s++) {
            uint64_t bit = p * PER_PRODUCER + s;

            cr_assert(t->seen[bit / 64] & (uint64_t)1 << (bit % 64),
                      "message %lu of producer %lu lost", (unsigned long)s,
                      (unsigned long)p);
        }
}

Test(queue, four_producers_four_consumers_every_message_exactly_once,
     .timeout = 180)
{
    mproc_queue *q = new_queue(0, 1 << 20);
    struct job j = job_of(q, NULL);
    mproc_process *prod[PRODUCERS], *cons[CONSUMERS];

    tally_shared = shared_page(sizeof(struct tally));
    for (int i = 0; i < CONSUMERS; i++)
        cons[i] = start(consumer_target, &j, MPROC_START_FORK);
    j.n = PER_PRODUCER;
    for (int i = 0; i < PRODUCERS; i++) {
        j.id = i;
        prod[i] = start(producer_target, &j, MPROC_START_FORK);
    }
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(join(prod[i]), 0);
    cr_assert_eq(mproc_queue_close(q), 0);
    for (int i = 0; i < CONSUMERS; i++)
        cr_assert_eq(join(cons[i]), 0);
    assert_all_accounted(tally_shared, PER_PRODUCER);
    munmap(tally_shared, sizeof(struct tally));
    mproc_queue_free(q);
}

#define THREAD_N 20000

struct thread_arg {
    mproc_queue *q;
    uint32_t id;
    int rc;
};

static void *
producer_thread(void *arg)
{
    struct thread_arg *a = arg;

    a->rc = produce(a->q, a->id, THREAD_N);
    return NULL;
}

static void *
consumer_thread(void *arg)
{
    struct thread_arg *a = arg;

    a->rc = consume(a->q);
    return NULL;
}

Test(queue, threads_produce_and_consume_as_processes_do, .timeout = 120)
{
    mproc_queue *q = new_queue(64, 0);
    struct thread_arg prod[PRODUCERS], cons[CONSUMERS];
    pthread_t pt[PRODUCERS], ct[CONSUMERS];

    tally_shared = calloc(1, sizeof(struct tally));
    cr_assert_not_null(tally_shared);
    for (int i = 0; i < CONSUMERS; i++) {
        cons[i] = (struct thread_arg){ q, 0, -1 };
        cr_assert_eq(pthread_create(&ct[i], NULL, consumer_thread, &cons[i]),
                     0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (struct thread_arg){ q, (uint32_t)i, -1 };
        cr_assert_eq(pthread_create(&pt[i], NULL, producer_thread, &prod[i]),
                     0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(pt[i], NULL);
        cr_assert_eq(prod[i].rc, 0);
    }
    cr_assert_eq(mproc_queue_close(q), 0);
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(ct[i], NULL);
        cr_assert_eq(cons[i].rc, 0);
    }
    assert_all_accounted(tally_shared, THREAD_N);
    free(tally_shared);
    mproc_queue_free(q);
}

/* ---- sizes -------------------------------------------------------------- */

/* a: queue. Get j.n messages of the sizes in sizes[], checking each. */
static const size_t sizes[] = { 0, 1, 7, 8, 9, 4096, 1 << 20, 0, 2621440, 1 };

static int
check_sizes(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        mproc_buf m;

        if (mproc_queue_get(q, &m, 30) != 0)
            return 11;
        if (m.len != sizes[i] || !check(m.data, m.len, i))
            return 12;
        if (m.len == 0 && m.data != NULL)
            return 13;
        mproc_buf_free(&m);
    }
    mproc_queue_free(q);
    return 0;
}

Test(queue, messages_of_0_1_bytes_1_mib_and_over_half_the_capacity)
{
    /* 4 MiB ring: 2.5 MiB is over half of it, so two never fit at once. */
    mproc_queue *q = new_queue(0, 4 << 20);
    struct job j = job_of(q, NULL);
    unsigned char *buf = malloc(4 << 20);
    mproc_process *p = start(check_sizes, &j, MPROC_START_FORK);

    cr_assert_not_null(buf);
    /* To a child, then to this process itself. */
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        fill(buf, sizes[i], i);
        cr_assert_eq(mproc_queue_put(q, buf, sizes[i], 30), 0);
    }
    cr_assert_eq(join(p), 0);
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        mproc_buf m;

        fill(buf, sizes[i], i);
        cr_assert_eq(mproc_queue_put(q, buf, sizes[i], 0), 0);
        cr_assert_eq(mproc_queue_get(q, &m, 0), 0);
        cr_assert_eq(m.len, sizes[i]);
        cr_assert(check(m.data, m.len, i));
        mproc_buf_free(&m);
    }
    free(buf);
    mproc_queue_free(q);
}

Test(queue, a_message_longer_than_the_capacity_is_refused_too_big)
{
    mproc_queue *q = new_queue(0, 65536);
    unsigned char *buf = calloc(1, 65536);
    size_t n;

    cr_assert_not_null(buf);
    cr_assert_eq(mproc_queue_put(q, buf, 65536 - 7, 0), MPROC_ETOOBIG);
    cr_assert_eq(mproc_queue_put(q, buf, 65536, MPROC_FOREVER), MPROC_ETOOBIG);
    cr_assert(mproc_queue_empty(q));
    fill(buf, 65536 - 8, 3);
    cr_assert_eq(mproc_queue_put(q, buf, 65536 - 8, 0), 0, "exactly fits");
    cr_assert_eq(mproc_queue_put(q, buf, 0, 0), MPROC_EFULL);
    memset(buf, 0, 65536);
    cr_assert_eq(mproc_queue_get_into(q, buf, 65536, &n, 0), 0);
    cr_assert_eq(n, 65536u - 8);
    cr_assert(check(buf, n, 3));
    free(buf);
    mproc_queue_free(q);
}

/* ---- killed inside an operation ------------------------------------------ */

/* The child stops inside the queue's copy: its source or destination has
 * an unreadable (or unwritable) second half, so the copy faults there; the
 * handler tells the parent through a pipe and waits to be killed. */
static int fault_pipe = -1;

static void
on_fault(int sig)
{
    char c = 1;

    (void)sig;
    (void)!write(fault_pipe, &c, 1);
    for (;;)
        pause();
}

#define KILL_LEN ((size_t)1 << 20)

/* An area of KILL_LEN bytes whose second half faults. */
static unsigned char *
half_faulting(void)
{
    unsigned char *p = mmap(NULL, KILL_LEN, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    fill(p, KILL_LEN / 2, 9);
    if (mprotect(p + KILL_LEN / 2, KILL_LEN / 2, PROT_NONE) < 0)
        return NULL;
    return p;
}

/* a: queue. n == 0: put a message whose copy faults; 1: get into a
 * buffer whose copy faults. */
static int
fault_inside(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    struct sigaction sa;
    mproc_queue *q = NULL;
    unsigned char *p = half_faulting();
    size_t n;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fault;
    if (p == NULL || mproc_queue_from_token(&q, &j.a) != 0 ||
        sigaction(SIGSEGV, &sa, NULL) < 0)
        return 10;
    if (j.n == 0)
        (void)mproc_queue_put(q, p, KILL_LEN, 30);
    else
        (void)mproc_queue_get_into(q, p, KILL_LEN, &n, 30);
    return 11; /* the copy did not fault */
}

/* Start fault_inside, wait until it faulted inside the operation, kill
 * it. */
static void
kill_inside(mproc_queue *q, int n)
{
    struct job j = job_of(q, NULL);
    struct pollfd pfd;
    int fds[2];
    mproc_process *p;
    char c;

    cr_assert_eq(pipe(fds), 0);
    fault_pipe = fds[1];
    j.n = n;
    p = start(fault_inside, &j, MPROC_START_FORK);
    pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
    cr_assert_eq(poll(&pfd, 1, 30000), 1, "the child never faulted");
    cr_assert_eq(read(fds[0], &c, 1), 1);
    cr_assert_eq(mproc_process_kill(p), 0);
    cr_assert_eq(join(p), -SIGKILL);
    close(fds[0]);
    close(fds[1]);
}

Test(queue, a_producer_killed_inside_put_leaves_nothing_and_blocks_no_one)
{
    mproc_queue *q = new_queue(0, 4 << 20);
    mproc_buf m;

    put_u32(q, 1);
    kill_inside(q, 0);
    /* The half-written message is not there; the put lock is taken over. */
    put_u32(q, 2);
    cr_assert_eq(get_u32(q, 10), 1u);
    cr_assert_eq(get_u32(q, 10), 2u);
    cr_assert_eq(mproc_queue_get(q, &m, 0), MPROC_EEMPTY);
    mproc_queue_free(q);
}

Test(queue, a_consumer_killed_inside_get_loses_nothing_and_blocks_no_one)
{
    mproc_queue *q = new_queue(0, 4 << 20);
    unsigned char *buf = malloc(KILL_LEN);
    mproc_buf m;

    cr_assert_not_null(buf);
    fill(buf, KILL_LEN, 9);
    cr_assert_eq(mproc_queue_put(q, buf, KILL_LEN, 0), 0);
    put_u32(q, 2);
    kill_inside(q, 1);
    /* The message the dead consumer was copying is still first. */
    cr_assert_eq(mproc_queue_get(q, &m, 10), 0);
    cr_assert_eq(m.len, KILL_LEN);
    cr_assert(check(m.data, m.len, 9));
    mproc_buf_free(&m);
    cr_assert_eq(get_u32(q, 10), 2u);
    free(buf);
    mproc_queue_free(q);
}

/* ---- close -------------------------------------------------------------- */

/* a: queue. Get until an error; exit 0 when it is MPROC_ECLOSED after
 * exactly n messages. */
static int
get_until_closed(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL;
    int got = 0, rc;
    mproc_buf m;

    if (mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    while ((rc = mproc_queue_get(q, &m, MPROC_FOREVER)) == 0) {
        mproc_buf_free(&m);
        got++;
    }
    mproc_queue_free(q);
    return rc == MPROC_ECLOSED && got == j.n ? 0 : 11;
}

Test(queue, close_refuses_puts_drains_gets_and_wakes_waiters)
{
    mproc_queue *q = new_queue(0, 0), *empty = new_queue(0, 0);
    struct job j = job_of(empty, NULL);
    mproc_process *waiter = start(get_until_closed, &j, MPROC_START_FORK);
    mproc_buf m;

    put_u32(q, 1);
    put_u32(q, 2);
    cr_assert_eq(mproc_queue_close(q), 0);
    cr_assert_eq(mproc_queue_close(q), 0, "closing twice is harmless");
    cr_assert_eq(mproc_queue_put(q, "x", 1, 0), MPROC_ECLOSED);
    cr_assert_eq(get_u32(q, 0), 1u);
    cr_assert_eq(get_u32(q, 0), 2u);
    cr_assert_eq(mproc_queue_get(q, &m, 0), MPROC_ECLOSED);
    cr_assert_eq(mproc_queue_get(q, &m, MPROC_FOREVER), MPROC_ECLOSED);

    /* A consumer blocked forever on an empty queue is woken by close. */
    cr_assert_eq(mproc_queue_close(empty), 0);
    cr_assert_eq(join(waiter), 0);
    mproc_queue_free(q);
    mproc_queue_free(empty);
}

Test(queue, join_thread_and_cancel_join_thread_have_nothing_to_do)
{
    mproc_queue *q = new_queue(0, 0);

    cr_assert_eq(mproc_queue_join_thread(q), 0);
    cr_assert_eq(mproc_queue_cancel_join_thread(q), 0);
    cr_assert_eq(mproc_queue_join_thread(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_cancel_join_thread(NULL), MPROC_EINVAL);
    mproc_queue_free(q);
}

/* ---- get_into, objects, SimpleQueue ------------------------------------- */

Test(queue, get_into_a_short_buffer_reports_the_size_and_keeps_the_message)
{
    mproc_queue *q = new_queue(0, 0);
    char buf[64];
    size_t n = 0;

    cr_assert_eq(mproc_queue_put(q, "hello world", 11, 0), 0);
    cr_assert_eq(mproc_queue_get_into(q, buf, 4, &n, 0), MPROC_ETOOSHORT);
    cr_assert_eq(n, 11u);
    cr_assert_eq(mproc_queue_get_into(q, NULL, 0, &n, 0), MPROC_ETOOSHORT);
    cr_assert_eq(mproc_queue_get_into(q, buf, sizeof(buf), &n, 0), 0);
    cr_assert_eq(n, 11u);
    cr_assert_eq(memcmp(buf, "hello world", 11), 0);
    mproc_queue_free(q);
}

Test(queue, objects_go_through_and_an_unencodable_one_takes_no_place)
{
    mproc_queue *q = new_queue(0, 0);
    mproc_obj *o = TH_OBJ("[i n s]", 42, "hello"), *back = NULL, *loop, *inner;
    size_t n;

    cr_assert_eq(mproc_queue_put_obj(q, o, 0), 0);
    cr_assert_eq(mproc_queue_get_obj(q, &back, 0), 0);
    cr_assert(mproc_obj_equal(o, back));
    mproc_obj_free(back);

    /* A list inside a list inside the first: recursive, not encodable. */
    loop = TH_OBJ("[i]", 1);
    inner = TH_OBJ("[O]", loop);
    cr_assert_eq(mproc_obj_list_append(loop, inner), 0);
    cr_assert_eq(mproc_queue_put_obj(q, loop, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_qsize(q, &n), 0);
    cr_assert_eq(n, 0u);
    cr_assert(mproc_queue_empty(q));
    /* Break the cycle so both can be freed. */
    cr_assert_eq(mproc_obj_list_delete(loop, 1), 0);
    mproc_obj_free(inner);
    mproc_obj_free(loop);

    /* Bytes that are not a pickle are taken, and refused as an object. */
    cr_assert_eq(mproc_queue_put(q, "junk", 4, 0), 0);
    cr_assert_eq(mproc_queue_get_obj(q, &back, 0), MPROC_EPROTOCOL);
    cr_assert_null(back);
    cr_assert(mproc_queue_empty(q));
    mproc_obj_free(o);
    mproc_queue_free(q);
}

Test(queue, simple_queue_puts_gets_and_closes)
{
    mproc_queue *q = NULL;
    mproc_buf m;

    cr_assert_eq(mproc_simple_queue_new(&q), 0);
    cr_assert(mproc_queue_empty(q));
    cr_assert_eq(mproc_queue_put(q, "a", 1, MPROC_FOREVER), 0);
    cr_assert_not(mproc_queue_empty(q));
    cr_assert_not(mproc_queue_full(q));
    cr_assert_eq(mproc_queue_get(q, &m, MPROC_FOREVER), 0);
    cr_assert_eq(m.len, 1u);
    cr_assert_eq(*(char *)m.data, 'a');
    mproc_buf_free(&m);
    cr_assert_eq(mproc_queue_task_done(q), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_close(q), 0);
    cr_assert_eq(mproc_queue_get(q, &m, 0), MPROC_ECLOSED);
    mproc_queue_free(q);
}

/* ---- children of every start method -------------------------------------- */

static void
echo_through(enum mproc_start_method method)
{
    mproc_queue *in = new_queue(0, 0), *out = NULL;
    struct job j;
    mproc_process *p;
    mproc_buf m;

    cr_assert_eq(mproc_simple_queue_new(&out), 0);
    j = job_of(in, out);
    p = start(echo_once, &j, method);
    cr_assert_eq(mproc_queue_put(in, "ping", 4, 0), 0);
    cr_assert_eq(mproc_queue_get(out, &m, 30), 0);
    cr_assert_eq(m.len, 9u);
    cr_assert_eq(memcmp(m.data, "echo:ping", 9), 0);
    mproc_buf_free(&m);
    cr_assert_eq(join(p), 0);
    mproc_queue_free(in);
    mproc_queue_free(out);
}

Test(queue, queues_reach_spawn_children_as_tokens)
{
    echo_through(MPROC_START_SPAWN);
}

Test(queue, queues_reach_forkserver_children_as_tokens)
{
    echo_through(MPROC_START_FORKSERVER);
}

Test(queue, queues_reach_fork_children_as_tokens)
{
    echo_through(MPROC_START_FORK);
}

/* ---- memory -------------------------------------------------------------- */

/* Bytes the arena's memfds hold now (their allocated blocks). */
static uint64_t
arena_bytes(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    uint64_t total = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        struct stat st;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strstr(target, "memfd:mproc-arena") != NULL && stat(path, &st) == 0)
            total += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return total;
}

#define BIG ((size_t)1 << 20)

/* a: queue. Put 100 messages of 1 MiB and 1600 of 64 KiB (200 MiB). */
static int
put_200_mib(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_queue *q = NULL, *filled = NULL;
    unsigned char *buf = malloc(BIG);

    if (buf == NULL || mproc_queue_from_token(&q, &j.a) != 0)
        return 10;
    fill(buf, BIG, 5);
    for (int i = 0; i < 100; i++) {
        if (mproc_queue_put(q, buf, BIG, 30) != 0)
            return 11;
        if (i == 59 && (mproc_queue_from_token(&filled, &j.b) != 0 ||
                        mproc_queue_put(filled, "", 0, 0) != 0))
            return 13;
    }
    for (int i = 0; i < 1600; i++)
        if (mproc_queue_put(q, buf, BIG / 16, 30) != 0)
            return 12;
    free(buf);
    mproc_queue_free(q);
    mproc_queue_free(filled);
    return 0;
}

Test(queue, a_drained_queue_gives_its_memory_back, .timeout = 120)
{
    mproc_queue *q = new_queue(0, 0), *filled = new_queue(0, 0);
    struct job j = job_of(q, filled);
    unsigned char *buf = malloc(BIG);
    uint64_t before = arena_bytes(), peak;
    mproc_process *p = start(put_200_mib, &j, MPROC_START_FORK);
    size_t n;

    cr_assert_not_null(buf);
    /* 60 MiB in the ring before the first get: the pages are taken. */
    cr_assert_eq(mproc_queue_get_into(filled, buf, BIG, &n, 30), 0);
    peak = arena_bytes();
    cr_assert_geq(peak, before + 60 * BIG);
    for (int i = 0; i < 1700; i++) {
        cr_assert_eq(mproc_queue_get_into(q, buf, BIG, &n, 30), 0);
        cr_assert_eq(n, i < 100 ? BIG : BIG / 16);
        cr_assert(check(buf, n, 5));
    }
    cr_assert_eq(join(p), 0);
    cr_assert(mproc_queue_empty(q));
    /* The first MiB stays, and less than a MiB not yet given back. */
    cr_assert_leq(arena_bytes(), before + 3 * BIG,
                  "%.1f MiB held after the drain (peak %.1f MiB)",
                  (double)(arena_bytes() - before) / BIG,
                  (double)(peak - before) / BIG);
    free(buf);
    mproc_queue_free(q);
    mproc_queue_free(filled);
}

Test(queue, small_steady_traffic_keeps_to_the_first_mib)
{
    mproc_queue *q = new_queue(0, 0);
    uint64_t before = arena_bytes();
    unsigned char buf[100];
    size_t n;

    fill(buf, sizeof(buf), 4);
    /* 20 MiB through the 64 MiB ring, never more than 10 messages deep. */
    for (int i = 0; i < 200000; i++) {
        cr_assert_eq(mproc_queue_put(q, buf, sizeof(buf), 0), 0);
        if (i >= 10)
            cr_assert_eq(mproc_queue_get_into(q, buf, sizeof(buf), &n, 0), 0);
    }
    cr_assert_leq(arena_bytes(), before + 2 * BIG);
    mproc_queue_free(q);
}

/* The ring goes back to its start early, while the consumers have left
 * room there; consumers that stop then must not cut the room to what they
 * left: a put that waited in vain, or ran out of time, goes on after the
 * lap they read, and the queue takes about its capacity. Order holds
 * through every jump. */
Test(queue, consumers_that_stop_after_an_early_wrap_still_leave_the_capacity)
{
    enum {
        CAP = 4 << 20,
        MSG = 64,
        REC_BYTES = 72
    };
    mproc_queue *q = new_queue(0, CAP);
    unsigned char buf[MSG];
    uint64_t put = 0, got = 0, v;
    size_t n;
    int rc;

    memset(buf, 0, sizeof(buf));
    /* Past the first MiB, then the consumers take a few and stop. */
    while (put * REC_BYTES < (1u << 20) + 4096) {
        memcpy(buf, &put, sizeof(put));
        cr_assert_eq(mproc_queue_put(q, buf, sizeof(buf), 0), 0);
        put++;
    }
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(mproc_queue_get_into(q, buf, sizeof(buf), &n, 0), 0);
        memcpy(&v, buf, sizeof(v));
        cr_assert_eq(v, got++);
    }
    /* A put that may wait takes the room too, once it waited in vain
     * (about 50 ms, once); then the rest, without waiting: the room is the
     * capacity, not the 14 KiB they left. */
    while ((put - got) * REC_BYTES < (uint64_t)CAP / 2) {
        memcpy(buf, &put, sizeof(put));
        cr_assert_eq(mproc_queue_put(q, buf, sizeof(buf), MPROC_FOREVER), 0);
        put++;
    }
    for (;;) {
        memcpy(buf, &put, sizeof(put));
        rc = mproc_queue_put(q, buf, sizeof(buf), 0);
        if (rc == MPROC_EFULL)
            break;
        cr_assert_eq(rc, 0);
        put++;
    }
    cr_assert_geq((put - got) * REC_BYTES, (uint64_t)CAP * 3 / 4,
                  "full with %llu bytes in a %d-byte ring",
                  (unsigned long long)((put - got) * REC_BYTES), CAP);
    /* Everything comes out, in order, and the ring goes on working. */
    for (int round = 0; round < 3; round++) {
        while (got < put) {
            cr_assert_eq(mproc_queue_get_into(q, buf, sizeof(buf), &n, 0), 0);
            memcpy(&v, buf, sizeof(v));
            cr_assert_eq(v, got, "message %llu came as %llu",
                         (unsigned long long)got, (unsigned long long)v);
            got++;
            /* Some more while draining, through the jumps. */
            if (got % 3 == 0) {
                memcpy(buf, &put, sizeof(put));
                rc = mproc_queue_put(q, buf, sizeof(buf), 0);
                cr_assert(rc == 0 || rc == MPROC_EFULL);
                put += rc == 0;
            }
        }
        for (int i = 0; i < 30000; i++) {
            memcpy(buf, &put, sizeof(put));
            if (mproc_queue_put(q, buf, sizeof(buf), 0) != 0)
                break;
            put++;
        }
    }
    while (got < put) {
        cr_assert_eq(mproc_queue_get_into(q, buf, sizeof(buf), &n, 0), 0);
        memcpy(&v, buf, sizeof(v));
        cr_assert_eq(v, got++);
    }
    cr_assert_eq(mproc_queue_get_into(q, buf, sizeof(buf), &n, 0),
                 MPROC_EEMPTY);
    mproc_queue_free(q);
}

/* ---- refusals ------------------------------------------------------------ */

Test(queue, bad_arguments_are_refused)
{
    mproc_queue *q = new_queue(0, 0), *r = (mproc_queue *)1;
    mproc_lock *l = NULL;
    mproc_token t;
    mproc_buf m;
    mproc_obj *o = (mproc_obj *)1;
    size_t n;

    cr_assert_eq(mproc_queue_new(NULL, NULL), MPROC_EINVAL);
    cr_assert_eq(
        mproc_queue_new(
            &r, &(mproc_queue_opts){ .capacity = ((size_t)2 << 30) + 1 }),
        MPROC_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(mproc_joinable_queue_new(NULL, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_simple_queue_new(NULL), MPROC_EINVAL);

    cr_assert_eq(mproc_queue_put(NULL, "x", 1, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_put(q, NULL, 1, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_put(q, "x", 1, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get(NULL, &m, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get(q, NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get(q, &m, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get_into(q, NULL, 1, &n, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get_into(q, &n, 1, NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_put_obj(q, NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get_obj(q, NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_get_obj(NULL, &o, 0), MPROC_EINVAL);
    cr_assert_null(o);
    cr_assert_eq(mproc_queue_qsize(NULL, &n), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_qsize(q, NULL), MPROC_EINVAL);
    cr_assert(mproc_queue_empty(NULL));
    cr_assert_not(mproc_queue_full(NULL));
    cr_assert_eq(mproc_queue_close(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_task_done(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_task_done(q), MPROC_EINVAL, "not joinable");
    cr_assert_eq(mproc_queue_join(q, 0), MPROC_EINVAL, "not joinable");
    cr_assert_eq(mproc_queue_token(NULL, &t), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_token(q, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_from_token(NULL, &t), MPROC_EINVAL);
    cr_assert_eq(mproc_queue_from_token(&r, NULL), MPROC_EINVAL);

    /* A token of another kind opens no queue. */
    cr_assert_eq(mproc_lock_new(&l), 0);
    cr_assert_eq(mproc_lock_token(l, &t), 0);
    cr_assert_eq(mproc_queue_from_token(&r, &t), MPROC_EINVAL);
    cr_assert_null(r);
    mproc_lock_free(l);
    mproc_queue_free(NULL);
    /* After all of it the queue works. */
    put_u32(q, 7);
    cr_assert_eq(get_u32(q, 0), 7u);
    mproc_queue_free(q);
}
