/*
 * value/ops.c - what Python does to whole objects: ==, hash() and
 * copy.deepcopy (which shares the immutable scalars and proxies).
 *
 * Invariant: objects that compare equal hash equal, across int, float and
 * bool too. So every integral number hashes through one integer form (an
 * int64 when it fits, else the shortest two's-complement bytes), and only
 * a non-integral float hashes its bits. Containers compare items as
 * CPython does, identity first, so [nan] holding one NaN equals itself.
 * All three follow at most VALUE_MAX_DEPTH levels.
 */
#include "value.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum seed {
    SEED_NONE = 0x6e6f6e65,
    SEED_INT = 0x696e7465,
    SEED_BIG = 0x62696769,
    SEED_FLOAT = 0x666c6f61,
    SEED_STR = 0x73747220,
    SEED_BYTES = 0x62797465,
    SEED_TUPLE = 0x7475706c,
    SEED_FROZENSET = 0x66726f7a,
    SEED_PROXY = 0x70726f78,
};

/* splitmix64's finalizer: every input bit reaches every output bit, which
 * the tables' linear probing relies on. */
static uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x;
}

/* FNV-1a, then mixed. */
static uint64_t
hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u ^ seed;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return mix(h ^ len);
}

static uint64_t
hash_int64(int64_t v)
{
    return mix((uint64_t)v ^ SEED_INT);
}

/* 2^63 as a double: the integral doubles in [-2^63, 2^63) fit in int64. */
#define TWO_63 9223372036854775808.0

static uint64_t
hash_float(double f)
{
    unsigned char big[VALUE_FLOAT_INT_BYTES];
    size_t len;
    uint64_t bits;

    if (f >= -TWO_63 && f < TWO_63 && f == floor(f))
        return hash_int64((int64_t)f);
    if (value_float_twos(f, big, &len))
        return hash_bytes(big, len, SEED_BIG);
    memcpy(&bits, &f, sizeof(bits));
    return mix(bits ^ SEED_FLOAT);
}

/* A str's or bytes' hash, kept in the object (value.h). */
static uint64_t
hash_text(const mproc_obj *o)
{
    /* The cache is not part of the value: it may change under const. */
    _Atomic uint64_t *cache = &((mproc_obj *)o)->u.text.hash;
    uint64_t h = atomic_load_explicit(cache, memory_order_relaxed);

    if (h == 0) {
        h = hash_bytes(o->u.text.data, o->u.text.len,
                       o->type == MPROC_OBJ_STR ? SEED_STR : SEED_BYTES);
        atomic_store_explicit(cache, h, memory_order_relaxed);
    }
    return h;
}

static int
hash_tuple(const mproc_obj *t, uint64_t *hash, int depth)
{
    uint64_t h = mix(SEED_TUPLE ^ t->u.seq.len);

    for (size_t i = 0; i < t->u.seq.len; i++) {
        uint64_t item;
        int rc = value_hash(t->u.seq.items[i], &item, depth + 1);

        if (rc < 0)
            return rc;
        h = mix(h + item * 0x9e3779b97f4a7c15u);
    }
    *hash = h;
    return 0;
}

int
value_hash(const mproc_obj *o, uint64_t *hash, int depth)
{
    if (depth >= VALUE_MAX_DEPTH)
        return MPROC_ETOOBIG;
    switch (o->type) {
    case MPROC_OBJ_NONE:
        *hash = mix(SEED_NONE);
        return 0;
    case MPROC_OBJ_BOOL:
        *hash = hash_int64(o->u.boolean);
        return 0;
    case MPROC_OBJ_INT:
        *hash =
            o->u.integer.bytes == NULL
                ? hash_int64(o->u.integer.small)
                : hash_bytes(o->u.integer.bytes, o->u.integer.len, SEED_BIG);
        return 0;
    case MPROC_OBJ_FLOAT:
        *hash = hash_float(o->u.real);
        return 0;
    case MPROC_OBJ_STR:
    case MPROC_OBJ_BYTES:
        *hash = hash_text(o);
        return 0;
    case MPROC_OBJ_TUPLE:
        return hash_tuple(o, hash, depth);
    case MPROC_OBJ_FROZENSET: {
        /* A sum of mixed member hashes: the same whatever the order. */
        uint64_t sum = 0;

        for (size_t i = 0; i < o->u.table.len; i++)
            sum += mix(o->u.table.entries[i].hash ^ SEED_FROZENSET);
        *hash = mix(sum ^ o->u.table.len);
        return 0;
    }
    case MPROC_OBJ_PROXY:
        /* The address and id tell proxies apart; the typeid adds nothing
         * (one object has one type). */
        *hash = mix(hash_bytes(value_proxy_address(o), o->u.proxy.address_len,
                               SEED_PROXY) +
                    o->u.proxy.id * 0x9e3779b97f4a7c15u);
        return 0;
    default:
        return MPROC_EINVAL;
    }
}

int
mproc_obj_hash(const mproc_obj *o, uint64_t *hash)
{
    if (o == NULL || hash == NULL)
        return MPROC_EINVAL;
    return value_hash(o, hash, 0);
}

