/**
 * @file value.h
 * mproc_obj: the objects Python's send()/recv()/put()/get() carry —
 * None, bool, int, float, str, bytes, bytearray, list, tuple, dict, set and
 * frozenset, and proxy objects, references to what a manager holds
 * (manager.h) — and their pickle form, so a C process and a Python process
 * exchange the same objects. (Python's shared Value is mproc_value_*, in
 * shm.h; this is the dynamic object model.)
 *
 * Ownership, as in Python's C API: every object is reference-counted.
 * A function that hands out an object gives the caller a new reference,
 * released with mproc_obj_free(). Containers hold references of their own:
 * putting an object into a list, tuple, dict or set does not take the
 * caller's reference (the caller still frees its own). Getters return
 * borrowed references, valid while the container holds the object;
 * mproc_obj_ref() makes one the caller's. One object may sit in several
 * containers (pickle's shared references decode to shared objects).
 * Cycles (a list inside a list inside the first) are never collected:
 * mproc_obj_free() cannot release them, and the pickle decoder refuses
 * recursive objects. A list or dict directly inside itself is refused.
 * Freeing never recurses, so any depth of nesting frees; repr, ==, hash
 * and copy follow at most 10,000 levels. As in CPython, None, True, False
 * and the ints from -5 to 256 are single objects that live for good
 * (freeing them does nothing), and the memory of freed small objects is
 * kept per thread for reuse (up to 1 MiB a thread, given back when the
 * thread ends).
 *
 * Semantics are Python's: 1 == 1.0 == True, as dict keys too; dicts keep
 * insertion order; only hashable objects (None, bool, int, float, str,
 * bytes, tuples of hashables, frozenset, proxy) can be dict keys or set
 * members;
 * NaN is not equal to itself. str is UTF-8, checked on the way in.
 *
 * Thread-safety: reference counts are atomic, so objects may be shared
 * between threads and read by many at once; a mutable object (list, dict,
 * set, bytearray) must not be changed while another thread uses it.
 */
#ifndef MPROC_VALUE_H
#define MPROC_VALUE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An object. */
typedef struct mproc_obj mproc_obj;

/** The types, named after Python's. */
enum mproc_obj_type {
    MPROC_OBJ_NONE = 0,
    MPROC_OBJ_BOOL,
    MPROC_OBJ_INT,
    MPROC_OBJ_FLOAT,
    MPROC_OBJ_STR,
    MPROC_OBJ_BYTES,
    MPROC_OBJ_BYTEARRAY,
    MPROC_OBJ_LIST,
    MPROC_OBJ_TUPLE,
    MPROC_OBJ_DICT,
    MPROC_OBJ_SET,
    MPROC_OBJ_FROZENSET,
    /** A reference to an object a manager holds (manager.h): made by
     *  mproc_proxy_obj(), turned back into a proxy by
     *  mproc_proxy_from_obj(). Immutable and hashable: two are equal when
     *  they name the same object (typeid, address and id). */
    MPROC_OBJ_PROXY,
};

/* ---- lifetime -------------------------------------------------------------
 */

/**
 * Add a reference: the caller owns one more (Py_INCREF).
 *
 * Returns: o (NULL for NULL).
 *
 * Thread-safe: yes.
 */
MPROC_API mproc_obj *mproc_obj_ref(mproc_obj *o);

/**
 * Release a reference; the object (and what only it held) is freed with
 * the last one (Py_DECREF).
 *
 * o  the object; NULL does nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes.
 */
MPROC_API void mproc_obj_free(mproc_obj *o);

/**
 * The object's type.
 *
 * Returns: the type; MPROC_OBJ_NONE for NULL.
 */
MPROC_API enum mproc_obj_type mproc_obj_type(const mproc_obj *o);

/**
 * Python's name of a type: "NoneType", "bool", "int", "float", "str",
 * "bytes", "bytearray", "list", "tuple", "dict", "set", "frozenset",
 * "proxy".
 *
 * Returns: a static string; "unknown" outside the enum.
 */
MPROC_API const char *mproc_obj_type_name(enum mproc_obj_type type);

