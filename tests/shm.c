/*
 * tests/shm.c - SharedMemory and ShareableList against Python's semantics:
 * create, attach, close and unlink; the error of each bad argument;
 * generated names; every ShareableList type there and back, Python's
 * exact bytes, the set rules, hostile layouts written by hand; sharing
 * with a forked child; and the reaper: a process group that created
 * segments and is SIGKILLed as a whole leaves nothing in /dev/shm (except
 * what it created with .keep), and its watcher ends. Then Value and Array
 * (suite sharedctypes): types by enum, typecode and C name; raw and locked
 * objects with the default lock, a Lock and an RLock; copies in and out;
 * the atomics, across processes as well; sharing with children of every
 * start method by inheritance and by token; and every refusal.
 */
#include "helpers/th.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(shm, .init = th_begin_shm, .fini = th_end, .timeout = 30);
/* The reaper's tests never create a segment in the test process: the
 * process groups they kill must have watchers of their own. */
TestSuite(shm_reap, .init = th_begin, .fini = th_end, .timeout = 30);

/* A name no other test (nor a parallel run) uses. */
static void
unique_name(char *name, size_t size)
{
    static int counter;

    snprintf(name, size, "mproc_test_%d_%d", (int)getpid(), ++counter);
}

static bool
shm_exists(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

/* Wait until pred(name) turns false, polling, for at most `seconds`. */
static bool
wait_until_not(bool (*pred)(const char *), const char *name, double seconds)
{
    double deadline = th_now() + seconds;

    while (pred(name)) {
        if (th_now() > deadline)
            return false;
        (void)poll(NULL, 0, 5);
    }
    return true;
}

static mproc_shm *
make(const char *name, size_t size)
{
    mproc_shm *s = NULL;

    cr_assert_eq(mproc_shm_new(&s, name, true, size, NULL), 0);
    return s;
}

static void
destroy(mproc_shm *s)
{
    cr_assert_eq(mproc_shm_unlink(s), 0);
    mproc_shm_free(s);
}

/* ---- SharedMemory ------------------------------------------------------- */

Test(shm, create_then_attach_shares_the_bytes)
{
    char name[64];
    mproc_shm *a, *b = NULL;

    unique_name(name, sizeof(name));
    a = make(name, 5000);
    cr_assert_str_eq(mproc_shm_name(a), name);
    cr_assert_eq(mproc_shm_size(a), 5000);
    cr_assert(shm_exists(name));
    for (size_t i = 0; i < 5000; i++)
        cr_assert_eq(((unsigned char *)mproc_shm_buf(a))[i], 0);
    memcpy(mproc_shm_buf(a), "hello", 5);

    cr_assert_eq(mproc_shm_new(&b, name, false, 0, NULL), 0);
    cr_assert_eq(mproc_shm_size(b), 5000);
    cr_assert_eq(memcmp(mproc_shm_buf(b), "hello", 5), 0);
    memcpy((char *)mproc_shm_buf(b) + 4999, "!", 1);
    cr_assert_eq(((char *)mproc_shm_buf(a))[4999], '!');
    mproc_shm_free(b);
    destroy(a);
    cr_assert(!shm_exists(name));
}

Test(shm, attach_with_a_smaller_size_maps_the_whole_segment)
{
    char name[64];
    mproc_shm *a, *b = NULL;

    unique_name(name, sizeof(name));
    a = make(name, 100);
    cr_assert_eq(mproc_shm_new(&b, name, false, 10, NULL), 0);
    cr_assert_eq(mproc_shm_size(b), 100);
    mproc_shm_free(b);
    cr_assert_eq(mproc_shm_new(&b, name, false, 101, NULL), MPROC_EINVAL);
    cr_assert_null(b);
    destroy(a);
}

Test(shm, generated_names_are_pythons_and_unique)
{
    enum {
        N = 64
    };
    mproc_shm *s[N];

    for (int i = 0; i < N; i++) {
        const char *name;

        cr_assert_eq(mproc_shm_new(&s[i], NULL, true, 16, NULL), 0);
        name = mproc_shm_name(s[i]);
        cr_assert_eq(strlen(name), 12, "%s", name);
        cr_assert_eq(strncmp(name, "psm_", 4), 0, "%s", name);
        cr_assert_eq(strspn(name + 4, "0123456789abcdef"), 8, "%s", name);
        cr_assert(shm_exists(name));
        for (int k = 0; k < i; k++)
            cr_assert_str_neq(name, mproc_shm_name(s[k]));
    }
    for (int i = 0; i < N; i++)
        destroy(s[i]);
}

Test(shm, creating_an_existing_name_is_eexist)
{
    char name[64];
    mproc_shm *a, *b = NULL;

    unique_name(name, sizeof(name));
    a = make(name, 10);
    cr_assert_eq(mproc_shm_new(&b, name, true, 10, NULL), -EEXIST);
    cr_assert_null(b);
    /* The failed create did not make the watcher forget the first. */
    cr_assert(shm_exists(name));
    destroy(a);
}

Test(shm, attaching_a_missing_name_is_enoent)
{
    char name[64];
    mproc_shm *s = (mproc_shm *)1;

    unique_name(name, sizeof(name));
    cr_assert_eq(mproc_shm_new(&s, name, false, 0, NULL), -ENOENT);
    cr_assert_null(s);
}

Test(shm, bad_arguments_are_einval)
{
    char name[64], longname[MPROC_SHM_NAME_MAX + 2];
    mproc_shm *s = NULL;

    unique_name(name, sizeof(name));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert_eq(mproc_shm_new(NULL, name, true, 1, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, name, true, 0, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, NULL, false, 0, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, "a/b", true, 1, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, "", true, 1, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, ".", false, 0, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, "..", false, 0, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_new(&s, longname, true, 1, NULL), MPROC_EINVAL);
    cr_assert_null(s);
    cr_assert(!shm_exists(name));
    cr_assert_eq(mproc_shm_close(NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shm_unlink(NULL), MPROC_EINVAL);
    cr_assert_null(mproc_shm_buf(NULL));
    cr_assert_eq(mproc_shm_size(NULL), 0);
    cr_assert_str_eq(mproc_shm_name(NULL), "");
    mproc_shm_free(NULL);
}

Test(shm, the_longest_name_works)
{
    char name[MPROC_SHM_NAME_MAX + 1];
    int n;

    n = snprintf(name, sizeof(name), "mproc_test_%d_", (int)getpid());
    memset(name + n, 'x', sizeof(name) - 1 - (size_t)n);
    name[sizeof(name) - 1] = '\0';
    destroy(make(name, 1));
}

Test(shm, close_unmaps_and_keeps_the_size)
{
    char name[64];
    mproc_shm *s;

    unique_name(name, sizeof(name));
    s = make(name, 64);
    cr_assert_eq(mproc_shm_close(s), 0);
    cr_assert_null(mproc_shm_buf(s));
    cr_assert_eq(mproc_shm_size(s), 64);
    cr_assert_eq(mproc_shm_close(s), 0);
    cr_assert(shm_exists(name));
    destroy(s);
}

Test(shm, unlink_removes_the_name_and_a_second_unlink_is_enoent)
{
    char name[64];
    mproc_shm *s, *again = NULL;

    unique_name(name, sizeof(name));
    s = make(name, 64);
    memcpy(mproc_shm_buf(s), "kept", 4);
    cr_assert_eq(mproc_shm_unlink(s), 0);
    cr_assert(!shm_exists(name));
    /* The mapping outlives the name. */
    cr_assert_eq(memcmp(mproc_shm_buf(s), "kept", 4), 0);
    cr_assert_eq(mproc_shm_new(&again, name, false, 0, NULL), -ENOENT);
    cr_assert_eq(mproc_shm_unlink(s), -ENOENT);
    mproc_shm_free(s);
}

/* A raw forked child: attach by name, write, and use the inherited handle
 * too; _exit with the number of failures. */
static int
child_writes(const char *name, mproc_shm *inherited)
{
    mproc_shm *s = NULL;
    int bad = 0;

    if (mproc_shm_new(&s, name, false, 0, NULL) != 0)
        return 1;
    memcpy(mproc_shm_buf(s), "child", 5);
    mproc_shm_free(s);
    memcpy((char *)mproc_shm_buf(inherited) + 8, "inherit", 7);
    bad += mproc_shm_close(inherited) != 0;
    mproc_shm_free(inherited);
    return bad;
}

Test(shm, a_forked_child_shares_by_name_and_by_inheritance)
{
    char name[64];
    mproc_shm *s;
    int status;
    pid_t pid;

    unique_name(name, sizeof(name));
    s = make(name, 64);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_writes(name, s));
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(memcmp(mproc_shm_buf(s), "child", 5), 0);
    cr_assert_eq(memcmp((char *)mproc_shm_buf(s) + 8, "inherit", 7), 0);
    destroy(s);
}

/* A process target: create the segment named by arg and end without
 * unlinking it. */
static int
create_and_leave(const void *arg, size_t len)
{
    char name[64];
    mproc_shm *s = NULL;

    if (len >= sizeof(name))
        return 2;
    memcpy(name, arg, len);
    name[len] = '\0';
    return mproc_shm_new(&s, name, true, 8, NULL) == 0 ? 0 : 1;
}

Test(shm, a_fork_childs_segment_lives_as_long_as_the_tree)
{
    char name[64];
    mproc_shm *s = NULL;

    unique_name(name, sizeof(name));
    cr_assert_eq(
        th_run(create_and_leave, name, strlen(name),
               &(mproc_process_opts){ .start_method = MPROC_START_FORK }),
        0);
    /* Registered with this process's watcher: still here. */
    cr_assert(shm_exists(name));
    cr_assert_eq(mproc_shm_new(&s, name, false, 0, NULL), 0);
    destroy(s);
}

static void
exec_childs_segment_outlives_it(enum mproc_start_method method)
{
    char name[64];
    mproc_shm *s = NULL;

    unique_name(name, sizeof(name));
    cr_assert_eq(th_run(create_and_leave, name, strlen(name),
                        &(mproc_process_opts){ .start_method = method }),
                 0);
    /* The child's own watcher waits for its parent, this process, too. */
    cr_assert(shm_exists(name));
    cr_assert_eq(mproc_shm_new(&s, name, false, 0, NULL), 0);
    destroy(s);
}

Test(shm, a_spawn_childs_segment_outlives_it_while_its_parent_lives)
{
    exec_childs_segment_outlives_it(MPROC_START_SPAWN);
}

Test(shm, a_forkserver_childs_segment_outlives_it_while_its_parent_lives)
{
    exec_childs_segment_outlives_it(MPROC_START_FORKSERVER);
}

/* In a raw child: start an exec'd child that creates `name` and leaves it,
 * then end. */
static int
parent_of_creator(const char *name, enum mproc_start_method method)
{
    mproc_process *p = NULL;
    int rc = mproc_process_new(&p, create_and_leave, name, strlen(name),
                               &(mproc_process_opts){ .start_method = method });

    if (rc == 0)
        rc = mproc_process_start(p);
    if (rc == 0)
        rc = mproc_process_join(p, MPROC_FOREVER);
    if (rc == 0)
        rc = mproc_process_exitcode(p);
    mproc_process_free(p);
    return rc == 0 ? 0 : 1;
}

static void
exec_childs_segment_goes_with_its_parent(enum mproc_start_method method)
{
    char name[64];
    int status;
    pid_t pid;

    unique_name(name, sizeof(name));
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(parent_of_creator(name, method));
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert(wait_until_not(shm_exists, name, 10.0),
              "%s outlived the exec'd child that made it and its parent", name);
}

Test(shm, a_spawn_childs_segment_goes_when_its_parent_has_gone_too)
{
    exec_childs_segment_goes_with_its_parent(MPROC_START_SPAWN);
}

Test(shm, a_forkserver_childs_segment_goes_when_its_parent_has_gone_too)
{
    exec_childs_segment_goes_with_its_parent(MPROC_START_FORKSERVER);
}

/* ---- ShareableList ------------------------------------------------------ */

static mproc_shlist *
shlist_make(const mproc_obj *items)
{
    mproc_shlist *l = NULL;

    cr_assert_eq(mproc_shlist_new(&l, NULL, items, NULL), 0);
    return l;
}

static mproc_shlist *
shlist_attach(const mproc_shlist *l)
{
    mproc_shlist *other = NULL;

    cr_assert_eq(mproc_shlist_new(&other, mproc_shm_name(mproc_shlist_shm(l)),
                                  NULL, NULL),
                 0);
    return other;
}

static void
shlist_destroy(mproc_shlist *l)
{
    cr_assert_eq(mproc_shm_unlink(mproc_shlist_shm(l)), 0);
    mproc_shlist_free(l);
}

/* Item i of l equals `want` and has its type. */
static void
assert_item(const mproc_shlist *l, size_t i, const mproc_obj *want)
{
    mproc_obj *got = NULL;

    cr_assert_eq(mproc_shlist_get(l, i, &got), 0, "item %zu", i);
    cr_assert_eq(mproc_obj_type(got), mproc_obj_type(want), "item %zu", i);
    cr_assert(mproc_obj_equal(got, want), "item %zu", i);
    mproc_obj_free(got);
}

Test(shm, shlist_every_type_round_trips_through_another_handle)
{
    mproc_obj *items = TH_OBJ("[I I d b b n s s y y]", (int64_t)42, INT64_MIN,
                              -2.5, 1, 0, "h\xc3\xa9llo w\xc3\xb6rld", "",
                              "\x00\x01\xff", (size_t)3, "", (size_t)0);
    mproc_shlist *l = shlist_make(items), *other = shlist_attach(l);
    size_t n = 0;

    cr_assert_eq(mproc_obj_len(items, &n), 0);
    cr_assert_eq(mproc_shlist_len(other), n);
    for (size_t i = 0; i < n; i++) {
        mproc_obj *want;

        cr_assert_eq(mproc_obj_get(items, i, &want), 0);
        assert_item(other, i, want);
    }
    mproc_shlist_free(other);
    shlist_destroy(l);
    mproc_obj_free(items);
}

Test(shm, shlist_strips_trailing_nuls_as_python_does)
{
    mproc_obj *items = TH_OBJ("[y s]", "ab\0\0", (size_t)4, "x");
    mproc_obj *ab = TH_OBJ("y", "ab", (size_t)2);
    mproc_shlist *l = shlist_make(items);

    assert_item(l, 0, ab);
    cr_assert_eq(mproc_shlist_set_str(l, 1, "q\0\0", 3), 0);
    mproc_obj_free(ab);
    ab = TH_OBJ("s", "q");
    assert_item(l, 1, ab);
    shlist_destroy(l);
    mproc_obj_free(ab);
    mproc_obj_free(items);
}

/* What CPython 3.9-3.13 write for ShareableList([1, 2.5, True, None,
 * "héllo", b"ab\x00", ""]) (little-endian): 191 bytes. */
static const char python_bytes_hex[] =
    "0700000000000000"
    "0000000000000000080000000000000010000000000000001800000000000000"
    "2000000000000000280000000000000030000000000000003800000000000000"
    "0100000000000000000000000000044000000000000000010000000000000000"
    "68c3a96c6c6f0000616200000000000000000000000000007100000000000000"
    "6400000000000000787878787878783f7878787878783f783873000000000000"
    "3873000000000000387300000000000000000003010201";

static void
from_hex(const char *hex, unsigned char *out, size_t *len)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    *len = n;
}

Test(shm, shlist_writes_pythons_exact_bytes)
{
    mproc_obj *items = TH_OBJ("[i d b n s y s]", 1, 2.5, 1, "h\xc3\xa9llo",
                              "ab\0", (size_t)3, "");
    unsigned char want[256];
    mproc_shlist *l;
    mproc_buf format = { 0 };
    size_t len;

    from_hex(python_bytes_hex, want, &len);
    l = shlist_make(items);
    cr_assert_eq(mproc_shm_size(mproc_shlist_shm(l)), len);
    cr_assert_eq(memcmp(mproc_shm_buf(mproc_shlist_shm(l)), want, len), 0);
    cr_assert_eq(mproc_shlist_format(l, &format), 0);
    cr_assert_str_eq(format.data, "qdxxxxxxx?xxxxxx?x8s8s8s");
    cr_assert_eq(format.len, strlen("qdxxxxxxx?xxxxxx?x8s8s8s"));
    mproc_buf_free(&format);
    shlist_destroy(l);
    mproc_obj_free(items);
}

/* Write raw bytes into a new segment and return its name (in name). */
static mproc_shm *
raw_segment(const unsigned char *bytes, size_t len, char *name, size_t size)
{
    mproc_shm *s;

    unique_name(name, size);
    s = make(name, len);
    memcpy(mproc_shm_buf(s), bytes, len);
    return s;
}

Test(shm, shlist_reads_a_list_python_wrote)
{
    unsigned char bytes[256];
    mproc_obj *want = TH_OBJ("[i d b n s y s]", 1, 2.5, 1, "h\xc3\xa9llo", "ab",
                             (size_t)2, "");
    mproc_shlist *l = NULL;
    char name[64];
    mproc_shm *s;
    size_t len;

    from_hex(python_bytes_hex, bytes, &len);
    s = raw_segment(bytes, len, name, sizeof(name));
    cr_assert_eq(mproc_shlist_new(&l, name, NULL, NULL), 0);
    cr_assert_eq(mproc_shlist_len(l), 7);
    for (size_t i = 0; i < 7; i++) {
        mproc_obj *item;

        cr_assert_eq(mproc_obj_get(want, i, &item), 0);
        assert_item(l, i, item);
    }
    mproc_shlist_free(l);
    destroy(s);
    mproc_obj_free(want);
}

Test(shm, shlist_set_follows_pythons_type_rules)
{
    mproc_obj *items = TH_OBJ("[i s y]", 7, "abc", "xy", (size_t)2);
    mproc_shlist *l = shlist_make(items), *other = shlist_attach(l);
    mproc_obj *v;
    mproc_buf format = { 0 };
    int64_t i64 = 0;
    double d = 0;

    /* Any type replaces any other; a str takes a scalar's slot whole. */
    cr_assert_eq(mproc_shlist_set_str(l, 0, "12345678", 8), 0);
    cr_assert_eq(mproc_shlist_set_int(l, 1, -5), 0);
    v = TH_OBJ("n");
    cr_assert_eq(mproc_shlist_set(l, 2, v), 0);
    mproc_obj_free(v);
    cr_assert_eq(mproc_shlist_format(other, &format), 0);
    cr_assert_str_eq(format.data, "8sqxxxxxx?x");
    mproc_buf_free(&format);
    v = TH_OBJ("s", "12345678");
    assert_item(other, 0, v);
    mproc_obj_free(v);
    cr_assert_eq(mproc_shlist_get_int(other, 1, &i64), 0);
    cr_assert_eq(i64, -5);
    cr_assert_eq(mproc_shlist_get_float(other, 1, &d), MPROC_EINVAL);

    /* The slot the list was made with bounds every later str. */
    cr_assert_eq(mproc_shlist_set_str(l, 1, "123456789", 9), MPROC_ETOOBIG);
    cr_assert_eq(mproc_shlist_get_int(other, 1, &i64), 0);
    cr_assert_eq(i64, -5);
    v = TH_OBJ("y", "0123456789", (size_t)9);
    cr_assert_eq(mproc_shlist_set(l, 2, v), MPROC_ETOOBIG);
    mproc_obj_free(v);

    /* Types Python refuses; an int outside 64 bits; a bad index. */
    v = TH_OBJ("[]");
    cr_assert_eq(mproc_shlist_set(l, 0, v), MPROC_EINVAL);
    mproc_obj_free(v);
    cr_assert_eq(mproc_obj_bytearray(&v, "a", 1), 0);
    cr_assert_eq(mproc_shlist_set(l, 0, v), MPROC_EINVAL);
    mproc_obj_free(v);
    cr_assert_eq(mproc_obj_int_from_string(&v, "9223372036854775808"), 0);
    cr_assert_eq(mproc_shlist_set(l, 0, v), MPROC_ETOOBIG);
    mproc_obj_free(v);
    cr_assert_eq(mproc_shlist_set_float(l, 3, 1.0), -ERANGE);
    cr_assert_eq(mproc_shlist_get(l, 3, &v), -ERANGE);
    cr_assert_null(v);
    cr_assert_eq(mproc_shlist_set(l, 0, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shlist_set_str(l, 0, "\xff", 1), MPROC_EINVAL);

    cr_assert_eq(mproc_shlist_set_float(l, 0, 0.25), 0);
    cr_assert_eq(mproc_shlist_get_float(other, 0, &d), 0);
    cr_assert_eq(d, 0.25);
    mproc_shlist_free(other);
    shlist_destroy(l);
    mproc_obj_free(items);
}

Test(shm, shlist_count_and_index_use_python_equality)
{
    mproc_obj *items = TH_OBJ("[i d b s n i]", 1, 1.0, 1, "1", 1);
    mproc_shlist *l = shlist_make(items);
    mproc_obj *one = TH_OBJ("i", 1), *none = TH_OBJ("n"),
              *missing = TH_OBJ("s", "2");
    size_t count = 0, index = 0;

    cr_assert_eq(mproc_shlist_count(l, one, &count), 0);
    cr_assert_eq(count, 4); /* 1, 1.0, True, 1 */
    cr_assert_eq(mproc_shlist_index(l, none, &index), 0);
    cr_assert_eq(index, 4);
    cr_assert_eq(mproc_shlist_index(l, missing, &index), -ENOENT);
    cr_assert_eq(mproc_shlist_count(l, missing, &count), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(mproc_shlist_count(l, NULL, &count), MPROC_EINVAL);
    shlist_destroy(l);
    mproc_obj_free(one);
    mproc_obj_free(none);
    mproc_obj_free(missing);
    mproc_obj_free(items);
}

Test(shm, shlist_empty_and_bad_arguments)
{
    mproc_shlist *l = NULL;
    mproc_obj *v, *big = NULL;
    char *text;
    char name[64];

    cr_assert_eq(mproc_shlist_new(&l, NULL, NULL, NULL), 0);
    cr_assert_eq(mproc_shlist_len(l), 0);
    cr_assert_eq(mproc_shm_size(mproc_shlist_shm(l)), 16);
    shlist_destroy(l);
    l = NULL;

    v = TH_OBJ("{}");
    cr_assert_eq(mproc_shlist_new(&l, NULL, v, NULL), MPROC_EINVAL);
    mproc_obj_free(v);
    v = TH_OBJ("[[]]");
    cr_assert_eq(mproc_shlist_new(&l, NULL, v, NULL), MPROC_EINVAL);
    mproc_obj_free(v);
    cr_assert_eq(mproc_obj_int_from_string(&big, "-9223372036854775809"), 0);
    v = TH_OBJ("[O]", big);
    cr_assert_eq(mproc_shlist_new(&l, NULL, v, NULL), MPROC_ETOOBIG);
    mproc_obj_free(v);
    mproc_obj_free(big);
    /* The longest str or bytes whose slot's format fits 8 characters,
     * "9999992s", and one byte more. */
    text = calloc(1, 9999992);
    cr_assert_not_null(text);
    v = TH_OBJ("[y]", text, (size_t)9999991);
    cr_assert_eq(mproc_shlist_new(&l, NULL, v, NULL), 0);
    mproc_obj_free(v);
    shlist_destroy(l);
    l = NULL;
    v = TH_OBJ("[y]", text, (size_t)9999992);
    cr_assert_eq(mproc_shlist_new(&l, NULL, v, NULL), MPROC_ETOOBIG);
    mproc_obj_free(v);
    free(text);
    cr_assert_null(l);
    unique_name(name, sizeof(name));
    cr_assert_eq(mproc_shlist_new(&l, name, NULL, NULL), -ENOENT);
    cr_assert_eq(mproc_shlist_new(NULL, NULL, NULL, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_shlist_len(NULL), 0);
    cr_assert_null(mproc_shlist_shm(NULL));
    mproc_shlist_free(NULL);
}

Test(shm, shlist_a_named_list_is_attached_by_name)
{
    mproc_obj *items = TH_OBJ("(i i)", 1, 2);
    mproc_shlist *l = NULL, *other = NULL;
    char name[64];

    unique_name(name, sizeof(name));
    cr_assert_eq(mproc_shlist_new(&l, name, items, NULL), 0);
    cr_assert_str_eq(mproc_shm_name(mproc_shlist_shm(l)), name);
    cr_assert_eq(mproc_shlist_new(&other, name, items, NULL), -EEXIST);
    cr_assert_eq(mproc_shlist_new(&other, name, NULL, NULL), 0);
    cr_assert_eq(mproc_shlist_len(other), 2);
    mproc_shlist_free(other);
    shlist_destroy(l);
    mproc_obj_free(items);
}

Test(shm, shlist_a_forked_child_writes_what_the_parent_reads)
{
    mproc_obj *items = TH_OBJ("[i s]", 0, "........");
    mproc_shlist *l = shlist_make(items);
    mproc_obj *want = TH_OBJ("s", "from child");
    int status;
    pid_t pid;

    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int bad = mproc_shlist_set_int(l, 0, 99) != 0;

        bad += mproc_shlist_set_str(l, 1, "from child", 10) != 0;
        mproc_shlist_free(l);
        _exit(bad);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_item(l, 1, want);
    mproc_obj_free(want);
    want = TH_OBJ("i", 99);
    assert_item(l, 0, want);
    shlist_destroy(l);
    mproc_obj_free(want);
    mproc_obj_free(items);
}

/* ---- hostile layouts ---------------------------------------------------- */

static void
put64(unsigned char *at, int64_t v)
{
    memcpy(at, &v, 8);
}

/* A valid list of two items, [5, "abc"], built by hand: 8 + 24 + 16 + 16
 * + 2 = 66 bytes. Tests break one field of it. */
static size_t
good_layout(unsigned char *b)
{
    memset(b, 0, 66);
    put64(b, 2);
    put64(b + 8, 0);
    put64(b + 16, 8);
    put64(b + 24, 16);
    put64(b + 32, 5);
    memcpy(b + 40, "abc", 3);
    memcpy(b + 48, "q", 1);
    memcpy(b + 56, "8s", 2);
    b[64] = 0;
    b[65] = 1;
    return 66;
}

/* Attach to the bytes; the attach's code, or each item's worst. */
static int
attach_raw(const unsigned char *b, size_t len)
{
    mproc_shlist *l = NULL;
    char name[64];
    mproc_shm *s = raw_segment(b, len, name, sizeof(name));
    int rc = mproc_shlist_new(&l, name, NULL, NULL);

    if (rc == 0) {
        mproc_buf format = { 0 };
        mproc_obj *v, *one = TH_OBJ("i", 1);
        size_t count;

        for (size_t i = 0; i < mproc_shlist_len(l); i++) {
            int got = mproc_shlist_get(l, i, &v);

            mproc_obj_free(v);
            if (got < 0)
                rc = got;
            got = mproc_shlist_set_str(l, i, "zz", 2);
            if (got < 0 && got != MPROC_ETOOBIG)
                rc = got;
        }
        if (mproc_shlist_format(l, &format) < 0 ||
            mproc_shlist_count(l, one, &count) < 0)
            rc = rc < 0 ? rc : MPROC_EPROTOCOL;
        mproc_buf_free(&format);
        mproc_obj_free(one);
        mproc_shlist_free(l);
    }
    destroy(s);
    return rc;
}

Test(shm, shlist_hand_built_layout_is_read)
{
    unsigned char b[66];
    size_t len = good_layout(b);

    cr_assert_eq(attach_raw(b, len), 0);
}

Test(shm, shlist_hostile_headers_are_eprotocol)
{
    unsigned char b[66];
    size_t len;

    len = good_layout(b);
    put64(b, -1); /* negative length */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    put64(b, INT64_MAX); /* a length the segment cannot hold */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    put64(b, 3);
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    put64(b + 16, 20); /* offsets going backwards */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    put64(b + 24, INT64_MAX); /* the data area past the end */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    put64(b + 8, -8); /* a negative offset */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    cr_assert_eq(attach_raw(b, 7), MPROC_EPROTOCOL); /* shorter than a header */
    cr_assert_eq(attach_raw(b, len - 1), MPROC_EPROTOCOL); /* codes cut */
}

Test(shm, shlist_hostile_items_are_eprotocol)
{
    /* 8 bytes each, NUL-padded as in the segment. */
    static const char bad_formats[][8] = {
        "x",  "qq",  "9s",   "16s",      "-8s",      "s",
        "8S", "8 s", "q\0q", "xxxxxxx!", "xxxxxxxx", "\0\0\0\0\0\0\0q",
    };
    unsigned char b[66];
    size_t len;

    for (size_t k = 0; k < sizeof(bad_formats) / sizeof(bad_formats[0]); k++) {
        len = good_layout(b);
        memcpy(b + 56, bad_formats[k], 8);
        cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL, "format %zu", k);
    }
    len = good_layout(b);
    b[65] = 7; /* an unknown code */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    b[65] = 0; /* a str slot read as a plain value */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    b[64] = 1; /* an int read as a str */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    memcpy(b + 40, "\xff\xfe", 2); /* not UTF-8 */
    cr_assert_eq(attach_raw(b, len), MPROC_EPROTOCOL);
    len = good_layout(b);
    b[65] = 3; /* None whatever the format: Python's rule */
    cr_assert_eq(attach_raw(b, len), 0);
}

/* ---- the reaper --------------------------------------------------------- */

/* Whether line (of /proc/PID/maps) maps /dev/shm/<name>, unlinked or not. */
static bool
maps_name(const char *line, const char *name)
{
    char want[300];
    const char *at;

    snprintf(want, sizeof(want), "/dev/shm/%s", name);
    at = strstr(line, want);
    return at != NULL && (at[strlen(want)] == '\n' || at[strlen(want)] == ' ');
}

/* Whether process `pid` (text) maps /dev/shm/<name>. */
static bool
pid_maps(const char *pid, const char *name)
{
    char path[300], line[1024];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/maps", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = maps_name(line, name);
    fclose(f);
    return found;
}

static bool
is_watcher(const char *pid)
{
    char path[300], comm[64] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/comm", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    (void)fgets(comm, sizeof(comm), f);
    fclose(f);
    return strcmp(comm, "mproc-shm-reap\n") == 0;
}

/* A process that maps /dev/shm/<name> (a watcher, when watcher_only; the
 * watcher inherits the mappings of the process that started it), or 0. */
static pid_t
mapper_of(const char *name, bool watcher_only)
{
    struct dirent *e;
    pid_t found = 0;
    DIR *d = opendir("/proc");

    cr_assert_not_null(d);
    while (found == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        if ((!watcher_only || is_watcher(e->d_name)) &&
            pid_maps(e->d_name, name))
            found = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return found;
}

static bool
anyone_maps(const char *name)
{
    return mapper_of(name, false) != 0;
}

#define REAP_NAMES 4

/* The killed group's leader: a kept segment first (mapped when the
 * watcher starts, so the watcher can be seen), then segments of every
 * kind, one from a forked grandchild; report the names, then block. */
static _Noreturn void
doomed_group(int report)
{
    char names[REAP_NAMES + 1][64];
    mproc_shm *kept = NULL, *s = NULL;
    mproc_shlist *l = NULL;
    int grandchild[2];
    pid_t pid;

    if (setpgid(0, 0) < 0 || pipe(grandchild) < 0)
        _exit(10);
    unique_name(names[0], sizeof(names[0]));
    if (mproc_shm_new(&kept, names[0], true, 10,
                      &(mproc_shm_opts){ .keep = true }) != 0)
        _exit(11);
    unique_name(names[1], sizeof(names[1]));
    /* A second create of names[1] fails: the watcher must still reap the
     * first. */
    if (mproc_shm_new(&s, names[1], true, 10, NULL) != 0 ||
        mproc_shm_new(&s, names[1], true, 10, NULL) != -EEXIST ||
        mproc_shm_new(&s, NULL, true, 10, NULL) != 0)
        _exit(12);
    snprintf(names[2], sizeof(names[2]), "%s", mproc_shm_name(s));
    if (mproc_shlist_new(&l, NULL, NULL, NULL) != 0)
        _exit(13);
    snprintf(names[3], sizeof(names[3]), "%s",
             mproc_shm_name(mproc_shlist_shm(l)));
    pid = fork();
    if (pid == 0) {
        if (mproc_shm_new(&s, NULL, true, 10, NULL) != 0)
            _exit(14);
        if (write(grandchild[1], mproc_shm_name(s), 12) != 12)
            _exit(15);
        th_slow_block_forever();
    }
    if (pid < 0 || read(grandchild[0], names[4], 12) != 12)
        _exit(16);
    names[4][12] = '\0';
    if (write(report, names, sizeof(names)) != sizeof(names))
        _exit(17);
    th_slow_block_forever();
    _exit(18);
}

Test(shm_reap, a_killed_process_group_leaves_nothing_but_kept_segments)
{
    char names[REAP_NAMES + 1][64];
    int report[2], status;
    pid_t pid;

    cr_assert_eq(pipe(report), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(report[0]);
        doomed_group(report[1]);
    }
    close(report[1]);
    cr_assert_eq(read(report[0], names, sizeof(names)), sizeof(names));
    close(report[0]);
    for (int i = 0; i <= REAP_NAMES; i++)
        cr_assert(shm_exists(names[i]), "%s", names[i]);
    cr_assert(anyone_maps(names[0]));

    cr_assert_eq(kill(-pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    for (int i = 1; i <= REAP_NAMES; i++)
        cr_assert(wait_until_not(shm_exists, names[i], 10.0),
                  "%s still in /dev/shm", names[i]);
    /* The watcher has ended too: nothing maps the kept segment now. */
    cr_assert(wait_until_not(anyone_maps, names[0], 10.0),
              "the watcher outlived its tree");
    cr_assert(shm_exists(names[0]), "a kept segment was removed");
    {
        char path[300];

        snprintf(path, sizeof(path), "/dev/shm/%s", names[0]);
        cr_assert_eq(unlink(path), 0);
    }
}

/* A group that unlinks what it made before it is killed: the watcher
 * forgets the name, so a new segment under it, made outside the tree
 * afterwards, is not removed when the watcher ends. */
Test(shm_reap, an_unlinked_name_is_forgotten)
{
    char name[64], marker[64];
    int report[2], status;
    mproc_shm *later = NULL, *seen = NULL;
    pid_t pid;

    unique_name(name, sizeof(name));
    unique_name(marker, sizeof(marker));
    cr_assert_eq(pipe(report), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        mproc_shm *kept = NULL, *s = NULL;

        close(report[0]);
        /* The kept marker is mapped when the watcher starts: it shows
         * when the watcher has ended. */
        if (setpgid(0, 0) < 0 ||
            mproc_shm_new(&kept, marker, true, 8,
                          &(mproc_shm_opts){ .keep = true }) != 0 ||
            mproc_shm_new(&s, name, true, 8, NULL) != 0 ||
            mproc_shm_unlink(s) != 0 || write(report[1], "k", 1) != 1)
            _exit(1);
        th_slow_block_forever();
    }
    close(report[1]);
    cr_assert_eq(read(report[0], &status, 1), 1);
    close(report[0]);
    /* A keep segment: the test process starts no watcher of its own. */
    cr_assert_eq(
        mproc_shm_new(&later, name, true, 8, &(mproc_shm_opts){ .keep = true }),
        0);
    cr_assert_eq(kill(-pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(wait_until_not(anyone_maps, marker, 10.0),
              "the watcher outlived its tree");
    cr_assert(shm_exists(name), "an unlinked name was reaped");
    destroy(later);
    cr_assert_eq(mproc_shm_new(&seen, marker, false, 0, NULL), 0);
    destroy(seen);
}

/* The signals a process ignores, from /proc/<pid>/status. */
static unsigned long long
ignored_signals(pid_t pid)
{
    char path[64], line[256];
    unsigned long long mask = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "SigIgn: %llx", &mask) == 1)
            break;
    fclose(f);
    return mask;
}

/* Whether process `pid` (text) runs: not gone, not a zombie. */
static bool
is_running(const char *pid)
{
    char path[64], stat[512];
    const char *paren;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    paren = strrchr(stat, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] != 'Z' &&
           paren[2] != 'X';
}

/* The group for the next test: a kept marker, segment A (starts the
 * watcher), report; wait for the go; segment B, report; block. */
static _Noreturn void
group_outliving_its_watcher(const char *marker, const char *a, const char *b,
                            int report, int go)
{
    mproc_shm *kept = NULL, *s = NULL;
    char c;

    if (setpgid(0, 0) < 0 ||
        mproc_shm_new(&kept, marker, true, 8,
                      &(mproc_shm_opts){ .keep = true }) != 0 ||
        mproc_shm_new(&s, a, true, 8, NULL) != 0 || write(report, "a", 1) != 1)
        _exit(1);
    if (read(go, &c, 1) != 1 || mproc_shm_new(&s, b, true, 8, NULL) != 0 ||
        write(report, "b", 1) != 1)
        _exit(2);
    th_slow_block_forever();
    _exit(3);
}

Test(shm_reap, the_watcher_leaves_the_group_ignores_signals_and_is_replaced)
{
    char marker[64], a[64], b[64], pidtext[16], c;
    int report[2], go[2], status;
    unsigned long long mask;
    pid_t pid, watcher;

    unique_name(marker, sizeof(marker));
    unique_name(a, sizeof(a));
    unique_name(b, sizeof(b));
    cr_assert_eq(pipe(report), 0);
    cr_assert_eq(pipe(go), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(report[0]);
        close(go[1]);
        group_outliving_its_watcher(marker, a, b, report[1], go[0]);
    }
    close(report[1]);
    close(go[0]);
    cr_assert_eq(read(report[0], &c, 1), 1);

    watcher = mapper_of(marker, true);
    cr_assert_gt(watcher, 0, "no watcher found");
    cr_assert_neq(getpgid(watcher), pid, "the watcher is in the group");
    cr_assert_neq(getsid(watcher), getsid(pid),
                  "the watcher is in the session");
    mask = ignored_signals(watcher);
    cr_assert(mask & (1ULL << (SIGINT - 1)));
    cr_assert(mask & (1ULL << (SIGTERM - 1)));
    cr_assert(mask & (1ULL << (SIGHUP - 1)));

    /* Killed from outside: its registrations are lost (A stays), and the
     * group's next create starts a new watcher, which reaps B. */
    cr_assert_eq(kill(watcher, SIGKILL), 0);
    snprintf(pidtext, sizeof(pidtext), "%d", (int)watcher);
    cr_assert(wait_until_not(is_running, pidtext, 10.0));
    cr_assert_eq(write(go[1], "g", 1), 1);
    cr_assert_eq(read(report[0], &c, 1), 1);
    cr_assert_eq(c, 'b');
    close(report[0]);
    close(go[1]);
    cr_assert_eq(kill(-pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(wait_until_not(shm_exists, b, 10.0), "%s was not reaped", b);
    cr_assert(wait_until_not(anyone_maps, marker, 10.0));
    cr_assert(shm_exists(a));
    for (int i = 0; i < 2; i++) {
        char path[300];

        snprintf(path, sizeof(path), "/dev/shm/%s", i == 0 ? a : marker);
        cr_assert_eq(unlink(path), 0);
    }
}

/* ==== Value and Array ===================================================== */

TestSuite(sharedctypes, .init = th_begin, .fini = th_end, .timeout = 60);

static const enum mproc_start_method methods[] = { MPROC_START_FORK,
                                                   MPROC_START_SPAWN,
                                                   MPROC_START_FORKSERVER };
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* ---- types --------------------------------------------------------------- */

Test(sharedctypes, typecodes_and_c_names_name_the_same_types)
{
    static const struct {
        const char *code, *name;
        enum mproc_ctype type;
        size_t size;
    } cases[] = {
        { "c", "char", MPROC_CTYPE_CHAR, sizeof(char) },
        { "b", "signed char", MPROC_CTYPE_SCHAR, 1 },
        { "B", "unsigned char", MPROC_CTYPE_UCHAR, 1 },
        { "h", "short", MPROC_CTYPE_SHORT, sizeof(short) },
        { "H", "unsigned short", MPROC_CTYPE_USHORT, sizeof(short) },
        { "i", "int", MPROC_CTYPE_INT, sizeof(int) },
        { "I", "unsigned int", MPROC_CTYPE_UINT, sizeof(int) },
        { "l", "long", MPROC_CTYPE_LONG, sizeof(long) },
        { "L", "unsigned long", MPROC_CTYPE_ULONG, sizeof(long) },
        { "q", "long long", MPROC_CTYPE_LONGLONG, sizeof(long long) },
        { "Q", "unsigned long long", MPROC_CTYPE_ULONGLONG, 8 },
        { "f", "float", MPROC_CTYPE_FLOAT, sizeof(float) },
        { "d", "double", MPROC_CTYPE_DOUBLE, sizeof(double) },
        { "u", "wchar_t", MPROC_CTYPE_WCHAR, sizeof(wchar_t) },
        { "?", "bool", MPROC_CTYPE_BOOL, sizeof(bool) },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum mproc_ctype a = MPROC_CTYPE_INVALID, b = MPROC_CTYPE_INVALID;

        cr_assert_eq(mproc_ctype_parse(cases[i].code, &a), 0, "%s",
                     cases[i].code);
        cr_assert_eq(mproc_ctype_parse(cases[i].name, &b), 0, "%s",
                     cases[i].name);
        cr_assert_eq(a, cases[i].type, "%s", cases[i].code);
        cr_assert_eq(b, cases[i].type, "%s", cases[i].name);
        cr_assert_eq(mproc_ctype_size(a), cases[i].size, "%s", cases[i].name);
    }
}

Test(sharedctypes, fixed_width_names_and_unknown_names)
{
    enum mproc_ctype t;

    cr_assert_eq(mproc_ctype_parse("uint16_t", &t), 0);
    cr_assert_eq(t, MPROC_CTYPE_UINT16);
    cr_assert_eq(mproc_ctype_parse("int64_t", &t), 0);
    cr_assert_eq(mproc_ctype_size(t), 8);
    cr_assert_eq(mproc_ctype_parse("size_t", &t), 0);
    cr_assert_eq(mproc_ctype_size(t), sizeof(size_t));
    cr_assert_eq(mproc_ctype_parse("x", &t), MPROC_EINVAL);
    cr_assert_eq(mproc_ctype_parse("", &t), MPROC_EINVAL);
    cr_assert_eq(mproc_ctype_parse("integer", &t), MPROC_EINVAL);
    cr_assert_eq(mproc_ctype_parse(NULL, &t), MPROC_EINVAL);
    cr_assert_eq(mproc_ctype_parse("i", NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_ctype_size(MPROC_CTYPE_STRUCT), 0);
    cr_assert_eq(mproc_ctype_size(MPROC_CTYPE_INVALID), 0);
    cr_assert_eq(mproc_ctype_size((enum mproc_ctype)999), 0);
}

/* ---- Value --------------------------------------------------------------- */

Test(sharedctypes, value_starts_at_zero_guarded_by_an_rlock)
{
    mproc_value *v;
    mproc_lock *lock;
    mproc_rlock *rlock;
    double d = 1.0;

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_DOUBLE, NULL), 0);
    cr_assert_eq(mproc_value_type(v), MPROC_CTYPE_DOUBLE);
    cr_assert_eq(mproc_value_size(v), sizeof(double));
    cr_assert_eq(mproc_value_get(v, &d), 0);
    cr_assert_eq(d, 0.0);
    d = 2.5;
    cr_assert_eq(mproc_value_set(v, &d), 0);
    cr_assert_eq(*(double *)mproc_value_get_obj(v), 2.5);
    cr_assert_eq((uintptr_t)mproc_value_get_obj(v) % alignof(double), 0);
    cr_assert_eq(mproc_value_get_lock(v, &lock, &rlock), 0);
    cr_assert_null(lock);
    cr_assert_not_null(rlock);
    /* Python's default lock is an RLock: the owner may take it again, and
     * get/set from the owner go through. */
    cr_assert_eq(mproc_value_acquire(v, 0), 0);
    cr_assert_eq(mproc_value_acquire(v, 0), 0);
    cr_assert(mproc_rlock_is_owned(rlock));
    d = -1.0;
    cr_assert_eq(mproc_value_set(v, &d), 0);
    cr_assert_eq(mproc_value_release(v), 0);
    cr_assert_eq(mproc_value_release(v), 0);
    cr_assert_eq(mproc_value_release(v), MPROC_ESTATE);
    cr_assert_eq(*(double *)mproc_value_get_obj(v), -1.0);
    mproc_value_free(v);
}

Test(sharedctypes, raw_value_has_no_lock)
{
    mproc_value *v;
    mproc_lock *lock;
    mproc_rlock *rlock;
    int x = 41, y = 0;

    cr_assert_eq(
        mproc_value_new(&v, MPROC_CTYPE_INT,
                        &(mproc_value_opts){ .raw = true, .init = &x }),
        0);
    cr_assert_eq(mproc_value_get(v, &y), 0);
    cr_assert_eq(y, 41);
    cr_assert_eq(mproc_value_acquire(v, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_value_release(v), MPROC_EINVAL);
    cr_assert_eq(mproc_value_get_lock(v, &lock, &rlock), MPROC_EINVAL);
    mproc_value_free(v);
}

Test(sharedctypes, value_guarded_by_the_callers_lock)
{
    mproc_lock *mine, *its;
    mproc_rlock *none;
    mproc_value *v;
    int x = 7;

    cr_assert_eq(mproc_lock_new(&mine), 0);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INT,
                                 &(mproc_value_opts){ .lock = mine }),
                 0);
    cr_assert_eq(mproc_value_get_lock(v, &its, &none), 0);
    cr_assert_not_null(its);
    cr_assert_null(none);
    /* The same lock: held through the caller's handle, the Value's acquire
     * times out; released, it goes through. */
    cr_assert_eq(mproc_lock_acquire(mine, 0), 0);
    cr_assert(mproc_lock_locked(its));
    cr_assert_eq(mproc_value_acquire(v, 0), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_value_acquire(v, 0.05), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_lock_release(mine), 0);
    cr_assert_eq(mproc_value_set(v, &x), 0);
    cr_assert(!mproc_lock_locked(mine));
    /* The Value keeps its own handle: the caller may free its own. */
    mproc_lock_free(mine);
    cr_assert_eq(mproc_value_acquire(v, 0), 0);
    cr_assert_eq(mproc_value_release(v), 0);
    mproc_value_free(v);
}

Test(sharedctypes, value_guarded_by_the_callers_rlock)
{
    mproc_rlock *mine, *its;
    mproc_lock *none;
    mproc_value *v;

    cr_assert_eq(mproc_rlock_new(&mine), 0);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_LONG,
                                 &(mproc_value_opts){ .rlock = mine }),
                 0);
    cr_assert_eq(mproc_value_get_lock(v, &none, &its), 0);
    cr_assert_null(none);
    cr_assert_eq(mproc_rlock_acquire(mine, 0), 0);
    cr_assert(mproc_rlock_is_owned(its));
    cr_assert_eq(mproc_rlock_release(mine), 0);
    mproc_rlock_free(mine);
    mproc_value_free(v);
}

struct point {
    double x, y;
    int32_t tag;
};

Test(sharedctypes, value_of_a_struct_keeps_size_alignment_and_contents)
{
    struct point p = { 1.5, -2.5, 9 }, q = { 0 };
    mproc_value *v;

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_STRUCT,
                                 &(mproc_value_opts){
                                     .size = sizeof(p),
                                     .align = 64,
                                     .init = &p,
                                 }),
                 0);
    cr_assert_eq(mproc_value_size(v), sizeof(p));
    cr_assert_eq((uintptr_t)mproc_value_get_obj(v) % 64, 0);
    cr_assert_eq(mproc_value_get(v, &q), 0);
    cr_assert_eq(memcmp(&p, &q, sizeof(p)), 0);
    ((struct point *)mproc_value_get_obj(v))->tag = 10;
    cr_assert_eq(mproc_value_get(v, &q), 0);
    cr_assert_eq(q.tag, 10);
    mproc_value_free(v);
}

Test(sharedctypes, bad_values_are_refused)
{
    mproc_value *v = (mproc_value *)1;
    mproc_lock *l;
    mproc_rlock *r;
    int x = 0;

    cr_assert_eq(mproc_lock_new(&l), 0);
    cr_assert_eq(mproc_rlock_new(&r), 0);
    cr_assert_eq(mproc_value_new(NULL, MPROC_CTYPE_INT, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INVALID, NULL), MPROC_EINVAL);
    cr_assert_null(v);
    cr_assert_eq(mproc_value_new(&v, (enum mproc_ctype)999, NULL),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_STRUCT, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_STRUCT,
                                 &(mproc_value_opts){ .size = 8, .align = 3 }),
                 MPROC_EINVAL);
    cr_assert_eq(
        mproc_value_new(&v, MPROC_CTYPE_STRUCT,
                        &(mproc_value_opts){ .size = 8, .align = 8192 }),
        MPROC_EINVAL);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INT,
                                 &(mproc_value_opts){ .raw = true, .lock = l }),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INT,
                                 &(mproc_value_opts){ .lock = l, .rlock = r }),
                 MPROC_EINVAL);
    cr_assert_null(v);
    cr_assert_eq(mproc_value_get(NULL, &x), MPROC_EINVAL);
    cr_assert_eq(mproc_value_set(NULL, &x), MPROC_EINVAL);
    cr_assert_eq(mproc_value_acquire(NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_value_release(NULL), MPROC_EINVAL);
    cr_assert_null(mproc_value_get_obj(NULL));
    cr_assert_eq(mproc_value_size(NULL), 0);
    cr_assert_eq(mproc_value_type(NULL), MPROC_CTYPE_INVALID);
    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INT, NULL), 0);
    cr_assert_eq(mproc_value_get(v, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_value_set(v, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_value_acquire(v, 0.0 / 0.0), MPROC_EINVAL);
    cr_assert_eq(mproc_value_get_lock(v, NULL, &r), MPROC_EINVAL);
    mproc_value_free(v);
    mproc_value_free(NULL);
    mproc_lock_free(l);
    mproc_rlock_free(r);
}

/* ---- atomics ------------------------------------------------------------- */

Test(sharedctypes, add_wraps_at_the_width_of_the_type)
{
    mproc_value *v;
    int64_t old;
    int8_t i8 = 127;
    uint16_t u16 = 65535;

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INT8,
                                 &(mproc_value_opts){ .init = &i8 }),
                 0);
    cr_assert_eq(mproc_value_add(v, 1, &old), 0);
    cr_assert_eq(old, 127);
    cr_assert_eq(*(int8_t *)mproc_value_get_obj(v), -128);
    cr_assert_eq(mproc_value_add(v, -1, &old), 0);
    cr_assert_eq(old, -128);
    mproc_value_free(v);

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_UINT16,
                                 &(mproc_value_opts){ .init = &u16 }),
                 0);
    cr_assert_eq(mproc_value_add(v, 2, &old), 0);
    cr_assert_eq(old, 65535);
    cr_assert_eq(*(uint16_t *)mproc_value_get_obj(v), 1);
    cr_assert_eq(mproc_value_add(v, 5, NULL), 0);
    cr_assert_eq(*(uint16_t *)mproc_value_get_obj(v), 6);
    mproc_value_free(v);
}

