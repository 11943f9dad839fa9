/*
 * tests/tsan/value.c - mproc_obj shared between threads, for
 * ThreadSanitizer (a plain program printing "N passed, N failed").
 *
 * Four threads take and drop references to one nested object while they
 * read it (repr, ==, hash, dict lookups, copy); the last reference is
 * dropped by whichever thread ends last, so the free races the readers'
 * final decrements exactly as the atomic counts must allow.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <mproc.h>

#define THREADS 4
#define ROUNDS 2000

static atomic_int failed;
static atomic_int passed;

static void
check(int ok, const char *what)
{
    if (ok) {
        atomic_fetch_add(&passed, 1);
        return;
    }
    atomic_fetch_add(&failed, 1);
    fprintf(stderr, "FAIL: %s\n", what);
}

static void *
reader(void *arg)
{
    mproc_obj *shared = arg, *value, *copy;
    mproc_buf text;
    uint64_t hash;

    for (int i = 0; i < ROUNDS; i++) {
        mproc_obj *mine = mproc_obj_ref(shared);

        if (i % 100 == 0) {
            check(mproc_obj_repr(mine, &text) == 0 &&
                      strcmp(text.data, "{'k': [1, 2.5, 'x', (None, True)], "
                                        "'f': frozenset({1, 2})}") == 0,
                  "repr");
            mproc_buf_free(&text);
            check(mproc_obj_copy(&copy, mine) == 0 &&
                      mproc_obj_equal(copy, mine),
                  "copy");
            mproc_obj_free(copy);
        }
        check(mproc_obj_dict_get_str(mine, "f", &value) == 0 &&
                  mproc_obj_hash(value, &hash) == 0,
              "lookup and hash");
        mproc_obj_free(mine);
    }
    mproc_obj_free(shared); /* this thread's reference: the last one frees */
    return NULL;
}

/* {'k': [1, 2.5, 'x', (None, True)], 'f': frozenset({1, 2})} */
static mproc_obj *
make_shared(void)
{
    mproc_obj *items[2], *fs, *shared = NULL;

    mproc_obj_int(&items[0], 1);
    mproc_obj_int(&items[1], 2);
    check(mproc_obj_frozenset(&fs, items, 2) == 0, "frozenset");
    check(mproc_obj_build(&shared, "{s:[i d s (n b)] s:O}", "k", 1, 2.5, "x", 1,
                          "f", fs) == 0,
          "build");
    mproc_obj_free(items[0]);
    mproc_obj_free(items[1]);
    mproc_obj_free(fs);
    return shared;
}

int
main(void)
{
    pthread_t threads[THREADS];
    mproc_obj *shared = make_shared();

    for (int i = 0; i < THREADS; i++) {
        mproc_obj_ref(shared);
        pthread_create(&threads[i], NULL, reader, shared);
    }
    mproc_obj_free(shared); /* the threads hold it now */
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    printf("%d passed, %d failed\n", atomic_load(&passed),
           atomic_load(&failed));
    return atomic_load(&failed) != 0;
}