/* ---- scalars --------------------------------------------------------------
 */

/**
 * None (Python's singleton: every call returns a reference to the same
 * object).
 *
 * Returns: 0, or MPROC_EINVAL for a NULL out.
 */
MPROC_API int mproc_obj_none(mproc_obj **out);

/**
 * True or False.
 *
 * Returns: 0, or MPROC_EINVAL for a NULL out.
 */
MPROC_API int mproc_obj_bool(mproc_obj **out, bool v);

/**
 * An int from a 64-bit value.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_int(mproc_obj **out, int64_t v);

/**
 * An int of any size from its two's-complement bytes, least significant
 * first (pickle's LONG1/LONG4 form; Python's int.from_bytes(b, 'little',
 * signed=True)). No bytes is 0.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_int_from_bytes(mproc_obj **out, const void *le,
                                       size_t len);

/**
 * An int of any size from its decimal text: an optional sign, then
 * digits (Python's int(text), without its whitespace and underscores).
 *
 * Returns: 0, or MPROC_EINVAL for anything else (empty text, spaces,
 * underscores, a NULL text) / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_int_from_string(mproc_obj **out, const char *text);

/**
 * A float.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_float(mproc_obj **out, double v);

/**
 * A str from UTF-8 text (copied; it may hold NUL bytes).
 *
 * Returns: 0, or MPROC_EINVAL for bytes that are not valid UTF-8 (overlong
 * forms, surrogates and code points past U+10FFFF included) or NULL text
 * with len > 0 / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_str(mproc_obj **out, const char *utf8, size_t len);

/**
 * A bytes object (copied).
 *
 * Returns: 0, or MPROC_EINVAL (NULL data with len > 0) / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_bytes(mproc_obj **out, const void *data, size_t len);

/**
 * A bytearray (copied; mutable through mproc_obj_bytearray_set()).
 *
 * Returns: as mproc_obj_bytes().
 */
MPROC_API int mproc_obj_bytearray(mproc_obj **out, const void *data,
                                  size_t len);

/**
 * The value of a bool (Python's truth of True/False only).
 *
 * Returns: 0, or MPROC_EINVAL when o is not a bool.
 */
MPROC_API int mproc_obj_bool_value(const mproc_obj *o, bool *v);

/**
 * The value of an int (a bool counts, as in Python).
 *
 * Returns: 0, or MPROC_EINVAL when o is not an int or bool, or
 *   MPROC_ETOOBIG  the int does not fit in 64 bits (Python's
 *                  OverflowError): read it with mproc_obj_int_bytes()
 */
MPROC_API int mproc_obj_int_value(const mproc_obj *o, int64_t *v);

/**
 * An int's two's-complement bytes, least significant first, in the fewest
 * bytes that hold it (0 is no bytes) — pickle's LONG form.
 *
 * out  receives the bytes, owned by the caller (mproc_buf_free()).
 *
 * Returns: 0, or MPROC_EINVAL when o is not an int or bool.
 */
MPROC_API int mproc_obj_int_bytes(const mproc_obj *o, mproc_buf *out);

/**
 * The value of a float, or of an int or bool as a float (Python's
 * float(x)).
 *
 * Returns: 0, or MPROC_EINVAL for other types, MPROC_ETOOBIG for an int
 * too large for a double.
 */
MPROC_API int mproc_obj_float_value(const mproc_obj *o, double *v);

/**
 * The UTF-8 text of a str, NUL-terminated (it may also hold NULs inside).
 *
 * len  receives the length in bytes; may be NULL.
 *
 * Returns: the text, valid while o lives; NULL when o is not a str.
 */
MPROC_API const char *mproc_obj_str_value(const mproc_obj *o, size_t *len);

/**
 * The contents of a bytes or bytearray.
 *
 * len  receives the length; may be NULL.
 *
 * Returns: the bytes, valid while o lives and, for a bytearray, until it
 * is changed; NULL (and *len 0) for other types. An empty object returns a
 * non-NULL pointer.
 */
MPROC_API const void *mproc_obj_bytes_value(const mproc_obj *o, size_t *len);

