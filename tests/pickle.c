/*
 * tests/pickle.c - mproc_obj_dumps and mproc_obj_loads against CPython:
 * the exact bytes of pickle.dumps for protocols 2 to 5, the output of
 * Python 3 and Python 2 in protocols 0 to 2 decoding to equal objects,
 * round trips of random objects, and hostile input (truncation, opcodes
 * that name code, limits, lengths that lie, recursion) failing cleanly.
 * Proxy objects (src/value/proxy.h) go as a persistent id, the bytes a
 * Python Pickler whose persistent_id() returns the tuple writes, and only
 * that BINPERSID decodes.
 *
 * The expected bytes were produced by CPython (versions named at each
 * table) with pickle.dumps(obj, protocol) for the object the make_*
 * function builds; large outputs are kept as length and FNV-1a hash.
 */
#include "helpers/th.h"
#include "../src/value/proxy.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(pickle, .init = th_begin, .fini = th_end, .timeout = 60);

struct exact {
    const char *name;
    mproc_obj *(*make)(void);
    int loadable;       /* the lowest protocol mproc_obj_loads reads it in */
    const char *hex[4]; /* protocols 2..5 */
};

struct digest {
    const char *name;
    mproc_obj *(*make)(void);
    struct {
        size_t len;
        uint64_t fnv;
    } d[4];
};

struct corpus {
    const char *name;
    int protocol;
    mproc_obj *(*make)(void);
    const char *hex;
};

static mproc_obj *
big(const char *text)
{
    mproc_obj *o = NULL;

    cr_assert_eq(mproc_obj_int_from_string(&o, text), 0);
    return o;
}

static mproc_obj *
str_n(const char *utf8, size_t len)
{
    mproc_obj *o = NULL;

    cr_assert_eq(mproc_obj_str(&o, utf8, len), 0);
    return o;
}

static mproc_obj *
repeat_bytes(int c, size_t n)
{
    char *b = malloc(n);
    mproc_obj *o = NULL;

    memset(b, c, n);
    cr_assert_eq(mproc_obj_bytes(&o, b, n), 0);
    free(b);
    return o;
}

static mproc_obj *
bytearray_of(const char *s)
{
    mproc_obj *o = NULL;

    cr_assert_eq(mproc_obj_bytearray(&o, s, strlen(s)), 0);
    return o;
}

/* A set (or frozenset) of n ints, in the order given. */
static mproc_obj *
set_of(bool frozen, int n, ...)
{
    mproc_obj *items[8], *o = NULL;
    va_list ap;

    va_start(ap, n);
    for (int i = 0; i < n; i++)
        items[i] = TH_OBJ("i", va_arg(ap, int));
    va_end(ap);
    if (frozen) {
        cr_assert_eq(mproc_obj_frozenset(&o, items, (size_t)n), 0);
    } else {
        cr_assert_eq(mproc_obj_set(&o), 0);
        for (int i = 0; i < n; i++)
            cr_assert_eq(mproc_obj_set_add(o, items[i]), 0);
    }
    for (int i = 0; i < n; i++)
        mproc_obj_free(items[i]);
    return o;
}

static mproc_obj *
range_list(int n)
{
    mproc_obj *o = TH_OBJ("[]");

    for (int i = 0; i < n; i++) {
        mproc_obj *item = TH_OBJ("i", i);

        cr_assert_eq(mproc_obj_list_append(o, item), 0);
        mproc_obj_free(item);
    }
    return o;
}

/* x = [1, 2]; [x, x, (x,)] or, with pair, [x, x] with x = [1]. */
static mproc_obj *
shared_list(bool pair)
{
    mproc_obj *x = pair ? TH_OBJ("[i]", 1) : TH_OBJ("[i i]", 1, 2);
    mproc_obj *o = pair ? TH_OBJ("[O O]", x, x) : TH_OBJ("[O O (O)]", x, x, x);

    mproc_obj_free(x);
    return o;
}

static mproc_obj *
shared_pair(void)
{
    return shared_list(true);
}

static mproc_obj *
big_str_list(size_t n)
{
    char *s = malloc(n);
    mproc_obj *text, *o;

    memset(s, 'x', n);
    text = str_n(s, n);
    o = TH_OBJ("[s O s]", "a", text, "b");
    mproc_obj_free(text);
    free(s);
    return o;
}

static uint64_t
fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static char *
to_hex(const mproc_buf *b)
{
    char *s = malloc(b->len * 2 + 1);

    for (size_t i = 0; i < b->len; i++)
        sprintf(s + 2 * i, "%02x", ((const unsigned char *)b->data)[i]);
    s[b->len * 2] = '\0';
    return s;
}

/* Hex to bytes; the caller frees. */
static unsigned char *
unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    unsigned char *b = malloc(n + 1);

    for (size_t i = 0; i < n; i++) {
        unsigned v;

        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        b[i] = (unsigned char)v;
    }
    *len = n;
    return b;
}

/* loads of a hex pickle: its return code, the object in *out. */
static int
loads_hex(const char *hex, mproc_obj **out, const mproc_loads_opts *opts)
{
    size_t len;
    unsigned char *b = unhex(hex, &len);
    int rc = mproc_obj_loads(out, b, len, opts);

    free(b);
    return rc;
}

static int
loads_raw(const char *bytes, size_t len, const mproc_loads_opts *opts)
{
    mproc_obj *o = NULL;
    int rc = mproc_obj_loads(&o, bytes, len, opts);

    if (rc == 0)
        mproc_obj_free(o);
    else
        cr_assert_null(o);
    return rc;
}

#define LOADS(lit) loads_raw(lit, sizeof(lit) - 1, NULL)

static mproc_obj *
make_none(void)
{
    return TH_OBJ("n");
}

static mproc_obj *
make_true(void)
{
    return TH_OBJ("b", 1);
}

static mproc_obj *
make_zero(void)
{
    return TH_OBJ("i", 0);
}

static mproc_obj *
make_i255(void)
{
    return TH_OBJ("i", 255);
}

static mproc_obj *
make_i256(void)
{
    return TH_OBJ("i", 256);
}

static mproc_obj *
make_i65536(void)
{
    return TH_OBJ("i", 65536);
}

static mproc_obj *
make_minus_one(void)
{
    return TH_OBJ("i", -1);
}

static mproc_obj *
make_two_31(void)
{
    return TH_OBJ("I", (int64_t)1 << 31);
}

static mproc_obj *
make_two_63(void)
{
    return big("9223372036854775808");
}

static mproc_obj *
make_minus_two_100(void)
{
    return big("-1267650600228229401496703205376");
}

static mproc_obj *
make_one_and_half(void)
{
    return TH_OBJ("d", 1.5);
}

static mproc_obj *
make_minus_zero(void)
{
    return TH_OBJ("d", -0.0);
}

static mproc_obj *
make_inf(void)
{
    return TH_OBJ("d", INFINITY);
}

static mproc_obj *
make_empty_str(void)
{
    return TH_OBJ("s", "");
}

static mproc_obj *
make_hello(void)
{
    return TH_OBJ("s", "h\xc3\xa9llo");
}

static mproc_obj *
make_emoji(void)
{
    return TH_OBJ("s", "\xf0\x9f\x98\x80");
}

static mproc_obj *
make_empty_bytes(void)
{
    return TH_OBJ("y", "", (size_t)0);
}

static mproc_obj *
make_zeros_300(void)
{
    return repeat_bytes(0, 300);
}

static mproc_obj *
make_bytes_high(void)
{
    return TH_OBJ("y", "\x00\xff", (size_t)2);
}

static mproc_obj *
make_list(void)
{
    return TH_OBJ("[i s n]", 1, "a");
}

static mproc_obj *
make_tuple1(void)
{
    return TH_OBJ("(i)", 1);
}

static mproc_obj *
make_tuple3(void)
{
    return TH_OBJ("(i i i)", 1, 2, 3);
}

static mproc_obj *
make_tuple4(void)
{
    return TH_OBJ("(i i i i)", 1, 2, 3, 4);
}

static mproc_obj *
make_dict(void)
{
    return TH_OBJ("{s:i, s:[i i]}", "a", 1, "b", 1, 2);
}

static mproc_obj *
make_set(void)
{
    return set_of(false, 2, 1, 2);
}

static mproc_obj *
make_frozenset(void)
{
    return set_of(true, 1, 1);
}

static mproc_obj *
make_empty_set(void)
{
    return set_of(false, 0);
}

static mproc_obj *
make_shared(void)
{
    return shared_pair();
}

static mproc_obj *
make_bytearray(void)
{
    return bytearray_of("ab");
}

static mproc_obj *
make_ints_2500(void)
{
    return range_list(2500);
}

static mproc_obj *
make_ints_30000(void)
{
    return range_list(30000);
}

static mproc_obj *
make_bytes_70k(void)
{
    return repeat_bytes('x', 71680);
}

static mproc_obj *
make_str_70k_in_list(void)
{
    return big_str_list(71680);
}

static mproc_obj *
make_py2_str(void)
{
    return TH_OBJ("s", "abc");
}

static mproc_obj *
make_py2_str_escapes(void)
{
    return TH_OBJ("s", "a'b\"c\\\n\t\x01");
}

