/*
 * tests/process.c - mproc_process against Python's Process semantics, under
 * each start method: exit codes of every way out, join timeouts, is_alive
 * and the sentinel, the wrong-state rules, names, the parent and current
 * process, daemons, and clean-up (no descriptor, no zombie left).
 */
#include "helpers/th.h"
#include "helpers/thtarget.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <unistd.h>

TestSuite(process, .init = th_begin, .fini = th_end, .timeout = 60);

static const enum mproc_start_method methods[] = { MPROC_START_FORK,
                                                   MPROC_START_SPAWN,
                                                   MPROC_START_FORKSERVER };
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static mproc_process_opts
with_method(enum mproc_start_method m)
{
    return (mproc_process_opts){ .start_method = m };
}

/* ---- targets ------------------------------------------------------------ */

static int
return_arg(const void *arg, size_t len)
{
    int n;

    if (len != sizeof(n))
        return 100;
    memcpy(&n, arg, sizeof(n));
    return n;
}

static int
call_exit(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    exit(13);
}

static int
call_abort(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    abort();
}

static int
segfault(const void *arg, size_t len)
{
    volatile char *page =
        mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    (void)arg;
    (void)len;
    page[0] = 1; /* a real fault, not a raised signal */
    return 0;
}

static int
block_forever(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    th_slow_block_forever();
    return 0;
}

/* Waits for one byte on the fd named in its argument, then returns 5. */
static int
wait_for_byte(const void *arg, size_t len)
{
    int fd;
    char c;

    if (len != sizeof(fd))
        return 100;
    memcpy(&fd, arg, sizeof(fd));
    return read(fd, &c, 1) == 1 ? 5 : 101;
}

/* ---- exit codes --------------------------------------------------------- */

Test(process, exitcode_is_the_targets_return_value)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);
        int n = 3 + (int)i;

        cr_assert_eq(th_run(return_arg, &n, sizeof(n), &o), n, "%s",
                     mproc_start_method_name(methods[i]));
    }
}

Test(process, exitcode_is_n_after_exit_n)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);

        cr_assert_eq(th_run(call_exit, NULL, 0, &o), 13);
    }
}

Test(process, exitcode_is_minus_sigabrt_after_abort)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);

        cr_assert_eq(th_run(call_abort, NULL, 0, &o), -SIGABRT);
    }
}

Test(process, exitcode_is_minus_sigsegv_after_a_segfault)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);

        cr_assert_eq(th_run(segfault, NULL, 0, &o), -SIGSEGV);
    }
}

Test(process, exitcode_is_minus_signal_after_terminate_and_kill)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);
        mproc_process *p = th_start(block_forever, NULL, 0, &o);
        mproc_process *q = th_start(block_forever, NULL, 0, &o);

        cr_assert_eq(mproc_process_terminate(p), 0);
        cr_assert_eq(mproc_process_kill(q), 0);
        cr_assert_eq(mproc_process_join(p, 10), 0);
        cr_assert_eq(mproc_process_join(q, 10), 0);
        cr_assert_eq(mproc_process_exitcode(p), -SIGTERM);
        cr_assert_eq(mproc_process_exitcode(q), -SIGKILL);
        /* Signalling an ended process sends nothing and is no error. */
        cr_assert_eq(mproc_process_terminate(p), 0);
        mproc_process_free(p);
        mproc_process_free(q);
    }
}

Test(process, exitcode_is_none_before_start_and_while_running)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_process_new(&p, block_forever, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_process_exitcode(p), MPROC_EXITCODE_NONE);
    cr_assert_eq(mproc_process_pid(p), 0);
    cr_assert_eq(mproc_process_start(p), 0);
    cr_assert_gt(mproc_process_pid(p), 0);
    cr_assert_eq(mproc_process_exitcode(p), MPROC_EXITCODE_NONE);
    cr_assert_eq(mproc_process_kill(p), 0);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    mproc_process_free(p);
}

/* ---- join, is_alive, sentinel ------------------------------------------- */

