/*
 * value/repr.c - Python's repr() of objects, character for character for
 * the types mproc carries.
 *
 * floats print as Python's repr: the fewest significant digits that read
 * back as the same double, in positional form while the decimal exponent
 * is in [-4, 16) and in exponent form ('1e+16', '1e-05') outside it. str
 * escapes what Python escapes below U+0100 and prints every code point from
 * U+0100 on as it is (Python also escapes the few non-printable ones there,
 * such as U+2028 as '\u2028'; mproc does not).
 */
#include "value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *data;
    size_t len;
    size_t cap;
};

static int
put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap < 64 ? 64 : o->cap;
        char *data;

        while (cap < o->len + n + 1)
            cap *= 2;
        data = realloc(o->data, cap);
        if (data == NULL)
            return MPROC_ENOMEM;
        o->data = data;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
    return 0;
}

static int
puts_(struct out *o, const char *s)
{
    return put(o, s, strlen(s));
}

static int __attribute__((format(printf, 2, 3)))
putf(struct out *o, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return put(o, buf, (size_t)n);
}

/* ---- numbers ------------------------------------------------------------- */

/* The shortest digits that read back as x (x finite, positive or zero),
 * and the decimal point's place: x = 0.DIGITS * 10^decpt. */
static void
shortest_digits(double x, char digits[18], int *decpt)
{
    char buf[32];
    char *e;
    size_t n = 0;

    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof(buf), "%.*e", precision - 1, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    /* buf is "D.DDDDe[+-]XX" or "De[+-]XX". */
    e = strchr(buf, 'e');
    for (const char *p = buf; p < e; p++) {
        if (*p != '.')
            digits[n++] = *p;
    }
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    *decpt = atoi(e + 1) + 1;
}

static int
repr_float(struct out *o, double x)
{
    char digits[18];
    char text[64];
    size_t at = 0, n;
    int decpt;

    if (isnan(x))
        return puts_(o, "nan");
    if (isinf(x))
        return puts_(o, x < 0 ? "-inf" : "inf");
    if (signbit(x))
        text[at++] = '-';
    shortest_digits(fabs(x), digits, &decpt);
    n = strlen(digits);
    if (x == 0)
        decpt = 1;
    if (decpt <= -4 || decpt > 16) {
        text[at++] = digits[0];
        if (n > 1) {
            text[at++] = '.';
            memcpy(text + at, digits + 1, n - 1);
            at += n - 1;
        }
        at += (size_t)snprintf(text + at, sizeof(text) - at, "e%c%02d",
                               decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    } else if (decpt <= 0) {
        memcpy(text + at, "0.", 2);
        at += 2;
        memset(text + at, '0', (size_t)-decpt);
        at += (size_t)-decpt;
        memcpy(text + at, digits, n);
        at += n;
    } else if ((size_t)decpt < n) {
        memcpy(text + at, digits, (size_t)decpt);
        at += (size_t)decpt;
        text[at++] = '.';
        memcpy(text + at, digits + decpt, n - (size_t)decpt);
        at += n - (size_t)decpt;
    } else {
        memcpy(text + at, digits, n);
        at += n;
        memset(text + at, '0', (size_t)decpt - n);
        at += (size_t)decpt - n;
        memcpy(text + at, ".0", 2);
        at += 2;
    }
    return put(o, text, at);
}

static int
repr_int(struct out *o, const mproc_obj *v)
{
    char *text;
    size_t len;
    int rc;

    if (v->u.integer.bytes == NULL)
        return putf(o, "%lld", (long long)v->u.integer.small);
    rc = value_int_decimal(v, &text, &len);
    if (rc < 0)
        return rc;
    rc = put(o, text, len);
    free(text);
    return rc;
}

/* ---- text ---------------------------------------------------------------- */

/* Python's choice: single quotes unless the text holds ' and no ". */
static char
quote_for(const char *s, size_t len)
{
    bool single = memchr(s, '\'', len) != NULL;
    bool dbl = memchr(s, '"', len) != NULL;

    return single && !dbl ? '"' : '\'';
}

/* The escape Python writes for byte or code point c below 0x80 that is not
 * printed as itself, or NULL. */
static const char *
short_escape(unsigned c, char quote)
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\'':
        return quote == '\'' ? "\\'" : NULL;
    case '"':
        return quote == '"' ? "\\\"" : NULL;
    default:
        return NULL;
    }
}

static int
repr_bytes(struct out *o, const mproc_obj *v)
{
    const unsigned char *s = (const unsigned char *)v->u.text.data;
    size_t len = v->u.text.len;
    char quote = quote_for(v->u.text.data, len);
    bool array = v->type == MPROC_OBJ_BYTEARRAY;
    int rc = putf(o, "%sb%c", array ? "bytearray(" : "", quote);

    for (size_t i = 0; rc == 0 && i < len; i++) {
        const char *esc = short_escape(s[i], quote);

        if (esc != NULL)
            rc = puts_(o, esc);
        else if (s[i] < 0x20 || s[i] >= 0x7f)
            rc = putf(o, "\\x%02x", s[i]);
        else
            rc = put(o, (const char *)s + i, 1);
    }
    if (rc == 0)
        rc = put(o, &quote, 1);
    if (rc == 0 && array)
        rc = put(o, ")", 1);
    return rc;
}

