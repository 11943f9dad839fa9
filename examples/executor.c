/*
 * examples/executor.c - the ProcessPoolExecutor example of Python's
 * concurrent.futures documentation, then futures as they complete.
 *
 * C twin of:
 *
 *     PRIMES = [112272535095293, 112582705942171, 112272535095293,
 *               115280095190773, 115797848077099, 1099726899285419]
 *
 *     def is_prime(n):
 *         if n < 2:
 *             return False
 *         if n == 2:
 *             return True
 *         if n % 2 == 0:
 *             return False
 *         sqrt_n = int(math.floor(math.sqrt(n)))
 *         for i in range(3, sqrt_n + 1, 2):
 *             if n % i == 0:
 *                 return False
 *         return True
 *
 *     with concurrent.futures.ProcessPoolExecutor() as executor:
 *         for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
 *             print('%d is prime: %s' % (number, prime))
 *
 * executor.map gives the results in input order; then the same numbers are
 * submitted one by one and taken with as_completed, in the order they
 * finish.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

#define N_PRIMES 6

static const int64_t primes[N_PRIMES] = { 112272535095293, 112582705942171,
                                          112272535095293, 115280095190773,
                                          115797848077099, 1099726899285419 };

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "executor: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

static bool
is_prime(int64_t n)
{
    int64_t sqrt_n;

    if (n < 2)
        return false;
    if (n == 2)
        return true;
    if (n % 2 == 0)
        return false;
    sqrt_n = (int64_t)floor(sqrt((double)n));
    for (int64_t i = 3; i <= sqrt_n; i += 2)
        if (n % i == 0)
            return false;
    return true;
}

/* executor.map's function: an int64 in, a bool (as an int64) out. */
static int
is_prime_item(const void *in, void *out)
{
    *(int64_t *)out = is_prime(*(const int64_t *)in);
    return 0;
}

/* submit's function on bytes: the number in, "prime"/"not prime" out. */
static int
describe(const void *arg, size_t len, mproc_buf *out)
{
    int64_t n;
    char *text;

    if (len != sizeof(n))
        return mproc_task_fail(1, "an int64 was expected, not %zu bytes", len);
    memcpy(&n, arg, sizeof(n));
    text = malloc(64);
    if (text == NULL)
        return mproc_task_fail(2, "no memory");
    out->len = (size_t)snprintf(text, 64, "%" PRId64 " is %s", n,
                                is_prime(n) ? "prime" : "not prime");
    out->data = text;
    return 0;
}

int
main(void)
{
    mproc_executor *e = NULL;
    mproc_imap *it = NULL;
    mproc_future *fs[N_PRIMES];
    mproc_as_completed_iter *done = NULL;
    mproc_future *f;
    int64_t prime;
    size_t index;
    int rc;

    check(mproc_executor_new(&e, NULL), "executor");
    check(mproc_executor_map(e, is_prime_item, primes, N_PRIMES,
                             sizeof(int64_t), sizeof(int64_t), 0, MPROC_FOREVER,
                             &it),
          "map");
    while ((rc = mproc_imap_next(it, &prime, &index, MPROC_FOREVER)) == 0)
        printf("%" PRId64 " is prime: %s\n", primes[index],
               prime ? "True" : "False");
    if (rc != MPROC_EEOF)
        check(rc, "next");
    mproc_imap_free(it);

    printf("as they complete:\n");
    for (int i = 0; i < N_PRIMES; i++)
        check(mproc_executor_submit(e, describe, &primes[i], sizeof(primes[i]),
                                    &fs[i]),
              "submit");
    check(mproc_as_completed(fs, N_PRIMES, MPROC_FOREVER, &done),
          "as_completed");
    while (mproc_as_completed_next(done, &f) == 0) {
        mproc_buf text;

        check(mproc_future_get(f, &text, 0), "result");
        printf("  %.*s\n", (int)text.len, (const char *)text.data);
        mproc_buf_free(&text);
    }
    mproc_as_completed_free(done);
    for (int i = 0; i < N_PRIMES; i++)
        mproc_future_free(fs[i]);
    mproc_executor_free(e); /* shutdown(wait=True), as the with block */
    return 0;
}
