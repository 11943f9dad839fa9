/**
 * @file shm.h
 * Shared memory: named segments in /dev/shm and the list stored in one,
 * and C data in memory shared without a name, raw or guarded by a lock.
 * Python: multiprocessing.shared_memory.SharedMemory and ShareableList;
 * multiprocessing.Value, Array, RawValue, RawArray (sharedctypes).
 *
 * A segment is a POSIX shared memory object (shm_open) that any process
 * can map by name, Python's included: the names are Python's (a segment
 * "psm_1a2b3c4d" is /dev/shm/psm_1a2b3c4d), and a ShareableList keeps
 * Python's exact in-memory layout, so C and Python processes read and
 * write the same lists.
 *
 * Nothing leaks (beyond Python): a segment this process tree creates is
 * registered with a watcher process outside the tree's process group,
 * started with the first creation. Once every process of the tree has
 * ended, however it ended (SIGKILL of the whole group included), the
 * watcher unlinks the segments the tree created and did not unlink, and
 * exits. The tree is this process and its forked children: they inherit
 * the watcher. A spawn or forkserver child is exec'd afresh: a segment it
 * creates has a watcher of its own, which also waits for the child's
 * parent, so the segment outlives the child (as with Python's resource
 * tracker, shared by the whole program) and is removed once the child, its
 * forked children and its parent have ended. A forked child that creates
 * the first segment of its tree starts a watcher that waits for its
 * parent in the same way. A segment created with .keep is never
 * removed by mproc. The watcher is a process of its own (named
 * "mproc-shm-reap"), not a child of this one, and ignores SIGINT, SIGTERM
 * and SIGHUP, as Python's resource tracker does.
 *
 * mproc's own shared objects (locks, Values, Arrays, queues) never use
 * names: they live in anonymous memory (memfd) and need no clean-up.
 *
 * Value and Array (the third part of this header): a Value holds one element,
 * an Array `length` elements, of a C scalar type (named by the enum, by a
 * Python typecode or by a C type name, see mproc_ctype_parse()) or of a plain C
 * struct (its size and alignment given, as a ctypes Structure gives them). The
 * data is a plain C object: mproc_value_get_obj() and mproc_array_get_obj()
 * return a pointer to it, valid until the handle is freed, and the caller may
 * read and write through it directly, taking the lock (mproc_value_acquire())
 * where other processes write too. mproc_value_get() / _set() and the array's
 * _get() / _set() copy an element under the lock, as Python's `.value`
 * and `arr[i]` do.
 *
 * Beyond Python, an integer Value offers atomic operations that need no
 * lock: mproc_value_add() and mproc_value_compare_exchange().
 *
 * The memory has no name (memfd, see sync.h): a killed process tree leaves
 * nothing behind. Sharing follows sync.h: forked children inherit handles,
 * spawn and forkserver children open a token sent in their argument bytes;
 * a Value's lock travels with its token. Every handle is thread-safe.
 */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "sync.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SharedMemory --------------------------------------------------------
 */

/** A mapping of a named shared memory segment. */
typedef struct mproc_shm mproc_shm;

/** The longest segment name: a file name in /dev/shm. */
#define MPROC_SHM_NAME_MAX 255

/** Options of mproc_shm_new() and mproc_shlist_new(); all zero means the
 *  defaults. */
typedef struct mproc_shm_opts {
    /** Keep the segment after the process tree has ended when it was not
     *  unlinked; default false: the watcher removes it (no Python
     *  equivalent; Python 3.13's track=False is the closest). Only
     *  matters when creating. */
    bool keep;
} mproc_shm_opts;