Test(process, join_times_out_while_the_child_runs_on, .timeout = 30)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);
        mproc_process *p = th_start(block_forever, NULL, 0, &o);
        double t0 = th_now();

        cr_assert_eq(mproc_process_join(p, 0.3), MPROC_ETIMEDOUT);
        th_assert_elapsed(t0, 0.3, 2.0);
        cr_assert(mproc_process_is_alive(p));
        t0 = th_now();
        cr_assert_eq(mproc_process_join(p, 0), MPROC_ETIMEDOUT);
        th_assert_elapsed(t0, 0, 0.5);
        cr_assert_eq(mproc_process_kill(p), 0);
        cr_assert_eq(mproc_process_join(p, MPROC_FOREVER), 0);
        cr_assert_not(mproc_process_is_alive(p));
        mproc_process_free(p);
    }
}

Test(process, signals_during_join_do_not_cut_the_timeout_short)
{
    mproc_process *p = th_start(block_forever, NULL, 0, NULL);
    struct th_storm s;
    double t0;

    th_storm_start(&s);
    t0 = th_now();
    cr_assert_eq(mproc_process_join(p, 0.4), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.4, 2.0);
    th_storm_stop(&s);
    cr_assert_eq(mproc_process_kill(p), 0);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    mproc_process_free(p);
}

Test(process, join_refuses_a_nan_timeout)
{
    mproc_process *p = th_start(return_arg, &(int){ 0 }, sizeof(int), NULL);

    cr_assert_eq(mproc_process_join(p, 0.0 / 0.0), MPROC_EINVAL);
    cr_assert_eq(mproc_process_join(p, MPROC_FOREVER), 0);
    mproc_process_free(p);
}

Test(process, is_alive_and_sentinel_change_exactly_when_the_child_ends)
{
    mproc_process_opts o = with_method(MPROC_START_FORK);
    struct pollfd pf;
    mproc_process *p;
    int fds[2];

    /* The child ends when the test lets it: a byte through a pipe it
     * inherited by fork (exec'd children keep only what they are given). */
    cr_assert_eq(pipe(fds), 0);
    p = th_start(wait_for_byte, &fds[0], sizeof(fds[0]), &o);
    cr_assert(mproc_process_is_alive(p));
    pf = (struct pollfd){ .fd = mproc_process_sentinel(p), .events = POLLIN };
    cr_assert_eq(poll(&pf, 1, 100), 0, "sentinel readable too early");
    cr_assert(mproc_process_is_alive(p));
    cr_assert_eq(mproc_process_exitcode(p), MPROC_EXITCODE_NONE);
    cr_assert_eq(write(fds[1], "x", 1), 1);
    cr_assert_eq(poll(&pf, 1, 10000), 1, "sentinel never readable");
    cr_assert_not(mproc_process_is_alive(p));
    cr_assert_eq(mproc_process_exitcode(p), 5);
    close(fds[0]);
    close(fds[1]);
    mproc_process_free(p);
}

Test(process, sentinel_turns_readable_at_the_end_under_every_method)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);
        mproc_process *p = th_start(block_forever, NULL, 0, &o);
        struct pollfd pf = { .fd = mproc_process_sentinel(p),
                             .events = POLLIN };

        cr_assert_geq(pf.fd, 0);
        cr_assert_eq(poll(&pf, 1, 50), 0);
        cr_assert(mproc_process_is_alive(p));
        cr_assert_eq(mproc_process_kill(p), 0);
        cr_assert_eq(poll(&pf, 1, 10000), 1);
        cr_assert_not(mproc_process_is_alive(p));
        cr_assert_eq(mproc_process_exitcode(p), -SIGKILL);
        mproc_process_free(p);
    }
}

/* ---- wrong states ------------------------------------------------------- */

