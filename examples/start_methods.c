/*
 * examples/start_methods.c - the same target under every start method.
 *
 * C twin of the "Contexts and start methods" section of Python's
 * multiprocessing docs:
 *
 *     mp.set_start_method('spawn')          # once, in the main program
 *     ctx = mp.get_context('forkserver')    # or a method for one process
 *     p = ctx.Process(target=foo, args=(q,))
 *
 * In mproc a context is the start method in the process's options
 * (`.start_method`); MPROC_START_DEFAULT means the process-wide choice of
 * mproc_set_start_method(), which, as in Python, may be made only once
 * unless forced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

static int
foo(const void *method, size_t len)
{
    printf("  child %ld: hello, started by %.*s\n", (long)getpid(), (int)len,
           (const char *)method);
    return 0;
}

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "start_methods: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

/* Start foo under `method`, join it, and say how it went. */
static void
run(enum mproc_start_method method)
{
    char name[64];
    mproc_process *p;

    if (method == MPROC_START_DEFAULT)
        snprintf(name, sizeof(name), "default (%s)",
                 mproc_start_method_name(mproc_get_start_method()));
    else
        snprintf(name, sizeof(name), "%s", mproc_start_method_name(method));
    check(mproc_process_new(&p, foo, name, strlen(name),
                            &(mproc_process_opts){ .start_method = method }),
          "mproc_process_new");
    check(mproc_process_start(p), "mproc_process_start");
    check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
    printf("%s: child pid %ld, exitcode %d\n", name, (long)mproc_process_pid(p),
           mproc_process_exitcode(p));
    mproc_process_free(p);
}

int
main(void)
{
    enum mproc_start_method methods[MPROC_START_METHOD_COUNT];
    size_t n = mproc_get_all_start_methods(methods);
    int rc;

    /* mp.set_start_method('spawn'): the choice for processes that name no
     * method; a second, unforced choice is refused, as in Python. */
    check(mproc_set_start_method(MPROC_START_SPAWN, false),
          "mproc_set_start_method");
    rc = mproc_set_start_method(MPROC_START_FORK, false);
    printf("default start method: %s (choosing again without force: %s)\n",
           mproc_start_method_name(mproc_get_start_method()),
           mproc_errname(rc));

    /* mp.get_context(method).Process(...): one method per process. */
    for (size_t i = 0; i < n; i++)
        run(methods[i]);
    run(MPROC_START_DEFAULT);
    return 0;
}
