/*
 * tests/helpers/tasks.c - tasks, gates and tallies for the pool and future
 * suites (tasks.h). The tasks are plain functions of the test programs, so
 * spawn workers find them again by (object, offset).
 */
#include "helpers/tasks.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/th.h"

int64_t
i64_of(const void *p, size_t len)
{
    int64_t v;

    if (p == NULL || len != sizeof(v))
        return INT64_MIN;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Set *out to v's 8 bytes, as a task's result. */
int
put_i64(mproc_buf *out, int64_t v)
{
    out->data = malloc(sizeof(v));
    if (out->data == NULL)
        return mproc_task_fail(ENOMEM, "no memory");
    memcpy(out->data, &v, sizeof(v));
    out->len = sizeof(v);
    return 0;
}

/* The future's result, which must be 8 bytes and succeed in time. */
int64_t
future_i64(mproc_future *f, double timeout)
{
    mproc_buf b = { NULL, 0 };
    int64_t v;

    cr_assert_eq(mproc_future_get(f, &b, timeout), 0);
    cr_assert_eq(b.len, sizeof(int64_t));
    v = i64_of(b.data, b.len);
    mproc_buf_free(&b);
    return v;
}

void
tally_init(struct tally *t)
{
    pthread_condattr_t a;

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &a);
    pthread_condattr_destroy(&a);
    t->caller = pthread_self();
}

void
tally_destroy(struct tally *t)
{
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* Count one callback: ok or failed, right or wrong. */
void
tally_note(struct tally *t, bool ok, bool right)
{
    pthread_mutex_lock(&t->mu);
    if (ok)
        t->ok++;
    else
        t->failed++;
    t->calls++;
    if (!right)
        t->wrong++;
    if (pthread_equal(pthread_self(), t->caller))
        t->on_caller = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

int
tally_read(struct tally *t, const int *field)
{
    int v;

    pthread_mutex_lock(&t->mu);
    v = *field;
    pthread_mutex_unlock(&t->mu);
    return v;
}

/* Wait until *field (a field of t) reaches target; whether it did. */
bool
tally_wait(struct tally *t, const int *field, int target, double timeout)
{
    struct timespec ts;
    bool reached;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)timeout;
    ts.tv_nsec += (long)((timeout - floor(timeout)) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    while (*field < target &&
           pthread_cond_timedwait(&t->cv, &t->mu, &ts) == 0) {
    }
    reached = *field >= target;
    pthread_mutex_unlock(&t->mu);
    return reached;
}

struct gate
gate_new(void)
{
    struct gate g = { NULL, NULL };

    cr_assert_eq(mproc_event_new(&g.go), 0);
    cr_assert_eq(mproc_event_new(&g.started), 0);
    return g;
}

struct gate_arg
gate_arg(const struct gate *g, double limit, int64_t value)
{
    struct gate_arg a;

    memset(&a, 0, sizeof(a));
    cr_assert_eq(mproc_event_token(g->go, &a.go), 0);
    cr_assert_eq(mproc_event_token(g->started, &a.started), 0);
    a.limit = limit;
    a.value = value;
    return a;
}

void
gate_open(struct gate *g)
{
    cr_assert_eq(mproc_event_set(g->go), 0);
}

void
gate_wait_started(struct gate *g)
{
    cr_assert_eq(mproc_event_wait(g->started, 30), 0, "no task started");
}

void
gate_free(struct gate *g)
{
    mproc_event_free(g->go);
    mproc_event_free(g->started);
}

/* In a worker: set started, wait on go; the result, -1 if go stayed
 * clear, -2 if the events could not be found. */
int64_t
pass_gate(const void *arg, size_t len)
{
    mproc_event *go = NULL, *started = NULL;
    struct gate_arg a;
    int rc;

    if (len != sizeof(a))
        return -3;
    memcpy(&a, arg, sizeof(a));
    if (mproc_event_from_token(&go, &a.go) != 0 ||
        mproc_event_from_token(&started, &a.started) != 0) {
        mproc_event_free(go);
        return -2;
    }
    mproc_event_set(started);
    rc = mproc_event_wait(go, a.limit);
    mproc_event_free(go);
    mproc_event_free(started);
    return rc == 0 ? a.value : -1;
}

int
task_gate(const void *arg, size_t len, mproc_buf *out)
{
    return put_i64(out, pass_gate(arg, len));
}

/* in: a struct gate_arg; out: what the gate gave. */
int
item_gate(const void *in, void *out)
{
    int64_t v = pass_gate(in, sizeof(struct gate_arg));

    memcpy(out, &v, sizeof(v));
    return 0;
}

/* 2v; fails with 7 and a message when v is negative. */
int
task_double(const void *arg, size_t len, mproc_buf *out)
{
    int64_t v = i64_of(arg, len);

    if (v == INT64_MIN)
        return mproc_task_fail(100, "bad argument length %zu", len);
    if (v < 0)
        return mproc_task_fail(7, "negative %lld", (long long)v);
    return put_i64(out, 2 * v);
}

int
task_exit(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    (void)out;
    _exit(3);
}

/* The worker: pid in the high 32 bits, thread id in the low ones. */
int
task_ident(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    return put_i64(out, (int64_t)getpid() << 32 | (uint32_t)gettid());
}

pid_t
ident_pid(int64_t v)
{
    return (pid_t)(v >> 32);
}

/* The pid for processes, the thread id for threads. */
int32_t
ident_of(int64_t v, bool threads)
{
    return threads ? (int32_t)(uint32_t)v : (int32_t)(v >> 32);
}

int
task_kill_self(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    (void)out;
    kill(getpid(), SIGKILL);
    th_slow_block_forever();
    return 0;
}

/* Checks that it got no argument; gives no result. */
int
task_nothing(const void *arg, size_t len, mproc_buf *out)
{
    (void)out;
    if (arg != NULL || len != 0)
        return mproc_task_fail(100, "an argument where none was given");
    return 0;
}

/* The bytes reversed; nothing for nothing. */
int
task_reverse(const void *arg, size_t len, mproc_buf *out)
{
    const unsigned char *in = arg;
    unsigned char *r;

    if (len == 0)
        return 0;
    if (in[0] == '!')
        return mproc_task_fail(6, "refused %zu bytes", len);
    r = malloc(len);
    if (r == NULL)
        return mproc_task_fail(ENOMEM, "no memory");
    for (size_t i = 0; i < len; i++)
        r[i] = in[len - 1 - i];
    out->data = r;
    out->len = len;
    return 0;
}

/* v * v; fails with 7 and a message when v is negative. */
int
item_square(const void *in, void *out)
{
    int64_t v;

    memcpy(&v, in, sizeof(v));
    if (v < 0)
        return mproc_task_fail(7, "item %lld is negative", (long long)v);
    v *= v;
    memcpy(out, &v, sizeof(v));
    return 0;
}

/* v * v; fails with 9 and a message when v is negative. */
int
obj_square(const mproc_obj *arg, mproc_obj **out)
{
    int64_t v;

    if (mproc_obj_int_value(arg, &v) != 0)
        return mproc_task_fail(100, "not an int");
    if (v < 0)
        return mproc_task_fail(9, "no square for %lld", (long long)v);
    return mproc_obj_int(out, v * v);
}

/* 0 .. n-1, with item `bad` negated (so it fails). */
void
iota(int64_t *a, size_t n, long bad)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (long)i == bad ? -(int64_t)i : (int64_t)i;
}