/**
 * Create a named segment, or attach to an existing one.
 *
 * Python: SharedMemory(name=None, create=False, size=0).
 *
 * out     receives the handle, owned by the caller: free it with
 *         mproc_shm_free(). NULL on failure.
 * name    the segment's name without a leading '/' (copied): 1 to
 *         MPROC_SHM_NAME_MAX bytes, no '/', not "." or "..". NULL with
 *         create: a fresh name, "psm_" and 8 random hex digits, as
 *         Python makes them.
 * create  create a new segment (mode 0600; the name must not exist), or
 *         attach to an existing one.
 * size    creating: the size in bytes, at least 1; the segment is zeroed.
 *         Attaching: 0, or the least size the caller needs; the whole
 *         segment is mapped either way (Python ignores size when
 *         attaching).
 * opts    NULL or options (borrowed).
 *
 * The mapping is read-write and shared. No descriptor stays open.
 * Creating registers the name with the tree's watcher (starting it the
 * first time; see the file comment) unless opts.keep.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a bad name, name NULL without create, create with size
 *                 0 (Python's ValueError), or an existing segment that is
 *                 empty or smaller than size
 *   -EEXIST       create, and the name exists (FileExistsError)
 *   -ENOENT       attach, and no such segment (FileNotFoundError)
 *   -EACCES       the segment belongs to someone else (PermissionError)
 *   other -errno  the segment could not be made, sized or mapped (-ENOSPC
 *                 when /dev/shm is full), or the watcher not started
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_shm_new(mproc_shm **out, const char *name, bool create,
                            size_t size, const mproc_shm_opts *opts);

/**
 * The mapped memory.
 *
 * Python: SharedMemory.buf.
 *
 * Returns: the first byte, valid until mproc_shm_close() or
 * mproc_shm_free(); NULL after close and for NULL.
 */
MPROC_API void *mproc_shm_buf(const mproc_shm *s);

/**
 * The segment's size in bytes (what is mapped).
 *
 * Python: SharedMemory.size.
 *
 * Returns: the size, also after close; 0 for NULL.
 */
MPROC_API size_t mproc_shm_size(const mproc_shm *s);

/**
 * The segment's name, without a leading '/': what another process passes
 * to mproc_shm_new() or Python's SharedMemory(name) to attach.
 *
 * Python: SharedMemory.name.
 *
 * Returns: the name, valid until mproc_shm_free(); "" for NULL.
 */
MPROC_API const char *mproc_shm_name(const mproc_shm *s);

/**
 * Unmap the segment from this handle; the segment itself stays. Closing
 * again does nothing.
 *
 * Python: SharedMemory.close().
 *
 * Returns: 0, or MPROC_EINVAL for NULL.
 *
 * Thread-safe: no other thread may use the handle's memory meanwhile.
 */
MPROC_API int mproc_shm_close(mproc_shm *s);

/**
 * Remove the segment's name: no one can attach to it any more, and its
 * memory is freed once every mapping is gone. Call it once, from any one
 * process; the mapping of this handle stays usable until closed. The
 * tree's watcher forgets the name.
 *
 * Python: SharedMemory.unlink().
 *
 * Returns: 0, or
 *   -ENOENT  the name is already gone (FileNotFoundError)
 *   MPROC_EINVAL  s is NULL
 *   other -errno  from the kernel (-EACCES)
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_shm_unlink(mproc_shm *s);

/**
 * Close the handle and free it. The segment is not unlinked (as Python's
 * SharedMemory.__del__ only closes).
 *
 * s  the handle; NULL does nothing.
 *
 * Returns: nothing.
 *
 * Fork: a forked child inherits the handle and its mapping; it may use
 * and free its copy without disturbing the parent's.
 */
MPROC_API void mproc_shm_free(mproc_shm *s);

/* ---- ShareableList -------------------------------------------------------
 */

/**
 * A list of fixed length in a named segment, in Python's layout (3.9 and
 * later; Python 3.8 wrote another, which is not supported). Items are int
 * (64-bit), float, bool, str, bytes or None.
 *
 * Layout (native byte order, every field 8-aligned), for N items:
 *   0          int64 N
 *   8          int64 offset[0..N]: item i's slot is offset[i] to
 *              offset[i+1] in the data area (offset[0] = 0)
 *   8(N+2)     the data area: an 8-byte slot per int, float, bool and None;
 *              8 * (len / 8 + 1) bytes per str or bytes of len bytes
 *   +offset[N] N 8-byte struct formats, NUL-padded: "q", "d", "xxxxxxx?"
 *              (bool in the slot's last byte), "xxxxxx?x" (None), "<n>s"
 *   +8N        N one-byte codes: 0 int/float/bool, 1 str, 2 bytes, 3 None
 *
 * A segment written by someone else is checked before use: a malformed
 * header at attach, a malformed format, code or slot at each access
 * (MPROC_EPROTOCOL, never a crash). A segment shrunk by another process
 * while mapped faults on access (SIGBUS), as in Python.
 */
