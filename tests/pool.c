/*
 * tests/pool.c - Pool and its futures against Python's semantics, in both
 * backends (worker processes and threads): every verb, results in order
 * and in completion order, callbacks run exactly once each on the result
 * thread, failures carried with their code and message, AsyncResult's
 * waits and predicates, initializers and maxtasksperchild, cancel,
 * close/terminate/join, imap's window, timeouts of every blocking call,
 * and every refusal. For processes only: workers that die at every stage
 * of a task (decoding the argument, running, encoding the result) or are
 * killed from outside, the per-task timeout, and spawn workers.
 *
 * Tasks that must wait do so on an mproc_event the test sets (made before
 * the pool, so forked workers map it); callbacks are awaited through
 * counts and a condition variable with a deadline; nothing sleeps for
 * luck. Tasks and callbacks never assert: they report, the test asserts.
 */
#include "helpers/tasks.h"
#include "helpers/th.h"

#include <math.h>
#include <mproc/future.h>
#include <mproc/pool.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(pool, .init = th_begin, .fini = th_end, .timeout = 60);

/* Run a behavioural test `name(bool threads)` under both backends. */
#define BOTH_BACKENDS(name)                                                    \
    Test(pool, name##_in_processes)                                            \
    {                                                                          \
        name(false);                                                           \
    }                                                                          \
    Test(pool, name##_in_threads)                                              \
    {                                                                          \
        name(true);                                                            \
    }

/* ---- helpers ------------------------------------------------------------ */

static mproc_pool *
new_pool_with(const mproc_pool_opts *o)
{
    mproc_pool *p = NULL;

    cr_assert_eq(mproc_pool_new(&p, o), 0);
    cr_assert_not_null(p);
    return p;
}

static mproc_pool *
new_pool(bool threads, int workers)
{
    return new_pool_with(
        &(mproc_pool_opts){ .processes = workers, .threads = threads });
}

static void *
shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0, size);
    return p;
}

/* What mproc_pool_apply of fn(v) gives, which must succeed. */
static int64_t
apply_i64(mproc_pool *p, mproc_task_fn fn, int64_t v)
{
    mproc_buf b = { NULL, 0 };
    int64_t r;

    cr_assert_eq(mproc_pool_apply(p, fn, &v, sizeof(v), &b, 30), 0);
    r = i64_of(b.data, b.len);
    mproc_buf_free(&b);
    return r;
}

static mproc_future *
apply_async_i64(mproc_pool *p, mproc_task_fn fn, int64_t v,
                const mproc_async_opts *o)
{
    mproc_future *f = NULL;

    cr_assert_eq(mproc_pool_apply_async(p, fn, &v, sizeof(v), o, &f), 0);
    cr_assert_not_null(f);
    return f;
}

/* Callbacks counting into the tally that is their ctx. */
static void
count_ok(mproc_future *f, void *ctx)
{
    tally_note(ctx, true, mproc_future_get(f, NULL, 0) == 0);
}

static void
count_failed(mproc_future *f, void *ctx)
{
    tally_note(ctx, false, mproc_future_get(f, NULL, 0) != 0);
}

static mproc_async_opts
counting(struct tally *t)
{
    return (mproc_async_opts){ .callback = count_ok,
                               .error_callback = count_failed,
                               .ctx = t };
}

