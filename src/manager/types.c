/*
 * manager/types.c - the types a manager serves: the registry
 * (BaseManager.register) and SyncManager's builtin types, each a
 * mproc_manager_type like any the program registers.
 *
 * The containers (dict, list, Namespace, Value, Array) are mproc_objs the
 * server runs one method at a time on (not thread_safe); what a method
 * returns is either a new object or one nothing mutates in place, so it
 * can be pickled after the call lock is released. The queue and sync
 * types wrap the objects of queue.h and sync.h, which lock for themselves,
 * and wait in slices (mproc__mgr_sliced) so a vanished client's wait ends.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../queue.h"
#include "../sys/sys.h"
#include "../value/proxy.h"
#include "manager.h"
#include "mproc/queue.h"
#include "mproc/sync.h"

/* ---- arguments ----------------------------------------------------------- */

static size_t
nargs(const mproc_obj *args)
{
    size_t n = 0;

    mproc_obj_len(args, &n);
    return n;
}

/* Argument i, borrowed; NULL past the end. */
static mproc_obj *
arg(const mproc_obj *args, size_t i)
{
    mproc_obj *item = NULL;

    if (mproc_obj_get(args, i, &item) < 0)
        return NULL;
    return item;
}

static int
want_args(const mproc_obj *args, size_t least, size_t most)
{
    size_t n = nargs(args);

    return n >= least && n <= most ? 0 : MPROC_EINVAL;
}

/* A timeout argument: absent or None is forever, as is a negative one. */
static int
arg_timeout(const mproc_obj *args, size_t i, double *timeout)
{
    mproc_obj *t = arg(args, i);
    int64_t n;

    *timeout = MPROC_FOREVER;
    if (t == NULL || mproc_obj_type(t) == MPROC_OBJ_NONE)
        return 0;
    if (mproc_obj_float_value(t, timeout) == 0 ||
        (mproc_obj_int_value(t, &n) == 0 && (*timeout = (double)n, true))) {
        if (isnan(*timeout))
            return MPROC_EINVAL;
        if (*timeout < 0)
            *timeout = MPROC_FOREVER;
        return 0;
    }
    return MPROC_EINVAL;
}

static int
arg_int(const mproc_obj *args, size_t i, int64_t fallback, int64_t *v)
{
    mproc_obj *o = arg(args, i);

    *v = fallback;
    if (o == NULL)
        return 0;
    return mproc_obj_type(o) == MPROC_OBJ_INT ? mproc_obj_int_value(o, v)
                                              : MPROC_EINVAL;
}

static int
ret_bool(mproc_obj **result, bool v)
{
    return mproc_obj_bool(result, v);
}

static int
ret_size(mproc_obj **result, size_t n)
{
    return mproc_obj_int(result, (int64_t)n);
}

/*
 * Methods of no arguments over one call: NULLARY returns what the call
 * returns (None on success), AS_BOOL and AS_INT return its value. `self`
 * is the object, of type `type`.
 */
#define NULLARY(name, type, call)                                              \
    static int name(void *obj, const mproc_obj *args, mproc_obj **result)      \
    {                                                                          \
        type *self = obj;                                                      \
        int rc = want_args(args, 0, 0);                                        \
                                                                               \
        (void)result;                                                          \
        return rc < 0 ? rc : (call);                                           \
    }
#define AS_BOOL(name, type, call)                                              \
    static int name(void *obj, const mproc_obj *args, mproc_obj **result)      \
    {                                                                          \
        type *self = obj;                                                      \
        int rc = want_args(args, 0, 0);                                        \
                                                                               \
        return rc < 0 ? rc : ret_bool(result, (call));                         \
    }
#define AS_INT(name, type, call)                                               \
    static int name(void *obj, const mproc_obj *args, mproc_obj **result)      \
    {                                                                          \
        type *self = obj;                                                      \
        int rc = want_args(args, 0, 0);                                        \
                                                                               \
        return rc < 0 ? rc : mproc_obj_int(result, (call));                    \
    }

/* ---- containers of mproc_objs (list, Namespace) -------------------------- */

static void
obj_destroy(void *self)
{
    mproc_obj_free(self);
}

static int
obj_getvalue(void *self, mproc_obj **value)
{
    return mproc_obj_copy(value, self);
}

static int
obj_len(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t n = 0;
    int rc = want_args(args, 0, 0);

    if (rc == 0)
        rc = mproc_obj_len(self, &n);
    return rc < 0 ? rc : ret_size(result, n);
}

static int
obj_copy_method(void *self, const mproc_obj *args, mproc_obj **result)
{
    int rc = want_args(args, 0, 0);

    return rc < 0 ? rc : mproc_obj_copy(result, self);
}

/* ---- dict: shdict.c's, in a file its local clients map ------------------- */

struct sdict {
    struct shdict *d;
    int fd;
    struct mproc__shdict_pins pins;
};

static void
dict_destroy(void *self)
{
    struct sdict *s = self;

    mproc__shdict_close(s->d, &s->pins);
    mproc__shdict_unmap(s->d);
    mproc__close(&s->fd);
    free(s);
}

/* Set every item of a dict argument. */
static int
dict_fill(struct sdict *s, const mproc_obj *from)
{
    mproc_obj *k, *v;
    size_t n = 0;
    int rc = mproc_obj_type(from) == MPROC_OBJ_DICT ? 0 : MPROC_EINVAL;

    if (rc == 0)
        mproc_obj_len(from, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = mproc_obj_dict_item(from, i, &k, &v)) == 0)
            rc = mproc__shdict_set(s->d, k, v, &s->pins);
    return rc;
}

static int
dict_create(void **self, const mproc_obj *args)
{
    struct sdict *s;
    int rc = want_args(args, 0, 1);

    if (rc < 0)
        return rc;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    s->pins = mproc__mgr_pins();
    rc = mproc__shdict_new(&s->d, &s->fd);
    if (rc < 0) {
        free(s);
        return rc;
    }
    if (arg(args, 0) != NULL)
        rc = dict_fill(s, arg(args, 0));
    if (rc < 0) {
        dict_destroy(s);
        return rc;
    }
    *self = s;
    return 0;
}

static int
dict_getvalue(void *self, mproc_obj **value)
{
    struct sdict *s = self;

    return mproc__shdict_view(s->d, MPROC__SHDICT_COPY, value);
}

static int
dict_getitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 1, 1);

    return rc < 0 ? rc : mproc__shdict_get(s->d, arg(args, 0), result);
}