typedef struct mproc_shlist mproc_shlist;

/**
 * Create a list in a new segment, or attach to an existing list.
 *
 * Python: ShareableList(sequence=None, *, name=None).
 *
 * out    receives the handle, owned by the caller: free it with
 *        mproc_shlist_free(). NULL on failure.
 * name   the segment's name (as mproc_shm_new()); NULL with items: a
 *        generated name.
 * items  a list or tuple of int, float, bool, str, bytes and None
 *        (borrowed): create a list of those values. NULL: attach to the
 *        list named `name`, or, with name NULL too, create an empty list
 *        (as Python's ShareableList()).
 * opts   NULL or options (borrowed): .keep as for mproc_shm_new().
 *
 * A str takes 8 * (bytes / 8 + 1) bytes of UTF-8 (Python counts code
 * points, not bytes, and truncates a non-ASCII str that does not fit;
 * mproc sizes by bytes, so nothing is cut, and Python reads it the same).
 *
 * Returns: 0, or
 *   MPROC_EINVAL     items is not a list or tuple, or holds another type
 *                    (Python's KeyError/TypeError), or a bad name
 *   MPROC_ETOOBIG    an int outside 64 bits (struct.error), or a str or
 *                    bytes too long for an 8-character format (over
 *                    9,999,991 bytes: Python's AssertionError)
 *   MPROC_EPROTOCOL  attach: the segment does not hold a well-formed list
 *   -EEXIST, -ENOENT and others as mproc_shm_new()
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_shlist_new(mproc_shlist **out, const char *name,
                               const mproc_obj *items,
                               const mproc_shm_opts *opts);

/**
 * The number of items (fixed for the list's life).
 *
 * Python: len(ShareableList).
 *
 * Returns: the length; 0 for NULL.
 */
MPROC_API size_t mproc_shlist_len(const mproc_shlist *l);

/**
 * Read item i.
 *
 * Python: ShareableList[i]. A str or bytes loses trailing NUL bytes, as
 * in Python.
 *
 * out  receives a new reference (mproc_obj_free()); NULL on failure.
 *
 * Returns: 0, or
 *   -ERANGE          i is out of range (IndexError)
 *   MPROC_EPROTOCOL  the item's format, code or slot is malformed, or a
 *                    str is not UTF-8 (UnicodeDecodeError)
 */
MPROC_API int mproc_shlist_get(const mproc_shlist *l, size_t i,
                               mproc_obj **out);

/**
 * Replace item i, with Python's rules: any of the six types may replace
 * any other; a str or bytes must fit the slot the item was given when the
 * list was made (its length then, rounded up as above).
 *
 * Python: ShareableList[i] = v.
 *
 * v  the value (borrowed): None, bool, int, float, str or bytes.
 *
 * Returns: 0, or
 *   -ERANGE          i is out of range (IndexError)
 *   MPROC_EINVAL     v has another type (bytearray, list, ...)
 *   MPROC_ETOOBIG    a str or bytes longer than the slot (Python's
 *                    ValueError "exceeds available storage"), or an int
 *                    outside 64 bits; the item is unchanged
 *   MPROC_EPROTOCOL  the item's current format is malformed
 *
 * Thread-safe: as Python's: nothing orders a write against a read of the
 * same item by another thread or process; use a lock.
 */
MPROC_API int mproc_shlist_set(mproc_shlist *l, size_t i, const mproc_obj *v);

/**
 * Read item i as an int.
 *
 * Returns: 0, or -ERANGE, MPROC_EPROTOCOL as mproc_shlist_get(), or
 *   MPROC_EINVAL  the item is not an int (a bool is not)
 */
MPROC_API int mproc_shlist_get_int(const mproc_shlist *l, size_t i, int64_t *v);

/**
 * Read item i as a float.
 *
 * Returns: 0, or -ERANGE, MPROC_EPROTOCOL as mproc_shlist_get(), or
 *   MPROC_EINVAL  the item is not a float
 */
