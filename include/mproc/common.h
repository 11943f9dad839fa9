/**
 * @file common.h
 * What every mproc header shares: the export macro, the version, the error
 * codes and their names, the timeout convention and the byte buffer handed
 * to callers.
 *
 * Conventions (DESIGN.md §2 and §5):
 * - A fallible function returns `int`: 0 on success, a negative MPROC_E*
 *   code on failure. Results come out through out-parameters, which are left
 *   NULL/empty on failure.
 * - A condition that means an errno is that errno negated (MPROC_EINVAL is
 *   -EINVAL); any other OS failure is passed through as -errno. mproc's own
 *   conditions sit at -10001 and below.
 * - Timeouts are `double` seconds on the monotonic clock: 0 polls,
 *   MPROC_FOREVER (any negative value, and +infinity) blocks, NaN is
 *   MPROC_EINVAL. A call interrupted by a signal resumes with the time left.
 * - Every object has a `_new`/`_free` pair; `_free(NULL)` does nothing.
 *   Options come in a `mproc_<concept>_opts` struct whose all-zero value
 *   means the defaults, passed by pointer (NULL = defaults).
 */
#ifndef MPROC_COMMON_H
#define MPROC_COMMON_H

#include <errno.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MPROC_STATIC_DEFINE)
#define MPROC_API
#elif defined(__GNUC__)
#define MPROC_API __attribute__((visibility("default")))
#else
#define MPROC_API
#endif

/** The library's version, as numbers and as "MAJOR.MINOR.PATCH". */
#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0

/** Block without limit: pass as any `timeout` argument. */
#define MPROC_FOREVER (-1.0)

/**
 * Every code the library returns by name, with its value and message.
 * X(name, value, message). Codes equal to an errno come first, then mproc's
 * own, in the order of DESIGN.md §5.2.
 */
#define MPROC_ERRORS(X)                                                        \
    X(EINVAL, -EINVAL, "invalid argument")                                     \
    X(ENOMEM, -ENOMEM, "out of memory")                                        \
    X(EPERM, -EPERM, "operation not permitted")                                \
    X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                      \
    X(EOWNERDEAD, -EOWNERDEAD,                                                 \
      "the previous holder died; the lock is held, repair the state")          \
    X(EEMPTY, -10001, "the queue is empty")                                    \
    X(EFULL, -10002, "the queue is full")                                      \
    X(ECLOSED, -10003, "the object is closed")                                 \
    X(EEOF, -10004, "end of file: the peer closed its end")                    \
    X(EAUTH, -10005, "authentication failed")                                  \
    X(EBROKEN, -10006, "the barrier is broken")                                \
    X(ECANCELLED, -10007, "the task was cancelled")                            \
    X(ECRASHED, -10008, "the worker running the task died")                    \
    X(ETOOSHORT, -10009, "the buffer is too short for the message")            \
    X(ETASK, -10010, "the task reported failure")                              \
    X(EPROTOCOL, -10011, "malformed data from the peer")                       \
    X(ESTATE, -10012, "not allowed in the object's current state")             \
    X(ETOOBIG, -10013, "too big")                                              \
    X(ECHECK, -10014, "the command exited with a non-zero status")

/** The error codes. MPROC_OK is success; every error is negative. */
enum mproc_error {
    MPROC_OK = 0,
#define MPROC__ERROR_ENUM(name, value, text) MPROC_##name = (value),
    MPROC_ERRORS(MPROC__ERROR_ENUM)
#undef MPROC__ERROR_ENUM
};

/**
 * Bytes handed to the caller: `data` points at `len` bytes owned by the
 * caller, released with mproc_buf_free(). An empty buffer is {NULL, 0}.
 */
typedef struct mproc_buf {
    void *data;
    size_t len;
} mproc_buf;

/**
 * A shared object named as bytes: what a child started by spawn or
 * forkserver (which share no memory with their parent at first) turns back
 * into a handle with the object's `_from_token` call. Made by the object's
 * `_token` call; carried inside a process's argument bytes. A token is
 * plain data: copy it freely; it stays valid while some process holds a
 * handle of the object. Its bytes mean nothing outside the process tree
 * that made it.
 */
typedef struct mproc_token {
    unsigned char bytes[32];
} mproc_token;

/**
 * Describe an error code in words.
 *
 * code  0, any MPROC_E* code, or any negated errno.
 *
 * Returns: a static string, never NULL. Codes outside the list that are
 * negated errnos get the C library's description; anything else gets
 * "unknown error".
 *
 * Thread-safe: yes.  Async-signal-safe: yes.
 */
MPROC_API const char *mproc_strerror(int code);

/**
 * Name an error code as it is spelled in C: "MPROC_ETIMEDOUT", "MPROC_OK".
 *
 * Returns: a static string, never NULL; a negated errno outside the list
 * gets its errno name ("EBADF"), anything else "MPROC_EUNKNOWN".
 *
 * Thread-safe: yes.  Async-signal-safe: yes.
 */
MPROC_API const char *mproc_errname(int code);

/**
 * The library's version as "MAJOR.MINOR.PATCH".
 *
 * Returns: a static string, never NULL.
 */
MPROC_API const char *mproc_version(void);

/**
 * Release the bytes of a buffer the library handed out and empty it.
 *
 * buf  the buffer; NULL, or an already empty buffer, is fine.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_buf_free(mproc_buf *buf);

/**
 * Release memory the library allocated for the caller where no other free
 * function is named (the array of mproc_active_children()).
 *
 * ptr  the memory; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_COMMON_H */