/* A str's repr, of its UTF-8 text. */
static int
repr_text(struct out *o, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    char quote = quote_for(text, len);
    int rc = put(o, &quote, 1);

    for (size_t i = 0; rc == 0 && i < len;) {
        const char *esc = short_escape(s[i], quote);
        unsigned cp;

        if (s[i] >= 0x80) { /* U+0080..U+00FF start with C2 or C3 */
            size_t n = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;

            cp = n == 2 ? (s[i] & 0x1fu) << 6 | (s[i + 1] & 0x3fu) : 0x100;
            /* C1 controls, no-break space, soft hyphen: Python's
             * non-printables below U+0100. */
            if (cp <= 0xa0 || cp == 0xad)
                rc = putf(o, "\\x%02x", cp);
            else
                rc = put(o, (const char *)s + i, n);
            i += n;
            continue;
        }
        if (esc != NULL)
            rc = puts_(o, esc);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            rc = putf(o, "\\x%02x", s[i]);
        else
            rc = put(o, (const char *)s + i, 1);
        i++;
    }
    if (rc == 0)
        rc = put(o, &quote, 1);
    return rc;
}

/* A proxy object, after BaseProxy's repr: <proxy 'dict' id 5 at 'unix:@x'>. */
static int
repr_proxy(struct out *o, const mproc_obj *v)
{
    int rc = puts_(o, "<proxy ");

    if (rc == 0)
        rc = repr_text(o, value_proxy_typeid(v), v->u.proxy.typeid_len);
    if (rc == 0)
        rc = putf(o, " id %llu at ", (unsigned long long)v->u.proxy.id);
    if (rc == 0)
        rc = repr_text(o, value_proxy_address(v), v->u.proxy.address_len);
    if (rc == 0)
        rc = put(o, ">", 1);
    return rc;
}

/* ---- containers ---------------------------------------------------------- */

static int repr_obj(struct out *o, const mproc_obj *v, int depth);

static int
repr_seq(struct out *o, const mproc_obj *v, int depth)
{
    bool tuple = v->type == MPROC_OBJ_TUPLE;
    int rc = put(o, tuple ? "(" : "[", 1);

    for (size_t i = 0; rc == 0 && i < v->u.seq.len; i++) {
        if (i > 0)
            rc = put(o, ", ", 2);
        if (rc == 0)
            rc = repr_obj(o, v->u.seq.items[i], depth + 1);
    }
    if (rc == 0 && tuple && v->u.seq.len == 1)
        rc = put(o, ",", 1);
    if (rc == 0)
        rc = put(o, tuple ? ")" : "]", 1);
    return rc;
}

static int
repr_table(struct out *o, const mproc_obj *v, int depth)
{
    const struct table *t = &v->u.table;
    bool frozen = v->type == MPROC_OBJ_FROZENSET;
    int rc;

    if (t->len == 0 && v->type != MPROC_OBJ_DICT)
        return puts_(o, frozen ? "frozenset()" : "set()");
    rc = puts_(o, frozen ? "frozenset({" : "{");
    for (size_t i = 0; rc == 0 && i < t->len; i++) {
        if (i > 0)
            rc = put(o, ", ", 2);
        if (rc == 0)
            rc = repr_obj(o, t->entries[i].key, depth + 1);
        if (rc == 0 && t->entries[i].value != NULL) {
            rc = put(o, ": ", 2);
            if (rc == 0)
                rc = repr_obj(o, t->entries[i].value, depth + 1);
        }
    }
    if (rc == 0)
        rc = puts_(o, frozen ? "})" : "}");
    return rc;
}

static int
repr_obj(struct out *o, const mproc_obj *v, int depth)
{
    if (depth >= VALUE_MAX_DEPTH)
        return MPROC_ETOOBIG;
    switch (v->type) {
    case MPROC_OBJ_NONE:
        return puts_(o, "None");
    case MPROC_OBJ_BOOL:
        return puts_(o, v->u.boolean ? "True" : "False");
    case MPROC_OBJ_INT:
        return repr_int(o, v);
    case MPROC_OBJ_FLOAT:
        return repr_float(o, v->u.real);
    case MPROC_OBJ_STR:
        return repr_text(o, v->u.text.data, v->u.text.len);
    case MPROC_OBJ_BYTES:
    case MPROC_OBJ_BYTEARRAY:
        return repr_bytes(o, v);
    case MPROC_OBJ_LIST:
    case MPROC_OBJ_TUPLE:
        return repr_seq(o, v, depth);
    case MPROC_OBJ_PROXY:
        return repr_proxy(o, v);
    default:
        return repr_table(o, v, depth);
    }
}

int
mproc_obj_repr(const mproc_obj *v, mproc_buf *out)
{
    struct out o = { 0 };
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    out->data = NULL;
    out->len = 0;
    if (v == NULL)
        return MPROC_EINVAL;
    rc = repr_obj(&o, v, 0);
    if (rc < 0) {
        free(o.data);
        return rc;
    }
    out->data = o.data;
    out->len = o.len;
    return 0;
}
