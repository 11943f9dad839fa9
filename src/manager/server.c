/*
 * manager/server.c - the manager's server: Python's
 * multiprocessing.managers.Server. One thread accepts; each connection
 * gets a thread of its own that proves the authkey both ways, then
 * answers requests one at a time (one receive, one send each).
 *
 * Invariants:
 * - mu guards the object table, the sessions and the connection list.
 *   An object's refs counts the references of every session plus those
 *   of proxy objects the server itself holds (stored in containers) plus
 *   the calls running on it; the object is destroyed, outside mu, when
 *   refs reaches 0.
 * - A session (one client process) holds refs per object in its own
 *   table; when its home connection ends, all of them are dropped, so a
 *   client killed at any point leaks nothing.
 * - Methods of a type that is not thread_safe run one at a time per
 *   object (its call_mu); thread_safe ones may block, and the builtin
 *   ones wait in slices that watch their client (mproc__mgr_sliced).
 */
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../sys/sys.h"
#include "../value/proxy.h"
#include "manager.h"
#include "mproc/listener.h"

/* How long a client has to prove the key. */
#define HANDSHAKE_S 10.0
/* How long serve_forever waits, at the end, for connection threads stuck
 * in a method that cannot be interrupted. */
#define DRAIN_S 2.0

struct object {
    uint64_t id;
    const mproc_manager_type *type;
    void *self;
    size_t refs;
    pthread_mutex_t call_mu;
};

struct sref {
    uint64_t id;
    size_t n;
};

struct session {
    uint64_t id;
    void *refs;    /* tree of struct sref */
    size_t nlinks; /* connections that said HELLO with this session */
};

struct segment {
    struct segment *next;
    mproc_shm *shm;       /* or */
    mproc_shlist *shlist; /* one of the two */
};

struct link {
    struct link *prev, *next;
    pthread_t thread; /* joinable: the server joins it once it ends */
    struct mproc_manager_server *server;
    mproc_conn *conn;
    struct session *session; /* NULL until HELLO */
    bool home;
};

struct mproc_manager_server {
    mproc_listener *listener;
    unsigned char *authkey;
    size_t authkey_len;
    int stop_fd;
    atomic_bool stopping;
    bool served;

    pthread_mutex_t mu;
    pthread_cond_t drained;
    void *objects;  /* tree of struct object */
    void *sessions; /* tree of struct session */
    uint64_t next_id;
    struct link links; /* the list's head: connections being served */
    size_t nlinks;
    struct link *ended; /* served, their threads ending: to join */
    struct segment *segments;
};

static _Thread_local struct link *current;

static int
by_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static struct object *
object_find(struct mproc_manager_server *s, uint64_t id)
{
    void *hit = tfind(&id, &s->objects, by_id);

    return hit != NULL ? *(struct object **)hit : NULL;
}

static void
object_destroy(struct object *o)
{
    if (o->type->destroy != NULL)
        o->type->destroy(o->self);
    pthread_mutex_destroy(&o->call_mu);
    free(o);
}

/* Drop n references; the caller holds mu and destroys what comes back,
 * after unlocking. */
static struct object *
object_unref_locked(struct mproc_manager_server *s, struct object *o, size_t n)
{
    o->refs -= n;
    if (o->refs > 0)
        return NULL;
    tdelete(o, &s->objects, by_id);
    return o;
}

static void
object_unref(struct mproc_manager_server *s, uint64_t id, size_t n)
{
    struct object *dead = NULL, *o;

    pthread_mutex_lock(&s->mu);
    o = object_find(s, id);
    if (o != NULL)
        dead = object_unref_locked(s, o, n);
    pthread_mutex_unlock(&s->mu);
    if (dead != NULL)
        object_destroy(dead);
}

/* A proxy object the server held went away (its container dropped it). */
static void
release_held(void *ctx, uint64_t id)
{
    object_unref(ctx, id, 1);
}

/* Register a new object with one reference for the session: its id. */
static int object_add(struct mproc_manager_server *s, struct session *session,
                      const mproc_manager_type *type, void *self, uint64_t *id);

/* ---- sessions ------------------------------------------------------------ */