static void
on_progress(size_t done, size_t total, void *ctx)
{
    struct tally *t = ctx;

    pthread_mutex_lock(&t->mu);
    if ((int)done < t->progress)
        t->progress_backwards++;
    t->progress = (int)done;
    t->progress_total = (int)total;
    t->progress_calls++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* ---- tasks (never assert: they run in workers) -------------------------- */

/* Fails with a message far over 4096 bytes. */
static int
task_fail_long(const void *arg, size_t len, mproc_buf *out)
{
    static char text[10000];

    (void)arg;
    (void)len;
    (void)out;
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    return mproc_task_fail(8, "%s", text);
}

/* task_ident, once two tasks meet at the barrier whose token is arg: each
 * of two workers then holds one. */
static int
task_ident_met(const void *arg, size_t len, mproc_buf *out)
{
    mproc_barrier *b = NULL;
    int rc;

    if (len != sizeof(mproc_token) || mproc_barrier_from_token(&b, arg) < 0)
        return mproc_task_fail(1, "no barrier");
    rc = mproc_barrier_wait(b, 30, NULL);
    mproc_barrier_free(b);
    return rc < 0 ? mproc_task_fail(2, "barrier: %d", rc)
                  : task_ident(NULL, 0, out);
}

/* Counts its runs in a shared page. */
static int *task_runs; /* a MAP_SHARED page, set before the pool */

static int
task_count(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    (void)out;
    __atomic_fetch_add(task_runs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* A result of 2 MiB. */
static int
task_big_result(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    out->data = calloc(1, 2 << 20);
    if (out->data == NULL)
        return mproc_task_fail(ENOMEM, "no memory");
    out->len = 2 << 20;
    return 0;
}

static int
task_block_forever(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    (void)out;
    th_slow_block_forever();
    return 0;
}

/* A real fault, not a raised signal. */
static void
fault(void)
{
    volatile char *page =
        mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    page[0] = 1;
}

static void
kill_self(void)
{
    kill(getpid(), SIGKILL);
    th_slow_block_forever();
}

static int
task_fault(const void *arg, size_t len, mproc_buf *out)
{
    (void)arg;
    (void)len;
    (void)out;
    fault();
    return 0;
}

/* Sets its result, then dies before the pool can send it. */
static int
task_result_then_kill(const void *arg, size_t len, mproc_buf *out)
{
    put_i64(out, i64_of(arg, len));
    kill_self();
    return 0;
}

/* A result whose bytes cannot be read: the worker faults while it copies
 * them into the result queue (never freed: the worker dies first). */
static int
task_unreadable_result(const void *arg, size_t len, mproc_buf *out)
{
    void *p = mmap(NULL, 65536, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    (void)arg;
    (void)len;
    if (p == MAP_FAILED)
        return mproc_task_fail(100, "no mapping");
    out->data = p;
    out->len = 65536;
    return 0;
}

/* ---- object tasks ------------------------------------------------------- */

/* None, as a NULL result. */
static int
obj_none(const mproc_obj *arg, mproc_obj **out)
{
    (void)arg;
    *out = NULL;
    return 0;
}

/* arg: bytes of a struct gate_arg. */
static int
obj_gate(const mproc_obj *arg, mproc_obj **out)
{
    size_t len = 0;
    const void *p = mproc_obj_bytes_value(arg, &len);

    return mproc_obj_int(out, pass_gate(p, len));
}

static int
obj_kill_first(const mproc_obj *arg, mproc_obj **out)
{
    (void)arg;
    (void)out;
    kill_self();
    return 0;
}

static int
obj_fault_first(const mproc_obj *arg, mproc_obj **out)
{
    (void)arg;
    (void)out;
    fault();
    return 0;
}

/* ---- item functions ----------------------------------------------------- */

struct pair {
    int64_t a, b;
};

static int
item_product(const void *in, void *out)
{
    struct pair pr;
    int64_t v;

    memcpy(&pr, in, sizeof(pr));
    v = pr.a * pr.b;
    memcpy(out, &v, sizeof(v));
    return 0;
}

/* item_square, but item 5 faults. */
static int
item_fault_at_5(const void *in, void *out)
{
    int64_t v;

    memcpy(&v, in, sizeof(v));
    if (v == 5)
        fault();
    return item_square(in, out);
}

/* ---- apply and apply_async ---------------------------------------------- */

static void
apply_returns_the_result_bytes_or_the_failure(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_buf b = { NULL, 0 };
    int64_t v = 21;

    cr_assert_eq(mproc_pool_apply(p, task_double, &v, sizeof(v), &b, 30), 0);
    cr_assert_eq(b.len, sizeof(v));
    cr_assert_eq(i64_of(b.data, b.len), 42);
    mproc_buf_free(&b);
    /* out NULL drops the result. */
    cr_assert_eq(mproc_pool_apply(p, task_double, &v, sizeof(v), NULL, 30), 0);
    /* No argument, no result. */
    cr_assert_eq(mproc_pool_apply(p, task_nothing, NULL, 0, &b, 30), 0);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0u);
    /* A failure is the call's code. */
    v = -3;
    cr_assert_eq(mproc_pool_apply(p, task_double, &v, sizeof(v), &b, 30),
                 MPROC_ETASK);
    cr_assert_null(b.data);
    mproc_pool_free(p);
}
BOTH_BACKENDS(apply_returns_the_result_bytes_or_the_failure)

#define N_ASYNC 20

/* One task's callbacks: how often each ran, and whether it saw right. */
struct call {
    struct tally *t;
    int64_t arg;
    int ok, failed; /* atomics */
};

static void
call_ok(mproc_future *f, void *ctx)
{
    struct call *c = ctx;
    mproc_buf b = { NULL, 0 };
    bool right = mproc_future_get(f, &b, 0) == 0 &&
                 i64_of(b.data, b.len) == 2 * c->arg &&
                 mproc_future_successful(f) == 1;

    mproc_buf_free(&b);
    __atomic_fetch_add(&c->ok, 1, __ATOMIC_SEQ_CST);
    tally_note(c->t, true, right);
}

static void
call_failed(mproc_future *f, void *ctx)
{
    struct call *c = ctx;
    char want[64];
    const char *msg = NULL;
    int code = 0;
    bool right;

    snprintf(want, sizeof(want), "negative %lld", (long long)c->arg);
    right = mproc_future_get(f, NULL, 0) == MPROC_ETASK &&
            mproc_future_exception(f, &code, &msg, 0) == 0 && code == 7 &&
            msg != NULL && strcmp(msg, want) == 0 &&
            mproc_future_successful(f) == 0;
    __atomic_fetch_add(&c->failed, 1, __ATOMIC_SEQ_CST);
    tally_note(c->t, false, right);
}

static void
apply_async_runs_one_callback_exactly_once_per_task(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    struct call calls[N_ASYNC];
    mproc_future *f[N_ASYNC];
    struct tally t;

    tally_init(&t);
    for (int i = 0; i < N_ASYNC; i++) {
        mproc_async_opts o = { call_ok, call_failed, &calls[i] };

        calls[i] = (struct call){ .t = &t, .arg = i % 2 ? -i : i };
        f[i] = apply_async_i64(p, task_double, calls[i].arg, &o);
    }
    for (int i = 0; i < N_ASYNC; i++) {
        if (i % 2 == 0) {
            cr_assert_eq(future_i64(f[i], 30), 2 * i);
        } else {
            cr_assert_eq(mproc_future_get(f[i], NULL, 30), MPROC_ETASK);
        }
    }
    cr_assert(tally_wait(&t, &t.calls, N_ASYNC, 30), "callbacks: %d of %d",
              tally_read(&t, &t.calls), N_ASYNC);
    /* join waits for every callback: the counts are final after it. */
    mproc_pool_free(p);
    cr_assert_eq(t.ok, N_ASYNC / 2);
    cr_assert_eq(t.failed, N_ASYNC / 2);
    cr_assert_eq(t.wrong, 0, "%d callbacks saw the wrong outcome", t.wrong);
    cr_assert_not(t.on_caller, "a callback ran on the test's thread");
    for (int i = 0; i < N_ASYNC; i++) {
        cr_assert_eq(calls[i].ok, i % 2 ? 0 : 1, "task %d", i);
        cr_assert_eq(calls[i].failed, i % 2 ? 1 : 0, "task %d", i);
        mproc_future_free(f[i]);
    }
    tally_destroy(&t);
}
BOTH_BACKENDS(apply_async_runs_one_callback_exactly_once_per_task)

/* A callback that tries to join its own pool. */
struct join_try {
    mproc_pool *p;
    int rc;
    struct tally *t;
};

static void
try_join(mproc_future *f, void *ctx)
{
    struct join_try *j = ctx;

    (void)f;
    j->rc = mproc_pool_join(j->p, 0);
    tally_note(j->t, true, true);
}

static void
a_callback_cannot_join_its_own_pool(bool threads)
{
    mproc_pool *p = new_pool(threads, 1);
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 5);
    struct tally t;
    struct join_try j = { p, 1, &t };
    mproc_async_opts o = { try_join, try_join, &j };
    mproc_future *f = NULL;

    tally_init(&t);
    cr_assert_eq(mproc_pool_apply_async(p, task_gate, &a, sizeof(a), &o, &f),
                 0);
    gate_wait_started(&g);
    /* Closed: a join elsewhere would wait; from the callback it is refused
     * (it would wait for its own thread). */
    cr_assert_eq(mproc_pool_close(p), 0);
    gate_open(&g);
    cr_assert(tally_wait(&t, &t.calls, 1, 30));
    cr_assert_eq(j.rc, MPROC_ESTATE);
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    cr_assert_eq(future_i64(f, 0), 5);
    mproc_future_free(f);
    mproc_pool_free(p);
    gate_free(&g);
    tally_destroy(&t);
}
BOTH_BACKENDS(a_callback_cannot_join_its_own_pool)

/* ---- objects ------------------------------------------------------------ */

static void
object_tasks_give_objects_and_failures(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_obj *arg = TH_OBJ("i", 12), *neg = TH_OBJ("i", -2), *out = NULL;
    mproc_future *f = NULL, *g = NULL;
    struct tally t;
    mproc_async_opts o;
    const char *msg = NULL;
    int64_t v = 0;
    int code = 0;

    tally_init(&t);
    o = counting(&t);
    cr_assert_eq(mproc_pool_apply_obj(p, obj_square, arg, &out, 30), 0);
    cr_assert_eq(mproc_obj_int_value(out, &v), 0);
    cr_assert_eq(v, 144);
    mproc_obj_free(out);
    out = NULL;
    cr_assert_eq(mproc_pool_apply_obj(p, obj_square, arg, NULL, 30), 0);
    cr_assert_eq(mproc_pool_apply_obj(p, obj_square, neg, &out, 30),
                 MPROC_ETASK);
    cr_assert_null(out);
    /* A NULL result is None. */
    cr_assert_eq(mproc_pool_apply_obj(p, obj_none, arg, &out, 30), 0);
    cr_assert_eq(mproc_obj_type(out), MPROC_OBJ_NONE);
    mproc_obj_free(out);
    out = NULL;

    cr_assert_eq(mproc_pool_apply_async_obj(p, obj_square, arg, &o, &f), 0);
    cr_assert_eq(mproc_pool_apply_async_obj(p, obj_square, neg, &o, &g), 0);
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
    cr_assert(tally_wait(&t, &t.calls, 2, 30));
    mproc_pool_free(p);
    cr_assert_eq(t.ok, 1);
    cr_assert_eq(t.failed, 1);
    cr_assert_eq(t.wrong, 0);
    mproc_future_free(f);
    mproc_future_free(g);
    mproc_obj_free(arg);
    mproc_obj_free(neg);
    tally_destroy(&t);
}
BOTH_BACKENDS(object_tasks_give_objects_and_failures)

/* ---- maps --------------------------------------------------------------- */

#define N_MAP 100

static void
map_writes_every_result_in_order_for_any_chunksize(bool threads)
{
    static const long chunks[] = { 0, 1, 7, N_MAP, 1000 };
    mproc_pool *p = new_pool(threads, 2);
    int64_t in[N_MAP], out[N_MAP];

    iota(in, N_MAP, -1);
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct tally t;
        mproc_map_opts o = { .chunksize = chunks[c], .progress = on_progress };

        tally_init(&t);
        o.progress_ctx = &t;
        memset(out, 0xff, sizeof(out));
        cr_assert_eq(mproc_pool_map(p, item_square, in, N_MAP, sizeof(in[0]),
                                    out, sizeof(out[0]), &o, 30),
                     0, "chunksize %ld", chunks[c]);
        for (int i = 0; i < N_MAP; i++)
            cr_assert_eq(out[i], (int64_t)i * i, "chunksize %ld item %d",
                         chunks[c], i);
        cr_assert(tally_wait(&t, &t.progress, N_MAP, 30),
                  "progress reached %d of %d", tally_read(&t, &t.progress),
                  N_MAP);
        cr_assert_eq(t.progress_total, N_MAP);
        cr_assert_eq(t.progress_backwards, 0);
        cr_assert_geq(t.progress_calls, 1);
        tally_destroy(&t);
    }
    /* No items: nothing to do. */
    cr_assert_eq(mproc_pool_map(p, item_square, NULL, 0, sizeof(in[0]), NULL,
                                sizeof(out[0]), NULL, 30),
                 0);
    /* A failing item is the map's code. */
    in[37] = -37;
    cr_assert_eq(mproc_pool_map(p, item_square, in, N_MAP, sizeof(in[0]), out,
                                sizeof(out[0]), NULL, 30),
                 MPROC_ETASK);
    mproc_pool_free(p);
}
BOTH_BACKENDS(map_writes_every_result_in_order_for_any_chunksize)

static void
map_async_copies_its_input_and_calls_back_once(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    int64_t in[N_MAP], out[N_MAP], out2[N_MAP];
    mproc_future *f = NULL, *g = NULL;
    mproc_buf b = { NULL, 0 };
    const char *msg = NULL;
    struct tally t;
    mproc_map_opts o = { .chunksize = 3 };
    int code = 0;

    tally_init(&t);
    o.async = counting(&t);
    iota(in, N_MAP, -1);
    cr_assert_eq(mproc_pool_map_async(p, item_square, in, N_MAP, sizeof(in[0]),
                                      out, sizeof(out[0]), &o, &f),
                 0);
    /* The input was copied before the call returned. */
    for (int i = 0; i < N_MAP; i++)
        in[i] = -1;
    cr_assert_not(mproc_future_cancel(f), "a map's future cannot be cancelled");
    cr_assert_eq(mproc_future_get(f, &b, 30), 0);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0u);
    for (int i = 0; i < N_MAP; i++)
        cr_assert_eq(out[i], (int64_t)i * i, "item %d", i);

    iota(in, N_MAP, 41);
    cr_assert_eq(mproc_pool_map_async(p, item_square, in, N_MAP, sizeof(in[0]),
                                      out2, sizeof(out2[0]), &o, &g),
                 0);
    cr_assert_eq(mproc_future_get(g, NULL, 30), MPROC_ETASK);
    cr_assert_eq(mproc_future_exception(g, &code, &msg, 0), 0);
    cr_assert_eq(code, 7);
    cr_assert_str_eq(msg, "item -41 is negative");
    cr_assert_eq(mproc_future_successful(g), 0);
    cr_assert(tally_wait(&t, &t.calls, 2, 30));
    mproc_pool_free(p);
    cr_assert_eq(t.ok, 1);
    cr_assert_eq(t.failed, 1);
    cr_assert_eq(t.wrong, 0);
    mproc_future_free(f);
    mproc_future_free(g);
    tally_destroy(&t);
}
BOTH_BACKENDS(map_async_copies_its_input_and_calls_back_once)