/* ---- equality ------------------------------------------------------------ */

static bool
is_number(const mproc_obj *o)
{
    return value_is_int(o) || o->type == MPROC_OBJ_FLOAT;
}

/* An int or bool that fits in int64, as such. */
static bool
int_small(const mproc_obj *o, int64_t *v)
{
    if (o->type == MPROC_OBJ_BOOL) {
        *v = o->u.boolean;
        return true;
    }
    *v = o->u.integer.small;
    return o->u.integer.bytes == NULL;
}

/* An int and a float: equal only when the float is integral and exactly
 * the same value, however large. */
static bool
int_equals_float(const mproc_obj *i, double f)
{
    unsigned char big[VALUE_FLOAT_INT_BYTES];
    size_t len;
    int64_t v;

    if (int_small(i, &v))
        return f >= -TWO_63 && f < TWO_63 && f == floor(f) && (int64_t)f == v;
    if (!value_float_twos(f, big, &len))
        return false;
    return len == i->u.integer.len && memcmp(big, i->u.integer.bytes, len) == 0;
}

static bool
number_equal(const mproc_obj *a, const mproc_obj *b)
{
    int64_t va, vb;
    bool small_a, small_b;

    if (a->type == MPROC_OBJ_FLOAT && b->type == MPROC_OBJ_FLOAT)
        return a->u.real == b->u.real;
    if (a->type == MPROC_OBJ_FLOAT)
        return int_equals_float(b, a->u.real);
    if (b->type == MPROC_OBJ_FLOAT)
        return int_equals_float(a, b->u.real);
    small_a = int_small(a, &va);
    small_b = int_small(b, &vb);
    if (small_a || small_b)
        return small_a && small_b && va == vb;
    return a->u.integer.len == b->u.integer.len &&
           memcmp(a->u.integer.bytes, b->u.integer.bytes, a->u.integer.len) ==
               0;
}

/* Items of containers: identity first, as CPython compares them. */
static bool
item_equal(const mproc_obj *a, const mproc_obj *b, int depth)
{
    return a == b || value_equal(a, b, depth);
}

static bool
seq_equal(const mproc_obj *a, const mproc_obj *b, int depth)
{
    if (a->u.seq.len != b->u.seq.len)
        return false;
    for (size_t i = 0; i < a->u.seq.len; i++) {
        if (!item_equal(a->u.seq.items[i], b->u.seq.items[i], depth + 1))
            return false;
    }
    return true;
}

/* dicts (values too) and sets: the same keys, whatever the order. */
static bool
table_equal(const mproc_obj *a, const mproc_obj *b, int depth)
{
    if (a->u.table.len != b->u.table.len)
        return false;
    for (size_t i = 0; i < a->u.table.len; i++) {
        const struct entry *e = &a->u.table.entries[i];
        size_t at = value_table_lookup(b, e->key, e->hash);

        if (at == SIZE_MAX)
            return false;
        if (e->value != NULL &&
            !item_equal(e->value, b->u.table.entries[at].value, depth + 1))
            return false;
    }
    return true;
}

/* Proxies name the same object: the same manager, id and typeid. */
static bool
proxy_equal(const mproc_obj *a, const mproc_obj *b)
{
    return a->u.proxy.id == b->u.proxy.id &&
           a->u.proxy.typeid_len == b->u.proxy.typeid_len &&
           a->u.proxy.address_len == b->u.proxy.address_len &&
           memcmp(value_proxy_typeid(a), value_proxy_typeid(b),
                  a->u.proxy.typeid_len + 1u + a->u.proxy.address_len) == 0;
}

static bool
is_set(const mproc_obj *o)
{
    return o->type == MPROC_OBJ_SET || o->type == MPROC_OBJ_FROZENSET;
}

static bool
is_bytes(const mproc_obj *o)
{
    return o->type == MPROC_OBJ_BYTES || o->type == MPROC_OBJ_BYTEARRAY;
}

bool
value_equal(const mproc_obj *a, const mproc_obj *b, int depth)
{
    if (a == b && a->type != MPROC_OBJ_FLOAT)
        return true;
    if (depth >= VALUE_MAX_DEPTH)
        return false;
    if (is_number(a) && is_number(b))
        return number_equal(a, b);
    if (is_bytes(a) && is_bytes(b))
        return a->u.text.len == b->u.text.len &&
               memcmp(a->u.text.data, b->u.text.data, a->u.text.len) == 0;
    if (is_set(a) && is_set(b))
        return table_equal(a, b, depth);
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MPROC_OBJ_STR:
        return a->u.text.len == b->u.text.len &&
               memcmp(a->u.text.data, b->u.text.data, a->u.text.len) == 0;
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        return seq_equal(a, b, depth);
    case MPROC_OBJ_DICT:
        return table_equal(a, b, depth);
    case MPROC_OBJ_PROXY:
        return proxy_equal(a, b);
    default:
        return false; /* None is a singleton: a == b above */
    }
}

