/*
 * startmethod/bootstrap.c - the child spec on the wire, and the library
 * constructor that catches a spawn child or the forkserver before the
 * program's main runs.
 *
 * Wire form of a spec (native byte order: both ends are the same program
 * on the same machine), preceded on the socket by its length as a u64:
 *
 *   u32 magic 'MPS1' | u8 daemon | i32 log_level | i32 parent_pid
 *   str name | str identity | str parent_name | str object
 *   u64 offset | str build_id | str arg | str authkey
 *                                             (str = u64 length + bytes)
 *
 * Decoding checks every length against what is left before copying, as for
 * any peer data: a short or inconsistent message is MPROC_EPROTOCOL.
 */
#include "startmethod/startmethod.h"

#include <stdlib.h>
#include <string.h>

#include "sys/sys.h"

#define SPEC_MAGIC 0x3153504dU /* "MPS1" */

struct writer {
    char *data;
    size_t len, cap;
    bool failed;
};

static void
put(struct writer *w, const void *src, size_t len)
{
    if (w->failed || len == 0)
        return;
    if (w->len + len > w->cap) {
        size_t cap = w->cap > 0 ? w->cap : 256;
        char *grown;

        while (cap < w->len + len)
            cap *= 2;
        grown = realloc(w->data, cap);
        if (grown == NULL) {
            w->failed = true;
            return;
        }
        w->data = grown;
        w->cap = cap;
    }
    memcpy(w->data + w->len, src, len);
    w->len += len;
}

static void
put_str(struct writer *w, const void *src, size_t len)
{
    uint64_t n = len;

    put(w, &n, sizeof(n));
    put(w, src, len);
}

int
mproc__spec_encode(const struct mproc__child_spec *spec, mproc_buf *out)
{
    struct writer w = { 0 };
    uint64_t reserved = 0; /* the length prefix, filled in below */
    uint32_t magic = SPEC_MAGIC;
    uint8_t daemon = spec->daemon;
    int32_t level = spec->log_level;
    int32_t ppid = spec->parent_pid;
    const char *object = spec->loc.object != NULL ? spec->loc.object : "";

    put(&w, &reserved, sizeof(reserved));
    put(&w, &magic, sizeof(magic));
    put(&w, &daemon, sizeof(daemon));
    put(&w, &level, sizeof(level));
    put(&w, &ppid, sizeof(ppid));
    put_str(&w, spec->name, strlen(spec->name));
    put_str(&w, spec->identity, strlen(spec->identity));
    put_str(&w, spec->parent_name, strlen(spec->parent_name));
    put_str(&w, object, strlen(object));
    put(&w, &spec->loc.offset, sizeof(spec->loc.offset));
    put_str(&w, spec->loc.build_id, spec->loc.build_id_len);
    put_str(&w, spec->arg, spec->arg_len);
    put_str(&w, spec->authkey, spec->authkey_len);
    if (w.failed) {
        free(w.data);
        return MPROC_ENOMEM;
    }
    reserved = w.len - sizeof(reserved);
    memcpy(w.data, &reserved, sizeof(reserved));
    out->data = w.data;
    out->len = w.len;
    return 0;
}

struct reader {
    const char *at;
    size_t left;
};

static bool
get(struct reader *r, void *dst, size_t len)
{
    if (len > r->left)
        return false;
    memcpy(dst, r->at, len);
    r->at += len;
    r->left -= len;
    return true;
}

/* A length-prefixed field as a fresh NUL-terminated copy. */
static bool
get_str(struct reader *r, char **dst, size_t *len_out)
{
    uint64_t n;

    if (!get(r, &n, sizeof(n)) || n > r->left)
        return false;
    *dst = malloc(n + 1);
    if (*dst == NULL)
        return false;
    memcpy(*dst, r->at, n);
    (*dst)[n] = '\0';
    r->at += n;
    r->left -= n;
    if (len_out != NULL)
        *len_out = n;
    return true;
}

