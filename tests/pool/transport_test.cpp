// mproc::Pool: message limits and large messages.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

std::vector<std::byte> bytes_of(std::size_t size) { return std::vector<std::byte>(size, std::byte{7}); }
std::size_t size_of(const std::vector<std::byte>& bytes) { return bytes.size(); }

TEST(PoolTransport, ResultOverTheMessageLimitFailsThatTaskWithSerializationError) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 1, .max_message_size = 1 << 20});
    const std::size_t too_big = std::size_t{2} << 20;
    finishes_within(
        20s,
        [&] {
            EXPECT_THROW(pool.apply(bytes_of, too_big), mproc::SerializationError);
            EXPECT_EQ(pool.apply(bytes_of, 1000).size(), 1000u);
            EXPECT_THROW(pool.map(bytes_of, std::vector<std::size_t>{10, too_big, 10}), mproc::SerializationError);
            auto results = pool.imap(bytes_of, std::vector<std::size_t>{10, too_big, 20});
            EXPECT_EQ(results.next()->size(), 10u);
            EXPECT_THROW(results.next(), mproc::SerializationError);
            EXPECT_EQ(results.next()->size(), 20u);
            EXPECT_EQ(pool.apply(square, 3), 9);
        },
        [&] { pool.terminate(); });
}

TEST(PoolTransport, ArgumentOverTheMessageLimitFailsWithSerializationError) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 1, .max_message_size = 1 << 20});
    const std::vector<std::byte> too_big(std::size_t{2} << 20);
    finishes_within(
        20s,
        [&] {
            EXPECT_THROW(pool.apply(size_of, too_big), mproc::SerializationError);
            EXPECT_THROW(pool.apply_async(size_of, too_big).get(), mproc::SerializationError);
            EXPECT_THROW(pool.map(size_of, std::vector<std::vector<std::byte>>{std::vector<std::byte>(10), too_big}),
                         mproc::SerializationError);
            EXPECT_EQ(pool.apply(size_of, std::vector<std::byte>(1000)), 1000u);
        },
        [&] { pool.terminate(); });
}

// A type whose construction from an int throws, leaving a variant valueless.
struct Explosive {
    Explosive() = default;
    explicit Explosive(int) { throw std::runtime_error("boom"); }
    Explosive(const Explosive&) {}
    Explosive& operator=(const Explosive&) { return *this; }
    template <class Archive>
    void serialize(Archive&) {}
};

std::variant<int, Explosive> valueless_variant(int) {
    std::variant<int, Explosive> value;
    try {
        value.emplace<Explosive>(1);
    } catch (const std::runtime_error&) {
    }
    return value;
}

TEST(PoolTransport, ResultThatCannotBeEncodedFailsThatTaskWithSerializationError) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    ASSERT_TRUE(valueless_variant(0).valueless_by_exception());
    EXPECT_THROW(pool.apply(valueless_variant, 0), mproc::SerializationError);
    EXPECT_THROW(pool.map(valueless_variant, std::vector{1, 2}), mproc::SerializationError);
    EXPECT_EQ(pool.apply(square, 3), 9);
}

std::vector<std::byte> pattern(std::size_t size, std::uint32_t seed) {
    std::vector<std::byte> bytes(size);
    std::uint32_t state = seed;
    for (auto& byte : bytes) {
        state = state * 1664525u + 1013904223u;
        byte = static_cast<std::byte>(state >> 24);
    }
    return bytes;
}

std::uint64_t checksum(const std::vector<std::byte>& bytes) {
    std::uint64_t hash = 1469598103934665603ull;
    for (std::byte byte : bytes) hash = (hash ^ static_cast<std::uint64_t>(byte)) * 1099511628211ull;
    return hash ^ bytes.size();
}

std::vector<std::byte> echo(std::vector<std::byte> bytes) { return bytes; }

// Large messages cross fresh memory, which faults in at a few hundred MB/s on small machines and
// far slower under the sanitizers: smaller there, and the bound is for a hang, not for speed.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t large_message = std::size_t{16} << 20;
#else
constexpr std::size_t large_message = std::size_t{64} << 20;
#endif

TEST(PoolTransport, LargeArgumentsAndResultsRoundTripIntact) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const std::size_t size = large_message;
    const auto big = pattern(size, 1);
    const auto sum = checksum(big);
    finishes_within(
        100s,
        [&] {
            EXPECT_EQ(pool.apply(checksum, big), sum) << "argument";
            const auto back = pool.apply(echo, big);
            EXPECT_EQ(back.size(), size);
            EXPECT_TRUE(back == big) << "echo";
            EXPECT_EQ(checksum(pool.apply(pattern, size, std::uint32_t{1})), sum) << "result";
            std::vector<std::vector<std::byte>> items;
            for (std::uint32_t i = 0; i < 4; ++i) items.push_back(pattern(std::size_t{8} << 20, i + 10));
            const auto echoed = pool.map(echo, items, {.chunksize = 1});
            ASSERT_EQ(echoed.size(), 4u);
            for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(echoed[i] == items[i]) << "map item " << i;
        },
        [&] { pool.terminate(); });
}

// A default pool takes address space only for the messages it carries: it starts under a 1 GiB
// address-space limit, and a 64 MiB message still goes through, both ways.
void use_pool_under_address_space_limit() {
    const rlimit limit{std::size_t{1} << 30, std::size_t{1} << 30};
    mproc::test::require(::setrlimit(RLIMIT_AS, &limit) == 0, "setrlimit(RLIMIT_AS)");
    mproc::Pool pool(2);
    mproc::test::require(pool.map(square, std::views::iota(0, 1000)) == squares(1000), "map");
    const auto big = pattern(std::size_t{64} << 20, 3);
    mproc::test::require(pool.apply(echo, big) == big, "64 MiB echo");
}

TEST(PoolTransport, DefaultPoolWorksUnderAOneGibAddressSpaceLimit) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "the sanitizers reserve terabytes of address space";
#endif
    LeakCheck leaks;
    EXPECT_EQ(mproc::test::run_child(&use_pool_under_address_space_limit), 0);
}

}  // namespace
