// The Boost.Interprocess peer of shared_bench: what a C++ programmer would otherwise pick for a
// queue or a lock between processes. Neither is robust: a process that dies holding
// interprocess_mutex (or in the middle of a message_queue operation, which takes one) leaves it
// locked for good. Built only where Boost's headers are found (MPROC_BENCH_WITH_BOOST).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>

#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>

namespace mproc::bench::boost_peer {

namespace ipc = boost::interprocess;

// A message_queue of int-sized messages, named after this process; removed with this object.
class IntQueue {
public:
    explicit IntQueue(std::size_t capacity) : name_("mproc-bench-mq-" + std::to_string(::getpid())) {
        ipc::message_queue::remove(name_.c_str());
        ipc::message_queue(ipc::create_only, name_.c_str(), capacity, sizeof(int));
    }
    ~IntQueue() { ipc::message_queue::remove(name_.c_str()); }
    IntQueue(const IntQueue&) = delete;
    IntQueue& operator=(const IntQueue&) = delete;

    const std::string& name() const { return name_; }

private:
    std::string name_;
};

// Runs in a child: index 0 sends `count` ints, index 1 receives them and checks their sum.
// Returns false if the sum is wrong.
inline bool int_queue_work(const std::string& name, long count, int index) {
    ipc::message_queue queue(ipc::open_only, name.c_str());
    if (index == 0) {
        for (long n = 0; n < count; ++n) {
            const int value = static_cast<int>(n);
            queue.send(&value, sizeof value, 0);
        }
        return true;
    }
    long long sum = 0;
    for (long n = 0; n < count; ++n) {
        int value = 0;
        ipc::message_queue::size_type received = 0;
        unsigned priority = 0;
        queue.receive(&value, sizeof value, received, priority);
        sum += value;
    }
    return sum == static_cast<long long>(count) * (count - 1) / 2;
}

// Seconds for `iterations` uncontended lock + unlock pairs of an interprocess_mutex.
inline double mutex_seconds(long iterations) {
    ipc::interprocess_mutex mutex;
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < iterations; ++n) {
        mutex.lock();
        mutex.unlock();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace mproc::bench::boost_peer
