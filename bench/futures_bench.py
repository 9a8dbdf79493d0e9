#!/usr/bin/env python3
"""Python's executors on the same workloads as bench/futures_bench.cpp: concurrent.futures'
ProcessPoolExecutor, loky's (joblib.externals.loky) and pebble's ProcessPool.

Prints one JSON object, keys prefixed cf_, loky_ and pebble_; futures_bench runs this script and
compares. A peer that is not installed is left out. Usage:
    futures_bench.py --processes 2 [--quick]
"""
import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import statistics
import sys
import time


def inc(x):
    return x + 1


def nap(seconds):
    time.sleep(seconds)
    return seconds


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


class Peer:
    """One executor behind the calls the benchmark makes."""

    def __init__(self, name, make):
        self.name, self.make = name, make


def submit(executor, f, *args):
    if hasattr(executor, "schedule"):  # pebble
        return executor.schedule(f, args=list(args))
    return executor.submit(f, *args)


def map_all(executor, f, items, chunksize):
    if hasattr(executor, "schedule"):  # pebble: map returns a future of an iterator
        return list(executor.map(f, items, chunksize=chunksize).result())
    return list(executor.map(f, items, chunksize=chunksize))


def measure(executor, processes, scale, out, prefix):
    submit(executor, inc, 0).result()
    samples = []
    first = timed(lambda: submit(executor, inc, 1).result())
    for i in range(int(2000 * scale)):
        samples.append(timed(lambda: submit(executor, inc, i).result()))
    out[prefix + "round_trip_first_us"] = first * 1e6
    out[prefix + "round_trip_us"] = statistics.median(samples) * 1e6

    n = 10000

    def submit_many_as_completed():
        fs = [submit(executor, inc, i) for i in range(n)]
        total = 0
        for f in cf.as_completed(fs):
            total += f.result()
        assert total == n * (n + 1) // 2

    times = [timed(submit_many_as_completed) for _ in range(max(1, int(3 * scale)))]
    out[prefix + "as_completed_first_s"] = times[0]
    out[prefix + "as_completed_s"] = statistics.median(times)

    items = list(range(10**6))
    chunksize = 10000
    times = [timed(lambda: map_all(executor, inc, items, chunksize)) for _ in range(max(1, int(3 * scale)))]
    out[prefix + "map_first_items_per_s"] = len(items) / times[0]
    out[prefix + "map_items_per_s"] = len(items) / statistics.median(times)

    blockers = [submit(executor, nap, 0.5) for _ in range(processes)]
    time.sleep(0.1)  # the blockers are running
    queued = [submit(executor, inc, i) for i in range(1000)]
    cancelled = 0
    start = time.perf_counter()
    for f in queued:
        cancelled += bool(f.cancel())
    out[prefix + "cancel_1000_us"] = (time.perf_counter() - start) * 1e6
    out[prefix + "cancelled_of_1000"] = cancelled
    for f in blockers:
        f.result()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    results = {"python": "%d.%d.%d" % tuple(sys.version_info[:3])}
    fork = mp.get_context("fork")

    peers = [Peer("cf_", lambda: cf.ProcessPoolExecutor(args.processes, mp_context=fork))]
    try:
        from joblib.externals import loky
        peers.append(Peer("loky_", lambda: loky.ProcessPoolExecutor(args.processes)))
    except ImportError:
        pass
    try:
        import pebble
        peers.append(Peer("pebble_", lambda: pebble.ProcessPool(max_workers=args.processes, context=fork)))
    except ImportError:
        pass
    for peer in peers:
        executor = peer.make()
        try:
            measure(executor, args.processes, scale, results, peer.name)
        finally:
            if hasattr(executor, "schedule"):
                executor.close()
                executor.join()
            else:
                executor.shutdown(wait=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
