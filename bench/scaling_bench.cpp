// How the cost of a Pool grows: with the number of workers, the size of a message, the number of
// pending tasks and imap's chunksize, side by side with Python's multiprocessing.Pool on the same
// work in the same run (bench/scaling_bench.py). Writes one data file per plot into --data-dir
// (plain columns: the x value, then mproc's and Python's curves; NaN where Python was not run),
// which bench/scaling_plots.gp draws, and prints a table of the points that have targets. Usage:
//     scaling_bench [--processes N] [--quick] [--no-python] [--python-script PATH] [--data-dir DIR]
//                   [--sweep workers|messages|pending|imap]
// --processes: the workers of the message size, pending task and imap sweeps (default 2); the
// worker sweep always runs 1, 2, 4, ..., 64 workers. --sweep: that sweep only (repeatable; all by
// default), to measure one curve again without waiting for the others.
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

using mproc::bench::median;
using mproc::bench::seconds_of;

int inc(int x) { return x + 1; }

std::vector<std::byte> echo(std::vector<std::byte> bytes) { return bytes; }

// Occupies a worker until the gate opens, so that tasks submitted meanwhile stay pending.
void hold_worker(mproc::Semaphore started, mproc::Event gate) {
    started.release();
    gate.wait();
}

// What /proc/PID/smaps_rollup says of a process, in KiB. Pss counts every resident page divided
// by the number of processes mapping it; Private_Clean + Private_Dirty are the pages no other
// process maps.
struct Footprint {
    double rss_kib = NAN;
    double pss_kib = NAN;
    double private_kib = NAN;
};

Footprint footprint_of(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    Footprint footprint;
    double private_kib = 0;
    for (std::string line; std::getline(in, line);) {
        char key[64];
        double kib = 0;
        if (std::sscanf(line.c_str(), "%63[^:]: %lf kB", key, &kib) != 2) continue;
        const std::string name = key;
        if (name == "Rss") footprint.rss_kib = kib;
        else if (name == "Pss") footprint.pss_kib = kib;
        else if (name == "Private_Clean" || name == "Private_Dirty") private_kib += kib;
    }
    if (!std::isnan(footprint.pss_kib)) footprint.private_kib = private_kib;
    return footprint;
}

// A child forked from this program that does nothing but wait to be killed: what the program's
// own pages cost one more process. A worker's footprint beyond this one's is what a worker adds.
class IdleChild {
public:
    IdleChild() : pid_(::fork()) {
        if (pid_ == 0) {
            for (;;) ::pause();
        }
    }
    IdleChild(const IdleChild&) = delete;
    IdleChild& operator=(const IdleChild&) = delete;
    ~IdleChild() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    int pid() const { return pid_; }

private:
    int pid_;
};

// Heap bytes in use (glibc's malloc, every arena), and the resident bytes of this process.
double heap_in_use() {
    const auto info = ::mallinfo2();
    return static_cast<double>(info.uordblks + info.hblkhd);
}
double resident_bytes() { return footprint_of(::getpid()).rss_kib * 1024; }

// The Python peer's numbers, named as NAME_X ("start_ms_4"); NaN for those it did not measure.
struct Peer {
    std::map<std::string, double> values;
    double operator()(const std::string& name, double x) const {
        const auto found = values.find(name + "_" + std::to_string(static_cast<long long>(x)));
        return found == values.end() ? NAN : found->second;
    }
};

// One data file: a header line of column names, then rows of numbers.
class DataFile {
public:
    DataFile(const std::filesystem::path& path, const std::vector<std::string>& columns)
        : file_(std::fopen(path.c_str(), "w"), &std::fclose) {
        if (!file_) throw std::runtime_error("cannot write " + path.string());
        std::fputs("#", file_.get());
        for (const auto& column : columns) std::fprintf(file_.get(), " %s", column.c_str());
        std::fputs("\n", file_.get());
    }
    void row(const std::vector<double>& values) {
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i) std::fputs(" ", file_.get());
            if (std::isnan(values[i])) std::fputs("NaN", file_.get());
            else std::fprintf(file_.get(), "%.6g", values[i]);
        }
        std::fputs("\n", file_.get());
        std::fflush(file_.get());
    }

