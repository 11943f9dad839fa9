"""bench/python/pickling.py - the Python twin of bench/pickling.c.

    pickle_roundtrip_1000_dicts  pickle.dumps(obj, 4) and pickle.loads of a
                                 list of 1,000 dicts {'name': 'item<i>',
                                 'id': i, 'score': i * 0.5} (CPython's C
                                 pickler, as Connection.send / recv use)

Warm-up iterations are discarded. Prints the median in microseconds:

    <row> <median>

Usage: python3 pickling.py [--iters N] [row-prefix...]
"""

import pickle
import statistics
import sys
import time

from harness import parse_args, selected

WARMUP = 50
ITERS = 2000
ROW = "pickle_roundtrip_1000_dicts"


def roundtrip_us(obj):
    t0 = time.perf_counter_ns()
    pickle.loads(pickle.dumps(obj, 4))
    return (time.perf_counter_ns() - t0) / 1000


def main(argv):
    iters, prefixes = parse_args(argv, "pickling.py")
    iters = iters or ITERS
    if not selected(prefixes, ROW, [ROW]):
        return
    obj = [{"name": "item%d" % i, "id": i, "score": i * 0.5}
           for i in range(1000)]
    samples = [roundtrip_us(obj) for _ in range(WARMUP + iters)][WARMUP:]
    print(f"{ROW} {statistics.median(samples):.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
