#!/usr/bin/env python3
"""Python's multiprocessing.Manager() on the same work as bench/manager_bench.cpp: the round trip of
a proxy dict's get and set, through a local manager and through a manager at a TCP address on the
loopback. Prints one JSON object; manager_bench runs this script and compares. Usage:
    manager_bench.py [--processes N] [--quick]
"""
import argparse
import json
import multiprocessing as mp
import multiprocessing.managers
import statistics
import time


def round_trips(d, calls):
    """The time of the proxy's first d[k] = v then d[k], and the median over 5 runs of `calls` of
    them, in microseconds."""
    start = time.perf_counter()
    d["key"] = -1
    d["key"]
    first = (time.perf_counter() - start) * 1e6
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(calls):
            d["key"] = i
            d["key"]
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return first, statistics.median(runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)  # unused: one client
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls = 500 if args.quick else 5000
    ctx = mp.get_context("fork")
    result = {}
    with ctx.Manager() as manager:
        result["dict_round_trip_first_us"], result["dict_round_trip_us"] = round_trips(manager.dict(), calls)
    manager = mp.managers.SyncManager(address=("127.0.0.1", 0), authkey=b"bench", ctx=ctx)
    manager.start()
    try:
        remote = mp.managers.SyncManager(address=manager.address, authkey=b"bench")
        remote.connect()
        first, median = round_trips(remote.dict(), calls)
        result["tcp_dict_round_trip_first_us"], result["tcp_dict_round_trip_us"] = first, median
    finally:
        manager.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
