// The one way mproc calls the operating system: EINTR is retried, and a failure becomes an
// error value carrying errno that the public layer turns into a typed mproc::Error.
#pragma once

#include <cerrno>
#include <string>
#include <type_traits>

namespace mproc::os {

// Result of a system call: the value it returned, or the errno it failed with.
template <class T>
struct SysResult {
    T value;
    int error = 0;

    explicit operator bool() const noexcept { return error == 0; }
    // The value, or an mproc::OSError naming `context`.
    T or_throw(const char* context) const;
};

[[noreturn]] void throw_os_error(const std::string& context, int code);

template <class T>
T SysResult<T>::or_throw(const char* context) const {
    if (error != 0) throw_os_error(context, error);
    return value;
}

// Calls fn until it does not fail with EINTR. fn follows the libc convention: -1 and errno.
template <class Fn>
auto sys_call(Fn&& fn) -> SysResult<std::invoke_result_t<Fn&>> {
    for (;;) {
        auto result = fn();
        if (result != -1) return {result, 0};
        if (errno != EINTR) return {result, errno};
    }
}

}  // namespace mproc::os
