// mproc::Pool: imap and imap_unordered: laziness, timeouts, moves, close, slow consumers, failing inputs.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

int identity(int x) { return x; }

// How far ahead of the consumer imap may read: a few chunks per worker, generously, but a fixed
// number (an eager reader would reach Generated's safety cap of 10 million).
int read_ahead_bound(std::size_t chunksize) { return 1024 + 16 * static_cast<int>(chunksize); }

TEST(PoolImapLaziness, ImapReadsAnEndlessGeneratorOnlyAsResultsAreTaken) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    for (std::size_t chunksize : {1, 16}) {
        SCOPED_TRACE("chunksize " + std::to_string(chunksize));
        const int window = read_ahead_bound(chunksize);
        Generated endless(-1);
        auto results = pool.imap(identity, endless, {.chunksize = chunksize});
        EXPECT_LE(endless.pulled(), window) << "read before any result was taken";
        int taken = 0;
        for (int x : results) {
            EXPECT_EQ(x, taken);
            ++taken;
            if (taken == 1000 || taken == 5000) {
                EXPECT_GE(endless.pulled(), taken);
                EXPECT_LE(endless.pulled(), taken + window) << "after taking " << taken;
            }
            if (taken == 5000) break;
        }
    }
}

TEST(PoolImapLaziness, ImapUnorderedReadsAnEndlessGeneratorOnlyAsResultsAreTaken) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const int window = read_ahead_bound(4);
    Generated endless(-1);
    auto results = pool.imap_unordered(identity, endless, {.chunksize = 4});
    EXPECT_LE(endless.pulled(), window);
    std::set<int> seen;
    for (int x : results) {
        seen.insert(x);
        if (seen.size() == 5000) break;
    }
    EXPECT_LE(endless.pulled(), 5000 + window);
    EXPECT_LT(*seen.rbegin(), 5000 + window);
}

TEST(PoolImapLaziness, EndlessIotaRunsInBoundedMemory) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    long pulled = 0;
    auto counted = std::views::iota(0) | std::views::transform([&pulled](int x) {
                       ++pulled;
                       return x;
                   });
    constexpr long wanted = 200'000;
    const long before = resident_bytes();
    {
        auto results = pool.imap([](int x) { return std::vector<int>(64, x); }, counted, {.chunksize = 32});
        long taken = 0;
        for (const auto& v : results) {
            if (v.size() != 64 || v[0] != taken) ADD_FAILURE() << "wrong result at " << taken;
            if (++taken == wanted) break;
        }
        EXPECT_LE(pulled - taken, read_ahead_bound(32));
    }
    // 200,000 results of 256 bytes each (51 MB) must not have been kept. (The sanitizers keep
    // freed memory in quarantine or shadow memory: there, only the read-ahead bound is checked.)
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    EXPECT_LT(resident_bytes() - before, 16l << 20);
#else
    (void)before;
#endif
}

TEST(PoolImap, NextWithTimeoutThrowsTimeoutErrorWhileNoResultIsReady) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    auto results = pool.imap(
        [](int ms) {
            sleep_ms(ms);
            return ms;
        },
        std::vector{400, 0});
    static_assert(std::ranges::input_range<decltype(results)>);
    EXPECT_THROW(results.next(50ms), mproc::TimeoutError);
    EXPECT_EQ(results.next(5s), 400);
    EXPECT_EQ(results.next(5s), 0);
    EXPECT_EQ(results.next(1s), std::nullopt);
    EXPECT_EQ(results.next(), std::nullopt);
}

// An input view whose iterators point at the view itself, as std::ranges::istream_view's do: a
// moved-from view reads as empty, so an iterator left pointing at it sees the input end early.
class SelfReferringCounter : public std::ranges::view_interface<SelfReferringCounter> {
public:
    SelfReferringCounter() = default;
    explicit SelfReferringCounter(int count) : count_(count) {}
    SelfReferringCounter(SelfReferringCounter&& other) noexcept
        : next_(other.next_), count_(std::exchange(other.count_, 0)) {}
    SelfReferringCounter& operator=(SelfReferringCounter&& other) noexcept {
        next_ = other.next_;
        count_ = std::exchange(other.count_, 0);
        return *this;
    }

