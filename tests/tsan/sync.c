/*
 * tests/tsan/sync.c - every sync object used from many threads at once,
 * for ThreadSanitizer (which cannot run under Criterion: a plain program
 * printing "N passed, N failed").
 *
 * Threads contend on a Lock and an RLock guarding plain counters, share a
 * Semaphore that admits two at a time, pass items through a Condition,
 * ping-pong through two Events, meet at a Barrier pass after pass, and
 * create, share by token and free objects concurrently (the arena and its
 * registry).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <mproc.h>

#define THREADS 4
#define ROUNDS 2000

static atomic_int failed;

static void
check(int ok, const char *what)
{
    if (!ok) {
        atomic_fetch_add(&failed, 1);
        fprintf(stderr, "FAIL: %s\n", what);
    }
}

static struct {
    mproc_lock *lock;
    mproc_rlock *rlock;
    mproc_semaphore *sem;
    mproc_condition *cond;
    mproc_barrier *barrier;
    long locked_count;  /* under lock */
    long rlocked_count; /* under rlock */
    atomic_int inside;  /* holders of sem now */
    int items;          /* under cond */
    atomic_int seen[THREADS];
} s;

static void *
worker(void *arg)
{
    int me = (int)(long)arg;

    for (int i = 0; i < ROUNDS; i++) {
        check(mproc_lock_acquire(s.lock, MPROC_FOREVER) == 0, "lock");
        s.locked_count++;
        check(mproc_lock_release(s.lock) == 0, "unlock");

        check(mproc_rlock_acquire(s.rlock, MPROC_FOREVER) == 0, "rlock");
        check(mproc_rlock_acquire(s.rlock, 0) == 0, "rlock again");
        s.rlocked_count++;
        check(mproc_rlock_release(s.rlock) == 0, "runlock");
        check(mproc_rlock_release(s.rlock) == 0, "runlock again");

        check(mproc_semaphore_acquire(s.sem, MPROC_FOREVER) == 0, "sem");
        check(atomic_fetch_add(&s.inside, 1) < 2, "two at most");
        atomic_fetch_sub(&s.inside, 1);
        check(mproc_semaphore_release(s.sem) == 0, "sem release");
    }
    /* Barrier passes: nobody runs ahead. */
    for (int k = 0; k < 300; k++) {
        atomic_store(&s.seen[me], k);
        check(mproc_barrier_wait(s.barrier, 20, NULL) == 0, "barrier");
        for (int q = 0; q < THREADS; q++) {
            int other = atomic_load(&s.seen[q]);

            check(other == k || other == k + 1, "barrier run-ahead");
        }
    }
    return NULL;
}

static void *
consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        check(mproc_condition_acquire(s.cond, MPROC_FOREVER) == 0, "c acq");
        while (s.items == 0)
            check(mproc_condition_wait(s.cond, 20) == 0, "c wait");
        s.items--;
        check(mproc_condition_release(s.cond) == 0, "c rel");
    }
    return NULL;
}

static void *
producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2 * ROUNDS; i++) {
        check(mproc_condition_acquire(s.cond, MPROC_FOREVER) == 0, "p acq");
        s.items++;
        check(mproc_condition_notify(s.cond, 1) == 0, "notify");
        check(mproc_condition_release(s.cond) == 0, "p rel");
    }
    return NULL;
}

static mproc_event *ping, *pong;

static void *
ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        check(mproc_event_wait(ping, 20) == 0, "ping");
        mproc_event_clear(ping);
        mproc_event_set(pong);
    }
    return NULL;
}

/* Objects made, shared by token and freed concurrently. */
static void *
churner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++) {
        mproc_event *e = NULL, *e2 = NULL;
        mproc_lock *l = NULL;
        mproc_token t;

        check(mproc_event_new(&e) == 0, "event new");
        check(mproc_lock_new(&l) == 0, "lock new");
        check(mproc_event_token(e, &t) == 0, "token");
        check(mproc_event_from_token(&e2, &t) == 0, "from token");
        mproc_event_set(e2);
        check(mproc_event_is_set(e), "same event");
        mproc_event_free(e);
        mproc_event_free(e2);
        mproc_lock_free(l);
    }
    return NULL;
}

int
main(void)
{
    pthread_t t[THREADS], c[2], p, pp, ch[2];
    int ok = 0;

    check(mproc_lock_new(&s.lock) == 0, "new lock");
    check(mproc_rlock_new(&s.rlock) == 0, "new rlock");
    check(mproc_semaphore_new(&s.sem, 2) == 0, "new sem");
    check(mproc_condition_new(&s.cond, NULL) == 0, "new cond");
    check(mproc_barrier_new(&s.barrier, THREADS, NULL) == 0, "new barrier");
    check(mproc_event_new(&ping) == 0 && mproc_event_new(&pong) == 0,
          "new events");
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 2; i++) {
        pthread_create(&c[i], NULL, consumer, NULL);
        pthread_create(&ch[i], NULL, churner, NULL);
    }
    pthread_create(&p, NULL, producer, NULL);
    pthread_create(&pp, NULL, ponger, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        mproc_event_set(ping);
        check(mproc_event_wait(pong, 20) == 0, "pong");
        mproc_event_clear(pong);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        pthread_join(c[i], NULL);
        pthread_join(ch[i], NULL);
    }
    pthread_join(p, NULL);
    pthread_join(pp, NULL);
    check(s.locked_count == THREADS * ROUNDS, "lock count");
    check(s.rlocked_count == THREADS * ROUNDS, "rlock count");
    check(s.items == 0, "items");
    mproc_lock_free(s.lock);
    mproc_rlock_free(s.rlock);
    mproc_semaphore_free(s.sem);
    mproc_condition_free(s.cond);
    mproc_barrier_free(s.barrier);
    mproc_event_free(ping);
    mproc_event_free(pong);
    ok = atomic_load(&failed) == 0;
    printf("%d passed, %d failed\n", ok, !ok);
    return ok ? 0 : 1;
}
