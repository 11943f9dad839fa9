/*
 * tests/sync.c - Lock, RLock, Semaphore, BoundedSemaphore, Condition,
 * Event and Barrier against Python's threading/multiprocessing semantics,
 * between real processes: every timeout path, the release rules, exact
 * wake counts, barrier passes that never run ahead, owner death reported
 * (SIGKILL), dead waiters that corrupt nothing, and sharing with children
 * of every start method through tokens.
 *
 * Children report through exit codes and objects under test; nothing
 * sleeps for luck: a child says "ready" through an Event or Semaphore
 * before the parent goes on.
 */
#include "helpers/th.h"

#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

TestSuite(sync, .init = th_begin, .fini = th_end, .timeout = 60);

static const enum mproc_start_method methods[] = { MPROC_START_FORK,
                                                   MPROC_START_SPAWN,
                                                   MPROC_START_FORKSERVER };
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* What a child gets: tokens of the objects it uses, and numbers. */
struct job {
    mproc_token a, b, c;
    int n;
    double timeout;
    int expect;
};

static struct job
job_of(void)
{
    struct job j;

    memset(&j, 0, sizeof(j));
    return j;
}

static struct job
arg_job(const void *arg, size_t len)
{
    struct job j = job_of();

    if (len == sizeof(j))
        memcpy(&j, arg, sizeof(j));
    return j;
}

static mproc_process *
start(mproc_target target, const struct job *j, enum mproc_start_method m)
{
    return th_start_daemon(target, j, sizeof(*j), m);
}

static int
join(mproc_process *p)
{
    return th_join(p, 30);
}

static void
kill_and_join(mproc_process *p)
{
    cr_assert_eq(mproc_process_kill(p), 0);
    cr_assert_eq(join(p), -SIGKILL);
}

/* Memory shared with forked children (fork start method only). */
static void *
shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert_neq(p, MAP_FAILED);
    return p;
}

static mproc_lock *
new_lock(void)
{
    mproc_lock *l = NULL;

    cr_assert_eq(mproc_lock_new(&l), 0);
    return l;
}

static mproc_rlock *
new_rlock(void)
{
    mproc_rlock *r = NULL;

    cr_assert_eq(mproc_rlock_new(&r), 0);
    return r;
}

static mproc_event *
new_event(void)
{
    mproc_event *e = NULL;

    cr_assert_eq(mproc_event_new(&e), 0);
    return e;
}

static mproc_semaphore *
new_semaphore(int value)
{
    mproc_semaphore *s = NULL;

    cr_assert_eq(mproc_semaphore_new(&s, value), 0);
    return s;
}

/* ---- child targets ------------------------------------------------------ */

/* a: Lock. Release it; exit 0, or 10 + what failed. */
static int
release_lock(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_lock *l = NULL;
    int rc;

    if (mproc_lock_from_token(&l, &j.a) != 0)
        return 10;
    rc = mproc_lock_release(l);
    mproc_lock_free(l);
    return rc == 0 ? 0 : 11;
}

/* a: Lock (n == 0) or RLock (n == 1), b: Event. Acquire, set b, block until
 * killed. */
static int
hold_until_killed(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_event *ready = NULL;
    int rc;

    if (mproc_event_from_token(&ready, &j.b) != 0)
        return 10;
    if (j.n == 0) {
        mproc_lock *l = NULL;

        rc = mproc_lock_from_token(&l, &j.a);
        if (rc == 0)
            rc = mproc_lock_acquire(l, MPROC_FOREVER);
    } else {
        mproc_rlock *r = NULL;

        rc = mproc_rlock_from_token(&r, &j.a);
        if (rc == 0)
            rc = mproc_rlock_acquire(r, MPROC_FOREVER);
        if (rc == 0)
            rc = mproc_rlock_acquire(r, MPROC_FOREVER); /* level 2 */
    }
    if (rc != 0)
        return 11;
    mproc_event_set(ready);
    th_slow_block_forever();
    return 12;
}

/* a: Lock (n == 0) or RLock (n == 1). Acquire with j.timeout; exit 0 when
 * the result is j.expect (and for an RLock, a release by this owner then
 * works), else 20. */
static int
acquire_expect(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    int rc;

    if (j.n == 0) {
        mproc_lock *l = NULL;

        if (mproc_lock_from_token(&l, &j.a) != 0)
            return 10;
        rc = mproc_lock_acquire(l, j.timeout);
        mproc_lock_free(l);
    } else {
        mproc_rlock *r = NULL;

        if (mproc_rlock_from_token(&r, &j.a) != 0)
            return 10;
        rc = mproc_rlock_acquire(r, j.timeout);
        if (rc == j.expect && rc != MPROC_ETIMEDOUT &&
            mproc_rlock_release(r) != 0)
            rc = 1;
        mproc_rlock_free(r);
    }
    return rc == j.expect ? 0 : 20;
}

/* a: RLock, held by the parent. Releasing it here must be refused. */
static int
release_rlock_not_owned(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_rlock *r = NULL;
    int rc;

    if (mproc_rlock_from_token(&r, &j.a) != 0)
        return 10;
    rc = mproc_rlock_release(r);
    mproc_rlock_free(r);
    return rc == MPROC_EPERM ? 0 : 20;
}

/* ---- Lock --------------------------------------------------------------- */

