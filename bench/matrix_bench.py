#!/usr/bin/env python3
"""The Python peer of mproc-matrix: the same computation, the classic tutorial's way.

Reads the same input from standard input (n, then A, then B), computes addMat and mulMat in one
process (Single) and with multiprocessing.Pool (Multi) over the rows of A, and prints the same
lines as mproc-matrix (or, with --json, the same JSON). bench/matrix_bench.sh runs both programs on
one input and compares them.

As in the tutorial, the pool maps a function over the rows: each task receives its rows (pickled)
and B is a global that the workers inherit when they are forked, so it is not sent with every task.
The row kernel is plain Python, in i-k-j order: element (i, j) is computed by the same floating-point
operations in the same order as mproc-matrix's kernel, so both produce the same bits and the same
checksums. It uses a list comprehension over zip(), the fastest plain-Python form of that loop, so
that the comparison is not against a slow baseline.

map_async is timed including get(): the tutorial's map_async run printed "mulMat - Multi: 0.0044"
because it stopped the clock before the work was done. --pitfall prints that wrong number too, to
show the difference.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time

# The operands. Set before the pool is created, so that forked workers inherit them.
A = []
B = []


def add_row(rows):
    a_row, b_row = rows
    return [x + y for x, y in zip(a_row, b_row)]


def mul_row(a_row):
    # i-k-j: row k of B, scaled by A[i][k], is added to the result row.
    result = [0.0] * len(B)
    for scale, b_row in zip(a_row, B):
        result = [c + scale * b for c, b in zip(result, b_row)]
    return result


def identity(x):
    return x


def checksum(matrix):
    # The sum of all elements in row-major order, one addition after another (as mproc-matrix).
    total = 0.0
    for row in matrix:
        for value in row:
            total += value
    return total


def read_input(text):
    tokens = text.split()
    if not tokens:
        sys.exit("matrix_bench.py: bad input: empty")
    n = int(tokens[0])
    if len(tokens) != 1 + 2 * n * n:
        sys.exit(f"matrix_bench.py: bad input: n = {n} needs {2 * n * n} numbers, found {len(tokens) - 1}")
    numbers = [float(token) for token in tokens[1:]]
    a = [numbers[i * n:(i + 1) * n] for i in range(n)]
    b = [numbers[(n + i) * n:(n + i + 1) * n] for i in range(n)]
    return n, a, b


def timed(work):
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def main():
    global A, B
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", "-p", type=int, default=os.cpu_count(), help="pool size (default: cpu_count())")
    parser.add_argument("--method", "-m", choices=["map", "map_async", "imap", "all"], default="all")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each Single and Multi this many times and report the fastest (default 1)")
    parser.add_argument("--multi-only", action="store_true",
                        help="time Multi only: pure-Python Single takes seconds at n = 420 (the results are "
                             "still checked, through the checksums matrix_bench.sh compares with mproc-matrix's)")
    parser.add_argument("--pitfall", action="store_true",
                        help="also print mulMat timed the tutorial's wrong way: map_async without get()")
    args = parser.parse_args()

    n, A, B = read_input(sys.stdin.read())
    methods = ["map", "map_async", "imap"] if args.method == "all" else [args.method]
    pairs = list(zip(A, B))

    pool_start, pool = timed(lambda: multiprocessing.Pool(args.processes))
    pool_start += timed(lambda: pool.map(identity, range(args.processes), chunksize=1))[0]

    def multi(method, function, items):
        if method == "map":
            return pool.map(function, items)
        if method == "map_async":
            return pool.map_async(function, items).get()  # the work is done only when get() returns
        return list(pool.imap(function, items))

    reference = {}
    results = {}
    for method in methods:
        timings = {}
        for name, function, items in (("addMat", add_row, pairs), ("mulMat", mul_row, A)):
            single_runs, multi_runs = [], []
            for _ in range(args.repeat):
                if not args.multi_only:
                    seconds, single = timed(lambda: [function(item) for item in items])
                    single_runs.append(seconds)
                    reference.setdefault(name, single)
                seconds, result = timed(lambda: multi(method, function, items))
                multi_runs.append(seconds)
                reference.setdefault(name, result)
                if result != reference[name]:
                    sys.exit(f"matrix_bench.py: {name} - Multi ({method}) differs from Single")
            single_seconds = min(single_runs, default=float("nan"))
            multi_seconds = min(multi_runs)
            timings[name] = {"single": single_seconds, "multi": multi_seconds,
                             "speedup": single_seconds / multi_seconds,
                             "single_runs": single_runs, "multi_runs": multi_runs}
        results[method] = timings
        if not args.json:
            print(f"Output ({method}):")
            print(f"addMat - Single: {timings['addMat']['single']}")
            print(f"addMat - Multi:  {timings['addMat']['multi']}")
            print(f"mulMat - Single: {timings['mulMat']['single']}")
            print(f"mulMat - Multi:  {timings['mulMat']['multi']}")
            sys.stdout.flush()

    if args.pitfall:
        start = time.perf_counter()
        pending = pool.map_async(mul_row, A)
        wrong = time.perf_counter() - start  # the tutorial's "strange magic": nothing is done yet
        pending.get()
        right = time.perf_counter() - start
        if not args.json:
            print(f"\nmulMat - Multi:  {wrong}   <- map_async timed without get(): the work had not even started")
            print(f"mulMat - Multi:  {right}   <- the same call, timed until get() returned")
        results["pitfall"] = {"without_get": wrong, "with_get": right}

    pool.close()
    pool.join()

    if args.json:
        print(json.dumps({
            "program": "matrix_bench.py",
            "python": sys.version.split()[0],
            "n": n,
            "processes": args.processes,
            "repeat": args.repeat,
            "cpu_count": os.cpu_count(),
            "sharing": "rows of A pickled into each task; B inherited by the forked workers",
            "pool_start_seconds": pool_start,
            "checksums": {"addMat": checksum(reference["addMat"]), "mulMat": checksum(reference["mulMat"])},
            "methods": {method: results[method] for method in methods},
        }, indent=2))
    else:
        print(f"\nSpeedup, Single time / Multi time (n = {n}, {args.processes} processes):")
        for name in ("addMat", "mulMat"):
            line = "  ".join(f"{method}: {results[method][name]['speedup']:.2f}x" for method in methods)
            print(f"{name} -  {line}")


if __name__ == "__main__":
    main()
