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

/* Send all n bytes (MSG_NOSIGNAL), retrying after EINTR: 0 or -errno. */
int bench_send_all(int fd, const void *p, size_t n);

/* Receive exactly n bytes: 0, -errno, or -EPIPE when the peer closes
 * first. */
int bench_recv_all(int fd, void *p, size_t n);

/* The limit of a round trip over a socket: a forked child echoing every
 * message of a fixed size over a socketpair; one round trip is a send and
 * a recv in each process, two wake-ups, no framing and no library. */
struct bench_sock_echo;

/* Fork the echo child for messages of size bytes (at most 4096); exits the
 * program when that fails. */
struct bench_sock_echo *bench_sock_echo_start(size_t size);

/* One round trip with the echo child, in microseconds; exits the program
 * when the socket fails. */
double bench_sock_echo_rtt(struct bench_sock_echo *e);

/* Close the socket (the child then ends) and reap the child. */
void bench_sock_echo_stop(struct bench_sock_echo *e);

/* As bench_rtt_beside_pingpong, beside socketpair round trips of
 * `size`-byte messages (bench_sock_echo) instead. */
void bench_rtt_beside_socketpair(double (*one)(void *ctx, long i), void *ctx,
                                 size_t size, long warmup, long n, double *mine,
                                 double *limit);

#endif /* BENCH_HARNESS_H */