static struct session *
session_get_locked(struct mproc_manager_server *s, uint64_t id)
{
    void *hit = tfind(&id, &s->sessions, by_id);
    struct session *session;

    if (hit != NULL)
        return *(struct session **)hit;
    session = calloc(1, sizeof *session);
    if (session == NULL)
        return NULL;
    session->id = id;
    if (tsearch(session, &s->sessions, by_id) == NULL) {
        free(session);
        return NULL;
    }
    return session;
}

/* Count one reference of the session; caller holds mu. */
static int
session_ref_locked(struct session *session, uint64_t id)
{
    void *hit = tfind(&id, &session->refs, by_id);
    struct sref *r;

    if (hit != NULL) {
        (*(struct sref **)hit)->n++;
        return 0;
    }
    r = malloc(sizeof *r);
    if (r == NULL)
        return MPROC_ENOMEM;
    *r = (struct sref){ .id = id, .n = 1 };
    if (tsearch(r, &session->refs, by_id) == NULL) {
        free(r);
        return MPROC_ENOMEM;
    }
    return 0;
}

/* Drop one reference of the session: MPROC_ESTATE when it holds none. */
static int
session_unref_locked(struct session *session, uint64_t id)
{
    void *hit = tfind(&id, &session->refs, by_id);
    struct sref *r;

    if (hit == NULL)
        return MPROC_ESTATE;
    r = *(struct sref **)hit;
    if (--r->n == 0) {
        tdelete(r, &session->refs, by_id);
        free(r);
    }
    return 0;
}

/* A connection of the session ended. When it was the home connection the
 * process is gone: drop what it held. The last connection frees the
 * session. */
static void
session_leave(struct mproc_manager_server *s, struct session *session,
              bool home)
{
    bool last;

    for (;;) {
        struct object *dead = NULL, *o;
        struct sref *r = NULL;

        pthread_mutex_lock(&s->mu);
        last = session->nlinks == 1;
        if ((home || last) && session->refs != NULL) {
            r = *(struct sref **)session->refs; /* the root */
            tdelete(r, &session->refs, by_id);
            o = object_find(s, r->id);
            if (o != NULL)
                dead = object_unref_locked(s, o, r->n);
        } else {
            session->nlinks--;
            if (last)
                tdelete(session, &s->sessions, by_id);
        }
        pthread_mutex_unlock(&s->mu);
        if (r == NULL)
            break;
        free(r);
        if (dead != NULL)
            object_destroy(dead);
    }
    if (last)
        free(session);
}

static int
object_add(struct mproc_manager_server *s, struct session *session,
           const mproc_manager_type *type, void *self, uint64_t *id)
{
    struct object *o = calloc(1, sizeof *o);
    int rc = MPROC_ENOMEM;

    if (o == NULL)
        goto fail;
    o->type = type;
    o->self = self;
    o->refs = 1;
    pthread_mutex_init(&o->call_mu, NULL);
    pthread_mutex_lock(&s->mu);
    o->id = ++s->next_id;
    if (tsearch(o, &s->objects, by_id) == NULL) {
        pthread_mutex_unlock(&s->mu);
        goto fail;
    }
    rc = session_ref_locked(session, o->id);
    if (rc < 0)
        tdelete(o, &s->objects, by_id);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0)
        goto fail;
    *id = o->id;
    return 0;
fail:
    if (o != NULL) {
        o->self = NULL; /* the caller still owns self */
        pthread_mutex_destroy(&o->call_mu);
        free(o);
    }
    return rc;
}

/* ---- what types.c asks of the server ------------------------------------- */

bool
mproc__mgr_client_gone(void)
{
    struct link *l = current;

    if (l == NULL)
        return false;
    return atomic_load(&l->server->stopping) ||
           mproc__peer_gone(mproc_conn_fileno(l->conn));
}

int
mproc__mgr_sliced(int (*wait)(void *obj, double timeout), void *obj,
                  double timeout, int again)
{
    struct mproc__deadline dl;
    int rc = mproc__deadline_init(&dl, timeout);

    if (rc < 0)
        return rc;
    for (;;) {
        double slice = MGR_SLICE_S;

        if (!dl.forever) {
            double left = mproc__deadline_seconds_left(&dl);

            if (left < slice)
                slice = left;
        }
        rc = wait(obj, slice);
        if (rc != again)
            return rc;
        if (!dl.forever && mproc__deadline_passed(&dl))
            return again;
        if (mproc__mgr_client_gone())
            return MPROC_ECANCELLED;
    }
}

