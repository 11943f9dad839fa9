/*
 * examples/hello.c - start a process with an argument and join it.
 *
 * C twin of the first Process example of Python's multiprocessing docs:
 *
 *     def f(name):
 *         print('hello', name)
 *
 *     p = Process(target=f, args=('bob',))
 *     p.start()
 *     p.join()
 *
 * The argument travels as bytes: the child gets its own copy of "bob".
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static int
f(const void *name, size_t len)
{
    printf("hello %.*s\n", (int)len, (const char *)name);
    return 0;
}

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "hello: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

int
main(void)
{
    mproc_process *p;

    check(mproc_process_new(&p, f, "bob", 3, NULL), "mproc_process_new");
    check(mproc_process_start(p), "mproc_process_start");
    check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
    mproc_process_free(p);
    return 0;
}
