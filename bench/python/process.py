"""bench/python/process.py - the Python twin of bench/process.c.

Process start+join latency under each start method: one sample is
ctx.Process(target=f); p.start(); p.join() with a target that returns at
once. Warm-up iterations are discarded (under forkserver the first start
launches the server). Prints one line per row, the median in microseconds:

    process_start_join_<method> <median-us>

Usage: python3 process.py [--iters N] [row-prefix...]
"""

import multiprocessing
import statistics
import sys
import time

from harness import parse_args, selected

WARMUP = 3
ITERS = {"fork": 200, "spawn": 20, "forkserver": 100}


def f():
    pass


def start_join_us(ctx):
    t0 = time.perf_counter_ns()
    p = ctx.Process(target=f)
    p.start()
    p.join()
    elapsed = (time.perf_counter_ns() - t0) / 1e3
    if p.exitcode != 0:
        sys.exit(f"process.py: child exited with {p.exitcode}")
    p.close()
    return elapsed


def main(argv):
    iters, prefixes = parse_args(argv, "process.py")
    rows = [f"process_start_join_{m}" for m in ITERS]
    for method, default_iters in ITERS.items():
        row = f"process_start_join_{method}"
        if not selected(prefixes, row, rows):
            continue
        ctx = multiprocessing.get_context(method)
        n = iters or default_iters
        samples = [start_join_us(ctx) for _ in range(WARMUP + n)][WARMUP:]
        print(f"{row} {statistics.median(samples):.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
