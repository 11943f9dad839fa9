/*
 * tests/listener.c - mproc_listener, mproc_client and the authkey
 * handshake against Python's Listener/Client semantics: the address forms
 * and their errors, round trips over Unix paths, abstract names, TCP on
 * IPv4 and IPv6, the real port of port 0, last_accepted, the socket file's
 * removal, accept's timeout (signals included) and close, wrong keys and
 * stalled or lying peers, and the handshake's wire forms (CPython 3.12's
 * "{digest}" and 3.11's bare HMAC-MD5) checked against HMACs computed here.
 */
#include "helpers/th.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

TestSuite(listener, .init = th_begin, .fini = th_end, .timeout = 60);

#define KEY "the shared secret"
#define KEY_LEN (sizeof(KEY) - 1)

/* ---- helpers ------------------------------------------------------------ */

/* A socket path in a fresh directory of its own (parallel-safe). */
struct sock_path {
    char dir[64];
    char path[128];
    char address[160];
};

static void
sock_path_make(struct sock_path *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/mproc-listener-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
    snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
    snprintf(s->address, sizeof(s->address), "unix:%s", s->path);
}

/* Remove the directory; it must be empty (the socket file gone). */
static void
sock_path_done(struct sock_path *s)
{
    cr_assert_eq(rmdir(s->dir), 0, "%s not empty or gone", s->dir);
}

static void
abstract_address(char *out, size_t size)
{
    static unsigned counter;

    snprintf(out, size, "unix:@mproc-test-%d-%u", (int)getpid(), ++counter);
}

static mproc_listener *
listen_at(const char *address, const mproc_listener_opts *opts)
{
    mproc_listener *l = NULL;
    int rc = mproc_listener_new(&l, address, opts);

    cr_assert_eq(rc, 0, "listen on %s: %s", address, mproc_errname(rc));
    return l;
}

static const mproc_listener_opts keyed = { .authkey = KEY,
                                           .authkey_len = KEY_LEN };
static const mproc_client_opts client_keyed = { .authkey = KEY,
                                                .authkey_len = KEY_LEN };

/* A client run in a thread, so the test's thread can accept. */
struct client_job {
    const char *address;
    mproc_client_opts opts;
    double timeout;
    int rc;
    mproc_conn *c;
    pthread_t thread;
};

static void *
client_run(void *arg)
{
    struct client_job *j = arg;

    j->rc = mproc_client(&j->c, j->address, &j->opts, j->timeout);
    return NULL;
}

static void
client_start(struct client_job *j, const char *address,
             const mproc_client_opts *opts)
{
    j->address = address;
    j->opts = opts != NULL ? *opts : (mproc_client_opts){ 0 };
    j->timeout = 10;
    j->c = NULL;
    cr_assert_eq(pthread_create(&j->thread, NULL, client_run, j), 0);
}

static void
client_join(struct client_job *j)
{
    pthread_join(j->thread, NULL);
}

static void
expect_message(mproc_conn *c, const char *want)
{
    mproc_buf m = { 0 };

    cr_assert_eq(mproc_conn_recv_bytes(c, &m, 0, 10), 0);
    cr_assert_eq(m.len, strlen(want));
    cr_assert_arr_eq(m.data, want, m.len);
    mproc_buf_free(&m);
}

/* Messages go both ways between the accepted end and the client's. */
static void
exchange(mproc_conn *server, mproc_conn *client)
{
    cr_assert_eq(mproc_conn_send_bytes(client, "ping", 0, 4), 0);
    expect_message(server, "ping");
    cr_assert_eq(mproc_conn_send_bytes(server, "pong!", 0, 5), 0);
    expect_message(client, "pong!");
}

/* Listen, connect from a thread, accept, exchange; return the listener
 * (still open) for the caller's own checks. */
static mproc_listener *
round_trip(const char *address, bool with_key)
{
    mproc_listener *l = listen_at(address, with_key ? &keyed : NULL);
    struct client_job j;
    mproc_conn *server = NULL;

    client_start(&j, mproc_listener_address(l),
                 with_key ? &client_keyed : NULL);
    cr_assert_eq(mproc_listener_accept(l, &server, 10), 0);
    client_join(&j);
    cr_assert_eq(j.rc, 0, "client: %s", mproc_errname(j.rc));
    exchange(server, j.c);
    mproc_conn_free(server);
    mproc_conn_free(j.c);
    return l;
}

/* The port of a "tcp://HOST:PORT" address. */
static int
port_of(const char *address)
{
    const char *colon = strrchr(address, ':');

    cr_assert_not_null(colon);
    return atoi(colon + 1);
}

static unsigned
hmac(const EVP_MD *md, const void *msg, size_t len, unsigned char *out)
{
    unsigned n = 0;

    cr_assert_not_null(HMAC(md, KEY, (int)KEY_LEN, msg, len, out, &n));
    return n;
}

