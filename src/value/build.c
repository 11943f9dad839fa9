/*
 * value/build.c - mproc_obj_build() and mproc_obj_vbuild(): objects from a
 * format string and arguments, after Python's Py_BuildValue ("[i n s]" is
 * [42, None, 'x']).
 *
 * A recursive-descent parser: one call per value, one level of recursion
 * per nesting of brackets in the format (bounded by VALUE_MAX_DEPTH).
 * Arguments are taken strictly left to right, so an error stops both the
 * parse and the reading of arguments at the same place.
 */
#include "value.h"

#include <stdarg.h>
#include <string.h>

struct builder {
    const char *p;
    va_list ap;
    int depth;
};

static int build_value(struct builder *b, mproc_obj **out);

/* Spaces and commas separate items and mean nothing else. */
static void
skip_separators(struct builder *b)
{
    while (*b->p != '\0' && strchr(" ,\t\n", *b->p) != NULL)
        b->p++;
}

/* Items up to `close` into the list or tuple c. */
static int
build_items(struct builder *b, mproc_obj *c, char close)
{
    for (;;) {
        mproc_obj *item;
        int rc;

        skip_separators(b);
        if (*b->p == close) {
            b->p++;
            return 0;
        }
        rc = build_value(b, &item);
        if (rc < 0)
            return rc;
        rc = value_list_push(c, item);
        if (rc < 0) {
            mproc_obj_free(item);
            return rc;
        }
    }
}

/* key:value pairs up to '}' into the dict d. */
static int
build_pairs(struct builder *b, mproc_obj *d)
{
    for (;;) {
        mproc_obj *key, *value = NULL;
        uint64_t hash;
        int rc;

        skip_separators(b);
        if (*b->p == '}') {
            b->p++;
            return 0;
        }
        rc = build_value(b, &key);
        if (rc < 0)
            return rc;
        skip_separators(b);
        if (*b->p != ':')
            rc = MPROC_EINVAL;
        if (rc == 0) {
            b->p++;
            rc = build_value(b, &value);
        }
        if (rc == 0 && value_hash(key, &hash, 0) < 0)
            rc = MPROC_EINVAL; /* unhashable: Python's TypeError */
        if (rc == 0)
            rc = value_table_insert(d, key, value, hash);
        mproc_obj_free(key);
        mproc_obj_free(value);
        if (rc < 0)
            return rc;
    }
}

static int
build_container(struct builder *b, mproc_obj **out, char open)
{
    static const char closes[] = { ['['] = ']', ['('] = ')' };
    enum mproc_obj_type type = open == '['   ? MPROC_OBJ_LIST
                               : open == '(' ? MPROC_OBJ_TUPLE
                                             : MPROC_OBJ_DICT;
    mproc_obj *c;
    int rc;

    if (++b->depth > VALUE_MAX_DEPTH)
        return MPROC_EINVAL;
    c = value_alloc(type);
    if (c == NULL)
        return MPROC_ENOMEM;
    /* A tuple fills like a list: they share a layout, and the tuple is
     * not seen by anyone before it is complete. */
    rc = type == MPROC_OBJ_DICT ? build_pairs(b, c)
                                : build_items(b, c, closes[(int)open]);
    b->depth--;
    if (rc < 0) {
        mproc_obj_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int
build_value(struct builder *b, mproc_obj **out)
{
    const char *s;
    const void *data;
    mproc_obj *o;

    *out = NULL;
    switch (*b->p++) {
    case 'n':
        return mproc_obj_none(out);
    case 'b':
        return mproc_obj_bool(out, va_arg(b->ap, int) != 0);
    case 'i':
        return mproc_obj_int(out, va_arg(b->ap, int));
    case 'I':
        return mproc_obj_int(out, va_arg(b->ap, int64_t));
    case 'd':
        return mproc_obj_float(out, va_arg(b->ap, double));
    case 's':
        s = va_arg(b->ap, const char *);
        return s == NULL ? MPROC_EINVAL : mproc_obj_str(out, s, strlen(s));
    case 'y':
        data = va_arg(b->ap, const void *);
        return mproc_obj_bytes(out, data, va_arg(b->ap, size_t));
    case 'O':
        o = va_arg(b->ap, mproc_obj *);
        if (o == NULL)
            return MPROC_EINVAL;
        *out = mproc_obj_ref(o);
        return 0;
    case '[':
    case '(':
    case '{':
        return build_container(b, out, b->p[-1]);
    default:
        b->p--; /* stay on the NUL; a later check must still see it */
        return MPROC_EINVAL;
    }
}

int
mproc_obj_vbuild(mproc_obj **out, const char *fmt, va_list ap)
{
    struct builder b = { .p = fmt };
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (fmt == NULL)
        return MPROC_EINVAL;
    va_copy(b.ap, ap);
    skip_separators(&b);
    rc = build_value(&b, out);
    if (rc == 0) {
        skip_separators(&b);
        if (*b.p != '\0')
            rc = MPROC_EINVAL; /* one object: wrap several in (...) */
    }
    va_end(b.ap);
    if (rc < 0) {
        mproc_obj_free(*out);
        *out = NULL;
    }
    return rc;
}

int
mproc_obj_build(mproc_obj **out, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = mproc_obj_vbuild(out, fmt, ap);
    va_end(ap);
    return rc;
}
