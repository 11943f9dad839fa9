/**
 * @file process.h
 * Process: run a C function in a child process and watch, stop and reap it.
 * Python: multiprocessing.Process, current_process, parent_process,
 * active_children, cpu_count.
 *
 * A process handle is created with a target and its argument bytes, started
 * once with mproc_process_start(), joined, and freed. The sentinel is the
 * child's pidfd (fork, spawn) or a status pipe from the forkserver: a
 * descriptor that becomes readable when the child ends, usable with poll(),
 * epoll or mproc_wait(). Every signal goes through a pidfd, so a reused pid
 * is never signalled by mistake.
 *
 * Python's rules hold: starting twice, joining before start, joining itself,
 * joining from a process that is not the parent and closing a running
 * process are MPROC_ESTATE; a daemon process may not start children.
 * When the program returns from main or calls exit(), it terminates its
 * daemon children (SIGTERM) and joins every child, as Python does. Beyond
 * Python, a daemon child whose parent dies abruptly (SIGKILL) is killed at
 * once: it watches the parent through a pidfd.
 *
 * Names: a child created with no name is "Process-N" where N counts the
 * processes this process created (1, 2, ...); the children of "Process-2"
 * are "Process-2:1", "Process-2:2", ... The main process is "MainProcess".
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.h"
#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A process: a child of this process, or the current or parent process. */
typedef struct mproc_process mproc_process;

/**
 * A process's target. It receives a copy of the argument bytes given to
 * mproc_process_new() (NULL and 0 when there were none); its return value
 * is the process's exit code (only the low 8 bits survive, as for exit()).
 */
typedef int (*mproc_target)(const void *arg, size_t len);

/** What mproc_process_exitcode() returns while there is no exit code. */
#define MPROC_EXITCODE_NONE INT_MIN

/** Options of mproc_process_new(); all zero means the defaults. */
typedef struct mproc_process_opts {
    /** The process's name (copied); NULL: "Process-N" (Python: name). */
    const char *name;
    /** Daemon: terminated when its parent exits, may not start children;
     *  default false (Python: daemon). */
    bool daemon;
    /** How the child is started; MPROC_START_DEFAULT: the process-wide
     *  choice (Python: the context). */
    enum mproc_start_method start_method;
} mproc_process_opts;

/**
 * Create a process object that will run target(arg, len) in a child.
 *
 * Python: Process(target=..., args=..., name=..., daemon=...).
 *
 * out     receives the handle, owned by the caller: free it with
 *         mproc_process_free(). NULL on failure.
 * target  the function the child runs.
 * arg     argument bytes, copied now; NULL only with len 0.
 * len     their length.
 * opts    NULL or options (borrowed; the name is copied).
 *
 * Returns: 0, or
 *   MPROC_EINVAL  out or target is NULL, arg is NULL with len > 0, or the
 *                 start method is not one of the enum's values
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_process_new(mproc_process **out, mproc_target target,
                                const void *arg, size_t len,
                                const mproc_process_opts *opts);

/**
 * Start the child. On return the child exists and its pid and sentinel are
 * known; under spawn and forkserver the child has also found its target.
 *
 * Python: Process.start().
 *
 * Returns: 0, or
 *   MPROC_ESTATE  started before, closed, a library-owned handle (the
 *                 current or parent process), or this process is a daemon
 *                 (Python: "daemonic processes are not allowed to have
 *                 children")
 *   MPROC_EINVAL  spawn/forkserver: the target is not code of a loaded
 *                 object, or the child's binary does not contain it (a
 *                 different build: see mproc_set_executable())
 *   MPROC_ECRASHED spawn: the child ended before it could report that it
 *                 found its target (it crashed while loading, or the
 *                 executable is not a program that links mproc)
 *   -EAGAIN       the system refused a new process (fork's error)
 *   other -errno  the child could not be created or executed
 *
 * Thread-safe: yes. Under fork only the calling thread is copied: see
 * context.h.
 */
