/**
 * @file subprocess.h
 * Running programs: run, Popen, communicate, pipelines.
 * Python: subprocess.run, subprocess.Popen, CompletedProcess.
 *
 * A child program starts with posix_spawn (a vfork-class start: the
 * parent's memory is not copied), so a failure to execute it (missing,
 * not executable, a bad cwd) is reported to the parent as -errno, never
 * as exit status 127. Every descriptor the library makes is close-on-exec,
 * and by default the child gets only its three standard streams and the
 * pass_fds (Python: close_fds=True). The child is watched and signalled
 * through a pidfd, so kill() never reaches a process that reused its pid.
 *
 * The child starts with no signal blocked and SIGPIPE and SIGXFSZ at
 * their defaults (Python's restore_signals); signals this process ignores
 * stay ignored, others are reset by exec. A program name without '/' is
 * searched in this process's PATH (also when env replaces the child's
 * environment).
 *
 * A return code is the exit status, or minus the signal number that ended
 * the child (Python's returncode).
 *
 * Handles are thread-safe. They belong to the process that made them.
 */
#ifndef MPROC_SUBPROCESS_H
#define MPROC_SUBPROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A running (or finished) child program. */
typedef struct mproc_popen mproc_popen;

/** Where a standard stream of the child goes. */
enum mproc_stdio {
    /** The parent's own stream (Python: None). */
    MPROC_STDIO_INHERIT = 0,
    /** A pipe to the parent (Python: PIPE). */
    MPROC_STDIO_PIPE,
    /** /dev/null (Python: DEVNULL). */
    MPROC_STDIO_DEVNULL,
    /** The descriptor given beside it (Python: a file or fd). */
    MPROC_STDIO_FD,
    /** stderr only: wherever stdout goes (Python: STDOUT). */
    MPROC_STDIO_STDOUT
};

/** Options of mproc_popen_new() and mproc_run(); all zero means the
 *  defaults. */
typedef struct mproc_popen_opts {
    /** stdin, stdout, stderr: where each goes. */
    enum mproc_stdio in, out, err;
    /** With MPROC_STDIO_FD: the descriptor (borrowed; the child gets a
     *  copy). */
    int in_fd, out_fd, err_fd;
    /** The program to run instead of argv[0] (argv[0] is still its name);
     *  NULL: argv[0], searched in PATH when it has no '/'. Python:
     *  executable. */
    const char *executable;
    /** argv[0] is a command line for /bin/sh -c; the other argv items
     *  become $0, $1 ... Python: shell=True. */
    bool shell;
    /** The directory the child starts in; NULL: this one. */
    const char *cwd;
    /** The child's whole environment ("NAME=value" strings, NULL-ended);
     *  NULL: this process's, with env_add. */
    char *const *env;
    /** "NAME=value" strings (NULL-ended) added to this process's
     *  environment or to env, replacing same-named ones; NULL: none. */
    char *const *env_add;
    /** Descriptors the child keeps, at the same numbers (Python:
     *  pass_fds). */
    const int *pass_fds;
    size_t npass_fds;
    /** Keep every descriptor not marked close-on-exec (Python:
     *  close_fds=False); default: close all but 0-2 and pass_fds. */
    bool keep_fds;
    /** setsid() in the child (Python: start_new_session). */
    bool start_new_session;
    /** setpgid(0, process_group) in the child (Python: process_group; 0:
     *  a new group led by the child). */
    bool set_process_group;
    pid_t process_group;
} mproc_popen_opts;

