/*
 * examples/shared_state.c - a Value and an Array shared with a child.
 *
 * C twin of the "Sharing state between processes: shared memory" example
 * of Python's multiprocessing docs:
 *
 *     def f(n, a):
 *         n.value = 3.1415927
 *         for i in range(len(a)):
 *             a[i] = -a[i]
 *
 *     num = Value('d', 0.0)
 *     arr = Array('i', range(10))
 *     p = Process(target=f, args=(num, arr))
 *     p.start()
 *     p.join()
 *     print(num.value)     # 3.1415927
 *     print(arr[:])        # [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
 *
 * The child is started with spawn, so it gets the objects as tokens in its
 * argument bytes (a forked child would simply inherit the handles). Beyond
 * Python, both processes then add to the Value's integer twin atomically.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

static void
check(int rc, const char *what)
{
    if (rc != 0 && rc != MPROC_EOWNERDEAD) {
        fprintf(stderr, "shared_state: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

/* The tokens the child receives. */
struct args {
    mproc_token num, arr, hits;
};

static int
f(const void *arg, size_t len)
{
    struct args a;
    mproc_value *num, *hits;
    mproc_array *arr;
    double pi = 3.1415927;

    if (len != sizeof(a))
        return 1;
    memcpy(&a, arg, sizeof(a));
    check(mproc_value_from_token(&num, &a.num), "value from token");
    check(mproc_array_from_token(&arr, &a.arr), "array from token");
    check(mproc_value_from_token(&hits, &a.hits), "value from token");
    check(mproc_value_set(num, &pi), "n.value = 3.1415927");
    /* a[i] = -a[i], under the Array's lock, through the plain C array */
    check(mproc_array_acquire(arr, MPROC_FOREVER), "acquire");
    for (size_t i = 0; i < mproc_array_len(arr); i++)
        ((int *)mproc_array_get_obj(arr))[i] *= -1;
    check(mproc_array_release(arr), "release");
    check(mproc_value_add(hits, 1, NULL), "add");
    mproc_value_free(num);
    mproc_array_free(arr);
    mproc_value_free(hits);
    return 0;
}

int
main(void)
{
    int init[10], out[10];
    double value;
    int64_t hits;
    struct args a;
    mproc_value *num, *counter;
    mproc_array *arr;
    mproc_process *p;

    for (int i = 0; i < 10; i++)
        init[i] = i;
    check(mproc_value_new(&num, MPROC_CTYPE_DOUBLE, NULL), "Value('d')");
    check(mproc_array_new(&arr, MPROC_CTYPE_INT, 10,
                          &(mproc_value_opts){ .init = init }),
          "Array('i', range(10))");
    check(mproc_value_new(&counter, MPROC_CTYPE_INT64,
                          &(mproc_value_opts){ .raw = true }),
          "RawValue");
    check(mproc_value_token(num, &a.num), "token");
    check(mproc_array_token(arr, &a.arr), "token");
    check(mproc_value_token(counter, &a.hits), "token");
    check(mproc_process_new(
              &p, f, &a, sizeof(a),
              &(mproc_process_opts){ .start_method = MPROC_START_SPAWN }),
          "Process");
    check(mproc_process_start(p), "start");
    check(mproc_value_add(counter, 1, NULL), "add");
    check(mproc_process_join(p, MPROC_FOREVER), "join");
    if (mproc_process_exitcode(p) != 0) {
        fprintf(stderr, "shared_state: the child failed\n");
        return 1;
    }
    check(mproc_value_get(num, &value), "num.value");
    check(mproc_array_get(arr, 0, 10, out), "arr[:]");
    hits = *(int64_t *)mproc_value_get_obj(counter);
    printf("%.7f\n[", value);
    for (int i = 0; i < 10; i++)
        printf("%s%d", i ? ", " : "", out[i]);
    printf("]\nboth processes counted: %lld\n", (long long)hits);
    mproc_process_free(p);
    mproc_value_free(num);
    mproc_array_free(arr);
    mproc_value_free(counter);
    return 0;
}
