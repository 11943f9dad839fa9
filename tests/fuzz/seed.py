"""Write a seed corpus of pickles and framed messages for the fuzzers.

Usage: python3 tests/fuzz/seed.py DIR   (makes DIR/pickle, DIR/conn and
DIR/manager)
"""
import os
import pickle
import struct
import sys

OBJECTS = [
    None, True, False, 0, 1, -1, 255, 256, 65536, 2**31, 2**63, -2**100,
    1.5, -0.0, float("inf"), float("nan"), "", "héllo", "\U0001F600",
    b"", b"\x00" * 300, bytearray(b"ab"), [1, "a", None], (1,), (1, 2, 3),
    (1, 2, 3, 4), {"a": 1, "b": [1, 2]}, {1, 2}, frozenset({1}),
    [[1, 2], [3, [4, [5]]]], {(1, 2): "t"}, list(range(1200)),
]


def main(out):
    os.makedirs(os.path.join(out, "pickle"), exist_ok=True)
    os.makedirs(os.path.join(out, "conn"), exist_ok=True)
    n = 0
    for obj in OBJECTS:
        for proto in range(0, 6):
            data = pickle.dumps(obj, proto)
            with open(os.path.join(out, "pickle", f"{n}"), "wb") as f:
                f.write(data)
            if proto == 4:
                with open(os.path.join(out, "conn", f"{n}"), "wb") as f:
                    f.write(struct.pack("!i", len(data)) + data)
            n += 1
    manager(os.path.join(out, "manager"))
    shared = [1, 2]
    with open(os.path.join(out, "pickle", "shared"), "wb") as f:
        f.write(pickle.dumps([shared, shared], 4))


def str8(text):
    return bytes([len(text)]) + text.encode()


def manager(out):
    """Requests of src/manager/manager.h's wire form: op, fields, pickle."""
    os.makedirs(out, exist_ok=True)
    create = lambda typeid, args: b"\x02" + str8(typeid) + pickle.dumps(args, 5)
    call = lambda oid, name, args: (b"\x03" + struct.pack("<Q", oid)
                                    + str8(name) + pickle.dumps(args, 5))
    requests = [
        create("dict", ()), create("dict", ({"a": 1},)), create("list", ([1],)),
        create("Namespace", ()), create("Queue", (2,)), create("Lock", ()),
        create("Value", ("i", 3)), create("Array", ("d", [1.0, 2.0])),
        create("Barrier", (2, 1.0)), create("Semaphore", (1,)),
        call(1, "__setitem__", ("k", [1, 2])), call(1, "__getitem__", ("k",)),
        call(1, "keys", ()), call(1, "pop", ("k", None)), call(2, "append", (3,)),
        call(2, "__getitem__", (-1,)), call(3, "__setattr__", ("x", 1)),
        call(5, "put", (1, 0.0)), call(5, "get", (0.0,)),
        call(6, "acquire", (0.0,)), call(7, "set", (4,)), call(1, "_getvalue", ()),
        b"\x04" + struct.pack("<Q", 1), b"\x05" + struct.pack("<Q", 1),
        b"\x09" + struct.pack("<Q", 1), b"\x08" + pickle.dumps([1, "a"], 5),
    ]
    for n, request in enumerate(requests):
        with open(os.path.join(out, f"{n}"), "wb") as f:
            f.write(request)


if __name__ == "__main__":
    main(sys.argv[1])
