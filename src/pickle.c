/*
 * pickle.c - mproc_obj_dumps and mproc_obj_loads: Python's pickle for the
 * objects of value.h. Both walk the objects' layout (value/value.h)
 * directly rather than through the public accessors: this is the hot path
 * of every object that crosses a connection or a queue.
 *
 * The encoder writes what CPython's Pickler writes, byte for byte: the same
 * opcodes, the same memo (an object is memoized once, by identity, and
 * later written as a GET), the same batches of 1000, and for protocol 4+
 * the same frames: a frame is cut when it has reached 64 KiB at the start
 * of an object, gets its FRAME header only when it holds at least 4 bytes,
 * and a str or bytes payload of 64 KiB or more is written outside any
 * frame. What protocols 2 and 3 cannot say natively (sets, bytearrays,
 * bytes in protocol 2) is written as Python writes it, a GLOBAL and a
 * REDUCE, for Python peers: mproc's own decoder refuses those. A proxy
 * object, which Python has no form for, is a persistent id (BINPERSID of
 * the tuple ("mproc.proxy", typeid, address, id)): Python refuses it, and
 * it is the only BINPERSID mproc's decoder reads.
 *   Layout: PROTO n | [FRAME u64-le-len] opcodes ... | STOP
 * Invariant of the encoder: a list or dict is memoized before its items
 * are written and stays on the `open` stack until they are; a memo hit on
 * an open object means it contains itself (refused), and every cycle
 * passes through a list or a dict, the only containers that change.
 *
 * The decoder runs the data opcodes of protocols 0 to 5 on a stack with
 * marks (Python's metastack: opcodes only see the items above the last
 * mark) and never imports or calls anything. Every length is checked
 * against the input left before anything is allocated. Invariant of the
 * decoder: a list, dict or set that has been put into another container is
 * sealed and takes no more items, so no object can come to contain itself
 * (the edge that would close a cycle always adds to a sealed container);
 * Python's pickler only adds to containers it has not yet placed, so no
 * pickle of non-recursive data is refused by this rule. Depth and seal are
 * kept in a record per container, carried beside the object in every stack
 * and memo slot.
 */
#include "mproc/value.h"
#include "value/internal.h"
#include "value/proxy.h"

#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* pickle.py's _Framer._FRAME_SIZE_TARGET / _FRAME_SIZE_MIN, and the
 * Pickler's batch size for APPENDS, SETITEMS and ADDITEMS. */
#define FRAME_TARGET ((size_t)64 * 1024)
#define FRAME_MIN 4
#define FRAME_HEADER 9
#define BATCH 1000
/* Nesting the encoder follows before refusing (its recursion uses the C
 * stack; Python's own limit is 1000). */
#define MAX_DUMP_DEPTH 10000
#define DEFAULT_MAX_DEPTH 1000
#define DEFAULT_MAX_MEMO 1000000

enum {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_POP = '0',
    OP_POP_MARK = '1',
    OP_DUP = '2',
    OP_FLOAT = 'F',
    OP_INT = 'I',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_LONG = 'L',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_PERSID = 'P',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_STRING = 'S',
    OP_BINSTRING = 'T',
    OP_SHORT_BINSTRING = 'U',
    OP_UNICODE = 'V',
    OP_BINUNICODE = 'X',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_DICT = 'd',
    OP_EMPTY_DICT = '}',
    OP_APPENDS = 'e',
    OP_GET = 'g',
    OP_BINGET = 'h',
    OP_INST = 'i',
    OP_LONG_BINGET = 'j',
    OP_LIST = 'l',
    OP_EMPTY_LIST = ']',
    OP_OBJ = 'o',
    OP_PUT = 'p',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')',
    OP_SETITEMS = 'u',
    OP_BINFLOAT = 'G',
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    OP_PROTO = 0x80,
    OP_NEWOBJ = 0x81,
    OP_EXT1 = 0x82,
    OP_EXT2 = 0x83,
    OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_LONG4 = 0x8b,
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f,
    OP_ADDITEMS = 0x90,
    OP_FROZENSET = 0x91,
    OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
    OP_BYTEARRAY8 = 0x96,
    OP_NEXT_BUFFER = 0x97,
    OP_READONLY_BUFFER = 0x98,
};

/* ---- a map from pointers to numbers --------------------------------------
 * The encoder's memo: open addressing with linear probing, at most half
 * full so a miss (every new object is one) ends within a few slots; keys
 * are only added, each once. */

struct ptrslot {
    const void *key; /* NULL: empty */
    uint64_t val;
};

struct ptrmap {
    struct ptrslot *slots;
    size_t cap;     /* a power of two, or 0 */
    unsigned shift; /* 64 - log2(cap): the hash's top bits pick the slot */
    size_t n;
};

/* Fibonacci hashing: the product's top bits depend on every bit of the
 * address, where its low bits would not. */
static size_t
ptr_slot(const void *key, unsigned shift)
{
    return (size_t)(((uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15u) >> shift);
}

static uint64_t *
ptrmap_find(const struct ptrmap *m, const void *key)
{
    size_t i;

    if (m->cap == 0)
        return NULL;
    for (i = ptr_slot(key, m->shift); m->slots[i].key != NULL;
         i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key)
            return &m->slots[i].val;
    }
    return NULL;
}

static int
ptrmap_grow(struct ptrmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    unsigned shift = m->cap ? m->shift - 1 : 64 - 6;
    struct ptrslot *slots = calloc(cap, sizeof(*slots));
    size_t i, j;

    if (slots == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < m->cap; i++) {
        if (m->slots[i].key == NULL)
            continue;
        for (j = ptr_slot(m->slots[i].key, shift); slots[j].key != NULL;
             j = (j + 1) & (cap - 1))
            ;
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->shift = shift;
    return 0;
}

/* Add a key that is not in the map yet. */
static int
ptrmap_add(struct ptrmap *m, const void *key, uint64_t val)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap && ptrmap_grow(m) < 0)
        return MPROC_ENOMEM;
    for (i = ptr_slot(key, m->shift); m->slots[i].key != NULL;
         i = (i + 1) & (m->cap - 1))
        ;
    m->slots[i] = (struct ptrslot){ key, val };
    m->n++;
    return 0;
}

static void
ptrmap_free(struct ptrmap *m)
{
    free(m->slots);
}

/* ---- encoding --------------------------------------------------------------
 */

/* Stand-ins for the Python objects a GLOBAL/REDUCE form memoizes (the
 * callable, and the 'latin1' of protocol 2's bytes): their addresses are
 * memo keys that no mproc_obj can have. */
static const char G_BYTES, G_ENCODE, G_LATIN1, G_SET, G_FROZENSET, G_BYTEARRAY;

struct enc {
    unsigned char *p;
    size_t len, cap;
    int err; /* sticky: the first allocation failure (see enc_fail) */
    int proto;
    bool framing;
    size_t frame_start; /* offset of the frame's reserved header */
    size_t frame_due;   /* the length at which the frame is cut; SIZE_MAX
                         * while no frame is open */
    size_t memo_len;
    struct ptrmap memo;     /* object -> memo index */
    const mproc_obj **open; /* the lists and dicts being written */
    size_t nopen, open_cap;
};

/* Record the first failure. The room left becomes none, so every later
 * write takes enc_grow's slow path, which sees the error: the writes'
 * fast path needs no check of its own. */
static void
enc_fail(struct enc *e, int rc)
{
    if (e->err == 0)
        e->err = rc;
    e->cap = e->len;
}

/* enc_room's slow path, kept out of line so the check inlines at each of
 * the many small writes. */
