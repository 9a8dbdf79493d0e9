#include "os_error.hpp"

#include <cerrno>
#include <string>

#include <mproc/errors.hpp>

#include "os/file.hpp"
#include "os/threads.hpp"

namespace mproc::detail {

void throw_os_error(const os::SysError& error, std::string_view context) {
    std::string what(context.empty() ? std::string_view(error.call) : context);
    if (error.code == EFBIG) {
        const auto limit = os::file_size_limit();
        what += " (over this process's file-size limit, RLIMIT_FSIZE or `ulimit -f`" +
                (limit ? ", of " + std::to_string(*limit) + " bytes)" : std::string(")"));
    }
    throw OSError(what, error.code);
}

std::thread start_thread(std::string_view purpose, std::function<void()> body) {
    return or_throw(os::start_thread(std::move(body)), "cannot start a thread (" + std::string(purpose) + ")");
}

}  // namespace mproc::detail
