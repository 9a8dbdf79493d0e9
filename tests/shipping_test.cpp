// What travels with a call to another process, through the public API and under every start
// method: mproc::partial (bound values instead of captures) in every kind of task, Process
// targets and initializers; arguments converted to the parameter types (string literals); and
// exceptions coming back with their exact type and fields.
#include <mproc/partial.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>
#include <mproc/shared.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>

#include "support/descriptor.hpp"
#include "support/leak_check.hpp"

namespace {

using mproc::test::LeakCheck;

template <class Range>
auto collect(Range&& results) {
    std::vector<std::remove_cvref_t<decltype(*results.begin())>> out;
    for (auto&& value : results) out.push_back(value);
    return out;
}

int add(int a, int b) { return a + b; }
std::string label(const std::string& prefix, int x) { return prefix + std::to_string(x); }
std::string join3(const std::string& a, const std::string& b, const std::string& c) { return a + "," + b + "," + c; }
std::size_t total_size(const std::vector<std::string>& words, std::size_t extra) {
    std::size_t size = extra;
    for (const auto& word : words) size += word.size();
    return size;
}

// ---------------------------------------------------------------------------------------------
// mproc::partial

TEST(Partial, CallsTheFunctionWithTheBoundValuesFirst) {
    const auto bound = mproc::partial(label, "n=");
    EXPECT_EQ(bound(4), "n=4");
    EXPECT_EQ(std::get<0>(bound.args()), "n=");
    EXPECT_EQ(bound.func(), &label);
    // Nested partials bind left to right, as functools.partial(partial(f, a), b)(c) == f(a, b, c).
    const auto nested = mproc::partial(mproc::partial(join3, "a"), "b");
    EXPECT_EQ(nested("c"), "a,b,c");
    // Bound values are the partial's own: a mutable one keeps its changes across calls.
    auto counter = mproc::partial([](std::vector<int>& seen, int x) { seen.push_back(x); return seen.size(); },
                                  std::vector<int>{});
    EXPECT_EQ(counter(1), 1u);
    EXPECT_EQ(counter(2), 2u);
}

TEST(Partial, BoundValuesAreConvertedToTheParameterTypes) {
    // "n=" is bound as the std::string label takes, not as a pointer into this process.
    using Bound = decltype(mproc::partial(label, "n="));
    static_assert(std::is_same_v<Bound, mproc::Partial<std::string (*)(const std::string&, int), std::string>>);
    using Converted = decltype(mproc::partial(add, 2.0));
    static_assert(std::is_same_v<Converted, mproc::Partial<int (*)(int, int), int>>);
    // A generic lambda's parameters are unknown: a literal still becomes a string.
    using Generic = decltype(mproc::partial([](auto prefix, int x) { return prefix + std::to_string(x); }, "p"));
    static_assert(std::is_same_v<std::tuple_element_t<0, std::remove_cvref_t<decltype(std::declval<Generic>().args())>>,
                                 std::string>);
    SUCCEED();
}

TEST(Partial, RunsInEveryKindOfPoolTask) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const std::string prefix = "item-";
    const std::vector<std::string> words{"alpha", "beta"};
    EXPECT_EQ(pool.apply(mproc::partial(label, prefix), 7), "item-7");
    EXPECT_EQ(pool.apply(mproc::partial(label, prefix, 8)), "item-8");
    EXPECT_EQ(pool.apply_async(mproc::partial(total_size, words), 1).get(), 10u);
    EXPECT_EQ(pool.map(mproc::partial(label, prefix), std::vector{1, 2, 3}),
              (std::vector<std::string>{"item-1", "item-2", "item-3"}));
    EXPECT_EQ(pool.map_async(mproc::partial(add, 100), std::vector{1, 2}, {.chunksize = 1}).get(), (std::vector{101, 102}));
    EXPECT_EQ(collect(pool.imap(mproc::partial(label, prefix), std::vector{4, 5})),
              (std::vector<std::string>{"item-4", "item-5"}));
    auto unordered = collect(pool.imap_unordered(mproc::partial(add, 10), std::vector{1, 2, 3}));
    std::ranges::sort(unordered);
    EXPECT_EQ(unordered, (std::vector{11, 12, 13}));
    EXPECT_EQ(pool.starmap(mproc::partial(join3, "x"), std::vector<std::tuple<std::string, std::string>>{{"y", "z"}}),
              (std::vector<std::string>{"x,y,z"}));
    // A captureless lambda with bound values: what a lambda with captures becomes.
    const int offset = 1000;
    EXPECT_EQ(pool.map(mproc::partial([](int n, int x) { return x + n; }, offset), std::vector{1, 2}),
              (std::vector{1001, 1002}));
    EXPECT_EQ(pool.apply(mproc::partial(mproc::partial(join3, "a"), std::string("b")), "c"), "a,b,c");
}

