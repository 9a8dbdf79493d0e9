// Sharing state between processes, after Python's multiprocessing documentation:
//
//   from multiprocessing import Process, Value, Array
//
//   def work(counter, squares, i):
//       for _ in range(10000):
//           with counter.get_lock():
//               counter.value += 1
//       squares[i] = i * i
//
//   if __name__ == '__main__':
//       counter = Value('d', 0.0)
//       squares = Array('i', 10)
//       ps = [Process(target=work, args=(counter, squares, i)) for i in range(10)]
//       for p in ps: p.start()
//       for p in ps: p.join()
//       print(counter.value, squares[:])
#include <cstdio>
#include <mutex>
#include <vector>

#include <mproc/mproc.hpp>

void work(mproc::Value<double> counter, mproc::Array<int> squares, int i) {
    for (int n = 0; n < 10'000; ++n) {
        std::lock_guard guard(counter.get_lock());
        counter.value() += 1;
    }
    squares[static_cast<std::size_t>(i)] = i * i;
}

int main() {
    mproc::Value<double> counter(0.0);  // Value<mproc::typecode<'d'>> reads the same
    mproc::Array<int> squares(10);
    std::vector<mproc::Process> processes;
    for (int i = 0; i < 10; ++i) processes.emplace_back(work, counter, squares, i);
    for (auto& p : processes) p.start();
    for (auto& p : processes) p.join();

    std::printf("%.1f [", counter.value());
    for (std::size_t i = 0; i < squares.size(); ++i) std::printf(i ? ", %d" : "%d", squares[i]);
    std::printf("]\n");
    return counter.value() == 100'000.0 ? 0 : 1;
}
