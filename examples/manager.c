/*
 * examples/manager.c - a dict and a list a manager holds, changed by a
 * child; then a registered C type and a Namespace shared by four children.
 *
 * C twin of the Manager example of Python's multiprocessing docs
 * ("Sharing state between processes", "Server process"):
 *
 *     def f(d, l):
 *         d[1] = '1'
 *         d['2'] = 2
 *         d[0.25] = None
 *         l.reverse()
 *
 *     with Manager() as manager:
 *         d = manager.dict()
 *         l = manager.list(range(10))
 *         p = Process(target=f, args=(d, l))
 *         p.start()
 *         p.join()
 *         print(d)    # {1: '1', '2': 2, 0.25: None}
 *         print(l)    # [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 *
 * The children are forked (the default start method) and use the proxies
 * they inherit, each over a connection of its own. Then a type registered
 * with a C method table (Python's BaseManager.register('Counter', Counter))
 * counts for four children: the server runs one method of an object at a
 * time, so no increment is lost.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

#define CHILDREN 4

static mproc_proxy *d, *l, *counter, *ns;

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "manager: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

/* Python's print(proxy): the repr of the value the server holds. */
static void
print_value(mproc_proxy *p)
{
    mproc_obj *o;
    mproc_buf text = { 0 };

    check(mproc_proxy_getvalue(p, &o), "getvalue");
    check(mproc_obj_repr(o, &text), "repr");
    printf("%s\n", (const char *)text.data);
    mproc_buf_free(&text);
    mproc_obj_free(o);
}

/* Fork n children running fn (they inherit the proxies), join them, and
 * insist that each did well. */
static void
run_children(mproc_target fn, int n)
{
    mproc_process *p[CHILDREN];

    for (int i = 0; i < n; i++) {
        check(mproc_process_new(&p[i], fn, NULL, 0, NULL), "Process");
        check(mproc_process_start(p[i]), "start");
    }
    for (int i = 0; i < n; i++) {
        check(mproc_process_join(p[i], MPROC_FOREVER), "join");
        if (mproc_process_exitcode(p[i]) != 0)
            check(MPROC_ESTATE, "a child failed");
        mproc_process_free(p[i]);
    }
}

static int
f(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    check(mproc_proxy_callf(d, "__setitem__", NULL, "(i s)", 1, "1"), "d[1]");
    check(mproc_proxy_callf(d, "__setitem__", NULL, "(s i)", "2", 2), "d['2']");
    check(mproc_proxy_callf(d, "__setitem__", NULL, "(d n)", 0.25), "d[0.25]");
    check(mproc_proxy_call(l, "reverse", NULL, NULL, NULL), "l.reverse()");
    return 0;
}

/* ---- a registered type: Counter, an int64_t the server holds ---------- */

static int
counter_create(void **self, const mproc_obj *args)
{
    (void)args;
    *self = calloc(1, sizeof(int64_t));
    return *self != NULL ? 0 : MPROC_ENOMEM;
}

static int
counter_increment(void *self, const mproc_obj *args, mproc_obj **result)
{
    (void)args;
    (void)result; /* left NULL: the call returns None */
    ++*(int64_t *)self;
    return 0;
}

static int
counter_get(void *self, const mproc_obj *args, mproc_obj **result)
{
    (void)args;
    return mproc_obj_int(result, *(int64_t *)self);
}

static const mproc_manager_method counter_methods[] = {
    { .name = "increment", .call = counter_increment },
    { .name = "get", .call = counter_get },
    { 0 },
};

static const mproc_manager_type counter_type = {
    .type_id = "Counter",
    .create = counter_create,
    .destroy = free,
    .methods = counter_methods,
};

/* counter.increment(), ns.increments times. */
static int
count(const void *arg, size_t len)
{
    mproc_obj *n;
    int64_t times;

    (void)arg;
    (void)len;
    check(mproc_proxy_getattr(ns, "increments", &n), "ns.increments");
    check(mproc_obj_int_value(n, &times), "an int");
    mproc_obj_free(n);
    for (int64_t k = 0; k < times; k++)
        check(mproc_proxy_call(counter, "increment", NULL, NULL, NULL),
              "increment");
    return 0;
}

int
main(void)
{
    mproc_manager *manager;
    mproc_obj *range, *total;
    int64_t n;

    /* Registered before the server starts, so that it serves Counter. */
    check(mproc_manager_register(&counter_type), "register");
    check(mproc_manager_new(&manager, NULL), "Manager");

    check(mproc_manager_dict(manager, NULL, &d), "dict");
    check(mproc_obj_build(&range, "[i i i i i i i i i i]", 0, 1, 2, 3, 4, 5, 6,
                          7, 8, 9),
          "range(10)");
    check(mproc_manager_list(manager, range, &l), "list");
    mproc_obj_free(range);
    run_children(f, 1);
    print_value(d); /* {1: '1', '2': 2, 0.25: None} */
    print_value(l); /* [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] */

    check(mproc_manager_create(manager, "Counter", NULL, &counter), "Counter");
    check(mproc_manager_namespace(manager, &ns), "Namespace");
    check(
        mproc_proxy_callf(ns, "__setattr__", NULL, "(s i)", "increments", 1000),
        "ns.increments = 1000");
    run_children(count, CHILDREN);
    check(mproc_proxy_call(counter, "get", NULL, &total, NULL), "get");
    check(mproc_proxy_setattr(ns, "total", total), "ns.total = total");
    check(mproc_obj_int_value(total, &n), "an int");
    mproc_obj_free(total);
    print_value(ns); /* {'increments': 1000, 'total': 4000} */

    mproc_proxy_free(ns);
    mproc_proxy_free(counter);
    mproc_proxy_free(l);
    mproc_proxy_free(d);
    mproc_manager_free(manager); /* shuts the server down */
    return n == CHILDREN * 1000 ? 0 : 1;
}
