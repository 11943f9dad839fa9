/*
 * tests/tsan/manager.c - a manager's server and its client used from many
 * threads at once, in one process, for ThreadSanitizer (a plain program
 * printing "N passed, N failed").
 *
 * The server serves in a thread of this process (its connection threads,
 * object table and sessions are then under TSan's eye too). Client
 * threads share proxies: a dict's and a queue's typed calls on the shared
 * memory, list appends and Lock round trips through the server, proxies
 * made and freed, and short-lived threads whose connections close as they
 * end.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <mproc.h>

#define THREADS 4
#define ROUNDS 300
#define KEY "tsan"

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
    mproc_manager_server *server;
    mproc_manager *m;
    mproc_proxy *dict, *list, *queue, *lock;
    long guarded; /* under the managed lock */
} s;

static void *
serve(void *arg)
{
    (void)arg;
    check(mproc_manager_server_serve_forever(s.server) == 0, "serve");
    return NULL;
}

/* One call, then the thread ends (its connection closes with it). */
static void *
one_call(void *arg)
{
    mproc_obj *item = NULL;

    (void)arg;
    check(mproc_proxy_callf(s.list, "append", NULL, "i", -1) == 0,
          "append once");
    check(mproc_proxy_getvalue(s.list, &item) == 0, "getvalue");
    mproc_obj_free(item);
    return NULL;
}

static void *
worker(void *arg)
{
    int me = (int)(long)arg;
    mproc_obj *key, *v, *got;
    mproc_proxy *mine;

    check(mproc_obj_int(&key, me) == 0, "key");
    for (int i = 0; i < ROUNDS; i++) {
        pthread_t t;

        check(mproc_obj_int(&v, i) == 0, "int");
        check(mproc_proxy_setitem(s.dict, key, v) == 0, "d[k] = i");
        check(mproc_proxy_getitem(s.dict, key, &got) == 0, "d[k]");
        check(mproc_obj_equal(got, v), "d[k] == i");
        mproc_obj_free(got);
        check(mproc_proxy_put(s.queue, v, MPROC_FOREVER) == 0, "put");
        check(mproc_proxy_get(s.queue, &got, MPROC_FOREVER) == 0, "get");
        mproc_obj_free(got);
        mproc_obj_free(v);

        check(mproc_proxy_callf(s.list, "append", NULL, "i", me) == 0,
              "append");
        check(mproc_proxy_acquire(s.lock, MPROC_FOREVER) == 0, "acquire");
        s.guarded++;
        check(mproc_proxy_release(s.lock) == 0, "release");

        if (i % 50 == 0) {
            check(mproc_manager_dict(s.m, NULL, &mine) == 0, "new dict");
            check(mproc_proxy_setitem(mine, key, key) == 0, "mine[k]");
            mproc_proxy_free(mine);
            check(pthread_create(&t, NULL, one_call, NULL) == 0, "thread");
            pthread_join(t, NULL);
        }
    }
    mproc_obj_free(key);
    return NULL;
}

int
main(void)
{
    mproc_manager_opts opts = { .authkey = KEY, .authkey_len = strlen(KEY) };
    pthread_t server_thread, threads[THREADS];
    size_t n = 0;

    check(mproc_manager_server_new(&s.server, &opts) == 0, "server");
    check(pthread_create(&server_thread, NULL, serve, NULL) == 0, "serve");
    check(mproc_manager_connect(&s.m, mproc_manager_server_address(s.server),
                                &opts, 10) == 0,
          "connect");
    check(mproc_manager_dict(s.m, NULL, &s.dict) == 0, "dict");
    check(mproc_manager_list(s.m, NULL, &s.list) == 0, "list");
    check(mproc_manager_queue(s.m, 0, false, &s.queue) == 0, "queue");
    check(mproc_manager_lock(s.m, false, &s.lock) == 0, "lock");
    for (long i = 0; i < THREADS; i++)
        check(pthread_create(&threads[i], NULL, worker, (void *)i) == 0,
              "start");
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);

    check(s.guarded == (long)THREADS * ROUNDS, "the lock guarded");
    check(mproc_proxy_len(s.list, &n) == 0, "len(l)");
    check(n == (size_t)THREADS * (ROUNDS + ROUNDS / 50), "every append");
    check(mproc_proxy_len(s.dict, &n) == 0 && n == THREADS, "len(d)");
    mproc_proxy_free(s.dict);
    mproc_proxy_free(s.list);
    mproc_proxy_free(s.queue);
    mproc_proxy_free(s.lock);
    check(mproc_manager_shutdown(s.m) == 0, "shutdown");
    pthread_join(server_thread, NULL);
    mproc_manager_free(s.m);
    mproc_manager_server_free(s.server);
    printf("%d passed, %d failed\n", atomic_load(&failed) ? 0 : 1,
           atomic_load(&failed));
    return atomic_load(&failed) != 0;
}
