/*
 * tests/manager.c - Managers (Python's multiprocessing.managers): every
 * builtin type through proxies, from this process and from forked
 * children; the standalone mproc-manager program reached over TCP and a
 * Unix path by clients that prove the key (and refused to one that does
 * not), stopped by SIGTERM; proxies stored inside managed containers;
 * registered types (exposed methods, method_to_typeid) whose destroy
 * reports to the test, which proves when objects are freed: with the last
 * proxy, not while a child holds one, and when a client is SIGKILLed;
 * clients SIGKILLed while blocked and mid-request; shutdown; many clients
 * at once; the SharedMemoryManager; proxies inherited across fork.
 *
 * The server is a fork of the test process, so a registered type's create
 * and destroy run there and report through a shared page and a pipe the
 * test made first. Children report through exit codes and pipes; nothing
 * sleeps for luck: a wait polls the thing itself (a pipe, /proc) with a
 * deadline.
 */
#include "helpers/th.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(manager, .init = th_begin, .fini = th_end, .timeout = 60);

#define assert_code(call, want)                                                \
    do {                                                                       \
        int ac_rc_ = (call);                                                   \
        cr_assert_eq(ac_rc_, (want), "%s: %s, expected %s", #call,             \
                     mproc_errname(ac_rc_), mproc_errname(want));              \
    } while (0)

/* Call a method that must succeed: its result, owned by the caller. */
#define CALL(p, method, ...)                                                   \
    ({                                                                         \
        mproc_obj *call_r_ = NULL;                                             \
        int call_rc_ =                                                         \
            mproc_proxy_callf((p), (method), &call_r_, __VA_ARGS__);           \
        cr_assert_eq(call_rc_, 0, "%s(%s): %s", (method), #__VA_ARGS__,        \
                     mproc_errname(call_rc_));                                 \
        call_r_;                                                               \
    })

/* Call a method that must fail with `want`. */
#define CALL_FAILS(p, method, want, ...)                                       \
    assert_code(mproc_proxy_callf((p), (method), NULL, __VA_ARGS__), (want))

/* ---- helpers ------------------------------------------------------------- */

/* Whether a call failed as one to a server that is gone does. */
static bool
is_gone_code(int rc)
{
    return rc == MPROC_EEOF || rc == -ECONNRESET || rc == -EPIPE;
}

/* The call fails as one to a server that is gone does. */
#define assert_gone(call)                                                      \
    do {                                                                       \
        int ag_rc_ = (call);                                                   \
        cr_assert(is_gone_code(ag_rc_), "%s after shutdown: %s", #call,        \
                  mproc_errname(ag_rc_));                                      \
    } while (0)

static mproc_manager *
manager_start(void)
{
    mproc_manager *m = NULL;

    assert_code(mproc_manager_new(&m, NULL), 0);
    cr_assert_not_null(mproc_manager_process(m));
    return m;
}

/* Its repr is `want`; frees o. */
static void
assert_repr(mproc_obj *o, const char *want)
{
    mproc_buf b = { 0 };

    cr_assert_not_null(o);
    cr_assert_eq(mproc_obj_repr(o, &b), 0);
    cr_assert_str_eq(b.data, want);
    mproc_buf_free(&b);
    mproc_obj_free(o);
}

/* An int equal to want; frees o. */
static void
assert_int(mproc_obj *o, int64_t want)
{
    int64_t v = 0;

    cr_assert_not_null(o);
    cr_assert_eq(mproc_obj_int_value(o, &v), 0);
    cr_assert_eq(v, want, "%lld, expected %lld", (long long)v, (long long)want);
    mproc_obj_free(o);
}

/* A bool equal to want; frees o. */
static void
assert_bool(mproc_obj *o, bool want)
{
    bool v = !want;

    cr_assert_not_null(o);
    cr_assert_eq(mproc_obj_bool_value(o, &v), 0);
    cr_assert_eq(v, want);
    mproc_obj_free(o);
}

static size_t
proxy_len(mproc_proxy *p)
{
    size_t n = SIZE_MAX;

    assert_code(mproc_proxy_len(p, &n), 0);
    return n;
}

static void
make_pipe(int fds[2])
{
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
}

static void
close_pipe(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* Wait up to `seconds` for a byte on fd: whether one came. */
static bool
read_byte(int fd, double seconds)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char b;

    if (poll(&p, 1, (int)(seconds * 1000)) != 1)
        return false;
    return read(fd, &b, 1) == 1;
}

/* Wait (polling, for at most `seconds`) until pred(ctx) holds. */
static bool
wait_until(bool (*pred)(void *), void *ctx, double seconds)
{
    double deadline = th_now() + seconds;

    while (!pred(ctx)) {
        if (th_now() > deadline)
            return false;
        (void)poll(NULL, 0, 2);
    }
    return true;
}

/* Whether process pid (its main thread) sleeps in the kernel. */
static bool
is_sleeping(void *ctx)
{
    char path[64], stat[512], *paren;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)(intptr_t)ctx);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    paren = strrchr(stat, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] == 'S';
}

/* Wait until a child sleeps: after it said it is about to call, it is
 * then blocked in the call's receive (its request sent). */
static void
wait_sleeping(mproc_process *p)
{
    cr_assert(
        wait_until(is_sleeping, (void *)(intptr_t)mproc_process_pid(p), 10),
        "the child never blocked");
}

