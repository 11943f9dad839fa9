/*
 * manager/proxy.c - the client side of managers: Python's BaseManager
 * (start, connect, shutdown) and BaseProxy.
 *
 * A manager handle and its proxies share one `struct client`, counted by
 * references, so a proxy may outlive the handle. Each thread talks over a
 * connection of its own (found through a pthread key: no lock on the call
 * path), so the server's thread for that connection is the caller's
 * stand-in (an RLock acquired over it is owned by the calling thread).
 * The process's home connection, opened first, carries nothing but its
 * own life: when it closes, the server drops the process's references.
 *
 * Fork: the fork generation counts forks in this process's ancestry. A
 * client whose connections belong to an older generation opens new ones
 * (and a new session) on first use; a proxy whose reference belongs to an
 * older generation takes one for this process first (Python's
 * BaseProxy._after_fork).
 *
 * One call costs: one send and one read on this side (conn.c's exchange
 * receive), one wake-up of the server's thread and one of the caller. A
 * dict's or a queue's typed calls cost none of that once their memory is
 * mapped here (local()).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue.h"
#include "../sys/sys.h"
#include "../value/proxy.h"
#include "manager.h"
#include "mproc/listener.h"

#define CONNECT_S 30.0
#define SERVER_START_S 30.0

struct tconn {
    struct tconn *next;
    mproc_conn *conn;
    unsigned gen;
};

struct client {
    struct client *next_live; /* in `live`, under live_mu */
    atomic_size_t refs;
    char *address;
    char server_address[MPROC__PROXY_ADDRESS_MAX + 1];
    unsigned char *authkey;
    size_t authkey_len;
    pthread_key_t key;
    pthread_mutex_t mu;
    unsigned gen; /* of home and the session */
    uint64_t session;
    mproc_conn *home;
    struct tconn *conns; /* every thread's, current or stale */
};

/* The clients alive in this process: a thread's connection is closed when
 * the thread ends (the key's destructor), unless its client went first,
 * which the destructor learns here, under live_mu, before touching it. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct client *live;

struct mproc_manager {
    struct client *client;
    mproc_process *server; /* NULL for a connected manager */
    unsigned gen;          /* the fork generation that started the server */
    double shutdown_timeout;
    pthread_mutex_t mu;
    bool shut;
};

struct mproc_proxy {
    struct client *client;
    uint64_t id;
    atomic_uint gen; /* the fork generation whose reference this holds */
    pthread_mutex_t mu;
    /* A dict's or queue's memory, mapped here (local: 1) for calls with
     * no round trip; 0 before the first try, -1 when it cannot be. */
    atomic_int local;
    struct shdict *dict;
    mproc_queue *queue;
    char type_id[MGR_TYPEID_MAX + 1];
};

/* ---- connections --------------------------------------------------------- */

/* A thread ended: close its connection to a client, if the client is
 * still alive (it closes what is left when it goes). */
static void
tconn_close(void *arg)
{
    struct tconn *t = arg, **at;
    bool found = false;

    pthread_mutex_lock(&live_mu);
    for (struct client *c = live; c != NULL && !found; c = c->next_live) {
        pthread_mutex_lock(&c->mu);
        for (at = &c->conns; *at != NULL; at = &(*at)->next)
            if (*at == t) {
                *at = t->next;
                found = true;
                break;
            }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&live_mu);
    if (found) {
        mproc_conn_free(t->conn);
        free(t);
    }
}

/* Connect, prove the key both ways, and say HELLO. */
static int
open_conn(struct client *c, bool home, double timeout, mproc_conn **out)
{
    mproc_client_opts opts = { .authkey = c->authkey,
                               .authkey_len = c->authkey_len };
    struct wmsg w;
    struct rmsg r;
    mproc_conn *conn;
    uint8_t status;
    int rc = mproc_client(&conn, c->address, &opts, timeout);

    if (rc < 0)
        return rc;
    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, MGR_HELLO);
    mproc__wmsg_bytes(&w, MGR_MAGIC, MGR_MAGIC_LEN);
    mproc__wmsg_u64(&w, c->session);
    mproc__wmsg_u8(&w, home);
    rc = mproc__wmsg_send(&w, conn);
    mproc__wmsg_free(&w);
    if (rc == 0)
        rc = mproc__rmsg_recv(&r, conn, false, timeout);
    if (rc == 0) {
        if (mproc__rmsg_u8(&r, &status) < 0 || status != MGR_OK ||
            r.left < MGR_MAGIC_LEN ||
            memcmp(r.p, MGR_MAGIC, MGR_MAGIC_LEN) != 0 ||
            r.left - MGR_MAGIC_LEN > MPROC__PROXY_ADDRESS_MAX)
            rc = MPROC_EPROTOCOL;
        else if (home) {
            memcpy(c->server_address, r.p + MGR_MAGIC_LEN,
                   r.left - MGR_MAGIC_LEN);
            c->server_address[r.left - MGR_MAGIC_LEN] = '\0';
        }
        mproc__rmsg_free(&r);
    }
    if (rc < 0) {
        mproc_conn_free(conn);
        return rc == MPROC_EEOF ? MPROC_EPROTOCOL : rc;
    }
    *out = conn;
    return 0;
}