MPROC_API int mproc_process_start(mproc_process *p);

/**
 * Wait until the child ends, at most `timeout` seconds, and reap it.
 *
 * Python: Process.join(timeout).
 *
 * timeout  seconds; 0 polls, MPROC_FOREVER waits without limit. A signal
 *          does not cut the wait short.
 *
 * Returns: 0 when the child has ended (its exit code is then known), or
 *   MPROC_ETIMEDOUT  still running when the time ran out
 *   MPROC_ESTATE     not started, closed, the current process itself, or
 *                    called from a process that is not the parent (the
 *                    parent process's handle may be joined: it waits for
 *                    the parent to end)
 *   MPROC_EINVAL     timeout is NaN
 *
 * Thread-safe: yes; several threads may join at once.
 */
MPROC_API int mproc_process_join(mproc_process *p, double timeout);

/**
 * Whether the process has been started and has not yet ended. Reaps a
 * child that has ended.
 *
 * Python: Process.is_alive().
 *
 * Returns: true while running; false before start, after the end, after
 * close, and for NULL. The current process is always alive.
 *
 * Thread-safe: yes.
 */
MPROC_API bool mproc_process_is_alive(mproc_process *p);

/**
 * The child's exit code, reaping it if it has ended.
 *
 * Python: Process.exitcode.
 *
 * Returns: the target's return value or the status given to exit()/_exit()
 * (0..255); minus the signal number when a signal ended it (-9 after
 * mproc_process_kill()); MPROC_EXITCODE_NONE before start, while it runs,
 * for the current and parent processes and for NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_process_exitcode(mproc_process *p);

/**
 * The process id.
 *
 * Python: Process.pid.
 *
 * Returns: the pid; 0 before start (Python: None) and for NULL.
 */
MPROC_API pid_t mproc_process_pid(const mproc_process *p);

/**
 * The process's name.
 *
 * Python: Process.name.
 *
 * Returns: a string valid until the name is set again or the handle is
 * freed; "" for NULL.
 *
 * Thread-safe: yes, but a concurrent mproc_process_set_name() invalidates
 * the string: do not rename a process other threads are reading.
 */
MPROC_API const char *mproc_process_name(const mproc_process *p);

/**
 * Rename the process. A started child keeps the name it started with;
 * renaming the current process changes what log lines show.
 *
 * Python: Process.name = name.
 *
 * name  the new name (copied).
 *
 * Returns: 0, or MPROC_EINVAL for a NULL argument.
 */
MPROC_API int mproc_process_set_name(mproc_process *p, const char *name);

/**
 * Whether the process is a daemon.
 *
 * Python: Process.daemon.
 *
 * Returns: the flag; false for NULL.
 */
MPROC_API bool mproc_process_is_daemon(const mproc_process *p);

/**
 * Set the daemon flag before start.
 *
 * Python: Process.daemon = daemon.
 *
 * Returns: 0, or MPROC_ESTATE once started (Python: "process has already
 * started").
 */
MPROC_API int mproc_process_set_daemon(mproc_process *p, bool daemon);

/**
 * The process's authkey: the secret its connections prove by default.
 * The main process gets 32 random bytes at first use; a process object
 * copies its creator's key when created, and the child starts with it
 * (under every start method), so a process tree shares one key.
 *
 * Python: Process.authkey.
 *
 * len  receives the key's length.
 *
 * Returns: the key, valid until it is set again or the handle is freed;
 * NULL (and *len 0) for NULL, for the parent process's handle (a parent's
 * key is not passed down: a child's own key is the one its creator gave
 * it), or when no random bytes could be had.
 *
 * Thread-safe: yes, but a concurrent mproc_process_set_authkey()
 * invalidates the pointer.
 */
MPROC_API const void *mproc_process_authkey(mproc_process *p, size_t *len);

