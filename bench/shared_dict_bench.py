#!/usr/bin/env python3
"""Python's Manager().dict() on the same work as bench/shared_dict_bench.cpp.

Prints one JSON object; shared_dict_bench runs this script and compares. Usage:
    shared_dict_bench.py --processes 2 [--quick]
"""
import argparse
import json
import multiprocessing as mp
import statistics
import time

ctx = mp.get_context("fork")
KEYS_PER_PROCESS = 1000


def work(index, d, setting, operations, barrier, stamps):
    base = index * KEYS_PER_PROCESS
    barrier.wait()
    stamps[2 * index] = time.monotonic_ns()
    if setting:
        for op in range(operations):
            d[base + op % KEYS_PER_PROCESS] = op
    else:
        get = d.get
        for op in range(operations):
            get(base + op % KEYS_PER_PROCESS)
    stamps[2 * index + 1] = time.monotonic_ns()


def operations_per_second(manager, processes, setting, operations):
    d = manager.dict({key: key for key in range(processes * KEYS_PER_PROCESS)})
    barrier = ctx.Barrier(processes)
    stamps = ctx.Array("q", 2 * processes, lock=False)
    children = [ctx.Process(target=work, args=(i, d, setting, operations, barrier, stamps))
                for i in range(processes)]
    for c in children:
        c.start()
    for c in children:
        c.join()
    if any(c.exitcode != 0 for c in children):
        raise RuntimeError("a benchmark process failed")
    first = min(stamps[2 * i] for i in range(processes))
    last = max(stamps[2 * i + 1] for i in range(processes))
    return operations * processes / ((last - first) / 1e9)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repetitions = 3 if args.quick else 5
    operations = 2_000 if args.quick else 20_000
    results = {}
    with ctx.Manager() as manager:
        for processes in (1, args.processes):
            for setting in (True, False):
                runs = [operations_per_second(manager, processes, setting, operations) for _ in range(repetitions)]
                results[f"{'set' if setting else 'get'}_{processes}"] = statistics.median(runs)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
