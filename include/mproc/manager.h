/**
 * @file manager.h
 * Managers: a server process holding shared objects (dicts, lists,
 * namespaces, queues, sync objects, values, arrays and types the program
 * registers) that any process reaches through proxies: a child, an
 * unrelated program, or a program on another host over TCP. Python's
 * multiprocessing.Manager(), SyncManager, BaseManager, BaseProxy and
 * SharedMemoryManager.
 *
 * A manager handle (mproc_manager) is either a server this program
 * started (mproc_manager_new(): a forked child serving a fresh address,
 * Python's Manager()) or a connection to a server somewhere else
 * (mproc_manager_connect(): Python's BaseManager(address,
 * authkey).connect()). A server also runs inside any program through
 * mproc_manager_server_*, which the standalone `mproc-manager` program
 * uses (Python's get_server().serve_forever()).
 *
 * Every connection proves the authkey first, with the handshake of
 * listener.h, both ways. Requests then travel as framed messages
 * (conn.h) in mproc's own binary form with pickled arguments: a C-only
 * protocol, since Python's manager protocol names classes to construct,
 * which mproc never executes. A proxy call costs one round trip: one
 * send and one receive on each side, one server thread per connection.
 *
 * Beyond Python: a dict's and a queue's contents live in memory the
 * server shares with its clients on the same host (over a unix address:
 * it passes the memory file once, on first use). For those, the typed
 * calls (mproc_proxy_getitem/setitem/delitem/len on a dict,
 * mproc_proxy_put/get/len on a queue) run in the calling process under
 * the object's own lock, with no round trip; everything else, and every
 * call over TCP or through mproc_proxy_call(), asks the server, which
 * works on the same memory, so both kinds of call see one object. A
 * dict entry holding proxy objects is stored and removed by the server
 * (which keeps their objects alive); the typed calls send those there.
 *
 * Each thread of a client process talks over a connection of its own (as
 * Python's proxies do), so a server-side RLock or Condition is owned by
 * the calling thread. A forked child opens its own connections the first
 * time it uses an inherited handle or proxy, and takes its own reference
 * to each inherited proxy's object then: the parent must keep its proxy
 * until the child has used it (or ended), as in Python, or the child's
 * first call finds the object gone (-ENOENT).
 *
 * Lifetime. Each managed object lives while a proxy refers to it: a
 * proxy takes a reference for its process when it is created (or first
 * used in a forked child) and drops it when freed; the server also drops
 * every reference a process held when that process's connection goes
 * away, so a SIGKILLed client leaks nothing. A proxy stored inside a
 * managed container (a list holding a dict's proxy object) keeps its
 * object alive while it is stored there.
 *
 * The builtin types (Python's SyncManager typeids) and the methods
 * their proxies call with mproc_proxy_call() (arguments as one tuple;
 * a timeout is seconds as a float, negative: forever):
 *
 *   dict        __getitem__(k) __setitem__(k, v) __delitem__(k)
 *               __contains__(k) __len__() get(k[, default]) pop(k[,
 *               default]) popitem() setdefault(k[, default]) update(d)
 *               keys() values() items() clear() copy()
 *   list        __getitem__(i) __setitem__(i, v) __delitem__(i)
 *               __contains__(v) __len__() append(v) extend(seq)
 *               insert(i, v) pop([i]) remove(v) index(v) count(v)
 *               reverse() sort([reverse]) clear() copy()
 *   Namespace   __getattr__(name) __setattr__(name, v) __delattr__(name)
 *   Queue, JoinableQueue
 *               put(item[, timeout]) get([timeout]) qsize() empty()
 *               full(); JoinableQueue also task_done() join([timeout])
 *   Lock, RLock acquire([timeout]) release() locked() (Lock)
 *   Semaphore, BoundedSemaphore
 *               acquire([timeout]) release() get_value()
 *   Condition   acquire([timeout]) release() wait([timeout]) notify([n])
 *               notify_all()
 *   Event       is_set() set() clear() wait([timeout])
 *   Barrier     wait([timeout]) -> index, abort() reset() parties()
 *               n_waiting() broken()
 *   Value       get() set(v)
 *   Array       __len__() __getitem__(i) __setitem__(i, v)
 *
 * A wait that runs out of time fails with MPROC_ETIMEDOUT (Python's
 * False), a queue's with MPROC_EEMPTY / MPROC_EFULL. Every type answers
 * _getvalue() with a copy of its whole value
 * (dict, list, Namespace as a dict of its attributes, Value, Array as a
 * list). Remote failures come back as codes: -ENOENT (KeyError, or no
 * such attribute), -ERANGE (IndexError), MPROC_EINVAL (TypeError,
 * ValueError), MPROC_EEMPTY / MPROC_EFULL (queue.Empty / queue.Full),
 * MPROC_ETIMEDOUT, MPROC_ESTATE, MPROC_EPERM, MPROC_EBROKEN as the
 * objects of sync.h and queue.h return them, -EOPNOTSUPP for a method
 * the type does not expose (AttributeError). A blocking method of a
 * builtin type run by the server whose client went away stops waiting
 * within 0.1 s (a Barrier's and a Condition's wait excepted: slices
 * would break the barrier or lose a notify), so a dead client's pending
 * get takes nothing put later; a registered type's blocking method runs
 * to its end. A Lock or RLock whose holder was a vanished client's
 * connection comes to the next acquirer with MPROC_EOWNERDEAD (acquired),
 * as sync.h reports a dead holder.
 *
 * Thread-safety: all handles are thread-safe. Fork-safety: a forked
 * child may use the handles and proxies it inherited; it connects anew.
 */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "process.h"
