/*
 * tests/future.c - Executors and their futures against concurrent.futures'
 * own tests as behaviour, in both backends (worker processes and threads):
 * submit and result, cancel before and after a task starts, shutdown with
 * and without wait and with cancel_futures (thousands pending, callbacks
 * that submit), wait() with each return_when and its timeout,
 * as_completed's order, duplicates and timeout, done callbacks (order,
 * thread), exception(), running(), the future's descriptor, Executor.map
 * over typed items and over buffers with its overall timeout,
 * max_tasks_per_child, and every refusal. For processes only: a worker
 * that dies fails only its task and the executor goes on (where Python's
 * executor breaks).
 *
 * Tasks that must wait do so on mproc_events the test sets (made before
 * the executor, so forked workers map them); callbacks are awaited
 * through counts and a condition variable with a deadline; nothing sleeps
 * for luck. Tasks and callbacks never assert: they report, the test
 * asserts.
 */
#include "helpers/tasks.h"
#include "helpers/th.h"

#include <math.h>
#include <mproc/future.h>
#include <mproc/pool.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

TestSuite(future, .init = th_begin, .fini = th_end, .timeout = 60);

/* Run a behavioural test `name(bool threads)` under both backends. */
#define BOTH_BACKENDS(name)                                                    \
    Test(future, name##_in_processes)                                          \
    {                                                                          \
        name(false);                                                           \
    }                                                                          \
    Test(future, name##_in_threads)                                            \
    {                                                                          \
        name(true);                                                            \
    }

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

static mproc_executor *
new_executor_with(const mproc_executor_opts *o)
{
    mproc_executor *e = NULL;

    cr_assert_eq(mproc_executor_new(&e, o), 0);
    cr_assert_not_null(e);
    return e;
}

static mproc_executor *
new_executor(bool threads, int workers)
{
    return new_executor_with(
        &(mproc_executor_opts){ .max_workers = workers, .threads = threads });
}

static mproc_future *
submit_i64(mproc_executor *e, mproc_task_fn fn, int64_t v)
{
    mproc_future *f = NULL;

    cr_assert_eq(mproc_executor_submit(e, fn, &v, sizeof(v), &f), 0);
    cr_assert_not_null(f);
    return f;
}

/* Whether the flags of a wait are exactly want. */
static void
assert_done_set(const bool *done, const bool *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(done[i], want[i], "future %zu: done %d, want %d", i,
                     done[i], want[i]);
}

/* A done callback counting into the tally that is its ctx: ok when the
 * future (read with a zero timeout, as it is done) succeeded. */
static void
count_done(mproc_future *f, void *ctx)
{
    int rc = mproc_future_get(f, NULL, 0);

    tally_note(ctx, rc == 0, rc != MPROC_ETIMEDOUT && mproc_future_ready(f));
}

/* ---- tasks (never assert: they run in workers) -------------------------- */

/* Passes the gate, then fails with 5. */
static int
task_gate_then_fail(const void *arg, size_t len, mproc_buf *out)
{
    (void)out;
    return mproc_task_fail(5, "failed after the gate gave %lld",
                           (long long)pass_gate(arg, len));
}

static int
task_raise_segv(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    (void)out;
    raise(SIGSEGV);
    return mproc_task_fail(99, "SIGSEGV was not delivered");
}

/* fn(a) on e, gated by g (made before e); the task must start. */
static mproc_future *
submit_gated(mproc_executor *e, mproc_task_fn fn, struct gate *g, double limit,
             int64_t value)
{
    struct gate_arg a = gate_arg(g, limit, value);
    mproc_future *f = NULL;

    cr_assert_eq(mproc_executor_submit(e, fn, &a, sizeof(a), &f), 0);
    cr_assert_not_null(f);
    return f;
}

/* Occupy n workers with tasks held by the gates g[0..n-1]; each has
 * started when this returns. */
static void
fill_workers(mproc_executor *e, struct gate *g, mproc_future **f, int n)
{
    for (int i = 0; i < n; i++)
        f[i] = submit_gated(e, task_gate, &g[i], 30, 100 + i);
    for (int i = 0; i < n; i++)
        gate_wait_started(&g[i]);
}

/* ---- submit and result -------------------------------------------------- */

static void
submit_gives_the_result_bytes_or_the_failure(bool threads)
{
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *ok, *bad, *none = NULL;
    mproc_buf b = { (void *)1, 1 };
    const char *msg = (const char *)1;
    int code = -1;

    ok = submit_i64(e, task_double, 21);
    bad = submit_i64(e, task_double, -3);
    cr_assert_eq(mproc_executor_submit(e, task_nothing, NULL, 0, &none), 0);

    cr_assert_eq(future_i64(ok, 30), 42);
    cr_assert_eq(mproc_future_successful(ok), 1);
    cr_assert_not(mproc_future_cancelled(ok));
    cr_assert_not(mproc_future_running(ok));
    /* exception() of a success: 0, no message. */
    cr_assert_eq(mproc_future_exception(ok, &code, &msg, 30), 0);
    cr_assert_eq(code, 0);
    cr_assert_null(msg);

    cr_assert_eq(mproc_future_get(bad, &b, 30), MPROC_ETASK);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0u);
    cr_assert_eq(mproc_future_successful(bad), 0);
    cr_assert_eq(mproc_future_exception(bad, &code, &msg, 30), 0);
    cr_assert_eq(code, 7);
    cr_assert_str_eq(msg, "negative -3");
    cr_assert_eq(mproc_future_signal(bad), 0);

    /* No argument, no result. */
    b = (mproc_buf){ (void *)1, 1 };
    cr_assert_eq(mproc_future_get(none, &b, 30), 0);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0u);
    /* The result can be read again, and NULL drops it. */
    cr_assert_eq(mproc_future_get(ok, NULL, 0), 0);
    cr_assert_eq(future_i64(ok, MPROC_FOREVER), 42);
    mproc_executor_free(e);
    /* The futures outlive their executor. */
    cr_assert_eq(future_i64(ok, 0), 42);
    mproc_future_free(ok);
    mproc_future_free(bad);
    mproc_future_free(none);
}
BOTH_BACKENDS(submit_gives_the_result_bytes_or_the_failure)

static void
submit_obj_gives_objects_and_failures(bool threads)
{
    mproc_executor *e = new_executor(threads, 2);
    mproc_obj *arg = TH_OBJ("i", 12), *neg = TH_OBJ("i", -2), *out = NULL;
    mproc_future *f = NULL, *g = NULL;
    const char *msg = NULL;
    int64_t v = 0;
    int code = 0;

    cr_assert_eq(mproc_executor_submit_obj(e, obj_square, arg, &f), 0);
    cr_assert_eq(mproc_executor_submit_obj(e, obj_square, neg, &g), 0);
    cr_assert_eq(mproc_future_get_obj(f, &out, 30), 0);
    cr_assert_eq(mproc_obj_int_value(out, &v), 0);
    cr_assert_eq(v, 144);
    mproc_obj_free(out);
    out = NULL;
    cr_assert_eq(mproc_future_get_obj(g, &out, 30), MPROC_ETASK);
    cr_assert_null(out);
    cr_assert_eq(mproc_future_exception(g, &code, &msg, 30), 0);
    cr_assert_eq(code, 9);
    cr_assert_str_eq(msg, "no square for -2");
    mproc_executor_free(e);
    mproc_future_free(f);
    mproc_future_free(g);
    mproc_obj_free(arg);
    mproc_obj_free(neg);
}
BOTH_BACKENDS(submit_obj_gives_objects_and_failures)