/* ---- addresses and arguments -------------------------------------------- */

Test(listener, malformed_addresses_are_invalid)
{
    static const char *const bad[] = {
        "",
        "unix:",
        "unix:@",
        "unix",
        "UNIX:/tmp/x",
        "tcp://",
        "tcp://host",
        "tcp://host:",
        "tcp://:80",
        "tcp://host:http",
        "tcp://host:65536",
        "tcp://host:123456",
        "tcp://host:-1",
        "tcp://host:80/path",
        "tcp://::1:80",
        "tcp://[::1]",
        "tcp://[::1]80",
        "tcp://[::1:80",
        "tcp://[]:80",
        "tcp:host:80",
        "udp://host:80",
        "file:/tmp/x",
        "/tmp/x",
    };
    char long_path[300];
    mproc_listener *l;
    mproc_conn *c;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = (mproc_listener *)1;
        cr_assert_eq(mproc_listener_new(&l, bad[i], NULL), MPROC_EINVAL,
                     "listener accepted \"%s\"", bad[i]);
        cr_assert_null(l);
        c = (mproc_conn *)1;
        cr_assert_eq(mproc_client(&c, bad[i], NULL, 1), MPROC_EINVAL,
                     "client accepted \"%s\"", bad[i]);
        cr_assert_null(c);
    }
    /* A Unix socket's name holds 107 bytes. */
    snprintf(long_path, sizeof(long_path), "unix:/tmp/%0200d", 0);
    cr_assert_eq(mproc_listener_new(&l, long_path, NULL), MPROC_EINVAL);
    snprintf(long_path, sizeof(long_path), "unix:@%0108d", 0);
    cr_assert_eq(mproc_listener_new(&l, long_path, NULL), MPROC_EINVAL);
}

