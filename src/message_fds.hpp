// Messages that carry file descriptors (os/fd_passing.hpp), with mproc's errors: OSError when the
// socket fails, SerializationError when a message or its descriptors do not fit.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "os/fd_passing.hpp"
#include "os/unique_fd.hpp"

namespace mproc::detail {

std::pair<os::UniqueFd, os::UniqueFd> socket_pair();

// A message of bytes with at most os::max_fds_per_message descriptors beside it.
void send_message(int socket, std::span<const std::byte> data, std::span<const int> fds = {});
os::ReceivedMessage receive_message(int socket, std::span<std::byte> buffer);

// Sends descriptors as a message of their own; receive_fds takes it, which must hold `count`.
void send_fds(int socket, std::span<const int> fds);
std::vector<os::UniqueFd> receive_fds(int socket, std::size_t count);

}  // namespace mproc::detail