/**
 * Start argv as a child program.
 *
 * Python: subprocess.Popen(args, ...).
 *
 * argv  the program and its arguments, NULL-ended (copied).
 *
 * Returns: 0, or
 *   -ENOENT, -EACCES, -ENOEXEC, -ENOTDIR ...  the program could not be
 *                  executed, or cwd not entered (the errno the child met)
 *   MPROC_EINVAL   out or argv NULL, argv empty, a bad stdio mode or a
 *                  negative fd, MPROC_STDIO_STDOUT for stdin or stdout, a
 *                  negative pass_fd
 *   -EBADF         an fd given (stdio or pass_fds) is not open
 *   MPROC_ENOMEM   no memory
 *   other -errno   pipes or the process could not be made (EMFILE,
 *                  EAGAIN ...)
 * Nothing is left behind on failure: no process, no descriptor.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_new(mproc_popen **out, char *const argv[],
                              const mproc_popen_opts *opts);

/**
 * Whether the child ended, without waiting.
 *
 * Python: Popen.poll().
 *
 * Returns: 0 (ended: mproc_popen_returncode() has its code), or
 *   MPROC_ETIMEDOUT  still running (Python's None)
 *   MPROC_EINVAL     p is NULL
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_poll(mproc_popen *p);

/**
 * Wait for the child to end.
 *
 * Python: Popen.wait(timeout).
 *
 * Returns: 0 (ended), or
 *   MPROC_ETIMEDOUT  still running after the timeout (Python's
 *                    TimeoutExpired); the child goes on
 *   MPROC_EINVAL     p is NULL, or timeout is NaN
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_wait(mproc_popen *p, double timeout);

/**
 * Send input to the child's stdin (then close it), read its stdout and
 * stderr to their end, and wait for it to end, without deadlocking
 * however large the data both ways.
 *
 * Python: Popen.communicate(input, timeout).
 *
 * input    NULL or len bytes (stdin must be a pipe when len > 0).
 * out,err  NULL, or receive everything read from stdout / stderr (pipes
 *          only), owned by the caller (mproc_buf_free()); { NULL, 0 }
 *          unless 0 is returned.
 * timeout  seconds for the whole call.
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  not all done in time: what was read so far is kept
 *                    and a later call (with input NULL: it is not sent
 *                    again; the rest of it is) goes on where this one
 *                    stopped and gives all of it; a grandchild holding a
 *                    pipe open does not stop the timeout
 *   MPROC_ESTATE     input given again after a call timed out, or input
 *                    with stdin not a pipe
 *   MPROC_EINVAL     p NULL, input NULL with len > 0, NaN timeout
 *   MPROC_ENOMEM     no memory
 *   other -errno     reading or writing failed (EPIPE is not one: a
 *                    child that does not read its input is fine)
 *
 * Thread-safe: yes: calls on p from other threads (kill, wait ...) go on
 * meanwhile; a second communicate waits for the first. Do not close p's
 * pipes while it runs.
 */
MPROC_API int mproc_popen_communicate(mproc_popen *p, const void *input,
                                      size_t len, mproc_buf *out,
                                      mproc_buf *err, double timeout);

/**
 * Send a signal to the child, unless it was reaped (a reused pid is never
 * signalled).
 *
 * Python: Popen.send_signal(sig).
 *
 * Returns: 0 (sent, or the child had already ended), or
 *   MPROC_EINVAL  p NULL or a bad signal number
 *   other -errno  the kernel refused
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_send_signal(mproc_popen *p, int sig);

/**
 * SIGTERM the child. Python: Popen.terminate().
 *
 * Returns: as mproc_popen_send_signal().
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_terminate(mproc_popen *p);

/**
 * SIGKILL the child. Python: Popen.kill().
 *
 * Returns: as mproc_popen_send_signal().
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_kill(mproc_popen *p);

/**
 * The child's pid. Python: Popen.pid.
 *
 * Returns: the pid, or -1 when p is NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API pid_t mproc_popen_pid(const mproc_popen *p);

/**
 * The child's return code once it ended (poll, wait or communicate saw
 * it). Python: Popen.returncode.
 *
 * Returns: the exit status, minus the signal that ended it, or
 * MPROC_EXITCODE_NONE while not known to have ended (or p NULL).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_returncode(const mproc_popen *p);

/**
 * The parent's end of a pipe to the child: which 0 (stdin, to write), 1
 * (stdout) or 2 (stderr). It belongs to p: use it (read, write, poll, or
 * as another child's MPROC_STDIO_FD), don't close it; see
 * mproc_popen_close_pipe().
 *
 * Python: Popen.stdin, Popen.stdout, Popen.stderr.
 *
 * Returns: the descriptor, or -1 when that stream is not a pipe (or
 * closed, or p NULL, or which out of range).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_pipe(const mproc_popen *p, int which);

/**
 * Close the parent's end of a pipe to the child (0, 1 or 2): after
 * handing stdout to the next command of a pipeline, so the first gets
 * SIGPIPE if the next exits; or stdin, to send end of file.
 *
 * Python: p1.stdout.close().
 *
 * Returns: 0, or MPROC_EINVAL (p NULL, which out of range, not a pipe or
 * already closed).
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_popen_close_pipe(mproc_popen *p, int which);

/**
 * Free the handle: close its pipes. A child still running is not waited
 * for nor signalled (as Python's Popen); it is reaped by a later
 * mproc_popen_new() or mproc_run() once it ends, so it leaves no zombie
 * behind for long. NULL does nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses p.
 */
