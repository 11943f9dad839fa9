/*
 * pool/supervisor.c - the pool's workers and its two threads
 * (pool/pool.h).
 *
 * The supervisor polls the workers' sentinels and an eventfd: it reaps a
 * worker that ended, fails the task it held (its slot's state names it),
 * starts a replacement while there is work, and kills a worker whose task
 * ran past the pool's task_timeout. The result thread sleeps on the engine
 * word and runs callbacks and progress calls, in completion order.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool/pool.h"

/* ---- starting workers ------------------------------------------------------
 */

struct thread_arg {
    mproc_pool *p;
    int wid;
};

static void *
worker_thread(void *arg)
{
    struct thread_arg a = *(struct thread_arg *)arg;
    mproc_pool *p = a.p;
    struct mproc__worker_ctx w = { .sh = p->sh,
                                   .tasks = p->tasks,
                                   .results = p->results,
                                   .area = p->area,
                                   .area_size = p->area_size,
                                   .wid = (uint32_t)a.wid,
                                   .maxtasks = p->maxtasks,
                                   .spin = p->spin };

    free(arg);
    if (p->initializer != NULL)
        p->initializer(p->initargs.data, p->initargs.len);
    (void)mproc__pool_worker_loop(&w);
    pthread_mutex_lock(&p->mu);
    p->workers[a.wid].exited = true;
    pthread_mutex_unlock(&p->mu);
    mproc__pool_poke_supervisor(p);
    return NULL;
}

/* A thread that takes no signal meant for the process. */
static int
start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t old;
    int rc;

    mproc__sig_block_all(&old);
    rc = pthread_create(t, NULL, fn, arg);
    mproc__sig_restore(&old);
    return -rc;
}

/* Start worker wid (mu held, or the pool not yet shared). */
int
mproc__pool_start_worker(mproc_pool *p, int wid)
{
    struct worker *w = &p->workers[wid];
    int rc;

    memset(&p->sh->workers[wid], 0, sizeof(p->sh->workers[wid]));
    w->timed_out = false;
    w->exited = false;
    if (p->threads) {
        struct thread_arg *a = malloc(sizeof(*a));

        if (a == NULL)
            return MPROC_ENOMEM;
        *a = (struct thread_arg){ p, wid };
        rc = start_thread(&w->thread, worker_thread, a);
        if (rc < 0) {
            free(a);
            return rc;
        }
    } else {
        mproc_buf args;
        char name[32];

        rc = mproc__pool_worker_args(p, wid, &args);
        if (rc < 0)
            return rc;
        (void)snprintf(name, sizeof(name), "PoolWorker-%d", ++p->worker_seq);
        rc = mproc_process_new(
            &w->proc, mproc__pool_worker_main, args.data, args.len,
            &(mproc_process_opts){ .name = name,
                                   .daemon = true,
                                   .start_method = p->start_method });
        mproc_buf_free(&args);
        if (rc == 0)
            rc = mproc_process_start(w->proc);
        if (rc < 0) {
            mproc_process_free(w->proc);
            w->proc = NULL;
            return rc;
        }
    }
    w->live = true;
    p->alive++;
    return 0;
}

void
mproc__pool_poke_supervisor(mproc_pool *p)
{
    uint64_t one = 1;

    if (write(p->cmd_fd, &one, sizeof(one)) < 0) {
        /* the counter is full: the supervisor is awake anyway */
    }
}

/* ---- reaping ---------------------------------------------------------------
 */

/* Worker wid ended (mu held): fail the task it held, replace it while
 * there is work. */