static unsigned char *
enc_grow(struct enc *e, size_t n)
{
    size_t cap = e->cap ? e->cap : 256;
    unsigned char *grown;

    if (e->err)
        return NULL;
    while (cap - e->len < n) {
        if (cap > SIZE_MAX / 2) {
            enc_fail(e, MPROC_ENOMEM);
            return NULL;
        }
        cap *= 2;
    }
    grown = realloc(e->p, cap);
    if (grown == NULL) {
        enc_fail(e, MPROC_ENOMEM);
        return NULL;
    }
    e->p = grown;
    e->cap = cap;
    return e->p + e->len;
}

/* Room for n more bytes: where they go, or NULL after a failure. */
static inline unsigned char *
enc_room(struct enc *e, size_t n)
{
    if (e->cap - e->len >= n)
        return e->p + e->len;
    return enc_grow(e, n);
}

static void
enc_write(struct enc *e, const void *data, size_t n)
{
    unsigned char *at = enc_room(e, n);

    if (at == NULL)
        return;
    if (n > 0)
        memcpy(at, data, n);
    e->len += n;
}

static void
enc_op(struct enc *e, unsigned char op)
{
    unsigned char *at = enc_room(e, 1);

    if (at == NULL)
        return;
    *at = op;
    e->len++;
}

/* An opcode and its little-endian argument of `width` bytes (at most 8).
 * Inline: the width is a constant at every call, so the store is one
 * move on a little-endian machine. */
static inline void
enc_op_le(struct enc *e, unsigned char op, uint64_t v, size_t width)
{
    unsigned char *at = enc_room(e, 1 + width);

    if (at == NULL)
        return;
    at[0] = op;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(at + 1, &v, width);
#else
    for (size_t i = 0; i < width; i++)
        at[1 + i] = (unsigned char)(v >> (8 * i));
#endif
    e->len += 1 + width;
}

static void
frame_open(struct enc *e)
{
    if (enc_room(e, FRAME_HEADER) == NULL)
        return;
    e->frame_start = e->len;
    e->frame_due = e->len + FRAME_HEADER + FRAME_TARGET;
    e->len += FRAME_HEADER;
}

/* Close the current frame (when forced, or when it has reached the
 * target): a header for 4 bytes or more, else the bytes bare. */
static void
frame_commit(struct enc *e, bool force, bool reopen)
{
    size_t data_len;

    if (!e->framing || e->err)
        return;
    data_len = e->len - e->frame_start - FRAME_HEADER;
    if (data_len < FRAME_TARGET && !force)
        return;
    e->frame_due = SIZE_MAX;
    if (data_len >= FRAME_MIN) {
        e->p[e->frame_start] = OP_FRAME;
        for (size_t i = 0; i < 8; i++)
            e->p[e->frame_start + 1 + i] =
                (unsigned char)((uint64_t)data_len >> (8 * i));
    } else {
        memmove(e->p + e->frame_start, e->p + e->frame_start + FRAME_HEADER,
                data_len);
        e->len -= FRAME_HEADER;
    }
    if (reopen)
        frame_open(e);
}

/* The check before each object (pickle.py's commit_frame()): cut the
 * frame once it has reached the target. Inline, as it is rarely due. */
static inline void
frame_cut_if_due(struct enc *e)
{
    if (e->len >= e->frame_due)
        frame_commit(e, false, true);
}

/* pickle.py's _write_large_bytes: a big payload goes outside frames. */
static void
enc_large(struct enc *e, unsigned char op, uint64_t n, size_t width,
          const void *payload)
{
    frame_commit(e, true, false);
    enc_op_le(e, op, n, width);
    enc_write(e, payload, (size_t)n);
    if (e->framing)
        frame_open(e);
}

static void
enc_get(struct enc *e, uint64_t idx)
{
    if (idx < 256)
        enc_op_le(e, OP_BINGET, idx, 1);
    else
        enc_op_le(e, OP_LONG_BINGET, idx, 4);
}

/* Write the PUT for the next memo index and record key there (NULL: an
 * object no one can refer to again, which still takes an index). */
static void
memoize(struct enc *e, const void *key)
{
    size_t idx = e->memo_len++;

    if (e->proto >= 4)
        enc_op(e, OP_MEMOIZE);
    else if (idx < 256)
        enc_op_le(e, OP_BINPUT, idx, 1);
    else
        enc_op_le(e, OP_LONG_BINPUT, idx, 4);
    if (key != NULL && !e->err && ptrmap_add(&e->memo, key, idx) < 0)
        enc_fail(e, MPROC_ENOMEM);
}

/* The memo key of an object: NULL when it is held once, so it cannot be
 * met again in this walk (a second meeting needs a second reference), and
 * memoizing it would only fill the map. The PUT is written either way, so
 * the bytes stay CPython's. Relaxed: o is not changed while it is written. */
static const void *
memo_key(const mproc_obj *o)
{
    return atomic_load_explicit(&o->refs, memory_order_relaxed) > 1 ? o : NULL;
}

/* pickle.py's save() prologue: cut the frame if due, then a memo hit is
 * written as a GET. Returns true when the object was a hit. */
static bool
save_begin(struct enc *e, const void *key)
{
    uint64_t *found;

    frame_cut_if_due(e);
    found = ptrmap_find(&e->memo, key);
    if (found == NULL)
        return false;
    enc_get(e, *found);
    return true;
}

static void
save_text(struct enc *e, const char *utf8, size_t n, const void *key)
{
    if (n <= 0xff && e->proto >= 4)
        enc_op_le(e, OP_SHORT_BINUNICODE, n, 1);
    else if ((uint64_t)n > 0xffffffffu)
        enc_large(e, OP_BINUNICODE8, n, 8, utf8);
    else if (n >= FRAME_TARGET)
        enc_large(e, OP_BINUNICODE, n, 4, utf8);
    else
        enc_op_le(e, OP_BINUNICODE, n, 4);
    if (n <= 0xffffffffu && n < FRAME_TARGET)
        enc_write(e, utf8, n);
    memoize(e, key);
}

/* A callable named by module and name, as save_global writes it. A name
 * in builtins takes Python 2's module name before protocol 3, as
 * fix_imports has it. */
static void
save_global(struct enc *e, const char *key, const char *module,
            const char *name)
{
    if (strcmp(module, "builtins") == 0 && e->proto < 3)
        module = "__builtin__";
    if (save_begin(e, key))
        return;
    if (e->proto >= 4) {
        save_begin(e, NULL);
        save_text(e, module, strlen(module), NULL);
        save_begin(e, NULL);
        save_text(e, name, strlen(name), NULL);
        enc_op(e, OP_STACK_GLOBAL);
    } else {
        enc_op(e, OP_GLOBAL);
        enc_write(e, module, strlen(module));
        enc_op(e, '\n');
        enc_write(e, name, strlen(name));
        enc_op(e, '\n');
    }
    memoize(e, key);
}

static inline int save(struct enc *e, const mproc_obj *o, size_t depth);

/* bytes.decode('latin1') as a str: each byte a code point, so a byte of
 * 0x80 or more takes two bytes of UTF-8. */
static void
save_latin1_text(struct enc *e, const unsigned char *b, size_t n)
{
    size_t utf8_len = n;
    unsigned char *at;

    for (size_t i = 0; i < n; i++)
        utf8_len += b[i] >> 7;
    save_begin(e, NULL);
    enc_op_le(e, OP_BINUNICODE, utf8_len, 4);
    at = enc_room(e, utf8_len);
    if (at == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            *at++ = b[i];
        } else {
            *at++ = (unsigned char)(0xc0 | b[i] >> 6);
            *at++ = (unsigned char)(0x80 | (b[i] & 0x3f));
        }
    }
    e->len += utf8_len;
    memoize(e, NULL);
}