static int
dict_setitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 2, 2);

    (void)result;
    return rc < 0
               ? rc
               : mproc__shdict_set(s->d, arg(args, 0), arg(args, 1), &s->pins);
}

static int
dict_delitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 1, 1);

    (void)result;
    return rc < 0 ? rc : mproc__shdict_pop(s->d, arg(args, 0), NULL, &s->pins);
}

static int
dict_contains(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 1, 1);

    if (rc == 0)
        rc = mproc__shdict_contains(s->d, arg(args, 0));
    return rc < 0 ? rc : ret_bool(result, rc == 1);
}

static int
dict_len(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    size_t n = 0;
    int rc = want_args(args, 0, 0);

    if (rc == 0)
        rc = mproc__shdict_len(s->d, &n);
    return rc < 0 ? rc : ret_size(result, n);
}

/* The default of get / pop: the second argument, or None. */
static int
fallback(const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *v = arg(args, 1);

    if (v == NULL)
        return mproc_obj_none(result);
    *result = mproc_obj_ref(v);
    return 0;
}

static int
dict_get(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 1, 2);

    if (rc == 0)
        rc = mproc__shdict_get(s->d, arg(args, 0), result);
    return rc == -ENOENT ? fallback(args, result) : rc;
}

static int
dict_pop(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 1, 2);

    if (rc == 0)
        rc = mproc__shdict_pop(s->d, arg(args, 0), result, &s->pins);
    return rc == -ENOENT && nargs(args) == 2 ? fallback(args, result) : rc;
}

static int
dict_popitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 0, 0);

    return rc < 0 ? rc : mproc__shdict_popitem(s->d, result, &s->pins);
}

static int
dict_setdefault(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    mproc_obj *value = NULL;
    int rc = want_args(args, 1, 2);

    if (rc == 0)
        rc = fallback(args, &value);
    if (rc == 0)
        rc = mproc__shdict_setdefault(s->d, arg(args, 0), value, result,
                                      &s->pins);
    mproc_obj_free(value);
    return rc;
}

static int
dict_update(void *self, const mproc_obj *args, mproc_obj **result)
{
    int rc = want_args(args, 1, 1);

    (void)result;
    return rc < 0 ? rc : dict_fill(self, arg(args, 0));
}

static int
dict_view_of(void *self, const mproc_obj *args, mproc_obj **result,
             enum mproc__shdict_view which)
{
    struct sdict *s = self;
    int rc = want_args(args, 0, 0);

    return rc < 0 ? rc : mproc__shdict_view(s->d, which, result);
}

static int
dict_keys(void *self, const mproc_obj *args, mproc_obj **result)
{
    return dict_view_of(self, args, result, MPROC__SHDICT_KEYS);
}

static int
dict_values(void *self, const mproc_obj *args, mproc_obj **result)
{
    return dict_view_of(self, args, result, MPROC__SHDICT_VALUES);
}

static int
dict_items(void *self, const mproc_obj *args, mproc_obj **result)
{
    return dict_view_of(self, args, result, MPROC__SHDICT_ITEMS);
}

static int
dict_copy(void *self, const mproc_obj *args, mproc_obj **result)
{
    return dict_view_of(self, args, result, MPROC__SHDICT_COPY);
}

static int
dict_clear(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sdict *s = self;
    int rc = want_args(args, 0, 0);

    (void)result;
    return rc < 0 ? rc : mproc__shdict_clear(s->d, &s->pins);
}

static const mproc_manager_method dict_methods[] = {
    { .name = "__getitem__", .call = dict_getitem },
    { .name = "__setitem__", .call = dict_setitem },
    { .name = "__delitem__", .call = dict_delitem },
    { .name = "__contains__", .call = dict_contains },
    { .name = "__len__", .call = dict_len },
    { .name = "get", .call = dict_get },
    { .name = "pop", .call = dict_pop },
    { .name = "popitem", .call = dict_popitem },
    { .name = "setdefault", .call = dict_setdefault },
    { .name = "update", .call = dict_update },
    { .name = "keys", .call = dict_keys },
    { .name = "values", .call = dict_values },
    { .name = "items", .call = dict_items },
    { .name = "clear", .call = dict_clear },
    { .name = "copy", .call = dict_copy },
    { 0 },
};

/* ---- list ---------------------------------------------------------------- */

/* A list index argument, negative counting from the end: -ERANGE outside;
 * with insert, clamped to 0..len as list.insert does. */
static int
list_index(void *self, const mproc_obj *args, size_t i, bool insert, size_t *at)
{
    size_t n = 0;
    int64_t k;
    int rc = arg_int(args, i, -1, &k);

    if (rc < 0 || arg(args, i) == NULL)
        return rc < 0 ? rc : MPROC_EINVAL;
    mproc_obj_len(self, &n);
    if (k < 0)
        k += (int64_t)n;
    if (insert) {
        *at = k < 0 ? 0 : (uint64_t)k > n ? n : (size_t)k;
        return 0;
    }
    if (k < 0 || (uint64_t)k >= n)
        return -ERANGE;
    *at = (size_t)k;
    return 0;
}

/* A new list of the items of a list or tuple (NULL: empty). */
static int
list_from(const mproc_obj *seq, mproc_obj **out)
{
    mproc_obj *l, *item;
    size_t n = 0;
    int rc;

    if (seq != NULL && mproc_obj_type(seq) != MPROC_OBJ_LIST &&
        mproc_obj_type(seq) != MPROC_OBJ_TUPLE)
        return MPROC_EINVAL;
    rc = mproc_obj_list(&l);
    if (rc < 0)
        return rc;
    if (seq != NULL)
        mproc_obj_len(seq, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = mproc_obj_get(seq, i, &item)) == 0)
            rc = mproc_obj_list_append(l, item);
    if (rc < 0) {
        mproc_obj_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int
list_create(void **self, const mproc_obj *args)
{
    int rc = want_args(args, 0, 1);

    return rc < 0 ? rc : list_from(arg(args, 0), (mproc_obj **)self);
}

static int
list_getitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *item;
    size_t at;
    int rc = want_args(args, 1, 1);

    if (rc == 0)
        rc = list_index(self, args, 0, false, &at);
    if (rc == 0)
        rc = mproc_obj_get(self, at, &item);
    if (rc == 0)
        *result = mproc_obj_ref(item);
    return rc;
}