static void
reap(mproc_pool *p, int wid)
{
    struct worker *w = &p->workers[wid];
    struct mproc__pool_worker *rec = &p->sh->workers[wid];
    int code = 0, signal = 0;
    uint32_t slot;
    char text[200];
    pid_t pid = 0;

    if (p->threads) {
        pthread_join(w->thread, NULL);
    } else {
        (void)mproc_process_join(w->proc, 0);
        code = mproc_process_exitcode(w->proc);
        pid = mproc_process_pid(w->proc);
        signal = code < 0 && code != MPROC_EXITCODE_NONE ? -code : 0;
    }
    /* Its results are all in the queue by now: take them first, so a task
     * it finished is not failed. */
    mproc__pool_collect(p);
    slot = __atomic_load_n(&rec->slot, __ATOMIC_ACQUIRE);
    if (slot != 0) {
        uint32_t s = slot - 1;
        uint32_t st = __atomic_load_n(&p->sh->slots[s].state, __ATOMIC_ACQUIRE);

        if (s < p->slots_used && p->tab[s].live && p->tab[s].gen == rec->gen &&
            SLOT_WORKER(st) == (uint32_t)wid &&
            (SLOT_STATE(st) == SLOT_RUNNING || SLOT_STATE(st) == SLOT_DONE)) {
            int status = MPROC_ECRASHED;

            if (p->state == POOL_TERMINATED) {
                status = MPROC_ECANCELLED;
                (void)snprintf(text, sizeof(text), "the pool was terminated");
            } else if (w->timed_out) {
                (void)snprintf(text, sizeof(text),
                               "the task ran past the pool's task_timeout "
                               "(%g s): its worker (pid %d) was killed",
                               p->task_timeout, (int)pid);
            } else if (signal != 0) {
                (void)snprintf(text, sizeof(text),
                               "the worker running the task (pid %d) was "
                               "killed by signal %d (%s)",
                               (int)pid, signal, sigabbrev_np(signal));
            } else {
                (void)snprintf(text, sizeof(text),
                               "the worker running the task (pid %d) exited "
                               "with code %d",
                               (int)pid, code);
            }
            mproc__pool_chunk_failed(p, s, status, signal, text);
        }
    }
    __atomic_store_n(&rec->slot, 0, __ATOMIC_RELAXED);
    if (w->proc != NULL) {
        mproc_process_free(w->proc);
        w->proc = NULL;
    }
    w->live = false;
    p->alive--;
    /* Closed: only while tasks wait in the queue (a new worker would
     * leave at once, the queue closed and empty). */
    if (p->state == POOL_RUNNING ||
        (p->state == POOL_CLOSED && !mproc_queue_empty(p->tasks))) {
        if (mproc__pool_start_worker(p, wid) < 0 && p->alive == 0) {
            /* No worker can be started: nothing would run what is left. */
            mproc__pool_cancel_all(p, "no worker could be started");
        }
    }
    pthread_cond_broadcast(&p->gone);
}

/* Kill the workers whose task ran past the limit; the milliseconds until
 * the next one could (mu held). */
static int
enforce_timeout(mproc_pool *p)
{
    int64_t limit = (int64_t)(p->task_timeout * 1e9), now = mproc__now_ns();
    int64_t next = limit;

    if (p->task_timeout <= 0 || p->threads)
        return -1;
    for (int i = 0; i < p->nworkers; i++) {
        struct mproc__pool_worker *rec = &p->sh->workers[i];
        int64_t left;

        if (!p->workers[i].live || p->workers[i].timed_out ||
            __atomic_load_n(&rec->slot, __ATOMIC_ACQUIRE) == 0)
            continue;
        left =
            __atomic_load_n(&rec->started_ns, __ATOMIC_RELAXED) + limit - now;
        if (left <= 0) {
            p->workers[i].timed_out = true;
            (void)mproc_process_kill(p->workers[i].proc);
        } else if (left < next) {
            next = left;
        }
    }
    return (int)((next + 999999) / 1000000);
}