#include "shm.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A manager: a server this program started, or a connection to one. */
typedef struct mproc_manager mproc_manager;

/** A proxy: a reference to one object a manager holds. */
typedef struct mproc_proxy mproc_proxy;

/** A server serving in the calling process (mproc_manager_server_new()). */
typedef struct mproc_manager_server mproc_manager_server;

/* ---- registered types ----------------------------------------------------
 */

/**
 * A method of a registered type, run by the server.
 *
 * self    the object (what the type's create made).
 * args    the arguments: a tuple, possibly empty (borrowed).
 * result  receives the return value, a new reference the server sends
 *         and frees; left NULL it is None.
 *
 * Returns: 0, or a negative code the caller's proxy call returns.
 */
typedef int (*mproc_manager_method_fn)(void *self, const mproc_obj *args,
                                       mproc_obj **result);

/**
 * A method returning another managed object (Python: method_to_typeid).
 *
 * instance  receives a new object of the method's type_id, as that type's
 *           create would make it; the server manages it from then on and
 *           the caller gets a proxy to it.
 *
 * Returns: 0, or a negative code.
 */
typedef int (*mproc_manager_make_fn)(void *self, const mproc_obj *args,
                                     void **instance);

/** One method of a registered type. */
typedef struct mproc_manager_method {
    /** The name proxies call it by (Python's method name). */
    const char *name;
    /** The method, for one that returns a value; NULL when make is set. */
    mproc_manager_method_fn call;
    /** The type_id of what the method returns, for one that returns a
     *  managed object (Python: method_to_typeid); NULL otherwise. */
    const char *type_id;
    /** The method, when type_id is set. */
    mproc_manager_make_fn make;
} mproc_manager_method;

/** A type the server can hold (Python: BaseManager.register(type_id,
 *  callable, exposed=..., method_to_typeid=...)). */
typedef struct mproc_manager_type {
    /** The name clients create it by (1 to 64 bytes). */
    const char *type_id;
    /** Make an object from the arguments of mproc_manager_create() (a
     *  tuple, borrowed): 0, or a negative code the creator gets. */
    int (*create)(void **self, const mproc_obj *args);
    /** Free an object whose last reference is gone, and at shutdown.
     *  NULL: nothing to free. */
    void (*destroy)(void *self);
    /** Copy the whole value out for mproc_proxy_getvalue(); NULL: the
     *  type has no value to copy (-EOPNOTSUPP). */
    int (*getvalue)(void *self, mproc_obj **value);
    /** The methods, ended by an entry whose name is NULL. */
    const mproc_manager_method *methods;
    /** The names proxies may call, ended by NULL. NULL: every method in
     *  the table whose name does not start with '_', and those named
     *  "__name__" (Python's public methods plus special methods such as
     *  "__getitem__", which Python's own proxies expose). */
    const char *const *exposed;
    /** The methods do their own locking and may block; default false:
     *  the server runs one method of an object at a time. */
    bool thread_safe;
} mproc_manager_type;

