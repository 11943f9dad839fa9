/*
 * pool/pool.h - the task engine behind Pool (and the Executor).
 *
 *   engine.c      slots, submitting chunks, collecting results, waiting
 *   worker.c      a worker's loop: take a task, run it, put its result
 *   supervisor.c  the pool's two threads: the supervisor (workers' deaths,
 *                 task time limits, replacements) and the result thread
 *                 (callbacks)
 *   pool.c        the public verbs (mproc_pool_*, mproc_imap_*)
 *   ../future.c   the public future verbs (mproc_future_*)
 *
 * A task (a chunk of one or more items) travels as one message of the task
 * queue; a worker takes it with a claimed get (queue.h): under the queue's
 * lock it writes the slot in its worker record, then turns the slot's state
 * word from PENDING to RUNNING with its worker number, in one CAS. So a
 * worker that dies is known to have held exactly the slot whose state names
 * it, and a message whose claim fails (cancelled, or its slot reused) is
 * dropped. Results come back as messages of the result queue; whoever
 * waits for one (a thread in get or next, or the result thread) collects
 * every result there is, under the pool's mutex.
 *
 * Wake-ups: every job has a notify word (a futex in shared memory): the
 * worker bumps it after putting a result and wakes it only when a waiter
 * marked it, so a task round trip costs two wake-ups, as a ping-pong does.
 * The result thread sleeps on the engine word, which workers bump only
 * for tasks marked ASYNC (callbacks wanted) or when the result queue fills
 * up, so callbacks run without anyone waiting and the result queue never
 * blocks the workers.
 */
#ifndef MPROC_POOL_PRIVATE_H
#define MPROC_POOL_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/future.h"
#include "mproc/pool.h"
#include "mproc/process.h"
#include "mproc/queue.h"
#include "sys/sys.h"

#define MPROC__POOL_MAX_WORKERS 4096
#define MPROC__POOL_SLOTS ((uint32_t)1 << 20)

/* A slot's state word: gen (16) | worker (12) | ASYNC (1) | state (3). */
enum {
    SLOT_FREE = 0,
    SLOT_PENDING,
    SLOT_RUNNING,
    SLOT_DONE,
    SLOT_CANCELLED
};
#define SLOT_STATE(w) ((w)&7u)
#define SLOT_ASYNC 8u
#define SLOT_WORKER(w) (((w) >> 4) & 0xfffu)
#define SLOT_GEN(w) ((w) >> 16)
#define SLOT_WORD(gen, worker, state)                                          \
    (((uint32_t)(gen) << 16) | ((uint32_t)(worker) << 4) | (uint32_t)(state))

struct mproc__pool_slot {
    uint32_t state;  /* the word above */
    uint32_t notify; /* a job's futex: count << 1 | someone may sleep */
};

/* Written by its worker, read by the supervisor. */
struct mproc__pool_worker {
    uint32_t slot; /* the slot claimed + 1; 0: none */
    uint32_t gen;
    int64_t started_ns;
};

/* The shared part: an arena block every worker maps. */
struct mproc__pool_shared {
    uint32_t engine;  /* the result thread's futex, as a notify word */
    uint32_t backlog; /* tasks wait in the parent: wake the engine */
    uint32_t nworkers;
    struct mproc__pool_worker workers[MPROC__POOL_MAX_WORKERS];
    struct mproc__pool_slot slots[MPROC__POOL_SLOTS];
};

/* What a chunk's items are. */
enum {
    CHUNK_ITEMS = 1, /* typed: count x in_size bytes in, count x out_size out */
    CHUNK_BUFS,      /* byte strings: (u64 length, bytes, pad to 8) each */
    CHUNK_OBJS,      /* the same, each a pickle */
    CHUNK_EXIT       /* not a task: the worker that takes it leaves */
};

/* A task message: this header, the function's location (loc_len bytes,
 * padded to 16; spawn and forkserver only), then the items. */