MPROC_API int mproc_shlist_get_float(const mproc_shlist *l, size_t i,
                                     double *v);

/**
 * Store an int in item i (ShareableList[i] = v for an int).
 *
 * Returns: 0, or -ERANGE, MPROC_EPROTOCOL as mproc_shlist_set().
 */
MPROC_API int mproc_shlist_set_int(mproc_shlist *l, size_t i, int64_t v);

/**
 * Store a float in item i.
 *
 * Returns: 0, or -ERANGE, MPROC_EPROTOCOL as mproc_shlist_set().
 */
MPROC_API int mproc_shlist_set_float(mproc_shlist *l, size_t i, double v);

/**
 * Store a str (UTF-8, checked) in item i.
 *
 * Returns: 0, or -ERANGE, MPROC_ETOOBIG, MPROC_EPROTOCOL as
 * mproc_shlist_set(), MPROC_EINVAL for text that is not UTF-8.
 */
MPROC_API int mproc_shlist_set_str(mproc_shlist *l, size_t i, const char *utf8,
                                   size_t len);

/**
 * How many items equal v (Python's ==: 1 == 1.0 == True).
 *
 * Python: ShareableList.count(value).
 *
 * Returns: 0, or MPROC_EINVAL (v NULL), MPROC_EPROTOCOL (an item is
 * malformed).
 */
MPROC_API int mproc_shlist_count(const mproc_shlist *l, const mproc_obj *v,
                                 size_t *count);

/**
 * The first index whose item equals v.
 *
 * Python: ShareableList.index(value).
 *
 * Returns: 0, or
 *   -ENOENT          no item equals v (ValueError)
 *   MPROC_EPROTOCOL  an item before the match is malformed
 */
MPROC_API int mproc_shlist_index(const mproc_shlist *l, const mproc_obj *v,
                                 size_t *index);

/**
 * The struct format of all items, concatenated ("qd8s").
 *
 * Python: ShareableList.format.
 *
 * out  receives the text, NUL-terminated (mproc_buf_free(); len excludes
 *      the NUL).
 *
 * Returns: 0, or MPROC_EPROTOCOL (an item's format is malformed).
 */
MPROC_API int mproc_shlist_format(const mproc_shlist *l, mproc_buf *out);

/**
 * The segment under the list: its name, to attach from elsewhere, and
 * mproc_shm_unlink() to remove it.
 *
 * Python: ShareableList.shm.
 *
 * Returns: the segment, borrowed, valid until mproc_shlist_free(); NULL
 * for NULL.
 */
MPROC_API mproc_shm *mproc_shlist_shm(const mproc_shlist *l);

/**
 * Close the list's segment and free the handle (the segment is not
 * unlinked).
 *
 * l  the handle; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_shlist_free(mproc_shlist *l);

/** The element types of a Value or an Array. */
enum mproc_ctype {
    MPROC_CTYPE_INVALID = 0, /**< no type: refused */
    MPROC_CTYPE_CHAR,        /**< char; Python 'c' (c_char) */
    MPROC_CTYPE_SCHAR,       /**< signed char; Python 'b' (c_byte) */
    MPROC_CTYPE_UCHAR,       /**< unsigned char; Python 'B' (c_ubyte) */
    MPROC_CTYPE_SHORT,       /**< short; Python 'h' */
    MPROC_CTYPE_USHORT,      /**< unsigned short; Python 'H' */
    MPROC_CTYPE_INT,         /**< int; Python 'i' */
    MPROC_CTYPE_UINT,        /**< unsigned int; Python 'I' */
    MPROC_CTYPE_LONG,        /**< long; Python 'l' */
    MPROC_CTYPE_ULONG,       /**< unsigned long; Python 'L' */
    MPROC_CTYPE_LONGLONG,    /**< long long; Python 'q' */
    MPROC_CTYPE_ULONGLONG,   /**< unsigned long long; Python 'Q' */
    MPROC_CTYPE_FLOAT,       /**< float; Python 'f' */
    MPROC_CTYPE_DOUBLE,      /**< double; Python 'd' */
    MPROC_CTYPE_WCHAR,       /**< wchar_t; Python 'u' (c_wchar) */
    MPROC_CTYPE_BOOL,        /**< bool; Python '?' (c_bool) */
    MPROC_CTYPE_INT8,        /**< int8_t */
    MPROC_CTYPE_UINT8,       /**< uint8_t */
    MPROC_CTYPE_INT16,       /**< int16_t */
    MPROC_CTYPE_UINT16,      /**< uint16_t */
    MPROC_CTYPE_INT32,       /**< int32_t */
    MPROC_CTYPE_UINT32,      /**< uint32_t */
    MPROC_CTYPE_INT64,       /**< int64_t */
    MPROC_CTYPE_UINT64,      /**< uint64_t */
    MPROC_CTYPE_SIZE,        /**< size_t */
    MPROC_CTYPE_STRUCT,      /**< a plain C struct: size and alignment in
                                  the options (Python: a ctypes Structure) */
};

