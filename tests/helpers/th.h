/*
 * tests/helpers/th.h - what every test file shares: a clean-up check run
 * after each test (no child left running or unreaped, the descriptor count
 * back at its baseline), elapsed-time bounds, and helpers that make a child
 * slow or report through a pipe.
 */
#ifndef TH_H
#define TH_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <mproc.h>

/* Suite .init/.fini: take the baseline; prove nothing is left. */
void th_begin(void);
void th_end(void);

/* The object mproc_obj_build makes of its arguments, which must work;
 * owned by the caller. */
#define TH_OBJ(...)                                                            \
    ({                                                                         \
        mproc_obj *th_obj_ = NULL;                                             \
        cr_assert_eq(mproc_obj_build(&th_obj_, __VA_ARGS__), 0, "%s",          \
                     #__VA_ARGS__);                                            \
        th_obj_;                                                               \
    })

/* Suite .init for suites that create named segments from the test
 * process: the shared-memory watcher (and the descriptor this process
 * keeps to it) is started first, then th_begin takes the baseline. */
void th_begin_shm(void);

/* Seconds on the monotonic clock. */
double th_now(void);
/* Elapsed since t0 is at least lo and at most lo + slack seconds. */
#define th_assert_elapsed(t0, lo, slack)                                       \
    do {                                                                       \
        double th_e_ = th_now() - (t0);                                        \
        cr_assert_geq(th_e_, (lo)-0.001, "elapsed %.3f < %.3f", th_e_,         \
                      (double)(lo));                                           \
        cr_assert_leq(th_e_, (lo) + (slack), "elapsed %.3f > %.3f", th_e_,     \
                      (double)((lo) + (slack)));                               \
    } while (0)

/* Open descriptors of this process. */
int th_fd_count(void);
/* Children of this process that are alive or unreaped, not counting the
 * forkserver. */
int th_child_count(void);

/* The pid of this process's forkserver, or 0. */
pid_t th_forkserver_pid(void);

/* Block in a child until killed or the parent goes: waits on a pipe that
 * never gets data (no sleeping for luck). */
void th_slow_block_forever(void);

/* A storm of SIGUSR1 at the calling thread (a handler without
 * SA_RESTART, every 5 ms, from a helper thread) until stopped: blocking
 * calls meanwhile must resume with the time they have left. */
struct th_storm {
    pthread_t target;
    pthread_t thread;
    int stop[2];
};
void th_storm_start(struct th_storm *s);
void th_storm_stop(struct th_storm *s);

/* A target that returns 0 at once. */
int th_return_zero(const void *arg, size_t len);

/* Start a process (must succeed) and return it. */
mproc_process *th_start(mproc_target target, const void *arg, size_t len,
                        const mproc_process_opts *opts);
/* Start a daemon process (must succeed): a test that fails leaves no child
 * waiting behind it. */
mproc_process *th_start_daemon(mproc_target target, const void *arg, size_t len,
                               enum mproc_start_method m);
/* Join within timeout seconds (must succeed), free, return the exit code. */
int th_join(mproc_process *p, double timeout);
/* Start, join forever, return the exit code, free. */
int th_run(mproc_target target, const void *arg, size_t len,
           const mproc_process_opts *opts);

#endif /* TH_H */