/**
 * Set the process's authkey: before start for a child (it starts with
 * it), at any time for the current process (children created later copy
 * it).
 *
 * Python: Process.authkey = key.
 *
 * key, len  the key (copied), at least 1 byte.
 *
 * Returns: 0, or
 *   MPROC_EINVAL  NULL or empty key
 *   MPROC_ESTATE  a child already started, or the parent's handle
 */
MPROC_API int mproc_process_set_authkey(mproc_process *p, const void *key,
                                        size_t len);

/**
 * Ask the child to end: send SIGTERM through its pidfd.
 *
 * Python: Process.terminate().
 *
 * Returns: 0 (also when the child has already ended: nothing is sent), or
 *   MPROC_ESTATE  not started, closed, or a library-owned handle (the
 *                 current or parent process)
 *
 * Thread-safe: yes.  Fork: a forked child may signal a sibling through an
 * inherited handle.
 */
MPROC_API int mproc_process_terminate(mproc_process *p);

/**
 * Kill the child: send SIGKILL through its pidfd.
 *
 * Python: Process.kill().
 *
 * Returns: as mproc_process_terminate().
 */
MPROC_API int mproc_process_kill(mproc_process *p);

/**
 * Release the descriptors of an ended (or never started) process. After it
 * every call but mproc_process_free(), mproc_process_name() and
 * mproc_process_pid() returns MPROC_ESTATE or its empty value.
 *
 * Python: Process.close().
 *
 * Returns: 0 (also when already closed), or
 *   MPROC_ESTATE  the child is still running (Python: ValueError), or a
 *                 library-owned handle
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_process_close(mproc_process *p);

/**
 * A descriptor that becomes readable when the child ends; for the parent
 * process's handle, when the parent ends. Owned by the handle: do not close
 * it or read from it.
 *
 * Python: Process.sentinel.
 *
 * Returns: the descriptor, or -1 before start, after close, for the current
 * process and for NULL.
 */
MPROC_API int mproc_process_sentinel(const mproc_process *p);

/**
 * Free a process handle. A child still running is not stopped: the library
 * keeps track of it, so mproc_active_children() can still list and reap it
 * and the exit-time join still waits for it (terminates it, if a daemon).
 * Library-owned handles (current, parent) are not freed.
 *
 * p  the handle; NULL does nothing.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_process_free(mproc_process *p);

/**
 * The current process: "MainProcess" in the main program, the child's own
 * handle (name, daemon flag, pid) in a child.
 *
 * Python: multiprocessing.current_process().
 *
 * Returns: a handle owned by the library, valid for the life of the process.
 *
 * Thread-safe: yes.
 */
MPROC_API mproc_process *mproc_current_process(void);

/**
 * The parent of the current process, if mproc started it.
 *
 * Python: multiprocessing.parent_process().
 *
 * Returns: a handle owned by the library (its name, pid, and a sentinel
 * that becomes readable when the parent ends; joining it waits for that),
 * or NULL in the main process.
 *
 * Thread-safe: yes.
 */
MPROC_API mproc_process *mproc_parent_process(void);

/**
 * List the children of this process that are still alive, reaping those
 * that have ended.
 *
 * Python: multiprocessing.active_children().
 *
 * out  receives an array of handles (the array is owned by the caller and
 *      freed with mproc_free(); the handles are borrowed: each stays valid
 *      until its owner frees it, or, for a handle freed while running,
 *      until a later call reaps it). NULL when the count is 0.
 * n    receives the count.
 *
 * Returns: 0, or MPROC_EINVAL for NULL arguments.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_active_children(mproc_process ***out, size_t *n);

/**
 * The number of CPUs this process may run on (its affinity mask), at
 * least 1.
 *
 * Python: multiprocessing.cpu_count() (Python counts every CPU of the
 * machine; mproc counts those this process is allowed to use, like
 * os.process_cpu_count() of Python 3.13).
 *
 * Returns: the count, at least 1.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_PROCESS_H */
