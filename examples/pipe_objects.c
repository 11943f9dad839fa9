/*
 * examples/pipe_objects.c - an object through a Pipe, as pickle.
 *
 * C twin of the first Pipe example of Python's multiprocessing docs
 * ("Exchanging objects between processes"):
 *
 *     def f(conn):
 *         conn.send([42, None, 'hello'])
 *         conn.close()
 *
 *     parent_conn, child_conn = Pipe()
 *     p = Process(target=f, args=(child_conn,))
 *     p.start()
 *     print(parent_conn.recv())   # prints "[42, None, 'hello']"
 *     p.join()
 *
 * The bytes on the wire are the pickle Python's send() writes, so either
 * end could be a Python process.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static mproc_conn *parent_conn, *child_conn;

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "pipe_objects: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

static int
f(const void *arg, size_t len)
{
    mproc_obj *o;

    (void)arg;
    (void)len;
    mproc_conn_free(parent_conn);
    check(mproc_obj_build(&o, "[i n s]", 42, "hello"), "build");
    check(mproc_conn_send_obj(child_conn, o), "send");
    mproc_obj_free(o);
    mproc_conn_free(child_conn);
    return 0;
}

int
main(void)
{
    mproc_process *p;
    mproc_obj *o;
    mproc_buf text = { 0 };

    check(mproc_pipe(&parent_conn, &child_conn, true), "pipe");
    check(mproc_process_new(&p, f, NULL, 0, NULL), "new");
    check(mproc_process_start(p), "start");
    mproc_conn_free(child_conn);
    check(mproc_conn_recv_obj(parent_conn, &o, MPROC_FOREVER), "recv");
    check(mproc_obj_repr(o, &text), "repr");
    printf("%s\n", (const char *)text.data); /* [42, None, 'hello'] */
    mproc_buf_free(&text);
    mproc_obj_free(o);
    check(mproc_process_join(p, MPROC_FOREVER), "join");
    mproc_process_free(p);
    mproc_conn_free(parent_conn);
    return 0;
}
