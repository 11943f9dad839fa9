"""bench/python/filelocks.py - the Python twin of bench/filelocks.c.

    filelock_acquire_release   fcntl.lockf(fd, LOCK_EX | LOCK_NB) +
                               fcntl.lockf(fd, LOCK_UN) on a file opened
                               once, in microseconds a pair
    filelock_package_acquire_release  filelock.FileLock(path) made once,
                               acquire(timeout=0) + release() (the package
                               opens and flocks the file at each acquire,
                               unlocks and closes it at the release); not
                               printed when the package cannot be imported

Named filelocks, not filelock: a filelock.py here would shadow the
package it measures.

Warm-up samples are discarded. Prints the median of each row, in
microseconds:

    <row> <median>

Usage: python3 filelocks.py [--iters N] [row-prefix...]
"""

import fcntl
import os
import shutil
import statistics
import sys
import tempfile
import time

from harness import parse_args, selected

ROWS = ["filelock_acquire_release", "filelock_package_acquire_release"]
WARMUP = 3
LOCKF_PAIRS = 10000
PACKAGE_PAIRS = 2000


def now_us():
    return time.perf_counter_ns() / 1000


def report(name, samples):
    print(f"{name} {statistics.median(samples):.3f}", flush=True)


def row_lockf(name, path, iters):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    samples = []
    for s in range(-WARMUP, iters):
        t0 = now_us()
        for _ in range(LOCKF_PAIRS):
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_UN)
        if s >= 0:
            samples.append((now_us() - t0) / LOCKF_PAIRS)
    os.close(fd)
    report(name, samples)


def row_package(name, path, iters):
    try:
        import filelock
    except ImportError:
        # A python3 of its own (pyenv) does not see Debian's package, which
        # scripts/bootstrap installs for the system's python3: look there.
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import filelock
        except ImportError:
            return  # no row: bench/run shows mproc's figure without a ratio
    lock = filelock.FileLock(path)
    samples = []
    for s in range(-WARMUP, iters):
        t0 = now_us()
        for _ in range(PACKAGE_PAIRS):
            lock.acquire(timeout=0)
            lock.release()
        if s >= 0:
            samples.append((now_us() - t0) / PACKAGE_PAIRS)
    report(name, samples)


def main(argv):
    iters, prefixes = parse_args(argv, "filelocks.py")
    directory = tempfile.mkdtemp(prefix="mproc-bench-filelocks-")
    try:
        if selected(prefixes, ROWS[0], ROWS):
            row_lockf(ROWS[0], os.path.join(directory, "bench.lock"),
                      iters or 30)
        if selected(prefixes, ROWS[1], ROWS):
            row_package(ROWS[1], os.path.join(directory, "package.lock"),
                        iters or 30)
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main(sys.argv[1:])