Test(sync, lock_try_fails_at_once_when_held)
{
    mproc_lock *l = new_lock();
    double t0;

    cr_assert_not(mproc_lock_locked(l));
    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert(mproc_lock_locked(l));
    t0 = th_now();
    cr_assert_eq(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    cr_assert_eq(mproc_lock_release(l), 0);
    cr_assert_not(mproc_lock_locked(l));
    mproc_lock_free(l);
}

Test(sync, lock_acquire_times_out_after_the_timeout, .timeout = 10)
{
    mproc_lock *l = new_lock();
    double t0;

    cr_assert_eq(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    t0 = th_now();
    cr_assert_eq(mproc_lock_acquire(l, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(mproc_lock_release(l), 0);
    mproc_lock_free(l);
}

Test(sync, lock_acquire_resumes_after_signals_with_the_time_left, .timeout = 10)
{
    mproc_lock *l = new_lock();
    struct th_storm storm;
    double t0;

    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    th_storm_start(&storm);
    t0 = th_now();
    cr_assert_eq(mproc_lock_acquire(l, 0.3), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 1.0);
    th_storm_stop(&storm);
    mproc_lock_release(l);
    mproc_lock_free(l);
}

Test(sync, lock_release_of_an_unlocked_lock_is_a_state_error)
{
    mproc_lock *l = new_lock();

    cr_assert_eq(mproc_lock_release(l), MPROC_ESTATE);
    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert_eq(mproc_lock_release(l), 0);
    cr_assert_eq(mproc_lock_release(l), MPROC_ESTATE);
    cr_assert_not(mproc_lock_locked(l));
    mproc_lock_free(l);
}

Test(sync, lock_is_released_by_another_process)
{
    for (size_t m = 0; m < N_METHODS; m++) {
        mproc_lock *l = new_lock();
        struct job j = job_of();

        cr_assert_eq(mproc_lock_acquire(l, 0), 0);
        cr_assert_eq(mproc_lock_token(l, &j.a), 0);
        cr_assert_eq(join(start(release_lock, &j, methods[m])), 0, "%s",
                     mproc_start_method_name(methods[m]));
        cr_assert_not(mproc_lock_locked(l));
        cr_assert_eq(mproc_lock_acquire(l, 0), 0);
        cr_assert_eq(mproc_lock_release(l), 0);
        mproc_lock_free(l);
    }
}

Test(sync, lock_is_clean_after_a_timed_out_acquire, .timeout = 20)
{
    mproc_lock *l = new_lock();
    struct job j = job_of();

    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert_eq(mproc_lock_token(l, &j.a), 0);
    /* A child times out on the held lock ... */
    j.timeout = 0.1;
    j.expect = MPROC_ETIMEDOUT;
    cr_assert_eq(join(start(acquire_expect, &j, MPROC_START_FORK)), 0);
    /* ... which leaves it held by us, and free once released. */
    cr_assert(mproc_lock_locked(l));
    cr_assert_eq(mproc_lock_release(l), 0);
    cr_assert_not(mproc_lock_locked(l));
    j.timeout = 0;
    j.expect = 0;
    cr_assert_eq(join(start(acquire_expect, &j, MPROC_START_FORK)), 0);
    /* The child took it and ended without releasing: held, but alive
     * holders only count while alive. */
    cr_assert_eq(mproc_lock_acquire(l, 5), MPROC_EOWNERDEAD);
    cr_assert_eq(mproc_lock_release(l), 0);
    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert_eq(mproc_lock_release(l), 0);
    mproc_lock_free(l);
}

/* Threads of one process contend: a plain counter under the lock. */
struct counted {
    mproc_lock *l;
    long counter;
};

static void *
count_up(void *arg)
{
    struct counted *c = arg;

    for (int i = 0; i < 20000; i++) {
        if (mproc_lock_acquire(c->l, MPROC_FOREVER) != 0)
            break;
        c->counter++;
        mproc_lock_release(c->l);
    }
    return NULL;
}

Test(sync, lock_excludes_threads_of_one_process)
{
    struct counted c = { new_lock(), 0 };
    pthread_t t[4];

    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, count_up, &c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(c.counter, 80000);
    mproc_lock_free(c.l);
}

/* a: Lock. n rounds of a counter in shared memory (fork only: the page
 * is inherited) under the lock. */
static long *fork_counter;

static int
count_under_lock(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_lock *l = NULL;

    if (mproc_lock_from_token(&l, &j.a) != 0)
        return 10;
    for (int i = 0; i < j.n; i++) {
        if (mproc_lock_acquire(l, MPROC_FOREVER) != 0)
            return 11;
        long v = *(volatile long *)fork_counter;
        *(volatile long *)fork_counter = v + 1;
        if (mproc_lock_release(l) != 0)
            return 12;
    }
    mproc_lock_free(l);
    return 0;
}

Test(sync, lock_excludes_processes)
{
    mproc_lock *l = new_lock();
    mproc_process *p[4];
    struct job j = job_of();

    fork_counter = shared_page(4096);
    cr_assert_eq(mproc_lock_token(l, &j.a), 0);
    j.n = 20000;
    for (int i = 0; i < 4; i++)
        p[i] = start(count_under_lock, &j, MPROC_START_FORK);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(join(p[i]), 0);
    cr_assert_eq(*fork_counter, 80000);
    cr_assert_not(mproc_lock_locked(l));
    munmap(fork_counter, 4096);
    mproc_lock_free(l);
}

/* ---- owner death -------------------------------------------------------- */

/* A child takes the lock (kind 0: Lock, 1: RLock) and is killed. */
static mproc_process *
holder_then(struct job *j, int kind, const mproc_token *lock_token)
{
    mproc_event *ready = new_event();
    mproc_process *p;

    j->a = *lock_token;
    j->n = kind;
    cr_assert_eq(mproc_event_token(ready, &j->b), 0);
    p = start(hold_until_killed, j, MPROC_START_FORK);
    cr_assert_eq(mproc_event_wait(ready, 10), 0);
    mproc_event_free(ready);
    return p;
}

Test(sync, lock_owner_death_is_reported_to_a_later_acquirer, .timeout = 20)
{
    mproc_lock *l = new_lock();
    struct job j = job_of();
    mproc_token t;
    mproc_process *p;
    double t0;

    cr_assert_eq(mproc_lock_token(l, &t), 0);
    p = holder_then(&j, 0, &t);
    cr_assert_eq(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_process_kill(p), 0);
    /* Not reaped yet: a zombie holder is dead too. */
    t0 = th_now();
    cr_assert_eq(mproc_lock_acquire(l, 10), MPROC_EOWNERDEAD);
    th_assert_elapsed(t0, 0, 1.0);
    cr_assert(mproc_lock_locked(l));
    cr_assert_eq(join(p), -SIGKILL);
    /* Held by us now: another acquirer waits, and finds us alive. */
    cr_assert_eq(mproc_lock_acquire(l, 0.1), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_lock_release(l), 0);
    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert_eq(mproc_lock_release(l), 0);
    mproc_lock_free(l);
}

/* Shared with forked children: when a waiter's acquire returned. */
struct death_times {
    _Atomic int64_t returned_ns;
    _Atomic int result;
};

static struct death_times *death;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* a: Lock or RLock (n), c: Event "about to wait". Acquire forever and
 * record when it returned and with what. */
static int
wait_for_death(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_event *waiting = NULL;
    int rc;

    if (mproc_event_from_token(&waiting, &j.c) != 0)
        return 10;
    mproc_event_set(waiting);
    if (j.n == 0) {
        mproc_lock *l = NULL;

        if (mproc_lock_from_token(&l, &j.a) != 0)
            return 11;
        rc = mproc_lock_acquire(l, 20);
        atomic_store(&death->returned_ns, now_ns());
        if (rc == MPROC_EOWNERDEAD && !mproc_lock_locked(l))
            rc = 1;
    } else {
        mproc_rlock *r = NULL;

        if (mproc_rlock_from_token(&r, &j.a) != 0)
            return 11;
        rc = mproc_rlock_acquire(r, 20);
        atomic_store(&death->returned_ns, now_ns());
        /* Owned at level 1: one release frees it. */
        if (rc == MPROC_EOWNERDEAD &&
            (!mproc_rlock_is_owned(r) || mproc_rlock_release(r) != 0 ||
             mproc_rlock_is_owned(r)))
            rc = 1;
    }
    atomic_store(&death->result, rc);
    return 0;
}

static void
check_waiter_sees_death(int kind)
{
    mproc_event *waiting = new_event();
    mproc_lock *l = NULL;
    mproc_rlock *r = NULL;
    mproc_process *holder, *waiter;
    struct job j = job_of();
    mproc_token t;
    int64_t killed_ns;

    death = shared_page(4096);
    if (kind == 0) {
        l = new_lock();
        cr_assert_eq(mproc_lock_token(l, &t), 0);
    } else {
        r = new_rlock();
        cr_assert_eq(mproc_rlock_token(r, &t), 0);
    }
    holder = holder_then(&j, kind, &t);
    cr_assert_eq(mproc_event_token(waiting, &j.c), 0);
    waiter = start(wait_for_death, &j, MPROC_START_FORK);
    cr_assert_eq(mproc_event_wait(waiting, 10), 0);
    killed_ns = now_ns();
    kill_and_join(holder);
    cr_assert_eq(join(waiter), 0);
    cr_assert_eq(atomic_load(&death->result), MPROC_EOWNERDEAD, "%s",
                 mproc_errname(atomic_load(&death->result)));
    /* Within 100 ms by design; generous here (a loaded machine, ASan). */
    cr_assert_lt(atomic_load(&death->returned_ns) - killed_ns,
                 (int64_t)1500 * 1000 * 1000);
    if (kind == 0) {
        /* The waiter took it and ended holding it: reported again. */
        cr_assert_eq(mproc_lock_acquire(l, 5), MPROC_EOWNERDEAD);
        cr_assert_eq(mproc_lock_release(l), 0);
    } else {
        cr_assert_eq(mproc_rlock_acquire(r, 0), 0);
        cr_assert_eq(mproc_rlock_release(r), 0);
    }
    munmap(death, 4096);
    mproc_event_free(waiting);
    mproc_lock_free(l);
    mproc_rlock_free(r);
}

Test(sync, lock_owner_death_is_reported_to_a_waiter, .timeout = 30)
{
    check_waiter_sees_death(0);
}

Test(sync, rlock_owner_death_is_reported_to_a_waiter, .timeout = 30)
{
    check_waiter_sees_death(1);
}

Test(sync, rlock_owner_death_is_reported_to_a_later_acquirer, .timeout = 20)
{
    mproc_rlock *r = new_rlock();
    struct job j = job_of();
    mproc_token t;

    cr_assert_eq(mproc_rlock_token(r, &t), 0);
    kill_and_join(holder_then(&j, 1, &t));
    cr_assert_eq(mproc_rlock_acquire(r, 0), MPROC_EOWNERDEAD);
    cr_assert(mproc_rlock_is_owned(r));
    /* Level 1, whatever the dead owner's level was. */
    cr_assert_eq(mproc_rlock_release(r), 0);
    cr_assert_not(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_rlock_release(r), MPROC_ESTATE);
    mproc_rlock_free(r);
}

/* ---- RLock -------------------------------------------------------------- */

static void *
acquire_and_end(void *arg)
{
    return (void *)(intptr_t)mproc_rlock_acquire(arg, 0);
}

Test(sync, rlock_owned_by_a_thread_that_ended_is_reported, .timeout = 10)
{
    mproc_rlock *r = new_rlock();
    pthread_t t;
    void *rc;

    cr_assert_eq(pthread_create(&t, NULL, acquire_and_end, r), 0);
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert_not(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_rlock_release(r), MPROC_EPERM);
    cr_assert_eq(mproc_rlock_acquire(r, 5), MPROC_EOWNERDEAD);
    cr_assert(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_rlock_release(r), 0);
    mproc_rlock_free(r);
}

Test(sync, rlock_counts_recursion)
{
    mproc_rlock *r = new_rlock();

    cr_assert_not(mproc_rlock_is_owned(r));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mproc_rlock_acquire(r, 0), 0);
    cr_assert(mproc_rlock_is_owned(r));
    for (int i = 0; i < 3; i++) {
        cr_assert(mproc_rlock_is_owned(r));
        cr_assert_eq(mproc_rlock_release(r), 0);
    }
    cr_assert_not(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_rlock_release(r), MPROC_ESTATE);
    mproc_rlock_free(r);
}

static void *
release_from_thread(void *arg)
{
    return (void *)(intptr_t)mproc_rlock_release(arg);
}

static void *
try_from_thread(void *arg)
{
    return (void *)(intptr_t)mproc_rlock_acquire(arg, 0.1);
}

Test(sync, rlock_release_by_another_thread_is_refused)
{
    mproc_rlock *r = new_rlock();
    pthread_t t;
    void *rc;

    cr_assert_eq(mproc_rlock_acquire(r, 0), 0);
    cr_assert_eq(pthread_create(&t, NULL, release_from_thread, r), 0);
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, MPROC_EPERM);
    cr_assert_eq(pthread_create(&t, NULL, try_from_thread, r), 0);
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, MPROC_ETIMEDOUT);
    cr_assert(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_rlock_release(r), 0);
    mproc_rlock_free(r);
}

Test(sync, rlock_release_by_another_process_is_refused)
{
    mproc_rlock *r = new_rlock();
    struct job j = job_of();

    cr_assert_eq(mproc_rlock_acquire(r, 0), 0);
    cr_assert_eq(mproc_rlock_token(r, &j.a), 0);
    cr_assert_eq(join(start(release_rlock_not_owned, &j, MPROC_START_FORK)), 0);
    /* A forked child does not own what the parent's thread owns. */
    j.n = 1;
    j.timeout = 0.1;
    j.expect = MPROC_ETIMEDOUT;
    cr_assert_eq(join(start(acquire_expect, &j, MPROC_START_FORK)), 0);
    cr_assert_eq(mproc_rlock_release(r), 0);
    j.timeout = 0;
    j.expect = 0;
    cr_assert_eq(join(start(acquire_expect, &j, MPROC_START_SPAWN)), 0);
    mproc_rlock_free(r);
}

Test(sync, rlock_acquire_times_out_when_owned_elsewhere, .timeout = 10)
{
    mproc_rlock *r = new_rlock();
    pthread_t t;
    void *rc;
    double t0;

    cr_assert_eq(mproc_rlock_acquire(r, 0), 0);
    t0 = th_now();
    cr_assert_eq(pthread_create(&t, NULL, try_from_thread, r), 0);
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.1, 1.0);
    cr_assert_eq(mproc_rlock_release(r), 0);
    mproc_rlock_free(r);
}

