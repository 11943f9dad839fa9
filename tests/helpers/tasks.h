/*
 * tests/helpers/tasks.h - what the pool and future suites share: tasks
 * (C functions a worker runs), gates that hold a task until the test opens
 * them, and tallies that count callbacks.
 */
#ifndef TH_TASKS_H
#define TH_TASKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc.h>

int64_t i64_of(const void *p, size_t len);

/* Set *out to v's 8 bytes, as a task's result. */
int put_i64(mproc_buf *out, int64_t v);

/* The future's result, which must be 8 bytes and succeed in time. */
int64_t future_i64(mproc_future *f, double timeout);

/* What the callbacks report: counts under a lock, and a condition to wait
 * on them with a deadline. */
struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ok;       /* callbacks */
    int failed;   /* error callbacks */
    int calls;    /* both, and done callbacks */
    int wrong;    /* a callback that saw what it should not */
    int progress; /* the last progress callback's done */
    int progress_total;
    int progress_calls;
    int progress_backwards;
    bool on_caller; /* a callback ran on the test's thread */
    pthread_t caller;
};

void tally_init(struct tally *t);

void tally_destroy(struct tally *t);

/* Count one callback: ok or failed, right or wrong. */
void tally_note(struct tally *t, bool ok, bool right);

int tally_read(struct tally *t, const int *field);

/* Wait until *field (a field of t) reaches target; whether it did. */
bool tally_wait(struct tally *t, const int *field, int target, double timeout);

/* A gate: tasks set `started`, then wait on `go` up to a limit. Made
 * before the pool, so forked workers map its events. */
struct gate {
    mproc_event *go, *started;
};

struct gate_arg {
    mproc_token go, started;
    double limit;  /* seconds to wait on go */
    int64_t value; /* the result when go was set; -1 when it was not */
};

struct gate gate_new(void);

struct gate_arg gate_arg(const struct gate *g, double limit, int64_t value);

void gate_open(struct gate *g);

void gate_wait_started(struct gate *g);

void gate_free(struct gate *g);

/* In a worker: set started, wait on go; the result, -1 if go stayed
 * clear, -2 if the events could not be found. */
int64_t pass_gate(const void *arg, size_t len);

int task_gate(const void *arg, size_t len, mproc_buf *out);

/* in: a struct gate_arg; out: what the gate gave. */
int item_gate(const void *in, void *out);

/* 2v; fails with 7 and a message when v is negative. */
int task_double(const void *arg, size_t len, mproc_buf *out);

int task_exit(const void *arg, size_t len, mproc_buf *out);

/* The worker: pid in the high 32 bits, thread id in the low ones. */
int task_ident(const void *arg, size_t len, mproc_buf *out);

pid_t ident_pid(int64_t v);

/* The pid for processes, the thread id for threads. */
int32_t ident_of(int64_t v, bool threads);

int task_kill_self(const void *arg, size_t len, mproc_buf *out);

/* Checks that it got no argument; gives no result. */
int task_nothing(const void *arg, size_t len, mproc_buf *out);

/* The bytes reversed; nothing for nothing. */
int task_reverse(const void *arg, size_t len, mproc_buf *out);

/* v * v; fails with 7 and a message when v is negative. */
int item_square(const void *in, void *out);

/* v * v; fails with 9 and a message when v is negative. */
int obj_square(const mproc_obj *arg, mproc_obj **out);

/* 0 .. n-1, with item `bad` negated (so it fails). */
void iota(int64_t *a, size_t n, long bad);

#endif /* TH_TASKS_H */
