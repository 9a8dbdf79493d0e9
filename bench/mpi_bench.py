"""mpi4py.futures peer of mpi_bench.cpp: the same work on an MPIPoolExecutor, in the same MPI
configuration. Run by mpi_bench (or by hand):

    mpirun -n 3 python3 -m mpi4py.futures bench/mpi_bench.py [--quick]

Rank 0 runs this script; the other ranks serve the executor. Prints one JSON object of medians.
"""
import json
import statistics
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def inc(x):
    return x + 1


def main():
    quick = "--quick" in sys.argv[1:]
    scale = 0.2 if quick else 1.0
    workers = MPI.COMM_WORLD.Get_size() - 1
    results = {"ranks": workers + 1}
    with MPIPoolExecutor() as executor:
        executor.submit(inc, 0).result()  # the workers are up

        samples = []
        for i in range(int(5000 * scale)):
            start = time.perf_counter()
            executor.submit(inc, i).result()
            samples.append(time.perf_counter() - start)
        results["apply_latency_us"] = statistics.median(samples) * 1e6

        # One message per task: chunksize 1, mpi4py's default.
        tasks = int(20000 * scale)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            out = list(executor.map(inc, range(tasks), chunksize=1))
            times.append(time.perf_counter() - start)
            assert out[-1] == tasks
        results["tiny_tasks_per_s"] = tasks / statistics.median(times)

        # Many tiny items in chunks: len / (4 * workers) per chunk, the rule mproc's map uses.
        items = int(1_000_000 * scale)
        chunksize = max(1, -(-items // (4 * workers)))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            out = list(executor.map(inc, range(items), chunksize=chunksize))
            times.append(time.perf_counter() - start)
            assert out[-1] == items
        results["chunked_items_per_s"] = items / statistics.median(times)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
