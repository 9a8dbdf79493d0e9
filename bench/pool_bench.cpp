// Pool benchmarks, side by side with Python's multiprocessing.Pool on the same work in the same
// run (bench/pool_bench.py). Ratios are medians of repeated runs; "ratio" is how many times
// better mproc is. Usage:
//     pool_bench [--processes N] [--quick] [--no-python] [--python-script PATH]
#include <cstdio>
#include <cstring>
#include <numeric>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

int inc(int x) { return x + 1; }

std::vector<std::byte> echo(std::vector<std::byte> bytes) { return bytes; }

// CPU work that the compiler cannot fold away: ~20 ms when calibrated.
std::uint64_t spin(std::uint64_t iterations) {
    std::uint64_t x = 88172645463325252ull + iterations;
    for (std::uint64_t i = 0; i < iterations; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/pool_bench.py");
    if (!options) return 2;
    const int processes = options->processes;
    const bool quick = options->quick, with_python = options->with_python;
    using mproc::bench::median_seconds;
    const double scale = quick ? 0.2 : 1.0;

    auto python = mproc::bench::run_python_peer(*options, "Python's multiprocessing, Pool(" + std::to_string(processes) + ")");
    std::printf("running mproc, Pool(%d) ...\n", processes);
    std::fflush(stdout);

    mproc::Pool pool(processes);
    std::vector<mproc::bench::Row> rows;

    // Each benchmark reports its first call too: programs call map once on fresh data more often
    // than eleven times on the same vector, and fresh memory costs page faults.
    {
        rows.push_back({"apply(f, x) latency, first call", "us", mproc::bench::seconds_of([&] { pool.apply(inc, 0); }) * 1e6,
                        python["apply_first_us"], true, ""});
        std::vector<double> samples;
        for (int i = 0; i < static_cast<int>(20000 * scale); ++i)
            samples.push_back(mproc::bench::seconds_of([&] { pool.apply_async(inc, i).get(); }));
        rows.push_back({"apply_async(f, x).get() latency, median", "us", mproc::bench::median(samples) * 1e6,
                        python["apply_latency_us"], true, ">= 15x Python"});
    }
    {
        std::vector<int> items(1'000'000);
        std::iota(items.begin(), items.end(), 0);
        const double first = mproc::bench::seconds_of([&] { pool.map(inc, items); });
        const double time = median_seconds(static_cast<int>(std::max(3.0, 11 * scale)), [&] { pool.map(inc, items); });
        const double count = static_cast<double>(items.size());
        rows.push_back({"map of 1e6 trivial ints, first call", "M/s", count / first / 1e6,
                        python["map_first_items_per_s"] / 1e6, false, ">= 100 M/s"});
        rows.push_back({"map of 1e6 trivial ints, throughput", "M/s", count / time / 1e6,
                        python["map_items_per_s"] / 1e6, false, ">= 50x Python"});
    }
    {
        const int n = static_cast<int>(200000 * scale);
        const double time = median_seconds(3, [&] {
            long sum = 0;
            for (int x : pool.imap(inc, std::views::iota(0, n))) sum += x;
        });
        rows.push_back({"imap, chunksize 1, throughput", "k/s", n / time / 1e3, python["imap_items_per_s"] / 1e3,
                        false, ">= 30x Python"});
    }
    {
        std::vector<std::byte> payload(std::size_t{128} << 20, std::byte{1});
        // What the echo's result costs at the least: the same bytes copied into fresh memory here.
        const double local_copy = mproc::bench::seconds_of([&] {
            std::vector<std::byte> copy(payload.begin(), payload.end());
            mproc::bench::keep(copy.data());
        });
        const double first = mproc::bench::seconds_of([&] { payload = pool.apply(echo, std::move(payload)); });
        const double time = median_seconds(5, [&] { payload = pool.apply(echo, std::move(payload)); });
        const double size = static_cast<double>(payload.size());
        rows.push_back({"128 MiB copied locally into fresh memory", "GB/s", size / local_copy / 1e9, 0, false, ""});
        rows.push_back({"128 MiB vector<byte> echoed by apply, first", "GB/s", size / first / 1e9,
                        python["echo_first_bytes_per_s"] / 1e9, false, ""});
        rows.push_back({"  first echo's time / the local copy's", "x", first / local_copy, 0, true, "<= 1.5"});
        rows.push_back({"128 MiB vector<byte> echoed by apply, median", "GB/s", size / time / 1e9,
                        python["echo_bytes_per_s"] / 1e9, false, ">= 1.5 GB/s"});
    }
    {
        // Results go to a volatile so that the serial baseline is not optimized away.
        volatile std::uint64_t sink = 0;
        std::uint64_t iterations = 1 << 16;
        while (mproc::bench::seconds_of([&] { sink = spin(iterations); }) < 0.02) iterations *= 2;
        iterations = static_cast<std::uint64_t>(static_cast<double>(iterations) * 0.02 /
                                                mproc::bench::seconds_of([&] { sink = spin(iterations); }));
        const std::vector<std::uint64_t> tasks(4 * static_cast<std::size_t>(processes), iterations);
        const double serial = median_seconds(3, [&] {
            for (auto t : tasks) sink = sink + spin(t);
        });
        const double parallel = median_seconds(3, [&] { pool.map(spin, tasks, {.chunksize = 1}); });
        rows.push_back({"CPU-bound map, 4 x processes tasks of 20 ms", "x", serial / parallel, python["cpu_speedup"],
                        false, ">= 0.9 x " + std::to_string(processes)});
    }
    std::printf("\nmachine: %u hardware threads, mproc::cpu_count() = %d; Python %s\n",
                std::thread::hardware_concurrency(), mproc::cpu_count(), with_python ? "3 (see script)" : "not run");
    mproc::bench::print_table(rows);
    return 0;
}
