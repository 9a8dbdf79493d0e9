// mproc::connection::wait (mproc/connection.hpp): one ppoll over every object's descriptor.
#include <mproc/connection.hpp>

#include "os/poll.hpp"
#include "os_error.hpp"

namespace mproc::connection {

Waitable::Waitable(const Connection* connection) : connection_(connection), fd_(connection->fileno()) {}

std::vector<Waitable> wait(const std::vector<Waitable>& objects, std::optional<std::chrono::duration<double>> timeout) {
    std::vector<int> fds;
    fds.reserve(objects.size());
    for (const auto& object : objects) {
        // A Connection closed since it was listed: Python's fileno() raises here too.
        if (object.connection() && object.connection()->closed())
            throw OSError("mproc::connection::wait: a Connection is closed", EBADF);
        fds.push_back(object.fileno());
    }
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (timeout)
        deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::max(*timeout, std::chrono::duration<double>::zero()));
    const auto ready = mproc::detail::or_throw(os::readable_among(fds, deadline), "mproc::connection::wait");
    std::vector<Waitable> out;
    for (std::size_t i = 0; i < objects.size(); ++i)
        if (ready[i]) out.push_back(objects[i]);
    return out;
}

}  // namespace mproc::connection
