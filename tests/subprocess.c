/*
 * tests/subprocess.c - run, Popen and communicate against Python's
 * subprocess, with real programs (sh, cat, head, yes, grep, env): return
 * codes (exit status, minus the signal), capture, input, check, every
 * timeout path (wait, communicate, run) with elapsed-time bounds and the
 * output read before it kept, stderr into stdout, DEVNULL and descriptor
 * targets, megabytes both ways at once without deadlock, a communicate
 * that timed out going on where it stopped (nothing lost, input not sent
 * twice), a grandchild holding a pipe open, signals, env, cwd, start
 * failures reported as -errno with nothing left behind, pass_fds,
 * close_fds and keep_fds, sessions and process groups, shell, a pipeline
 * of two Popens, a signal storm at the parent, threads, and every refusal.
 *
 * A child that must run until the test lets it go blocks on a gate: a pipe
 * whose write end the test holds and closes. Nothing sleeps for luck.
 */
#include "helpers/th.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(subprocess, .init = th_begin, .fini = th_end, .timeout = 60);

/* A NULL-ended argv of string literals. */
#define ARGV(...) ((char *const[]){ __VA_ARGS__, NULL })

/* The call returns `want`; on failure both codes are named. */
#define assert_code(call, want)                                                \
    do {                                                                       \
        int ac_rc_ = (call);                                                   \
        cr_assert_eq(ac_rc_, (want), "%s: %s, expected %s", #call,             \
                     mproc_errname(ac_rc_), mproc_errname(want));              \
    } while (0)

/* The buffer holds exactly the string s. */
#define assert_buf_str(b, s)                                                   \
    do {                                                                       \
        const mproc_buf *abs_b_ = (b);                                         \
        const char *abs_s_ = (s);                                              \
        cr_assert(abs_b_->len == strlen(abs_s_) &&                             \
                      (abs_b_->len == 0 ||                                     \
                       memcmp(abs_b_->data, abs_s_, abs_b_->len) == 0),        \
                  "got \"%.*s\" (%zu bytes), expected \"%s\"",                 \
                  (int)(abs_b_->len > 200 ? 200 : abs_b_->len),                \
                  abs_b_->data ? (const char *)abs_b_->data : "", abs_b_->len, \
                  abs_s_);                                                     \
    } while (0)

#define assert_buf_empty(b)                                                    \
    do {                                                                       \
        const mproc_buf *abe_b_ = (b);                                         \
        cr_assert(abe_b_->data == NULL && abe_b_->len == 0,                    \
                  "buffer not empty: %p, %zu bytes", abe_b_->data,             \
                  abe_b_->len);                                                \
    } while (0)

static mproc_popen *
start(char *const argv[], const mproc_popen_opts *opts)
{
    mproc_popen *p = NULL;
    int rc = mproc_popen_new(&p, argv, opts);

    cr_assert_eq(rc, 0, "mproc_popen_new(%s): %s", argv[0], mproc_errname(rc));
    cr_assert_not_null(p);
    return p;
}

/* Wait for the child (it must end within 30 s), free it, return its code. */
static int
finish(mproc_popen *p)
{
    int code;

    assert_code(mproc_popen_wait(p, 30), 0);
    code = mproc_popen_returncode(p);
    mproc_popen_free(p);
    return code;
}

/* Communicate without input (must succeed), then finish(). */
static int
drain(mproc_popen *p, mproc_buf *out, mproc_buf *err)
{
    assert_code(mproc_popen_communicate(p, NULL, 0, out, err, 30), 0);
    return finish(p);
}

/* Run argv (must succeed within 30 s) with opts, capturing its output. */
static void
run_ok(char *const argv[], mproc_run_opts *opts, mproc_completed *c)
{
    opts->capture_output = true;
    assert_code(mproc_run(argv, opts, c, 30), 0);
}

/* Everything until end of file on fd, as a string (owned by the caller);
 * end of file must come within 10 s. */
static char *
read_to_eof(int fd)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);

    cr_assert_not_null(s);
    for (;;) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        ssize_t n;

        cr_assert_eq(poll(&pf, 1, 10000), 1, "no end of file on fd %d", fd);
        if (len + 1 == cap) {
            cap *= 2;
            s = realloc(s, cap);
            cr_assert_not_null(s);
        }
        n = read(fd, s + len, cap - len - 1);
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    s[len] = '\0';
    return s;
}

/* A gate: a child blocks reading its read end (passed to it, at the same
 * number) until the test closes the write end. A plain pipe: not
 * close-on-exec, so passing it does not depend on pass_fds clearing the
 * flag. */
struct gate {
    int r, w;
    char num[16];
};

static void
gate_make(struct gate *g)
{
    int fds[2];

    cr_assert_eq(pipe(fds), 0);
    g->r = fds[0];
    g->w = fds[1];
    snprintf(g->num, sizeof(g->num), "%d", g->r);
}

/* After the child started: the test keeps only the write end. */
static void
gate_started(struct gate *g)
{
    cr_assert_eq(close(g->r), 0);
    g->r = -1;
}

static void
gate_open(struct gate *g)
{
    cr_assert_eq(close(g->w), 0);
    g->w = -1;
}

/* The byte at i of a test stream seeded by `seed`. */
static unsigned char
pattern(size_t i, unsigned seed)
{
    return (unsigned char)(i * 131 + seed * 7 + (i >> 12));
}

static unsigned char *
patterned(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len);

    cr_assert_not_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(i, seed);
    return p;
}

/* The bytes of b as a string, owned by the caller. */
static char *
buf_str(const mproc_buf *b)
{
    char *s = strndup(b->data ? (const char *)b->data : "", b->len);

    cr_assert_not_null(s);
    return s;
}

/* The child ended (a zombie now), without reaping it. */
static void
wait_unreaped(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0,
                 "waitid: %s", strerror(errno));
}

/* pid, process group and session of a child, as it reads them from its
 * own /proc/self/stat (dash's read: no other process involved). */
#define STAT_IDS                                                               \
    "read pid comm state ppid pgrp sid rest </proc/self/stat; "                \
    "echo $pid $pgrp $sid"

static void
child_ids(const mproc_popen_opts *base, pid_t *pid, pid_t *pgrp, pid_t *sid,
          pid_t *popen_pid)
{
    mproc_popen_opts o = *base;
    mproc_buf out = { 0 };
    mproc_popen *p;
    int a, b, c;
    char *s;

    o.out = MPROC_STDIO_PIPE;
    p = start(ARGV("/bin/sh", "-c", STAT_IDS), &o);
    *popen_pid = mproc_popen_pid(p);
    cr_assert_eq(drain(p, &out, NULL), 0);
    s = buf_str(&out);
    cr_assert_eq(sscanf(s, "%d %d %d", &a, &b, &c), 3, "%s", s);
    free(s);
    *pid = a;
    *pgrp = b;
    *sid = c;
    mproc_buf_free(&out);
}

/* ---- return codes ------------------------------------------------------ */

Test(subprocess, true_returns_0_and_false_returns_1)
{
    cr_assert_eq(finish(start(ARGV("/bin/true"), NULL)), 0);
    cr_assert_eq(finish(start(ARGV("false"), NULL)), 1);
}

Test(subprocess, the_return_code_is_the_exit_status)
{
    cr_assert_eq(finish(start(ARGV("/bin/sh", "-c", "exit 3"), NULL)), 3);
    cr_assert_eq(finish(start(ARGV("/bin/sh", "-c", "exit 200"), NULL)), 200);
}

Test(subprocess, the_return_code_is_minus_the_signal_that_ended_the_child)
{
    cr_assert_eq(finish(start(ARGV("/bin/sh", "-c", "kill -9 $$"), NULL)),
                 -SIGKILL);
    cr_assert_eq(finish(start(ARGV("/bin/sh", "-c", "kill -TERM $$"), NULL)),
                 -SIGTERM);
}

Test(subprocess, pid_is_the_child_s_own_pid)
{
    mproc_buf out = { 0 };
    mproc_popen *p = start(ARGV("/bin/sh", "-c", "echo $$"),
                           &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE });
    pid_t pid = mproc_popen_pid(p);
    char want[32];

    cr_assert_gt(pid, 0);
    cr_assert_neq(pid, getpid());
    cr_assert_eq(drain(p, &out, NULL), 0);
    snprintf(want, sizeof(want), "%d\n", (int)pid);
    assert_buf_str(&out, want);
    mproc_buf_free(&out);
}