static mproc_obj *
make_py2_unicode(void)
{
    return TH_OBJ("s", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \\ \n");
}

static mproc_obj *
make_py2_int(void)
{
    return TH_OBJ("i", 7);
}

static mproc_obj *
make_py2_negative(void)
{
    return TH_OBJ("i", -123456);
}

static mproc_obj *
make_py2_long(void)
{
    return big("1180591620717411303424");
}

static mproc_obj *
make_py2_neg_long(void)
{
    return big("-1180591620717411303424");
}

static mproc_obj *
make_py2_long_small(void)
{
    return TH_OBJ("i", 5);
}

static mproc_obj *
make_py2_bools(void)
{
    return TH_OBJ("[b b n]", 1, 0);
}

static mproc_obj *
make_py2_float(void)
{
    return TH_OBJ("[d d d d]", 1.5, -0.0, 1e300, 0.1);
}

static mproc_obj *
make_py2_nested(void)
{
    return TH_OBJ("{s:[i (i i) {s:s}], s:(i i i i)}", "k", 1, 2, 3, "x", "y",
                  "t", 1, 2, 3, 4);
}

static mproc_obj *
make_py2_shared(void)
{
    return shared_list(false);
}

static mproc_obj *
make_py3_str(void)
{
    static const char s[] =
        "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \\ \n\r\0\x1a";

    return str_n(s, sizeof(s) - 1);
}

static mproc_obj *
make_py3_int(void)
{
    return TH_OBJ("i", 7);
}

static mproc_obj *
make_py3_big(void)
{
    return big("1180591620717411303424");
}

static mproc_obj *
make_py3_neg_big(void)
{
    return big("-1180591620717411303424");
}

static mproc_obj *
make_py3_bools(void)
{
    return TH_OBJ("[b b n]", 1, 0);
}

static mproc_obj *
make_py3_float(void)
{
    return TH_OBJ("[d d d d d]", 1.5, -0.0, 1e300, 0.1, INFINITY);
}

static mproc_obj *
make_py3_nested(void)
{
    return TH_OBJ("{s:[i (i i) {s:s}], s:(i i i i), (i s):(n b)}", "k", 1, 2, 3,
                  "x", "y", "t", 1, 2, 3, 4, 1, "a", 1);
}

static mproc_obj *
make_py3_shared(void)
{
    return shared_list(false);
}

static mproc_obj *
make_py3_empty(void)
{
    return TH_OBJ("[[] {} () s]", "");
}

static mproc_obj *
make_py3_many(void)
{
    return range_list(1100);
}

/* Generated with CPython 3.11.7: pickle.dumps(obj, protocol). */
static const struct exact exact_small[] = {
    { "none",
      make_none,
      2,
      { "80024e2e", "80034e2e", "80044e2e", "80054e2e" } },
    { "true",
      make_true,
      2,
      { "8002882e", "8003882e", "8004882e", "8005882e" } },
    { "zero",
      make_zero,
      2,
      { "80024b002e", "80034b002e", "80044b002e", "80054b002e" } },
    { "i255",
      make_i255,
      2,
      { "80024bff2e", "80034bff2e", "80044bff2e", "80054bff2e" } },
    { "i256",
      make_i256,
      2,
      { "80024d00012e", "80034d00012e", "80049504000000000000004d00012e",
        "80059504000000000000004d00012e" } },
    { "i65536",
      make_i65536,
      2,
      { "80024a000001002e", "80034a000001002e",
        "80049506000000000000004a000001002e",
        "80059506000000000000004a000001002e" } },
    { "minus_one",
      make_minus_one,
      2,
      { "80024affffffff2e", "80034affffffff2e",
        "80049506000000000000004affffffff2e",
        "80059506000000000000004affffffff2e" } },
    { "two_31",
      make_two_31,
      2,
      { "80028a0500000080002e", "80038a0500000080002e",
        "80049508000000000000008a0500000080002e",
        "80059508000000000000008a0500000080002e" } },
    { "two_63",
      make_two_63,
      2,
      { "80028a090000000000000080002e", "80038a090000000000000080002e",
        "8004950c000000000000008a090000000000000080002e",
        "8005950c000000000000008a090000000000000080002e" } },
    { "minus_two_100",
      make_minus_two_100,
      2,
      { "80028a0d000000000000000000000000f02e",
        "80038a0d000000000000000000000000f02e",
        "80049510000000000000008a0d000000000000000000000000f02e",
        "80059510000000000000008a0d000000000000000000000000f02e" } },
    { "one_and_half",
      make_one_and_half,
      2,
      { "8002473ff80000000000002e", "8003473ff80000000000002e",
        "8004950a00000000000000473ff80000000000002e",
        "8005950a00000000000000473ff80000000000002e" } },
    { "minus_zero",
      make_minus_zero,
      2,
      { "80024780000000000000002e", "80034780000000000000002e",
        "8004950a000000000000004780000000000000002e",
        "8005950a000000000000004780000000000000002e" } },
    { "inf",
      make_inf,
      2,
      { "8002477ff00000000000002e", "8003477ff00000000000002e",
        "8004950a00000000000000477ff00000000000002e",
        "8005950a00000000000000477ff00000000000002e" } },
    { "empty_str",
      make_empty_str,
      2,
      { "8002580000000071002e", "8003580000000071002e",
        "80049504000000000000008c00942e", "80059504000000000000008c00942e" } },
    { "hello",
      make_hello,
      2,
      { "8002580600000068c3a96c6c6f71002e", "8003580600000068c3a96c6c6f71002e",
        "8004950a000000000000008c0668c3a96c6c6f942e",
        "8005950a000000000000008c0668c3a96c6c6f942e" } },
    { "emoji",
      make_emoji,
      2,
      { "80025804000000f09f988071002e", "80035804000000f09f988071002e",
        "80049508000000000000008c04f09f9880942e",
        "80059508000000000000008c04f09f9880942e" } },
    { "empty_bytes",
      make_empty_bytes,
      3,
      { "8002635f5f6275696c74696e5f5f0a62797465730a7100295271012e",
        "8003430071002e", "80049504000000000000004300942e",
        "80059504000000000000004300942e" } },
    { "zeros_300",
      make_zeros_300,
      3,
      { "8002635f636f646563730a656e636f64650a7100582c01000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000710158060000006c6174696e3171028671035271042e",
        "8003422c01000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000071002e",
        "8004953301000000000000422c01000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "00942e",
        "8005953301000000000000422c01000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000"
        "00942e" } },
    { "bytes_high",
      make_bytes_high,
      3,
      { "8002635f636f646563730a656e636f64650a7100580300000000c3bf71015806000000"
        "6c6174696e3171028671035271042e",
        "8003430200ff71002e", "8004950600000000000000430200ff942e",
        "8005950600000000000000430200ff942e" } },
    { "list",
      make_list,
      2,
      { "80025d7100284b0158010000006171014e652e",
        "80035d7100284b0158010000006171014e652e",
        "8004950c000000000000005d94284b018c0161944e652e",
        "8005950c000000000000005d94284b018c0161944e652e" } },
    { "tuple1",
      make_tuple1,
      2,
      { "80024b018571002e", "80034b018571002e",
        "80049505000000000000004b0185942e",
        "80059505000000000000004b0185942e" } },
    { "tuple3",
      make_tuple3,
      2,
      { "80024b014b024b038771002e", "80034b014b024b038771002e",
        "80049509000000000000004b014b024b0387942e",
        "80059509000000000000004b014b024b0387942e" } },
    { "tuple4",
      make_tuple4,
      2,
      { "8002284b014b024b034b047471002e", "8003284b014b024b034b047471002e",
        "8004950c00000000000000284b014b024b034b0474942e",
        "8005950c00000000000000284b014b024b034b0474942e" } },
    { "dict",
      make_dict,
      2,
      { "80027d71002858010000006171014b0158010000006271025d7103284b014b0265752"
        "e",
        "80037d71002858010000006171014b0158010000006271025d7103284b014b0265752"
        "e",
        "80049517000000000000007d94288c0161944b018c0162945d94284b014b0265752e",
        "80059517000000000000007d94288c0161944b018c0162945d94284b014b0265752"
        "e" } },
    { "set",
      make_set,
      4,
      { "8002635f5f6275696c74696e5f5f0a7365740a71005d7101284b014b02658571025271"
        "032e",
        "8003636275696c74696e730a7365740a71005d7101284b014b02658571025271032e",
        "80049509000000000000008f94284b014b02902e",
        "80059509000000000000008f94284b014b02902e" } },
    { "frozenset",
      make_frozenset,
      4,
      { "8002635f5f6275696c74696e5f5f0a66726f7a656e7365740a71005d71014b01618571"
        "025271032e",
        "8003636275696c74696e730a66726f7a656e7365740a71005d71014b01618571025271"
        "032e",
        "8004950600000000000000284b0191942e",
        "8005950600000000000000284b0191942e" } },
    { "empty_set",
      make_empty_set,
      4,
      { "8002635f5f6275696c74696e5f5f0a7365740a71005d71018571025271032e",
        "8003636275696c74696e730a7365740a71005d71018571025271032e",
        "80048f942e", "80058f942e" } },
    { "shared",
      make_shared,
      2,
      { "80025d7100285d71014b01616801652e", "80035d7100285d71014b01616801652e",
        "8004950c000000000000005d94285d944b01616801652e",
        "8005950c000000000000005d94285d944b01616801652e" } },
    { "bytearray",
      make_bytearray,
      5,
      { "8002635f5f6275696c74696e5f5f0a6279746561727261790a7100635f636f64656373"
        "0a656e636f64650a710158020000006162710258060000006c6174696e317103867104"
        "5271058571065271072e",
        "8003636275696c74696e730a6279746561727261790a71004302616271018571025271"
        "032e",
        "80049523000000000000008c086275696c74696e73948c096279746561727261799493"
        "944302616294859452942e",
        "8005950d000000000000009602000000000000006162942e" } },
};
static const struct digest exact_large[] = {
    { "ints_2500",
      make_ints_2500,
      { { 7256, 0x0a29f51e4e6ffc36u },
        { 7256, 0xcc37dc248305553du },
        { 7264, 0x69f7ecf5aab12c1fu },
        { 7264, 0xd7e109f4386a9e98u } } },
    { "ints_30000",
      make_ints_30000,
      { { 89810, 0xecd4fecb21bd9973u },
        { 89810, 0xa1ba686049263ce4u },
        { 89827, 0x70e0f4256ff8867eu },
        { 89827, 0x6909980cebb480c3u } } },
    { "bytes_70k",
      make_bytes_70k,
      { { 71727, 0xc973d4f335e1011du },
        { 71690, 0x5238faa7359dd0f4u },
        { 71689, 0x16e799f89e980abeu },
        { 71689, 0x4e1fa1a21d8268d7u } } },
    { "str_70k_in_list",
      make_str_70k_in_list,
      { { 71711, 0x9cee29f17276ed05u },
        { 71711, 0xbeb5e5d71d7adb1cu },
        { 71719, 0x054fe829353b21fbu },
        { 71719, 0xaa80498b1fbfaf1au } } },
};
/* Generated with CPython 3.11.7 and 2.7.18: pickle.dumps(obj, protocol). */
static const struct corpus corpus[] = {
    { "py2_str", 0, make_py2_str, "5327616263270a70300a2e" },
    { "py2_str", 1, make_py2_str, "550361626371002e" },
    { "py2_str", 2, make_py2_str, "8002550361626371002e" },
    { "py2_str_escapes", 0, make_py2_str_escapes,
      "5327615c276222635c5c5c6e5c745c783031270a70300a2e" },
    { "py2_str_escapes", 1, make_py2_str_escapes,
      "550961276222635c0a090171002e" },
    { "py2_str_escapes", 2, make_py2_str_escapes,
      "8002550961276222635c0a090171002e" },
    { "py2_unicode", 0, make_py2_unicode,
      "5668e96c6c6f205c7532306163205c553030303166363030205c75303035"
      "63205c75303030610a70300a2e" },
    { "py2_unicode", 1, make_py2_unicode,
      "581300000068c3a96c6c6f20e282ac20f09f9880205c200a71002e" },
    { "py2_unicode", 2, make_py2_unicode,
      "8002581300000068c3a96c6c6f20e282ac20f09f9880205c200a71002e" },
    { "py2_int", 0, make_py2_int, "49370a2e" },
    { "py2_int", 1, make_py2_int, "4b072e" },
    { "py2_int", 2, make_py2_int, "80024b072e" },
    { "py2_negative", 0, make_py2_negative, "492d3132333435360a2e" },
    { "py2_negative", 1, make_py2_negative, "4ac01dfeff2e" },
    { "py2_negative", 2, make_py2_negative, "80024ac01dfeff2e" },
    { "py2_long", 0, make_py2_long,
      "4c313138303539313632303731373431313330333432344c0a2e" },
    { "py2_long", 1, make_py2_long,
      "4c313138303539313632303731373431313330333432344c0a2e" },
    { "py2_long", 2, make_py2_long, "80028a090000000000000000402e" },
    { "py2_neg_long", 0, make_py2_neg_long,
      "4c2d313138303539313632303731373431313330333432344c0a2e" },
    { "py2_neg_long", 1, make_py2_neg_long,
      "4c2d313138303539313632303731373431313330333432344c0a2e" },
    { "py2_neg_long", 2, make_py2_neg_long, "80028a090000000000000000c02e" },
    { "py2_long_small", 0, make_py2_long_small, "4c354c0a2e" },
    { "py2_long_small", 1, make_py2_long_small, "4c354c0a2e" },
    { "py2_long_small", 2, make_py2_long_small, "80028a01052e" },
    { "py2_bools", 0, make_py2_bools, "286c70300a4930310a614930300a614e612e" },
    { "py2_bools", 1, make_py2_bools, "5d7100284930310a4930300a4e652e" },
    { "py2_bools", 2, make_py2_bools, "80025d71002888894e652e" },
    { "py2_float", 0, make_py2_float,
      "286c70300a46312e350a61462d302e300a614631652b3330300a6146302e"
      "310a612e" },
    { "py2_float", 1, make_py2_float,
      "5d710028473ff8000000000000478000000000000000477e37e43c880075"
      "9c473fb999999999999a652e" },
    { "py2_float", 2, make_py2_float,
      "80025d710028473ff8000000000000478000000000000000477e37e43c88"
      "00759c473fb999999999999a652e" },
    { "py2_nested", 0, make_py2_nested,
      "286470300a53276b270a70310a286c70320a49310a612849320a49330a74"
      "70330a61286470340a532778270a70350a56790a70360a73617353277427"
      "0a70370a2849310a49320a49330a49340a7470380a732e" },
    { "py2_nested", 1, make_py2_nested,
      "7d71002855016b71015d7102284b01284b024b037471037d710455017871"
      "05580100000079710673655501747107284b014b024b034b04747108752e" },
    { "py2_nested", 2, make_py2_nested,
      "80027d71002855016b71015d7102284b014b024b038671037d7104550178"
      "7105580100000079710673655501747107284b014b024b034b0474710875"
      "2e" },
    { "py2_shared", 0, make_py2_shared,
      "286c70300a286c70310a49310a6149320a616167310a612867310a747032"
      "0a612e" },
    { "py2_shared", 1, make_py2_shared,
      "5d7100285d7101284b014b02656801286801747102652e" },
    { "py2_shared", 2, make_py2_shared,
      "80025d7100285d7101284b014b026568016801857102652e" },
    { "py3_str", 0, make_py3_str,
      "5668e96c6c6f205c7532306163205c553030303166363030205c75303035"
      "63205c75303030615c75303030645c75303030305c75303031610a70300a"
      "2e" },
    { "py3_str", 1, make_py3_str,
      "581600000068c3a96c6c6f20e282ac20f09f9880205c200a0d001a71002e" },
    { "py3_int", 0, make_py3_int, "49370a2e" },
    { "py3_int", 1, make_py3_int, "4b072e" },
    { "py3_big", 0, make_py3_big,
      "4c313138303539313632303731373431313330333432344c0a2e" },
    { "py3_big", 1, make_py3_big,
      "4c313138303539313632303731373431313330333432344c0a2e" },
    { "py3_neg_big", 0, make_py3_neg_big,
      "4c2d313138303539313632303731373431313330333432344c0a2e" },
    { "py3_neg_big", 1, make_py3_neg_big,
      "4c2d313138303539313632303731373431313330333432344c0a2e" },
    { "py3_bools", 0, make_py3_bools, "286c70300a4930310a614930300a614e612e" },
    { "py3_bools", 1, make_py3_bools, "5d7100284930310a4930300a4e652e" },
    { "py3_float", 0, make_py3_float,
      "286c70300a46312e350a61462d302e300a614631652b3330300a6146302e"
      "310a6146696e660a612e" },
    { "py3_float", 1, make_py3_float,
      "5d710028473ff8000000000000478000000000000000477e37e43c880075"
      "9c473fb999999999999a477ff0000000000000652e" },
    { "py3_nested", 0, make_py3_nested,
      "286470300a566b0a70310a286c70320a49310a612849320a49330a747033"
      "0a61286470340a56780a70350a56790a70360a73617356740a70370a2849"
      "310a49320a49330a49340a7470380a732849310a56610a70390a74703130"
      "0a284e4930310a747031310a732e" },
    { "py3_nested", 1, make_py3_nested,
      "7d71002858010000006b71015d7102284b01284b024b037471037d710458"
      "01000000787105580100000079710673655801000000747107284b014b02"
      "4b034b04747108284b01580100000061710974710a284e4930310a74710b"
      "752e" },
    { "py3_shared", 0, make_py3_shared,
      "286c70300a286c70310a49310a6149320a616167310a612867310a747032"
      "0a612e" },
    { "py3_shared", 1, make_py3_shared,
      "5d7100285d7101284b014b02656801286801747102652e" },
    { "py3_empty", 0, make_py3_empty,
      "286c70300a286c70310a61286470320a61287461560a70330a612e" },
    { "py3_empty", 1, make_py3_empty,
      "5d7100285d71017d71022958000000007103652e" },
    { "py3_many", 1, make_py3_many,
      "5d7100284b004b014b024b034b044b054b064b074b084b094b0a4b0b4b0c"
      "4b0d4b0e4b0f4b104b114b124b134b144b154b164b174b184b194b1a4b1b"
      "4b1c4b1d4b1e4b1f4b204b214b224b234b244b254b264b274b284b294b2a"
      "4b2b4b2c4b2d4b2e4b2f4b304b314b324b334b344b354b364b374b384b39"
      "4b3a4b3b4b3c4b3d4b3e4b3f4b404b414b424b434b444b454b464b474b48"
      "4b494b4a4b4b4b4c4b4d4b4e4b4f4b504b514b524b534b544b554b564b57"
      "4b584b594b5a4b5b4b5c4b5d4b5e4b5f4b604b614b624b634b644b654b66"
      "4b674b684b694b6a4b6b4b6c4b6d4b6e4b6f4b704b714b724b734b744b75"
      "4b764b774b784b794b7a4b7b4b7c4b7d4b7e4b7f4b804b814b824b834b84"
      "4b854b864b874b884b894b8a4b8b4b8c4b8d4b8e4b8f4b904b914b924b93"
      "4b944b954b964b974b984b994b9a4b9b4b9c4b9d4b9e4b9f4ba04ba14ba2"
      "4ba34ba44ba54ba64ba74ba84ba94baa4bab4bac4bad4bae4baf4bb04bb1"
      "4bb24bb34bb44bb54bb64bb74bb84bb94bba4bbb4bbc4bbd4bbe4bbf4bc0"
      "4bc14bc24bc34bc44bc54bc64bc74bc84bc94bca4bcb4bcc4bcd4bce4bcf"
      "4bd04bd14bd24bd34bd44bd54bd64bd74bd84bd94bda4bdb4bdc4bdd4bde"
      "4bdf4be04be14be24be34be44be54be64be74be84be94bea4beb4bec4bed"
      "4bee4bef4bf04bf14bf24bf34bf44bf54bf64bf74bf84bf94bfa4bfb4bfc"
      "4bfd4bfe4bff4d00014d01014d02014d03014d04014d05014d06014d0701"
      "4d08014d09014d0a014d0b014d0c014d0d014d0e014d0f014d10014d1101"
      "4d12014d13014d14014d15014d16014d17014d18014d19014d1a014d1b01"
      "4d1c014d1d014d1e014d1f014d20014d21014d22014d23014d24014d2501"
      "4d26014d27014d28014d29014d2a014d2b014d2c014d2d014d2e014d2f01"
      "4d30014d31014d32014d33014d34014d35014d36014d37014d38014d3901"
      "4d3a014d3b014d3c014d3d014d3e014d3f014d40014d41014d42014d4301"
      "4d44014d45014d46014d47014d48014d49014d4a014d4b014d4c014d4d01"
      "4d4e014d4f014d50014d51014d52014d53014d54014d55014d56014d5701"
      "4d58014d59014d5a014d5b014d5c014d5d014d5e014d5f014d60014d6101"
      "4d62014d63014d64014d65014d66014d67014d68014d69014d6a014d6b01"
      "4d6c014d6d014d6e014d6f014d70014d71014d72014d73014d74014d7501"
      "4d76014d77014d78014d79014d7a014d7b014d7c014d7d014d7e014d7f01"
      "4d80014d81014d82014d83014d84014d85014d86014d87014d88014d8901"
      "4d8a014d8b014d8c014d8d014d8e014d8f014d90014d91014d92014d9301"
      "4d94014d95014d96014d97014d98014d99014d9a014d9b014d9c014d9d01"
      "4d9e014d9f014da0014da1014da2014da3014da4014da5014da6014da701"
      "4da8014da9014daa014dab014dac014dad014dae014daf014db0014db101"
      "4db2014db3014db4014db5014db6014db7014db8014db9014dba014dbb01"
      "4dbc014dbd014dbe014dbf014dc0014dc1014dc2014dc3014dc4014dc501"
      "4dc6014dc7014dc8014dc9014dca014dcb014dcc014dcd014dce014dcf01"
      "4dd0014dd1014dd2014dd3014dd4014dd5014dd6014dd7014dd8014dd901"
      "4dda014ddb014ddc014ddd014dde014ddf014de0014de1014de2014de301"
      "4de4014de5014de6014de7014de8014de9014dea014deb014dec014ded01"
      "4dee014def014df0014df1014df2014df3014df4014df5014df6014df701"
      "4df8014df9014dfa014dfb014dfc014dfd014dfe014dff014d00024d0102"
      "4d02024d03024d04024d05024d06024d07024d08024d09024d0a024d0b02"
      "4d0c024d0d024d0e024d0f024d10024d11024d12024d13024d14024d1502"
      "4d16024d17024d18024d19024d1a024d1b024d1c024d1d024d1e024d1f02"
      "4d20024d21024d22024d23024d24024d25024d26024d27024d28024d2902"
      "4d2a024d2b024d2c024d2d024d2e024d2f024d30024d31024d32024d3302"
      "4d34024d35024d36024d37024d38024d39024d3a024d3b024d3c024d3d02"
      "4d3e024d3f024d40024d41024d42024d43024d44024d45024d46024d4702"
      "4d48024d49024d4a024d4b024d4c024d4d024d4e024d4f024d50024d5102"
      "4d52024d53024d54024d55024d56024d57024d58024d59024d5a024d5b02"
      "4d5c024d5d024d5e024d5f024d60024d61024d62024d63024d64024d6502"
      "4d66024d67024d68024d69024d6a024d6b024d6c024d6d024d6e024d6f02"
      "4d70024d71024d72024d73024d74024d75024d76024d77024d78024d7902"
      "4d7a024d7b024d7c024d7d024d7e024d7f024d80024d81024d82024d8302"
      "4d84024d85024d86024d87024d88024d89024d8a024d8b024d8c024d8d02"
      "4d8e024d8f024d90024d91024d92024d93024d94024d95024d96024d9702"
      "4d98024d99024d9a024d9b024d9c024d9d024d9e024d9f024da0024da102"
      "4da2024da3024da4024da5024da6024da7024da8024da9024daa024dab02"
      "4dac024dad024dae024daf024db0024db1024db2024db3024db4024db502"
      "4db6024db7024db8024db9024dba024dbb024dbc024dbd024dbe024dbf02"
      "4dc0024dc1024dc2024dc3024dc4024dc5024dc6024dc7024dc8024dc902"
      "4dca024dcb024dcc024dcd024dce024dcf024dd0024dd1024dd2024dd302"
      "4dd4024dd5024dd6024dd7024dd8024dd9024dda024ddb024ddc024ddd02"
      "4dde024ddf024de0024de1024de2024de3024de4024de5024de6024de702"
      "4de8024de9024dea024deb024dec024ded024dee024def024df0024df102"
      "4df2024df3024df4024df5024df6024df7024df8024df9024dfa024dfb02"
      "4dfc024dfd024dfe024dff024d00034d01034d02034d03034d04034d0503"
      "4d06034d07034d08034d09034d0a034d0b034d0c034d0d034d0e034d0f03"
      "4d10034d11034d12034d13034d14034d15034d16034d17034d18034d1903"
      "4d1a034d1b034d1c034d1d034d1e034d1f034d20034d21034d22034d2303"
      "4d24034d25034d26034d27034d28034d29034d2a034d2b034d2c034d2d03"
      "4d2e034d2f034d30034d31034d32034d33034d34034d35034d36034d3703"
      "4d38034d39034d3a034d3b034d3c034d3d034d3e034d3f034d40034d4103"
      "4d42034d43034d44034d45034d46034d47034d48034d49034d4a034d4b03"
      "4d4c034d4d034d4e034d4f034d50034d51034d52034d53034d54034d5503"
      "4d56034d57034d58034d59034d5a034d5b034d5c034d5d034d5e034d5f03"
      "4d60034d61034d62034d63034d64034d65034d66034d67034d68034d6903"
      "4d6a034d6b034d6c034d6d034d6e034d6f034d70034d71034d72034d7303"
      "4d74034d75034d76034d77034d78034d79034d7a034d7b034d7c034d7d03"
      "4d7e034d7f034d80034d81034d82034d83034d84034d85034d86034d8703"
      "4d88034d89034d8a034d8b034d8c034d8d034d8e034d8f034d90034d9103"
      "4d92034d93034d94034d95034d96034d97034d98034d99034d9a034d9b03"
      "4d9c034d9d034d9e034d9f034da0034da1034da2034da3034da4034da503"
      "4da6034da7034da8034da9034daa034dab034dac034dad034dae034daf03"
      "4db0034db1034db2034db3034db4034db5034db6034db7034db8034db903"
      "4dba034dbb034dbc034dbd034dbe034dbf034dc0034dc1034dc2034dc303"
      "4dc4034dc5034dc6034dc7034dc8034dc9034dca034dcb034dcc034dcd03"
      "4dce034dcf034dd0034dd1034dd2034dd3034dd4034dd5034dd6034dd703"
      "4dd8034dd9034dda034ddb034ddc034ddd034dde034ddf034de0034de103"
      "4de2034de3034de4034de5034de6034de70365284de8034de9034dea034d"
      "eb034dec034ded034dee034def034df0034df1034df2034df3034df4034d"
      "f5034df6034df7034df8034df9034dfa034dfb034dfc034dfd034dfe034d"
      "ff034d00044d01044d02044d03044d04044d05044d06044d07044d08044d"
      "09044d0a044d0b044d0c044d0d044d0e044d0f044d10044d11044d12044d"
      "13044d14044d15044d16044d17044d18044d19044d1a044d1b044d1c044d"
      "1d044d1e044d1f044d20044d21044d22044d23044d24044d25044d26044d"
      "27044d28044d29044d2a044d2b044d2c044d2d044d2e044d2f044d30044d"
      "31044d32044d33044d34044d35044d36044d37044d38044d39044d3a044d"
      "3b044d3c044d3d044d3e044d3f044d40044d41044d42044d43044d44044d"
      "45044d46044d47044d48044d49044d4a044d4b04652e" },
};
/* ---- dumps: CPython's bytes ---------------------------------------------- */

Test(pickle, dumps_writes_cpythons_bytes_for_small_objects_in_protocols_2_to_5)
{
    for (size_t i = 0; i < sizeof(exact_small) / sizeof(exact_small[0]); i++) {
        mproc_obj *o = exact_small[i].make();

        for (int p = 2; p <= 5; p++) {
            mproc_buf out = { 0 };
            char *hex;

            cr_assert_eq(mproc_obj_dumps(o, &out, p), 0, "%s",
                         exact_small[i].name);
            hex = to_hex(&out);
            cr_expect_str_eq(hex, exact_small[i].hex[p - 2], "%s protocol %d",
                             exact_small[i].name, p);
            free(hex);
            mproc_buf_free(&out);
        }
        mproc_obj_free(o);
    }
}

Test(pickle, dumps_frames_batches_and_large_payloads_as_cpython_does)
{
    for (size_t i = 0; i < sizeof(exact_large) / sizeof(exact_large[0]); i++) {
        mproc_obj *o = exact_large[i].make();

        for (int p = 2; p <= 5; p++) {
            mproc_buf out = { 0 };

            cr_assert_eq(mproc_obj_dumps(o, &out, p), 0);
            cr_expect_eq(out.len, exact_large[i].d[p - 2].len,
                         "%s protocol %d: %zu bytes", exact_large[i].name, p,
                         out.len);
            cr_expect_eq(fnv1a(out.data, out.len), exact_large[i].d[p - 2].fnv,
                         "%s protocol %d", exact_large[i].name, p);
            mproc_buf_free(&out);
        }
        mproc_obj_free(o);
    }
}

Test(pickle, dumps_protocol_0_is_4_and_others_are_refused)
{
    mproc_obj *o = TH_OBJ("[i s]", 1, "a");
    mproc_buf zero = { 0 }, four = { 0 }, out = { 0 };

    cr_assert_eq(mproc_obj_dumps(o, &zero, 0), 0);
    cr_assert_eq(mproc_obj_dumps(o, &four, 4), 0);
    cr_assert_eq(zero.len, four.len);
    cr_assert_eq(memcmp(zero.data, four.data, zero.len), 0);
    cr_assert_eq(mproc_obj_dumps(o, &out, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_obj_dumps(o, &out, 6), MPROC_EINVAL);
    cr_assert_eq(mproc_obj_dumps(o, &out, -1), MPROC_EINVAL);
    cr_assert_null(out.data);
    cr_assert_eq(mproc_obj_dumps(NULL, &out, 4), MPROC_EINVAL);
    cr_assert_eq(mproc_obj_dumps(o, NULL, 4), MPROC_EINVAL);
    mproc_buf_free(&zero);
    mproc_buf_free(&four);
    mproc_obj_free(o);
}

Test(pickle, dumps_refuses_an_object_that_contains_itself)
{
    mproc_obj *list = TH_OBJ("[i]", 1);
    mproc_obj *tuple = TH_OBJ("(O)", list);
    mproc_obj *dict = TH_OBJ("{}");
    mproc_obj *key = TH_OBJ("s", "self");
    mproc_buf out = { 0 };

    /* list -> tuple -> list, and dict -> list -> tuple -> list */
    cr_assert_eq(mproc_obj_list_append(list, tuple), 0);
    cr_assert_eq(mproc_obj_dict_set(dict, key, list), 0);
    for (int p = 2; p <= 5; p++) {
        cr_assert_eq(mproc_obj_dumps(list, &out, p), MPROC_EINVAL);
        cr_assert_eq(mproc_obj_dumps(dict, &out, p), MPROC_EINVAL);
        cr_assert_null(out.data);
    }
    /* a shared object is not a recursive one */
    cr_assert_eq(mproc_obj_list_delete(list, 1), 0);
    cr_assert_eq(mproc_obj_dumps(dict, &out, 4), 0);
    mproc_buf_free(&out);
    mproc_obj_free(key);
    mproc_obj_free(dict);
    mproc_obj_free(tuple);
    mproc_obj_free(list);
}

/* ---- loads: what CPython writes ------------------------------------------ */

Test(pickle, loads_reads_cpythons_protocols_2_to_5_back_to_equal_objects)
{
    for (size_t i = 0; i < sizeof(exact_small) / sizeof(exact_small[0]); i++) {
        mproc_obj *want = exact_small[i].make();

        for (int p = 2; p <= 5; p++) {
            mproc_obj *got = NULL;
            int rc = loads_hex(exact_small[i].hex[p - 2], &got, NULL);

            if (p < exact_small[i].loadable) {
                /* a GLOBAL and REDUCE: refused, as documented */
                cr_expect_eq(rc, MPROC_EPROTOCOL, "%s protocol %d",
                             exact_small[i].name, p);
                continue;
            }
            cr_assert_eq(rc, 0, "%s protocol %d: %s", exact_small[i].name, p,
                         mproc_errname(rc));
            cr_expect(mproc_obj_equal(got, want), "%s protocol %d",
                      exact_small[i].name, p);
            cr_expect_eq(mproc_obj_type(got), mproc_obj_type(want));
            mproc_obj_free(got);
        }
        mproc_obj_free(want);
    }
}

Test(pickle, loads_reads_python_2_and_3_protocols_0_and_1)
{
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        mproc_obj *want = corpus[i].make(), *got = NULL;
        int rc = loads_hex(corpus[i].hex, &got, NULL);

        cr_assert_eq(rc, 0, "%s protocol %d: %s", corpus[i].name,
                     corpus[i].protocol, mproc_errname(rc));
        cr_expect(mproc_obj_equal(got, want), "%s protocol %d", corpus[i].name,
                  corpus[i].protocol);
        if (strstr(corpus[i].name, "shared") != NULL) {
            mproc_obj *a, *b, *t, *c;

            /* [x, x, (x,)]: one x, three places */
            cr_assert_eq(mproc_obj_get(got, 0, &a), 0);
            cr_assert_eq(mproc_obj_get(got, 1, &b), 0);
            cr_assert_eq(mproc_obj_get(got, 2, &t), 0);
            cr_assert_eq(mproc_obj_get(t, 0, &c), 0);
            cr_expect(a == b && b == c, "%s", corpus[i].name);
        }
        mproc_obj_free(got);
        mproc_obj_free(want);
    }
}

Test(pickle, loads_keeps_shared_objects_shared_and_dumps_them_as_gets)
{
    mproc_obj *o = shared_pair(), *back = NULL, *a, *b;
    mproc_buf out = { 0 };

    cr_assert_eq(mproc_obj_dumps(o, &out, 2), 0);
    cr_assert_eq(mproc_obj_loads(&back, out.data, out.len, NULL), 0);
    cr_assert_eq(mproc_obj_get(back, 0, &a), 0);
    cr_assert_eq(mproc_obj_get(back, 1, &b), 0);
    cr_assert_eq(a, b);
    mproc_buf_free(&out);
    mproc_obj_free(back);
    mproc_obj_free(o);
}

/* ---- round trips ----------------------------------------------------------
 */

struct rng {
    uint64_t state;
};

static uint32_t
rnd(struct rng *r, uint32_t below)
{
    r->state = r->state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(r->state >> 33) % below;
}

static mproc_obj *random_obj(struct rng *r, int protocol, int depth,
                             mproc_obj **pool, size_t *pooled);

/* A hashable object: int, str, float, None, bool or a tuple of those. */
static mproc_obj *
random_key(struct rng *r)
{
    char text[16];

    switch (rnd(r, 4)) {
    case 0:
        return TH_OBJ("i", (int)rnd(r, 100000) - 50000);
    case 1:
        snprintf(text, sizeof(text), "k%u", rnd(r, 1000));
        return TH_OBJ("s", text);
    case 2:
        return TH_OBJ("(i s)", (int)rnd(r, 10), "t");
    default:
        return TH_OBJ("d", rnd(r, 1000) / 8.0);
    }
}

static mproc_obj *
random_scalar(struct rng *r, int protocol)
{
    unsigned char raw[40];
    char text[64];
    size_t n = rnd(r, sizeof(raw));
    mproc_obj *o = NULL;

    for (size_t i = 0; i < n; i++)
        raw[i] = (unsigned char)rnd(r, 256);
    switch (rnd(r, 9)) {
    case 0:
        return TH_OBJ("n");
    case 1:
        return TH_OBJ("b", (int)rnd(r, 2));
    case 2:
        return TH_OBJ("I",
                      (int64_t)(((uint64_t)rnd(r, UINT32_MAX) << rnd(r, 33)) -
                                rnd(r, 1000)));
    case 3:
        cr_assert_eq(mproc_obj_int_from_bytes(&o, raw, n), 0);
        return o;
    case 4: {
        uint64_t bits = (uint64_t)rnd(r, UINT32_MAX) << 32 | rnd(r, UINT32_MAX);
        double v;

        memcpy(&v, &bits, sizeof(v));
        return TH_OBJ("d", isnan(v) ? 0.25 : v);
    }
    case 5:
        /* ASCII, Latin-1, BMP and astral code points */
        snprintf(text, sizeof(text), "a\xc3\xa9%u\xe2\x82\xac\xf0\x9f\x98\x80",
                 rnd(r, 100000));
        return TH_OBJ("s", rnd(r, 4) == 0 ? "" : text);
    case 6:
        if (protocol >= 3)
            return TH_OBJ("y", raw, n);
        return TH_OBJ("s", "no bytes in protocol 2");
    case 7:
        if (protocol >= 5) {
            cr_assert_eq(mproc_obj_bytearray(&o, raw, n), 0);
            return o;
        }
        return TH_OBJ("i", (int)n);
    default:
        return TH_OBJ("i", (int)rnd(r, 70000));
    }
}

static mproc_obj *
random_container(struct rng *r, int protocol, int depth, mproc_obj **pool,
                 size_t *pooled)
{
    size_t n = rnd(r, 6);
    mproc_obj *items[8], *o = NULL;
    uint32_t kind = rnd(r, protocol >= 4 ? 5 : 3);

    if (kind == 0 || kind == 1) {
        for (size_t i = 0; i < n; i++)
            items[i] = random_obj(r, protocol, depth + 1, pool, pooled);
        if (kind == 0) {
            o = TH_OBJ("[]");
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(mproc_obj_list_append(o, items[i]), 0);
        } else {
            cr_assert_eq(mproc_obj_tuple(&o, items, n), 0);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            items[i] = random_key(r);
        if (kind == 2) {
            o = TH_OBJ("{}");
            for (size_t i = 0; i < n; i++) {
                mproc_obj *v = random_obj(r, protocol, depth + 1, pool, pooled);

                cr_assert_eq(mproc_obj_dict_set(o, items[i], v), 0);
                mproc_obj_free(v);
            }
        } else if (kind == 3) {
            cr_assert_eq(mproc_obj_set(&o), 0);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(mproc_obj_set_add(o, items[i]), 0);
        } else {
            cr_assert_eq(mproc_obj_frozenset(&o, items, n), 0);
        }
    }
    for (size_t i = 0; i < n; i++)
        mproc_obj_free(items[i]);
    return o;
}

/* Random nested objects; some reuse an earlier one (a shared reference). */
static mproc_obj *
random_obj(struct rng *r, int protocol, int depth, mproc_obj **pool,
           size_t *pooled)
{
    mproc_obj *o;

    if (*pooled > 0 && rnd(r, 8) == 0)
        return mproc_obj_ref(pool[rnd(r, (uint32_t)*pooled)]);
    if (depth < 5 && rnd(r, 3) == 0)
        o = random_container(r, protocol, depth, pool, pooled);
    else
        o = random_scalar(r, protocol);
    if (*pooled < 64)
        pool[(*pooled)++] = mproc_obj_ref(o);
    return o;
}

Test(pickle, random_objects_survive_dumps_and_loads_in_every_protocol)
{
    struct rng r = { 20240601 };

    for (int round = 0; round < 300; round++) {
        int protocol = 2 + round % 4;
        mproc_obj *pool[64], *o, *back = NULL;
        size_t pooled = 0;
        mproc_buf first = { 0 }, second = { 0 };

        o = random_container(&r, protocol, 0, pool, &pooled);
        cr_assert_eq(mproc_obj_dumps(o, &first, protocol), 0);
        cr_assert_eq(mproc_obj_loads(&back, first.data, first.len, NULL), 0,
                     "round %d", round);
        cr_assert(mproc_obj_equal(o, back), "round %d", round);
        /* the same sharing comes back, so the same bytes */
        cr_assert_eq(mproc_obj_dumps(back, &second, protocol), 0);
        cr_assert_eq(first.len, second.len, "round %d", round);
        cr_assert_eq(memcmp(first.data, second.data, first.len), 0);
        mproc_buf_free(&first);
        mproc_buf_free(&second);
        mproc_obj_free(back);
        mproc_obj_free(o);
        for (size_t i = 0; i < pooled; i++)
            mproc_obj_free(pool[i]);
    }
}

/* ---- hostile input --------------------------------------------------------
 */

Test(pickle, every_truncation_of_a_valid_pickle_fails_cleanly)
{
    mproc_obj *o =
        TH_OBJ("{s:[i d s (i i i i) n b], s:y}", "key", 70000, 1.5,
               "h\xc3\xa9llo", 1, 2, 3, 4, 1, "b", "\x00\x01", (size_t)2);
    mproc_obj *big_int = big("-1267650600228229401496703205376");

    cr_assert_eq(mproc_obj_dict_set(o, big_int, big_int), 0);
    for (int p = 2; p <= 5; p++) {
        mproc_buf out = { 0 };

        cr_assert_eq(mproc_obj_dumps(o, &out, p), 0);
        for (size_t cut = 0; cut < out.len; cut++) {
            char *copy = malloc(cut + 1);

            memcpy(copy, out.data, cut);
            cr_assert_eq(loads_raw(copy, cut, NULL), MPROC_EPROTOCOL,
                         "protocol %d cut at %zu", p, cut);
            free(copy);
        }
        mproc_buf_free(&out);
    }
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        size_t len;
        unsigned char *b = unhex(corpus[i].hex, &len);

        for (size_t cut = 0; cut < len; cut++)
            cr_assert_eq(loads_raw((char *)b, cut, NULL), MPROC_EPROTOCOL,
                         "%s cut at %zu", corpus[i].name, cut);
        free(b);
    }
    mproc_obj_free(big_int);
    mproc_obj_free(o);
}

Test(pickle, opcodes_that_name_code_or_classes_are_refused)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } refused[] = {
#define R(name, lit) { name, lit, sizeof(lit) - 1 }
        R("GLOBAL", "cos\nsystem\n(S'true'\ntR."),
        R("STACK_GLOBAL", "\x80\x04\x8c\x02os\x8c\x06system\x93."),
        R("REDUCE", "\x80\x02N)R."),
        R("BUILD", "\x80\x02}}b."),
        R("INST", "(S'x'\nios\nsystem\n."),
        R("OBJ", "(N)o."),
        R("NEWOBJ", "\x80\x02N)\x81."),
        R("NEWOBJ_EX", "\x80\x04N)}\x92."),
        R("EXT1", "\x80\x02\x82\x01."),
        R("EXT2", "\x80\x02\x83\x01\x00."),
        R("EXT4", "\x80\x02\x84\x01\x00\x00\x00."),
        R("PERSID", "Pid\n."),
        R("BINPERSID of None", "\x80\x02N"
                               "Q."),
        R("NEXT_BUFFER", "\x80\x05\x97."),
        R("READONLY_BUFFER", "\x80\x05N\x98."),
        R("unknown 0xff", "\x80\x02\xff."),
        R("unknown z", "z."),
        R("unknown 0x99", "\x80\x05\x99."),
        R("PROTO 6", "\x80\x06N."),
#undef R
    };

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        cr_expect_eq(loads_raw(refused[i].bytes, refused[i].len, NULL),
                     MPROC_EPROTOCOL, "%s", refused[i].name);
}