Test(process, every_wrong_state_call_is_refused)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_process_new(&p, block_forever, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_process_join(p, 0), MPROC_ESTATE);
    cr_assert_eq(mproc_process_terminate(p), MPROC_ESTATE);
    cr_assert_eq(mproc_process_kill(p), MPROC_ESTATE);
    cr_assert_eq(mproc_process_sentinel(p), -1);
    cr_assert_not(mproc_process_is_alive(p));
    cr_assert_eq(mproc_process_start(p), 0);
    cr_assert_eq(mproc_process_start(p), MPROC_ESTATE);
    cr_assert_eq(mproc_process_set_daemon(p, true), MPROC_ESTATE);
    cr_assert_eq(mproc_process_close(p), MPROC_ESTATE);
    cr_assert_eq(mproc_process_kill(p), 0);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_process_close(p), 0);
    cr_assert_eq(mproc_process_close(p), 0);
    cr_assert_eq(mproc_process_join(p, 0), MPROC_ESTATE);
    cr_assert_eq(mproc_process_start(p), MPROC_ESTATE);
    cr_assert_eq(mproc_process_kill(p), MPROC_ESTATE);
    cr_assert_eq(mproc_process_sentinel(p), -1);
    cr_assert_not(mproc_process_is_alive(p));
    mproc_process_free(p);
}

Test(process, the_current_process_cannot_be_joined_started_or_closed)
{
    mproc_process *me = mproc_current_process();

    cr_assert_eq(mproc_process_join(me, 0), MPROC_ESTATE);
    cr_assert_eq(mproc_process_start(me), MPROC_ESTATE);
    cr_assert_eq(mproc_process_close(me), MPROC_ESTATE);
    cr_assert_eq(mproc_process_terminate(me), MPROC_ESTATE);
    cr_assert(mproc_process_is_alive(me));
    cr_assert_eq(mproc_process_pid(me), getpid());
    cr_assert_str_eq(mproc_process_name(me), "MainProcess");
    cr_assert_null(mproc_parent_process());
    mproc_process_free(me); /* library-owned: ignored */
}

Test(process, closing_a_process_never_started_is_allowed)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_process_new(&p, block_forever, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_process_close(p), 0);
    cr_assert_eq(mproc_process_start(p), MPROC_ESTATE);
    mproc_process_free(p);
}

Test(process, bad_arguments_are_refused)
{
    mproc_process *p = (mproc_process *)1;

    cr_assert_eq(mproc_process_new(NULL, return_arg, NULL, 0, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_process_new(&p, NULL, NULL, 0, NULL), MPROC_EINVAL);
    cr_assert_null(p);
    cr_assert_eq(mproc_process_new(&p, return_arg, NULL, 4, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_process_new(&p, return_arg, NULL, 0,
                                   &(mproc_process_opts){ .start_method = 99 }),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_process_start(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_process_join(NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_process_exitcode(NULL), MPROC_EXITCODE_NONE);
    cr_assert_not(mproc_process_is_alive(NULL));
    mproc_process_free(NULL);
}

static mproc_process *sibling;

/* A forked child may not join a process its parent started. */
static int
join_sibling(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return mproc_process_join(sibling, 0) == MPROC_ESTATE ? 0 : 1;
}

Test(process, joining_from_a_process_that_is_not_the_parent_is_refused)
{
    sibling = th_start(block_forever, NULL, 0, NULL);
    cr_assert_eq(th_run(join_sibling, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_process_kill(sibling), 0);
    cr_assert_eq(mproc_process_join(sibling, 10), 0);
    mproc_process_free(sibling);
}

/* ---- names, current and parent ------------------------------------------ */

struct names {
    char own[64];
    char child[64];
    pid_t parent;
};

static int
check_names(const void *arg, size_t len)
{
    const struct names *want = arg;
    mproc_process *p = NULL;
    int bad = 0;

    if (len != sizeof(*want))
        return 100;
    if (strcmp(mproc_process_name(mproc_current_process()), want->own) != 0)
        bad |= 1;
    if (mproc_parent_process() == NULL ||
        strcmp(mproc_process_name(mproc_parent_process()), "MainProcess") !=
            0 ||
        mproc_process_pid(mproc_parent_process()) != want->parent)
        bad |= 2;
    if (mproc_process_new(&p, return_arg, NULL, 0, NULL) != 0 ||
        strcmp(mproc_process_name(p), want->child) != 0)
        bad |= 4;
    mproc_process_free(p);
    return bad;
}

Test(process, default_names_count_processes_and_nest_with_colons)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);
        mproc_process *probe = NULL, *p = NULL;
        struct names want;
        int n;

        /* Each new object takes the next number: learn it from a probe. */
        cr_assert_eq(mproc_process_new(&probe, return_arg, NULL, 0, &o), 0);
        cr_assert_eq(sscanf(mproc_process_name(probe), "Process-%d", &n), 1);
        mproc_process_free(probe);
        snprintf(want.own, sizeof(want.own), "Process-%d", n + 1);
        snprintf(want.child, sizeof(want.child), "Process-%d:1", n + 1);
        want.parent = getpid(); /* under forkserver, not the getppid() */

        cr_assert_eq(
            mproc_process_new(&p, check_names, &want, sizeof(want), &o), 0);
        cr_assert_str_eq(mproc_process_name(p), want.own);
        cr_assert_eq(mproc_process_start(p), 0);
        cr_assert_eq(mproc_process_join(p, 10), 0);
        cr_assert_eq(mproc_process_exitcode(p), 0, "%s: code %d",
                     mproc_start_method_name(methods[i]),
                     mproc_process_exitcode(p));
        mproc_process_free(p);
    }
}

Test(process, a_name_can_be_given_and_changed)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_process_new(&p, return_arg, NULL, 0,
                                   &(mproc_process_opts){ .name = "worker" }),
                 0);
    cr_assert_str_eq(mproc_process_name(p), "worker");
    cr_assert_eq(mproc_process_set_name(p, "renamed"), 0);
    cr_assert_str_eq(mproc_process_name(p), "renamed");
    cr_assert_eq(mproc_process_set_name(p, NULL), MPROC_EINVAL);
    mproc_process_free(p);
}

