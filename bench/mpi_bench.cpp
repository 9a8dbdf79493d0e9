// mproc::mpi::Pool benchmarks, side by side with mpi4py.futures (bench/mpi_bench.py) on the same
// machine, with the same number of MPI ranks, in the same run. Usage:
//
//     mpi_bench [--processes RANKS] [--quick] [--no-python] [--python-script PATH]
//
// Run directly, it launches two MPI jobs of RANKS ranks (default 3: rank 0 and two workers):
// itself under mpirun, then `python3 -m mpi4py.futures mpi_bench.py` under mpirun, and prints
// both results as a table of medians; "ratio" is how many times better mproc is. Launched by
// mpirun itself, it is the mproc side and prints its numbers as JSON.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ranges>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>
#include <mproc/mpi.hpp>

#include "bench_support.hpp"

namespace {

int inc(int x) { return x + 1; }

std::string mpirun_prefix(int ranks) {
    std::string command = MPROC_MPIEXEC " --oversubscribe";
    if (::geteuid() == 0) command += " --allow-run-as-root";
    return command + " -n " + std::to_string(ranks) + " ";
}

// Debian's mpi4py is installed for the system Python, which may not be the first python3 on PATH.
std::string python_with_mpi4py() {
    for (const char* python : {"python3", "/usr/bin/python3"})
        if (std::system((std::string(python) + " -c 'import mpi4py.futures' >/dev/null 2>&1").c_str()) == 0) return python;
    return {};
}

// The mproc side, on rank 0 of an MPI job.
int measure(bool quick) {
    const double scale = quick ? 0.2 : 1.0;
    mproc::mpi::Pool pool;
    pool.apply(inc, 0);

    std::vector<double> samples;
    for (int i = 0; i < static_cast<int>(20000 * scale); ++i)
        samples.push_back(mproc::bench::seconds_of([&] { pool.apply_async(inc, i).get(); }));
    const double latency_us = mproc::bench::median(samples) * 1e6;

    const int tasks = static_cast<int>(20000 * scale);
    const double tiny_seconds = mproc::bench::median_seconds(3, [&] {
        const auto out = pool.map(inc, std::views::iota(0, tasks), {.chunksize = 1});
        if (out.back() != tasks) std::abort();
    });

    const int items = static_cast<int>(1'000'000 * scale);
    const double chunked_seconds = mproc::bench::median_seconds(3, [&] {
        const auto out = pool.map(inc, std::views::iota(0, items));  // default chunking
        if (out.back() != items) std::abort();
    });

    std::printf("{\"ranks\": %d, \"apply_latency_us\": %.3f, \"tiny_tasks_per_s\": %.1f, \"chunked_items_per_s\": %.1f}\n",
                mproc::mpi::world_size(), latency_us, tasks / tiny_seconds, items / chunked_seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);  // under mpirun, worker ranks serve here
    if (mproc::mpi::launched()) {
        const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
        return measure(quick);
    }

    // --processes counts MPI ranks here, rank 0 included.
    auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/mpi_bench.py", 3);
    if (!options) return 2;
    if (options->processes < 2) options->processes = 2;
    const int ranks = options->processes;
    const std::string quick = options->quick ? " --quick" : "";

    std::printf("running mproc::mpi::Pool, %d ranks ...\n", ranks);
    std::fflush(stdout);
    char self[4096] = {};
    if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 1;
    auto mproc_numbers = mproc::bench::run_python(mpirun_prefix(ranks) + self + quick);
    if (!mproc_numbers.contains("apply_latency_us")) {
        std::fprintf(stderr, "mpi_bench: the mproc run failed\n");
        return 1;
    }

    std::map<std::string, double> python;
    if (options->with_python) {
        const std::string interpreter = python_with_mpi4py();
        if (interpreter.empty()) {
            std::printf("mpi4py not found (Debian: python3-mpi4py): mproc only\n");
        } else {
            std::printf("running mpi4py.futures (%s -m mpi4py.futures), %d ranks ...\n", interpreter.c_str(), ranks);
            std::fflush(stdout);
            python = mproc::bench::run_python(mpirun_prefix(ranks) + interpreter + " -m mpi4py.futures " +
                                              options->script + quick);
        }
    }

    const std::string workers = std::to_string(ranks - 1) + " worker ranks";
    std::vector<mproc::bench::Row> rows{
        {"apply round trip (latency), median", "us", mproc_numbers["apply_latency_us"], python["apply_latency_us"],
         true, ">= 10x mpi4py"},
        {"tiny tasks, 1 per message (" + workers + ")", "tasks/s", mproc_numbers["tiny_tasks_per_s"],
         python["tiny_tasks_per_s"], false, ">= 10x mpi4py"},
        {"map of 1M tiny items, chunks of len/(4*workers)", "items/s", mproc_numbers["chunked_items_per_s"],
         python["chunked_items_per_s"], false, ">= 10x mpi4py"},
    };
    std::printf("\n(\"Python\" is mpi4py.futures.MPIPoolExecutor; both under mpirun -n %d on this machine)\n", ranks);
    mproc::bench::print_table(rows);
    return 0;
}
