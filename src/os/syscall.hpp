// The one way mproc calls the operating system: EINTR is retried, and a failure becomes an
// error value carrying errno that the public layer turns into a typed mproc::Error.
#pragma once

#include <cerrno>
#include <cstddef>
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

// Sets the size of a file (ftruncate), or extends it to cover [offset, offset + length) without
// ever shrinking it (fallocate). Every memfd and shared-memory file mproc sizes goes through these.
// A size past this process's file-size limit (RLIMIT_FSIZE, `ulimit -f`) fails with EFBIG before
// the kernel is asked: the kernel would also send SIGXFSZ, whose default action kills the process
// (Python ignores that signal, and gets EFBIG). The signal's disposition is the program's own.
[[nodiscard]] SysResult<int> set_file_size(int fd, std::size_t size) noexcept;
[[nodiscard]] SysResult<int> extend_file(int fd, std::size_t offset, std::size_t length) noexcept;
// The OSError for a failed set_file_size or extend_file; for EFBIG it names the file-size limit.
[[noreturn]] void throw_file_size_error(const std::string& context, int code);

}  // namespace mproc::os