struct mproc__task_msg {
    uint32_t slot, gen;
    uint32_t notify; /* the slot whose notify word to bump */
    uint32_t kind;
    uint64_t fn; /* the function's address, when loc_len is 0 */
    uint32_t count, in_size, out_size, loc_len;
    /* ITEMS in the pool's area (AREA_NONE: in the message, results in the
     * result message): the chunk's inputs and outputs, as offsets. */
    uint64_t in_off, out_off;
    uint64_t pad;
};
_Static_assert(sizeof(struct mproc__task_msg) % 16 == 0,
               "the items after the header stay 16-byte aligned");
#define AREA_NONE UINT64_MAX

/* A result message: this header, the failure message (msg_len bytes,
 * padded to 16), then the results (ITEMS: count x out_size bytes; BUFS and
 * OBJS: as their input). */
struct mproc__result_msg {
    uint32_t slot, gen;
    int32_t status;    /* 0, MPROC_ETASK (task_code says more), or a code */
    int32_t task_code; /* the task's own return code */
    uint32_t item;     /* the item of the chunk that failed */
    uint32_t msg_len;
    uint64_t len; /* bytes of results */
};

#define MPROC__ALIGN16(n) (((n) + 15) & ~(size_t)15)

/* ---- parent side ---------------------------------------------------- */

/* A free extent of the pool's area. */
struct extent {
    uint64_t off, len;
};

enum job_kind {
    JOB_APPLY = 1, /* one BUFS or OBJS item; the result kept as bytes */
    JOB_MAP,       /* ITEMS into the caller's array */
    JOB_MAP_BUFS,  /* BUFS or OBJS items into an array of buffers */
    JOB_IMAP       /* ITEMS, results handed out by mproc_imap_next */
};

/* A finished imap chunk waiting to be handed out. */
struct imap_chunk {
    struct imap_chunk *next;
    size_t chunk, first, count, taken;
    int status, task_code, signal;
    uint32_t item;
    char *message;
    char *out;  /* count x out_size; bufs: the result records */
    size_t len; /* bytes at out */
    size_t at;  /* bufs: the next record */
};

struct callback {
    mproc_future_cb fn;
    void *ctx;
};

/* Someone waiting for many futures (mproc_wait_futures,
 * mproc_as_completed): a job that becomes done appends its index to order
 * and bumps word. */
struct mproc__waiter {
    pthread_mutex_t mu;
    uint32_t word; /* a futex: bumped by every completion */
    size_t *order; /* indices, in completion order */
    size_t nready;
};

struct waiter_link {
    struct waiter_link *next;
    struct mproc__waiter *w;
    size_t index;
};

/* A job: what the user's future (or iterator) is. Counted references: the
 * caller's handle, each chunk in flight, each event queued for the result
 * thread. Fields are guarded by the pool's mutex. */
struct mproc_future {
    mproc_pool *pool;
    int refs;
    enum job_kind kind;
    uint32_t notify; /* its slot of notify words */
    bool objs;       /* OBJS items (the result bytes are pickles) */

    size_t nchunks, chunks_done, items_total, items_done;
    bool complete; /* every chunk finished (or cancelled) */
    bool done;     /* complete, and callbacks run: visible to waiters */
    bool in_events;
    bool cancelled;
    int status, task_code, signal;
    char *message;
    mproc_buf result; /* JOB_APPLY */

    char *out; /* JOB_MAP: the caller's array */
    size_t out_size;
    uint64_t area_off, area_len; /* JOB_MAP: its extent of the area */
    uint64_t area_out;           /* its outputs there (AREA_NONE: none) */
    mproc_buf *bufs_out;         /* JOB_MAP_BUFS */

    uint32_t *chunk_slots; /* per chunk: its slot; gens beside */
    uint32_t *chunk_gens;