private:
    std::unique_ptr<FILE, int (*)(FILE*)> file_;
};

// Pool start, apply round trip, map of 10^6 ints and idle workers' memory for 1, 2, 4, ..., 64
// workers.
void worker_sweep(bool quick, const Peer& python, const std::filesystem::path& dir,
                  std::vector<mproc::bench::Row>& rows) {
    DataFile data(dir / "workers.dat",
                  {"workers", "mproc_start_ms", "mproc_start_first_ms", "python_start_ms", "python_start_first_ms",
                   "mproc_apply_us", "python_apply_us", "mproc_map_Mps", "mproc_map_first_Mps", "python_map_Mps",
                   "python_map_first_Mps", "mproc_worker_pss_KiB", "mproc_worker_private_KiB",
                   "mproc_idle_child_pss_KiB", "python_worker_pss_KiB", "python_worker_private_KiB",
                   "python_idle_child_pss_KiB"});
    std::vector<int> items(1'000'000);
    std::iota(items.begin(), items.end(), 0);
    for (int workers = 1; workers <= 64; workers *= 2) {
        std::printf("  %d workers\n", workers);
        std::fflush(stdout);
        // Start: the constructor and a first answered apply, as Python's Pool() returns before its
        // workers are ready.
        std::vector<double> starts;
        std::unique_ptr<mproc::Pool> pool;
        for (int i = 0; i < (quick ? 2 : 3); ++i) {
            pool.reset();
            starts.push_back(seconds_of([&] {
                pool = std::make_unique<mproc::Pool>(workers);
                pool->apply(inc, 0);
            }));
        }
        // Forked right after the workers, it shares the same pages of this program with them: the
        // parent's later writes take pages from all of them alike.
        const IdleChild idle_child;
        std::vector<double> round_trips;
        for (int i = 0; i < (quick ? 200 : 2000); ++i) round_trips.push_back(seconds_of([&] { pool->apply(inc, i); }));
        std::vector<double> maps;
        for (int i = 0; i < (quick ? 2 : 5); ++i) maps.push_back(seconds_of([&] { pool->map(inc, items); }));
        const double map_median = median({maps.begin() + 1, maps.end()});

        // Idle workers, after the map: the median worker's footprint and the idle child's.
        std::vector<double> pss, private_pages;
        for (const int pid : pool->worker_pids()) {
            const auto footprint = footprint_of(pid);
            pss.push_back(footprint.pss_kib);
            private_pages.push_back(footprint.private_kib);
        }
        const auto idle = footprint_of(idle_child.pid());
        const double count = static_cast<double>(items.size());
        data.row({double(workers), median(starts) * 1e3, starts[0] * 1e3, python("start_ms", workers),
                  python("start_first_ms", workers), median(round_trips) * 1e6, python("apply_us", workers),
                  count / map_median / 1e6, count / maps[0] / 1e6, python("map_Mps", workers),
                  python("map_first_Mps", workers), median(pss), median(private_pages), idle.pss_kib,
                  python("worker_pss_KiB", workers), python("worker_private_KiB", workers),
                  python("idle_child_pss_KiB", workers)});
        if (workers == 2 || workers == 64) {
            const std::string at = std::to_string(workers) + " workers";
            rows.push_back({"pool start + first apply, " + at, "ms", median(starts) * 1e3,
                            python("start_ms", workers), true, ""});
            rows.push_back({"apply round trip, " + at, "us", median(round_trips) * 1e6,
                            python("apply_us", workers), true, ""});
            rows.push_back({"map of 1e6 ints, " + at, "M/s", count / map_median / 1e6,
                            python("map_Mps", workers), false, ""});
            rows.push_back({"  its first call", "M/s", count / maps[0] / 1e6, python("map_first_Mps", workers),
                            false, ""});
            rows.push_back({"worker PSS beyond an idle child, " + at, "KiB", median(pss) - idle.pss_kib,
                            python("worker_pss_KiB", workers) - python("idle_child_pss_KiB", workers), true,
                            "<= 2048 KiB"});
        }
    }
}