static int
list_setitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t at;
    int rc = want_args(args, 2, 2);

    (void)result;
    if (rc == 0)
        rc = list_index(self, args, 0, false, &at);
    return rc < 0 ? rc : mproc_obj_list_set(self, at, arg(args, 1));
}

static int
list_delitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t at;
    int rc = want_args(args, 1, 1);

    (void)result;
    if (rc == 0)
        rc = list_index(self, args, 0, false, &at);
    return rc < 0 ? rc : mproc_obj_list_delete(self, at);
}

static int
list_append(void *self, const mproc_obj *args, mproc_obj **result)
{
    int rc = want_args(args, 1, 1);

    (void)result;
    return rc < 0 ? rc : mproc_obj_list_append(self, arg(args, 0));
}

static int
list_extend(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *seq = arg(args, 0), *item;
    size_t n = 0;
    int rc = want_args(args, 1, 1);

    (void)result;
    if (rc == 0 && mproc_obj_type(seq) != MPROC_OBJ_LIST &&
        mproc_obj_type(seq) != MPROC_OBJ_TUPLE)
        rc = MPROC_EINVAL;
    if (rc == 0)
        mproc_obj_len(seq, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = mproc_obj_get(seq, i, &item)) == 0)
            rc = mproc_obj_list_append(self, item);
    return rc;
}

static int
list_insert(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t at;
    int rc = want_args(args, 2, 2);

    (void)result;
    if (rc == 0)
        rc = list_index(self, args, 0, true, &at);
    return rc < 0 ? rc : mproc_obj_list_insert(self, at, arg(args, 1));
}

static int
list_pop(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *item;
    size_t at, n = 0;
    int rc = want_args(args, 0, 1);

    if (rc < 0)
        return rc;
    mproc_obj_len(self, &n);
    if (nargs(args) == 0) {
        if (n == 0)
            return -ERANGE;
        at = n - 1;
    } else if ((rc = list_index(self, args, 0, false, &at)) < 0) {
        return rc;
    }
    rc = mproc_obj_get(self, at, &item);
    if (rc == 0) {
        *result = mproc_obj_ref(item);
        rc = mproc_obj_list_delete(self, at);
    }
    return rc;
}

/* The first index of args[0]: MPROC_EINVAL when absent (Python's
 * ValueError). */
static int
list_find(void *self, const mproc_obj *args, size_t *at)
{
    mproc_obj *item;
    size_t n = 0;

    mproc_obj_len(self, &n);
    for (size_t i = 0; i < n; i++)
        if (mproc_obj_get(self, i, &item) == 0 &&
            mproc_obj_equal(item, arg(args, 0))) {
            *at = i;
            return 0;
        }
    return MPROC_EINVAL;
}

static int
list_contains(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t at;
    int rc = want_args(args, 1, 1);

    if (rc < 0)
        return rc;
    return ret_bool(result, list_find(self, args, &at) == 0);
}

static int
list_remove(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t at;
    int rc = want_args(args, 1, 1);

    (void)result;
    if (rc == 0)
        rc = list_find(self, args, &at);
    return rc < 0 ? rc : mproc_obj_list_delete(self, at);
}

static int
list_index_of(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t at;
    int rc = want_args(args, 1, 1);

    if (rc == 0)
        rc = list_find(self, args, &at);
    return rc < 0 ? rc : ret_size(result, at);
}

static int
list_count(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *item;
    size_t n = 0, count = 0;
    int rc = want_args(args, 1, 1);

    if (rc < 0)
        return rc;
    mproc_obj_len(self, &n);
    for (size_t i = 0; i < n; i++)
        if (mproc_obj_get(self, i, &item) == 0 &&
            mproc_obj_equal(item, arg(args, 0)))
            count++;
    return ret_size(result, count);
}

static int
list_clear(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t n = 0;
    int rc = want_args(args, 0, 0);

    (void)result;
    if (rc == 0)
        rc = mproc_obj_len(self, &n);
    while (rc == 0 && n-- > 0)
        rc = mproc_obj_list_delete(self, n);
    return rc;
}

static int
list_reverse(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *a, *b;
    size_t n = 0;
    int rc = want_args(args, 0, 0);

    (void)result;
    if (rc < 0)
        return rc;
    mproc_obj_len(self, &n);
    for (size_t i = 0; rc == 0 && i < n / 2; i++) {
        mproc_obj_get(self, i, &a);
        mproc_obj_get(self, n - 1 - i, &b);
        mproc_obj_ref(a);
        rc = mproc_obj_list_set(self, i, b);
        if (rc == 0)
            rc = mproc_obj_list_set(self, n - 1 - i, a);
        mproc_obj_free(a);
    }
    return rc;
}

/* ---- list.sort: Python's ordering, a stable merge sort ---------------- */

static bool
is_number(const mproc_obj *o)
{
    enum mproc_obj_type t = mproc_obj_type(o);

    return t == MPROC_OBJ_BOOL || t == MPROC_OBJ_INT || t == MPROC_OBJ_FLOAT;
}

/* A number as a double, exactly for ints of 64 bits; a bigger int comes
 * as its sign and magnitude rounded (close enough to order it against
 * floats; two big ints are ordered exactly below). */
static double
number_of(const mproc_obj *o)
{
    double d;
    int64_t i;
    mproc_buf b = { 0 };

    if (mproc_obj_float_value(o, &d) == 0)
        return d;
    if (mproc_obj_int_value(o, &i) == 0)
        return (double)i;
    d = 0;
    if (mproc_obj_int_bytes(o, &b) == 0 && b.len > 0) {
        const unsigned char *le = b.data;
        bool negative = le[b.len - 1] & 0x80;

        for (size_t k = b.len; k-- > 0;)
            d = d * 256 + (negative ? (unsigned char)~le[k] : le[k]);
        d = negative ? -d - 1 : d;
    }
    mproc_buf_free(&b);
    return d;
}

static int order(const mproc_obj *a, const mproc_obj *b, int *cmp);

/* Lexicographic order of two lists or two tuples. */
static int
order_sequences(const mproc_obj *a, const mproc_obj *b, int *cmp)
{
    size_t na = 0, nb = 0;
    mproc_obj *x, *y;

    mproc_obj_len(a, &na);
    mproc_obj_len(b, &nb);
    for (size_t i = 0; i < na && i < nb; i++) {
        mproc_obj_get(a, i, &x);
        mproc_obj_get(b, i, &y);
        if (mproc_obj_equal(x, y))
            continue;
        return order(x, y, cmp);
    }
    *cmp = (na > nb) - (na < nb);
    return 0;
}

