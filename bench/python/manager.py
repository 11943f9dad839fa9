"""bench/python/manager.py - the Python twin of bench/manager.c.

Proxy calls to the server of multiprocessing.Manager() (started with the
fork start method, as every child here):

    manager_dict_set_rtt             d["k"] = i through a manager.dict()
                                     proxy a forked child inherited
    manager_dict_get_rtt             d["k"], the same way
    manager_call_rtt                 len(l) of a manager.list(), the same way
    manager_dict_8clients_ops_per_s  calls per second of 8 forked clients
                                     on one dict, each alternating
                                     d[key] = i and d[key] on a key of its
                                     own; from the go to the last client's
                                     "done" (each has made a call, so is
                                     connected, before the go)
    manager_queue_put_get_per_s      q.put(i) then q.get() pairs per second
                                     on a manager.Queue(), in the program
                                     that started the manager

One manager serves every row. Warm-up calls and samples are discarded.
Prints the median of each row, in microseconds (per second for _per_s):

    <row> <median>

Usage: python3 manager.py [--iters N] [row-prefix...]
"""

import multiprocessing as mp
import os
import statistics
import sys
import time

from harness import parse_args, selected

ROWS = ["manager_dict_set_rtt", "manager_dict_get_rtt", "manager_call_rtt",
        "manager_dict_8clients_ops_per_s", "manager_queue_put_get_per_s"]
RTT_WARMUP = 100   # the first call connects
CLIENTS = 8
CLIENT_OPS = 500   # calls of each client in one sample
PAIRS = 500        # queue put + get pairs in one sample
WARMUP = 1         # rate samples


def now_us():
    return time.perf_counter_ns() / 1000


def rtt_client(d, l, call, n, conn):
    samples = []
    for i in range(RTT_WARMUP + n):
        t0 = now_us()
        if call == "set":
            d["k"] = i
        elif call == "get":
            d["k"]
        else:
            len(l)
        samples.append(now_us() - t0)
    conn.send(statistics.median(samples[RTT_WARMUP:]))


def row_rtt(ctx, manager, call, n):
    d = manager.dict()
    l = manager.list()
    d["k"] = 0  # what get finds
    here, there = ctx.Pipe()
    kid = ctx.Process(target=rtt_client, args=(d, l, call, n, there))
    kid.start()
    median = here.recv()
    kid.join()
    return median


def read_bytes(fd, n):
    while n > 0:
        got = os.read(fd, n)
        if not got:
            sys.exit("manager.py: a client went away")
        n -= len(got)


def client(d, index, go, report):
    key = f"k{index}"
    d[key] = 0  # connects
    os.write(report, b"r")
    read_bytes(go, 1)
    for i in range(CLIENT_OPS // 2):
        d[key] = i
        d[key]
    os.write(report, b"d")


def clients_sample(ctx, d, go, report):
    kids = [ctx.Process(target=client, args=(d, k, go[0], report[1]))
            for k in range(CLIENTS)]
    for kid in kids:
        kid.start()
    read_bytes(report[0], CLIENTS)
    t0 = now_us()
    os.write(go[1], b"g" * CLIENTS)
    read_bytes(report[0], CLIENTS)
    us = now_us() - t0
    for kid in kids:
        kid.join()
    return CLIENTS * CLIENT_OPS / (us / 1e6)


def row_clients(ctx, manager, iters):
    d = manager.dict()
    go, report = os.pipe(), os.pipe()
    rates = [clients_sample(ctx, d, go, report)
             for _ in range(WARMUP + iters)]
    for fd in go + report:
        os.close(fd)
    return statistics.median(rates[WARMUP:])


def queue_pairs(q):
    t0 = now_us()
    for i in range(PAIRS):
        q.put(i)
        q.get()
    return PAIRS / ((now_us() - t0) / 1e6)


def main(argv):
    iters, prefixes = parse_args(argv, "manager.py")
    want = [row for row in ROWS if selected(prefixes, row, ROWS)]
    if not want:
        return
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        for row in want:
            if row == "manager_dict_set_rtt":
                value = row_rtt(ctx, manager, "set", iters or 2000)
            elif row == "manager_dict_get_rtt":
                value = row_rtt(ctx, manager, "get", iters or 2000)
            elif row == "manager_call_rtt":
                value = row_rtt(ctx, manager, "len", iters or 2000)
            elif row == "manager_dict_8clients_ops_per_s":
                value = row_clients(ctx, manager, iters or 3)
            else:
                q = manager.Queue()
                rates = [queue_pairs(q) for _ in range(WARMUP + (iters or 5))]
                value = statistics.median(rates[WARMUP:])
            print(f"{row} {value:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