/**
 * The type a Python typecode or a C type name stands for.
 *
 * name  a Python typecode ("c", "b", "B", "h", "H", "i", "I", "l", "L",
 *       "q", "Q", "f", "d", "u", "?") or a C type name ("char",
 *       "signed char", "unsigned char", "short", "unsigned short", "int",
 *       "unsigned int", "long", "unsigned long", "long long",
 *       "unsigned long long", "float", "double", "wchar_t", "bool",
 *       "int8_t" ... "uint64_t", "size_t"), borrowed.
 * out   receives the type.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, or a name that is none of these
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_ctype_parse(const char *name, enum mproc_ctype *out);

/**
 * The size in bytes of a scalar type.
 *
 * Returns: sizeof the type; 0 for MPROC_CTYPE_STRUCT (its size is the
 * caller's) and for values outside the enum.
 */
MPROC_API size_t mproc_ctype_size(enum mproc_ctype type);

/** Options of mproc_value_new() and mproc_array_new(); all zero means the
 *  defaults: guarded by a new RLock, zero-filled. */
typedef struct mproc_value_opts {
    /** No lock (Python: RawValue, RawArray, or lock=False); default false:
     *  a new RLock guards the data, as Python's lock=True. */
    bool raw;
    /** The caller's Lock to guard the data instead (Python: lock=Lock());
     *  borrowed: the object opens its own handle of it. */
    mproc_lock *lock;
    /** Or the caller's RLock. At most one of lock and rlock; neither with
     *  raw. */
    mproc_rlock *rlock;
    /** MPROC_CTYPE_STRUCT only: the size of one element in bytes (more
     *  than 0) and its alignment (a power of two up to 4096; 0: 16). */
    size_t size;
    /** See size. */
    size_t align;
    /** The initial contents, copied: one element for a Value, `length`
     *  elements for an Array; NULL: zeros (Python's default). */
    const void *init;
} mproc_value_opts;

/* ---- Value --------------------------------------------------------------- */

/** One shared element (Python: a Value or RawValue). */
typedef struct mproc_value mproc_value;

/**
 * Create a Value in shared memory.
 *
 * Python: Value(typecode_or_type, init, lock=True); RawValue with
 * opts.raw.
 *
 * out   receives the handle, owned by the caller: free it with
 *       mproc_value_free(). NULL on failure.
 * type  its type.
 * opts  NULL or options (borrowed).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out is NULL, type is not one of the enum's values, a
 *                 struct's size is 0 or its alignment not a power of two
 *                 up to 4096, or raw with a lock, or both lock and rlock
 *   MPROC_ENOMEM  no memory, shared or private
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_value_new(mproc_value **out, enum mproc_ctype type,
                              const mproc_value_opts *opts);

/**
 * The shared element itself: a plain C pointer, aligned for its type,
 * valid until mproc_value_free(v).
 *
 * Python: Value.get_obj() (the ctypes object).
 *
 * Returns: the pointer; NULL when v is NULL.
 */
MPROC_API void *mproc_value_get_obj(const mproc_value *v);

/**
 * The Value's type.
 *
 * Returns: the type; MPROC_CTYPE_INVALID when v is NULL.
 */
MPROC_API enum mproc_ctype mproc_value_type(const mproc_value *v);