/* Python's a < b as -1, 0, 1, or MPROC_EINVAL where Python raises
 * TypeError ('<' not supported between instances). */
static int
order(const mproc_obj *a, const mproc_obj *b, int *cmp)
{
    enum mproc_obj_type ta = mproc_obj_type(a), tb = mproc_obj_type(b);
    const void *pa, *pb;
    size_t la, lb;

    if (is_number(a) && is_number(b)) {
        int64_t x, y;
        double dx, dy;

        if (mproc_obj_int_value(a, &x) == 0 && mproc_obj_int_value(b, &y) == 0)
            *cmp = (x > y) - (x < y);
        else {
            dx = number_of(a);
            dy = number_of(b);
            if (dx != dx || dy != dy)
                *cmp = 0; /* NaN: unordered, kept where it is */
            else
                *cmp = (dx > dy) - (dx < dy);
        }
        return 0;
    }
    if (ta != tb)
        return MPROC_EINVAL;
    switch (ta) {
    case MPROC_OBJ_STR: /* UTF-8's byte order is code point order */
        pa = mproc_obj_str_value(a, &la);
        pb = mproc_obj_str_value(b, &lb);
        break;
    case MPROC_OBJ_BYTES:
    case MPROC_OBJ_BYTEARRAY:
        pa = mproc_obj_bytes_value(a, &la);
        pb = mproc_obj_bytes_value(b, &lb);
        break;
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        return order_sequences(a, b, cmp);
    default:
        return MPROC_EINVAL;
    }
    *cmp = memcmp(pa, pb, la < lb ? la : lb);
    if (*cmp == 0)
        *cmp = (la > lb) - (la < lb);
    return 0;
}

/* Merge sort of items[0..n) through tmp: stable, as Python's sort. */
static int
merge_sort(mproc_obj **items, mproc_obj **tmp, size_t n, bool reverse)
{
    size_t half = n / 2, i = 0, j = half, k = 0;
    int rc, cmp;

    if (n < 2)
        return 0;
    rc = merge_sort(items, tmp, half, reverse);
    if (rc == 0)
        rc = merge_sort(items + half, tmp, n - half, reverse);
    while (rc == 0 && i < half && j < n) {
        rc = order(items[j], items[i], &cmp);
        /* Take the right one only when it must go first: stability. */
        tmp[k++] = (reverse ? cmp > 0 : cmp < 0) ? items[j++] : items[i++];
    }
    if (rc < 0)
        return rc;
    while (i < half)
        tmp[k++] = items[i++];
    while (j < n)
        tmp[k++] = items[j++];
    memcpy(items, tmp, n * sizeof(*items));
    return 0;
}

/* sort([reverse]): the list is changed only when every pair compares. */
static int
list_sort(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj **items = NULL, *flag = arg(args, 0);
    bool reverse = false;
    size_t n = 0;
    int rc = want_args(args, 0, 1);

    (void)result;
    if (rc == 0 && flag != NULL && mproc_obj_bool_value(flag, &reverse) < 0)
        rc = MPROC_EINVAL;
    if (rc == 0)
        mproc_obj_len(self, &n);
    if (rc < 0 || n < 2)
        return rc;
    items = malloc(2 * n * sizeof(*items));
    if (items == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        mproc_obj_get(self, i, &items[i]);
        mproc_obj_ref(items[i]);
    }
    rc = merge_sort(items, items + n, n, reverse);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = mproc_obj_list_set(self, i, items[i]);
    for (size_t i = 0; i < n; i++)
        mproc_obj_free(items[i]);
    free(items);
    return rc;
}

static const mproc_manager_method list_methods[] = {
    { .name = "__getitem__", .call = list_getitem },
    { .name = "__setitem__", .call = list_setitem },
    { .name = "__delitem__", .call = list_delitem },
    { .name = "__contains__", .call = list_contains },
    { .name = "__len__", .call = obj_len },
    { .name = "append", .call = list_append },
    { .name = "extend", .call = list_extend },
    { .name = "insert", .call = list_insert },
    { .name = "pop", .call = list_pop },
    { .name = "remove", .call = list_remove },
    { .name = "index", .call = list_index_of },
    { .name = "count", .call = list_count },
    { .name = "reverse", .call = list_reverse },
    { .name = "sort", .call = list_sort },
    { .name = "clear", .call = list_clear },
    { .name = "copy", .call = obj_copy_method },
    { 0 },
};

/* ---- Namespace ----------------------------------------------------------- */

static int
namespace_create(void **self, const mproc_obj *args)
{
    int rc = want_args(args, 0, 0);

    return rc < 0 ? rc : mproc_obj_dict((mproc_obj **)self);
}

/* An attribute name: a str argument. */
static int
want_name(const mproc_obj *args, size_t n)
{
    int rc = want_args(args, n, n);

    if (rc == 0 && mproc_obj_type(arg(args, 0)) != MPROC_OBJ_STR)
        rc = MPROC_EINVAL;
    return rc;
}

static int
namespace_getattr(void *self, const mproc_obj *args, mproc_obj **result)
{
    mproc_obj *v;
    int rc = want_name(args, 1);

    if (rc == 0)
        rc = mproc_obj_dict_get(self, arg(args, 0), &v);
    if (rc == 0)
        *result = mproc_obj_ref(v);
    return rc;
}

static int
namespace_setattr(void *self, const mproc_obj *args, mproc_obj **result)
{
    int rc = want_name(args, 2);

    (void)result;
    return rc < 0 ? rc : mproc_obj_dict_set(self, arg(args, 0), arg(args, 1));
}

static int
namespace_delattr(void *self, const mproc_obj *args, mproc_obj **result)
{
    int rc = want_name(args, 1);

    (void)result;
    return rc < 0 ? rc : mproc_obj_dict_delete(self, arg(args, 0));
}

static const mproc_manager_method namespace_methods[] = {
    { .name = "__getattr__", .call = namespace_getattr },
    { .name = "__setattr__", .call = namespace_setattr },
    { .name = "__delattr__", .call = namespace_delattr },
    { 0 },
};

/* ---- Value and Array ----------------------------------------------------- */

struct typed {
    enum mproc_ctype ctype;
    mproc_obj *value; /* the value, or the Array's list */
};

