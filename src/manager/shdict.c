/*
 * manager/shdict.c - a manager's dict, kept in a memory file of its own
 * that the server and its clients on the same host all map: a client's
 * d[k] = v or d[k] is a lock, a hash probe and a copy in its own process,
 * with no round trip to the server (clients over TCP, and every call
 * through mproc_proxy_call(), go through the server, which runs the same
 * code on the same memory).
 *
 * Layout: a header, then blocks from a bump allocator with free lists by
 * size class. Entries (hash, key block, value block, flags) lie in an
 * array in insertion order, with holes (dead entries) until the next
 * rebuild; an open-addressing index maps hashes to entries. Keys and
 * values are pickles; a key is found by its hash and its pickle's bytes,
 * or, when the bytes differ (1, 1.0 and True are one key), by decoding it
 * and comparing objects, so the semantics are Python's.
 *
 * Invariants: everything below the header is touched only under `mu`, a
 * robust process-shared mutex. Every change is ordered so that a holder
 * killed at any point leaves the dict whole (at worst a block unreachable,
 * or len one off): an entry is written whole before the index and then
 * the count publish it; a removal marks it dead before its slot goes; a
 * replaced value's block is freed after the entry points to the new one;
 * a rebuild fills a new table and publishes it with one store. An entry whose
 * key or value holds proxy objects is PINNED: the server took a reference on
 * each object they name, so only the server may store, replace or remove such
 * an entry (a client gets -EAGAIN and asks the server).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "../sys/sys.h"
#include "manager.h"

#define MAGIC 0x6369646d72706d31ull /* "1mprmdic" */
/* The file's size: its pages are taken only as the dict grows into them. */
#define REGION ((uint64_t)1 << 30)
#define CLASSES 26 /* blocks of 32 << 0 .. 32 << 25 bytes */
#define FIRST_CAP 8

#define SLOT_EMPTY 0
#define SLOT_TOMB UINT64_MAX

enum {
    ENTRY_DEAD = 1,
    ENTRY_PINNED = 2
};

struct block {
    uint32_t cls;
    uint32_t len; /* bytes used */
};

struct sentry {
    uint64_t hash;
    uint64_t key; /* data offsets of the pickles' blocks */
    uint64_t value;
    uint64_t flags;
};

/* The entries and their index, replaced whole by a rebuild: one store of
 * the header's `table` publishes a new one. */
struct table {
    uint64_t entries; /* data offset of the entry array */
    uint64_t cap, n;  /* room, and entries used (live and dead) */
    uint64_t live;
    uint64_t index; /* data offset of `size` slots: entry + 1 */
    uint64_t size;
};

struct shdict {
    uint64_t magic;
    uint64_t size;
    pthread_mutex_t mu;
    uint64_t brk; /* the allocator's top */
    uint64_t free[CLASSES];
    uint64_t table; /* data offset of the struct table */
    uint64_t gone;  /* the server freed it: calls fail with MPROC_EEOF */
};

/* ---- the allocator --------------------------------------------------------
 */

static void *
at(struct shdict *d, uint64_t off)
{
    return (char *)d + off;
}

static struct block *
block_of(struct shdict *d, uint64_t data)
{
    return at(d, data - sizeof(struct block));
}

/* A block for len bytes: its data offset, or 0 when the file is full. */
static uint64_t
alloc(struct shdict *d, size_t len)
{
    uint64_t need = len + sizeof(struct block), data;
    uint32_t cls = 0;
    struct block *b;

    while (((uint64_t)32 << cls) < need)
        if (++cls == CLASSES)
            return 0;
    if (d->free[cls] != 0) {
        data = d->free[cls];
        d->free[cls] = *(uint64_t *)at(d, data);
    } else {
        if (d->brk + ((uint64_t)32 << cls) > d->size)
            return 0;
        data = d->brk + sizeof(struct block);
        d->brk += (uint64_t)32 << cls;
    }
    b = block_of(d, data);
    b->cls = cls;
    b->len = (uint32_t)len;
    return data;
}

static void
release(struct shdict *d, uint64_t data)
{
    struct block *b;

    if (data == 0)
        return;
    b = block_of(d, data);
    *(uint64_t *)at(d, data) = d->free[b->cls];
    d->free[b->cls] = data;
}

