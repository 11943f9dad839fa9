"""tests/interop/shm_peer.py - the Python side of tests/interop/shm.c,
reached through peer.py's "shm-*" and "shl-*" modes.

Python must not unlink what mproc owns: a segment Python attaches to is
untracked (track=False on 3.13 and later; before, and for ShareableList,
which has no such argument, the name is unregistered from the resource
tracker at once). Each mode ends by stopping the tracker, which unlinks
whatever it still holds before it exits, so any wrong unlink has happened
by the time the peer's exit is seen.

Modes (FD: an inherited pipe, read until EOF = "go on"):
  shm-attach NAME
      attach; print the size and the first 16 bytes in hex; write
      b"python" at offset 100.
  shm-create SIZE FD
      create SIZE bytes, write b"from python" at 0, print the name; wait on
      FD; print bytes 200..209 in hex (mproc's write); unlink.
  shl-attach NAME
      attach a ShareableList mproc made from MPROC_ITEMS; check its items
      and format (print "ok", or the difference, exit 1); then write
      PYTHON_WRITES into it.
  shl-create FD
      create ShareableList(PYTHON_ITEMS), print its name; wait on FD; check
      it now holds MPROC_WRITES applied (print "ok" or the difference);
      unlink.
"""

import os
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList, SharedMemory

INT64_MIN = -2**63

# What tests/interop/shm.c creates, and the format Python must see.
# The last str is 7 code points in 14 bytes: mproc sizes its slot by bytes
# (16), where Python would size it by code points (8) and cut it.
MPROC_ITEMS = [42, 2.5, True, None, "h\u00e9llo", b"by\x00tes", "",
               INT64_MIN, False, "\u00e9" * 7]
MPROC_FORMAT = "qdxxxxxxx?xxxxxx?x8s8s8sqxxxxxxx?16s"
# What Python then writes into it (index, value).
PYTHON_WRITES = [(0, 7.5), (1, "8 bytes!"), (2, b"xy"), (3, 12345),
                 (4, None), (7, True), (8, "f")]

# What Python creates, and what mproc writes into it.
PYTHON_ITEMS = [1, -2.5, False, None, "pyth\u00f6n", b"\x00\x01",
                "x" * 20]
MPROC_WRITES = [(0, "c"), (2, 3.25), (3, b"\xff"), (6, "y" * 24)]


def untracked_attach(name):
    if sys.version_info >= (3, 13):
        return SharedMemory(name, track=False)
    shm = SharedMemory(name)
    resource_tracker.unregister(shm._name, "shared_memory")
    return shm


def stop_tracker():
    tracker = resource_tracker._resource_tracker
    if hasattr(tracker, "_stop"):
        tracker._stop()


def wait_on(fd):
    with os.fdopen(fd, "rb") as f:
        f.read()


def same(got, want):
    return len(got) == len(want) and all(
        type(a) is type(b) and a == b for a, b in zip(got, want))


def shm_attach(name):
    shm = untracked_attach(name)
    print(shm.size, bytes(shm.buf[:16]).hex(), flush=True)
    shm.buf[100:106] = b"python"
    shm.close()
    return 0


def shm_create(size, fd):
    shm = SharedMemory(create=True, size=size)
    shm.buf[:11] = b"from python"
    print(shm.name, flush=True)
    wait_on(fd)
    print(bytes(shm.buf[200:210]).hex(), flush=True)
    shm.close()
    shm.unlink()
    return 0


def shl_attach(name):
    sl = ShareableList(name=name)
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    got = list(sl)
    if not same(got, MPROC_ITEMS) or sl.format != MPROC_FORMAT:
        print("got %r format %r" % (got, sl.format), flush=True)
        return 1
    for i, v in PYTHON_WRITES:
        sl[i] = v
    print("ok", flush=True)
    sl.shm.close()
    return 0


def shl_create(fd):
    sl = ShareableList(PYTHON_ITEMS)
    print(sl.shm.name, flush=True)
    wait_on(fd)
    want = list(PYTHON_ITEMS)
    for i, v in MPROC_WRITES:
        want[i] = v
    got = list(sl)
    rc = 0
    if same(got, want):
        print("ok", flush=True)
    else:
        print("got %r" % (got,), flush=True)
        rc = 1
    sl.shm.close()
    sl.shm.unlink()
    return rc


def main(argv):
    try:
        if argv[0] == "shm-attach" and len(argv) == 2:
            return shm_attach(argv[1])
        if argv[0] == "shm-create" and len(argv) == 3:
            return shm_create(int(argv[1]), int(argv[2]))
        if argv[0] == "shl-attach" and len(argv) == 2:
            return shl_attach(argv[1])
        if argv[0] == "shl-create" and len(argv) == 2:
            return shl_create(int(argv[1]))
        print("usage: see tests/interop/shm_peer.py", file=sys.stderr)
        return 2
    finally:
        stop_tracker()
