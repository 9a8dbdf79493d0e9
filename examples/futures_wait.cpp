// concurrent.futures.wait with FIRST_EXCEPTION: stop at the first failure, cancel what has not
// started. In Python:
//
//   def check(n):
//       time.sleep(0.01)  # the work
//       if n == 10:
//           raise ValueError(f'item {n} is bad')
//       return n
//
//   with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
//       futures = [executor.submit(check, n) for n in range(100)]
//       done, not_done = concurrent.futures.wait(futures, return_when=FIRST_EXCEPTION)
//       for future in not_done:
//           future.cancel()
//       failed = [f for f in done if f.exception() is not None]
//       print('first failure:', failed[0].exception())
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

int check(int n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the work
    if (n == 10) throw std::invalid_argument("item " + std::to_string(n) + " is bad");
    return n;
}

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    namespace futures = mproc::futures;
    futures::ProcessPoolExecutor executor(2);
    std::vector<futures::Future<int>> fs;
    for (int n = 0; n < 100; ++n) fs.push_back(executor.submit(check, n));
    auto [done, not_done] = futures::wait(fs, std::nullopt, futures::FIRST_EXCEPTION);
    int cancelled = 0;
    for (const auto& future : not_done) cancelled += future.cancel();
    for (const auto& future : done) {
        if (const auto error = future.exception()) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                std::printf("first failure: %s\n", e.what());
            }
            break;
        }
    }
    std::printf("cancelled %d of the calls not done\n", cancelled);
}
