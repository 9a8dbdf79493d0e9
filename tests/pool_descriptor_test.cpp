// Objects backed by file descriptors (as mproc's shared objects are) travel to pool workers that
// were started before the objects existed: their descriptors go along with the message.
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include <mproc/pool.hpp>

#include "support/leak_check.hpp"

namespace {

// A write end of a pipe, made transferable through mproc::Codec the way shared objects are.
struct PipeWriter {
    int fd = -1;
};

}  // namespace

template <>
struct mproc::Codec<PipeWriter> {
    static void encode(Writer& out, const PipeWriter& pipe) { out.write_value(out.attach_fd(pipe.fd)); }
    static PipeWriter decode(Reader& in) {
        // The transport owns the received descriptor for the duration of the decode: keep a copy.
        return {::fcntl(in.fd(in.read_value<std::uint32_t>()), F_DUPFD_CLOEXEC, 0)};
    }
};

namespace {

std::string read_available(int fd) {
    char buffer[256];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

TEST(PoolDescriptors, ObjectCreatedAfterThePoolReachesItsWorkers) {
    mproc::test::LeakCheck leaks;
    {
        mproc::Pool pool(2);
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        const int written = pool.apply(
            [](PipeWriter out, int value) {
                const std::string text = "from worker " + std::to_string(value);
                const auto n = ::write(out.fd, text.data(), text.size());
                ::close(out.fd);
                return static_cast<int>(n);
            },
            PipeWriter{fds[1]}, 7);
        EXPECT_EQ(written, 13);
        EXPECT_EQ(read_available(fds[0]), "from worker 7");
        ::close(fds[0]);
        ::close(fds[1]);
    }
}

TEST(PoolDescriptors, DescriptorsComeBackInResults) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    const auto pipes = pool.map(
        [](int i) {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
            const std::string text = "item " + std::to_string(i);
            if (::write(fds[1], text.data(), text.size()) < 0) throw std::runtime_error("write");
            ::close(fds[1]);
            // The read end travels back (the worker's own copy stays open until it exits).
            return PipeWriter{fds[0]};
        },
        std::vector{1, 2, 3});
    ASSERT_EQ(pipes.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(read_available(pipes[i].fd), "item " + std::to_string(i + 1));
        ::close(pipes[i].fd);
    }
}

}  // namespace
