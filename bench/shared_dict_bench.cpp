// SharedDict against Python's Manager().dict() (bench/shared_dict_bench.py), on the same work in
// the same run: set and get of an int key and an int value, from one process and from N (2 by
// default) at once, each process on keys of its own. Throughput is total operations per second,
// from the first process's start to the last one's end, median of repeated runs; "ratio" is how
// many times faster mproc is. Usage:
//     shared_dict_bench [--processes N] [--quick] [--no-python] [--python-script PATH]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

using Dict = mproc::SharedDict<long, long>;
constexpr long keys_per_process = 1000;

long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Each process sets (or gets) its own keys `operations` times, all released together by a
// barrier. Returns operations per second over all of them.
double operations_per_second(int processes, bool setting, long operations) {
    Dict dict(static_cast<std::size_t>(processes) * keys_per_process);
    for (long key = 0; key < processes * keys_per_process; ++key) dict.set(key, key);
    mproc::Barrier start(static_cast<unsigned>(processes));
    mproc::Array<long long> times(2 * static_cast<std::size_t>(processes), {.lock = false});
    std::vector<mproc::Process> children;
    for (int i = 0; i < processes; ++i)
        children.emplace_back(
            [](Dict d, mproc::Barrier barrier, mproc::Array<long long> stamps, int index, bool set, long n) {
                const long base = index * keys_per_process;
                long sum = 0;
                barrier.wait();
                stamps[2 * static_cast<std::size_t>(index)] = now_ns();
                for (long op = 0; op < n; ++op) {
                    if (set)
                        d.set(base + op % keys_per_process, op);
                    else
                        sum += *d.get(base + op % keys_per_process);
                }
                stamps[2 * static_cast<std::size_t>(index) + 1] = now_ns();
                if (sum == -1) std::printf("impossible\n");  // keeps the reads
            },
            dict, start, times, i, setting, operations);
    for (auto& child : children) child.start();
    for (auto& child : children) child.join();
    for (auto& child : children)
        if (child.exitcode() != 0) throw std::runtime_error("shared_dict_bench: a benchmark process failed");
    long long first = times[0], last = times[1];
    for (std::size_t i = 0; i < static_cast<std::size_t>(processes); ++i) {
        first = std::min(first, times[2 * i]);
        last = std::max(last, times[2 * i + 1]);
    }
    return static_cast<double>(operations) * processes / (static_cast<double>(last - first) / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/shared_dict_bench.py");
    if (!options) return 2;
    auto python = mproc::bench::run_python_peer(*options, "Manager().dict()");
    const int repetitions = options->quick ? 3 : 5;
    const long operations = options->quick ? 200'000 : 2'000'000;

    std::vector<mproc::bench::Row> rows;
    std::vector<int> process_counts{1};
    if (options->processes > 1) process_counts.push_back(options->processes);
    for (const int processes : process_counts) {
        for (const bool setting : {true, false}) {
            std::vector<double> runs;
            for (int r = 0; r < repetitions; ++r) runs.push_back(operations_per_second(processes, setting, operations));
            const std::string what = std::string(setting ? "set" : "get") + "_" + std::to_string(processes);
            rows.push_back({std::string("SharedDict<long, long> ") + (setting ? "set" : "get") + ", " +
                                std::to_string(processes) + (processes == 1 ? " process" : " processes"),
                            "ops/s", mproc::bench::median(runs), python[what], false,
                            processes == 1 ? "" : ">= 1000x Manager"});
        }
    }
    std::printf("\nmachine: %d CPUs for mproc::cpu_count()\n", mproc::cpu_count());
    mproc::bench::print_table(rows);
    return 0;
}