/**
 * Register a type with this process's registry, which the servers it
 * starts later (mproc_manager_new(), mproc_manager_server_new()) serve.
 * Clients need not register: they create objects by type_id.
 *
 * Python: BaseManager.register(type_id, callable, exposed=...,
 * method_to_typeid=...) (mproc registers per process, not per class).
 *
 * type  the type, borrowed for the life of the process (a static
 *       table).
 *
 * Returns: 0, or
 *   -EEXIST       the type_id is registered already (a builtin's too)
 *   MPROC_EINVAL  type NULL, a type_id empty or over 64 bytes, no create,
 *                 no methods table, a method name over 255 bytes, a
 *                 method with type_id but no make (or neither call nor
 *                 make), or an exposed name that is not among the methods
 *   MPROC_ENOMEM  256 types are registered already
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_manager_register(const mproc_manager_type *type);

/* ---- managers ------------------------------------------------------------
 */

/** Options of mproc_manager_new(), mproc_manager_connect() and
 *  mproc_manager_server_new(); all zero means the defaults. */
typedef struct mproc_manager_opts {
    /** The address to serve (new, server_new): "unix:PATH", "unix:@NAME"
     *  or "tcp://HOST:PORT" (port 0: any free port); NULL: a fresh
     *  abstract unix address (Python: address=None). */
    const char *address;
    /** The key every connection proves (copied; it may be empty); NULL:
     *  the current process's authkey (Python's default). */
    const void *authkey;
    /** Its length in bytes. */
    size_t authkey_len;
    /** Seconds mproc_manager_shutdown() waits for a started server to
     *  exit before killing it; 0: 1 s (Python: shutdown_timeout). */
    double shutdown_timeout;
    /** Run in the server process before it serves (new only; Python:
     *  start(initializer, initargs)); NULL: nothing. */
    void (*initializer)(void *arg);
    /** Its argument (shared with the forked server, not copied). */
    void *initializer_arg;
} mproc_manager_opts;

/**
 * Start a server in a forked child process and connect to it.
 *
 * Python: multiprocessing.Manager(), or SyncManager(address,
 * authkey).start(initializer, initargs).
 *
 * out   receives the handle, owned by the caller: free it with
 *       mproc_manager_free(), which shuts the server down.
 * opts  NULL or options (borrowed).
 *
 * The server serves the builtin types and those registered before this
 * call; it is a daemon child (it ends when this process ends, even by
 * SIGKILL) and ignores SIGINT, as Python's does.
 *
 * Returns: 0, or
 *   -EADDRINUSE   the address is taken
 *   MPROC_EINVAL  a malformed address
 *   MPROC_ESTATE  this process is a daemon (it may not start children)
 *   other -errno  the server could not be started or reached
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_manager_new(mproc_manager **out,
                                const mproc_manager_opts *opts);

/**
 * Connect to a server that is already running.
 *
 * Python: BaseManager(address, authkey).connect().
 *
 * out      receives the handle, owned by the caller: free it with
 *          mproc_manager_free() (which leaves the server running).
 * address  the server's address (copied).
 * opts     NULL or options (borrowed): authkey.
 * timeout  seconds to wait for the connection and handshake.
 *
 * Returns: 0, or
 *   MPROC_EINVAL     a malformed address
 *   MPROC_EAUTH      the keys differ (AuthenticationError)
 *   -ECONNREFUSED, -ENOENT  nobody serves the address
 *   MPROC_ETIMEDOUT  no handshake in time
 *   MPROC_EPROTOCOL  the peer is not an mproc manager
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_manager_connect(mproc_manager **out, const char *address,
                                    const mproc_manager_opts *opts,
                                    double timeout);

/**
 * The server's address: what another process passes to
 * mproc_manager_connect() (a TCP port 0 is resolved).
 *
 * Python: BaseManager.address.
 *
 * Returns: the address, valid until mproc_manager_free(); "" for NULL.
 */