/* ---- poll and wait ----------------------------------------------------- */

Test(subprocess, returncode_is_none_and_poll_times_out_while_the_child_runs)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_poll(p), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_popen_returncode(p), MPROC_EXITCODE_NONE);
    assert_code(mproc_popen_close_pipe(p, 0), 0);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, poll_reports_a_child_that_ended, .timeout = 20)
{
    mproc_popen *p = start(ARGV("/bin/sh", "-c", "exit 6"), NULL);

    wait_unreaped(mproc_popen_pid(p));
    assert_code(mproc_popen_poll(p), 0);
    cr_assert_eq(mproc_popen_returncode(p), 6);
    assert_code(mproc_popen_poll(p), 0);
    assert_code(mproc_popen_wait(p, 0), 0);
    cr_assert_eq(mproc_popen_returncode(p), 6);
    mproc_popen_free(p);
}

Test(subprocess, wait_times_out_while_the_child_runs_on, .timeout = 20)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });
    double t0 = th_now();

    assert_code(mproc_popen_wait(p, 0.3), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    t0 = th_now();
    assert_code(mproc_popen_wait(p, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 1.0);
    cr_assert_eq(mproc_popen_returncode(p), MPROC_EXITCODE_NONE);
    /* The child goes on: it still reads its input. */
    assert_code(mproc_popen_close_pipe(p, 0), 0);
    assert_code(mproc_popen_wait(p, MPROC_FOREVER), 0);
    cr_assert_eq(mproc_popen_returncode(p), 0);
    assert_code(mproc_popen_wait(p, INFINITY), 0);
    mproc_popen_free(p);
}

struct closer {
    mproc_popen *p;
    int rc;
};

static void *
wait_forever(void *arg)
{
    struct closer *c = arg;

    c->rc = mproc_popen_wait(c->p, MPROC_FOREVER);
    return NULL;
}

Test(subprocess, a_wait_in_one_thread_ends_when_another_closes_stdin,
     .timeout = 20)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });
    struct closer c = { .p = p, .rc = 1 };
    pthread_t t;

    cr_assert_eq(pthread_create(&t, NULL, wait_forever, &c), 0);
    assert_code(mproc_popen_wait(p, 0.1), MPROC_ETIMEDOUT);
    assert_code(mproc_popen_close_pipe(p, 0), 0);
    pthread_join(t, NULL);
    assert_code(c.rc, 0);
    cr_assert_eq(finish(p), 0);
}

/* ---- signals ----------------------------------------------------------- */

Test(subprocess, terminate_gives_minus_sigterm)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_terminate(p), 0);
    cr_assert_eq(finish(p), -SIGTERM);
}

Test(subprocess, kill_gives_minus_sigkill)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_kill(p), 0);
    cr_assert_eq(finish(p), -SIGKILL);
}

Test(subprocess, send_signal_delivers_the_signal_given)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_send_signal(p, SIGUSR1), 0);
    cr_assert_eq(finish(p), -SIGUSR1);
}

Test(subprocess, kill_after_the_child_was_reaped_signals_nothing)
{
    mproc_popen *p = start(ARGV("/bin/true"), NULL);

    assert_code(mproc_popen_wait(p, 30), 0);
    assert_code(mproc_popen_kill(p), 0);
    assert_code(mproc_popen_terminate(p), 0);
    assert_code(mproc_popen_send_signal(p, SIGUSR1), 0);
    cr_assert_eq(mproc_popen_returncode(p), 0);
    mproc_popen_free(p);
}

Test(subprocess, kill_of_a_child_that_ended_unreaped_keeps_its_return_code,
     .timeout = 20)
{
    mproc_popen *p = start(ARGV("/bin/sh", "-c", "exit 4"), NULL);

    wait_unreaped(mproc_popen_pid(p));
    assert_code(mproc_popen_kill(p), 0);
    cr_assert_eq(finish(p), 4);
}

/* ---- run --------------------------------------------------------------- */

Test(subprocess, run_captures_stdout_and_stderr_and_copies_the_arguments)
{
    char *const *argv = ARGV("/bin/sh", "-c", "echo out; echo err >&2");
    mproc_run_opts o = { 0 };
    mproc_completed c = { 0 };

    run_ok(argv, &o, &c);
    cr_assert_eq(c.returncode, 0);
    assert_buf_str(&c.out, "out\n");
    assert_buf_str(&c.err, "err\n");
    cr_assert_not_null(c.args);
    cr_assert_neq((void *)c.args, (void *)argv);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(c.args[i], argv[i]);
    cr_assert_null(c.args[3]);
    assert_code(mproc_completed_check_returncode(&c), 0);
    mproc_completed_free(&c);
    cr_assert_null(c.args);
    assert_buf_empty(&c.out);
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
    mproc_completed_free(NULL);
}

Test(subprocess, run_without_capture_gives_no_output)
{
    mproc_completed c = { 0 };

    assert_code(mproc_run(ARGV("/bin/sh", "-c", "exit 2"), NULL, &c, 30), 0);
    cr_assert_eq(c.returncode, 2);
    assert_buf_empty(&c.out);
    assert_buf_empty(&c.err);
    assert_code(mproc_completed_check_returncode(&c), MPROC_ECHECK);
    mproc_completed_free(&c);
}

Test(subprocess, run_captures_a_stream_set_to_pipe_without_capture_output)
{
    mproc_run_opts o = { .popen = { .out = MPROC_STDIO_PIPE } };
    mproc_completed c = { 0 };

    assert_code(mproc_run(ARGV("echo", "piped"), &o, &c, 30), 0);
    assert_buf_str(&c.out, "piped\n");
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
}

Test(subprocess, run_feeds_its_input_to_the_child)
{
    const size_t len = 1 << 20;
    unsigned char *in = patterned(len, 1);
    mproc_run_opts o = { .input = in, .input_len = len };
    mproc_completed c = { 0 };

    run_ok(ARGV("cat"), &o, &c);
    cr_assert_eq(c.out.len, len);
    cr_assert_eq(memcmp(c.out.data, in, len), 0);
    assert_buf_str(&c.err, "");
    mproc_completed_free(&c);
    free(in);
}

Test(subprocess, run_with_check_fails_with_echeck_keeping_code_and_output)
{
    mproc_run_opts o = { .capture_output = true, .check = true };
    mproc_completed c = { 0 };

    assert_code(
        mproc_run(ARGV("/bin/sh", "-c", "echo partial; echo oops >&2; exit 5"),
                  &o, &c, 30),
        MPROC_ECHECK);
    cr_assert_eq(c.returncode, 5);
    assert_buf_str(&c.out, "partial\n");
    assert_buf_str(&c.err, "oops\n");
    cr_assert_str_eq(c.args[0], "/bin/sh");
    assert_code(mproc_completed_check_returncode(&c), MPROC_ECHECK);
    mproc_completed_free(&c);

    assert_code(mproc_run(ARGV("/bin/sh", "-c", "kill -9 $$"), &o, &c, 30),
                MPROC_ECHECK);
    cr_assert_eq(c.returncode, -SIGKILL);
    mproc_completed_free(&c);

    assert_code(mproc_run(ARGV("/bin/true"), &o, &c, 30), 0);
    cr_assert_eq(c.returncode, 0);
    mproc_completed_free(&c);
}

Test(subprocess, run_times_out_kills_the_child_and_keeps_its_output,
     .timeout = 20)
{
    mproc_run_opts o = { .capture_output = true };
    mproc_completed c = { 0 };
    double t0 = th_now();

    assert_code(mproc_run(ARGV("/bin/sh", "-c",
                               "echo before; echo warn >&2; exec sleep 30"),
                          &o, &c, 0.5),
                MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.5, 2.5);
    cr_assert_eq(c.returncode, -SIGKILL);
    assert_buf_str(&c.out, "before\n");
    assert_buf_str(&c.err, "warn\n");
    mproc_completed_free(&c);
}

