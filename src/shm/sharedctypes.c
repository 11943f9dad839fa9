/*
 * shm/sharedctypes.c - Value and Array (sharedctypes.h): C data in an arena
 * block, optionally guarded by a Lock or an RLock. Python:
 * multiprocessing.sharedctypes.
 *
 * A Value is an Array of one element inside: both are a `struct sct`
 * handle over one arena block laid out as
 *
 *   struct sct_shared | padding to the element alignment | the elements
 *
 * The header is written once, before the block is handed to anyone, and
 * only read afterwards, so it needs no lock; it names the guarding lock by
 * its token, which is how a handle made from a token (spawn, forkserver)
 * finds the lock too. The elements are the caller's: plain memory, read and
 * written under the lock by get/set, or through the pointer get_obj gives.
 * The atomic operations work on the element in place with the compiler's
 * __atomic builtins, one locked instruction each, no system call.
 */
#include "mproc/shm.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "shm/shm.h"

#define SCT_MAGIC 0x53435431u /* "SCT1" */
#define DEFAULT_STRUCT_ALIGN 16
#define MAX_ALIGN 4096

enum lock_kind {
    LOCK_NONE,
    LOCK_LOCK,
    LOCK_RLOCK
};

/* The block's header: written before anyone else sees the block. */
struct sct_shared {
    uint32_t magic;
    uint32_t type;      /* enum mproc_ctype */
    uint32_t lock_kind; /* enum lock_kind */
    uint32_t reserved;
    uint64_t itemsize;
    uint64_t len;
    uint64_t data_off; /* where the elements start, from the header */
    mproc_token lock;  /* the guarding lock, unless LOCK_NONE */
};

/* A process's handle: one arena reference and one lock handle. The
 * public handles are this struct under two names (their only member), so
 * a pointer to one is a pointer to it. */
struct sct {
    struct sct_shared *sh;
    void *data;
    mproc_lock *lock;
    mproc_rlock *rlock;
};

struct mproc_value {
    struct sct s;
};

struct mproc_array {
    struct sct s;
};

/* ---- types --------------------------------------------------------------- */

struct ctype_info {
    const char *code; /* Python's typecode, or NULL */
    const char *name; /* the C name */
    size_t size;
    size_t align;
    int int_kind; /* 0: not an integer for the atomics; 1 signed; 2 unsigned */
};

#define T(code, name, type, kind)                                              \
    {                                                                          \
        code, name, sizeof(type), alignof(type), kind                          \
    }

static const struct ctype_info ctypes[] = {
    [MPROC_CTYPE_CHAR] = T("c", "char", char, 0),
    [MPROC_CTYPE_SCHAR] = T("b", "signed char", signed char, 1),
    [MPROC_CTYPE_UCHAR] = T("B", "unsigned char", unsigned char, 2),
    [MPROC_CTYPE_SHORT] = T("h", "short", short, 1),
    [MPROC_CTYPE_USHORT] = T("H", "unsigned short", unsigned short, 2),
    [MPROC_CTYPE_INT] = T("i", "int", int, 1),
    [MPROC_CTYPE_UINT] = T("I", "unsigned int", unsigned int, 2),
    [MPROC_CTYPE_LONG] = T("l", "long", long, 1),
    [MPROC_CTYPE_ULONG] = T("L", "unsigned long", unsigned long, 2),
    [MPROC_CTYPE_LONGLONG] = T("q", "long long", long long, 1),
    [MPROC_CTYPE_ULONGLONG] =
        T("Q", "unsigned long long", unsigned long long, 2),
    [MPROC_CTYPE_FLOAT] = T("f", "float", float, 0),
    [MPROC_CTYPE_DOUBLE] = T("d", "double", double, 0),
    [MPROC_CTYPE_WCHAR] = T("u", "wchar_t", wchar_t, 0),
    [MPROC_CTYPE_BOOL] = T("?", "bool", bool, 0),
    [MPROC_CTYPE_INT8] = T(NULL, "int8_t", int8_t, 1),
    [MPROC_CTYPE_UINT8] = T(NULL, "uint8_t", uint8_t, 2),
    [MPROC_CTYPE_INT16] = T(NULL, "int16_t", int16_t, 1),
    [MPROC_CTYPE_UINT16] = T(NULL, "uint16_t", uint16_t, 2),
    [MPROC_CTYPE_INT32] = T(NULL, "int32_t", int32_t, 1),
    [MPROC_CTYPE_UINT32] = T(NULL, "uint32_t", uint32_t, 2),
    [MPROC_CTYPE_INT64] = T(NULL, "int64_t", int64_t, 1),
    [MPROC_CTYPE_UINT64] = T(NULL, "uint64_t", uint64_t, 2),
    [MPROC_CTYPE_SIZE] = T(NULL, "size_t", size_t, 2),
};

