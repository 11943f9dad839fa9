/*
 * value/value.c - mproc_obj: the objects Python's send()/recv() carry
 * (None, bool, int, float, str, bytes, bytearray, list, tuple, dict, set,
 * frozenset, proxy): their lifetime, and the scalars' constructors and
 * accessors (containers are in container.c, proxies in proxy.c).
 *
 * Reference counts are atomic; None, True, False and the ints from -5 to
 * 256 are static and immortal. Small objects' memory is recycled through a
 * per-thread cache (see "memory" below). Freeing never recurses: a dead object
 * is put on a work list threaded through its own `dead_next`, so a million
 * nested lists free in constant stack. A str is checked to be UTF-8 once, on
 * the way in.
 */
#include "value.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static mproc_obj none_obj = { .type = MPROC_OBJ_NONE, .immortal = true };
static mproc_obj true_obj = { .type = MPROC_OBJ_BOOL,
                              .immortal = true,
                              .u.boolean = true };
static mproc_obj false_obj = { .type = MPROC_OBJ_BOOL,
                               .immortal = true,
                               .u.boolean = false };

/* ---- memory --------------------------------------------------------------
 * Decoding a message makes thousands of small objects and freeing the last
 * one had just unmade as many, so, as CPython's free lists do, blocks of up
 * to CACHE_CLASSES * CLASS_BYTES bytes are kept for reuse in a per-thread
 * cache, one list per 16-byte size class, at most CACHE_BYTES a thread.
 * A block freed by another thread than the one that made it simply joins
 * the freeing thread's cache: every block of a class has the class's size.
 * A thread's cache is returned to malloc when the thread ends. Sanitizer
 * builds skip the cache, so that AddressSanitizer sees every use after free.
 */
#define CLASS_BYTES 16
#define CACHE_CLASSES 16
#define CACHE_BYTES ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CACHE_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CACHE_ON 0
#endif
#endif
#ifndef CACHE_ON
#define CACHE_ON 1
#endif

struct block {
    struct block *next;
};

struct cache {
    struct block *free[CACHE_CLASSES];
    size_t bytes;
    bool registered; /* with the key whose destructor empties it */
};

/* initial-exec: a plain %fs-relative access, where the shared library's
 * default model calls __tls_get_addr on every allocation. */
static _Thread_local struct cache cache
    __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_empty(void *unused)
{
    (void)unused;
    for (size_t c = 0; c < CACHE_CLASSES; c++) {
        while (cache.free[c] != NULL) {
            struct block *b = cache.free[c];

            cache.free[c] = b->next;
            free(b);
        }
    }
    cache.bytes = 0;
}

static void
cache_key_create(void)
{
    if (pthread_key_create(&cache_key, cache_empty) != 0)
        cache_key = (pthread_key_t)-1;
}

/* Whether this thread may keep blocks: its cache must be emptied when it
 * ends, which takes a non-NULL value under the key. */
static bool
cache_usable(void)
{
    if (cache.registered)
        return true;
    pthread_once(&cache_once, cache_key_create);
    if (cache_key == (pthread_key_t)-1 ||
        pthread_setspecific(cache_key, &cache) != 0)
        return false;
    cache.registered = true;
    return true;
}

/* The size class of an allocation of `size` bytes; CACHE_CLASSES when it
 * is too big to cache. */
static unsigned
size_class(size_t size)
{
    size_t c = (size + CLASS_BYTES - 1) / CLASS_BYTES - 1;

    return CACHE_ON && c < CACHE_CLASSES ? (unsigned)c : CACHE_CLASSES;
}

mproc_obj *
value_alloc_extra(enum mproc_obj_type type, size_t extra)
{
    unsigned c = size_class(sizeof(mproc_obj) + extra);
    mproc_obj *o;

    if (c < CACHE_CLASSES && cache.free[c] != NULL) {
        struct block *b = cache.free[c];

        cache.free[c] = b->next;
        cache.bytes -= (c + 1) * CLASS_BYTES;
        o = (mproc_obj *)b;
    } else {
        o = malloc(c < CACHE_CLASSES ? (c + 1) * CLASS_BYTES
                                     : sizeof(*o) + extra);
        if (o == NULL)
            return NULL;
    }
    atomic_init(&o->refs, 1);
    o->type = type;
    o->size_class = (uint8_t)c;
    o->immortal = false;
    o->dead_next = NULL;
    memset(&o->u, 0, sizeof(o->u));
    return o;
}

