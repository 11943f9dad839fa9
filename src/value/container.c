/*
 * value/container.c - list, tuple, dict, set and frozenset: Python's
 * containers, holding references of their own to their items.
 *
 * dicts and sets are CPython's compact dict: an entries array in insertion
 * order plus an open-addressing index of entry numbers. A delete closes
 * the gap in the entries and rebuilds the index (O(n)), so the entries
 * never hold holes and item i is an O(1) read. Lookups match a key by
 * identity or equality, as CPython does, so a NaN key is found by itself.
 * A table of at most TABLE_SMALL entries has no index: a scan of so few
 * cached hashes is as quick as a probe and saves an allocation per dict.
 */
#include "value.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_EMPTY SIZE_MAX
#define TABLE_SMALL 8

/* ---- lists and tuples ---------------------------------------------------- */

static int
seq_reserve(mproc_obj *o, size_t need)
{
    size_t cap = o->u.seq.cap;
    mproc_obj **items;

    if (need <= cap)
        return 0;
    cap = cap < 4 ? 4 : cap;
    while (cap < need)
        cap *= 2;
    items = realloc(o->u.seq.items, cap * sizeof(*items));
    if (items == NULL)
        return MPROC_ENOMEM;
    o->u.seq.items = items;
    o->u.seq.cap = cap;
    return 0;
}

/* An empty list, dict or set. */
static int
new_empty(mproc_obj **out, enum mproc_obj_type type)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = value_alloc(type);
    return *out == NULL ? MPROC_ENOMEM : 0;
}

int
mproc_obj_list(mproc_obj **out)
{
    return new_empty(out, MPROC_OBJ_LIST);
}

int
mproc_obj_tuple(mproc_obj **out, mproc_obj *const *items, size_t n)
{
    mproc_obj *t;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (items == NULL && n > 0)
        return MPROC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            return MPROC_EINVAL;
    }
    t = value_alloc(MPROC_OBJ_TUPLE);
    if (t == NULL || seq_reserve(t, n) < 0) {
        value_dealloc(t);
        return MPROC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        t->u.seq.items[i] = mproc_obj_ref(items[i]);
    t->u.seq.len = n;
    *out = t;
    return 0;
}

static bool
is_list(const mproc_obj *o)
{
    return o != NULL && o->type == MPROC_OBJ_LIST;
}

/* Append without the caller-facing checks, taking over the caller's
 * reference on success: build, copy and the decoder fill lists and tuples
 * with objects they made. */
int
value_list_push(mproc_obj *list, mproc_obj *item)
{
    if (seq_reserve(list, list->u.seq.len + 1) < 0)
        return MPROC_ENOMEM;
    list->u.seq.items[list->u.seq.len++] = item;
    return 0;
}

int
mproc_obj_list_append(mproc_obj *list, mproc_obj *item)
{
    int rc;

    if (!is_list(list) || item == NULL || item == list)
        return MPROC_EINVAL;
    rc = value_list_push(list, item);
    if (rc == 0)
        mproc_obj_ref(item);
    return rc;
}

int
mproc_obj_list_insert(mproc_obj *list, size_t i, mproc_obj *item)
{
    mproc_obj **items;

    if (!is_list(list) || item == NULL || item == list)
        return MPROC_EINVAL;
    if (i >= list->u.seq.len)
        return mproc_obj_list_append(list, item);
    if (seq_reserve(list, list->u.seq.len + 1) < 0)
        return MPROC_ENOMEM;
    items = list->u.seq.items;
    memmove(items + i + 1, items + i, (list->u.seq.len - i) * sizeof(*items));
    items[i] = mproc_obj_ref(item);
    list->u.seq.len++;
    return 0;
}

int
mproc_obj_list_set(mproc_obj *list, size_t i, mproc_obj *item)
{
    mproc_obj *old;

    if (!is_list(list) || item == NULL || item == list)
        return MPROC_EINVAL;
    if (i >= list->u.seq.len)
        return -ERANGE;
    old = list->u.seq.items[i];
    list->u.seq.items[i] = mproc_obj_ref(item);
    mproc_obj_free(old);
    return 0;
}

