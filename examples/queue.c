/*
 * examples/queue.c - an object through a Queue, as pickle.
 *
 * C twin of the Queue example of Python's multiprocessing docs
 * ("Exchanging objects between processes"):
 *
 *     def f(q):
 *         q.put([42, None, 'hello'])
 *
 *     q = Queue()
 *     p = Process(target=f, args=(q,))
 *     p.start()
 *     print(q.get())    # prints "[42, None, 'hello']"
 *     p.join()
 *
 * The child is started with spawn; the queue reaches it as a token in its
 * argument bytes, which works under every start method (a forked child
 * could also use the inherited handle). There is no feeder thread: the child's
 * put has copied the message into shared memory before it returns, so the child
 * may exit at once and nothing is lost.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "queue: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

static int
f(const void *arg, size_t len)
{
    mproc_queue *q;
    mproc_obj *o;

    if (len != sizeof(mproc_token))
        return 1;
    check(mproc_queue_from_token(&q, arg), "from_token");
    check(mproc_obj_build(&o, "[i n s]", 42, "hello"), "build");
    check(mproc_queue_put_obj(q, o, MPROC_FOREVER), "put");
    mproc_obj_free(o);
    mproc_queue_free(q);
    return 0;
}

int
main(void)
{
    mproc_queue *q;
    mproc_token t;
    mproc_process *p;
    mproc_obj *o;
    mproc_buf text = { 0 };

    check(mproc_queue_new(&q, NULL), "queue");
    check(mproc_queue_token(q, &t), "token");
    check(mproc_process_new(
              &p, f, &t, sizeof(t),
              &(mproc_process_opts){ .start_method = MPROC_START_SPAWN }),
          "new");
    check(mproc_process_start(p), "start");
    check(mproc_queue_get_obj(q, &o, MPROC_FOREVER), "get");
    check(mproc_obj_repr(o, &text), "repr");
    printf("%s\n", (const char *)text.data); /* [42, None, 'hello'] */
    mproc_buf_free(&text);
    mproc_obj_free(o);
    check(mproc_process_join(p, MPROC_FOREVER), "join");
    mproc_process_free(p);
    mproc_queue_free(q);
    return 0;
}
