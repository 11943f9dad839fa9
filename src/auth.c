/*
 * auth.c - the authkey handshake: Python's multiprocessing.connection
 * deliver_challenge and answer_challenge, byte-compatible with CPython
 * 3.12+ ("{sha256}" challenges) and with 3.11 and older (bare HMAC-MD5);
 * and the random bytes behind challenges and process authkeys.
 *
 * A handshake message (a challenge without its "#CHALLENGE#", or a
 * response) names its digest in a "{name}" prefix, except in the legacy
 * form, which is told by its length alone: 20 bytes for a challenge, 16
 * for an MD5 response; no prefixed message is that short. The MAC covers
 * the whole challenge, prefix included, so a prefixed challenge cannot be
 * answered with a weaker digest. Every message is peer data: read with a
 * 256-byte limit, parsed by length, and MACs compared in constant time.
 * Challenges come from the OS random source (getrandom, src/sys/); HMACs
 * and the constant-time compare from libcrypto.
 */
#include "auth.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>

#include "mproc/listener.h"

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
/* What this side's challenges use, and how many random bytes follow it
 * (CPython's MESSAGE_LENGTH). */
#define CHALLENGE_PREFIX "{sha256}"
#define MESSAGE_LENGTH 40
/* The legacy forms: an MD5-era challenge, an HMAC-MD5 response. */
#define LEGACY_CHALLENGE_LEN 20
#define MD5_LEN 16
/* The '}' of a prefix lies within the first bytes: "{sha3_256}". */
#define MAX_PREFIX_LEN 10
/* No handshake message longer than this is read. */
#define MAX_MESSAGE 256

struct digest {
    const char *name;
    const char *symbol; /* libcrypto's EVP_MD getter */
};

/* CPython's _ALLOWED_DIGESTS. */
static const struct digest digests[] = {
    { "md5", "EVP_md5" },           { "sha256", "EVP_sha256" },
    { "sha384", "EVP_sha384" },     { "sha3_256", "EVP_sha3_256" },
    { "sha3_384", "EVP_sha3_384" },
};
#define N_DIGESTS (sizeof(digests) / sizeof(digests[0]))

/*
 * libcrypto, loaded at the first handshake rather than linked: its load
 * costs every program about a millisecond at start-up (measured on the CI
 * machine), and every spawn child pays it again, for code only handshakes
 * use. Loaded once, never unloaded; a program that cannot load it gets
 * -ELIBACC from handshakes and nothing else changes.
 */
#define SONAME_STR(x) #x
#define SONAME_XSTR(x) SONAME_STR(x)
#define LIBCRYPTO_SONAME "libcrypto.so." SONAME_XSTR(OPENSSL_VERSION_MAJOR)

static struct {
    __typeof__(HMAC) *hmac;
    __typeof__(CRYPTO_memcmp) *memcmp;
    __typeof__(EVP_md5) *md[N_DIGESTS]; /* in the order of digests[] */
} crypto;
static int crypto_status = -ELIBACC;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void *
symbol(void *lib, const char *name, bool *ok)
{
    void *at = dlsym(lib, name);

    *ok = *ok && at != NULL;
    return at;
}

static void
crypto_load(void)
{
    void *lib = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
    bool ok = lib != NULL;

    if (!ok)
        return;
    crypto.hmac = (__typeof__(HMAC) *)symbol(lib, "HMAC", &ok);
    crypto.memcmp =
        (__typeof__(CRYPTO_memcmp) *)symbol(lib, "CRYPTO_memcmp", &ok);
    for (size_t i = 0; i < N_DIGESTS; i++)
        crypto.md[i] =
            (__typeof__(EVP_md5) *)symbol(lib, digests[i].symbol, &ok);
    crypto_status = ok ? 0 : -ELIBACC;
}

/* 0 once libcrypto is usable, else -ELIBACC. */
static int
crypto_ready(void)
{
    pthread_once(&crypto_once, crypto_load);
    return crypto_status;
}

static const EVP_MD *
digest_md(const struct digest *d)
{
    return crypto.md[d - digests]();
}