/* n lists, each appended into the one below: nesting n deep. */
static size_t
nested_lists(char *buf, int n)
{
    size_t len = 0;

    for (int i = 0; i < n; i++)
        buf[len++] = ']';
    for (int i = 1; i < n; i++)
        buf[len++] = 'a';
    buf[len++] = '.';
    return len;
}

Test(pickle, nesting_deeper_than_the_limit_is_too_big)
{
    char buf[2 * 1001 + 2];
    size_t n;

    n = nested_lists(buf, 1001);
    cr_assert_eq(loads_raw(buf, n, NULL), MPROC_ETOOBIG);
    n = nested_lists(buf, 1000);
    cr_assert_eq(loads_raw(buf, n, NULL), 0);
    cr_assert_eq(loads_raw(buf, n, &(mproc_loads_opts){ .max_depth = 999 }),
                 MPROC_ETOOBIG);
    /* tuples nest with the stack staying one item high */
    n = 0;
    buf[n++] = ')';
    for (int i = 0; i < 1000; i++)
        buf[n++] = (char)0x85;
    buf[n++] = '.';
    cr_assert_eq(loads_raw(buf, n, NULL), MPROC_ETOOBIG);
    cr_assert_eq(loads_raw(buf, n, &(mproc_loads_opts){ .max_depth = 1001 }),
                 0);
}

