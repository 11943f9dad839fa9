/*
 * value/proxy.h - proxy objects (MPROC_OBJ_PROXY) as the library makes and
 * holds them: the manager (manager.h) and the pickle decoder make them, and
 * a manager server holds the object one names while a proxy object that
 * stands for it lives (stored in a managed list, say). Python's pickled
 * BaseProxy, whose Token is (typeid, address, id).
 *
 * A proxy object is immutable but for its hold, which is set once, before
 * the object is shared with other threads.
 */
#ifndef MPROC_VALUE_PROXY_H
#define MPROC_VALUE_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/value.h"

/* Longest typeid and address, in bytes (both are 1 or more). */
#define MPROC__PROXY_TYPEID_MAX 64
#define MPROC__PROXY_ADDRESS_MAX 4096

/* A proxy object for the object `id` of the manager at `address`, of type
 * `typeid` (both NUL-terminated UTF-8, copied). Returns 0, or MPROC_EINVAL
 * (a NULL argument, a string empty, too long or not UTF-8) /
 * MPROC_ENOMEM. */
int mproc__obj_proxy_new(mproc_obj **out, const char *typeid,
                         const char *address, uint64_t id);

/* What a proxy object names; each out-parameter may be NULL, and the
 * strings are valid while o lives. Returns 0, or MPROC_EINVAL when o is
 * NULL or not a proxy object. */
int mproc__obj_proxy_get(const mproc_obj *o, const char **typeid,
                         const char **address, uint64_t *id);

/* Have release(ctx, id) called exactly once, when o is destroyed (its last
 * reference freed, by whichever thread frees it); a second call replaces
 * the first, a NULL release clears it. release may free objects itself.
 * Does nothing when o is not a proxy object. Not thread-safe: set it
 * before o is shared. */
void mproc__obj_proxy_hold(mproc_obj *o,
                           void (*release)(void *ctx, uint64_t id), void *ctx);

/* Whether o is a proxy object with a hold set (mproc__obj_proxy_hold). */
bool mproc__obj_proxy_held(const mproc_obj *o);

#endif /* MPROC_VALUE_PROXY_H */