/**
 * Replace a bytearray's contents (copied).
 *
 * Returns: 0, or MPROC_EINVAL when o is not a bytearray.
 */
MPROC_API int mproc_obj_bytearray_set(mproc_obj *o, const void *data,
                                      size_t len);

/* ---- containers ------------------------------------------------------------
 */

/**
 * An empty list.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_list(mproc_obj **out);

/**
 * A tuple of n items (each gets a reference from the tuple; the caller
 * keeps its own).
 *
 * Returns: 0, or MPROC_EINVAL (a NULL item, or items NULL with n > 0).
 */
MPROC_API int mproc_obj_tuple(mproc_obj **out, mproc_obj *const *items,
                              size_t n);

/**
 * An empty dict.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_dict(mproc_obj **out);

/**
 * An empty set.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_set(mproc_obj **out);

/**
 * A frozenset of n items (duplicates collapse, as in Python).
 *
 * Returns: 0, or MPROC_EINVAL (an unhashable or NULL item).
 */
MPROC_API int mproc_obj_frozenset(mproc_obj **out, mproc_obj *const *items,
                                  size_t n);

/**
 * The length as Python's len(): items of a list, tuple, dict, set or
 * frozenset; bytes of a bytes or bytearray; code points of a str.
 *
 * Returns: 0, or MPROC_EINVAL for a type without a length (None, bool,
 * int, float, proxy).
 */
MPROC_API int mproc_obj_len(const mproc_obj *o, size_t *len);

/**
 * Append to a list (the list takes its own reference to item).
 *
 * Returns: 0, or MPROC_EINVAL when list is not a list or item is NULL or
 * the list itself / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_list_append(mproc_obj *list, mproc_obj *item);

/**
 * Insert into a list before index i (i >= length appends).
 *
 * Returns: 0, or MPROC_EINVAL as for append.
 */
MPROC_API int mproc_obj_list_insert(mproc_obj *list, size_t i, mproc_obj *item);

/**
 * Replace item i of a list.
 *
 * Returns: 0, or MPROC_EINVAL (not a list, NULL item, the list itself),
 * or
 *   -ERANGE  i is out of range (Python's IndexError)
 */
MPROC_API int mproc_obj_list_set(mproc_obj *list, size_t i, mproc_obj *item);

/**
 * Remove item i of a list.
 *
 * Returns: 0, or MPROC_EINVAL, -ERANGE as for set.
 */
MPROC_API int mproc_obj_list_delete(mproc_obj *list, size_t i);

/**
 * Item i of a list or tuple.
 *
 * item  receives a borrowed reference.
 *
 * Returns: 0, or MPROC_EINVAL (not a list or tuple), -ERANGE.
 */
MPROC_API int mproc_obj_get(const mproc_obj *seq, size_t i, mproc_obj **item);

/**
 * Set d[key] = value (the dict takes its own references). A key equal to
 * one already there (1, 1.0 and True are one key) keeps the first key
 * object and takes the new value, as in Python.
 *
 * Returns: 0, or MPROC_EINVAL (not a dict, NULL, value the dict itself, or
 * an unhashable key: Python's TypeError) / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_dict_set(mproc_obj *d, mproc_obj *key,
                                 mproc_obj *value);

/**
 * Look up d[key].
 *
 * value  receives a borrowed reference.
 *
 * Returns: 0, or MPROC_EINVAL (not a dict, unhashable key), or
 *   -ENOENT  no such key (Python's KeyError)
 */
MPROC_API int mproc_obj_dict_get(const mproc_obj *d, const mproc_obj *key,
                                 mproc_obj **value);

/**
 * Look up d[key] for a str key given as C text (a shortcut for the common
 * case).
 *
 * Returns: as mproc_obj_dict_get().
 */
MPROC_API int mproc_obj_dict_get_str(const mproc_obj *d, const char *key,
                                     mproc_obj **value);

/**
 * Remove d[key]. The later entries move up to keep insertion order
 * without holes: O(len).
 *
 * Returns: 0, or MPROC_EINVAL, -ENOENT as for get.
 */
MPROC_API int mproc_obj_dict_delete(mproc_obj *d, const mproc_obj *key);