static void
starmap_unpacks_argument_structs(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    struct pair in[N_MAP];
    int64_t out[N_MAP], out2[N_MAP];
    mproc_future *f = NULL;
    struct tally t;
    mproc_map_opts o = { .chunksize = 5 };

    tally_init(&t);
    for (int i = 0; i < N_MAP; i++)
        in[i] = (struct pair){ i, i + 3 };
    cr_assert_eq(mproc_pool_starmap(p, item_product, in, N_MAP, sizeof(in[0]),
                                    out, sizeof(out[0]), NULL, 30),
                 0);
    o.async = counting(&t);
    cr_assert_eq(mproc_pool_starmap_async(p, item_product, in, N_MAP,
                                          sizeof(in[0]), out2, sizeof(out2[0]),
                                          &o, &f),
                 0);
    cr_assert_eq(mproc_future_get(f, NULL, 30), 0);
    for (int i = 0; i < N_MAP; i++) {
        cr_assert_eq(out[i], (int64_t)i * (i + 3), "item %d", i);
        cr_assert_eq(out2[i], (int64_t)i * (i + 3), "item %d", i);
    }
    cr_assert(tally_wait(&t, &t.calls, 1, 30));
    mproc_pool_free(p);
    cr_assert_eq(t.ok, 1);
    cr_assert_eq(t.failed, 0);
    mproc_future_free(f);
    tally_destroy(&t);
}
BOTH_BACKENDS(starmap_unpacks_argument_structs)

#define N_BUFS 12

static void
map_bufs_gives_one_buffer_per_input(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    unsigned char data[N_BUFS][300];
    mproc_buf in[N_BUFS], out[N_BUFS];

    for (int i = 0; i < N_BUFS; i++) {
        size_t len = (size_t)i * 25; /* 0 .. 275 bytes */

        for (size_t k = 0; k < len; k++)
            data[i][k] = (unsigned char)(k * 7 + (size_t)i);
        in[i] = (mproc_buf){ len ? data[i] : NULL, len };
        out[i] = (mproc_buf){ NULL, 0 };
    }
    cr_assert_eq(mproc_pool_map_bufs(p, task_reverse, in, N_BUFS, out,
                                     &(mproc_map_opts){ .chunksize = 2 }, 30),
                 0);
    for (int i = 0; i < N_BUFS; i++) {
        cr_assert_eq(out[i].len, in[i].len, "buffer %d", i);
        for (size_t k = 0; k < in[i].len; k++)
            cr_assert_eq(((unsigned char *)out[i].data)[k],
                         data[i][in[i].len - 1 - k]);
        mproc_buf_free(&out[i]);
    }
    mproc_pool_free(p);
}
BOTH_BACKENDS(map_bufs_gives_one_buffer_per_input)

static void
map_obj_maps_lists_and_tuples_into_a_list(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_obj *list = NULL, *tuple, *empty = NULL, *out = NULL, *item;
    mproc_obj *items[5];
    size_t n = 0;
    int64_t v;

    cr_assert_eq(mproc_obj_list(&list), 0);
    for (int i = 0; i < 30; i++) {
        item = TH_OBJ("i", i);
        cr_assert_eq(mproc_obj_list_append(list, item), 0);
        mproc_obj_free(item);
    }
    cr_assert_eq(mproc_pool_map_obj(p, obj_square, list, &out, NULL, 30), 0);
    cr_assert_eq(mproc_obj_type(out), MPROC_OBJ_LIST);
    cr_assert_eq(mproc_obj_len(out, &n), 0);
    cr_assert_eq(n, 30u);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(mproc_obj_get(out, i, &item), 0);
        cr_assert_eq(mproc_obj_int_value(item, &v), 0);
        cr_assert_eq(v, (int64_t)(i * i));
    }
    mproc_obj_free(out);
    out = NULL;

    for (int i = 0; i < 5; i++)
        items[i] = TH_OBJ("i", 10 + i);
    cr_assert_eq(mproc_obj_tuple(&tuple, items, 5), 0);
    cr_assert_eq(mproc_pool_map_obj(p, obj_square, tuple, &out,
                                    &(mproc_map_opts){ .chunksize = 2 }, 30),
                 0);
    cr_assert_eq(mproc_obj_type(out), MPROC_OBJ_LIST);
    cr_assert_eq(mproc_obj_get(out, 4, &item), 0);
    cr_assert_eq(mproc_obj_int_value(item, &v), 0);
    cr_assert_eq(v, 196);
    mproc_obj_free(out);
    out = NULL;

    cr_assert_eq(mproc_obj_list(&empty), 0);
    cr_assert_eq(mproc_pool_map_obj(p, obj_square, empty, &out, NULL, 30), 0);
    cr_assert_eq(mproc_obj_len(out, &n), 0);
    cr_assert_eq(n, 0u);
    mproc_obj_free(out);
    out = NULL;

    /* Not a list or tuple; a failing item. */
    cr_assert_eq(mproc_pool_map_obj(p, obj_square, items[0], &out, NULL, 30),
                 MPROC_EINVAL);
    item = TH_OBJ("i", -4);
    cr_assert_eq(mproc_obj_list_append(list, item), 0);
    mproc_obj_free(item);
    cr_assert_eq(mproc_pool_map_obj(p, obj_square, list, &out, NULL, 30),
                 MPROC_ETASK);
    mproc_pool_free(p);
    for (int i = 0; i < 5; i++)
        mproc_obj_free(items[i]);
    mproc_obj_free(tuple);
    mproc_obj_free(list);
    mproc_obj_free(empty);
}
BOTH_BACKENDS(map_obj_maps_lists_and_tuples_into_a_list)

/* ---- imap --------------------------------------------------------------- */

static void
imap_gives_results_in_order_then_eof(bool threads)
{
    static const long chunks[] = { 0, 1, 3 };
    mproc_pool *p = new_pool(threads, 2);
    int64_t in[50];

    iota(in, 50, -1);
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        mproc_imap *it = NULL;
        int64_t v;
        size_t idx;

        cr_assert_eq(
            mproc_pool_imap(p, item_square, in, 50, sizeof(in[0]), sizeof(v),
                            &(mproc_imap_opts){ .chunksize = chunks[c] }, &it),
            0);
        for (size_t i = 0; i < 50; i++) {
            idx = 999;
            cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
            cr_assert_eq(idx, i);
            cr_assert_eq(v, (int64_t)(i * i));
        }
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
        cr_assert_eq(mproc_imap_next(it, &v, NULL, 0), MPROC_EEOF);
        mproc_imap_free(it);
    }
    mproc_pool_free(p);
}
BOTH_BACKENDS(imap_gives_results_in_order_then_eof)

static void
imap_unordered_gives_every_result_once(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_imap *it = NULL;
    int64_t in[50], v;
    bool seen[50] = { false };
    size_t idx;

    iota(in, 50, -1);
    cr_assert_eq(mproc_pool_imap_unordered(p, item_square, in, 50,
                                           sizeof(in[0]), sizeof(v), NULL, &it),
                 0);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
        cr_assert_lt(idx, 50u);
        cr_assert_not(seen[idx], "index %zu twice", idx);
        seen[idx] = true;
        cr_assert_eq(v, (int64_t)(idx * idx));
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);

    /* An iterator freed with tasks still queued. */
    cr_assert_eq(mproc_pool_imap_unordered(p, item_square, in, 50,
                                           sizeof(in[0]), sizeof(v), NULL, &it),
                 0);
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
    mproc_imap_free(it);
    mproc_pool_free(p);
}
BOTH_BACKENDS(imap_unordered_gives_every_result_once)

/* A source of items 0 .. limit-1, then `stop` (0: the end). */
struct source {
    int64_t next, limit;
    int stop;
    int calls_after_end;
};

static int
produce(void *ctx, void *item)
{
    struct source *s = ctx;

    if (s->next >= s->limit) {
        s->calls_after_end++;
        return s->stop;
    }
    memcpy(item, &s->next, sizeof(s->next));
    s->next++;
    return 1;
}

#define N_STREAM 2000

static void
imap_streams_a_produced_source_through_a_bounded_window(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    struct source s = { .limit = N_STREAM };
    mproc_imap_opts o = { .produce = produce, .produce_ctx = &s };
    mproc_imap *it = NULL;
    int64_t v, ahead = 0;
    size_t idx;

    cr_assert_eq(
        mproc_pool_imap(p, item_square, NULL, 0, sizeof(v), sizeof(v), &o, &it),
        0);
    for (int64_t i = 0; i < N_STREAM; i++) {
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0, "item %lld",
                     (long long)i);
        cr_assert_eq(idx, (size_t)i);
        cr_assert_eq(v, i * i);
        /* Produced but not yet taken: at most about 8 tasks per worker. */
        if (s.next - (i + 1) > ahead)
            ahead = s.next - (i + 1);
    }
    cr_assert_leq(ahead, 64, "%lld items were produced ahead",
                  (long long)ahead);
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);

    /* The same, in completion order, with chunks of 4. */
    s = (struct source){ .limit = 300 };
    o.chunksize = 4;
    cr_assert_eq(mproc_pool_imap_unordered(p, item_square, NULL, 0, sizeof(v),
                                           sizeof(v), &o, &it),
                 0);
    {
        bool seen[300] = { false };

        for (int i = 0; i < 300; i++) {
            cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
            cr_assert_lt(idx, 300u);
            cr_assert_not(seen[idx]);
            seen[idx] = true;
            cr_assert_eq(v, (int64_t)(idx * idx));
        }
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);
    mproc_pool_free(p);
}
BOTH_BACKENDS(imap_streams_a_produced_source_through_a_bounded_window)

