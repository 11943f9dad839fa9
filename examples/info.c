/*
 * examples/info.c - who is who: the ids of the main program and a child.
 *
 * C twin of the info() example of Python's multiprocessing docs:
 *
 *     def info(title):
 *         print(title)
 *         print('module name:', __name__)
 *         print('parent process:', os.getppid())
 *         print('process id:', os.getpid())
 *
 *     def f(name):
 *         info('function f')
 *         print('hello', name)
 *
 *     info('main line')
 *     p = Process(target=f, args=('bob',))
 *     p.start()
 *     p.join()
 *
 * A module's __name__ is not a C concept: the nearest things are the
 * program's name and the process's mproc name ("MainProcess", then
 * "Process-1" in the child), from mproc_current_process().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mproc.h>

static void
info(const char *title)
{
    printf("%s\n", title);
    printf("program: %s\n", program_invocation_short_name);
    printf("process name: %s\n", mproc_process_name(mproc_current_process()));
    printf("parent process: %ld\n", (long)getppid());
    printf("process id: %ld\n", (long)getpid());
}

static int
f(const void *name, size_t len)
{
    info("function f");
    printf("hello %.*s\n", (int)len, (const char *)name);
    return 0;
}

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "info: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

int
main(void)
{
    mproc_process *p;

    info("main line");
    check(mproc_process_new(&p, f, "bob", 3, NULL), "mproc_process_new");
    check(mproc_process_start(p), "mproc_process_start");
    check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
    mproc_process_free(p);
    return 0;
}