TEST(Partial, BindsSharedObjectsAsHandles) {
    LeakCheck leaks;
    mproc::Value<int> total(0);
    mproc::Pool pool(2);
    pool.map(mproc::partial([](mproc::Value<int> sum, int x) {
                 auto guard = sum.get_lock();
                 sum.value() += x;
             },
                            total),
             std::vector{1, 2, 3, 4});
    EXPECT_EQ(total.value(), 10);
}

void put_label(mproc::Queue<std::string> out, const std::string& prefix, int x) { out.put(prefix + std::to_string(x)); }

TEST(Partial, IsAProcessTarget) {
    LeakCheck leaks;
    mproc::Queue<std::string> out;
    mproc::Process child(mproc::partial(put_label, out, "child-"), 3);
    child.start();
    EXPECT_EQ(out.get(std::chrono::seconds(60)), "child-3");
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

std::string& configured_prefix() {
    static std::string prefix = "unset";
    return prefix;
}
void configure(const std::string& first, const std::string& second) { configured_prefix() = first + second; }
std::string configured_label(int x) { return configured_prefix() + std::to_string(x); }

TEST(Partial, IsAnInitializerThroughCall) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 2, .initializer = mproc::call(mproc::partial(configure, "pre"), "fix-")});
    EXPECT_EQ(pool.map(configured_label, std::vector{1, 2}), (std::vector<std::string>{"prefix-1", "prefix-2"}));
}

TEST(CopyCaptures, SendsPlainValueCapturesAsBytes) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const int offset = 40;
    const double scale = 0.5;
    EXPECT_EQ(pool.apply(mproc::copy_captures([offset, scale](int x) { return offset + x * scale; }), 4), 42.0);
    EXPECT_EQ(pool.map(mproc::copy_captures([offset](int x) { return x + offset; }), std::vector{1, 2}),
              (std::vector{41, 42}));
}

// ---------------------------------------------------------------------------------------------
// Arguments: converted to the parameter types, as a direct call would convert them

std::string greet(const std::string& name) { return "hello " + name; }
std::string greet_by_value(std::string name) { return "hi " + name; }
std::size_t view_size(std::string_view text) { return text.size(); }
double half(double x) { return x / 2; }

TEST(LiteralArguments, ApplyConvertsALiteralToTheStringParameter) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    EXPECT_EQ(pool.apply(greet, "alice"), "hello alice");
    EXPECT_EQ(pool.apply_async(greet_by_value, "carol").get(), "hi carol");
    EXPECT_EQ(pool.apply({.timeout = std::chrono::seconds(60)}, greet, "dave"), "hello dave");
    // Unknown parameter types (a generic lambda): a literal still travels as a std::string.
    EXPECT_EQ(pool.apply([](const auto& text) { return text.size(); }, "four"), 4u);
    // A parameter that cannot travel (std::string_view): the argument travels as a std::string and
    // the worker makes the view of its own copy.
    EXPECT_EQ(pool.apply(view_size, "seven!!"), 7u);
    EXPECT_EQ(pool.apply(half, 3), 1.5);
}

std::string& setting() {
    static std::string value;
    return value;
}
void setup(const std::string& path) { setting() = path; }
std::string current_setting() { return setting(); }

TEST(LiteralArguments, InitializerCallConvertsALiteral) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 2, .initializer = mproc::call(setup, "config.ini")});
    EXPECT_EQ(pool.apply(current_setting), "config.ini");
}

void expect_bob(const std::string& name) {
    if (name != "bob") throw std::runtime_error("got '" + name + "'");
}

