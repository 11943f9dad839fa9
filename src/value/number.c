/*
 * value/number.c - Python's int of any size: the two's-complement form
 * (pickle's LONG), decimal text in and out, and the exact bridges to
 * float that equality and hashing across int and float need.
 *
 * Invariant: an int that fits in int64 is stored as `small`; a bigger one
 * as the shortest two's-complement bytes. Arithmetic on magnitudes works
 * on 32-bit limbs, least significant first; it is schoolbook (quadratic),
 * which is plenty for values that travel in messages.
 */
#include "value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the shortest form of le[0..len): drop high bytes that only
 * repeat the sign. 0 is no bytes. */
size_t
value_twos_normalize(const unsigned char *le, size_t len)
{
    while (len > 0) {
        unsigned char top = le[len - 1];
        bool below_negative = len >= 2 && (le[len - 2] & 0x80);

        if (top == 0x00 && (len == 1 || !below_negative))
            len--;
        else if (top == 0xff && len >= 2 && below_negative)
            len--;
        else
            break;
    }
    return len;
}

size_t
value_int64_twos(int64_t v, unsigned char out[8])
{
    uint64_t u = (uint64_t)v;

    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(u >> (8 * i));
    return value_twos_normalize(out, 8);
}

int
value_int_from_twos(mproc_obj **out, const unsigned char *le, size_t len)
{
    mproc_obj *o;

    len = value_twos_normalize(le, len);
    o = value_alloc(MPROC_OBJ_INT);
    if (o == NULL)
        return MPROC_ENOMEM;
    if (len <= 8) {
        uint64_t u = len > 0 && (le[len - 1] & 0x80) ? UINT64_MAX : 0;

        for (size_t i = 0; i < len; i++) {
            u &= ~((uint64_t)0xff << (8 * i));
            u |= (uint64_t)le[i] << (8 * i);
        }
        o->u.integer.small = (int64_t)u;
    } else {
        o->u.integer.bytes = malloc(len);
        if (o->u.integer.bytes == NULL) {
            value_dealloc(o);
            return MPROC_ENOMEM;
        }
        memcpy(o->u.integer.bytes, le, len);
        o->u.integer.len = len;
    }
    *out = o;
    return 0;
}

/* ---- magnitudes ---------------------------------------------------------- */

struct mag {
    uint32_t *limbs;
    size_t len;
};

static void
mag_trim(struct mag *m)
{
    while (m->len > 0 && m->limbs[m->len - 1] == 0)
        m->len--;
}

/* The magnitude and sign of a big int's bytes. */
static int
mag_from_twos(struct mag *m, bool *negative, const unsigned char *le,
              size_t len)
{
    unsigned carry = 1;

    *negative = len > 0 && (le[len - 1] & 0x80);
    m->len = len / 4 + 1;
    m->limbs = calloc(m->len, sizeof(*m->limbs));
    if (m->limbs == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned b = le[i];

        if (*negative) { /* negate: invert and add one */
            b = (~b & 0xff) + carry;
            carry = b >> 8;
            b &= 0xff;
        }
        m->limbs[i / 4] |= (uint32_t)b << (8 * (i % 4));
    }
    mag_trim(m);
    return 0;
}

/* An int object from a magnitude and a sign. */
static int
int_from_mag(mproc_obj **out, const struct mag *m, bool negative)
{
    size_t len = m->len * 4 + 1;
    unsigned char *le = calloc(len, 1);
    unsigned carry = 1;
    int rc;

    if (le == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned b =
            i / 4 < m->len ? (m->limbs[i / 4] >> (8 * (i % 4))) & 0xff : 0;

        if (negative) {
            b = (~b & 0xff) + carry;
            carry = b >> 8;
        }
        le[i] = (unsigned char)b;
    }
    rc = value_int_from_twos(out, le, len);
    free(le);
    return rc;
}

/* m = m * mul + add; m has room for one more limb. */
static void
mag_mul_add(struct mag *m, uint32_t mul, uint32_t add)
{
    uint64_t carry = add;

    for (size_t i = 0; i < m->len; i++) {
        uint64_t v = (uint64_t)m->limbs[i] * mul + carry;

        m->limbs[i] = (uint32_t)v;
        carry = v >> 32;
    }
    if (carry != 0)
        m->limbs[m->len++] = (uint32_t)carry;
}

/* m = m / div; returns the remainder. */
static uint32_t
mag_div(struct mag *m, uint32_t div)
{
    uint64_t rem = 0;

    for (size_t i = m->len; i-- > 0;) {
        uint64_t v = rem << 32 | m->limbs[i];

        m->limbs[i] = (uint32_t)(v / div);
        rem = v % div;
    }
    mag_trim(m);
    return (uint32_t)rem;
}