int
mproc__mgr_object_get(uint64_t id, const mproc_manager_type **type, void **self)
{
    struct mproc_manager_server *s = current->server;
    struct object *o;

    pthread_mutex_lock(&s->mu);
    o = object_find(s, id);
    if (o != NULL) {
        o->refs++;
        *type = o->type;
        *self = o->self;
    }
    pthread_mutex_unlock(&s->mu);
    return o != NULL ? 0 : -ENOENT;
}

void
mproc__mgr_object_put(uint64_t id)
{
    object_unref(current->server, id, 1);
}

static int
segment_add(struct mproc_manager_server *s, mproc_shm *shm,
            mproc_shlist *shlist)
{
    struct segment *seg = malloc(sizeof *seg);

    if (seg == NULL)
        return MPROC_ENOMEM;
    seg->shm = shm;
    seg->shlist = shlist;
    pthread_mutex_lock(&s->mu);
    seg->next = s->segments;
    s->segments = seg;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int
copy_name(const char *name, char *out, size_t cap)
{
    if (strlen(name) >= cap)
        return MPROC_ETOOBIG;
    strcpy(out, name);
    return 0;
}

int
mproc__mgr_segment_new(size_t size, char *name, size_t cap)
{
    mproc_shm *shm;
    int rc = mproc_shm_new(&shm, NULL, true, size, NULL);

    if (rc == 0)
        rc = copy_name(mproc_shm_name(shm), name, cap);
    if (rc == 0)
        rc = segment_add(current->server, shm, NULL);
    if (rc < 0 && shm != NULL) {
        mproc_shm_unlink(shm);
        mproc_shm_free(shm);
    }
    return rc;
}

int
mproc__mgr_shlist_new(const mproc_obj *items, char *name, size_t cap)
{
    mproc_shlist *l;
    int rc = mproc_shlist_new(&l, NULL, items, NULL);

    if (rc == 0)
        rc = copy_name(mproc_shm_name(mproc_shlist_shm(l)), name, cap);
    if (rc == 0)
        rc = segment_add(current->server, NULL, l);
    if (rc < 0 && l != NULL) {
        mproc_shm_unlink(mproc_shlist_shm(l));
        mproc_shlist_free(l);
    }
    return rc;
}

/* ---- requests ------------------------------------------------------------ */

/* Call fn for each proxy object inside o that names this server's
 * objects, stopping at its first failure. */
static int
each_own_proxy(struct mproc_manager_server *s, mproc_obj *o,
               int (*fn)(struct mproc_manager_server *s, mproc_obj *p,
                         uint64_t id))
{
    const char *type_id, *address;
    mproc_obj *item, *value;
    uint64_t id;
    size_t n = 0;
    int rc = 0;

    switch (mproc_obj_type(o)) {
    case MPROC_OBJ_PROXY:
        mproc__obj_proxy_get(o, &type_id, &address, &id);
        if (strcmp(address, mproc_listener_address(s->listener)) != 0)
            return 0;
        return fn(s, o, id);
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        mproc_obj_len(o, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (mproc_obj_get(o, i, &item) == 0)
                rc = each_own_proxy(s, item, fn);
        return rc;
    case MPROC_OBJ_DICT:
        mproc_obj_len(o, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (mproc_obj_dict_item(o, i, &item, &value) == 0) {
                rc = each_own_proxy(s, item, fn);
                if (rc == 0)
                    rc = each_own_proxy(s, value, fn);
            }
        return rc;
    case MPROC_OBJ_SET:
    case MPROC_OBJ_FROZENSET:
        mproc_obj_len(o, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (mproc_obj_set_item(o, i, &item) == 0)
                rc = each_own_proxy(s, item, fn);
        return rc;
    default:
        return 0;
    }
}

/* One more server reference on object id: 0 or -ENOENT. */
static int
pin_one(struct mproc_manager_server *s, mproc_obj *p, uint64_t id)
{
    struct object *target;

    (void)p;
    pthread_mutex_lock(&s->mu);
    target = object_find(s, id);
    if (target != NULL)
        target->refs++;
    pthread_mutex_unlock(&s->mu);
    return target != NULL ? 0 : -ENOENT;
}

static int
unpin_one(struct mproc_manager_server *s, mproc_obj *p, uint64_t id)
{
    (void)p;
    object_unref(s, id, 1);
    return 0;
}

/* A proxy object of a request holds its object while it lives (a list
 * that stores it keeps the object alive). */
static int
hold_one(struct mproc_manager_server *s, mproc_obj *p, uint64_t id)
{
    int rc;

    if (mproc__obj_proxy_held(p))
        return 0; /* the same object met twice (pickle's memo) */
    rc = pin_one(s, p, id);
    if (rc == 0)
        mproc__obj_proxy_hold(p, release_held, s);
    return rc;
}

/* With mu held: whether object id exists; one more reference on it. */
static int
exists_locked(struct mproc_manager_server *s, mproc_obj *p, uint64_t id)
{
    (void)p;
    return object_find(s, id) != NULL ? 0 : -ENOENT;
}

static int
ref_locked(struct mproc_manager_server *s, mproc_obj *p, uint64_t id)
{
    (void)p;
    object_find(s, id)->refs++;
    return 0;
}

/* Pin every object o names, or none (-ENOENT: one is gone). */
static int
pin_obj(void *ctx, const mproc_obj *o)
{
    struct mproc_manager_server *s = ctx;
    int rc;

    pthread_mutex_lock(&s->mu);
    rc = each_own_proxy(s, (mproc_obj *)o, exists_locked);
    if (rc == 0)
        each_own_proxy(s, (mproc_obj *)o, ref_locked);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void
unpin_pickle(void *ctx, const void *pickle, size_t len)
{
    mproc_obj *o;

    if (mproc_obj_loads(&o, pickle, len, NULL) == 0) {
        each_own_proxy(ctx, o, unpin_one);
        mproc_obj_free(o);
    }
}

struct mproc__shdict_pins
mproc__mgr_pins(void)
{
    return (struct mproc__shdict_pins){ .pin = pin_obj,
                                        .unpin = unpin_pickle,
                                        .ctx = current->server };
}

/* The arguments of a request: a tuple (empty when none were sent). */
static int
read_args(struct link *l, struct rmsg *r, mproc_obj **args)
{
    int rc = mproc__rmsg_obj(r, args);

    if (rc == 0 && *args == NULL)
        rc = mproc_obj_tuple(args, NULL, 0);
    if (rc == 0 && mproc_obj_type(*args) != MPROC_OBJ_TUPLE)
        rc = MPROC_EPROTOCOL;
    if (rc == 0)
        rc = each_own_proxy(l->server, *args, hold_one);
    if (rc < 0) {
        mproc_obj_free(*args);
        *args = NULL;
    }
    return rc;
}

static int
reply_ok(struct link *l, const void *data, size_t len, const mproc_obj *o)
{
    struct wmsg w;
    int rc;

    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, MGR_OK);
    mproc__wmsg_bytes(&w, data, len);
    mproc__wmsg_obj(&w, o);
    if (w.failed) {
        rc = w.failed;
        mproc__wmsg_free(&w);
        return mproc__mgr_send_error(l->conn, rc,
                                     "the result could not be pickled");
    }
    rc = mproc__wmsg_send(&w, l->conn);
    mproc__wmsg_free(&w);
    return rc;
}

static int
reply_proxy(struct link *l, uint64_t id, const char *type_id)
{
    struct wmsg w;
    int rc;

    mproc__wmsg_init(&w);
    mproc__wmsg_u8(&w, MGR_PROXY);
    mproc__wmsg_u64(&w, id);
    mproc__wmsg_str8(&w, type_id);
    rc = mproc__wmsg_send(&w, l->conn);
    mproc__wmsg_free(&w);
    return rc;
}

/* Manage a new instance of type_id and answer with a proxy to it. */
static int
reply_new_object(struct link *l, const mproc_manager_type *type, void *self)
{
    uint64_t id;
    int rc = object_add(l->server, l->session, type, self, &id);

    if (rc < 0) {
        if (type->destroy != NULL)
            type->destroy(self);
        return mproc__mgr_send_error(l->conn, rc, NULL);
    }
    return reply_proxy(l, id, type->type_id);
}

static int
do_create(struct link *l, struct rmsg *r)
{
    char type_id[MGR_TYPEID_MAX + 1];
    const mproc_manager_type *type;
    mproc_obj *args = NULL;
    void *self = NULL;
    int rc = mproc__rmsg_str8(r, type_id, sizeof type_id);

    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, "malformed request");
    type = mproc__mgr_type_find(type_id);
    if (type == NULL)
        return mproc__mgr_send_error(l->conn, -ENOENT, "no such type_id");
    rc = read_args(l, r, &args);
    if (rc == 0)
        rc = type->create(&self, args);
    mproc_obj_free(args);
    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, NULL);
    return reply_new_object(l, type, self);
}

/* Run one method under the object's call lock where the type wants it. */
static int
run_method(struct object *o, const mproc_manager_method *m,
           const mproc_obj *args, mproc_obj **result, void **made)
{
    bool serial = !o->type->thread_safe;
    int rc;

    if (serial)
        pthread_mutex_lock(&o->call_mu);
    if (m == NULL)
        rc = o->type->getvalue != NULL ? o->type->getvalue(o->self, result)
                                       : -EOPNOTSUPP;
    else if (m->type_id != NULL)
        rc = m->make(o->self, args, made);
    else
        rc = m->call(o->self, args, result);
    if (serial)
        pthread_mutex_unlock(&o->call_mu);
    return rc;
}

static int
do_call(struct link *l, struct rmsg *r)
{
    struct mproc_manager_server *s = l->server;
    const mproc_manager_method *m = NULL;
    char name[256];
    mproc_obj *args = NULL, *result = NULL;
    struct object *o;
    void *made = NULL;
    uint64_t id;
    int rc = mproc__rmsg_u64(r, &id);

    if (rc == 0)
        rc = mproc__rmsg_str8(r, name, sizeof name);
    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, "malformed request");
    pthread_mutex_lock(&s->mu);
    o = object_find(s, id);
    if (o != NULL)
        o->refs++; /* kept while the call runs */
    pthread_mutex_unlock(&s->mu);
    if (o == NULL)
        return mproc__mgr_send_error(l->conn, -ENOENT, "no such object");
    if (strcmp(name, "_getvalue") != 0) {
        m = mproc__mgr_method_find(o->type, name);
        if (m == NULL) {
            object_unref(s, id, 1);
            return mproc__mgr_send_error(l->conn, -EOPNOTSUPP,
                                         "method not exposed");
        }
    }
    rc = read_args(l, r, &args);
    if (rc == 0)
        rc = run_method(o, m, args, &result, &made);
    mproc_obj_free(args);
    object_unref(s, id, 1);
    if (rc < 0) {
        mproc_obj_free(result);
        return mproc__mgr_send_error(l->conn, rc, NULL);
    }
    if (m != NULL && m->type_id != NULL) {
        const mproc_manager_type *type = mproc__mgr_type_find(m->type_id);

        if (type == NULL) {
            mproc__mgr_send_error(l->conn, -ENOENT, "no such type_id");
            return 0; /* made leaks: the registry is broken */
        }
        return reply_new_object(l, type, made);
    }
    rc = reply_ok(l, NULL, 0, result);
    mproc_obj_free(result);
    return rc;
}

static int
do_ref(struct link *l, struct rmsg *r, bool up)
{
    struct mproc_manager_server *s = l->server;
    struct object *o, *dead = NULL;
    uint64_t id;
    int rc = mproc__rmsg_u64(r, &id);

    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, "malformed request");
    pthread_mutex_lock(&s->mu);
    o = object_find(s, id);
    if (o == NULL)
        rc = -ENOENT;
    else if (up && (rc = session_ref_locked(l->session, id)) == 0)
        o->refs++;
    else if (!up && (rc = session_unref_locked(l->session, id)) == 0)
        dead = object_unref_locked(s, o, 1);
    pthread_mutex_unlock(&s->mu);
    if (dead != NULL)
        object_destroy(dead);
    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, NULL);
    return reply_ok(l, NULL, 0, NULL);
}

