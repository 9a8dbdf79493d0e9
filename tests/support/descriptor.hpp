// A raw file descriptor as an argument of a Process or a Pool task, under every start method: it
// travels beside the message (SCM_RIGHTS) as shared objects do. The receiver borrows it for the
// call: a Pool worker closes it after the task, a Process child when it exits. A forked Process
// child, which gets no message, uses the inherited number.
#pragma once

#include <cstdint>

#include <mproc/serialize.hpp>

namespace mproc::test {

struct Descriptor {
    int fd = -1;
    operator int() const noexcept { return fd; }
};

}  // namespace mproc::test

template <>
struct mproc::Codec<mproc::test::Descriptor> {
    static void encode(Writer& out, const mproc::test::Descriptor& descriptor) {
        out.write_value(out.attach_fd(descriptor.fd));
    }
    static mproc::test::Descriptor decode(Reader& in) { return {in.fd(in.read_value<std::uint32_t>())}; }
};