/* ---- Semaphore ---------------------------------------------------------- */

Test(sync, semaphore_counts_and_times_out, .timeout = 10)
{
    mproc_semaphore *s = new_semaphore(2);
    int v = -1;
    double t0;

    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 2);
    cr_assert_eq(mproc_semaphore_acquire(s, 0), 0);
    cr_assert_eq(mproc_semaphore_acquire(s, MPROC_FOREVER), 0);
    t0 = th_now();
    cr_assert_eq(mproc_semaphore_acquire(s, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    t0 = th_now();
    cr_assert_eq(mproc_semaphore_acquire(s, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 0);
    /* A plain Semaphore may go above its initial value. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mproc_semaphore_release(s), 0);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 3);
    mproc_semaphore_free(s);
}

Test(sync, semaphore_refuses_a_release_past_int_max)
{
    mproc_semaphore *s = new_semaphore(INT_MAX);
    int v = -1;

    cr_assert_eq(mproc_semaphore_release(s), -EOVERFLOW);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, INT_MAX);
    cr_assert_eq(mproc_semaphore_acquire(s, 0), 0);
    cr_assert_eq(mproc_semaphore_release(s), 0);
    mproc_semaphore_free(s);
}

Test(sync, bounded_semaphore_refuses_a_release_past_its_bound)
{
    mproc_semaphore *s = NULL;
    int v = -1;

    cr_assert_eq(mproc_bounded_semaphore_new(&s, 2), 0);
    cr_assert_eq(mproc_semaphore_release(s), MPROC_ESTATE);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 2);
    cr_assert_eq(mproc_semaphore_acquire(s, 0), 0);
    cr_assert_eq(mproc_semaphore_release(s), 0);
    cr_assert_eq(mproc_semaphore_release(s), MPROC_ESTATE);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 2);
    mproc_semaphore_free(s);
}

/* a: Semaphore used as a mutex, b: Semaphore "done". n rounds of the
 * shared counter. */
static int
count_under_semaphore(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_semaphore *s = NULL, *done = NULL;

    if (mproc_semaphore_from_token(&s, &j.a) != 0 ||
        mproc_semaphore_from_token(&done, &j.b) != 0)
        return 10;
    for (int i = 0; i < j.n; i++) {
        if (mproc_semaphore_acquire(s, MPROC_FOREVER) != 0)
            return 11;
        long v = *(volatile long *)fork_counter;
        *(volatile long *)fork_counter = v + 1;
        mproc_semaphore_release(s);
    }
    mproc_semaphore_release(done);
    mproc_semaphore_free(s);
    mproc_semaphore_free(done);
    return 0;
}

Test(sync, semaphore_hands_off_under_contention_between_processes)
{
    mproc_semaphore *s = new_semaphore(1), *done = new_semaphore(0);
    mproc_process *p[4];
    struct job j = job_of();
    int v = -1;

    fork_counter = shared_page(4096);
    cr_assert_eq(mproc_semaphore_token(s, &j.a), 0);
    cr_assert_eq(mproc_semaphore_token(done, &j.b), 0);
    j.n = 10000;
    for (int i = 0; i < 4; i++)
        p[i] = start(count_under_semaphore, &j, MPROC_START_FORK);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mproc_semaphore_acquire(done, 30), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(join(p[i]), 0);
    cr_assert_eq(*fork_counter, 40000);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 1);
    munmap(fork_counter, 4096);
    mproc_semaphore_free(s);
    mproc_semaphore_free(done);
}

/* a: Semaphore, b: Event "waiting". Acquire with j.timeout; exit 0 when
 * the result is j.expect. */
static int
semaphore_acquire_expect(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_semaphore *s = NULL;
    mproc_event *waiting = NULL;
    int rc;

    if (mproc_semaphore_from_token(&s, &j.a) != 0 ||
        mproc_event_from_token(&waiting, &j.b) != 0)
        return 10;
    mproc_event_set(waiting);
    rc = mproc_semaphore_acquire(s, j.timeout);
    mproc_semaphore_free(s);
    mproc_event_free(waiting);
    return rc == j.expect ? 0 : 20;
}

Test(sync, semaphore_releases_wake_exactly_as_many_waiters, .timeout = 30)
{
    mproc_semaphore *s = new_semaphore(0);
    mproc_event *waiting = new_event();
    mproc_process *p[3];
    struct job j = job_of();
    int v = -1;

    cr_assert_eq(mproc_semaphore_token(s, &j.a), 0);
    cr_assert_eq(mproc_event_token(waiting, &j.b), 0);
    j.timeout = 20;
    for (int i = 0; i < 3; i++) {
        p[i] = start(semaphore_acquire_expect, &j, methods[i]);
        cr_assert_eq(mproc_event_wait(waiting, 10), 0);
        mproc_event_clear(waiting);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mproc_semaphore_release(s), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(join(p[i]), 0);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 0);
    mproc_semaphore_free(s);
    mproc_event_free(waiting);
}

Test(sync, semaphore_waiter_killed_takes_nothing, .timeout = 30)
{
    mproc_semaphore *s = new_semaphore(0);
    mproc_event *waiting = new_event();
    struct job j = job_of();
    mproc_process *p;
    int v = -1;

    cr_assert_eq(mproc_semaphore_token(s, &j.a), 0);
    cr_assert_eq(mproc_event_token(waiting, &j.b), 0);
    j.timeout = MPROC_FOREVER;
    p = start(semaphore_acquire_expect, &j, MPROC_START_FORK);
    cr_assert_eq(mproc_event_wait(waiting, 10), 0);
    kill_and_join(p);
    cr_assert_eq(mproc_semaphore_release(s), 0);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 1);
    /* A live waiter still gets the next unit. */
    mproc_event_clear(waiting);
    j.expect = 0;
    j.timeout = 20;
    cr_assert_eq(mproc_semaphore_acquire(s, 0), 0);
    p = start(semaphore_acquire_expect, &j, MPROC_START_FORK);
    cr_assert_eq(mproc_event_wait(waiting, 10), 0);
    cr_assert_eq(mproc_semaphore_release(s), 0);
    cr_assert_eq(join(p), 0);
    cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
    cr_assert_eq(v, 0);
    mproc_semaphore_free(s);
    mproc_event_free(waiting);
}

/* ---- Event -------------------------------------------------------------- */

Test(sync, event_wait_times_out_while_clear, .timeout = 10)
{
    mproc_event *e = new_event();
    double t0;

    cr_assert_not(mproc_event_is_set(e));
    t0 = th_now();
    cr_assert_eq(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    t0 = th_now();
    cr_assert_eq(mproc_event_wait(e, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(mproc_event_set(e), 0);
    cr_assert(mproc_event_is_set(e));
    cr_assert_eq(mproc_event_wait(e, 0), 0);
    cr_assert_eq(mproc_event_wait(e, MPROC_FOREVER), 0);
    cr_assert_eq(mproc_event_clear(e), 0);
    cr_assert_not(mproc_event_is_set(e));
    cr_assert_eq(mproc_event_wait(e, 0.05), MPROC_ETIMEDOUT);
    mproc_event_free(e);
}

/* a: Event "go", b: Event "back". Wait for go, clear it, set back; n
 * times. */
static int
ping_pong(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_event *go = NULL, *back = NULL;

    if (mproc_event_from_token(&go, &j.a) != 0 ||
        mproc_event_from_token(&back, &j.b) != 0)
        return 10;
    for (int i = 0; i < j.n; i++) {
        if (mproc_event_wait(go, 20) != 0)
            return 11;
        mproc_event_clear(go);
        mproc_event_set(back);
    }
    mproc_event_free(go);
    mproc_event_free(back);
    return 0;
}

Test(sync, event_set_wakes_a_waiter_in_each_start_method)
{
    for (size_t m = 0; m < N_METHODS; m++) {
        mproc_event *go = new_event(), *back = new_event();
        struct job j = job_of();
        mproc_process *p;

        cr_assert_eq(mproc_event_token(go, &j.a), 0);
        cr_assert_eq(mproc_event_token(back, &j.b), 0);
        j.n = 200;
        p = start(ping_pong, &j, methods[m]);
        for (int i = 0; i < j.n; i++) {
            cr_assert_eq(mproc_event_set(go), 0);
            cr_assert_eq(mproc_event_wait(back, 20), 0);
            cr_assert_eq(mproc_event_clear(back), 0);
        }
        cr_assert_eq(join(p), 0, "%s", mproc_start_method_name(methods[m]));
        mproc_event_free(go);
        mproc_event_free(back);
    }
}

/* ---- Condition ---------------------------------------------------------- */

static mproc_condition *
new_condition(const mproc_condition_opts *opts)
{
    mproc_condition *c = NULL;

    cr_assert_eq(mproc_condition_new(&c, opts), 0);
    return c;
}

Test(sync, condition_wait_and_notify_need_the_lock)
{
    mproc_condition *c = new_condition(NULL);

    cr_assert_eq(mproc_condition_wait(c, 0), MPROC_ESTATE);
    cr_assert_eq(mproc_condition_notify(c, 1), MPROC_ESTATE);
    cr_assert_eq(mproc_condition_notify_all(c), MPROC_ESTATE);
    cr_assert_eq(mproc_condition_release(c), MPROC_ESTATE);
    cr_assert_eq(mproc_condition_acquire(c, 0), 0);
    cr_assert_eq(mproc_condition_notify(c, 1), 0);
    cr_assert_eq(mproc_condition_notify_all(c), 0);
    cr_assert_eq(mproc_condition_release(c), 0);
    mproc_condition_free(c);
}

Test(sync, condition_wait_times_out_holding_the_lock_again, .timeout = 10)
{
    mproc_rlock *r = new_rlock();
    mproc_condition *c = new_condition(&(mproc_condition_opts){ .rlock = r });
    double t0;

    /* Held at two levels: released fully, given back at two. */
    cr_assert_eq(mproc_condition_acquire(c, 0), 0);
    cr_assert_eq(mproc_rlock_acquire(r, 0), 0);
    t0 = th_now();
    cr_assert_eq(mproc_condition_wait(c, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_rlock_release(r), 0);
    cr_assert(mproc_rlock_is_owned(r));
    cr_assert_eq(mproc_condition_release(c), 0);
    cr_assert_not(mproc_rlock_is_owned(r));
    mproc_condition_free(c);
    mproc_rlock_free(r);
}

Test(sync, condition_notify_without_waiters_is_not_remembered, .timeout = 10)
{
    mproc_lock *l = new_lock();
    mproc_condition *c = new_condition(&(mproc_condition_opts){ .lock = l });

    cr_assert_eq(mproc_condition_acquire(c, 0), 0);
    cr_assert(mproc_lock_locked(l));
    cr_assert_eq(mproc_condition_notify(c, 5), 0);
    cr_assert_eq(mproc_condition_notify_all(c), 0);
    cr_assert_eq(mproc_condition_wait(c, 0.1), MPROC_ETIMEDOUT);
    cr_assert(mproc_lock_locked(l));
    cr_assert_eq(mproc_condition_release(c), 0);
    mproc_condition_free(c);
    /* The caller's lock outlives the condition. */
    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert_eq(mproc_lock_release(l), 0);
    mproc_lock_free(l);
}

/* a: Condition, b: Semaphore "ready" (released with the lock held, just
 * before waiting), c: Semaphore "woken". Wait with j.timeout; release
 * woken when notified, exit 0 when the result is j.expect. */
static int
condition_waiter(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_condition *c = NULL;
    mproc_semaphore *ready = NULL, *woken = NULL;
    int rc;

    if (mproc_condition_from_token(&c, &j.a) != 0 ||
        mproc_semaphore_from_token(&ready, &j.b) != 0 ||
        mproc_semaphore_from_token(&woken, &j.c) != 0)
        return 10;
    if (mproc_condition_acquire(c, 20) != 0)
        return 11;
    mproc_semaphore_release(ready);
    rc = mproc_condition_wait(c, j.timeout);
    if (rc == 0)
        mproc_semaphore_release(woken);
    if (mproc_condition_release(c) != 0)
        return 12;
    mproc_condition_free(c);
    mproc_semaphore_free(ready);
    mproc_semaphore_free(woken);
    return rc == j.expect ? 0 : 20;
}

struct waiters {
    mproc_condition *c;
    mproc_semaphore *ready, *woken;
    struct job j;
};

static void
waiters_init(struct waiters *w, const mproc_condition_opts *opts)
{
    w->c = new_condition(opts);
    w->ready = new_semaphore(0);
    w->woken = new_semaphore(0);
    w->j = job_of();
    cr_assert_eq(mproc_condition_token(w->c, &w->j.a), 0);
    cr_assert_eq(mproc_semaphore_token(w->ready, &w->j.b), 0);
    cr_assert_eq(mproc_semaphore_token(w->woken, &w->j.c), 0);
}

/* Start a waiter and return once it is inside wait: it said ready with
 * the lock held, so taking the lock means it has released it in wait. */
static mproc_process *
waiter_start(struct waiters *w, double timeout, int expect,
             enum mproc_start_method m)
{
    mproc_process *p;

    w->j.timeout = timeout;
    w->j.expect = expect;
    p = start(condition_waiter, &w->j, m);
    cr_assert_eq(mproc_semaphore_acquire(w->ready, 20), 0);
    cr_assert_eq(mproc_condition_acquire(w->c, 20), 0);
    cr_assert_eq(mproc_condition_release(w->c), 0);
    return p;
}

static void
waiters_free(struct waiters *w)
{
    mproc_condition_free(w->c);
    mproc_semaphore_free(w->ready);
    mproc_semaphore_free(w->woken);
}

/* Exactly `n` waiters report woken: n now, and no one more in 0.2 s. */
static void
expect_woken(struct waiters *w, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(mproc_semaphore_acquire(w->woken, 20), 0);
    cr_assert_eq(mproc_semaphore_acquire(w->woken, 0.2), MPROC_ETIMEDOUT);
}

static void
notify(struct waiters *w, int n)
{
    cr_assert_eq(mproc_condition_acquire(w->c, 20), 0);
    if (n < 0)
        cr_assert_eq(mproc_condition_notify_all(w->c), 0);
    else
        cr_assert_eq(mproc_condition_notify(w->c, n), 0);
    cr_assert_eq(mproc_condition_release(w->c), 0);
}

Test(sync, condition_notify_n_wakes_exactly_n, .timeout = 40)
{
    struct waiters w;
    mproc_process *p[5];

    waiters_init(&w, NULL);
    for (int i = 0; i < 5; i++)
        p[i] = waiter_start(&w, MPROC_FOREVER, 0, MPROC_START_FORK);
    notify(&w, 2);
    expect_woken(&w, 2);
    notify(&w, 1);
    expect_woken(&w, 1);
    notify(&w, 0);
    expect_woken(&w, 0);
    notify(&w, -1);
    expect_woken(&w, 2);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(join(p[i]), 0);
    waiters_free(&w);
}

Test(sync, condition_counts_stay_exact_after_timeouts, .timeout = 40)
{
    mproc_lock *l = new_lock();
    struct waiters w;
    mproc_process *p[4];

    waiters_init(&w, &(mproc_condition_opts){ .lock = l });
    /* Two waiters that time out, two that do not. */
    p[0] = waiter_start(&w, 0.05, MPROC_ETIMEDOUT, MPROC_START_FORK);
    p[1] = waiter_start(&w, MPROC_FOREVER, 0, MPROC_START_FORK);
    p[2] = waiter_start(&w, 0.05, MPROC_ETIMEDOUT, MPROC_START_SPAWN);
    cr_assert_eq(join(p[0]), 0);
    cr_assert_eq(join(p[2]), 0);
    p[3] = waiter_start(&w, MPROC_FOREVER, 0, MPROC_START_FORKSERVER);
    /* The timed-out waiters swallow nothing: one notify, one wake-up. */
    notify(&w, 1);
    expect_woken(&w, 1);
    notify(&w, -1);
    expect_woken(&w, 1);
    cr_assert_eq(join(p[1]), 0);
    cr_assert_eq(join(p[3]), 0);
    waiters_free(&w);
    mproc_lock_free(l);
}

Test(sync, condition_waiter_killed_swallows_no_notify, .timeout = 40)
{
    struct waiters w;
    mproc_process *dead, *alive;

    waiters_init(&w, NULL);
    dead = waiter_start(&w, MPROC_FOREVER, 0, MPROC_START_FORK);
    alive = waiter_start(&w, MPROC_FOREVER, 0, MPROC_START_FORK);
    cr_assert_eq(mproc_process_kill(dead), 0);
    /* Dead but not reaped (a zombie): its sentinel says it has ended. */
    cr_assert_eq(poll(&(struct pollfd){ .fd = mproc_process_sentinel(dead),
                                        .events = POLLIN },
                      1, 20000),
                 1);
    /* The dead waiter is older; the notify still reaches the live one. */
    notify(&w, 1);
    expect_woken(&w, 1);
    cr_assert_eq(join(alive), 0);
    cr_assert_eq(join(dead), -SIGKILL);
    waiters_free(&w);
}

struct flag {
    mproc_condition *c;
    int value;
};

static bool
flag_is_set(void *ctx)
{
    return ((struct flag *)ctx)->value != 0;
}

static void *
set_flag_later(void *arg)
{
    struct flag *f = arg;

    mproc_condition_acquire(f->c, MPROC_FOREVER);
    f->value = 1;
    mproc_condition_notify_all(f->c);
    mproc_condition_release(f->c);
    return NULL;
}

Test(sync, condition_wait_for_returns_when_the_predicate_holds, .timeout = 20)
{
    struct flag f = { new_condition(NULL), 0 };
    pthread_t t;
    double t0;

    cr_assert_eq(mproc_condition_acquire(f.c, 0), 0);
    t0 = th_now();
    cr_assert_eq(mproc_condition_wait_for(f.c, flag_is_set, &f, 0.2),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(pthread_create(&t, NULL, set_flag_later, &f), 0);
    cr_assert_eq(mproc_condition_wait_for(f.c, flag_is_set, &f, 20), 0);
    cr_assert_eq(f.value, 1);
    /* True at once: no wait at all. */
    cr_assert_eq(mproc_condition_wait_for(f.c, flag_is_set, &f, 0), 0);
    cr_assert_eq(mproc_condition_release(f.c), 0);
    pthread_join(t, NULL);
    mproc_condition_free(f.c);
}

/* a: Condition, b: Event "holding". Take the condition's lock, notify,
 * say so, and block holding the lock until killed. */
static int
notify_and_hold(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_condition *c = NULL;
    mproc_event *holding = NULL;

    if (mproc_condition_from_token(&c, &j.a) != 0 ||
        mproc_event_from_token(&holding, &j.b) != 0)
        return 10;
    if (mproc_condition_acquire(c, 20) != 0 ||
        mproc_condition_notify(c, 1) != 0)
        return 11;
    mproc_event_set(holding);
    th_slow_block_forever();
    return 12;
}

struct killer {
    mproc_event *holding;
    mproc_process *victim;
};

static void *
kill_when_holding(void *arg)
{
    struct killer *k = arg;

    if (mproc_event_wait(k->holding, 20) == 0)
        mproc_process_kill(k->victim);
    return NULL;
}

Test(sync, condition_wait_reports_a_dead_holder_of_its_lock, .timeout = 30)
{
    for (int kind = 0; kind < 2; kind++) {
        mproc_lock *l = new_lock();
        mproc_condition *c = new_condition(
            kind == 0 ? &(mproc_condition_opts){ .lock = l } : NULL);
        struct killer k = { new_event(), NULL };
        struct job j = job_of();
        pthread_t t;

        cr_assert_eq(mproc_condition_token(c, &j.a), 0);
        cr_assert_eq(mproc_event_token(k.holding, &j.b), 0);
        cr_assert_eq(mproc_condition_acquire(c, 0), 0);
        k.victim = start(notify_and_hold, &j, MPROC_START_FORK);
        cr_assert_eq(pthread_create(&t, NULL, kill_when_holding, &k), 0);
        /* Notified by the child, which then dies holding the lock. */
        cr_assert_eq(mproc_condition_wait(c, 20), MPROC_EOWNERDEAD);
        pthread_join(t, NULL);
        cr_assert_eq(join(k.victim), -SIGKILL);
        /* Held again, by this thread. */
        cr_assert_eq(mproc_condition_notify(c, 1), 0);
        cr_assert_eq(mproc_condition_release(c), 0);
        cr_assert_eq(mproc_condition_acquire(c, 0), 0);
        cr_assert_eq(mproc_condition_release(c), 0);
        mproc_condition_free(c);
        mproc_event_free(k.holding);
        mproc_lock_free(l);
    }
}

struct crowd {
    mproc_condition *c;
    mproc_semaphore *ready;
    atomic_int woken;
};

static void *
crowd_wait(void *arg)
{
    struct crowd *w = arg;

    if (mproc_condition_acquire(w->c, 20) != 0)
        return NULL;
    mproc_semaphore_release(w->ready);
    if (mproc_condition_wait(w->c, 20) == 0)
        atomic_fetch_add(&w->woken, 1);
    mproc_condition_release(w->c);
    return NULL;
}

Test(sync, condition_refuses_a_waiter_past_256, .timeout = 60)
{
    enum {
        WAITERS = 256
    };
    struct crowd w = { new_condition(NULL), new_semaphore(0), 0 };
    pthread_t *t = calloc(WAITERS, sizeof(*t));

    cr_assert_not_null(t);
    for (int i = 0; i < WAITERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, crowd_wait, &w), 0);
    for (int i = 0; i < WAITERS; i++)
        cr_assert_eq(mproc_semaphore_acquire(w.ready, 20), 0);
    /* Each said ready holding the lock: taking it, all are waiting. */
    cr_assert_eq(mproc_condition_acquire(w.c, 20), 0);
    cr_assert_eq(mproc_condition_wait(w.c, 0.1), -EAGAIN);
    cr_assert_eq(mproc_condition_notify_all(w.c), 0);
    cr_assert_eq(mproc_condition_release(w.c), 0);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&w.woken), WAITERS);
    free(t);
    mproc_condition_free(w.c);
    mproc_semaphore_free(w.ready);
}

/* ---- Barrier ------------------------------------------------------------ */

static mproc_barrier *
new_barrier(int parties, const mproc_barrier_opts *opts)
{
    mproc_barrier *b = NULL;

    cr_assert_eq(mproc_barrier_new(&b, parties, opts), 0);
    return b;
}

/* Shared with forked parties: each one's pass number, and what each pass
 * handed out. */
#define PASSES 1000
#define PARTIES 5
struct passes {
    _Atomic int pass[PARTIES];
    _Atomic int index_seen[PASSES][PARTIES];
    _Atomic int actions;
};

static struct passes *passes;

static int
count_action(void *ctx)
{
    atomic_fetch_add(&((struct passes *)ctx)->actions, 1);
    return 0;
}

/* n: this party's number. PASSES passes; before each the party records
 * the pass it is in; after it checks that every party is in this pass or
 * the next, never behind nor further ahead. */
static mproc_barrier *fork_barrier;

static int
barrier_party(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);

    for (int k = 0; k < PASSES; k++) {
        int index;

        atomic_store(&passes->pass[j.n], k);
        if (mproc_barrier_wait(fork_barrier, 20, &index) != 0)
            return 10;
        if (index < 0 || index >= PARTIES)
            return 11;
        atomic_fetch_add(&passes->index_seen[k][index], 1);
        for (int q = 0; q < PARTIES; q++) {
            int other = atomic_load(&passes->pass[q]);

            if (other != k && other != k + 1)
                return 12; /* someone ran ahead or fell behind */
        }
    }
    return 0;
}

Test(sync, barrier_never_lets_a_party_run_ahead, .timeout = 120)
{
    mproc_process *p[PARTIES];
    struct job j = job_of();

    passes = shared_page(sizeof(*passes));
    fork_barrier =
        new_barrier(PARTIES, &(mproc_barrier_opts){ .action = count_action,
                                                    .action_ctx = passes });
    for (int i = 0; i < PARTIES; i++) {
        j.n = i;
        p[i] = start(barrier_party, &j, MPROC_START_FORK);
    }
    for (int i = 0; i < PARTIES; i++)
        cr_assert_eq(join(p[i]), 0, "party %d", i);
    /* Each pass handed out each index once, and ran the action once. */
    for (int k = 0; k < PASSES; k++)
        for (int i = 0; i < PARTIES; i++)
            cr_assert_eq(atomic_load(&passes->index_seen[k][i]), 1,
                         "pass %d index %d", k, i);
    cr_assert_eq(atomic_load(&passes->actions), PASSES);
    cr_assert_eq(mproc_barrier_n_waiting(fork_barrier), 0);
    cr_assert_not(mproc_barrier_is_broken(fork_barrier));
    mproc_barrier_free(fork_barrier);
    munmap(passes, sizeof(*passes));
}

/* a: Barrier. Wait with j.timeout; exit 0 when the result is j.expect.
 * b (when n is 1): Event set once this party is about to wait. */
static int
barrier_wait_expect(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_barrier *b = NULL;
    int rc, index = -2;

    if (mproc_barrier_from_token(&b, &j.a) != 0)
        return 10;
    if (j.n == 1) {
        mproc_event *e = NULL;

        if (mproc_event_from_token(&e, &j.b) != 0)
            return 11;
        mproc_event_set(e);
        mproc_event_free(e);
    }
    rc = mproc_barrier_wait(b, j.timeout, &index);
    mproc_barrier_free(b);
    if (rc == 0 && (index < 0 || index >= 8))
        return 21;
    if (rc != 0 && index != -1)
        return 22;
    return rc == j.expect ? 0 : 20;
}

/* Start a party of b and return once it is waiting in the pass: its
 * arrival shows in n_waiting. */
static mproc_process *
party_start(mproc_barrier *b, double timeout, int expect,
            enum mproc_start_method m)
{
    struct job j = job_of();
    int before = mproc_barrier_n_waiting(b);
    mproc_process *p;
    double t0 = th_now();

    cr_assert_eq(mproc_barrier_token(b, &j.a), 0);
    j.timeout = timeout;
    j.expect = expect;
    p = start(barrier_wait_expect, &j, m);
    /* Polls a count the party changes itself: no event to wait on. */
    while (mproc_barrier_n_waiting(b) == before) {
        cr_assert_lt(th_now() - t0, 20.0, "the party never arrived");
        sched_yield();
    }
    return p;
}

Test(sync, barrier_passes_parties_of_every_start_method, .timeout = 30)
{
    mproc_barrier *b = new_barrier(4, NULL);
    mproc_process *p[3];
    int index = -1;

    cr_assert_eq(mproc_barrier_parties(b), 4);
    for (size_t m = 0; m < N_METHODS; m++)
        p[m] = party_start(b, MPROC_FOREVER, 0, methods[m]);
    cr_assert_eq(mproc_barrier_n_waiting(b), 3);
    cr_assert_eq(mproc_barrier_wait(b, 20, &index), 0);
    cr_assert_eq(index, 3);
    for (size_t m = 0; m < N_METHODS; m++)
        cr_assert_eq(join(p[m]), 0);
    cr_assert_eq(mproc_barrier_n_waiting(b), 0);
    mproc_barrier_free(b);
}

Test(sync, barrier_wait_that_times_out_breaks_it, .timeout = 20)
{
    mproc_barrier *b = new_barrier(3, NULL);
    mproc_process *p;
    double t0;
    int index = 7;

    p = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_FORK);
    t0 = th_now();
    cr_assert_eq(mproc_barrier_wait(b, 0.2, &index), MPROC_EBROKEN);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(index, -1);
    cr_assert(mproc_barrier_is_broken(b));
    cr_assert_eq(mproc_barrier_n_waiting(b), 0);
    cr_assert_eq(join(p), 0);
    /* Broken until reset. */
    cr_assert_eq(mproc_barrier_wait(b, 0, NULL), MPROC_EBROKEN);
    cr_assert_eq(mproc_barrier_reset(b), 0);
    cr_assert_not(mproc_barrier_is_broken(b));
    mproc_barrier_free(b);
}

Test(sync, barrier_default_timeout_breaks_it_for_a_late_party, .timeout = 20)
{
    mproc_barrier *b = new_barrier(3, &(mproc_barrier_opts){ .timeout = 0.2 });
    mproc_process *p[2];
    double t0 = th_now();

    /* MPROC_FOREVER means the barrier's own 0.2 s. */
    p[0] = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_FORK);
    p[1] = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_SPAWN);
    cr_assert_eq(join(p[0]), 0);
    cr_assert_eq(join(p[1]), 0);
    th_assert_elapsed(t0, 0.2, 20);
    /* The third party comes too late. */
    cr_assert(mproc_barrier_is_broken(b));
    cr_assert_eq(mproc_barrier_wait(b, MPROC_FOREVER, NULL), MPROC_EBROKEN);
    mproc_barrier_free(b);
}