/* A message split into its digest and what follows the prefix. */
struct parsed {
    const struct digest *digest; /* NULL: the legacy form, no prefix */
    const unsigned char *payload;
    size_t payload_len;
};

static const struct digest *
find_digest(const unsigned char *name, size_t len)
{
    for (size_t i = 0; i < N_DIGESTS; i++) {
        if (strlen(digests[i].name) == len &&
            memcmp(digests[i].name, name, len) == 0)
            return &digests[i];
    }
    return NULL;
}

/* Tell a message's form: legacy by its length, else by a "{name}" prefix
 * whose name is allowed. MPROC_EAUTH for anything else. */
static int
parse(const unsigned char *msg, size_t len, struct parsed *out)
{
    const unsigned char *brace;
    const struct digest *d;
    size_t name_len;

    if (len == LEGACY_CHALLENGE_LEN || len == MD5_LEN) {
        *out = (struct parsed){ NULL, msg, len };
        return 0;
    }
    if (len < 2 || msg[0] != '{')
        return MPROC_EAUTH;
    brace =
        memchr(msg + 1, '}', (len < MAX_PREFIX_LEN ? len : MAX_PREFIX_LEN) - 1);
    if (brace == NULL)
        return MPROC_EAUTH;
    name_len = (size_t)(brace - msg) - 1;
    d = find_digest(msg + 1, name_len);
    if (d == NULL)
        return MPROC_EAUTH;
    *out = (struct parsed){ d, brace + 1, len - name_len - 2 };
    return 0;
}

/* HMAC of msg under the key into mac (room for EVP_MAX_MD_SIZE): its
 * length, or 0 when the digest is not available (MD5 in FIPS mode). */
static unsigned
hmac_of(const EVP_MD *md, const void *key, size_t key_len,
        const unsigned char *msg, size_t len, unsigned char *mac)
{
    unsigned mac_len = 0;

    if (crypto.hmac(md, key, (int)key_len, msg, len, mac, &mac_len) == NULL)
        return 0;
    return mac_len;
}

/* The answer to a challenge message: a bare HMAC-MD5 for the legacy form,
 * else "{name}" + the HMAC with the challenge's digest. */
static int
create_response(const void *key, size_t key_len, const unsigned char *msg,
                size_t len, unsigned char *out, size_t *out_len)
{
    const struct digest *d;
    struct parsed p;
    size_t name_len;
    unsigned mac_len;
    int rc;

    rc = parse(msg, len, &p);
    if (rc < 0)
        return rc;
    d = p.digest;
    if (d == NULL) {
        mac_len = hmac_of(digest_md(&digests[0]), key, key_len, msg, len, out);
        if (mac_len > 0) {
            *out_len = mac_len;
            return 0;
        }
        /* No MD5 here: answer in the modern form, as CPython does. */
        d = find_digest((const unsigned char *)"sha256", 6);
    }
    name_len = strlen(d->name);
    out[0] = '{';
    memcpy(out + 1, d->name, name_len);
    out[name_len + 1] = '}';
    mac_len = hmac_of(digest_md(d), key, key_len, msg, len, out + name_len + 2);
    if (mac_len == 0)
        return MPROC_EAUTH;
    *out_len = name_len + 2 + mac_len;
    return 0;
}

/* Whether a response proves the key: its digest (MD5 when bare) over our
 * challenge message, compared in constant time. 0 or MPROC_EAUTH. */
static int
verify(const void *key, size_t key_len, const unsigned char *msg, size_t len,
       const unsigned char *response, size_t response_len)
{
    unsigned char expected[EVP_MAX_MD_SIZE];
    struct parsed p;
    unsigned n;

    if (parse(response, response_len, &p) < 0)
        return MPROC_EAUTH;
    n = hmac_of(digest_md(p.digest != NULL ? p.digest : &digests[0]), key,
                key_len, msg, len, expected);
    if (n == 0 || n != p.payload_len ||
        crypto.memcmp(expected, p.payload, n) != 0)
        return MPROC_EAUTH;
    return 0;
}

