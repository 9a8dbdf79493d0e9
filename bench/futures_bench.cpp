// Executor benchmarks, side by side in one run with Python's concurrent.futures
// ProcessPoolExecutor, loky's ProcessPoolExecutor and pebble's ProcessPool on the same work
// (bench/futures_bench.py), all with the same number of workers. "vs best" is how many times
// better mproc is than the best of the three. Medians of repeated runs, and the first call.
// Usage:
//     futures_bench [--processes N] [--quick] [--no-python] [--python-script PATH]
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

int inc(int x) { return x + 1; }

double nap(double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    return seconds;
}

struct Row {
    std::string name;
    std::string unit;
    double mproc;
    std::string key;  // of the peers' numbers: cf_KEY, loky_KEY, pebble_KEY
    bool lower_is_better;
    std::string target;
};

void print_table(const std::vector<Row>& rows, std::map<std::string, double>& python) {
    std::printf("\n| benchmark | mproc | concurrent.futures | loky | pebble | vs best | target |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const auto& row : rows) {
        std::string cells;
        double best = 0;
        for (const char* peer : {"cf_", "loky_", "pebble_"}) {
            const auto found = python.find(peer + row.key);
            char cell[64] = "-";
            if (found != python.end() && !row.key.empty()) {
                const double value = found->second;
                std::snprintf(cell, sizeof cell, "%.4g", value);
                if (best == 0 || (row.lower_is_better ? value < best : value > best)) best = value;
            }
            cells += std::string(" ") + cell + " |";
        }
        char ratio[32] = "-";
        if (best > 0) std::snprintf(ratio, sizeof ratio, "%.1fx", row.lower_is_better ? best / row.mproc : row.mproc / best);
        std::printf("| %s (%s) | %.4g |%s %s | %s |\n", row.name.c_str(), row.unit.c_str(), row.mproc, cells.c_str(),
                    ratio, row.target.c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/futures_bench.py");
    if (!options) return 2;
    const int processes = options->processes;
    const double scale = options->quick ? 0.2 : 1.0;
    using mproc::bench::median;
    using mproc::bench::seconds_of;

    auto python = mproc::bench::run_python_peer(
        *options, "concurrent.futures, loky and pebble, " + std::to_string(processes) + " workers");
    std::printf("running mproc, ProcessPoolExecutor(%d) ...\n", processes);
    std::fflush(stdout);

    mproc::futures::ProcessPoolExecutor executor(processes);
    std::vector<Row> rows;
    {
        (void)executor.submit(inc, 0).result();
        const double first = seconds_of([&] { (void)executor.submit(inc, 1).result(); });
        std::vector<double> samples;
        for (int i = 0; i < static_cast<int>(20000 * scale); ++i)
            samples.push_back(seconds_of([&] { (void)executor.submit(inc, i).result(); }));
        rows.push_back({"submit(f, x).result() round trip, first", "us", first * 1e6, "round_trip_first_us", true, ""});
        rows.push_back({"submit(f, x).result() round trip, median", "us", median(samples) * 1e6, "round_trip_us", true,
                        ">= 50x best"});
    }
    {
        const int n = 10000;
        std::vector<double> times;
        for (int round = 0; round < std::max(3, static_cast<int>(11 * scale)); ++round) {
            times.push_back(seconds_of([&] {
                std::vector<mproc::futures::Future<int>> fs;
                fs.reserve(n);
                for (int i = 0; i < n; ++i) fs.push_back(executor.submit(inc, i));
                long total = 0;
                for (const auto& f : mproc::futures::as_completed(fs)) total += f.result();
                if (total != static_cast<long>(n) * (n + 1) / 2) std::abort();
            }));
        }
        rows.push_back({"10,000 submits, then as_completed, first", "s", times.front(), "as_completed_first_s", true, ""});
        rows.push_back({"10,000 submits, then as_completed, median", "s", median(times), "as_completed_s", true,
                        ">= 100x best"});
    }
    {
        std::vector<int> items(1'000'000);
        std::iota(items.begin(), items.end(), 0);
        std::vector<double> times;
        for (int round = 0; round < std::max(3, static_cast<int>(11 * scale)); ++round) {
            times.push_back(seconds_of([&] {
                long total = 0;
                for (int y : executor.map(inc, items, {.chunksize = 10000})) total += y;
                if (total == 0) std::abort();
            }));
        }
        const double count = static_cast<double>(items.size());
        rows.push_back({"map of 1e6 ints, chunksize 10000, first", "M/s", count / times.front() / 1e6,
                        "map_first_items_per_s", false, ""});
        rows.push_back({"map of 1e6 ints, chunksize 10000, median", "M/s", count / median(times) / 1e6,
                        "map_items_per_s", false, ">= 50x best"});
        for (const char* peer : {"cf_", "loky_", "pebble_"})
            for (const char* key : {"map_first_items_per_s", "map_items_per_s"})
                if (python.count(std::string(peer) + key)) python[std::string(peer) + key] /= 1e6;
    }
    {
        std::vector<mproc::futures::Future<double>> blockers;
        for (int i = 0; i < processes; ++i) blockers.push_back(executor.submit(nap, 0.5));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the blockers are running
        std::vector<mproc::futures::Future<int>> queued;
        for (int i = 0; i < 1000; ++i) queued.push_back(executor.submit(inc, i));
        int cancelled = 0;
        const double time = seconds_of([&] {
            for (const auto& f : queued) cancelled += f.cancel();
        });
        for (const auto& f : blockers) (void)f.result();
        rows.push_back({"cancel of 1,000 queued futures", "us", time * 1e6, "cancel_1000_us", true, "report"});
        rows.push_back({"  of which cancelled", "count", static_cast<double>(cancelled), "cancelled_of_1000", false, ""});
    }
    std::printf("\nmachine: %u hardware threads; Python %s\n", std::thread::hardware_concurrency(),
                options->with_python ? "3 (Debian's /usr/bin/python3)" : "not run");
    print_table(rows, python);
    return 0;
}
