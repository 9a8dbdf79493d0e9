#!/usr/bin/env python3
"""Python's multiprocessing start methods on the same measurements as start_method_bench.cpp.

Prints one JSON object; start_method_bench runs this script and compares. Usage:
    start_method_bench.py --processes 4 [--quick]
"""
import argparse
import json
import multiprocessing as mp
import statistics
import time


def inc(x):
    return x + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    starts = 3 if args.quick else 10
    calls = 200 if args.quick else 1000
    results = {}
    for method in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        times = []
        for _ in range(starts):
            begin = time.perf_counter()
            # Started means: every worker has run something, as mproc's Pool constructor waits for.
            with ctx.Pool(args.processes) as pool:
                pool.map(inc, range(args.processes), chunksize=1)
                times.append(time.perf_counter() - begin)
        results["start_ms_" + method] = statistics.median(times) * 1e3
        with ctx.Pool(args.processes) as pool:
            pool.apply(inc, (0,))
            samples = []
            for i in range(calls):
                begin = time.perf_counter()
                pool.apply_async(inc, (i,)).get()
                samples.append(time.perf_counter() - begin)
            results["apply_us_" + method] = statistics.median(samples) * 1e6
    print(json.dumps(results))


if __name__ == "__main__":
    main()
