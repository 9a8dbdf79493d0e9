// Passing file descriptors between processes over a Unix socket (SCM_RIGHTS). Used to send the
// memfds behind shared objects along with messages that mention them.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "os/unique_fd.hpp"

namespace mproc::os {

// A connected pair of SOCK_SEQPACKET sockets, close-on-exec: each send is received whole.
std::pair<UniqueFd, UniqueFd> socket_pair();

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
