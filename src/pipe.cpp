// Pipe and Connection (mproc/pipe.hpp): one shared block with two message queues, one per
// direction, and a socketpair used only to tell when the other end is gone.
#include <mproc/pipe.hpp>

namespace mproc::detail {

void connection_setup(ConnectionLocal& local, SharedBlock block, PeerLink link, std::uint8_t end, bool duplex) {
    local.end = end;
    local.readable = duplex || end == 0;
    local.writable = duplex || end == 1;
    if (local.readable) local.incoming = MessageQueue::at(block, end);
    if (local.writable) local.outgoing = MessageQueue::at(block, 1 - end);
    local.link = std::move(link);
    local.block = std::move(block);
}

std::pair<std::shared_ptr<ConnectionLocal>, std::shared_ptr<ConnectionLocal>> make_pipe(bool duplex,
                                                                                       const QueueOptions& options) {
    SharedBlock block =
        MessageQueue::create_block(ObjectKind::pipe, 2, options.buffer_bytes, 0, options.spill_keep_bytes);
    auto [link0, link1] = PeerLink::create();
    auto first = std::make_shared<ConnectionLocal>();
    auto second = std::make_shared<ConnectionLocal>();
    connection_setup(*first, block, std::move(link0), 0, duplex);
    connection_setup(*second, std::move(block), std::move(link1), 1, duplex);
    return {std::move(first), std::move(second)};
}

void encode_connection(Writer& out, const ConnectionLocal& local) {
    local.block.encode(out);
    local.link.encode(out);
    out.write_value(local.end);
    out.write_value(static_cast<std::uint8_t>(local.readable && local.writable));
}

std::shared_ptr<ConnectionLocal> decode_connection(Reader& in) {
    SharedBlock block = SharedBlock::decode(in, 64);
    if (MessageQueue::check_block(block, ObjectKind::pipe, "Connection") != 2) in.fail("a pipe holds two queues");
    PeerLink link = PeerLink::decode(in);
    const auto end = in.read_value<std::uint8_t>();
    const auto duplex = in.read_value<std::uint8_t>();
    if (end > 1 || duplex > 1) in.fail("invalid Connection");
    auto local = std::make_shared<ConnectionLocal>();
    connection_setup(*local, std::move(block), std::move(link), end, duplex == 1);
    return local;
}

}  // namespace mproc::detail