/* A block holding a copy of bytes: its offset, or 0. */
static uint64_t
store(struct shdict *d, const mproc_buf *bytes)
{
    uint64_t data = alloc(d, bytes->len);

    if (data != 0)
        memcpy(at(d, data), bytes->data, bytes->len);
    return data;
}

static struct table *
table(struct shdict *d)
{
    return at(d, d->table);
}

static struct sentry *
entry(struct shdict *d, uint64_t i)
{
    return (struct sentry *)at(d, table(d)->entries) + i;
}

static int
decode(struct shdict *d, uint64_t data, mproc_obj **out)
{
    return mproc_obj_loads(out, at(d, data), block_of(d, data)->len, NULL);
}

/* ---- the table ------------------------------------------------------------
 */

static void
index_put(uint64_t *slots, uint64_t size, uint64_t hash, uint64_t i)
{
    uint64_t mask = size - 1;

    for (uint64_t k = hash & mask;; k = (k + 1) & mask)
        if (slots[k] == SLOT_EMPTY || slots[k] == SLOT_TOMB) {
            slots[k] = i + 1;
            return;
        }
}

/* A table for cap entries holding the live entries of `from` (0: none),
 * in order: its offset, or 0 when the file is full. */
static uint64_t
make_table(struct shdict *d, uint64_t cap, uint64_t from)
{
    uint64_t off = alloc(d, sizeof(struct table)), size = 16;
    struct table *t, *old = from != 0 ? at(d, from) : NULL;
    struct sentry *to;

    while (size < cap + cap / 2)
        size *= 2;
    if (off == 0)
        return 0;
    t = at(d, off);
    *t = (struct table){ .cap = cap, .size = size };
    t->entries = alloc(d, cap * sizeof(struct sentry));
    t->index = t->entries != 0 ? alloc(d, size * sizeof(uint64_t)) : 0;
    if (t->index == 0) {
        release(d, t->entries);
        release(d, off);
        return 0;
    }
    memset(at(d, t->index), 0, size * sizeof(uint64_t));
    to = at(d, t->entries);
    for (uint64_t i = 0; old != NULL && i < old->n; i++) {
        struct sentry *e = (struct sentry *)at(d, old->entries) + i;

        if (!(e->flags & ENTRY_DEAD)) {
            to[t->n] = *e;
            index_put(at(d, t->index), size, e->hash, t->n++);
        }
    }
    t->live = t->n;
    return off;
}

/* Room for one more entry: a rebuilt table for twice the live entries
 * (at least FIRST_CAP), published by one store (a holder killed before it
 * leaves the old table whole). */
static int
make_room(struct shdict *d)
{
    struct table *old = table(d);
    uint64_t off, was = d->table;

    if (old->n < old->cap)
        return 0;
    off = make_table(d, old->live * 2 > FIRST_CAP ? old->live * 2 : FIRST_CAP,
                     was);
    if (off == 0)
        return MPROC_ENOMEM;
    d->table = off;
    release(d, old->entries);
    release(d, old->index);
    release(d, was);
    return 0;
}

/* The entry of key (hash, pickle): its number, or -ENOENT; or a decoding
 * failure. */
static int64_t
find(struct shdict *d, const mproc_obj *key, uint64_t hash,
     const mproc_buf *pickle, uint64_t *slot)
{
    struct table *t = table(d);
    uint64_t mask = t->size - 1, *s = at(d, t->index);

    for (uint64_t k = hash & mask, n = 0; n < t->size;
         k = (k + 1) & mask, n++) {
        struct sentry *e;
        mproc_obj *other;
        bool same;
        int rc;

        if (s[k] == SLOT_EMPTY)
            break;
        if (s[k] == SLOT_TOMB || s[k] > t->n)
            continue;
        e = entry(d, s[k] - 1);
        if (e->hash != hash || (e->flags & ENTRY_DEAD))
            continue;
        if (block_of(d, e->key)->len == pickle->len &&
            memcmp(at(d, e->key), pickle->data, pickle->len) == 0)
            same = true;
        else {
            rc = decode(d, e->key, &other);
            if (rc < 0)
                return rc;
            same = mproc_obj_equal(other, key);
            mproc_obj_free(other);
        }
        if (same) {
            *slot = k;
            return (int64_t)(s[k] - 1);
        }
    }
    return -ENOENT;
}