static void
a_pending_future_times_out_everywhere_then_gives_its_result(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 1);
    mproc_future *f = submit_gated(e, task_gate, &g, 30, 77);
    mproc_buf b = { (void *)1, 1 };
    mproc_obj *o = (mproc_obj *)1;
    const char *msg = NULL;
    int code = 0;
    double t0;

    gate_wait_started(&g);
    cr_assert_not(mproc_future_ready(f));
    cr_assert(mproc_future_running(f));
    cr_assert_eq(mproc_future_successful(f), MPROC_ESTATE);
    cr_assert_eq(mproc_future_signal(f), 0);
    t0 = th_now();
    cr_assert_eq(mproc_future_get(f, &b, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_null(b.data);
    t0 = th_now();
    cr_assert_eq(mproc_future_get(f, &b, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_future_get_obj(f, &o, 0.1), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 1.0);
    cr_assert_null(o);
    t0 = th_now();
    cr_assert_eq(mproc_future_wait(f, 0.1), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_future_exception(f, &code, &msg, 0.1), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 1.0);

    gate_open(&g);
    cr_assert_eq(mproc_future_wait(f, 30), 0);
    cr_assert(mproc_future_ready(f));
    cr_assert_not(mproc_future_running(f));
    cr_assert_eq(future_i64(f, 0), 77);
    mproc_executor_free(e);
    mproc_future_free(f);
    gate_free(&g);
}
BOTH_BACKENDS(a_pending_future_times_out_everywhere_then_gives_its_result)

/* ---- cancel ------------------------------------------------------------- */

static void
cancel_before_start_succeeds_and_runs_the_done_callbacks(bool threads)
{
    struct gate g[2] = { gate_new(), gate_new() };
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *busy[2], *pending;
    struct tally t, now;
    const char *msg = NULL;
    int code = 0;

    tally_init(&t);
    tally_init(&now);
    fill_workers(e, g, busy, 2);
    pending = submit_i64(e, task_double, 21);
    cr_assert_eq(mproc_future_add_done_callback(pending, count_done, &t), 0);
    cr_assert(mproc_future_running(busy[0]));
    cr_assert(mproc_future_running(busy[1]));
    cr_assert_not(mproc_future_running(pending));
    cr_assert_not(mproc_future_ready(pending));

    cr_assert(mproc_future_cancel(pending));
    cr_assert(mproc_future_cancelled(pending));
    cr_assert(mproc_future_ready(pending));
    cr_assert_not(mproc_future_running(pending));
    cr_assert_eq(mproc_future_get(pending, NULL, 0), MPROC_ECANCELLED);
    cr_assert_eq(mproc_future_exception(pending, &code, &msg, 0),
                 MPROC_ECANCELLED);
    cr_assert_eq(code, MPROC_ECANCELLED);
    cr_assert_eq(mproc_future_successful(pending), 0);
    cr_assert(mproc_future_cancel(pending), "cancelled before: true again");
    cr_assert(tally_wait(&t, &t.failed, 1, 30), "no done callback");
    /* Added once cancelled: at once, in this thread. */
    cr_assert_eq(mproc_future_add_done_callback(pending, count_done, &now), 0);
    cr_assert_eq(now.failed, 1);
    cr_assert(now.on_caller);

    /* Running: cancel fails. */
    cr_assert_not(mproc_future_cancel(busy[0]));
    cr_assert_not(mproc_future_cancelled(busy[0]));
    cr_assert(mproc_future_running(busy[0]));
    gate_open(&g[0]);
    gate_open(&g[1]);
    cr_assert_eq(future_i64(busy[0], 30), 100);
    cr_assert_eq(future_i64(busy[1], 30), 101);
    cr_assert_not(mproc_future_cancel(busy[0]), "done: not cancelled");
    cr_assert_not(mproc_future_cancelled(busy[0]));
    mproc_executor_free(e);
    cr_assert_eq(t.calls, 1);
    cr_assert_eq(t.wrong, 0);
    cr_assert_eq(mproc_future_get(pending, NULL, 0), MPROC_ECANCELLED);
    mproc_future_free(busy[0]);
    mproc_future_free(busy[1]);
    mproc_future_free(pending);
    for (int i = 0; i < 2; i++)
        gate_free(&g[i]);
    tally_destroy(&t);
    tally_destroy(&now);
}
BOTH_BACKENDS(cancel_before_start_succeeds_and_runs_the_done_callbacks)

static void
cancel_right_before_shutdown_stays_cancelled_with_one_callback(bool threads)
{
    struct gate g[2] = { gate_new(), gate_new() };
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *busy[2], *a, *b, *c;
    struct tally t;

    tally_init(&t);
    fill_workers(e, g, busy, 2);
    a = submit_i64(e, task_double, 1);
    b = submit_i64(e, task_double, 2);
    c = submit_i64(e, task_double, 3);
    cr_assert_eq(mproc_future_add_done_callback(a, count_done, &t), 0);
    cr_assert_eq(mproc_future_add_done_callback(b, count_done, &t), 0);
    cr_assert(mproc_future_cancel(a));
    /* cancel_futures sweeps a again: its callback still runs once. */
    cr_assert_eq(mproc_executor_shutdown(e, false, true), 0);
    cr_assert(mproc_future_cancelled(b));
    cr_assert(mproc_future_cancelled(c));
    cr_assert_not(mproc_future_cancel(busy[0]));
    gate_open(&g[0]);
    gate_open(&g[1]);
    cr_assert_eq(mproc_executor_shutdown(e, true, false), 0);
    cr_assert_eq(future_i64(busy[0], 0), 100);
    cr_assert_eq(future_i64(busy[1], 0), 101);
    cr_assert(tally_wait(&t, &t.calls, 2, 30));
    mproc_executor_free(e);
    cr_assert_eq(t.calls, 2);
    cr_assert_eq(t.failed, 2);
    cr_assert_eq(t.wrong, 0);
    cr_assert_eq(mproc_future_get(a, NULL, 0), MPROC_ECANCELLED);
    cr_assert_eq(mproc_future_get(b, NULL, 0), MPROC_ECANCELLED);
    cr_assert_eq(mproc_future_get(c, NULL, 0), MPROC_ECANCELLED);
    mproc_future_free(busy[0]);
    mproc_future_free(busy[1]);
    mproc_future_free(a);
    mproc_future_free(b);
    mproc_future_free(c);
    for (int i = 0; i < 2; i++)
        gate_free(&g[i]);
    tally_destroy(&t);
}
BOTH_BACKENDS(cancel_right_before_shutdown_stays_cancelled_with_one_callback)

/* ---- shutdown ----------------------------------------------------------- */

static void
submit_after_shutdown_is_refused(bool threads)
{
    mproc_executor *e = new_executor(threads, 2);
    mproc_obj *arg = TH_OBJ("i", 2);
    mproc_buf bufs[1] = { { "ab", 2 } };
    int64_t in[2] = { 1, 2 };
    mproc_future *f = NULL;
    mproc_imap *it = NULL;
    int64_t v = 1;

    cr_assert_eq(mproc_executor_shutdown(e, false, false), 0);
    cr_assert_eq(mproc_executor_submit(e, task_double, &v, sizeof(v), &f),
                 MPROC_ESTATE);
    cr_assert_null(f);
    cr_assert_eq(mproc_executor_submit_obj(e, obj_square, arg, &f),
                 MPROC_ESTATE);
    cr_assert_null(f);
    cr_assert_eq(
        mproc_executor_map(e, item_square, in, 2, 8, 8, 0, MPROC_FOREVER, &it),
        MPROC_ESTATE);
    cr_assert_null(it);
    cr_assert_eq(mproc_executor_map_bufs(e, task_reverse, bufs, 1, 0,
                                         MPROC_FOREVER, &it),
                 MPROC_ESTATE);
    cr_assert_null(it);
    /* Again: it only waits. */
    cr_assert_eq(mproc_executor_shutdown(e, true, false), 0);
    cr_assert_eq(mproc_executor_shutdown(e, true, true), 0);
    cr_assert_eq(mproc_executor_submit(e, task_double, &v, sizeof(v), &f),
                 MPROC_ESTATE);
    mproc_executor_free(e);
    mproc_obj_free(arg);
}
BOTH_BACKENDS(submit_after_shutdown_is_refused)

struct shutdown_call {
    mproc_executor *e;
    bool wait, cancel;
    mproc_event *returned;
    int rc;
};

static void *
call_shutdown(void *arg)
{
    struct shutdown_call *s = arg;

    s->rc = mproc_executor_shutdown(s->e, s->wait, s->cancel);
    mproc_event_set(s->returned);
    return NULL;
}

static void
shutdown_with_wait_waits_for_the_running_and_queued_tasks(bool threads)
{
    struct gate g[2] = { gate_new(), gate_new() };
    mproc_executor *e = new_executor(threads, 2);
    struct shutdown_call s = { .e = e, .wait = true, .rc = 1 };
    mproc_future *busy[2], *queued[4];
    pthread_t th;

    cr_assert_eq(mproc_event_new(&s.returned), 0);
    fill_workers(e, g, busy, 2);
    for (int i = 0; i < 4; i++)
        queued[i] = submit_i64(e, task_double, i);
    cr_assert_eq(pthread_create(&th, NULL, call_shutdown, &s), 0);
    /* The tasks run on: shutdown has not returned. */
    cr_assert_eq(mproc_event_wait(s.returned, 0.3), MPROC_ETIMEDOUT);
    gate_open(&g[0]);
    gate_open(&g[1]);
    cr_assert_eq(mproc_event_wait(s.returned, 30), 0);
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, 0);
    /* Everything ran: none was cancelled. */
    for (int i = 0; i < 2; i++) {
        cr_assert(mproc_future_ready(busy[i]));
        cr_assert_eq(future_i64(busy[i], 0), 100 + i);
        mproc_future_free(busy[i]);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert(mproc_future_ready(queued[i]));
        cr_assert_eq(future_i64(queued[i], 0), 2 * i);
        mproc_future_free(queued[i]);
    }
    mproc_executor_free(e);
    mproc_event_free(s.returned);
    for (int i = 0; i < 2; i++)
        gate_free(&g[i]);
}
BOTH_BACKENDS(shutdown_with_wait_waits_for_the_running_and_queued_tasks)

static void
shutdown_without_wait_returns_at_once_and_free_waits(bool threads)
{
    struct gate g[2] = { gate_new(), gate_new() };
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *busy[2], *queued;
    double t0;

    fill_workers(e, g, busy, 2);
    queued = submit_i64(e, task_double, 4);
    t0 = th_now();
    cr_assert_eq(mproc_executor_shutdown(e, false, false), 0);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_not(mproc_future_ready(busy[0]));
    cr_assert_not(mproc_future_ready(queued));
    gate_open(&g[0]);
    gate_open(&g[1]);
    mproc_executor_free(e);
    cr_assert_eq(future_i64(busy[0], 0), 100);
    cr_assert_eq(future_i64(busy[1], 0), 101);
    cr_assert_eq(future_i64(queued, 0), 8);
    mproc_future_free(busy[0]);
    mproc_future_free(busy[1]);
    mproc_future_free(queued);
    for (int i = 0; i < 2; i++)
        gate_free(&g[i]);
}
BOTH_BACKENDS(shutdown_without_wait_returns_at_once_and_free_waits)

#define N_PENDING 3000

/* A done callback that submits to its executor, which is shut down by
 * then: it must be refused. */
struct resubmit {
    mproc_executor *e;
    struct tally *t;
    int refused, accepted, other; /* atomics */
};

static void
resubmit(mproc_future *f, void *ctx)
{
    struct resubmit *r = ctx;
    mproc_future *g = NULL;
    int64_t v = 1;
    int rc = mproc_executor_submit(r->e, task_double, &v, sizeof(v), &g);

    if (rc == MPROC_ESTATE)
        __atomic_fetch_add(&r->refused, 1, __ATOMIC_SEQ_CST);
    else if (rc == 0)
        __atomic_fetch_add(&r->accepted, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&r->other, 1, __ATOMIC_SEQ_CST);
    mproc_future_free(g);
    count_done(f, r->t);
}

static void
shutdown_cancel_futures_cancels_thousands_pending_and_lets_running_finish(
    bool threads)
{
    struct gate g[2] = { gate_new(), gate_new() };
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *busy[2], **f = calloc(N_PENDING, sizeof(*f));
    struct tally t;
    struct resubmit r = { .e = e, .t = &t };
    double t0;

    cr_assert_not_null(f);
    tally_init(&t);
    fill_workers(e, g, busy, 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(mproc_future_add_done_callback(busy[i], resubmit, &r), 0);
    for (int i = 0; i < N_PENDING; i++) {
        f[i] = submit_i64(e, task_double, i);
        cr_assert_eq(mproc_future_add_done_callback(f[i], resubmit, &r), 0);
    }
    t0 = th_now();
    cr_assert_eq(mproc_executor_shutdown(e, false, true), 0);
    th_assert_elapsed(t0, 0, 5.0);
    for (int i = 0; i < N_PENDING; i++)
        cr_assert(mproc_future_cancelled(f[i]), "future %d", i);
    cr_assert(tally_wait(&t, &t.calls, N_PENDING, 30), "callbacks: %d",
              tally_read(&t, &t.calls));
    cr_assert_not(mproc_future_ready(busy[0]));
    cr_assert_not(mproc_future_ready(busy[1]));
    gate_open(&g[0]);
    gate_open(&g[1]);
    cr_assert_eq(mproc_executor_shutdown(e, true, true), 0);
    cr_assert_eq(future_i64(busy[0], 0), 100);
    cr_assert_eq(future_i64(busy[1], 0), 101);
    cr_assert(tally_wait(&t, &t.calls, N_PENDING + 2, 30));
    mproc_executor_free(e);
    cr_assert_eq(t.calls, N_PENDING + 2);
    cr_assert_eq(t.failed, N_PENDING);
    cr_assert_eq(t.ok, 2);
    cr_assert_eq(t.wrong, 0);
    cr_assert_eq(r.refused, N_PENDING + 2, "refused %d accepted %d other %d",
                 r.refused, r.accepted, r.other);
    for (int i = 0; i < N_PENDING; i++) {
        cr_assert_eq(mproc_future_get(f[i], NULL, 0), MPROC_ECANCELLED);
        mproc_future_free(f[i]);
    }
    mproc_future_free(busy[0]);
    mproc_future_free(busy[1]);
    free(f);
    for (int i = 0; i < 2; i++)
        gate_free(&g[i]);
    tally_destroy(&t);
}
BOTH_BACKENDS(
    shutdown_cancel_futures_cancels_thousands_pending_and_lets_running_finish)

static void
shutdown_cancel_futures_with_wait_never_deadlocks_on_callbacks_that_submit(
    bool threads)
{
    struct gate g[2] = { gate_new(), gate_new() };
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *busy[2], **f = calloc(N_PENDING, sizeof(*f));
    struct tally t;
    struct resubmit r = { .e = e, .t = &t };
    double t0;

    cr_assert_not_null(f);
    tally_init(&t);
    /* The gates never open: each running task waits 0.5 s, then ends. */
    for (int i = 0; i < 2; i++)
        busy[i] = submit_gated(e, task_gate, &g[i], 0.5, 1);
    for (int i = 0; i < 2; i++) {
        gate_wait_started(&g[i]);
        cr_assert_eq(mproc_future_add_done_callback(busy[i], resubmit, &r), 0);
    }
    for (int i = 0; i < N_PENDING; i++) {
        f[i] = submit_i64(e, task_double, i);
        cr_assert_eq(mproc_future_add_done_callback(f[i], resubmit, &r), 0);
    }
    t0 = th_now();
    cr_assert_eq(mproc_executor_shutdown(e, true, true), 0);
    th_assert_elapsed(t0, 0, 10.0);
    cr_assert(mproc_future_ready(busy[0]));
    cr_assert(mproc_future_ready(busy[1]));
    cr_assert_eq(future_i64(busy[0], 0), -1);
    cr_assert_eq(future_i64(busy[1], 0), -1);
    cr_assert(tally_wait(&t, &t.calls, N_PENDING + 2, 30), "callbacks: %d",
              tally_read(&t, &t.calls));
    mproc_executor_free(e);
    cr_assert_eq(t.failed, N_PENDING);
    cr_assert_eq(t.ok, 2);
    cr_assert_eq(t.wrong, 0);
    cr_assert_eq(r.refused, N_PENDING + 2, "refused %d accepted %d other %d",
                 r.refused, r.accepted, r.other);
    for (int i = 0; i < N_PENDING; i++) {
        cr_assert(mproc_future_cancelled(f[i]), "future %d", i);
        mproc_future_free(f[i]);
    }
    mproc_future_free(busy[0]);
    mproc_future_free(busy[1]);
    free(f);
    for (int i = 0; i < 2; i++)
        gate_free(&g[i]);
    tally_destroy(&t);
}
BOTH_BACKENDS(
    shutdown_cancel_futures_with_wait_never_deadlocks_on_callbacks_that_submit)

/* A done callback that shuts its own executor down. */
struct self_shutdown {
    mproc_executor *e;
    struct tally *t;
    int with_wait, without_wait, submit;
};

static void
shut_down_from_callback(mproc_future *f, void *ctx)
{
    struct self_shutdown *s = ctx;
    mproc_future *g = NULL;
    int64_t v = 1;

    (void)f;
    s->with_wait = mproc_executor_shutdown(s->e, true, false);
    s->without_wait = mproc_executor_shutdown(s->e, false, false);
    s->submit = mproc_executor_submit(s->e, task_double, &v, sizeof(v), &g);
    mproc_future_free(g);
    tally_note(s->t, true, true);
}

static void
a_done_callback_may_shut_down_its_executor_but_not_wait_for_it(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 1);
    struct tally t;
    struct self_shutdown s = { e, &t, 1, 1, 1 };
    mproc_future *f;

    tally_init(&t);
    f = submit_gated(e, task_gate, &g, 30, 3);
    gate_wait_started(&g);
    cr_assert_eq(mproc_future_add_done_callback(f, shut_down_from_callback, &s),
                 0);
    gate_open(&g);
    cr_assert(tally_wait(&t, &t.calls, 1, 30));
    cr_assert_not(t.on_caller);
    cr_assert_eq(s.with_wait, MPROC_ESTATE);
    cr_assert_eq(s.without_wait, 0);
    cr_assert_eq(s.submit, MPROC_ESTATE);
    cr_assert_eq(mproc_executor_shutdown(e, true, false), 0);
    cr_assert_eq(future_i64(f, 0), 3);
    mproc_executor_free(e);
    mproc_future_free(f);
    gate_free(&g);
    tally_destroy(&t);
}
BOTH_BACKENDS(a_done_callback_may_shut_down_its_executor_but_not_wait_for_it)

/* ---- wait --------------------------------------------------------------- */

static void
wait_returns_exactly_the_done_set_for_each_return_when(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *fs[3];
    bool done[3];
    size_t nd = 99;
    double t0;

    fs[0] = submit_i64(e, task_double, 1);
    fs[1] = submit_i64(e, task_double, -1);
    cr_assert_eq(mproc_future_wait(fs[0], 30), 0);
    cr_assert_eq(mproc_future_wait(fs[1], 30), 0);
    fs[2] = submit_gated(e, task_gate, &g, 30, 9);
    gate_wait_started(&g);

    /* One succeeded, one failed, one blocked: FIRST_COMPLETED and
     * FIRST_EXCEPTION answer at once with the two. */
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 3, MPROC_FIRST_COMPLETED, 30, done, &nd), 0);
    th_assert_elapsed(t0, 0, 1.0);
    assert_done_set(done, (bool[]){ true, true, false }, 3);
    cr_assert_eq(nd, 2u);
    t0 = th_now();
    nd = 99;
    cr_assert_eq(
        mproc_wait_futures(fs, 3, MPROC_FIRST_EXCEPTION, 30, done, &nd), 0);
    th_assert_elapsed(t0, 0, 1.0);
    assert_done_set(done, (bool[]){ true, true, false }, 3);
    cr_assert_eq(nd, 2u);
    /* ALL_COMPLETED runs out of time: 0, the blocked one not done. */
    t0 = th_now();
    nd = 99;
    cr_assert_eq(mproc_wait_futures(fs, 3, MPROC_ALL_COMPLETED, 0.3, done, &nd),
                 0);
    th_assert_elapsed(t0, 0.3, 1.5);
    assert_done_set(done, (bool[]){ true, true, false }, 3);
    cr_assert_eq(nd, 2u);
    /* A timeout of 0 looks once. */
    t0 = th_now();
    nd = 99;
    cr_assert_eq(mproc_wait_futures(fs, 3, MPROC_ALL_COMPLETED, 0, done, &nd),
                 0);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_eq(nd, 2u);
    /* Nothing done yet: FIRST_COMPLETED runs out of time too. */
    t0 = th_now();
    nd = 99;
    cr_assert_eq(
        mproc_wait_futures(&fs[2], 1, MPROC_FIRST_COMPLETED, 0.2, done, &nd),
        0);
    th_assert_elapsed(t0, 0.2, 1.5);
    cr_assert_not(done[0]);
    cr_assert_eq(nd, 0u);
    /* done and ndone may be NULL. */
    cr_assert_eq(mproc_wait_futures(fs, 2, MPROC_ALL_COMPLETED, 30, NULL, NULL),
                 0);

    gate_open(&g);
    nd = 99;
    t0 = th_now();
    cr_assert_eq(mproc_wait_futures(fs, 3, MPROC_ALL_COMPLETED, 30, done, &nd),
                 0);
    th_assert_elapsed(t0, 0, 5.0);
    assert_done_set(done, (bool[]){ true, true, true }, 3);
    cr_assert_eq(nd, 3u);
    cr_assert_eq(future_i64(fs[2], 0), 9);
    /* No futures: done at once. */
    nd = 99;
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(NULL, 0, MPROC_FIRST_COMPLETED, 30, NULL, &nd), 0);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_eq(nd, 0u);
    mproc_executor_free(e);
    for (int i = 0; i < 3; i++)
        mproc_future_free(fs[i]);
    gate_free(&g);
}
BOTH_BACKENDS(wait_returns_exactly_the_done_set_for_each_return_when)

