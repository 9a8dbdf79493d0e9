// libFuzzer target for a Manager's server: what it does with a request from an authenticated
// client (detail/manager_wire.hpp's decoder, then the dispatch to an object's method and the
// decoding of its arguments). The input is one request, sent on a connection that has said hello
// and created a dict<int, std::string> (id 1), a list<int> (id 2) and a Lock (id 3), as a client
// would.
//
// Any request may be refused (an exception reply); anything else (a crash, a sanitizer report, a
// hang, a reply that is not a reply) is a bug. Every registered type may be created (a Condition
// over the Lock, by its id, among them), but the calls of types whose calls can block (locks,
// events) are refused here: such a call may legitimately wait forever.
//
// Build with Clang and -DMPROC_BUILD_FUZZERS=ON; run as
//   build/tests/fuzz/mproc_fuzz_manager -max_total_time=60 CORPUS_DIR tests/fuzz/manager_corpus
// `mproc_fuzz_manager --write-seeds=DIR` writes valid requests into DIR (that is how
// tests/fuzz/manager_corpus was made).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <mproc/detail/manager_containers.hpp>
#include <mproc/detail/manager_wire.hpp>

#include "manager/server.hpp"
#include "manager/sync_objects.hpp"
#include "seeds.hpp"

namespace {

namespace wire = mproc::detail::manager;
using Dict = wire::DictObject<int, std::string>;
using List = wire::ListObject<int>;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "%s\n", what);
    std::abort();
}

std::vector<std::byte> create_request(const std::string& type, auto init) {
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    wire::encode_create_head(out, 1, type);
    mproc::encode(out, init);
    return bytes;
}

std::vector<std::byte> share_request(const std::string& type, const std::string& name, auto init) {
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    wire::encode_share_head(out, 1, type, name);
    mproc::encode(out, init);
    return bytes;
}

template <class... Args>
std::vector<std::byte> call_request(wire::ObjectId id, const std::string& type, const std::string& method,
                                    const Args&... args) {
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    wire::encode_call_head(out, 1, id, type, method);
    (mproc::encode(out, args), ...);
    return bytes;
}

// A server with a greeted session holding a dict (id 1), a list (id 2) and a Lock (id 3).
struct Fixture {
    mproc::manager_server::Objects objects{
        [](const wire::ServedType& type, wire::Op op) { return op != wire::Op::call || type.serialized; }};
    mproc::manager_server::Objects::Session session;

    Fixture() {
        (void)wire::ServedTypeRegistration<Dict>::registered;
        (void)wire::ServedTypeRegistration<List>::registered;
        mproc::manager_server::register_sync_objects();
        std::vector<std::byte> hello;
        mproc::Writer out(hello);
        wire::encode_hello(out, 42);
        expect_value(hello);
        expect_value(create_request(wire::served_type_name<Dict>(), std::map<int, std::string>{{1, "one"}}));
        expect_value(create_request(wire::served_type_name<List>(), std::vector<int>{1, 2, 3}));
        expect_value(create_request(std::string(mproc::manager_server::lock_type), std::monostate{}));
    }

    void expect_value(std::span<const std::byte> request) {
        std::vector<std::byte> reply;
        mproc::Writer out(reply);
        if (!objects.handle(session, request, out) || reply.empty() ||
            reply[0] != static_cast<std::byte>(mproc::detail::ReplyStatus::value))
            fail("the fixture's request was refused");
    }
};

std::vector<std::vector<std::byte>> seeds() {
    const auto dict = wire::served_type_name<Dict>();
    const auto list = wire::served_type_name<List>();
    const std::string condition(mproc::manager_server::condition_type);
    std::vector<std::byte> decref;
    mproc::Writer out(decref);
    wire::encode_reference(out, wire::Op::decref, 2);
    std::vector<std::byte> shutdown;
    mproc::Writer shutdown_out(shutdown);
    shutdown_out.write_value(wire::Op::shutdown);
    return {call_request(1, dict, "__setitem__", 2, std::string("two")),
            call_request(1, dict, "__getitem__", 1),
            call_request(1, dict, "update", std::map<int, std::string>{{3, "three"}}),
            call_request(2, list, "insert", std::int64_t{-1}, 7),
            call_request(2, list, "pop", std::int64_t{0}),
            call_request(2, list, "extend", std::vector<int>{4, 5}),
            create_request(list, std::vector<int>{9}),
            decref,
            share_request(list, "shared", std::vector<int>{8}),
            share_request(dict, "shared", std::map<int, std::string>{}),
            create_request(condition, std::optional<wire::ObjectId>{3}),  // Condition(the Lock)
            create_request(condition, std::optional<wire::ObjectId>{}),   // over an RLock of its own
            create_request(condition, std::optional<wire::ObjectId>{1}),  // over a dict: refused
            shutdown};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto fixture_ptr = std::make_unique<Fixture>();
    // Objects the inputs create stay: start again before they pile up.
    if (fixture_ptr->objects.size() > 1000) fixture_ptr = std::make_unique<Fixture>();
    Fixture& fixture = *fixture_ptr;
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
    std::vector<std::byte> reply;
    mproc::Writer out(reply);
    const bool replied = fixture.objects.handle(fixture.session, input, out);
    if (replied && reply.empty()) fail("an empty reply");
    if (replied && reply[0] != static_cast<std::byte>(mproc::detail::ReplyStatus::value) &&
        reply[0] != static_cast<std::byte>(mproc::detail::ReplyStatus::exception))
        fail("a reply that is neither a value nor an exception");
    return 0;
}

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    mproc::fuzz::write_seeds_if_asked(*argc, *argv, seeds(), "request");
    return 0;
}