int
mproc__spec_decode(const void *data, size_t len, struct mproc__child_spec *out)
{
    struct reader r = { data, len };
    uint32_t magic = 0;
    uint8_t daemon = 0;
    int32_t level = 0;
    int32_t ppid = 0;
    char *build_id = NULL;
    size_t build_id_len = 0;
    bool ok;

    memset(out, 0, sizeof(*out));
    ok = get(&r, &magic, sizeof(magic)) && magic == SPEC_MAGIC &&
         get(&r, &daemon, sizeof(daemon)) && get(&r, &level, sizeof(level)) &&
         get(&r, &ppid, sizeof(ppid)) && get_str(&r, &out->name, NULL) &&
         get_str(&r, &out->identity, NULL) &&
         get_str(&r, &out->parent_name, NULL) &&
         get_str(&r, &out->loc.object, NULL) &&
         get(&r, &out->loc.offset, sizeof(out->loc.offset)) &&
         get_str(&r, &build_id, &build_id_len) &&
         build_id_len <= sizeof(out->loc.build_id) &&
         get_str(&r, (char **)&out->arg, &out->arg_len) &&
         get_str(&r, (char **)&out->authkey, &out->authkey_len) && r.left == 0;
    if (ok) {
        memcpy(out->loc.build_id, build_id, build_id_len);
        out->loc.build_id_len = (uint32_t)build_id_len;
    }
    free(build_id);
    out->daemon = daemon != 0;
    out->log_level = level;
    out->parent_pid = ppid;
    if (!ok) {
        mproc__spec_clear(out);
        return MPROC_EPROTOCOL;
    }
    return 0;
}

void
mproc__spec_clear(struct mproc__child_spec *spec)
{
    free(spec->name);
    free(spec->identity);
    free(spec->parent_name);
    free(spec->arg);
    free(spec->authkey);
    mproc__target_loc_clear(&spec->loc);
    memset(spec, 0, sizeof(*spec));
}

int
mproc__spec_recv(int fd, struct mproc__child_spec *out, int *fds,
                 size_t max_fds, size_t *nfds)
{
    uint64_t len;
    void *body;
    int rc;

    memset(out, 0, sizeof(*out));
    *nfds = 0;
    rc = mproc__recv_fds(fd, &len, sizeof(len), fds, max_fds, nfds);
    if (rc < 0)
        return rc;
    rc = MPROC_EPROTOCOL;
    body = len > 0 && len <= MPROC__SPEC_MAX ? malloc(len) : NULL;
    if (body != NULL)
        rc = mproc__read_full(fd, body, len);
    if (rc == 0)
        rc = mproc__spec_decode(body, len, out);
    free(body);
    if (rc < 0) {
        for (size_t i = 0; i < *nfds; i++)
            mproc__close(&fds[i]);
        *nfds = 0;
    }
    return rc;
}

int
mproc__spec_send(int fd, const mproc_buf *wire, const int *fds, size_t nfds)
{
    /* The descriptors ride with the length prefix. */
    int rc = mproc__send_fds(fd, wire->data, sizeof(uint64_t), fds, nfds);

    if (rc == 0)
        rc = mproc__send_full(fd, (const char *)wire->data + sizeof(uint64_t),
                              wire->len - sizeof(uint64_t));
    return rc;
}

/*
 * Runs in every program that links mproc, before main: one getenv, and
 * nothing more unless the marker is there. A spawn child or the forkserver
 * never returns from here, so the host's main never runs in them.
 */
__attribute__((constructor)) static void
boot(void)
{
    const char *mode = getenv(MPROC__BOOT_ENV);
    bool spawn, server;

    if (mode == NULL)
        return;
    spawn = strcmp(mode, "spawn") == 0;
    server = strcmp(mode, "forkserver") == 0;
    /* The marker is for this process only, not for what it execs. */
    unsetenv(MPROC__BOOT_ENV);
    if (spawn)
        mproc__spawn_child_main(MPROC__BOOT_FD);
    if (server)
        mproc__forkserver_main(MPROC__BOOT_FD);
}