Test(subprocess, run_timeout_is_not_held_up_by_a_grandchild_holding_the_pipe,
     .timeout = 20)
{
    mproc_run_opts o = { .capture_output = true,
                         .popen = { .start_new_session = true } };
    mproc_completed c = { 0 };
    double t0 = th_now();
    int group = 0;
    char *s;

    /* The shell's background sleep keeps stdout open after the shell
     * itself (exec'd into another sleep) is killed. */
    assert_code(
        mproc_run(ARGV("/bin/sh", "-c", "echo $$; sleep 30 & exec sleep 30"),
                  &o, &c, 0.5),
        MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.5, 2.5);
    cr_assert_eq(c.returncode, -SIGKILL);
    s = buf_str(&c.out);
    cr_assert_eq(sscanf(s, "%d", &group), 1, "%s", s);
    free(s);
    cr_assert_gt(group, 1);
    /* The grandchild is in the child's new session's group. */
    cr_assert_eq(kill(-group, SIGKILL), 0, "kill: %s", strerror(errno));
    mproc_completed_free(&c);
}

Test(subprocess, run_with_timeout_0_on_a_running_child_times_out_at_once,
     .timeout = 20)
{
    mproc_completed c = { 0 };
    double t0 = th_now();

    assert_code(mproc_run(ARGV("sleep", "30"), NULL, &c, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 2.0);
    cr_assert_eq(c.returncode, -SIGKILL);
    mproc_completed_free(&c);
}

Test(subprocess, check_returncode_is_echeck_for_any_code_but_0)
{
    mproc_completed c = { 0 };

    c.returncode = 0;
    assert_code(mproc_completed_check_returncode(&c), 0);
    c.returncode = 3;
    assert_code(mproc_completed_check_returncode(&c), MPROC_ECHECK);
    c.returncode = -SIGKILL;
    assert_code(mproc_completed_check_returncode(&c), MPROC_ECHECK);
    assert_code(mproc_completed_check_returncode(NULL), MPROC_EINVAL);
}

/* ---- start failures ---------------------------------------------------- */

/* popen_new and run both report `want`, leaving no child, no descriptor
 * and an empty result behind. */
static void
assert_start_fails(char *const argv[], const mproc_popen_opts *opts, int want)
{
    int fds = th_fd_count();
    mproc_popen *p = NULL;
    mproc_run_opts ro = { .capture_output = true };
    mproc_completed c = { 0 };

    assert_code(mproc_popen_new(&p, argv, opts), want);
    cr_assert_null(p);
    cr_assert_eq(th_child_count(), 0, "a child is left behind");
    cr_assert_eq(th_fd_count(), fds, "descriptors leaked");

    if (opts != NULL) {
        ro.popen = *opts;
        /* capture_output only where no out or err mode is set. */
        ro.capture_output = opts->out == MPROC_STDIO_INHERIT &&
                            opts->err == MPROC_STDIO_INHERIT;
    }
    assert_code(mproc_run(argv, &ro, &c, 30), want);
    cr_assert_eq(c.returncode, MPROC_EXITCODE_NONE);
    assert_buf_empty(&c.out);
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
    cr_assert_eq(th_child_count(), 0, "a child is left behind");
    cr_assert_eq(th_fd_count(), fds, "descriptors leaked");
}

Test(subprocess, run_gives_only_the_args_when_the_child_did_not_start)
{
    mproc_run_opts o = { .capture_output = true };
    mproc_completed c = { 0 };

    assert_code(mproc_run(ARGV("/nonexistent/mproc-no-such-program", "arg"), &o,
                          &c, 30),
                -ENOENT);
    /* "its args, returncode MPROC_EXITCODE_NONE, no output" */
    cr_assert_not_null(c.args);
    cr_assert_str_eq(c.args[1], "arg");
    cr_assert_null(c.args[2]);
    cr_assert_eq(c.returncode, MPROC_EXITCODE_NONE);
    assert_buf_empty(&c.out);
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
}

Test(subprocess, a_missing_program_is_enoent)
{
    assert_start_fails(ARGV("/nonexistent/mproc-no-such-program"), NULL,
                       -ENOENT);
    assert_start_fails(ARGV("mproc-no-such-program-in-path"), NULL, -ENOENT);
    assert_start_fails(
        ARGV("true"),
        &(mproc_popen_opts){ .executable = "/nonexistent/mproc-exe" }, -ENOENT);
}

/* A temporary file with `text` and `mode`; its path in path. */
static void
temp_file(char *path, const char *text, mode_t mode)
{
    int fd;

    strcpy(path, "/tmp/mproc-subprocess-XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    cr_assert_eq(close(fd), 0);
}

Test(subprocess, a_file_without_execute_permission_is_eacces)
{
    char path[64];

    temp_file(path, "#!/bin/sh\nexit 0\n", 0644);
    assert_start_fails(ARGV(path), NULL, -EACCES);
    assert_start_fails(ARGV(path),
                       &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                            .err = MPROC_STDIO_PIPE,
                                            .in = MPROC_STDIO_PIPE },
                       -EACCES);
    cr_assert_eq(unlink(path), 0);
}

Test(subprocess, an_executable_file_that_is_no_program_is_enoexec)
{
    char path[64];

    temp_file(path, "\x01\x02\x03 not a program\n", 0755);
    assert_start_fails(ARGV(path), NULL, -ENOEXEC);
    cr_assert_eq(unlink(path), 0);
}

Test(subprocess, a_cwd_that_does_not_exist_is_enoent)
{
    assert_start_fails(
        ARGV("/bin/true"),
        &(mproc_popen_opts){ .cwd = "/nonexistent/mproc-no-such-dir",
                             .out = MPROC_STDIO_PIPE },
        -ENOENT);
}

Test(subprocess, a_cwd_that_is_a_file_is_enotdir)
{
    assert_start_fails(ARGV("/bin/true"),
                       &(mproc_popen_opts){ .cwd = "/etc/passwd" }, -ENOTDIR);
}

/* ---- streams ----------------------------------------------------------- */

Test(subprocess, pipes_can_be_driven_by_hand)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                                .out = MPROC_STDIO_PIPE,
                                                .err = MPROC_STDIO_PIPE });
    int in = mproc_popen_pipe(p, 0), out = mproc_popen_pipe(p, 1),
        err = mproc_popen_pipe(p, 2);
    char *s;

    cr_assert_geq(in, 0);
    cr_assert_geq(out, 0);
    cr_assert_geq(err, 0);
    cr_assert(in != out && out != err && in != err);
    cr_assert_eq(write(in, "by hand", 7), 7);
    assert_code(mproc_popen_close_pipe(p, 0), 0);
    cr_assert_eq(mproc_popen_pipe(p, 0), -1);
    assert_code(mproc_popen_close_pipe(p, 0), MPROC_EINVAL);
    s = read_to_eof(out);
    cr_assert_str_eq(s, "by hand");
    free(s);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, stderr_to_stdout_merges_both_streams_in_order)
{
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p =
        start(ARGV("/bin/sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2"),
              &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                   .err = MPROC_STDIO_STDOUT });

    cr_assert_geq(mproc_popen_pipe(p, 1), 0);
    cr_assert_eq(mproc_popen_pipe(p, 2), -1);
    cr_assert_eq(drain(p, &out, &err), 0);
    assert_buf_str(&out, "1\n2\n3\n4\n");
    assert_buf_empty(&err);
    mproc_buf_free(&out);
}

Test(subprocess, run_merges_stderr_into_captured_stdout)
{
    mproc_run_opts o = { .popen = { .out = MPROC_STDIO_PIPE,
                                    .err = MPROC_STDIO_STDOUT } };
    mproc_completed c = { 0 };

    assert_code(
        mproc_run(ARGV("/bin/sh", "-c", "echo a; echo b >&2"), &o, &c, 30), 0);
    assert_buf_str(&c.out, "a\nb\n");
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
}

Test(subprocess, devnull_gives_end_of_file_and_swallows_output)
{
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_DEVNULL,
                                                .out = MPROC_STDIO_PIPE });

    cr_assert_eq(mproc_popen_pipe(p, 0), -1);
    cr_assert_eq(drain(p, &out, NULL), 0);
    assert_buf_str(&out, "");

    p = start(ARGV("/bin/sh", "-c", "echo x; echo y >&2"),
              &(mproc_popen_opts){ .out = MPROC_STDIO_DEVNULL,
                                   .err = MPROC_STDIO_PIPE });
    cr_assert_eq(mproc_popen_pipe(p, 1), -1);
    cr_assert_eq(drain(p, &out, &err), 0);
    assert_buf_empty(&out);
    assert_buf_str(&err, "y\n");
    mproc_buf_free(&err);
}