/* ---- life -----------------------------------------------------------------
 */

int
mproc__shdict_new(struct shdict **out, int *fd)
{
    struct shdict *d;
    int rc;

    *out = NULL;
    *fd = mproc__memfd("mproc-dict", REGION);
    if (*fd < 0)
        return *fd;
    d = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (d == MAP_FAILED) {
        rc = -errno;
        mproc__close(fd);
        return rc;
    }
    d->size = REGION;
    d->brk = (sizeof(*d) + 63) & ~(uint64_t)63;
    rc = mproc__shared_mutex_init(&d->mu);
    if (rc == 0 && (d->table = make_table(d, FIRST_CAP, 0)) == 0)
        rc = MPROC_ENOMEM;
    if (rc < 0) {
        (void)munmap(d, REGION);
        mproc__close(fd);
        return rc;
    }
    d->magic = MAGIC;
    *out = d;
    return 0;
}

int
mproc__shdict_map(struct shdict **out, int fd)
{
    struct shdict *d;
    struct stat st;

    *out = NULL;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size != REGION)
        return MPROC_EPROTOCOL;
    d = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (d == MAP_FAILED)
        return -errno;
    if (d->magic != MAGIC || d->size != REGION) {
        (void)munmap(d, REGION);
        return MPROC_EPROTOCOL;
    }
    *out = d;
    return 0;
}

void
mproc__shdict_unmap(struct shdict *d)
{
    if (d != NULL)
        (void)munmap(d, REGION);
}

/* ---- operations ------------------------------------------------------------
 */

/* Lock the dict: 0, or MPROC_EEOF (unlocked) once the server freed it. */
static int
lock(struct shdict *d)
{
    mproc__shared_mutex_lock(&d->mu); /* a dead holder's work is done or
                                         not: see the file comment */
    if (d->gone) {
        pthread_mutex_unlock(&d->mu);
        return MPROC_EEOF;
    }
    return 0;
}

static void
unlock(struct shdict *d)
{
    pthread_mutex_unlock(&d->mu);
}

/* A key's hash and pickle. */
static int
prepare_key(const mproc_obj *key, uint64_t *hash, mproc_buf *pickle)
{
    int rc = mproc_obj_hash(key, hash);

    *pickle = (mproc_buf){ 0 };
    return rc < 0 ? rc : mproc_obj_dumps(key, pickle, 5);
}

/* Copy a pinned entry's pickles out for unpinning after unlock. */
static int
keep_pinned(struct shdict *d, const struct sentry *e, mproc_buf *kept)
{
    uint32_t klen = block_of(d, e->key)->len, vlen = block_of(d, e->value)->len;

    kept->data = malloc((size_t)klen + vlen + 8);
    if (kept->data == NULL)
        return MPROC_ENOMEM;
    memcpy(kept->data, &klen, 4);
    memcpy((char *)kept->data + 4, at(d, e->key), klen);
    memcpy((char *)kept->data + 4 + klen, &vlen, 4);
    memcpy((char *)kept->data + 8 + klen, at(d, e->value), vlen);
    kept->len = (size_t)klen + vlen + 8;
    return 0;
}

/* Give back the references of pickles kept by keep_pinned. */
static void
unpin_kept(const struct mproc__shdict_pins *pins, mproc_buf *kept)
{
    uint32_t klen, vlen;

    if (kept->data == NULL)
        return;
    memcpy(&klen, kept->data, 4);
    memcpy(&vlen, (char *)kept->data + 4 + klen, 4);
    pins->unpin(pins->ctx, (char *)kept->data + 4, klen);
    pins->unpin(pins->ctx, (char *)kept->data + 8 + klen, vlen);
    mproc_buf_free(kept);
}

/* Whether an object holds proxy objects (then its entry is pinned). */
static bool
has_proxies(const mproc_obj *o)
{
    mproc_obj *item, *value;
    size_t n = 0;

    switch (mproc_obj_type(o)) {
    case MPROC_OBJ_PROXY:
        return true;
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        mproc_obj_len(o, &n);
        for (size_t i = 0; i < n; i++)
            if (mproc_obj_get(o, i, &item) == 0 && has_proxies(item))
                return true;
        return false;
    case MPROC_OBJ_DICT:
        mproc_obj_len(o, &n);
        for (size_t i = 0; i < n; i++)
            if (mproc_obj_dict_item(o, i, &item, &value) == 0 &&
                (has_proxies(item) || has_proxies(value)))
                return true;
        return false;
    case MPROC_OBJ_SET:
    case MPROC_OBJ_FROZENSET:
        mproc_obj_len(o, &n);
        for (size_t i = 0; i < n; i++)
            if (mproc_obj_set_item(o, i, &item) == 0 && has_proxies(item))
                return true;
        return false;
    default:
        return false;
    }
}