static void
wait_first_exception_returns_when_the_failing_one_is_done(bool threads)
{
    struct gate blocked = gate_new(), failing = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *fs[4];
    const char *msg = NULL;
    bool done[4];
    size_t nd = 99;
    int code = 0;
    double t0;

    fs[0] = submit_i64(e, task_double, 5);
    cr_assert_eq(future_i64(fs[0], 30), 10);
    fs[1] = submit_gated(e, task_gate, &blocked, 30, 1);
    fs[2] = submit_gated(e, task_gate_then_fail, &failing, 30, 2);
    gate_wait_started(&blocked);
    gate_wait_started(&failing);
    /* Both workers are busy: this one stays pending, then is cancelled,
     * which is no exception. */
    fs[3] = submit_i64(e, task_double, 6);
    cr_assert(mproc_future_cancel(fs[3]));

    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 4, MPROC_FIRST_EXCEPTION, 0.2, done, &nd), 0);
    th_assert_elapsed(t0, 0.2, 1.5);
    assert_done_set(done, (bool[]){ true, false, false, true }, 4);
    cr_assert_eq(nd, 2u);

    gate_open(&failing);
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 4, MPROC_FIRST_EXCEPTION, 30, done, &nd), 0);
    th_assert_elapsed(t0, 0, 5.0);
    assert_done_set(done, (bool[]){ true, false, true, true }, 4);
    cr_assert_eq(nd, 3u);
    cr_assert_eq(mproc_future_get(fs[2], NULL, 0), MPROC_ETASK);
    cr_assert_eq(mproc_future_exception(fs[2], &code, &msg, 0), 0);
    cr_assert_eq(code, 5);
    cr_assert_str_eq(msg, "failed after the gate gave 2");

    /* Without a failure, FIRST_EXCEPTION is ALL_COMPLETED. */
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 2, MPROC_FIRST_EXCEPTION, 0.2, done, &nd), 0);
    th_assert_elapsed(t0, 0.2, 1.5);
    assert_done_set(done, (bool[]){ true, false }, 2);
    gate_open(&blocked);
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 2, MPROC_FIRST_EXCEPTION, 30, done, &nd), 0);
    th_assert_elapsed(t0, 0, 5.0);
    assert_done_set(done, (bool[]){ true, true }, 2);
    cr_assert_eq(nd, 2u);
    cr_assert_eq(future_i64(fs[1], 0), 1);
    mproc_executor_free(e);
    for (int i = 0; i < 4; i++)
        mproc_future_free(fs[i]);
    gate_free(&blocked);
    gate_free(&failing);
}
BOTH_BACKENDS(wait_first_exception_returns_when_the_failing_one_is_done)

