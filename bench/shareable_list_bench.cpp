// ShareableList, side by side with Python's multiprocessing.shared_memory.ShareableList on the
// same work in the same run (bench/shareable_list_bench.py). Times are medians of repeated runs;
// "ratio" is how many times faster mproc is. Usage:
//     shareable_list_bench [--quick] [--no-python] [--python-script PATH]
//
// Both use a list of 100 items, ints and short strs ("item 001") alternating:
//   read an int        list[42] (and the typed list.get<std::int64_t>(42)); Python: sl[42]
//   read a short str   list[43] (and list.get<std::string>(43));            Python: sl[43]
//   write an int       list.set(42, i);                                     Python: sl[42] = i
//   write a short str  list.set(43, "hello");                               Python: sl[43] = "hello"
//   create + attach    a new 100-item list, attached by name, both closed, unlinked
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

using Item = mproc::ShareableList::Item;

std::vector<Item> hundred_items() {
    std::vector<Item> items;
    for (int i = 0; i < 100; ++i) {
        if (i % 2 == 0) {
            items.emplace_back(std::int64_t{i});
        } else {
            char text[16];
            std::snprintf(text, sizeof text, "item %03d", i);
            items.emplace_back(std::string(text));
        }
    }
    return items;
}

// The median over `repetitions` runs of loop(iterations), in ns per iteration.
template <class Loop>
double per_op_ns(int repetitions, long iterations, Loop loop) {
    return mproc::bench::median_seconds(repetitions, [&] { loop(iterations); }) / static_cast<double>(iterations) * 1e9;
}

// Keeps the compiler from dropping reads whose results are otherwise unused.
volatile std::size_t sink = 0;

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/shareable_list_bench.py");
    if (!options) return 2;
    const double scale = options->quick ? 0.2 : 1.0;
    const int repetitions = 5;
    const long iterations = static_cast<long>(10'000'000 * scale);

    auto python = mproc::bench::run_python_peer(*options, "Python's multiprocessing.shared_memory.ShareableList");
    std::printf("running mproc ...\n");
    std::fflush(stdout);

    std::vector<mproc::bench::Row> rows;
    const auto items = hundred_items();
    {
        mproc::ShareableList list(items);
        const double read_int = per_op_ns(repetitions, iterations, [&](long n) {
            std::size_t total = 0;
            for (long i = 0; i < n; ++i) total += list[42].index();
            sink = total;
        });
        const double get_int = per_op_ns(repetitions, iterations, [&](long n) {
            std::int64_t total = 0;
            for (long i = 0; i < n; ++i) total += list.get<std::int64_t>(42);
            sink = static_cast<std::size_t>(total);
        });
        const double read_str = per_op_ns(repetitions, iterations, [&](long n) {
            std::size_t total = 0;
            for (long i = 0; i < n; ++i) total += list[43].index();
            sink = total;
        });
        const double get_str = per_op_ns(repetitions, iterations, [&](long n) {
            std::size_t total = 0;
            for (long i = 0; i < n; ++i) total += list.get<std::string>(43).size();
            sink = total;
        });
        const double write_int = per_op_ns(repetitions, iterations, [&](long n) {
            for (long i = 0; i < n; ++i) list.set(42, std::int64_t{i});
        });
        const double write_str = per_op_ns(repetitions, iterations, [&](long n) {
            const Item hello("hello");
            for (long i = 0; i < n; ++i) list.set(43, hello);
        });
        const double write_str_literal = per_op_ns(repetitions, iterations, [&](long n) {
            for (long i = 0; i < n; ++i) list.set(43, "hello");
        });
        rows.push_back({"read an int item: list[42]", "ns", read_int, python["read_int_ns"], true, ""});
        rows.push_back({"  typed: list.get<std::int64_t>(42)", "ns", get_int, python["read_int_ns"], true, ""});
        rows.push_back({"read a short str item: list[43]", "ns", read_str, python["read_str_ns"], true, ""});
        rows.push_back({"  typed: list.get<std::string>(43)", "ns", get_str, python["read_str_ns"], true, ""});
        rows.push_back({"write an int item: list.set(42, i)", "ns", write_int, python["write_int_ns"], true, ""});
        rows.push_back({"write a short str item (an Item)", "ns", write_str, python["write_str_ns"], true, ""});
        rows.push_back({"  from a literal: list.set(43, \"hello\")", "ns", write_str_literal, python["write_str_ns"],
                        true, ""});
        list.shm().close();
        list.shm().unlink();
    }
    {
        const long lists = static_cast<long>(20'000 * scale);
        const double create_attach = per_op_ns(repetitions, lists, [&](long n) {
            for (long i = 0; i < n; ++i) {
                mproc::ShareableList created(items);
                mproc::ShareableList attached(created.name());
                sink = attached.size();
                attached.shm().close();
                created.shm().close();
                created.shm().unlink();
            }
        });
        rows.push_back({"create + attach a 100-item list, unlink", "us", create_attach / 1e3,
                        python["create_attach_us"], true, ""});
    }

    std::string python_text = "not run";
    if (options->with_python) {
        python_text = "failed to run";
        if (python.count("python_major"))
            python_text = std::to_string(static_cast<int>(python["python_major"])) + "." +
                          std::to_string(static_cast<int>(python["python_minor"]));
    }
    std::printf("\nmachine: %u hardware threads; Python %s\n", std::thread::hardware_concurrency(), python_text.c_str());
    mproc::bench::print_table(rows);
    return 0;
}