int
mproc_obj_list_delete(mproc_obj *list, size_t i)
{
    mproc_obj **items;
    mproc_obj *old;

    if (!is_list(list))
        return MPROC_EINVAL;
    if (i >= list->u.seq.len)
        return -ERANGE;
    items = list->u.seq.items;
    old = items[i];
    memmove(items + i, items + i + 1,
            (list->u.seq.len - i - 1) * sizeof(*items));
    list->u.seq.len--;
    mproc_obj_free(old);
    return 0;
}

int
mproc_obj_get(const mproc_obj *seq, size_t i, mproc_obj **item)
{
    if (item == NULL)
        return MPROC_EINVAL;
    *item = NULL;
    if (seq == NULL ||
        (seq->type != MPROC_OBJ_LIST && seq->type != MPROC_OBJ_TUPLE))
        return MPROC_EINVAL;
    if (i >= seq->u.seq.len)
        return -ERANGE;
    *item = seq->u.seq.items[i];
    return 0;
}

/* ---- the table under dicts and sets -------------------------------------- */

static bool
is_table(const mproc_obj *o)
{
    return o != NULL &&
           (o->type == MPROC_OBJ_DICT || o->type == MPROC_OBJ_SET ||
            o->type == MPROC_OBJ_FROZENSET);
}

static bool
entry_holds(const struct entry *e, const mproc_obj *key, uint64_t hash)
{
    return e->hash == hash && (e->key == key || value_equal(e->key, key, 0));
}

/* The entry holding key (identical or equal, as CPython looks up), or
 * SLOT_EMPTY; *slot receives the index slot where the search stopped
 * (SLOT_EMPTY in a table without an index). */
static size_t
table_find(const struct table *t, const mproc_obj *key, uint64_t hash,
           size_t *slot)
{
    size_t mask = t->index_size - 1;

    *slot = SLOT_EMPTY;
    if (t->index_size == 0) {
        for (size_t e = 0; e < t->len; e++) {
            if (entry_holds(&t->entries[e], key, hash))
                return e;
        }
        return SLOT_EMPTY;
    }
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        size_t e = t->index[i];

        if (e == SLOT_EMPTY) {
            *slot = i;
            return SLOT_EMPTY;
        }
        if (entry_holds(&t->entries[e], key, hash)) {
            *slot = i;
            return e;
        }
    }
}

/* The entry of a dict or set holding key, or SIZE_MAX. */
size_t
value_table_lookup(const mproc_obj *o, const mproc_obj *key, uint64_t hash)
{
    size_t slot;

    return table_find(&o->u.table, key, hash, &slot);
}

/* Rebuild the index for the entries, sized to keep it at most 2/3 full,
 * or drop it when they are few. Linear probing is enough: hashes are
 * mixed (ops.c). */
static int
table_reindex(struct table *t, size_t entries)
{
    size_t size = 16;
    size_t *index;

    if (entries <= TABLE_SMALL) {
        free(t->index);
        t->index = NULL;
        t->index_size = 0;
        return 0;
    }
    while (size * 2 < entries * 3 + 3)
        size *= 2;
    index = malloc(size * sizeof(*index));
    if (index == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < size; i++)
        index[i] = SLOT_EMPTY;
    for (size_t e = 0; e < t->len; e++) {
        size_t i = t->entries[e].hash & (size - 1);

        while (index[i] != SLOT_EMPTY)
            i = (i + 1) & (size - 1);
        index[i] = e;
    }
    free(t->index);
    t->index = index;
    t->index_size = size;
    return 0;
}

/* d[key] = value (value NULL for sets): a known key keeps its first key
 * object and, in a dict, takes the new value, as in Python. With `owned`
 * the table takes over the caller's references to key and value instead
 * of making its own (and drops the key's when the key is known). Inline:
 * the decoder builds its dicts through it, item by item. */