static void
wait_counts_a_future_given_twice_once(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *fs[3];
    bool done[3];
    double t0;

    fs[0] = submit_gated(e, task_gate, &g, 30, 4);
    fs[1] = fs[0];
    fs[2] = submit_i64(e, task_double, 2);
    cr_assert_eq(future_i64(fs[2], 30), 4);
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 3, MPROC_ALL_COMPLETED, 0.2, done, NULL), 0);
    th_assert_elapsed(t0, 0.2, 1.5);
    assert_done_set(done, (bool[]){ false, false, true }, 3);
    gate_open(&g);
    t0 = th_now();
    cr_assert_eq(mproc_wait_futures(fs, 3, MPROC_ALL_COMPLETED, 30, done, NULL),
                 0);
    th_assert_elapsed(t0, 0, 5.0);
    assert_done_set(done, (bool[]){ true, true, true }, 3);
    mproc_executor_free(e);
    mproc_future_free(fs[0]);
    mproc_future_free(fs[2]);
    gate_free(&g);
}
BOTH_BACKENDS(wait_counts_a_future_given_twice_once)

/* ---- as_completed ------------------------------------------------------- */

/* The next future of it, which must come within 30 s. */
static mproc_future *
next_completed(mproc_as_completed_iter *it)
{
    mproc_future *f = NULL;
    double t0 = th_now();

    cr_assert_eq(mproc_as_completed_next(it, &f), 0);
    cr_assert_not_null(f);
    /* Woken by the completion, not by the iteration's timeout. */
    th_assert_elapsed(t0, 0, 5.0);
    return f;
}