/* Whether v is a value of the typecode (as Python's array checks). */
static bool
fits(enum mproc_ctype ctype, const mproc_obj *v)
{
    enum mproc_obj_type t = mproc_obj_type(v);
    size_t len = 0;

    switch (ctype) {
    case MPROC_CTYPE_FLOAT:
    case MPROC_CTYPE_DOUBLE:
        return t == MPROC_OBJ_FLOAT || t == MPROC_OBJ_INT ||
               t == MPROC_OBJ_BOOL;
    case MPROC_CTYPE_CHAR:
        return t == MPROC_OBJ_BYTES && mproc_obj_len(v, &len) == 0 && len == 1;
    case MPROC_CTYPE_WCHAR:
        return t == MPROC_OBJ_STR && mproc_obj_len(v, &len) == 0 && len == 1;
    case MPROC_CTYPE_STRUCT:
    case MPROC_CTYPE_INVALID:
        return false;
    default:
        return t == MPROC_OBJ_INT || t == MPROC_OBJ_BOOL;
    }
}

static int
typed_create(void **self, const mproc_obj *args, bool array)
{
    mproc_obj *code = arg(args, 0), *v = arg(args, 1), *item;
    struct typed *t;
    size_t n = 0;
    int rc = want_args(args, 2, 2);

    if (rc == 0 && mproc_obj_type(code) != MPROC_OBJ_STR)
        rc = MPROC_EINVAL;
    if (rc < 0)
        return rc;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return MPROC_ENOMEM;
    rc = mproc_ctype_parse(mproc_obj_str_value(code, NULL), &t->ctype);
    if (rc == 0 && array)
        rc = list_from(v, &t->value);
    else if (rc == 0)
        t->value = fits(t->ctype, v) ? mproc_obj_ref(v) : NULL;
    if (rc == 0 && t->value == NULL)
        rc = MPROC_EINVAL;
    if (rc == 0 && array)
        mproc_obj_len(t->value, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (mproc_obj_get(t->value, i, &item) < 0 || !fits(t->ctype, item))
            rc = MPROC_EINVAL;
    if (rc < 0) {
        mproc_obj_free(t->value);
        free(t);
        return rc;
    }
    *self = t;
    return 0;
}

static int
value_create(void **self, const mproc_obj *args)
{
    return typed_create(self, args, false);
}

static int
array_create(void **self, const mproc_obj *args)
{
    return typed_create(self, args, true);
}

static void
typed_destroy(void *self)
{
    struct typed *t = self;

    mproc_obj_free(t->value);
    free(t);
}

static int
typed_getvalue(void *self, mproc_obj **value)
{
    struct typed *t = self;

    return mproc_obj_copy(value, t->value);
}

static int
value_get(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct typed *t = self;
    int rc = want_args(args, 0, 0);

    if (rc == 0)
        *result = mproc_obj_ref(t->value);
    return rc;
}

static int
value_set(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct typed *t = self;
    int rc = want_args(args, 1, 1);

    (void)result;
    if (rc == 0 && !fits(t->ctype, arg(args, 0)))
        rc = MPROC_EINVAL;
    if (rc == 0) {
        mproc_obj_free(t->value);
        t->value = mproc_obj_ref(arg(args, 0));
    }
    return rc;
}

static int
array_len(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct typed *t = self;

    return obj_len(t->value, args, result);
}

static int
array_getitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct typed *t = self;

    return list_getitem(t->value, args, result);
}

static int
array_setitem(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct typed *t = self;

    if (nargs(args) == 2 && !fits(t->ctype, arg(args, 1)))
        return MPROC_EINVAL;
    return list_setitem(t->value, args, result);
}

static const mproc_manager_method value_methods[] = {
    { .name = "get", .call = value_get },
    { .name = "set", .call = value_set },
    { 0 },
};

static const mproc_manager_method array_methods[] = {
    { .name = "__len__", .call = array_len },
    { .name = "__getitem__", .call = array_getitem },
    { .name = "__setitem__", .call = array_setitem },
    { 0 },
};

/* ---- Queue and JoinableQueue --------------------------------------------- */

/* A queue in a memory file of its own, which local clients map. */
struct squeue {
    mproc_queue *q;
    int fd;
};

static int
queue_make(void **self, const mproc_obj *args, bool joinable)
{
    struct squeue *s;
    int64_t maxsize;
    int rc = want_args(args, 0, 1);

    if (rc == 0)
        rc = arg_int(args, 0, 0, &maxsize);
    if (rc < 0)
        return rc;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return MPROC_ENOMEM;
    rc = mproc__queue_new_mapped(
        &s->q,
        &(mproc_queue_opts){ .maxsize = maxsize > 0 ? (size_t)maxsize : 0 },
        joinable, &s->fd);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *self = s;
    return 0;
}

static int
queue_create(void **self, const mproc_obj *args)
{
    return queue_make(self, args, false);
}

static int
joinable_queue_create(void **self, const mproc_obj *args)
{
    return queue_make(self, args, true);
}

static void
queue_destroy(void *self)
{
    struct squeue *s = self;

    mproc_queue_close(s->q); /* clients that mapped it learn it is gone */
    mproc_queue_free(s->q);
    mproc__close(&s->fd);
    free(s);
}

/* The queue itself, for the methods below. */
static mproc_queue *
queue_of(void *self)
{
    return ((struct squeue *)self)->q;
}

struct put {
    mproc_queue *q;
    const mproc_obj *item;
};

static int
put_slice(void *obj, double timeout)
{
    struct put *p = obj;

    return mproc_queue_put_obj(p->q, p->item, timeout);
}

static int
queue_put(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct put p = { .q = queue_of(self), .item = arg(args, 0) };
    double timeout;
    int rc = want_args(args, 1, 2);

    (void)result;
    if (rc == 0)
        rc = arg_timeout(args, 1, &timeout);
    return rc < 0 ? rc : mproc__mgr_sliced(put_slice, &p, timeout, MPROC_EFULL);
}

struct get {
    mproc_queue *q;
    mproc_obj **out;
};

static int
get_slice(void *obj, double timeout)
{
    struct get *g = obj;

    return mproc_queue_get_obj(g->q, g->out, timeout);
}

static int
queue_get(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct get g = { .q = queue_of(self), .out = result };
    double timeout;
    int rc = want_args(args, 0, 1);

    if (rc == 0)
        rc = arg_timeout(args, 0, &timeout);
    return rc < 0 ? rc
                  : mproc__mgr_sliced(get_slice, &g, timeout, MPROC_EEMPTY);
}