Test(subprocess, descriptor_targets_are_borrowed_and_used)
{
    int in[2], out[2];
    mproc_popen *p;
    char *s;

    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(write(in[1], "abc", 3), 3);
    cr_assert_eq(close(in[1]), 0);
    p = start(ARGV("/bin/sh", "-c", "cat; echo err >&2"),
              &(mproc_popen_opts){ .in = MPROC_STDIO_FD,
                                   .in_fd = in[0],
                                   .out = MPROC_STDIO_FD,
                                   .out_fd = out[1],
                                   .err = MPROC_STDIO_STDOUT });
    cr_assert_eq(mproc_popen_pipe(p, 0), -1);
    cr_assert_eq(mproc_popen_pipe(p, 1), -1);
    /* Still ours: the child got copies. */
    cr_assert_neq(fcntl(in[0], F_GETFD), -1);
    cr_assert_neq(fcntl(out[1], F_GETFD), -1);
    cr_assert_eq(close(in[0]), 0);
    cr_assert_eq(close(out[1]), 0);
    s = read_to_eof(out[0]);
    cr_assert_str_eq(s, "abcerr\n");
    free(s);
    cr_assert_eq(close(out[0]), 0);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, an_err_descriptor_target_gets_only_stderr)
{
    int err[2];
    mproc_buf out = { 0 };
    mproc_popen *p;
    char *s;

    cr_assert_eq(pipe(err), 0);
    p = start(ARGV("/bin/sh", "-c", "echo o; echo e >&2"),
              &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                   .err = MPROC_STDIO_FD,
                                   .err_fd = err[1] });
    cr_assert_eq(close(err[1]), 0);
    cr_assert_eq(drain(p, &out, NULL), 0);
    assert_buf_str(&out, "o\n");
    mproc_buf_free(&out);
    s = read_to_eof(err[0]);
    cr_assert_str_eq(s, "e\n");
    free(s);
    cr_assert_eq(close(err[0]), 0);
}

/* Run fn in a child forked by hand (which ends with _exit and asserts
 * nothing: fn returns 0 or the number of the check that failed); its code. */
static int
in_forked_child(int (*fn)(void))
{
    int status = 0;
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(fn());
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "status %#x", status);
    return WEXITSTATUS(status);
}

/* fd's contents to end of file equal s. */
static bool
fd_holds(int fd, const char *s)
{
    char got[256];
    size_t len = 0;
    ssize_t n;

    while ((n = read(fd, got + len, sizeof(got) - len)) > 0)
        len += (size_t)n;
    return n == 0 && len == strlen(s) && memcmp(got, s, len) == 0;
}

/* stdout onto pipe A, stderr onto pipe B; the child's stdout is given fd
 * 2 and its stderr fd 1: the two must swap, not collapse into one. */
static int
swap_stdout_and_stderr(void)
{
    int a[2], b[2];
    mproc_popen *p = NULL;

    if (pipe(a) < 0 || pipe(b) < 0 || dup2(a[1], 1) < 0 || dup2(b[1], 2) < 0)
        return 1;
    close(a[1]);
    close(b[1]);
    if (mproc_popen_new(&p, ARGV("/bin/sh", "-c", "echo out; echo err >&2"),
                        &(mproc_popen_opts){ .out = MPROC_STDIO_FD,
                                             .out_fd = 2,
                                             .err = MPROC_STDIO_FD,
                                             .err_fd = 1 }) != 0)
        return 2;
    if (mproc_popen_wait(p, 30) != 0 || mproc_popen_returncode(p) != 0)
        return 3;
    mproc_popen_free(p);
    close(1);
    close(2);
    if (!fd_holds(a[0], "err\n"))
        return 4;
    if (!fd_holds(b[0], "out\n"))
        return 5;
    return 0;
}

Test(subprocess, descriptor_targets_that_are_each_other_s_numbers_swap)
{
    cr_assert_eq(in_forked_child(swap_stdout_and_stderr), 0);
}

/* With this process's 0, 1 and 2 closed, the pipes to the child take
 * those numbers; the child must still get each at its place. */
static int
pipes_on_closed_standard_descriptors(void)
{
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p = NULL;
    int rc = 0;

    close(0);
    close(1);
    close(2);
    if (mproc_popen_new(&p, ARGV("/bin/sh", "-c", "cat; echo e >&2"),
                        &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                             .out = MPROC_STDIO_PIPE,
                                             .err = MPROC_STDIO_PIPE }) != 0)
        return 1;
    if (mproc_popen_communicate(p, "in", 2, &out, &err, 30) != 0)
        rc = 2;
    else if (out.len != 2 || memcmp(out.data, "in", 2) != 0)
        rc = 3;
    else if (err.len != 2 || memcmp(err.data, "e\n", 2) != 0)
        rc = 4;
    else if (mproc_popen_returncode(p) != 0)
        rc = 5;
    mproc_buf_free(&out);
    mproc_buf_free(&err);
    mproc_popen_free(p);
    return rc;
}

Test(subprocess, pipes_work_when_this_process_has_no_standard_descriptors)
{
    cr_assert_eq(in_forked_child(pipes_on_closed_standard_descriptors), 0);
}

/* ---- communicate ------------------------------------------------------- */

Test(subprocess, communicate_sends_input_and_collects_both_outputs)
{
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p = start(ARGV("/bin/sh", "-c", "cat; echo done >&2"),
                           &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                                .out = MPROC_STDIO_PIPE,
                                                .err = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_communicate(p, "hello\n", 6, &out, &err, 30), 0);
    cr_assert_eq(mproc_popen_returncode(p), 0);
    assert_buf_str(&out, "hello\n");
    assert_buf_str(&err, "done\n");
    mproc_buf_free(&out);
    mproc_buf_free(&err);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, communicate_without_input_closes_stdin)
{
    mproc_buf out = { 0 };
    mproc_popen *p = start(
        ARGV("/bin/sh", "-c", "cat; echo eof"),
        &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE, .out = MPROC_STDIO_PIPE });

    cr_assert_eq(drain(p, &out, NULL), 0);
    assert_buf_str(&out, "eof\n");
    mproc_buf_free(&out);
}

Test(subprocess, communicate_moves_8_mib_both_ways_without_deadlock,
     .timeout = 40)
{
    const size_t len = 8 << 20;
    unsigned char *in = patterned(len, 2);
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                                .out = MPROC_STDIO_PIPE,
                                                .err = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_communicate(p, in, len, &out, &err, 30), 0);
    cr_assert_eq(out.len, len);
    cr_assert_eq(memcmp(out.data, in, len), 0);
    assert_buf_str(&err, "");
    mproc_buf_free(&out);
    free(in);
    cr_assert_eq(finish(p), 0);
}

/* Every byte of b is the 16-byte line `yes 0123456789abcde` prints. */
static bool
is_yes_lines(const mproc_buf *b)
{
    static const char line[] = "0123456789abcde\n";
    const char *d = b->data;

    for (size_t i = 0; i < b->len; i++)
        if (d[i] != line[i % 16])
            return false;
    return true;
}

Test(subprocess, communicate_drains_megabytes_on_stdout_and_stderr_at_once,
     .timeout = 40)
{
    mproc_buf out = { 0 }, err = { 0 };
    /* 3 MB to stderr before anything on stdout, then 5 MB to stdout, then
     * more on stderr: reading one stream to its end first deadlocks. */
    mproc_popen *p = start(ARGV("/bin/sh", "-c",
                                "yes 0123456789abcde | head -c 3000000 >&2; "
                                "yes 0123456789abcde | head -c 5000000; "
                                "yes 0123456789abcde | head -c 1600 >&2"),
                           &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                                .err = MPROC_STDIO_PIPE });

    cr_assert_eq(drain(p, &out, &err), 0);
    cr_assert_eq(out.len, 5000000);
    cr_assert_eq(err.len, 3001600);
    cr_assert(is_yes_lines(&out));
    cr_assert(is_yes_lines(&err));
    mproc_buf_free(&out);
    mproc_buf_free(&err);
}