// apply echo of 8 B to 1 GiB (powers of 8), against a copy of the same bytes into fresh memory.
void message_size_sweep(bool quick, int processes, const Peer& python, const std::filesystem::path& dir,
                        std::vector<mproc::bench::Row>& rows) {
    DataFile data(dir / "echo.dat", {"bytes", "local_copy_GBps", "mproc_echo_GBps", "mproc_echo_first_GBps",
                                     "python_echo_GBps", "python_echo_first_GBps"});
    mproc::Pool pool(processes);
    const std::size_t largest = quick ? std::size_t{16} << 20 : std::size_t{1} << 30;
    for (std::size_t size = 8; size <= largest; size *= 8) {
        std::printf("  %zu bytes\n", size);
        std::fflush(stdout);
        std::vector<std::byte> payload(size, std::byte{1});
        // Small copies are timed in batches: one alone is shorter than the clock's resolution.
        const int batch = static_cast<int>(std::max<std::size_t>(1, (std::size_t{1} << 20) / size));
        const int repetitions =
            static_cast<int>(std::clamp<std::size_t>((std::size_t{256} << 20) / size, 3, quick ? 200 : 2000));
        std::vector<double> copies;
        for (int i = 0; i < std::min(repetitions, 50); ++i)
            copies.push_back(seconds_of([&] {
                                 for (int j = 0; j < batch; ++j) {
                                     std::vector<std::byte> copy(payload.begin(), payload.end());
                                     mproc::bench::keep(copy.data());
                                 }
                             }) /
                             batch);
        std::vector<double> echoes;
        for (int i = 0; i <= repetitions; ++i)
            echoes.push_back(seconds_of([&] { payload = pool.apply(echo, std::move(payload)); }));
        const double bytes = static_cast<double>(size);
        const double echo_median = median({echoes.begin() + 1, echoes.end()});
        data.row({bytes, bytes / median(copies) / 1e9, bytes / echo_median / 1e9, bytes / echoes[0] / 1e9,
                  python("echo_GBps", bytes), python("echo_first_GBps", bytes)});
        if (size == largest || size == 8) {
            const std::string what = size == 8 ? "8 B" : std::to_string(size >> 20) + " MiB";
            rows.push_back({"echo of " + what + " by apply, median", "GB/s", bytes / echo_median / 1e9,
                            python("echo_GBps", bytes), false, ""});
            rows.push_back({"  its first call", "GB/s", bytes / echoes[0] / 1e9, python("echo_first_GBps", bytes),
                            false, ""});
            rows.push_back({"  the median's time / a local copy's", "x", echo_median / median(copies), 0, true, ""});
        }
    }
}

// N tasks submitted with apply_async while every worker is held busy: what each pending task
// costs the parent, then how long the N take once the workers are let go.
void pending_sweep(bool quick, int processes, const Peer& python, const std::filesystem::path& dir,
                   std::vector<mproc::bench::Row>& rows) {
    DataFile data(dir / "pending.dat",
                  {"tasks", "mproc_heap_B_per_task", "mproc_rss_B_per_task", "python_rss_B_per_task",
                   "mproc_submit_us_per_task", "python_submit_us_per_task", "mproc_drain_s", "python_drain_s"});
    mproc::Pool pool(processes);
    mproc::Semaphore started(0);
    mproc::Event gate;
    const int largest = quick ? 10'000 : 1'000'000;
    for (int tasks = 10; tasks <= largest; tasks *= 10) {
        std::printf("  %d pending tasks\n", tasks);
        std::fflush(stdout);
        gate.clear();
        std::vector<mproc::AsyncResult<void>> holders;
        for (int i = 0; i < processes; ++i) holders.push_back(pool.apply_async(hold_worker, started, gate));
        for (int i = 0; i < processes; ++i) started.acquire();
        ::malloc_trim(0);
        const double heap_before = heap_in_use(), resident_before = resident_bytes();
        std::vector<mproc::AsyncResult<int>> pending;
        pending.reserve(static_cast<std::size_t>(tasks));
        const double submit = seconds_of([&] {
            for (int i = 0; i < tasks; ++i) pending.push_back(pool.apply_async(inc, i));
        });
        const double heap_growth = heap_in_use() - heap_before, resident_growth = resident_bytes() - resident_before;
        const double drain = seconds_of([&] {
            gate.set();
            for (auto& result : pending) result.get();
        });
        for (auto& holder : holders) holder.get();
        data.row({double(tasks), heap_growth / tasks, resident_growth / tasks, python("rss_B_per_task", tasks),
                  submit / tasks * 1e6, python("submit_us_per_task", tasks), drain, python("drain_s", tasks)});
        if (tasks == largest) {
            const std::string at = std::to_string(tasks) + " pending tasks";
            rows.push_back({"parent heap per task, " + at, "B", heap_growth / tasks, 0, true, "<= 204 B"});
            rows.push_back({"parent RSS per task, " + at, "B", resident_growth / tasks,
                            python("rss_B_per_task", tasks), true, "<= 204 B"});
            rows.push_back({"time to drain " + at, "s", drain, python("drain_s", tasks), true, ""});
        }
    }
}