static void
as_completed_gives_done_ones_first_then_completion_order(bool threads)
{
    struct gate g1 = gate_new(), g2 = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *d1, *d2, *f1, *f2, *got = (mproc_future *)1;
    mproc_as_completed_iter *it = NULL;

    d1 = submit_i64(e, task_double, 1);
    d2 = submit_i64(e, task_double, 2);
    cr_assert_eq(future_i64(d1, 30), 2);
    cr_assert_eq(future_i64(d2, 30), 4);
    f1 = submit_gated(e, task_gate, &g1, 30, 1);
    f2 = submit_gated(e, task_gate, &g2, 30, 2);
    gate_wait_started(&g1);
    gate_wait_started(&g2);
    {
        /* Given in another order than they finish, d1 twice. */
        mproc_future *fs[] = { f2, d1, f1, d2, d1 };

        cr_assert_eq(mproc_as_completed(fs, N_OF(fs), 30, &it), 0);
        cr_assert_not_null(it);
    }
    cr_assert_eq(next_completed(it), d1);
    cr_assert_eq(next_completed(it), d2);
    gate_open(&g1);
    cr_assert_eq(next_completed(it), f1);
    cr_assert(mproc_future_ready(f1));
    cr_assert_not(mproc_future_ready(f2));
    gate_open(&g2);
    cr_assert_eq(next_completed(it), f2);
    cr_assert(mproc_future_ready(f2));
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_EEOF);
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_EEOF);
    mproc_as_completed_free(it);

    /* Nothing given: the end at once. */
    cr_assert_eq(mproc_as_completed(NULL, 0, 30, &it), 0);
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_EEOF);
    mproc_as_completed_free(it);
    mproc_executor_free(e);
    mproc_future_free(d1);
    mproc_future_free(d2);
    mproc_future_free(f1);
    mproc_future_free(f2);
    gate_free(&g1);
    gate_free(&g2);
}
BOTH_BACKENDS(as_completed_gives_done_ones_first_then_completion_order)

static void
as_completed_times_out_then_still_gives_what_finishes(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *d, *f, *got = NULL;
    mproc_as_completed_iter *it = NULL;
    double t0;

    d = submit_i64(e, task_double, 3);
    cr_assert_eq(mproc_future_wait(d, 30), 0);
    f = submit_gated(e, task_gate, &g, 30, 5);
    gate_wait_started(&g);
    t0 = th_now();
    {
        mproc_future *fs[] = { f, d };

        cr_assert_eq(mproc_as_completed(fs, N_OF(fs), 0.3, &it), 0);
    }
    cr_assert_eq(next_completed(it), d);
    th_assert_elapsed(t0, 0, 0.5);
    /* The iteration's time runs out. */
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 1.5);
    /* ... and stays out. */
    t0 = th_now();
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    /* A later call still gives the one that finished, then the end. */
    gate_open(&g);
    cr_assert_eq(mproc_future_wait(f, 30), 0);
    cr_assert_eq(next_completed(it), f);
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_EEOF);
    mproc_as_completed_free(it);

    /* A timeout of 0 with something pending: timed out at once. */
    {
        struct gate_arg a = gate_arg(&g, 30, 0);
        mproc_future *h = NULL, *fs[1];

        cr_assert_eq(mproc_event_clear(g.go), 0);
        cr_assert_eq(mproc_event_clear(g.started), 0);
        cr_assert_eq(mproc_executor_submit(e, task_gate, &a, sizeof(a), &h), 0);
        fs[0] = h;
        cr_assert_eq(mproc_as_completed(fs, 1, 0, &it), 0);
        t0 = th_now();
        cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_ETIMEDOUT);
        th_assert_elapsed(t0, 0, 0.5);
        gate_open(&g);
        cr_assert_eq(mproc_future_wait(h, 30), 0);
        cr_assert_eq(next_completed(it), h);
        cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_EEOF);
        mproc_as_completed_free(it);
        mproc_future_free(h);
    }
    mproc_executor_free(e);
    mproc_future_free(d);
    mproc_future_free(f);
    gate_free(&g);
}
BOTH_BACKENDS(as_completed_times_out_then_still_gives_what_finishes)

Test(future,
     futures_of_a_process_and_a_thread_executor_mix_in_wait_and_as_completed)
{
    struct gate gp = gate_new(), gt = gate_new(), gp2 = gate_new(),
                gt2 = gate_new();
    mproc_executor *ep = new_executor(false, 1), *et = new_executor(true, 1);
    mproc_future *fs[3];
    mproc_as_completed_iter *it = NULL;
    mproc_future *got = NULL;
    bool done[3];
    size_t nd = 99;
    double t0;

    fs[0] = submit_gated(ep, task_gate, &gp, 30, 1);
    fs[1] = submit_gated(et, task_gate, &gt, 30, 2);
    gate_wait_started(&gp);
    gate_wait_started(&gt);
    fs[2] = submit_i64(ep, task_double, 1);
    /* fs[2] waits behind fs[0] in the process executor. */
    cr_assert_eq(
        mproc_wait_futures(fs, 3, MPROC_FIRST_COMPLETED, 0.2, done, &nd), 0);
    cr_assert_eq(nd, 0u);
    gate_open(&gt);
    t0 = th_now();
    cr_assert_eq(
        mproc_wait_futures(fs, 3, MPROC_FIRST_COMPLETED, 30, done, &nd), 0);
    th_assert_elapsed(t0, 0, 5.0);
    assert_done_set(done, (bool[]){ false, true, false }, 3);
    cr_assert_eq(nd, 1u);
    gate_open(&gp);
    t0 = th_now();
    cr_assert_eq(mproc_wait_futures(fs, 3, MPROC_ALL_COMPLETED, 30, done, &nd),
                 0);
    th_assert_elapsed(t0, 0, 5.0);
    assert_done_set(done, (bool[]){ true, true, true }, 3);
    cr_assert_eq(future_i64(fs[0], 0), 1);
    cr_assert_eq(future_i64(fs[1], 0), 2);
    cr_assert_eq(future_i64(fs[2], 0), 2);
    for (int i = 0; i < 3; i++)
        mproc_future_free(fs[i]);

    /* as_completed over both: the thread one first, then the process one;
     * then the other way round. */
    fs[0] = submit_gated(ep, task_gate, &gp2, 30, 3);
    fs[1] = submit_gated(et, task_gate, &gt2, 30, 4);
    gate_wait_started(&gp2);
    gate_wait_started(&gt2);
    cr_assert_eq(mproc_as_completed(fs, 2, 30, &it), 0);
    gate_open(&gt2);
    cr_assert_eq(next_completed(it), fs[1]);
    gate_open(&gp2);
    cr_assert_eq(next_completed(it), fs[0]);
    cr_assert_eq(mproc_as_completed_next(it, &got), MPROC_EEOF);
    mproc_as_completed_free(it);
    cr_assert_eq(future_i64(fs[0], 0), 3);
    cr_assert_eq(future_i64(fs[1], 0), 4);
    mproc_future_free(fs[0]);
    mproc_future_free(fs[1]);
    mproc_executor_free(ep);
    mproc_executor_free(et);
    gate_free(&gp);
    gate_free(&gt);
    gate_free(&gp2);
    gate_free(&gt2);
}