/* value_dealloc, inline for free's loop. */
static inline void
obj_dealloc(mproc_obj *o)
{
    unsigned c = o->size_class;
    size_t size = (c + 1) * CLASS_BYTES;

    if (c < CACHE_CLASSES && cache.bytes + size <= CACHE_BYTES &&
        cache_usable()) {
        struct block *b = (struct block *)o;

        b->next = cache.free[c];
        cache.free[c] = b;
        cache.bytes += size;
        return;
    }
    free(o);
}

void
value_dealloc(mproc_obj *o)
{
    if (o != NULL)
        obj_dealloc(o);
}

mproc_obj *
value_alloc(enum mproc_obj_type type)
{
    bool table = type == MPROC_OBJ_DICT || type == MPROC_OBJ_SET ||
                 type == MPROC_OBJ_FROZENSET;
    mproc_obj *o = value_alloc_extra(
        type, table ? VALUE_TABLE_INLINE * sizeof(struct entry) : 0);

    if (o != NULL && table) {
        o->u.table.entries = (struct entry *)(o + 1);
        o->u.table.cap = VALUE_TABLE_INLINE;
    }
    return o;
}

/* Whether a table's entries are still the ones inside its allocation. */
bool
value_table_inline(const mproc_obj *o)
{
    return o->u.table.entries == (const struct entry *)(o + 1);
}

bool
value_is_int(const mproc_obj *o)
{
    return o->type == MPROC_OBJ_INT || o->type == MPROC_OBJ_BOOL;
}

/* ---- lifetime ------------------------------------------------------------ */

mproc_obj *
mproc_obj_ref(mproc_obj *o)
{
    /* Relaxed: a new reference is made from one the caller already holds,
     * so the object cannot die meanwhile. */
    if (o != NULL && !o->immortal)
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    return o;
}

/* Drop one reference; a dead object goes onto *dead. */
static void
release(mproc_obj *o, mproc_obj **dead)
{
    if (o == NULL || o->immortal)
        return;
    /* acq_rel: every write made through other references happens before
     * the free. (Release plus an acquire fence on the last one would do,
     * but ThreadSanitizer does not model fences; on x86 both are one
     * locked instruction.) A count of 1 is the caller's own reference, which
     * no other thread can change: an acquire load, which synchronizes with
     * the others' releasing decrements as well, spares the locked
     * instruction for the common case of an object held once. */
    if (atomic_load_explicit(&o->refs, memory_order_acquire) != 1 &&
        atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
        return;
    o->dead_next = *dead;
    *dead = o;
}

/* Release what a dead object holds and the object itself. */
static void
destroy(mproc_obj *o, mproc_obj **dead)
{
    switch (o->type) {
    case MPROC_OBJ_INT:
        if (o->u.integer.bytes != NULL) /* a big one */
            free(o->u.integer.bytes);
        break;
    case MPROC_OBJ_BYTEARRAY: /* str and bytes hold their text inline */
        free(o->u.text.data);
        break;
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        for (size_t i = 0; i < o->u.seq.len; i++)
            release(o->u.seq.items[i], dead);
        free(o->u.seq.items);
        break;
    case MPROC_OBJ_DICT:
    case MPROC_OBJ_SET:
    case MPROC_OBJ_FROZENSET:
        for (size_t i = 0; i < o->u.table.len; i++) {
            release(o->u.table.entries[i].key, dead);
            release(o->u.table.entries[i].value, dead);
        }
        if (!value_table_inline(o))
            free(o->u.table.entries);
        if (o->u.table.index != NULL) /* a big one */
            free(o->u.table.index);
        break;
    case MPROC_OBJ_PROXY: /* its text is inline; a server may hold it */
        if (o->u.proxy.release != NULL)
            o->u.proxy.release(o->u.proxy.ctx, o->u.proxy.id);
        break;
    default:
        break;
    }
    obj_dealloc(o);
}

void
mproc_obj_free(mproc_obj *o)
{
    mproc_obj *dead = NULL;

    release(o, &dead);
    while (dead != NULL) {
        mproc_obj *next = dead;

        dead = next->dead_next;
        destroy(next, &dead);
    }
}

enum mproc_obj_type
mproc_obj_type(const mproc_obj *o)
{
    return o == NULL ? MPROC_OBJ_NONE : o->type;
}

const char *
mproc_obj_type_name(enum mproc_obj_type type)
{
    static const char *const names[] = {
        [MPROC_OBJ_NONE] = "NoneType",
        [MPROC_OBJ_BOOL] = "bool",
        [MPROC_OBJ_INT] = "int",
        [MPROC_OBJ_FLOAT] = "float",
        [MPROC_OBJ_STR] = "str",
        [MPROC_OBJ_BYTES] = "bytes",
        [MPROC_OBJ_BYTEARRAY] = "bytearray",
        [MPROC_OBJ_LIST] = "list",
        [MPROC_OBJ_TUPLE] = "tuple",
        [MPROC_OBJ_DICT] = "dict",
        [MPROC_OBJ_SET] = "set",
        [MPROC_OBJ_FROZENSET] = "frozenset",
        [MPROC_OBJ_PROXY] = "proxy",
    };

    if ((unsigned)type >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[type];
}

/* ---- scalars ------------------------------------------------------------- */

int
mproc_obj_none(mproc_obj **out)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = &none_obj;
    return 0;
}

int
mproc_obj_bool(mproc_obj **out, bool v)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = v ? &true_obj : &false_obj;
    return 0;
}

