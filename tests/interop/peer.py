"""tests/interop/peer.py - the Python side of tests/interop/conn.c.

Runs one real multiprocessing.connection peer for the C tests to talk to.
Addresses are written the mproc way (unix:PATH, unix:@NAME, tcp://HOST:PORT)
and turned into Python's here. Works on Python 3.6 and later (no walrus, no
positional-only parameters).

Modes (AUTHKEY_HEX is the key in hex, or "-" for none: no handshake):
  listen ADDRESS AUTHKEY_HEX
      Listener(ADDRESS, authkey): print the bound address (the real port for
      tcp port 0), accept one client, echo every message back with
      send_bytes until EOF, exit 0.
  client ADDRESS AUTHKEY_HEX
      Client(ADDRESS, authkey): send the messages of SIZES, check that each
      comes back unchanged, exit 0.
  pipe FD
      Connection(FD), an inherited end of an mproc_pipe: first send b"" and
      b"xyz" (the C side checks the exact bytes of Python's framing), then
      echo every message until EOF, exit 0.
  objects FD
      Connection(FD), as for pipe, carrying objects (tests/interop/pickle.c):
      send every object of objects() with send(), then complex(1, 2) (a
      pickle naming a class, which mproc refuses) and "after"; then recv()
      as many objects and check each equals (and has the type of) the same
      object of objects(), then the shared list again, whose sharing must
      have survived, and bytearray(b"abc") (which Python can only send as a
      pickle naming the class), then an mproc proxy object (a persistent
      id, which recv() must refuse with UnpicklingError) and "after"; exit
      0, or 1 after printing the first mismatch.

  shm-* and shl-* (tests/interop/shm.c)
      SharedMemory and ShareableList: see shm_peer.py.

Exit status: 0 done, 1 an echo differed, 2 bad usage, 3 authentication
failed (AuthenticationError; "auth-failed" is printed first). A peer
left waiting (its C side died or stalled) ends itself after LIFETIME
seconds (SIGALRM), so nothing hangs.
"""

import math
import pickle
import signal
import sys
from multiprocessing.connection import AuthenticationError, Client, \
    Connection, Listener

# The client's messages: empty, one byte, 64 KiB, 64 MiB.
SIZES = (0, 1, 64 << 10, 64 << 20)
# Seconds before a peer ends itself, however far it got.
LIFETIME = 120


def pattern(size):
    """The deterministic content of a message of `size` bytes: byte i is
    i % 251 (a prime period, so a shifted or truncated copy differs)."""
    block = bytes(range(251))
    return (block * (size // 251 + 1))[:size]


def to_python(address):
    """(Python's address, family) from an mproc address."""
    if address.startswith("unix:@"):
        return "\0" + address[len("unix:@"):], "AF_UNIX"
    if address.startswith("unix:"):
        return address[len("unix:"):], "AF_UNIX"
    if address.startswith("tcp://"):
        # multiprocessing.connection speaks IPv4 only (family AF_INET).
        host, _, port = address[len("tcp://"):].rpartition(":")
        return (host, int(port)), "AF_INET"
    sys.exit("peer.py: unknown address " + address)


def to_mproc(address):
    """The mproc spelling of a Python address."""
    if isinstance(address, tuple):
        return "tcp://%s:%d" % (address[0], address[1])
    if isinstance(address, bytes):
        address = address.decode()
    if address.startswith("\0"):
        return "unix:@" + address[1:]
    return "unix:" + address


def echo(conn):
    """Send every message back until the peer closes its end."""
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(message)


def listen(address, authkey):
    python_address, family = to_python(address)
    listener = Listener(python_address, family, authkey=authkey)
    print(to_mproc(listener.address), flush=True)
    try:
        conn = listener.accept()
    finally:
        listener.close()
    echo(conn)
    conn.close()
    return 0


def client(address, authkey):
    python_address, family = to_python(address)
    conn = Client(python_address, family, authkey=authkey)
    for size in SIZES:
        message = pattern(size)
        conn.send_bytes(message)
        if conn.recv_bytes() != message:
            print("echo of %d bytes differs" % size, flush=True)
            return 1
    conn.close()
    return 0


def pipe(fd):
    conn = Connection(fd)
    conn.send_bytes(b"")
    conn.send_bytes(b"xyz")
    echo(conn)
    conn.close()
    return 0


def objects():
    """The objects that cross in "objects" mode, the same list that
    tests/interop/pickle.c builds in C, in the same order."""
    shared = [1, 2]
    return [
        0, 1, -1, 255, 256, 65535, 65536, -129, 2**31 - 1, 2**31, -2**31,
        -2**31 - 1, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 2**1000,
        -2**1000,
        1.5, -0.0, float("inf"), float("-inf"), float("nan"), 1e-300,
        "", "h\u00e9llo", "\U0001f600 non-BMP \U0001d11e", "x" * 100000,
        b"", bytes(range(256)), b"\0" * 100000,
        None, True, False,
        [], (), {}, set(), frozenset(),
        [1, [2, [3, [4]]]], (1, (2, 3), [4]), {"a": {"b": {"c": None}}},
        {(1, "a"): "tuple key", (2, (3, 4)): [5], 1.5: "f", None: 0,
         b"k": 1, frozenset({1}): 2},
        [shared, shared, (shared,)],
        {1, 2, 3}, frozenset({"x", "y"}),
        list(range(3000)), {str(i): i for i in range(1500)},
    ]


def same(a, b):
    """a == b with the same type, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def exchange_objects(fd):
    conn = Connection(fd)
    expected = objects()
    for obj in expected:
        conn.send(obj)
    conn.send(complex(1, 2))
    conn.send("after")
    for i, want in enumerate(expected):
        got = conn.recv()
        if not same(got, want):
            print("object %d: got %.200r, want %.200r" % (i, got, want),
                  flush=True)
            return 1
    got = conn.recv()
    if got[0] is not got[1] or got[0] is not got[2][0]:
        print("shared list not shared: %r" % (got,), flush=True)
        return 1
    got = conn.recv()
    if not same(got, bytearray(b"abc")):
        print("bytearray: got %r" % (got,), flush=True)
        return 1
    try:
        got = conn.recv()
        print("proxy object: got %r" % (got,), flush=True)
        return 1
    except pickle.UnpicklingError:
        pass
    got = conn.recv()
    if got != "after":
        print("after the proxy object: got %r" % (got,), flush=True)
        return 1
    conn.close()
    return 0


def main(argv):
    signal.alarm(LIFETIME)
    if argv and argv[0].startswith(("shm-", "shl-")):
        import shm_peer  # tests/interop/shm.c; Python 3.8 and later
        return shm_peer.main(argv)
    if len(argv) == 2 and argv[0] == "pipe":
        return pipe(int(argv[1]))
    if len(argv) == 2 and argv[0] == "objects":
        return exchange_objects(int(argv[1]))
    if len(argv) != 3 or argv[0] not in ("listen", "client"):
        print("usage: peer.py listen|client ADDRESS AUTHKEY_HEX | pipe FD"
              " | objects FD",
              file=sys.stderr)
        return 2
    run = listen if argv[0] == "listen" else client
    authkey = None if argv[2] == "-" else bytes.fromhex(argv[2])
    try:
        return run(argv[1], authkey)
    except AuthenticationError:
        print("auth-failed", flush=True)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