Test(subprocess, communicate_drains_output_it_is_not_asked_for, .timeout = 40)
{
    mproc_buf err = { 0 };
    mproc_popen *p =
        start(ARGV("/bin/sh", "-c", "head -c 4000000 /dev/zero; echo e >&2"),
              &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                   .err = MPROC_STDIO_PIPE });

    cr_assert_eq(drain(p, NULL, &err), 0);
    assert_buf_str(&err, "e\n");
    mproc_buf_free(&err);
}

Test(subprocess, communicate_is_fine_when_the_child_does_not_read_its_input,
     .timeout = 40)
{
    const size_t len = 8 << 20;
    unsigned char *in = patterned(len, 3);
    mproc_buf out = { 0 };
    mproc_popen *p =
        start(ARGV("/bin/true"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });
    sigset_t pending;

    assert_code(mproc_popen_communicate(p, in, len, NULL, NULL, 30), 0);
    cr_assert_eq(finish(p), 0);

    /* Reads a little, then exits with most of the input unsent. */
    p = start(
        ARGV("head", "-c", "10"),
        &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE, .out = MPROC_STDIO_PIPE });
    assert_code(mproc_popen_communicate(p, in, len, &out, NULL, 30), 0);
    cr_assert_eq(out.len, 10);
    cr_assert_eq(memcmp(out.data, in, 10), 0);
    mproc_buf_free(&out);
    cr_assert_eq(finish(p), 0);

    cr_assert_eq(sigpending(&pending), 0);
    cr_assert_not(sigismember(&pending, SIGPIPE));
    free(in);
}

Test(subprocess, communicate_times_out_and_a_second_call_loses_nothing,
     .timeout = 20)
{
    struct gate g;
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p;
    double t0;

    gate_make(&g);
    p = start(ARGV("/bin/sh", "-c",
                   "echo first; echo e1 >&2; cat; "
                   "read x </proc/self/fd/$1; echo second; echo e2 >&2",
                   "sh", g.num),
              &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                   .out = MPROC_STDIO_PIPE,
                                   .err = MPROC_STDIO_PIPE,
                                   .pass_fds = &g.r,
                                   .npass_fds = 1 });
    gate_started(&g);
    t0 = th_now();
    assert_code(mproc_popen_communicate(p, "middle\n", 7, &out, &err, 0.3),
                MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    assert_buf_empty(&out);
    assert_buf_empty(&err);
    cr_assert_eq(mproc_popen_returncode(p), MPROC_EXITCODE_NONE);
    /* Input again: refused, and nothing is lost by the refusal. */
    assert_code(mproc_popen_communicate(p, "again\n", 6, &out, &err, 30),
                MPROC_ESTATE);
    assert_buf_empty(&out);
    /* Timing out again changes nothing either. */
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, &err, 0),
                MPROC_ETIMEDOUT);
    gate_open(&g);
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, &err, 30), 0);
    cr_assert_eq(mproc_popen_returncode(p), 0);
    assert_buf_str(&out, "first\nmiddle\nsecond\n");
    assert_buf_str(&err, "e1\ne2\n");
    mproc_buf_free(&out);
    mproc_buf_free(&err);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, communicate_after_a_timeout_sends_the_rest_of_the_input_once,
     .timeout = 40)
{
    const size_t len = 4 << 20;
    unsigned char *in = patterned(len, 4);
    struct gate g;
    mproc_buf out = { 0 };
    mproc_popen *p;
    double t0;

    gate_make(&g);
    /* Reads nothing until the gate opens: the first call can send no more
     * than a pipe holds. */
    p = start(ARGV("/bin/sh", "-c", "read x </proc/self/fd/$1; cat; echo done",
                   "sh", g.num),
              &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                   .out = MPROC_STDIO_PIPE,
                                   .pass_fds = &g.r,
                                   .npass_fds = 1 });
    gate_started(&g);
    t0 = th_now();
    assert_code(mproc_popen_communicate(p, in, len, &out, NULL, 0.2),
                MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 2.0);
    assert_buf_empty(&out);
    gate_open(&g);
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, 30), 0);
    cr_assert_eq(out.len, len + 5, "%zu bytes, expected %zu", out.len, len + 5);
    cr_assert_eq(memcmp(out.data, in, len), 0);
    cr_assert_eq(memcmp((char *)out.data + len, "done\n", 5), 0);
    mproc_buf_free(&out);
    free(in);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, communicate_with_timeout_0_times_out_at_once, .timeout = 20)
{
    struct gate g;
    mproc_buf out = { 0 };
    mproc_popen *p;
    double t0;

    gate_make(&g);
    p = start(ARGV("/bin/sh", "-c",
                   "echo hi; read x </proc/self/fd/$1 || :", "sh", g.num),
              &(mproc_popen_opts){
                  .out = MPROC_STDIO_PIPE, .pass_fds = &g.r, .npass_fds = 1 });
    gate_started(&g);
    t0 = th_now();
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, 0),
                MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 1.0);
    assert_buf_empty(&out);
    gate_open(&g);
    cr_assert_eq(drain(p, &out, NULL), 0);
    assert_buf_str(&out, "hi\n");
    mproc_buf_free(&out);
}

Test(subprocess, communicate_timeout_is_not_held_up_by_a_grandchild,
     .timeout = 20)
{
    mproc_buf out = { 0 };
    mproc_popen *p = start(ARGV("/bin/sh", "-c", "sleep 30 & echo hi"),
                           &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                                .start_new_session = true });
    pid_t pid = mproc_popen_pid(p);
    double t0 = th_now();

    /* The shell ends at once; its background sleep holds stdout open. */
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, 0.5),
                MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.5, 2.5);
    assert_code(mproc_popen_wait(p, 30), 0);
    cr_assert_eq(mproc_popen_returncode(p), 0);
    /* The sleep is in the shell's new session's group: end it, and the
     * pipe ends with it. */
    cr_assert_eq(kill(-pid, SIGKILL), 0, "kill: %s", strerror(errno));
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, 30), 0);
    assert_buf_str(&out, "hi\n");
    mproc_buf_free(&out);
    mproc_popen_free(p);
}

Test(subprocess, communicate_with_input_and_stdin_not_a_pipe_is_estate)
{
    mproc_buf out = { 0 };
    mproc_popen *p = start(ARGV("/bin/sh", "-c", "echo ok"),
                           &(mproc_popen_opts){ .in = MPROC_STDIO_DEVNULL,
                                                .out = MPROC_STDIO_PIPE });

    assert_code(mproc_popen_communicate(p, "x", 1, &out, NULL, 30),
                MPROC_ESTATE);
    assert_buf_empty(&out);
    cr_assert_eq(drain(p, &out, NULL), 0);
    assert_buf_str(&out, "ok\n");
    mproc_buf_free(&out);
}

Test(subprocess, communicate_gives_nothing_for_streams_that_are_not_pipes)
{
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p = start(ARGV("/bin/true"),
                           &(mproc_popen_opts){ .out = MPROC_STDIO_DEVNULL });

    cr_assert_eq(drain(p, &out, &err), 0);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(err.len, 0);
    mproc_buf_free(&out);
    mproc_buf_free(&err);
}

Test(subprocess, an_empty_output_is_null_and_0)
{
    mproc_buf out = { 0 }, err = { 0 };
    mproc_popen *p = start(ARGV("/bin/true"),
                           &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE,
                                                .err = MPROC_STDIO_PIPE });
    mproc_completed c = { 0 };

    /* common.h: an empty buffer is { NULL, 0 }. */
    cr_assert_eq(drain(p, &out, &err), 0);
    assert_buf_empty(&out);
    assert_buf_empty(&err);
    mproc_buf_free(&out);
    mproc_buf_free(&err);
    run_ok(ARGV("/bin/true"), &(mproc_run_opts){ 0 }, &c);
    assert_buf_empty(&c.out);
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
}

/* ---- env, cwd, executable, shell --------------------------------------- */

/* The lines of b, each a string (the array and strings owned by the
 * caller, NULL-ended); their count in *n. */