/* Start this generation's session: a fresh id and its home connection.
 * Caller holds mu. */
static int
session_start_locked(struct client *c, unsigned gen, double timeout)
{
    int rc;

    for (struct tconn *t = c->conns; t != NULL; t = t->next)
        if (t->gen != gen && t->conn != NULL) {
            mproc_conn_free(t->conn); /* the parent's: ours is a copy */
            t->conn = NULL;
        }
    mproc_conn_free(c->home);
    c->home = NULL;
    rc = mproc__random_bytes(&c->session, sizeof c->session);
    if (rc == 0)
        rc = open_conn(c, true, timeout, &c->home);
    if (rc == 0)
        c->gen = gen;
    return rc;
}

/* The calling thread's connection, opened on first use. */
static int
thread_conn(struct client *c, mproc_conn **out)
{
    unsigned gen = mproc__fork_generation();
    struct tconn *t = pthread_getspecific(c->key);
    bool listed = false;
    int rc = 0;

    if (t != NULL && t->gen == gen && t->conn != NULL) {
        *out = t->conn;
        return 0;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_lock(&c->mu);
    if (c->home == NULL || c->gen != gen)
        rc = session_start_locked(c, gen, CONNECT_S);
    if (rc == 0)
        rc = open_conn(c, false, CONNECT_S, &t->conn);
    if (rc == 0) {
        listed = true;
        t->gen = gen;
        t->next = c->conns;
        c->conns = t;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0)
        rc = pthread_setspecific(c->key, t) == 0 ? 0 : MPROC_ENOMEM;
    if (rc < 0) {
        if (!listed)
            free(t);
        return rc;
    }
    *out = t->conn;
    return 0;
}

static void
client_release(struct client *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_lock(&live_mu);
    for (struct client **at = &live; *at != NULL; at = &(*at)->next_live)
        if (*at == c) {
            *at = c->next_live;
            break;
        }
    pthread_key_delete(c->key);
    pthread_mutex_unlock(&live_mu);
    while (c->conns != NULL) {
        struct tconn *t = c->conns;

        c->conns = t->next;
        mproc_conn_free(t->conn);
        free(t);
    }
    mproc_conn_free(c->home);
    pthread_mutex_destroy(&c->mu);
    free(c->authkey);
    free(c->address);
    free(c);
}

static int
client_new(struct client **out, const char *address,
           const mproc_manager_opts *opts, double timeout)
{
    struct client *c = calloc(1, sizeof *c);
    const void *key = opts->authkey;
    size_t key_len = opts->authkey_len;
    int rc;

    if (c == NULL)
        return MPROC_ENOMEM;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_key_create(&c->key, tconn_close) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return -EAGAIN;
    }
    if (key == NULL)
        key = mproc_process_authkey(mproc_current_process(), &key_len);
    c->address = strdup(address);
    c->authkey = malloc(key_len > 0 ? key_len : 1);
    rc = c->address == NULL || c->authkey == NULL ? MPROC_ENOMEM : 0;
    if (rc == 0 && key_len > 0)
        memcpy(c->authkey, key, key_len);
    c->authkey_len = key_len;
    if (rc == 0) {
        pthread_mutex_lock(&c->mu);
        rc = session_start_locked(c, mproc__fork_generation(), timeout);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&live_mu);
    c->next_live = live;
    live = c;
    pthread_mutex_unlock(&live_mu);
    if (rc < 0) {
        client_release(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- requests ------------------------------------------------------------ */

struct reply {
    uint8_t status;
    uint64_t id;                      /* PROXY */
    char type_id[MGR_TYPEID_MAX + 1]; /* PROXY */
    struct rmsg r;                    /* OK: the rest; ERROR: the words */
};

/* Send w over the thread's connection and read the reply: 0 with the
 * reply (free it with mproc__rmsg_free(&reply->r)), or the failure (a
 * remote one with its words in message). */
static int
request_on(struct client *c, struct wmsg *w, struct reply *reply,
           mproc_buf *message, int *fd)
{
    mproc_conn *conn = NULL;
    int32_t code;
    int rc = w->failed;

    if (message != NULL)
        *message = (mproc_buf){ 0 };
    if (rc == 0)
        rc = thread_conn(c, &conn);
    if (rc == 0)
        rc = mproc__wmsg_send(w, conn);
    mproc__wmsg_free(w);
    if (rc == 0)
        rc = mproc__rmsg_recv(&reply->r, conn, fd != NULL, MPROC_FOREVER);
    if (rc < 0)
        return rc;
    rc = mproc__rmsg_u8(&reply->r, &reply->status);
    if (rc == 0 && reply->status == MGR_PROXY) {
        rc = mproc__rmsg_u64(&reply->r, &reply->id);
        if (rc == 0)
            rc = mproc__rmsg_str8(&reply->r, reply->type_id,
                                  sizeof reply->type_id);
    } else if (rc == 0 && reply->status == MGR_ERROR) {
        rc = mproc__rmsg_i32(&reply->r, &code);
        if (rc == 0)
            rc = code < 0 ? code : MPROC_EPROTOCOL;
        if (message != NULL && reply->r.left > 0 &&
            (message->data = malloc(reply->r.left + 1)) != NULL) {
            memcpy(message->data, reply->r.p, reply->r.left);
            ((char *)message->data)[reply->r.left] = '\0';
            message->len = reply->r.left;
        }
    } else if (rc == 0 && reply->status != MGR_OK) {
        rc = MPROC_EPROTOCOL;
    }
    if (rc == 0 && fd != NULL)
        rc = mproc_conn_recv_fds(conn, fd, 1, MPROC_FOREVER);
    if (rc < 0)
        mproc__rmsg_free(&reply->r);
    return rc;
}

static int
request(struct client *c, struct wmsg *w, struct reply *reply,
        mproc_buf *message)
{
    return request_on(c, w, reply, message, NULL);
}

/* A request carrying only an id (INCREF, DECREF). */
static int
request_id(struct client *c, uint8_t op, uint64_t id)
{
    struct reply reply;
    struct wmsg w;
    int rc;

    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, op);
    mproc__wmsg_u64(&w, id);
    rc = request(c, &w, &reply, NULL);
    if (rc == 0)
        mproc__rmsg_free(&reply.r);
    return rc;
}

static int
proxy_new(struct client *c, uint64_t id, const char *type_id, mproc_proxy **out)
{
    mproc_proxy *p = calloc(1, sizeof *p);

    if (p == NULL) {
        request_id(c, MGR_DECREF, id);
        return MPROC_ENOMEM;
    }
    atomic_fetch_add(&c->refs, 1);
    p->client = c;
    p->id = id;
    atomic_init(&p->gen, mproc__fork_generation());
    pthread_mutex_init(&p->mu, NULL);
    strcpy(p->type_id, type_id);
    *out = p;
    return 0;
}

/* A reply that carries a new object: the proxy to it. */
static int
reply_to_proxy(struct client *c, struct reply *reply, mproc_proxy **out)
{
    int rc = reply->status == MGR_PROXY ? 0 : MPROC_EPROTOCOL;

    mproc__rmsg_free(&reply->r);
    if (rc < 0)
        return rc;
    return proxy_new(c, reply->id, reply->type_id, out);
}

/* Make sure this process holds its own reference (a forked child's first
 * use of an inherited proxy). */
static int
proxy_own(mproc_proxy *p)
{
    unsigned gen = mproc__fork_generation();
    int rc = 0;

    if (atomic_load_explicit(&p->gen, memory_order_acquire) == gen)
        return 0;
    pthread_mutex_lock(&p->mu);
    if (atomic_load(&p->gen) != gen) {
        rc = request_id(p->client, MGR_INCREF, p->id);
        if (rc == 0)
            atomic_store_explicit(&p->gen, gen, memory_order_release);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- managers ------------------------------------------------------------ */

static const mproc_manager_opts no_opts;

static int
manager_alloc(mproc_manager **out, const mproc_manager_opts *opts)
{
    mproc_manager *m = calloc(1, sizeof *m);

    if (m == NULL)
        return MPROC_ENOMEM;
    if (isnan(opts->shutdown_timeout))
        return free(m), MPROC_EINVAL;
    m->shutdown_timeout =
        opts->shutdown_timeout > 0 ? opts->shutdown_timeout : 1.0;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

int
mproc_manager_connect(mproc_manager **out, const char *address,
                      const mproc_manager_opts *opts, double timeout)
{
    mproc_manager *m;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || address == NULL || isnan(timeout))
        return MPROC_EINVAL;
    if (opts == NULL)
        opts = &no_opts;
    rc = manager_alloc(&m, opts);
    if (rc < 0)
        return rc;
    rc = client_new(&m->client, address, opts, timeout);
    if (rc < 0) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* What the parent hands the forked server (fork shares the memory, so
 * pointers stay good). */
struct start {
    const mproc_manager_opts *opts;
    mproc_conn *report; /* the pipe's write end */
};

static int
run_server(const void *arg, size_t len)
{
    const struct start *st = *(struct start *const *)arg;
    mproc_manager_server *s;
    int rc;

    (void)len;
    mproc__sig_ignore(SIGINT);
    rc = mproc_manager_server_new(&s, st->opts);
    if (rc < 0) {
        char code[16];

        snprintf(code, sizeof code, "%d", rc);
        mproc_conn_send_bytes(st->report, code, 0, strlen(code));
        return 1;
    }
    mproc_conn_send_bytes(st->report, mproc_manager_server_address(s), 0,
                          strlen(mproc_manager_server_address(s)));
    mproc_conn_free(st->report);
    if (st->opts->initializer != NULL)
        st->opts->initializer(st->opts->initializer_arg);
    rc = mproc_manager_server_serve_forever(s);
    mproc_manager_server_free(s);
    return rc < 0 ? 1 : 0;
}

/* Fork the server and learn its address (or why it failed). */
static int
start_server(mproc_manager *m, const mproc_manager_opts *opts, char **address)
{
    struct start st = { .opts = opts };
    const struct start *arg = &st;
    mproc_conn *r = NULL;
    mproc_buf said = { 0 };
    int rc = mproc_pipe(&r, &st.report, false);

    if (rc == 0)
        rc = mproc_process_new(
            &m->server, run_server, &arg, sizeof arg,
            &(mproc_process_opts){ .name = "SyncManager",
                                   .daemon = true,
                                   .start_method = MPROC_START_FORK });
    if (rc == 0)
        rc = mproc_process_start(m->server);
    mproc_conn_free(st.report);
    if (rc == 0)
        rc = mproc_conn_recv_bytes(r, &said, 4096, SERVER_START_S);
    mproc_conn_free(r);
    if (rc == MPROC_EEOF)
        rc = -ECHILD; /* it died before it could say */
    if (rc == 0 && (said.len == 0 || ((char *)said.data)[0] == '-')) {
        rc = said.len > 0 ? atoi(said.data) : MPROC_EPROTOCOL;
        if (rc >= 0)
            rc = MPROC_EPROTOCOL;
    }
    if (rc == 0) {
        *address = strndup(said.data, said.len);
        if (*address == NULL)
            rc = MPROC_ENOMEM;
    }
    mproc_buf_free(&said);
    return rc;
}

int
mproc_manager_new(mproc_manager **out, const mproc_manager_opts *opts)
{
    mproc_manager *m;
    char *address = NULL;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &no_opts;
    rc = manager_alloc(&m, opts);
    if (rc < 0)
        return rc;
    m->gen = mproc__fork_generation();
    rc = start_server(m, opts, &address);
    if (rc == 0)
        rc = client_new(&m->client, address, opts, CONNECT_S);
    free(address);
    if (rc < 0) {
        mproc_manager_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

const char *
mproc_manager_address(const mproc_manager *m)
{
    return m != NULL && m->client != NULL ? m->client->address : "";
}

mproc_process *
mproc_manager_process(const mproc_manager *m)
{
    return m != NULL ? m->server : NULL;
}

/* Wait for the server process to end, then make it. */
static void
reap_server(mproc_manager *m)
{
    if (mproc_process_join(m->server, m->shutdown_timeout) == 0 &&
        mproc_process_exitcode(m->server) != MPROC_EXITCODE_NONE)
        return;
    mproc_process_terminate(m->server);
    if (mproc_process_join(m->server, 1.0) == 0 &&
        mproc_process_exitcode(m->server) != MPROC_EXITCODE_NONE)
        return;
    mproc_process_kill(m->server);
    mproc_process_join(m->server, MPROC_FOREVER);
}

int
mproc_manager_shutdown(mproc_manager *m)
{
    struct reply reply;
    struct wmsg w;
    int rc = 0;

    if (m == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&m->mu);
    if (!m->shut && m->client != NULL) {
        mproc__wmsg_init(&w);
        mproc__wmsg_u8(&w, MGR_SHUTDOWN);
        rc = request(m->client, &w, &reply, NULL);
        if (rc == 0)
            mproc__rmsg_free(&reply.r);
    }
    if (!m->shut && m->server != NULL)
        reap_server(m);
    if (m->server != NULL && rc < 0 &&
        mproc_process_exitcode(m->server) != MPROC_EXITCODE_NONE)
        rc = 0; /* it is gone, which is what was asked */
    m->shut = true;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void
mproc_manager_free(mproc_manager *m)
{
    if (m == NULL)
        return;
    if (m->server != NULL) {
        /* A forked child's copy of the handle leaves the server alone. */
        if (m->gen == mproc__fork_generation() &&
            mproc_process_exitcode(m->server) == MPROC_EXITCODE_NONE &&
            mproc_process_pid(m->server) > 0)
            mproc_manager_shutdown(m);
        mproc_process_free(m->server);
    }
    client_release(m->client);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- creating objects ---------------------------------------------------- */

int
mproc_manager_create(mproc_manager *m, const char *type_id,
                     const mproc_obj *args, mproc_proxy **out)
{
    struct reply reply;
    struct wmsg w;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (m == NULL || type_id == NULL || out == NULL ||
        (args != NULL && mproc_obj_type(args) != MPROC_OBJ_TUPLE) ||
        strlen(type_id) == 0 || strlen(type_id) > MGR_TYPEID_MAX)
        return MPROC_EINVAL;
    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, MGR_CREATE);
    mproc__wmsg_str8(&w, type_id);
    mproc__wmsg_obj(&w, args);
    rc = request(m->client, &w, &reply, NULL);
    return rc < 0 ? rc : reply_to_proxy(m->client, &reply, out);
}

/* Create with arguments built by a format (mproc_obj_build()). */
static int
createf(mproc_manager *m, const char *type_id, mproc_proxy **out,
        const char *fmt, ...)
{
    mproc_obj *args;
    va_list ap;
    int rc;

    if (out != NULL)
        *out = NULL;
    va_start(ap, fmt);
    rc = mproc_obj_vbuild(&args, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return rc;
    rc = mproc_manager_create(m, type_id, args, out);
    mproc_obj_free(args);
    return rc;
}

int
mproc_manager_dict(mproc_manager *m, const mproc_obj *init, mproc_proxy **out)
{
    if (init != NULL && mproc_obj_type(init) != MPROC_OBJ_DICT)
        return MPROC_EINVAL;
    return init != NULL ? createf(m, "dict", out, "(O)", init)
                        : createf(m, "dict", out, "()");
}

int
mproc_manager_list(mproc_manager *m, const mproc_obj *init, mproc_proxy **out)
{
    return init != NULL ? createf(m, "list", out, "(O)", init)
                        : createf(m, "list", out, "()");
}

int
mproc_manager_namespace(mproc_manager *m, mproc_proxy **out)
{
    return createf(m, "Namespace", out, "()");
}

int
mproc_manager_queue(mproc_manager *m, int maxsize, bool joinable,
                    mproc_proxy **out)
{
    return createf(m, joinable ? "JoinableQueue" : "Queue", out, "(i)",
                   maxsize > 0 ? maxsize : 0);
}

int
mproc_manager_lock(mproc_manager *m, bool recursive, mproc_proxy **out)
{
    return createf(m, recursive ? "RLock" : "Lock", out, "()");
}

int
mproc_manager_semaphore(mproc_manager *m, int value, bool bounded,
                        mproc_proxy **out)
{
    if (value < 0)
        return MPROC_EINVAL;
    return createf(m, bounded ? "BoundedSemaphore" : "Semaphore", out, "(i)",
                   value);
}

int
mproc_manager_condition(mproc_manager *m, mproc_proxy *lock, mproc_proxy **out)
{
    mproc_obj *over;
    int rc;

    if (lock == NULL)
        return createf(m, "Condition", out, "()");
    rc = mproc_proxy_obj(lock, &over);
    if (rc == 0) {
        rc = createf(m, "Condition", out, "(O)", over);
        mproc_obj_free(over);
    }
    return rc;
}

int
mproc_manager_event(mproc_manager *m, mproc_proxy **out)
{
    return createf(m, "Event", out, "()");
}

int
mproc_manager_barrier(mproc_manager *m, int parties, double timeout,
                      mproc_proxy **out)
{
    if (isnan(timeout))
        return MPROC_EINVAL;
    return createf(m, "Barrier", out, "(i d)", parties, timeout);
}

int
mproc_manager_value(mproc_manager *m, const char *typecode,
                    const mproc_obj *value, mproc_proxy **out)
{
    if (typecode == NULL || value == NULL)
        return MPROC_EINVAL;
    return createf(m, "Value", out, "(s O)", typecode, value);
}

int
mproc_manager_array(mproc_manager *m, const char *typecode,
                    const mproc_obj *sequence, mproc_proxy **out)
{
    if (typecode == NULL || sequence == NULL)
        return MPROC_EINVAL;
    return createf(m, "Array", out, "(s O)", typecode, sequence);
}

/* ---- SharedMemoryManager ------------------------------------------------- */

/* Ask the server for a segment; its name comes back. */
static int
request_segment(mproc_manager *m, uint8_t op, size_t size,
                const mproc_obj *items, char *name)
{
    struct reply reply;
    struct wmsg w;
    int rc;

    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, op);
    if (op == MGR_SEGMENT)
        mproc__wmsg_u64(&w, size);
    else
        mproc__wmsg_obj(&w, items);
    rc = request(m->client, &w, &reply, NULL);
    if (rc < 0)
        return rc;
    if (reply.r.left == 0 || reply.r.left > MPROC_SHM_NAME_MAX)
        rc = MPROC_EPROTOCOL;
    else {
        memcpy(name, reply.r.p, reply.r.left);
        name[reply.r.left] = '\0';
    }
    mproc__rmsg_free(&reply.r);
    return rc;
}

int
mproc_manager_shared_memory(mproc_manager *m, size_t size, mproc_shm **out)
{
    char name[MPROC_SHM_NAME_MAX + 1];
    int rc;

    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL || size == 0)
        return MPROC_EINVAL;
    rc = request_segment(m, MGR_SEGMENT, size, NULL, name);
    return rc < 0 ? rc : mproc_shm_new(out, name, false, size, NULL);
}

int
mproc_manager_shareable_list(mproc_manager *m, const mproc_obj *items,
                             mproc_shlist **out)
{
    char name[MPROC_SHM_NAME_MAX + 1];
    int rc;

    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL || items == NULL)
        return MPROC_EINVAL;
    rc = request_segment(m, MGR_SHLIST, 0, items, name);
    return rc < 0 ? rc : mproc_shlist_new(out, name, NULL, NULL);
}

/* ---- proxies ------------------------------------------------------------- */

/* Map the object's memory on first use, where it can be: a dict or a
 * queue of a server on this host. Returns whether the proxy is local. */
static bool
local(mproc_proxy *p)
{
    bool dict = strcmp(p->type_id, "dict") == 0;
    struct reply reply;
    struct wmsg w;
    int fd = -1, rc = -EOPNOTSUPP;

    if (atomic_load_explicit(&p->local, memory_order_acquire) != 0)
        return atomic_load_explicit(&p->local, memory_order_acquire) > 0;
    pthread_mutex_lock(&p->mu);
    if (atomic_load(&p->local) == 0) {
        if ((dict || strcmp(p->type_id, "Queue") == 0 ||
             strcmp(p->type_id, "JoinableQueue") == 0) &&
            strncmp(p->client->address, "unix:", 5) == 0) {
            mproc__wmsg_init(&w);
            mproc__wmsg_u8(&w, MGR_ATTACH);
            mproc__wmsg_u64(&w, p->id);
            rc = request_on(p->client, &w, &reply, NULL, &fd);
        }
        if (rc == 0) {
            mproc__rmsg_free(&reply.r);
            rc = dict ? mproc__shdict_map(&p->dict, fd)
                      : mproc__queue_map(&p->queue, fd);
            mproc__close(&fd);
        }
        atomic_store_explicit(&p->local, rc == 0 ? 1 : -1,
                              memory_order_release);
    }
    pthread_mutex_unlock(&p->mu);
    return atomic_load(&p->local) > 0;
}

/* A local queue's call: the server closes the queue when it frees it, so
 * a closed queue means the server is gone (MPROC_EEOF), as a round trip
 * would find it. */
static int
gone_if_closed(mproc_proxy *p, int rc)
{
    return mproc__queue_is_closed(p->queue) ? MPROC_EEOF : rc;
}

/* Send CALL and read its reply (free it with mproc__rmsg_free(&reply->r)). */
static int
call_request(mproc_proxy *p, const char *method, const mproc_obj *args,
             struct reply *reply, mproc_buf *message)
{
    struct wmsg w;
    int rc;

    if (p == NULL || method == NULL || strlen(method) > 255 ||
        (args != NULL && mproc_obj_type(args) != MPROC_OBJ_TUPLE))
        return MPROC_EINVAL;
    rc = proxy_own(p);
    if (rc < 0)
        return rc;
    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, MGR_CALL);
    mproc__wmsg_u64(&w, p->id);
    mproc__wmsg_str8(&w, method);
    mproc__wmsg_obj(&w, args);
    return request(p->client, &w, reply, message);
}

int
mproc_proxy_call(mproc_proxy *p, const char *method, const mproc_obj *args,
                 mproc_obj **result, mproc_buf *message)
{
    struct reply reply;
    mproc_obj *value = NULL;
    mproc_proxy *made = NULL;
    int rc;

    if (result != NULL)
        *result = NULL;
    if (message != NULL)
        *message = (mproc_buf){ 0 };
    rc = call_request(p, method, args, &reply, message);
    if (rc < 0)
        return rc;
    if (reply.status == MGR_PROXY) {
        /* A method returning a managed object: its reference must go to a
         * proxy, which only mproc_proxy_call_proxy() hands out. */
        rc = reply_to_proxy(p->client, &reply, &made);
        mproc_proxy_free(made);
        if (rc == 0)
            rc = MPROC_EINVAL;
    } else {
        rc = mproc__rmsg_obj(&reply.r, &value);
        if (rc == 0 && value == NULL)
            rc = mproc_obj_none(&value);
        mproc__rmsg_free(&reply.r);
    }
    if (rc == 0 && result != NULL)
        *result = value;
    else
        mproc_obj_free(value);
    return rc;
}

int
mproc_proxy_call_proxy(mproc_proxy *p, const char *method,
                       const mproc_obj *args, mproc_proxy **out)
{
    struct reply reply;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    rc = call_request(p, method, args, &reply, NULL);
    if (rc < 0)
        return rc;
    if (reply.status != MGR_PROXY) {
        mproc__rmsg_free(&reply.r);
        return MPROC_EINVAL; /* it returned a value, not an object */
    }
    return reply_to_proxy(p->client, &reply, out);
}

/* Call with arguments from a format, or none (fmt NULL). */
static int
vcallf(mproc_proxy *p, const char *method, mproc_obj **result, const char *fmt,
       va_list ap)
{
    mproc_obj *built = NULL, *args = NULL;
    int rc = 0;

    if (fmt != NULL)
        rc = mproc_obj_vbuild(&built, fmt, ap);
    if (rc == 0 && built != NULL && mproc_obj_type(built) != MPROC_OBJ_TUPLE) {
        rc = mproc_obj_tuple(&args, &built, 1);
        mproc_obj_free(built);
    } else {
        args = built;
    }
    if (rc == 0)
        rc = mproc_proxy_call(p, method, args, result, NULL);
    mproc_obj_free(args);
    return rc;
}

int
mproc_proxy_callf(mproc_proxy *p, const char *method, mproc_obj **result,
                  const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (result != NULL)
        *result = NULL;
    if (fmt == NULL)
        return MPROC_EINVAL;
    va_start(ap, fmt);
    rc = vcallf(p, method, result, fmt, ap);
    va_end(ap);
    return rc;
}

/* callf for the typed helpers below; fmt may be NULL (no arguments). */
static int
call(mproc_proxy *p, const char *method, mproc_obj **result, const char *fmt,
     ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vcallf(p, method, result, fmt, ap);
    va_end(ap);
    return rc;
}

int
mproc_proxy_getvalue(mproc_proxy *p, mproc_obj **out)
{
    if (out == NULL)
        return MPROC_EINVAL;
    return call(p, "_getvalue", out, NULL);
}

int
mproc_proxy_getitem(mproc_proxy *p, const mproc_obj *key, mproc_obj **out)
{
    if (out != NULL)
        *out = NULL;
    if (p == NULL || key == NULL || out == NULL)
        return MPROC_EINVAL;
    if (local(p) && p->dict != NULL)
        return mproc__shdict_get(p->dict, key, out);
    return call(p, "__getitem__", out, "(O)", key);
}

int
mproc_proxy_setitem(mproc_proxy *p, const mproc_obj *key,
                    const mproc_obj *value)
{
    int rc = -EAGAIN;

    if (p == NULL || key == NULL || value == NULL)
        return MPROC_EINVAL;
    if (local(p) && p->dict != NULL)
        rc = mproc__shdict_set(p->dict, key, value, NULL);
    return rc != -EAGAIN ? rc
                         : call(p, "__setitem__", NULL, "(O O)", key, value);
}

int
mproc_proxy_delitem(mproc_proxy *p, const mproc_obj *key)
{
    int rc = -EAGAIN;

    if (p == NULL || key == NULL)
        return MPROC_EINVAL;
    if (local(p) && p->dict != NULL)
        rc = mproc__shdict_pop(p->dict, key, NULL, NULL);
    return rc != -EAGAIN ? rc : call(p, "__delitem__", NULL, "(O)", key);
}

int
mproc_proxy_len(mproc_proxy *p, size_t *len)
{
    mproc_obj *n = NULL;
    int64_t v = 0;
    int rc;

    if (len != NULL)
        *len = 0;
    if (p == NULL || len == NULL)
        return MPROC_EINVAL;
    if (local(p) && p->dict != NULL)
        return mproc__shdict_len(p->dict, len);
    if (local(p))
        return gone_if_closed(p, mproc_queue_qsize(p->queue, len));
    rc = call(p,
              strcmp(p->type_id, "Queue") == 0 ||
                      strcmp(p->type_id, "JoinableQueue") == 0
                  ? "qsize"
                  : "__len__",
              &n, NULL);
    if (rc == 0 && (mproc_obj_int_value(n, &v) < 0 || v < 0))
        rc = MPROC_EPROTOCOL;
    mproc_obj_free(n);
    if (rc == 0)
        *len = (size_t)v;
    return rc;
}

int
mproc_proxy_getattr(mproc_proxy *p, const char *name, mproc_obj **out)
{
    if (out != NULL)
        *out = NULL;
    if (name == NULL || out == NULL)
        return MPROC_EINVAL;
    return call(p, "__getattr__", out, "(s)", name);
}

int
mproc_proxy_setattr(mproc_proxy *p, const char *name, const mproc_obj *value)
{
    if (name == NULL || value == NULL)
        return MPROC_EINVAL;
    return call(p, "__setattr__", NULL, "(s O)", name, value);
}

/* A timeout as the server reads it: negative is forever. */
static double
wire_timeout(double timeout)
{
    return timeout < 0 ? -1.0 : timeout;
}

int
mproc_proxy_put(mproc_proxy *p, const mproc_obj *item, double timeout)
{
    if (p == NULL || item == NULL || isnan(timeout))
        return MPROC_EINVAL;
    if (local(p) && p->queue != NULL)
        return gone_if_closed(p, mproc_queue_put_obj(p->queue, item, timeout));
    return call(p, "put", NULL, "(O d)", item, wire_timeout(timeout));
}

int
mproc_proxy_get(mproc_proxy *p, mproc_obj **out, double timeout)
{
    if (out != NULL)
        *out = NULL;
    if (p == NULL || out == NULL || isnan(timeout))
        return MPROC_EINVAL;
    if (local(p) && p->queue != NULL) {
        int rc = gone_if_closed(p, 0);

        if (rc == 0)
            rc = gone_if_closed(p, mproc_queue_get_obj(p->queue, out, timeout));
        if (rc < 0 && *out != NULL) {
            mproc_obj_free(*out); /* the server is gone: so is the queue */
            *out = NULL;
        }
        return rc;
    }
    return call(p, "get", out, "(d)", wire_timeout(timeout));
}

int
mproc_proxy_acquire(mproc_proxy *p, double timeout)
{
    if (isnan(timeout))
        return MPROC_EINVAL;
    return call(p, "acquire", NULL, "(d)", wire_timeout(timeout));
}

int
mproc_proxy_release(mproc_proxy *p)
{
    return call(p, "release", NULL, NULL);
}

int
mproc_proxy_wait(mproc_proxy *p, double timeout)
{
    if (isnan(timeout))
        return MPROC_EINVAL;
    return call(p, "wait", NULL, "(d)", wire_timeout(timeout));
}

const char *
mproc_proxy_typeid(const mproc_proxy *p)
{
    return p != NULL ? p->type_id : "";
}

int
mproc_proxy_obj(mproc_proxy *p, mproc_obj **out)
{
    if (out != NULL)
        *out = NULL;
    if (p == NULL || out == NULL)
        return MPROC_EINVAL;
    return mproc__obj_proxy_new(out, p->type_id, p->client->server_address,
                                p->id);
}

int
mproc_proxy_from_obj(mproc_manager *m, const mproc_obj *o, mproc_proxy **out)
{
    const char *type_id, *address;
    uint64_t id;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL ||
        mproc__obj_proxy_get(o, &type_id, &address, &id) < 0 ||
        strcmp(address, m->client->server_address) != 0)
        return MPROC_EINVAL;
    rc = request_id(m->client, MGR_INCREF, id);
    return rc < 0 ? rc : proxy_new(m->client, id, type_id, out);
}

void
mproc_proxy_free(mproc_proxy *p)
{
    if (p == NULL)
        return;
    mproc__shdict_unmap(p->dict);
    mproc_queue_free(p->queue);
    if (atomic_load(&p->gen) == mproc__fork_generation())
        request_id(p->client, MGR_DECREF, p->id);
    client_release(p->client);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
