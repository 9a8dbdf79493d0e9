#!/usr/bin/env python3
"""Python's multiprocessing (fork context) on the same workloads as bench/shared_bench.cpp.

Prints one JSON object; shared_bench runs this script and compares. Usage:
    shared_bench.py --processes 2 [--quick]
"""
import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time

ctx = mp.get_context("fork")


def timed_in_children(processes, work, *args):
    """Runs work(index, *args) in `processes` children released together by a barrier; returns the
    span from the first start to the last end, in seconds (time.monotonic_ns is system-wide)."""
    barrier = ctx.Barrier(processes)
    stamps = ctx.Array("q", 2 * processes, lock=False)

    def child(index):
        barrier.wait()
        stamps[2 * index] = time.monotonic_ns()
        work(index, *args)
        stamps[2 * index + 1] = time.monotonic_ns()

    children = [ctx.Process(target=child, args=(i,)) for i in range(processes)]
    for c in children:
        c.start()
    for c in children:
        c.join()
    if any(c.exitcode != 0 for c in children):
        raise RuntimeError("a benchmark process failed")
    first = min(stamps[2 * i] for i in range(processes))
    last = max(stamps[2 * i + 1] for i in range(processes))
    return (last - first) / 1e9


def increment(index, counter, n):
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1


def queue_work(index, queue, items):
    if index == 0:
        for n in range(items):
            queue.put(n)
    else:
        total = 0
        for _ in range(items):
            total += queue.get()
        if total != items * (items - 1) // 2:
            sys.exit(3)


def echo(connection, unused):
    unused.close()
    while True:
        x = connection.recv()
        if x < 0:
            break
        connection.send(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    repetitions = 3
    results = {"python_major": sys.version_info[0], "python_minor": sys.version_info[1]}

    # (a) Value('i') += 1 under its lock (an RLock by default), N processes.
    per_process = int(200_000 * scale)
    rates = []
    for _ in range(repetitions):
        counter = ctx.Value("i", 0)
        t = timed_in_children(args.processes, increment, counter, per_process)
        assert counter.value == per_process * args.processes
        rates.append(per_process * args.processes / t)
    results["locked_increments_per_s"] = statistics.median(rates)

    # (b) Queue put/get of small ints between 2 processes.
    items = int(100_000 * scale)
    rates = []
    for _ in range(repetitions):
        queue = ctx.Queue()
        t = timed_in_children(2, queue_work, queue, items)
        rates.append(items / t)
    results["queue_msgs_per_s"] = statistics.median(rates)
    results["queue_first_msgs_per_s"] = rates[0]

    # (c) Pipe ping-pong round trip.
    here, there = ctx.Pipe()
    p = ctx.Process(target=echo, args=(there, here))
    p.start()
    there.close()
    for i in range(1000):
        here.send(i)
        here.recv()
    samples = []
    for i in range(int(10_000 * scale)):
        start = time.perf_counter_ns()
        here.send(i)
        here.recv()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    here.send(-1)
    p.join()
    samples.sort()
    results["pipe_rtt_us"] = statistics.median(samples)
    results["pipe_rtt_p90_us"] = samples[len(samples) * 9 // 10]

    # (d) Uncontended acquire + release (includes the Python loop's own cost).
    iterations = int(1_000_000 * scale)
    lock = ctx.Lock()

    def lock_loop():
        acquire, release = lock.acquire, lock.release
        start = time.perf_counter_ns()
        for _ in range(iterations):
            acquire()
            release()
        return (time.perf_counter_ns() - start) / iterations

    results["lock_ns"] = statistics.median([lock_loop() for _ in range(repetitions)])

    value = ctx.Value("i", 0)

    def rlock_loop():
        rlock = value.get_lock()
        start = time.perf_counter_ns()
        for _ in range(iterations):
            with rlock:
                pass
        return (time.perf_counter_ns() - start) / iterations

    results["rlock_ns"] = statistics.median([rlock_loop() for _ in range(repetitions)])

    print(json.dumps(results))


if __name__ == "__main__":
    main()
