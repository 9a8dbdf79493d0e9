// Plain reading and writing: files opened by path, whole writes, the kernel's random bytes.
#pragma once

#include <cstddef>
#include <span>

#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

// Opens (creating it, mode 0644) a file to append to; close-on-exec.
[[nodiscard]] Result<UniqueFd> open_for_append(const char* path) noexcept;

// Writes all of `bytes`, however many writes that takes.
[[nodiscard]] SysResult write_all(int fd, std::span<const std::byte> bytes) noexcept;

// Whether fd is a terminal.
bool is_terminal(int fd) noexcept;

// Fills `bytes` from the kernel's random source (getrandom), blocking until it is seeded.
[[nodiscard]] SysResult fill_random(std::span<std::byte> bytes) noexcept;

}  // namespace mproc::os