MPROC_API const char *mproc_manager_address(const mproc_manager *m);

/**
 * The server's process, for a manager this program started (its pid,
 * sentinel, exitcode). Python: BaseManager._process.
 *
 * Returns: a handle valid until mproc_manager_free(); NULL for a
 * connected manager or NULL.
 */
MPROC_API mproc_process *mproc_manager_process(const mproc_manager *m);

/**
 * Stop the server: it answers no more requests, frees its objects and
 * releases its shared memory segments. For a server this program started,
 * wait for it to exit (up to the shutdown_timeout option, then SIGTERM,
 * then SIGKILL) and reap it. Proxies then fail with MPROC_EEOF,
 * -ECONNRESET or -EPIPE. A second call does nothing.
 *
 * Python: BaseManager.shutdown() (mproc allows it on a connected manager
 * too: it stops that server).
 *
 * Returns: 0, or
 *   -errno  the request could not be sent
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_manager_shutdown(mproc_manager *m);

/**
 * Release the handle: shut down a server this program started, close
 * the connections. Proxies still held keep what they need, and fail
 * once their server is gone.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_manager_free(mproc_manager *m);

/* ---- creating objects ----------------------------------------------------
 */

/**
 * Create an object of a type_id on the server and a proxy to it.
 *
 * Python: getattr(manager, typeid)(*args).
 *
 * m       the manager.
 * type_id  a builtin type_id ("dict", "list", "Namespace", "Queue",
 *         "JoinableQueue", "Lock", "RLock", "Semaphore",
 *         "BoundedSemaphore", "Condition", "Event", "Barrier", "Value",
 *         "Array") or a registered one (borrowed).
 * args    the arguments, a tuple (borrowed); NULL: none.
 * out     receives the proxy, owned by the caller: free it with
 *         mproc_proxy_free().
 *
 * Returns: 0, or
 *   -ENOENT       the server knows no such type_id
 *   MPROC_EINVAL  arguments the type refuses
 *   MPROC_EEOF, -ECONNRESET  the server is gone
 *   other codes   the type's create failed with them
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_manager_create(mproc_manager *m, const char *type_id,
                                   const mproc_obj *args, mproc_proxy **out);

/**
 * A shared dict. Python: manager.dict(init).
 *
 * init  NULL, or a dict whose items it starts with (borrowed).
 *
 * Returns: as mproc_manager_create(); MPROC_EINVAL for an init that is
 * not a dict.
 */
MPROC_API int mproc_manager_dict(mproc_manager *m, const mproc_obj *init,
                                 mproc_proxy **out);

/**
 * A shared list. Python: manager.list(init).
 *
 * init  NULL, or a list or tuple whose items it starts with (borrowed).
 *
 * Returns: as mproc_manager_create().
 */
MPROC_API int mproc_manager_list(mproc_manager *m, const mproc_obj *init,
                                 mproc_proxy **out);

/**
 * A Namespace: named attributes. Python: manager.Namespace().
 *
 * Returns: as mproc_manager_create().
 */
MPROC_API int mproc_manager_namespace(mproc_manager *m, mproc_proxy **out);

/**
 * A Queue, or with joinable a JoinableQueue, of objects.
 * Python: manager.Queue(maxsize), manager.JoinableQueue(maxsize).
 *
 * maxsize  the most items it holds; 0 or negative: no bound.
 *
 * Returns: as mproc_manager_create().
 */
MPROC_API int mproc_manager_queue(mproc_manager *m, int maxsize, bool joinable,
                                  mproc_proxy **out);

/**
 * A Lock (recursive false) or an RLock (recursive true).
 * Python: manager.Lock(), manager.RLock().
 *
 * Returns: as mproc_manager_create().
 */
MPROC_API int mproc_manager_lock(mproc_manager *m, bool recursive,
                                 mproc_proxy **out);

/**
 * A Semaphore, or with bounded a BoundedSemaphore.
 * Python: manager.Semaphore(value), manager.BoundedSemaphore(value).
 *
 * Returns: as mproc_manager_create(); MPROC_EINVAL for a negative value.
 */
