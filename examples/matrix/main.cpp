// mproc-matrix: the classic "addMat / mulMat, Single vs Multi" benchmark of Python multiprocessing
// tutorials, done with mproc and timed honestly. See docs/matrix.md.
//
//   mproc-matrix --generate 2300 | mproc-matrix
//
// reads n, then the n*n numbers of A, then the n*n numbers of B from standard input, computes A+B
// and A*B in this process (Single) and through one mproc::Pool (Multi) with map, map_async + get
// and imap, checks that every Multi result has the same bits as the Single one, and prints
//
//   Output (map):
//   addMat - Single: 0.0021
//   addMat - Multi:  0.0043
//   mulMat - Single: 1.02
//   mulMat - Multi:  0.52
//
// for each method, then the speedups. Exit codes: 0 done; 1 a Multi result differs from Single,
// or the pool failed; 2 bad input or bad options (a message on stderr, nothing on stdout).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <mproc/mproc.hpp>

#include "matrix.hpp"
#include "parallel.hpp"

namespace {

constexpr const char* sweep_header = "processes,cores,method,n,tasks,single_seconds,multi_seconds,speedup";

using matrix::Method;
using matrix::Operation;

struct Options {
    int processes = 0;
    std::string method = "all";
    std::optional<std::size_t> generate;
    std::uint64_t seed = 1;
    std::size_t tasks = 0;  // 0: 4 per process
    int repeat = 1;
    bool json = false;
    bool sweep = false;
    std::vector<std::size_t> sizes;  // --sweep over generated inputs of these sizes
};

// A mismatch between Multi and Single: exit code 1.
class Mismatch : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Python's repr of a float: the shortest text that reads back as the same double.
std::string shortest(double value) {
    char text[64];
    const auto result = std::to_chars(text, text + sizeof text, value);
    return std::string(text, result.ptr);
}

std::string fixed(double value, int digits) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

template <class F>
double seconds_of(F&& work) {
    const auto start = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void require_same_bits(std::span<const double> single, std::span<const double> multi, std::size_t n,
                       Operation operation, const char* how) {
    if (single.size() == multi.size() &&
        std::memcmp(single.data(), multi.data(), single.size() * sizeof(double)) == 0)
        return;
    std::string where = "its size";
    for (std::size_t index = 0; index < std::min(single.size(), multi.size()); ++index) {
        if (std::memcmp(&single[index], &multi[index], sizeof(double)) != 0) {
            where = "row " + std::to_string(index / n + 1) + ", column " + std::to_string(index % n + 1) + ": " +
                    shortest(single[index]) + " (Single) vs " + shortest(multi[index]) + " (Multi)";
            break;
        }
    }
    throw Mismatch(std::string(matrix::operation_name(operation)) + " - Multi (" + how +
                   ") differs from Single at " + where);
}

// Starts the workers and waits until each has answered once, so that the timings below measure
// the work, not the workers' start.
double start_pool(mproc::Pool& pool) {
    return seconds_of([&] {
        const std::vector<int> one_each(static_cast<std::size_t>(pool.processes()), 0);
        pool.map([](int x) { return x; }, one_each, {.chunksize = 1});
    });
}

std::size_t task_count(const Options& options, int processes) {
    return options.tasks != 0 ? options.tasks : 4 * static_cast<std::size_t>(processes);
}

double fastest(const std::vector<double>& runs) { return *std::min_element(runs.begin(), runs.end()); }

double median(std::vector<double> runs) {
    std::sort(runs.begin(), runs.end());
    const std::size_t middle = runs.size() / 2;
    return runs.size() % 2 ? runs[middle] : (runs[middle - 1] + runs[middle]) / 2;
}

// The seconds of every run of Single and of Multi, in the order they ran: the first is the first
// (cold) call, the fastest is what is reported, as the tutorial reports its one run.
struct Timing {
    std::vector<double> single_runs, multi_runs;
    double single() const { return fastest(single_runs); }
    double multi() const { return fastest(multi_runs); }
    double speedup() const { return single() / multi(); }
};
struct MethodTimings {
    Method method;
    Timing add, multiply;
};

struct Run {
    std::size_t n = 0;
    int processes = 0;
    std::size_t tasks = 0;
    int repeat = 1;
    double pool_start = 0;
    double add_checksum = 0, multiply_checksum = 0;
    std::vector<MethodTimings> methods;
};

std::vector<Method> methods_of(const std::string& method) {
    if (method == "map") return {Method::map};
    if (method == "map_async") return {Method::map_async};
    if (method == "imap") return {Method::imap};
    return {Method::map, Method::map_async, Method::imap};
}

void print_block(const MethodTimings& timings) {
    std::printf("Output (%s):\n", matrix::method_name(timings.method));
    std::printf("addMat - Single: %s\n", shortest(timings.add.single()).c_str());
    std::printf("addMat - Multi:  %s\n", shortest(timings.add.multi()).c_str());
    std::printf("mulMat - Single: %s\n", shortest(timings.multiply.single()).c_str());
    std::printf("mulMat - Multi:  %s\n", shortest(timings.multiply.multi()).c_str());
    std::fflush(stdout);
}

void print_speedups(const Run& run) {
    std::printf("\nSpeedup, Single time / Multi time (n = %zu, %d processes, %zu tasks of rows%s):\n", run.n,
                run.processes, run.tasks, run.repeat > 1 ? (", best of " + std::to_string(run.repeat)).c_str() : "");
    for (const Operation operation : {Operation::add, Operation::multiply}) {
        std::printf("%s -", matrix::operation_name(operation));
        for (const MethodTimings& timings : run.methods) {
            const Timing& timing = operation == Operation::add ? timings.add : timings.multiply;
            std::printf("  %s: %sx", matrix::method_name(timings.method), fixed(timing.speedup(), 2).c_str());
        }
        std::printf("\n");
    }
    if (run.repeat == 1) return;
    std::printf("mulMat first call (cold) and median of %d, Single / Multi:\n", run.repeat);
    for (const MethodTimings& timings : run.methods) {
        const Timing& timing = timings.multiply;
        std::printf("  %-9s first %s / %s s (%sx)  median %s / %s s (%sx)\n", matrix::method_name(timings.method),
                    fixed(timing.single_runs.front(), 4).c_str(), fixed(timing.multi_runs.front(), 4).c_str(),
                    fixed(timing.single_runs.front() / timing.multi_runs.front(), 2).c_str(),
                    fixed(median(timing.single_runs), 4).c_str(), fixed(median(timing.multi_runs), 4).c_str(),
                    fixed(median(timing.single_runs) / median(timing.multi_runs), 2).c_str());
    }
}

std::string json_list(const std::vector<double>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + shortest(values[i]);
    return out + "]";
}

std::string timing_json(const Timing& timing) {
    return "{\"single\": " + shortest(timing.single()) + ", \"multi\": " + shortest(timing.multi()) +
           ", \"speedup\": " + shortest(timing.speedup()) + ", \"single_runs\": " + json_list(timing.single_runs) +
           ", \"multi_runs\": " + json_list(timing.multi_runs) + "}";
}

void print_json(const Run& run) {
    std::string out = "{\n";
    out += "  \"program\": \"mproc-matrix\",\n";
    out += "  \"n\": " + std::to_string(run.n) + ",\n";
    out += "  \"processes\": " + std::to_string(run.processes) + ",\n";
    out += "  \"cpu_count\": " + std::to_string(mproc::cpu_count()) + ",\n";
    out += "  \"tasks\": " + std::to_string(run.tasks) + ",\n";
    out += "  \"repeat\": " + std::to_string(run.repeat) + ",\n";
    out += "  \"sharing\": \"operands and result in shared memory (mproc::RawArray<double>), passed to tasks as handles; "
           "tasks write their rows into the result\",\n";
    out += "  \"pool_start_seconds\": " + shortest(run.pool_start) + ",\n";
    out += "  \"checksums\": {\"addMat\": " + shortest(run.add_checksum) + ", \"mulMat\": " +
           shortest(run.multiply_checksum) + "},\n";
    out += "  \"methods\": {";
    for (std::size_t i = 0; i < run.methods.size(); ++i) {
        const MethodTimings& timings = run.methods[i];
        out += std::string(i ? ",\n" : "\n") + "    \"" + matrix::method_name(timings.method) + "\": {\"addMat\": " +
               timing_json(timings.add) + ", \"mulMat\": " + timing_json(timings.multiply) + "}";
    }
    out += "\n  }\n}\n";
    std::fputs(out.c_str(), stdout);
}

// Single and Multi of one operation, timed back to back, `repeat` times.
// Every Multi result is checked against `reference` (set from the first Single if empty).
Timing time_operation(mproc::Pool& pool, Method method, Operation operation, const matrix::SharedOperands& operands,
                      std::size_t tasks, int repeat, std::optional<std::vector<double>>& reference) {
    // Each result's memory is made once, before the clocks, and reused by every round, as a program
    // that computes repeatedly would keep it: Single's a vector, Multi's a shared array that the
    // workers write their rows into.
    const std::size_t n = operands.n;
    std::vector<double> single(n * n);
    mproc::RawArray<double> multi(n * n);
    Timing timing;
    for (int round = 0; round < repeat; ++round) {
        // Not a number in every element, so that a row nobody wrote cannot pass the check.
        std::fill(single.begin(), single.end(), std::nan(""));
        std::fill(multi.begin(), multi.end(), std::nan(""));
        timing.single_runs.push_back(seconds_of([&] { matrix::compute_single(operation, operands, single); }));
        timing.multi_runs.push_back(
            seconds_of([&] { matrix::compute_multi(pool, method, operation, operands, tasks, multi); }));
        if (!reference) reference = single;
        require_same_bits(*reference, multi.span(), n, operation, matrix::method_name(method));
    }
    return timing;
}

// One block per method: Single and Multi of each operation.
Run run_methods(const matrix::SharedOperands& operands, const Options& options) {
    Run run;
    run.n = operands.n;
    run.processes = options.processes;
    run.tasks = std::min(task_count(options, options.processes), operands.n);
    run.repeat = options.repeat;

    mproc::Pool pool(options.processes);  // created once, used by every method
    run.pool_start = start_pool(pool);

    std::optional<std::vector<double>> reference_add, reference_multiply;
    for (const Method method : methods_of(options.method)) {
        const MethodTimings timings{
            method,
            time_operation(pool, method, Operation::add, operands, run.tasks, options.repeat, reference_add),
            time_operation(pool, method, Operation::multiply, operands, run.tasks, options.repeat, reference_multiply)};
        if (!options.json) print_block(timings);
        run.methods.push_back(timings);
    }
    run.add_checksum = matrix::checksum(*reference_add);
    run.multiply_checksum = matrix::checksum(*reference_multiply);
    return run;
}

// mulMat with 1, 2, ... 2 x cpu_count() processes on one input: lines of CSV (see main).
void sweep_processes(const matrix::SharedOperands& operands, const Options& options) {
    const Method method = methods_of(options.method).front();
    const int cores = mproc::cpu_count();
    std::optional<std::vector<double>> reference;
    for (int processes = 1; processes <= 2 * cores; ++processes) {
        const std::size_t tasks = std::min(task_count(options, processes), operands.n);
        mproc::Pool pool(processes);
        start_pool(pool);
        // Single is timed again with each pool, back to back with Multi.
        const Timing timing = time_operation(pool, method, Operation::multiply, operands, tasks, options.repeat, reference);
        std::printf("%d,%d,%s,%zu,%zu,%s,%s,%s\n", processes, cores, matrix::method_name(method), operands.n, tasks,
                    shortest(timing.single()).c_str(), shortest(timing.multi()).c_str(),
                    shortest(timing.speedup()).c_str());
        std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    options.processes = mproc::cpu_count();

    CLI::App app(
        "mproc-matrix: addMat and mulMat of two n x n matrices, in one process (Single) and through an "
        "mproc::Pool (Multi), timed and checked.\n"
        "Reads from standard input: n, then the n*n numbers of A row by row, then the n*n numbers of B, "
        "separated by whitespace (integers or decimals).\n"
        "  mproc-matrix --generate 2300 | mproc-matrix\n"
        "Exit codes: 0 done; 1 a Multi result differs from Single (or the pool failed); 2 bad input or "
        "options.",
        "mproc-matrix");
    app.add_option("--processes,-p", options.processes, "Worker processes of the pool (default: cpu_count())")
        ->check(CLI::Range(1, 1024))
        ->default_str(std::to_string(options.processes));
    app.add_option("--method,-m", options.method,
                   "How tasks are submitted: map, map_async (then get()), imap, or all of them in turn")
        ->check(CLI::IsMember({"map", "map_async", "imap", "all"}))
        ->default_str("all");
    app.add_option("--tasks", options.tasks,
                   "Tasks per operation, each a block of consecutive rows (default: 4 per process, at most n)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    app.add_option("--repeat", options.repeat,
                   "Time each Single and Multi this many times and report the fastest (default 1, as the "
                   "tutorial)")
        ->check(CLI::Range(1, 1000));
    auto* generate = app.add_option("--generate", options.generate,
                                    "Write a random input of size N to standard output, and do nothing else")
                         ->type_name("N")
                         ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
    app.add_option("--seed", options.seed,
                   "Seed of --generate and --sizes (default 1): the same seed gives the same input");
    auto* json = app.add_flag("--json", options.json, "Print the results as JSON instead of text");
    auto* sweep = app.add_flag("--sweep", options.sweep,
                               "Time mulMat with 1, 2, ... 2 x cpu_count() processes (one pool each; --method "
                               "picks the method, map for all) for the input, or for each size of --sizes, and "
                               "print CSV: processes,cores,method,n,tasks,single_seconds,multi_seconds,speedup")
                      ->excludes(json)
                      ->excludes(generate);
    app.add_option("--sizes", options.sizes,
                   "With --sweep: sweep random inputs of these sizes (as --generate makes them, with --seed), "
                   "e.g. 420,1000,2300, instead of reading standard input")
        ->delimiter(',')
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->needs(sweep);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error);
        return code == 0 ? 0 : 2;
    }

    try {
        if (options.generate) {
            matrix::write_random_input(stdout, *options.generate, options.seed);
            return 0;
        }
        if (options.sweep && !options.sizes.empty()) {
            std::printf("%s\n", sweep_header);
            for (const std::size_t n : options.sizes)
                sweep_processes(matrix::SharedOperands(matrix::parse_input(matrix::random_input(n, options.seed))),
                                options);
            return 0;
        }
        if (::isatty(STDIN_FILENO))
            std::fprintf(stderr, "mproc-matrix: reading n, A and B from standard input (see --help)\n");
        std::optional<matrix::SharedOperands> operands;
        try {
            operands.emplace(matrix::parse_input(matrix::read_all(stdin)));
        } catch (const matrix::InputError& error) {
            std::fprintf(stderr, "mproc-matrix: bad input: %s\n", error.what());
            return 2;
        }
        if (options.sweep) {
            std::printf("%s\n", sweep_header);
            sweep_processes(*operands, options);
            return 0;
        }
        const Run run = run_methods(*operands, options);
        if (options.json)
            print_json(run);
        else
            print_speedups(run);
        return 0;
    } catch (const Mismatch& error) {
        std::fprintf(stderr, "mproc-matrix: wrong result: %s\n", error.what());
        return 1;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "mproc-matrix: error: %s\n", error.what());
        return 1;
    }
}