Test(listener, bad_arguments_are_refused)
{
    char address[64];
    mproc_listener *l;
    mproc_conn *a, *b;

    abstract_address(address, sizeof(address));
    cr_assert_eq(mproc_listener_new(NULL, address, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_listener_new(&l, NULL, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_listener_new(&l, address,
                                    &(mproc_listener_opts){ .backlog = -1 }),
                 MPROC_EINVAL);
    cr_assert_eq(
        mproc_listener_new(&l, address,
                           &(mproc_listener_opts){ .handshake_timeout = NAN }),
        MPROC_EINVAL);
    cr_assert_eq(mproc_listener_new(&l, address,
                                    &(mproc_listener_opts){ .authkey_len = 3 }),
                 MPROC_EINVAL, "a length without a key");
    cr_assert_eq(
        mproc_client(&a, address, &(mproc_client_opts){ .authkey_len = 3 }, 1),
        MPROC_EINVAL);
    cr_assert_eq(mproc_client(NULL, address, NULL, 1), MPROC_EINVAL);

    l = listen_at(address, NULL);
    cr_assert_eq(mproc_listener_accept(l, NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_listener_accept(l, &a, NAN), MPROC_EINVAL);
    cr_assert_eq(mproc_listener_accept(NULL, &a, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_client(&a, address, NULL, NAN), MPROC_EINVAL);
    mproc_listener_free(l);
    mproc_listener_free(NULL);

    cr_assert_eq(mproc_pipe(&a, &b, true), 0);
    cr_assert_eq(mproc_deliver_challenge(a, NULL, 0, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_answer_challenge(a, NULL, 3, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_deliver_challenge(NULL, KEY, KEY_LEN, 1), MPROC_EINVAL);
    cr_assert_eq(mproc_answer_challenge(a, KEY, KEY_LEN, NAN), MPROC_EINVAL);
    mproc_conn_free(a);
    mproc_conn_free(b);
}

/* ---- round trips ----------------------------------------------------------
 */

Test(listener, a_unix_path_listener_and_client_exchange_messages)
{
    struct sock_path s;
    mproc_listener *l;

    sock_path_make(&s);
    l = round_trip(s.address, false);
    cr_assert_str_eq(mproc_listener_address(l), s.address);
    mproc_listener_free(l);
    sock_path_done(&s);
}

Test(listener, a_unix_path_round_trip_with_an_authkey)
{
    struct sock_path s;

    sock_path_make(&s);
    mproc_listener_free(round_trip(s.address, true));
    sock_path_done(&s);
}

Test(listener, an_empty_authkey_still_authenticates)
{
    /* Python accepts b"" as a key: the handshake still runs. */
    static const mproc_listener_opts empty = { .authkey = "" };
    static const mproc_client_opts client_empty = { .authkey = "" };
    char address[64];
    mproc_listener *l;
    struct client_job j;
    mproc_conn *server = NULL;

    abstract_address(address, sizeof(address));
    l = listen_at(address, &empty);
    client_start(&j, mproc_listener_address(l), &client_empty);
    cr_assert_eq(mproc_listener_accept(l, &server, 10), 0);
    client_join(&j);
    cr_assert_eq(j.rc, 0, "client: %s", mproc_errname(j.rc));
    exchange(server, j.c);
    mproc_conn_free(server);
    mproc_conn_free(j.c);
    /* and a keyed client cannot get in */
    client_start(&j, mproc_listener_address(l), &client_keyed);
    cr_assert_eq(mproc_listener_accept(l, &server, 10), MPROC_EAUTH);
    client_join(&j);
    cr_assert_eq(j.rc, MPROC_EAUTH);
    mproc_listener_free(l);
}

Test(listener, accept_with_no_wait_after_poll_completes_the_handshake)
{
    struct pollfd pf;
    char address[64];
    mproc_listener *l;
    struct client_job j;
    mproc_conn *server = NULL;

    abstract_address(address, sizeof(address));
    l = listen_at(address, &keyed);
    client_start(&j, mproc_listener_address(l), &client_keyed);
    pf = (struct pollfd){ .fd = mproc_listener_fileno(l), .events = POLLIN };
    cr_assert_eq(poll(&pf, 1, 10000), 1);
    /* The timeout is for a peer to come; the handshake has its own. */
    cr_assert_eq(mproc_listener_accept(l, &server, 0), 0);
    client_join(&j);
    cr_assert_eq(j.rc, 0, "client: %s", mproc_errname(j.rc));
    mproc_conn_free(server);
    mproc_conn_free(j.c);
    mproc_listener_free(l);
}

Test(listener, an_abstract_name_works_and_leaves_no_file)
{
    char address[64];
    mproc_listener *l;
    struct stat st;

    abstract_address(address, sizeof(address));
    l = round_trip(address, false);
    cr_assert_str_eq(mproc_listener_address(l), address);
    cr_assert_neq(stat(address + 6, &st), 0, "a file for an abstract name");
    mproc_listener_free(l);

    abstract_address(address, sizeof(address));
    mproc_listener_free(round_trip(address, true));
}

Test(listener, tcp_on_ipv4_loopback_port_0_gets_a_real_port)
{
    mproc_listener *l;
    const char *address;

    l = round_trip("tcp://127.0.0.1:0", false);
    address = mproc_listener_address(l);
    cr_assert_eq(strncmp(address, "tcp://127.0.0.1:", 16), 0, "%s", address);
    cr_assert_gt(port_of(address), 0);
    mproc_listener_free(l);
    mproc_listener_free(round_trip("tcp://127.0.0.1:0", true));
}

Test(listener, tcp_over_ipv6_loopback)
{
    mproc_listener *l = NULL;
    const char *address;
    int rc;

    rc = mproc_listener_new(&l, "tcp://[::1]:0", NULL);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT || rc == -ENOENT)
        cr_skip_test("IPv6 loopback unavailable: %s", mproc_errname(rc));
    cr_assert_eq(rc, 0, "%s", mproc_errname(rc));
    mproc_listener_free(l);

    l = round_trip("tcp://[::1]:0", true);
    address = mproc_listener_address(l);
    cr_assert_eq(strncmp(address, "tcp://[::1]:", 12), 0, "%s", address);
    cr_assert_gt(port_of(address), 0);
    cr_assert_eq(strncmp(mproc_listener_last_accepted(l), "tcp://[::1]:", 12),
                 0);
    mproc_listener_free(l);
}

Test(listener, a_host_name_resolves)
{
    mproc_listener *l;
    char address[64];
    int rc;

    rc = mproc_listener_new(&l, "tcp://localhost:0", NULL);
    if (rc == -ENOENT || rc == -EAGAIN)
        cr_skip_test("localhost does not resolve here");
    cr_assert_eq(rc, 0, "%s", mproc_errname(rc));
    /* The client tries each of localhost's addresses until one answers. */
    snprintf(address, sizeof(address), "tcp://localhost:%d",
             port_of(mproc_listener_address(l)));
    mproc_listener_free(l);
    mproc_listener_free(round_trip(address, false));
}

Test(listener, last_accepted_names_the_peer)
{
    struct sockaddr_in local;
    socklen_t len = sizeof(local);
    struct client_job j;
    mproc_listener *l;
    mproc_conn *server;
    char want[64];

    l = listen_at("tcp://127.0.0.1:0", NULL);
    cr_assert_null(mproc_listener_last_accepted(l));
    client_start(&j, mproc_listener_address(l), NULL);
    cr_assert_eq(mproc_listener_accept(l, &server, 10), 0);
    client_join(&j);
    cr_assert_eq(j.rc, 0);
    cr_assert_eq(
        getsockname(mproc_conn_fileno(j.c), (struct sockaddr *)&local, &len),
        0);
    snprintf(want, sizeof(want), "tcp://127.0.0.1:%d", ntohs(local.sin_port));
    cr_assert_str_eq(mproc_listener_last_accepted(l), want);
    mproc_conn_free(server);
    mproc_conn_free(j.c);
    mproc_listener_free(l);

    /* A Unix client is unnamed. */
    abstract_address(want, sizeof(want));
    l = round_trip(want, false);
    cr_assert_str_eq(mproc_listener_last_accepted(l), "unix:");
    mproc_listener_free(l);
}

/* ---- the socket file, close --------------------------------------------- */

Test(listener, closing_a_unix_path_listener_removes_the_file)
{
    struct sock_path s;
    mproc_listener *l;
    mproc_conn *c;
    struct stat st;

    sock_path_make(&s);
    l = listen_at(s.address, NULL);
    cr_assert_eq(stat(s.path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_geq(mproc_listener_fileno(l), 0);
    cr_assert_eq(mproc_listener_close(l), 0);
    cr_assert_neq(stat(s.path, &st), 0, "the socket file is still there");
    cr_assert_eq(mproc_listener_close(l), 0, "closing again does nothing");
    cr_assert_eq(mproc_listener_fileno(l), MPROC_ECLOSED);
    cr_assert_eq(mproc_listener_accept(l, &c, 0), MPROC_ECLOSED);
    cr_assert_null(c);
    mproc_listener_free(l);
    sock_path_done(&s);
}

Test(listener, binding_a_path_that_exists_is_address_in_use)
{
    struct sock_path s;
    mproc_listener *l, *second;
    FILE *f;

    sock_path_make(&s);
    l = listen_at(s.address, NULL);
    cr_assert_eq(mproc_listener_new(&second, s.address, NULL), -EADDRINUSE);
    cr_assert_null(second);
    mproc_listener_free(l);

    /* Any file, not only a live socket; and the failed bind keeps it. */
    f = fopen(s.path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(mproc_listener_new(&second, s.address, NULL), -EADDRINUSE);
    cr_assert_eq(unlink(s.path), 0);
    sock_path_done(&s);
}

Test(listener, an_abstract_name_in_use_is_address_in_use)
{
    char address[64];
    mproc_listener *l, *second;

    abstract_address(address, sizeof(address));
    l = listen_at(address, NULL);
    cr_assert_eq(mproc_listener_new(&second, address, NULL), -EADDRINUSE);
    mproc_listener_free(l);
}

struct acceptor {
    mproc_listener *l;
    double timeout;
    int rc;
    mproc_conn *c;
    _Atomic pid_t tid;
    pthread_t thread;
};

static void *
accept_run(void *arg)
{
    struct acceptor *a = arg;

    a->tid = gettid();
    a->rc = mproc_listener_accept(a->l, &a->c, a->timeout);
    return NULL;
}

/* Wait until a thread sleeps in the kernel (its only sleep being the call
 * under test), by its state in /proc. */
static void
wait_until_sleeping(_Atomic pid_t *tid)
{
    char path[64], stat[512], *paren;
    FILE *f;

    for (;;) {
        size_t n = 0;

        if (*tid != 0) {
            snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)*tid);
            f = fopen(path, "r");
            cr_assert_not_null(f);
            n = fread(stat, 1, sizeof(stat) - 1, f);
            fclose(f);
        }
        stat[n] = '\0';
        paren = strrchr(stat, ')');
        if (paren != NULL && paren[1] == ' ' && paren[2] == 'S')
            return;
        sched_yield();
    }
}

Test(listener, close_wakes_an_accept_waiting_in_another_thread)
{
    static const char *const addresses[] = { "tcp://127.0.0.1:0", NULL };
    char abstract[64];

    abstract_address(abstract, sizeof(abstract));
    for (size_t i = 0; i < 2; i++) {
        struct acceptor a = { .timeout = MPROC_FOREVER };

        a.l = listen_at(addresses[i] != NULL ? addresses[i] : abstract, NULL);
        cr_assert_eq(pthread_create(&a.thread, NULL, accept_run, &a), 0);
        wait_until_sleeping(&a.tid);
        cr_assert_eq(mproc_listener_close(a.l), 0);
        pthread_join(a.thread, NULL);
        cr_assert_eq(a.rc, MPROC_ECLOSED, "%s", mproc_errname(a.rc));
        cr_assert_null(a.c);
        mproc_listener_free(a.l);
    }
}

Test(listener, an_accept_after_close_says_closed)
{
    struct acceptor a = { .timeout = MPROC_FOREVER };
    char address[64];

    abstract_address(address, sizeof(address));
    a.l = listen_at(address, NULL);
    cr_assert_eq(mproc_listener_close(a.l), 0);
    accept_run(&a);
    cr_assert_eq(a.rc, MPROC_ECLOSED);
    mproc_listener_free(a.l);
}

/* ---- timeouts and errors ------------------------------------------------- */

Test(listener, accept_times_out_when_nobody_comes)
{
    char address[64];
    mproc_listener *l;
    mproc_conn *c;
    double t0;

    abstract_address(address, sizeof(address));
    l = listen_at(address, NULL);
    t0 = th_now();
    cr_assert_eq(mproc_listener_accept(l, &c, 0.3), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    cr_assert_null(c);
    t0 = th_now();
    cr_assert_eq(mproc_listener_accept(l, &c, 0), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0, 0.5);
    mproc_listener_free(l);
}

Test(listener, signals_during_accept_do_not_cut_the_timeout_short)
{
    mproc_listener *l = listen_at("tcp://127.0.0.1:0", NULL);
    struct th_storm s;
    mproc_conn *c;
    double t0;

    th_storm_start(&s);
    t0 = th_now();
    cr_assert_eq(mproc_listener_accept(l, &c, 0.4), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.4, 2.0);
    th_storm_stop(&s);
    mproc_listener_free(l);
}

Test(listener, a_client_to_a_dead_address_is_refused)
{
    struct sock_path s;
    char address[64];
    mproc_listener *l;
    mproc_conn *c;
    int rc;

    sock_path_make(&s);
    cr_assert_eq(mproc_client(&c, s.address, NULL, 5), -ENOENT);
    cr_assert_null(c);
    sock_path_done(&s);

    abstract_address(address, sizeof(address));
    cr_assert_eq(mproc_client(&c, address, NULL, 5), -ECONNREFUSED);

    /* A port that was just free: nobody listens there now. */
    l = listen_at("tcp://127.0.0.1:0", NULL);
    snprintf(address, sizeof(address), "%s", mproc_listener_address(l));
    mproc_listener_free(l);
    cr_assert_eq(mproc_client(&c, address, NULL, 5), -ECONNREFUSED);

    rc = mproc_client(&c, "tcp://no-such-host.invalid:80", NULL, 5);
    cr_assert(rc == -ENOENT || rc == -EAGAIN, "%s", mproc_errname(rc));
}

Test(listener, a_client_times_out_when_the_listener_never_answers)
{
    mproc_listener *l = listen_at("tcp://127.0.0.1:0", NULL);
    mproc_conn *c;
    double t0;

    /* The kernel completes the connection; nobody accepts, so no
     * challenge ever comes. */
    t0 = th_now();
    cr_assert_eq(
        mproc_client(&c, mproc_listener_address(l), &client_keyed, 0.3),
        MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    cr_assert_null(c);
    mproc_listener_free(l);
}

/* ---- wrong keys, stalled and lying peers -----------------------------------
 */

struct client_args {
    char address[128];
    char key[32];
    int expect;
};

/* A child's client: exit 0 when mproc_client returned what was expected. */
static int
client_expecting(const void *arg, size_t len)
{
    struct client_args a;
    mproc_conn *c = NULL;
    int rc;

    if (len != sizeof(a))
        return 100;
    memcpy(&a, arg, sizeof(a));
    rc = mproc_client(
        &c, a.address,
        &(mproc_client_opts){ .authkey = a.key, .authkey_len = strlen(a.key) },
        10);
    mproc_conn_free(c);
    return rc == a.expect ? 0 : rc == 0 ? 1 : 2;
}

Test(listener, a_wrong_key_fails_on_both_sides)
{
    struct client_args args = { .expect = MPROC_EAUTH };
    mproc_process *p;
    mproc_listener *l;
    mproc_conn *c;

    l = listen_at("tcp://127.0.0.1:0", &keyed);
    snprintf(args.address, sizeof(args.address), "%s",
             mproc_listener_address(l));
    snprintf(args.key, sizeof(args.key), "not the secret");
    p = th_start(client_expecting, &args, sizeof(args),
                 &(mproc_process_opts){ .start_method = MPROC_START_FORK });
    cr_assert_eq(mproc_listener_accept(l, &c, 10), MPROC_EAUTH);
    cr_assert_null(c);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_process_exitcode(p), 0, "the client did not see EAUTH");
    mproc_process_free(p);

    /* The same key afterwards: the listener is still good. */
    snprintf(args.key, sizeof(args.key), "%s", KEY);
    args.expect = 0;
    p = th_start(client_expecting, &args, sizeof(args),
                 &(mproc_process_opts){ .start_method = MPROC_START_FORK });
    cr_assert_eq(mproc_listener_accept(l, &c, 10), 0);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_process_exitcode(p), 0);
    mproc_process_free(p);
    mproc_conn_free(c);
    mproc_listener_free(l);
}

Test(listener, a_client_rejects_a_listener_that_cannot_prove_the_key)
{
    char address[64];
    struct client_job j;
    mproc_listener *l;
    mproc_conn *server;

    /* A hand-driven listener: it checks the client's key, then answers
     * with another key, which the client must refuse. */
    abstract_address(address, sizeof(address));
    l = listen_at(address, NULL);
    client_start(&j, address, &client_keyed);
    cr_assert_eq(mproc_listener_accept(l, &server, 10), 0);
    cr_assert_eq(mproc_deliver_challenge(server, KEY, KEY_LEN, 10), 0);
    cr_assert_eq(mproc_answer_challenge(server, "wrong", 5, 10), MPROC_EAUTH);
    client_join(&j);
    cr_assert_eq(j.rc, MPROC_EAUTH, "%s", mproc_errname(j.rc));
    cr_assert_null(j.c);
    mproc_conn_free(server);
    mproc_listener_free(l);
}

Test(listener, a_silent_peer_is_dropped_after_the_handshake_timeout)
{
    mproc_listener_opts o = keyed;
    mproc_listener *l;
    mproc_conn *c, *peer;
    mproc_buf m = { 0 };
    double t0;

    o.handshake_timeout = 0.3;
    l = listen_at("tcp://127.0.0.1:0", &o);
    /* A client without a key connects and then says nothing. */
    cr_assert_eq(mproc_client(&peer, mproc_listener_address(l), NULL, 5), 0);
    t0 = th_now();
    cr_assert_eq(mproc_listener_accept(l, &c, 10), MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    cr_assert_null(c);
    /* It got the challenge, then the listener hung up. */
    cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), 0);
    cr_assert_eq(m.len, 11 + 8 + 40);
    cr_assert_arr_eq(m.data, "#CHALLENGE#{sha256}", 19);
    mproc_buf_free(&m);
    cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), MPROC_EEOF);
    mproc_conn_free(peer);
    mproc_listener_free(l);
}

Test(listener, a_huge_length_in_the_handshake_is_refused)
{
    /* A 2 GiB - 1 short header, and the long form's 2^62. */
    static const unsigned char headers[][12] = {
        { 0x7f, 0xff, 0xff, 0xff },
        { 0xff, 0xff, 0xff, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0 },
    };
    static const size_t sizes[] = { 4, 12 };

    for (size_t i = 0; i < 2; i++) {
        mproc_listener *l = listen_at("tcp://127.0.0.1:0", &keyed);
        mproc_conn *c, *peer;
        mproc_buf m = { 0 };

        cr_assert_eq(mproc_client(&peer, mproc_listener_address(l), NULL, 5),
                     0);
        cr_assert_eq(write(mproc_conn_fileno(peer), headers[i], sizes[i]),
                     (ssize_t)sizes[i]);
        cr_assert_eq(mproc_listener_accept(l, &c, 10), MPROC_EAUTH);
        cr_assert_null(c);
        cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), 0); /* challenge */
        mproc_buf_free(&m);
        cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), MPROC_EEOF);
        mproc_conn_free(peer);
        mproc_listener_free(l);
    }
}