static int
do_segment(struct link *l, struct rmsg *r, bool list)
{
    char name[MPROC_SHM_NAME_MAX + 1];
    mproc_obj *items = NULL;
    uint64_t size = 0;
    int rc = list ? mproc__rmsg_obj(r, &items) : mproc__rmsg_u64(r, &size);

    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, "malformed request");
    if (list)
        rc = mproc__mgr_shlist_new(items, name, sizeof name);
    else if (size == 0 || size > SIZE_MAX)
        rc = MPROC_EINVAL;
    else
        rc = mproc__mgr_segment_new((size_t)size, name, sizeof name);
    mproc_obj_free(items);
    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, NULL);
    return reply_ok(l, name, strlen(name), NULL);
}

/* The memory file of a dict or queue, for a client on this host to map. */
static int
do_attach(struct link *l, struct rmsg *r)
{
    struct mproc_manager_server *s = l->server;
    const mproc_manager_type *type;
    void *self;
    uint64_t id;
    int fd, rc = mproc__rmsg_u64(r, &id);

    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, "malformed request");
    if (strncmp(mproc_listener_address(s->listener), "unix:", 5) != 0)
        return mproc__mgr_send_error(l->conn, -EOPNOTSUPP,
                                     "only a unix socket carries descriptors");
    rc = mproc__mgr_object_get(id, &type, &self);
    if (rc < 0)
        return mproc__mgr_send_error(l->conn, rc, "no such object");
    fd = mproc__mgr_shared_fd(type, self);
    if (fd < 0)
        rc = mproc__mgr_send_error(l->conn, fd, NULL);
    else if ((rc = reply_ok(l, NULL, 0, NULL)) == 0)
        rc = mproc_conn_send_fds(l->conn, &fd, 1);
    mproc__mgr_object_put(id);
    return rc;
}

