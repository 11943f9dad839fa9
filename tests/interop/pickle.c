/*
 * tests/interop/pickle.c - objects between mproc and real Pythons
 * (tests/interop/peer.py, mode "objects"): a Python Connection on an end of
 * an mproc_pipe sends a corpus with send() (ints of every size and sign,
 * NaN, infinities and -0.0, non-BMP text, empty and large str and bytes,
 * nested and shared containers, tuples and frozensets as dict keys), which
 * mproc_conn_recv_obj must decode to objects equal to the same corpus
 * built here in C; then mproc_conn_send_obj sends the C corpus and Python
 * checks each object's value and type. A pickle naming a class is refused
 * and the stream stays in sync; that is how Python sends a bytearray in
 * protocol 4, so a bytearray crosses from C to Python only. A proxy object
 * (a persistent id) sent to Python makes its recv() raise UnpicklingError,
 * and the stream stays in sync. Every case runs under each Python at hand.
 */
#include "helpers/th.h"
#include "interop/python.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(interop_pickle, .init = th_begin, .fini = th_end, .timeout = 60);

/* An int from its decimal text. */
static mproc_obj *
int_text(const char *text)
{
    mproc_obj *o = NULL;

    cr_assert_eq(mproc_obj_int_from_string(&o, text), 0, "%s", text);
    return o;
}

/* +-2**1000: 125 zero bytes, then 1 (or -1) as the top byte. */
static mproc_obj *
power_1000(bool negative)
{
    unsigned char le[126] = { 0 };
    mproc_obj *o = NULL;

    le[125] = negative ? 0xff : 0x01;
    cr_assert_eq(mproc_obj_int_from_bytes(&o, le, sizeof(le)), 0);
    return o;
}

static mproc_obj *
filled(enum mproc_obj_type type, int c, size_t n)
{
    char *b = malloc(n);
    mproc_obj *o = NULL;

    memset(b, c, n);
    if (type == MPROC_OBJ_STR)
        cr_assert_eq(mproc_obj_str(&o, b, n), 0);
    else
        cr_assert_eq(mproc_obj_bytes(&o, b, n), 0);
    free(b);
    return o;
}

static mproc_obj *
every_byte(void)
{
    unsigned char b[256];

    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (unsigned char)i;
    return TH_OBJ("y", b, sizeof(b));
}

/* A set (or frozenset) of what `fmt` builds as a list. */
static mproc_obj *
set_from(bool frozen, mproc_obj *list)
{
    mproc_obj *o = NULL, *item;
    size_t n;

    cr_assert_eq(mproc_obj_len(list, &n), 0);
    cr_assert_eq(mproc_obj_set(&o), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(mproc_obj_get(list, i, &item), 0);
        cr_assert_eq(mproc_obj_set_add(o, item), 0);
    }
    if (frozen) {
        mproc_obj *items[8];
        mproc_obj *f = NULL;

        for (size_t i = 0; i < n; i++)
            cr_assert_eq(mproc_obj_set_item(o, i, &items[i]), 0);
        cr_assert_eq(mproc_obj_frozenset(&f, items, n), 0);
        mproc_obj_free(o);
        o = f;
    }
    mproc_obj_free(list);
    return o;
}

static mproc_obj *
keyed_dict(void)
{
    mproc_obj *fs = set_from(true, TH_OBJ("[i]", 1));
    mproc_obj *o =
        TH_OBJ("{(i s):s, (i (i i)):[i], d:s, n:i, y:i, O:i}", 1, "a",
               "tuple key", 2, 3, 4, 5, 1.5, "f", 0, "k", (size_t)1, 1, fs, 2);

    mproc_obj_free(fs);
    return o;
}

