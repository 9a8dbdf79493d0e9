// Task shipping: a call packed in one process, run in another, the reply unpacked.
#include <mproc/detail/chunk.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/partial.hpp>

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <span>
#include <stdexcept>
#include <tuple>
#include <variant>
#include <vector>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "support/reexec.hpp"
#include "support/run_self.hpp"

namespace {

using mproc::Reader;
using mproc::Writer;
using mproc::detail::pack_call;
using mproc::detail::run_packed_call;
using mproc::detail::unpack_reply;

int square(int x) { return x * x; }
std::string greet(const std::string& name, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += "hello " + name + ";";
    return out;
}
void returns_nothing(int) {}

struct Scaler {
    double factor = 1;
    std::string label;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(factor, label);
    }
    std::string operator()(double x) const { return label + std::to_string(x * factor); }
};

struct CustomError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::vector<std::byte> pack(auto&&... call) {
    std::vector<std::byte> message;
    Writer out(message);
    pack_call(out, call...);
    return message;
}

std::vector<std::byte> run(const std::vector<std::byte>& message) {
    std::vector<std::byte> reply;
    Writer out(reply);
    Reader in(message);
    run_packed_call(in, out);
    return reply;
}

template <class R>
R unpack(const std::vector<std::byte>& reply) {
    Reader in(reply);
    return unpack_reply<R>(in);
}