static int
do_hello(struct link *l, struct rmsg *r)
{
    char magic[MGR_MAGIC_LEN];
    uint64_t session;
    uint8_t home;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < MGR_MAGIC_LEN; i++)
        rc = mproc__rmsg_u8(r, (uint8_t *)&magic[i]);
    if (rc == 0 && memcmp(magic, MGR_MAGIC, MGR_MAGIC_LEN) != 0)
        rc = MPROC_EPROTOCOL;
    if (rc == 0)
        rc = mproc__rmsg_u64(r, &session);
    if (rc == 0)
        rc = mproc__rmsg_u8(r, &home);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&l->server->mu);
    l->session = session_get_locked(l->server, session);
    if (l->session != NULL)
        l->session->nlinks++;
    pthread_mutex_unlock(&l->server->mu);
    if (l->session == NULL)
        return MPROC_ENOMEM;
    l->home = home != 0;
    {
        const char *self = mproc_listener_address(l->server->listener);
        size_t len = strlen(self);
        char said[MGR_MAGIC_LEN + MPROC__PROXY_ADDRESS_MAX];

        if (len > MPROC__PROXY_ADDRESS_MAX)
            return MPROC_ETOOBIG;
        memcpy(said, MGR_MAGIC, MGR_MAGIC_LEN);
        memcpy(said + MGR_MAGIC_LEN, self, len);
        return reply_ok(l, said, MGR_MAGIC_LEN + len, NULL);
    }
}