/* ---- done callbacks ----------------------------------------------------- */

/* Done callbacks recording their order, their thread, and what they read
 * of their own future with a zero timeout. */
struct order {
    struct tally t;
    char seq[8];
    int n; /* atomic */
    pthread_t thread;
    int rc;        /* mproc_future_get() */
    int64_t value; /* its result */
    int code;      /* mproc_future_exception() */
};

static void
record(mproc_future *f, struct order *o, char c)
{
    int i = __atomic_fetch_add(&o->n, 1, __ATOMIC_SEQ_CST);
    mproc_buf b = { NULL, 0 };
    int code = -1;

    if (i < 8)
        o->seq[i] = c;
    o->thread = pthread_self();
    o->rc = mproc_future_get(f, &b, 0);
    o->value = i64_of(b.data, b.len);
    mproc_buf_free(&b);
    if (mproc_future_exception(f, &code, NULL, 0) != 0)
        code = -2;
    o->code = code;
    tally_note(&o->t, true, true);
}

static void
done_a(mproc_future *f, void *ctx)
{
    record(f, ctx, 'a');
}

static void
done_b(mproc_future *f, void *ctx)
{
    record(f, ctx, 'b');
}

static void
done_c(mproc_future *f, void *ctx)
{
    record(f, ctx, 'c');
}

static void
order_init(struct order *o)
{
    memset(o, 0, sizeof(*o));
    tally_init(&o->t);
    o->rc = 1;
}

static void
done_callbacks_run_in_order_on_the_result_thread_or_at_once(bool threads)
{
    struct gate g = gate_new(), h = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *f, *bad;
    struct order o, failed, now;

    order_init(&o);
    order_init(&failed);
    order_init(&now);
    f = submit_gated(e, task_gate, &g, 30, 6);
    bad = submit_gated(e, task_gate_then_fail, &h, 30, 0);
    gate_wait_started(&g);
    gate_wait_started(&h);
    cr_assert_eq(mproc_future_add_done_callback(f, done_a, &o), 0);
    cr_assert_eq(mproc_future_add_done_callback(f, done_b, &o), 0);
    cr_assert_eq(mproc_future_add_done_callback(f, done_c, &o), 0);
    cr_assert_eq(mproc_future_add_done_callback(bad, done_a, &failed), 0);
    cr_assert_eq(tally_read(&o.t, &o.t.calls), 0);
    gate_open(&g);
    gate_open(&h);
    cr_assert(tally_wait(&o.t, &o.t.calls, 3, 30));
    cr_assert(tally_wait(&failed.t, &failed.t.calls, 1, 30));
    cr_assert_eq(o.seq[0], 'a');
    cr_assert_eq(o.seq[1], 'b');
    cr_assert_eq(o.seq[2], 'c');
    cr_assert_not(o.t.on_caller, "a callback ran on the test's thread");
    cr_assert_not(pthread_equal(o.thread, pthread_self()));
    /* Each read its own future, done, with a zero timeout. */
    cr_assert_eq(o.rc, 0);
    cr_assert_eq(o.value, 6);
    cr_assert_eq(o.code, 0);
    cr_assert_eq(failed.rc, MPROC_ETASK);
    cr_assert_eq(failed.code, 5);
    cr_assert_not(failed.t.on_caller);

    /* Done already: at once, in this thread. */
    cr_assert_eq(mproc_future_add_done_callback(f, done_b, &now), 0);
    cr_assert_eq(now.n, 1);
    cr_assert_eq(now.seq[0], 'b');
    cr_assert(pthread_equal(now.thread, pthread_self()));
    cr_assert_eq(now.rc, 0);
    cr_assert_eq(now.value, 6);
    mproc_executor_free(e);
    cr_assert_eq(o.n, 3);
    cr_assert_eq(failed.n, 1);
    cr_assert_eq(now.n, 1);
    mproc_future_free(f);
    mproc_future_free(bad);
    gate_free(&g);
    gate_free(&h);
    tally_destroy(&o.t);
    tally_destroy(&failed.t);
    tally_destroy(&now.t);
}
BOTH_BACKENDS(done_callbacks_run_in_order_on_the_result_thread_or_at_once)

/* ---- the future's descriptor -------------------------------------------- */

/* poll() on fd for readability: its result, and revents in *ev. */
static int
poll_in(int fd, int ms, short *ev)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc = poll(&p, 1, ms);

    *ev = p.revents;
    return rc;
}

static void
the_future_fd_turns_readable_when_done(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    mproc_future *f, *d;
    short ev = 0;
    int fd, dfd;
    double t0;

    f = submit_gated(e, task_gate, &g, 30, 8);
    gate_wait_started(&g);
    fd = mproc_future_fd(f);
    cr_assert_geq(fd, 0, "%s", mproc_errname(fd));
    t0 = th_now();
    cr_assert_eq(poll_in(fd, 0, &ev), 0);
    cr_assert_eq(poll_in(fd, 200, &ev), 0, "readable while pending");
    th_assert_elapsed(t0, 0.2, 1.0);
    gate_open(&g);
    cr_assert_eq(poll_in(fd, 30000, &ev), 1);
    cr_assert(ev & POLLIN);
    cr_assert(mproc_future_ready(f));
    /* It stays readable. */
    cr_assert_eq(poll_in(fd, 0, &ev), 1);
    cr_assert_eq(poll_in(fd, 0, &ev), 1);
    cr_assert_eq(future_i64(f, 0), 8);
    cr_assert_eq(poll_in(fd, 0, &ev), 1);

    /* A future done before its descriptor is asked for: readable at once. */
    d = submit_i64(e, task_double, 2);
    cr_assert_eq(mproc_future_wait(d, 30), 0);
    dfd = mproc_future_fd(d);
    cr_assert_geq(dfd, 0);
    cr_assert_eq(poll_in(dfd, 0, &ev), 1);
    cr_assert(ev & POLLIN);
    mproc_executor_free(e);
    /* Freeing the futures closes the descriptors (th_end counts them). */
    mproc_future_free(f);
    mproc_future_free(d);
    gate_free(&g);
}
BOTH_BACKENDS(the_future_fd_turns_readable_when_done)

/* ---- map ---------------------------------------------------------------- */

#define N_MAP 20

