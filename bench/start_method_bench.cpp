// Start methods side by side with Python's: how long a pool takes to start (every worker ready,
// as the Pool constructor waits for), and the apply_async round trip once it runs. Then, mproc
// alone, the fork and spawn starts again from a parent holding 1 GiB (256 MiB with --quick) of
// written memory: a fork copies the page tables of all of it, a spawn (posix_spawn) does not.
//
//   start_method_bench [--processes N] [--quick] [--no-python]
#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

int inc(int x) { return x + 1; }

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    // A 4-worker pool unless told otherwise: the size the start-up targets are stated for.
    const auto parsed = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/start_method_bench.py", 4);
    if (!parsed) return 2;
    const auto& options = *parsed;
    const int starts = options.quick ? 3 : 10;
    const int calls = options.quick ? 200 : 1000;
    const auto python = mproc::bench::run_python_peer(options, "three start methods");

    // The median time to start and close a pool. The constructor returns once every worker is
    // ready; close and join are part of the cost.
    const auto start_seconds = [&](mproc::StartMethod method) {
        auto ctx = mproc::get_context(method);
        return mproc::bench::median_seconds(starts, [&] { auto pool = ctx.Pool(options.processes); });
    };
    const auto start_row = [&](mproc::StartMethod method) {
        return "start a " + std::to_string(options.processes) + "-worker pool, " + std::string(mproc::to_string(method));
    };

    std::vector<mproc::bench::Row> rows;
    for (auto method : {mproc::StartMethod::fork, mproc::StartMethod::spawn, mproc::StartMethod::forkserver}) {
        const std::string name(mproc::to_string(method));
        const double start_s = start_seconds(method);
        auto pool = mproc::get_context(method).Pool(options.processes);
        pool.apply(inc, 0);
        std::vector<double> samples;
        for (int i = 0; i < calls; ++i)
            samples.push_back(mproc::bench::seconds_of([&] { pool.apply_async(inc, i).get(); }));
        const auto python_value = [&](const std::string& key) { return python.count(key) ? python.at(key) : 0.0; };
        rows.push_back({start_row(method), "ms", start_s * 1e3, python_value("start_ms_" + name), true,
                        method == mproc::StartMethod::fork ? "" : ">= 10x"});
        rows.push_back({"apply_async round trip, " + name, "us", mproc::bench::median(samples) * 1e6,
                        python_value("apply_us_" + name), true, ""});
    }
    {
        const std::size_t held_mib = options.quick ? 256 : 1024;
        std::vector<char> held(held_mib << 20, 1);
        for (auto method : {mproc::StartMethod::fork, mproc::StartMethod::spawn})
            rows.push_back({start_row(method) + ", parent holding " + std::to_string(held_mib) + " MiB", "ms",
                            start_seconds(method) * 1e3, 0, true, ""});
        mproc::bench::keep(held.data());
    }
    mproc::bench::print_table(rows);
    return 0;
}
