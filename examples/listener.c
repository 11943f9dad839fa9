/*
 * examples/listener.c - a listener and a client with an authkey.
 *
 * C twin of the Listeners and Clients example of Python's multiprocessing
 * docs, with bytes for objects:
 *
 *     with Listener(address, authkey=b'secret password') as listener:
 *         with listener.accept() as conn:
 *             print('connection accepted from', listener.last_accepted)
 *             conn.send_bytes(b'hello')
 *
 *     with Client(address, authkey=b'secret password') as conn:
 *         print(conn.recv_bytes())
 *
 * The client runs in a child process; a wrong key fails on both sides.
 * Either side could be Python: the framing and the handshake are CPython's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

static const char secret[] = "secret password";

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "listener: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

/* The client: connect to the address it is given, print what comes. */
static int
client(const void *address, size_t len)
{
    char addr[128];
    mproc_conn *conn;
    mproc_buf m = { 0 };
    int rc;

    snprintf(addr, sizeof(addr), "%.*s", (int)len, (const char *)address);
    rc = mproc_client(
        &conn, addr,
        &(mproc_client_opts){ .authkey = "wrong password", .authkey_len = 14 },
        5);
    printf("client with the wrong key: %s\n", mproc_strerror(rc));
    check(mproc_client(&conn, addr,
                       &(mproc_client_opts){ .authkey = secret,
                                             .authkey_len = strlen(secret) },
                       5),
          "client");
    check(mproc_conn_recv_bytes(conn, &m, 0, 5), "recv");
    printf("client got '%.*s'\n", (int)m.len, (const char *)m.data);
    mproc_buf_free(&m);
    mproc_conn_free(conn);
    return 0;
}

int
main(void)
{
    mproc_listener *listener;
    mproc_process *p;
    mproc_conn *conn;
    const char *address;
    int rc;

    check(mproc_listener_new(
              &listener, "tcp://127.0.0.1:0",
              &(mproc_listener_opts){ .authkey = secret,
                                      .authkey_len = strlen(secret) }),
          "listen");
    address = mproc_listener_address(listener);
    printf("listening on %s\n", address);
    check(mproc_process_new(&p, client, address, strlen(address), NULL), "new");
    check(mproc_process_start(p), "start");
    rc = mproc_listener_accept(listener, &conn, 10);
    printf("a client with the wrong key: %s\n", mproc_strerror(rc));
    check(mproc_listener_accept(listener, &conn, 10), "accept");
    printf("connection accepted from %s\n",
           mproc_listener_last_accepted(listener));
    check(mproc_conn_send_bytes(conn, "hello", 0, 5), "send");
    check(mproc_process_join(p, 10), "join");
    mproc_process_free(p);
    mproc_conn_free(conn);
    mproc_listener_free(listener);
    return 0;
}
