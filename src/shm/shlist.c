/*
 * shm/shlist.c - ShareableList: a fixed-length list of int, float, bool,
 * str, bytes and None in one named segment, in CPython's layout (3.9+),
 * byte for byte (the diagram is in include/mproc/shm.h).
 *
 * The segment is peer data: another process, not necessarily mproc, wrote
 * it and may rewrite it at any moment. So the header (length, slot
 * offsets) is checked once at attach and kept in a private copy, as Python
 * keeps it; each item's format and code are copied out of the segment and
 * checked at every access, and nothing read from the segment is used as a
 * size or offset before it is checked against the mapping. A concurrent
 * writer can make a read see a torn item (as in Python), never make it
 * reach outside the segment.
 */
#include "mproc/shm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mproc_shlist {
    mproc_shm *shm;
    unsigned char *base; /* the mapping */
    size_t n;            /* items */
    uint64_t *offsets;   /* n + 1 slot bounds, nondecreasing, checked */
    size_t data;         /* where the data area starts: 8 (n + 2) */
    size_t formats;      /* where the formats start: data + offsets[n] */
    size_t codes;        /* where the codes start: formats + 8 n */
};

/* The codes Python keeps per item (_back_transforms_mapping). */
enum code {
    CODE_PLAIN = 0, /* int, float, bool: the value as unpacked */
    CODE_STR = 1,
    CODE_BYTES = 2,
    CODE_NONE = 3,
};

enum kind {
    KIND_INT,
    KIND_FLOAT,
    KIND_BOOL,
    KIND_NONE,
    KIND_STR,
    KIND_BYTES,
};

/* One item's value; p points into the caller's object or the segment. */
struct item {
    enum kind kind;
    int64_t i;
    double d;
    bool b;
    const unsigned char *p;
    size_t len;
};

#define FORMAT_LEN 8
static const char format_int[] = "q";
static const char format_float[] = "d";
static const char format_bool[] = "xxxxxxx?";
static const char format_none[] = "xxxxxx?x";

/* The longest str or bytes: its slot's "<n>s" must fit 8 characters. */
#define SLOT_MAX 9999992u

/* ---- formats ------------------------------------------------------------ */

/* Parse a format as Python strips it (trailing NULs); the kind it unpacks
 * as and its size. Only what Python writes is accepted. */
static int
parse_format(const char raw[FORMAT_LEN], char *shape, size_t *size)
{
    size_t len = FORMAT_LEN, n = 0;

    while (len > 0 && raw[len - 1] == '\0')
        len--;
    *size = 8;
    if (len == 1 && (raw[0] == 'q' || raw[0] == 'd')) {
        *shape = raw[0];
        return 0;
    }
    if (len == 8 && memcmp(raw, format_bool, 8) == 0) {
        *shape = '?';
        return 0;
    }
    if (len == 8 && memcmp(raw, format_none, 8) == 0) {
        *shape = 'n';
        return 0;
    }
    if (len < 2 || raw[len - 1] != 's')
        return MPROC_EPROTOCOL;
    for (size_t k = 0; k + 1 < len; k++) {
        if (raw[k] < '0' || raw[k] > '9')
            return MPROC_EPROTOCOL;
        n = n * 10 + (size_t)(raw[k] - '0');
    }
    *shape = 's';
    *size = n;
    return 0;
}

/* ---- the segment's fields ----------------------------------------------- */

static uint64_t
slot_size(const struct mproc_shlist *l, size_t i)
{
    return l->offsets[i + 1] - l->offsets[i];
}

static unsigned char *
slot_at(const struct mproc_shlist *l, size_t i)
{
    return l->base + l->data + l->offsets[i];
}

/* Copy item i's format and code out of the segment and check them against
 * its slot. */
static int
load_meta(const struct mproc_shlist *l, size_t i, char *shape, size_t *size,
          int *code)
{
    char raw[FORMAT_LEN];
    int rc;

    memcpy(raw, l->base + l->formats + FORMAT_LEN * i, FORMAT_LEN);
    *code = (signed char)l->base[l->codes + i];
    rc = parse_format(raw, shape, size);
    if (rc == 0 && *size > slot_size(l, i))
        rc = MPROC_EPROTOCOL;
    return rc;
}