static inline int
table_put(mproc_obj *o, mproc_obj *key, mproc_obj *value, uint64_t hash,
          bool owned)
{
    struct table *t = &o->u.table;
    size_t slot, e = table_find(t, key, hash, &slot);

    if (e != SLOT_EMPTY) {
        mproc_obj *old = t->entries[e].value;

        t->entries[e].value = owned ? value : mproc_obj_ref(value);
        mproc_obj_free(old);
        if (owned)
            mproc_obj_free(key); /* the first key object stays */
        return 0;
    }
    if (t->len == t->cap) {
        size_t cap = t->cap * 2;
        bool was_inline = value_table_inline(o);
        struct entry *entries =
            realloc(was_inline ? NULL : t->entries, cap * sizeof(*entries));

        if (entries == NULL)
            return MPROC_ENOMEM;
        if (was_inline)
            memcpy(entries, t->entries, t->len * sizeof(*entries));
        t->entries = entries;
        t->cap = cap;
    }
    if (t->len + 1 > TABLE_SMALL && (t->len + 1) * 3 > t->index_size * 2) {
        if (table_reindex(t, t->len + 1) < 0)
            return MPROC_ENOMEM;
        table_find(t, key, hash, &slot);
    }
    if (!owned) {
        mproc_obj_ref(key);
        mproc_obj_ref(value);
    }
    t->entries[t->len] = (struct entry){ hash, key, value };
    if (t->index != NULL)
        t->index[slot] = t->len;
    t->len++;
    return 0;
}

int
value_table_insert(mproc_obj *o, mproc_obj *key, mproc_obj *value,
                   uint64_t hash)
{
    return table_put(o, key, value, hash, false);
}

/* Remove entry e, closing the gap so the entries stay hole-free. */
static int
table_delete(struct table *t, size_t e)
{
    struct entry gone = t->entries[e];

    memmove(t->entries + e, t->entries + e + 1,
            (t->len - e - 1) * sizeof(*t->entries));
    t->len--;
    if (table_reindex(t, t->len) < 0) {
        /* Put it back: the index still describes the old entries. */
        memmove(t->entries + e + 1, t->entries + e,
                (t->len - e) * sizeof(*t->entries));
        t->entries[e] = gone;
        t->len++;
        return MPROC_ENOMEM;
    }
    mproc_obj_free(gone.key);
    mproc_obj_free(gone.value);
    return 0;
}

/* The hash of a key, or MPROC_EINVAL for one that cannot be a key: an
 * unhashable one, or tuples nested too deep to hash (Python's
 * RecursionError), which the API names no other way. */
static int
key_hash(const mproc_obj *key, uint64_t *hash)
{
    /* A str's kept hash, the common key, without the call. */
    uint64_t kept =
        key != NULL && key->type == MPROC_OBJ_STR
            ? atomic_load_explicit(&key->u.text.hash, memory_order_relaxed)
            : 0;

    if (kept != 0) {
        *hash = kept;
        return 0;
    }
    if (key == NULL || value_hash(key, hash, 0) < 0)
        return MPROC_EINVAL;
    return 0;
}

int
mproc_obj_dict(mproc_obj **out)
{
    return new_empty(out, MPROC_OBJ_DICT);
}

int
mproc_obj_set(mproc_obj **out)
{
    return new_empty(out, MPROC_OBJ_SET);
}

int
mproc_obj_frozenset(mproc_obj **out, mproc_obj *const *items, size_t n)
{
    mproc_obj *fs;
    uint64_t hash;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (items == NULL && n > 0)
        return MPROC_EINVAL;
    fs = value_alloc(MPROC_OBJ_FROZENSET);
    if (fs == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        rc = key_hash(items[i], &hash);
        if (rc == 0)
            rc = value_table_insert(fs, items[i], NULL, hash);
        if (rc < 0) {
            mproc_obj_free(fs);
            return rc;
        }
    }
    *out = fs;
    return 0;
}

int
mproc_obj_len(const mproc_obj *o, size_t *len)
{
    if (o == NULL || len == NULL)
        return MPROC_EINVAL;
    switch (o->type) {
    case MPROC_OBJ_STR:
        *len = o->u.text.chars;
        return 0;
    case MPROC_OBJ_BYTES:
    case MPROC_OBJ_BYTEARRAY:
        *len = o->u.text.len;
        return 0;
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        *len = o->u.seq.len;
        return 0;
    case MPROC_OBJ_DICT:
    case MPROC_OBJ_SET:
    case MPROC_OBJ_FROZENSET:
        *len = o->u.table.len;
        return 0;
    default:
        return MPROC_EINVAL;
    }
}

int
mproc_obj_dict_set(mproc_obj *d, mproc_obj *key, mproc_obj *value)
{
    uint64_t hash;
    int rc;

    if (d == NULL || d->type != MPROC_OBJ_DICT || value == NULL || value == d)
        return MPROC_EINVAL;
    rc = key_hash(key, &hash);
    if (rc < 0)
        return rc;
    return value_table_insert(d, key, value, hash);
}

