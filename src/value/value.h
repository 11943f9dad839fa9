/*
 * value/value.h - the layout of mproc_obj and what the files of src/value/
 * share: value.c (lifetime, scalars), container.c (list, tuple, dict, set,
 * frozenset), number.c (ints of any size), ops.c (equal, hash, copy),
 * repr.c, build.c and proxy.c (references to a manager's objects).
 *
 * Invariants a reader must keep in mind:
 * - An int that fits in int64 is always stored as `small` (bytes NULL);
 *   otherwise `bytes` holds its shortest two's-complement form, least
 *   significant byte first. So equal ints have equal representations.
 * - A dict's or set's entries hold no holes: a delete closes the gap and
 *   rebuilds the index, so entry i is item i in insertion order.
 * - A str's or bytes' text lies inline right after its object, in the
 *   same allocation; only a bytearray's (mutable) data is a buffer of its
 *   own, which destroy frees. Likewise a dict's or set's first
 *   VALUE_TABLE_INLINE entries: `entries` points right after the object
 *   until the table outgrows them (value_table_inline()), and a proxy's
 *   typeid and address, each NUL-terminated, one after the other.
 */
#ifndef MPROC_VALUE_PRIVATE_H
#define MPROC_VALUE_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/value.h"

/* Deepest nesting that repr, equal, hash and copy follow: beyond it repr,
 * hash and copy fail with MPROC_ETOOBIG and equal answers false. Their
 * frames are small, so this stays well inside an 8 MiB stack. */
#define VALUE_MAX_DEPTH 10000

/* Bytes of the two's-complement form of any integral double (1024 bits
 * and a sign byte, rounded up). */
#define VALUE_FLOAT_INT_BYTES 136

/* Entries a dict or set holds inside its own allocation: small dicts are
 * the common case, and this spares them an allocation. */
#define VALUE_TABLE_INLINE 4

struct entry {
    uint64_t hash;
    mproc_obj *key;
    mproc_obj *value; /* NULL in sets */
};

struct table {
    struct entry *entries; /* in insertion order, no holes */
    size_t len;
    size_t cap;
    size_t *index;     /* index_size slots: an entry number or SLOT_EMPTY */
    size_t index_size; /* 0 or a power of two */
};

struct mproc_obj {
    atomic_size_t refs;
    enum mproc_obj_type type;
    uint8_t size_class;   /* value.c's allocator: the block's size class */
    bool immortal;        /* None, True, False: refs are not counted */
    mproc_obj *dead_next; /* free's work list, so freeing needs no stack */
    union {
        bool boolean;
        struct {
            int64_t small;
            unsigned char *bytes; /* NULL when the value fits in small */
            size_t len;
        } integer;
        double real;
        struct {
            char *data; /* NUL-terminated; inline but in a bytearray */
            size_t len;
            size_t chars; /* code points, for a str */
            /* str and bytes are immutable, so their hash is kept once
             * computed (0: not yet); a dict's keys are hashed on every
             * set and get. Relaxed: racing threads store the same value. */
            _Atomic uint64_t hash;
        } text;
        struct {
            mproc_obj **items;
            size_t len;
            size_t cap;
        } seq;
        struct table table;
        struct {
            uint64_t id;
            /* The manager server's hold (proxy.h): called once, by
             * destroy. NULL: none. */
            void (*release)(void *ctx, uint64_t id);
            void *ctx;
            uint8_t typeid_len;   /* at most MPROC__PROXY_TYPEID_MAX */
            uint16_t address_len; /* at most MPROC__PROXY_ADDRESS_MAX */
        } proxy;
    } u;
};

/* value.c */
mproc_obj *value_alloc(enum mproc_obj_type type);
/* An object with `extra` bytes after it in the same block (a str's text, a
 * table's first entries, a proxy's strings); its `u` is zeroed, the extra
 * bytes are not. */
mproc_obj *value_alloc_extra(enum mproc_obj_type type, size_t extra);
/* Give back the memory of an object value_alloc made (not its contents);
 * NULL is ignored. */
void value_dealloc(mproc_obj *o);
bool value_table_inline(const mproc_obj *o);
bool value_is_int(const mproc_obj *o);
/* The code points of len bytes of UTF-8, or SIZE_MAX when they are not
 * valid UTF-8 (overlong forms, surrogates, past U+10FFFF). */
size_t value_utf8_chars(const char *s, size_t len);

/* A proxy's typeid and address (proxy.c), inline after the object. */
static inline const char *
value_proxy_typeid(const mproc_obj *o)
{
    return (const char *)(o + 1);
}

static inline const char *
value_proxy_address(const mproc_obj *o)
{
    return value_proxy_typeid(o) + o->u.proxy.typeid_len + 1;
}

/* container.c */
int value_table_insert(mproc_obj *o, mproc_obj *key, mproc_obj *value,
                       uint64_t hash);
size_t value_table_lookup(const mproc_obj *o, const mproc_obj *key,
                          uint64_t hash);
/* Append to a list or a tuple being made, taking over the caller's reference
 * on success (the caller keeps it on failure). */
int value_list_push(mproc_obj *list, mproc_obj *item);

/* number.c */
size_t value_twos_normalize(const unsigned char *le, size_t len);
int value_int_from_twos(mproc_obj **out, const unsigned char *le, size_t len);
size_t value_int64_twos(int64_t v, unsigned char out[8]);
bool value_float_twos(double f, unsigned char out[VALUE_FLOAT_INT_BYTES],
                      size_t *len);
int value_int_decimal(const mproc_obj *o, char **text, size_t *len);
int value_int_to_double(const mproc_obj *o, double *v);

/* ops.c */
int value_hash(const mproc_obj *o, uint64_t *hash, int depth);
bool value_equal(const mproc_obj *a, const mproc_obj *b, int depth);

#endif /* MPROC_VALUE_PRIVATE_H */