static void
stop_now(struct mproc_manager_server *s)
{
    uint64_t one = 1;

    atomic_store(&s->stopping, true);
    if (write(s->stop_fd, &one, sizeof one) < 0) {
        /* the eventfd cannot overflow from these few writes */
    }
}

/* One request: 0 to go on, or a code that ends the connection. */
static int
serve_one(struct link *l)
{
    struct rmsg r;
    uint8_t op;
    int rc = mproc__rmsg_recv(&r, l->conn, false, MPROC_FOREVER);

    if (rc < 0)
        return rc;
    rc = mproc__rmsg_u8(&r, &op);
    if (rc == 0 && op != MGR_HELLO && l->session == NULL)
        rc = MPROC_EPROTOCOL;
    if (rc == 0) {
        switch (op) {
        case MGR_HELLO:
            rc = l->session == NULL ? do_hello(l, &r) : MPROC_EPROTOCOL;
            if (rc == MPROC_EPROTOCOL)
                rc = mproc__mgr_send_error(l->conn, rc, "bad HELLO");
            break;
        case MGR_CREATE:
            rc = do_create(l, &r);
            break;
        case MGR_CALL:
            rc = do_call(l, &r);
            break;
        case MGR_INCREF:
        case MGR_DECREF:
            rc = do_ref(l, &r, op == MGR_INCREF);
            break;
        case MGR_SHUTDOWN:
            rc = reply_ok(l, NULL, 0, NULL);
            stop_now(l->server);
            break;
        case MGR_ATTACH:
            rc = do_attach(l, &r);
            break;
        case MGR_SEGMENT:
        case MGR_SHLIST:
            rc = do_segment(l, &r, op == MGR_SHLIST);
            break;
        default:
            rc = mproc__mgr_send_error(l->conn, MPROC_EPROTOCOL,
                                       "no such request");
        }
    } else if (rc == MPROC_EPROTOCOL) {
        rc = mproc__mgr_send_error(l->conn, rc, "HELLO first");
    }
    mproc__rmsg_free(&r);
    return rc;
}