/* Hash and pickle key, lock the dict and look the key up: 0 with the lock
 * held, *i its entry or -ENOENT, kp the pickle to free; or a failure, with
 * the dict unlocked and nothing to free. */
static int
lock_and_find(struct shdict *d, const mproc_obj *key, mproc_buf *kp, int64_t *i,
              uint64_t *slot)
{
    uint64_t hash;
    int rc = prepare_key(key, &hash, kp);

    if (rc == 0)
        rc = lock(d);
    if (rc < 0) {
        mproc_buf_free(kp);
        return rc;
    }
    *i = find(d, key, hash, kp, slot);
    if (*i < 0 && *i != -ENOENT) {
        unlock(d);
        mproc_buf_free(kp);
        return (int)*i;
    }
    return 0;
}

int
mproc__shdict_get(struct shdict *d, const mproc_obj *key, mproc_obj **value)
{
    mproc_buf kp;
    uint64_t slot;
    int64_t i;
    int rc = lock_and_find(d, key, &kp, &i, &slot);

    *value = NULL;
    if (rc < 0)
        return rc;
    rc = i < 0 ? (int)i : decode(d, entry(d, (uint64_t)i)->value, value);
    unlock(d);
    mproc_buf_free(&kp);
    return rc;
}

/* Set d[key], or with existing non-NULL leave a present value and return
 * it there (setdefault: the value put or found). */
static int
set(struct shdict *d, const mproc_obj *key, const mproc_obj *value,
    mproc_obj **existing, const struct mproc__shdict_pins *pins)
{
    bool pinned = has_proxies(key) || has_proxies(value);
    mproc_buf kp, vp = { 0 }, kept = { 0 };
    uint64_t hash, slot, vdata;
    struct sentry *e;
    int64_t i;
    int rc;

    if (pinned && pins == NULL)
        return -EAGAIN;
    rc = prepare_key(key, &hash, &kp);
    if (rc == 0)
        rc = mproc_obj_dumps(value, &vp, 5);
    if (rc == 0 && pinned && (rc = pins->pin(pins->ctx, key)) == 0 &&
        (rc = pins->pin(pins->ctx, value)) < 0)
        pins->unpin(pins->ctx, kp.data, kp.len);
    if (rc == 0)
        rc = lock(d);
    if (rc < 0) {
        if (pinned && rc == MPROC_EEOF) {
            pins->unpin(pins->ctx, kp.data, kp.len);
            pins->unpin(pins->ctx, vp.data, vp.len);
        }
        goto out;
    }
    i = find(d, key, hash, &kp, &slot);
    if (i >= 0 && existing != NULL)
        rc = decode(d, entry(d, (uint64_t)i)->value, existing);
    else if (i >= 0 && (entry(d, (uint64_t)i)->flags & ENTRY_PINNED) &&
             (pins == NULL || keep_pinned(d, entry(d, (uint64_t)i), &kept) < 0))
        rc = pins == NULL ? -EAGAIN : MPROC_ENOMEM;
    else if (i >= 0) {
        vdata = store(d, &vp);
        e = entry(d, (uint64_t)i);
        if (vdata == 0)
            rc = MPROC_ENOMEM;
        else {
            uint64_t old = e->value;

            e->value = vdata; /* then the old block goes: never both */
            release(d, old);
            e->flags = (e->flags & ~(uint64_t)ENTRY_PINNED) |
                       (pinned ? ENTRY_PINNED : 0);
        }
    } else if (i != -ENOENT) {
        rc = (int)i;
    } else if ((rc = make_room(d)) == 0) {
        struct sentry fresh = { .hash = hash,
                                .key = store(d, &kp),
                                .value = store(d, &vp),
                                .flags = pinned ? ENTRY_PINNED : 0 };

        if (fresh.key == 0 || fresh.value == 0) {
            release(d, fresh.key);
            release(d, fresh.value);
            rc = MPROC_ENOMEM;
        } else {
            struct table *t = table(d);

            /* Written whole, then indexed, then counted: a holder killed
             * before the count leaves a slot that find() skips. */
            *entry(d, t->n) = fresh;
            index_put(at(d, t->index), t->size, hash, t->n);
            t->n++;
            t->live++;
        }
    }
    unlock(d);
    if ((rc < 0 || (i >= 0 && existing != NULL)) && pinned) {
        pins->unpin(pins->ctx, kp.data, kp.len);
        pins->unpin(pins->ctx, vp.data, vp.len);
    }
    if (rc == 0 && existing != NULL && *existing == NULL)
        *existing = mproc_obj_ref((mproc_obj *)value);
    if (rc == 0)
        unpin_kept(pins, &kept); /* the replaced entry's references */
    mproc_buf_free(&kept);
out:
    mproc_buf_free(&kp);
    mproc_buf_free(&vp);
    return rc;
}