/* Receive one handshake message. One over the limit (the connection layer
 * then closes the connection) is a failed handshake. */
static int
recv_message(mproc_conn *c, mproc_buf *out, const struct mproc__deadline *dl)
{
    int rc = mproc_conn_recv_bytes(c, out, MAX_MESSAGE,
                                   mproc__deadline_seconds_left(dl));

    return rc == MPROC_ETOOBIG ? MPROC_EAUTH : rc;
}

int
mproc__deliver_challenge(mproc_conn *c, const void *key, size_t len,
                         const struct mproc__deadline *dl)
{
    /* "#CHALLENGE#" then the message: "{sha256}" and the random bytes. */
    static const char head[] = CHALLENGE CHALLENGE_PREFIX;
    unsigned char challenge[sizeof(head) - 1 + MESSAGE_LENGTH];
    const unsigned char *msg = challenge + strlen(CHALLENGE);
    size_t msg_len = sizeof(challenge) - strlen(CHALLENGE);
    mproc_buf response = { NULL, 0 };
    int rc;

    rc = crypto_ready();
    if (rc < 0)
        return rc;
    memcpy(challenge, head, sizeof(head) - 1);
    rc = mproc__random_bytes(challenge + sizeof(head) - 1, MESSAGE_LENGTH);
    if (rc < 0)
        return rc;
    rc = mproc_conn_send_bytes(c, challenge, 0, sizeof(challenge));
    if (rc < 0)
        return rc;
    rc = recv_message(c, &response, dl);
    if (rc < 0)
        return rc;
    rc = verify(key, len, msg, msg_len, response.data, response.len);
    mproc_buf_free(&response);
    if (rc < 0) {
        (void)mproc_conn_send_bytes(c, FAILURE, 0, strlen(FAILURE));
        return rc;
    }
    return mproc_conn_send_bytes(c, WELCOME, 0, strlen(WELCOME));
}

int
mproc__answer_challenge(mproc_conn *c, const void *key, size_t len,
                        const struct mproc__deadline *dl)
{
    unsigned char response[MAX_PREFIX_LEN + EVP_MAX_MD_SIZE];
    const size_t skip = strlen(CHALLENGE);
    mproc_buf msg = { NULL, 0 };
    size_t response_len = 0;
    int rc;

    rc = crypto_ready();
    if (rc < 0)
        return rc;
    rc = recv_message(c, &msg, dl);
    if (rc < 0)
        return rc;
    if (msg.len < skip + LEGACY_CHALLENGE_LEN ||
        memcmp(msg.data, CHALLENGE, skip) != 0)
        rc = MPROC_EAUTH;
    else
        rc = create_response(key, len, (const unsigned char *)msg.data + skip,
                             msg.len - skip, response, &response_len);
    mproc_buf_free(&msg);
    if (rc < 0)
        return rc;
    rc = mproc_conn_send_bytes(c, response, 0, response_len);
    if (rc < 0)
        return rc;
    rc = recv_message(c, &msg, dl);
    if (rc < 0)
        return rc;
    if (msg.len != strlen(WELCOME) || memcmp(msg.data, WELCOME, msg.len) != 0)
        rc = MPROC_EAUTH;
    mproc_buf_free(&msg);
    return rc;
}

static int
check_args(const mproc_conn *c, const void *key, size_t len, double timeout,
           struct mproc__deadline *dl)
{
    if (c == NULL || key == NULL || len > INT_MAX)
        return MPROC_EINVAL;
    return mproc__deadline_init(dl, timeout);
}

int
mproc_deliver_challenge(mproc_conn *c, const void *key, size_t len,
                        double timeout)
{
    struct mproc__deadline dl;
    int rc = check_args(c, key, len, timeout, &dl);

    return rc < 0 ? rc : mproc__deliver_challenge(c, key, len, &dl);
}

int
mproc_answer_challenge(mproc_conn *c, const void *key, size_t len,
                       double timeout)
{
    struct mproc__deadline dl;
    int rc = check_args(c, key, len, timeout, &dl);

    return rc < 0 ? rc : mproc__answer_challenge(c, key, len, &dl);
}