Test(sync, barrier_reset_breaks_the_waiters_and_stays_usable, .timeout = 30)
{
    mproc_barrier *b = new_barrier(2, NULL);
    mproc_process *p;
    int index = -1;

    p = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_FORK);
    cr_assert_eq(mproc_barrier_reset(b), 0);
    cr_assert_eq(join(p), 0);
    cr_assert_not(mproc_barrier_is_broken(b));
    cr_assert_eq(mproc_barrier_n_waiting(b), 0);
    p = party_start(b, MPROC_FOREVER, 0, MPROC_START_FORK);
    cr_assert_eq(mproc_barrier_wait(b, 20, &index), 0);
    cr_assert_eq(index, 1);
    cr_assert_eq(join(p), 0);
    mproc_barrier_free(b);
}

Test(sync, barrier_abort_breaks_it_until_reset, .timeout = 30)
{
    mproc_barrier *b = new_barrier(2, NULL);
    mproc_process *p;

    p = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_FORKSERVER);
    cr_assert_eq(mproc_barrier_abort(b), 0);
    cr_assert_eq(join(p), 0);
    cr_assert(mproc_barrier_is_broken(b));
    cr_assert_eq(mproc_barrier_n_waiting(b), 0);
    cr_assert_eq(mproc_barrier_wait(b, MPROC_FOREVER, NULL), MPROC_EBROKEN);
    cr_assert_eq(mproc_barrier_reset(b), 0);
    p = party_start(b, MPROC_FOREVER, 0, MPROC_START_FORK);
    cr_assert_eq(mproc_barrier_wait(b, 20, NULL), 0);
    cr_assert_eq(join(p), 0);
    mproc_barrier_free(b);
}