Test(listener, a_client_refuses_a_huge_challenge)
{
    static const unsigned char header[] = { 0x7f, 0xff, 0xff, 0xff };
    char address[64];
    struct client_job j;
    mproc_listener *l;
    mproc_conn *server;

    abstract_address(address, sizeof(address));
    l = listen_at(address, NULL);
    client_start(&j, address, &client_keyed);
    cr_assert_eq(mproc_listener_accept(l, &server, 10), 0);
    cr_assert_eq(write(mproc_conn_fileno(server), header, sizeof(header)),
                 (ssize_t)sizeof(header));
    client_join(&j);
    cr_assert_eq(j.rc, MPROC_EAUTH, "%s", mproc_errname(j.rc));
    mproc_conn_free(server);
    mproc_listener_free(l);
}

/* ---- the handshake's wire forms -------------------------------------------
 */

/* A duplex pair: `us` is the handshake under test, `peer` the test's. */
static void
pair(mproc_conn **us, mproc_conn **peer)
{
    cr_assert_eq(mproc_pipe(us, peer, true), 0);
}

static void
send_raw(mproc_conn *c, const void *buf, size_t len)
{
    cr_assert_eq(mproc_conn_send_bytes(c, buf, 0, len), 0);
}

/* Queue a challenge (and the verdict after it) for the side under test. */
static void
send_challenge(mproc_conn *peer, const void *msg, size_t len)
{
    unsigned char buf[300];

    memcpy(buf, "#CHALLENGE#", 11);
    memcpy(buf + 11, msg, len);
    send_raw(peer, buf, 11 + len);
}