static char **
lines_of(const mproc_buf *b, size_t *n)
{
    char **v = calloc(b->len + 1, sizeof(*v));
    size_t start = 0;

    cr_assert_not_null(v);
    *n = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (((const char *)b->data)[i] != '\n')
            continue;
        v[*n] = strndup((const char *)b->data + start, i - start);
        ++*n;
        start = i + 1;
    }
    return v;
}

static void
free_lines(char **v)
{
    for (size_t i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static bool
has_line(char **v, const char *s)
{
    for (size_t i = 0; v[i] != NULL; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

Test(subprocess, env_replaces_the_whole_environment)
{
    mproc_run_opts o = { .popen = { .env = ARGV("FOO=bar", "EMPTY=") } };
    mproc_completed c = { 0 };
    size_t n;
    char **v;

    run_ok(ARGV("/usr/bin/env"), &o, &c);
    v = lines_of(&c.out, &n);
    cr_assert_eq(n, 2, "%.*s", (int)c.out.len, (char *)c.out.data);
    cr_assert(has_line(v, "FOO=bar"));
    cr_assert(has_line(v, "EMPTY="));
    free_lines(v);
    mproc_completed_free(&c);

    o.popen.env = ARGV(NULL);
    run_ok(ARGV("/usr/bin/env"), &o, &c);
    assert_buf_str(&c.out, "");
    mproc_completed_free(&c);
}

Test(subprocess, env_add_adds_to_this_process_environment_replacing_names)
{
    mproc_run_opts o = { .popen = { .env_add = ARGV("MPROC_T_NEW=1",
                                                    "MPROC_T_OLD=new") } };
    mproc_completed c = { 0 };
    size_t n, old = 0;
    char **v;

    cr_assert_eq(setenv("MPROC_T_OLD", "old", 1), 0);
    run_ok(ARGV("/usr/bin/env"), &o, &c);
    v = lines_of(&c.out, &n);
    cr_assert(has_line(v, "MPROC_T_NEW=1"));
    cr_assert(has_line(v, "MPROC_T_OLD=new"));
    for (size_t i = 0; i < n; i++)
        old += strncmp(v[i], "MPROC_T_OLD=", 12) == 0;
    cr_assert_eq(old, 1);
    cr_assert_not_null(getenv("PATH"));
    for (size_t i = 0; i < n; i++)
        if (strncmp(v[i], "PATH=", 5) == 0)
            cr_assert_str_eq(v[i] + 5, getenv("PATH"));
    free_lines(v);
    mproc_completed_free(&c);
    /* This process's own environment is untouched. */
    cr_assert_str_eq(getenv("MPROC_T_OLD"), "old");
    cr_assert_null(getenv("MPROC_T_NEW"));

    /* The shell sees it too. */
    o.popen.env_add = ARGV("FOO=from env_add");
    run_ok(ARGV("/bin/sh", "-c", "echo $FOO"), &o, &c);
    assert_buf_str(&c.out, "from env_add\n");
    mproc_completed_free(&c);
}

Test(subprocess, env_add_adds_to_env)
{
    mproc_run_opts o = { .popen = { .env = ARGV("A=1", "C=3"),
                                    .env_add = ARGV("B=2", "A=9") } };
    mproc_completed c = { 0 };
    size_t n;
    char **v;

    run_ok(ARGV("/usr/bin/env"), &o, &c);
    v = lines_of(&c.out, &n);
    cr_assert_eq(n, 3, "%.*s", (int)c.out.len, (char *)c.out.data);
    cr_assert(has_line(v, "A=9"));
    cr_assert(has_line(v, "B=2"));
    cr_assert(has_line(v, "C=3"));
    free_lines(v);
    mproc_completed_free(&c);
}

Test(subprocess, cwd_sets_the_directory_the_child_starts_in)
{
    mproc_run_opts o = { .popen = { .cwd = "/tmp" } };
    mproc_completed c = { 0 };
    char here[PATH_MAX], want[PATH_MAX + 2];

    run_ok(ARGV("/bin/sh", "-c", "pwd"), &o, &c);
    assert_buf_str(&c.out, "/tmp\n");
    mproc_completed_free(&c);

    /* This process stays where it was, and NULL is here. */
    cr_assert_not_null(getcwd(here, sizeof(here)));
    o.popen.cwd = NULL;
    run_ok(ARGV("/bin/sh", "-c", "pwd -P"), &o, &c);
    snprintf(want, sizeof(want), "%s\n", here);
    assert_buf_str(&c.out, want);
    mproc_completed_free(&c);
}

Test(subprocess, executable_runs_in_place_of_argv0_which_still_names_it)
{
    mproc_run_opts o = { .popen = { .executable = "/bin/sh" } };
    mproc_completed c = { 0 };

    run_ok(ARGV("my-name", "-c", "echo $0"), &o, &c);
    assert_buf_str(&c.out, "my-name\n");
    mproc_completed_free(&c);
}

Test(subprocess, shell_runs_a_command_line_with_the_rest_as_dollar_0_and_1)
{
    mproc_run_opts o = { .popen = { .shell = true } };
    mproc_completed c = { 0 };

    run_ok(ARGV("echo \"$0-$1\" | tr a-z A-Z; exit 4", "zero", "one"), &o, &c);
    cr_assert_eq(c.returncode, 4);
    assert_buf_str(&c.out, "ZERO-ONE\n");
    mproc_completed_free(&c);

    run_ok(ARGV("printf '%s\\n' \"$FOO\" 'a  b'"), &o, &c);
    assert_buf_str(&c.out, "\na  b\n");
    mproc_completed_free(&c);
}

/* ---- descriptors ------------------------------------------------------- */

/* Whether the child sees descriptor fd (at that number), run with opts. */
static bool
child_sees_fd(int fd, mproc_popen_opts opts)
{
    mproc_completed c = { 0 };
    mproc_run_opts o = { .popen = opts };
    char num[16];
    bool seen;

    snprintf(num, sizeof(num), "%d", fd);
    run_ok(ARGV("/bin/sh", "-c",
                "if [ -e /proc/self/fd/$1 ]; then echo open; "
                "else echo closed; fi",
                "sh", num),
           &o, &c);
    cr_assert(c.out.len > 0);
    seen = c.out.len == 5 && memcmp(c.out.data, "open\n", 5) == 0;
    mproc_completed_free(&c);
    return seen;
}

Test(subprocess, a_descriptor_not_marked_cloexec_is_closed_in_the_child)
{
    int fds[2];

    cr_assert_eq(pipe(fds), 0);
    cr_assert_not(child_sees_fd(fds[0], (mproc_popen_opts){ 0 }));
    cr_assert_not(child_sees_fd(fds[1], (mproc_popen_opts){ 0 }));
    /* ... and the child cannot write to it. */
    {
        mproc_completed c = { 0 };
        mproc_run_opts o = { .popen = { .err = MPROC_STDIO_DEVNULL } };
        char num[16];

        snprintf(num, sizeof(num), "%d", fds[1]);
        assert_code(mproc_run(ARGV("/bin/sh", "-c", "echo x >/proc/self/fd/$1",
                                   "sh", num),
                              &o, &c, 30),
                    0);
        cr_assert_neq(c.returncode, 0);
        mproc_completed_free(&c);
    }
    cr_assert_eq(close(fds[1]), 0);
    {
        char *s = read_to_eof(fds[0]);

        cr_assert_str_eq(s, "");
        free(s);
    }
    cr_assert_eq(close(fds[0]), 0);
}

Test(subprocess, keep_fds_keeps_descriptors_not_marked_cloexec_only)
{
    int plain[2], cloexec[2];
    mproc_popen_opts keep = { .keep_fds = true };

    cr_assert_eq(pipe(plain), 0);
    cr_assert_eq(pipe2(cloexec, O_CLOEXEC), 0);
    cr_assert(child_sees_fd(plain[1], keep));
    cr_assert_not(child_sees_fd(cloexec[1], keep));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(close(plain[i]), 0);
        cr_assert_eq(close(cloexec[i]), 0);
    }
}

Test(subprocess, pass_fds_gives_the_child_descriptors_at_the_same_numbers)
{
    int fds[2], other[2];
    mproc_popen *p;
    char num[16];
    char *s;

    /* Close-on-exec, as every descriptor mproc makes: passing it is what
     * makes it reach the child. */
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    cr_assert_eq(pipe(other), 0);
    snprintf(num, sizeof(num), "%d", fds[1]);
    p = start(ARGV("/bin/sh", "-c", "echo passed >/proc/self/fd/$1", "sh", num),
              &(mproc_popen_opts){ .pass_fds = &fds[1], .npass_fds = 1 });
    cr_assert_eq(close(fds[1]), 0);
    cr_assert_eq(finish(p), 0);
    s = read_to_eof(fds[0]);
    cr_assert_str_eq(s, "passed\n");
    free(s);
    cr_assert_eq(close(fds[0]), 0);
    /* Only the passed one. */
    cr_assert_not(child_sees_fd(
        other[1], (mproc_popen_opts){ .pass_fds = &other[0], .npass_fds = 1 }));
    cr_assert(child_sees_fd(
        other[0], (mproc_popen_opts){ .pass_fds = &other[0], .npass_fds = 1 }));
    cr_assert_eq(close(other[0]), 0);
    cr_assert_eq(close(other[1]), 0);
}

/* ---- sessions and process groups --------------------------------------- */

Test(subprocess, a_child_stays_in_this_session_and_group_by_default)
{
    pid_t pid, pgrp, sid, ppid;

    child_ids(&(mproc_popen_opts){ 0 }, &pid, &pgrp, &sid, &ppid);
    cr_assert_eq(pid, ppid);
    cr_assert_eq(pgrp, getpgrp());
    cr_assert_eq(sid, getsid(0));
}

Test(subprocess, start_new_session_makes_the_child_a_session_leader)
{
    pid_t pid, pgrp, sid, ppid;

    child_ids(&(mproc_popen_opts){ .start_new_session = true }, &pid, &pgrp,
              &sid, &ppid);
    cr_assert_eq(pid, ppid);
    cr_assert_eq(sid, pid);
    cr_assert_eq(pgrp, pid);
}

Test(subprocess, set_process_group_0_makes_the_child_a_group_leader)
{
    pid_t pid, pgrp, sid, ppid;

    child_ids(&(mproc_popen_opts){ .set_process_group = true }, &pid, &pgrp,
              &sid, &ppid);
    cr_assert_eq(pid, ppid);
    cr_assert_eq(pgrp, pid);
    cr_assert_eq(sid, getsid(0));
}

Test(subprocess, set_process_group_joins_an_existing_group)
{
    mproc_popen *leader =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                                .set_process_group = true });
    pid_t pid, pgrp, sid, ppid;

    child_ids(&(mproc_popen_opts){ .set_process_group = true,
                                   .process_group = mproc_popen_pid(leader) },
              &pid, &pgrp, &sid, &ppid);
    cr_assert_eq(pgrp, mproc_popen_pid(leader));
    cr_assert_neq(pid, pgrp);
    assert_code(mproc_popen_close_pipe(leader, 0), 0);
    cr_assert_eq(finish(leader), 0);
}

/* ---- pipelines --------------------------------------------------------- */

Test(subprocess, a_pipeline_of_two_popens_filters_the_first_s_output)
{
    mproc_popen *p1 = start(ARGV("printf", "a.json\\nb.txt\\nc.json\\n"),
                            &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE });
    mproc_popen *p2 =
        start(ARGV("grep", "json"),
              &(mproc_popen_opts){ .in = MPROC_STDIO_FD,
                                   .in_fd = mproc_popen_pipe(p1, 1),
                                   .out = MPROC_STDIO_PIPE });
    mproc_buf out = { 0 };

    assert_code(mproc_popen_close_pipe(p1, 1), 0);
    cr_assert_eq(mproc_popen_pipe(p1, 1), -1);
    assert_code(mproc_popen_close_pipe(p1, 1), MPROC_EINVAL);
    cr_assert_eq(drain(p2, &out, NULL), 0);
    assert_buf_str(&out, "a.json\nc.json\n");
    mproc_buf_free(&out);
    cr_assert_eq(finish(p1), 0);
}

