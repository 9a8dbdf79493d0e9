// The one way the OS layer calls the operating system: EINTR is retried, and a failure is
// returned with errno and the call's name (result.hpp), never thrown.
#pragma once

#include <cerrno>
#include <type_traits>

#include "os/result.hpp"

namespace mproc::os {

// Calls fn until it does not fail with EINTR. fn follows the libc convention: -1 and errno.
template <class Fn>
auto sys_call(const char* call, Fn&& fn) -> Result<std::invoke_result_t<Fn&>> {
    for (;;) {
        auto result = fn();
        if (result != -1) return result;
        if (errno != EINTR) return SysError{call, errno};
    }
}

// As sys_call, for calls whose value only says whether they succeeded.
template <class Fn>
SysResult sys_check(const char* call, Fn&& fn) {
    const auto result = sys_call(call, fn);
    if (!result) return result.error();
    return {};
}

}  // namespace mproc::os
