// Passing file descriptors between processes over a Unix socket (SCM_RIGHTS). Used to send the
// memfds behind shared objects along with messages that mention them.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "os/unique_fd.hpp"

namespace mproc::os {

// A connected pair of SOCK_SEQPACKET sockets, close-on-exec: each send is received whole.
std::pair<UniqueFd, UniqueFd> socket_pair();

// Whether `fd` is an end of a socket_pair() that this process's parent made: an AF_UNIX
// SOCK_SEQPACKET socket whose peer credentials (those of the process that created the pair) are
// our parent's pid and our user. What a program started by spawn inherits, and nothing a stray
// descriptor number names by chance. No call made here can block.
bool is_socket_pair_from_parent(int fd) noexcept;

// Copies the start of the next message on `socket` into `buffer` without taking it (MSG_PEEK),
// waiting at most `timeout` for one. Returns the message's whole size (which may exceed the
// buffer's), 0 at end of file, nothing on a timeout or an error. Descriptors sent beside it stay
// in the socket, not received.
std::optional<std::size_t> peek_message(int socket, std::span<std::byte> buffer,
                                        std::chrono::milliseconds timeout) noexcept;

// Sends the descriptors as one message. At most max_fds_per_message.
inline constexpr std::size_t max_fds_per_message = 253;  // the kernel's SCM_MAX_FD
void send_fds(int socket, std::span<const int> fds);
// Receives one message of descriptors (close-on-exec), which must hold exactly `count`.
std::vector<UniqueFd> receive_fds(int socket, std::size_t count);

// A small message of bytes with descriptors beside it, as one datagram.
void send_message(int socket, std::span<const std::byte> data, std::span<const int> fds = {});
struct ReceivedMessage {
    std::size_t size = 0;  // bytes written to the buffer; 0 when the other side has closed
    std::vector<UniqueFd> fds;
};
// Throws SerializationError if the message or its descriptors did not fit.
ReceivedMessage receive_message(int socket, std::span<std::byte> buffer);

}  // namespace mproc::os