int
value_dict_set_owned(mproc_obj *d, mproc_obj *key, mproc_obj *value)
{
    uint64_t hash;
    int rc;

    if (d == NULL || d->type != MPROC_OBJ_DICT || value == NULL || value == d)
        return MPROC_EINVAL;
    rc = key_hash(key, &hash);
    if (rc < 0)
        return rc;
    return table_put(d, key, value, hash, true);
}

/* Find key in a table of the given type; 0 and the entry, -ENOENT, or
 * MPROC_EINVAL. */
static int
lookup(const mproc_obj *o, enum mproc_obj_type type, const mproc_obj *key,
       size_t *entry)
{
    uint64_t hash;
    size_t slot;
    int rc;

    if (o == NULL || o->type != type)
        return MPROC_EINVAL;
    rc = key_hash(key, &hash);
    if (rc < 0)
        return rc;
    *entry = table_find(&o->u.table, key, hash, &slot);
    return *entry == SLOT_EMPTY ? -ENOENT : 0;
}

int
mproc_obj_dict_get(const mproc_obj *d, const mproc_obj *key, mproc_obj **value)
{
    size_t e;
    int rc;

    if (value == NULL)
        return MPROC_EINVAL;
    *value = NULL;
    rc = lookup(d, MPROC_OBJ_DICT, key, &e);
    if (rc < 0)
        return rc;
    *value = d->u.table.entries[e].value;
    return 0;
}

int
mproc_obj_dict_get_str(const mproc_obj *d, const char *key, mproc_obj **value)
{
    mproc_obj *k;
    int rc;

    if (value == NULL)
        return MPROC_EINVAL;
    *value = NULL;
    if (key == NULL)
        return MPROC_EINVAL;
    rc = mproc_obj_str(&k, key, strlen(key));
    if (rc < 0)
        return rc;
    rc = mproc_obj_dict_get(d, k, value);
    mproc_obj_free(k);
    return rc;
}

int
mproc_obj_dict_delete(mproc_obj *d, const mproc_obj *key)
{
    size_t e;
    int rc = lookup(d, MPROC_OBJ_DICT, key, &e);

    if (rc < 0)
        return rc;
    return table_delete(&d->u.table, e);
}

int
mproc_obj_dict_item(const mproc_obj *d, size_t i, mproc_obj **key,
                    mproc_obj **value)
{
    if (key != NULL)
        *key = NULL;
    if (value != NULL)
        *value = NULL;
    if (d == NULL || d->type != MPROC_OBJ_DICT)
        return MPROC_EINVAL;
    if (i >= d->u.table.len)
        return -ERANGE;
    if (key != NULL)
        *key = d->u.table.entries[i].key;
    if (value != NULL)
        *value = d->u.table.entries[i].value;
    return 0;
}

int
mproc_obj_set_add(mproc_obj *set, mproc_obj *item)
{
    uint64_t hash;
    int rc;

    if (set == NULL || set->type != MPROC_OBJ_SET)
        return MPROC_EINVAL;
    rc = key_hash(item, &hash);
    if (rc < 0)
        return rc;
    return value_table_insert(set, item, NULL, hash);
}

int
mproc_obj_set_remove(mproc_obj *set, const mproc_obj *item)
{
    size_t e;
    int rc = lookup(set, MPROC_OBJ_SET, item, &e);

    if (rc < 0)
        return rc;
    return table_delete(&set->u.table, e);
}

int
mproc_obj_contains(const mproc_obj *container, const mproc_obj *item)
{
    size_t e;
    int rc;

    if (!is_table(container))
        return MPROC_EINVAL;
    rc = lookup(container, container->type, item, &e);
    if (rc == -ENOENT)
        return 0;
    return rc < 0 ? rc : 1;
}

int
mproc_obj_set_item(const mproc_obj *set, size_t i, mproc_obj **item)
{
    if (item == NULL)
        return MPROC_EINVAL;
    *item = NULL;
    if (set == NULL ||
        (set->type != MPROC_OBJ_SET && set->type != MPROC_OBJ_FROZENSET))
        return MPROC_EINVAL;
    if (i >= set->u.table.len)
        return -ERANGE;
    *item = set->u.table.entries[i].key;
    return 0;
}