MPROC_API int mproc_manager_semaphore(mproc_manager *m, int value, bool bounded,
                                      mproc_proxy **out);

/**
 * A Condition over a managed Lock or RLock, or a new RLock.
 * Python: manager.Condition(lock).
 *
 * lock  NULL, or a proxy of this manager's Lock or RLock (borrowed).
 *
 * Returns: as mproc_manager_create(); MPROC_EINVAL for a lock that is
 * no Lock or RLock of this server.
 */
MPROC_API int mproc_manager_condition(mproc_manager *m, mproc_proxy *lock,
                                      mproc_proxy **out);

/**
 * An Event. Python: manager.Event().
 *
 * Returns: as mproc_manager_create().
 */
MPROC_API int mproc_manager_event(mproc_manager *m, mproc_proxy **out);

/**
 * A Barrier. Python: manager.Barrier(parties, timeout=timeout) (no
 * action: the server runs no client code).
 *
 * timeout  the default time limit of a wait; negative: none.
 *
 * Returns: as mproc_manager_create(); MPROC_EINVAL for parties < 1.
 */
MPROC_API int mproc_manager_barrier(mproc_manager *m, int parties,
                                    double timeout, mproc_proxy **out);

/**
 * A Value: one object of a typecode. Python: manager.Value(typecode,
 * value).
 *
 * typecode  a Python typecode ("i", "d", "c", "u", "?", ...; see
 *           mproc_ctype_parse()) (borrowed); set() checks that each value
 *           fits it.
 * value     the first value (borrowed).
 *
 * Returns: as mproc_manager_create(); MPROC_EINVAL for an unknown
 * typecode or a value that does not fit.
 */
MPROC_API int mproc_manager_value(mproc_manager *m, const char *typecode,
                                  const mproc_obj *value, mproc_proxy **out);

/**
 * An Array of a typecode. Python: manager.Array(typecode, sequence).
 *
 * sequence  a list or tuple of values that fit the typecode (borrowed).
 *
 * Returns: as mproc_manager_value().
 */
MPROC_API int mproc_manager_array(mproc_manager *m, const char *typecode,
                                  const mproc_obj *sequence, mproc_proxy **out);

/* ---- SharedMemoryManager -------------------------------------------------
 */

/**
 * A new shared memory segment the server owns: it stays while the server
 * runs and is unlinked at its shutdown (or when its process tree ends).
 *
 * Python: SharedMemoryManager.SharedMemory(size).
 *
 * size  bytes, at least 1.
 * out   receives this process's mapping, owned by the caller: free it
 *       with mproc_shm_free() (which leaves the segment in place).
 *
 * Returns: 0, or MPROC_EINVAL for size 0, -ENOSPC and the codes of
 * mproc_shm_new().
 */
MPROC_API int mproc_manager_shared_memory(mproc_manager *m, size_t size,
                                          mproc_shm **out);

/**
 * A new ShareableList the server owns, like mproc_manager_shared_memory().
 *
 * Python: SharedMemoryManager.ShareableList(sequence).
 *
 * items  the values (borrowed), as mproc_shlist_new().
 *
 * Returns: 0, or the codes of mproc_shlist_new().
 */
MPROC_API int mproc_manager_shareable_list(mproc_manager *m,
                                           const mproc_obj *items,
                                           mproc_shlist **out);

/* ---- proxies -------------------------------------------------------------
 */

/**
 * Call a method of the object.
 *
 * Python: BaseProxy._callmethod(methodname, args).
 *
 * method   the method's name (borrowed).
 * args     a tuple of arguments (borrowed); NULL: none.
 * result   receives the return value, owned by the caller
 *          (mproc_obj_free()); None for a method that returns nothing.
 *          May be NULL when the value is not wanted. NULL on failure.
 * message  NULL, or receives the server's words on a failure (owned by
 *          the caller: mproc_buf_free()); empty on success.
 *
 * Returns: 0, or the method's code (see the file comment), or
 *   -EOPNOTSUPP   the type does not expose the method
 *   -ENOENT       the object is gone
 *   MPROC_EINVAL  a method that returns a managed object (use
 *                 mproc_proxy_call_proxy()), or args not a tuple
 *   MPROC_EEOF, -ECONNRESET, -EPIPE  the server is gone
 *
 * Thread-safe: yes; each thread calls over its own connection.
 */
