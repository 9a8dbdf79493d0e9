#include "message_fds.hpp"

#include <cstring>
#include <memory>
#include <string>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "os_error.hpp"

namespace mproc::detail {

int duplicate_fd(int fd) {
    auto copy = os::duplicate_fd_cloexec(fd);
    if (!copy)
        throw SerializationError("mproc: a shared object's file descriptor (" + std::to_string(fd) +
                                 ") is not open: " + std::strerror(copy.error().code));
    return copy.value().release();
}

void close_fd(int fd) noexcept { os::UniqueFd closed(fd); }

std::shared_ptr<const std::vector<int>> keep_fds(const std::vector<int>& fds) {
    auto copies = std::make_unique<std::vector<int>>();
    try {
        for (int fd : fds) copies->push_back(duplicate_fd(fd));
    } catch (...) {
        for (int fd : *copies) close_fd(fd);
        throw;
    }
    return std::shared_ptr<const std::vector<int>>(copies.release(), [](const std::vector<int>* owned) {
        for (int fd : *owned) close_fd(fd);
        delete owned;
    });
}

std::pair<os::UniqueFd, os::UniqueFd> socket_pair() { return or_throw(os::socket_pair()); }

void send_message(int socket, std::span<const std::byte> data, std::span<const int> fds) {
    if (fds.size() > os::max_fds_per_message)
        throw SerializationError("mproc: a message may carry at most " + std::to_string(os::max_fds_per_message) +
                                 " shared objects");
    or_throw(os::send_message(socket, data, fds));
}

os::ReceivedMessage receive_message(int socket, std::span<std::byte> buffer) {
    auto received = or_throw(os::receive_message(socket, buffer));
    if (received.truncated) throw SerializationError("mproc: message truncated");
    return received;
}

void send_fds(int socket, std::span<const int> fds) {
    const std::byte marker{0};
    send_message(socket, {&marker, 1}, fds);
}

std::vector<os::UniqueFd> receive_fds(int socket, std::size_t count) {
    std::byte marker{};
    auto received = receive_message(socket, {&marker, 1});
    if (received.size == 0 || received.fds.size() != count)
        throw SerializationError("mproc: expected " + std::to_string(count) + " file descriptors with a message, got " +
                                 std::to_string(received.fds.size()));
    return std::move(received.fds);
}

}  // namespace mproc::detail
