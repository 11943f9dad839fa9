/*
 * tests/interop/shm.c - SharedMemory and ShareableList between mproc and
 * real Pythons (tests/interop/shm_peer.py, through peer.py): Python
 * attaches to a segment mproc created and mproc to one Python created,
 * each reading what the other wrote; a ShareableList made by mproc is
 * checked and rewritten by Python, and one made by Python by mproc, so
 * both sides prove the layout. Python must leave mproc's segments in
 * place (it is kept from tracking them): each case checks the name is
 * still there after the peer and its resource tracker have ended. Every
 * case runs under each Python at hand.
 */
#include "helpers/th.h"
#include "interop/python.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(interop_shm, .init = th_begin_shm, .fini = th_end, .timeout = 60);

static bool
shm_exists(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

/* A peer given the read end of a pipe as its fd 3; *go is the write end:
 * closing it tells the peer to go on. */
static struct peer
start_waiting(const char *python, const char *const *args, int *go)
{
    int fds[2];
    struct peer p;

    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    p = peer_start(python, args, fds[0]);
    close(fds[0]);
    *go = fds[1];
    return p;
}

static void
python_attaches_to_mprocs_segment(const char *version)
{
    char python[PATH_MAX], out[512], want[512];
    mproc_shm *s = NULL;
    struct peer peer;

    python_or_skip(version, python, sizeof(python));
    cr_assert_eq(mproc_shm_new(&s, NULL, true, 4096, NULL), 0);
    memcpy(mproc_shm_buf(s), "0123456789abcdef", 16);
    peer = peer_start(
        python, (const char *[]){ "shm-attach", mproc_shm_name(s), NULL }, -1);
    cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    snprintf(want, sizeof(want), "4096 %s", "30313233343536373839616263646566");
    cr_assert_str_eq(out, want);
    cr_assert_eq(memcmp((char *)mproc_shm_buf(s) + 100, "python", 6), 0);
    cr_assert(shm_exists(mproc_shm_name(s)), "Python unlinked the segment");
    cr_assert_eq(mproc_shm_unlink(s), 0);
    mproc_shm_free(s);
}

static void
mproc_attaches_to_pythons_segment(const char *version)
{
    char python[PATH_MAX], name[MPROC_SHM_NAME_MAX + 1], out[512];
    mproc_shm *s = NULL;
    struct peer peer;
    int go;

    python_or_skip(version, python, sizeof(python));
    peer = start_waiting(
        python, (const char *[]){ "shm-create", "3000", "3", NULL }, &go);
    peer_line(&peer, name, sizeof(name));
    cr_assert_eq(mproc_shm_new(&s, name, false, 0, NULL), 0);
    cr_assert_geq(mproc_shm_size(s), 3000);
    cr_assert_eq(memcmp(mproc_shm_buf(s), "from python", 11), 0);
    memcpy((char *)mproc_shm_buf(s) + 200, "from mproc", 10);
    close(go);
    cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    cr_assert_str_eq(out, "66726f6d206d70726f63"); /* "from mproc" */
    cr_assert(!shm_exists(name), "Python did not unlink its segment");
    cr_assert_eq(mproc_shm_unlink(s), -ENOENT);
    mproc_shm_free(s);
}

/* 7 code points in 14 bytes of UTF-8. */
#define SEVEN_E_ACUTE "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"

/* shm_peer.py's MPROC_ITEMS, and the list after its PYTHON_WRITES. */
static mproc_obj *
mproc_items(void)
{
    return TH_OBJ("[i d b n s y s I b s]", 42, 2.5, 1, "h\xc3\xa9llo",
                  "by\0tes", (size_t)6, "", INT64_MIN, 0, SEVEN_E_ACUTE);
}

static mproc_obj *
after_python_writes(void)
{
    return TH_OBJ("[d s y i n y s b s s]", 7.5, "8 bytes!", "xy", (size_t)2,
                  12345, "by\0tes", (size_t)6, "", 1, "f", SEVEN_E_ACUTE);
}

/* Each item of l equals the same item of want, with its type. */
static void
assert_items(const mproc_shlist *l, const mproc_obj *want)
{
    size_t n = 0;

    cr_assert_eq(mproc_obj_len(want, &n), 0);
    cr_assert_eq(mproc_shlist_len(l), n);
    for (size_t i = 0; i < n; i++) {
        mproc_obj *got = NULL, *w;

        cr_assert_eq(mproc_obj_get(want, i, &w), 0);
        cr_assert_eq(mproc_shlist_get(l, i, &got), 0, "item %zu", i);
        cr_assert_eq(mproc_obj_type(got), mproc_obj_type(w), "item %zu", i);
        cr_assert(mproc_obj_equal(got, w), "item %zu", i);
        mproc_obj_free(got);
    }
}

static void
python_rewrites_mprocs_list(const char *version)
{
    char python[PATH_MAX], out[512];
    mproc_obj *items = mproc_items(), *want = after_python_writes();
    mproc_shlist *l = NULL;
    struct peer peer;
    const char *name;

    python_or_skip(version, python, sizeof(python));
    cr_assert_eq(mproc_shlist_new(&l, NULL, items, NULL), 0);
    name = mproc_shm_name(mproc_shlist_shm(l));
    peer = peer_start(python, (const char *[]){ "shl-attach", name, NULL }, -1);
    cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    cr_assert_str_eq(out, "ok");
    assert_items(l, want);
    cr_assert(shm_exists(name), "Python unlinked the list");
    cr_assert_eq(mproc_shm_unlink(mproc_shlist_shm(l)), 0);
    mproc_shlist_free(l);
    mproc_obj_free(items);
    mproc_obj_free(want);
}

static void
mproc_rewrites_pythons_list(const char *version)
{
    char python[PATH_MAX], name[MPROC_SHM_NAME_MAX + 1], out[512];
    mproc_obj *want = TH_OBJ("[i d b n s y s]", 1, -2.5, 0, "pyth\xc3\xb6n",
                             "\0\1", (size_t)2, "xxxxxxxxxxxxxxxxxxxx");
    mproc_obj *v;
    mproc_shlist *l = NULL;
    struct peer peer;
    int go;

    python_or_skip(version, python, sizeof(python));
    peer =
        start_waiting(python, (const char *[]){ "shl-create", "3", NULL }, &go);
    peer_line(&peer, name, sizeof(name));
    cr_assert_eq(mproc_shlist_new(&l, name, NULL, NULL), 0);
    assert_items(l, want);
    /* shm_peer.py's MPROC_WRITES; a str one byte past a slot fails. */
    cr_assert_eq(mproc_shlist_set_str(l, 0, "c", 1), 0);
    cr_assert_eq(mproc_shlist_set_float(l, 2, 3.25), 0);
    v = TH_OBJ("y", "\xff", (size_t)1);
    cr_assert_eq(mproc_shlist_set(l, 3, v), 0);
    mproc_obj_free(v);
    cr_assert_eq(mproc_shlist_set_str(l, 6, "yyyyyyyyyyyyyyyyyyyyyyyyy", 25),
                 MPROC_ETOOBIG);
    cr_assert_eq(mproc_shlist_set_str(l, 6, "yyyyyyyyyyyyyyyyyyyyyyyy", 24), 0);
    close(go);
    cr_assert_eq(peer_finish(&peer, out, sizeof(out)), 0, "peer: %s", out);
    cr_assert_str_eq(out, "ok");
    cr_assert(!shm_exists(name), "Python did not unlink its list");
    mproc_shlist_free(l);
    mproc_obj_free(want);
}

#define EACH_PYTHON(fn, what)                                                  \
    Test(interop_shm, python3_##what)                                          \
    {                                                                          \
        fn("3");                                                               \
    }                                                                          \
    Test(interop_shm, python3_12_##what)                                       \
    {                                                                          \
        fn("3.12");                                                            \
    }                                                                          \
    Test(interop_shm, python3_13_##what)                                       \
    {                                                                          \
        fn("3.13");                                                            \
    }

EACH_PYTHON(python_attaches_to_mprocs_segment, attaches_to_mprocs_segment)
EACH_PYTHON(mproc_attaches_to_pythons_segment, segment_is_attached_by_mproc)
EACH_PYTHON(python_rewrites_mprocs_list, rewrites_mprocs_list)
EACH_PYTHON(mproc_rewrites_pythons_list, list_is_rewritten_by_mproc)
