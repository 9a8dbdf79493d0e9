// mproc::Manager against Python's multiprocessing.Manager(): the round trip of a proxy dict's set
// then get (d["key"] = i; d["key"]), through a manager on its own Unix socket, and through a
// manager at a TCP address on the loopback reached with connect(). Targets: at least 30x and 10x
// Python's. Runs bench/manager_bench.py for Python's numbers and prints both side by side.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

// Median over 5 runs of one set and one get, in microseconds.
double round_trip_us(const mproc::DictProxy<std::string, long>& d, int calls) {
    std::vector<double> runs;
    for (int run = 0; run < 5; ++run) {
        runs.push_back(mproc::bench::seconds_of([&] {
                           for (long i = 0; i < calls; ++i) {
                               d.set("key", i);
                               if (d.at("key") != i) std::abort();
                           }
                       }) /
                       calls * 1e6);
    }
    return mproc::bench::median(runs);
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/manager_bench.py");
    if (!options) return 2;
    const int calls = options->quick ? 500 : 5000;
    auto python = mproc::bench::run_python_peer(*options, "Manager().dict() round trips");

    double local = 0;
    {
        mproc::Manager manager;
        local = round_trip_us(manager.dict<std::string, long>(), calls);
    }
    double tcp = 0;
    {
        mproc::ManagerOptions manager_options;
        manager_options.address = mproc::connection::Address("127.0.0.1", 0);
        manager_options.authkey = "bench";
        mproc::Manager manager(manager_options);
        mproc::Manager remote = mproc::Manager::connect(manager.address(), "bench");
        tcp = round_trip_us(remote.dict<std::string, long>(), calls);
    }
    mproc::bench::print_table({
        {"Manager dict set+get round trip", "us", local, python["dict_round_trip_us"], true, ">= 30x Python"},
        {"remote Manager (TCP loopback) set+get", "us", tcp, python["tcp_dict_round_trip_us"], true, ">= 10x Python"},
    });
}
