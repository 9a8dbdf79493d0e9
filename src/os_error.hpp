// Where a failure of the OS layer (src/os, which returns results) becomes an mproc error.
#pragma once

#include <functional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "os/result.hpp"

namespace mproc::detail {

// Throws the mproc::OSError for `error`: its what() names `context`, or the failed call when
// there is none, then errno's text. EFBIG also names this process's file-size limit, which is
// what a shared file that cannot grow has run into.
[[noreturn]] void throw_os_error(const os::SysError& error, std::string_view context = {});

// The value, or the OSError for why there is none.
template <class T>
    requires(!std::is_void_v<T>)
T or_throw(os::Result<T>&& result, std::string_view context = {}) {
    if (!result) throw_os_error(result.error(), context);
    return std::move(result).value();
}
inline void or_throw(const os::SysResult& result, std::string_view context = {}) {
    if (!result) throw_os_error(result.error(), context);
}

// Starts a thread, as std::thread does; but one that cannot be created (EAGAIN: a thread or
// process limit such as RLIMIT_NPROC, or no memory for its stack) is an OSError naming `purpose`:
// every mproc error is an mproc::Error.
std::thread start_thread(std::string_view purpose, std::function<void()> body);

}  // namespace mproc::detail