int
mproc__shdict_set(struct shdict *d, const mproc_obj *key,
                  const mproc_obj *value, const struct mproc__shdict_pins *pins)
{
    return set(d, key, value, NULL, pins);
}

int
mproc__shdict_setdefault(struct shdict *d, const mproc_obj *key,
                         const mproc_obj *value, mproc_obj **result,
                         const struct mproc__shdict_pins *pins)
{
    *result = NULL;
    return set(d, key, value, result, pins);
}

/* Remove entry i (found at slot), keeping its pickles for the caller's
 * unpinning when pinned. Caller holds mu. */
static int
remove_entry(struct shdict *d, uint64_t i, uint64_t slot,
             const struct mproc__shdict_pins *pins, mproc_buf *kept)
{
    struct sentry *e = entry(d, i);
    int rc = 0;

    if (e->flags & ENTRY_PINNED) {
        if (pins == NULL)
            return -EAGAIN;
        rc = keep_pinned(d, e, kept);
        if (rc < 0)
            return rc;
    }
    /* Dead first: find() and the views skip it from then on. */
    e->flags |= ENTRY_DEAD;
    ((uint64_t *)at(d, table(d)->index))[slot] = SLOT_TOMB;
    table(d)->live--;
    release(d, e->key);
    release(d, e->value);
    return 0;
}

int
mproc__shdict_pop(struct shdict *d, const mproc_obj *key, mproc_obj **value,
                  const struct mproc__shdict_pins *pins)
{
    mproc_buf kp, kept = { 0 };
    uint64_t slot;
    int64_t i;
    int rc;

    if (value != NULL)
        *value = NULL;
    rc = lock_and_find(d, key, &kp, &i, &slot);
    if (rc < 0)
        return rc;
    rc = i < 0 ? (int)i : 0;
    if (rc == 0 && value != NULL)
        rc = decode(d, entry(d, (uint64_t)i)->value, value);
    if (rc == 0)
        rc = remove_entry(d, (uint64_t)i, slot, pins, &kept);
    unlock(d);
    if (rc < 0 && value != NULL) {
        mproc_obj_free(*value);
        *value = NULL;
    }
    if (rc == 0)
        unpin_kept(pins, &kept);
    mproc_buf_free(&kp);
    return rc;
}

int
mproc__shdict_popitem(struct shdict *d, mproc_obj **pair,
                      const struct mproc__shdict_pins *pins)
{
    mproc_obj *kv[2] = { NULL, NULL };
    mproc_buf kept = { 0 };
    uint64_t i, mask, slot, n;
    int rc = -ENOENT;

    *pair = NULL;
    if (lock(d) < 0)
        return MPROC_EEOF;
    for (i = table(d)->n; i-- > 0;)
        if (!(entry(d, i)->flags & ENTRY_DEAD)) {
            rc = 0;
            break;
        }
    if (rc == 0) {
        struct sentry *e = entry(d, i);
        uint64_t *slots = at(d, table(d)->index);

        mask = table(d)->size - 1;
        for (slot = e->hash & mask, n = 0;
             n < table(d)->size && slots[slot] != i + 1;
             slot = (slot + 1) & mask, n++) {
        }
        if (n == table(d)->size)
            rc = MPROC_EPROTOCOL; /* unindexed: the memory was damaged */
        if (rc == 0)
            rc = decode(d, e->key, &kv[0]);
        if (rc == 0)
            rc = decode(d, e->value, &kv[1]);
        if (rc == 0)
            rc = mproc_obj_tuple(pair, kv, 2);
        if (rc == 0)
            rc = remove_entry(d, i, slot, pins, &kept);
    }
    unlock(d);
    mproc_obj_free(kv[0]);
    mproc_obj_free(kv[1]);
    if (rc < 0) {
        mproc_obj_free(*pair);
        *pair = NULL;
    } else {
        unpin_kept(pins, &kept);
    }
    return rc;
}

