/*
 * examples/pipe.c - two processes talking through a Pipe.
 *
 * C twin of the Pipe example of Python's multiprocessing docs ("Exchanging
 * objects between processes") and of the Connection example (send_bytes,
 * recv_bytes, recv_bytes_into), with bytes for objects:
 *
 *     def f(conn):
 *         conn.send_bytes(b'thank you')
 *         conn.close()
 *
 *     parent_conn, child_conn = Pipe()
 *     p = Process(target=f, args=(child_conn,))
 *     p.start()
 *     print(parent_conn.recv_bytes())   # prints "b'thank you'"
 *     p.join()
 *
 * A forked child inherits both ends; it closes the one it does not use, or
 * the parent would never see end of file.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static mproc_conn *parent_conn, *child_conn;

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "pipe: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

static int
f(const void *arg, size_t len)
{
    char buf[64];
    size_t n = 0;

    (void)arg;
    (void)len;
    mproc_conn_free(parent_conn);
    check(mproc_conn_send_bytes(child_conn, "thank you", 0, 9), "send");
    /* recv_bytes_into with a buffer too short: the message waits. */
    if (mproc_conn_recv_bytes_into(child_conn, buf, 4, 0, &n, MPROC_FOREVER) ==
        MPROC_ETOOSHORT)
        printf("child: a %zu-byte message does not fit in 4 bytes\n", n);
    check(mproc_conn_recv_bytes_into(child_conn, buf, sizeof(buf), 0, &n,
                                     MPROC_FOREVER),
          "recv_bytes_into");
    printf("child: got '%.*s'\n", (int)n, buf);
    mproc_conn_free(child_conn);
    return 0;
}

int
main(void)
{
    mproc_process *p;
    mproc_buf m = { 0 };

    check(mproc_pipe(&parent_conn, &child_conn, true), "pipe");
    check(mproc_process_new(&p, f, NULL, 0, NULL), "new");
    check(mproc_process_start(p), "start");
    mproc_conn_free(child_conn);
    check(mproc_conn_recv_bytes(parent_conn, &m, 0, MPROC_FOREVER), "recv");
    printf("parent: got '%.*s'\n", (int)m.len, (const char *)m.data);
    mproc_buf_free(&m);
    check(mproc_conn_send_bytes(parent_conn, "you are welcome", 0, 15), "send");
    check(mproc_process_join(p, MPROC_FOREVER), "join");
    mproc_process_free(p);
    /* The child is gone and closed its end: end of file. */
    printf("parent: after the child: %s\n",
           mproc_strerror(mproc_conn_recv_bytes(parent_conn, &m, 0, 5)));
    mproc_conn_free(parent_conn);
    return 0;
}