static int
read_item(const struct mproc_shlist *l, size_t i, struct item *it)
{
    const unsigned char *at;
    size_t size;
    char shape;
    int code, rc;

    if (l == NULL || it == NULL)
        return MPROC_EINVAL;
    if (i >= l->n)
        return -ERANGE;
    rc = load_meta(l, i, &shape, &size, &code);
    if (rc < 0)
        return rc;
    at = slot_at(l, i);
    *it = (struct item){ .kind = KIND_NONE };
    if (code == CODE_NONE)
        return 0; /* whatever the format: Python's transform ignores it */
    if (code == CODE_PLAIN && shape == 'q') {
        it->kind = KIND_INT;
        memcpy(&it->i, at, sizeof(it->i));
    } else if (code == CODE_PLAIN && shape == 'd') {
        it->kind = KIND_FLOAT;
        memcpy(&it->d, at, sizeof(it->d));
    } else if (code == CODE_PLAIN && shape == '?') {
        it->kind = KIND_BOOL;
        it->b = at[7] != 0;
    } else if ((code == CODE_STR || code == CODE_BYTES) && shape == 's') {
        it->kind = code == CODE_STR ? KIND_STR : KIND_BYTES;
        it->p = at;
        it->len = size;
        while (it->len > 0 && at[it->len - 1] == 0)
            it->len--; /* Python's rstrip(b'\x00') */
    } else {
        return MPROC_EPROTOCOL;
    }
    return 0;
}

/* Write item i with a format of `size` bytes for a str or bytes (already
 * checked to fit both the value and the slot). Format and code first, then
 * the value, in Python's order. */
static void
store(struct mproc_shlist *l, size_t i, const struct item *it, size_t size)
{
    unsigned char *at = slot_at(l, i);
    char format[FORMAT_LEN + 1] = { 0 };
    int code = CODE_PLAIN;

    switch (it->kind) {
    case KIND_INT:
        memcpy(format, format_int, sizeof(format_int));
        memcpy(at, &it->i, 8);
        break;
    case KIND_FLOAT:
        memcpy(format, format_float, sizeof(format_float));
        memcpy(at, &it->d, 8);
        break;
    case KIND_BOOL:
        memcpy(format, format_bool, FORMAT_LEN);
        memset(at, 0, 8);
        at[7] = it->b;
        break;
    case KIND_NONE:
        memcpy(format, format_none, FORMAT_LEN);
        code = CODE_NONE;
        memset(at, 0, 8);
        break;
    case KIND_STR:
    case KIND_BYTES:
        snprintf(format, sizeof(format), "%zus", size);
        code = it->kind == KIND_STR ? CODE_STR : CODE_BYTES;
        memcpy(at, it->p, it->len);
        memset(at + it->len, 0, size - it->len);
        break;
    }
    memcpy(l->base + l->formats + FORMAT_LEN * i, format, FORMAT_LEN);
    l->base[l->codes + i] = (unsigned char)code;
}

static int
write_item(struct mproc_shlist *l, size_t i, const struct item *it)
{
    size_t size = 8;

    if (l == NULL)
        return MPROC_EINVAL;
    if (i >= l->n)
        return -ERANGE;
    if (it->kind == KIND_STR || it->kind == KIND_BYTES) {
        char shape;
        int code, rc;

        rc = load_meta(l, i, &shape, &size, &code);
        if (rc < 0)
            return rc;
        /* Python: a str slot keeps its format, any other takes the whole
         * slot the list was made with. */
        if (shape != 's')
            size = slot_size(l, i);
        if (it->len > size)
            return MPROC_ETOOBIG;
    } else if (slot_size(l, i) < 8) {
        return MPROC_EPROTOCOL;
    }
    store(l, i, it, size);
    return 0;
}

/* ---- objects <-> items -------------------------------------------------- */