Test(listener, a_legacy_md5_challenge_gets_a_bare_md5_answer)
{
    unsigned char challenge[20], want[EVP_MAX_MD_SIZE];
    mproc_conn *us, *peer;
    mproc_buf m = { 0 };
    unsigned n;

    for (size_t i = 0; i < sizeof(challenge); i++)
        challenge[i] = (unsigned char)(i * 37 + 1);
    n = hmac(EVP_md5(), challenge, sizeof(challenge), want);
    cr_assert_eq(n, 16);

    pair(&us, &peer);
    send_challenge(peer, challenge, sizeof(challenge));
    send_raw(peer, "#WELCOME#", 9);
    cr_assert_eq(mproc_answer_challenge(us, KEY, KEY_LEN, 5), 0);
    cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), 0);
    cr_assert_eq(m.len, 16, "the answer is the raw 16-byte HMAC-MD5");
    cr_assert_arr_eq(m.data, want, 16);
    mproc_buf_free(&m);
    mproc_conn_free(us);
    mproc_conn_free(peer);
}

struct deliverer {
    mproc_conn *c;
    int rc;
    pthread_t thread;
};

static void *
deliver_run(void *arg)
{
    struct deliverer *d = arg;

    d->rc = mproc_deliver_challenge(d->c, KEY, KEY_LEN, 10);
    return NULL;
}

