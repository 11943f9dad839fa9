/*
 * examples/pool.c - a slow function over a Pool of workers: the speedup,
 * then a progress bar.
 *
 * C twin of the Pool example of Python tutorials: a deliberately slow
 * is_prime, run over four large primes in turn, then through a Pool:
 *
 *     def is_prime(n):
 *         if n < 2:
 *             return False
 *         for i in range(2, n):
 *             if n % i == 0:
 *                 return False
 *         return True
 *
 *     numbers = [10897409, 20292113, 31518271, 40003027]
 *     serial = [is_prime(n) for n in numbers]
 *     with Pool() as pool:
 *         parallel = pool.map(is_prime, numbers, chunksize=1)
 *
 * A map here runs an item function over a typed array: each int64 in
 * becomes an int64 out, with no pickling. Then a map of 200 slow items
 * draws a progress bar from the map's progress callback (what Python
 * programs get from tqdm around pool.imap); it runs on the pool's result
 * thread as items finish.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mproc.h>

#define N_NUMBERS 4
#define SLOW_ITEMS 200
#define BAR_WIDTH 40

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "pool: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Slow on purpose: every divisor below n is tried. */
static int
is_prime(const void *in, void *out)
{
    int64_t n = *(const int64_t *)in, prime = n >= 2;

    for (int64_t i = 2; i < n && prime; i++)
        if (n % i == 0)
            prime = 0;
    *(int64_t *)out = prime;
    return 0;
}

/* A few milliseconds of waiting, standing for real work. */
static int
slow_square(const void *in, void *out)
{
    int64_t x = *(const int64_t *)in;

    nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
    *(int64_t *)out = x * x;
    return 0;
}

/* "\r[#####     ] 40/200": the line redrawn in place, each time the bar
 * grows. ctx holds the width last drawn. */
static void
progress(size_t done, size_t total, void *ctx)
{
    size_t *drawn = ctx, filled = done * BAR_WIDTH / total;
    char bar[BAR_WIDTH + 1];

    if (filled == *drawn && done < total)
        return;
    *drawn = filled;
    memset(bar, '#', filled);
    memset(bar + filled, ' ', BAR_WIDTH - filled);
    bar[BAR_WIDTH] = '\0';
    printf("\r[%s] %zu/%zu", bar, done, total);
    fflush(stdout);
}

int
main(void)
{
    const int64_t numbers[N_NUMBERS] = { 10897409, 20292113, 31518271,
                                         40003027 };
    int64_t serial[N_NUMBERS], parallel[N_NUMBERS];
    int64_t items[SLOW_ITEMS], squares[SLOW_ITEMS];
    size_t drawn = 0;
    mproc_pool *pool;
    double t0, serial_s, pool_s;

    t0 = now();
    for (int i = 0; i < N_NUMBERS; i++)
        is_prime(&numbers[i], &serial[i]);
    serial_s = now() - t0;

    check(mproc_pool_new(&pool, NULL), "pool_new"); /* one worker a CPU */
    t0 = now();
    check(mproc_pool_map(pool, is_prime, numbers, N_NUMBERS, sizeof(int64_t),
                         parallel, sizeof(int64_t),
                         &(mproc_map_opts){ .chunksize = 1 }, MPROC_FOREVER),
          "map");
    pool_s = now() - t0;
    for (int i = 0; i < N_NUMBERS; i++)
        printf("%" PRId64 " is prime: %s\n", numbers[i],
               parallel[i] ? "True" : "False");
    if (memcmp(serial, parallel, sizeof(serial)) != 0)
        check(MPROC_EPROTOCOL, "the pool disagrees with the serial run");
    printf("serial %.2f s, pool of %d workers %.2f s: %.1fx faster\n", serial_s,
           mproc_cpu_count(), pool_s, serial_s / pool_s);

    for (int i = 0; i < SLOW_ITEMS; i++)
        items[i] = i;
    check(mproc_pool_map(pool, slow_square, items, SLOW_ITEMS, sizeof(int64_t),
                         squares, sizeof(int64_t),
                         &(mproc_map_opts){ .chunksize = 1,
                                            .progress = progress,
                                            .progress_ctx = &drawn },
                         MPROC_FOREVER),
          "map with progress");
    printf("\nthe last square: %" PRId64 "\n", squares[SLOW_ITEMS - 1]);

    check(mproc_pool_close(pool), "close");
    check(mproc_pool_join(pool, MPROC_FOREVER), "join");
    mproc_pool_free(pool);
    return 0;
}