/**
 * The size in bytes of the Value's element.
 *
 * Returns: the size; 0 when v is NULL.
 */
MPROC_API size_t mproc_value_size(const mproc_value *v);

/**
 * Copy the element out, holding the lock meanwhile (when there is one).
 *
 * Python: v.value.
 *
 * out  receives mproc_value_size(v) bytes.
 *
 * Returns: 0, or
 *   MPROC_EOWNERDEAD  the lock's last holder died holding it (see
 *                     mproc_lock_acquire()); the element is copied all the
 *                     same, and the lock released
 *   MPROC_EINVAL      v or out is NULL
 *
 * Thread-safe: yes. Waits for the lock without limit.
 */
MPROC_API int mproc_value_get(mproc_value *v, void *out);

/**
 * Copy a new element in, holding the lock meanwhile (when there is one).
 *
 * Python: v.value = x.
 *
 * in  mproc_value_size(v) bytes, borrowed.
 *
 * Returns: as mproc_value_get().
 */
MPROC_API int mproc_value_set(mproc_value *v, const void *in);

/**
 * Acquire the Value's lock, waiting up to `timeout` seconds.
 *
 * Python: Value.acquire() (Value.get_lock().acquire()).
 *
 * Returns: what the lock's acquire returns (mproc_lock_acquire(),
 * mproc_rlock_acquire()), or
 *   MPROC_EINVAL  v is NULL, timeout is NaN, or the Value is raw (no lock;
 *                 Python: AttributeError)
 */
MPROC_API int mproc_value_acquire(mproc_value *v, double timeout);

/**
 * Release the Value's lock.
 *
 * Python: Value.release().
 *
 * Returns: what the lock's release returns, or
 *   MPROC_EINVAL  v is NULL or raw
 */
MPROC_API int mproc_value_release(mproc_value *v);

/**
 * The lock that guards the Value: a Lock or an RLock, the other NULL.
 *
 * Python: Value.get_lock().
 *
 * lock   receives the Lock or NULL (borrowed: valid until
 *        mproc_value_free(v)).
 * rlock  receives the RLock or NULL (likewise).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, or the Value is raw
 */
MPROC_API int mproc_value_get_lock(const mproc_value *v, mproc_lock **lock,
                                   mproc_rlock **rlock);

/**
 * Add to an integer Value atomically, without the lock (beyond Python).
 * The sum wraps around at the width of the type.
 *
 * v      a Value of an integer type (CHAR, WCHAR, BOOL, FLOAT, DOUBLE and
 *        STRUCT are not).
 * delta  what to add (negative subtracts); truncated to the type.
 * old    NULL, or receives the value before the addition.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  v is NULL or not of an integer type
 *
 * Thread-safe: yes, and atomic against every other atomic operation on the
 * Value in any process (sequentially consistent); a plain write through
 * mproc_value_get_obj() or mproc_value_set() is not.
 */
MPROC_API int mproc_value_add(mproc_value *v, int64_t delta, int64_t *old);

/**
 * Replace an integer Value by `desired` if it equals `*expected`,
 * atomically, without the lock (beyond Python; C11's
 * atomic_compare_exchange_strong).
 *
 * expected  in: the value expected; out: the value found (when not
 *           swapped, the current one).
 * swapped   receives whether the Value was replaced.
 *
 * Returns: 0 (whether swapped or not), or
 *   MPROC_EINVAL  a NULL argument, or v is not of an integer type
 *
 * Thread-safe: as mproc_value_add().
 */
MPROC_API int mproc_value_compare_exchange(mproc_value *v, int64_t *expected,
                                           int64_t desired, bool *swapped);

/**
 * Name the Value (and its lock) as a token, for a child started by spawn
 * or forkserver.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  v or out is NULL
 */
MPROC_API int mproc_value_token(const mproc_value *v, mproc_token *out);

/**
 * A handle of the Value a token names, in this process, with its lock.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a NULL argument, not a Value's token, or the Value is
 *                 gone
 *   -ENOENT       its memory is not mapped in this process (see
 *                 mproc_lock_from_token())
 */
MPROC_API int mproc_value_from_token(mproc_value **out, const mproc_token *t);