#undef T

#define N_SCALARS (sizeof(ctypes) / sizeof(ctypes[0]))

/* The entry of a scalar type; NULL for STRUCT and anything else. */
static const struct ctype_info *
ctype_info(uint32_t type)
{
    if (type == MPROC_CTYPE_INVALID || type >= N_SCALARS)
        return NULL;
    return &ctypes[type];
}

int
mproc_ctype_parse(const char *name, enum mproc_ctype *out)
{
    if (name == NULL || out == NULL)
        return MPROC_EINVAL;
    for (size_t t = 1; t < N_SCALARS; t++) {
        const struct ctype_info *c = &ctypes[t];

        if ((c->code != NULL && strcmp(name, c->code) == 0) ||
            strcmp(name, c->name) == 0) {
            *out = (enum mproc_ctype)t;
            return 0;
        }
    }
    return MPROC_EINVAL;
}

size_t
mproc_ctype_size(enum mproc_ctype type)
{
    const struct ctype_info *c = ctype_info(type);

    return c != NULL ? c->size : 0;
}

/* ---- the shared object --------------------------------------------------- */

static int
sct_open_lock(struct sct *s)
{
    switch (s->sh->lock_kind) {
    case LOCK_NONE:
        return 0;
    case LOCK_LOCK:
        return mproc_lock_from_token(&s->lock, &s->sh->lock);
    case LOCK_RLOCK:
        return mproc_rlock_from_token(&s->rlock, &s->sh->lock);
    default:
        return MPROC_EINVAL;
    }
}

/* The guarding lock of a new object, and its token in the header. */
static int
sct_make_lock(struct sct *s, const mproc_value_opts *o)
{
    int rc;

    if (o->raw) {
        s->sh->lock_kind = LOCK_NONE;
        return 0;
    }
    if (o->lock != NULL) {
        s->sh->lock_kind = LOCK_LOCK;
        rc = mproc_lock_token(o->lock, &s->sh->lock);
    } else if (o->rlock != NULL) {
        s->sh->lock_kind = LOCK_RLOCK;
        rc = mproc_rlock_token(o->rlock, &s->sh->lock);
    } else {
        s->sh->lock_kind = LOCK_RLOCK;
        rc = mproc_rlock_new(&s->rlock);
        return rc < 0 ? rc : mproc_rlock_token(s->rlock, &s->sh->lock);
    }
    return rc < 0 ? rc : sct_open_lock(s);
}

static void
sct_clear(struct sct *s)
{
    mproc_lock_free(s->lock);
    mproc_rlock_free(s->rlock);
    mproc__arena_unref(s->sh);
    *s = (struct sct){ 0 };
}

static int
sct_new(struct sct *s, enum mproc_ctype type, size_t len,
        const mproc_value_opts *opts)
{
    static const mproc_value_opts defaults = { 0 };
    const mproc_value_opts *o = opts != NULL ? opts : &defaults;
    const struct ctype_info *c = ctype_info(type);
    size_t itemsize = c != NULL ? c->size : o->size;
    size_t align = c != NULL       ? c->align
                   : o->align != 0 ? o->align
                                   : DEFAULT_STRUCT_ALIGN;
    size_t data_off, bytes;
    void *mem;
    int rc;

    if (c == NULL && type != MPROC_CTYPE_STRUCT)
        return MPROC_EINVAL;
    if (itemsize == 0 || align > MAX_ALIGN || (align & (align - 1)) != 0)
        return MPROC_EINVAL;
    if ((o->raw && (o->lock != NULL || o->rlock != NULL)) ||
        (o->lock != NULL && o->rlock != NULL))
        return MPROC_EINVAL;
    if (align < alignof(struct sct_shared))
        align = alignof(struct sct_shared);
    data_off = (sizeof(struct sct_shared) + align - 1) & ~(align - 1);
    if (len > (SIZE_MAX - data_off) / itemsize)
        return MPROC_ENOMEM;
    bytes = data_off + len * itemsize;
    rc = mproc__arena_alloc(bytes, align, &mem);
    if (rc < 0)
        return rc;
    *s = (struct sct){ .sh = mem, .data = (char *)mem + data_off };
    s->sh->magic = SCT_MAGIC;
    s->sh->type = type;
    s->sh->itemsize = itemsize;
    s->sh->len = len;
    s->sh->data_off = data_off;
    if (o->init != NULL && len > 0)
        memcpy(s->data, o->init, len * itemsize);
    rc = sct_make_lock(s, o);
    if (rc < 0)
        sct_clear(s);
    return rc;
}