Test(subprocess, the_first_of_a_pipeline_gets_sigpipe_when_the_next_exits,
     .timeout = 30)
{
    mproc_popen *p1 =
        start(ARGV("yes"), &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE });
    mproc_popen *p2 =
        start(ARGV("head", "-n", "1"),
              &(mproc_popen_opts){ .in = MPROC_STDIO_FD,
                                   .in_fd = mproc_popen_pipe(p1, 1),
                                   .out = MPROC_STDIO_PIPE });
    mproc_buf out = { 0 };

    assert_code(mproc_popen_close_pipe(p1, 1), 0);
    cr_assert_eq(drain(p2, &out, NULL), 0);
    assert_buf_str(&out, "y\n");
    mproc_buf_free(&out);
    /* No one else holds the read end: yes dies of SIGPIPE (its default
     * restored in the child), not blocked on a full pipe. */
    assert_code(mproc_popen_wait(p1, 20), 0);
    cr_assert_eq(finish(p1), -SIGPIPE);
}

/* ---- signals at the parent, threads, leftovers ------------------------- */

Test(subprocess, a_signal_storm_at_the_parent_loses_nothing, .timeout = 40)
{
    const size_t len = 4 << 20;
    unsigned char *in = patterned(len, 5);
    mproc_run_opts ro = { .capture_output = true };
    mproc_completed c = { 0 };
    mproc_buf out = { 0 };
    struct th_storm s;
    struct gate g;
    mproc_popen *p;
    double t0;

    th_storm_start(&s);
    p = start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                                .out = MPROC_STDIO_PIPE });
    assert_code(mproc_popen_communicate(p, in, len, &out, NULL, 30), 0);
    cr_assert_eq(out.len, len);
    cr_assert_eq(memcmp(out.data, in, len), 0);
    mproc_buf_free(&out);
    cr_assert_eq(finish(p), 0);

    ro.input = in;
    ro.input_len = len;
    assert_code(mproc_run(ARGV("cat"), &ro, &c, 30), 0);
    cr_assert_eq(c.out.len, len);
    cr_assert_eq(memcmp(c.out.data, in, len), 0);
    mproc_completed_free(&c);

    /* Timeouts resume with the time left. */
    gate_make(&g);
    p = start(ARGV("/bin/sh", "-c",
                   "echo hi; read x </proc/self/fd/$1 || :", "sh", g.num),
              &(mproc_popen_opts){
                  .out = MPROC_STDIO_PIPE, .pass_fds = &g.r, .npass_fds = 1 });
    gate_started(&g);
    t0 = th_now();
    assert_code(mproc_popen_wait(p, 0.3), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    t0 = th_now();
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, 0.3),
                MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    gate_open(&g);
    cr_assert_eq(drain(p, &out, NULL), 0);
    assert_buf_str(&out, "hi\n");
    mproc_buf_free(&out);
    th_storm_stop(&s);
    free(in);
}

struct communicator {
    mproc_popen *p;
    mproc_buf out;
    int rc;
};

static void *
communicate_forever(void *arg)
{
    struct communicator *c = arg;

    c->rc =
        mproc_popen_communicate(c->p, NULL, 0, &c->out, NULL, MPROC_FOREVER);
    return NULL;
}

Test(subprocess, other_calls_go_on_while_another_thread_communicates,
     .timeout = 10)
{
    struct communicator c = { .rc = 1 };
    struct gate g;
    pthread_t t;
    double t0;

    gate_make(&g);
    c.p =
        start(ARGV("/bin/sh", "-c",
                   "echo hi; read x </proc/self/fd/$1 || :", "sh", g.num),
              &(mproc_popen_opts){
                  .out = MPROC_STDIO_PIPE, .pass_fds = &g.r, .npass_fds = 1 });
    gate_started(&g);
    cr_assert_eq(pthread_create(&t, NULL, communicate_forever, &c), 0);
    /* Whether or not the communicate has begun, none of these waits on
     * it (Python: a watchdog thread kills a child another communicates
     * with). */
    t0 = th_now();
    assert_code(mproc_popen_wait(c.p, 0.2), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.2, 2.0);
    assert_code(mproc_popen_poll(c.p), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_popen_returncode(c.p), MPROC_EXITCODE_NONE);
    cr_assert_geq(mproc_popen_pipe(c.p, 1), -1);
    assert_code(mproc_popen_kill(c.p), 0);
    pthread_join(t, NULL);
    assert_code(c.rc, 0);
    assert_buf_str(&c.out, "hi\n");
    mproc_buf_free(&c.out);
    cr_assert_eq(finish(c.p), -SIGKILL);
    gate_open(&g);
}