TEST(LiteralArguments, ProcessConvertsALiteralUnderEveryStartMethod) {
    LeakCheck leaks;
    mproc::Process child(expect_bob, "bob");
    child.start();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

// ---------------------------------------------------------------------------------------------
// Exceptions thrown in a worker come back with their exact type and fields

struct CustomError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Each case throws one error in the worker; the parent rebuilds the same one to compare with.
std::exception_ptr make_error(int which) {
    switch (which) {
        case 0: return std::make_exception_ptr(mproc::Error("plain error"));
        case 1: return std::make_exception_ptr(mproc::StateError("bad state"));
        case 2: return std::make_exception_ptr(mproc::OSError("open /nowhere", ENOENT));
        case 3: return std::make_exception_ptr(mproc::SerializationError("bad bytes"));
        case 4: return std::make_exception_ptr(mproc::RemoteError("Origin::Type", "from afar", 4321));
        case 5: return std::make_exception_ptr(mproc::WorkerCrashed(1234, -9, 17));
        case 6: return std::make_exception_ptr(mproc::WorkerCrashed(1235, 3, std::nullopt));
        case 7: return std::make_exception_ptr(mproc::StartError("no start"));
        case 8: return std::make_exception_ptr(mproc::TimeoutError("too late"));
        case 9: return std::make_exception_ptr(mproc::PoolClosed("closed"));
        case 10: return std::make_exception_ptr(mproc::PoolTerminated("terminated"));
        case 11: return std::make_exception_ptr(mproc::OwnerDied("owner died"));
        case 12: return std::make_exception_ptr(mproc::Full("full"));
        case 13: return std::make_exception_ptr(mproc::Empty("empty"));
        case 14: return std::make_exception_ptr(mproc::EOFError("eof"));
        case 15: return std::make_exception_ptr(mproc::BrokenBarrierError("broken"));
        case 16: return std::make_exception_ptr(mproc::BufferTooShort("too short", {std::byte{1}, std::byte{0}}));
        case 17: return std::make_exception_ptr(mproc::AuthenticationError("wrong key"));
        default: return nullptr;
    }
}
constexpr int error_count = 18;

int throw_error(int which) { std::rethrow_exception(make_error(which)); }

// The fields of each mproc error, as text, to compare one thrown here with one thrown there.
std::string describe(const std::exception& e) {
    std::string text = std::string(typeid(e).name()) + " | " + e.what();
    if (const auto* os = dynamic_cast<const mproc::OSError*>(&e)) text += " | code " + std::to_string(os->code());
    if (const auto* remote = dynamic_cast<const mproc::RemoteError*>(&e))
        text += " | " + remote->type_name() + " | " + remote->message() + " | " + std::to_string(remote->pid());
    if (const auto* short_buffer = dynamic_cast<const mproc::BufferTooShort*>(&e))
        text += " | message of " + std::to_string(short_buffer->message().size()) + " bytes, first " +
                std::to_string(static_cast<int>(short_buffer->message().at(0)));
    if (const auto* crash = dynamic_cast<const mproc::WorkerCrashed*>(&e))
        text += " | " + std::to_string(crash->pid()) + " | " + std::to_string(crash->exitcode()) + " | " +
                (crash->task_index() ? std::to_string(*crash->task_index()) : "none");
    return text;
}

std::string describe(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return describe(e);
    }
}

TEST(RemoteExceptions, EveryMprocErrorComesBackWithItsExactTypeAndFields) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    for (int which = 0; which < error_count; ++which) {
        const std::string expected = describe(make_error(which));
        try {
            pool.apply(throw_error, which);
            ADD_FAILURE() << "no exception for " << expected;
        } catch (const mproc::Error& e) {
            EXPECT_EQ(describe(e), expected);
        }
    }
    // And by type, as a caller would catch them.
    EXPECT_THROW(pool.apply(throw_error, 2), mproc::OSError);
    try {
        pool.apply(throw_error, 2);
    } catch (const mproc::OSError& e) {
        EXPECT_EQ(e.code(), ENOENT);
    }
    try {
        pool.apply(throw_error, 5);
    } catch (const mproc::WorkerCrashed& e) {
        EXPECT_EQ(e.pid(), 1234);
        EXPECT_EQ(e.exitcode(), -9);
        EXPECT_EQ(e.task_index(), 17);
    }
    EXPECT_THROW(pool.map(throw_error, std::vector{12}), mproc::Full);
    EXPECT_THROW(collect(pool.imap(throw_error, std::vector{13})), mproc::Empty);
    EXPECT_THROW(pool.apply(throw_error, 14), mproc::EOFError);
}

void throw_to(mproc::test::Descriptor err, int which) {
    ::dup2(err, STDERR_FILENO);
    throw_error(which);
}

TEST(RemoteExceptions, ProcessTargetErrorsAreReportedWithTheirOwnType) {
    // A child started by spawn or forkserver runs its target from a message; what escapes it is
    // reported as under fork: "Process <name>: <type>: <what>", exit code 1.
    LeakCheck leaks;
    int err[2];
    ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
    mproc::Process child({.name = "thrower"}, throw_to, mproc::test::Descriptor{err[1]}, 12);
    child.start();
    ::close(err[1]);
    std::string text;
    char buffer[256];
    for (ssize_t n; (n = ::read(err[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
    ::close(err[0]);
    child.join();
    EXPECT_EQ(child.exitcode(), 1);
    EXPECT_EQ(text, "Process thrower: mproc::Full: full\n");
}

int throw_custom(int) { throw CustomError("disk full"); }
int throw_int(int) { throw 42; }

TEST(RemoteExceptions, RemoteErrorSaysTypeMessageAndPid) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    const int worker = pool.worker_pids().at(0);
    try {
        pool.apply(throw_custom, 0);
        ADD_FAILURE() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "(anonymous namespace)::CustomError");
        EXPECT_EQ(e.message(), "disk full");
        EXPECT_EQ(e.pid(), worker);
        EXPECT_EQ(std::string(e.what()),
                  "(anonymous namespace)::CustomError thrown in process " + std::to_string(worker) + ": disk full");
    }
    try {
        pool.apply(throw_int, 0);
        ADD_FAILURE() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "int");
        EXPECT_EQ(e.message(), "");
        EXPECT_EQ(std::string(e.what()), "int thrown in process " + std::to_string(worker));
    }
}

}  // namespace