    struct waiter_link *waiters; /* told when done */
    int efd;                     /* mproc_future_fd(), or -1 */
    struct callback *callbacks;
    size_t ncallbacks, callbacks_cap;
    mproc_future_cb on_success, on_failure;
    void *async_ctx;
    mproc_progress_fn progress;
    void *progress_ctx;

    struct mproc_imap *imap; /* JOB_IMAP */
};

struct mproc_imap {
    mproc_future *job;
    uint32_t lock; /* one caller of next at a time (pool.c) */
    bool ordered;
    bool bufs;         /* a map over buffers: next_buf */
    bool has_deadline; /* executor.map: a timeout for it all */
    struct mproc__deadline deadline;
    mproc_item_fn fn;
    size_t in_size, out_size, chunksize, window;
    char *in; /* the copied array, or NULL with produce */
    size_t n; /* items of the array */
    mproc_produce_fn produce;
    void *produce_ctx;
    char *item; /* produce's room: chunksize x in_size */
    bool input_done;
    int input_error;  /* produce's failure, given after the rest */
    size_t submitted; /* chunks */
    size_t handed;    /* chunks handed out whole */
    size_t items_in;  /* items submitted */
    struct imap_chunk *ready_head, **ready_tail; /* unordered: done order */
    struct imap_chunk **by_chunk;                /* ordered: window ring */
    struct imap_chunk *current;
    int last_code;
    char *last_message;
};

/* A chunk in flight, by slot: private to the parent. */
struct mproc__pool_task {
    mproc_future *job;
    uint32_t gen;
    bool live;
    size_t chunk, first, count;
};

enum pool_state {
    POOL_RUNNING,
    POOL_CLOSED,
    POOL_TERMINATED
};

/* A task the task queue could not take yet (engine.c). */
struct backlog_entry {
    struct backlog_entry *next;
    uint32_t slot;
    size_t len;
    char msg[];
};

/* An event for the result thread. */
struct event {
    struct event *next;
    mproc_future *job;
    bool progress; /* else: the job is complete: run its callbacks */
    size_t done, total;
};

/* A worker as the parent sees it. */
struct worker {
    mproc_process *proc; /* processes */
    pthread_t thread;    /* threads */
    bool live;
    bool timed_out; /* killed for task_timeout */
    bool exited;    /* threads: the thread has returned */
};

/* Function locations already encoded (spawn, forkserver). */
struct fn_loc {
    uint64_t fn;
    mproc_buf loc;
};

struct mproc_pool {
    pthread_mutex_t mu;
    pthread_cond_t gone; /* a worker was reaped, or a thread ended */
    int refs;            /* the caller's, and one per job */
    enum pool_state state;
    bool joined;
    bool threads;
    bool locate; /* send functions by location (spawn, forkserver) */
    bool spin;   /* waiters spin before sleeping: more than one CPU */
    enum mproc_start_method start_method;
    int nworkers, maxtasks;
    double task_timeout;
    mproc_pool_init_fn initializer;
    mproc_buf initargs;

    struct mproc__pool_shared *sh;
    mproc_queue *tasks, *results;
    char *area; /* typed maps' inputs and outputs, shared; sparse */
    uint64_t area_size;
    struct extent *free_extents; /* sorted by offset */
    size_t nextents, extents_cap;
    struct backlog_entry *backlog, **backlog_tail;
    struct mproc__pool_task *tab; /* by slot */
    uint32_t *free_slots;
    size_t nfree;
    uint32_t slots_used; /* high-water mark */
    size_t live_chunks;

    char *rbuf; /* the collector's buffer */
    size_t rcap;

    struct worker *workers;
    int alive; /* workers not yet reaped */
    int worker_seq;

    struct event *events, **events_tail;
    pthread_t result_thread, supervisor;
    bool result_started, supervisor_started;
    bool stopping;   /* threads: end once nothing is left */
    int cmd_fd;      /* eventfd: wakes the supervisor */
    void *poll_room; /* the supervisor's pollfds and their workers */

    struct fn_loc locs[16];
    size_t nlocs;
};

