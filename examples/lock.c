/*
 * examples/lock.c - processes taking turns with a Lock, and a holder that
 * dies with it.
 *
 * C twin of the "Synchronization between processes" example of Python's
 * multiprocessing docs:
 *
 *     def f(l, i):
 *         l.acquire()
 *         try:
 *             print('hello world', i)
 *         finally:
 *             l.release()
 *
 *     lock = Lock()
 *     for num in range(10):
 *         Process(target=f, args=(lock, num)).start()
 *
 * Forked children inherit the lock's handle. Beyond Python, a process that
 * dies holding the lock does not deadlock the others: the next acquirer
 * gets MPROC_EOWNERDEAD, with the lock acquired, and repairs what it
 * guards.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static mproc_lock *lock;

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "lock: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

static int
f(const void *arg, size_t len)
{
    (void)len;
    check(mproc_lock_acquire(lock, MPROC_FOREVER), "acquire");
    printf("hello world %d\n", *(const int *)arg);
    fflush(stdout);
    check(mproc_lock_release(lock), "release");
    return 0;
}

/* Take the lock and die with it. */
static int
die_holding(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    check(mproc_lock_acquire(lock, MPROC_FOREVER), "acquire");
    raise(SIGKILL);
    return 0;
}

int
main(void)
{
    mproc_process *p[10];
    int rc;

    check(mproc_lock_new(&lock), "Lock");
    for (int num = 0; num < 10; num++) {
        check(mproc_process_new(&p[num], f, &num, sizeof(num), NULL),
              "Process");
        check(mproc_process_start(p[num]), "start");
    }
    for (int num = 0; num < 10; num++) {
        check(mproc_process_join(p[num], MPROC_FOREVER), "join");
        mproc_process_free(p[num]);
    }

    check(mproc_process_new(&p[0], die_holding, NULL, 0, NULL), "Process");
    check(mproc_process_start(p[0]), "start");
    check(mproc_process_join(p[0], MPROC_FOREVER), "join");
    printf("a child died holding the lock (exit code %d)\n",
           mproc_process_exitcode(p[0]));
    mproc_process_free(p[0]);
    rc = mproc_lock_acquire(lock, 5.0);
    printf("the next acquire: %s\n", mproc_errname(rc));
    if (rc != MPROC_EOWNERDEAD)
        return 1;
    /* ... repair what the lock guards, then: */
    check(mproc_lock_release(lock), "release");
    mproc_lock_free(lock);
    return 0;
}
