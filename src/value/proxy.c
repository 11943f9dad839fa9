/*
 * value/proxy.c - proxy objects: a reference to an object a manager server
 * holds, named by (typeid, address, id) as Python's Token names it.
 *
 * The object is immutable, so it is hashable and copies share it; equal
 * (ops.c) looks at all three fields, hash at the address and id. Its two
 * strings lie inline after the object, typeid then address, each
 * NUL-terminated (value.h). The one mutable part is the server's hold, a
 * callback destroy (value.c) runs once when the last reference goes.
 */
#include "proxy.h"
#include "value.h"

#include <string.h>

_Static_assert(MPROC__PROXY_TYPEID_MAX <= UINT8_MAX &&
                   MPROC__PROXY_ADDRESS_MAX <= UINT16_MAX,
               "the lengths fit their fields (value.h)");

/* A string of 1 to max bytes of UTF-8: its length, or 0. */
static size_t
field_len(const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len == 0 || len > max || value_utf8_chars(s, len) == SIZE_MAX)
        return 0;
    return len;
}

int
mproc__obj_proxy_new(mproc_obj **out, const char *typeid, const char *address,
                     uint64_t id)
{
    size_t typeid_len, address_len;
    char *at;
    mproc_obj *o;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (typeid == NULL || address == NULL)
        return MPROC_EINVAL;
    typeid_len = field_len(typeid, MPROC__PROXY_TYPEID_MAX);
    address_len = field_len(address, MPROC__PROXY_ADDRESS_MAX);
    if (typeid_len == 0 || address_len == 0)
        return MPROC_EINVAL;
    o = value_alloc_extra(MPROC_OBJ_PROXY, typeid_len + address_len + 2);
    if (o == NULL)
        return MPROC_ENOMEM;
    o->u.proxy.id = id;
    o->u.proxy.typeid_len = (uint8_t)typeid_len;
    o->u.proxy.address_len = (uint16_t)address_len;
    at = (char *)value_proxy_typeid(o);
    memcpy(at, typeid, typeid_len + 1);
    memcpy(at + typeid_len + 1, address, address_len + 1);
    *out = o;
    return 0;
}

int
mproc__obj_proxy_get(const mproc_obj *o, const char **typeid,
                     const char **address, uint64_t *id)
{
    if (o == NULL || o->type != MPROC_OBJ_PROXY)
        return MPROC_EINVAL;
    if (typeid != NULL)
        *typeid = value_proxy_typeid(o);
    if (address != NULL)
        *address = value_proxy_address(o);
    if (id != NULL)
        *id = o->u.proxy.id;
    return 0;
}

void
mproc__obj_proxy_hold(mproc_obj *o, void (*release)(void *ctx, uint64_t id),
                      void *ctx)
{
    if (o == NULL || o->type != MPROC_OBJ_PROXY)
        return;
    o->u.proxy.release = release;
    o->u.proxy.ctx = release != NULL ? ctx : NULL;
}

bool
mproc__obj_proxy_held(const mproc_obj *o)
{
    return o != NULL && o->type == MPROC_OBJ_PROXY &&
           o->u.proxy.release != NULL;
}

int
mproc_obj_proxy_value(const mproc_obj *o, const char **typeid,
                      const char **address)
{
    return mproc__obj_proxy_get(o, typeid, address, NULL);
}