static int
sct_from_token(struct sct *s, const mproc_token *t, uint32_t kind)
{
    void *mem;
    int rc = mproc__arena_from_token(t, kind, &mem);

    if (rc < 0)
        return rc;
    *s = (struct sct){ .sh = mem };
    if (s->sh->magic != SCT_MAGIC || s->sh->itemsize == 0 ||
        s->sh->data_off < sizeof(struct sct_shared)) {
        mproc__arena_unref(mem);
        *s = (struct sct){ 0 };
        return MPROC_EINVAL;
    }
    s->data = (char *)mem + s->sh->data_off;
    rc = sct_open_lock(s);
    if (rc < 0)
        sct_clear(s);
    return rc;
}

/* Handles: a Value or an Array is a struct sct (its only member), made and
 * freed here for both. */
static int
sct_handle_new(struct sct **out, enum mproc_ctype type, size_t len,
               const mproc_value_opts *opts)
{
    struct sct *s;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return MPROC_ENOMEM;
    rc = sct_new(s, type, len, opts);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* A handle from a token; a Value's (kind VALUE) must hold one element. */
static int
sct_handle_open(struct sct **out, const mproc_token *t, uint32_t kind)
{
    struct sct *s;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (t == NULL)
        return MPROC_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return MPROC_ENOMEM;
    rc = sct_from_token(s, t, kind);
    if (rc == 0 && kind == MPROC__TOKEN_VALUE && s->sh->len != 1) {
        sct_clear(s);
        rc = MPROC_EINVAL;
    }
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void
sct_handle_free(struct sct *s)
{
    if (s == NULL)
        return;
    sct_clear(s);
    free(s);
}

static int
sct_acquire(struct sct *s, double timeout)
{
    if (s->lock != NULL)
        return mproc_lock_acquire(s->lock, timeout);
    if (s->rlock != NULL)
        return mproc_rlock_acquire(s->rlock, timeout);
    return MPROC_EINVAL;
}

static int
sct_release(struct sct *s)
{
    if (s->lock != NULL)
        return mproc_lock_release(s->lock);
    if (s->rlock != NULL)
        return mproc_rlock_release(s->rlock);
    return MPROC_EINVAL;
}

/* Copy n bytes from src to dst, one of them inside the elements, under
 * the lock when there is one. An owner-died acquire still copies, and is
 * reported. */
static int
sct_copy(struct sct *s, void *dst, const void *src, size_t n)
{
    bool locked = s->lock != NULL || s->rlock != NULL;
    int rc = locked ? sct_acquire(s, MPROC_FOREVER) : 0;
    int released;

    if (rc < 0 && rc != MPROC_EOWNERDEAD)
        return rc;
    memcpy(dst, src, n);
    released = locked ? sct_release(s) : 0;
    return rc < 0 ? rc : released;
}

/* Where element i of the object starts. */
static char *
sct_at(const struct sct *s, size_t i)
{
    return (char *)s->data + i * s->sh->itemsize;
}

static int
sct_get_lock(const struct sct *s, mproc_lock **lock, mproc_rlock **rlock)
{
    if (lock == NULL || rlock == NULL)
        return MPROC_EINVAL;
    *lock = s->lock;
    *rlock = s->rlock;
    return s->lock != NULL || s->rlock != NULL ? 0 : MPROC_EINVAL;
}

/* ---- Value --------------------------------------------------------------- */

int
mproc_value_new(mproc_value **out, enum mproc_ctype type,
                const mproc_value_opts *opts)
{
    return sct_handle_new((struct sct **)out, type, 1, opts);
}

void *
mproc_value_get_obj(const mproc_value *v)
{
    return v != NULL ? v->s.data : NULL;
}

enum mproc_ctype
mproc_value_type(const mproc_value *v)
{
    return v != NULL ? (enum mproc_ctype)v->s.sh->type : MPROC_CTYPE_INVALID;
}

size_t
mproc_value_size(const mproc_value *v)
{
    return v != NULL ? v->s.sh->itemsize : 0;
}

int
mproc_value_get(mproc_value *v, void *out)
{
    if (v == NULL || out == NULL)
        return MPROC_EINVAL;
    return sct_copy(&v->s, out, v->s.data, v->s.sh->itemsize);
}

int
mproc_value_set(mproc_value *v, const void *in)
{
    if (v == NULL || in == NULL)
        return MPROC_EINVAL;
    return sct_copy(&v->s, v->s.data, in, v->s.sh->itemsize);
}

int
mproc_value_acquire(mproc_value *v, double timeout)
{
    return v != NULL ? sct_acquire(&v->s, timeout) : MPROC_EINVAL;
}

int
mproc_value_release(mproc_value *v)
{
    return v != NULL ? sct_release(&v->s) : MPROC_EINVAL;
}

int
mproc_value_get_lock(const mproc_value *v, mproc_lock **lock,
                     mproc_rlock **rlock)
{
    return v != NULL ? sct_get_lock(&v->s, lock, rlock) : MPROC_EINVAL;
}

/* The element's width in bytes and signedness, for the atomics: false when
 * the Value is not of an integer type. */
static bool
int_layout(const mproc_value *v, size_t *width, bool *is_signed)
{
    const struct ctype_info *c = ctype_info(v->s.sh->type);

    if (c == NULL || c->int_kind == 0)
        return false;
    *width = c->size;
    *is_signed = c->int_kind == 1;
    return true;
}

/* A raw element of `width` bytes as an int64_t. */
static int64_t
widen(uint64_t raw, size_t width, bool is_signed)
{
    switch (width) {
    case 1:
        return is_signed ? (int8_t)raw : (int64_t)(uint8_t)raw;
    case 2:
        return is_signed ? (int16_t)raw : (int64_t)(uint16_t)raw;
    case 4:
        return is_signed ? (int32_t)raw : (int64_t)(uint32_t)raw;
    default:
        return (int64_t)raw;
    }
}

int
mproc_value_add(mproc_value *v, int64_t delta, int64_t *old)
{
    size_t width;
    bool is_signed;
    uint64_t before;
    void *p;

    if (v == NULL || !int_layout(v, &width, &is_signed))
        return MPROC_EINVAL;
    p = v->s.data;
    switch (width) {
    case 1:
        before =
            __atomic_fetch_add((uint8_t *)p, (uint8_t)delta, __ATOMIC_SEQ_CST);
        break;
    case 2:
        before = __atomic_fetch_add((uint16_t *)p, (uint16_t)delta,
                                    __ATOMIC_SEQ_CST);
        break;
    case 4:
        before = __atomic_fetch_add((uint32_t *)p, (uint32_t)delta,
                                    __ATOMIC_SEQ_CST);
        break;
    default:
        before = __atomic_fetch_add((uint64_t *)p, (uint64_t)delta,
                                    __ATOMIC_SEQ_CST);
        break;
    }
    if (old != NULL)
        *old = widen(before, width, is_signed);
    return 0;
}

/* One compare-and-swap of `width` bytes at p: true when swapped; *seen
 * gets the value found. */
static bool
cas(void *p, size_t width, uint64_t expected, uint64_t desired, uint64_t *seen)
{
    bool swapped;

    switch (width) {
    case 1: {
        uint8_t e = (uint8_t)expected;

        swapped = __atomic_compare_exchange_n(
            (uint8_t *)p, &e, (uint8_t)desired, false, __ATOMIC_SEQ_CST,
            __ATOMIC_SEQ_CST);
        *seen = e;
        break;
    }
    case 2: {
        uint16_t e = (uint16_t)expected;

        swapped = __atomic_compare_exchange_n(
            (uint16_t *)p, &e, (uint16_t)desired, false, __ATOMIC_SEQ_CST,
            __ATOMIC_SEQ_CST);
        *seen = e;
        break;
    }
    case 4: {
        uint32_t e = (uint32_t)expected;

        swapped = __atomic_compare_exchange_n(
            (uint32_t *)p, &e, (uint32_t)desired, false, __ATOMIC_SEQ_CST,
            __ATOMIC_SEQ_CST);
        *seen = e;
        break;
    }
    default: {
        uint64_t e = expected;

        swapped =
            __atomic_compare_exchange_n((uint64_t *)p, &e, desired, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        *seen = e;
        break;
    }
    }
    return swapped;
}

/* An atomic read of `width` bytes at p. */
static uint64_t
load(const void *p, size_t width)
{
    switch (width) {
    case 1:
        return __atomic_load_n((const uint8_t *)p, __ATOMIC_SEQ_CST);
    case 2:
        return __atomic_load_n((const uint16_t *)p, __ATOMIC_SEQ_CST);
    case 4:
        return __atomic_load_n((const uint32_t *)p, __ATOMIC_SEQ_CST);
    default:
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST);
    }
}

int
mproc_value_compare_exchange(mproc_value *v, int64_t *expected, int64_t desired,
                             bool *swapped)
{
    size_t width;
    bool is_signed;
    uint64_t seen;

    if (v == NULL || expected == NULL || swapped == NULL ||
        !int_layout(v, &width, &is_signed))
        return MPROC_EINVAL;
    /* An expected value the type cannot hold matches nothing (truncated,
     * it could match something else). */
    if (widen((uint64_t)*expected, width, is_signed) != *expected) {
        *swapped = false;
        seen = load(v->s.data, width);
    } else {
        *swapped = cas(v->s.data, width, (uint64_t)*expected, (uint64_t)desired,
                       &seen);
    }
    *expected = widen(seen, width, is_signed);
    return 0;
}

int
mproc_value_token(const mproc_value *v, mproc_token *out)
{
    if (v == NULL || out == NULL)
        return MPROC_EINVAL;
    return mproc__arena_token(v->s.sh, MPROC__TOKEN_VALUE, out);
}

int
mproc_value_from_token(mproc_value **out, const mproc_token *t)
{
    return sct_handle_open((struct sct **)out, t, MPROC__TOKEN_VALUE);
}

void
mproc_value_free(mproc_value *v)
{
    sct_handle_free((struct sct *)v);
}

/* ---- Array --------------------------------------------------------------- */

int
mproc_array_new(mproc_array **out, enum mproc_ctype type, size_t length,
                const mproc_value_opts *opts)
{
    return sct_handle_new((struct sct **)out, type, length, opts);
}

void *
mproc_array_get_obj(const mproc_array *a)
{
    return a != NULL ? a->s.data : NULL;
}

size_t
mproc_array_len(const mproc_array *a)
{
    return a != NULL ? a->s.sh->len : 0;
}

size_t
mproc_array_itemsize(const mproc_array *a)
{
    return a != NULL ? a->s.sh->itemsize : 0;
}

enum mproc_ctype
mproc_array_type(const mproc_array *a)
{
    return a != NULL ? (enum mproc_ctype)a->s.sh->type : MPROC_CTYPE_INVALID;
}

/* Whether [start, start + n) lies inside the array. */
static bool
in_range(const mproc_array *a, size_t start, size_t n)
{
    return start <= a->s.sh->len && n <= a->s.sh->len - start;
}

int
mproc_array_get(mproc_array *a, size_t start, size_t n, void *out)
{
    if (a == NULL || out == NULL || !in_range(a, start, n))
        return MPROC_EINVAL;
    return sct_copy(&a->s, out, sct_at(&a->s, start), n * a->s.sh->itemsize);
}

int
mproc_array_set(mproc_array *a, size_t start, size_t n, const void *in)
{
    if (a == NULL || in == NULL || !in_range(a, start, n))
        return MPROC_EINVAL;
    return sct_copy(&a->s, sct_at(&a->s, start), in, n * a->s.sh->itemsize);
}

int
mproc_array_acquire(mproc_array *a, double timeout)
{
    return a != NULL ? sct_acquire(&a->s, timeout) : MPROC_EINVAL;
}

int
mproc_array_release(mproc_array *a)
{
    return a != NULL ? sct_release(&a->s) : MPROC_EINVAL;
}

int
mproc_array_get_lock(const mproc_array *a, mproc_lock **lock,
                     mproc_rlock **rlock)
{
    return a != NULL ? sct_get_lock(&a->s, lock, rlock) : MPROC_EINVAL;
}

int
mproc_array_token(const mproc_array *a, mproc_token *out)
{
    if (a == NULL || out == NULL)
        return MPROC_EINVAL;
    return mproc__arena_token(a->s.sh, MPROC__TOKEN_ARRAY, out);
}

int
mproc_array_from_token(mproc_array **out, const mproc_token *t)
{
    return sct_handle_open((struct sct **)out, t, MPROC__TOKEN_ARRAY);
}

void
mproc_array_free(mproc_array *a)
{
    sct_handle_free((struct sct *)a);
}