static void
a_failing_source_ends_imap_with_its_code_once(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    struct source s = { .limit = 5, .stop = -42 };
    mproc_imap_opts o = { .produce = produce, .produce_ctx = &s };
    mproc_imap *it = NULL;
    int64_t v;
    size_t idx;
    int rc;

    cr_assert_eq(
        mproc_pool_imap(p, item_square, NULL, 0, sizeof(v), sizeof(v), &o, &it),
        0);
    for (int64_t i = 0; i < 5; i++) {
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
        cr_assert_eq(v, i * i);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), -42);
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 0), MPROC_EEOF);
    mproc_imap_free(it);

    /* A source that fails at its first item: the call itself may say so,
     * or the first next. */
    s = (struct source){ .limit = 0, .stop = -43 };
    it = NULL;
    rc =
        mproc_pool_imap(p, item_square, NULL, 0, sizeof(v), sizeof(v), &o, &it);
    if (rc == 0) {
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), -43);
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
        mproc_imap_free(it);
    } else {
        cr_assert_eq(rc, -43);
    }
    mproc_pool_free(p);
}
BOTH_BACKENDS(a_failing_source_ends_imap_with_its_code_once)

static void
imap_next_times_out_while_the_items_run(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg in[3];
    mproc_imap *it = NULL;
    int64_t v = 0;
    size_t idx;
    double t0;

    p = new_pool(threads, 2);
    for (int i = 0; i < 3; i++)
        in[i] = gate_arg(&g, 30, 10 + i);
    cr_assert_eq(mproc_pool_imap(p, item_gate, in, 3, sizeof(in[0]), sizeof(v),
                                 NULL, &it),
                 0);
    t0 = th_now();
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    t0 = th_now();
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    gate_open(&g);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), 0);
        cr_assert_eq(idx, (size_t)i);
        cr_assert_eq(v, 10 + i);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);
    mproc_pool_free(p);
    gate_free(&g);
}
BOTH_BACKENDS(imap_next_times_out_while_the_items_run)

static void
imap_reports_a_failed_item_and_goes_on(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_imap *it = NULL;
    const char *msg = (const char *)1;
    int64_t in[10], v;
    int code = -1;
    size_t idx;
    /* chunksize 3: chunks 0-2, 3-5, 6-8, 9; item 4 fails its chunk. */
    static const int64_t after_chunked[] = { 0, 1, 2, -1, 6, 7, 8, 9 };

    iota(in, 10, 4);
    /* Ordered, one item a task. */
    cr_assert_eq(mproc_pool_imap(p, item_square, in, 10, sizeof(in[0]),
                                 sizeof(v), NULL, &it),
                 0);
    cr_assert_eq(mproc_imap_error(it, &code, &msg), 0);
    cr_assert_eq(code, 0);
    cr_assert_null(msg);
    for (int64_t i = 0; i < 10; i++) {
        int rc = mproc_imap_next(it, &v, &idx, 30);

        if (i == 4) {
            cr_assert_eq(rc, MPROC_ETASK);
            cr_assert_eq(idx, 4u);
            cr_assert_eq(mproc_imap_error(it, &code, &msg), 0);
            cr_assert_eq(code, 7);
            cr_assert_str_eq(msg, "item -4 is negative");
            continue;
        }
        cr_assert_eq(rc, 0, "item %lld", (long long)i);
        cr_assert_eq(idx, (size_t)i);
        cr_assert_eq(v, i * i);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);

    /* Ordered, 3 items a task: the failed chunk's other results are not
     * given. */
    cr_assert_eq(mproc_pool_imap(p, item_square, in, 10, sizeof(in[0]),
                                 sizeof(v),
                                 &(mproc_imap_opts){ .chunksize = 3 }, &it),
                 0);
    for (size_t k = 0; k < sizeof(after_chunked) / sizeof(after_chunked[0]);
         k++) {
        int rc = mproc_imap_next(it, &v, &idx, 30);

        if (after_chunked[k] < 0) {
            cr_assert_eq(rc, MPROC_ETASK);
            cr_assert_eq(idx, 4u);
            cr_assert_eq(mproc_imap_error(it, &code, NULL), 0);
            cr_assert_eq(code, 7);
            continue;
        }
        cr_assert_eq(rc, 0);
        cr_assert_eq(idx, (size_t)after_chunked[k]);
        cr_assert_eq(v, after_chunked[k] * after_chunked[k]);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);

    /* Unordered: nine results and one failure, in any order. */
    cr_assert_eq(mproc_pool_imap_unordered(p, item_square, in, 10,
                                           sizeof(in[0]), sizeof(v), NULL, &it),
                 0);
    {
        int failures = 0;
        bool seen[10] = { false };

        for (int i = 0; i < 10; i++) {
            int rc = mproc_imap_next(it, &v, &idx, 30);

            cr_assert_lt(idx, 10u);
            cr_assert_not(seen[idx]);
            seen[idx] = true;
            if (rc != 0) {
                cr_assert_eq(rc, MPROC_ETASK);
                cr_assert_eq(idx, 4u);
                cr_assert_eq(mproc_imap_error(it, &code, &msg), 0);
                cr_assert_eq(code, 7);
                cr_assert_str_eq(msg, "item -4 is negative");
                failures++;
                continue;
            }
            cr_assert_eq(v, (int64_t)(idx * idx));
        }
        cr_assert_eq(failures, 1);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);
    mproc_pool_free(p);
}
BOTH_BACKENDS(imap_reports_a_failed_item_and_goes_on)

/* ---- futures ------------------------------------------------------------ */

static void
a_failure_carries_its_code_and_message(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_future *f, *g, *h;
    mproc_buf b = { NULL, 0 };
    const char *msg = NULL;
    int code = 0;

    f = apply_async_i64(p, task_double, -5, NULL);
    cr_assert_eq(mproc_future_get(f, &b, 30), MPROC_ETASK);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0u);
    cr_assert_eq(mproc_future_exception(f, &code, &msg, 30), 0);
    cr_assert_eq(code, 7);
    cr_assert_str_eq(msg, "negative -5");
    cr_assert_eq(mproc_future_successful(f), 0);
    cr_assert_eq(mproc_future_signal(f), 0);
    cr_assert_not(mproc_future_cancelled(f));
    cr_assert_not(mproc_future_cancel(f));

    /* The message is cut at 4096 bytes. */
    cr_assert_eq(mproc_pool_apply_async(p, task_fail_long, NULL, 0, NULL, &g),
                 0);
    cr_assert_eq(mproc_future_exception(g, &code, &msg, 30), 0);
    cr_assert_eq(code, 8);
    cr_assert_not_null(msg);
    cr_assert_leq(strlen(msg), 4096u);
    cr_assert_geq(strlen(msg), 4000u);
    cr_assert_eq(strspn(msg, "x"), strlen(msg));

    /* A success: no exception. */
    h = apply_async_i64(p, task_double, 4, NULL);
    msg = (const char *)1;
    code = -1;
    cr_assert_eq(mproc_future_exception(h, &code, &msg, 30), 0);
    cr_assert_eq(code, 0);
    cr_assert_null(msg);
    cr_assert_eq(mproc_future_successful(h), 1);

    /* Outside a task, mproc_task_fail only returns the code. */
    cr_assert_eq(mproc_task_fail(12, "not in a task %d", 1), 12);
    mproc_pool_free(p);
    mproc_future_free(f);
    mproc_future_free(g);
    mproc_future_free(h);
}
BOTH_BACKENDS(a_failure_carries_its_code_and_message)

static void
a_pending_future_times_out_everywhere_then_gives_its_result(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 77);
    mproc_future *f = NULL;
    mproc_buf b = { (void *)1, 1 };
    mproc_obj *o = (mproc_obj *)1;
    const char *msg = NULL;
    int code = 0;
    double t0;

    p = new_pool(threads, 1);
    cr_assert_eq(mproc_pool_apply_async(p, task_gate, &a, sizeof(a), NULL, &f),
                 0);
    gate_wait_started(&g);
    cr_assert_not(mproc_future_ready(f));
    cr_assert(mproc_future_running(f));
    cr_assert_eq(mproc_future_successful(f), MPROC_ESTATE);
    cr_assert_eq(mproc_future_signal(f), 0);
    cr_assert_not(mproc_future_cancelled(f));

    t0 = th_now();
    cr_assert_eq(mproc_future_get(f, &b, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0u);
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
    cr_assert_eq(mproc_future_wait(f, 0), MPROC_ETIMEDOUT);
    t0 = th_now();
    cr_assert_eq(mproc_future_exception(f, &code, &msg, 0.1), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 1.0);

    gate_open(&g);
    cr_assert_eq(mproc_future_wait(f, 30), 0);
    cr_assert(mproc_future_ready(f));
    cr_assert_not(mproc_future_running(f));
    cr_assert_eq(mproc_future_successful(f), 1);
    /* The result can be read again. */
    cr_assert_eq(future_i64(f, 0), 77);
    cr_assert_eq(future_i64(f, MPROC_FOREVER), 77);
    /* A bytes task's result is no object. */
    cr_assert_eq(mproc_future_get_obj(f, &o, 0), MPROC_EPROTOCOL);
    cr_assert_null(o);
    mproc_pool_free(p);
    mproc_future_free(f);
    gate_free(&g);
}
BOTH_BACKENDS(a_pending_future_times_out_everywhere_then_gives_its_result)

