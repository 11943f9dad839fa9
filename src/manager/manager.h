/*
 * manager/manager.h - what the files of src/manager/ share: the wire form
 * (protocol.c), the type registry and the builtin types (types.c), the
 * server (server.c) and the client side (proxy.c).
 *
 * The wire form. Every message is one frame of conn.c. A request starts
 * with an op byte; a reply with a status byte. Integers are little-endian;
 * a "str8" is a length byte and that many bytes; arguments and results
 * are pickles (protocol 5), an empty one meaning () or None.
 *
 *   HELLO     magic[8] u64 session, u8 home    -> OK magic[8]
 *   CREATE    str8 type_id, args                -> PROXY u64 id, str8 type_id
 *   CALL      u64 id, str8 method, args        -> OK result | PROXY ...
 *   INCREF    u64 id                           -> OK
 *   DECREF    u64 id                           -> OK
 *   SHUTDOWN                                   -> OK (then the server stops)
 *   SEGMENT   u64 size                         -> OK name
 *   SHLIST    items                            -> OK name
 *   ATTACH    u64 id                           -> OK, then the object's
 *                                                 memory file (SCM_RIGHTS)
 *   any failure                                -> ERROR i32 code, message
 *
 * References are counted per client process (its session): the
 * connection that said HELLO with home set lives as long as the process's
 * manager handle, and when it closes the server drops every reference the
 * session still held.
 */
#ifndef MPROC_MANAGER_PRIVATE_H
#define MPROC_MANAGER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/conn.h"
#include "mproc/manager.h"

#define MGR_MAGIC "mprocmg1"
#define MGR_MAGIC_LEN 8
#define MGR_TYPEID_MAX 64

/* A blocking builtin method waits in slices this long, checking between
 * them that its client is still there. */
#define MGR_SLICE_S 0.1

enum mgr_op {
    MGR_HELLO = 1,
    MGR_CREATE,
    MGR_CALL,
    MGR_INCREF,
    MGR_DECREF,
    MGR_SHUTDOWN,
    MGR_SEGMENT,
    MGR_SHLIST,
    MGR_ATTACH,
};

enum mgr_status {
    MGR_OK = 0,
    MGR_PROXY,
    MGR_ERROR,
};

/* ---- protocol.c: building and reading messages -------------------------- */

/* A message being built: on the stack while small. */
struct wmsg {
    unsigned char *p;
    size_t len, cap;
    int failed; /* the first error; later appends do nothing */
    unsigned char small[256];
};

/* A message being read. */
struct rmsg {
    const unsigned char *p;
    size_t left;
    unsigned char *heap; /* the received bytes when they did not fit small */
    unsigned char small[512];
};

void mproc__wmsg_init(struct wmsg *w);
void mproc__wmsg_free(struct wmsg *w);
void mproc__wmsg_u8(struct wmsg *w, uint8_t v);
void mproc__wmsg_u64(struct wmsg *w, uint64_t v);
void mproc__wmsg_bytes(struct wmsg *w, const void *data, size_t len);
void mproc__wmsg_str8(struct wmsg *w, const char *s);
/* Append the pickle of o (nothing for NULL). */
void mproc__wmsg_obj(struct wmsg *w, const mproc_obj *o);
/* Send it; frees nothing. */
int mproc__wmsg_send(struct wmsg *w, mproc_conn *c);

/* Receive one message (any size up to the conn's limits) into r: a small
 * one in one read, unless exact (reading no byte past the message, when
 * descriptors follow it). */
int mproc__rmsg_recv(struct rmsg *r, mproc_conn *c, bool exact, double timeout);
void mproc__rmsg_free(struct rmsg *r);
int mproc__rmsg_u8(struct rmsg *r, uint8_t *v);
int mproc__rmsg_u64(struct rmsg *r, uint64_t *v);
int mproc__rmsg_i32(struct rmsg *r, int32_t *v);
/* A str8 into buf (NUL-terminated; cap includes the NUL). */
int mproc__rmsg_str8(struct rmsg *r, char *buf, size_t cap);
/* The rest as an object: NULL when empty (None / no arguments). */
int mproc__rmsg_obj(struct rmsg *r, mproc_obj **out);

/* The error reply of code with text (NULL: the code's own words). */
int mproc__mgr_send_error(mproc_conn *c, int code, const char *text);

/* ---- shdict.c: a dict in a memory file its local clients map ----------- */

struct shdict;

/* How the server keeps the objects named by proxy objects stored in a dict
 * alive: pin takes a reference on each one an object names (-ENOENT when
 * one is gone), unpin drops those a pickle names. */