/**
 * Free this process's handle; the Value lives on while another handle to
 * it exists, in any process.
 *
 * v  the handle; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_value_free(mproc_value *v);

/* ---- Array --------------------------------------------------------------- */

/** Shared elements in a row (Python: an Array or RawArray). */
typedef struct mproc_array mproc_array;

/**
 * Create an Array of `length` elements in shared memory.
 *
 * Python: Array(typecode_or_type, size_or_initializer, lock=True);
 * RawArray with opts.raw. An initializer sequence is opts.init with its
 * length.
 *
 * out     receives the handle, owned by the caller: free it with
 *         mproc_array_free(). NULL on failure.
 * type    the elements' type.
 * length  how many (0 is allowed, as in Python).
 * opts    NULL or options (borrowed).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  as mproc_value_new()
 *   MPROC_ENOMEM  no memory, or length * element size overflows
 */
MPROC_API int mproc_array_new(mproc_array **out, enum mproc_ctype type,
                              size_t length, const mproc_value_opts *opts);

/**
 * The elements themselves: a plain C array, valid until
 * mproc_array_free(a).
 *
 * Python: Array.get_obj().
 *
 * Returns: the pointer (not NULL even for length 0); NULL when a is NULL.
 */
MPROC_API void *mproc_array_get_obj(const mproc_array *a);

/**
 * The number of elements.
 *
 * Python: len(arr).
 *
 * Returns: the length; 0 when a is NULL.
 */
MPROC_API size_t mproc_array_len(const mproc_array *a);

/**
 * The size in bytes of one element.
 *
 * Returns: the size; 0 when a is NULL.
 */
MPROC_API size_t mproc_array_itemsize(const mproc_array *a);

/**
 * The elements' type.
 *
 * Returns: the type; MPROC_CTYPE_INVALID when a is NULL.
 */
MPROC_API enum mproc_ctype mproc_array_type(const mproc_array *a);

/**
 * Copy elements [start, start + n) out, holding the lock meanwhile.
 *
 * Python: arr[i] (n = 1) and arr[start:start + n].
 *
 * out  receives n * mproc_array_itemsize(a) bytes.
 *
 * Returns: 0, or
 *   MPROC_EOWNERDEAD  as mproc_value_get()
 *   MPROC_EINVAL      a NULL argument, or the range is not inside the
 *                     Array (Python: IndexError)
 */
MPROC_API int mproc_array_get(mproc_array *a, size_t start, size_t n,
                              void *out);

/**
 * Copy elements [start, start + n) in, holding the lock meanwhile.
 *
 * Python: arr[i] = x (n = 1) and arr[start:start + n] = xs.
 *
 * Returns: as mproc_array_get().
 */
MPROC_API int mproc_array_set(mproc_array *a, size_t start, size_t n,
                              const void *in);

/**
 * Acquire the Array's lock, waiting up to `timeout` seconds.
 *
 * Python: Array.acquire().
 *
 * Returns: as mproc_value_acquire().
 */
MPROC_API int mproc_array_acquire(mproc_array *a, double timeout);

/**
 * Release the Array's lock.
 *
 * Python: Array.release().
 *
 * Returns: as mproc_value_release().
 */
MPROC_API int mproc_array_release(mproc_array *a);

/**
 * The lock that guards the Array: a Lock or an RLock, the other NULL.
 *
 * Python: Array.get_lock().
 *
 * Returns: as mproc_value_get_lock().
 */
MPROC_API int mproc_array_get_lock(const mproc_array *a, mproc_lock **lock,
                                   mproc_rlock **rlock);

/**
 * Name the Array (and its lock) as a token, for a child started by spawn
 * or forkserver.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  a or out is NULL
 */
MPROC_API int mproc_array_token(const mproc_array *a, mproc_token *out);

/**
 * A handle of the Array a token names, in this process, with its lock.
 *
 * Returns: as mproc_value_from_token() (an Array's token, not a Value's).
 */
MPROC_API int mproc_array_from_token(mproc_array **out, const mproc_token *t);

/**
 * Free this process's handle; the Array lives on while another handle to
 * it exists, in any process.
 *
 * a  the handle; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_array_free(mproc_array *a);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SHM_H */