static void
cancel_stops_a_pending_task_but_not_a_running_one(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 3);
    mproc_future *running = NULL, *pending;
    struct tally t;
    mproc_async_opts o;
    const char *msg = NULL;
    int code = 0;

    tally_init(&t);
    o = counting(&t);
    p = new_pool(threads, 1);
    cr_assert_eq(
        mproc_pool_apply_async(p, task_gate, &a, sizeof(a), NULL, &running), 0);
    gate_wait_started(&g);
    pending = apply_async_i64(p, task_double, 21, &o);
    cr_assert_not(mproc_future_running(pending));
    cr_assert(mproc_future_cancel(pending));
    cr_assert(mproc_future_cancelled(pending));
    cr_assert(mproc_future_ready(pending));
    cr_assert_eq(mproc_future_get(pending, NULL, 0), MPROC_ECANCELLED);
    cr_assert_eq(mproc_future_exception(pending, &code, &msg, 0),
                 MPROC_ECANCELLED);
    cr_assert_eq(code, MPROC_ECANCELLED);
    cr_assert_eq(mproc_future_successful(pending), 0);
    cr_assert(mproc_future_cancel(pending), "cancelled before: true again");
    cr_assert(tally_wait(&t, &t.failed, 1, 30), "no error callback");

    cr_assert_not(mproc_future_cancel(running));
    cr_assert_not(mproc_future_cancelled(running));
    gate_open(&g);
    cr_assert_eq(future_i64(running, 30), 3);
    cr_assert_not(mproc_future_cancel(running), "done: not cancelled");
    /* The pool goes on. */
    cr_assert_eq(apply_i64(p, task_double, 8), 16);
    mproc_pool_free(p);
    cr_assert_eq(t.failed, 1);
    cr_assert_eq(t.ok, 0);
    cr_assert_eq(t.wrong, 0);
    mproc_future_free(running);
    mproc_future_free(pending);
    gate_free(&g);
    tally_destroy(&t);
}
BOTH_BACKENDS(cancel_stops_a_pending_task_but_not_a_running_one)

/* Done callbacks recording their order and thread. */
struct order {
    struct tally t;
    char seq[8];
    int n; /* atomic */
    pthread_t thread;
};

static void
record(struct order *o, char c)
{
    int i = __atomic_fetch_add(&o->n, 1, __ATOMIC_SEQ_CST);

    if (i < 8)
        o->seq[i] = c;
    o->thread = pthread_self();
    tally_note(&o->t, true, true);
}

static void
done_a(mproc_future *f, void *ctx)
{
    (void)f;
    record(ctx, 'a');
}

static void
done_b(mproc_future *f, void *ctx)
{
    (void)f;
    record(ctx, 'b');
}

static void
done_callbacks_run_in_order_or_at_once_when_done(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 1);
    mproc_future *f = NULL, *freed = NULL;
    struct order o, now, later;

    memset(&o, 0, sizeof(o));
    memset(&now, 0, sizeof(now));
    memset(&later, 0, sizeof(later));
    tally_init(&o.t);
    tally_init(&now.t);
    tally_init(&later.t);
    p = new_pool(threads, 1);
    cr_assert_eq(mproc_pool_apply_async(p, task_gate, &a, sizeof(a), NULL, &f),
                 0);
    gate_wait_started(&g);
    cr_assert_eq(mproc_future_add_done_callback(f, done_a, &o), 0);
    cr_assert_eq(mproc_future_add_done_callback(f, done_b, &o), 0);
    /* A handle freed while pending: its callbacks still run. */
    freed = apply_async_i64(p, task_double, 1, NULL);
    cr_assert_eq(mproc_future_add_done_callback(freed, done_a, &later), 0);
    mproc_future_free(freed);
    cr_assert_eq(tally_read(&o.t, &o.t.calls), 0);
    gate_open(&g);
    cr_assert(tally_wait(&o.t, &o.t.calls, 2, 30));
    cr_assert(tally_wait(&later.t, &later.t.calls, 1, 30));
    cr_assert_eq(o.seq[0], 'a');
    cr_assert_eq(o.seq[1], 'b');
    cr_assert_not(pthread_equal(o.thread, pthread_self()));

    /* Done already: at once, in this thread. */
    cr_assert_eq(mproc_future_wait(f, 30), 0);
    cr_assert_eq(mproc_future_add_done_callback(f, done_b, &now), 0);
    cr_assert_eq(now.n, 1);
    cr_assert_eq(now.seq[0], 'b');
    cr_assert(pthread_equal(now.thread, pthread_self()));
    mproc_pool_free(p);
    cr_assert_eq(o.n, 2);
    cr_assert_eq(now.n, 1);
    cr_assert_eq(later.n, 1);
    mproc_future_free(f);
    gate_free(&g);
    tally_destroy(&o.t);
    tally_destroy(&now.t);
    tally_destroy(&later.t);
}
BOTH_BACKENDS(done_callbacks_run_in_order_or_at_once_when_done)

/* ---- timeouts of the blocking calls ------------------------------------- */

static void
every_blocking_call_times_out_while_its_tasks_run(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new(); /* never opened: each item waits 0.3 s */
    struct gate_arg a[4];
    struct gate_arg one = gate_arg(&g, 0.3, 1);
    mproc_obj *bytes = NULL, *list = NULL, *out = NULL;
    mproc_buf bufs[4], outs[4];
    int64_t res[4];
    double t0;

    p = new_pool(threads, 2);
    for (int i = 0; i < 4; i++) {
        a[i] = one;
        bufs[i] = (mproc_buf){ &a[i], sizeof(a[i]) };
        outs[i] = (mproc_buf){ NULL, 0 };
    }
    cr_assert_eq(mproc_obj_bytes(&bytes, &one, sizeof(one)), 0);
    cr_assert_eq(mproc_obj_list(&list), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mproc_obj_list_append(list, bytes), 0);

    t0 = th_now();
    cr_assert_eq(mproc_pool_apply(p, task_gate, &one, sizeof(one), NULL, 0.1),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 2.0);
    t0 = th_now();
    cr_assert_eq(mproc_pool_apply_obj(p, obj_gate, bytes, &out, 0.1),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 2.0);
    cr_assert_null(out);
    /* A map returns once its running chunks finished (0.3 s). */
    t0 = th_now();
    cr_assert_eq(mproc_pool_map(p, item_gate, a, 4, sizeof(a[0]), res,
                                sizeof(res[0]), NULL, 0.1),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 5.0);
    t0 = th_now();
    cr_assert_eq(mproc_pool_starmap(p, item_gate, a, 4, sizeof(a[0]), res,
                                    sizeof(res[0]), NULL, 0.1),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 5.0);
    t0 = th_now();
    cr_assert_eq(mproc_pool_map_bufs(p, task_gate, bufs, 4, outs, NULL, 0.1),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 5.0);
    for (int i = 0; i < 4; i++)
        mproc_buf_free(&outs[i]);
    t0 = th_now();
    cr_assert_eq(mproc_pool_map_obj(p, obj_gate, list, &out, NULL, 0.1),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 5.0);
    mproc_obj_free(out);
    /* The pool goes on. */
    cr_assert_eq(apply_i64(p, task_double, 5), 10);
    mproc_pool_free(p);
    mproc_obj_free(bytes);
    mproc_obj_free(list);
    gate_free(&g);
}
BOTH_BACKENDS(every_blocking_call_times_out_while_its_tasks_run)

static void
apply_that_times_out_before_its_task_started_cancels_it(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 2);
    mproc_future *f = NULL;
    double t0;

    task_runs = shared_page(4096);
    p = new_pool(threads, 1);
    cr_assert_eq(mproc_pool_apply_async(p, task_gate, &a, sizeof(a), NULL, &f),
                 0);
    gate_wait_started(&g);
    t0 = th_now();
    cr_assert_eq(mproc_pool_apply(p, task_count, NULL, 0, NULL, 0.2),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    gate_open(&g);
    cr_assert_eq(future_i64(f, 30), 2);
    /* One worker, in order: had the first count run, it ran before this. */
    cr_assert_eq(mproc_pool_apply(p, task_count, NULL, 0, NULL, 30), 0);
    cr_assert_eq(__atomic_load_n(task_runs, __ATOMIC_SEQ_CST), 1);
    mproc_pool_free(p);
    mproc_future_free(f);
    gate_free(&g);
    munmap(task_runs, 4096);
}
BOTH_BACKENDS(apply_that_times_out_before_its_task_started_cancels_it)

/* ---- sizes -------------------------------------------------------------- */

static void
what_does_not_fit_the_queues_is_too_big(bool threads)
{
    mproc_pool *p = new_pool_with(&(mproc_pool_opts){
        .processes = 1, .threads = threads, .capacity = 1 << 20 });
    size_t big = 2 << 20;
    char *arg = calloc(1, big);
    int64_t *in = calloc(1, big), *out = calloc(1, big);
    mproc_future *f = NULL;

    cr_assert_not_null(arg);
    cr_assert_not_null(in);
    cr_assert_not_null(out);
    cr_assert_eq(mproc_pool_apply_async(p, task_reverse, arg, big, NULL, &f),
                 MPROC_ETOOBIG);
    cr_assert_eq(mproc_pool_apply(p, task_reverse, arg, big, NULL, 30),
                 MPROC_ETOOBIG);
    /* One chunk of 2 MiB of items. */
    cr_assert_eq(mproc_pool_map(p, item_square, in, big / 8, 8, out, 8,
                                &(mproc_map_opts){ .chunksize = (long)big / 8 },
                                30),
                 MPROC_ETOOBIG);
    /* A result that does not fit fails its task. */
    cr_assert_eq(mproc_pool_apply_async(p, task_big_result, NULL, 0, NULL, &f),
                 0);
    cr_assert_eq(mproc_future_get(f, NULL, 30), MPROC_ETOOBIG);
    mproc_future_free(f);
    cr_assert_eq(apply_i64(p, task_double, 6), 12);
    mproc_pool_free(p);
    free(arg);
    free(in);
    free(out);
}
BOTH_BACKENDS(what_does_not_fit_the_queues_is_too_big)

/* ---- workers: initializer, maxtasksperchild ----------------------------- */