/* Run deliver_challenge on `us`, answer it with `answer` (given the
 * challenge message), and return what deliver returned; the verdict sent
 * goes to *verdict. */
static int
deliver_and_answer(size_t (*answer)(const unsigned char *msg, size_t len,
                                    unsigned char *out),
                   char *verdict)
{
    struct deliverer d;
    unsigned char response[128];
    mproc_conn *peer;
    mproc_buf m = { 0 };
    size_t n;

    pair(&d.c, &peer);
    cr_assert_eq(pthread_create(&d.thread, NULL, deliver_run, &d), 0);
    cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 10), 0);
    cr_assert_eq(m.len, 11 + 8 + 40);
    cr_assert_arr_eq(m.data, "#CHALLENGE#{sha256}", 19);
    n = answer((unsigned char *)m.data + 11, m.len - 11, response);
    mproc_buf_free(&m);
    send_raw(peer, response, n);
    cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 10), 0);
    cr_assert_eq(m.len, 9);
    memcpy(verdict, m.data, 9);
    verdict[9] = '\0';
    mproc_buf_free(&m);
    pthread_join(d.thread, NULL);
    mproc_conn_free(d.c);
    mproc_conn_free(peer);
    return d.rc;
}

static size_t
answer_md5_bare(const unsigned char *msg, size_t len, unsigned char *out)
{
    return hmac(EVP_md5(), msg, len, out);
}