struct mproc__shdict_pins {
    int (*pin)(void *ctx, const mproc_obj *o);
    void (*unpin)(void *ctx, const void *pickle, size_t len);
    void *ctx;
};

enum mproc__shdict_view {
    MPROC__SHDICT_KEYS,
    MPROC__SHDICT_VALUES,
    MPROC__SHDICT_ITEMS,
    MPROC__SHDICT_COPY, /* a dict */
};

/* A new empty dict and its file (*fd, the caller's). 0 or -errno. */
int mproc__shdict_new(struct shdict **out, int *fd);
/* Map the dict in a file (fd borrowed): 0, MPROC_EPROTOCOL, -errno. */
int mproc__shdict_map(struct shdict **out, int fd);
void mproc__shdict_unmap(struct shdict *d);
/* The operations, each under the dict's lock. pins NULL (a client): a
 * change that would store, replace or remove proxy objects is refused
 * with -EAGAIN, for the server to do. Keys: -ENOENT when absent,
 * MPROC_EINVAL when unhashable; MPROC_ENOMEM when the file is full. */
int mproc__shdict_get(struct shdict *d, const mproc_obj *key,
                      mproc_obj **value);
int mproc__shdict_set(struct shdict *d, const mproc_obj *key,
                      const mproc_obj *value,
                      const struct mproc__shdict_pins *pins);
/* d.setdefault(key, value): the value found or put, in *result. */
int mproc__shdict_setdefault(struct shdict *d, const mproc_obj *key,
                             const mproc_obj *value, mproc_obj **result,
                             const struct mproc__shdict_pins *pins);
/* Remove key, its value into *value unless value is NULL. */
int mproc__shdict_pop(struct shdict *d, const mproc_obj *key, mproc_obj **value,
                      const struct mproc__shdict_pins *pins);
int mproc__shdict_popitem(struct shdict *d, mproc_obj **pair,
                          const struct mproc__shdict_pins *pins);
int mproc__shdict_len(struct shdict *d, size_t *len);
/* 1 when key is in, 0 when not, or a code. */
int mproc__shdict_contains(struct shdict *d, const mproc_obj *key);
int mproc__shdict_view(struct shdict *d, enum mproc__shdict_view which,
                       mproc_obj **out);
int mproc__shdict_clear(struct shdict *d,
                        const struct mproc__shdict_pins *pins);
/* The server frees a dict: later calls (a client's mapping) fail with
 * MPROC_EEOF; what its pinned entries hold is dropped. */
void mproc__shdict_close(struct shdict *d,
                         const struct mproc__shdict_pins *pins);

/* ---- types.c: the registry ---------------------------------------------- */

/* The type registered (or builtin) under type_id, or NULL. */
const mproc_manager_type *mproc__mgr_type_find(const char *type_id);
/* The method of a type a proxy may call by name, or NULL (unexposed). */
const mproc_manager_method *mproc__mgr_method_find(const mproc_manager_type *t,
                                                   const char *name);

/* ---- server.c: what types.c needs from the server ----------------------- */

/* Whether the client the calling server thread serves has gone away (or
 * the server is stopping): a blocking method then stops waiting. */
bool mproc__mgr_client_gone(void);

/*
 * Wait in MGR_SLICE_S slices: call wait(obj, slice) until it returns
 * something other than `again`, the time runs out (then `again`), or the
 * client goes (MPROC_ECANCELLED).
 */
int mproc__mgr_sliced(int (*wait)(void *obj, double timeout), void *obj,
                      double timeout, int again);

/* The object the server holds under id, for a Condition made over a
 * managed lock: its type and instance, with a server reference the caller
 * drops with mproc__mgr_object_put(). -ENOENT when there is none. */
int mproc__mgr_object_get(uint64_t id, const mproc_manager_type **type,
                          void **self);
void mproc__mgr_object_put(uint64_t id);

/* The pins of the calling server thread's server (see shdict above). */
struct mproc__shdict_pins mproc__mgr_pins(void);

/* Wake what waits on a builtin object without slices, at shutdown. */
void mproc__mgr_interrupt(const mproc_manager_type *type, void *self);

/* The memory file behind a builtin object its local clients map (a dict or
 * a queue), or -EOPNOTSUPP; types.c answers for its types. */
int mproc__mgr_shared_fd(const mproc_manager_type *type, void *self);

/* The segments and lists the server owns (SharedMemoryManager). */
int mproc__mgr_segment_new(size_t size, char *name, size_t cap);
int mproc__mgr_shlist_new(const mproc_obj *items, char *name, size_t cap);

#endif /* MPROC_MANAGER_PRIVATE_H */
