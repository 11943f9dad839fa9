/*
 * bench/harness/harness.h - what every benchmark program shares: the clock,
 * the median, and the command line "[--iters N] [row-prefix...]".
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

/* Microseconds on the monotonic clock. */
double bench_now_us(void);

/* Fork a child that runs fn(arg) and ends with _exit(0); exits the
 * program when fork fails. Returns the child's pid. */
int bench_fork(void (*fn)(void *), void *arg);

/* Reap a child of bench_fork; exits the program unless it ended with
 * status 0. */
void bench_reap(int pid);

/* The median of n samples (sorts them). */
double bench_median(double *v, size_t n);

/* The command line: iterations (0: each row's default) and the rows asked
 * for (none: all). */
struct bench_args {
    int iters;
    int nprefix;
    char **prefixes;
};

/* Parse argv; on a bad argument print "usage: PROG ..." and exit(2). */
void bench_parse_args(int argc, char **argv, struct bench_args *out);

/* Whether row `name` is asked for: an argument that is a whole row name
 * (one of the n names name_at(0..n-1)) selects that row alone, any other
 * argument the rows it begins. */
bool bench_selected(const struct bench_args *a, const char *name,
                    const char *(*name_at)(size_t i), size_t n);

/* The limit of a round trip that sleeps: two processes waking each other
 * through one futex word each, with the protocol any futex event needs (a
 * waiter marks the word before sleeping; a set wakes only a marked word)
 * and no library around it. */
struct bench_pingpong;

/* A pair of words in shared memory; exits the program when mmap fails. */
struct bench_pingpong *bench_pingpong_new(void);

/* Fork the echo child for n round trips (reap it with bench_reap). */
int bench_pingpong_start(struct bench_pingpong *pp, long n);

/* One round trip with the echo child, in microseconds. */
double bench_pingpong_rtt(struct bench_pingpong *pp);

/* warmup + n round trips through one(ctx, i) (its time in microseconds),
 * in blocks of 100 alternating with as many raw futex ping-pong round
 * trips, so both ends of each kind sleep while the other kind runs;
 * mine[] and limit[] receive the n timed ones of each. */
void bench_rtt_beside_pingpong(double (*one)(void *ctx, long i), void *ctx,
                               long warmup, long n, double *mine,
                               double *limit);

#endif /* BENCH_HARNESS_H */