/* ---- locating targets: executable and shared library -------------------- */

Test(process, spawn_and_forkserver_run_targets_from_a_shared_library)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);

        cr_assert_eq(th_run(thtarget_echo_len, "hello", 5, &o), 42);
    }
}

Test(process, a_target_outside_any_loaded_code_is_refused_in_the_parent)
{
    static char not_code[16];
    mproc_target bogus = (mproc_target)(void *)not_code;

    for (size_t i = 1; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);
        mproc_process *p = NULL;

        cr_assert_eq(mproc_process_new(&p, bogus, NULL, 0, &o), 0);
        cr_assert_eq(mproc_process_start(p), MPROC_EINVAL);
        cr_assert_not(mproc_process_is_alive(p));
        mproc_process_free(p);
    }
}

Test(process, spawn_from_another_binary_is_refused_in_the_parent)
{
    mproc_process_opts o = with_method(MPROC_START_SPAWN);
    mproc_process *p = NULL;

    /* A program that does not link mproc never answers: crashed. */
    cr_assert_eq(mproc_set_executable("/bin/true"), 0);
    cr_assert_eq(mproc_process_new(&p, return_arg, NULL, 0, &o), 0);
    cr_assert_eq(mproc_process_start(p), MPROC_ECRASHED);
    cr_assert_eq(mproc_process_pid(p), 0);
    cr_assert_eq(mproc_set_executable(NULL), 0);
    cr_assert_eq(th_run(return_arg, &(int){ 9 }, sizeof(int), &o), 9);
    mproc_process_free(p);
}

/* The parent handle of a child: alive, joinable with a timeout. */
static int
look_at_parent(const void *arg, size_t len)
{
    mproc_process *parent = mproc_parent_process();

    (void)arg;
    (void)len;
    if (parent == NULL || !mproc_process_is_alive(parent))
        return 1;
    if (mproc_process_join(parent, 0.05) != MPROC_ETIMEDOUT)
        return 2;
    if (mproc_process_sentinel(parent) < 0 ||
        mproc_process_exitcode(parent) != MPROC_EXITCODE_NONE)
        return 3;
    if (mproc_process_kill(parent) != MPROC_ESTATE)
        return 4;
    return 0;
}

Test(process, a_child_sees_its_parent_alive_through_a_sentinel)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);

        cr_assert_eq(th_run(look_at_parent, NULL, 0, &o), 0, "%s",
                     mproc_start_method_name(methods[i]));
    }
}

