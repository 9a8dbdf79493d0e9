// Shared helpers of mproc's benchmarks: timing, medians, running the Python peer script, and
// printing a comparison table.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mproc::bench {

inline double seconds_of(const std::function<void()>& work) {
    const auto start = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Keeps the compiler from dropping work whose result is otherwise unused (a copy made only to be
// timed: new and delete of it may be elided).
inline void keep(const void* data) { asm volatile("" : : "g"(data) : "memory"); }

inline double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const auto n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

inline double median_seconds(int repetitions, const std::function<void()>& work) {
    std::vector<double> times;
    for (int i = 0; i < repetitions; ++i) times.push_back(seconds_of(work));
    return median(times);
}

// Runs the peer script and reads the flat JSON object of numbers it prints.
inline std::map<std::string, double> run_python(const std::string& command) {
    std::map<std::string, double> values;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
    if (!pipe) return values;
    std::string text;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe.get())) text += buffer;
    for (std::size_t at = 0; (at = text.find('"', at)) != std::string::npos;) {
        const auto end = text.find('"', at + 1);
        if (end == std::string::npos) break;
        const std::string key = text.substr(at + 1, end - at - 1);
        const auto colon = text.find_first_not_of(" :", end + 1);
        if (colon != std::string::npos && (std::isdigit(static_cast<unsigned char>(text[colon])) || text[colon] == '-'))
            values[key] = std::stod(text.substr(colon));
        at = end + 1;
    }
    return values;
}

// The options every benchmark takes, and the Python peer's numbers for them.
struct Options {
    int processes = 2;
    bool quick = false;
    bool with_python = true;
    std::string script;
};

// Parses [--processes N] [--quick] [--no-python] [--python-script PATH]; nothing on a bad argument
// (after printing the usage).
inline std::optional<Options> parse_options(int argc, char** argv, std::string default_script,
                                            int default_processes = 2) {
    Options options;
    options.processes = default_processes;
    options.script = std::move(default_script);
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--processes" && i + 1 < argc) options.processes = std::max(1, std::atoi(argv[++i]));
        else if (arg == "--quick") options.quick = true;
        else if (arg == "--no-python") options.with_python = false;
        else if (arg == "--python-script" && i + 1 < argc) options.script = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--processes N] [--quick] [--no-python] [--python-script PATH]\n", argv[0]);
            return std::nullopt;
        }
    }
    return options;
}

// Runs the peer script with the same options, announcing it as `what`.
inline std::map<std::string, double> run_python_peer(const Options& options, const std::string& what) {
    if (!options.with_python) return {};
    std::printf("running %s (%s) ...\n", options.script.c_str(), what.c_str());
    std::fflush(stdout);
    // Debian's python3, for which its python3-* packages (mpi4py, joblib, pebble) are installed.
    const std::string python = ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3 " : "python3 ";
    return run_python(python + options.script + " --processes " + std::to_string(options.processes) +
                      (options.quick ? " --quick" : ""));
}

struct Row {
    std::string name;
    std::string unit;
    double mproc;
    double python;  // the peer's (Python's, unless print_table names another); 0: not measured
    bool lower_is_better;
    std::string target;
};

inline void print_table(const std::vector<Row>& rows, const char* peer = "Python") {
    std::printf("\n| %-44s | %14s | %14s | %9s | %-18s |\n", "benchmark", "mproc", peer, "ratio", "target");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
                std::string(16, '-').c_str(), std::string(11, '-').c_str(), std::string(20, '-').c_str());
    for (const auto& row : rows) {
        char mproc_text[32], python_text[32], ratio_text[32];
        std::snprintf(mproc_text, sizeof mproc_text, "%.4g %s", row.mproc, row.unit.c_str());
        if (row.python > 0) {
            std::snprintf(python_text, sizeof python_text, "%.4g %s", row.python, row.unit.c_str());
            std::snprintf(ratio_text, sizeof ratio_text, "%.1fx",
                          row.lower_is_better ? row.python / row.mproc : row.mproc / row.python);
        } else {
            std::snprintf(python_text, sizeof python_text, "-");
            std::snprintf(ratio_text, sizeof ratio_text, "-");
        }
        std::printf("| %-44s | %14s | %14s | %9s | %-18s |\n", row.name.c_str(), mproc_text, python_text, ratio_text,
                    row.target.c_str());
    }
}

}  // namespace mproc::bench
