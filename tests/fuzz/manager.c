/*
 * tests/fuzz/manager.c - libFuzzer harness for a manager's requests (make
 * fuzz): whatever an authenticated peer sends as a request, the server
 * answers it (or drops the connection) and goes on serving; it never
 * crashes, never allocates on a length alone.
 *
 * One server serves in a thread of this process for the whole run; each
 * input is one request on a connection that said HELLO. Inputs that would
 * stop the server (SHUTDOWN) or make it map memory of the size they name
 * (SEGMENT) are skipped. A request that blocks (a get on an empty queue)
 * gets no answer in time: the connection is dropped, which ends the wait
 * in the server within its slice.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

#define KEY "fuzz"
#define SHUTDOWN 6
#define SEGMENT 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static mproc_manager_server *server;
static mproc_conn *peer;

static void *
serve(void *arg)
{
    (void)arg;
    mproc_manager_server_serve_forever(server);
    return NULL;
}

/* A connection that proved the key and said HELLO, or NULL. */
static mproc_conn *
hello(void)
{
    static const unsigned char say[] = { 1,   'm', 'p', 'r', 'o', 'c',
                                         'm', 'g', '1', 7,   0,   0,
                                         0,   0,   0,   0,   0,   0 };
    mproc_client_opts opts = { .authkey = KEY, .authkey_len = strlen(KEY) };
    mproc_buf reply = { 0 };
    mproc_conn *c = NULL;

    if (mproc_client(&c, mproc_manager_server_address(server), &opts, 10) !=
            0 ||
        mproc_conn_send_bytes(c, say, 0, sizeof(say)) != 0 ||
        mproc_conn_recv_bytes(c, &reply, 0, 10) != 0)
        abort(); /* the server must take a well-formed client */
    mproc_buf_free(&reply);
    return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    mproc_buf reply = { 0 };
    pthread_t thread;
    int rc;

    if (server == NULL) {
        if (mproc_manager_server_new(
                &server, &(mproc_manager_opts){ .authkey = KEY,
                                                .authkey_len = strlen(KEY) }) !=
                0 ||
            pthread_create(&thread, NULL, serve, NULL) != 0)
            abort();
    }
    if (len > 60000 || (len > 0 && (data[0] == SHUTDOWN || data[0] == SEGMENT)))
        return 0;
    if (peer == NULL)
        peer = hello();
    rc = mproc_conn_send_bytes(peer, data, 0, len);
    if (rc == 0)
        rc = mproc_conn_recv_bytes(peer, &reply, 1 << 20, 1.0);
    mproc_buf_free(&reply);
    if (rc != 0) {
        /* Dropped by the server, or a request that blocks: start over. */
        mproc_conn_free(peer);
        peer = NULL;
    }
    return 0;
}
