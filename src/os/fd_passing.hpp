// Messages over a pair of Unix sockets, with file descriptors passed beside them (SCM_RIGHTS): how
// the memfds behind shared objects travel along with the messages that mention them.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

// A connected pair of SOCK_SEQPACKET sockets, close-on-exec: each send is received whole.
[[nodiscard]] Result<std::pair<UniqueFd, UniqueFd>> socket_pair() noexcept;

// When `fd` is a connected AF_UNIX SOCK_SEQPACKET socket whose peer is our user's, the peer's pid:
// for an end of a socket_pair(), the pid of the process that made the pair (peer credentials are
// taken when the pair is made, and kept after that process is gone). No call made here can block.
std::optional<int> socket_pair_maker(int fd) noexcept;
// Whether `fd` is an end of a socket_pair() that this process's parent made. What a program
// started by spawn inherits, and nothing a stray descriptor number names by chance.
bool is_socket_pair_from_parent(int fd) noexcept;

// Copies the start of the next message on `socket` into `buffer` without taking it (MSG_PEEK),
// waiting at most `timeout` for one. Returns the message's whole size (which may exceed the
// buffer's), 0 at end of file, nothing on a timeout or an error. Descriptors sent beside it stay
// in the socket, not received.
std::optional<std::size_t> peek_message(int socket, std::span<std::byte> buffer,
                                        std::chrono::milliseconds timeout) noexcept;

// The most descriptors one message may carry: the kernel's SCM_MAX_FD.
inline constexpr std::size_t max_fds_per_message = 253;

// Sends a message of bytes with descriptors beside it (at most max_fds_per_message), as one
// datagram. Never raises SIGPIPE: a closed other end is EPIPE.
[[nodiscard]] SysResult send_message(int socket, std::span<const std::byte> data, std::span<const int> fds = {}) noexcept;

// On a stream socket: sends the start of `head` followed by `tail` in one system call (a header
// and its payload: one segment, one wake-up of the reader), with `fds` attached to the first byte
// (SCM_RIGHTS; Unix sockets only). Returns how many bytes went; blocks until at least one can.
[[nodiscard]] Result<std::size_t> send_some(int socket, std::span<const std::byte> head,
                                            std::span<const std::byte> tail,
                                            std::span<const int> fds = {}) noexcept;

struct ReceivedMessage {
    std::size_t size = 0;  // bytes written to the buffer; 0 when the other side has closed
    std::vector<UniqueFd> fds;  // close-on-exec
    bool truncated = false;  // the message or its descriptors did not fit: what did is here
};
// What a receive does when nothing has arrived: wait for something (on a blocking socket), or
// fail at once with EAGAIN.
enum class WhenEmpty { wait, fail };

// Whether a receive takes the descriptors sent beside the bytes, or lets the kernel close them
// (a plain recv, with no control buffer to fill: cheaper where none are expected).
enum class Descriptors { take, drop };

// Receives one message into `buffer`, with up to max_fds_per_message descriptors.
[[nodiscard]] Result<ReceivedMessage> receive_message(int socket, std::span<std::byte> buffer,
                                                      WhenEmpty when_empty = WhenEmpty::wait,
                                                      Descriptors descriptors = Descriptors::take) noexcept;

}  // namespace mproc::os