static size_t
answer_sha256(const unsigned char *msg, size_t len, unsigned char *out)
{
    memcpy(out, "{sha256}", 8);
    return 8 + hmac(EVP_sha256(), msg, len, out + 8);
}

static size_t
answer_sha3_384(const unsigned char *msg, size_t len, unsigned char *out)
{
    memcpy(out, "{sha3_384}", 10);
    return 10 + hmac(EVP_sha3_384(), msg, len, out + 10);
}

static size_t
answer_wrong_mac(const unsigned char *msg, size_t len, unsigned char *out)
{
    size_t n = answer_sha256(msg, len, out);

    out[n - 1] ^= 1;
    return n;
}

static size_t
answer_short_mac(const unsigned char *msg, size_t len, unsigned char *out)
{
    return answer_sha256(msg, len, out) - 1;
}

static size_t
answer_unknown_digest(const unsigned char *msg, size_t len, unsigned char *out)
{
    memcpy(out, "{sha1}", 6);
    return 6 + hmac(EVP_sha1(), msg, len, out + 6);
}

static size_t
answer_nothing(const unsigned char *msg, size_t len, unsigned char *out)
{
    (void)msg;
    (void)len;
    (void)out;
    return 0;
}

Test(listener, delivered_challenges_accept_every_allowed_answer)
{
    char verdict[10];

    /* 3.11 and older: a bare HMAC-MD5 over the whole message. */
    cr_assert_eq(deliver_and_answer(answer_md5_bare, verdict), 0);
    cr_assert_str_eq(verdict, "#WELCOME#");
    cr_assert_eq(deliver_and_answer(answer_sha256, verdict), 0);
    cr_assert_str_eq(verdict, "#WELCOME#");
    /* A peer may pick another allowed digest. */
    cr_assert_eq(deliver_and_answer(answer_sha3_384, verdict), 0);
    cr_assert_str_eq(verdict, "#WELCOME#");
}

Test(listener, delivered_challenges_refuse_bad_answers)
{
    size_t (*const bad[])(const unsigned char *, size_t, unsigned char *) = {
        answer_wrong_mac,
        answer_short_mac,
        answer_unknown_digest,
        answer_nothing,
    };
    char verdict[10];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(deliver_and_answer(bad[i], verdict), MPROC_EAUTH,
                     "answer %zu", i);
        cr_assert_str_eq(verdict, "#FAILURE#");
    }
}