/* What the initializers did, in a shared page. */
struct init_log {
    int n;        /* atomic */
    int bad_args; /* atomic */
    int32_t pid[64], tid[64];
};

static struct init_log *init_log; /* set before the pool */

static void
record_init(const void *arg, size_t len)
{
    int i = __atomic_fetch_add(&init_log->n, 1, __ATOMIC_SEQ_CST);

    if (len != 5 || memcmp(arg, "hello", 5) != 0)
        __atomic_fetch_add(&init_log->bad_args, 1, __ATOMIC_SEQ_CST);
    if (i < 64) {
        init_log->pid[i] = getpid();
        init_log->tid[i] = (int32_t)gettid();
    }
}

/* How often the worker `id` ran the initializer. */
static int
inits_of(int32_t id, bool threads)
{
    int n = 0;

    for (int i = 0; i < init_log->n && i < 64; i++)
        if ((threads ? init_log->tid[i] : init_log->pid[i]) == id)
            n++;
    return n;
}

static void
the_initializer_runs_once_in_each_worker(bool threads)
{
    char hello[] = "hello";
    mproc_pool_opts o = { .processes = 2,
                          .threads = threads,
                          .initializer = record_init,
                          .initargs = hello,
                          .initargs_len = 5 };
    mproc_future *f[20];
    mproc_pool *p;

    init_log = shared_page(4096);
    p = new_pool_with(&o);
    hello[0] = 'j'; /* the pool keeps a copy */
    for (int i = 0; i < 20; i++)
        f[i] = apply_async_i64(p, task_ident, 0, NULL);
    for (int i = 0; i < 20; i++) {
        int32_t id = ident_of(future_i64(f[i], 30), threads);

        cr_assert_eq(inits_of(id, threads), 1,
                     "worker %d ran its init %d times", id,
                     inits_of(id, threads));
        mproc_future_free(f[i]);
    }
    cr_assert_leq(init_log->n, 2);
    cr_assert_eq(init_log->bad_args, 0);
    mproc_pool_free(p);
    munmap(init_log, 4096);
}
BOTH_BACKENDS(the_initializer_runs_once_in_each_worker)

static void
maxtasksperchild_replaces_workers(bool threads)
{
    mproc_pool_opts o = { .processes = 1,
                          .threads = threads,
                          .maxtasksperchild = 2,
                          .initializer = record_init,
                          .initargs = "hello",
                          .initargs_len = 5 };
    int32_t ids[10];
    int distinct = 0;
    mproc_pool *p;

    init_log = shared_page(4096);
    p = new_pool_with(&o);
    for (int i = 0; i < 10; i++) {
        ids[i] = ident_of(apply_i64(p, task_ident, 0), threads);
        cr_assert_eq(inits_of(ids[i], threads), 1);
        distinct++;
        for (int k = 0; k < i; k++)
            if (ids[k] == ids[i]) {
                distinct--;
                break;
            }
    }
    cr_assert_geq(distinct, 5, "%d workers for 10 tasks", distinct);
    cr_assert_geq(init_log->n, 5);
    mproc_pool_free(p);
    munmap(init_log, 4096);
}
BOTH_BACKENDS(maxtasksperchild_replaces_workers)

/* ---- close, terminate, join --------------------------------------------- */

static void
close_lets_queued_tasks_finish_and_refuses_new_ones(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    mproc_future *f[20], *g = (mproc_future *)1;
    mproc_imap *it = (mproc_imap *)1;
    mproc_obj *arg = TH_OBJ("i", 1);
    int64_t in[4] = { 1, 2, 3, 4 }, out[4];
    double t0 = th_now();
    int64_t v = 1;

    cr_assert_eq(mproc_pool_join(p, 30), MPROC_ESTATE);
    th_assert_elapsed(t0, 0, 1.0);
    for (int i = 0; i < 20; i++)
        f[i] = apply_async_i64(p, task_double, i, NULL);
    cr_assert_eq(mproc_pool_close(p), 0);
    cr_assert_eq(mproc_pool_close(p), MPROC_ESTATE);
    cr_assert_eq(mproc_pool_apply(p, task_double, &v, sizeof(v), NULL, 30),
                 MPROC_ESTATE);
    cr_assert_eq(
        mproc_pool_apply_async(p, task_double, &v, sizeof(v), NULL, &g),
        MPROC_ESTATE);
    cr_assert_eq(mproc_pool_apply_obj(p, obj_square, arg, NULL, 30),
                 MPROC_ESTATE);
    cr_assert_eq(mproc_pool_map(p, item_square, in, 4, 8, out, 8, NULL, 30),
                 MPROC_ESTATE);
    cr_assert_eq(mproc_pool_imap(p, item_square, in, 4, 8, 8, NULL, &it),
                 MPROC_ESTATE);
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(future_i64(f[i], 0), 2 * i);
        mproc_future_free(f[i]);
    }
    mproc_pool_free(p);
    mproc_obj_free(arg);
}
BOTH_BACKENDS(close_lets_queued_tasks_finish_and_refuses_new_ones)

static void
join_times_out_while_a_task_runs_after_close(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 9);
    mproc_future *f = NULL;
    double t0;

    p = new_pool(threads, 1);
    cr_assert_eq(mproc_pool_apply_async(p, task_gate, &a, sizeof(a), NULL, &f),
                 0);
    gate_wait_started(&g);
    cr_assert_eq(mproc_pool_close(p), 0);
    t0 = th_now();
    cr_assert_eq(mproc_pool_join(p, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(mproc_pool_join(p, 0), MPROC_ETIMEDOUT);
    gate_open(&g);
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    cr_assert_eq(future_i64(f, 0), 9);
    mproc_pool_free(p);
    mproc_future_free(f);
    gate_free(&g);
}
BOTH_BACKENDS(join_times_out_while_a_task_runs_after_close)

static void
a_map_with_a_failing_item_still_lets_close_and_join_finish(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    int64_t in[N_MAP], out[N_MAP];

    iota(in, N_MAP, 50);
    cr_assert_eq(mproc_pool_map(p, item_square, in, N_MAP, sizeof(in[0]), out,
                                sizeof(out[0]),
                                &(mproc_map_opts){ .chunksize = 1 }, 30),
                 MPROC_ETASK);
    cr_assert_eq(mproc_pool_close(p), 0);
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    mproc_pool_free(p);
}
BOTH_BACKENDS(a_map_with_a_failing_item_still_lets_close_and_join_finish)

static void
terminate_refuses_everything_after(bool threads)
{
    mproc_pool *p = new_pool(threads, 2);
    int64_t v = 1;

    cr_assert_eq(mproc_pool_terminate(p), 0);
    cr_assert_eq(mproc_pool_terminate(p), MPROC_ESTATE);
    cr_assert_eq(mproc_pool_close(p), MPROC_ESTATE);
    cr_assert_eq(mproc_pool_apply(p, task_double, &v, sizeof(v), NULL, 30),
                 MPROC_ESTATE);
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    mproc_pool_free(p);

    /* Freed without close or terminate: free terminates and joins. */
    p = new_pool(threads, 2);
    cr_assert_eq(apply_i64(p, task_double, 2), 4);
    mproc_pool_free(p);
}
BOTH_BACKENDS(terminate_refuses_everything_after)

#define N_TERMINATE 10000

static void
terminate_with_ten_thousand_pending_tasks_returns_promptly(bool threads)
{
    mproc_pool *p;
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 1);
    mproc_future **f = calloc(N_TERMINATE, sizeof(*f));
    struct tally t;
    mproc_async_opts o;
    int cancelled = 0;
    double t0;

    cr_assert_not_null(f);
    tally_init(&t);
    o = counting(&t);
    p = new_pool(threads, 2);
    for (int i = 0; i < N_TERMINATE; i++) {
        /* Processes block for good; threads wait for the gate, opened
         * once terminate returned (a thread cannot be killed). */
        if (threads)
            cr_assert_eq(
                mproc_pool_apply_async(p, task_gate, &a, sizeof(a), &o, &f[i]),
                0);
        else
            cr_assert_eq(mproc_pool_apply_async(p, task_block_forever, NULL, 0,
                                                &o, &f[i]),
                         0);
    }
    t0 = th_now();
    cr_assert_eq(mproc_pool_terminate(p), 0);
    if (threads)
        gate_open(&g);
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    th_assert_elapsed(t0, 0, 2.0);
    /* join waited for every callback. */
    cr_assert_eq(t.calls, N_TERMINATE);
    cr_assert_eq(t.wrong, 0);
    for (int i = 0; i < N_TERMINATE; i++) {
        int rc;

        cr_assert(mproc_future_ready(f[i]), "future %d", i);
        rc = mproc_future_get(f[i], NULL, 0);
        if (rc == MPROC_ECANCELLED)
            cancelled++;
        else if (threads)
            cr_assert(rc == 0 || rc == MPROC_ECRASHED, "future %d: %s", i,
                      mproc_errname(rc));
        else
            cr_assert_eq(rc, MPROC_ECRASHED, "future %d: %s", i,
                         mproc_errname(rc));
        mproc_future_free(f[i]);
    }
    /* At most one task a worker had started. */
    cr_assert_geq(cancelled, N_TERMINATE - 2);
    if (!threads)
        cr_assert_eq(t.failed, N_TERMINATE);
    mproc_pool_free(p);
    free(f);
    gate_free(&g);
    tally_destroy(&t);
}
BOTH_BACKENDS(terminate_with_ten_thousand_pending_tasks_returns_promptly)

/* ---- crashes (processes only) ------------------------------------------- */

/* The future of fn(arg) on p, which must fail ECRASHED by signal sig (0:
 * an exit), with a message; then a task on p must work. */