static int
queue_qsize(void *self, const mproc_obj *args, mproc_obj **result)
{
    size_t n = 0;
    int rc = want_args(args, 0, 0);

    if (rc == 0)
        rc = mproc_queue_qsize(queue_of(self), &n);
    return rc < 0 ? rc : ret_size(result, n);
}

AS_BOOL(queue_empty, struct squeue, mproc_queue_empty(self->q))
AS_BOOL(queue_full, struct squeue, mproc_queue_full(self->q))
NULLARY(queue_task_done, struct squeue, mproc_queue_task_done(self->q))

static int
join_slice(void *obj, double timeout)
{
    return mproc_queue_join(obj, timeout);
}

static int
queue_join(void *self, const mproc_obj *args, mproc_obj **result)
{
    double timeout;
    int rc = want_args(args, 0, 1);

    (void)result;
    if (rc == 0)
        rc = arg_timeout(args, 0, &timeout);
    return rc < 0 ? rc
                  : mproc__mgr_sliced(join_slice, queue_of(self), timeout,
                                      MPROC_ETIMEDOUT);
}

static const mproc_manager_method queue_methods[] = {
    { .name = "put", .call = queue_put },
    { .name = "get", .call = queue_get },
    { .name = "qsize", .call = queue_qsize },
    { .name = "empty", .call = queue_empty },
    { .name = "full", .call = queue_full },
    { 0 },
};

static const mproc_manager_method joinable_queue_methods[] = {
    { .name = "put", .call = queue_put },
    { .name = "get", .call = queue_get },
    { .name = "qsize", .call = queue_qsize },
    { .name = "empty", .call = queue_empty },
    { .name = "full", .call = queue_full },
    { .name = "task_done", .call = queue_task_done },
    { .name = "join", .call = queue_join },
    { 0 },
};

/* ---- the sync family ----------------------------------------------------- */

/* One object of sync.h behind a lock-like face: which it is, and the
 * proxy object of the lock a Condition was made over (kept held). */
struct sync {
    enum {
        LOCK,
        RLOCK,
        SEMAPHORE,
        CONDITION,
        EVENT,
        BARRIER
    } kind;
    union {
        mproc_lock *lock;
        mproc_rlock *rlock;
        mproc_semaphore *semaphore;
        mproc_condition *condition;
        mproc_event *event;
        mproc_barrier *barrier;
    } u;
    mproc_obj *over; /* a Condition's lock, or NULL */
};

static const mproc_manager_type lock_type, rlock_type;

static void
sync_destroy(void *self)
{
    struct sync *s = self;

    switch (s->kind) {
    case LOCK:
        mproc_lock_free(s->u.lock);
        break;
    case RLOCK:
        mproc_rlock_free(s->u.rlock);
        break;
    case SEMAPHORE:
        mproc_semaphore_free(s->u.semaphore);
        break;
    case CONDITION:
        mproc_condition_free(s->u.condition);
        break;
    case EVENT:
        mproc_event_free(s->u.event);
        break;
    case BARRIER:
        mproc_barrier_free(s->u.barrier);
        break;
    }
    mproc_obj_free(s->over);
    free(s);
}

static struct sync *
sync_alloc(int kind)
{
    struct sync *s = calloc(1, sizeof *s);

    if (s != NULL)
        s->kind = kind;
    return s;
}

/* Keep s, or free it on failure. */
static int
sync_done(void **self, struct sync *s, int rc)
{
    if (rc < 0) {
        sync_destroy(s);
        return rc;
    }
    *self = s;
    return 0;
}

static int
lock_create(void **self, const mproc_obj *args)
{
    struct sync *s;
    int rc = want_args(args, 0, 0);

    if (rc < 0)
        return rc;
    s = sync_alloc(LOCK);
    return s == NULL ? MPROC_ENOMEM
                     : sync_done(self, s, mproc_lock_new(&s->u.lock));
}

static int
rlock_create(void **self, const mproc_obj *args)
{
    struct sync *s;
    int rc = want_args(args, 0, 0);

    if (rc < 0)
        return rc;
    s = sync_alloc(RLOCK);
    return s == NULL ? MPROC_ENOMEM
                     : sync_done(self, s, mproc_rlock_new(&s->u.rlock));
}

static int
semaphore_make(void **self, const mproc_obj *args, bool bounded)
{
    struct sync *s;
    int64_t value;
    int rc = want_args(args, 0, 1);

    if (rc == 0)
        rc = arg_int(args, 0, 1, &value);
    if (rc == 0 && (value < 0 || value > INT32_MAX))
        rc = MPROC_EINVAL;
    if (rc < 0)
        return rc;
    s = sync_alloc(SEMAPHORE);
    if (s == NULL)
        return MPROC_ENOMEM;
    rc = bounded ? mproc_bounded_semaphore_new(&s->u.semaphore, (int)value)
                 : mproc_semaphore_new(&s->u.semaphore, (int)value);
    return sync_done(self, s, rc);
}

static int
semaphore_create(void **self, const mproc_obj *args)
{
    return semaphore_make(self, args, false);
}

static int
bounded_semaphore_create(void **self, const mproc_obj *args)
{
    return semaphore_make(self, args, true);
}

static int
condition_create(void **self, const mproc_obj *args)
{
    mproc_condition_opts opts = { 0 };
    mproc_obj *over = arg(args, 0);
    const mproc_manager_type *type = NULL;
    const char *type_id, *address;
    struct sync *s, *lock = NULL;
    uint64_t id = 0;
    int rc = want_args(args, 0, 1);

    if (rc == 0 && over != NULL && mproc_obj_type(over) != MPROC_OBJ_NONE) {
        /* The server holds over (each_own_proxy), so the lock outlives
         * this condition while it keeps over. */
        if (!mproc__obj_proxy_held(over))
            return MPROC_EINVAL;
        mproc__obj_proxy_get(over, &type_id, &address, &id);
        rc = mproc__mgr_object_get(id, &type, (void **)&lock);
        if (rc == 0) {
            mproc__mgr_object_put(id);
            if (type == &lock_type)
                opts.lock = lock->u.lock;
            else if (type == &rlock_type)
                opts.rlock = lock->u.rlock;
            else
                rc = MPROC_EINVAL;
        }
    } else {
        over = NULL;
    }
    if (rc < 0)
        return rc == -ENOENT ? MPROC_EINVAL : rc;
    s = sync_alloc(CONDITION);
    if (s == NULL)
        return MPROC_ENOMEM;
    s->over = mproc_obj_ref(over);
    return sync_done(self, s, mproc_condition_new(&s->u.condition, &opts));
}

