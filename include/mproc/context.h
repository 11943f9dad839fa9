/**
 * @file context.h
 * Start methods: how a new process comes to run its target. Python:
 * multiprocessing.get_context, set_start_method, get_start_method,
 * get_all_start_methods, set_executable, freeze_support.
 *
 * A Python "context" is, in mproc, the start-method enum carried by each
 * options struct (`.start_method`); MPROC_START_DEFAULT (0) means the
 * process-wide choice made with mproc_set_start_method(), which is fork
 * until changed.
 *
 * What a child sees under each method:
 * - fork: a copy of the parent at the moment of mproc_process_start(): its
 *   memory, its open descriptors, only the calling thread. Locks that other
 *   threads held stay held, so in a multithreaded parent prefer spawn or
 *   forkserver. Cheapest.
 * - spawn: a fresh execution of the program (or of the binary named with
 *   mproc_set_executable()). The library recognises the child in its own
 *   constructor, before `main`, and runs the target there, so the host
 *   program's `main` never runs in it: the C library and mproc's own
 *   dependencies are initialised, but constructors of the program itself
 *   and of libraries initialised after mproc may not have run. Global
 *   variables have their initial values, and only stdin (/dev/null),
 *   stdout and stderr are open besides what the library uses. The target
 *   is found again by (loaded object, offset, build id), so it may live in
 *   the executable or in a shared library; the argument bytes are copied
 *   over.
 * - forkserver: a server process started as a fresh execution of the
 *   program (the state a spawn child sees, single-threaded by construction)
 *   forks each child on request. A child sees that clean state, never the
 *   parent's threads or locks; starting is much cheaper than spawn.
 * Under every method the child's stdin is /dev/null, as in Python, and the
 * child ends with _exit() after flushing stdout and stderr, so the parent's
 * atexit handlers and stdio buffers never run twice.
 *
 * The spawn/forkserver entry costs every program that links mproc one
 * environment look-up at load time and nothing else.
 */
#ifndef MPROC_CONTEXT_H
#define MPROC_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A start method; 0 means the process-wide default. */
enum mproc_start_method {
    MPROC_START_DEFAULT = 0, /**< mproc_get_start_method()'s choice */
    MPROC_START_FORK,        /**< fork(): Python's "fork" */
    MPROC_START_SPAWN,       /**< re-execute the program: "spawn" */
    MPROC_START_FORKSERVER,  /**< fork from a clean server: "forkserver" */
};

/** How many real start methods there are (fork, spawn, forkserver). */
#define MPROC_START_METHOD_COUNT 3

/**
 * Choose the start method that MPROC_START_DEFAULT stands for.
 *
 * Python: multiprocessing.set_start_method(method, force).
 *
 * method  MPROC_START_FORK, MPROC_START_SPAWN or MPROC_START_FORKSERVER.
 * force   replace a choice already made.
 *
 * Returns: 0, or
 *   MPROC_EINVAL   method is not one of the three
 *   MPROC_ESTATE   the method was already set, or already used by a
 *                  started process, and force is false (Python:
 *                  RuntimeError "context has already been set")
 *
 * Thread-safe: yes.  Fork: a forked child inherits the choice.
 */
MPROC_API int mproc_set_start_method(enum mproc_start_method method,
                                     bool force);

/**
 * The start method that MPROC_START_DEFAULT stands for now.
 *
 * Python: multiprocessing.get_start_method().
 *
 * Returns: MPROC_START_FORK, MPROC_START_SPAWN or MPROC_START_FORKSERVER.
 *
 * Thread-safe: yes.
 */
MPROC_API enum mproc_start_method mproc_get_start_method(void);

/**
 * List the start methods this platform offers, the default first.
 *
 * Python: multiprocessing.get_all_start_methods().
 *
 * out  receives up to MPROC_START_METHOD_COUNT methods; may be NULL to
 *      only count them.
 *
 * Returns: the number of methods (MPROC_START_METHOD_COUNT on Linux).
 *
 * Thread-safe: yes.
 */
MPROC_API size_t mproc_get_all_start_methods(
    enum mproc_start_method out[MPROC_START_METHOD_COUNT]);

/**
 * Python's name of a start method: "fork", "spawn", "forkserver".
 *
 * Returns: a static string; "default" for MPROC_START_DEFAULT and
 * "unknown" for a value outside the enum.
 */
MPROC_API const char *mproc_start_method_name(enum mproc_start_method method);

/**
 * Look a start method up by its Python name.
 *
 * name  "fork", "spawn" or "forkserver" (borrowed).
 * out   receives the method.
 *
 * Returns: 0, or MPROC_EINVAL for an unknown name or a NULL argument.
 */
MPROC_API int mproc_start_method_from_name(const char *name,
                                           enum mproc_start_method *out);

/**
 * Choose the binary that spawn children and the forkserver execute.
 *
 * Python: multiprocessing.set_executable(path).
 *
 * path  the binary (copied); NULL restores the default, the running
 *       program (/proc/self/exe). The binary must be this same program
 *       (the same build): a child of another build of it cannot find the
 *       target and mproc_process_start() reports MPROC_EINVAL; a program
 *       that does not link mproc never answers: MPROC_ECRASHED.
 *
 * Returns: 0, or
 *   -ENOENT, -EACCES  path does not name an executable file
 *
 * Thread-safe: yes. A forkserver already running keeps its binary.
 */
MPROC_API int mproc_set_executable(const char *path);

/**
 * Start the forkserver now rather than at the first forkserver start.
 *
 * Python: multiprocessing.forkserver.ensure_running(). Calling it early,
 * before the program makes threads or grows large, is cheapest; it is
 * harmless when the server already runs.
 *
 * Returns: 0, or a negated errno when the server cannot be started.
 *
 * Thread-safe: yes.  Fork: a forked child does not share its parent's
 * server; it starts its own when it needs one.
 */
MPROC_API int mproc_forkserver_start(void);

/**
 * Nothing to do: Python's freeze_support() matters only for frozen
 * Windows executables. Exists so ported programs keep their call.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_freeze_support(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CONTEXT_H */