struct runner {
    int id;
    int failures;
};

static void *
run_several(void *arg)
{
    struct runner *r = arg;

    for (int i = 0; i < 5; i++) {
        mproc_run_opts o = { .capture_output = true };
        mproc_completed c = { 0 };
        char num[32], want[40];

        snprintf(num, sizeof(num), "%d-%d", r->id, i);
        snprintf(want, sizeof(want), "%s\n", num);
        if (mproc_run(ARGV("/bin/sh", "-c", "echo $1", "sh", num), &o, &c,
                      30) != 0 ||
            c.returncode != 0 || c.out.len != strlen(want) ||
            memcmp(c.out.data, want, c.out.len) != 0)
            r->failures++;
        mproc_completed_free(&c);
    }
    return NULL;
}

Test(subprocess, runs_from_several_threads_at_once_do_not_mix)
{
    struct runner r[4];
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        r[i] = (struct runner){ .id = i };
        cr_assert_eq(pthread_create(&t[i], NULL, run_several, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(r[i].failures, 0, "thread %d", i);
    }
}

Test(subprocess, a_child_freed_while_running_is_reaped_by_a_later_run,
     .timeout = 20)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE });
    pid_t pid = mproc_popen_pid(p);
    mproc_completed c = { 0 };
    siginfo_t si;

    /* Freeing closes stdin: cat ends, unwaited. */
    mproc_popen_free(p);
    wait_unreaped(pid);
    assert_code(mproc_run(ARGV("/bin/true"), NULL, &c, 30), 0);
    mproc_completed_free(&c);
    memset(&si, 0, sizeof(si));
    cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT), -1,
                 "pid %d was not reaped", (int)pid);
    cr_assert_eq(errno, ECHILD);
}

/* ---- refusals ---------------------------------------------------------- */

Test(subprocess, popen_new_refuses_bad_arguments)
{
    mproc_popen *p = NULL;
    char *const *argv = ARGV("/bin/true");
    int neg = -1;

    assert_code(mproc_popen_new(NULL, argv, NULL), MPROC_EINVAL);
    assert_code(mproc_popen_new(&p, NULL, NULL), MPROC_EINVAL);
    assert_code(mproc_popen_new(&p, ARGV(NULL), NULL), MPROC_EINVAL);
    assert_code(
        mproc_popen_new(&p, ARGV(NULL), &(mproc_popen_opts){ .shell = true }),
        MPROC_EINVAL);
    assert_code(mproc_popen_new(
                    &p, argv, &(mproc_popen_opts){ .in = MPROC_STDIO_STDOUT }),
                MPROC_EINVAL);
    assert_code(mproc_popen_new(
                    &p, argv, &(mproc_popen_opts){ .out = MPROC_STDIO_STDOUT }),
                MPROC_EINVAL);
    assert_code(
        mproc_popen_new(
            &p, argv, &(mproc_popen_opts){ .in = MPROC_STDIO_FD, .in_fd = -1 }),
        MPROC_EINVAL);
    assert_code(mproc_popen_new(
                    &p, argv,
                    &(mproc_popen_opts){ .out = MPROC_STDIO_FD, .out_fd = -1 }),
                MPROC_EINVAL);
    assert_code(mproc_popen_new(
                    &p, argv,
                    &(mproc_popen_opts){ .err = MPROC_STDIO_FD, .err_fd = -5 }),
                MPROC_EINVAL);
    assert_code(
        mproc_popen_new(&p, argv,
                        &(mproc_popen_opts){ .err = (enum mproc_stdio)99 }),
        MPROC_EINVAL);
    assert_code(
        mproc_popen_new(&p, argv,
                        &(mproc_popen_opts){ .in = (enum mproc_stdio) - 1 }),
        MPROC_EINVAL);
    assert_code(
        mproc_popen_new(
            &p, argv, &(mproc_popen_opts){ .pass_fds = &neg, .npass_fds = 1 }),
        MPROC_EINVAL);
    cr_assert_null(p);
}

Test(subprocess, popen_calls_refuse_bad_arguments)
{
    mproc_popen *p =
        start(ARGV("cat"), &(mproc_popen_opts){ .in = MPROC_STDIO_PIPE,
                                                .out = MPROC_STDIO_PIPE });
    mproc_buf out = { 0 };

    assert_code(mproc_popen_poll(NULL), MPROC_EINVAL);
    assert_code(mproc_popen_wait(NULL, 1), MPROC_EINVAL);
    assert_code(mproc_popen_wait(p, NAN), MPROC_EINVAL);
    assert_code(mproc_popen_communicate(NULL, NULL, 0, NULL, NULL, 1),
                MPROC_EINVAL);
    assert_code(mproc_popen_communicate(p, NULL, 3, &out, NULL, 1),
                MPROC_EINVAL);
    assert_code(mproc_popen_communicate(p, NULL, 0, &out, NULL, NAN),
                MPROC_EINVAL);
    assert_buf_empty(&out);
    assert_code(mproc_popen_send_signal(NULL, SIGTERM), MPROC_EINVAL);
    assert_code(mproc_popen_send_signal(p, -1), MPROC_EINVAL);
    assert_code(mproc_popen_send_signal(p, 100000), MPROC_EINVAL);
    assert_code(mproc_popen_terminate(NULL), MPROC_EINVAL);
    assert_code(mproc_popen_kill(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_popen_pid(NULL), -1);
    cr_assert_eq(mproc_popen_returncode(NULL), MPROC_EXITCODE_NONE);
    cr_assert_eq(mproc_popen_pipe(NULL, 0), -1);
    cr_assert_eq(mproc_popen_pipe(p, -1), -1);
    cr_assert_eq(mproc_popen_pipe(p, 3), -1);
    cr_assert_eq(mproc_popen_pipe(p, 2), -1);
    assert_code(mproc_popen_close_pipe(NULL, 0), MPROC_EINVAL);
    assert_code(mproc_popen_close_pipe(p, -1), MPROC_EINVAL);
    assert_code(mproc_popen_close_pipe(p, 3), MPROC_EINVAL);
    assert_code(mproc_popen_close_pipe(p, 2), MPROC_EINVAL);
    mproc_popen_free(NULL);
    /* Still usable after every refusal. */
    cr_assert_eq(mproc_popen_returncode(p), MPROC_EXITCODE_NONE);
    assert_code(mproc_popen_communicate(p, "still", 5, &out, NULL, 30), 0);
    assert_buf_str(&out, "still");
    mproc_buf_free(&out);
    cr_assert_eq(finish(p), 0);
}

Test(subprocess, run_refuses_bad_arguments)
{
    mproc_completed c = { 0 };
    char *const *argv = ARGV("/bin/true");

    assert_code(mproc_run(NULL, NULL, &c, 1), MPROC_EINVAL);
    assert_code(mproc_run(argv, NULL, NULL, 1), MPROC_EINVAL);
    assert_code(mproc_run(argv, NULL, &c, NAN), MPROC_EINVAL);
    assert_code(mproc_run(argv,
                          &(mproc_run_opts){ .input = "x",
                                             .input_len = 1,
                                             .popen.in = MPROC_STDIO_DEVNULL },
                          &c, 1),
                MPROC_EINVAL);
    assert_code(mproc_run(argv,
                          &(mproc_run_opts){ .capture_output = true,
                                             .popen.out = MPROC_STDIO_DEVNULL },
                          &c, 1),
                MPROC_EINVAL);
    assert_code(mproc_run(argv,
                          &(mproc_run_opts){ .capture_output = true,
                                             .popen.err = MPROC_STDIO_STDOUT },
                          &c, 1),
                MPROC_EINVAL);
    assert_code(mproc_run(ARGV(NULL), NULL, &c, 1), MPROC_EINVAL);
    cr_assert_null(c.args);
    assert_buf_empty(&c.out);
    assert_buf_empty(&c.err);
    mproc_completed_free(&c);
}