std::string to_string(const std::vector<std::byte>& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
std::vector<std::byte> to_bytes(const std::string& text) {
    const auto* data = reinterpret_cast<const std::byte*>(text.data());
    return {data, data + text.size()};
}

// The role a re-executed test binary plays: run the packed call read from stdin, write the
// reply to stdout. The fresh process has its own address-space layout.
const mproc::test::RegisterRole run_call_role("run-packed-call", [] {
    std::string input{std::istreambuf_iterator<char>(std::cin), {}};
    const auto reply = run(to_bytes(input));
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    return 0;
});

// A call packed here, run by a fresh execution of this binary.
std::vector<std::byte> run_in_reexecuted_binary(const std::vector<std::byte>& message) {
    const auto result = mproc::test::run_self("run-packed-call", to_string(message));
    EXPECT_EQ(result.exitcode, 0) << result.err;
    return to_bytes(result.out);
}

// A call packed here, run by a forked child.
std::vector<std::byte> run_in_forked_child(const std::vector<std::byte>& message) {
    int channel[2];
    EXPECT_EQ(::pipe(channel), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const auto reply = run(message);
        (void)!::write(channel[1], reply.data(), reply.size());
        ::_exit(0);
    }
    ::close(channel[1]);
    std::vector<std::byte> reply;
    std::byte buffer[4096];
    for (ssize_t n; (n = ::read(channel[0], buffer, sizeof buffer)) > 0;) reply.insert(reply.end(), buffer, buffer + n);
    ::close(channel[0]);
    ::waitpid(pid, nullptr, 0);
    return reply;
}

TEST(TaskShipping, FunctionPointerRunsInSameProcess) {
    EXPECT_EQ(unpack<int>(run(pack(&square, 7))), 49);
}

TEST(TaskShipping, CaptureLessLambdaRuns) {
    auto add = [](int a, int b) { return a + b; };
    EXPECT_EQ(unpack<int>(run(pack(add, 2, 3))), 5);
}

TEST(TaskShipping, PartialCarriesItsBoundValues) {
    const int offset = 100;
    const double scale = 0.5;
    auto f = mproc::partial([](int o, double s, int x) { return o + x * s; }, offset, scale);
    EXPECT_DOUBLE_EQ(unpack<double>(run(pack(f, 10))), 105.0);
    auto g = mproc::partial(&greet, "bob");
    EXPECT_EQ(unpack<std::string>(run(pack(g, 2))), "hello bob;hello bob;");
}

TEST(TaskShipping, CopyCapturesCarriesTheCapturedBytes) {
    const int offset = 100;
    const double scale = 0.5;
    auto f = mproc::copy_captures([offset, scale](int x) { return offset + x * scale; });
    EXPECT_DOUBLE_EQ(unpack<double>(run(pack(f, 10))), 105.0);
}

struct PlainState {
    int n = 0;
    int operator()(int x) const { return x + n; }
};

TEST(TaskShipping, OnlyCallablesThatDeclareTheirStateCanBeSent) {
    using mproc::detail::shippable_callable;
    int n = 1;
    auto by_value = [n](int x) { return x + n; };
    auto by_reference = [&n](int x) { return x + n; };
    auto stateless = [](int x) { return x; };
    // A capture by reference cannot be told from one by value: both are refused.
    static_assert(!shippable_callable<decltype(by_value)>);
    static_assert(!shippable_callable<decltype(by_reference)>);
    static_assert(!shippable_callable<PlainState>);
    static_assert(!shippable_callable<std::function<int(int)>>);
    static_assert(shippable_callable<decltype(stateless)>);
    static_assert(shippable_callable<decltype(&square)>);
    static_assert(shippable_callable<Scaler>);  // a cereal serialize function declares its state
    static_assert(shippable_callable<decltype(mproc::partial(&square))>);
    static_assert(shippable_callable<decltype(mproc::copy_captures(by_value))>);
    EXPECT_EQ(by_reference(1) + by_value(1) + stateless(1), 5);
}

TEST(TaskShipping, ArgumentsTravelAsTheParameterTypes) {
    using mproc::detail::shipped_arguments_t;
    using Greet = decltype(&greet);
    // A literal for a `const std::string&` travels as the std::string a direct call would make.
    static_assert(std::is_same_v<shipped_arguments_t<Greet, const char (&)[6], int>, std::tuple<std::string, int>>);
    static_assert(std::is_same_v<shipped_arguments_t<Greet, const char*, long>, std::tuple<std::string, int>>);
    // Unknown parameters (a generic lambda): decayed, with a literal as a std::string.
    auto generic = [](auto text, auto number) { return text + std::to_string(number); };
    static_assert(std::is_same_v<shipped_arguments_t<decltype(generic), const char (&)[3], short&>,
                                 std::tuple<std::string, short>>);
    // A parameter that cannot travel: the argument travels and converts on the other side.
    auto size_of = [](std::string_view text) { return text.size(); };
    static_assert(std::is_same_v<shipped_arguments_t<decltype(size_of), std::string&>, std::tuple<std::string>>);
    static_assert(std::is_same_v<shipped_arguments_t<decltype(size_of), const char (&)[2]>, std::tuple<std::string>>);
    // ...unless it cannot either: the parameter's type stays, for the compile-time error to name.
    auto show = [](const char* text) { return text; };
    static_assert(std::is_same_v<shipped_arguments_t<decltype(show), const char (&)[2]>, std::tuple<const char*>>);
    // A partial's parameters are the ones it leaves.
    using Bound = decltype(mproc::partial(&greet, "x"));
    static_assert(std::is_same_v<shipped_arguments_t<Bound, double>, std::tuple<int>>);
    EXPECT_EQ(unpack<std::string>(run(pack(&greet, std::string("lit"), 1))), "hello lit;");
}

TEST(TaskShipping, FunctorWithCerealStateCarriesItsState) {
    EXPECT_EQ(unpack<std::string>(run(pack(Scaler{2, "x="}, 1.5))), "x=3.000000");
}

TEST(TaskShipping, VoidFunctionRepliesWithoutValue) {
    EXPECT_NO_THROW(unpack<void>(run(pack(&returns_nothing, 1))));
}

TEST(TaskShipping, ArgumentsAreMovedIntoByValueParameters) {
    auto take = [](std::vector<int> v) { return v.size(); };
    EXPECT_EQ(unpack<std::size_t>(run(pack(take, std::vector<int>(5)))), 5u);
}

TEST(TaskShipping, NonConstReferenceParametersReceiveTheReceiversCopy) {
    auto mutate = [](std::string& s) {
        s += "!";
        return s;
    };
    EXPECT_EQ(unpack<std::string>(run(pack(mutate, std::string("hi")))), "hi!");
}

TEST(TaskShipping, ForkedChildRunsTheSameMessage) {
    EXPECT_EQ(unpack<std::string>(run_in_forked_child(pack(&greet, std::string("bob"), 2))),
              "hello bob;hello bob;");
}

TEST(TaskShipping, ReexecutedBinaryRunsTheSameMessage) {
    // Code travels as module offsets, so a process with another address-space layout runs it.
    EXPECT_EQ(unpack<std::string>(run_in_reexecuted_binary(pack(&greet, std::string("ann"), 1))),
              "hello ann;");
    const int k = 3;
    auto bound = mproc::partial([](int factor, int x) { return x * factor; }, k);
    EXPECT_EQ(unpack<int>(run_in_reexecuted_binary(pack(bound, 14))), 42);
    auto nested = mproc::partial(mproc::partial(&greet, "nested"), 2);
    EXPECT_EQ(unpack<std::string>(run_in_reexecuted_binary(pack(nested))), "hello nested;hello nested;");
    EXPECT_EQ(unpack<std::string>(run_in_reexecuted_binary(pack(Scaler{1, "y="}, 2.0))), "y=2.000000");
}

template <class E>
void expect_rethrown_as(auto thrower, const std::string& what) {
    const auto reply = run_in_forked_child(pack(thrower));
    try {
        unpack<int>(reply);
        FAIL() << "no exception";
    } catch (const E& e) {
        EXPECT_EQ(typeid(e), typeid(E));
        EXPECT_EQ(e.what(), what);
    }
}

TEST(TaskShipping, StandardExceptionsKeepTheirTypeAndMessage) {
    expect_rethrown_as<std::runtime_error>([]() -> int { throw std::runtime_error("rt"); }, "rt");
    expect_rethrown_as<std::logic_error>([]() -> int { throw std::logic_error("lg"); }, "lg");
    expect_rethrown_as<std::invalid_argument>([]() -> int { throw std::invalid_argument("ia"); }, "ia");
    expect_rethrown_as<std::out_of_range>([]() -> int { throw std::out_of_range("oor"); }, "oor");
    expect_rethrown_as<std::domain_error>([]() -> int { throw std::domain_error("dom"); }, "dom");
    expect_rethrown_as<std::length_error>([]() -> int { throw std::length_error("len"); }, "len");
    expect_rethrown_as<std::range_error>([]() -> int { throw std::range_error("rng"); }, "rng");
    expect_rethrown_as<std::overflow_error>([]() -> int { throw std::overflow_error("ovf"); }, "ovf");
    expect_rethrown_as<std::underflow_error>([]() -> int { throw std::underflow_error("udf"); }, "udf");
    expect_rethrown_as<mproc::TimeoutError>([]() -> int { throw mproc::TimeoutError("late"); }, "late");
}

TEST(TaskShipping, BadAllocKeepsItsType) {
    const auto reply = run_in_forked_child(pack([]() -> int { throw std::bad_alloc(); }));
    EXPECT_THROW(unpack<int>(reply), std::bad_alloc);
}

TEST(TaskShipping, OtherExceptionsBecomeRemoteErrorWithTypeMessageAndPid) {
    const auto reply = run_in_forked_child(pack([]() -> int { throw CustomError("custom " + std::to_string(::getpid())); }));
    try {
        unpack<int>(reply);
        FAIL() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "(anonymous namespace)::CustomError");
        EXPECT_NE(e.pid(), ::getpid());
        const std::string message = "custom " + std::to_string(e.pid());
        EXPECT_EQ(e.message(), message);
        EXPECT_EQ(std::string(e.what()), "(anonymous namespace)::CustomError thrown in process " +
                                             std::to_string(e.pid()) + ": " + message);
    }
}