static int
item_from_obj(const mproc_obj *o, struct item *it)
{
    const void *p;
    int rc = 0;

    if (o == NULL)
        return MPROC_EINVAL;
    *it = (struct item){ .kind = KIND_NONE };
    switch (mproc_obj_type(o)) {
    case MPROC_OBJ_NONE:
        break;
    case MPROC_OBJ_BOOL:
        it->kind = KIND_BOOL;
        rc = mproc_obj_bool_value(o, &it->b);
        break;
    case MPROC_OBJ_INT:
        it->kind = KIND_INT;
        rc = mproc_obj_int_value(o, &it->i);
        break;
    case MPROC_OBJ_FLOAT:
        it->kind = KIND_FLOAT;
        rc = mproc_obj_float_value(o, &it->d);
        break;
    case MPROC_OBJ_STR:
        it->kind = KIND_STR;
        it->p = (const unsigned char *)mproc_obj_str_value(o, &it->len);
        break;
    case MPROC_OBJ_BYTES:
        it->kind = KIND_BYTES;
        p = mproc_obj_bytes_value(o, &it->len);
        it->p = p;
        break;
    default:
        return MPROC_EINVAL; /* Python: no entry in _types_mapping */
    }
    return rc;
}

static int
obj_from_item(const struct item *it, mproc_obj **out)
{
    unsigned char *copy;
    int rc;

    switch (it->kind) {
    case KIND_INT:
        return mproc_obj_int(out, it->i);
    case KIND_FLOAT:
        return mproc_obj_float(out, it->d);
    case KIND_BOOL:
        return mproc_obj_bool(out, it->b);
    case KIND_NONE:
        return mproc_obj_none(out);
    case KIND_BYTES:
        return mproc_obj_bytes(out, it->p, it->len);
    case KIND_STR:
        break;
    }
    /* Check the UTF-8 of a private copy: the segment may change under a
     * check made in place. */
    copy = malloc(it->len + 1);
    if (copy == NULL)
        return MPROC_ENOMEM;
    memcpy(copy, it->p, it->len);
    rc = mproc_obj_str(out, (const char *)copy, it->len);
    free(copy);
    return rc == MPROC_EINVAL ? MPROC_EPROTOCOL : rc;
}

/* ---- creating and attaching --------------------------------------------- */

/* The layout's fields once n and offsets are known. */
static void
place(struct mproc_shlist *l)
{
    l->data = 8 * (l->n + 2);
    l->formats = l->data + l->offsets[l->n];
    l->codes = l->formats + FORMAT_LEN * l->n;
}

static int
alloc_list(struct mproc_shlist **out, size_t n)
{
    struct mproc_shlist *l = calloc(1, sizeof(*l));

    if (l == NULL || n > SIZE_MAX / 17 - 2)
        goto fail;
    l->offsets = calloc(n + 1, sizeof(*l->offsets));
    if (l->offsets == NULL)
        goto fail;
    l->n = n;
    *out = l;
    return 0;
fail:
    free(l);
    return MPROC_ENOMEM;
}

/* The items of a list or tuple, their slots and the segment's size. */
static int
plan(struct mproc_shlist *l, const mproc_obj *items, struct item *its,
     size_t *total)
{
    uint64_t at = 0;

    for (size_t i = 0; i < l->n; i++) {
        mproc_obj *o;
        uint64_t slot = 8;
        int rc = mproc_obj_get(items, i, &o);

        if (rc == 0)
            rc = item_from_obj(o, &its[i]);
        if (rc < 0)
            return rc;
        if (its[i].kind == KIND_STR || its[i].kind == KIND_BYTES) {
            if (its[i].len >= SLOT_MAX)
                return MPROC_ETOOBIG;
            slot = 8 * (its[i].len / 8 + 1);
        }
        at += slot;
        if (at > SIZE_MAX / 2)
            return MPROC_ETOOBIG;
        l->offsets[i + 1] = at;
    }
    *total = 8 * (l->n + 2) + (size_t)at + 9 * l->n;
    return 0;
}