/* The ints from -5 to 256, immortal, as CPython keeps them: the most
 * common values cost no allocation. Initialized statically, not by a
 * constructor: a spawn child runs its target from the bootstrap's
 * constructor, which may come first. */
#define SMALL_INT_MIN (-5)
#define SMALL_INT_MAX 256
#define SMALL(v)                                                               \
    {                                                                          \
        .type = MPROC_OBJ_INT, .immortal = true, .u.integer.small = (v)        \
    }
#define SMALL4(v) SMALL(v), SMALL((v) + 1), SMALL((v) + 2), SMALL((v) + 3)
#define SMALL16(v) SMALL4(v), SMALL4((v) + 4), SMALL4((v) + 8), SMALL4((v) + 12)
#define SMALL64(v)                                                             \
    SMALL16(v), SMALL16((v) + 16), SMALL16((v) + 32), SMALL16((v) + 48)
#define SMALL256(v)                                                            \
    SMALL64(v), SMALL64((v) + 64), SMALL64((v) + 128), SMALL64((v) + 192)
static mproc_obj small_ints[SMALL_INT_MAX - SMALL_INT_MIN + 1] = {
    SMALL256(SMALL_INT_MIN),
    SMALL4(SMALL_INT_MIN + 256),
    SMALL(255),
    SMALL(256),
};
_Static_assert(SMALL_INT_MIN + 256 + 4 == 255, "the table ends at 256");

int
mproc_obj_int(mproc_obj **out, int64_t v)
{
    if (out == NULL)
        return MPROC_EINVAL;
    if (v >= SMALL_INT_MIN && v <= SMALL_INT_MAX) {
        *out = &small_ints[v - SMALL_INT_MIN];
        return 0;
    }
    *out = value_alloc(MPROC_OBJ_INT);
    if (*out == NULL)
        return MPROC_ENOMEM;
    (*out)->u.integer.small = v;
    return 0;
}

int
mproc_obj_int_from_bytes(mproc_obj **out, const void *le, size_t len)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (le == NULL && len > 0)
        return MPROC_EINVAL;
    return value_int_from_twos(out, le, len);
}

int
mproc_obj_float(mproc_obj **out, double v)
{
    if (out == NULL)
        return MPROC_EINVAL;
    *out = value_alloc(MPROC_OBJ_FLOAT);
    if (*out == NULL)
        return MPROC_ENOMEM;
    (*out)->u.real = v;
    return 0;
}

/* The length of the UTF-8 sequence at s (at most n bytes), or 0 when it is
 * not valid: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t
utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        return 0;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

/* A text object (str, bytes, bytearray) holding a NUL-terminated copy:
 * inline after the object for the immutable str and bytes, so one
 * allocation holds both; a bytearray's own buffer, as set() replaces it. */
static int
text_new(mproc_obj **out, enum mproc_obj_type type, const void *data,
         size_t len, size_t chars)
{
    bool inline_data = type != MPROC_OBJ_BYTEARRAY;
    mproc_obj *o;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (data == NULL && len > 0)
        return MPROC_EINVAL;
    if (inline_data && len > SIZE_MAX - sizeof(mproc_obj) - 1)
        return MPROC_ENOMEM;
    o = value_alloc_extra(type, inline_data ? len + 1 : 0);
    if (o == NULL)
        return MPROC_ENOMEM;
    if (inline_data) {
        o->u.text.data = (char *)(o + 1);
    } else {
        o->u.text.data = malloc(len + 1);
        if (o->u.text.data == NULL) {
            value_dealloc(o);
            return MPROC_ENOMEM;
        }
    }
    if (len > 0)
        memcpy(o->u.text.data, data, len);
    o->u.text.data[len] = '\0';
    o->u.text.len = len;
    o->u.text.chars = chars;
    *out = o;
    return 0;
}