/**
 * Entry i of a dict in insertion order, for iteration (0 to len-1; the
 * order stays while the dict is not changed).
 *
 * key, value  receive borrowed references; either may be NULL.
 *
 * Returns: 0, or MPROC_EINVAL (not a dict), -ERANGE.
 */
MPROC_API int mproc_obj_dict_item(const mproc_obj *d, size_t i, mproc_obj **key,
                                  mproc_obj **value);

/**
 * Add to a set (set.add).
 *
 * Returns: 0, or MPROC_EINVAL (not a set, unhashable item).
 */
MPROC_API int mproc_obj_set_add(mproc_obj *set, mproc_obj *item);

/**
 * Remove from a set (set.remove); O(len), as mproc_obj_dict_delete().
 *
 * Returns: 0, or MPROC_EINVAL, or -ENOENT (not a member: KeyError).
 */
MPROC_API int mproc_obj_set_remove(mproc_obj *set, const mproc_obj *item);

/**
 * Whether item is in a set or frozenset, or is a key of a dict (Python's
 * `in`).
 *
 * Returns: 1 when it is, 0 when not, MPROC_EINVAL for another container
 * type or an unhashable item.
 */
MPROC_API int mproc_obj_contains(const mproc_obj *container,
                                 const mproc_obj *item);

/**
 * Member i of a set or frozenset, for iteration (0 to len-1, in an order
 * that stays while the set is not changed).
 *
 * item  receives a borrowed reference.
 *
 * Returns: 0, or MPROC_EINVAL, -ERANGE.
 */
MPROC_API int mproc_obj_set_item(const mproc_obj *set, size_t i,
                                 mproc_obj **item);

/* ---- whole objects
 * ------------------------------------------------------------ */

/**
 * Deep equality with Python's ==: numbers compare by value across int,
 * float and bool; NaN differs from everything; containers compare item by
 * item (dicts and sets regardless of order; a list never equals a tuple;
 * bytes equals a bytearray with the same contents).
 *
 * Returns: true when equal; false otherwise, when either is NULL, and
 * when the comparison would go deeper than 10,000 levels.
 */
MPROC_API bool mproc_obj_equal(const mproc_obj *a, const mproc_obj *b);

/**
 * Python's hash() for hashable objects, equal for objects that compare
 * equal (hash(1) == hash(1.0) == hash(True)). Not Python's values: stable
 * within a process only.
 *
 * Returns: 0, or MPROC_EINVAL for an unhashable object (list, dict, set,
 * bytearray, or a tuple holding one), MPROC_ETOOBIG for tuples nested
 * deeper than 10,000 levels.
 */
MPROC_API int mproc_obj_hash(const mproc_obj *o, uint64_t *hash);

/**
 * A deep copy (copy.deepcopy): new containers (and bytearrays) all the way
 * down, objects shared in the original shared in the copy. Immutable
 * scalars (None, bool, int, float, str, bytes) are shared with the
 * original, as deepcopy does, and so are proxy objects.
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM, or MPROC_ETOOBIG for nesting
 * deeper than 10,000 levels.
 */
MPROC_API int mproc_obj_copy(mproc_obj **out, const mproc_obj *o);

/**
 * Python's repr(): "[42, None, 'hello']", "{'a': 1.5}", "b'\\x00'",
 * "frozenset({1, 2})", "set()"; a proxy object as
 * "<proxy 'dict' id 5 at 'unix:@mproc-1234'>".
 *
 * out  receives the text, NUL-terminated, owned by the caller
 *      (mproc_buf_free(); len excludes the NUL).
 *
 * Returns: 0, or MPROC_EINVAL / MPROC_ENOMEM, or MPROC_ETOOBIG for nesting
 * deeper than 10,000 levels.
 */
MPROC_API int mproc_obj_repr(const mproc_obj *o, mproc_buf *out);

/**
 * What a proxy object (MPROC_OBJ_PROXY, manager.h) names: its manager's
 * typeid and the server's address.
 *
 * o        the proxy object (borrowed).
 * type_id  receives its typeid; may be NULL.
 * address  receives the server's address; may be NULL.
 *
 * Returns: 0, or MPROC_EINVAL for o not a proxy object; the strings are
 * valid while o lives.
 */
