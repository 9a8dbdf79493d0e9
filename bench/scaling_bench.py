#!/usr/bin/env python3
"""Python's multiprocessing.Pool on the sweeps of bench/scaling_bench.cpp.

Prints one flat JSON object ("start_ms_4": ..., "echo_GBps_4096": ...); scaling_bench runs this
script and writes its numbers beside mproc's. Trimmed where Python would take minutes: pending
tasks up to 10^5 (mproc goes to 10^6), imap with a tenth of mproc's items, and the echo stops at
the size whose next two echoes would take over 10 s (1 GiB is reached on a quiet machine). Usage:
    scaling_bench.py --processes 2 [--quick]
"""
import argparse
import gc
import json
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time

context = mp.get_context("fork")
# Inherited by the workers (fork): what holds them busy in the pending-task sweep.
started = context.Semaphore(0)
gate = context.Event()


def inc(x):
    return x + 1


def echo(b):
    return b


def hold_worker():
    started.release()
    gate.wait()


def progress(text):
    # stdout carries the JSON for scaling_bench: progress goes to stderr.
    print("  python: " + text, file=sys.stderr, flush=True)


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def footprint_kib(pid):
    """(Pss, Private_Clean + Private_Dirty) of /proc/PID/smaps_rollup, in KiB."""
    values = {}
    with open("/proc/%d/smaps_rollup" % pid) as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = float(parts[1])
    return values["Pss"], values["Private_Clean"] + values["Private_Dirty"]


def idle_child():
    """A child forked from this interpreter that waits to be killed: the program's own pages."""
    pid = os.fork()
    if pid == 0:
        while True:
            signal.pause()
    return pid


def end_child(pid):
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def resident_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def worker_sweep(results, quick):
    items = list(range(10**6))
    workers = 1
    while workers <= 64:
        progress("%d workers" % workers)
        starts = []
        pool = None
        for _ in range(2 if quick else 3):
            if pool is not None:
                pool.terminate()
                pool.join()
            start = time.perf_counter()
            pool = context.Pool(workers)
            pool.apply(inc, (0,))
            starts.append(time.perf_counter() - start)
        # Forked right after the workers, it shares the same pages of the interpreter with them.
        child = idle_child()
        round_trips = [timed(lambda: pool.apply(inc, (1,))) for _ in range(200 if quick else 1000)]
        maps = [timed(lambda: pool.map(inc, items)) for _ in range(2 if quick else 3)]
        footprints = [footprint_kib(process.pid) for process in pool._pool]
        results["start_ms_%d" % workers] = statistics.median(starts) * 1e3
        results["start_first_ms_%d" % workers] = starts[0] * 1e3
        results["apply_us_%d" % workers] = statistics.median(round_trips) * 1e6
        results["map_Mps_%d" % workers] = len(items) / statistics.median(maps[1:]) / 1e6
        results["map_first_Mps_%d" % workers] = len(items) / maps[0] / 1e6
        results["worker_pss_KiB_%d" % workers] = statistics.median(f[0] for f in footprints)
        results["worker_private_KiB_%d" % workers] = statistics.median(f[1] for f in footprints)
        results["idle_child_pss_KiB_%d" % workers] = footprint_kib(child)[0]
        pool.terminate()
        pool.join()
        end_child(child)
        workers *= 2


def message_size_sweep(results, processes, quick):
    largest = 16 << 20 if quick else 1 << 30
    with context.Pool(processes) as pool:
        size = 8
        while size <= largest:
            progress("%d bytes" % size)
            payload = bytes(size)
            repetitions = max(1, min((64 << 20) // size, 200 if quick else 1000))
            times = [timed(lambda: pool.apply(echo, (payload,))) for _ in range(repetitions + 1)]
            median = statistics.median(times[1:])
            results["echo_GBps_%d" % size] = size / median / 1e9
            results["echo_first_GBps_%d" % size] = size / times[0] / 1e9
            del payload, times
            size *= 8
            # A pipe moves the bytes 64 KiB at a time, a wakeup each: on a loaded machine the
            # large sizes would take minutes. Stop where the next two echoes would pass 10 s.
            if 2 * 8 * median > 10:
                progress("echo trimmed: %d bytes and above would take over 10 s" % size)
                break


def pending_sweep(results, processes, quick):
    largest = 10**3 if quick else 10**5
    with context.Pool(processes) as pool:
        tasks = 10
        while tasks <= largest:
            progress("%d pending tasks" % tasks)
            gate.clear()
            holders = [pool.apply_async(hold_worker) for _ in range(processes)]
            for _ in range(processes):
                started.acquire()
            gc.collect()
            before = resident_bytes()
            start = time.perf_counter()
            pending = [pool.apply_async(inc, (i,)) for i in range(tasks)]
            submit = time.perf_counter() - start
            growth = resident_bytes() - before
            start = time.perf_counter()
            gate.set()
            for result in pending:
                result.get()
            drain = time.perf_counter() - start
            for holder in holders:
                holder.get()
            results["rss_B_per_task_%d" % tasks] = growth / tasks
            results["submit_us_per_task_%d" % tasks] = submit / tasks * 1e6
            results["drain_s_%d" % tasks] = drain
            del pending
            tasks *= 10


def imap_sweep(results, processes, quick):
    with context.Pool(processes) as pool:
        chunksize = 1
        while chunksize <= 4096:
            items = min(10**6, 10**4 * chunksize) // (10 if quick else 1)
            progress("chunksize %d, %d items" % (chunksize, items))
            times = [timed(lambda: sum(pool.imap(inc, range(items), chunksize=chunksize))) for _ in range(3)]
            results["imap_Mps_%d" % chunksize] = items / statistics.median(times[1:]) / 1e6
            results["imap_first_Mps_%d" % chunksize] = items / times[0] / 1e6
            chunksize *= 4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = {}
    worker_sweep(results, args.quick)
    message_size_sweep(results, args.processes, args.quick)
    pending_sweep(results, args.processes, args.quick)
    imap_sweep(results, args.processes, args.quick)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
