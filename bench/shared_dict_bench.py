#!/usr/bin/env python3
"""Python's Manager().dict() on the same work as bench/shared_dict_bench.cpp.

Prints one JSON object; shared_dict_bench runs this script and compares. Usage:
    shared_dict_bench.py --processes 2 [--quick]
"""
import argparse
import json
import statistics

from shared_bench import ctx, timed_in_children  # the fork context, processes released together

KEYS_PER_PROCESS = 1000


def work(index, d, setting, operations):
    base = index * KEYS_PER_PROCESS
    if setting:
        for op in range(operations):
            d[base + op % KEYS_PER_PROCESS] = op
    else:
        get = d.get
        for op in range(operations):
            get(base + op % KEYS_PER_PROCESS)


def operations_per_second(manager, processes, setting, operations):
    d = manager.dict({key: key for key in range(processes * KEYS_PER_PROCESS)})
    return operations * processes / timed_in_children(processes, work, d, setting, operations)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repetitions = 3 if args.quick else 5
    operations = 2_000 if args.quick else 20_000
    results = {}
    with ctx.Manager() as manager:
        for processes in sorted({1, args.processes}):
            for setting in (True, False):
                runs = [operations_per_second(manager, processes, setting, operations) for _ in range(repetitions)]
                results[f"{'set' if setting else 'get'}_{processes}"] = statistics.median(runs)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