Test(sharedctypes, compare_exchange_swaps_only_on_a_match)
{
    mproc_value *v;
    int64_t expected = 5;
    bool swapped = true;

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_LONGLONG, NULL), 0);
    cr_assert_eq(mproc_value_compare_exchange(v, &expected, 9, &swapped), 0);
    cr_assert(!swapped);
    cr_assert_eq(expected, 0);
    cr_assert_eq(mproc_value_compare_exchange(v, &expected, -9, &swapped), 0);
    cr_assert(swapped);
    cr_assert_eq(expected, 0);
    cr_assert_eq(*(long long *)mproc_value_get_obj(v), -9);
    mproc_value_free(v);
}

Test(sharedctypes, compare_exchange_of_a_value_out_of_range_never_matches)
{
    mproc_value *v;
    uint8_t init = 44; /* 300 truncated to 8 bits */
    int64_t expected = 300;
    bool swapped = true;

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_UINT8,
                                 &(mproc_value_opts){ .init = &init }),
                 0);
    cr_assert_eq(mproc_value_compare_exchange(v, &expected, 1, &swapped), 0);
    cr_assert(!swapped);
    cr_assert_eq(expected, 44);
    cr_assert_eq(*(uint8_t *)mproc_value_get_obj(v), 44);
    mproc_value_free(v);
}