MPROC_API void mproc_popen_free(mproc_popen *p);

/* ---- run --------------------------------------------------------------- */

/** Options of mproc_run(); all zero means the defaults. */
typedef struct mproc_run_opts {
    /** How the child starts: streams, cwd, env, shell ... */
    mproc_popen_opts popen;
    /** stdout and stderr to pipes, captured (Python: capture_output). */
    bool capture_output;
    /** Bytes for the child's stdin, which then is a pipe (Python:
     *  input). */
    const void *input;
    size_t input_len;
    /** A non-zero return code is an error, MPROC_ECHECK (Python:
     *  check). */
    bool check;
} mproc_run_opts;

/** What mproc_run() gives: Python's CompletedProcess. */
typedef struct mproc_completed {
    /** The arguments, NULL-ended (copied). */
    char **args;
    /** The return code (minus the signal number); MPROC_EXITCODE_NONE if
     *  the child was not seen to end (a start failure). */
    int returncode;
    /** What the child wrote to stdout / stderr, when captured (piped). */
    mproc_buf out, err;
} mproc_completed;

/**
 * Run argv, feed it input, wait for it, and give what it did.
 *
 * Python: subprocess.run(args, input, capture_output, timeout, check, ...).
 *
 * out      receives the outcome; free it with mproc_completed_free()
 *          whatever the return (when the child did not start: its args,
 *          returncode MPROC_EXITCODE_NONE, no output).
 * timeout  seconds; on expiry the child is killed (SIGKILL), waited for,
 *          and out keeps what it wrote so far (its returncode is then
 *          -SIGKILL).
 *
 * Returns: 0, or
 *   MPROC_ETIMEDOUT  the timeout passed (Python's TimeoutExpired)
 *   MPROC_ECHECK     check, and the return code was not 0 (Python's
 *                    CalledProcessError); out has the code and output
 *   mproc_popen_new()'s codes when the child could not start
 *   MPROC_EINVAL     argv or out NULL, NaN timeout, input with a stdin
 *                    mode set, capture_output with an out or err mode set
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_run(char *const argv[], const mproc_run_opts *opts,
                        mproc_completed *out, double timeout);

/**
 * Python: CompletedProcess.check_returncode().
 *
 * Returns: 0, or MPROC_ECHECK when returncode is not 0, MPROC_EINVAL
 * when c is NULL.
 *
 * Thread-safe: yes.
 */
MPROC_API int mproc_completed_check_returncode(const mproc_completed *c);

/**
 * Free what a completed process holds (its args and outputs) and empty
 * it. NULL does nothing.
 *
 * Returns: nothing.
 *
 * Thread-safe: yes, once no other thread uses c.
 */
MPROC_API void mproc_completed_free(mproc_completed *c);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SUBPROCESS_H */