static void *
serve_connection(void *arg)
{
    struct link *l = arg;
    struct mproc_manager_server *s = l->server;
    int rc;

    current = l;
    rc = mproc_deliver_challenge(l->conn, s->authkey, s->authkey_len,
                                 HANDSHAKE_S);
    if (rc == 0)
        rc = mproc_answer_challenge(l->conn, s->authkey, s->authkey_len,
                                    HANDSHAKE_S);
    while (rc == 0)
        rc = serve_one(l);
    if (l->session != NULL)
        session_leave(s, l->session, l->home);
    current = NULL;
    /* Off the list of connections (drain() shuts theirs down), then the
     * connection goes: l itself is freed only once this thread is joined. */
    pthread_mutex_lock(&s->mu);
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = s->ended;
    s->ended = l;
    if (--s->nlinks == 0)
        pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->mu);
    mproc_conn_free(l->conn);
    return NULL;
}

/* Join the threads of connections that ended. */
static void
join_ended(struct mproc_manager_server *s)
{
    struct link *l;

    pthread_mutex_lock(&s->mu);
    l = s->ended;
    s->ended = NULL;
    pthread_mutex_unlock(&s->mu);
    while (l != NULL) {
        struct link *next = l->next;

        pthread_join(l->thread, NULL);
        free(l);
        l = next;
    }
}

static int
start_connection(struct mproc_manager_server *s, mproc_conn *c)
{
    struct link *l = calloc(1, sizeof *l);
    int rc;

    if (l == NULL) {
        mproc_conn_free(c);
        return MPROC_ENOMEM;
    }
    l->server = s;
    l->conn = c;
    /* Under mu until l->thread is set: the thread's end needs mu. */
    pthread_mutex_lock(&s->mu);
    rc = pthread_create(&l->thread, NULL, serve_connection, l);
    if (rc == 0) {
        l->next = s->links.next;
        l->prev = &s->links;
        l->next->prev = l;
        s->links.next = l;
        s->nlinks++;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        mproc_conn_free(c);
        free(l);
        return -rc;
    }
    return 0;
}

/* ---- the server's life --------------------------------------------------- */