Test(process, a_dead_forkserver_is_replaced_at_the_next_start)
{
    mproc_process_opts o = with_method(MPROC_START_FORKSERVER);
    pid_t server = th_forkserver_pid();
    int pidfd;
    struct pollfd pf;

    cr_assert_gt(server, 0, "no forkserver among %d children",
                 th_child_count());
    pidfd = pidfd_open(server, 0);
    cr_assert_geq(pidfd, 0);
    cr_assert_eq(kill(server, SIGKILL), 0);
    pf = (struct pollfd){ .fd = pidfd, .events = POLLIN };
    cr_assert_eq(poll(&pf, 1, 10000), 1);
    close(pidfd);
    cr_assert_eq(th_run(return_arg, &(int){ 4 }, sizeof(int), &o), 4);
    cr_assert_gt(th_forkserver_pid(), 0);
    cr_assert_neq(th_forkserver_pid(), server);
}

/* ---- authkey
 * ----------------------------------------------------------------- */

/* Exit 0 when the child's own key equals the argument (and the parent's
 * handle carries none). */
static int
check_authkey(const void *arg, size_t len)
{
    size_t n = 0, m = 1;
    const void *own = mproc_process_authkey(mproc_current_process(), &n);

    if (n != len || memcmp(own, arg, len) != 0)
        return 1;
    if (mproc_process_authkey(mproc_parent_process(), &m) != NULL || m != 0)
        return 2;
    return 0;
}

Test(process, the_authkey_is_random_per_tree_and_inherited_by_children)
{
    size_t n = 0;
    const void *key = mproc_process_authkey(mproc_current_process(), &n);
    unsigned char copy[32];

    cr_assert_not_null(key);
    cr_assert_eq(n, 32);
    memcpy(copy, key, n);
    cr_assert_eq(mproc_process_authkey(mproc_current_process(), &n), key,
                 "stable");
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = with_method(methods[i]);

        cr_assert_eq(th_run(check_authkey, copy, sizeof(copy), &o), 0, "%s",
                     mproc_start_method_name(methods[i]));
    }
}

Test(process, an_authkey_set_before_start_is_the_childs)
{
    static const char key[] = "the child's own key";
    mproc_process *p = NULL;
    size_t n = 0;

    cr_assert_eq(mproc_process_new(&p, check_authkey, key, sizeof(key),
                                   &(mproc_process_opts){
                                       .start_method = MPROC_START_SPAWN }),
                 0);
    cr_assert_eq(mproc_process_set_authkey(p, key, sizeof(key)), 0);
    cr_assert_eq(mproc_process_authkey(p, &n) != NULL, true);
    cr_assert_eq(n, sizeof(key));
    cr_assert_eq(mproc_process_start(p), 0);
    cr_assert_eq(mproc_process_set_authkey(p, "late", 4), MPROC_ESTATE);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_process_exitcode(p), 0);
    cr_assert_eq(mproc_process_set_authkey(p, NULL, 3), MPROC_EINVAL);
    cr_assert_eq(mproc_process_set_authkey(p, key, 0), MPROC_EINVAL);
    mproc_process_free(p);
}

Test(process, children_created_after_a_new_current_key_copy_it)
{
    static const char key[] = "new tree key";
    mproc_process_opts o = with_method(MPROC_START_FORKSERVER);

    cr_assert_eq(
        mproc_process_set_authkey(mproc_current_process(), key, sizeof(key)),
        0);
    cr_assert_eq(th_run(check_authkey, key, sizeof(key), &o), 0);
}

/* ---- threads ------------------------------------------------------------- */

struct from_thread {
    enum mproc_start_method method;
    int code;
};

static void *
start_in_thread(void *arg)
{
    struct from_thread *ft = arg;
    mproc_process_opts o = with_method(ft->method);
    mproc_process *p = NULL;
    int n = 21;

    ft->code = -1000;
    if (mproc_process_new(&p, return_arg, &n, sizeof(n), &o) == 0 &&
        mproc_process_start(p) == 0 &&
        mproc_process_join(p, MPROC_FOREVER) == 0)
        ft->code = mproc_process_exitcode(p);
    mproc_process_free(p);
    return NULL;
}