Test(sharedctypes, atomics_refuse_types_that_are_not_integers)
{
    static const enum mproc_ctype types[] = {
        MPROC_CTYPE_CHAR,  MPROC_CTYPE_FLOAT, MPROC_CTYPE_DOUBLE,
        MPROC_CTYPE_WCHAR, MPROC_CTYPE_BOOL,
    };
    int64_t expected = 0;
    bool swapped;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        mproc_value *v;

        cr_assert_eq(mproc_value_new(&v, types[i], NULL), 0);
        cr_assert_eq(mproc_value_add(v, 1, NULL), MPROC_EINVAL);
        cr_assert_eq(mproc_value_compare_exchange(v, &expected, 1, &swapped),
                     MPROC_EINVAL);
        mproc_value_free(v);
    }
    cr_assert_eq(mproc_value_add(NULL, 1, NULL), MPROC_EINVAL);
}

/* ---- across processes ---------------------------------------------------- */

#define INCREMENTS 20000

/* Increments under the lock, and atomic adds, of the Values whose tokens
 * are the argument bytes. */
static int
count_in_child(const void *arg, size_t len)
{
    mproc_token t[2];
    mproc_value *locked, *atomic;
    int rc = 0;

    if (len != sizeof(t))
        return 100;
    memcpy(t, arg, sizeof(t));
    if (mproc_value_from_token(&locked, &t[0]) < 0 ||
        mproc_value_from_token(&atomic, &t[1]) < 0)
        return 101;
    for (int i = 0; i < INCREMENTS && rc == 0; i++) {
        rc = mproc_value_acquire(locked, MPROC_FOREVER);
        (*(long *)mproc_value_get_obj(locked))++;
        if (rc == 0)
            rc = mproc_value_release(locked);
        if (rc == 0)
            rc = mproc_value_add(atomic, 1, NULL);
    }
    mproc_value_free(locked);
    mproc_value_free(atomic);
    return rc == 0 ? 0 : 102;
}