static void
expect_crash(mproc_pool *p, mproc_task_fn fn, int64_t arg, int sig)
{
    struct tally t;
    mproc_async_opts o;
    mproc_future *f;
    const char *msg = NULL;
    int code = 0;

    tally_init(&t);
    o = counting(&t);
    f = apply_async_i64(p, fn, arg, &o);
    cr_assert_eq(mproc_future_get(f, NULL, 30), MPROC_ECRASHED);
    cr_assert_eq(mproc_future_signal(f), sig);
    cr_assert_eq(mproc_future_exception(f, &code, &msg, 0), 0);
    cr_assert_eq(code, MPROC_ECRASHED);
    cr_assert_not_null(msg, "a crash is described");
    cr_assert(tally_wait(&t, &t.failed, 1, 30), "no error callback");
    cr_assert_eq(apply_i64(p, task_double, 20), 40);
    cr_assert_eq(t.calls, 1);
    cr_assert_eq(t.wrong, 0);
    mproc_future_free(f);
    tally_destroy(&t);
}

Test(pool, a_worker_killed_while_it_decodes_an_object_argument_fails_its_task)
{
    mproc_pool *p = new_pool(false, 1);
    mproc_obj *arg = TH_OBJ("[i s [d d]]", 1, "two", 3.0, 4.0), *out = NULL;
    mproc_future *f = NULL;
    int64_t v;

    cr_assert_eq(mproc_pool_apply_async_obj(p, obj_kill_first, arg, NULL, &f),
                 0);
    cr_assert_eq(mproc_future_get_obj(f, &out, 30), MPROC_ECRASHED);
    cr_assert_null(out);
    cr_assert_eq(mproc_future_signal(f), SIGKILL);
    cr_assert_eq(mproc_pool_apply_obj(p, obj_fault_first, arg, &out, 30),
                 MPROC_ECRASHED);
    cr_assert_null(out);
    /* The pool goes on. */
    mproc_obj_free(arg);
    arg = TH_OBJ("i", 7);
    cr_assert_eq(mproc_pool_apply_obj(p, obj_square, arg, &out, 30), 0);
    cr_assert_eq(mproc_obj_int_value(out, &v), 0);
    cr_assert_eq(v, 49);
    mproc_obj_free(out);
    mproc_obj_free(arg);
    mproc_future_free(f);
    mproc_pool_free(p);
}

Test(pool, a_worker_dying_while_its_task_runs_fails_only_that_task)
{
    mproc_pool *p = new_pool(false, 1);
    int64_t v = 0;

    expect_crash(p, task_fault, 0, SIGSEGV);
    expect_crash(p, task_kill_self, 0, SIGKILL);
    expect_crash(p, task_exit, 0, 0);
    /* apply says it too. */
    cr_assert_eq(mproc_pool_apply(p, task_fault, &v, sizeof(v), NULL, 30),
                 MPROC_ECRASHED);
    cr_assert_eq(apply_i64(p, task_double, 1), 2);
    mproc_pool_free(p);
}

Test(pool, a_worker_dying_while_its_result_is_sent_fails_only_that_task)
{
    mproc_pool *p = new_pool(false, 1);

    expect_crash(p, task_unreadable_result, 0, SIGSEGV);
    expect_crash(p, task_result_then_kill, 5, SIGKILL);
    mproc_pool_free(p);
}

Test(pool, a_crash_leaves_the_other_workers_tasks_alone)
{
    mproc_pool *p = new_pool(false, 2);
    mproc_future *f[10], *crash = NULL;

    for (int i = 0; i < 10; i++) {
        f[i] = apply_async_i64(p, task_double, i, NULL);
        if (i == 4)
            crash = apply_async_i64(p, task_fault, 0, NULL);
    }
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(future_i64(f[i], 30), 2 * i);
        mproc_future_free(f[i]);
    }
    cr_assert_eq(mproc_future_get(crash, NULL, 30), MPROC_ECRASHED);
    cr_assert_eq(mproc_future_signal(crash), SIGSEGV);
    mproc_future_free(crash);
    mproc_pool_free(p);
}

Test(pool, a_map_whose_item_crashes_fails_and_the_pool_goes_on)
{
    mproc_pool *p = new_pool(false, 2);
    mproc_map_opts one = { .chunksize = 1 };
    int64_t in[10], out[10], v;
    mproc_future *f = NULL;
    mproc_imap *it = NULL;
    const char *msg = NULL;
    size_t idx;
    int code = 0;

    iota(in, 10, -1);
    cr_assert_eq(
        mproc_pool_map(p, item_fault_at_5, in, 10, 8, out, 8, &one, 30),
        MPROC_ECRASHED);
    cr_assert_eq(mproc_pool_map(p, item_square, in, 10, 8, out, 8, &one, 30),
                 0);
    cr_assert_eq(out[9], 81);

    cr_assert_eq(
        mproc_pool_map_async(p, item_fault_at_5, in, 10, 8, out, 8, &one, &f),
        0);
    cr_assert_eq(mproc_future_get(f, NULL, 30), MPROC_ECRASHED);
    cr_assert_eq(mproc_future_signal(f), SIGSEGV);
    mproc_future_free(f);

    cr_assert_eq(mproc_pool_imap(p, item_fault_at_5, in, 10, 8, 8, NULL, &it),
                 0);
    for (int64_t i = 0; i < 10; i++) {
        int rc = mproc_imap_next(it, &v, &idx, 30);

        cr_assert_eq(idx, (size_t)i);
        if (i == 5) {
            cr_assert_eq(rc, MPROC_ECRASHED);
            cr_assert_eq(mproc_imap_error(it, &code, &msg), 0);
            cr_assert_eq(code, MPROC_ECRASHED);
            continue;
        }
        cr_assert_eq(rc, 0, "item %lld", (long long)i);
        cr_assert_eq(v, i * i);
    }
    cr_assert_eq(mproc_imap_next(it, &v, &idx, 30), MPROC_EEOF);
    mproc_imap_free(it);
    mproc_pool_free(p);
}

Test(pool, a_task_past_task_timeout_is_killed_and_the_next_one_runs)
{
    mproc_pool *p = new_pool_with(
        &(mproc_pool_opts){ .processes = 1, .task_timeout = 0.3 });
    mproc_future *f;
    double t0 = th_now();

    f = apply_async_i64(p, task_block_forever, 0, NULL);
    /* A generous wait: the task's own time ran out first. */
    cr_assert_eq(mproc_future_get(f, NULL, 30), MPROC_ECRASHED);
    th_assert_elapsed(t0, 0.3, 5.0);
    cr_assert_eq(mproc_future_signal(f), SIGKILL);
    cr_assert_eq(apply_i64(p, task_double, 3), 6);
    mproc_future_free(f);
    mproc_pool_free(p);
}

Test(pool, a_worker_killed_from_outside_is_replaced)
{
    mproc_pool *p = new_pool(false, 1);
    pid_t first = ident_pid(apply_i64(p, task_ident, 0)), second;

    cr_assert_gt(first, 0);
    cr_assert_neq(first, getpid());
    cr_assert_eq(kill(first, SIGKILL), 0);
    second = ident_pid(apply_i64(p, task_ident, 0));
    cr_assert_neq(second, first);
    cr_assert_eq(apply_i64(p, task_double, 50), 100);
    mproc_pool_free(p);
}

/* With a queue of 64 KiB and its one worker held, 5,000 tasks of 100
 * bytes do not fit: submitting still never waits, and every task runs, in
 * order, once the worker goes on; close waits for them too. */
static void
submitting_never_waits_for_a_full_queue(bool threads)
{
    mproc_pool *p = new_pool_with(&(mproc_pool_opts){
        .processes = 1, .threads = threads, .capacity = 65536 });
    struct gate g = gate_new();
    struct gate_arg a = gate_arg(&g, 30, 1);
    mproc_future *held, **f = calloc(5000, sizeof(*f));
    char arg[100] = { 0 };
    double t0;

    cr_assert_not_null(f);
    cr_assert_eq(
        mproc_pool_apply_async(p, task_gate, &a, sizeof(a), NULL, &held), 0);
    gate_wait_started(&g);
    t0 = th_now();
    for (int i = 0; i < 5000; i++) {
        int64_t v = i;

        memcpy(arg, &v, sizeof(v));
        cr_assert_eq(
            mproc_pool_apply_async(p, task_double, arg, sizeof(v), NULL, &f[i]),
            0);
    }
    th_assert_elapsed(t0, 0, 2.0);
    cr_assert_not(mproc_future_ready(f[4999]));
    cr_assert_eq(mproc_pool_close(p), 0);
    gate_open(&g);
    cr_assert_eq(future_i64(held, 30), 1);
    for (int i = 0; i < 5000; i++) {
        cr_assert_eq(future_i64(f[i], 30), 2 * i);
        mproc_future_free(f[i]);
    }
    cr_assert_eq(mproc_pool_join(p, 30), 0);
    mproc_future_free(held);
    mproc_pool_free(p);
    gate_free(&g);
    free(f);
}
BOTH_BACKENDS(submitting_never_waits_for_a_full_queue)

Test(pool, workers_ignore_ctrl_c)
{
    mproc_pool *p = new_pool(false, 1);
    pid_t first = ident_pid(apply_i64(p, task_ident, 0));

    cr_assert_gt(first, 0);
    /* Pending now: acted on before the worker runs anything again, and
     * SIGINT's default would end it (the next task would then run in a
     * replacement). */
    cr_assert_eq(kill(first, SIGINT), 0);
    cr_assert_eq(ident_pid(apply_i64(p, task_ident, 0)), first);
    cr_assert_eq(ident_pid(apply_i64(p, task_ident, 0)), first);
    mproc_pool_free(p);
}