static int
event_create(void **self, const mproc_obj *args)
{
    struct sync *s;
    int rc = want_args(args, 0, 0);

    if (rc < 0)
        return rc;
    s = sync_alloc(EVENT);
    return s == NULL ? MPROC_ENOMEM
                     : sync_done(self, s, mproc_event_new(&s->u.event));
}

static int
barrier_create(void **self, const mproc_obj *args)
{
    mproc_barrier_opts opts = { 0 };
    struct sync *s;
    int64_t parties = 0;
    double timeout;
    int rc = want_args(args, 1, 2);

    if (rc == 0)
        rc = arg_int(args, 0, 0, &parties);
    if (rc == 0)
        rc = arg_timeout(args, 1, &timeout);
    if (rc == 0 && (parties < 1 || parties > INT32_MAX))
        rc = MPROC_EINVAL;
    if (rc < 0)
        return rc;
    opts.timeout = timeout < 0 ? 0 : timeout == 0 ? 1e-9 : timeout;
    s = sync_alloc(BARRIER);
    if (s == NULL)
        return MPROC_ENOMEM;
    return sync_done(self, s,
                     mproc_barrier_new(&s->u.barrier, (int)parties, &opts));
}

static int
acquire_slice(void *obj, double timeout)
{
    struct sync *s = obj;

    switch (s->kind) {
    case LOCK:
        return mproc_lock_acquire(s->u.lock, timeout);
    case RLOCK:
        return mproc_rlock_acquire(s->u.rlock, timeout);
    case SEMAPHORE:
        return mproc_semaphore_acquire(s->u.semaphore, timeout);
    case CONDITION:
        return mproc_condition_acquire(s->u.condition, timeout);
    default:
        return -EOPNOTSUPP;
    }
}

static int
sync_acquire(void *self, const mproc_obj *args, mproc_obj **result)
{
    double timeout;
    int rc = want_args(args, 0, 1);

    (void)result;
    if (rc == 0)
        rc = arg_timeout(args, 0, &timeout);
    return rc < 0 ? rc
                  : mproc__mgr_sliced(acquire_slice, self, timeout,
                                      MPROC_ETIMEDOUT);
}

static int
sync_release(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sync *s = self;
    int rc = want_args(args, 0, 0);

    (void)result;
    if (rc < 0)
        return rc;
    switch (s->kind) {
    case LOCK:
        return mproc_lock_release(s->u.lock);
    case RLOCK:
        return mproc_rlock_release(s->u.rlock);
    case SEMAPHORE:
        return mproc_semaphore_release(s->u.semaphore);
    case CONDITION:
        return mproc_condition_release(s->u.condition);
    default:
        return -EOPNOTSUPP;
    }
}

AS_BOOL(lock_locked, struct sync, mproc_lock_locked(self->u.lock))
NULLARY(condition_notify_all, struct sync,
        mproc_condition_notify_all(self->u.condition))
NULLARY(event_set, struct sync, mproc_event_set(self->u.event))
NULLARY(event_clear, struct sync, mproc_event_clear(self->u.event))
AS_BOOL(event_is_set, struct sync, mproc_event_is_set(self->u.event))
NULLARY(barrier_abort, struct sync, mproc_barrier_abort(self->u.barrier))
NULLARY(barrier_reset, struct sync, mproc_barrier_reset(self->u.barrier))
AS_INT(barrier_parties, struct sync, mproc_barrier_parties(self->u.barrier))
AS_INT(barrier_n_waiting, struct sync, mproc_barrier_n_waiting(self->u.barrier))
AS_BOOL(barrier_broken, struct sync, mproc_barrier_is_broken(self->u.barrier))

static int
semaphore_get_value(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sync *s = self;
    int value = 0;
    int rc = want_args(args, 0, 0);

    if (rc == 0)
        rc = mproc_semaphore_get_value(s->u.semaphore, &value);
    return rc < 0 ? rc : mproc_obj_int(result, value);
}

static int
wait_slice(void *obj, double timeout)
{
    struct sync *s = obj;

    return mproc_event_wait(s->u.event, timeout);
}

/* An Event's wait is sliced; a Condition's is not: a slice that ended
 * would give up the waiter's place, and a notify made meanwhile (by a
 * holder of the lock) would find nobody. */
static int
sync_wait(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sync *s = self;
    double timeout;
    int rc = want_args(args, 0, 1);

    (void)result;
    if (rc == 0)
        rc = arg_timeout(args, 0, &timeout);
    if (rc < 0)
        return rc;
    if (s->kind == CONDITION)
        return mproc_condition_wait(s->u.condition, timeout);
    return mproc__mgr_sliced(wait_slice, self, timeout, MPROC_ETIMEDOUT);
}

static int
condition_notify(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sync *s = self;
    int64_t n;
    int rc = want_args(args, 0, 1);

    (void)result;
    if (rc == 0)
        rc = arg_int(args, 0, 1, &n);
    if (rc == 0 && (n < 0 || n > INT32_MAX))
        rc = MPROC_EINVAL;
    return rc < 0 ? rc : mproc_condition_notify(s->u.condition, (int)n);
}

/* A barrier's wait is not sliced: a wait that times out breaks it. */
static int
barrier_wait(void *self, const mproc_obj *args, mproc_obj **result)
{
    struct sync *s = self;
    double timeout;
    int index = 0;
    int rc = want_args(args, 0, 1);

    if (rc == 0)
        rc = arg_timeout(args, 0, &timeout);
    if (rc == 0)
        rc = mproc_barrier_wait(s->u.barrier, timeout, &index);
    return rc < 0 ? rc : mproc_obj_int(result, index);
}

static const mproc_manager_method lock_methods[] = {
    { .name = "acquire", .call = sync_acquire },
    { .name = "release", .call = sync_release },
    { .name = "locked", .call = lock_locked },
    { 0 },
};

static const mproc_manager_method rlock_methods[] = {
    { .name = "acquire", .call = sync_acquire },
    { .name = "release", .call = sync_release },
    { 0 },
};

static const mproc_manager_method semaphore_methods[] = {
    { .name = "acquire", .call = sync_acquire },
    { .name = "release", .call = sync_release },
    { .name = "get_value", .call = semaphore_get_value },
    { 0 },
};