/* The number of threads of process pid. */
static int
thread_count(pid_t pid)
{
    char path[64], line[256];
    int n = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

struct threads_at {
    pid_t pid;
    int most;
};

static bool
threads_down_to(void *ctx)
{
    struct threads_at *t = ctx;
    int n = thread_count(t->pid);

    return n >= 0 && n <= t->most;
}

static pid_t
server_pid(mproc_manager *m)
{
    return mproc_process_pid(mproc_manager_process(m));
}

/* ---- the board: what the server's registered types report -------------------
 *
 * A page shared with the forked server (and every child), and a pipe whose
 * every byte says "one more destroyed". Set up before mproc_manager_new.
 */

struct board {
    atomic_int created;
    atomic_int destroyed;
};

static struct board *board;
static int board_pipe[2] = { -1, -1 };
/* The gate: a registered create or method blocks until a byte comes. */
static int gate_pipe[2] = { -1, -1 };

static void
board_open(void)
{
    board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(board, MAP_FAILED);
    atomic_init(&board->created, 0);
    atomic_init(&board->destroyed, 0);
    make_pipe(board_pipe);
    make_pipe(gate_pipe);
}

static void
board_close(void)
{
    munmap(board, sizeof(*board));
    board = NULL;
    close_pipe(board_pipe);
    close_pipe(gate_pipe);
}

static int
destroyed(void)
{
    return atomic_load(&board->destroyed);
}

/* Wait until n objects in all were destroyed: whether they were. */
static bool
wait_destroyed(int n, double seconds)
{
    double deadline = th_now() + seconds;

    while (destroyed() < n) {
        double left = deadline - th_now();

        if (left <= 0)
            return false;
        (void)read_byte(board_pipe[0], left);
    }
    return true;
}

static void
open_gate(void)
{
    cr_assert_eq(write(gate_pipe[1], "g", 1), 1);
}

/* ---- registered types (run in the server) -------------------------------- */

struct counter {
    int64_t value;
};

static int
counter_new(void **self, int64_t value)
{
    struct counter *c = malloc(sizeof(*c));

    if (c == NULL)
        return MPROC_ENOMEM;
    c->value = value;
    atomic_fetch_add(&board->created, 1);
    *self = c;
    return 0;
}

/* An int argument i, or fallback when absent. */
static int
int_arg(const mproc_obj *args, size_t i, int64_t fallback, int64_t *v)
{
    mproc_obj *a = NULL;
    size_t n = 0;

    *v = fallback;
    mproc_obj_len(args, &n);
    if (i >= n)
        return 0;
    if (mproc_obj_get(args, i, &a) < 0 || mproc_obj_type(a) != MPROC_OBJ_INT)
        return MPROC_EINVAL;
    return mproc_obj_int_value(a, v);
}

static int
counter_create(void **self, const mproc_obj *args)
{
    int64_t start;
    int rc = int_arg(args, 0, 0, &start);

    return rc < 0 ? rc : counter_new(self, start);
}

static void
counter_destroy(void *self)
{
    free(self);
    atomic_fetch_add(&board->destroyed, 1);
    if (write(board_pipe[1], "d", 1) != 1) {
        /* the count above is what the test reads */
    }
}

static int
counter_getvalue(void *self, mproc_obj **value)
{
    return mproc_obj_int(value, ((struct counter *)self)->value);
}

static int
counter_increment(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct counter *c = self;
    int64_t by;
    int rc = int_arg(args, 0, 1, &by);

    if (rc < 0)
        return rc;
    c->value += by;
    return mproc_obj_int(result, c->value);
}

static int
counter_get(void *self, const mproc_obj *args, mproc_obj **result)
{
    (void)args;
    return mproc_obj_int(result, ((struct counter *)self)->value);
}

static int
counter_secret(void *self, const mproc_obj *args, mproc_obj **result)
{
    (void)self;
    (void)args;
    return mproc_obj_str(result, "hidden", 6);
}

static int
counter_fail(void *self, const mproc_obj *args, mproc_obj **result)
{
    (void)self;
    (void)args;
    (void)result;
    return -EDOM;
}

/* method_to_typeid: a new Counter starting at this one's value. */
static int
counter_clone(void *self, const mproc_obj *args, void **instance)
{
    (void)args;
    return counter_new(instance, ((struct counter *)self)->value);
}

static const mproc_manager_method counter_methods[] = {
    { .name = "increment", .call = counter_increment },
    { .name = "get", .call = counter_get },
    { .name = "_secret", .call = counter_secret },
    { .name = "fail", .call = counter_fail },
    { .name = "clone", .type_id = "Counter", .make = counter_clone },
    { 0 },
};

static const mproc_manager_type counter_type = {
    .type_id = "Counter",
    .create = counter_create,
    .destroy = counter_destroy,
    .getvalue = counter_getvalue,
    .methods = counter_methods,
};

static const char *const exposed_names[] = { "get", "_secret", NULL };

static const mproc_manager_type exposed_counter_type = {
    .type_id = "ExposedCounter",
    .create = counter_create,
    .destroy = counter_destroy,
    .methods = counter_methods,
    .exposed = exposed_names,
};

/* Wait for the gate, in the server. */
static int
gate_wait(void)
{
    char b;

    return read(gate_pipe[0], &b, 1) == 1 ? 0 : -EIO;
}

/* A Counter whose create waits for the gate. */
static int
slow_create(void **self, const mproc_obj *args)
{
    int rc = gate_wait();

    return rc < 0 ? rc : counter_create(self, args);
}

/* A method that waits for the gate. */
static int
counter_pass_gate(void *self, const mproc_obj *args, mproc_obj **result)
{
    int rc = gate_wait();

    return rc < 0 ? rc : counter_get(self, args, result);
}

static const mproc_manager_method gated_methods[] = {
    { .name = "get", .call = counter_get },
    { .name = "pass_gate", .call = counter_pass_gate },
    { 0 },
};

static const mproc_manager_type slow_type = {
    .type_id = "SlowCounter",
    .create = slow_create,
    .destroy = counter_destroy,
    .methods = gated_methods,
    .thread_safe = true,
};

static const mproc_manager_type gated_type = {
    .type_id = "GatedCounter",
    .create = counter_create,
    .destroy = counter_destroy,
    .methods = gated_methods,
    .thread_safe = true,
};

/* Register the test's types (before mproc_manager_new: the forked server
 * inherits the registry) and open the board. */
static void
register_types(void)
{
    board_open();
    assert_code(mproc_manager_register(&counter_type), 0);
    assert_code(mproc_manager_register(&exposed_counter_type), 0);
    assert_code(mproc_manager_register(&slow_type), 0);
    assert_code(mproc_manager_register(&gated_type), 0);
}

static mproc_proxy *
new_counter(mproc_manager *m, int start)
{
    mproc_obj *args = TH_OBJ("(i)", start);
    mproc_proxy *c = NULL;

    assert_code(mproc_manager_create(m, "Counter", args, &c), 0);
    mproc_obj_free(args);
    cr_assert_str_eq(mproc_proxy_typeid(c), "Counter");
    return c;
}

/* ---- children ---------------------------------------------------------------
 *
 * A forked child gets a struct kid (pointers stay good across fork) and
 * reports by its exit code: 0, or the step that failed.
 */

struct kid {
    mproc_manager *m;
    mproc_proxy *a, *b;
    int ready; /* a pipe's write end: "ready" goes out */
    int go;    /* a pipe's read end: "go" comes in */
    int n;     /* a count */
    double timeout;
    char *mapping; /* a shared mapping the parent made */
    char text[512];
};

static mproc_process *
kid_start(mproc_target target, const struct kid *k)
{
    return th_start_daemon(target, k, sizeof(*k), MPROC_START_FORK);
}

static struct kid
kid_of(const void *arg, size_t len)
{
    struct kid k;

    memset(&k, 0, sizeof(k));
    if (len == sizeof(k))
        memcpy(&k, arg, sizeof(k));
    return k;
}

static int
kid_say_ready(const struct kid *k)
{
    return write(k->ready, "r", 1) == 1 ? 0 : -EIO;
}

static bool
kid_int_is(mproc_obj *o, int64_t want)
{
    int64_t v = 0;
    bool same = o != NULL && mproc_obj_int_value(o, &v) == 0 && v == want;

    mproc_obj_free(o);
    return same;
}

/* ---- dict ---------------------------------------------------------------- */

Test(manager, dict_methods_behave_as_python_dicts_do)
{
    mproc_manager *m = manager_start();
    mproc_obj *init = TH_OBJ("{s:i}", "a", 1), *r = NULL, *key;
    mproc_proxy *d = NULL, *e = NULL;

    assert_code(mproc_manager_dict(m, init, &d), 0);
    mproc_obj_free(init);
    cr_assert_str_eq(mproc_proxy_typeid(d), "dict");

    /* d['b'] = 2, d['a'], len, in */
    mproc_obj_free(CALL(d, "__setitem__", "(s i)", "b", 2));
    assert_int(CALL(d, "__getitem__", "(s)", "a"), 1);
    key = TH_OBJ("s", "b");
    assert_code(mproc_proxy_getitem(d, key, &r), 0);
    assert_int(r, 2);
    mproc_obj_free(key);
    cr_assert_eq(proxy_len(d), 2);
    assert_bool(CALL(d, "__contains__", "(s)", "a"), true);
    assert_bool(CALL(d, "__contains__", "(s)", "zz"), false);
    CALL_FAILS(d, "__getitem__", -ENOENT, "(s)", "zz");

    /* get with and without a default; pop; setdefault */
    assert_int(CALL(d, "get", "(s i)", "zz", 7), 7);
    assert_repr(CALL(d, "get", "(s)", "zz"), "None");
    assert_int(CALL(d, "get", "(s i)", "a", 7), 1);
    assert_int(CALL(d, "setdefault", "(s i)", "c", 3), 3);
    assert_int(CALL(d, "setdefault", "(s i)", "c", 30), 3);
    assert_repr(CALL(d, "setdefault", "(s)", "n"), "None");
    assert_repr(CALL(d, "pop", "(s)", "n"), "None");
    CALL_FAILS(d, "pop", -ENOENT, "(s)", "n");
    assert_int(CALL(d, "pop", "(s i)", "n", 9), 9);
    assert_int(CALL(d, "pop", "(s)", "c"), 3);

    /* update, the views, popitem (the last item, as Python's) */
    mproc_obj_free(CALL(d, "update", "({s:i s:i})", "c", 3, "d", 4));
    assert_repr(CALL(d, "keys", "()"), "['a', 'b', 'c', 'd']");
    assert_repr(CALL(d, "values", "()"), "[1, 2, 3, 4]");
    assert_repr(CALL(d, "items", "()"),
                "[('a', 1), ('b', 2), ('c', 3), ('d', 4)]");
    assert_repr(CALL(d, "popitem", "()"), "('d', 4)");
    CALL_FAILS(d, "update", MPROC_EINVAL, "([i])", 1);

    /* delitem; copy and getvalue are copies; clear */
    key = TH_OBJ("s", "c");
    assert_code(mproc_proxy_delitem(d, key), 0);
    assert_code(mproc_proxy_delitem(d, key), -ENOENT);
    mproc_obj_free(key);
    assert_repr(CALL(d, "copy", "()"), "{'a': 1, 'b': 2}");
    assert_code(mproc_proxy_getvalue(d, &r), 0);
    assert_repr(r, "{'a': 1, 'b': 2}");
    mproc_obj_free(CALL(d, "clear", "()"));
    cr_assert_eq(proxy_len(d), 0);
    CALL_FAILS(d, "popitem", -ENOENT, "()");
    CALL_FAILS(d, "__getitem__", MPROC_EINVAL, "([i])", 1); /* unhashable */
    CALL_FAILS(d, "no_such_method", -EOPNOTSUPP, "()");

    /* an init that is no dict */
    init = TH_OBJ("[i]", 1);
    assert_code(mproc_manager_dict(m, init, &e), MPROC_EINVAL);
    cr_assert_null(e);
    mproc_obj_free(init);
    mproc_proxy_free(d);
    mproc_manager_free(m);
}

/*
 * The typed calls (mproc_proxy_getitem/setitem/delitem/len) may run in
 * this process on a dict's shared memory, callf always on the server: both
 * must see one dict with Python's semantics.
 */
Test(manager, dict_typed_calls_and_server_calls_see_one_dict)
{
    mproc_manager *m = manager_start();
    mproc_obj *one = TH_OBJ("i", 1), *one_f = TH_OBJ("d", 1.0);
    mproc_obj *yes = TH_OBJ("b", 1), *v = TH_OBJ("s", "a"), *r = NULL;
    mproc_obj *big, *key;
    mproc_proxy *d = NULL;
    static unsigned char blob[200000];
    size_t n = 0;

    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    /* 1, 1.0 and True are one key, as in Python */
    assert_code(mproc_proxy_setitem(d, one, v), 0);
    assert_code(mproc_proxy_getitem(d, one_f, &r), 0);
    assert_repr(r, "'a'");
    assert_repr(CALL(d, "__getitem__", "(b)", 1), "'a'");
    assert_code(mproc_proxy_setitem(d, yes, one), 0);
    assert_code(mproc_proxy_len(d, &n), 0);
    cr_assert_eq(n, 1);
    assert_repr(CALL(d, "items", "()"), "[(1, 1)]"); /* the first key kept */
    assert_code(mproc_proxy_delitem(d, one_f), 0);
    assert_code(mproc_proxy_getitem(d, one, &r), -ENOENT);
    CALL_FAILS(d, "__getitem__", -ENOENT, "(i)", 1);

    /* a value larger than a page, each way */
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (unsigned char)(i * 7 + (i >> 9));
    big = TH_OBJ("y", blob, sizeof(blob));
    assert_code(mproc_proxy_setitem(d, v, big), 0);
    r = CALL(d, "__getitem__", "(s)", "a");
    cr_assert(mproc_obj_equal(r, big));
    mproc_obj_free(r);
    mproc_obj_free(CALL(d, "__setitem__", "(s O)", "b", big));
    key = TH_OBJ("s", "b");
    assert_code(mproc_proxy_getitem(d, key, &r), 0);
    cr_assert(mproc_obj_equal(r, big));
    mproc_obj_free(r);
    mproc_obj_free(key);
    mproc_obj_free(big);
    mproc_obj_free(CALL(d, "clear", "()"));

    /* many keys (the index grows), deletions, insertion order */
    for (int i = 0; i < 2000; i++) {
        key = TH_OBJ("i", i);
        assert_code(mproc_proxy_setitem(d, key, key), 0);
        mproc_obj_free(key);
    }
    for (int i = 0; i < 2000; i += 2) {
        key = TH_OBJ("i", i);
        assert_code(mproc_proxy_delitem(d, key), 0);
        mproc_obj_free(key);
    }
    key = TH_OBJ("i", 0);
    assert_code(mproc_proxy_setitem(d, key, v), 0); /* back, at the end */
    mproc_obj_free(key);
    assert_code(mproc_proxy_len(d, &n), 0);
    cr_assert_eq(n, 1001);
    assert_int(CALL(d, "__len__", "()"), 1001);
    r = CALL(d, "keys", "()");
    {
        mproc_obj *first = NULL, *last = NULL;

        cr_assert_eq(mproc_obj_get(r, 0, &first), 0);
        cr_assert_eq(mproc_obj_get(r, 1000, &last), 0);
        assert_int(mproc_obj_ref(first), 1);
        assert_int(mproc_obj_ref(last), 0);
    }
    mproc_obj_free(r);
    for (int i = 1; i < 2000; i += 2)
        assert_int(CALL(d, "__getitem__", "(i)", i), i);
    mproc_obj_free(one);
    mproc_obj_free(one_f);
    mproc_obj_free(yes);
    mproc_obj_free(v);
    mproc_proxy_free(d);
    mproc_manager_free(m);
}

/* a: a dict. Write to it without end: d["n"] = i and d[i % 64] = i. */
static int
kid_write_forever(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *n = NULL, *key = NULL, *v = NULL;

    if (mproc_obj_build(&n, "s", "n") != 0)
        return 10;
    for (int i = 0;; i++) {
        int rc = mproc_obj_int(&v, i);

        if (rc == 0)
            rc = mproc_obj_int(&key, i % 64);
        if (rc == 0)
            rc = mproc_proxy_setitem(k.a, key, v);
        if (rc == 0)
            rc = mproc_proxy_setitem(k.a, n, v);
        mproc_obj_free(key);
        mproc_obj_free(v);
        if (rc != 0)
            return 11;
    }
}

struct progress {
    mproc_proxy *d;
    int64_t at_least;
};

static bool
written_enough(void *ctx)
{
    struct progress *p = ctx;
    mproc_obj *r = NULL;
    int64_t v = -1;

    if (mproc_proxy_callf(p->d, "get", &r, "(s i)", "n", -1) == 0)
        mproc_obj_int_value(r, &v);
    mproc_obj_free(r);
    return v >= p->at_least;
}

/* A writer SIGKILLed at any point, inside the dict's lock or not, leaves
 * the dict usable by everyone else. */
Test(manager, dict_writers_killed_mid_write_leave_it_usable, .timeout = 40)
{
    mproc_manager *m = manager_start();
    struct kid k = { 0 };
    struct progress pr;
    mproc_obj *key = TH_OBJ("s", "after"), *r = NULL;
    size_t n = 0;

    assert_code(mproc_manager_dict(m, NULL, &k.a), 0);
    pr.d = k.a;
    for (int round = 0; round < 5; round++) {
        mproc_process *p = kid_start(kid_write_forever, &k);

        pr.at_least = 200 + round * 50;
        cr_assert(wait_until(written_enough, &pr, 20));
        assert_code(mproc_process_kill(p), 0);
        cr_assert_eq(th_join(p, 30), -SIGKILL);
        assert_code(mproc_proxy_setitem(k.a, key, key), 0);
        assert_code(mproc_proxy_getitem(k.a, key, &r), 0);
        assert_repr(r, "'after'");
        assert_code(mproc_proxy_len(k.a, &n), 0);
        cr_assert_eq(n, 66, "%zu items", n); /* 0..63, "n", "after" */
        mproc_obj_free(CALL(k.a, "__delitem__", "(s)", "n"));
    }
    mproc_obj_free(key);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

/* a: a dict, b: a list. Change both; the parent checks. */
static int
kid_change_dict_and_list(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL, *key = NULL, *v = NULL;

    if (mproc_obj_build(&key, "s", "child") != 0 ||
        mproc_obj_int(&v, getpid()) != 0 ||
        mproc_proxy_setitem(k.a, key, v) != 0)
        return 10;
    mproc_obj_free(key);
    mproc_obj_free(v);
    if (mproc_proxy_callf(k.a, "__getitem__", &r, "(s)", "parent") != 0 ||
        !kid_int_is(r, 1))
        return 11;
    if (mproc_proxy_callf(k.b, "append", NULL, "(s)", "from child") != 0)
        return 12;
    if (mproc_proxy_callf(k.b, "pop", &r, "(i)", 0) != 0 || !kid_int_is(r, 0))
        return 13;
    return 0;
}

Test(manager, dict_and_list_changes_from_a_forked_child_are_seen_here)
{
    mproc_manager *m = manager_start();
    struct kid k = { 0 };
    mproc_process *p;

    assert_code(mproc_manager_dict(m, NULL, &k.a), 0);
    assert_code(mproc_manager_list(m, NULL, &k.b), 0);
    mproc_obj_free(CALL(k.a, "__setitem__", "(s i)", "parent", 1));
    mproc_obj_free(CALL(k.b, "extend", "([i i])", 0, 1));
    p = kid_start(kid_change_dict_and_list, &k);
    pid_t pid = mproc_process_pid(p);
    cr_assert_eq(th_join(p, 30), 0);
    assert_int(CALL(k.a, "__getitem__", "(s)", "child"), pid);
    assert_repr(CALL(k.b, "_getvalue", "()"), "[1, 'from child']");
    mproc_proxy_free(k.a);
    mproc_proxy_free(k.b);
    mproc_manager_free(m);
}

/* ---- list ---------------------------------------------------------------- */

Test(manager, list_methods_behave_as_python_lists_do)
{
    mproc_manager *m = manager_start();
    mproc_obj *init = TH_OBJ("(i i)", 1, 2), *r = NULL, *key, *v;
    mproc_proxy *l = NULL;

    assert_code(mproc_manager_list(m, init, &l), 0); /* a tuple will do */
    mproc_obj_free(init);
    cr_assert_str_eq(mproc_proxy_typeid(l), "list");
    mproc_obj_free(CALL(l, "append", "(i)", 3));
    mproc_obj_free(CALL(l, "extend", "([i i])", 4, 5));
    mproc_obj_free(CALL(l, "insert", "(i s)", 0, "x"));
    mproc_obj_free(CALL(l, "insert", "(i s)", 100, "end")); /* clamped */
    mproc_obj_free(CALL(l, "insert", "(i s)", -1, "y"));
    assert_repr(CALL(l, "_getvalue", "()"), "['x', 1, 2, 3, 4, 5, 'y', 'end']");
    cr_assert_eq(proxy_len(l), 8);

    /* indexes: negative from the end, out of range -ERANGE */
    assert_repr(CALL(l, "__getitem__", "(i)", -1), "'end'");
    key = TH_OBJ("i", -2);
    assert_code(mproc_proxy_getitem(l, key, &r), 0);
    assert_repr(r, "'y'");
    mproc_obj_free(key);
    CALL_FAILS(l, "__getitem__", -ERANGE, "(i)", 8);
    CALL_FAILS(l, "__getitem__", -ERANGE, "(i)", -9);
    CALL_FAILS(l, "__getitem__", MPROC_EINVAL, "(s)", "0");
    key = TH_OBJ("i", 0);
    v = TH_OBJ("s", "X");
    assert_code(mproc_proxy_setitem(l, key, v), 0);
    mproc_obj_free(v);
    mproc_obj_free(key);
    key = TH_OBJ("i", 99);
    assert_code(mproc_proxy_setitem(l, key, key), -ERANGE);
    assert_code(mproc_proxy_delitem(l, key), -ERANGE);
    mproc_obj_free(key);

    /* pop, remove, index, count, reverse, contains, delitem */
    assert_repr(CALL(l, "pop", "()"), "'end'");
    assert_repr(CALL(l, "pop", "(i)", 0), "'X'");
    assert_repr(CALL(l, "pop", "(i)", -1), "'y'");
    CALL_FAILS(l, "pop", -ERANGE, "(i)", 10);
    mproc_obj_free(CALL(l, "append", "(i)", 2));
    assert_int(CALL(l, "count", "(i)", 2), 2);
    assert_int(CALL(l, "count", "(i)", 9), 0);
    assert_int(CALL(l, "index", "(i)", 3), 2);
    CALL_FAILS(l, "index", MPROC_EINVAL, "(i)", 9); /* ValueError */
    mproc_obj_free(CALL(l, "remove", "(i)", 2));    /* the first 2 */
    CALL_FAILS(l, "remove", MPROC_EINVAL, "(i)", 9);
    assert_repr(CALL(l, "_getvalue", "()"), "[1, 3, 4, 5, 2]");
    mproc_obj_free(CALL(l, "reverse", "()"));
    assert_repr(CALL(l, "_getvalue", "()"), "[2, 5, 4, 3, 1]");
    mproc_obj_free(CALL(l, "__delitem__", "(i)", -1));
    assert_repr(CALL(l, "copy", "()"), "[2, 5, 4, 3]");
    mproc_obj_free(CALL(l, "clear", "()"));
    cr_assert_eq(proxy_len(l), 0);
    CALL_FAILS(l, "pop", -ERANGE, "()");
    mproc_proxy_free(l);
    mproc_manager_free(m);
}

/* Split from the test above: see the report (list __contains__ calls
 * mproc_obj_contains(), which takes sets and dicts only). */
Test(manager, list_contains_finds_its_items)
{
    mproc_manager *m = manager_start();
    mproc_obj *init = TH_OBJ("[i s]", 4, "x");
    mproc_proxy *l = NULL;

    assert_code(mproc_manager_list(m, init, &l), 0);
    mproc_obj_free(init);
    assert_bool(CALL(l, "__contains__", "(i)", 4), true);
    assert_bool(CALL(l, "__contains__", "(s)", "x"), true);
    assert_bool(CALL(l, "__contains__", "(i)", 40), false);
    assert_bool(CALL(l, "__contains__", "([i])", 4), false); /* unhashable */
    mproc_proxy_free(l);
    mproc_manager_free(m);
}

/* ---- Namespace ----------------------------------------------------------- */

Test(manager, namespace_attributes_are_set_read_and_deleted)
{
    mproc_manager *m = manager_start();
    mproc_obj *v = TH_OBJ("[i d]", 1, 2.5), *r = NULL;
    mproc_proxy *ns = NULL;

    assert_code(mproc_manager_namespace(m, &ns), 0);
    cr_assert_str_eq(mproc_proxy_typeid(ns), "Namespace");
    assert_code(mproc_proxy_setattr(ns, "x", v), 0);
    mproc_obj_free(v);
    assert_code(mproc_proxy_getattr(ns, "x", &r), 0);
    assert_repr(r, "[1, 2.5]");
    assert_code(mproc_proxy_getattr(ns, "nope", &r), -ENOENT);
    cr_assert_null(r);
    mproc_obj_free(CALL(ns, "__setattr__", "(s s)", "y", "why"));
    assert_repr(CALL(ns, "_getvalue", "()"), "{'x': [1, 2.5], 'y': 'why'}");
    mproc_obj_free(CALL(ns, "__delattr__", "(s)", "x"));
    CALL_FAILS(ns, "__delattr__", -ENOENT, "(s)", "x");
    assert_code(mproc_proxy_getattr(ns, "x", &r), -ENOENT);
    CALL_FAILS(ns, "__getattr__", MPROC_EINVAL, "(i)", 1); /* not a name */
    mproc_proxy_free(ns);
    mproc_manager_free(m);
}

/* ---- Queue and JoinableQueue --------------------------------------------- */

Test(manager, queue_gets_time_out_with_eempty_and_puts_on_full_with_efull)
{
    mproc_manager *m = manager_start();
    mproc_obj *item = TH_OBJ("s", "one"), *r = NULL;
    mproc_proxy *q = NULL, *b = NULL;
    double t0;

    assert_code(mproc_manager_queue(m, 0, false, &q), 0);
    cr_assert_str_eq(mproc_proxy_typeid(q), "Queue");
    t0 = th_now();
    assert_code(mproc_proxy_get(q, &r, 0.2), MPROC_EEMPTY);
    th_assert_elapsed(t0, 0.2, 2.0);
    cr_assert_null(r);
    assert_code(mproc_proxy_get(q, &r, 0), MPROC_EEMPTY);
    assert_bool(CALL(q, "empty", "()"), true);
    assert_code(mproc_proxy_put(q, item, 0), 0);
    cr_assert_eq(proxy_len(q), 1);
    assert_code(mproc_proxy_get(q, &r, 5), 0);
    assert_repr(r, "'one'");

    assert_code(mproc_manager_queue(m, 1, false, &b), 0);
    assert_code(mproc_proxy_put(b, item, MPROC_FOREVER), 0);
    assert_bool(CALL(b, "full", "()"), true);
    t0 = th_now();
    assert_code(mproc_proxy_put(b, item, 0.2), MPROC_EFULL);
    th_assert_elapsed(t0, 0.2, 2.0);
    assert_code(mproc_proxy_put(b, item, 0), MPROC_EFULL);
    cr_assert_eq(proxy_len(b), 1);
    mproc_obj_free(item);
    mproc_proxy_free(q);
    mproc_proxy_free(b);
    mproc_manager_free(m);
}

/* a: a queue. Put 0 .. n-1. */
static int
kid_put_sequence(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);

    for (int i = 0; i < k.n; i++) {
        mproc_obj *v = NULL;
        int rc = mproc_obj_int(&v, i);

        if (rc == 0)
            rc = mproc_proxy_put(k.a, v, 30);
        mproc_obj_free(v);
        if (rc != 0)
            return 10;
    }
    return 0;
}

Test(manager, queue_items_put_by_a_child_arrive_in_order)
{
    mproc_manager *m = manager_start();
    struct kid k = { .n = 50 };
    mproc_process *p;

    assert_code(mproc_manager_queue(m, 4, false, &k.a), 0); /* bounded */
    p = kid_start(kid_put_sequence, &k);
    for (int i = 0; i < k.n; i++) {
        mproc_obj *r = NULL;

        assert_code(mproc_proxy_get(k.a, &r, 30), 0);
        assert_int(r, i);
    }
    cr_assert_eq(th_join(p, 30), 0);
    cr_assert_eq(proxy_len(k.a), 0);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

Test(manager, joinable_queue_join_waits_for_every_task_done)
{
    mproc_manager *m = manager_start();
    mproc_obj *item = TH_OBJ("i", 1), *r = NULL;
    mproc_proxy *q = NULL;
    double t0;

    assert_code(mproc_manager_queue(m, 0, true, &q), 0);
    cr_assert_str_eq(mproc_proxy_typeid(q), "JoinableQueue");
    mproc_obj_free(CALL(q, "join", "(d)", 0.0)); /* nothing unfinished */
    CALL_FAILS(q, "task_done", MPROC_ESTATE, "()");
    assert_code(mproc_proxy_put(q, item, 0), 0);
    assert_code(mproc_proxy_put(q, item, 0), 0);
    mproc_obj_free(item);
    t0 = th_now();
    CALL_FAILS(q, "join", MPROC_ETIMEDOUT, "(d)", 0.2);
    th_assert_elapsed(t0, 0.2, 2.0);
    cr_assert_eq(proxy_len(q), 2);
    assert_code(mproc_proxy_get(q, &r, 1), 0);
    mproc_obj_free(r);
    assert_code(mproc_proxy_get(q, &r, 1), 0);
    mproc_obj_free(r);
    mproc_obj_free(CALL(q, "task_done", "()"));
    CALL_FAILS(q, "join", MPROC_ETIMEDOUT, "(d)", 0.05); /* one left */
    mproc_obj_free(CALL(q, "task_done", "()"));
    mproc_obj_free(CALL(q, "join", "(d)", 5.0));
    CALL_FAILS(q, "task_done", MPROC_ESTATE, "()"); /* too often */
    mproc_proxy_free(q);
    mproc_manager_free(m);
}

/* ---- Lock and RLock ------------------------------------------------------ */

/* a: a lock. Acquire it, say ready, hold it until "go" comes on fd. */
static int
kid_hold_lock(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);

    if (mproc_proxy_acquire(k.a, 30) != 0)
        return 10;
    if (kid_say_ready(&k) != 0)
        return 11;
    if (!read_byte(k.go, 30))
        return 12;
    return mproc_proxy_release(k.a) == 0 ? 0 : 13;
}

Test(manager, lock_acquire_times_out_while_a_child_holds_it)
{
    mproc_manager *m = manager_start();
    int ready[2], go[2];
    struct kid k = { 0 };
    mproc_process *p;
    double t0;

    assert_code(mproc_manager_lock(m, false, &k.a), 0);
    cr_assert_str_eq(mproc_proxy_typeid(k.a), "Lock");
    assert_code(mproc_proxy_acquire(k.a, 0), 0);
    assert_bool(CALL(k.a, "locked", "()"), true);
    assert_code(mproc_proxy_acquire(k.a, 0), MPROC_ETIMEDOUT);
    assert_code(mproc_proxy_release(k.a), 0);
    assert_bool(CALL(k.a, "locked", "()"), false);
    assert_code(mproc_proxy_release(k.a), MPROC_ESTATE);

    make_pipe(ready);
    make_pipe(go);
    k.go = go[0];
    k.ready = ready[1];
    p = kid_start(kid_hold_lock, &k);
    cr_assert(read_byte(ready[0], 30));
    t0 = th_now();
    assert_code(mproc_proxy_acquire(k.a, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 2.0);
    cr_assert_eq(write(go[1], "g", 1), 1);
    assert_code(mproc_proxy_acquire(k.a, 10), 0);
    cr_assert_eq(th_join(p, 30), 0);
    assert_code(mproc_proxy_release(k.a), 0);
    close_pipe(ready);
    close_pipe(go);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

struct other_thread {
    mproc_proxy *p;
    int rc_release, rc_acquire;
};

static void *
release_from_another_thread(void *arg)
{
    struct other_thread *t = arg;

    t->rc_release = mproc_proxy_release(t->p);
    t->rc_acquire = mproc_proxy_acquire(t->p, 0.05);
    return NULL;
}

Test(manager, rlock_is_recursive_and_owned_by_the_calling_thread)
{
    mproc_manager *m = manager_start();
    struct other_thread t = { 0 };
    mproc_proxy *r = NULL;
    pthread_t thread;

    assert_code(mproc_manager_lock(m, true, &r), 0);
    cr_assert_str_eq(mproc_proxy_typeid(r), "RLock");
    assert_code(mproc_proxy_acquire(r, 1), 0);
    assert_code(mproc_proxy_acquire(r, 1), 0); /* again: recursive */
    t.p = r;
    cr_assert_eq(pthread_create(&thread, NULL, release_from_another_thread, &t),
                 0);
    pthread_join(thread, NULL);
    assert_code(t.rc_release, MPROC_EPERM);
    assert_code(t.rc_acquire, MPROC_ETIMEDOUT);
    assert_code(mproc_proxy_release(r), 0);
    assert_code(mproc_proxy_release(r), 0);
    assert_code(mproc_proxy_release(r), MPROC_ESTATE);
    CALL_FAILS(r, "locked", -EOPNOTSUPP, "()"); /* a Lock's only */
    mproc_proxy_free(r);
    mproc_manager_free(m);
}

/* ---- Semaphore and BoundedSemaphore -------------------------------------- */

Test(manager, semaphores_count_and_a_bounded_one_refuses_over_release)
{
    mproc_manager *m = manager_start();
    mproc_obj *bad = TH_OBJ("(s)", "one");
    mproc_proxy *s = NULL, *b = NULL, *x = NULL;
    double t0;

    assert_code(mproc_manager_semaphore(m, 2, false, &s), 0);
    cr_assert_str_eq(mproc_proxy_typeid(s), "Semaphore");
    assert_code(mproc_proxy_acquire(s, 0), 0);
    assert_code(mproc_proxy_acquire(s, 0), 0);
    assert_int(CALL(s, "get_value", "()"), 0);
    t0 = th_now();
    assert_code(mproc_proxy_acquire(s, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 2.0);
    assert_code(mproc_proxy_release(s), 0);
    assert_code(mproc_proxy_release(s), 0);
    assert_code(mproc_proxy_release(s), 0); /* unbounded: fine */
    assert_int(CALL(s, "get_value", "()"), 3);

    assert_code(mproc_manager_semaphore(m, 1, true, &b), 0);
    cr_assert_str_eq(mproc_proxy_typeid(b), "BoundedSemaphore");
    assert_code(mproc_proxy_release(b), MPROC_ESTATE);
    assert_code(mproc_proxy_acquire(b, 0), 0);
    assert_code(mproc_proxy_release(b), 0);
    assert_code(mproc_proxy_release(b), MPROC_ESTATE);
    assert_int(CALL(b, "get_value", "()"), 1);

    assert_code(mproc_manager_semaphore(m, -1, false, &x), MPROC_EINVAL);
    assert_code(mproc_manager_create(m, "Semaphore", bad, &x), MPROC_EINVAL);
    cr_assert_null(x);
    mproc_obj_free(bad);
    mproc_proxy_free(s);
    mproc_proxy_free(b);
    mproc_manager_free(m);
}

/* ---- Condition ----------------------------------------------------------- */

/* a: a condition. Acquire, say ready, wait (k.timeout) for a notify. */
static int
kid_wait_for_notify(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    int rc;

    if (mproc_proxy_acquire(k.a, 30) != 0)
        return 10;
    if (kid_say_ready(&k) != 0)
        return 11;
    rc = mproc_proxy_wait(k.a, k.timeout);
    if (mproc_proxy_release(k.a) != 0)
        return 12;
    return rc == 0 ? 0 : rc == MPROC_ETIMEDOUT ? 13 : 14;
}

/* Start a child waiting on condition c and take c once the child waits
 * (its wait released the lock); the child says ready on ready[1]. */
static mproc_process *
start_waiter(struct kid *k, mproc_proxy *c, int ready[2])
{
    mproc_process *p;

    k->a = c;
    k->ready = ready[1];
    if (k->timeout == 0)
        k->timeout = 20;
    p = kid_start(kid_wait_for_notify, k);
    cr_assert(read_byte(ready[0], 30));
    assert_code(mproc_proxy_acquire(c, 30), 0);
    return p;
}

Test(manager, condition_wait_times_out_and_notify_wakes_a_child)
{
    mproc_manager *m = manager_start();
    struct kid k = { 0 };
    mproc_proxy *c = NULL;
    mproc_process *p;
    int ready[2];
    double t0;

    assert_code(mproc_manager_condition(m, NULL, &c), 0);
    cr_assert_str_eq(mproc_proxy_typeid(c), "Condition");
    assert_code(mproc_proxy_wait(c, 0.1), MPROC_ESTATE); /* not held */
    assert_code(mproc_proxy_acquire(c, 1), 0);
    t0 = th_now();
    assert_code(mproc_proxy_wait(c, 0.25), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.25, 2.0);
    mproc_obj_free(CALL(c, "notify", "()")); /* nobody waits: fine */
    assert_code(mproc_proxy_release(c), 0);

    make_pipe(ready);
    p = start_waiter(&k, c, ready);
    mproc_obj_free(CALL(c, "notify", "(i)", 1));
    assert_code(mproc_proxy_release(c), 0);
    cr_assert_eq(th_join(p, 30), 0);

    p = start_waiter(&k, c, ready);
    mproc_obj_free(CALL(c, "notify_all", "()"));
    assert_code(mproc_proxy_release(c), 0);
    cr_assert_eq(th_join(p, 30), 0);
    close_pipe(ready);
    mproc_proxy_free(c);
    mproc_manager_free(m);
}

/* Hold on, slow on purpose: what a test checks happens meanwhile. */
static void
slow_hold(double seconds)
{
    (void)poll(NULL, 0, (int)(seconds * 1000));
}

/*
 * The server waits on a Condition in slices (to notice a client that went
 * away). A notifier that holds the lock across a slice's end must still
 * wake the waiter, as Python's does.
 */
Test(manager, condition_notify_after_holding_the_lock_a_while_wakes_the_waiter)
{
    mproc_manager *m = manager_start();
    struct kid k = { 0 };
    mproc_proxy *c = NULL;
    mproc_process *p;
    int ready[2];

    assert_code(mproc_manager_condition(m, NULL, &c), 0);
    make_pipe(ready);
    k.timeout = 3; /* the waiter's own limit: fail fast */
    p = start_waiter(&k, c, ready);
    slow_hold(0.35); /* past several of the server's 0.1 s slices */
    mproc_obj_free(CALL(c, "notify", "()"));
    assert_code(mproc_proxy_release(c), 0);
    cr_assert_eq(th_join(p, 30), 0,
                 "the waiter missed the notify (13: its wait timed out)");
    close_pipe(ready);
    mproc_proxy_free(c);
    mproc_manager_free(m);
}

Test(manager, condition_over_a_managed_lock_shares_that_lock)
{
    mproc_manager *m = manager_start();
    mproc_proxy *lock = NULL, *c = NULL, *x = NULL, *ev = NULL, *r = NULL;
    struct kid k = { 0 };
    mproc_process *p;
    int ready[2];

    assert_code(mproc_manager_lock(m, false, &lock), 0);
    assert_code(mproc_manager_condition(m, lock, &c), 0);
    assert_code(mproc_proxy_acquire(c, 1), 0);
    assert_bool(CALL(lock, "locked", "()"), true);
    assert_code(mproc_proxy_acquire(lock, 0.05), MPROC_ETIMEDOUT);
    assert_code(mproc_proxy_release(c), 0);
    assert_bool(CALL(lock, "locked", "()"), false);
    assert_code(mproc_proxy_acquire(lock, 1), 0);
    assert_code(mproc_proxy_acquire(c, 0.05), MPROC_ETIMEDOUT);
    assert_code(mproc_proxy_release(lock), 0);

    /* The lock proxy freed: the condition keeps its lock alive. */
    mproc_proxy_free(lock);
    make_pipe(ready);
    p = start_waiter(&k, c, ready);
    mproc_obj_free(CALL(c, "notify", "()"));
    assert_code(mproc_proxy_release(c), 0);
    cr_assert_eq(th_join(p, 30), 0);
    close_pipe(ready);

    /* An RLock will do; an Event will not. */
    assert_code(mproc_manager_lock(m, true, &r), 0);
    assert_code(mproc_manager_condition(m, r, &x), 0);
    assert_code(mproc_proxy_acquire(x, 1), 0);
    assert_code(mproc_proxy_acquire(r, 1), 0); /* the same thread: owner */
    assert_code(mproc_proxy_release(r), 0);
    assert_code(mproc_proxy_release(x), 0);
    mproc_proxy_free(x);
    x = NULL;
    assert_code(mproc_manager_event(m, &ev), 0);
    assert_code(mproc_manager_condition(m, ev, &x), MPROC_EINVAL);
    cr_assert_null(x);
    mproc_proxy_free(ev);
    mproc_proxy_free(r);
    mproc_proxy_free(c);
    mproc_manager_free(m);
}

/* ---- Event --------------------------------------------------------------- */

/* a: an event. Wait for "go", then set it. */
static int
kid_set_event(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);

    if (!read_byte(k.go, 30))
        return 10;
    return mproc_proxy_callf(k.a, "set", NULL, "()") == 0 ? 0 : 11;
}

Test(manager, event_wait_times_out_and_a_child_that_sets_it_wakes_this_one)
{
    mproc_manager *m = manager_start();
    struct kid k = { 0 };
    mproc_process *p;
    int go[2];
    double t0;

    assert_code(mproc_manager_event(m, &k.a), 0);
    cr_assert_str_eq(mproc_proxy_typeid(k.a), "Event");
    assert_bool(CALL(k.a, "is_set", "()"), false);
    t0 = th_now();
    assert_code(mproc_proxy_wait(k.a, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 2.0);

    make_pipe(go);
    k.go = go[0];
    p = kid_start(kid_set_event, &k);
    cr_assert_eq(write(go[1], "g", 1), 1);
    t0 = th_now();
    assert_code(mproc_proxy_wait(k.a, 30), 0);
    cr_assert_lt(th_now() - t0, 10.0);
    cr_assert_eq(th_join(p, 30), 0);
    assert_bool(CALL(k.a, "is_set", "()"), true);
    assert_code(mproc_proxy_wait(k.a, 0), 0);
    mproc_obj_free(CALL(k.a, "clear", "()"));
    assert_code(mproc_proxy_wait(k.a, 0), MPROC_ETIMEDOUT);
    close_pipe(go);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

/* ---- Barrier ------------------------------------------------------------- */

/* a: a barrier. Wait (k.timeout): exit 20 + the index, or 10 broken. */
static int
kid_barrier_wait(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL;
    int64_t index = -1;
    int rc = mproc_proxy_callf(k.a, "wait", &r, "(d)", k.timeout);

    if (rc == MPROC_EBROKEN)
        return 10;
    if (rc != 0 || mproc_obj_int_value(r, &index) != 0)
        return 11;
    mproc_obj_free(r);
    return 20 + (int)index;
}

Test(manager, barrier_releases_three_parties_with_distinct_indexes)
{
    mproc_manager *m = manager_start();
    struct kid k = { .timeout = 30 };
    mproc_process *p[2];
    mproc_obj *r;
    int64_t mine = -1;
    int seen = 0;

    assert_code(mproc_manager_barrier(m, 3, -1, &k.a), 0);
    cr_assert_str_eq(mproc_proxy_typeid(k.a), "Barrier");
    assert_int(CALL(k.a, "parties", "()"), 3);
    for (int round = 0; round < 2; round++) {
        seen = 0;
        p[0] = kid_start(kid_barrier_wait, &k);
        p[1] = kid_start(kid_barrier_wait, &k);
        r = CALL(k.a, "wait", "(d)", 30.0);
        cr_assert_eq(mproc_obj_int_value(r, &mine), 0);
        mproc_obj_free(r);
        cr_assert(mine >= 0 && mine < 3);
        seen |= 1 << mine;
        for (int i = 0; i < 2; i++) {
            int code = th_join(p[i], 30);

            cr_assert(code >= 20 && code < 23, "child exit %d", code);
            seen |= 1 << (code - 20);
        }
        cr_assert_eq(seen, 7, "indexes not distinct: %x", seen);
    }
    assert_int(CALL(k.a, "n_waiting", "()"), 0);
    assert_bool(CALL(k.a, "broken", "()"), false);
    assert_code(mproc_manager_barrier(m, 0, -1, &k.b), MPROC_EINVAL);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

Test(manager, barrier_wait_timeout_breaks_it_for_the_others)
{
    mproc_manager *m = manager_start();
    struct kid k = { .timeout = 30 };
    mproc_process *p;
    double t0;

    assert_code(mproc_manager_barrier(m, 3, -1, &k.a), 0);
    p = kid_start(kid_barrier_wait, &k);
    t0 = th_now();
    CALL_FAILS(k.a, "wait", MPROC_EBROKEN, "(d)", 0.3);
    th_assert_elapsed(t0, 0.3, 3.0);
    cr_assert_eq(th_join(p, 30), 10); /* broken for the child too */
    assert_bool(CALL(k.a, "broken", "()"), true);
    CALL_FAILS(k.a, "wait", MPROC_EBROKEN, "(d)", 5.0); /* at once */
    mproc_obj_free(CALL(k.a, "reset", "()"));
    assert_bool(CALL(k.a, "broken", "()"), false);
    assert_int(CALL(k.a, "n_waiting", "()"), 0);
    mproc_obj_free(CALL(k.a, "abort", "()"));
    assert_bool(CALL(k.a, "broken", "()"), true);
    CALL_FAILS(k.a, "wait", MPROC_EBROKEN, "(d)", 5.0);
    mproc_proxy_free(k.a);

    /* the default timeout a Barrier was made with */
    assert_code(mproc_manager_barrier(m, 2, 0.2, &k.a), 0);
    t0 = th_now();
    CALL_FAILS(k.a, "wait", MPROC_EBROKEN, "()");
    th_assert_elapsed(t0, 0.2, 3.0);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

/* ---- Value and Array ----------------------------------------------------- */

Test(manager, value_checks_each_value_against_its_typecode)
{
    mproc_manager *m = manager_start();
    mproc_obj *five = TH_OBJ("i", 5), *text = TH_OBJ("s", "five"), *r = NULL;
    mproc_proxy *v = NULL, *d = NULL, *x = NULL;

    assert_code(mproc_manager_value(m, "i", five, &v), 0);
    cr_assert_str_eq(mproc_proxy_typeid(v), "Value");
    assert_int(CALL(v, "get", "()"), 5);
    mproc_obj_free(CALL(v, "set", "(i)", 7));
    assert_int(CALL(v, "get", "()"), 7);
    CALL_FAILS(v, "set", MPROC_EINVAL, "(s)", "seven");
    CALL_FAILS(v, "set", MPROC_EINVAL, "(d)", 7.5);
    assert_int(CALL(v, "get", "()"), 7);
    assert_code(mproc_proxy_getvalue(v, &r), 0);
    assert_int(r, 7);

    assert_code(mproc_manager_value(m, "d", five, &d), 0);
    mproc_obj_free(CALL(d, "set", "(d)", 2.5));
    assert_repr(CALL(d, "get", "()"), "2.5");

    assert_code(mproc_manager_value(m, "i", text, &x), MPROC_EINVAL);
    assert_code(mproc_manager_value(m, "no such code", five, &x), MPROC_EINVAL);
    cr_assert_null(x);
    mproc_obj_free(five);
    mproc_obj_free(text);
    mproc_proxy_free(v);
    mproc_proxy_free(d);
    mproc_manager_free(m);
}

Test(manager, array_items_are_indexed_and_typed)
{
    mproc_manager *m = manager_start();
    mproc_obj *seq = TH_OBJ("[i i i]", 1, 2, 3),
              *mixed = TH_OBJ("[i s]", 1, "2");
    mproc_obj *key, *r = NULL;
    mproc_proxy *a = NULL, *x = NULL;

    assert_code(mproc_manager_array(m, "i", seq, &a), 0);
    cr_assert_str_eq(mproc_proxy_typeid(a), "Array");
    cr_assert_eq(proxy_len(a), 3);
    key = TH_OBJ("i", -1);
    assert_code(mproc_proxy_getitem(a, key, &r), 0);
    assert_int(r, 3);
    mproc_obj_free(key);
    mproc_obj_free(CALL(a, "__setitem__", "(i i)", 0, 10));
    CALL_FAILS(a, "__setitem__", MPROC_EINVAL, "(i d)", 0, 1.5);
    CALL_FAILS(a, "__setitem__", MPROC_EINVAL, "(i s)", 0, "x");
    CALL_FAILS(a, "__setitem__", -ERANGE, "(i i)", 3, 1);
    CALL_FAILS(a, "__getitem__", -ERANGE, "(i)", -4);
    CALL_FAILS(a, "append", -EOPNOTSUPP, "(i)", 4); /* fixed length */
    assert_code(mproc_proxy_getvalue(a, &r), 0);
    assert_repr(r, "[10, 2, 3]");
    assert_code(mproc_manager_array(m, "i", mixed, &x), MPROC_EINVAL);
    cr_assert_null(x);
    mproc_obj_free(seq);
    mproc_obj_free(mixed);
    mproc_proxy_free(a);
    mproc_manager_free(m);
}

/* ---- the standalone server (programs/mproc-manager.c) -------------------- */

struct served {
    mproc_popen *p;
    char address[512];
};

/* Start mproc-manager with these arguments after its name (NULL-ended)
 * and read its "serving ADDRESS" line. */
static void
serve(struct served *s, char *const *args, char *const *env_add)
{
    char *argv[16] = { MPROC_MANAGER_BIN };
    char line[600];
    size_t n = 0, i = 1;
    int fd, rc;

    for (; args[i - 1] != NULL; i++)
        argv[i] = args[i - 1];
    argv[i] = NULL;
    rc = mproc_popen_new(
        &s->p, argv,
        &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE, .env_add = env_add });
    cr_assert_eq(rc, 0, "%s: %s", MPROC_MANAGER_BIN, mproc_errname(rc));
    fd = mproc_popen_pipe(s->p, 1);
    while (n == 0 || line[n - 1] != '\n') {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        ssize_t got;

        cr_assert_eq(poll(&pf, 1, 10000), 1, "no \"serving\" line");
        got = read(fd, line + n, 1); /* one line, nothing after it */
        cr_assert_eq(got, 1, "the server ended before it served");
        n++;
        cr_assert_lt(n, sizeof(line) - 1);
    }
    line[n - 1] = '\0';
    cr_assert_eq(strncmp(line, "serving ", 8), 0, "%s", line);
    strcpy(s->address, line + 8);
}

/* SIGTERM it and wait: its return code. */
static int
serve_stop(struct served *s)
{
    int code;

    assert_code(mproc_popen_terminate(s->p), 0);
    assert_code(mproc_popen_wait(s->p, 20), 0);
    code = mproc_popen_returncode(s->p);
    mproc_popen_free(s->p);
    s->p = NULL;
    return code;
}

static mproc_manager *
connect_with(const char *address, const char *key)
{
    mproc_manager *m = NULL;
    int rc = mproc_manager_connect(
        &m, address,
        &(mproc_manager_opts){ .authkey = key, .authkey_len = strlen(key) },
        10);

    cr_assert_eq(rc, 0, "connect %s: %s", address, mproc_errname(rc));
    cr_assert_null(mproc_manager_process(m));
    cr_assert_str_eq(mproc_manager_address(m), address);
    return m;
}

static void
assert_connect_fails(const char *address, const char *key, int want)
{
    mproc_manager *m = NULL;
    int rc = mproc_manager_connect(
        &m, address,
        key != NULL ? &(mproc_manager_opts){ .authkey = key,
                                             .authkey_len = strlen(key) }
                    : NULL,
        10);

    cr_assert_eq(rc, want, "connect %s: %s, expected %s", address,
                 mproc_errname(rc), mproc_errname(want));
    cr_assert_null(m);
}

Test(manager, standalone_server_prints_usage_for_help)
{
    char *argv[] = { MPROC_MANAGER_BIN, "--help", NULL };
    mproc_buf out = { 0 };
    mproc_popen *p = NULL;

    assert_code(mproc_popen_new(&p, argv,
                                &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE }),
                0);
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, 20), 0);
    cr_assert_eq(mproc_popen_returncode(p), 0);
    cr_assert_geq(out.len, 6);
    cr_assert_eq(memcmp(out.data, "usage:", 6), 0);
    mproc_buf_free(&out);
    mproc_popen_free(p);
}

Test(manager, standalone_server_over_tcp_admits_the_right_key_only)
{
    char *args[] = { "--address", "tcp://127.0.0.1:0", NULL };
    char *env[] = { "MPROC_AUTHKEY=tcp-secret", NULL };
    struct served s;
    mproc_manager *m;
    mproc_proxy *d = NULL;
    mproc_obj *r = NULL;
    int rc;

    serve(&s, args, env);
    cr_assert_eq(strncmp(s.address, "tcp://127.0.0.1:", 16), 0, "%s",
                 s.address);
    cr_assert_str_neq(s.address, "tcp://127.0.0.1:0"); /* the real port */
    assert_connect_fails(s.address, "wrong", MPROC_EAUTH);
    assert_connect_fails(s.address, NULL, MPROC_EAUTH); /* this process's */
    m = connect_with(s.address, "tcp-secret");
    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    mproc_obj_free(CALL(d, "__setitem__", "(s s)", "k", "v"));
    assert_repr(CALL(d, "__getitem__", "(s)", "k"), "'v'");

    /* SIGTERM with a client connected: a clean exit, and the client's
     * calls fail at once; then nobody serves the address. */
    cr_assert_eq(serve_stop(&s), 0);
    rc = mproc_proxy_callf(d, "__getitem__", &r, "(s)", "k");
    cr_assert(is_gone_code(rc), "%s", mproc_errname(rc));
    cr_assert_null(r);
    mproc_proxy_free(d);
    mproc_manager_free(m);
    assert_connect_fails(s.address, "tcp-secret", -ECONNREFUSED);
}

/* Every builtin type, from a process the server is no relative of, over
 * TCP: every call, typed or not, is a round trip (no shared memory). */
Test(manager, every_builtin_type_serves_an_unrelated_client_over_tcp)
{
    char *args[] = { "--address", "tcp://127.0.0.1:0", NULL };
    char *env[] = { "MPROC_AUTHKEY=every-type", NULL };
    mproc_proxy *d, *l, *ns, *q, *jq, *lk, *rl, *sem, *bsem, *c, *ev, *b, *v,
        *a;
    mproc_obj *k = TH_OBJ("s", "k"), *one = TH_OBJ("i", 1), *r = NULL;
    struct served s;
    mproc_manager *m;

    serve(&s, args, env);
    m = connect_with(s.address, "every-type");

    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    assert_code(mproc_proxy_setitem(d, k, one), 0);
    assert_code(mproc_proxy_getitem(d, k, &r), 0);
    assert_int(r, 1);
    cr_assert_eq(proxy_len(d), 1);
    assert_code(mproc_proxy_delitem(d, k), 0);
    assert_code(mproc_proxy_getitem(d, k, &r), -ENOENT);

    assert_code(mproc_manager_list(m, NULL, &l), 0);
    mproc_obj_free(CALL(l, "append", "(i)", 7));
    assert_code(mproc_proxy_getvalue(l, &r), 0);
    assert_repr(r, "[7]");

    assert_code(mproc_manager_namespace(m, &ns), 0);
    assert_code(mproc_proxy_setattr(ns, "x", one), 0);
    assert_code(mproc_proxy_getattr(ns, "x", &r), 0);
    assert_int(r, 1);

    assert_code(mproc_manager_queue(m, 1, false, &q), 0);
    assert_code(mproc_proxy_put(q, one, 1), 0);
    assert_code(mproc_proxy_put(q, one, 0.05), MPROC_EFULL);
    cr_assert_eq(proxy_len(q), 1);
    assert_code(mproc_proxy_get(q, &r, 1), 0);
    assert_int(r, 1);
    assert_code(mproc_proxy_get(q, &r, 0.05), MPROC_EEMPTY);

    assert_code(mproc_manager_queue(m, 0, true, &jq), 0);
    assert_code(mproc_proxy_put(jq, one, 1), 0);
    assert_code(mproc_proxy_get(jq, &r, 1), 0);
    mproc_obj_free(r);
    CALL_FAILS(jq, "join", MPROC_ETIMEDOUT, "(d)", 0.05);
    mproc_obj_free(CALL(jq, "task_done", "()"));
    mproc_obj_free(CALL(jq, "join", "(d)", 1.0));

    assert_code(mproc_manager_lock(m, false, &lk), 0);
    assert_code(mproc_proxy_acquire(lk, 1), 0);
    assert_bool(CALL(lk, "locked", "()"), true);
    assert_code(mproc_proxy_release(lk), 0);
    assert_code(mproc_manager_lock(m, true, &rl), 0);
    assert_code(mproc_proxy_acquire(rl, 1), 0);
    assert_code(mproc_proxy_acquire(rl, 1), 0);
    assert_code(mproc_proxy_release(rl), 0);
    assert_code(mproc_proxy_release(rl), 0);
    assert_code(mproc_proxy_release(rl), MPROC_ESTATE);

    assert_code(mproc_manager_semaphore(m, 1, false, &sem), 0);
    assert_code(mproc_proxy_acquire(sem, 1), 0);
    assert_code(mproc_proxy_acquire(sem, 0.05), MPROC_ETIMEDOUT);
    assert_code(mproc_proxy_release(sem), 0);
    assert_code(mproc_manager_semaphore(m, 1, true, &bsem), 0);
    cr_assert_lt(mproc_proxy_release(bsem), 0); /* over-released */

    assert_code(mproc_manager_condition(m, NULL, &c), 0);
    assert_code(mproc_proxy_acquire(c, 1), 0);
    assert_code(mproc_proxy_wait(c, 0.05), MPROC_ETIMEDOUT);
    mproc_obj_free(CALL(c, "notify_all", "()"));
    assert_code(mproc_proxy_release(c), 0);

    assert_code(mproc_manager_event(m, &ev), 0);
    assert_code(mproc_proxy_wait(ev, 0.05), MPROC_ETIMEDOUT);
    mproc_obj_free(CALL(ev, "set", "()"));
    assert_code(mproc_proxy_wait(ev, 1), 0);

    assert_code(mproc_manager_barrier(m, 1, -1, &b), 0);
    assert_int(CALL(b, "wait", "()"), 0);
    assert_int(CALL(b, "parties", "()"), 1);

    assert_code(mproc_manager_value(m, "d", one, &v), 0);
    mproc_obj_free(CALL(v, "set", "(d)", 2.5));
    assert_repr(CALL(v, "get", "()"), "2.5");

    r = TH_OBJ("[i i]", 1, 2);
    assert_code(mproc_manager_array(m, "i", r, &a), 0);
    mproc_obj_free(r);
    assert_code(mproc_proxy_setitem(a, one, one), 0);
    assert_code(mproc_proxy_getvalue(a, &r), 0);
    assert_repr(r, "[1, 1]");

    mproc_proxy *all[] = { d, l, ns, q, jq, lk, rl, sem, bsem, c, ev, b, v, a };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        mproc_proxy_free(all[i]);
    mproc_obj_free(k);
    mproc_obj_free(one);
    mproc_manager_free(m);
    cr_assert_eq(serve_stop(&s), 0);
}

Test(manager, standalone_server_on_a_unix_path_takes_its_key_from_a_file)
{
    char dir[] = "/tmp/mproc-manager-test-XXXXXX", key[300], sock[300];
    char address[320],
        *args[] = { "--address", address, "--authkey-file", key, NULL };
    char *env[] = { "MPROC_AUTHKEY=not-this-one", NULL };
    struct served s;
    mproc_manager *m;
    mproc_proxy *l = NULL;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/key", dir);
    snprintf(sock, sizeof(sock), "%s/socket", dir);
    snprintf(address, sizeof(address), "unix:%s", sock);
    f = fopen(key, "w");
    cr_assert_not_null(f);
    fputs("file-secret", f);
    fclose(f);

    serve(&s, args, env);
    cr_assert_str_eq(s.address, address);
    assert_connect_fails(address, "not-this-one", MPROC_EAUTH);
    m = connect_with(address, "file-secret");
    assert_code(mproc_manager_list(m, NULL, &l), 0);
    mproc_obj_free(CALL(l, "append", "(i)", 1));
    cr_assert_eq(proxy_len(l), 1);
    mproc_proxy_free(l);
    mproc_manager_free(m);
    cr_assert_eq(serve_stop(&s), 0);
    cr_assert_neq(access(sock, F_OK), 0, "the socket file was left behind");
    assert_connect_fails(address, "file-secret", -ENOENT);
    unlink(key);
    cr_assert_eq(rmdir(dir), 0);
}

Test(manager, standalone_server_on_an_abstract_address_and_client_shutdown)
{
    char address[128], *args[] = { "--address", address, NULL };
    char *env[] = { "MPROC_AUTHKEY=abstract", NULL };
    struct served s;
    mproc_manager *m;

    snprintf(address, sizeof(address), "unix:@mproc-manager-test-%d",
             (int)getpid());
    serve(&s, args, env);
    cr_assert_str_eq(s.address, address);
    m = connect_with(address, "abstract");
    /* A client may stop a server it did not start. */
    assert_code(mproc_manager_shutdown(m), 0);
    assert_code(mproc_popen_wait(s.p, 20), 0);
    cr_assert_eq(mproc_popen_returncode(s.p), 0);
    mproc_popen_free(s.p);
    mproc_manager_free(m);
    assert_connect_fails(address, "abstract", -ECONNREFUSED);
}

/* text: a pickled proxy object; m: unused. Connect anew (to k.text +
 * 256 as the address), load the proxy, set d["child"] = 2. */
static int
kid_reach_by_pickle(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_manager *m = NULL;
    mproc_proxy *d = NULL;
    mproc_obj *o = NULL, *r = NULL;
    int rc;

    if (mproc_manager_connect(
            &m, k.text + 256,
            &(mproc_manager_opts){ .authkey = "shared", .authkey_len = 6 },
            10) != 0)
        return 10;
    if (mproc_obj_loads(&o, k.text, (size_t)k.n, NULL) != 0)
        return 11;
    rc = mproc_proxy_from_obj(m, o, &d);
    mproc_obj_free(o);
    if (rc != 0)
        return 12;
    if (mproc_proxy_callf(d, "__getitem__", &r, "(s)", "parent") != 0 ||
        !kid_int_is(r, 1))
        return 13;
    if (mproc_proxy_callf(d, "__setitem__", NULL, "(s i)", "child", 2) != 0)
        return 14;
    mproc_proxy_free(d);
    mproc_manager_free(m);
    return 0;
}

Test(manager, object_made_by_one_client_is_reached_by_another_by_its_pickle)
{
    char *args[] = { "--address", "tcp://127.0.0.1:0", NULL };
    char *env[] = { "MPROC_AUTHKEY=shared", NULL };
    const char *typeid = NULL, *address = NULL;
    mproc_manager *a, *b;
    mproc_proxy *d = NULL, *again = NULL;
    mproc_obj *o = NULL, *back = NULL;
    mproc_buf pickle = { 0 };
    struct kid k = { 0 };
    struct served s;

    serve(&s, args, env);
    a = connect_with(s.address, "shared");
    assert_code(mproc_manager_dict(a, NULL, &d), 0);
    mproc_obj_free(CALL(d, "__setitem__", "(s i)", "parent", 1));
    assert_code(mproc_proxy_obj(d, &o), 0);
    assert_code(mproc_obj_proxy_value(o, &typeid, &address), 0);
    cr_assert_str_eq(typeid, "dict");
    cr_assert_str_eq(address, s.address);
    assert_code(mproc_obj_dumps(o, &pickle, 0), 0);
    mproc_obj_free(o);

    /* A forked child that connects on its own. */
    cr_assert_lt(pickle.len, 256);
    memcpy(k.text, pickle.data, pickle.len);
    k.n = (int)pickle.len;
    strcpy(k.text + 256, s.address);
    cr_assert_eq(th_join(kid_start(kid_reach_by_pickle, &k), 30), 0);
    assert_int(CALL(d, "__getitem__", "(s)", "child"), 2);

    /* A second client of this process; the first one leaves. */
    b = connect_with(s.address, "shared");
    assert_code(mproc_obj_loads(&back, pickle.data, pickle.len, NULL), 0);
    assert_code(mproc_proxy_from_obj(b, back, &again), 0);
    cr_assert_str_eq(mproc_proxy_typeid(again), "dict");
    mproc_proxy_free(d);
    mproc_manager_free(a);
    assert_repr(CALL(again, "_getvalue", "()"), "{'parent': 1, 'child': 2}");
    mproc_proxy_free(again);
    /* The last reference gone: the object is too. */
    assert_code(mproc_proxy_from_obj(b, back, &again), -ENOENT);
    cr_assert_null(again);
    mproc_obj_free(back);
    mproc_buf_free(&pickle);
    mproc_manager_free(b);
    cr_assert_eq(serve_stop(&s), 0);
}

/* ---- proxies inside managed containers ----------------------------------- */

Test(manager, a_proxy_stored_in_a_list_reaches_the_dict_it_names)
{
    mproc_manager *m = manager_start();
    mproc_proxy *d = NULL, *l = NULL, *inner = NULL, *other = NULL;
    mproc_obj *o = NULL, *r = NULL;
    const char *typeid = NULL, *address = NULL;

    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    assert_code(mproc_manager_list(m, NULL, &l), 0);
    assert_code(mproc_proxy_obj(d, &o), 0);
    cr_assert_eq(mproc_obj_type(o), MPROC_OBJ_PROXY);
    mproc_obj_free(CALL(l, "append", "(O)", o));
    mproc_obj_free(o);

    r = CALL(l, "__getitem__", "(i)", 0);
    cr_assert_eq(mproc_obj_type(r), MPROC_OBJ_PROXY);
    assert_code(mproc_obj_proxy_value(r, &typeid, &address), 0);
    cr_assert_str_eq(typeid, "dict");
    cr_assert_str_eq(address, mproc_manager_address(m));
    assert_code(mproc_proxy_from_obj(m, r, &inner), 0);
    mproc_obj_free(r);
    mproc_obj_free(CALL(inner, "__setitem__", "(s i)", "through", 1));
    assert_int(CALL(d, "__getitem__", "(s)", "through"), 1);

    /* Not a proxy object; one of another manager. */
    r = TH_OBJ("i", 1);
    assert_code(mproc_proxy_from_obj(m, r, &other), MPROC_EINVAL);
    mproc_obj_free(r);
    {
        mproc_manager *m2 = manager_start();

        assert_code(mproc_proxy_obj(d, &o), 0);
        assert_code(mproc_proxy_from_obj(m2, o, &other), MPROC_EINVAL);
        cr_assert_null(other);
        mproc_obj_free(o);
        mproc_manager_free(m2);
    }
    mproc_proxy_free(inner);
    mproc_proxy_free(d);
    mproc_proxy_free(l);
    mproc_manager_free(m);
}

Test(manager, a_stored_proxy_keeps_its_object_alive_until_removed)
{
    mproc_manager *m;
    mproc_proxy *c, *l = NULL, *back = NULL;
    mproc_obj *o = NULL, *r = NULL;

    register_types();
    m = manager_start();
    c = new_counter(m, 5);
    assert_code(mproc_manager_list(m, NULL, &l), 0);
    assert_code(mproc_proxy_obj(c, &o), 0);
    mproc_obj_free(CALL(l, "append", "(O)", o));

    /* Its own proxy freed, the counter lives on in the list. */
    mproc_proxy_free(c);
    cr_assert_eq(destroyed(), 0);
    r = CALL(l, "__getitem__", "(i)", 0);
    assert_code(mproc_proxy_from_obj(m, r, &back), 0);
    mproc_obj_free(r);
    assert_int(CALL(back, "increment", "()"), 6);
    mproc_proxy_free(back);
    cr_assert_eq(destroyed(), 0);

    /* Out of the list: gone, and its proxy object names nothing. */
    mproc_obj_free(CALL(l, "__delitem__", "(i)", 0));
    cr_assert(wait_destroyed(1, 10), "the counter was not freed");
    assert_code(mproc_proxy_from_obj(m, o, &back), -ENOENT);
    cr_assert_null(back);

    /* A proxy object naming a freed object cannot be stored either. */
    CALL_FAILS(l, "append", -ENOENT, "(O)", o);
    mproc_obj_free(o);
    mproc_proxy_free(l);
    mproc_manager_free(m);
    cr_assert_eq(atomic_load(&board->created), 1);
    board_close();
}

Test(manager, a_list_freed_with_stored_proxies_frees_what_they_named)
{
    mproc_manager *m;
    mproc_proxy *c, *d = NULL;
    mproc_obj *o = NULL;

    register_types();
    m = manager_start();
    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    for (int i = 0; i < 3; i++) {
        c = new_counter(m, i);
        assert_code(mproc_proxy_obj(c, &o), 0);
        mproc_obj_free(CALL(d, "__setitem__", "(i O)", i, o));
        mproc_obj_free(o);
        mproc_proxy_free(c);
    }
    cr_assert_eq(destroyed(), 0);
    mproc_proxy_free(d);
    cr_assert(wait_destroyed(3, 10), "%d of 3 freed", destroyed());
    mproc_manager_free(m);
    board_close();
}

/* ---- registered types ---------------------------------------------------- */

static int
bad_create(void **self, const mproc_obj *args)
{
    (void)args;
    *self = NULL;
    return 0;
}

Test(manager, register_refuses_a_typeid_twice_and_invalid_tables)
{
    static const mproc_manager_method no_methods[] = { { 0 } };
    static const mproc_manager_method call_less[] = { { .name = "m" }, { 0 } };
    static const mproc_manager_method make_less[] = {
        { .name = "m", .type_id = "Counter" }, { 0 }
    };
    static const char *const unknown[] = { "nope", NULL };
    static const mproc_manager_type ok = { .type_id = "RegisterOk",
                                           .create = bad_create,
                                           .methods = no_methods };
    static const mproc_manager_type dict_again = { .type_id = "dict",
                                                   .create = bad_create,
                                                   .methods = no_methods };
    static const mproc_manager_type no_create = { .type_id = "NoCreate",
                                                  .methods = no_methods };
    static const mproc_manager_type empty_id = { .type_id = "",
                                                 .create = bad_create,
                                                 .methods = no_methods };
    static const mproc_manager_type long_id = {
        .type_id = "aaaaaaaaaa"
                   "aaaaaaaaaa"
                   "aaaaaaaaaa"
                   "aaaaaaaaaa"
                   "aaaaaaaaaa"
                   "aaaaaaaaaa"
                   "aaaaa", /* 65 bytes: one too many */
        .create = bad_create,
        .methods = no_methods
    };
    static const mproc_manager_type no_call = { .type_id = "NoCall",
                                                .create = bad_create,
                                                .methods = call_less };
    static const mproc_manager_type no_make = { .type_id = "NoMake",
                                                .create = bad_create,
                                                .methods = make_less };
    static const mproc_manager_type bad_exposed = { .type_id = "BadExposed",
                                                    .create = bad_create,
                                                    .methods = no_methods,
                                                    .exposed = unknown };

    cr_assert_eq(strlen(long_id.type_id), 65);
    assert_code(mproc_manager_register(&ok), 0);
    assert_code(mproc_manager_register(&ok), -EEXIST);
    assert_code(mproc_manager_register(&dict_again), -EEXIST);
    assert_code(mproc_manager_register(NULL), MPROC_EINVAL);
    assert_code(mproc_manager_register(&no_create), MPROC_EINVAL);
    assert_code(mproc_manager_register(&empty_id), MPROC_EINVAL);
    assert_code(mproc_manager_register(&long_id), MPROC_EINVAL);
    assert_code(mproc_manager_register(&no_call), MPROC_EINVAL);
    assert_code(mproc_manager_register(&no_make), MPROC_EINVAL);
    assert_code(mproc_manager_register(&bad_exposed), MPROC_EINVAL);
}

Test(manager, registered_type_exposes_its_public_methods_only)
{
    mproc_manager *m;
    mproc_proxy *c, *x = NULL;
    mproc_buf message = { 0 };
    mproc_obj *r = NULL, *args;

    register_types();
    m = manager_start();
    c = new_counter(m, 10);
    assert_int(CALL(c, "increment", "()"), 11);
    assert_int(CALL(c, "increment", "(i)", 5), 16);
    assert_int(CALL(c, "get", "()"), 16);
    assert_code(mproc_proxy_getvalue(c, &r), 0);
    assert_int(r, 16);
    CALL_FAILS(c, "_secret", -EOPNOTSUPP, "()");
    CALL_FAILS(c, "no_such", -EOPNOTSUPP, "()");
    CALL_FAILS(c, "increment", MPROC_EINVAL, "(s)", "one");
    /* a method's own code comes back, with words */
    assert_code(mproc_proxy_call(c, "fail", NULL, &r, &message), -EDOM);
    cr_assert_null(r);
    cr_assert_gt(message.len, 0);
    cr_assert_not_null(message.data);
    mproc_buf_free(&message);

    /* The exposed list decides, '_' or not; no getvalue: -EOPNOTSUPP. */
    args = TH_OBJ("(i)", 3);
    assert_code(mproc_manager_create(m, "ExposedCounter", args, &x), 0);
    mproc_obj_free(args);
    assert_repr(CALL(x, "_secret", "()"), "'hidden'");
    assert_int(CALL(x, "get", "()"), 3);
    CALL_FAILS(x, "increment", -EOPNOTSUPP, "()");
    assert_code(mproc_proxy_getvalue(x, &r), -EOPNOTSUPP);
    mproc_proxy_free(x);
    x = NULL;

    /* Unknown typeids; a create that refuses its arguments. */
    assert_code(mproc_manager_create(m, "NoSuchType", NULL, &x), -ENOENT);
    cr_assert_null(x);
    args = TH_OBJ("(s)", "x");
    assert_code(mproc_manager_create(m, "Counter", args, &x), MPROC_EINVAL);
    mproc_obj_free(args);
    args = TH_OBJ("i", 1);
    assert_code(mproc_manager_create(m, "Counter", args, &x), MPROC_EINVAL);
    mproc_obj_free(args);
    assert_code(mproc_manager_create(m, "", NULL, &x), MPROC_EINVAL);
    mproc_proxy_free(c);
    mproc_manager_free(m);
    board_close();
}

Test(manager, method_to_typeid_returns_a_proxy_to_a_new_object)
{
    mproc_manager *m;
    mproc_proxy *c, *twin = NULL, *none = NULL;
    mproc_obj *r = NULL;

    register_types();
    m = manager_start();
    c = new_counter(m, 7);
    assert_code(mproc_proxy_call_proxy(c, "clone", NULL, &twin), 0);
    cr_assert_str_eq(mproc_proxy_typeid(twin), "Counter");
    assert_int(CALL(twin, "increment", "()"), 8);
    assert_int(CALL(c, "get", "()"), 7); /* a new object */
    cr_assert_eq(atomic_load(&board->created), 2);

    /* The wrong call for each kind of method. */
    assert_code(mproc_proxy_call(c, "clone", NULL, &r, NULL), MPROC_EINVAL);
    cr_assert_null(r);
    cr_assert(wait_destroyed(1, 10), "the clone nobody got was not freed");
    assert_code(mproc_proxy_call_proxy(c, "get", NULL, &none), MPROC_EINVAL);
    cr_assert_null(none);
    assert_code(mproc_proxy_call_proxy(c, "nope", NULL, &none), -EOPNOTSUPP);

    mproc_proxy_free(twin);
    cr_assert(wait_destroyed(2, 10));
    mproc_proxy_free(c);
    cr_assert(wait_destroyed(3, 10));
    mproc_manager_free(m);
    board_close();
}

/* ---- lifetimes ----------------------------------------------------------- */

/* a: a counter. Use it (taking this process's reference), say ready, then
 * keep it until "go". */
static int
kid_hold_until_go(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL;

    if (mproc_proxy_callf(k.a, "increment", &r, "()") != 0)
        return 10;
    mproc_obj_free(r);
    if (kid_say_ready(&k) != 0)
        return 11;
    if (!read_byte(k.go, 30))
        return 12;
    mproc_proxy_free(k.a);
    return 0;
}

Test(manager, object_lives_while_a_child_holds_a_proxy_and_goes_with_the_last)
{
    int ready[2], go[2];
    struct kid k = { 0 };
    mproc_manager *m;
    mproc_process *p;

    register_types();
    m = manager_start();
    k.a = new_counter(m, 0);
    make_pipe(ready);
    make_pipe(go);
    k.ready = ready[1];
    k.go = go[0];
    p = kid_start(kid_hold_until_go, &k);
    cr_assert(read_byte(ready[0], 30));
    mproc_proxy_free(k.a); /* the parent's reference */
    cr_assert_eq(destroyed(), 0, "freed while a child held a proxy");
    cr_assert_eq(write(go[1], "g", 1), 1);
    cr_assert_eq(th_join(p, 30), 0);
    cr_assert(wait_destroyed(1, 10), "not freed with the child's proxy");

    /* And the other way round: the child's reference goes first. */
    k.a = new_counter(m, 0);
    p = kid_start(kid_hold_until_go, &k);
    cr_assert(read_byte(ready[0], 30));
    cr_assert_eq(write(go[1], "g", 1), 1);
    cr_assert_eq(th_join(p, 30), 0);
    assert_int(CALL(k.a, "get", "()"), 1);
    cr_assert_eq(destroyed(), 1);
    mproc_proxy_free(k.a);
    cr_assert(wait_destroyed(2, 10));
    close_pipe(ready);
    close_pipe(go);
    mproc_manager_free(m);
    board_close();
}

/* Make n counters and a proxy to a clone of the first, keep them, say
 * ready, then block until killed. */
static int
kid_make_and_hang(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_proxy *made[8], *twin = NULL;

    for (int i = 0; i < k.n && i < 8; i++)
        if (mproc_manager_create(k.m, "Counter", NULL, &made[i]) != 0)
            return 10;
    if (mproc_proxy_call_proxy(made[0], "clone", NULL, &twin) != 0)
        return 11;
    if (kid_say_ready(&k) != 0)
        return 12;
    th_slow_block_forever();
    return 13;
}

Test(manager, objects_of_a_sigkilled_client_are_freed)
{
    struct kid k = { .n = 4 };
    mproc_manager *m;
    mproc_process *p;
    int ready[2];

    register_types();
    m = manager_start();
    k.m = m;
    k.a = new_counter(m, 0); /* the parent's own: it must stay */
    make_pipe(ready);
    k.ready = ready[1];
    p = kid_start(kid_make_and_hang, &k);
    cr_assert(read_byte(ready[0], 30));
    cr_assert_eq(atomic_load(&board->created), 6);
    cr_assert_eq(destroyed(), 0);
    assert_code(mproc_process_kill(p), 0);
    cr_assert_eq(th_join(p, 30), -SIGKILL);
    cr_assert(wait_destroyed(5, 10), "%d of 5 freed", destroyed());
    assert_int(CALL(k.a, "increment", "()"), 1);
    cr_assert_eq(destroyed(), 5);
    close_pipe(ready);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
    board_close();
}

/* ---- failures ------------------------------------------------------------ */

/* a: a queue. Make the connections (qsize), say ready, get forever. */
static int
kid_get_forever(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL;
    size_t n;

    if (mproc_proxy_len(k.a, &n) != 0)
        return 10;
    if (kid_say_ready(&k) != 0)
        return 11;
    if (mproc_proxy_get(k.a, &r, MPROC_FOREVER) != 0)
        return 12;
    return 13; /* it got something: it was not killed in time */
}

Test(manager, client_killed_in_a_blocking_get_takes_no_item)
{
    mproc_manager *m = manager_start();
    mproc_obj *item = TH_OBJ("s", "for the living"), *r = NULL;
    struct threads_at idle = { .pid = server_pid(m) };
    struct kid k = { 0 };
    mproc_process *p;
    int ready[2];
    double t0;

    assert_code(mproc_manager_queue(m, 0, false, &k.a), 0);
    idle.most = thread_count(idle.pid); /* the server as it is for us */
    make_pipe(ready);
    k.ready = ready[1];
    p = kid_start(kid_get_forever, &k);
    cr_assert(read_byte(ready[0], 30));
    wait_sleeping(p); /* in the get's receive: the request sent */
    assert_code(mproc_process_kill(p), 0);
    cr_assert_eq(th_join(p, 30), -SIGKILL);
    /* The server's threads for the child end once its get gave up. */
    t0 = th_now();
    cr_assert(wait_until(threads_down_to, &idle, 10),
              "the dead client's get still waits (%d threads, %d before)",
              thread_count(idle.pid), idle.most);
    cr_assert_lt(th_now() - t0, 5.0);
    assert_code(mproc_proxy_put(k.a, item, 0), 0);
    assert_code(mproc_proxy_get(k.a, &r, 5), 0);
    assert_repr(r, "'for the living'");
    cr_assert_eq(proxy_len(k.a), 0);
    mproc_obj_free(item);
    close_pipe(ready);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
}

/* a: a GatedCounter. Say ready, then call the method that waits for the
 * gate. */
static int
kid_call_gated(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL;

    if (mproc_proxy_callf(k.a, "get", &r, "()") != 0)
        return 10;
    mproc_obj_free(r);
    if (kid_say_ready(&k) != 0)
        return 11;
    (void)mproc_proxy_callf(k.a, "pass_gate", &r, "()");
    return 12;
}

Test(manager, client_killed_mid_request_leaves_the_server_serving_others)
{
    mproc_manager *m;
    struct kid k = { 0 };
    mproc_process *p;
    mproc_proxy *d = NULL;
    int ready[2];

    register_types();
    m = manager_start();
    assert_code(mproc_manager_create(m, "GatedCounter", NULL, &k.a), 0);
    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    make_pipe(ready);
    k.ready = ready[1];
    p = kid_start(kid_call_gated, &k);
    cr_assert(read_byte(ready[0], 30));
    wait_sleeping(p);
    assert_code(mproc_process_kill(p), 0);
    cr_assert_eq(th_join(p, 30), -SIGKILL);
    /* Others are served meanwhile; then the method returns to nobody. */
    mproc_obj_free(CALL(d, "__setitem__", "(s i)", "alive", 1));
    open_gate();
    for (int i = 0; i < 50; i++)
        assert_int(CALL(d, "__getitem__", "(s)", "alive"), 1);
    assert_int(CALL(k.a, "get", "()"), 0);
    cr_assert(mproc_process_is_alive(mproc_manager_process(m)));
    close_pipe(ready);
    mproc_proxy_free(d);
    mproc_proxy_free(k.a);
    mproc_manager_free(m);
    board_close();
}

/* m: the manager. Create a Counter, say ready, then create a
 * SlowCounter, which waits for the gate in the server. */
static int
kid_create_slowly(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_proxy *c = NULL;

    if (mproc_manager_create(k.m, "Counter", NULL, &c) != 0)
        return 10;
    if (kid_say_ready(&k) != 0)
        return 11;
    (void)mproc_manager_create(k.m, "SlowCounter", NULL, &c);
    return 12;
}

/*
 * A client killed while the server makes an object for it: once made, the
 * object belongs to nobody and must be freed, not kept for a session that
 * ended (see the report: the server adds it to the freed session).
 */
Test(manager, object_made_for_a_client_killed_mid_create_is_freed)
{
    struct kid k = { 0 };
    mproc_manager *m;
    mproc_process *p;
    int ready[2];

    register_types();
    m = manager_start();
    k.m = m;
    make_pipe(ready);
    k.ready = ready[1];
    p = kid_start(kid_create_slowly, &k);
    cr_assert(read_byte(ready[0], 30));
    wait_sleeping(p);
    assert_code(mproc_process_kill(p), 0);
    cr_assert_eq(th_join(p, 30), -SIGKILL);
    /* Its session ended: its first Counter is freed. */
    cr_assert(wait_destroyed(1, 10), "the session did not end");
    open_gate(); /* the SlowCounter gets made now */
    cr_assert(wait_destroyed(2, 3),
              "the object made for the dead client was kept (%d created, "
              "%d freed)",
              atomic_load(&board->created), destroyed());
    close_pipe(ready);
    mproc_manager_free(m);
    board_close();
}

/* A get forever on q in a thread of this process: its result. */
struct blocked_get {
    mproc_proxy *q;
    int rc;
    _Atomic pid_t tid;
};

static void *
get_in_thread(void *arg)
{
    struct blocked_get *g = arg;
    mproc_obj *r = NULL;
    size_t n;

    g->rc = mproc_proxy_len(g->q, &n); /* its connection, first */
    atomic_store(&g->tid, gettid());
    if (g->rc == 0)
        g->rc = mproc_proxy_get(g->q, &r, MPROC_FOREVER);
    mproc_obj_free(r);
    return NULL;
}

static bool
thread_blocked(void *ctx)
{
    pid_t tid = atomic_load(&((struct blocked_get *)ctx)->tid);

    return tid != 0 && is_sleeping((void *)(intptr_t)tid);
}

Test(manager, a_get_blocked_in_another_thread_fails_when_the_server_shuts_down,
     .timeout = 20)
{
    mproc_manager *m = manager_start();
    struct blocked_get g = { 0 };
    pthread_t thread;
    double t0;

    assert_code(mproc_manager_queue(m, 0, false, &g.q), 0);
    cr_assert_eq(pthread_create(&thread, NULL, get_in_thread, &g), 0);
    cr_assert(wait_until(thread_blocked, &g, 10));
    t0 = th_now();
    assert_code(mproc_manager_shutdown(m), 0);
    cr_assert_eq(mproc_process_exitcode(mproc_manager_process(m)), 0);
    pthread_join(thread, NULL); /* a hang here: the suite's timeout */
    cr_assert_lt(th_now() - t0, 10.0);
    cr_assert(is_gone_code(g.rc), "the blocked get returned %s",
              mproc_errname(g.rc));
    mproc_proxy_free(g.q);
    mproc_manager_free(m);
}

Test(manager, every_proxy_call_fails_after_the_server_shuts_down, .timeout = 20)
{
    mproc_manager *m = manager_start();
    mproc_obj *key = TH_OBJ("s", "k"), *r = NULL;
    mproc_proxy *d = NULL, *q = NULL, *lock = NULL, *x = NULL;
    mproc_shm *shm = NULL;
    size_t n;

    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    assert_code(mproc_manager_queue(m, 0, false, &q), 0);
    assert_code(mproc_manager_lock(m, false, &lock), 0);
    /* Each used once first (a dict or queue may then be mapped here). */
    assert_code(mproc_proxy_setitem(d, key, key), 0);
    assert_code(mproc_proxy_put(q, key, 0), 0);
    assert_code(mproc_proxy_get(q, &r, 1), 0);
    mproc_obj_free(r);
    assert_code(mproc_proxy_acquire(lock, 1), 0);

    assert_code(mproc_manager_shutdown(m), 0);
    assert_gone(mproc_proxy_getitem(d, key, &r));
    cr_assert_null(r);
    assert_gone(mproc_proxy_setitem(d, key, key));
    assert_gone(mproc_proxy_len(d, &n));
    assert_gone(mproc_proxy_callf(d, "keys", &r, "()"));
    assert_gone(mproc_proxy_getvalue(d, &r));
    assert_gone(mproc_proxy_put(q, key, 0));
    assert_gone(mproc_proxy_get(q, &r, 0));
    assert_gone(mproc_proxy_get(q, &r, 1));
    assert_gone(mproc_proxy_len(q, &n));
    assert_gone(mproc_proxy_release(lock));
    assert_gone(mproc_manager_dict(m, NULL, &x));
    cr_assert_null(x);
    assert_gone(mproc_manager_shared_memory(m, 16, &shm));
    cr_assert_null(shm);
    mproc_obj_free(key);
    mproc_proxy_free(d);
    mproc_proxy_free(q);
    mproc_proxy_free(lock);
    mproc_manager_free(m);
}

Test(manager, shutdown_twice_and_free_after_shutdown_are_fine)
{
    mproc_manager *m = manager_start();
    mproc_proxy *l = NULL;

    assert_code(mproc_manager_list(m, NULL, &l), 0);
    assert_code(mproc_manager_shutdown(m), 0);
    assert_code(mproc_manager_shutdown(m), 0);
    mproc_manager_free(m); /* the proxy outlives its manager */
    mproc_proxy_free(l);
    assert_code(mproc_manager_shutdown(NULL), MPROC_EINVAL);
    mproc_manager_free(NULL);
    mproc_proxy_free(NULL);
}

/* a: a dict, b: a lock. n times: d["n"] += 1 under the lock. */
static int
kid_increment_under_lock(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *key = NULL, *v = NULL;
    int64_t n;
    int rc = mproc_obj_build(&key, "s", "n");

    for (int i = 0; rc == 0 && i < k.n; i++) {
        rc = mproc_proxy_acquire(k.b, 60);
        if (rc == 0)
            rc = mproc_proxy_getitem(k.a, key, &v);
        if (rc == 0)
            rc = mproc_obj_int_value(v, &n);
        mproc_obj_free(v);
        v = NULL;
        if (rc == 0)
            rc = mproc_obj_int(&v, n + 1);
        if (rc == 0)
            rc = mproc_proxy_setitem(k.a, key, v);
        mproc_obj_free(v);
        v = NULL;
        if (rc == 0)
            rc = mproc_proxy_release(k.b);
    }
    mproc_obj_free(key);
    return rc == 0 ? 0 : 10;
}

Test(manager, eight_children_increment_a_dict_under_a_managed_lock,
     .timeout = 120)
{
    mproc_manager *m = manager_start();
    struct kid k = { .n = 1000 };
    mproc_process *p[8];
    double t0 = th_now();

    assert_code(mproc_manager_dict(m, NULL, &k.a), 0);
    assert_code(mproc_manager_lock(m, false, &k.b), 0);
    mproc_obj_free(CALL(k.a, "__setitem__", "(s i)", "n", 0));
    for (int i = 0; i < 8; i++)
        p[i] = kid_start(kid_increment_under_lock, &k);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(th_join(p[i], 100), 0);
    assert_int(CALL(k.a, "__getitem__", "(s)", "n"), 8 * k.n);
    cr_log_info("8 x %d locked increments: %.2f s", k.n, th_now() - t0);
    mproc_proxy_free(k.a);
    mproc_proxy_free(k.b);
    mproc_manager_free(m);
}

Test(manager, calls_with_bad_arguments_fail_with_einval)
{
    mproc_manager *m = manager_start();
    mproc_obj *list = TH_OBJ("[i]", 1), *r = NULL;
    mproc_proxy *d = NULL, *x = NULL;
    mproc_buf message = { .data = (void *)1, .len = 1 };

    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    assert_code(mproc_proxy_call(d, NULL, NULL, &r, &message), MPROC_EINVAL);
    cr_assert_null(r);
    cr_assert_null(message.data);
    assert_code(mproc_proxy_call(NULL, "keys", NULL, &r, NULL), MPROC_EINVAL);
    assert_code(mproc_proxy_call(d, "keys", list, &r, NULL), MPROC_EINVAL);
    assert_code(mproc_proxy_callf(d, "keys", &r, NULL), MPROC_EINVAL);
    assert_code(mproc_proxy_callf(d, "keys", &r, "(i"), MPROC_EINVAL);
    assert_code(mproc_proxy_call_proxy(d, NULL, NULL, &x), MPROC_EINVAL);
    assert_code(mproc_manager_create(m, "dict", list, &x), MPROC_EINVAL);
    assert_code(mproc_manager_create(m, NULL, NULL, &x), MPROC_EINVAL);
    cr_assert_null(x);
    assert_code(mproc_proxy_obj(NULL, &r), MPROC_EINVAL);
    cr_assert_str_eq(mproc_proxy_typeid(NULL), "");
    cr_assert_str_eq(mproc_manager_address(NULL), "");
    assert_code(mproc_manager_connect(&m, NULL, NULL, 1), MPROC_EINVAL);
    cr_assert_null(m);
    mproc_obj_free(list);
    mproc_proxy_free(d);
    m = NULL;
    mproc_manager_free(m);
}

Test(manager, remote_errors_come_with_words)
{
    mproc_manager *m = manager_start();
    mproc_obj *args = TH_OBJ("(s)", "missing"), *r = NULL;
    mproc_buf message = { 0 };
    mproc_proxy *d = NULL;

    assert_code(mproc_manager_dict(m, NULL, &d), 0);
    assert_code(mproc_proxy_call(d, "__getitem__", args, &r, &message),
                -ENOENT);
    cr_assert_null(r);
    cr_assert_gt(message.len, 0);
    cr_assert_eq(strlen(message.data), message.len);
    mproc_buf_free(&message);
    assert_code(mproc_proxy_call(d, "nope", NULL, &r, &message), -EOPNOTSUPP);
    cr_assert_gt(message.len, 0);
    mproc_buf_free(&message);
    assert_code(mproc_proxy_call(d, "__getitem__", args, &r, &message),
                -ENOENT);
    mproc_buf_free(&message);
    mproc_obj_free(CALL(d, "__setitem__", "(s i)", "missing", 1));
    assert_code(mproc_proxy_call(d, "__getitem__", args, &r, &message), 0);
    cr_assert_eq(message.len, 0); /* empty on success */
    assert_int(r, 1);
    mproc_obj_free(args);
    mproc_proxy_free(d);
    mproc_manager_free(m);
}

/* ---- options ------------------------------------------------------------ */

Test(manager, manager_with_an_explicit_key_and_address_is_reached_by_them)
{
    mproc_manager *m = NULL, *c;
    mproc_proxy *ns = NULL, *again = NULL;
    mproc_obj *o = NULL, *r = NULL;

    assert_code(mproc_manager_new(
                    &m, &(mproc_manager_opts){ .address = "tcp://127.0.0.1:0",
                                               .authkey = "explicit",
                                               .authkey_len = 8 }),
                0);
    cr_assert_eq(strncmp(mproc_manager_address(m), "tcp://127.0.0.1:", 16), 0);
    cr_assert_str_neq(mproc_manager_address(m), "tcp://127.0.0.1:0");
    assert_connect_fails(mproc_manager_address(m), NULL, MPROC_EAUTH);
    c = connect_with(mproc_manager_address(m), "explicit");
    assert_code(mproc_manager_namespace(m, &ns), 0);
    o = TH_OBJ("i", 3);
    assert_code(mproc_proxy_setattr(ns, "x", o), 0);
    mproc_obj_free(o);
    assert_code(mproc_proxy_obj(ns, &o), 0);
    assert_code(mproc_proxy_from_obj(c, o, &again), 0);
    assert_code(mproc_proxy_getattr(again, "x", &r), 0);
    assert_int(r, 3);
    mproc_obj_free(o);
    mproc_proxy_free(again);
    mproc_proxy_free(ns);
    mproc_manager_free(c);
    mproc_manager_free(m);
}

Test(manager, manager_with_an_empty_key_works_as_the_header_says)
{
    mproc_manager *m = NULL;
    mproc_proxy *l = NULL;
    int rc = mproc_manager_new(
        &m, &(mproc_manager_opts){ .authkey = "", .authkey_len = 0 });

    cr_assert_eq(rc, 0, "mproc_manager_new with an empty key: %s",
                 mproc_errname(rc));
    assert_code(mproc_manager_list(m, NULL, &l), 0);
    mproc_proxy_free(l);
    mproc_manager_free(m);
}

/* ---- SharedMemoryManager ------------------------------------------------- */

/* mapping: the parent's, text: its segment's name. Check the parent's
 * bytes "from parent" in both, write "from child" by name. */
static int
kid_read_segment(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_shm *s = NULL;
    char *buf;

    if (memcmp(k.mapping, "from parent", 12) != 0)
        return 9; /* the mapping it inherited */
    if (mproc_shm_new(&s, k.text, false, 0, NULL) != 0)
        return 10;
    buf = mproc_shm_buf(s);
    if (memcmp(buf, "from parent", 12) != 0)
        return 11;
    memcpy(buf + 100, "from child", 11);
    mproc_shm_free(s);
    return 0;
}

Test(manager, shared_memory_from_the_server_is_shared_with_a_child)
{
    mproc_manager *m = manager_start();
    struct kid k = { 0 };
    mproc_shm *s = NULL, *gone = NULL, *zero = NULL;
    char *buf;

    assert_code(mproc_manager_shared_memory(m, 0, &zero), MPROC_EINVAL);
    cr_assert_null(zero);
    assert_code(mproc_manager_shared_memory(m, 4096, &s), 0);
    cr_assert_geq(mproc_shm_size(s), 4096);
    buf = mproc_shm_buf(s);
    cr_assert_eq(buf[0], 0);
    memcpy(buf, "from parent", 12);
    k.mapping = buf;
    strcpy(k.text, mproc_shm_name(s));
    cr_assert_eq(th_join(kid_start(kid_read_segment, &k), 30), 0);
    cr_assert_str_eq(buf + 100, "from child");
    mproc_shm_free(s); /* this mapping only: the segment stays */
    assert_code(mproc_shm_new(&s, k.text, false, 0, NULL), 0);
    cr_assert_str_eq((char *)mproc_shm_buf(s) + 100, "from child");
    mproc_shm_free(s);

    assert_code(mproc_manager_shutdown(m), 0);
    assert_code(mproc_shm_new(&gone, k.text, false, 0, NULL), -ENOENT);
    cr_assert_null(gone);
    mproc_manager_free(m);
}

/* text: a list's segment name. Check it and set item 1 to 42. */
static int
kid_change_shareable_list(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_shlist *l = NULL;
    int64_t v = 0;

    if (mproc_shlist_new(&l, k.text, NULL, NULL) != 0)
        return 10;
    if (mproc_shlist_len(l) != 3 || mproc_shlist_get_int(l, 0, &v) != 0 ||
        v != 1)
        return 11;
    if (mproc_shlist_set_int(l, 1, 42) != 0)
        return 12;
    mproc_shlist_free(l);
    return 0;
}

Test(manager, shareable_list_is_served_and_its_segment_goes_at_shutdown)
{
    mproc_manager *m = manager_start();
    mproc_obj *items = TH_OBJ("[i d s]", 1, 2.5, "three"), *r = NULL;
    mproc_shlist *l = NULL;
    mproc_shm *gone = NULL;
    struct kid k = { 0 };
    int64_t v = 0;

    assert_code(mproc_manager_shareable_list(m, items, &l), 0);
    mproc_obj_free(items);
    cr_assert_eq(mproc_shlist_len(l), 3);
    assert_code(mproc_shlist_get(l, 2, &r), 0);
    assert_repr(r, "'three'");
    strcpy(k.text, mproc_shm_name(mproc_shlist_shm(l)));
    cr_assert_eq(th_join(kid_start(kid_change_shareable_list, &k), 30), 0);
    assert_code(mproc_shlist_get_int(l, 1, &v), 0);
    cr_assert_eq(v, 42);
    mproc_shlist_free(l);
    items = TH_OBJ("[{}]"); /* a dict is no item of a ShareableList */
    assert_code(mproc_manager_shareable_list(m, items, &l), MPROC_EINVAL);
    mproc_obj_free(items);
    cr_assert_null(l);

    assert_code(mproc_manager_shutdown(m), 0);
    assert_code(mproc_shm_new(&gone, k.text, false, 0, NULL), -ENOENT);
    mproc_manager_free(m);
}

/* ---- fork ---------------------------------------------------------------- */

/* a: a list made by the parent. Use it over this child's connection. */
static int
kid_use_inherited(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL;
    size_t n = 0;

    if (mproc_proxy_len(k.a, &n) != 0 || n != 1)
        return 10;
    if (mproc_proxy_callf(k.a, "append", NULL, "(i)", (int)getpid()) != 0)
        return 11;
    if (mproc_proxy_callf(k.a, "__getitem__", &r, "(i)", 0) != 0 ||
        !kid_int_is(r, 0))
        return 12;
    if (k.n)
        mproc_proxy_free(k.a); /* the child's reference only */
    return 0;
}

/* a: a counter made by the parent. Increment it twice, then free the
 * proxy (with n set). */
static int
kid_count_and_free(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_obj *r = NULL;

    for (int i = 0; i < 2; i++) {
        if (mproc_proxy_callf(k.a, "increment", &r, "()") != 0)
            return 10;
        mproc_obj_free(r);
    }
    if (k.n)
        mproc_proxy_free(k.a);
    return 0;
}

Test(manager, proxy_inherited_by_a_forked_child_works_over_its_own_connection)
{
    mproc_manager *m;
    struct kid k = { 0 };
    mproc_process *p;
    pid_t pid;

    register_types();
    m = manager_start();
    assert_code(mproc_manager_list(m, NULL, &k.a), 0);
    mproc_obj_free(CALL(k.a, "append", "(i)", 0));
    for (int frees = 0; frees < 2; frees++) {
        k.n = frees;
        p = kid_start(kid_use_inherited, &k);
        pid = mproc_process_pid(p);
        cr_assert_eq(th_join(p, 30), 0);
        assert_int(CALL(k.a, "pop", "()"), pid);
    }
    /* The parent's proxy outlived both children's references. */
    cr_assert_eq(proxy_len(k.a), 1);
    mproc_proxy_free(k.a);

    /* A counter: the child's free takes only the child's reference, and
     * the parent frees its own only after the child ended. */
    k.a = new_counter(m, 0);
    k.n = 1;
    p = kid_start(kid_count_and_free, &k);
    cr_assert_eq(th_join(p, 30), 0);
    cr_assert_eq(destroyed(), 0);
    assert_int(CALL(k.a, "get", "()"), 2);
    mproc_proxy_free(k.a);
    cr_assert(wait_destroyed(1, 10));
    mproc_manager_free(m);
    board_close();
}

/* ---- the other types from a child, one proxy from threads --------------- */

/* a: Namespace, b: JoinableQueue, m: the manager (its Value, Array,
 * Semaphore, RLock made here). What the parent checks after. */
static int
kid_use_the_other_types(const void *arg, size_t len)
{
    struct kid k = kid_of(arg, len);
    mproc_proxy *v = NULL, *a = NULL, *s = NULL, *r = NULL;
    mproc_obj *o = NULL;
    int rc;

    if (mproc_proxy_setattr(k.a, "child", NULL) != MPROC_EINVAL)
        return 9;
    if (mproc_obj_int(&o, 5) != 0 || mproc_proxy_setattr(k.a, "child", o) != 0)
        return 10;
    if (mproc_proxy_put(k.b, o, 5) != 0)
        return 11;
    mproc_obj_free(o);
    if (mproc_proxy_get(k.b, &o, 5) != 0 || !kid_int_is(o, 7))
        return 12; /* the parent's item, put before the fork */
    if (mproc_proxy_callf(k.b, "task_done", NULL, "()") != 0)
        return 13;
    if (mproc_manager_value(k.m, "i", NULL, &v) != MPROC_EINVAL)
        return 14;
    if (mproc_obj_int(&o, 1) != 0 || mproc_manager_value(k.m, "i", o, &v) != 0)
        return 15;
    mproc_obj_free(o);
    if (mproc_proxy_callf(v, "set", NULL, "(i)", 2) != 0 ||
        mproc_proxy_callf(v, "get", &o, "()") != 0 || !kid_int_is(o, 2))
        return 16;
    if (mproc_obj_build(&o, "[d d]", 0.5, 1.5) != 0 ||
        mproc_manager_array(k.m, "d", o, &a) != 0)
        return 17;
    mproc_obj_free(o);
    if (mproc_proxy_callf(a, "__setitem__", NULL, "(i d)", 1, 2.5) != 0)
        return 18;
    if (mproc_manager_semaphore(k.m, 1, true, &s) != 0 ||
        mproc_proxy_acquire(s, 1) != 0 || mproc_proxy_release(s) != 0 ||
        mproc_proxy_release(s) != MPROC_ESTATE)
        return 19;
    if (mproc_manager_lock(k.m, true, &r) != 0 ||
        mproc_proxy_acquire(r, 1) != 0 || mproc_proxy_acquire(r, 1) != 0)
        return 20;
    /* Leave them to the parent through the namespace. */
    rc = mproc_proxy_obj(a, &o);
    if (rc == 0)
        rc = mproc_proxy_setattr(k.a, "array", o);
    mproc_obj_free(o);
    if (rc == 0 && (rc = mproc_proxy_obj(r, &o)) == 0)
        rc = mproc_proxy_setattr(k.a, "rlock", o);
    mproc_obj_free(o);
    return rc == 0 ? 0 : 21;
}

Test(manager, namespace_queue_value_array_semaphore_rlock_from_a_child)
{
    mproc_manager *m = manager_start();
    mproc_proxy *a = NULL, *r = NULL;
    mproc_obj *o = NULL, *seven = TH_OBJ("i", 7);
    struct kid k = { 0 };

    k.m = m;
    assert_code(mproc_manager_namespace(m, &k.a), 0);
    assert_code(mproc_manager_queue(m, 0, true, &k.b), 0);
    assert_code(mproc_proxy_put(k.b, seven, 0), 0);
    mproc_obj_free(seven);
    cr_assert_eq(th_join(kid_start(kid_use_the_other_types, &k), 30), 0);
    assert_code(mproc_proxy_getattr(k.a, "child", &o), 0);
    assert_int(o, 5);
    assert_code(mproc_proxy_get(k.b, &o, 1), 0);
    assert_int(o, 5);
    CALL_FAILS(k.b, "join", MPROC_ETIMEDOUT, "(d)", 0.05); /* the child's */
    mproc_obj_free(CALL(k.b, "task_done", "()"));
    mproc_obj_free(CALL(k.b, "join", "(d)", 1.0));

    /* The child's objects, kept alive by the namespace after it ended. */
    assert_code(mproc_proxy_getattr(k.a, "array", &o), 0);
    assert_code(mproc_proxy_from_obj(m, o, &a), 0);
    mproc_obj_free(o);
    assert_code(mproc_proxy_getvalue(a, &o), 0);
    assert_repr(o, "[0.5, 2.5]");
    assert_code(mproc_proxy_getattr(k.a, "rlock", &o), 0);
    assert_code(mproc_proxy_from_obj(m, o, &r), 0);
    mproc_obj_free(o);
    /* Its owner, the server's thread for the child, ended with the child:
     * the next acquire gets it with sync.h's word for that. */
    assert_code(mproc_proxy_acquire(r, 10), MPROC_EOWNERDEAD);
    assert_code(mproc_proxy_release(r), 0);
    assert_code(mproc_proxy_release(r), MPROC_ESTATE);
    mproc_proxy_free(a);
    mproc_proxy_free(r);
    mproc_proxy_free(k.a);
    mproc_proxy_free(k.b);
    mproc_manager_free(m);
}

struct appender {
    mproc_proxy *l;
    int id, rc;
};

static void *
append_many(void *arg)
{
    struct appender *a = arg;

    for (int i = 0; a->rc == 0 && i < 200; i++)
        a->rc = mproc_proxy_callf(a->l, "append", NULL, "(i)", a->id);
    return NULL;
}

Test(manager, one_proxy_serves_several_threads_at_once)
{
    mproc_manager *m = manager_start();
    struct appender t[4];
    pthread_t thread[4];
    mproc_proxy *l = NULL;

    assert_code(mproc_manager_list(m, NULL, &l), 0);
    for (int i = 0; i < 4; i++) {
        t[i] = (struct appender){ .l = l, .id = i };
        cr_assert_eq(pthread_create(&thread[i], NULL, append_many, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(thread[i], NULL);
        assert_code(t[i].rc, 0);
    }
    cr_assert_eq(proxy_len(l), 800);
    for (int i = 0; i < 4; i++)
        assert_int(CALL(l, "count", "(i)", i), 200);
    mproc_proxy_free(l);
    mproc_manager_free(m);
}

static void
record_server_pid(void *arg)
{
    (void)arg;
    atomic_store(&board->created, (int)getpid());
}

Test(manager, initializer_runs_in_the_server_and_sigint_does_not_stop_it)
{
    mproc_manager *m = NULL;
    mproc_proxy *d = NULL;

    board_open();
    assert_code(
        mproc_manager_new(
            &m, &(mproc_manager_opts){ .initializer = record_server_pid }),
        0);
    cr_assert_eq(atomic_load(&board->created), (int)server_pid(m));
    cr_assert_eq(kill(server_pid(m), SIGINT), 0);
    assert_code(mproc_manager_dict(m, NULL, &d), 0); /* still serving */
    cr_assert(mproc_process_is_alive(mproc_manager_process(m)));
    mproc_proxy_free(d);
    mproc_manager_free(m);
    board_close();
}

/* ---- a peer that speaks the protocol badly ------------------------------- */

/* Send one raw request and expect an error reply (status 2). */
static void
assert_refused(mproc_conn *c, const void *request, size_t len)
{
    mproc_buf reply = { 0 };

    assert_code(mproc_conn_send_bytes(c, request, 0, len), 0);
    assert_code(mproc_conn_recv_bytes(c, &reply, 0, 10), 0);
    cr_assert_geq(reply.len, 5);
    cr_assert_eq(((unsigned char *)reply.data)[0], 2, "not an error reply");
    mproc_buf_free(&reply);
}

/*
 * Malformed requests from an authenticated peer get an error reply each
 * and leave the server whole; a peer that sends a second request before
 * its answer loses its connection; other clients are served throughout.
 */
Test(manager, malformed_requests_get_errors_and_the_server_goes_on)
{
    size_t key_len;
    const void *key = mproc_process_authkey(mproc_current_process(), &key_len);
    mproc_manager *m = manager_start();
    mproc_client_opts opts = { .authkey = key, .authkey_len = key_len };
    static const unsigned char hello_bad[] = { 1,   'n', 'o', 't', 'm', 'a',
                                               'g', 'i', 'c', 0,   0,   0,
                                               0,   0,   0,   0,   0,   1 };
    unsigned char hello[18] = { 1,  'm', 'p', 'r', 'o', 'c', 'm', 'g', '1',
                                42, 0,   0,   0,   0,   0,   0,   0,   0 };
    /* CALL id 999999, "get", no args; CALL with a name longer than sent;
     * CALL on object 1 whose arguments are not a pickle, or not a tuple;
     * CREATE of a 255-byte typeid; INCREF / DECREF of nothing held; an
     * unknown op; a SEGMENT of 0 bytes; a SHLIST of garbage. */
    static const unsigned char call_gone[] = { 3, 0x3f, 0x42, 0x0f, 0,   0,  0,
                                               0, 0,    3,    'g',  'e', 't' };
    static const unsigned char call_short[] = { 3, 1, 0, 0,   0,  0,
                                                0, 0, 0, 200, 'x' };
    static const unsigned char call_garbage[] = { 3,   1,   0,    0,    0,
                                                  0,   0,   0,    0,    7,
                                                  '_', '_', 'l',  'e',  'n',
                                                  '_', '_', 0xff, 0xfe, 0x00 };
    static const unsigned char call_int[] = { 3,   1,   0,    0,   0,   0,
                                              0,   0,   0,    7,   '_', '_',
                                              'l', 'e', 'n',  '_', '_', 0x80,
                                              5,   'K', 0x07, '.' };
    static const unsigned char decref[] = { 5, 1, 0, 0, 0, 0, 0, 0, 0 };
    static const unsigned char incref[] = {
        4, 0x3f, 0x42, 0x0f, 0, 0, 0, 0, 0
    };
    static const unsigned char unknown[] = { 99 };
    static const unsigned char segment0[] = { 7, 0, 0, 0, 0, 0, 0, 0, 0 };
    static const unsigned char shlist_bad[] = { 8, 0x80, 5, 0xee };
    unsigned char create_long[2 + 255] = { 2, 255 };
    mproc_proxy *d = NULL;
    mproc_conn *c = NULL;
    mproc_obj *r = NULL;
    mproc_buf reply = { 0 };

    assert_code(mproc_manager_dict(m, NULL, &d), 0); /* object 1 */
    assert_code(mproc_client(&c, mproc_manager_address(m), &opts, 10), 0);
    assert_refused(c, "", 0);                        /* no op */
    assert_refused(c, call_gone, sizeof(call_gone)); /* before HELLO */
    assert_refused(c, hello_bad, sizeof(hello_bad));
    assert_code(mproc_conn_send_bytes(c, hello, 0, sizeof(hello)), 0);
    assert_code(mproc_conn_recv_bytes(c, &reply, 0, 10), 0);
    cr_assert_eq(((unsigned char *)reply.data)[0], 0);
    mproc_buf_free(&reply);
    assert_refused(c, hello, sizeof(hello)); /* a second HELLO */
    assert_refused(c, call_gone, sizeof(call_gone));
    assert_refused(c, call_short, sizeof(call_short));
    assert_refused(c, call_garbage, sizeof(call_garbage));
    assert_refused(c, call_int, sizeof(call_int));
    memset(create_long + 2, 'x', 255);
    assert_refused(c, create_long, sizeof(create_long));
    assert_refused(c, decref, sizeof(decref)); /* this session holds none */
    assert_refused(c, incref, sizeof(incref));
    assert_refused(c, unknown, sizeof(unknown));
    assert_refused(c, segment0, sizeof(segment0));
    assert_refused(c, shlist_bad, sizeof(shlist_bad));

    /* Two requests in one write (framed by hand): the server reads both
     * at once, and drops a peer that did not wait for its answer. */
    {
        static const unsigned char two[] = { 0, 0, 0, 1, 99, 0, 0, 0, 1, 99 };

        cr_assert_eq(write(mproc_conn_fileno(c), two, sizeof(two)),
                     (ssize_t)sizeof(two));
    }
    {
        int rc;

        for (;;) {
            rc = mproc_conn_recv_bytes(c, &reply, 0, 10);
            mproc_buf_free(&reply);
            if (rc < 0)
                break;
        }
        cr_assert(rc == MPROC_EEOF || rc == -ECONNRESET, "%s",
                  mproc_errname(rc));
    }
    mproc_conn_free(c);

    /* The dict, and the server, are as they were. */
    mproc_obj_free(CALL(d, "__setitem__", "(s i)", "k", 1));
    assert_int(CALL(d, "__getitem__", "(s)", "k"), 1);
    assert_code(mproc_proxy_getvalue(d, &r), 0);
    assert_repr(r, "{'k': 1}");
    mproc_proxy_free(d);
    mproc_manager_free(m);
}

/* sort: Python's order (numbers across types, str, bytes, sequences),
 * stable, reverse; a list of things Python cannot order stays as it was. */
Test(manager, list_sort_orders_as_python_and_refuses_what_python_refuses)
{
    mproc_manager *m = manager_start();
    mproc_proxy *l = NULL;
    mproc_obj *init = TH_OBJ("[i d b i]", 3, 1.5, true, -2), *r = NULL;

    assert_code(mproc_manager_list(m, init, &l), 0);
    mproc_obj_free(init);
    mproc_obj_free(CALL(l, "sort", "()"));
    assert_code(mproc_proxy_getvalue(l, &r), 0);
    assert_repr(r, "[-2, True, 1.5, 3]");
    mproc_obj_free(CALL(l, "sort", "(b)", true));
    assert_code(mproc_proxy_getvalue(l, &r), 0);
    assert_repr(r, "[3, 1.5, True, -2]");

    /* Strings, tuples lexicographically; 1 and True are equal: stable. */
    mproc_obj_free(CALL(l, "clear", "()"));
    mproc_obj_free(CALL(l, "extend", "([s s s s])", "b", "ab", "a", "é"));
    mproc_obj_free(CALL(l, "sort", "()"));
    assert_code(mproc_proxy_getvalue(l, &r), 0);
    assert_repr(r, "['a', 'ab', 'b', 'é']");
    mproc_obj_free(CALL(l, "clear", "()"));
    mproc_obj_free(CALL(l, "extend", "([(i s) (i) (i s) (b) (i)])", 2, "x", 1,
                        2, "a", true, 1));
    mproc_obj_free(CALL(l, "sort", "()"));
    assert_code(mproc_proxy_getvalue(l, &r), 0);
    assert_repr(r, "[(1,), (True,), (1,), (2, 'a'), (2, 'x')]");

    /* An int beside a str: TypeError, the list unchanged. */
    mproc_obj_free(CALL(l, "append", "(s)", "z"));
    CALL_FAILS(l, "sort", MPROC_EINVAL, "()");
    assert_code(mproc_proxy_getvalue(l, &r), 0);
    assert_repr(r, "[(1,), (True,), (1,), (2, 'a'), (2, 'x'), 'z']");
    mproc_proxy_free(l);
    mproc_manager_free(m);
}