Test(sharedctypes, counts_from_children_of_every_method_add_up)
{
    for (size_t m = 0; m < N_METHODS; m++) {
        mproc_value *locked, *atomic;
        mproc_process *kids[2];
        mproc_token t[2];
        mproc_process_opts o = { .start_method = methods[m] };

        cr_assert_eq(mproc_value_new(&locked, MPROC_CTYPE_LONG, NULL), 0);
        cr_assert_eq(mproc_value_new(&atomic, MPROC_CTYPE_INT64,
                                     &(mproc_value_opts){ .raw = true }),
                     0);
        cr_assert_eq(mproc_value_token(locked, &t[0]), 0);
        cr_assert_eq(mproc_value_token(atomic, &t[1]), 0);
        for (int k = 0; k < 2; k++)
            kids[k] = th_start(count_in_child, t, sizeof(t), &o);
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(mproc_process_join(kids[k], MPROC_FOREVER), 0);
            cr_assert_eq(mproc_process_exitcode(kids[k]), 0, "method %d",
                         (int)methods[m]);
            mproc_process_free(kids[k]);
        }
        cr_assert_eq(*(long *)mproc_value_get_obj(locked), 2 * INCREMENTS);
        cr_assert_eq(*(int64_t *)mproc_value_get_obj(atomic), 2 * INCREMENTS);
        mproc_value_free(locked);
        mproc_value_free(atomic);
    }
}