TEST(TaskShipping, NonExceptionThrowBecomesRemoteErrorNamingTheType) {
    const auto reply = run(pack([]() -> int { throw 42; }));
    try {
        unpack<int>(reply);
        FAIL() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "int");
        EXPECT_EQ(std::string(e.what()), "int thrown in process " + std::to_string(::getpid()));
    }
}

TEST(TaskShipping, RemoteErrorRaisedAgainKeepsItsOrigin) {
    // A worker that passes on a RemoteError from a process of its own reports the first thrower.
    const auto reply = run_in_forked_child(pack([]() -> int { throw mproc::RemoteError("Deep", "below", 77); }));
    try {
        unpack<int>(reply);
        FAIL() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "Deep");
        EXPECT_EQ(e.message(), "below");
        EXPECT_EQ(e.pid(), 77);
        EXPECT_STREQ(e.what(), "Deep thrown in process 77: below");
    }
}

TEST(TaskShipping, WorkerCrashedFromAnyExitCodeDescribesItself) {
    // The fields may come from a corrupt reply: the most negative exit code is still a number.
    const mproc::WorkerCrashed crash(5, INT_MIN, std::nullopt);
    EXPECT_EQ(std::string(crash.what()), "mproc: worker process 5 was killed by signal 2147483648 while running a task");
    EXPECT_EQ(std::string(mproc::WorkerCrashed(5, -9, 3).what()),
              "mproc: worker process 5 was killed by signal 9 (Killed) while running task 3");
}