// imap of inc over n ints for chunksize 1, 4, 16, ..., 4096.
void imap_sweep(bool quick, int processes, const Peer& python, const std::filesystem::path& dir,
                std::vector<mproc::bench::Row>& rows) {
    DataFile data(dir / "imap.dat",
                  {"chunksize", "mproc_Mps", "mproc_first_Mps", "python_Mps", "python_first_Mps"});
    mproc::Pool pool(processes);
    for (std::size_t chunksize = 1; chunksize <= 4096; chunksize *= 4) {
        const int items = static_cast<int>(std::min<std::size_t>(1'000'000, 100'000 * chunksize) / (quick ? 10 : 1));
        std::printf("  chunksize %zu, %d items\n", chunksize, items);
        std::fflush(stdout);
        std::vector<double> times;
        for (int i = 0; i < 4; ++i)
            times.push_back(seconds_of([&] {
                long sum = 0;
                for (int x : pool.imap(inc, std::views::iota(0, items), {.chunksize = chunksize})) sum += x;
                mproc::bench::keep(&sum);
            }));
        const double rate = items / median({times.begin() + 1, times.end()}) / 1e6;
        const double x = static_cast<double>(chunksize);
        data.row({x, rate, items / times[0] / 1e6, python("imap_Mps", x), python("imap_first_Mps", x)});
        if (chunksize == 1 || chunksize == 4096)
            rows.push_back({"imap, chunksize " + std::to_string(chunksize), "M/s", rate, python("imap_Mps", x),
                            false, ""});
    }
}

}  // namespace

int main(int argc, char** argv) {
    // --data-dir and --sweep are this benchmark's own options; the rest are every benchmark's.
    std::filesystem::path dir = "scaling-data";
    std::vector<std::string> sweeps;
    std::vector<char*> common;
    for (int i = 0; i < argc; ++i) {
        if (std::string(argv[i]) == "--data-dir" && i + 1 < argc) dir = argv[++i];
        else if (std::string(argv[i]) == "--sweep" && i + 1 < argc) sweeps.emplace_back(argv[++i]);
        else common.push_back(argv[i]);
    }
    const auto runs = [&](const char* sweep) { return sweeps.empty() || std::ranges::count(sweeps, sweep) != 0; };
    const auto options = mproc::bench::parse_options(static_cast<int>(common.size()), common.data(),
                                                     MPROC_BENCH_DIR "/scaling_bench.py");
    if (!options) return 2;
    std::filesystem::create_directories(dir);

    const Peer python{mproc::bench::run_python_peer(*options, "Python's multiprocessing.Pool")};
    std::vector<mproc::bench::Row> rows;
    if (runs("workers")) {
        std::printf("running mproc: workers 1 to 64 ...\n");
        worker_sweep(options->quick, python, dir, rows);
    }
    if (runs("messages")) {
        std::printf("running mproc: message sizes ...\n");
        message_size_sweep(options->quick, options->processes, python, dir, rows);
    }
    if (runs("pending")) {
        std::printf("running mproc: pending tasks ...\n");
        pending_sweep(options->quick, options->processes, python, dir, rows);
    }
    if (runs("imap")) {
        std::printf("running mproc: imap chunksizes ...\n");
        imap_sweep(options->quick, options->processes, python, dir, rows);
    }

    std::printf("\nmachine: %d CPUs; data files in %s (plots: bench/scaling_plots.gp)\n", mproc::cpu_count(),
                dir.c_str());
    mproc::bench::print_table(rows);
    return 0;
}