static void
map_gives_results_in_order_and_failures_at_their_item(bool threads)
{
    static const long chunks[] = { 0, 1, 3, N_MAP };
    mproc_executor *e = new_executor(threads, 2);
    int64_t in[N_MAP], v;
    mproc_imap *it = NULL;
    const char *msg = NULL;
    size_t idx;
    int code = -1;

    iota(in, N_MAP, -1);
    for (size_t c = 0; c < N_OF(chunks); c++) {
        cr_assert_eq(mproc_executor_map(e, item_square, in, N_MAP,
                                        sizeof(in[0]), sizeof(v), chunks[c], 30,
                                        &it),
                     0);
        for (int64_t i = 0; i < N_MAP; i++) {
            v = -1;
            cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0,
                         "chunksize %ld item %lld", chunks[c], (long long)i);
            cr_assert_eq(idx, (size_t)i);
            cr_assert_eq(v, i * i);
        }
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 0), MPROC_EEOF);
        mproc_imap_free(it);
        it = NULL;
    }

    /* Item 4 fails: at its place, with its index; the rest follow. */
    iota(in, N_MAP, 4);
    cr_assert_eq(mproc_executor_map(e, item_square, in, N_MAP, sizeof(in[0]),
                                    sizeof(v), 1, MPROC_FOREVER, &it),
                 0);
    for (int64_t i = 0; i < N_MAP; i++) {
        int rc = mproc_imap_next(it, &v, &idx, 30);

        cr_assert_eq(idx, (size_t)i);
        if (i == 4) {
            cr_assert_eq(rc, MPROC_ETASK);
            cr_assert_eq(mproc_imap_error(it, &code, &msg), 0);
            cr_assert_eq(code, 7);
            cr_assert_str_eq(msg, "item -4 is negative");
            continue;
        }
        cr_assert_eq(rc, 0, "item %lld", (long long)i);
        cr_assert_eq(v, i * i);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);

    /* Empty: the end at once. */
    cr_assert_eq(mproc_executor_map(e, item_square, NULL, 0, sizeof(in[0]),
                                    sizeof(v), 0, 30, &it),
                 0);
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);
    mproc_executor_free(e);
}
BOTH_BACKENDS(map_gives_results_in_order_and_failures_at_their_item)

static void
map_times_out_from_the_call_even_when_next_waits_forever(bool threads)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(threads, 2);
    struct gate_arg in[4];
    mproc_imap *it = NULL;
    int64_t v = 0;
    size_t idx;
    double t0;

    for (int i = 0; i < 4; i++)
        in[i] = gate_arg(&g, 30, i);
    t0 = th_now();
    cr_assert_eq(mproc_executor_map(e, item_gate, in, 4, sizeof(in[0]),
                                    sizeof(v), 1, 0.3, &it),
                 0);
    /* Its own timeout of 0: at once. */
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    /* The map's: about 0.3 s after the call. */
    cr_assert_eq(mproc_imap_next(it, &v, &idx, MPROC_FOREVER), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 1.5);
    t0 = th_now();
    cr_assert_eq(mproc_imap_next(it, &v, &idx, MPROC_FOREVER), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    gate_open(&g);
    mproc_imap_free(it);

    /* Within its time, a map gives everything. */
    cr_assert_eq(mproc_executor_map(e, item_gate, in, 4, sizeof(in[0]),
                                    sizeof(v), 2, 30, &it),
                 0);
    for (int64_t i = 0; i < 4; i++) {
        cr_assert_eq(mproc_imap_next(it, &v, &idx, MPROC_FOREVER), 0);
        cr_assert_eq(idx, (size_t)i);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, MPROC_FOREVER), MPROC_EEOF);
    mproc_imap_free(it);
    mproc_executor_free(e);
    gate_free(&g);
}
BOTH_BACKENDS(map_times_out_from_the_call_even_when_next_waits_forever)

#define N_BUFS 9

static void
map_bufs_gives_buffers_in_order_through_next_buf_only(bool threads)
{
    mproc_executor *e = new_executor(threads, 2);
    unsigned char data[N_BUFS][200];
    mproc_buf in[N_BUFS], out = { NULL, 0 };
    mproc_imap *it = NULL;
    const char *msg = NULL;
    int64_t v, one = 1;
    size_t idx;
    int code = 0;

    for (int i = 0; i < N_BUFS; i++) {
        size_t len = (size_t)i * 20; /* 0 .. 160 bytes */

        for (size_t k = 0; k < len; k++)
            data[i][k] = (unsigned char)(k * 7 + (size_t)i + 1);
        in[i] = (mproc_buf){ len ? data[i] : NULL, len };
    }
    cr_assert_eq(
        mproc_executor_map_bufs(e, task_reverse, in, N_BUFS, 2, 30, &it), 0);
    /* A map over buffers is read with next_buf only. */
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EINVAL);
    for (int i = 0; i < N_BUFS; i++) {
        cr_assert_eq(mproc_imap_next_buf(it, &out, &idx, 30), 0, "buffer %d",
                     i);
        cr_assert_eq(idx, (size_t)i);
        cr_assert_eq(out.len, in[i].len, "buffer %d", i);
        for (size_t k = 0; k < in[i].len; k++)
            cr_assert_eq(((unsigned char *)out.data)[k],
                         data[i][in[i].len - 1 - k]);
        mproc_buf_free(&out);
    }
    out = (mproc_buf){ (void *)1, 1 };
    cr_assert_eq(mproc_imap_next_buf(it, &out, &idx, 30), MPROC_EEOF);
    cr_assert_null(out.data);
    cr_assert_eq(out.len, 0u);
    mproc_imap_free(it);

    /* A failure at its buffer; the others still come. */
    data[3][0] = '!';
    cr_assert_eq(
        mproc_executor_map_bufs(e, task_reverse, in, N_BUFS, 1, 30, &it), 0);
    for (int i = 0; i < N_BUFS; i++) {
        int rc = mproc_imap_next_buf(it, &out, &idx, 30);

        cr_assert_eq(idx, (size_t)i);
        if (i == 3) {
            cr_assert_eq(rc, MPROC_ETASK);
            cr_assert_null(out.data);
            cr_assert_eq(mproc_imap_error(it, &code, &msg), 0);
            cr_assert_eq(code, 6);
            cr_assert_str_eq(msg, "refused 60 bytes");
            continue;
        }
        cr_assert_eq(rc, 0, "buffer %d", i);
        cr_assert_eq(out.len, in[i].len);
        mproc_buf_free(&out);
    }
    cr_assert_eq(mproc_imap_next_buf(it, &out, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);

    /* A typed map is not read with next_buf. */
    cr_assert_eq(mproc_executor_map(e, item_square, &one, 1, 8, 8, 0, 30, &it),
                 0);
    cr_assert_eq(mproc_imap_next_buf(it, &out, &idx, 30), MPROC_EINVAL);
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
    cr_assert_eq(v, 1);
    mproc_imap_free(it);
    mproc_executor_free(e);
}
BOTH_BACKENDS(map_bufs_gives_buffers_in_order_through_next_buf_only)

/* ---- workers ------------------------------------------------------------ */

static void
max_tasks_per_child_replaces_workers(bool threads)
{
    mproc_executor *e = new_executor_with(&(mproc_executor_opts){
        .max_workers = 1, .max_tasks_per_child = 2, .threads = threads });
    int32_t ids[6];
    int distinct = 0;

    for (int i = 0; i < 6; i++) {
        mproc_future *f = submit_i64(e, task_ident, 0);

        ids[i] = ident_of(future_i64(f, 30), threads);
        mproc_future_free(f);
        if (!threads)
            cr_assert_neq(ids[i], getpid());
        distinct++;
        for (int k = 0; k < i; k++)
            if (ids[k] == ids[i]) {
                distinct--;
                break;
            }
    }
    cr_assert_geq(distinct, 3, "%d workers for 6 tasks", distinct);
    mproc_executor_free(e);
}
BOTH_BACKENDS(max_tasks_per_child_replaces_workers)

static void
default_options_give_a_working_executor(bool threads)
{
    mproc_executor *e = NULL;
    mproc_future *f;

    if (threads)
        e = new_executor_with(&(mproc_executor_opts){ .threads = true });
    else
        cr_assert_eq(mproc_executor_new(&e, NULL), 0);
    f = submit_i64(e, task_double, 50);
    cr_assert_eq(future_i64(f, 30), 100);
    mproc_future_free(f);
    mproc_executor_free(e);
}
BOTH_BACKENDS(default_options_give_a_working_executor)

/* ---- crashes (processes only) ------------------------------------------- */

/* fn on e must fail ECRASHED by signal sig (0: an exit), with a message
 * and its done callback; then a task on e must work. */
