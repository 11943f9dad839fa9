"""bench/python/conn.py - the Python twin of bench/conn.c.

Connections, with children started by the fork start method:

    conn_pingpong_64          one round trip of a 64-byte message over
                              multiprocessing.Pipe(duplex=True); the child
                              echoes with recv_bytes_into + send_bytes
    conn_throughput_1m_per_s  MiB/s of 1 MiB messages sent one way with
                              send_bytes; the child receives each with
                              recv_bytes_into into one bytearray and
                              acknowledges a batch of BATCH messages (an
                              empty message after them) with an empty one
    conn_connect_auth         connection.Client(address, authkey=...) to a
                              connection.Listener in another process (a
                              Unix path in a temporary directory), the
                              whole handshake, then close

Warm-up iterations are discarded. Prints one line per row, the median in
microseconds (for the rate row, BATCH MiB over the median batch time):

    <row> <median>

Usage: python3 conn.py [--iters N] [row-prefix...]
"""

import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Client, Listener

from harness import parse_args, selected

WARMUP = 20
SMALL = 64
MIB = 1 << 20
BATCH = 16  # messages of 1 MiB in one throughput sample
AUTHKEY = b"bench-conn-authkey"


def echo(parent_end, conn):
    parent_end.close()
    buf = bytearray(SMALL)
    try:
        while True:
            n = conn.recv_bytes_into(buf)
            conn.send_bytes(buf, 0, n)
    except EOFError:
        pass


def sink(parent_end, conn):
    parent_end.close()
    buf = bytearray(MIB)
    try:
        while True:
            if conn.recv_bytes_into(buf) == 0:
                conn.send_bytes(b"")
    except EOFError:
        pass


def serve(address, ready):
    listener = Listener(address, authkey=AUTHKEY)
    ready.send_bytes(b"r")
    ready.close()
    while True:
        listener.accept().close()


class PipeRow:
    """A Pipe to a forked child running `child`; sample() is one op."""

    def __init__(self, ctx, child):
        self.conn, child_end = multiprocessing.Pipe(duplex=True)
        self.process = ctx.Process(target=child, args=(self.conn, child_end))
        self.process.start()
        child_end.close()

    def close(self):
        self.conn.close()
        self.process.join()


class PingPong(PipeRow):
    def __init__(self, ctx):
        super().__init__(ctx, echo)
        self.message = b"m" * SMALL
        self.back = bytearray(SMALL)

    def sample(self):
        self.conn.send_bytes(self.message)
        self.conn.recv_bytes_into(self.back)


class Throughput(PipeRow):
    def __init__(self, ctx):
        super().__init__(ctx, sink)
        self.message = b"m" * MIB
        self.ack = bytearray(0)

    def sample(self):
        for _ in range(BATCH):
            self.conn.send_bytes(self.message)
        self.conn.send_bytes(b"")
        self.conn.recv_bytes_into(self.ack)


class ConnectAuth:
    def __init__(self, ctx):
        self.dir = tempfile.mkdtemp(prefix="bench-conn-")
        self.address = os.path.join(self.dir, "python")
        ready, child_end = multiprocessing.Pipe(duplex=False)
        self.process = ctx.Process(target=serve,
                                   args=(self.address, child_end))
        self.process.start()
        child_end.close()
        ready.recv_bytes()
        ready.close()

    def sample(self):
        Client(self.address, authkey=AUTHKEY).close()

    def close(self):
        self.process.kill()
        self.process.join()
        shutil.rmtree(self.dir)


# (row, iterations, the class whose sample() is one measurement)
ROWS = [
    ("conn_pingpong_64", 10000, PingPong),
    ("conn_throughput_1m_per_s", 100, Throughput),
    ("conn_connect_auth", 1000, ConnectAuth),
]


def measure(bench, n):
    samples = []
    for i in range(WARMUP + n):
        t0 = time.perf_counter_ns()
        bench.sample()
        if i >= WARMUP:
            samples.append((time.perf_counter_ns() - t0) / 1e3)
    return statistics.median(samples)


def main(argv):
    iters, prefixes = parse_args(argv, "conn.py")
    names = [name for name, _, _ in ROWS]
    ctx = multiprocessing.get_context("fork")
    for row, default_iters, kind in ROWS:
        if not selected(prefixes, row, names):
            continue
        bench = kind(ctx)
        try:
            us = measure(bench, iters or default_iters)
        finally:
            bench.close()
        value = BATCH / (us / 1e6) if row.endswith("_per_s") else us
        print(f"{row} {value:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
