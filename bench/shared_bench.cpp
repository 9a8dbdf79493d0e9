// Shared state and synchronization benchmarks, side by side with Python's multiprocessing (fork
// context) on the same work in the same run (bench/shared_bench.py). Throughputs are medians of
// repeated runs; "ratio" is how many times better mproc is. Usage:
//     shared_bench [--processes N] [--quick] [--no-python] [--python-script PATH]
//
//   locked increments  N processes (2 by default) each add 1 to a Value<int> under its lock
//                      (Python: with v.get_lock(): v.value += 1); total increments per second,
//                      from the first process's start to the last one's end.
//   Queue              one process puts small ints, the other gets them; messages per second.
//                      Beside Boost.Interprocess's message_queue (int-sized messages, as many
//                      as the Queue's ring holds), run alternately with it.
//   Pipe ping-pong     an int sent to another process and sent back; median round trip.
//   Lock               acquire + release of an uncontended Lock (and of a Value's RLock), and
//                      of Boost.Interprocess's interprocess_mutex.
//   RawArray in a task a pool task (one worker) taking a 64 MiB RawArray<double> and returning
//                      one number: reading 2 of its pages, or summing all of it; the first call
//                      (the worker maps the array) and the median of the calls after it, against
//                      a plain apply round trip and the same sum in this process. No Python row:
//                      Python cannot pass a RawArray to a pool task (only to a Process, by
//                      inheritance).
//
// The Boost rows are left out when the benchmarks are built without Boost's headers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"
#if MPROC_BENCH_WITH_BOOST
#include "boost_peer.hpp"
#endif