static int
failing_action(void *ctx)
{
    atomic_fetch_add((_Atomic int *)ctx, 1);
    return -1;
}

Test(sync, barrier_action_that_fails_breaks_it_for_everyone, .timeout = 30)
{
    _Atomic int *ran = shared_page(4096);
    mproc_barrier *b =
        new_barrier(3, &(mproc_barrier_opts){ .action = failing_action,
                                              .action_ctx = ran });
    mproc_process *p[2];

    p[0] = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_FORK);
    p[1] = party_start(b, MPROC_FOREVER, MPROC_EBROKEN, MPROC_START_FORK);
    /* This party arrives last: it runs the action, which fails. */
    cr_assert_eq(mproc_barrier_wait(b, 20, NULL), MPROC_EBROKEN);
    cr_assert_eq(join(p[0]), 0);
    cr_assert_eq(join(p[1]), 0);
    cr_assert_eq(atomic_load(ran), 1);
    cr_assert(mproc_barrier_is_broken(b));
    mproc_barrier_free(b);
    munmap((void *)ran, 4096);
}

Test(sync, barrier_party_killed_while_waiting_is_dropped, .timeout = 30)
{
    mproc_barrier *b = new_barrier(2, NULL);
    mproc_process *dead, *p;
    struct job j = job_of();
    int index = -1;

    dead = party_start(b, MPROC_FOREVER, 0, MPROC_START_FORK);
    kill_and_join(dead);
    cr_assert_eq(mproc_barrier_n_waiting(b), 1);
    /* Whichever of the two live parties comes first does not pass with
     * the dead one: it waits for the other. */
    j.timeout = 20;
    cr_assert_eq(mproc_barrier_token(b, &j.a), 0);
    p = start(barrier_wait_expect, &j, MPROC_START_FORK);
    cr_assert_eq(mproc_barrier_wait(b, 20, &index), 0);
    cr_assert(index == 0 || index == 1);
    cr_assert_eq(join(p), 0);
    cr_assert_not(mproc_barrier_is_broken(b));
    mproc_barrier_free(b);
}

