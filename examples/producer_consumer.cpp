// Producers and consumers sharing a Queue, after Python's multiprocessing documentation:
//
//   from multiprocessing import Process, JoinableQueue
//
//   def producer(q, first):
//       for n in range(first, first + 1000):
//           q.put(n)
//
//   def consumer(q, results):
//       while (n := q.get()) is not None:
//           results.put(n * n)
//           q.task_done()
//       q.task_done()
//
// Two producers put numbers, three consumers square them; the main process adds up the squares.
#include <cstdio>
#include <optional>
#include <vector>

#include <mproc/mproc.hpp>

void producer(mproc::JoinableQueue<std::optional<long>> tasks, long first) {
    for (long n = first; n < first + 1000; ++n) tasks.put(n);
}

void consumer(mproc::JoinableQueue<std::optional<long>> tasks, mproc::Queue<long> results) {
    while (auto n = tasks.get()) {
        results.put(*n * *n);
        tasks.task_done();
    }
    tasks.task_done();  // the stop marker
}

int main() {
    mproc::JoinableQueue<std::optional<long>> tasks(100);  // bounded: producers wait for consumers
    mproc::Queue<long> results;
    std::vector<mproc::Process> processes;
    for (long first : {0L, 1000L}) processes.emplace_back(producer, tasks, first);
    for (int i = 0; i < 3; ++i) processes.emplace_back(consumer, tasks, results);
    for (auto& p : processes) p.start();

    long sum = 0;
    for (int i = 0; i < 2000; ++i) sum += results.get();
    for (int i = 0; i < 3; ++i) tasks.put(std::nullopt);  // one stop marker per consumer
    tasks.join();                                         // every task done
    for (auto& p : processes) p.join();

    const long expected = 1999L * 2000 * (2 * 1999 + 1) / 6;  // sum of n^2 for n < 2000
    std::printf("sum of squares: %ld (expected %ld)\n", sum, expected);
    return sum == expected ? 0 : 1;
}