Test(process, spawn_and_forkserver_start_processes_from_threads)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        struct from_thread ft[4];
        pthread_t t[4];

        for (int k = 0; k < 4; k++) {
            ft[k].method = methods[i];
            cr_assert_eq(pthread_create(&t[k], NULL, start_in_thread, &ft[k]),
                         0);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(t[k], NULL);
            cr_assert_eq(ft[k].code, 21, "%s: %d",
                         mproc_start_method_name(methods[i]), ft[k].code);
        }
    }
}

/* ---- daemons ------------------------------------------------------------- */

static int
try_to_start_a_child(const void *arg, size_t len)
{
    mproc_process *p = NULL;
    int rc;

    (void)arg;
    (void)len;
    if (mproc_process_new(&p, return_arg, NULL, 0, NULL) != 0)
        return 1;
    rc = mproc_process_start(p);
    mproc_process_free(p);
    return rc == MPROC_ESTATE ? 0 : 2;
}

Test(process, a_daemon_cannot_start_a_process)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        mproc_process_opts o = { .daemon = true, .start_method = methods[i] };

        cr_assert_eq(th_run(try_to_start_a_child, NULL, 0, &o), 0);
    }
}

/* Start a daemon grandchild that blocks, report its pid, block. */
static int
start_daemon_then_block(const void *arg, size_t len)
{
    mproc_process_opts o = { .daemon = true };
    mproc_process *p = NULL;
    int fd;
    pid_t pid;

    if (len != sizeof(o.start_method) + sizeof(fd))
        return 100;
    memcpy(&o.start_method, arg, sizeof(o.start_method));
    memcpy(&fd, (const char *)arg + sizeof(o.start_method), sizeof(fd));
    if (mproc_process_new(&p, block_forever, NULL, 0, &o) != 0 ||
        mproc_process_start(p) != 0)
        return 1;
    pid = mproc_process_pid(p);
    if (write(fd, &pid, sizeof(pid)) != sizeof(pid))
        return 2;
    th_slow_block_forever();
    return 0;
}

Test(process, a_daemon_dies_when_its_parent_is_killed, .timeout = 60)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        char arg[sizeof(enum mproc_start_method) + sizeof(int)];
        int fds[2];
        mproc_process *mid;
        pid_t grandchild;
        struct pollfd pf;

        cr_assert_eq(pipe(fds), 0);
        memcpy(arg, &methods[i], sizeof(methods[i]));
        memcpy(arg + sizeof(methods[i]), &fds[1], sizeof(fds[1]));
        mid = th_start(start_daemon_then_block, arg, sizeof(arg), NULL);
        cr_assert_eq(read(fds[0], &grandchild, sizeof(grandchild)),
                     sizeof(grandchild));
        pf.fd = pidfd_open(grandchild, 0);
        pf.events = POLLIN;
        cr_assert_geq(pf.fd, 0);
        cr_assert_eq(poll(&pf, 1, 0), 0, "daemon ended too early");
        cr_assert_eq(mproc_process_kill(mid), 0);
        cr_assert_eq(mproc_process_join(mid, 10), 0);
        cr_assert_eq(poll(&pf, 1, 10000), 1, "%s: daemon outlived parent",
                     mproc_start_method_name(methods[i]));
        close(pf.fd);
        close(fds[0]);
        close(fds[1]);
        mproc_process_free(mid);
    }
}

struct exit_report {
    pid_t daemon;
    char finished;
};

/* Waits a little (a deliberately slow child), then reports through fd. */
static int
slow_then_report(const void *arg, size_t len)
{
    int fd;

    if (len != sizeof(fd))
        return 100;
    memcpy(&fd, arg, sizeof(fd));
    (void)poll(NULL, 0, 300); /* slow on purpose: the parent must wait */
    return write(fd, "x", 1) == 1 ? 0 : 1;
}

/* Start a blocking daemon and a slow non-daemon, report the daemon's pid,
 * and return at once: the exit-time join must do the rest. */
