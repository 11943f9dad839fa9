"""bench/python/sync.py - the Python twin of bench/sync.c.

    lock_pair_per_s            multiprocessing.Lock acquire + release pairs
                               per second, in one process
    value_locked_2x1m          two forked processes each doing
                               `with v.get_lock(): v.value += 1` 1,000,000
                               times on a Value('l'); from the go to both
                               joined
    value_atomic_2x1m          the same work (Python has no atomic add)
    event_pingpong             one round trip over two multiprocessing.Events
    barrier_2party_per_s       passes per second of a 2-party Barrier
    shm_create_attach_close_unlink  SharedMemory(create=True, size=4096),
                               SharedMemory(name), close both, unlink

Warm-up samples are discarded. Prints the median of each row, in
microseconds (per second for _per_s):

    <row> <median>

Usage: python3 sync.py [--iters N] [row-prefix...]
"""

import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing import shared_memory

from harness import parse_args, selected

ROWS = ["lock_pair_per_s", "value_locked_2x1m", "value_atomic_2x1m",
        "event_pingpong", "barrier_2party_per_s",
        "shm_create_attach_close_unlink"]
WARMUP = 3
PAIRS = 100000
COUNT = 1000000
PASSES = 2000
PINGS_WARMUP = 200


def now_us():
    return time.perf_counter_ns() / 1000


def lock_pairs(lock):
    t0 = now_us()
    for _ in range(PAIRS):
        lock.acquire()
        lock.release()
    return PAIRS / ((now_us() - t0) / 1e6)


def count(v, go):
    go.wait()
    for _ in range(COUNT):
        with v.get_lock():
            v.value += 1


def count_sample(ctx):
    v = ctx.Value("l", 0)
    go = ctx.Event()
    kids = [ctx.Process(target=count, args=(v, go)) for _ in range(2)]
    for k in kids:
        k.start()
    t0 = now_us()
    go.set()
    for k in kids:
        k.join()
    us = now_us() - t0
    if v.value != 2 * COUNT:
        sys.exit("sync.py: wrong count")
    return us


def event_echo(e0, e1, n):
    for _ in range(n):
        e0.wait()
        e0.clear()
        e1.set()


def event_pingpong(ctx, iters):
    e0, e1 = ctx.Event(), ctx.Event()
    n = PINGS_WARMUP + iters
    kid = ctx.Process(target=event_echo, args=(e0, e1, n))
    kid.start()
    samples = []
    for _ in range(n):
        t0 = now_us()
        e0.set()
        e1.wait()
        e1.clear()
        samples.append(now_us() - t0)
    kid.join()
    return samples[PINGS_WARMUP:]


def barrier_party(b, n):
    for _ in range(n):
        b.wait()


def barrier_rates(ctx, iters):
    b = ctx.Barrier(2)
    kid = ctx.Process(target=barrier_party,
                      args=(b, PASSES * (WARMUP + iters)))
    kid.start()
    rates = []
    for _ in range(WARMUP + iters):
        t0 = now_us()
        for _ in range(PASSES):
            b.wait()
        rates.append(PASSES / ((now_us() - t0) / 1e6))
    kid.join()
    return rates[WARMUP:]


def shm_cycle():
    t0 = now_us()
    a = shared_memory.SharedMemory(create=True, size=4096)
    b = shared_memory.SharedMemory(a.name)
    b.close()
    a.close()
    a.unlink()
    return now_us() - t0


def main(argv):
    iters, prefixes = parse_args(argv, "sync.py")
    ctx = mp.get_context("fork")

    def want(row):
        return selected(prefixes, row, ROWS)

    if want("lock_pair_per_s"):
        lock = ctx.Lock()
        for _ in range(WARMUP):
            lock_pairs(lock)
        rates = [lock_pairs(lock) for _ in range(iters or 30)]
        print(f"lock_pair_per_s {statistics.median(rates):.1f}", flush=True)
    # One locked count serves both counter rows: the same work in Python.
    counted = None
    for row in ("value_locked_2x1m", "value_atomic_2x1m"):
        if want(row):
            if counted is None:
                counted = statistics.median(
                    [count_sample(ctx) for _ in range(iters or 1)])
            print(f"{row} {counted:.1f}", flush=True)
    if want("event_pingpong"):
        samples = event_pingpong(ctx, iters or 2000)
        print(f"event_pingpong {statistics.median(samples):.1f}", flush=True)
    if want("barrier_2party_per_s"):
        rates = barrier_rates(ctx, iters or 3)
        print(f"barrier_2party_per_s {statistics.median(rates):.1f}",
              flush=True)
    if want("shm_create_attach_close_unlink"):
        for _ in range(30):
            shm_cycle()
        samples = [shm_cycle() for _ in range(iters or 500)]
        print(f"shm_create_attach_close_unlink "
              f"{statistics.median(samples):.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
