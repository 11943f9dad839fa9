/*
 * tests/tsan/process.c - processes started, watched and reaped from many
 * threads at once, for ThreadSanitizer (which cannot run under Criterion:
 * a plain program printing "N passed, N failed").
 *
 * Four threads start and join children under every start method while a
 * fifth lists active children, reads names and logs, so the registry, the
 * handles, the logger and the forkserver client are all used concurrently.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <mproc.h>

#define THREADS 4
#define ROUNDS 30

static atomic_int failed;
static atomic_bool stop;

static void
check(int ok, const char *what)
{
    if (!ok) {
        atomic_fetch_add(&failed, 1);
        fprintf(stderr, "FAIL: %s\n", what);
    }
}

static int
echo(const void *arg, size_t len)
{
    int n;

    memcpy(&n, arg, sizeof(n));
    return len == sizeof(n) ? n : 100;
}

static void *
starter(void *arg)
{
    enum mproc_start_method m = (enum mproc_start_method)(long)arg;

    for (int i = 0; i < ROUNDS; i++) {
        mproc_process *p = NULL;
        int n = i;

        check(mproc_process_new(&p, echo, &n, sizeof(n),
                                &(mproc_process_opts){ .start_method = m }) ==
                  0,
              "new");
        check(mproc_process_start(p) == 0, "start");
        (void)mproc_process_is_alive(p);
        check(mproc_process_join(p, MPROC_FOREVER) == 0, "join");
        check(mproc_process_exitcode(p) == n, "exit code");
        mproc_process_free(p);
    }
    return NULL;
}

static void *
watcher(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        mproc_process **kids = NULL;
        size_t n = 0;

        /* The handles are borrowed: their owners free them at any time,
         * so only the listing itself is exercised here. */
        check(mproc_active_children(&kids, &n) == 0, "active_children");
        mproc_free(kids);
        check(mproc_process_name(mproc_current_process())[0] != '\0',
              "current name");
        mproc_logger_log(mproc_get_logger(), MPROC_LOG_DEBUG, "watching");
    }
    return NULL;
}

int
main(void)
{
    static const enum mproc_start_method methods[] = { MPROC_START_FORK,
                                                       MPROC_START_SPAWN,
                                                       MPROC_START_FORKSERVER,
                                                       MPROC_START_FORK };
    pthread_t t[THREADS], w;

    mproc_logger_set_level(mproc_get_logger(), MPROC_LOG_CRITICAL);
    pthread_create(&w, NULL, watcher, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, starter, (void *)(long)methods[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, true);
    pthread_join(w, NULL);
    printf("%d passed, %d failed\n", failed == 0 ? 1 : 0, failed);
    return failed == 0 ? 0 : 1;
}
