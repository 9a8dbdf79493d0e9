#include "os/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace mproc::os {

bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout) {
    timespec relative{};
    if (timeout) {
        const auto ns = std::max<long long>(timeout->count(), 0);
        relative = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    }
    const long result = ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, timeout ? &relative : nullptr,
                                  nullptr, 0);
    return !(result == -1 && errno == ETIMEDOUT);
}

void futex_wake(const std::atomic<std::uint32_t>& word, int count) {
    ::syscall(SYS_futex, &word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

}  // namespace mproc::os
