/*
 * tests/interop/conn.c - mproc connections against real Python peers
 * (tests/interop/peer.py): multiprocessing.connection's Listener and Client
 * over a Unix path, an abstract name and TCP, with the right key, a wrong
 * one and none; and a Python Connection on an inherited end of an
 * mproc_pipe, reading and writing the same framing. Every case runs under
 * each Python at hand: the python3 of PATH, and 3.12 and 3.13 from pyenv
 * (or PATH), skipped when missing. Pythons up to 3.11 authenticate with
 * HMAC-MD5, 3.12 and later with "{sha256}": both forms cross here.
 *
 * Peers are started with fork + exec and reaped by every test; a peer
 * whose test dies is killed with it (PR_SET_PDEATHSIG), and peer.py ends
 * itself after two minutes, so a failure never leaves one behind.
 */
#include "helpers/th.h"
#include "interop/python.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* The messages of every exchange, as peer.py's SIZES. */
static const size_t sizes[] = { 0, 1, 64 << 10, 64 << 20 };
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))
#define LARGEST (64 << 20)

static const char key[] = "mproc-interop-key";
static const char wrong_key[] = "not-the-key";

static void interop_end(void);

TestSuite(interop_conn, .init = th_begin, .fini = interop_end, .timeout = 60);

/* ---- addresses and keys ------------------------------------------------- */

/* The directory of this test's Unix socket path, removed after the test
 * whatever its outcome (each test runs in its own process). */
static char socket_dir[64];

static void
interop_end(void)
{
    char path[sizeof(socket_dir) + 16];

    if (socket_dir[0] != '\0') {
        snprintf(path, sizeof(path), "%s/socket", socket_dir);
        unlink(path); /* a listener that was closed removed it already */
        rmdir(socket_dir);
    }
    th_end();
}

/* A fresh address of `kind`: "unix" (a path in a new directory),
 * "abstract" or "tcp" (port 0). */
static void
fresh_address(const char *kind, char *address, size_t size)
{
    if (strcmp(kind, "unix") == 0) {
        snprintf(socket_dir, sizeof(socket_dir), "/tmp/mproc-interop-XXXXXX");
        cr_assert_not_null(mkdtemp(socket_dir));
        snprintf(address, size, "unix:%s/socket", socket_dir);
    } else if (strcmp(kind, "abstract") == 0) {
        snprintf(address, size, "unix:@mproc-interop-%d", (int)getpid());
    } else {
        snprintf(address, size, "tcp://127.0.0.1:0");
    }
}

/* The key as peer.py takes it: hex, or "-" for none. */
static void
hex_of(const char *k, char *hex, size_t size)
{
    size_t n = 0;

    if (k == NULL) {
        snprintf(hex, size, "-");
        return;
    }
    for (const char *c = k; *c != '\0' && n + 3 <= size; c++, n += 2)
        snprintf(hex + n, size - n, "%02x", (unsigned char)*c);
}

/* Both NULL, or equal. */
static bool
same_key(const char *k1, const char *k2)
{
    return k1 == NULL || k2 == NULL ? k1 == k2 : strcmp(k1, k2) == 0;
}

static mproc_client_opts
client_opts(const char *k)
{
    return (mproc_client_opts){ .authkey = k,
                                .authkey_len = k ? strlen(k) : 0 };
}

static mproc_listener_opts
listener_opts(const char *k)
{
    return (mproc_listener_opts){ .authkey = k,
                                  .authkey_len = k ? strlen(k) : 0 };
}

/* ---- exchanges ---------------------------------------------------------- */

/* peer.py's content: byte i of every message is i % 251. */
static char *
pattern(void)
{
    char *buf = malloc(LARGEST);

    cr_assert_not_null(buf);
    for (size_t i = 0; i < LARGEST; i++)
        buf[i] = (char)(i % 251);
    return buf;
}