/* Protocol 2's bytes: codecs.encode(bytes.decode('latin1'), 'latin1'). */
static void
save_bytes_proto2(struct enc *e, const unsigned char *b, size_t n)
{
    if (n == 0) {
        save_global(e, &G_BYTES, "builtins", "bytes");
        save_begin(e, NULL);
        enc_op(e, OP_EMPTY_TUPLE);
        enc_op(e, OP_REDUCE);
        return;
    }
    save_global(e, &G_ENCODE, "_codecs", "encode");
    save_begin(e, NULL);
    save_latin1_text(e, b, n);
    if (!save_begin(e, &G_LATIN1))
        save_text(e, "latin1", 6, &G_LATIN1);
    enc_op(e, OP_TUPLE2);
    memoize(e, NULL);
    enc_op(e, OP_REDUCE);
}

/* SHORT_BINBYTES, BINBYTES or BINBYTES8 and the payload (protocol 3+). */
static void
save_bytes_payload(struct enc *e, const void *b, size_t n)
{
    if (n <= 0xff) {
        enc_op_le(e, OP_SHORT_BINBYTES, n, 1);
        enc_write(e, b, n);
    } else if ((uint64_t)n > 0xffffffffu) {
        enc_large(e, OP_BINBYTES8, n, 8, b);
    } else if (n >= FRAME_TARGET) {
        enc_large(e, OP_BINBYTES, n, 4, b);
    } else {
        enc_op_le(e, OP_BINBYTES, n, 4);
        enc_write(e, b, n);
    }
}

static void
save_bytes(struct enc *e, const mproc_obj *o)
{
    size_t n;
    const void *b = mproc_obj_bytes_value(o, &n);

    if (e->proto < 3)
        save_bytes_proto2(e, b, n);
    else
        save_bytes_payload(e, b, n);
    memoize(e, memo_key(o));
}

/* Before protocol 5: bytearray(bytes(o)) as a REDUCE. */
static void
save_bytearray(struct enc *e, const mproc_obj *o)
{
    size_t n;
    const void *b = mproc_obj_bytes_value(o, &n);

    if (e->proto >= 5) {
        if (n >= FRAME_TARGET) {
            enc_large(e, OP_BYTEARRAY8, n, 8, b);
        } else {
            enc_op_le(e, OP_BYTEARRAY8, n, 8);
            enc_write(e, b, n);
        }
    } else {
        save_global(e, &G_BYTEARRAY, "builtins", "bytearray");
        save_begin(e, NULL);
        if (n == 0) {
            enc_op(e, OP_EMPTY_TUPLE);
        } else {
            save_begin(e, NULL);
            if (e->proto < 3)
                save_bytes_proto2(e, b, n);
            else
                save_bytes_payload(e, b, n);
            memoize(e, NULL);
            enc_op(e, OP_TUPLE1);
            memoize(e, NULL);
        }
        enc_op(e, OP_REDUCE);
    }
    memoize(e, memo_key(o));
}

