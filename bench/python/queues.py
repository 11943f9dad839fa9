"""bench/python/queues.py - the Python twin of bench/queues.c.

    queue_1p1c_64_per_s        messages per second through a
                               multiprocessing.Queue from one producer
                               process to the consuming parent, 64 bytes
                               (bytes objects) each; from the go to the last
                               get
    queue_64k_mb_per_s         MB per second of 64 KiB bytes objects, the
                               same way
    queue_2p2c_64_per_s        two producer processes to two consumer
                               processes; from the go to all four joined
    simplequeue_1p1c_64_per_s  as queue_1p1c_64_per_s with a SimpleQueue

Warm-up samples are discarded. Prints the median of each row, per second:

    <row> <median>

(Named queues.py, not queue.py: a file named queue.py beside the twins
would shadow Python's own queue module, which multiprocessing imports.)

Usage: python3 queues.py [--iters N] [row-prefix...]
"""

import multiprocessing as mp
import statistics
import sys
import time

from harness import parse_args, selected

ROWS = ["queue_1p1c_64_per_s", "queue_64k_mb_per_s", "queue_2p2c_64_per_s",
        "simplequeue_1p1c_64_per_s"]
WARMUP = 1
SMALL_N = 100000
BIG_N = 2000
MSG = 64
BIG = 64 * 1024


def now_us():
    return time.perf_counter_ns() / 1000


def producer(q, go, n, size):
    buf = bytes(size)
    go.wait()
    for _ in range(n):
        q.put(buf)
    q.put(b"")


def consume(q):
    got = 0
    while True:
        m = q.get()
        if not m:
            return got
        got += 1


def consumer(q, counts):
    counts.put(consume(q))


def sample(ctx, make, producers, consumers, n, size):
    q = make()
    go = ctx.Event()
    counts = ctx.SimpleQueue()
    per = n // producers
    kids = [ctx.Process(target=producer, args=(q, go, per, size))
            for _ in range(producers)]
    kids += [ctx.Process(target=consumer, args=(q, counts))
             for _ in range(consumers)]
    for k in kids:
        k.start()
    t0 = now_us()
    go.set()
    got = consume(q) if consumers == 0 else 0
    for k in kids:
        k.join()
    us = now_us() - t0
    got += sum(counts.get() for _ in range(consumers))
    if got != per * producers:
        sys.exit("queues.py: lost messages")
    return got / (us / 1e6)


def row(name, ctx, make, producers, consumers, n, size, scale, iters):
    for _ in range(WARMUP):
        sample(ctx, make, producers, consumers, n, size)
    rates = [sample(ctx, make, producers, consumers, n, size) * scale
             for _ in range(iters)]
    print(f"{name} {statistics.median(rates):.1f}", flush=True)


def main(argv):
    iters, prefixes = parse_args(argv, "queues.py")
    iters = iters or 3
    ctx = mp.get_context("fork")

    def want(name):
        return selected(prefixes, name, ROWS)

    if want("queue_1p1c_64_per_s"):
        row("queue_1p1c_64_per_s", ctx, ctx.Queue, 1, 0, SMALL_N, MSG, 1,
            iters)
    if want("queue_64k_mb_per_s"):
        row("queue_64k_mb_per_s", ctx, ctx.Queue, 1, 0, BIG_N, BIG,
            BIG / 1e6, iters)
    if want("queue_2p2c_64_per_s"):
        row("queue_2p2c_64_per_s", ctx, ctx.Queue, 2, 2, SMALL_N, MSG, 1,
            iters)
    if want("simplequeue_1p1c_64_per_s"):
        row("simplequeue_1p1c_64_per_s", ctx, ctx.SimpleQueue, 1, 0, SMALL_N,
            MSG, 1, iters)


if __name__ == "__main__":
    main(sys.argv[1:])
