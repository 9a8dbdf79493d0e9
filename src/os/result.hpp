// What a fallible function of the OS layer returns: its value, or the system call that failed and
// errno. Nothing under src/os throws an mproc error or prints; the layer above decides what a
// failure means and turns it into an mproc::Error (src/os_error.hpp).
#pragma once

#include <utility>
#include <variant>

namespace mproc::os {

struct SysError {
    const char* call;  // the call, and what it was about when that helps: "mmap(memfd)"
    int code;          // the errno value
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(SysError error) : state_(std::in_place_index<1>, error) {}

    explicit operator bool() const noexcept { return state_.index() == 0; }
    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    // Only when it failed.
    const SysError& error() const noexcept { return *std::get_if<1>(&state_); }

private:
    std::variant<T, SysError> state_;
};

// Success, or why not.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() noexcept = default;
    Result(SysError error) noexcept : error_(error) {}

    explicit operator bool() const noexcept { return error_.code == 0; }
    const SysError& error() const noexcept { return error_; }

private:
    SysError error_{nullptr, 0};
};

using SysResult = Result<void>;

}  // namespace mproc::os