MPROC_API int mproc_proxy_call(mproc_proxy *p, const char *method,
                               const mproc_obj *args, mproc_obj **result,
                               mproc_buf *message);

/**
 * Call a method that returns a managed object (one registered with a
 * type_id: Python's method_to_typeid) and get a proxy to it.
 *
 * out  receives the proxy, owned by the caller: free it with
 *      mproc_proxy_free().
 *
 * Returns: as mproc_proxy_call(); MPROC_EINVAL when the method returns a
 * plain value instead.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_proxy_call_proxy(mproc_proxy *p, const char *method,
                                     const mproc_obj *args, mproc_proxy **out);

/**
 * Call a method with arguments built by mproc_obj_build()'s format: a
 * tuple format "(...)" gives the arguments, any other one argument.
 *
 * Example: mproc_proxy_callf(d, "__setitem__", NULL, "(s i)", "a", 1) is
 * Python's d["a"] = 1.
 *
 * Returns: as mproc_proxy_call(); MPROC_EINVAL for a malformed format.
 */
MPROC_API int mproc_proxy_callf(mproc_proxy *p, const char *method,
                                mproc_obj **result, const char *fmt, ...);

/**
 * A copy of the object's whole value. Python: BaseProxy._getvalue().
 *
 * out  receives the copy, owned by the caller.
 *
 * Returns: as mproc_proxy_call(); -EOPNOTSUPP for a type without one.
 */
MPROC_API int mproc_proxy_getvalue(mproc_proxy *p, mproc_obj **out);

/**
 * obj[key] of a dict, list or Array (an int index: negative counts from
 * the end). Python: proxy[key].
 *
 * out  receives the item, owned by the caller.
 *
 * Returns: 0, or -ENOENT (no such key), -ERANGE (index out of range),
 * MPROC_EINVAL (an unhashable key, a non-int index), and the codes of
 * mproc_proxy_call().
 */
MPROC_API int mproc_proxy_getitem(mproc_proxy *p, const mproc_obj *key,
                                  mproc_obj **out);

/**
 * obj[key] = value. Python: proxy[key] = value.
 *
 * Returns: as mproc_proxy_getitem().
 */
MPROC_API int mproc_proxy_setitem(mproc_proxy *p, const mproc_obj *key,
                                  const mproc_obj *value);

/**
 * del obj[key]. Python: del proxy[key].
 *
 * Returns: as mproc_proxy_getitem().
 */
MPROC_API int mproc_proxy_delitem(mproc_proxy *p, const mproc_obj *key);

/**
 * len(obj) of a dict, list, Array or queue (qsize).
 *
 * Returns: 0, or the codes of mproc_proxy_call().
 */
MPROC_API int mproc_proxy_len(mproc_proxy *p, size_t *len);

/**
 * A Namespace's attribute. Python: ns.name.
 *
 * Returns: 0, or -ENOENT (no such attribute), and the codes of
 * mproc_proxy_call().
 */
MPROC_API int mproc_proxy_getattr(mproc_proxy *p, const char *name,
                                  mproc_obj **out);

/**
 * Set a Namespace's attribute. Python: ns.name = value.
 *
 * Returns: 0, or the codes of mproc_proxy_call().
 */
MPROC_API int mproc_proxy_setattr(mproc_proxy *p, const char *name,
                                  const mproc_obj *value);

/**
 * Put an object on a managed queue. Python: q.put(item, timeout=...).
 *
 * Returns: 0, or MPROC_EFULL (a bounded queue still full when the time
 * ran out), and the codes of mproc_proxy_call().
 */
MPROC_API int mproc_proxy_put(mproc_proxy *p, const mproc_obj *item,
                              double timeout);

/**
 * Take an object from a managed queue. Python: q.get(timeout=...).
 *
 * out  receives the item, owned by the caller.
 *
 * Returns: 0, or MPROC_EEMPTY (nothing came in time), and the codes of
 * mproc_proxy_call().
 */