int
mproc_manager_server_new(mproc_manager_server **out,
                         const mproc_manager_opts *opts)
{
    static const mproc_manager_opts defaults;
    mproc_manager_server *s;
    const void *key;
    size_t key_len;
    char fresh[64];
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    s->stop_fd = -1;
    s->links.next = s->links.prev = &s->links;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->drained, NULL);
    key = opts->authkey;
    key_len = opts->authkey_len;
    if (key == NULL)
        key = mproc_process_authkey(mproc_current_process(), &key_len);
    s->authkey = malloc(key_len > 0 ? key_len : 1);
    rc = s->authkey == NULL ? MPROC_ENOMEM : 0;
    if (rc == 0 && key_len > 0)
        memcpy(s->authkey, key, key_len);
    s->authkey_len = key_len;
    if (rc == 0 && opts->address == NULL) {
        unsigned char r[8];

        rc = mproc__random_bytes(r, sizeof r);
        snprintf(fresh, sizeof fresh,
                 "unix:@mproc-manager-%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
                 r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    }
    if (rc == 0)
        rc = mproc_listener_new(&s->listener,
                                opts->address != NULL ? opts->address : fresh,
                                &(mproc_listener_opts){ .backlog = 512 });
    if (rc == 0) {
        s->stop_fd = mproc__eventfd();
        if (s->stop_fd < 0)
            rc = s->stop_fd;
    }
    if (rc < 0) {
        mproc_manager_server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *
mproc_manager_server_address(const mproc_manager_server *s)
{
    return s != NULL ? mproc_listener_address(s->listener) : "";
}

/* Close every connection and wait (boundedly) for their threads. */
static bool
drain(struct mproc_manager_server *s)
{
    struct mproc__deadline dl;
    struct timespec until;
    bool drained;

    mproc__deadline_init(&dl, DRAIN_S);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)DRAIN_S;
    pthread_mutex_lock(&s->mu);
    for (struct link *l = s->links.next; l != &s->links; l = l->next)
        shutdown(mproc_conn_fileno(l->conn), SHUT_RDWR);
    while (s->nlinks > 0 &&
           pthread_cond_timedwait(&s->drained, &s->mu, &until) == 0) {
    }
    drained = s->nlinks == 0;
    pthread_mutex_unlock(&s->mu);
    join_ended(s);
    return drained;
}

/* Wake the methods that wait without slices (a Barrier's wait). */
static void
interrupt_node(const void *node, VISIT which, int depth)
{
    const struct object *o = *(struct object *const *)node;

    (void)depth;
    if (which == preorder || which == leaf)
        mproc__mgr_interrupt(o->type, o->self);
}

/* Destroy every object and release every segment. */
static void
clear(struct mproc_manager_server *s)
{
    for (;;) {
        struct object *o = NULL;

        pthread_mutex_lock(&s->mu);
        if (s->objects != NULL) {
            o = *(struct object **)s->objects;
            tdelete(o, &s->objects, by_id);
        }
        pthread_mutex_unlock(&s->mu);
        if (o == NULL)
            break;
        object_destroy(o); /* held proxies it frees find no object */
    }
    while (s->sessions != NULL) {
        struct session *session = *(struct session **)s->sessions;

        tdelete(session, &s->sessions, by_id);
        tdestroy(session->refs, free);
        free(session);
    }
    while (s->segments != NULL) {
        struct segment *seg = s->segments;

        s->segments = seg->next;
        if (seg->shm != NULL) {
            mproc_shm_unlink(seg->shm);
            mproc_shm_free(seg->shm);
        } else {
            mproc_shm_unlink(mproc_shlist_shm(seg->shlist));
            mproc_shlist_free(seg->shlist);
        }
        free(seg);
    }
}

int
mproc_manager_server_serve_forever(mproc_manager_server *s)
{
    int rc = 0;

    if (s == NULL)
        return MPROC_EINVAL;
    if (s->served)
        return MPROC_ESTATE;
    s->served = true;
    while (!atomic_load(&s->stopping)) {
        int fds[2] = { mproc_listener_fileno(s->listener), s->stop_fd };
        int ready[2];
        size_t nready = 0;
        mproc_conn *c;

        rc = mproc_wait(fds, 2, ready, &nready, MPROC_FOREVER);
        if (rc < 0)
            break;
        if (atomic_load(&s->stopping))
            break;
        join_ended(s);
        rc = mproc_listener_accept(s->listener, &c, 0);
        if (rc == 0)
            start_connection(s, c);
        else if (rc == MPROC_ECLOSED)
            break;
        rc = 0; /* a client that failed to connect stops nothing */
    }
    atomic_store(&s->stopping, true);
    mproc_listener_close(s->listener);
    pthread_mutex_lock(&s->mu);
    twalk(s->objects, interrupt_node);
    pthread_mutex_unlock(&s->mu);
    if (drain(s))
        clear(s);
    return rc;
}

void
mproc_manager_server_stop(mproc_manager_server *s)
{
    if (s != NULL)
        stop_now(s);
}

void
mproc_manager_server_free(mproc_manager_server *s)
{
    if (s == NULL)
        return;
    if (s->nlinks > 0)
        return; /* threads stuck in a method use it still: leave it */
    clear(s);
    mproc_listener_free(s->listener);
    mproc__close(&s->stop_fd);
    free(s->authkey);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