/* Send every message of `sizes` and check that each comes back whole. */
static void
exchange(mproc_conn *c)
{
    char *want = pattern();

    for (size_t i = 0; i < N_SIZES; i++) {
        mproc_buf got = { 0 };
        int rc;

        rc = mproc_conn_send_bytes(c, want, 0, sizes[i]);
        cr_assert_eq(rc, 0, "send %zu bytes: %s", sizes[i], mproc_errname(rc));
        rc = mproc_conn_recv_bytes(c, &got, 0, STEP_TIMEOUT);
        cr_assert_eq(rc, 0, "receive %zu bytes: %s", sizes[i],
                     mproc_errname(rc));
        cr_assert_eq(got.len, sizes[i]);
        cr_assert(sizes[i] == 0 || memcmp(got.data, want, sizes[i]) == 0,
                  "the echo of %zu bytes differs", sizes[i]);
        mproc_buf_free(&got);
    }
    free(want);
}

/* Send every message back until the peer closes its end. */
static void
echo(mproc_conn *c)
{
    for (;;) {
        mproc_buf m = { 0 };
        int rc = mproc_conn_recv_bytes(c, &m, 0, STEP_TIMEOUT);

        if (rc == MPROC_EEOF)
            return;
        cr_assert_eq(rc, 0, "receive: %s", mproc_errname(rc));
        rc = mproc_conn_send_bytes(c, m.data, 0, m.len);
        cr_assert_eq(rc, 0, "send %zu bytes: %s", m.len, mproc_errname(rc));
        mproc_buf_free(&m);
    }
}

/* ---- the cases, each run with one Python -------------------------------- */

/* A Python Listener with `python_key`, an mproc client with `c_key`: with
 * the same key every message comes back; with another both sides fail
 * authentication (C: MPROC_EAUTH; the peer: exit 3). */
static void
python_listener_c_client(const char *version, const char *kind,
                         const char *python_key, const char *c_key)
{
    char python[PATH_MAX], address[256], listening[256], hex[64], out[256];
    bool same = same_key(python_key, c_key);
    mproc_client_opts opts = client_opts(c_key);
    mproc_conn *c = NULL;
    struct peer peer;
    int rc;

    python_or_skip(version, python, sizeof(python));
    fresh_address(kind, address, sizeof(address));
    hex_of(python_key, hex, sizeof(hex));
    peer = peer_start(python, (const char *[]){ "listen", address, hex, NULL },
                      -1);
    peer_line(&peer, listening, sizeof(listening));
    if (strcmp(kind, "tcp") != 0)
        cr_assert_str_eq(listening, address);

    rc = mproc_client(&c, listening, &opts, STEP_TIMEOUT);
    if (same) {
        cr_assert_eq(rc, 0, "client to %s: %s", listening, mproc_errname(rc));
        exchange(c);
        mproc_conn_free(c);
        cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    } else {
        cr_assert_eq(rc, MPROC_EAUTH, "client: %s", mproc_errname(rc));
        cr_assert_null(c);
        cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 3, "peer: %s", out);
        cr_assert_str_eq(out, "auth-failed");
    }
}

/* An mproc Listener with `c_key`, a Python Client with `python_key`, as
 * above with the roles turned round: the Python client checks the echoes. */
static void
c_listener_python_client(const char *version, const char *kind,
                         const char *c_key, const char *python_key)
{
    char python[PATH_MAX], address[256], hex[64], out[256];
    bool same = same_key(python_key, c_key);
    mproc_listener_opts opts = listener_opts(c_key);
    mproc_listener *l = NULL;
    mproc_conn *c = NULL;
    struct peer peer;
    int rc;

    python_or_skip(version, python, sizeof(python));
    fresh_address(kind, address, sizeof(address));
    hex_of(python_key, hex, sizeof(hex));
    rc = mproc_listener_new(&l, address, &opts);
    cr_assert_eq(rc, 0, "listen on %s: %s", address, mproc_errname(rc));
    peer = peer_start(
        python,
        (const char *[]){ "client", mproc_listener_address(l), hex, NULL }, -1);

    rc = mproc_listener_accept(l, &c, STEP_TIMEOUT);
    if (same) {
        cr_assert_eq(rc, 0, "accept: %s", mproc_errname(rc));
        echo(c);
        mproc_conn_free(c);
        cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    } else {
        cr_assert_eq(rc, MPROC_EAUTH, "accept: %s", mproc_errname(rc));
        cr_assert_null(c);
        cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 3, "peer: %s", out);
        cr_assert_str_eq(out, "auth-failed");
    }
    mproc_listener_free(l);
    if (strcmp(kind, "unix") == 0)
        cr_assert_neq(access(address + strlen("unix:"), F_OK), 0,
                      "the listener left its socket file");
}

