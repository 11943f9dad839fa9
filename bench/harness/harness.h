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

#endif /* BENCH_HARNESS_H */