/* Items [start, end) of a list, tuple, set or frozenset. */
static int
save_range(struct enc *e, const mproc_obj *o, size_t start, size_t end,
           size_t depth)
{
    bool is_seq = o->type == MPROC_OBJ_LIST || o->type == MPROC_OBJ_TUPLE;
    int rc;

    for (size_t i = start; i < end; i++) {
        rc = save(e, is_seq ? o->u.seq.items[i] : o->u.table.entries[i].key,
                  depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* All n items in batches of BATCH: MARK items `many`, or a lone item and
 * `one` (0: a lone item is marked too, as ADDITEMS wants). */
static int
save_batches(struct enc *e, const mproc_obj *o, size_t n, unsigned char one,
             unsigned char many, size_t depth)
{
    int rc;

    for (size_t start = 0; start < n; start += BATCH) {
        size_t end = n - start > BATCH ? start + BATCH : n;
        bool marked = end - start > 1 || one == 0;

        if (marked)
            enc_op(e, OP_MARK);
        rc = save_range(e, o, start, end, depth);
        if (rc < 0)
            return rc;
        enc_op(e, marked ? many : one);
    }
    return 0;
}

static int
save_dict_items(struct enc *e, const mproc_obj *o, size_t n, size_t depth)
{
    size_t start, i;
    int rc;

    for (start = 0; start < n; start += BATCH) {
        size_t end = n - start > BATCH ? start + BATCH : n;

        if (end - start > 1)
            enc_op(e, OP_MARK);
        for (i = start; i < end; i++) {
            const struct entry *entry = &o->u.table.entries[i];

            rc = save(e, entry->key, depth + 1);
            if (rc == 0)
                rc = save(e, entry->value, depth + 1);
            if (rc < 0)
                return rc;
        }
        enc_op(e, end - start > 1 ? OP_SETITEMS : OP_SETITEM);
    }
    return 0;
}

/* A list or dict: memoized first, open while its items go out. */
static int
save_mutable(struct enc *e, const mproc_obj *o, size_t n, size_t depth)
{
    bool is_list = o->type == MPROC_OBJ_LIST;
    int rc;

    if (e->nopen == e->open_cap) {
        size_t cap = e->open_cap ? e->open_cap * 2 : 16;
        const mproc_obj **grown = realloc(e->open, cap * sizeof(*grown));

        if (grown == NULL)
            return MPROC_ENOMEM;
        e->open = grown;
        e->open_cap = cap;
    }
    e->open[e->nopen++] = o;
    enc_op(e, is_list ? OP_EMPTY_LIST : OP_EMPTY_DICT);
    memoize(e, memo_key(o));
    rc = is_list ? save_batches(e, o, n, OP_APPEND, OP_APPENDS, depth)
                 : save_dict_items(e, o, n, depth);
    e->nopen--;
    return rc < 0 ? rc : e->err;
}

/* Whether o is a list or dict whose items are being written: meeting it
 * again means it contains itself. The scan is as long as the nesting and
 * runs only for a memo hit. */
static bool
is_open(const struct enc *e, const mproc_obj *o)
{
    for (size_t i = 0; i < e->nopen; i++) {
        if (e->open[i] == o)
            return true;
    }
    return false;
}

static int
save_tuple(struct enc *e, const mproc_obj *o, size_t n, size_t depth)
{
    int rc;

    if (n == 0) {
        enc_op(e, OP_EMPTY_TUPLE);
        return e->err;
    }
    if (n > 3)
        enc_op(e, OP_MARK);
    rc = save_range(e, o, 0, n, depth);
    if (rc < 0)
        return rc;
    enc_op(e, n > 3 ? OP_TUPLE : (unsigned char)(OP_TUPLE1 + n - 1));
    memoize(e, memo_key(o));
    return e->err;
}

static int
save_set(struct enc *e, const mproc_obj *o, size_t n, size_t depth)
{
    bool frozen = o->type == MPROC_OBJ_FROZENSET;
    int rc;

    if (e->proto < 4) {
        /* set(list(o)) as a REDUCE */
        save_global(e, frozen ? &G_FROZENSET : &G_SET, "builtins",
                    frozen ? "frozenset" : "set");
        save_begin(e, NULL);
        save_begin(e, NULL);
        enc_op(e, OP_EMPTY_LIST);
        memoize(e, NULL);
        rc = save_batches(e, o, n, OP_APPEND, OP_APPENDS, depth);
        if (rc < 0)
            return rc;
        enc_op(e, OP_TUPLE1);
        memoize(e, NULL);
        enc_op(e, OP_REDUCE);
        memoize(e, memo_key(o));
        return 0;
    }
    if (frozen) {
        enc_op(e, OP_MARK);
        rc = save_range(e, o, 0, n, depth);
        if (rc < 0)
            return rc;
        enc_op(e, OP_FROZENSET);
        memoize(e, memo_key(o));
        return e->err;
    }
    enc_op(e, OP_EMPTY_SET);
    memoize(e, memo_key(o));
    rc = save_batches(e, o, n, 0, OP_ADDITEMS, depth);
    return rc < 0 ? rc : e->err;
}

/* An int: v, or when le is not NULL its len two's-complement bytes. */
static int
save_long(struct enc *e, int64_t v, const unsigned char *le, size_t len)
{
    if (le == NULL && v >= 0 && v <= 0xff) {
        enc_op_le(e, OP_BININT1, (uint64_t)v, 1);
    } else if (le == NULL && v >= 0 && v <= 0xffff) {
        enc_op_le(e, OP_BININT2, (uint64_t)v, 2);
    } else if (le == NULL && v >= INT32_MIN && v <= INT32_MAX) {
        enc_op_le(e, OP_BININT, (uint64_t)v, 4);
    } else {
        unsigned char small[8];

        if (le == NULL) {
            len = value_int64_twos(v, small);
            le = small;
        }
        if (len > INT32_MAX)
            return MPROC_EINVAL;
        if (len < 256)
            enc_op_le(e, OP_LONG1, len, 1);
        else
            enc_op_le(e, OP_LONG4, len, 4);
        enc_write(e, le, len);
    }
    return e->err;
}

static int
save_int(struct enc *e, const mproc_obj *o)
{
    return save_long(e, o->u.integer.small, o->u.integer.bytes,
                     o->u.integer.len);
}

/* The persistent id that stands for a proxy object. */
#define PROXY_TAG "mproc.proxy"

/* A proxy object: its persistent id, the tuple (PROXY_TAG, typeid,
 * address, id), as a Pickler whose persistent_id() returns that tuple
 * writes it, then a BINPERSID; then the object is memoized, so that a
 * second meeting is a GET and decodes to the same object. */
static int
save_proxy(struct enc *e, const mproc_obj *o, const void *key)
{
    uint64_t id = o->u.proxy.id;
    unsigned char le[9];

    save_begin(e, NULL);
    enc_op(e, OP_MARK);
    save_begin(e, NULL);
    save_text(e, PROXY_TAG, sizeof(PROXY_TAG) - 1, NULL);
    save_begin(e, NULL);
    save_text(e, value_proxy_typeid(o), o->u.proxy.typeid_len, NULL);
    save_begin(e, NULL);
    save_text(e, value_proxy_address(o), o->u.proxy.address_len, NULL);
    save_begin(e, NULL);
    if (id <= INT64_MAX) {
        save_long(e, (int64_t)id, NULL, 0);
    } else { /* 2^63 and up: 8 bytes and a sign byte */
        for (size_t i = 0; i < 8; i++)
            le[i] = (unsigned char)(id >> (8 * i));
        le[8] = 0;
        save_long(e, 0, le, sizeof(le));
    }
    enc_op(e, OP_TUPLE);
    memoize(e, NULL);
    enc_op(e, OP_BINPERSID);
    memoize(e, key);
    return e->err;
}

static int
save_float(struct enc *e, const mproc_obj *o)
{
    uint64_t bits;
    unsigned char *at = enc_room(e, 9);

    if (at == NULL)
        return e->err;
    memcpy(&bits, &o->u.real, sizeof(bits));
    at[0] = OP_BINFLOAT;
    for (size_t i = 0; i < 8; i++)
        at[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
    e->len += 9;
    return 0;
}

static int
save_memoizable(struct enc *e, const mproc_obj *o, size_t depth)
{
    const void *key = memo_key(o);
    uint64_t *found;
    size_t n;

    found = key != NULL ? ptrmap_find(&e->memo, key) : NULL;
    if (found != NULL) {
        if ((o->type == MPROC_OBJ_LIST || o->type == MPROC_OBJ_DICT) &&
            is_open(e, o))
            return MPROC_EINVAL; /* o contains itself */
        enc_get(e, *found);
        return e->err;
    }
    switch (o->type) {
    case MPROC_OBJ_STR:
        n = o->u.text.len;
        if (e->proto < 4 && (uint64_t)n > 0xffffffffu)
            return MPROC_EINVAL;
        save_text(e, o->u.text.data, n, key);
        return e->err;
    case MPROC_OBJ_BYTES:
        /* protocol 2 writes it as text, up to twice as long */
        n = o->u.text.len;
        if (e->proto < 4 &&
            (uint64_t)n > (e->proto < 3 ? 0x7fffffffu : 0xffffffffu))
            return MPROC_EINVAL;
        save_bytes(e, o);
        return e->err;
    case MPROC_OBJ_BYTEARRAY:
        n = o->u.text.len;
        if (e->proto < 5 &&
            (uint64_t)n > (e->proto < 3 ? 0x7fffffffu : 0xffffffffu))
            return MPROC_EINVAL;
        save_bytearray(e, o);
        return e->err;
    case MPROC_OBJ_LIST:
        return save_mutable(e, o, o->u.seq.len, depth);
    case MPROC_OBJ_DICT:
        return save_mutable(e, o, o->u.table.len, depth);
    case MPROC_OBJ_TUPLE:
        return save_tuple(e, o, o->u.seq.len, depth);
    case MPROC_OBJ_SET:
    case MPROC_OBJ_FROZENSET:
        return save_set(e, o, o->u.table.len, depth);
    case MPROC_OBJ_PROXY:
        return save_proxy(e, o, key);
    default:
        return MPROC_EINVAL;
    }
}

/* One object. Inline: the scalars, most of what a message holds, are
 * written without a call; what the memo may know goes to
 * save_memoizable. */
static inline int
save(struct enc *e, const mproc_obj *o, size_t depth)
{
    if (o == NULL || depth > MAX_DUMP_DEPTH)
        return MPROC_EINVAL;
    frame_cut_if_due(e);
    switch (o->type) {
    case MPROC_OBJ_NONE:
        enc_op(e, OP_NONE);
        return e->err;
    case MPROC_OBJ_BOOL:
        enc_op(e, o->u.boolean ? OP_NEWTRUE : OP_NEWFALSE);
        return e->err;
    case MPROC_OBJ_INT:
        return save_int(e, o);
    case MPROC_OBJ_FLOAT:
        return save_float(e, o);
    default:
        return save_memoizable(e, o, depth);
    }
}

int
mproc_obj_dumps(const mproc_obj *o, mproc_buf *out, int protocol)
{
    struct enc e = { 0 };
    int rc;

    if (out != NULL)
        *out = (mproc_buf){ 0 };
    if (o == NULL || out == NULL || protocol < 0 || protocol == 1 ||
        protocol > 5)
        return MPROC_EINVAL;
    e.proto = protocol == 0 ? 4 : protocol;
    e.frame_due = SIZE_MAX;
    enc_op_le(&e, OP_PROTO, (uint64_t)e.proto, 1);
    if (e.proto >= 4) {
        e.framing = true;
        frame_open(&e);
    }
    rc = save(&e, o, 0);
    enc_op(&e, OP_STOP);
    if (e.framing && !e.err) {
        if (e.len - e.frame_start > FRAME_HEADER)
            frame_commit(&e, true, false);
        else
            e.len -= FRAME_HEADER;
    }
    if (rc == 0)
        rc = e.err;
    ptrmap_free(&e.memo);
    free(e.open);
    if (rc < 0) {
        free(e.p);
        return rc;
    }
    out->data = e.p;
    out->len = e.len;
    return 0;
}

/* ---- decoding --------------------------------------------------------------
 */

/* What the decoder knows of each container it made, by number (0: not a
 * container): how deep it nests, and whether it has been put into another
 * container (sealed: it takes no more items). Stack and memo slots carry
 * the number beside the object, so no lookup by address is needed. */
struct rec {
    uint32_t depth;
    bool sealed;
};

struct dec {
    const unsigned char *p, *end;
    mproc_obj **stack; /* owned references */
    uint32_t *stack_rec;
    size_t sn, scap;
    size_t *marks; /* stack heights at each MARK */
    size_t mn, mcap;
    mproc_obj **memo; /* owned references; NULL where unset */
    uint32_t *memo_rec;
    size_t memo_cap, memo_count;
    struct rec *recs; /* recs[0] stands for every non-container */
    size_t nrec, rcap;
    size_t max_depth, max_memo;
};

/* A value.c failure on peer data is the data's fault, except memory. */
static int
data_error(int rc)
{
    return rc == MPROC_ENOMEM ? rc : MPROC_EPROTOCOL;
}

static int
take(struct dec *d, uint64_t n, const unsigned char **at)
{
    if (n > (uint64_t)(d->end - d->p))
        return MPROC_EPROTOCOL;
    *at = d->p;
    d->p += n;
    return 0;
}

static int
take_le(struct dec *d, size_t width, uint64_t *v)
{
    const unsigned char *at;
    int rc = take(d, width, &at);

    if (rc < 0)
        return rc;
    *v = 0;
    for (size_t i = 0; i < width; i++)
        *v |= (uint64_t)at[i] << (8 * i);
    return 0;
}

/* The text up to the next newline (which is consumed, not returned). */
static int
take_line(struct dec *d, const char **line, size_t *len)
{
    const unsigned char *nl = memchr(d->p, '\n', (size_t)(d->end - d->p));

    if (nl == NULL)
        return MPROC_EPROTOCOL;
    *line = (const char *)d->p;
    *len = (size_t)(nl - d->p);
    d->p = nl + 1;
    return 0;
}

/* The items since the last mark: stack[base, sn). */
static size_t
frame_base(const struct dec *d)
{
    return d->mn > 0 ? d->marks[d->mn - 1] : 0;
}

/* Push a new reference (released on failure) with its record. */
static int
push_rec(struct dec *d, mproc_obj *o, uint32_t rec)
{
    if (d->sn == d->scap) {
        size_t cap = d->scap ? d->scap * 2 : 64;
        mproc_obj **grown = realloc(d->stack, cap * sizeof(*grown));
        uint32_t *grown_rec;

        if (grown != NULL)
            d->stack = grown;
        grown_rec = grown != NULL
                        ? realloc(d->stack_rec, cap * sizeof(*grown_rec))
                        : NULL;
        if (grown_rec == NULL) {
            mproc_obj_free(o);
            return MPROC_ENOMEM;
        }
        d->stack_rec = grown_rec;
        d->scap = cap;
    }
    d->stack[d->sn] = o;
    d->stack_rec[d->sn++] = rec;
    return 0;
}

static int
push(struct dec *d, mproc_obj *o)
{
    return push_rec(d, o, 0);
}

/* The top item of the current frame (borrowed); NULL when there is none. */
static mproc_obj *
top(const struct dec *d)
{
    return d->sn > frame_base(d) ? d->stack[d->sn - 1] : NULL;
}

static void
drop_to(struct dec *d, size_t height)
{
    while (d->sn > height)
        value_unref_fresh(d->stack[--d->sn]);
}

/* Record that the item of record `rec` goes into a container of which it
 * raises the depth to at least `*depth` (1 or more), and seal it. A
 * non-container, the common case, changes nothing. */
static inline int
adopt(struct dec *d, uint32_t rec, size_t *depth)
{
    size_t item_depth;

    if (rec == 0)
        return 0;
    item_depth = (size_t)d->recs[rec].depth + 1;
    if (item_depth > *depth)
        *depth = item_depth;
    if (*depth > d->max_depth)
        return MPROC_ETOOBIG;
    d->recs[rec].sealed = true;
    return 0;
}

/* Note a new container holding stack[base, sn), and push it. */
static int
push_container(struct dec *d, mproc_obj *o, size_t base)
{
    size_t depth = 1;
    int rc = 0;

    for (size_t i = base; i < d->sn && rc == 0; i++)
        rc = adopt(d, d->stack_rec[i], &depth);
    if (rc == 0 && d->nrec == d->rcap) {
        size_t cap = d->rcap * 2;
        struct rec *grown =
            cap <= UINT32_MAX ? realloc(d->recs, cap * sizeof(*grown)) : NULL;

        if (grown == NULL) {
            rc = MPROC_ENOMEM;
        } else {
            d->recs = grown;
            d->rcap = cap;
        }
    }
    if (rc < 0) {
        mproc_obj_free(o);
        return rc;
    }
    d->recs[d->nrec] = (struct rec){ .depth = (uint32_t)depth };
    drop_to(d, base);
    return push_rec(d, o, (uint32_t)d->nrec++);
}

/* Add stack[from, sn) to the container at stack[target_at], which must be
 * a `type` (list, dict or set) of this decoder's making and unsealed; a
 * dict takes key/value pairs. The items leave the stack. */
static int
add_items(struct dec *d, size_t target_at, size_t from,
          enum mproc_obj_type type)
{
    mproc_obj *target = d->stack[target_at];
    uint32_t rec = d->stack_rec[target_at];
    size_t step = type == MPROC_OBJ_DICT ? 2 : 1;
    size_t depth;
    int rc;

    if (rec == 0 || d->recs[rec].sealed || ((d->sn - from) & (step - 1)) ||
        mproc_obj_type(target) != type)
        return MPROC_EPROTOCOL;
    depth = d->recs[rec].depth;
    for (size_t i = from; i < d->sn; i += step) {
        for (size_t j = i; j < i + step; j++) {
            if (d->stack[j] == target)
                return MPROC_EPROTOCOL; /* it would contain itself */
            rc = adopt(d, d->stack_rec[j], &depth);
            if (rc < 0)
                return rc;
        }
        if (type == MPROC_OBJ_LIST) {
            /* The stack's reference goes into the list; NULL is left. */
            rc = value_list_push(target, d->stack[i]);
            if (rc == 0)
                d->stack[i] = NULL;
        } else if (type == MPROC_OBJ_DICT) {
            /* The stack's references go into the dict; NULL is left. */
            rc = value_dict_set_owned(target, d->stack[i], d->stack[i + 1]);
            if (rc == 0)
                d->stack[i] = d->stack[i + 1] = NULL;
        } else {
            rc = mproc_obj_set_add(target, d->stack[i]);
        }
        if (rc < 0)
            return data_error(rc);
    }
    d->recs[rec].depth = (uint32_t)depth;
    if (type == MPROC_OBJ_SET)
        drop_to(d, from);
    else
        d->sn = from; /* the list or dict took every reference */
    return 0;
}

/* Close the last mark's frame: its items are stack[*base, sn). */
static int
pop_mark(struct dec *d, size_t *base)
{
    if (d->mn == 0)
        return MPROC_EPROTOCOL;
    *base = d->marks[--d->mn];
    return 0;
}

static int
memo_put(struct dec *d, uint64_t idx)
{
    mproc_obj *o = top(d);

    if (o == NULL)
        return MPROC_EPROTOCOL;
    if (idx >= d->max_memo)
        return MPROC_ETOOBIG;
    if (idx >= d->memo_cap) {
        size_t cap = d->memo_cap ? d->memo_cap : 64;
        mproc_obj **grown;
        uint32_t *grown_rec;

        while (cap <= idx)
            cap *= 2;
        if (cap > d->max_memo)
            cap = d->max_memo;
        grown = realloc(d->memo, cap * sizeof(*grown));
        if (grown == NULL)
            return MPROC_ENOMEM;
        memset(grown + d->memo_cap, 0, (cap - d->memo_cap) * sizeof(*grown));
        d->memo = grown;
        grown_rec = realloc(d->memo_rec, cap * sizeof(*grown_rec));
        if (grown_rec == NULL)
            return MPROC_ENOMEM; /* memo_cap still fits both arrays */
        d->memo_rec = grown_rec;
        d->memo_cap = cap;
    }
    if (d->memo[idx] == NULL)
        d->memo_count++;
    value_unref_fresh(d->memo[idx]);
    d->memo[idx] = value_ref_fresh(o);
    d->memo_rec[idx] = d->stack_rec[d->sn - 1];
    return 0;
}

static int
memo_get(struct dec *d, uint64_t idx)
{
    if (idx >= d->memo_cap || d->memo[idx] == NULL)
        return MPROC_EPROTOCOL;
    return push_rec(d, value_ref_fresh(d->memo[idx]), d->memo_rec[idx]);
}

/* A decimal number from a text opcode's line, as a memo index. */
static int
line_index(struct dec *d, uint64_t *idx)
{
    const char *line;
    size_t len;
    int rc = take_line(d, &line, &len);

    if (rc < 0)
        return rc;
    if (len == 0 || len > 18)
        return MPROC_EPROTOCOL;
    *idx = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return MPROC_EPROTOCOL;
        *idx = *idx * 10 + (uint64_t)(line[i] - '0');
    }
    return 0;
}

/* The line of INT or LONG as an int: Python 2's "I01\n" is True. */
static int
load_text_int(struct dec *d, bool is_long)
{
    const char *line;
    size_t len;
    char *text;
    mproc_obj *o;
    int rc = take_line(d, &line, &len);

    if (rc < 0)
        return rc;
    if (!is_long && len == 2 && line[0] == '0' && (line[1] & ~1) == '0') {
        rc = mproc_obj_bool(&o, line[1] == '1');
        return rc < 0 ? rc : push(d, o);
    }
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
        len--;
    if (is_long && len > 0 && line[len - 1] == 'L')
        len--;
    text = malloc(len + 1);
    if (text == NULL)
        return MPROC_ENOMEM;
    memcpy(text, line, len);
    text[len] = '\0';
    rc = memchr(line, '\0', len) != NULL ? MPROC_EINVAL
                                         : mproc_obj_int_from_string(&o, text);
    free(text);
    return rc < 0 ? data_error(rc) : push(d, o);
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void
c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* FLOAT: Python's repr of a float on a line, read whatever the locale. */
static int
load_text_float(struct dec *d)
{
    const char *line;
    size_t len;
    char text[64], *end;
    double v;
    mproc_obj *o;
    int rc = take_line(d, &line, &len);

    if (rc < 0)
        return rc;
    if (len == 0 || len >= sizeof(text) || memchr(line, '\0', len) != NULL)
        return MPROC_EPROTOCOL;
    memcpy(text, line, len);
    text[len] = '\0';
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale == (locale_t)0)
        return MPROC_ENOMEM;
    v = strtod_l(text, &end, c_locale);
    while (*end == ' ' || *end == '\r')
        end++;
    if (end == text || *end != '\0')
        return MPROC_EPROTOCOL;
    rc = mproc_obj_float(&o, v);
    return rc < 0 ? rc : push(d, o);
}

static int
hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t
put_utf8(unsigned char *at, uint32_t cp)
{
    if (cp < 0x80) {
        at[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        at[0] = (unsigned char)(0xc0 | cp >> 6);
        at[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        at[0] = (unsigned char)(0xe0 | cp >> 12);
        at[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        at[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    at[0] = (unsigned char)(0xf0 | cp >> 18);
    at[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    at[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    at[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* UNICODE's raw-unicode-escape: bytes are Latin-1 code points, except a
 * \u and 4 hex digits or \U and 8 after an odd run of backslashes. Writes at
 * most 2 bytes of UTF-8 per input byte into out. */
static int
raw_unicode_unescape(const unsigned char *s, size_t len, unsigned char *out,
                     size_t *out_len)
{
    size_t i = 0, n = 0;

    while (i < len) {
        size_t run = 0, digits;
        uint32_t cp = 0;

        while (i < len && s[i] == '\\') {
            out[n++] = '\\';
            run++;
            i++;
        }
        if (run == 0) {
            n += put_utf8(out + n, s[i++]);
            continue;
        }
        if (run % 2 == 0 || i == len || (s[i] != 'u' && s[i] != 'U'))
            continue;
        digits = s[i] == 'u' ? 4 : 8;
        if (len - i - 1 < digits)
            return MPROC_EPROTOCOL;
        for (size_t k = 1; k <= digits; k++) {
            int h = hex_digit(s[i + k]);

            if (h < 0)
                return MPROC_EPROTOCOL;
            cp = cp << 4 | (uint32_t)h;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return MPROC_EPROTOCOL; /* a str here is UTF-8: no surrogates */
        n--;                        /* the escaping backslash */
        n += put_utf8(out + n, cp);
        i += 1 + digits;
    }
    *out_len = n;
    return 0;
}

/* STRING's Python 2 repr: quoted, with backslash escapes. Writes at most
 * one byte per input byte into out. */
static int
string_unescape(const unsigned char *s, size_t len, unsigned char *out,
                size_t *out_len)
{
    static const char simple[] = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
    size_t i = 0, n = 0;

    while (i < len) {
        const char *hit;

        if (s[i] != '\\') {
            out[n++] = s[i++];
            continue;
        }
        if (++i == len)
            return MPROC_EPROTOCOL;
        hit = s[i] != '\0' ? strchr(simple, s[i]) : NULL;
        if (s[i] == '\n') {
            i++;
        } else if (hit != NULL && (hit - simple) % 2 == 0) {
            out[n++] = (unsigned char)hit[1];
            i++;
        } else if (s[i] == 'x') {
            int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;

            if (lo < 0)
                return MPROC_EPROTOCOL;
            out[n++] = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else if (s[i] >= '0' && s[i] <= '7') {
            unsigned v = 0;

            for (size_t k = 0; k < 3 && i < len && s[i] >= '0' && s[i] <= '7';
                 k++)
                v = v * 8 + (unsigned)(s[i++] - '0');
            out[n++] = (unsigned char)v;
        } else {
            out[n++] = '\\'; /* Python keeps an unknown escape as is */
        }
    }
    *out_len = n;
    return 0;
}

/* Python 2's str: bytes decoded as ASCII (the Unpickler's default). */
static int
push_ascii(struct dec *d, const unsigned char *s, size_t len)
{
    mproc_obj *o;
    int rc;

    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 0x80)
            return MPROC_EPROTOCOL;
    }
    rc = mproc_obj_str(&o, (const char *)s, len);
    return rc < 0 ? data_error(rc) : push(d, o);
}

/* STRING or UNICODE: a text line, unescaped into a scratch buffer. */
static int
load_text_string(struct dec *d, bool is_unicode)
{
    const char *line;
    size_t len, n;
    unsigned char *buf;
    mproc_obj *o;
    int rc = take_line(d, &line, &len);

    if (rc < 0)
        return rc;
    if (!is_unicode) {
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
            len--;
        if (len < 2 || line[0] != line[len - 1] ||
            (line[0] != '\'' && line[0] != '"'))
            return MPROC_EPROTOCOL;
        line++;
        len -= 2;
    }
    buf = malloc(len * 2 + 1);
    if (buf == NULL)
        return MPROC_ENOMEM;
    rc = is_unicode
             ? raw_unicode_unescape((const unsigned char *)line, len, buf, &n)
             : string_unescape((const unsigned char *)line, len, buf, &n);
    if (rc == 0 && is_unicode) {
        rc = mproc_obj_str(&o, (const char *)buf, n);
        rc = rc < 0 ? data_error(rc) : push(d, o);
    } else if (rc == 0) {
        rc = push_ascii(d, buf, n);
    }
    free(buf);
    return rc;
}

/* An opcode with a length of `width` bytes and that many bytes after it;
 * the length is checked against the input before anything is made. */
static int
load_counted(struct dec *d, unsigned char op, size_t width)
{
    uint64_t n;
    const unsigned char *at;
    mproc_obj *o;
    int rc = take_le(d, width, &n);

    if (rc == 0 && width == 4 && (op == OP_BINSTRING || op == OP_LONG4) &&
        n > INT32_MAX)
        rc = MPROC_EPROTOCOL; /* a negative signed length */
    if (rc == 0)
        rc = take(d, n, &at);
    if (rc < 0)
        return rc;
    switch (op) {
    case OP_BINSTRING:
    case OP_SHORT_BINSTRING:
        return push_ascii(d, at, (size_t)n);
    case OP_BINUNICODE:
    case OP_SHORT_BINUNICODE:
    case OP_BINUNICODE8:
        rc = mproc_obj_str(&o, (const char *)at, (size_t)n);
        break;
    case OP_BYTEARRAY8:
        rc = mproc_obj_bytearray(&o, at, (size_t)n);
        break;
    case OP_LONG1:
    case OP_LONG4:
        rc = mproc_obj_int_from_bytes(&o, at, (size_t)n);
        break;
    default:
        rc = mproc_obj_bytes(&o, at, (size_t)n);
        break;
    }
    return rc < 0 ? data_error(rc) : push(d, o);
}

static int
load_binint(struct dec *d, size_t width)
{
    uint64_t v;
    mproc_obj *o;
    int rc = take_le(d, width, &v);

    if (rc < 0)
        return rc;
    rc = mproc_obj_int(&o,
                       width == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v);
    return rc < 0 ? rc : push(d, o);
}

static int
load_binfloat(struct dec *d)
{
    const unsigned char *at;
    uint64_t bits = 0;
    double v;
    mproc_obj *o;
    int rc = take(d, 8, &at);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < 8; i++)
        bits = bits << 8 | at[i];
    memcpy(&v, &bits, sizeof(v));
    rc = mproc_obj_float(&o, v);
    return rc < 0 ? rc : push(d, o);
}

/* A constant: None, True, False, or a new empty container. */
static int
load_new(struct dec *d, unsigned char op)
{
    mproc_obj *o;
    int rc;

    switch (op) {
    case OP_NONE:
        rc = mproc_obj_none(&o);
        break;
    case OP_NEWTRUE:
    case OP_NEWFALSE:
        rc = mproc_obj_bool(&o, op == OP_NEWTRUE);
        break;
    case OP_EMPTY_LIST:
        rc = mproc_obj_list(&o);
        break;
    case OP_EMPTY_DICT:
        rc = mproc_obj_dict(&o);
        break;
    case OP_EMPTY_SET:
        rc = mproc_obj_set(&o);
        break;
    default:
        rc = mproc_obj_tuple(&o, NULL, 0);
        break;
    }
    if (rc < 0)
        return rc;
    if (op == OP_NONE || op == OP_NEWTRUE || op == OP_NEWFALSE)
        return push(d, o);
    return push_container(d, o, d->sn);
}

/* TUPLE, TUPLE1-3, FROZENSET, LIST, DICT: a container of stack[base, sn). */
static int
load_build(struct dec *d, unsigned char op, size_t base)
{
    mproc_obj *o = NULL;
    mproc_obj *const *items;
    size_t n = d->sn - base;
    int rc;

    /* No items may mean no stack array yet: no pointer arithmetic on it. */
    items = n > 0 ? d->stack + base : NULL;
    switch (op) {
    case OP_FROZENSET:
        rc = mproc_obj_frozenset(&o, items, n);
        break;
    case OP_LIST:
        rc = mproc_obj_list(&o);
        for (size_t i = base; i < d->sn && rc == 0; i++)
            rc = mproc_obj_list_append(o, d->stack[i]);
        break;
    case OP_DICT:
        rc = n % 2 != 0 ? MPROC_EINVAL : mproc_obj_dict(&o);
        for (size_t i = base; i < d->sn && rc == 0; i += 2)
            rc = mproc_obj_dict_set(o, d->stack[i], d->stack[i + 1]);
        break;
    default:
        rc = mproc_obj_tuple(&o, items, n);
        break;
    }
    if (rc < 0) {
        mproc_obj_free(o); /* a list or dict made before a bad item */
        return data_error(rc);
    }
    return push_container(d, o, base);
}

/* TUPLE1-3 take the top items of the current frame. */
static int
load_small_tuple(struct dec *d, size_t n)
{
    if (d->sn - frame_base(d) < n)
        return MPROC_EPROTOCOL;
    return load_build(d, OP_TUPLE, d->sn - n);
}

/* A str item of a proxy's persistent id of 1 to max bytes, without NULs
 * (proxy.h takes C strings). */
static bool
is_proxy_text(const mproc_obj *o, size_t max)
{
    return o->type == MPROC_OBJ_STR && o->u.text.len >= 1 &&
           o->u.text.len <= max &&
           memchr(o->u.text.data, '\0', o->u.text.len) == NULL;
}

/* BINPERSID: the persistent id on top must be a proxy's (save_proxy), and
 * becomes the proxy object. Anything else would need a Python
 * persistent_load to make something of it: refused. */
static int
load_persid(struct dec *d)
{
    const mproc_obj *pid = top(d), *tag, *num;
    mproc_obj *o;
    uint64_t id = 0;
    int rc;

    if (pid == NULL || pid->type != MPROC_OBJ_TUPLE || pid->u.seq.len != 4)
        return MPROC_EPROTOCOL;
    tag = pid->u.seq.items[0];
    num = pid->u.seq.items[3];
    if (tag->type != MPROC_OBJ_STR ||
        tag->u.text.len != sizeof(PROXY_TAG) - 1 ||
        memcmp(tag->u.text.data, PROXY_TAG, sizeof(PROXY_TAG) - 1) != 0 ||
        !is_proxy_text(pid->u.seq.items[1], MPROC__PROXY_TYPEID_MAX) ||
        !is_proxy_text(pid->u.seq.items[2], MPROC__PROXY_ADDRESS_MAX) ||
        num->type != MPROC_OBJ_INT)
        return MPROC_EPROTOCOL;
    /* 0 to 2^64 - 1: a non-negative int64, or 9 bytes ending in a sign
     * byte of 0 (the shortest form of 2^63 and up). */
    if (num->u.integer.bytes == NULL && num->u.integer.small >= 0) {
        id = (uint64_t)num->u.integer.small;
    } else if (num->u.integer.bytes != NULL && num->u.integer.len == 9 &&
               num->u.integer.bytes[8] == 0) {
        for (size_t i = 0; i < 8; i++)
            id |= (uint64_t)num->u.integer.bytes[i] << (8 * i);
    } else {
        return MPROC_EPROTOCOL;
    }
    rc = mproc__obj_proxy_new(&o, pid->u.seq.items[1]->u.text.data,
                              pid->u.seq.items[2]->u.text.data, id);
    if (rc < 0)
        return data_error(rc);
    drop_to(d, d->sn - 1);
    return push(d, o);
}

/* One opcode: 0, LOAD_DONE once STOP has left the result on top, or a
 * negative code. */
#define LOAD_DONE 1

static int
load_one(struct dec *d)
{
    uint64_t v;
    size_t base;
    int rc;
    unsigned char op;

    if (d->p == d->end)
        return MPROC_EPROTOCOL; /* no STOP */
    op = *d->p++;
    switch (op) {
    case OP_PROTO:
        rc = take_le(d, 1, &v);
        return rc < 0 ? rc : v > 5 ? MPROC_EPROTOCOL : 0;
    case OP_FRAME:
        /* frames only group the stream: check the length, read on */
        rc = take_le(d, 8, &v);
        return rc < 0                          ? rc
               : v > (uint64_t)(d->end - d->p) ? MPROC_EPROTOCOL
                                               : 0;
    case OP_STOP:
        return top(d) == NULL ? MPROC_EPROTOCOL : LOAD_DONE;
    case OP_MARK:
        if (d->mn == d->mcap) {
            size_t cap = d->mcap ? d->mcap * 2 : 16;
            size_t *grown = realloc(d->marks, cap * sizeof(*grown));

            if (grown == NULL)
                return MPROC_ENOMEM;
            d->marks = grown;
            d->mcap = cap;
        }
        d->marks[d->mn++] = d->sn;
        return 0;
    case OP_POP:
        if (top(d) == NULL)
            return pop_mark(d, &base) < 0 ? MPROC_EPROTOCOL : 0;
        drop_to(d, d->sn - 1);
        return 0;
    case OP_POP_MARK:
        rc = pop_mark(d, &base);
        if (rc == 0)
            drop_to(d, base);
        return rc;
    case OP_DUP:
        if (top(d) == NULL)
            return MPROC_EPROTOCOL;
        return push_rec(d, value_ref_fresh(top(d)), d->stack_rec[d->sn - 1]);
    case OP_INT:
    case OP_LONG:
        return load_text_int(d, op == OP_LONG);
    case OP_BININT:
        return load_binint(d, 4);
    case OP_BININT1:
        return load_binint(d, 1);
    case OP_BININT2:
        return load_binint(d, 2);
    case OP_LONG1:
    case OP_SHORT_BINSTRING:
    case OP_SHORT_BINBYTES:
    case OP_SHORT_BINUNICODE:
        return load_counted(d, op, 1);
    case OP_LONG4:
    case OP_BINSTRING:
    case OP_BINBYTES:
    case OP_BINUNICODE:
        return load_counted(d, op, 4);
    case OP_BINUNICODE8:
    case OP_BINBYTES8:
    case OP_BYTEARRAY8:
        return load_counted(d, op, 8);
    case OP_FLOAT:
        return load_text_float(d);
    case OP_BINFLOAT:
        return load_binfloat(d);
    case OP_STRING:
    case OP_UNICODE:
        return load_text_string(d, op == OP_UNICODE);
    case OP_NONE:
    case OP_NEWTRUE:
    case OP_NEWFALSE:
    case OP_EMPTY_LIST:
    case OP_EMPTY_DICT:
    case OP_EMPTY_SET:
    case OP_EMPTY_TUPLE:
        return load_new(d, op);
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3:
        return load_small_tuple(d, (size_t)(op - OP_TUPLE1 + 1));
    case OP_TUPLE:
    case OP_LIST:
    case OP_DICT:
    case OP_FROZENSET:
        rc = pop_mark(d, &base);
        return rc < 0 ? rc : load_build(d, op, base);
    case OP_APPEND:
        if (d->sn < frame_base(d) + 2)
            return MPROC_EPROTOCOL;
        return add_items(d, d->sn - 2, d->sn - 1, MPROC_OBJ_LIST);
    case OP_SETITEM:
        if (d->sn < frame_base(d) + 3)
            return MPROC_EPROTOCOL;
        return add_items(d, d->sn - 3, d->sn - 2, MPROC_OBJ_DICT);
    case OP_APPENDS:
    case OP_SETITEMS:
    case OP_ADDITEMS:
        rc = pop_mark(d, &base);
        if (rc == 0 && base == frame_base(d))
            rc = MPROC_EPROTOCOL; /* no container below the mark */
        return rc < 0 ? rc
                      : add_items(d, base - 1, base,
                                  op == OP_APPENDS    ? MPROC_OBJ_LIST
                                  : op == OP_SETITEMS ? MPROC_OBJ_DICT
                                                      : MPROC_OBJ_SET);
    case OP_PUT:
        rc = line_index(d, &v);
        return rc < 0 ? rc : memo_put(d, v);
    case OP_BINPUT:
    case OP_LONG_BINPUT:
        rc = take_le(d, op == OP_BINPUT ? 1 : 4, &v);
        return rc < 0 ? rc : memo_put(d, v);
    case OP_MEMOIZE:
        return memo_put(d, d->memo_count);
    case OP_GET:
        rc = line_index(d, &v);
        return rc < 0 ? rc : memo_get(d, v);
    case OP_BINGET:
    case OP_LONG_BINGET:
        rc = take_le(d, op == OP_BINGET ? 1 : 4, &v);
        return rc < 0 ? rc : memo_get(d, v);
    case OP_BINPERSID:
        return load_persid(d);
    default:
        /* GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ(_EX),
         * EXT1/2/4, PERSID, NEXT_BUFFER, READONLY_BUFFER name code,
         * classes or out-of-band data; anything else is unknown */
        return MPROC_EPROTOCOL;
    }
}

int
mproc_obj_loads(mproc_obj **out, const void *data, size_t len,
                const mproc_loads_opts *opts)
{
    struct dec d = { 0 };
    int rc = 0;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || (data == NULL && len > 0))
        return MPROC_EINVAL;
    if (len == 0)
        return MPROC_EPROTOCOL; /* not even a STOP */
    d.p = data;
    d.end = d.p + len;
    d.max_depth =
        opts != NULL && opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH;
    d.max_memo =
        opts != NULL && opts->max_memo ? opts->max_memo : DEFAULT_MAX_MEMO;
    d.rcap = 64;
    d.nrec = 1;
    d.recs = calloc(d.rcap, sizeof(*d.recs));
    if (d.recs == NULL)
        return MPROC_ENOMEM;
    do
        rc = load_one(&d);
    while (rc == 0);
    if (rc == LOAD_DONE)
        rc = 0;
    if (rc == 0 && d.p != d.end)
        rc = MPROC_EPROTOCOL; /* bytes after STOP */
    if (rc == 0)
        *out = value_ref_fresh(top(&d));
    drop_to(&d, 0);
    for (size_t i = 0; i < d.memo_cap; i++)
        value_unref_fresh(d.memo[i]);
    free(d.memo);
    free(d.memo_rec);
    free(d.stack);
    free(d.stack_rec);
    free(d.marks);
    free(d.recs);
    return rc;
}