static int
create(struct mproc_shlist **out, const char *name, const mproc_obj *items,
       const mproc_shm_opts *opts)
{
    enum mproc_obj_type type = mproc_obj_type(items);
    struct mproc_shlist *l = NULL;
    struct item *its = NULL;
    size_t n = 0, total;
    int rc;

    if (items != NULL && type != MPROC_OBJ_LIST && type != MPROC_OBJ_TUPLE)
        return MPROC_EINVAL;
    if (items != NULL && mproc_obj_len(items, &n) < 0)
        return MPROC_EINVAL;
    rc = alloc_list(&l, n);
    if (rc < 0)
        return rc;
    its = calloc(n + 1, sizeof(*its));
    if (its == NULL) {
        rc = MPROC_ENOMEM;
        goto fail;
    }
    rc = plan(l, items, its, &total);
    if (rc == 0)
        rc = mproc_shm_new(&l->shm, name, true, total, opts);
    if (rc < 0)
        goto fail;
    l->base = mproc_shm_buf(l->shm);
    place(l);
    memcpy(l->base, &(int64_t){ (int64_t)n }, 8);
    for (size_t i = 0; i <= n; i++)
        memcpy(l->base + 8 * (i + 1), &(int64_t){ (int64_t)l->offsets[i] }, 8);
    for (size_t i = 0; i < n; i++)
        store(l, i, &its[i], (size_t)slot_size(l, i));
    free(its);
    *out = l;
    return 0;
fail:
    free(its);
    mproc_shlist_free(l);
    return rc;
}

/* Check the header of a segment someone else wrote and copy it. */
static int
adopt_header(struct mproc_shlist **out, mproc_shm *shm)
{
    const unsigned char *base = mproc_shm_buf(shm);
    size_t size = mproc_shm_size(shm);
    struct mproc_shlist *l;
    int64_t n, off, prev = 0;
    int rc;

    if (size < 16)
        return MPROC_EPROTOCOL;
    memcpy(&n, base, 8);
    /* 8 (n + 2) header bytes and 9 n of formats and codes at least. */
    if (n < 0 || (uint64_t)n > (size - 16) / 17)
        return MPROC_EPROTOCOL;
    rc = alloc_list(&l, (size_t)n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i <= (size_t)n; i++) {
        memcpy(&off, base + 8 * (i + 1), 8);
        if (off < prev || (uint64_t)off > size) {
            mproc_shlist_free(l);
            return MPROC_EPROTOCOL;
        }
        l->offsets[i] = (uint64_t)off;
        prev = off;
    }
    if (8 * ((size_t)n + 2) + l->offsets[n] + 9 * (size_t)n > size) {
        mproc_shlist_free(l);
        return MPROC_EPROTOCOL;
    }
    l->shm = shm;
    l->base = mproc_shm_buf(shm);
    place(l);
    *out = l;
    return 0;
}

int
mproc_shlist_new(mproc_shlist **out, const char *name, const mproc_obj *items,
                 const mproc_shm_opts *opts)
{
    mproc_shm *shm;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (items != NULL || name == NULL)
        return create(out, name, items, opts);
    rc = mproc_shm_new(&shm, name, false, 0, opts);
    if (rc < 0)
        return rc;
    rc = adopt_header(out, shm);
    if (rc < 0)
        mproc_shm_free(shm);
    return rc;
}

void
mproc_shlist_free(mproc_shlist *l)
{
    if (l == NULL)
        return;
    mproc_shm_free(l->shm);
    free(l->offsets);
    free(l);
}

/* ---- items -------------------------------------------------------------- */

size_t
mproc_shlist_len(const mproc_shlist *l)
{
    return l != NULL ? l->n : 0;
}

mproc_shm *
mproc_shlist_shm(const mproc_shlist *l)
{
    return l != NULL ? l->shm : NULL;
}

int
mproc_shlist_get(const mproc_shlist *l, size_t i, mproc_obj **out)
{
    struct item it;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    rc = read_item(l, i, &it);
    return rc < 0 ? rc : obj_from_item(&it, out);
}

