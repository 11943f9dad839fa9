/*
 * examples/workers.c - named workers that log through mproc's logger.
 *
 * C twin of the logging example of Python's multiprocessing docs
 * (multiprocessing.log_to_stderr(); logger.setLevel(logging.INFO)) with
 * named processes (Process(name=...)): each worker's lines carry its name
 * and pid, and come out whole even when both write at once:
 *
 *     [INFO/worker-1 4242] start
 *
 * The logger's level is set before the workers start; they inherit it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

#define N_WORKERS 2

static int
work(const void *arg, size_t len)
{
    mproc_logger *log = mproc_get_logger();

    (void)arg;
    (void)len;
    mproc_logger_log(log, MPROC_LOG_INFO, "start");
    for (int i = 0; i < 3; i++)
        mproc_logger_log(log, MPROC_LOG_INFO, "i=%d", i);
    mproc_logger_log(log, MPROC_LOG_INFO, "end");
    return 0;
}

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "workers: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

int
main(void)
{
    static const char *const names[N_WORKERS] = { "worker-1", "worker-2" };
    mproc_process *workers[N_WORKERS];

    mproc_log_to_stderr(MPROC_LOG_INFO);
    for (int i = 0; i < N_WORKERS; i++) {
        check(mproc_process_new(&workers[i], work, NULL, 0,
                                &(mproc_process_opts){ .name = names[i] }),
              "mproc_process_new");
        check(mproc_process_start(workers[i]), "mproc_process_start");
    }
    for (int i = 0; i < N_WORKERS; i++) {
        check(mproc_process_join(workers[i], MPROC_FOREVER),
              "mproc_process_join");
        printf("%s exited with code %d\n", mproc_process_name(workers[i]),
               mproc_process_exitcode(workers[i]));
        mproc_process_free(workers[i]);
    }
    return 0;
}
