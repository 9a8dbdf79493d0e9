#!/usr/bin/env python3
"""Python's multiprocessing.connection on the same work as bench/connection_bench.cpp: Client()
with the authkey handshake, send_bytes/recv_bytes round trips of 8 B and 64 KiB through a forked
child over a Unix socket and over TCP on the loopback, and wait() on 100 Pipe()s.

Prints one JSON object (medians and first samples, in microseconds); connection_bench runs this
script and compares. Usage:
    connection_bench.py [--processes N] [--quick]     (--processes is accepted and unused)
"""
import argparse
import json
import os
import statistics
import sys
import time
from multiprocessing.connection import Client, Listener, Pipe, wait

AUTHKEY = b"connection bench"


def sample(count, work):
    """The times of `count` runs of work(), in seconds."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


def fork_child(body):
    """Forks a child that runs body() and leaves with os._exit: 0, or 1 if body raised. Returns
    once the child runs, so that a first sample times the first call, not the child's start."""
    running_read, running_write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(running_write)
        if os.read(running_read, 1) != b"r":
            raise SystemExit("connection_bench.py: a child did not start")
        os.close(running_read)
        return pid
    os.close(running_read)
    os.write(running_write, b"r")
    os.close(running_write)
    status = 0
    try:
        body()
    except BaseException as e:  # the child must never return into the parent's code
        print(f"connection_bench.py child: {e!r}", file=sys.stderr, flush=True)
        status = 1
    os._exit(status)


def join_child(pid):
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("connection_bench.py: a child failed")


def setup_times(listener, connections):
    """Client() in the parent while a child accepts and handshakes."""
    def serve():
        for _ in range(connections):
            listener.accept()

    server = fork_child(serve)
    samples = sample(connections, lambda: Client(listener.address, authkey=AUTHKEY).close())
    join_child(server)
    return samples


def round_trip_times(listener, size, round_trips):
    """Round trips of a `size`-byte message through a child that echoes until the connection ends."""
    def echo():
        connection = Client(listener.address, authkey=AUTHKEY)
        try:
            while True:
                connection.send_bytes(connection.recv_bytes())
        except EOFError:
            pass

    child = fork_child(echo)
    connection = listener.accept()
    message = b"\x07" * size

    def round_trip():
        connection.send_bytes(message)
        if len(connection.recv_bytes()) != size:
            raise SystemExit("connection_bench.py: wrong echo")

    samples = sample(round_trips, round_trip)
    connection.close()
    join_child(child)
    return samples


def wait_times(calls, rounds):
    """wait() over the receiving ends of 100 Pipe()s: alone when one is ready, and in rounds."""
    pipes = [Pipe() for _ in range(100)]
    readers = [reader for reader, _ in pipes]
    one_ready = []

    def signal_and_wait(k, wait_samples):
        pipes[k][1].send_bytes(b"x")
        start = time.perf_counter()
        ready = wait(readers)
        if wait_samples is not None:
            wait_samples.append(time.perf_counter() - start)
        if ready != [readers[k]]:
            raise SystemExit("connection_bench.py: wait() returned the wrong connections")
        readers[k].recv_bytes()

    for i in range(calls):
        signal_and_wait(i * 37 % len(pipes), one_ready)

    def round_of_all():
        for k in range(len(pipes)):
            signal_and_wait(k, None)

    return one_ready, sample(rounds, round_of_all)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    # Python is slower: fewer samples than mproc takes, for a run of similar length.
    scale = 1 if args.quick else 5
    results = {}

    def report(key, samples):
        results[key + "_us"] = statistics.median(samples) * 1e6
        results[key + "_first_us"] = samples[0] * 1e6

    for transport in ("unix", "tcp"):
        if transport == "tcp":
            listener = Listener(("127.0.0.1", 0), authkey=AUTHKEY)
        else:
            listener = Listener(f"\0connection-bench-{os.getpid()}", authkey=AUTHKEY)
        with listener:
            report("setup_" + transport, setup_times(listener, 100 * scale))
            report("round_trip_8_" + transport, round_trip_times(listener, 8, 1000 * scale))
            report("round_trip_65536_" + transport, round_trip_times(listener, 65536, 200 * scale))
    one_ready, rounds = wait_times(200 * scale, 5 * scale)
    report("wait_one_ready", one_ready)
    report("wait_round", rounds)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
