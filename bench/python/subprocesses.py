"""bench/python/subprocesses.py - the Python twin of bench/subprocesses.c.

    run_true                   subprocess.run(["true"]), stdio inherited
    communicate_cat_100m_mb_per_s  MB (1e6 bytes) per second of 100 MiB
                               through subprocess.run(["cat"], input=data,
                               capture_output=True)

Warm-up samples are discarded; output is checked outside the timed part.
Prints the median of each row, in microseconds (MB per second for
_per_s):

    <row> <median>

(Named subprocesses.py, not subprocess.py: a file named subprocess.py
beside the twins would shadow Python's own subprocess module, which this
file and multiprocessing import.)

Usage: python3 subprocesses.py [--iters N] [row-prefix...]
"""

import statistics
import subprocess
import sys
import time

from harness import parse_args, selected

ROWS = ["run_true", "communicate_cat_100m_mb_per_s"]
CAT_BYTES = 100 << 20


def now_us():
    return time.perf_counter_ns() / 1000


def report(name, samples):
    print(f"{name} {statistics.median(samples):.1f}", flush=True)


def row_run_true(name, iters):
    samples = []
    for s in range(-20, iters):
        t0 = now_us()
        done = subprocess.run(["true"])
        us = now_us() - t0
        if done.returncode != 0:
            sys.exit("subprocesses.py: true failed")
        if s >= 0:
            samples.append(us)
    report(name, samples)


def row_communicate_cat(name, iters):
    data = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(1 << 16))
    data = data * (CAT_BYTES // len(data))
    samples = []
    for s in range(-1, iters):
        t0 = now_us()
        done = subprocess.run(["cat"], input=data, capture_output=True)
        us = now_us() - t0
        if done.returncode != 0 or done.stdout != data:
            sys.exit("subprocesses.py: cat failed")
        del done
        if s >= 0:
            samples.append(CAT_BYTES / (us / 1e6) / 1e6)
    report(name, samples)


def main(argv):
    iters, prefixes = parse_args(argv, "subprocesses.py")
    sys.stdout.flush()

    def want(name):
        return selected(prefixes, name, ROWS)

    if want(ROWS[0]):
        row_run_true(ROWS[0], iters or 500)
    if want(ROWS[1]):
        row_communicate_cat(ROWS[1], iters or 5)


if __name__ == "__main__":
    main(sys.argv[1:])
