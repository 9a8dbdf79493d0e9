// mproc::Manager against Python's multiprocessing.Manager(): the round trip of a proxy dict's set
// then get (d["key"] = i; d["key"]), through a manager on its own Unix socket, and through a
// manager at a TCP address on the loopback reached with connect(). Targets: at least 30x and 10x
// Python's. Each is reported as the median and as the first set and get on a fresh proxy. Runs
// bench/manager_bench.py for Python's numbers and prints both side by side.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

struct RoundTrips {
    double first_us = 0;   // the proxy's first set and get, right after it was made
    double median_us = 0;  // median over 5 runs of `calls` of them
};

RoundTrips round_trips(const mproc::DictProxy<std::string, long>& d, int calls) {
    const auto set_get = [&](long i) {
        d.set("key", i);
        if (d.at("key") != i) std::abort();
    };
    RoundTrips result;
    result.first_us = mproc::bench::seconds_of([&] { set_get(-1); }) * 1e6;
    std::vector<double> runs;
    for (int run = 0; run < 5; ++run) {
        runs.push_back(mproc::bench::seconds_of([&] {
                           for (long i = 0; i < calls; ++i) set_get(i);
                       }) /
                       calls * 1e6);
    }
    result.median_us = mproc::bench::median(runs);
    return result;
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/manager_bench.py");
    if (!options) return 2;
    const int calls = options->quick ? 500 : 5000;
    auto python = mproc::bench::run_python_peer(*options, "Manager().dict() round trips");

    RoundTrips local;
    {
        mproc::Manager manager;
        local = round_trips(manager.dict<std::string, long>(), calls);
    }
    RoundTrips tcp;
    {
        mproc::ManagerOptions manager_options;
        manager_options.address = mproc::connection::Address("127.0.0.1", 0);
        manager_options.authkey = "bench";
        mproc::Manager manager(manager_options);
        mproc::Manager remote = mproc::Manager::connect(manager.address(), "bench");
        tcp = round_trips(remote.dict<std::string, long>(), calls);
    }
    mproc::bench::print_table({
        {"Manager dict set+get round trip", "us", local.median_us, python["dict_round_trip_us"], true,
         ">= 30x Python"},
        {"  first", "us", local.first_us, python["dict_round_trip_first_us"], true, ""},
        {"remote Manager (TCP loopback) set+get", "us", tcp.median_us, python["tcp_dict_round_trip_us"], true,
         ">= 10x Python"},
        {"  first", "us", tcp.first_us, python["tcp_dict_round_trip_first_us"], true, ""},
    });
}