static mproc_array *inherited;

/* A forked child writes through the handle it inherited. */
static int
write_inherited(const void *arg, size_t len)
{
    int one = 1;

    (void)arg;
    (void)len;
    if (mproc_array_set(inherited, 3, 1, &one) < 0)
        return 1;
    mproc_array_free(inherited); /* frees the child's copy only */
    return 0;
}

Test(sharedctypes, a_forked_child_uses_and_frees_its_inherited_handle)
{
    int got[5];

    cr_assert_eq(mproc_array_new(&inherited, MPROC_CTYPE_INT, 5, NULL), 0);
    cr_assert_eq(th_run(write_inherited, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_array_get(inherited, 0, 5, got), 0);
    cr_assert_eq(got[3], 1);
    cr_assert_eq(got[0] + got[1] + got[2] + got[4], 0);
    mproc_array_free(inherited);
}

static mproc_value *kept, *dropped;

/* Touch both inherited Values and end without freeing either. */
static int
exit_without_freeing(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return mproc_value_add(kept, 1, NULL) == 0 &&
                   mproc_value_add(dropped, 1, NULL) == 0
               ? 0
               : 1;
}

Test(sharedctypes, a_child_ending_with_inherited_handles_leaves_no_reference)
{
    mproc_value *again = (mproc_value *)1;
    mproc_token t;

    cr_assert_eq(mproc_value_new(&kept, MPROC_CTYPE_INT, NULL), 0);
    cr_assert_eq(mproc_value_new(&dropped, MPROC_CTYPE_INT, NULL), 0);
    cr_assert_eq(mproc_value_token(dropped, &t), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(th_run(exit_without_freeing, NULL, 0, NULL), 0);
    cr_assert_eq(*(int *)mproc_value_get_obj(dropped), 3);
    /* The parent's handle was the last reference: the Value is gone (its
     * token opens nothing) though the children never freed their copies.
     * `kept` keeps the memory mapped, so the token is judged. */
    mproc_value_free(dropped);
    cr_assert_eq(mproc_value_from_token(&again, &t), MPROC_EINVAL);
    cr_assert_null(again);
    mproc_value_free(kept);
}

/* ---- Array --------------------------------------------------------------- */

Test(sharedctypes, array_copies_ranges_in_and_out)
{
    const double init[4] = { 1, 2, 3, 4 };
    double out[4] = { 0 }, two[2] = { -1, -2 };
    mproc_array *a;

    cr_assert_eq(mproc_array_new(&a, MPROC_CTYPE_DOUBLE, 4,
                                 &(mproc_value_opts){ .init = init }),
                 0);
    cr_assert_eq(mproc_array_len(a), 4);
    cr_assert_eq(mproc_array_itemsize(a), sizeof(double));
    cr_assert_eq(mproc_array_type(a), MPROC_CTYPE_DOUBLE);
    cr_assert_eq(mproc_array_set(a, 1, 2, two), 0);
    cr_assert_eq(mproc_array_get(a, 0, 4, out), 0);
    cr_assert_eq(out[0], 1);
    cr_assert_eq(out[1], -1);
    cr_assert_eq(out[2], -2);
    cr_assert_eq(out[3], 4);
    cr_assert_eq(((double *)mproc_array_get_obj(a))[3], 4);
    cr_assert_eq(mproc_array_get(a, 4, 0, out), 0);
    cr_assert_eq(mproc_array_get(a, 3, 2, out), MPROC_EINVAL);
    cr_assert_eq(mproc_array_get(a, 5, 0, out), MPROC_EINVAL);
    cr_assert_eq(mproc_array_set(a, SIZE_MAX, 2, two), MPROC_EINVAL);
    cr_assert_eq(mproc_array_get(a, 0, 1, NULL), MPROC_EINVAL);
    mproc_array_free(a);
}

Test(sharedctypes, empty_and_raw_arrays)
{
    mproc_array *a;
    mproc_lock *l;
    mproc_rlock *r;

    cr_assert_eq(mproc_array_new(&a, MPROC_CTYPE_INT, 0, NULL), 0);
    cr_assert_eq(mproc_array_len(a), 0);
    cr_assert_not_null(mproc_array_get_obj(a));
    mproc_array_free(a);
    cr_assert_eq(mproc_array_new(&a, MPROC_CTYPE_UCHAR, 100000,
                                 &(mproc_value_opts){ .raw = true }),
                 0);
    cr_assert_eq(mproc_array_get_lock(a, &l, &r), MPROC_EINVAL);
    cr_assert_eq(mproc_array_acquire(a, 0), MPROC_EINVAL);
    memset(mproc_array_get_obj(a), 0xab, 100000);
    mproc_array_free(a);
    cr_assert_eq(mproc_array_new(&a, MPROC_CTYPE_DOUBLE, SIZE_MAX / 4, NULL),
                 MPROC_ENOMEM);
    cr_assert_eq(mproc_array_new(NULL, MPROC_CTYPE_INT, 1, NULL), MPROC_EINVAL);
}

/* Fill the Array a token names with its index, from a child. */
static int
fill_from_token(const void *arg, size_t len)
{
    mproc_token t;
    mproc_array *a;
    int rc = 0;

    if (len != sizeof(t))
        return 100;
    memcpy(&t, arg, sizeof(t));
    if (mproc_array_from_token(&a, &t) < 0)
        return 101;
    for (size_t i = 0; i < mproc_array_len(a) && rc == 0; i++) {
        int v = (int)i;

        rc = mproc_array_set(a, i, 1, &v);
    }
    mproc_array_free(a);
    return rc == 0 ? 0 : 102;
}

Test(sharedctypes, arrays_travel_by_token_to_children_of_every_method)
{
    for (size_t m = 0; m < N_METHODS; m++) {
        mproc_array *a;
        mproc_token t;
        int got[64];

        cr_assert_eq(mproc_array_new(&a, MPROC_CTYPE_INT, 64, NULL), 0);
        cr_assert_eq(mproc_array_token(a, &t), 0);
        cr_assert_eq(
            th_run(fill_from_token, &t, sizeof(t),
                   &(mproc_process_opts){ .start_method = methods[m] }),
            0);
        cr_assert_eq(mproc_array_get(a, 0, 64, got), 0);
        for (int i = 0; i < 64; i++)
            cr_assert_eq(got[i], i, "method %d, item %d", (int)methods[m], i);
        mproc_array_free(a);
    }
}

Test(sharedctypes, tokens_open_only_their_own_kind)
{
    mproc_value *v, *v2 = (mproc_value *)1;
    mproc_array *a, *a2 = (mproc_array *)1;
    mproc_lock *l;
    mproc_token tv, ta, tl;

    cr_assert_eq(mproc_value_new(&v, MPROC_CTYPE_INT, NULL), 0);
    cr_assert_eq(mproc_array_new(&a, MPROC_CTYPE_INT, 3, NULL), 0);
    cr_assert_eq(mproc_lock_new(&l), 0);
    cr_assert_eq(mproc_value_token(v, &tv), 0);
    cr_assert_eq(mproc_array_token(a, &ta), 0);
    cr_assert_eq(mproc_lock_token(l, &tl), 0);
    cr_assert_eq(mproc_array_from_token(&a2, &tv), MPROC_EINVAL);
    cr_assert_null(a2);
    cr_assert_eq(mproc_value_from_token(&v2, &ta), MPROC_EINVAL);
    cr_assert_null(v2);
    cr_assert_eq(mproc_value_from_token(&v2, &tl), MPROC_EINVAL);
    cr_assert_eq(mproc_value_from_token(&v2, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_value_from_token(NULL, &tv), MPROC_EINVAL);
    cr_assert_eq(mproc_value_token(NULL, &tv), MPROC_EINVAL);
    /* A token of a Value that is gone opens nothing. */
    mproc_value_free(v);
    cr_assert_eq(mproc_value_from_token(&v2, &tv), MPROC_EINVAL);
    /* Opening by token shares the object and its lock. */
    cr_assert_eq(mproc_array_from_token(&a2, &ta), 0);
    cr_assert_eq(mproc_array_acquire(a, 0), 0);
    cr_assert_eq(mproc_array_acquire(a2, 0), 0); /* same thread: an RLock */
    cr_assert_eq(mproc_array_release(a2), 0);
    cr_assert_eq(mproc_array_release(a), 0);
    ((int *)mproc_array_get_obj(a))[2] = 77;
    cr_assert_eq(((int *)mproc_array_get_obj(a2))[2], 77);
    mproc_array_free(a2);
    mproc_array_free(a);
    mproc_lock_free(l);
}
