"""Write a seed corpus of pickles and framed messages for the fuzzers.

Usage: python3 tests/fuzz/seed.py DIR   (makes DIR/pickle and DIR/conn)
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
    shared = [1, 2]
    with open(os.path.join(out, "pickle", "shared"), "wb") as f:
        f.write(pickle.dumps([shared, shared], 4))


if __name__ == "__main__":
    main(sys.argv[1])