int
mproc__shdict_len(struct shdict *d, size_t *len)
{
    *len = 0;
    if (lock(d) < 0)
        return MPROC_EEOF;
    *len = (size_t)table(d)->live;
    unlock(d);
    return 0;
}

int
mproc__shdict_contains(struct shdict *d, const mproc_obj *key)
{
    mproc_buf kp;
    uint64_t slot;
    int64_t i;
    int rc = lock_and_find(d, key, &kp, &i, &slot);

    if (rc < 0)
        return rc;
    unlock(d);
    mproc_buf_free(&kp);
    return i >= 0;
}

/* One entry as what `which` asks for, appended to out. */
static int
add_item(struct shdict *d, const struct sentry *e,
         enum mproc__shdict_view which, mproc_obj *out)
{
    mproc_obj *k = NULL, *v = NULL, *pair;
    int rc = 0;

    if (which != MPROC__SHDICT_VALUES)
        rc = decode(d, e->key, &k);
    if (rc == 0 && which != MPROC__SHDICT_KEYS)
        rc = decode(d, e->value, &v);
    if (rc == 0) {
        switch (which) {
        case MPROC__SHDICT_KEYS:
            rc = mproc_obj_list_append(out, k);
            break;
        case MPROC__SHDICT_VALUES:
            rc = mproc_obj_list_append(out, v);
            break;
        case MPROC__SHDICT_ITEMS:
            rc = mproc_obj_tuple(&pair, (mproc_obj *[]){ k, v }, 2);
            if (rc == 0) {
                rc = mproc_obj_list_append(out, pair);
                mproc_obj_free(pair);
            }
            break;
        case MPROC__SHDICT_COPY:
            rc = mproc_obj_dict_set(out, k, v);
            break;
        }
    }
    mproc_obj_free(k);
    mproc_obj_free(v);
    return rc;
}

int
mproc__shdict_view(struct shdict *d, enum mproc__shdict_view which,
                   mproc_obj **out)
{
    int rc =
        which == MPROC__SHDICT_COPY ? mproc_obj_dict(out) : mproc_obj_list(out);

    if (rc == 0 && (rc = lock(d)) < 0) {
        mproc_obj_free(*out);
        *out = NULL;
    }
    if (rc < 0)
        return rc;
    for (uint64_t i = 0; rc == 0 && i < table(d)->n; i++)
        if (!(entry(d, i)->flags & ENTRY_DEAD))
            rc = add_item(d, entry(d, i), which, *out);
    unlock(d);
    if (rc < 0) {
        mproc_obj_free(*out);
        *out = NULL;
    }
    return rc;
}

void
mproc__shdict_close(struct shdict *d, const struct mproc__shdict_pins *pins)
{
    mproc__shared_mutex_lock(&d->mu);
    d->gone = 1;
    pthread_mutex_unlock(&d->mu);
    /* Nobody changes it now: drop what the pinned entries hold. */
    for (uint64_t i = 0; i < table(d)->n; i++) {
        struct sentry *e = entry(d, i);
        mproc_buf kept = { 0 };

        if ((e->flags & (ENTRY_DEAD | ENTRY_PINNED)) == ENTRY_PINNED &&
            keep_pinned(d, e, &kept) == 0)
            unpin_kept(pins, &kept);
    }
}

int
mproc__shdict_clear(struct shdict *d, const struct mproc__shdict_pins *pins)
{
    for (;;) {
        mproc_obj *pair;
        int rc = mproc__shdict_popitem(d, &pair, pins);

        mproc_obj_free(pair);
        if (rc == -ENOENT)
            return 0;
        if (rc < 0)
            return rc;
    }
}
