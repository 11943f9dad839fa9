/*
 * tests/fuzz/pickle.c - libFuzzer harness for the pickle decoder
 * (make fuzz). Any input must decode or fail with a code, never crash,
 * hang or leak; what decodes must encode and decode again to an equal
 * object.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static bool
same_repr(const mproc_obj *a, const mproc_obj *b)
{
    mproc_buf ra = { 0 }, rb = { 0 };
    bool same;

    /* Too deep to print (MPROC_ETOOBIG) on both sides counts as same. */
    same = (mproc_obj_repr(a, &ra) == 0) == (mproc_obj_repr(b, &rb) == 0) &&
           ra.len == rb.len &&
           (ra.len == 0 || !memcmp(ra.data, rb.data, ra.len));
    mproc_buf_free(&ra);
    mproc_buf_free(&rb);
    return same;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    mproc_obj *o = NULL, *again = NULL;
    mproc_buf wire = { 0 };

    if (mproc_obj_loads(&o, data, len, NULL) != 0)
        return 0;
    /* Objects the decoder accepts are data mproc itself can write; an
     * encoding may still be refused (nesting past the encoder's limit). */
    if (mproc_obj_dumps(o, &wire, 5) == 0) {
        if (mproc_obj_loads(&again, wire.data, wire.len, NULL) != 0)
            abort();
        /* Compared by repr: a NaN is not equal to another NaN, and the
         * copy's NaNs are other objects. */
        if (!same_repr(o, again))
            abort();
    }
    mproc_buf_free(&wire);
    mproc_obj_free(again);
    mproc_obj_free(o);
    return 0;
}
