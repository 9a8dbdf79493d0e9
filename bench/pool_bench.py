#!/usr/bin/env python3
"""Python's multiprocessing.Pool on the same workloads as bench/pool_bench.cpp.

Prints one JSON object; pool_bench runs this script and compares. Usage:
    pool_bench.py --processes 2 [--quick]
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import time


def inc(x):
    return x + 1


def echo(b):
    return b


def spin(iterations):
    # Pure-Python CPU work, calibrated by the caller to about 20 ms.
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    results = {"python": "%d.%d.%d" % tuple(__import__("sys").version_info[:3])}

    with mp.get_context("fork").Pool(args.processes) as pool:
        results["apply_first_us"] = timed(lambda: pool.apply(inc, (0,))) * 1e6
        samples = []
        for i in range(int(2000 * scale)):
            start = time.perf_counter()
            pool.apply_async(inc, (i,)).get()
            samples.append(time.perf_counter() - start)
        results["apply_latency_us"] = statistics.median(samples) * 1e6

        items = list(range(10**6))
        times = [timed(lambda: pool.map(inc, items)) for _ in range(max(2, int(5 * scale)))]
        results["map_first_items_per_s"] = len(items) / times[0]
        results["map_items_per_s"] = len(items) / statistics.median(times[1:])

        n = int(20000 * scale)
        times = [timed(lambda: sum(pool.imap(inc, range(n), chunksize=1))) for _ in range(3)]
        results["imap_items_per_s"] = n / statistics.median(times)

        size = 128 << 20
        payload = bytes(size)
        results["echo_first_bytes_per_s"] = size / timed(lambda: pool.apply(echo, (payload,)))
        times = [timed(lambda: pool.apply(echo, (payload,))) for _ in range(max(1, int(3 * scale)))]
        results["echo_bytes_per_s"] = size / statistics.median(times)

        iterations = 1000
        while timed(lambda: spin(iterations)) < 0.02:
            iterations *= 2
        iterations = int(iterations * 0.02 / timed(lambda: spin(iterations)))
        tasks = [iterations] * (4 * args.processes)
        serial = statistics.median([timed(lambda: [spin(t) for t in tasks]) for _ in range(3)])
        parallel = statistics.median([timed(lambda: pool.map(spin, tasks, chunksize=1)) for _ in range(3)])
        results["cpu_speedup"] = serial / parallel

    print(json.dumps(results))


if __name__ == "__main__":
    main()