/* A raw child: make a pool of 2, write its workers' pids to fd, wait to be
 * killed. */
static void
pool_owner(int fd)
{
    mproc_pool *p = NULL;
    mproc_barrier *b = NULL;
    mproc_token t;
    pid_t pids[2] = { 0, 0 };
    mproc_future *f[2];

    if (mproc_barrier_new(&b, 2, NULL) < 0 || mproc_barrier_token(b, &t) < 0 ||
        mproc_pool_new(&p, &(mproc_pool_opts){ .processes = 2 }) < 0)
        _exit(2);
    /* Two tasks held at once: one in each worker. */
    for (int i = 0; i < 2; i++)
        if (mproc_pool_apply_async(p, task_ident_met, &t, sizeof(t), NULL,
                                   &f[i]) < 0)
            _exit(3);
    for (int i = 0; i < 2; i++) {
        mproc_buf r;

        if (mproc_future_get(f[i], &r, 30) < 0 || r.len != sizeof(int64_t))
            _exit(4);
        pids[i] = ident_pid(*(int64_t *)r.data);
        mproc_buf_free(&r);
    }
    if (write(fd, pids, sizeof(pids)) != (ssize_t)sizeof(pids))
        _exit(5);
    for (;;)
        pause();
}

Test(pool, workers_leave_when_their_parent_is_killed)
{
    pid_t pids[2], owner;
    int fds[2], pidfd[2];

    cr_assert_eq(pipe(fds), 0);
    owner = fork();
    cr_assert_geq(owner, 0);
    if (owner == 0) {
        close(fds[0]);
        pool_owner(fds[1]);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], pids, sizeof(pids)), (ssize_t)sizeof(pids));
    close(fds[0]);
    cr_assert_neq(pids[0], pids[1], "both tasks ran in one worker");
    for (int i = 0; i < 2; i++) {
        pidfd[i] = (int)syscall(SYS_pidfd_open, pids[i], 0);
        cr_assert_geq(pidfd[i], 0);
    }
    cr_assert_eq(kill(owner, SIGKILL), 0);
    cr_assert_eq(waitpid(owner, NULL, 0), owner);
    /* Each worker's pidfd turns readable when it is gone. */
    for (int i = 0; i < 2; i++) {
        struct pollfd pfd = { .fd = pidfd[i], .events = POLLIN };

        cr_assert_eq(poll(&pfd, 1, 10000), 1, "worker %d lingers", pids[i]);
        close(pidfd[i]);
    }
}

/* ---- spawn -------------------------------------------------------------- */

/* Spawn workers find these again by (object, offset). */
int
pool_spawn_square(const void *in, void *out)
{
    return item_square(in, out);
}

int
pool_spawn_double(const void *arg, size_t len, mproc_buf *out)
{
    return task_double(arg, len, out);
}

Test(pool, spawn_workers_run_a_map_and_an_apply)
{
    mproc_pool *p = new_pool_with(&(mproc_pool_opts){
        .processes = 2, .start_method = MPROC_START_SPAWN });
    int64_t in[16], out[16];

    iota(in, 16, -1);
    cr_assert_eq(
        mproc_pool_map(p, pool_spawn_square, in, 16, 8, out, 8, NULL, 30), 0);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(out[i], (int64_t)i * i);
    cr_assert_eq(apply_i64(p, pool_spawn_double, 11), 22);
    cr_assert_neq(ident_pid(apply_i64(p, task_ident, 0)), getpid());
    mproc_pool_free(p);
}

/* ---- refusals ----------------------------------------------------------- */

static void
cb_nothing(mproc_future *f, void *ctx)
{
    (void)f;
    (void)ctx;
}

Test(pool, bad_options_are_refused)
{
    static const mproc_pool_opts bad[] = {
        { .processes = -1 },
        { .maxtasksperchild = -1 },
        { .task_timeout = -1 },
        { .task_timeout = NAN },
        { .threads = true, .task_timeout = 1 },
        { .processes = 4097 },
        { .initargs = NULL, .initargs_len = 3 },
        { .capacity = (size_t)3 << 30 },
        { .start_method = (enum mproc_start_method)77 },
    };
    mproc_pool *p = NULL;

    cr_assert_eq(mproc_pool_new(NULL, NULL), MPROC_EINVAL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(mproc_pool_new(&p, &bad[i]), MPROC_EINVAL, "options %zu",
                     i);
}

Test(pool, bad_arguments_are_refused)
{
    mproc_pool *p = new_pool(false, 1);
    mproc_future *f = NULL;
    mproc_imap *it = NULL;
    mproc_obj *arg = TH_OBJ("i", 2), *out = NULL;
    mproc_buf bin[2] = { { "a", 1 }, { "b", 1 } }, bout[2];
    int64_t in[4] = { 1, 2, 3, 4 }, res[4];
    mproc_map_opts neg = { .chunksize = -1 };
    mproc_map_opts cbs = { .async = { .callback = cb_nothing } };
    mproc_imap_opts ineg = { .chunksize = -1 };
    int64_t v = 1;
    size_t idx;

    memset(bout, 0, sizeof(bout));
    /* apply */
    cr_assert_eq(mproc_pool_apply(NULL, task_double, &v, 8, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply(p, NULL, &v, 8, NULL, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply(p, task_double, NULL, 8, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply(p, task_double, &v, 8, NULL, NAN),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_async(NULL, task_double, &v, 8, NULL, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_async(p, NULL, &v, 8, NULL, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_async(p, task_double, NULL, 8, NULL, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_async(p, task_double, &v, 8, NULL, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_obj(NULL, obj_square, arg, &out, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_obj(p, NULL, arg, &out, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_obj(p, obj_square, arg, &out, NAN),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_async_obj(p, NULL, arg, NULL, &f),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_apply_async_obj(p, obj_square, arg, NULL, NULL),
                 MPROC_EINVAL);
    /* maps */
    cr_assert_eq(mproc_pool_map(NULL, item_square, in, 4, 8, res, 8, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map(p, NULL, in, 4, 8, res, 8, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map(p, item_square, NULL, 4, 8, res, 8, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map(p, item_square, in, 4, 8, NULL, 8, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map(p, item_square, in, 4, 8, res, 8, &neg, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map(p, item_square, in, 4, 8, res, 8, &cbs, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map(p, item_square, in, 4, 8, res, 8, NULL, NAN),
                 MPROC_EINVAL);
    cr_assert_eq(
        mproc_pool_map_async(p, item_square, in, 4, 8, res, 8, &neg, &f),
        MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map_async(p, NULL, in, 4, 8, res, 8, NULL, &f),
                 MPROC_EINVAL);
    cr_assert_eq(
        mproc_pool_starmap(p, item_product, in, 2, 16, res, 8, &neg, 1),
        MPROC_EINVAL);
    cr_assert_eq(
        mproc_pool_starmap_async(p, item_product, in, 2, 16, res, 8, &neg, &f),
        MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map_bufs(p, task_reverse, bin, 2, bout, &neg, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map_bufs(p, task_reverse, NULL, 2, bout, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map_bufs(p, NULL, bin, 2, bout, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map_obj(p, obj_square, arg, &out, NULL, 1),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_map_obj(p, NULL, arg, &out, NULL, 1), MPROC_EINVAL);
    /* imaps */
    cr_assert_eq(mproc_pool_imap(p, item_square, in, 4, 8, 8, NULL, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_imap(p, NULL, in, 4, 8, 8, NULL, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_imap(p, item_square, NULL, 4, 8, 8, NULL, &it),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_pool_imap(p, item_square, in, 4, 8, 8, &ineg, &it),
                 MPROC_EINVAL);
    cr_assert_eq(
        mproc_pool_imap_unordered(p, item_square, in, 4, 8, 8, &ineg, &it),
        MPROC_EINVAL);
    cr_assert_eq(mproc_pool_imap(p, item_square, in, 4, 8, 8, NULL, &it), 0);
    cr_assert_eq(mproc_imap_next(NULL, res, &idx, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_imap_next(it, NULL, &idx, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_imap_next(it, res, &idx, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_imap_error(NULL, NULL, NULL), MPROC_EINVAL);
    mproc_imap_free(it);
    mproc_imap_free(NULL);
    /* futures */
    cr_assert_eq(mproc_future_get(NULL, NULL, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_future_get_obj(NULL, &out, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_future_wait(NULL, 1), MPROC_EINVAL);
    cr_assert_not(mproc_future_ready(NULL));
    cr_assert_eq(mproc_future_successful(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_future_exception(NULL, NULL, NULL, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_future_signal(NULL), 0);
    cr_assert_not(mproc_future_cancel(NULL));
    cr_assert_not(mproc_future_cancelled(NULL));
    cr_assert_not(mproc_future_running(NULL));
    cr_assert_eq(mproc_future_add_done_callback(NULL, cb_nothing, NULL),
                 MPROC_EINVAL);
    f = apply_async_i64(p, task_double, 1, NULL);
    cr_assert_eq(mproc_future_get(f, NULL, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_future_get_obj(f, &out, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_future_wait(f, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_future_exception(f, NULL, NULL, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_future_add_done_callback(f, NULL, NULL), MPROC_EINVAL);
    cr_assert_eq(future_i64(f, 30), 2);
    mproc_future_free(f);
    mproc_future_free(NULL);
    /* the pool */
    cr_assert_eq(mproc_pool_close(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_pool_terminate(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_pool_join(NULL, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_pool_join(p, NAN), MPROC_EINVAL);
    mproc_pool_free(NULL);
    /* Nothing refused broke the pool. */
    cr_assert_eq(apply_i64(p, task_double, 4), 8);
    mproc_pool_free(p);
    mproc_obj_free(arg);
}