namespace {

// CLOCK_MONOTONIC, the same clock in every process of the machine.
long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Runs `work(i)` in `processes` children, all released together by a barrier; each records when
// it started and ended. Returns the span from the first start to the last end, in seconds. `work`
// is sent to the children: a function, or an mproc::partial binding the objects it uses.
template <class Work>
double timed_in_children(int processes, Work work) {
    mproc::Barrier start(static_cast<unsigned>(processes));
    mproc::Array<long long> times(2 * static_cast<std::size_t>(processes), {.lock = false});
    std::vector<mproc::Process> children;
    for (int i = 0; i < processes; ++i)
        children.emplace_back(
            mproc::partial(
                [](Work& task, mproc::Barrier barrier, mproc::Array<long long> stamps, int index) {
                    barrier.wait();
                    stamps[2 * static_cast<std::size_t>(index)] = now_ns();
                    task(index);
                    stamps[2 * static_cast<std::size_t>(index) + 1] = now_ns();
                },
                work),
            start, times, i);
    for (auto& child : children) child.start();
    for (auto& child : children) child.join();
    for (auto& child : children)
        if (child.exitcode() != 0) throw std::runtime_error("shared_bench: a benchmark process failed");
    long long first = times[0], last = times[1];
    for (int i = 0; i < processes; ++i) {
        first = std::min(first, times[2 * static_cast<std::size_t>(i)]);
        last = std::max(last, times[2 * static_cast<std::size_t>(i) + 1]);
    }
    return static_cast<double>(last - first) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/shared_bench.py");
    if (!options) return 2;
    const int processes = options->processes;
    const bool quick = options->quick, with_python = options->with_python;
    using mproc::bench::median;
    using mproc::bench::median_seconds;
    const double scale = quick ? 0.2 : 1.0;
    const int repetitions = quick ? 3 : 5;

    auto python = mproc::bench::run_python_peer(
        *options, "Python's multiprocessing, fork context, " + std::to_string(processes) + " processes");
    std::printf("running mproc, %d processes ...\n", processes);
    std::fflush(stdout);

    std::vector<mproc::bench::Row> rows;
    const std::string procs = std::to_string(processes);

    {
        // (a) Locked increments of a Value<int>, Python's Value('i') with its default RLock.
        const long per_process = static_cast<long>(2'000'000 * scale);
        std::vector<double> rates;
        for (int r = 0; r < repetitions; ++r) {
            mproc::Value<int> counter(0);
            const double time = timed_in_children(processes, mproc::partial([](mproc::Value<int> shared, long count, int) {
                for (long n = 0; n < count; ++n) {
                    std::lock_guard guard(shared.get_lock());
                    shared.value() += 1;
                }
            }, counter, per_process));
            if (counter.value() != static_cast<int>(per_process * processes))
                throw std::runtime_error("shared_bench: lost increments");
            rates.push_back(static_cast<double>(per_process * processes) / time);
        }
        rows.push_back({"Value<int> += 1 under get_lock(), " + procs + " procs", "M/s", median(rates) / 1e6,
                        python["locked_increments_per_s"] / 1e6, false, ">= 20x Python"});
    }
    {
        // For comparison: the same counter without the lock, through Value::fetch_add.
        const long per_process = static_cast<long>(5'000'000 * scale);
        std::vector<double> rates;
        for (int r = 0; r < repetitions; ++r) {
            mproc::Value<int> counter(0, {.lock = false});
            const double time = timed_in_children(processes, mproc::partial([](mproc::Value<int> shared, long count, int) {
                for (long n = 0; n < count; ++n) shared.fetch_add(1);
            }, counter, per_process));
            if (counter.load() != static_cast<int>(per_process * processes))
                throw std::runtime_error("shared_bench: lost increments");
            rates.push_back(static_cast<double>(per_process * processes) / time);
        }
        rows.push_back({"Value<int>::fetch_add(1), no lock, " + procs + " procs", "M/s", median(rates) / 1e6, 0,
                        false, "(no Python equiv.)"});
    }
    std::vector<mproc::bench::Row> boost_rows;
    // Boost's message_queue holds as many ints as a Queue<int>'s default ring: 1 MiB of 16-byte slots.
    [[maybe_unused]] constexpr std::size_t queue_int_capacity = 65536;
    {
        // (b) Queue<int>: one process puts, the other gets; Boost's message_queue alternately.
        const long items = static_cast<long>(2'000'000 * scale);
        std::vector<double> rates, boost_rates;
        for (int r = 0; r < repetitions; ++r) {
            mproc::Queue<int> queue;
            const double time = timed_in_children(2, mproc::partial([](mproc::Queue<int> shared, long count, int index) {
                if (index == 0) {
                    for (long n = 0; n < count; ++n) shared.put(static_cast<int>(n));
                } else {
                    long long local = 0;
                    for (long n = 0; n < count; ++n) local += shared.get();
                    if (local != static_cast<long long>(count) * (count - 1) / 2) std::_Exit(3);
                }
            }, queue, items));
            rates.push_back(static_cast<double>(items) / time);
#if MPROC_BENCH_WITH_BOOST
            mproc::bench::boost_peer::IntQueue boost_queue(queue_int_capacity);
            const double boost_time = timed_in_children(2, mproc::partial([](const std::string& name, long count, int index) {
                if (!mproc::bench::boost_peer::int_queue_work(name, count, index)) std::_Exit(3);
            }, boost_queue.name(), items));
            boost_rates.push_back(static_cast<double>(items) / boost_time);
#endif
        }
        rows.push_back({"Queue<int> put/get, 2 processes", "M/s", median(rates) / 1e6,
                        python["queue_msgs_per_s"] / 1e6, false, ">= 100x Python"});
        rows.push_back({"  same, first run", "M/s", rates.front() / 1e6, python["queue_first_msgs_per_s"] / 1e6,
                        false, ""});
        if (!boost_rates.empty()) {
            boost_rows.push_back({"Queue<int> put/get vs message_queue", "M/s", median(rates) / 1e6,
                                  median(boost_rates) / 1e6, false, ">= 2x Boost"});
            boost_rows.push_back({"  same, first run", "M/s", rates.front() / 1e6, boost_rates.front() / 1e6, false, ""});
        }
    }
    {
        // (c) Pipe<int> ping-pong: round trip to another process and back.
        auto [here, there] = mproc::Pipe<int>();
        mproc::Process echo(
            [](mproc::Connection<int> connection, mproc::Connection<int> unused) {
                unused.close();
                for (int x; (x = connection.recv()) >= 0;) connection.send(x);
            },
            there, here);
        echo.start();
        there.close();
        for (int i = 0; i < 2000; ++i) {
            here.send(i);
            (void)here.recv();
        }
        const int samples_wanted = static_cast<int>(50'000 * scale);
        std::vector<double> samples;
        samples.reserve(static_cast<std::size_t>(samples_wanted));
        for (int i = 0; i < samples_wanted; ++i) {
            const long long start = now_ns();
            here.send(i);
            if (here.recv() != i) throw std::runtime_error("shared_bench: pipe echoed the wrong value");
            samples.push_back(static_cast<double>(now_ns() - start) / 1e3);
        }
        here.send(-1);
        echo.join();
        std::vector<double> sorted = samples;
        std::sort(sorted.begin(), sorted.end());
        rows.push_back({"Pipe<int> ping-pong round trip, median", "us", median(samples),
                        python["pipe_rtt_us"], true, "<= 25 us"});
        rows.push_back({"Pipe<int> ping-pong round trip, 90th pct.", "us",
                        sorted[sorted.size() * 9 / 10], python["pipe_rtt_p90_us"], true, ""});
    }
    {
        // (d) Uncontended acquire + release.
        const long iterations = static_cast<long>(20'000'000 * scale);
        mproc::Lock lock;
        const double lock_time = median_seconds(repetitions, [&] {
            for (long n = 0; n < iterations; ++n) {
                lock.lock();
                lock.unlock();
            }
        });
        rows.push_back({"Lock acquire + release, uncontended", "ns", lock_time / static_cast<double>(iterations) * 1e9,
                        python["lock_ns"], true, "< 50 ns"});
        mproc::Value<int> value(0);
        const double rlock_time = median_seconds(repetitions, [&] {
            for (long n = 0; n < iterations; ++n) {
                std::lock_guard guard(value.get_lock());
            }
        });
        rows.push_back({"Value's RLock via lock_guard, uncontended", "ns",
                        rlock_time / static_cast<double>(iterations) * 1e9, python["rlock_ns"], true, ""});
#if MPROC_BENCH_WITH_BOOST
        std::vector<double> boost_times;
        for (int r = 0; r < repetitions; ++r) boost_times.push_back(mproc::bench::boost_peer::mutex_seconds(iterations));
        const double boost_time = median(boost_times);
        boost_rows.push_back({"Lock vs interprocess_mutex (not robust)", "ns",
                              lock_time / static_cast<double>(iterations) * 1e9,
                              boost_time / static_cast<double>(iterations) * 1e9, true, "within 1.2x Boost"});
#endif
    }

    {
        // (e) A shared array passed to pool tasks: the first task maps it, later ones find it
        // mapped. Each later call is timed beside a plain apply (and each sum beside the same sum
        // here), so that other load on the machine weighs on both alike.
        const int calls = quick ? 100 : 500, sums = quick ? 5 : 20;
        constexpr std::size_t count = (std::size_t{64} << 20) / sizeof(double);
        mproc::Pool pool(1);
        mproc::RawArray<double> array(count);
        for (std::size_t i = 0; i < count; ++i) array[i] = 1.0;
        const auto microseconds_of = [](auto work) {
            const long long start = now_ns();
            work();
            return static_cast<double>(now_ns() - start) / 1e3;
        };
        const auto check = [](bool right) {
            if (!right) throw std::runtime_error("shared_bench: wrong result");
        };
        const auto read_ends = [](mproc::RawArray<double> shared) { return shared[0] + shared[shared.size() - 1]; };
        const auto sum_all = [](mproc::RawArray<double> shared) {
            double sum = 0;
            for (const double x : shared) sum += x;
            return sum;
        };
        const auto ends_in_task = [&] { check(pool.apply(read_ends, array) == 2.0); };
        const auto sum_in_task = [&] { check(pool.apply(sum_all, array) == static_cast<double>(count)); };
        const double ends_first = microseconds_of(ends_in_task);
        std::vector<double> ends, plain;
        for (int i = 0; i < calls; ++i) {
            ends.push_back(microseconds_of(ends_in_task));
            plain.push_back(microseconds_of([&] { check(pool.apply([](int x) { return x + 1; }, i) == i + 1); }));
        }
        const double sum_first = microseconds_of(sum_in_task);
        std::vector<double> sum, sum_here;
        for (int i = 0; i < sums; ++i) {
            sum.push_back(microseconds_of(sum_in_task));
            sum_here.push_back(microseconds_of([&] { check(sum_all(array) == static_cast<double>(count)); }));
        }
        rows.push_back({"64 MiB RawArray task, 2 pages, first call", "us", ends_first, 0, true, ""});
        rows.push_back({"64 MiB RawArray task, 2 pages, median", "us", median(ends), 0, true, "< 10 us"});
        rows.push_back({"plain apply(int) round trip, median", "us", median(plain), 0, true, ""});
        rows.push_back({"64 MiB RawArray task, sum of all, first call", "us", sum_first, 0, true, ""});
        rows.push_back({"64 MiB RawArray task, sum of all, median", "us", median(sum), 0, true, ""});
        rows.push_back({"the same sum in this process, median", "us", median(sum_here), 0, true, ""});
    }

    std::string python_text = "not run";
    if (with_python) {
        python_text = "failed to run";
        if (python.count("python_major"))
            python_text = std::to_string(static_cast<int>(python["python_major"])) + "." +
                          std::to_string(static_cast<int>(python["python_minor"]));
    }
    // Two processes ping-ponging on two cores are very sensitive to other work on the machine.
    std::string load = "?";
    if (FILE* file = std::fopen("/proc/loadavg", "r")) {
        char text[64] = {};
        if (std::fgets(text, sizeof text, file)) load = std::string(text, std::strcspn(text, " ")) + " (1 min)";
        std::fclose(file);
    }
    std::printf("\nmachine: %u hardware threads, mproc::cpu_count() = %d, load average %s; Python %s\n",
                std::thread::hardware_concurrency(), mproc::cpu_count(), load.c_str(), python_text.c_str());
    mproc::bench::print_table(rows);
    if (!boost_rows.empty()) {
        std::printf("\nBoost.Interprocess %d.%d (its mutex and message_queue are not robust: a process that "
                    "dies holding one blocks the others for good):\n",
                    BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
        mproc::bench::print_table(boost_rows, "Boost");
    }
    return 0;
}