TEST(TaskShipping, CorruptCodeOffsetIsReportedNotJumpedTo) {
    auto message = pack(&square, 3);
    // The message starts with the module name (length 0 for the main executable) and offset.
    std::uint64_t offset;
    std::memcpy(&offset, message.data() + 8, sizeof offset);
    offset = ~offset;
    std::memcpy(message.data() + 8, &offset, sizeof offset);
    EXPECT_THROW(unpack<int>(run(message)), mproc::SerializationError);
}

int plus_one(int x) { return x + 1; }
int plus_two(int x) { return x + 2; }
int plus_three(int x) { return x + 3; }
int plus_four(int x) { return x + 4; }
int plus_five(int x) { return x + 5; }

// Each thread remembers its last few code addresses at both ends; more functions than it keeps,
// taken alternately and in turn, must each still be themselves.
TEST(TaskShipping, FunctionsTakenAlternatelyEachRunThemselves) {
    using Function = int (*)(int);
    const Function functions[] = {&square, &plus_one, &plus_two, &plus_three, &plus_four, &plus_five};
    const auto expected = [&](std::size_t which, int x) { return which == 0 ? x * x : x + static_cast<int>(which); };
    for (const std::size_t kinds : {2u, 3u, 6u}) {
        for (int i = 0; i < 60; ++i) {
            const std::size_t which = static_cast<std::size_t>(i) % kinds;
            EXPECT_EQ(unpack<int>(run(pack(functions[which], i))), expected(which, i)) << kinds << " " << i;
        }
    }
    // A function of another module (the C library's, where it is loaded as one) between them.
    const Function absolute = [](int x) { return std::abs(x); };
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(unpack<int>(run(pack(functions[static_cast<std::size_t>(i)], 3))), expected(static_cast<std::size_t>(i), 3));
        EXPECT_EQ(unpack<long>(run(pack(static_cast<long (*)(long)>(&::labs), -7L - i))), 7 + i);
        EXPECT_EQ(unpack<int>(run(pack(absolute, -i))), i);
    }
    // The same in a forked child, whose caches start as copies of this thread's.
    EXPECT_EQ(unpack<int>(run_in_forked_child(pack(&plus_four, 1))), 5);
    EXPECT_EQ(unpack<int>(run_in_forked_child(pack(&square, 5))), 25);
}