static void
expect_crash(mproc_executor *e, mproc_task_fn fn, int sig)
{
    struct tally t;
    mproc_future *f;
    const char *msg = NULL;
    int code = 0;

    tally_init(&t);
    f = submit_i64(e, fn, 0);
    cr_assert_eq(mproc_future_add_done_callback(f, count_done, &t), 0);
    cr_assert_eq(mproc_future_get(f, NULL, 30), MPROC_ECRASHED);
    cr_assert_eq(mproc_future_signal(f), sig);
    cr_assert_eq(mproc_future_exception(f, &code, &msg, 0), 0);
    cr_assert_eq(code, MPROC_ECRASHED);
    cr_assert_not_null(msg, "a crash is described");
    cr_assert(tally_wait(&t, &t.failed, 1, 30), "no done callback");
    mproc_future_free(f);
    f = submit_i64(e, task_double, 20);
    cr_assert_eq(future_i64(f, 30), 40);
    mproc_future_free(f);
    cr_assert_eq(t.calls, 1);
    tally_destroy(&t);
}

Test(future, a_worker_that_dies_fails_only_its_task_and_the_executor_goes_on)
{
    mproc_executor *e = new_executor(false, 2);
    mproc_future *f[8], *crash;

    expect_crash(e, task_raise_segv, SIGSEGV);
    expect_crash(e, task_kill_self, SIGKILL);
    expect_crash(e, task_exit, 0);
    /* Beside other tasks: only the crashed one fails. */
    for (int i = 0; i < 8; i++)
        f[i] = submit_i64(e, task_double, i);
    crash = submit_i64(e, task_raise_segv, 0);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(future_i64(f[i], 30), 2 * i);
        mproc_future_free(f[i]);
    }
    {
        int rc = mproc_future_get(crash, NULL, 30);

        cr_assert_eq(rc, MPROC_ECRASHED, "%s", mproc_errname(rc));
    }
    cr_assert_eq(mproc_future_signal(crash), SIGSEGV);
    mproc_future_free(crash);
    /* A map over it goes on too. */
    {
        int64_t in[6], v;
        mproc_imap *it = NULL;
        size_t idx;

        iota(in, 6, -1);
        cr_assert_eq(
            mproc_executor_map(e, item_square, in, 6, 8, 8, 0, 30, &it), 0);
        for (int64_t i = 0; i < 6; i++) {
            cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
            cr_assert_eq(v, i * i);
        }
        mproc_imap_free(it);
    }
    mproc_executor_free(e);
}

/* ---- refusals ----------------------------------------------------------- */

static void
cb_nothing(mproc_future *f, void *ctx)
{
    (void)f;
    (void)ctx;
}

Test(future, bad_options_are_refused)
{
    static const mproc_executor_opts bad[] = {
        { .max_workers = -1 },
        { .max_tasks_per_child = -1 },
        { .max_workers = 4097 },
        { .initargs = NULL, .initargs_len = 3 },
        { .start_method = (enum mproc_start_method)77 },
        { .capacity = (size_t)3 << 30 },
        { .threads = true, .max_workers = -1 },
    };
    mproc_executor *e = NULL;

    cr_assert_eq(mproc_executor_new(NULL, NULL), MPROC_EINVAL);
    for (size_t i = 0; i < N_OF(bad); i++) {
        cr_assert_eq(mproc_executor_new(&e, &bad[i]), MPROC_EINVAL,
                     "options %zu", i);
        cr_assert_null(e);
    }
}

Test(future, bad_arguments_are_refused)
{
    struct gate g = gate_new();
    mproc_executor *e = new_executor(false, 1);
    mproc_obj *arg = TH_OBJ("i", 2);
    mproc_buf bin[2] = { { "a", 1 }, { "b", 1 } }, ob = { NULL, 0 };
    int64_t in[4] = { 1, 2, 3, 4 }, v = 1;
    mproc_future *f = NULL, *held, *fs[2];
    mproc_as_completed_iter *ac = NULL;
    mproc_imap *it = NULL;
    bool done[2];

    /* submit */
    cr_assert_eq(mproc_executor_submit(NULL, task_double, &v, 8, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_submit(e, NULL, &v, 8, &f), MPROC_EINVAL);
    cr_assert_eq(mproc_executor_submit(e, task_double, NULL, 8, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_submit(e, task_double, &v, 8, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_submit_obj(NULL, obj_square, arg, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_submit_obj(e, NULL, arg, &f), MPROC_EINVAL);
    cr_assert_eq(mproc_executor_submit_obj(e, obj_square, arg, NULL),
                 MPROC_EINVAL);
    cr_assert_null(f);
    /* map */
    cr_assert_eq(mproc_executor_map(NULL, item_square, in, 4, 8, 8, 0, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map(e, NULL, in, 4, 8, 8, 0, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map(e, item_square, NULL, 4, 8, 8, 0, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map(e, item_square, in, 4, 8, 8, 0, 1, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map(e, item_square, in, 4, 8, 8, -1, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map(e, item_square, in, 4, 8, 8, 0, NAN, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map_bufs(NULL, task_reverse, bin, 2, 0, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map_bufs(e, NULL, bin, 2, 0, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map_bufs(e, task_reverse, NULL, 2, 0, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map_bufs(e, task_reverse, bin, 2, 0, 1, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map_bufs(e, task_reverse, bin, 2, -1, 1, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_executor_map_bufs(e, task_reverse, bin, 2, 0, NAN, &it),
                 MPROC_EINVAL);
    cr_assert_null(it);
    cr_assert_eq(mproc_imap_next_buf(NULL, &ob, NULL, 1), MPROC_EINVAL);
    /* shutdown, free */
    cr_assert_eq(mproc_executor_shutdown(NULL, true, false), MPROC_EINVAL);
    mproc_executor_free(NULL);
    /* the descriptor */
    cr_assert_eq(mproc_future_fd(NULL), MPROC_EINVAL);

    /* wait and as_completed */
    held = submit_gated(e, task_gate, &g, 30, 0);
    fs[0] = held;
    fs[1] = NULL;
    cr_assert_eq(
        mproc_wait_futures(NULL, 2, MPROC_ALL_COMPLETED, 1, done, NULL),
        MPROC_EINVAL);
    cr_assert_eq(mproc_wait_futures(fs, 2, MPROC_ALL_COMPLETED, 1, done, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(
        mproc_wait_futures(fs, 1, (enum mproc_return_when)77, 1, done, NULL),
        MPROC_EINVAL);
    cr_assert_eq(
        mproc_wait_futures(fs, 1, MPROC_ALL_COMPLETED, NAN, done, NULL),
        MPROC_EINVAL);
    cr_assert_eq(mproc_as_completed(NULL, 2, 1, &ac), MPROC_EINVAL);
    cr_assert_eq(mproc_as_completed(fs, 2, 1, &ac), MPROC_EINVAL);
    cr_assert_eq(mproc_as_completed(fs, 1, 1, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_as_completed(fs, 1, NAN, &ac), MPROC_EINVAL);
    cr_assert_null(ac);
    cr_assert_eq(mproc_as_completed_next(NULL, &f), MPROC_EINVAL);
    cr_assert_eq(mproc_as_completed(fs, 1, 30, &ac), 0);
    cr_assert_eq(mproc_as_completed_next(ac, NULL), MPROC_EINVAL);
    mproc_as_completed_free(NULL);
    /* futures */
    cr_assert_eq(mproc_future_add_done_callback(held, NULL, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_future_add_done_callback(NULL, cb_nothing, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_future_exception(held, NULL, NULL, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_future_get(held, NULL, NAN), MPROC_EINVAL);

    /* Nothing refused broke anything. */
    gate_open(&g);
    cr_assert_eq(next_completed(ac), held);
    mproc_as_completed_free(ac);
    cr_assert_eq(future_i64(held, 30), 0);
    mproc_future_free(held);
    f = submit_i64(e, task_double, 4);
    cr_assert_eq(future_i64(f, 30), 8);
    mproc_future_free(f);
    mproc_executor_free(e);
    mproc_obj_free(arg);
    gate_free(&g);
}