    class iterator {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(SelfReferringCounter* view) : view_(view) {}
        int operator*() const { return view_->next_; }
        iterator& operator++() {
            ++view_->next_;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

    private:
        bool at_end() const { return view_->next_ >= view_->count_; }
        SelfReferringCounter* view_ = nullptr;
    };

    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const { return {}; }

private:
    int next_ = 0;
    int count_ = 0;
};

TEST(PoolImap, ImapResultsKeepWorkingAfterBeingMoved) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Moving is allowed (returning an imap from a function may move it): the moved-to object must
    // go on reading its input, whatever kind of view that is.
    auto first = pool.imap(identity, SelfReferringCounter(5000));
    EXPECT_EQ(first.next(), 0);
    auto moved = std::move(first);
    const auto rest = collect(moved);
    EXPECT_EQ(rest.size(), 4999u) << "the moved imap stopped reading its input early";
    if (!rest.empty()) {
        EXPECT_EQ(rest.front(), 1);
    }
}

TEST(PoolImap, ImapStartedBeforeCloseStillYieldsEveryItem) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Python's pattern: pool.close() right after starting the imap, then consume it, then join().
    auto results = pool.imap(square, std::views::iota(0, 3000));
    pool.close();
    std::vector<int> got;
    finishes_within(
        20s,
        [&] {
            try {
                for (int x : results) got.push_back(x);
            } catch (const std::exception& e) {
                ADD_FAILURE() << "after " << got.size() << " items: " << typeid(e).name() << ": " << e.what();
            }
        },
        [&] { pool.terminate(); });
    EXPECT_EQ(got.size(), 3000u);
    EXPECT_TRUE(got == squares(3000));
    finishes_within(10s, [&] { pool.join(); }, [&] { pool.terminate(); });
}


// A thread taking an imap's results receives them itself and keeps the pool thread asleep for a
// moment; once it stops taking, others' results must still arrive: a callback runs and ready()
// turns true without anyone calling get().
TEST(PoolImap, ConsumerThatStopsTakingDelaysNoOtherResult) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    auto results = pool.imap(square, std::views::iota(0, 100000));
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(results.next(), i * i);
    std::atomic<bool> called{false};
    auto result = pool.apply_async(mproc::callbacks([&](const int&) { called = true; }), square, 7);
    for (int i = 0; i < 500 && !(called && result.ready()); ++i) sleep_ms(10);
    EXPECT_TRUE(called) << "the callback did not run while the imap consumer was idle";
    EXPECT_TRUE(result.ready());
    EXPECT_EQ(result.get(), 49);
    EXPECT_EQ(results.next(), 1000 * 1000);  // the imap goes on
}

// An input that throws at item `failing`: yields 0, 1, ..., failing - 1, then throws.
auto input_failing_at(int failing) {
    return std::views::iota(0) | std::views::transform([failing](int x) {
               if (x == failing) throw std::length_error("input failed at " + std::to_string(x));
               return x;
           });
}

// Takes an imap's results until it throws; returns them and the error's message.
template <class Results>
std::pair<std::vector<int>, std::string> take_until_error(Results& results) {
    std::vector<int> got;
    try {
        while (auto value = results.next(30s)) got.push_back(*value);
    } catch (const std::length_error& e) {
        return {got, e.what()};
    }
    return {got, ""};
}

// Python yields every result of the items read before the input failed, then raises the input's
// exception, and the iteration is over.
TEST(PoolImap, InputThatThrowsFailsAfterEveryEarlierResult) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    for (const int failing : {3, 1000}) {
        SCOPED_TRACE("input fails at " + std::to_string(failing));
        std::optional<decltype(pool.imap(square, input_failing_at(failing)))> ordered;
        ASSERT_NO_THROW(ordered.emplace(pool.imap(square, input_failing_at(failing))));
        auto [got, error] = take_until_error(*ordered);
        EXPECT_EQ(got, squares(failing));
        EXPECT_EQ(error, "input failed at " + std::to_string(failing));
        EXPECT_EQ(ordered->next(), std::nullopt) << "the iteration goes on after the input failed";

        auto unordered = pool.imap_unordered(square, input_failing_at(failing), {.chunksize = 7});
        auto [any_order, unordered_error] = take_until_error(unordered);
        EXPECT_EQ(sorted(any_order), squares(failing));
        EXPECT_EQ(unordered_error, "input failed at " + std::to_string(failing));
        EXPECT_EQ(unordered.next(), std::nullopt);
    }
    // An input that fails at once: imap() returns, the first next() throws.
    auto immediate = pool.imap(square, input_failing_at(0));
    EXPECT_THROW(immediate.next(), std::length_error);
    EXPECT_EQ(immediate.next(), std::nullopt);
}

}  // namespace