TEST(TaskShipping, AnOffsetResolvedBeforeIsNotTakenForTheSameOffsetInAnotherModule) {
    const auto message = pack(&square, 3);
    EXPECT_EQ(unpack<int>(run(message)), 9);  // resolved, and remembered
    // The same offset in a module of another name: the message's module name is now "x".
    std::uint64_t length;
    std::memcpy(&length, message.data(), sizeof length);
    ASSERT_EQ(length, 0u);
    std::vector<std::byte> renamed(message.begin(), message.begin() + 8);
    const std::uint64_t one = 1;
    std::memcpy(renamed.data(), &one, sizeof one);
    renamed.push_back(std::byte{'x'});
    renamed.insert(renamed.end(), message.begin() + 8, message.end());
    EXPECT_THROW(unpack<int>(run(renamed)), mproc::SerializationError);
    EXPECT_EQ(unpack<int>(run(message)), 9);
}

// What a chunk's reply delivered, item by item: a value's text, or "error: " and the message.
struct RecordingSink {
    std::map<long, std::string> outcomes;
    template <class V>
    void deliver(long index, V value) {
        if constexpr (std::is_same_v<V, std::monostate>)
            outcomes[index] = "done";
        else
            outcomes[index] = value;
    }
    void deliver_error(long index, std::exception_ptr error) {
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            outcomes[index] = std::string("error: ") + e.what();
        }
    }
    void deliver_block(long first, Reader& in, std::size_t count) {
        mproc::detail::deliver_each<std::string>(*this, first, in, count);
    }
};

std::string shout(const std::string& word) {
    if (word.empty()) throw std::invalid_argument("nothing to shout");
    return word + "!";
}

// A chunk of items of `shout`, packed, run and its reply decoded, as a pool does.
template <bool Spread, class Item>
std::map<long, std::string> run_chunk(const std::vector<Item>& items) {
    using F = std::string (*)(const std::string&);
    std::vector<std::byte> message;
    Writer out(message);
    mproc::detail::pack_chunk<F, Item, Spread>(out, &shout, std::span<const Item>(items));
    const auto reply = run(message);
    Reader in(reply);
    RecordingSink sink;
    mproc::detail::decode_chunk_reply<std::string>(in, 10, items.size(), sink);
    return sink.outcomes;
}

// A chunk of one item takes its own way through the worker (no vectors): its replies must read
// as those of the same item in a longer chunk.
TEST(TaskShipping, AChunkOfOneItemRepliesAsThatItemDoesInALongerChunk) {
    using Outcomes = std::map<long, std::string>;
    EXPECT_EQ(run_chunk<false>(std::vector<std::string>{"hey"}), (Outcomes{{10, "hey!"}}));
    EXPECT_EQ(run_chunk<false>(std::vector<std::string>{""}), (Outcomes{{10, "error: nothing to shout"}}));
    EXPECT_EQ(run_chunk<false>(std::vector<std::string>{"a", "", "b"}),
              (Outcomes{{10, "a!"}, {11, "error: nothing to shout"}, {12, "b!"}}));
    using Arguments = std::tuple<std::string>;
    EXPECT_EQ(run_chunk<true>(std::vector<Arguments>{{"ho"}}), (Outcomes{{10, "ho!"}}));
    EXPECT_EQ(run_chunk<true>(std::vector<Arguments>{{""}}), (Outcomes{{10, "error: nothing to shout"}}));
    EXPECT_EQ(run_chunk<true>(std::vector<Arguments>{{""}, {"c"}}), (Outcomes{{10, "error: nothing to shout"}, {11, "c!"}}));
}

TEST(TaskShipping, TruncatedCallIsReportedAsSerializationError) {
    const auto message = pack(&greet, std::string("somebody"), 1);
    for (std::size_t size = 0; size < message.size(); ++size) {
        const std::vector<std::byte> truncated(message.begin(), message.begin() + static_cast<long>(size));
        EXPECT_THROW(unpack<std::string>(run(truncated)), mproc::SerializationError) << size;
    }
}

TEST(TaskShipping, TrailingBytesInCallAreRejected) {
    auto message = pack(&square, 3);
    message.push_back(std::byte{0});
    EXPECT_THROW(unpack<int>(run(message)), mproc::SerializationError);
}

}  // namespace