/* ---- signals ------------------------------------------------------------ */

Test(sync, waits_resume_after_signals_with_the_time_left, .timeout = 20)
{
    mproc_semaphore *s = new_semaphore(0);
    mproc_event *e = new_event();
    mproc_condition *c = new_condition(NULL);
    mproc_barrier *b = new_barrier(2, NULL);
    struct th_storm storm;
    double t0;

    th_storm_start(&storm);
    t0 = th_now();
    cr_assert_eq(mproc_semaphore_acquire(s, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    t0 = th_now();
    cr_assert_eq(mproc_event_wait(e, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(mproc_condition_acquire(c, 0), 0);
    t0 = th_now();
    cr_assert_eq(mproc_condition_wait(c, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 1.0);
    cr_assert_eq(mproc_condition_release(c), 0);
    t0 = th_now();
    cr_assert_eq(mproc_barrier_wait(b, 0.2, NULL), MPROC_EBROKEN);
    th_assert_elapsed(t0, 0.2, 1.0);
    th_storm_stop(&storm);
    mproc_semaphore_free(s);
    mproc_event_free(e);
    mproc_condition_free(c);
    mproc_barrier_free(b);
}

/* ---- sharing and handles ------------------------------------------------ */

/* a: Lock, b: Semaphore, c: Event. Use each through its token: take the
 * lock, release the semaphore, set the event; exit 0. */
static int
use_tokens(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_lock *l = NULL;
    mproc_semaphore *s = NULL;
    mproc_event *e = NULL;

    if (mproc_lock_from_token(&l, &j.a) != 0 ||
        mproc_semaphore_from_token(&s, &j.b) != 0 ||
        mproc_event_from_token(&e, &j.c) != 0)
        return 10;
    if (mproc_lock_acquire(l, 20) != 0 || mproc_lock_release(l) != 0)
        return 11;
    if (mproc_semaphore_release(s) != 0 || mproc_event_set(e) != 0)
        return 12;
    mproc_lock_free(l);
    mproc_semaphore_free(s);
    mproc_event_free(e);
    return 0;
}

Test(sync, tokens_reach_children_of_every_start_method)
{
    for (size_t m = 0; m < N_METHODS; m++) {
        mproc_lock *l = new_lock();
        mproc_semaphore *s = new_semaphore(0);
        mproc_event *e = new_event();
        struct job j = job_of();
        int v = -1;

        cr_assert_eq(mproc_lock_token(l, &j.a), 0);
        cr_assert_eq(mproc_semaphore_token(s, &j.b), 0);
        cr_assert_eq(mproc_event_token(e, &j.c), 0);
        cr_assert_eq(join(start(use_tokens, &j, methods[m])), 0, "%s",
                     mproc_start_method_name(methods[m]));
        cr_assert(mproc_event_is_set(e));
        cr_assert_eq(mproc_semaphore_get_value(s, &v), 0);
        cr_assert_eq(v, 1);
        cr_assert_not(mproc_lock_locked(l));
        mproc_lock_free(l);
        mproc_semaphore_free(s);
        mproc_event_free(e);
    }
}

/* Fork: the inherited handle is used, then freed, in the child. */
static mproc_lock *inherited;

static int
use_and_free_inherited(const void *arg, size_t len)
{
    mproc_lock *other = NULL;

    (void)arg;
    (void)len;
    if (mproc_lock_acquire(inherited, 20) != 0 ||
        mproc_lock_release(inherited) != 0)
        return 10;
    mproc_lock_free(inherited);
    /* Memory the child frees and takes again is not the parent's lock. */
    if (mproc_lock_new(&other) != 0 || mproc_lock_acquire(other, 0) != 0)
        return 11;
    mproc_lock_free(other);
    return 0;
}

Test(sync, a_forked_child_may_free_its_inherited_handles)
{
    mproc_lock *l = new_lock();
    mproc_lock *fresh = NULL;

    inherited = l;
    cr_assert_eq(th_run(use_and_free_inherited, NULL, 0, NULL), 0);
    /* Still the parent's, unlocked, and distinct from anything new. */
    cr_assert_eq(mproc_lock_acquire(l, 0), 0);
    cr_assert_eq(mproc_lock_new(&fresh), 0);
    cr_assert_eq(mproc_lock_acquire(fresh, 0), 0);
    cr_assert_eq(mproc_lock_release(fresh), 0);
    cr_assert_eq(mproc_lock_release(l), 0);
    mproc_lock_free(fresh);
    mproc_lock_free(l);
}

Test(sync, tokens_of_the_wrong_kind_or_of_freed_objects_are_refused)
{
    mproc_event *keeper = new_event(); /* keeps the arena mapped */
    mproc_lock *l = new_lock(), *l2 = NULL;
    mproc_event *e = NULL;
    mproc_token t, junk;

    cr_assert_eq(mproc_lock_token(l, &t), 0);
    cr_assert_eq(mproc_event_from_token(&e, &t), MPROC_EINVAL);
    cr_assert_null(e);
    memset(&junk, 0x5a, sizeof(junk));
    cr_assert_eq(mproc_lock_from_token(&l2, &junk), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_from_token(&l2, &t), 0);
    mproc_lock_free(l2);
    mproc_lock_free(l);
    /* Every handle freed: the token names nothing any more, even once
     * its memory serves another lock. */
    cr_assert_eq(mproc_lock_from_token(&l2, &t), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_new(&l), 0);
    cr_assert_eq(mproc_lock_from_token(&l2, &t), MPROC_EINVAL);
    cr_assert_null(l2);
    mproc_lock_free(l);
    mproc_event_free(keeper);
}

Test(sync, bad_arguments_are_refused)
{
    mproc_lock *l = new_lock();
    mproc_rlock *r = new_rlock();
    mproc_semaphore *s = new_semaphore(1);
    mproc_event *e = new_event();
    mproc_condition *c = NULL;
    mproc_barrier *b = NULL;
    mproc_semaphore *s2 = (mproc_semaphore *)1;
    mproc_lock *l2 = (mproc_lock *)1;
    mproc_token t;
    int v;

    cr_assert_eq(mproc_lock_new(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_acquire(NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_acquire(l, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_release(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_token(NULL, &t), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_token(l, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_rlock_acquire(r, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_rlock_release(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_semaphore_new(&s2, -1), MPROC_EINVAL);
    cr_assert_null(s2);
    cr_assert_eq(mproc_bounded_semaphore_new(&s2, -1), MPROC_EINVAL);
    cr_assert_eq(mproc_semaphore_acquire(s, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_semaphore_get_value(s, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_semaphore_get_value(NULL, &v), MPROC_EINVAL);
    cr_assert_eq(mproc_event_wait(e, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_event_set(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_condition_new(
                     &c, &(mproc_condition_opts){ .lock = l, .rlock = r }),
                 MPROC_EINVAL);
    cr_assert_null(c);
    cr_assert_eq(mproc_condition_new(&c, NULL), 0);
    cr_assert_eq(mproc_condition_acquire(c, 0), 0);
    cr_assert_eq(mproc_condition_wait(c, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_condition_wait_for(c, NULL, NULL, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_condition_notify(c, -1), MPROC_EINVAL);
    cr_assert_eq(mproc_condition_release(c), 0);
    cr_assert_eq(mproc_barrier_new(&b, 0, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_barrier_new(&b, -3, NULL), MPROC_EINVAL);
    cr_assert_eq(
        mproc_barrier_new(&b, 2, &(mproc_barrier_opts){ .timeout = -1 }),
        MPROC_EINVAL);
    cr_assert_eq(
        mproc_barrier_new(&b, 2, &(mproc_barrier_opts){ .timeout = NAN }),
        MPROC_EINVAL);
    cr_assert_null(b);
    cr_assert_eq(mproc_barrier_new(&b, 1, NULL), 0);
    cr_assert_eq(mproc_barrier_wait(b, NAN, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_barrier_wait(NULL, 0, NULL), MPROC_EINVAL);
    /* One party: every wait passes at once, as index 0. */
    cr_assert_eq(mproc_barrier_wait(b, 0, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(mproc_lock_from_token(NULL, &t), MPROC_EINVAL);
    cr_assert_eq(mproc_lock_from_token(&l2, NULL), MPROC_EINVAL);
    cr_assert_null(l2);
    /* NULL handles: predicates say false, free does nothing. */
    cr_assert_not(mproc_lock_locked(NULL));
    cr_assert_not(mproc_rlock_is_owned(NULL));
    cr_assert_not(mproc_event_is_set(NULL));
    cr_assert_not(mproc_barrier_is_broken(NULL));
    cr_assert_eq(mproc_barrier_parties(NULL), 0);
    mproc_lock_free(NULL);
    mproc_lock_free(l);
    mproc_rlock_free(r);
    mproc_semaphore_free(s);
    mproc_event_free(e);
    mproc_condition_free(c);
    mproc_barrier_free(b);
}

/* a: Event, b: Semaphore "attached", c: Semaphore "go". Attach, say so,
 * wait for go (the parent has freed its handle by then), use the event. */
static int
outlive_parent_handle(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_semaphore *attached = NULL, *go = NULL;
    mproc_event *e = NULL;
    int rc;

    if (mproc_event_from_token(&e, &j.a) != 0 ||
        mproc_semaphore_from_token(&attached, &j.b) != 0 ||
        mproc_semaphore_from_token(&go, &j.c) != 0)
        return 10;
    mproc_semaphore_release(attached);
    if (mproc_semaphore_acquire(go, 20) != 0)
        return 11;
    rc = mproc_event_set(e) == 0 && mproc_event_is_set(e) &&
                 mproc_event_wait(e, 0) == 0
             ? 0
             : 12;
    mproc_event_free(e);
    mproc_semaphore_free(attached);
    mproc_semaphore_free(go);
    return rc;
}

Test(sync, an_object_lives_while_any_process_holds_a_handle)
{
    for (size_t m = 0; m < N_METHODS; m++) {
        mproc_semaphore *attached = new_semaphore(0), *go = new_semaphore(0);
        mproc_event *e = new_event();
        struct job j = job_of();
        mproc_process *p;

        cr_assert_eq(mproc_event_token(e, &j.a), 0);
        cr_assert_eq(mproc_semaphore_token(attached, &j.b), 0);
        cr_assert_eq(mproc_semaphore_token(go, &j.c), 0);
        p = start(outlive_parent_handle, &j, methods[m]);
        cr_assert_eq(mproc_semaphore_acquire(attached, 20), 0);
        mproc_event_free(e); /* the child's handle keeps it */
        cr_assert_eq(mproc_semaphore_release(go), 0);
        cr_assert_eq(join(p), 0, "%s", mproc_start_method_name(methods[m]));
        mproc_semaphore_free(attached);
        mproc_semaphore_free(go);
    }
}

Test(sync, freed_objects_memory_is_reused)
{
    mproc_event *keeper = new_event(); /* keeps the arena mapped */

    /* 20000 barriers of 65536 parties (half a MiB each) would need far
     * more than the arena's segments hold unless freed memory is reused. */
    for (int i = 0; i < 20000; i++) {
        mproc_barrier *b = NULL;

        cr_assert_eq(mproc_barrier_new(&b, 65536, NULL), 0, "round %d", i);
        cr_assert_eq(mproc_barrier_n_waiting(b), 0);
        mproc_barrier_free(b);
    }
    mproc_event_free(keeper);
}

/* a, b: Barriers. Both open here, with the number of parties given. */
static int
open_two_barriers(const void *arg, size_t len)
{
    struct job j = arg_job(arg, len);
    mproc_barrier *first = NULL, *last = NULL;
    int rc = 0;

    if (mproc_barrier_from_token(&first, &j.a) != 0 ||
        mproc_barrier_from_token(&last, &j.b) != 0)
        rc = 10;
    else if (mproc_barrier_parties(first) != j.n ||
             mproc_barrier_parties(last) != j.n)
        rc = 11;
    mproc_barrier_free(first);
    mproc_barrier_free(last);
    return rc;
}

Test(sync, objects_in_every_segment_reach_exec_children, .timeout = 60)
{
    enum {
        N = 2200,
        MANY = 65536
    };
    mproc_barrier **all = calloc(N, sizeof(*all));
    struct job j = job_of();

    /* Half a MiB each (sparse: only their first page is touched): more
     * than one arena segment holds. */
    cr_assert_not_null(all);
    for (int i = 0; i < N; i++)
        cr_assert_eq(mproc_barrier_new(&all[i], MANY, NULL), 0);
    cr_assert_eq(mproc_barrier_token(all[0], &j.a), 0);
    cr_assert_eq(mproc_barrier_token(all[N - 1], &j.b), 0);
    j.n = MANY;
    for (size_t m = 0; m < N_METHODS; m++)
        cr_assert_eq(join(start(open_two_barriers, &j, methods[m])), 0, "%s",
                     mproc_start_method_name(methods[m]));
    for (int i = 0; i < N; i++)
        mproc_barrier_free(all[i]);
    free(all);
}