Test(listener, prefixed_challenges_are_answered_with_their_digest)
{
    static const struct {
        const char *prefix;
        const EVP_MD *(*md)(void);
    } forms[] = {
        { "{sha256}", EVP_sha256 },     { "{sha384}", EVP_sha384 },
        { "{sha3_256}", EVP_sha3_256 }, { "{sha3_384}", EVP_sha3_384 },
        { "{md5}", EVP_md5 },
    };

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        unsigned char msg[64], want[EVP_MAX_MD_SIZE + 16];
        size_t plen = strlen(forms[i].prefix), len = plen + 40;
        mproc_conn *us, *peer;
        mproc_buf m = { 0 };
        unsigned n;

        memcpy(msg, forms[i].prefix, plen);
        for (size_t k = plen; k < len; k++)
            msg[k] = (unsigned char)(k * 13);
        memcpy(want, forms[i].prefix, plen);
        n = hmac(forms[i].md(), msg, len, want + plen);

        pair(&us, &peer);
        send_challenge(peer, msg, len);
        send_raw(peer, "#WELCOME#", 9);
        cr_assert_eq(mproc_answer_challenge(us, KEY, KEY_LEN, 5), 0);
        cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), 0);
        cr_assert_eq(m.len, plen + n, "%s", forms[i].prefix);
        cr_assert_arr_eq(m.data, want, plen + n, "%s", forms[i].prefix);
        mproc_buf_free(&m);
        mproc_conn_free(us);
        mproc_conn_free(peer);
    }
}

Test(listener, malformed_challenges_are_refused_without_an_answer)
{
    static const char *const bad[] = {
        "#CHALLENGE#0123456789012345678",                /* 19 bytes */
        "#CHALLENGE#{sha1}0123456789012345678901234567", /* not allowed */
        "#CHALLENGE#{sha256 0123456789012345678901234",  /* no brace */
        "#CHALLENGE#{}01234567890123456789012345678901", /* empty name */
        "#CHALLENGE#sha256}0123456789012345678901234",   /* no opening */
        "#WELCOME#0123456789012345678901234567890123",   /* not a challenge */
        "",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mproc_conn *us, *peer;

        pair(&us, &peer);
        send_raw(peer, bad[i], strlen(bad[i]));
        cr_assert_eq(mproc_answer_challenge(us, KEY, KEY_LEN, 5), MPROC_EAUTH,
                     "challenge %zu", i);
        /* Nothing was sent back. */
        cr_assert_eq(mproc_conn_poll(peer, 0), MPROC_ETIMEDOUT);
        mproc_conn_free(us);
        mproc_conn_free(peer);
    }
}

Test(listener, an_answer_that_is_not_welcomed_fails)
{
    static const char *const verdicts[] = { "#FAILURE#", "#WELCOME", "" };

    for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
        mproc_conn *us, *peer;

        pair(&us, &peer);
        send_challenge(peer, "{sha256}0123456789012345678901234567890123456789",
                       48);
        send_raw(peer, verdicts[i], strlen(verdicts[i]));
        cr_assert_eq(mproc_answer_challenge(us, KEY, KEY_LEN, 5), MPROC_EAUTH);
        mproc_conn_free(us);
        mproc_conn_free(peer);
    }
}

Test(listener, the_handshake_times_out_and_sees_the_peer_go)
{
    mproc_conn *us, *peer;
    mproc_buf m = { 0 };
    double t0;

    pair(&us, &peer);
    t0 = th_now();
    cr_assert_eq(mproc_answer_challenge(us, KEY, KEY_LEN, 0.3),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    t0 = th_now();
    cr_assert_eq(mproc_deliver_challenge(us, KEY, KEY_LEN, 0.3),
                 MPROC_ETIMEDOUT);
    th_assert_elapsed(t0, 0.3, 2.0);
    /* Read what was sent (unread data would make the close a reset). */
    cr_assert_eq(mproc_conn_recv_bytes(peer, &m, 0, 5), 0);
    mproc_buf_free(&m);
    mproc_conn_free(peer);
    cr_assert_eq(mproc_answer_challenge(us, KEY, KEY_LEN, 5), MPROC_EEOF);
    mproc_conn_free(us);
}

Test(listener, challenges_are_fresh_random_bytes)
{
    mproc_conn *us, *peer;
    mproc_buf first = { 0 }, second = { 0 };

    pair(&us, &peer);
    cr_assert_eq(mproc_deliver_challenge(us, KEY, KEY_LEN, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_deliver_challenge(us, KEY, KEY_LEN, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_conn_recv_bytes(peer, &first, 0, 5), 0);
    cr_assert_eq(mproc_conn_recv_bytes(peer, &second, 0, 5), 0);
    cr_assert_eq(first.len, 59);
    cr_assert_eq(second.len, 59);
    cr_assert_neq(memcmp(first.data, second.data, 59), 0);
    mproc_buf_free(&first);
    mproc_buf_free(&second);
    mproc_conn_free(us);
    mproc_conn_free(peer);
}