static int
start_both_and_return(const void *arg, size_t len)
{
    mproc_process *d = NULL, *n = NULL;
    int fd;
    pid_t pid;

    if (len != sizeof(fd))
        return 100;
    memcpy(&fd, arg, sizeof(fd));
    if (mproc_process_new(&d, block_forever, NULL, 0,
                          &(mproc_process_opts){ .daemon = true }) != 0 ||
        mproc_process_start(d) != 0 ||
        mproc_process_new(&n, slow_then_report, &fd, sizeof(fd), NULL) != 0 ||
        mproc_process_start(n) != 0)
        return 1;
    pid = mproc_process_pid(d);
    if (write(fd, &pid, sizeof(pid)) != sizeof(pid))
        return 2;
    return 0; /* handles deliberately not joined nor freed */
}

Test(process, at_exit_daemons_are_terminated_and_others_joined)
{
    int fds[2];
    pid_t daemon;
    char c;
    int pidfd;
    struct pollfd pf;

    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(th_run(start_both_and_return, &fds[1], sizeof(fds[1]), NULL),
                 0);
    cr_assert_eq(read(fds[0], &daemon, sizeof(daemon)), sizeof(daemon));
    /* The non-daemon wrote before its parent could exit. */
    pf = (struct pollfd){ .fd = fds[0], .events = POLLIN };
    cr_assert_eq(poll(&pf, 1, 0), 1, "the non-daemon was not joined");
    cr_assert_eq(read(fds[0], &c, 1), 1);
    cr_assert_eq(c, 'x');
    pidfd = pidfd_open(daemon, 0);
    if (pidfd >= 0) { /* still a zombie of init maybe: must have ended */
        pf = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        cr_assert_eq(poll(&pf, 1, 0), 1, "the daemon was not terminated");
        close(pidfd);
    }
    close(fds[0]);
    close(fds[1]);
}

/* ---- bookkeeping --------------------------------------------------------- */

Test(process, active_children_lists_running_ones_and_reaps_ended_ones)
{
    mproc_process *a = th_start(block_forever, NULL, 0, NULL);
    mproc_process *b = th_start(return_arg, &(int){ 0 }, sizeof(int), NULL);
    struct pollfd pf = { .fd = mproc_process_sentinel(b), .events = POLLIN };
    mproc_process **kids = NULL;
    size_t n = 0;

    cr_assert_eq(poll(&pf, 1, 10000), 1);
    cr_assert_eq(mproc_active_children(&kids, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(kids[0], a);
    mproc_free(kids);
    cr_assert_eq(mproc_process_exitcode(b), 0); /* reaped by the listing */
    cr_assert_eq(mproc_process_kill(a), 0);
    cr_assert_eq(mproc_process_join(a, 10), 0);
    cr_assert_eq(mproc_active_children(&kids, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(kids);
    cr_assert_eq(mproc_active_children(NULL, &n), MPROC_EINVAL);
    mproc_process_free(a);
    mproc_process_free(b);
}

Test(process, a_handle_freed_while_running_stays_reachable)
{
    mproc_process *p = th_start(block_forever, NULL, 0, NULL);
    mproc_process **kids = NULL;
    size_t n = 0;

    mproc_process_free(p);
    cr_assert_eq(mproc_active_children(&kids, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(mproc_process_kill(kids[0]), 0);
    cr_assert_eq(mproc_process_join(kids[0], 10), 0);
    mproc_free(kids);
}

Test(process, five_hundred_processes_leave_no_descriptor_and_no_zombie,
     .timeout = 120)
{
    int before = th_fd_count();

    for (int i = 0; i < 500; i++) {
        mproc_process_opts o = with_method(methods[i % N_METHODS]);

        if (o.start_method == MPROC_START_SPAWN && i % 10 != 1)
            o.start_method = MPROC_START_FORK; /* spawn is slow: 1 in 30 */
        cr_assert_eq(th_run(return_arg, &i, sizeof(i), &o), i & 0xff);
    }
    cr_assert_eq(th_fd_count(), before);
    cr_assert_eq(th_child_count(), 0);
}

Test(process, cpu_count_counts_the_cpus_this_process_may_use)
{
    cpu_set_t set;

    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    cr_assert_eq(mproc_cpu_count(), CPU_COUNT(&set));
    cr_assert_geq(mproc_cpu_count(), 1);
}