static mproc_obj *
shared_list(void)
{
    mproc_obj *x = TH_OBJ("[i i]", 1, 2);
    mproc_obj *o = TH_OBJ("[O O (O)]", x, x, x);

    mproc_obj_free(x);
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

static mproc_obj *
numbered_dict(int n)
{
    mproc_obj *o = TH_OBJ("{}");

    for (int i = 0; i < n; i++) {
        char text[16];
        mproc_obj *key, *value;

        snprintf(text, sizeof(text), "%d", i);
        key = TH_OBJ("s", text);
        value = TH_OBJ("i", i);
        cr_assert_eq(mproc_obj_dict_set(o, key, value), 0);
        mproc_obj_free(key);
        mproc_obj_free(value);
    }
    return o;
}

/* Where corpus() puts [x, x, (x,)]. */
static size_t shared_at;

/* peer.py's objects(), in its order; the caller frees each. */
static size_t
corpus(mproc_obj **out)
{
    size_t n = 0;

    out[n++] = TH_OBJ("i", 0);
    out[n++] = TH_OBJ("i", 1);
    out[n++] = TH_OBJ("i", -1);
    out[n++] = TH_OBJ("i", 255);
    out[n++] = TH_OBJ("i", 256);
    out[n++] = TH_OBJ("i", 65535);
    out[n++] = TH_OBJ("i", 65536);
    out[n++] = TH_OBJ("i", -129);
    out[n++] = TH_OBJ("I", (int64_t)INT32_MAX);
    out[n++] = TH_OBJ("I", (int64_t)INT32_MAX + 1);
    out[n++] = TH_OBJ("I", (int64_t)INT32_MIN);
    out[n++] = TH_OBJ("I", (int64_t)INT32_MIN - 1);
    out[n++] = TH_OBJ("I", INT64_MAX);
    out[n++] = int_text("9223372036854775808");
    out[n++] = TH_OBJ("I", INT64_MIN);
    out[n++] = int_text("-9223372036854775809");
    out[n++] = int_text("18446744073709551616");
    out[n++] = power_1000(false);
    out[n++] = power_1000(true);
    out[n++] = TH_OBJ("d", 1.5);
    out[n++] = TH_OBJ("d", -0.0);
    out[n++] = TH_OBJ("d", INFINITY);
    out[n++] = TH_OBJ("d", -INFINITY);
    out[n++] = TH_OBJ("d", NAN);
    out[n++] = TH_OBJ("d", 1e-300);
    out[n++] = TH_OBJ("s", "");
    out[n++] = TH_OBJ("s", "h\xc3\xa9llo");
    out[n++] = TH_OBJ("s", "\xf0\x9f\x98\x80 non-BMP \xf0\x9d\x84\x9e");
    out[n++] = filled(MPROC_OBJ_STR, 'x', 100000);
    out[n++] = TH_OBJ("y", "", (size_t)0);
    out[n++] = every_byte();
    out[n++] = filled(MPROC_OBJ_BYTES, 0, 100000);
    out[n++] = TH_OBJ("n");
    out[n++] = TH_OBJ("b", 1);
    out[n++] = TH_OBJ("b", 0);
    out[n++] = TH_OBJ("[]");
    out[n++] = TH_OBJ("()");
    out[n++] = TH_OBJ("{}");
    out[n++] = set_from(false, TH_OBJ("[]"));
    out[n++] = set_from(true, TH_OBJ("[]"));
    out[n++] = TH_OBJ("[i [i [i [i]]]]", 1, 2, 3, 4);
    out[n++] = TH_OBJ("(i (i i) [i])", 1, 2, 3, 4);
    out[n++] = TH_OBJ("{s:{s:{s:n}}}", "a", "b", "c");
    out[n++] = keyed_dict();
    shared_at = n;
    out[n++] = shared_list();
    out[n++] = set_from(false, TH_OBJ("[i i i]", 1, 2, 3));
    out[n++] = set_from(true, TH_OBJ("[s s]", "x", "y"));
    out[n++] = range_list(3000);
    out[n++] = numbered_dict(1500);
    return n;
}

static bool
is_nan(const mproc_obj *o)
{
    double v;

    return mproc_obj_type(o) == MPROC_OBJ_FLOAT &&
           mproc_obj_float_value(o, &v) == 0 && isnan(v);
}

static void
exchange_objects(const char *version)
{
    static const char proxy_pickle[] = "\x80\x02(U\x0bmproc.proxyU\x04"
                                       "dictU\x07unix:@xK\x05tQ.";
    char python[PATH_MAX], out[512];
    mproc_obj *want[64], *got = NULL, *a, *b, *t, *c;
    mproc_conn *ours, *theirs;
    struct peer peer;
    size_t n = corpus(want);
    int rc;

    python_or_skip(version, python, sizeof(python));
    cr_assert_eq(mproc_pipe(&ours, &theirs, true), 0);
    peer = peer_start(python, (const char *[]){ "objects", "3", NULL },
                      mproc_conn_fileno(theirs));
    mproc_conn_free(theirs);

    for (size_t i = 0; i < n; i++) {
        rc = mproc_conn_recv_obj(ours, &got, STEP_TIMEOUT);
        cr_assert_eq(rc, 0, "object %zu: %s", i, mproc_errname(rc));
        cr_expect_eq(mproc_obj_type(got), mproc_obj_type(want[i]), "object %zu",
                     i);
        cr_expect(mproc_obj_equal(got, want[i]) ||
                      (is_nan(got) && is_nan(want[i])),
                  "object %zu differs", i);
        if (i == shared_at) {
            cr_assert_eq(mproc_obj_get(got, 0, &a), 0);
            cr_assert_eq(mproc_obj_get(got, 1, &b), 0);
            cr_assert_eq(mproc_obj_get(got, 2, &t), 0);
            cr_assert_eq(mproc_obj_get(t, 0, &c), 0);
            cr_expect(a == b && b == c, "the shared list is not shared");
        }
        mproc_obj_free(got);
    }
    /* complex(1, 2) names a class: refused, and the stream goes on */
    cr_assert_eq(mproc_conn_recv_obj(ours, &got, STEP_TIMEOUT),
                 MPROC_EPROTOCOL);
    cr_assert_null(got);
    cr_assert_eq(mproc_conn_recv_obj(ours, &got, STEP_TIMEOUT), 0);
    cr_assert_str_eq(mproc_obj_str_value(got, NULL), "after");
    mproc_obj_free(got);

    for (size_t i = 0; i < n; i++) {
        rc = mproc_conn_send_obj(ours, want[i]);
        cr_assert_eq(rc, 0, "send object %zu: %s", i, mproc_errname(rc));
    }
    cr_assert_eq(mproc_conn_send_obj(ours, want[shared_at]), 0);
    /* Python pickles a bytearray naming its class: only C sends one */
    cr_assert_eq(mproc_obj_bytearray(&got, "abc", 3), 0);
    cr_assert_eq(mproc_conn_send_obj(ours, got), 0);
    mproc_obj_free(got);
    /* A proxy object, read from its pickle (a persistent id, BINPERSID of
     * ("mproc.proxy", "dict", "unix:@x", 5)): Python has no persistent_load
     * and refuses it; then "after" */
    cr_assert_eq(
        mproc_obj_loads(&got, proxy_pickle, sizeof(proxy_pickle) - 1, NULL), 0);
    cr_assert_eq(mproc_obj_type(got), MPROC_OBJ_PROXY);
    cr_assert_eq(mproc_conn_send_obj(ours, got), 0);
    mproc_obj_free(got);
    got = TH_OBJ("s", "after");
    cr_assert_eq(mproc_conn_send_obj(ours, got), 0);
    mproc_obj_free(got);
    cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    mproc_conn_free(ours);
    for (size_t i = 0; i < n; i++)
        mproc_obj_free(want[i]);
}

Test(interop_pickle, python3_objects_cross_both_ways)
{
    exchange_objects("3");
}

Test(interop_pickle, python3_12_objects_cross_both_ways)
{
    exchange_objects("3.12");
}

Test(interop_pickle, python3_13_objects_cross_both_ways)
{
    exchange_objects("3.13");
}