/* A Python Connection(fd) on the second end of mproc_pipe(duplex): its
 * first messages (b"" and b"xyz") arrive as exactly the bytes conn.h
 * documents, and then everything mproc sends comes back. */
static void
python_connection_on_mproc_pipe(const char *version)
{
    static const unsigned char framed[] = { 0, 0, 0,   0,   0,  0,
                                            0, 3, 'x', 'y', 'z' };
    unsigned char got[sizeof(framed)];
    char python[PATH_MAX], out[256];
    mproc_conn *a, *b;
    struct peer peer;
    size_t n = 0;

    python_or_skip(version, python, sizeof(python));
    cr_assert_eq(mproc_pipe(&a, &b, true), 0);
    peer = peer_start(python, (const char *[]){ "pipe", "3", NULL },
                      mproc_conn_fileno(b));
    mproc_conn_free(b);

    /* Read the raw bytes: nothing more comes until mproc sends. */
    while (n < sizeof(got)) {
        struct pollfd pfd = { .fd = mproc_conn_fileno(a), .events = POLLIN };
        ssize_t r;

        cr_assert_eq(poll(&pfd, 1, (int)(STEP_TIMEOUT * 1000)), 1,
                     "only %zu bytes came", n);
        r = read(mproc_conn_fileno(a), got + n, sizeof(got) - n);
        cr_assert_gt(r, 0, "the peer closed after %zu bytes", n);
        n += (size_t)r;
    }
    cr_assert_arr_eq(got, framed, sizeof(framed));

    exchange(a);
    mproc_conn_free(a);
    cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
}

/* ---- the tests, once per Python ----------------------------------------- */

#define INTEROP_TESTS(py, version)                                             \
    Test(interop_conn, py##_listener_echoes_c_client_over_a_unix_path)         \
    {                                                                          \
        python_listener_c_client(version, "unix", key, key);                   \
    }                                                                          \
    Test(interop_conn, py##_listener_echoes_c_client_over_an_abstract_name)    \
    {                                                                          \
        python_listener_c_client(version, "abstract", key, key);               \
    }                                                                          \
    Test(interop_conn, py##_listener_echoes_c_client_over_tcp)                 \
    {                                                                          \
        python_listener_c_client(version, "tcp", key, key);                    \
    }                                                                          \
    Test(interop_conn, py##_listener_without_authkey_echoes_c_client)          \
    {                                                                          \
        python_listener_c_client(version, "unix", NULL, NULL);                 \
    }                                                                          \
    Test(interop_conn, py##_listener_and_c_client_with_another_key_both_fail)  \
    {                                                                          \
        python_listener_c_client(version, "unix", key, wrong_key);             \
    }                                                                          \
    Test(interop_conn, py##_client_is_echoed_by_c_listener_over_a_unix_path)   \
    {                                                                          \
        c_listener_python_client(version, "unix", key, key);                   \
    }                                                                          \
    Test(interop_conn, py##_client_is_echoed_by_c_listener_over_tcp)           \
    {                                                                          \
        c_listener_python_client(version, "tcp", key, key);                    \
    }                                                                          \
    Test(interop_conn, py##_client_and_c_listener_with_another_key_both_fail)  \
    {                                                                          \
        c_listener_python_client(version, "unix", key, wrong_key);             \
    }                                                                          \
    Test(interop_conn, py##_connection_on_an_mproc_pipe_end_shares_framing)    \
    {                                                                          \
        python_connection_on_mproc_pipe(version);                              \
    }

INTEROP_TESTS(python3, "3")
INTEROP_TESTS(python3_12, "3.12")
INTEROP_TESTS(python3_13, "3.13")