size_t
value_utf8_chars(const char *utf8, size_t len)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t i = 0, chars;

    /* The ASCII head, the common case, eight bytes at a time: a byte is a
     * character there. */
    for (uint64_t w; len - i >= 8; i += 8) {
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080u)
            break;
    }
    while (i < len && s[i] < 0x80)
        i++;
    for (chars = i; i < len; chars++) {
        size_t step = utf8_sequence(s + i, len - i);

        if (step == 0)
            return SIZE_MAX;
        i += step;
    }
    return chars;
}

int
mproc_obj_str(mproc_obj **out, const char *utf8, size_t len)
{
    size_t chars;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (utf8 == NULL && len > 0)
        return MPROC_EINVAL;
    chars = value_utf8_chars(utf8, len);
    if (chars == SIZE_MAX)
        return MPROC_EINVAL;
    return text_new(out, MPROC_OBJ_STR, utf8, len, chars);
}

int
mproc_obj_bytes(mproc_obj **out, const void *data, size_t len)
{
    return text_new(out, MPROC_OBJ_BYTES, data, len, 0);
}

int
mproc_obj_bytearray(mproc_obj **out, const void *data, size_t len)
{
    return text_new(out, MPROC_OBJ_BYTEARRAY, data, len, 0);
}

int
mproc_obj_bool_value(const mproc_obj *o, bool *v)
{
    if (o == NULL || v == NULL || o->type != MPROC_OBJ_BOOL)
        return MPROC_EINVAL;
    *v = o->u.boolean;
    return 0;
}

int
mproc_obj_int_value(const mproc_obj *o, int64_t *v)
{
    if (o == NULL || v == NULL || !value_is_int(o))
        return MPROC_EINVAL;
    if (o->type == MPROC_OBJ_BOOL) {
        *v = o->u.boolean;
        return 0;
    }
    if (o->u.integer.bytes != NULL)
        return MPROC_ETOOBIG;
    *v = o->u.integer.small;
    return 0;
}

int
mproc_obj_int_bytes(const mproc_obj *o, mproc_buf *out)
{
    unsigned char small[8];
    const unsigned char *src = small;
    size_t len;

    if (out == NULL)
        return MPROC_EINVAL;
    out->data = NULL;
    out->len = 0;
    if (o == NULL || !value_is_int(o))
        return MPROC_EINVAL;
    if (o->type == MPROC_OBJ_BOOL) {
        len = value_int64_twos(o->u.boolean, small);
    } else if (o->u.integer.bytes == NULL) {
        len = value_int64_twos(o->u.integer.small, small);
    } else {
        src = o->u.integer.bytes;
        len = o->u.integer.len;
    }
    if (len == 0)
        return 0;
    out->data = malloc(len);
    if (out->data == NULL)
        return MPROC_ENOMEM;
    memcpy(out->data, src, len);
    out->len = len;
    return 0;
}

int
mproc_obj_float_value(const mproc_obj *o, double *v)
{
    if (o == NULL || v == NULL)
        return MPROC_EINVAL;
    if (o->type == MPROC_OBJ_FLOAT) {
        *v = o->u.real;
        return 0;
    }
    if (!value_is_int(o))
        return MPROC_EINVAL;
    return value_int_to_double(o, v);
}

const char *
mproc_obj_str_value(const mproc_obj *o, size_t *len)
{
    if (o == NULL || o->type != MPROC_OBJ_STR) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = o->u.text.len;
    return o->u.text.data;
}

const void *
mproc_obj_bytes_value(const mproc_obj *o, size_t *len)
{
    if (o == NULL ||
        (o->type != MPROC_OBJ_BYTES && o->type != MPROC_OBJ_BYTEARRAY)) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = o->u.text.len;
    return o->u.text.data;
}

int
mproc_obj_bytearray_set(mproc_obj *o, const void *data, size_t len)
{
    char *copy;

    if (o == NULL || o->type != MPROC_OBJ_BYTEARRAY ||
        (data == NULL && len > 0))
        return MPROC_EINVAL;
    copy = malloc(len + 1);
    if (copy == NULL)
        return MPROC_ENOMEM;
    if (len > 0)
        memcpy(copy, data, len);
    copy[len] = '\0';
    free(o->u.text.data);
    o->u.text.data = copy;
    o->u.text.len = len;
    return 0;
}