MPROC_API int mproc_proxy_get(mproc_proxy *p, mproc_obj **out, double timeout);

/**
 * Acquire a managed Lock, RLock, Semaphore or Condition.
 * Python: proxy.acquire(timeout=...).
 *
 * Returns: 0, or MPROC_ETIMEDOUT, and the codes of mproc_proxy_call().
 */
MPROC_API int mproc_proxy_acquire(mproc_proxy *p, double timeout);

/**
 * Release a managed Lock, RLock, Semaphore or Condition.
 * Python: proxy.release().
 *
 * Returns: 0, or MPROC_ESTATE (not held), MPROC_EPERM (an RLock another
 * thread holds), and the codes of mproc_proxy_call().
 */
MPROC_API int mproc_proxy_release(mproc_proxy *p);

/**
 * Wait on a managed Event or Condition (whose lock the calling thread
 * holds). Python: proxy.wait(timeout).
 *
 * Returns: 0 when set or notified, MPROC_ETIMEDOUT when the time ran out,
 * and the codes of mproc_proxy_call().
 */
MPROC_API int mproc_proxy_wait(mproc_proxy *p, double timeout);

/**
 * The object's type_id ("dict", "Queue", a registered one).
 *
 * Returns: a string valid until mproc_proxy_free(); "" for NULL.
 */
MPROC_API const char *mproc_proxy_typeid(const mproc_proxy *p);

/**
 * An object standing for the proxy (MPROC_OBJ_PROXY), to store inside a
 * managed container or send to a process (pickled; only mproc reads it
 * back). Python: pickling a proxy.
 *
 * out  receives the object, owned by the caller.
 *
 * Returns: 0, or MPROC_EINVAL.
 */
MPROC_API int mproc_proxy_obj(mproc_proxy *p, mproc_obj **out);

/**
 * A proxy for a proxy object read back (an item of a managed list, an
 * argument): Python's RebuildProxy.
 *
 * m    the manager the object belongs to.
 * o    an MPROC_OBJ_PROXY object (borrowed).
 * out  receives the proxy, owned by the caller.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  o is not a proxy object, or belongs to another address
 *   -ENOENT       the object it names is gone
 */
MPROC_API int mproc_proxy_from_obj(mproc_manager *m, const mproc_obj *o,
                                   mproc_proxy **out);

/**
 * Release the proxy: its process's reference to the object goes (the
 * object is freed with the last one).
 *
 * Returns: nothing.
 */
MPROC_API void mproc_proxy_free(mproc_proxy *p);

/* ---- serving in this process ---------------------------------------------
 */

/**
 * Bind a server to an address, ready to serve in the calling process.
 *
 * Python: BaseManager(address, authkey).get_server().
 *
 * out   receives the server, owned by the caller: free it with
 *       mproc_manager_server_free().
 * opts  NULL or options (borrowed): address, authkey.
 *
 * Returns: 0, or -EADDRINUSE, MPROC_EINVAL (a malformed address), -errno.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_manager_server_new(mproc_manager_server **out,
                                       const mproc_manager_opts *opts);

/**
 * The address the server listens on (a TCP port 0 resolved).
 *
 * Returns: the address, valid until mproc_manager_server_free().
 */
MPROC_API const char *
mproc_manager_server_address(const mproc_manager_server *s);

/**
 * Serve until a client asks for shutdown or mproc_manager_server_stop()
 * is called; then close every connection and free every object and
 * segment.
 *
 * Python: Server.serve_forever().
 *
 * Returns: 0, or MPROC_ESTATE (served before), -errno (accepting
 * failed for good).
 */
MPROC_API int mproc_manager_server_serve_forever(mproc_manager_server *s);

/**
 * Make serve_forever return. Async-signal-safe: a SIGTERM handler may
 * call it.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_manager_server_stop(mproc_manager_server *s);

/**
 * Release the server (it must not be serving).
 *
 * Returns: nothing.
 */
MPROC_API void mproc_manager_server_free(mproc_manager_server *s);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_MANAGER_H */