/* engine.c */
int mproc__pool_slot_alloc(mproc_pool *p, uint32_t *slot);
void mproc__pool_slot_release(mproc_pool *p, uint32_t slot);
int mproc__pool_job_new(mproc_pool *p, enum job_kind kind, size_t nchunks,
                        mproc_future **out);
void mproc__pool_job_unref(mproc_future *j); /* mu held */
bool mproc__pool_unref(mproc_pool *p);       /* mu held */
void mproc__pool_job_unref_unlocked(mproc_future *j);
int mproc__pool_submit(mproc_pool *p, mproc_future *j, size_t chunk,
                       size_t first, uint32_t kind, uint64_t fn,
                       const struct iovec *iov, int niov, uint32_t count,
                       uint32_t in_size, uint32_t out_size);
void mproc__pool_collect(mproc_pool *p); /* mu held */
void mproc__pool_feed(mproc_pool *p);    /* mu held */
void mproc__pool_chunk_failed(mproc_pool *p, uint32_t slot, int status,
                              int signal, const char *message);
int mproc__pool_wait(mproc_pool *p, mproc_future *j,
                     bool (*ready)(mproc_future *j, void *arg), void *arg,
                     const struct mproc__deadline *dl);
void mproc__pool_notify(uint32_t *word);
/* How long an idle worker or a waiter spins before it sleeps, when it may
 * run on more than one CPU (on one, spinning only delays the other side). */
#define MPROC__POOL_SPIN_NS 50000
void mproc__pool_cancel_pending(mproc_pool *p, mproc_future *j);
void mproc__pool_cancel_all(mproc_pool *p, const char *why);
void mproc__pool_set_done(mproc_pool *p, mproc_future *j);
int mproc__pool_watch(mproc_future *j, struct mproc__waiter *w, size_t index);
void mproc__pool_unwatch(mproc_future *j, struct mproc__waiter *w);
bool mproc__pool_job_running(mproc_pool *p, mproc_future *j);
void mproc__pool_mark_async(mproc_pool *p, mproc_future *j);
bool mproc__pool_job_done(mproc_future *j, void *arg);
int mproc__pool_area_alloc(mproc_pool *p, uint64_t len, uint64_t *off);
void mproc__pool_area_free(mproc_pool *p, uint64_t off, uint64_t len);

/* worker.c */
struct mproc__worker_ctx {
    struct mproc__pool_shared *sh;
    mproc_queue *tasks, *results;
    char *area;
    uint64_t area_size;
    uint32_t wid;
    int maxtasks;
    bool spin; /* spin before sleeping when idle: more than one CPU */
};
int mproc__pool_worker_loop(struct mproc__worker_ctx *w);
int mproc__pool_worker_main(const void *arg, size_t len);
int mproc__pool_worker_args(const mproc_pool *p, int wid, mproc_buf *out);
int mproc__pool_fn_resolve(const void *loc, size_t len, uint64_t *fn);
int mproc__pool_fn_locate(uint64_t fn, mproc_buf *out);

/* pool.c: the executor's maps */
int mproc__imap_items(mproc_pool *p, mproc_item_fn fn, const void *in, size_t n,
                      size_t in_size, size_t out_size, long chunksize,
                      const struct mproc__deadline *dl, mproc_imap **out);
int mproc__imap_bufs(mproc_pool *p, mproc_task_fn fn, const mproc_buf *in,
                     size_t n, long chunksize, const struct mproc__deadline *dl,
                     mproc_imap **out);

/* supervisor.c */
int mproc__pool_start_threads(mproc_pool *p);
int mproc__pool_start_worker(mproc_pool *p, int wid);
void mproc__pool_poke_supervisor(mproc_pool *p);
void mproc__pool_stop_threads(mproc_pool *p);
void mproc__pool_queue_event(mproc_pool *p, mproc_future *j, bool progress);

#endif /* MPROC_POOL_PRIVATE_H */