bool
mproc_obj_equal(const mproc_obj *a, const mproc_obj *b)
{
    if (a == NULL || b == NULL)
        return false;
    return value_equal(a, b, 0);
}

/* ---- deep copy ----------------------------------------------------------- */

/* Originals already copied, to their copies (borrowed: the result tree
 * owns them). Open addressing on the pointer. */
struct copy_map {
    const mproc_obj **from;
    mproc_obj **to;
    size_t size; /* 0 or a power of two */
    size_t len;
};

static size_t
map_slot(const struct copy_map *map, const mproc_obj *from)
{
    size_t i = mix((uintptr_t)from) & (map->size - 1);

    while (map->from[i] != NULL && map->from[i] != from)
        i = (i + 1) & (map->size - 1);
    return i;
}

static mproc_obj *
map_get(const struct copy_map *map, const mproc_obj *from)
{
    if (map->size == 0)
        return NULL;
    return map->to[map_slot(map, from)];
}

static int
map_put(struct copy_map *map, const mproc_obj *from, mproc_obj *to)
{
    size_t i;

    if ((map->len + 1) * 2 > map->size) {
        struct copy_map bigger = { .size = map->size ? map->size * 2 : 16 };

        bigger.from = calloc(bigger.size, sizeof(*bigger.from));
        bigger.to = calloc(bigger.size, sizeof(*bigger.to));
        if (bigger.from == NULL || bigger.to == NULL) {
            free(bigger.from);
            free(bigger.to);
            return MPROC_ENOMEM;
        }
        for (size_t k = 0; k < map->size; k++) {
            if (map->from[k] != NULL)
                map_put(&bigger, map->from[k], map->to[k]);
        }
        free(map->from);
        free(map->to);
        *map = bigger;
    }
    i = map_slot(map, from);
    map->from[i] = from;
    map->to[i] = to;
    map->len++;
    return 0;
}

static int copy_obj(struct copy_map *map, const mproc_obj *o, mproc_obj **out,
                    int depth);

/* Copy every item of a list or tuple into the list or tuple c. */
static int
copy_items(struct copy_map *map, const mproc_obj *o, mproc_obj *c, int depth)
{
    for (size_t i = 0; i < o->u.seq.len; i++) {
        mproc_obj *item;
        int rc = copy_obj(map, o->u.seq.items[i], &item, depth + 1);

        if (rc == 0)
            rc = value_list_push(c, item);
        if (rc < 0) {
            mproc_obj_free(item);
            return rc;
        }
    }
    return 0;
}

/* Copy every entry of a dict or set into the empty table c. */
static int
copy_entries(struct copy_map *map, const mproc_obj *o, mproc_obj *c, int depth)
{
    for (size_t i = 0; i < o->u.table.len; i++) {
        const struct entry *e = &o->u.table.entries[i];
        mproc_obj *key, *value = NULL;
        int rc = copy_obj(map, e->key, &key, depth + 1);

        if (rc == 0 && e->value != NULL)
            rc = copy_obj(map, e->value, &value, depth + 1);
        /* A copy equals its original, so the hash is the same. */
        if (rc == 0)
            rc = value_table_insert(c, key, value, e->hash);
        mproc_obj_free(key);
        mproc_obj_free(value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
copy_obj(struct copy_map *map, const mproc_obj *o, mproc_obj **out, int depth)
{
    mproc_obj *c;
    int rc;

    *out = NULL;
    if (depth >= VALUE_MAX_DEPTH)
        return MPROC_ETOOBIG;
    switch (o->type) {
    case MPROC_OBJ_BYTEARRAY:
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
    case MPROC_OBJ_DICT:
    case MPROC_OBJ_SET:
    case MPROC_OBJ_FROZENSET:
        break;
    default: /* immutable scalars: deepcopy shares them too */
        *out = mproc_obj_ref((mproc_obj *)o);
        return 0;
    }
    c = map_get(map, o);
    if (c != NULL) {
        *out = mproc_obj_ref(c);
        return 0;
    }
    if (o->type == MPROC_OBJ_BYTEARRAY) {
        rc = mproc_obj_bytearray(&c, o->u.text.data, o->u.text.len);
        if (rc < 0)
            return rc;
    } else {
        c = value_alloc(o->type);
        if (c == NULL)
            return MPROC_ENOMEM;
    }
    /* The copy is known before its items are copied, so an item that
     * refers back (a cycle through a list) shares it instead of recursing
     * without end. */
    rc = map_put(map, o, c);
    if (rc == 0 && o->type != MPROC_OBJ_BYTEARRAY) {
        if (o->type == MPROC_OBJ_LIST || o->type == MPROC_OBJ_TUPLE)
            rc = copy_items(map, o, c, depth);
        else
            rc = copy_entries(map, o, c, depth);
    }
    if (rc < 0) {
        mproc_obj_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int
mproc_obj_copy(mproc_obj **out, const mproc_obj *o)
{
    struct copy_map map = { 0 };
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (o == NULL)
        return MPROC_EINVAL;
    rc = copy_obj(&map, o, out, 0);
    free(map.from);
    free(map.to);
    return rc;
}