static void *
supervisor_thread(void *arg)
{
    mproc_pool *p = arg;
    struct pollfd *fds = p->poll_room;
    int *who = (int *)(void *)(fds + p->nworkers + 1);

    for (;;) {
        int n = 1, ms;
        uint64_t count;

        pthread_mutex_lock(&p->mu);
        if (p->state != POOL_RUNNING && p->alive == 0) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        fds[0] = (struct pollfd){ .fd = p->cmd_fd, .events = POLLIN };
        for (int i = 0; i < p->nworkers && !p->threads; i++) {
            if (!p->workers[i].live)
                continue;
            fds[n] = (struct pollfd){ .fd = mproc_process_sentinel(
                                          p->workers[i].proc),
                                      .events = POLLIN };
            who[n++] = i;
        }
        ms = enforce_timeout(p);
        pthread_mutex_unlock(&p->mu);
        if (poll(fds, (nfds_t)n, ms) < 0 && errno != EINTR)
            break;
        if (read(p->cmd_fd, &count, sizeof(count)) < 0) {
            /* EAGAIN: not poked this time */
        }
        pthread_mutex_lock(&p->mu);
        for (int k = 1; k < n; k++)
            if (fds[k].revents != 0 && p->workers[who[k]].live)
                reap(p, who[k]);
        for (int i = 0; i < p->nworkers && p->threads; i++)
            if (p->workers[i].live && p->workers[i].exited)
                reap(p, i);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

/* ---- the result thread
 * ------------------------------------------------------- */

void
mproc__pool_queue_event(mproc_pool *p, mproc_future *j, bool progress)
{
    struct event *e;

    if (!progress) {
        if (j->in_events)
            return;
        j->in_events = true;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        if (!progress) /* no callbacks then: at least be done */
            mproc__pool_set_done(p, j);
        return;
    }
    e->job = j;
    e->progress = progress;
    e->done = j->items_done;
    e->total = j->items_total;
    j->refs++;
    *p->events_tail = e;
    p->events_tail = &e->next;
    mproc__pool_notify(&p->sh->engine);
}

/* Run one event (mu held on entry and exit, dropped while calling). */
static void
run_event(mproc_pool *p, struct event *e)
{
    mproc_future *j = e->job;

    if (e->progress) {
        mproc_progress_fn fn = j->progress;
        void *ctx = j->progress_ctx;

        pthread_mutex_unlock(&p->mu);
        fn(e->done, e->total, ctx);
        pthread_mutex_lock(&p->mu);
    } else {
        mproc_future_cb first = j->status == 0 ? j->on_success : j->on_failure;

        /* A map with progress is done after its last call. */
        mproc__pool_set_done(p, j);

        if (first != NULL) {
            void *ctx = j->async_ctx;

            pthread_mutex_unlock(&p->mu);
            first(j, ctx);
            pthread_mutex_lock(&p->mu);
        }
        for (size_t i = 0; i < j->ncallbacks; i++) {
            struct callback c = j->callbacks[i];

            pthread_mutex_unlock(&p->mu);
            c.fn(j, c.ctx);
            pthread_mutex_lock(&p->mu);
        }
    }
    mproc__pool_job_unref(j);
    free(e);
}

static void *
result_thread(void *arg)
{
    mproc_pool *p = arg;
    uint32_t *word = &p->sh->engine;

    for (;;) {
        uint32_t w = __atomic_load_n(word, __ATOMIC_SEQ_CST);

        pthread_mutex_lock(&p->mu);
        mproc__pool_collect(p);
        while (p->events != NULL) {
            struct event *e = p->events;

            p->events = e->next;
            if (p->events == NULL)
                p->events_tail = &p->events;
            run_event(p, e);
            mproc__pool_collect(p);
        }
        if (p->stopping && p->live_chunks == 0) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        pthread_mutex_unlock(&p->mu);
        if (!(w & 1)) {
            if (!__atomic_compare_exchange_n(
                    word, &w, w | 1, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                continue;
            w |= 1;
        }
        (void)mproc__futex_wait((_Atomic uint32_t *)word, w, -1);
    }
    return NULL;
}

int
mproc__pool_start_threads(mproc_pool *p)
{
    int rc;

    p->poll_room =
        calloc((size_t)p->nworkers + 1, sizeof(struct pollfd) + sizeof(int));
    if (p->poll_room == NULL)
        return MPROC_ENOMEM;
    rc = start_thread(&p->supervisor, supervisor_thread, p);
    if (rc < 0)
        return rc;
    p->supervisor_started = true;
    rc = start_thread(&p->result_thread, result_thread, p);
    if (rc < 0)
        return rc;
    p->result_started = true;
    return 0;
}

/* Once every worker is gone: end both threads (mu not held). */
void
mproc__pool_stop_threads(mproc_pool *p)
{
    if (p->supervisor_started) {
        mproc__pool_poke_supervisor(p);
        pthread_join(p->supervisor, NULL);
        p->supervisor_started = false;
    }
    pthread_mutex_lock(&p->mu);
    mproc__pool_collect(p);
    /* Nothing can run what is left: no worker remains. */
    for (uint32_t s = 0; s < p->slots_used; s++)
        if (p->tab[s].live)
            mproc__pool_chunk_failed(p, s, MPROC_ECANCELLED, 0,
                                     "the pool ended before the task ran");
    mproc__pool_feed(p); /* frees what is left of the backlog */
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    if (p->result_started) {
        mproc__pool_notify(&p->sh->engine);
        pthread_join(p->result_thread, NULL);
        p->result_started = false;
    }
}
