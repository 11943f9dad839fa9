"""bench/python/pool.py - the Python twin of bench/pool.c.

    pool_map_1m_int64_per_s    items per second of Pool.map(double,
                               range(1_000_000)), default chunksize, one
                               worker per usable CPU
    pool_apply_async_rtt       pool.apply_async(double, (x,)).get(), one
                               at a time, one worker
    pool_imap_unordered_100k_per_s  items per second of
                               sum(pool.imap_unordered(double,
                               range(100000), chunksize=1))
    pool_cpu_speedup           serial time / Pool.map time of 64 equal
                               items of about 2 ms of integer arithmetic
                               each (the C side's steps, fewer of them:
                               Python runs each about 100 times slower, and
                               a speedup compares only when an item costs
                               about as long on both sides)

Each row's pool is made once, outside the timed part, with the fork start
method (mproc's default) and as many workers as CPUs this process may use
(os.sched_getaffinity, as mproc_cpu_count(); Python 3.11's Pool() would
count every CPU of the machine). Warm-up samples are discarded. Prints the
median of each row, in microseconds (per second for _per_s, a ratio for
_speedup):

    <row> <median>

Usage: python3 pool.py [--iters N] [row-prefix...]
"""

import multiprocessing as mp
import os
import statistics
import sys
import time

from harness import parse_args, selected

ROWS = ["pool_map_1m_int64_per_s", "pool_apply_async_rtt",
        "pool_imap_unordered_100k_per_s", "pool_cpu_speedup"]
MAP_N = 1_000_000
IMAP_N = 100_000
RTT_WARMUP = 200
BURN_ITEMS = 64
BURN_STEPS = 14_000  # about 2 ms in CPython 3.11
MASK = (1 << 64) - 1


def now_us():
    return time.perf_counter_ns() / 1000


def double(x):
    return x * 2


def burn(x):
    for _ in range(BURN_STEPS):
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK
        x ^= x >> 29
    return x


def workers():
    return len(os.sched_getaffinity(0))


def report(name, samples, decimals=1):
    print(f"{name} {statistics.median(samples):.{decimals}f}", flush=True)


def row_map(name, ctx, iters):
    samples = []
    with ctx.Pool(workers()) as pool:
        for s in range(-2, iters):
            t0 = now_us()
            out = pool.map(double, range(MAP_N))
            us = now_us() - t0
            if out[-1] != 2 * (MAP_N - 1):
                sys.exit("pool.py: wrong map results")
            if s >= 0:
                samples.append(MAP_N / (us / 1e6))
    report(name, samples)


def row_apply_async(name, ctx, iters):
    samples = []
    with ctx.Pool(1) as pool:
        for i in range(RTT_WARMUP + iters):
            t0 = now_us()
            v = pool.apply_async(double, (i,)).get()
            us = now_us() - t0
            if v != 2 * i:
                sys.exit("pool.py: wrong apply_async result")
            if i >= RTT_WARMUP:
                samples.append(us)
    report(name, samples)


def row_imap_unordered(name, ctx, iters):
    samples = []
    with ctx.Pool(workers()) as pool:
        for s in range(-1, iters):
            t0 = now_us()
            total = sum(pool.imap_unordered(double, range(IMAP_N),
                                            chunksize=1))
            us = now_us() - t0
            if total != IMAP_N * (IMAP_N - 1):
                sys.exit("pool.py: wrong imap_unordered results")
            if s >= 0:
                samples.append(IMAP_N / (us / 1e6))
    report(name, samples)


def row_cpu_speedup(name, ctx, iters):
    samples = []
    items = range(1, BURN_ITEMS + 1)
    with ctx.Pool(workers()) as pool:
        for s in range(-1, iters):
            t0 = now_us()
            serial_out = [burn(x) for x in items]
            serial = now_us() - t0
            t0 = now_us()
            pool_out = pool.map(burn, items)
            pooled = now_us() - t0
            if pool_out != serial_out:
                sys.exit("pool.py: wrong speedup results")
            if s >= 0:
                samples.append(serial / pooled)
    report(name, samples, 3)


def main(argv):
    iters, prefixes = parse_args(argv, "pool.py")
    ctx = mp.get_context("fork")

    def want(name):
        return selected(prefixes, name, ROWS)

    if want(ROWS[0]):
        row_map(ROWS[0], ctx, iters or 5)
    if want(ROWS[1]):
        row_apply_async(ROWS[1], ctx, iters or 2000)
    if want(ROWS[2]):
        row_imap_unordered(ROWS[2], ctx, iters or 3)
    if want(ROWS[3]):
        row_cpu_speedup(ROWS[3], ctx, iters or 7)


if __name__ == "__main__":
    main(sys.argv[1:])