static const mproc_manager_method condition_methods[] = {
    { .name = "acquire", .call = sync_acquire },
    { .name = "release", .call = sync_release },
    { .name = "wait", .call = sync_wait },
    { .name = "notify", .call = condition_notify },
    { .name = "notify_all", .call = condition_notify_all },
    { 0 },
};

static const mproc_manager_method event_methods[] = {
    { .name = "is_set", .call = event_is_set },
    { .name = "set", .call = event_set },
    { .name = "clear", .call = event_clear },
    { .name = "wait", .call = sync_wait },
    { 0 },
};

static const mproc_manager_method barrier_methods[] = {
    { .name = "wait", .call = barrier_wait },
    { .name = "abort", .call = barrier_abort },
    { .name = "reset", .call = barrier_reset },
    { .name = "parties", .call = barrier_parties },
    { .name = "n_waiting", .call = barrier_n_waiting },
    { .name = "broken", .call = barrier_broken },
    { 0 },
};

/* ---- the registry -------------------------------------------------------- */

#define CONTAINER(id, make, table, value)                                      \
    {                                                                          \
        .type_id = id, .create = make, .destroy = obj_destroy,                 \
        .getvalue = value, .methods = table                                    \
    }
#define SYNC(id, make, table)                                                  \
    {                                                                          \
        .type_id = id, .create = make, .destroy = sync_destroy,                \
        .methods = table, .thread_safe = true                                  \
    }

static const mproc_manager_type lock_type =
    SYNC("Lock", lock_create, lock_methods);
static const mproc_manager_type rlock_type =
    SYNC("RLock", rlock_create, rlock_methods);

static const mproc_manager_type builtins[] = {
    { .type_id = "dict",
      .create = dict_create,
      .destroy = dict_destroy,
      .getvalue = dict_getvalue,
      .methods = dict_methods,
      .thread_safe = true },
    CONTAINER("list", list_create, list_methods, obj_getvalue),
    CONTAINER("Namespace", namespace_create, namespace_methods, obj_getvalue),
    { .type_id = "Queue",
      .create = queue_create,
      .destroy = queue_destroy,
      .methods = queue_methods,
      .thread_safe = true },
    { .type_id = "JoinableQueue",
      .create = joinable_queue_create,
      .destroy = queue_destroy,
      .methods = joinable_queue_methods,
      .thread_safe = true },
    SYNC("Semaphore", semaphore_create, semaphore_methods),
    SYNC("BoundedSemaphore", bounded_semaphore_create, semaphore_methods),
    SYNC("Condition", condition_create, condition_methods),
    SYNC("Event", event_create, event_methods),
    SYNC("Barrier", barrier_create, barrier_methods),
    { .type_id = "Value",
      .create = value_create,
      .destroy = typed_destroy,
      .getvalue = typed_getvalue,
      .methods = value_methods },
    { .type_id = "Array",
      .create = array_create,
      .destroy = typed_destroy,
      .getvalue = typed_getvalue,
      .methods = array_methods },
};

#define MAX_REGISTERED 256

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static const mproc_manager_type *registered[MAX_REGISTERED];
static size_t nregistered;

const mproc_manager_type *
mproc__mgr_type_find(const char *type_id)
{
    const mproc_manager_type *found = NULL;

    if (strcmp(type_id, lock_type.type_id) == 0)
        return &lock_type;
    if (strcmp(type_id, rlock_type.type_id) == 0)
        return &rlock_type;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(type_id, builtins[i].type_id) == 0)
            return &builtins[i];
    pthread_mutex_lock(&registry_mu);
    for (size_t i = 0; found == NULL && i < nregistered; i++)
        if (strcmp(type_id, registered[i]->type_id) == 0)
            found = registered[i];
    pthread_mutex_unlock(&registry_mu);
    return found;
}

static const mproc_manager_method *
method_named(const mproc_manager_type *t, const char *name)
{
    for (const mproc_manager_method *m = t->methods; m->name != NULL; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

/* Public by default: a dunder (Python's special methods) or no '_'. */
static bool
public_name(const char *name)
{
    size_t len = strlen(name);

    if (name[0] != '_')
        return true;
    return len > 4 && name[1] == '_' && name[len - 1] == '_' &&
           name[len - 2] == '_';
}

const mproc_manager_method *
mproc__mgr_method_find(const mproc_manager_type *t, const char *name)
{
    if (t->exposed == NULL)
        return public_name(name) ? method_named(t, name) : NULL;
    for (const char *const *e = t->exposed; *e != NULL; e++)
        if (strcmp(*e, name) == 0)
            return method_named(t, name);
    return NULL;
}

static int
check_type(const mproc_manager_type *t)
{
    size_t len;

    if (t == NULL || t->type_id == NULL || t->create == NULL ||
        t->methods == NULL)
        return MPROC_EINVAL;
    len = strlen(t->type_id);
    if (len == 0 || len > MGR_TYPEID_MAX)
        return MPROC_EINVAL;
    for (const mproc_manager_method *m = t->methods; m->name != NULL; m++) {
        if (strlen(m->name) > 255)
            return MPROC_EINVAL;
        if (m->type_id != NULL ? m->make == NULL : m->call == NULL)
            return MPROC_EINVAL;
    }
    for (const char *const *e = t->exposed; e != NULL && *e != NULL; e++)
        if (method_named(t, *e) == NULL)
            return MPROC_EINVAL;
    return 0;
}

int
mproc_manager_register(const mproc_manager_type *type)
{
    int rc = check_type(type);

    if (rc < 0)
        return rc;
    if (mproc__mgr_type_find(type->type_id) != NULL)
        return -EEXIST;
    pthread_mutex_lock(&registry_mu);
    for (size_t i = 0; rc == 0 && i < nregistered; i++)
        if (strcmp(type->type_id, registered[i]->type_id) == 0)
            rc = -EEXIST; /* registered by a racing thread */
    if (rc == 0 && nregistered == MAX_REGISTERED)
        rc = MPROC_ENOMEM;
    if (rc == 0)
        registered[nregistered++] = type;
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

int
mproc__mgr_shared_fd(const mproc_manager_type *type, void *self)
{
    if (type->create == dict_create)
        return ((struct sdict *)self)->fd;
    if (type->create == queue_create || type->create == joinable_queue_create)
        return ((struct squeue *)self)->fd;
    return -EOPNOTSUPP;
}

void
mproc__mgr_interrupt(const mproc_manager_type *type, void *self)
{
    struct sync *s = self;

    if (type->create == barrier_create)
        mproc_barrier_abort(s->u.barrier);
}
