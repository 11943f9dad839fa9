"""bench/python/future.py - the Python twin of bench/future.c.

    executor_submit_rtt        ex.submit(double, x).result(), one at a
                               time, ProcessPoolExecutor(1)
    executor_map_100k_per_s    items per second of
                               list(ex.map(double, range(100000),
                               chunksize=1000)), every result checked, one
                               worker per usable CPU

Each row's executor is made once, outside the timed part, with the fork
start method (mproc's default) and, for the map, as many workers as CPUs
this process may use (os.sched_getaffinity, as mproc_cpu_count()). The
executor starts its workers at its first submit or map: the warm-up
samples, discarded, take that. Prints the median of each row, in
microseconds (per second for _per_s):

    <row> <median>

Usage: python3 future.py [--iters N] [row-prefix...]
"""

import concurrent.futures as cf
import multiprocessing as mp
import os
import statistics
import sys
import time

from harness import parse_args, selected

ROWS = ["executor_submit_rtt", "executor_map_100k_per_s"]
MAP_N = 100_000
MAP_CHUNK = 1000
RTT_WARMUP = 200


def now_us():
    return time.perf_counter_ns() / 1000


def double(x):
    return x * 2


def workers():
    return len(os.sched_getaffinity(0))


def report(name, samples):
    print(f"{name} {statistics.median(samples):.1f}", flush=True)


def row_submit(name, ctx, iters):
    samples = []
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        for i in range(RTT_WARMUP + iters):
            t0 = now_us()
            v = ex.submit(double, i).result()
            us = now_us() - t0
            if v != 2 * i:
                sys.exit("future.py: wrong submit result")
            if i >= RTT_WARMUP:
                samples.append(us)
    report(name, samples)


def row_map(name, ctx, iters):
    samples = []
    want = [2 * x for x in range(MAP_N)]
    with cf.ProcessPoolExecutor(workers(), mp_context=ctx) as ex:
        for s in range(-2, iters):
            t0 = now_us()
            out = list(ex.map(double, range(MAP_N), chunksize=MAP_CHUNK))
            us = now_us() - t0
            if out != want:
                sys.exit("future.py: wrong map results")
            if s >= 0:
                samples.append(MAP_N / (us / 1e6))
    report(name, samples)


def main(argv):
    iters, prefixes = parse_args(argv, "future.py")
    ctx = mp.get_context("fork")

    def want(name):
        return selected(prefixes, name, ROWS)

    if want(ROWS[0]):
        row_submit(ROWS[0], ctx, iters or 2000)
    if want(ROWS[1]):
        row_map(ROWS[1], ctx, iters or 20)


if __name__ == "__main__":
    main(sys.argv[1:])
