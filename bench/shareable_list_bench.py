#!/usr/bin/env python3
"""Python's multiprocessing.shared_memory.ShareableList on the same work as
bench/shareable_list_bench.cpp.

Prints one JSON object; shareable_list_bench runs this script and compares. Usage:
    shareable_list_bench.py [--processes N] [--quick]     (--processes is accepted and unused)
"""
import argparse
import json
import statistics
import sys
import time
from multiprocessing import shared_memory


def per_op_ns(repetitions, iterations, loop):
    """The median over `repetitions` runs of loop(iterations), in ns per iteration."""
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        loop(iterations)
        samples.append((time.perf_counter_ns() - start) / iterations)
    return statistics.median(samples)


def hundred_items():
    """The list both benchmarks use: 100 items, ints and short strs alternating."""
    return [i if i % 2 == 0 else f"item {i:03}" for i in range(100)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    repetitions = 5
    iterations = int(1_000_000 * scale)
    results = {"python_major": sys.version_info[0], "python_minor": sys.version_info[1]}

    sl = shared_memory.ShareableList(hundred_items())
    try:
        def read_int(n):
            for _ in range(n):
                sl[42]

        def read_str(n):
            for _ in range(n):
                sl[43]

        def write_int(n):
            for i in range(n):
                sl[42] = i

        def write_str(n):
            for _ in range(n):
                sl[43] = "hello"

        results["read_int_ns"] = per_op_ns(repetitions, iterations, read_int)
        results["read_str_ns"] = per_op_ns(repetitions, iterations, read_str)
        results["write_int_ns"] = per_op_ns(repetitions, iterations, write_int)
        results["write_str_ns"] = per_op_ns(repetitions, iterations, write_str)
    finally:
        sl.shm.close()
        sl.shm.unlink()

    items = hundred_items()

    def create_attach(n):
        for _ in range(n):
            created = shared_memory.ShareableList(items)
            attached = shared_memory.ShareableList(name=created.shm.name)
            attached.shm.close()
            created.shm.close()
            created.shm.unlink()

    results["create_attach_us"] = per_op_ns(repetitions, int(2_000 * scale), create_attach) / 1e3

    print(json.dumps(results))


if __name__ == "__main__":
    main()