int
mproc_shlist_set(mproc_shlist *l, size_t i, const mproc_obj *v)
{
    struct item it;
    int rc = item_from_obj(v, &it);

    return rc < 0 ? rc : write_item(l, i, &it);
}

/* Read item i, which must be of kind `want`. */
static int
read_kind(const mproc_shlist *l, size_t i, enum kind want, struct item *it)
{
    int rc = read_item(l, i, it);

    return rc == 0 && it->kind != want ? MPROC_EINVAL : rc;
}

int
mproc_shlist_get_int(const mproc_shlist *l, size_t i, int64_t *v)
{
    struct item it;
    int rc = v == NULL ? MPROC_EINVAL : read_kind(l, i, KIND_INT, &it);

    if (rc == 0)
        *v = it.i;
    return rc;
}

int
mproc_shlist_get_float(const mproc_shlist *l, size_t i, double *v)
{
    struct item it;
    int rc = v == NULL ? MPROC_EINVAL : read_kind(l, i, KIND_FLOAT, &it);

    if (rc == 0)
        *v = it.d;
    return rc;
}

int
mproc_shlist_set_int(mproc_shlist *l, size_t i, int64_t v)
{
    return write_item(l, i, &(struct item){ .kind = KIND_INT, .i = v });
}

int
mproc_shlist_set_float(mproc_shlist *l, size_t i, double v)
{
    return write_item(l, i, &(struct item){ .kind = KIND_FLOAT, .d = v });
}

int
mproc_shlist_set_str(mproc_shlist *l, size_t i, const char *utf8, size_t len)
{
    mproc_obj *s;
    int rc = mproc_obj_str(&s, utf8, len);

    if (rc < 0)
        return rc;
    rc = mproc_shlist_set(l, i, s);
    mproc_obj_free(s);
    return rc;
}

/* Python's search: compare v with each item in order; stop at the first
 * match when `first`. */
static int
search(const mproc_shlist *l, const mproc_obj *v, bool first, size_t *count,
       size_t *index)
{
    size_t found = 0;

    if (l == NULL || v == NULL)
        return MPROC_EINVAL;
    for (size_t i = 0; i < l->n; i++) {
        mproc_obj *item;
        bool equal;
        int rc = mproc_shlist_get(l, i, &item);

        if (rc < 0)
            return rc;
        equal = mproc_obj_equal(item, v);
        mproc_obj_free(item);
        if (equal && first) {
            *index = i;
            return 0;
        }
        found += equal;
    }
    if (first)
        return -ENOENT;
    *count = found;
    return 0;
}

int
mproc_shlist_count(const mproc_shlist *l, const mproc_obj *v, size_t *count)
{
    if (count == NULL)
        return MPROC_EINVAL;
    return search(l, v, false, count, NULL);
}

int
mproc_shlist_index(const mproc_shlist *l, const mproc_obj *v, size_t *index)
{
    if (index == NULL)
        return MPROC_EINVAL;
    return search(l, v, true, NULL, index);
}

int
mproc_shlist_format(const mproc_shlist *l, mproc_buf *out)
{
    char *text, *at;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = (mproc_buf){ NULL, 0 };
    if (l == NULL)
        return MPROC_EINVAL;
    text = malloc(FORMAT_LEN * l->n + 1);
    if (text == NULL)
        return MPROC_ENOMEM;
    at = text;
    for (size_t i = 0; i < l->n; i++) {
        char raw[FORMAT_LEN], shape;
        size_t size, len = FORMAT_LEN;

        memcpy(raw, l->base + l->formats + FORMAT_LEN * i, FORMAT_LEN);
        if (parse_format(raw, &shape, &size) < 0) {
            free(text);
            return MPROC_EPROTOCOL;
        }
        while (len > 0 && raw[len - 1] == '\0')
            len--;
        memcpy(at, raw, len);
        at += len;
    }
    *at = '\0';
    *out = (mproc_buf){ text, (size_t)(at - text) };
    return 0;
}