Test(pickle, declared_lengths_beyond_the_input_are_refused_before_allocating)
{
    cr_assert_eq(LOADS("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10xx."),
                 MPROC_EPROTOCOL); /* BINBYTES8 of 2^60 */
    cr_assert_eq(LOADS("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xffxx."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x05\x96\x00\x00\x00\x00\x00\x00\x00\x10xx."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x10N."),
                 MPROC_EPROTOCOL); /* FRAME */
    cr_assert_eq(LOADS("\x80\x02X\xff\xff\xff\xffxx."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02\x8b\xff\xff\xff\x7fxx."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02\x8b\xff\xff\xff\xffxx."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("T\xff\xff\xff\xffxx."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02\x8c\x05"
                       "ab."),
                 MPROC_EPROTOCOL);
}

Test(pickle, memo_references_out_of_range_are_refused)
{
    cr_assert_eq(LOADS("\x80\x02h\x00."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02Nq\x00h\x01."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02j\xff\xff\xff\xff."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("g99\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("g-1\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("Np5\ng5\n."), 0); /* sparse indices are fine */
}

Test(pickle, the_memo_limit_is_too_big_past_max_memo)
{
    mproc_loads_opts two = { .max_memo = 2 };

    cr_assert_eq(loads_raw("\x80\x04N\x94\x94.", 6, &two), 0);
    cr_assert_eq(loads_raw("\x80\x04N\x94\x94\x94.", 7, &two), MPROC_ETOOBIG);
    cr_assert_eq(LOADS("\x80\x02Nr\xff\xff\xff\xff."), MPROC_ETOOBIG);
    cr_assert_eq(LOADS("Np1000000\n."), MPROC_ETOOBIG);
}

Test(pickle, bytes_after_stop_and_bad_stacks_are_refused)
{
    cr_assert_eq(LOADS("\x80\x02N.N"), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02N.."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS(""), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("(."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("Na."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("NNa."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("](Na."), MPROC_EPROTOCOL); /* APPEND across a mark */
    cr_assert_eq(LOADS("(Ne."), MPROC_EPROTOCOL);  /* APPENDS, no list */
    cr_assert_eq(LOADS("}(Nu."), MPROC_EPROTOCOL); /* odd SETITEMS */
    cr_assert_eq(LOADS("\x80\x04](K\x01\x90."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x04\x8fK\x01"
                       "a."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x04}(K\x01K\x02"
                       "e."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("1."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x85."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("N(\x85."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("N2t."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("(N2t."), 0);
    cr_assert_eq(LOADS("N(0N."), 0); /* POP of an empty frame pops the mark */
    cr_assert_eq(LOADS("N(NN1."), 0);
}

Test(pickle, recursive_objects_are_refused)
{
    /* controls: a list inside a list reached through the memo is fine */
    cr_assert_eq(LOADS("\x80\x02]q\x00]h\x00"
                       "a."),
                 0);
    cr_assert_eq(LOADS("\x80\x02]q\x00h\x00\x85."), 0);
    cr_assert_eq(LOADS("(lp0\ng0\na."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02]q\x00h\x00"
                       "a."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02]q\x00h\x00\x85"
                       "a."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02}q\x00(U\x01kh\x00u."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02]q\x00]h\x00"
                       "aa."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02]2a."), MPROC_EPROTOCOL); /* DUP */
}

Test(pickle, unhashable_keys_bad_text_and_bad_numbers_are_refused)
{
    cr_assert_eq(LOADS("\x80\x02}]K\x01s."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x04\x8f(]\x90."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x04(]\x91."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02\x8f(N\x90."), 0);
    cr_assert_eq(LOADS("\x80\x02X\x01\x00\x00\x00\xff."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02X\x03\x00\x00\x00\xed\xa0\x80."),
                 MPROC_EPROTOCOL);                      /* a surrogate */
    cr_assert_eq(LOADS("U\x01\xe9."), MPROC_EPROTOCOL); /* not ASCII */
    cr_assert_eq(LOADS("S'abc\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("Vabc\\u12\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("V\\ud800\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("Ix\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("I\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("L12x\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("Fabc\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("I12"), MPROC_EPROTOCOL);
}

#define LOADS_TO(o, lit) mproc_obj_loads(o, lit, sizeof(lit) - 1, NULL)

/* Decode lit, compare with want (freed). */
static void
check_text(const char *what, int rc, mproc_obj *got, mproc_obj *want)
{
    cr_assert_eq(rc, 0, "%s: %s", what, mproc_errname(rc));
    cr_expect(mproc_obj_equal(got, want), "%s", what);
    cr_expect_eq(mproc_obj_type(got), mproc_obj_type(want), "%s", what);
    mproc_obj_free(got);
    mproc_obj_free(want);
}

Test(pickle, text_opcodes_decode_as_python_does)
{
    mproc_obj *o = NULL;
    int rc;

    rc = LOADS_TO(&o, "I01\n.");
    check_text("I01", rc, o, TH_OBJ("b", 1));
    rc = LOADS_TO(&o, "I00\n.");
    check_text("I00", rc, o, TH_OBJ("b", 0));
    rc = LOADS_TO(&o, "L-5L\n.");
    check_text("L-5L", rc, o, TH_OBJ("i", -5));
    rc = LOADS_TO(&o, "I-99999999999999999999\n.");
    check_text("big INT", rc, o, big("-99999999999999999999"));
    /* raw-unicode-escape: an even run of backslashes escapes nothing */
    rc = LOADS_TO(&o, "V\\\\u0041\\u0041\xe9\\U0001F600\n.");
    check_text("UNICODE", rc, o,
               TH_OBJ("s", "\\\\u0041A\xc3\xa9\xf0\x9f\x98\x80"));
    rc = LOADS_TO(&o, "S'a\\x41\\101\\n\\''\n.");
    check_text("STRING", rc, o, TH_OBJ("s", "aAA\n'"));
    rc = LOADS_TO(&o, "S\"it's\"\n.");
    check_text("STRING double quotes", rc, o, TH_OBJ("s", "it's"));
    rc = LOADS_TO(&o, "F-2.5e3\n.");
    check_text("FLOAT", rc, o, TH_OBJ("d", -2500.0));
    rc = LOADS_TO(&o, "Finf\n.");
    check_text("FLOAT inf", rc, o, TH_OBJ("d", INFINITY));
}

Test(pickle, loads_checks_its_arguments)
{
    mproc_obj *o = NULL;

    cr_assert_eq(mproc_obj_loads(NULL, "N.", 2, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_obj_loads(&o, NULL, 2, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_obj_loads(&o, NULL, 0, NULL), MPROC_EPROTOCOL);
}

/* Found by make fuzz: containers built from an empty stack (MARK and then
 * TUPLE, LIST, DICT or FROZENSET before anything was pushed), and empty
 * input. */
Test(pickle, empty_containers_from_a_bare_mark_and_empty_input)
{
    static const struct {
        const char *wire;
        const char *repr;
    } cases[] = {
        { "(t.", "()" },
        { "(l.", "[]" },
        { "(d.", "{}" },
        { "\x80\x04(\x91.", "frozenset()" },
    };
    mproc_obj *o = NULL;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mproc_buf r = { 0 };

        cr_assert_eq(
            mproc_obj_loads(&o, cases[i].wire, strlen(cases[i].wire), NULL), 0,
            "%zu", i);
        cr_assert_eq(mproc_obj_repr(o, &r), 0);
        cr_assert_str_eq(r.data, cases[i].repr);
        mproc_buf_free(&r);
        mproc_obj_free(o);
    }
    cr_assert_eq(mproc_obj_loads(&o, "", 0, NULL), MPROC_EPROTOCOL);
    cr_assert_null(o);
}

/* ---- proxy objects --------------------------------------------------------
 */

static mproc_obj *
proxy_of(const char *typeid, const char *address, uint64_t id)
{
    mproc_obj *o = NULL;

    cr_assert_eq(mproc__obj_proxy_new(&o, typeid, address, id), 0);
    return o;
}

/* The id a proxy object names. */
static uint64_t
proxy_id(const mproc_obj *o)
{
    uint64_t id;

    cr_assert_eq(mproc__obj_proxy_get(o, NULL, NULL, &id), 0);
    return id;
}

Test(pickle, a_proxy_is_a_persistent_id_as_python_writes_one)
{
    /* CPython 3.12: a Pickler whose persistent_id returns ("mproc.proxy",
     * "dict", "unix:@x", 5) writes these bytes but for the memo entry
     * after the BINPERSID (q\x04 and \x94, so the frame is one longer),
     * which it never writes for a persistent object. */
    static const char *const want[] = {
        "800228580b0000006d70726f632e70726f787971005804000000646963747101"
        "5807000000756e69783a407871024b05747103517104"
        "2e",
        "800328580b0000006d70726f632e70726f787971005804000000646963747101"
        "5807000000756e69783a407871024b05747103517104"
        "2e",
        "8004952700000000000000288c0b6d70726f632e70726f7879948c0464696374"
        "948c07756e69783a4078944b0574945194"
        "2e",
        "8005952700000000000000288c0b6d70726f632e70726f7879948c0464696374"
        "948c07756e69783a4078944b0574945194"
        "2e",
    };
    mproc_obj *o = proxy_of("dict", "unix:@x", 5), *back;

    for (int p = 2; p <= 5; p++) {
        mproc_buf out = { 0 };
        char *hex;

        cr_assert_eq(mproc_obj_dumps(o, &out, p), 0);
        hex = to_hex(&out);
        cr_assert_str_eq(hex, want[p - 2], "protocol %d", p);
        cr_assert_eq(loads_hex(hex, &back, NULL), 0);
        cr_assert_eq(mproc_obj_type(back), MPROC_OBJ_PROXY);
        cr_assert(mproc_obj_equal(back, o));
        mproc_obj_free(back);
        free(hex);
        mproc_buf_free(&out);
    }
    mproc_obj_free(o);
    /* 2^64 - 1 is a LONG1 of 9 bytes, as Python writes it. */
    o = proxy_of("dict", "unix:@x", UINT64_MAX);
    {
        mproc_buf out = { 0 };
        char *hex;

        cr_assert_eq(mproc_obj_dumps(o, &out, 4), 0);
        hex = to_hex(&out);
        cr_assert_str_eq(hex, "8004953000000000000000288c0b6d70726f632e70726f"
                              "7879948c0464696374948c07756e69783a4078948a09ff"
                              "ffffffffffffff0074945194"
                              "2e");
        free(hex);
        mproc_buf_free(&out);
    }
    mproc_obj_free(o);
}

Test(pickle, proxies_round_trip_alone_and_inside_containers)
{
    static const uint64_t ids[] = { 0,         1,
                                    255,       65536,
                                    INT32_MAX, (uint64_t)INT32_MAX + 1,
                                    INT64_MAX, (uint64_t)INT64_MAX + 1,
                                    UINT64_MAX };
    char address[MPROC__PROXY_ADDRESS_MAX + 1];
    mproc_obj *long_address, *many, *p;

    memset(address, 'a', MPROC__PROXY_ADDRESS_MAX);
    address[MPROC__PROXY_ADDRESS_MAX] = '\0';
    long_address = proxy_of("Queue", address, 7);
    many = TH_OBJ("[]");
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        p = proxy_of("list", "tcp://127.0.0.1:5000", ids[i]);
        cr_assert_eq(mproc_obj_list_append(many, p), 0);
        mproc_obj_free(p);
    }
    p = proxy_of("d\xc3\xa9", "unix:@mproc-1", 3);
    {
        mproc_obj *objects[] = {
            TH_OBJ("O", p),
            TH_OBJ("O", long_address),
            TH_OBJ("O", many),
            TH_OBJ("{O:O, s:[O (O i)]}", p, long_address, "k", p, many, 1),
        };

        for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
            for (int proto = 2; proto <= 5; proto++) {
                mproc_buf out = { 0 };
                mproc_obj *back = NULL;

                cr_assert_eq(mproc_obj_dumps(objects[i], &out, proto), 0);
                cr_assert_eq(mproc_obj_loads(&back, out.data, out.len, NULL), 0,
                             "object %zu, protocol %d", i, proto);
                cr_assert(mproc_obj_equal(back, objects[i]),
                          "object %zu, protocol %d", i, proto);
                mproc_obj_free(back);
                mproc_buf_free(&out);
            }
            mproc_obj_free(objects[i]);
        }
    }
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        mproc_obj *item;

        cr_assert_eq(mproc_obj_get(many, i, &item), 0);
        cr_assert_eq(proxy_id(item), ids[i]);
    }
    mproc_obj_free(p);
    mproc_obj_free(many);
    mproc_obj_free(long_address);
}

static size_t
count_byte(const mproc_buf *b, unsigned char c)
{
    size_t n = 0;

    for (size_t i = 0; i < b->len; i++)
        n += ((const unsigned char *)b->data)[i] == c;
    return n;
}

Test(pickle, a_proxy_met_twice_is_one_object_after_loads)
{
    mproc_obj *p = proxy_of("dict", "unix:@x", 9);
    mproc_obj *o = TH_OBJ("[O O {O:O}]", p, p, p, p), *back = NULL;
    mproc_obj *a, *b, *d, *k, *v;
    mproc_buf out = { 0 };

    for (int proto = 2; proto <= 5; proto++) {
        cr_assert_eq(mproc_obj_dumps(o, &out, proto), 0);
        /* One persistent id (no other byte here is a 'Q'); the rest are
         * memo GETs. */
        cr_assert_eq(count_byte(&out, 'Q'), 1, "protocol %d", proto);
        cr_assert_eq(mproc_obj_loads(&back, out.data, out.len, NULL), 0);
        cr_assert_eq(mproc_obj_get(back, 0, &a), 0);
        cr_assert_eq(mproc_obj_get(back, 1, &b), 0);
        cr_assert_eq(mproc_obj_get(back, 2, &d), 0);
        cr_assert_eq(mproc_obj_dict_item(d, 0, &k, &v), 0);
        cr_assert_eq(mproc_obj_type(a), MPROC_OBJ_PROXY);
        cr_assert(a == b && b == k && k == v, "protocol %d", proto);
        cr_assert(mproc_obj_equal(a, p));
        mproc_obj_free(back);
        mproc_buf_free(&out);
    }
    mproc_obj_free(o);
    mproc_obj_free(p);
}

/* loads of the protocol 2 pickle of pid followed by BINPERSID. */
static int
loads_persid(mproc_obj *pid, mproc_obj **back)
{
    mproc_buf out = { 0 };
    unsigned char *data;
    int rc;

    cr_assert_eq(mproc_obj_dumps(pid, &out, 2), 0);
    data = malloc(out.len + 1);
    memcpy(data, out.data, out.len - 1); /* without the STOP */
    memcpy(data + out.len - 1, "Q.", 2);
    *back = (mproc_obj *)1;
    rc = mproc_obj_loads(back, data, out.len + 1, NULL);
    if (rc < 0)
        cr_assert_null(*back);
    free(data);
    mproc_buf_free(&out);
    mproc_obj_free(pid);
    return rc;
}

Test(pickle, a_persistent_id_but_a_proxys_is_refused)
{
    char typeid[66], address[4098];
    mproc_obj *back, *two64 = big("18446744073709551616");
    mproc_obj *max = TH_OBJ("I", (int64_t)INT64_MAX);
    mproc_obj *bad[] = {
        TH_OBJ("(s s s)", "mproc.proxy", "dict", "unix:@x"),
        TH_OBJ("(s s s i i)", "mproc.proxy", "dict", "unix:@x", 1, 2),
        TH_OBJ("[s s s i]", "mproc.proxy", "dict", "unix:@x", 1),
        TH_OBJ("(s s s i)", "mproc.proxz", "dict", "unix:@x", 1),
        TH_OBJ("(s s s i)", "mproc.prox", "dict", "unix:@x", 1),
        TH_OBJ("(y s s i)", "mproc.proxy", (size_t)11, "dict", "unix:@x", 1),
        TH_OBJ("(s s s i)", "mproc.proxy", "", "unix:@x", 1),
        TH_OBJ("(s s s i)", "mproc.proxy", "dict", "", 1),
        TH_OBJ("(s y s i)", "mproc.proxy", "dict", (size_t)4, "unix:@x", 1),
        TH_OBJ("(s s n i)", "mproc.proxy", "dict", 1),
        TH_OBJ("(s s s i)", "mproc.proxy", "dict", "unix:@x", -1),
        TH_OBJ("(s s s I)", "mproc.proxy", "dict", "unix:@x",
               (int64_t)INT64_MIN),
        TH_OBJ("(s s s O)", "mproc.proxy", "dict", "unix:@x", two64),
        TH_OBJ("(s s s b)", "mproc.proxy", "dict", "unix:@x", 1),
        TH_OBJ("(s s s d)", "mproc.proxy", "dict", "unix:@x", 1.0),
        TH_OBJ("(s s s s)", "mproc.proxy", "dict", "unix:@x", "1"),
        TH_OBJ("((s s s i))", "mproc.proxy", "dict", "unix:@x", 1),
        TH_OBJ("s", "mproc.proxy"),
        NULL,
        NULL,
        NULL,
    };
    size_t n = sizeof(bad) / sizeof(bad[0]) - 3;

    memset(typeid, 't', 65);
    typeid[65] = '\0';
    memset(address, 'a', 4097);
    address[4097] = '\0';
    bad[n++] = TH_OBJ("(s s s i)", "mproc.proxy", typeid, "unix:@x", 1);
    bad[n++] = TH_OBJ("(s s s i)", "mproc.proxy", "dict", address, 1);
    cr_assert_eq(mproc_obj_str(&back, "di\0ct", 5), 0);
    bad[n++] = TH_OBJ("(s O s i)", "mproc.proxy", back, "unix:@x", 1);
    mproc_obj_free(back);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(loads_persid(bad[i], &back), MPROC_EPROTOCOL, "case %zu",
                     i);
    mproc_obj_free(two64);
    /* The control: the same path with a proxy's tuple, at the limits. */
    typeid[64] = '\0';
    address[4096] = '\0';
    cr_assert_eq(
        loads_persid(TH_OBJ("(s s s O)", "mproc.proxy", typeid, address, max),
                     &back),
        0);
    cr_assert_eq(proxy_id(back), INT64_MAX);
    mproc_obj_free(back);
    mproc_obj_free(max);
}

Test(pickle, persistent_ids_without_a_tuple_below_are_refused)
{
    /* nothing on the stack; the tuple below a mark; the text PERSID */
    cr_assert_eq(LOADS("\x80\x02Q."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02(U\x0bmproc.proxyU\x04"
                       "dictU\x07unix:@xK\x05t(Q."),
                 MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("\x80\x02(U\x0bmproc.proxyU\x04"
                       "dictU\x07unix:@xK\x05tQ."),
                 0);
    cr_assert_eq(LOADS("(S'mproc.proxy'\nS'dict'\nS'unix:@x'\nI5\ntQ."), 0);
    cr_assert_eq(LOADS("Pmproc.proxy\n."), MPROC_EPROTOCOL);
    cr_assert_eq(LOADS("(S'mproc.proxy'\nS'dict'\nS'unix:@x'\nI5\nt0P5\n."),
                 MPROC_EPROTOCOL);
}

Test(pickle, every_truncation_of_a_proxy_pickle_fails_cleanly)
{
    mproc_obj *p = proxy_of("dict", "unix:@x", UINT64_MAX);
    mproc_obj *o = TH_OBJ("[O O]", p, p);

    for (int proto = 2; proto <= 5; proto++) {
        mproc_buf out = { 0 };

        cr_assert_eq(mproc_obj_dumps(o, &out, proto), 0);
        for (size_t cut = 0; cut < out.len; cut++)
            cr_assert_eq(loads_raw(out.data, cut, NULL), MPROC_EPROTOCOL,
                         "protocol %d cut at %zu", proto, cut);
        mproc_buf_free(&out);
    }
    mproc_obj_free(o);
    mproc_obj_free(p);
}
