/*
 * tests/tsan/conn.c - connections and listeners used from many threads at
 * once, for ThreadSanitizer (plain program: "N passed, N failed").
 *
 * Two threads send on one end of a pipe while two threads receive on the
 * other (each message whole, never interleaved); a listener accepts in two
 * threads while clients connect with an authkey, and is closed while an
 * accept still waits.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

#define MESSAGES 2000

static atomic_int failed;
static mproc_conn *tx, *rx;
static atomic_int received;
static const char key[] = "tsan key";

static void
check(int ok, const char *what)
{
    if (!ok) {
        atomic_fetch_add(&failed, 1);
        fprintf(stderr, "FAIL: %s\n", what);
    }
}

static void *
sender(void *arg)
{
    char msg[200];

    memset(msg, *(const char *)arg, sizeof(msg));
    for (int i = 0; i < MESSAGES; i++)
        check(mproc_conn_send_bytes(tx, msg, 0, 1 + (size_t)i % 200) == 0,
              "send");
    return NULL;
}

static void *
receiver(void *arg)
{
    (void)arg;
    for (;;) {
        mproc_buf m = { 0 };
        int rc = mproc_conn_recv_bytes(rx, &m, 0, 5);

        if (rc != 0) {
            check(rc == MPROC_EEOF, "recv ends at end of file");
            return NULL;
        }
        for (size_t k = 1; k < m.len; k++)
            if (((char *)m.data)[k] != ((char *)m.data)[0]) {
                check(0, "a message was interleaved");
                break;
            }
        atomic_fetch_add(&received, 1);
        mproc_buf_free(&m);
    }
}

static mproc_listener *listener;

static void *
acceptor(void *arg)
{
    (void)arg;
    for (;;) {
        mproc_conn *c = NULL;
        int rc = mproc_listener_accept(listener, &c, 10);

        if (rc == MPROC_ECLOSED)
            return NULL;
        check(rc == 0, "accept");
        mproc_conn_free(c);
    }
}

static void *
client(void *arg)
{
    const char *address = arg;

    for (int i = 0; i < 20; i++) {
        mproc_conn *c = NULL;

        check(mproc_client(&c, address,
                           &(mproc_client_opts){ .authkey = key,
                                                 .authkey_len = sizeof(key) },
                           10) == 0,
              "client");
        mproc_conn_free(c);
    }
    return NULL;
}

int
main(void)
{
    pthread_t s[2], r[2], a[2], c[2];
    char address[64];

    check(mproc_pipe(&rx, &tx, true) == 0, "pipe");
    pthread_create(&s[0], NULL, sender, "x");
    pthread_create(&s[1], NULL, sender, "y");
    pthread_create(&r[0], NULL, receiver, NULL);
    pthread_create(&r[1], NULL, receiver, NULL);
    pthread_join(s[0], NULL);
    pthread_join(s[1], NULL);
    mproc_conn_close(tx);
    pthread_join(r[0], NULL);
    pthread_join(r[1], NULL);
    check(atomic_load(&received) == 2 * MESSAGES, "every message arrived");
    mproc_conn_free(tx);
    mproc_conn_free(rx);

    snprintf(address, sizeof(address), "unix:@mproc-tsan-%d", (int)getpid());
    check(mproc_listener_new(
              &listener, address,
              &(mproc_listener_opts){ .authkey = key,
                                      .authkey_len = sizeof(key) }) == 0,
          "listen");
    pthread_create(&a[0], NULL, acceptor, NULL);
    pthread_create(&a[1], NULL, acceptor, NULL);
    pthread_create(&c[0], NULL, client, address);
    pthread_create(&c[1], NULL, client, address);
    pthread_join(c[0], NULL);
    pthread_join(c[1], NULL);
    mproc_listener_close(listener); /* wakes the waiting accepts */
    pthread_join(a[0], NULL);
    pthread_join(a[1], NULL);
    mproc_listener_free(listener);

    printf("%d passed, %d failed\n", failed == 0 ? 1 : 0, failed);
    return failed == 0 ? 0 : 1;
}