int
mproc_obj_int_from_string(mproc_obj **out, const char *text)
{
    bool negative = false;
    struct mag m;
    size_t digits;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (text == NULL)
        return MPROC_EINVAL;
    if (*text == '+' || *text == '-')
        negative = *text++ == '-';
    digits = strspn(text, "0123456789");
    if (digits == 0 || text[digits] != '\0')
        return MPROC_EINVAL;
    /* Each 32-bit limb holds more than 9 decimal digits. */
    m.limbs = calloc(digits / 9 + 2, sizeof(*m.limbs));
    if (m.limbs == NULL)
        return MPROC_ENOMEM;
    m.len = 0;
    for (size_t i = 0; i < digits;) {
        uint32_t chunk = 0, scale = 1;

        for (size_t k = 0; k < 9 && i < digits; k++, i++) {
            chunk = chunk * 10 + (uint32_t)(text[i] - '0');
            scale *= 10;
        }
        mag_mul_add(&m, scale, chunk);
    }
    mag_trim(&m);
    rc = int_from_mag(out, &m, negative);
    free(m.limbs);
    return rc;
}

int
value_int_decimal(const mproc_obj *o, char **text, size_t *len)
{
    struct mag m;
    bool negative;
    uint32_t *chunks;
    size_t n = 0, cap, at = 0;
    char *s;
    int rc;

    rc = mag_from_twos(&m, &negative, o->u.integer.bytes, o->u.integer.len);
    if (rc < 0)
        return rc;
    /* 2^32 < 10^10: at most 10 digits, two chunks of 9, per limb. */
    chunks = malloc((m.len * 2 + 1) * sizeof(*chunks));
    cap = m.len * 20 + 3;
    s = malloc(cap);
    if (chunks == NULL || s == NULL) {
        rc = MPROC_ENOMEM;
        goto fail;
    }
    do
        chunks[n++] = mag_div(&m, 1000000000u);
    while (m.len > 0);
    if (negative)
        s[at++] = '-';
    at += (size_t)snprintf(s + at, cap - at, "%u", chunks[n - 1]);
    for (size_t i = n - 1; i-- > 0;)
        at += (size_t)snprintf(s + at, cap - at, "%09u", chunks[i]);
    *text = s;
    *len = at;
    free(chunks);
    free(m.limbs);
    return 0;
fail:
    free(s);
    free(chunks);
    free(m.limbs);
    return rc;
}

/* ---- bridges to float ---------------------------------------------------- */

int
value_int_to_double(const mproc_obj *o, double *v)
{
    struct mag m;
    bool negative;
    size_t bits, shift;
    uint64_t top = 0;
    bool sticky = false;
    double d;
    int rc;

    if (o->type == MPROC_OBJ_BOOL || o->u.integer.bytes == NULL) {
        *v = o->type == MPROC_OBJ_BOOL ? (double)o->u.boolean
                                       : (double)o->u.integer.small;
        return 0;
    }
    rc = mag_from_twos(&m, &negative, o->u.integer.bytes, o->u.integer.len);
    if (rc < 0)
        return rc;
    /* Round once, as Python does: the top 64 bits with every lower bit
     * folded into the last one, so the conversion to double sees which side
     * of the halfway point the value lies on. */
    bits = m.len * 32 - (size_t)__builtin_clz(m.limbs[m.len - 1]);
    shift = bits - 64;
    if (shift > 1024) { /* past DBL_MAX whatever the rounding */
        free(m.limbs);
        return MPROC_ETOOBIG;
    }
    for (size_t b = 0; b < bits; b++) {
        bool set = m.limbs[b / 32] >> (b % 32) & 1;

        if (b < shift)
            sticky |= set;
        else
            top |= (uint64_t)set << (b - shift);
    }
    free(m.limbs);
    d = ldexp((double)(top | sticky), (int)shift);
    if (isinf(d))
        return MPROC_ETOOBIG;
    *v = negative ? -d : d;
    return 0;
}

bool
value_float_twos(double f, unsigned char out[VALUE_FLOAT_INT_BYTES],
                 size_t *len)
{
    int exp;
    uint64_t mant;
    bool negative = f < 0;

    if (!isfinite(f) || f != floor(f))
        return false;
    memset(out, 0, VALUE_FLOAT_INT_BYTES);
    /* |f| = mant * 2^(exp - 53), mant below 2^53. */
    mant = (uint64_t)ldexp(frexp(fabs(f), &exp), 53);
    if (exp <= 53) {
        mant = exp <= 0 ? 0 : mant >> (53 - exp);
        exp = 53;
    }
    for (int b = 0; b < 53; b++) {
        size_t at = (size_t)(exp - 53 + b);

        if (mant >> b & 1)
            out[at / 8] |= (unsigned char)(1u << (at % 8));
    }
    if (negative) {
        unsigned carry = 1;

        for (size_t i = 0; i < VALUE_FLOAT_INT_BYTES; i++) {
            unsigned b = (~out[i] & 0xffu) + carry;

            carry = b >> 8;
            out[i] = (unsigned char)b;
        }
    }
    *len = value_twos_normalize(out, VALUE_FLOAT_INT_BYTES);
    return true;
}