MPROC_API int mproc_obj_proxy_value(const mproc_obj *o, const char **type_id,
                                    const char **address);

/**
 * Build an object from a format string and arguments, like Python's
 * Py_BuildValue:
 *
 *   n  None                      b  bool   (int argument)
 *   i  int     (int argument)    I  int    (int64_t argument)
 *   d  float   (double)          s  str    (const char *, NUL-terminated)
 *   y  bytes   (const void *, size_t)
 *   O  an mproc_obj * (a new reference is taken)
 *   [...] list   (...) tuple   {k:v, ...} dict
 * Spaces and commas between items are ignored. The format describes one
 * object: wrap several in (...) for a tuple.
 *
 * Example: mproc_obj_build(&o, "[i n s]", 42, "hello") is [42, None,
 * 'hello'].
 *
 * Returns: 0, or MPROC_EINVAL for a malformed format or a bad argument
 * (invalid UTF-8, NULL object, unhashable key).
 */
MPROC_API int mproc_obj_build(mproc_obj **out, const char *fmt, ...);

/**
 * mproc_obj_build() with its arguments as a va_list, for functions that
 * take a format and arguments of their own (vprintf to printf).
 *
 * ap  the arguments; read through a copy, so the caller's ap is left as
 *     it was (the caller still va_end()s it).
 *
 * Returns: as mproc_obj_build().
 */
MPROC_API int mproc_obj_vbuild(mproc_obj **out, const char *fmt, va_list ap);

/* ---- pickle
 * ------------------------------------------------------------------ */

/** Limits of mproc_obj_loads(); all zero means the defaults. */
typedef struct mproc_loads_opts {
    /** Deepest nesting of containers; 0: 1000 (Python's recursion
     *  limit). */
    size_t max_depth;
    /** Most memo entries; 0: 1,000,000. */
    size_t max_memo;
} mproc_loads_opts;

/**
 * Encode an object as a pickle, byte for byte what Python's
 * pickle.dumps(obj, protocol) produces for the same object.
 *
 * out       receives the pickle, owned by the caller (mproc_buf_free()).
 * protocol  2 to 5; 0: 4, the default of Python's multiprocessing.
 *
 * Protocols 2 and 3 have no opcodes for sets, and 2 none for bytes; before
 * 5 none for bytearray: these are written as Python writes them, naming
 * the type (GLOBAL and REDUCE), which Python reads and mproc_obj_loads()
 * refuses. A proxy object is written as a persistent id (BINPERSID) of the
 * tuple ("mproc.proxy", typeid, address, id), memoized like other
 * objects: only mproc reads it back (Python's pickle.loads() raises
 * UnpicklingError, as it has no persistent_load).
 *
 * Returns: 0, or MPROC_EINVAL (a protocol outside 2..5, NULL arguments, a
 * recursive object, containers nested deeper than 10,000) / MPROC_ENOMEM.
 */
MPROC_API int mproc_obj_dumps(const mproc_obj *o, mproc_buf *out, int protocol);

/**
 * Decode a pickle of protocol 0 to 5 holding only data: never imports,
 * calls or builds anything that the pickle names. A BINPERSID of the
 * tuple mproc_obj_dumps() writes for a proxy object is a proxy object.
 *
 * out   receives the object (a new reference).
 * opts  NULL or limits.
 *
 * Returns: 0, or
 *   MPROC_EPROTOCOL  malformed or truncated data, an opcode that names
 *                    code or a class (GLOBAL, STACK_GLOBAL, REDUCE, BUILD,
 *                    INST, OBJ, NEWOBJ, EXT*, PERSID, ...), a BINPERSID
 *                    of anything but a proxy's tuple, a memo
 *                    reference out of range, a recursive object, text
 *                    that is not UTF-8, bytes after STOP
 *   MPROC_ETOOBIG    the depth or memo limit was passed
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_obj_loads(mproc_obj **out, const void *data, size_t len,
                              const mproc_loads_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_VALUE_H */
