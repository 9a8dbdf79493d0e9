// mproc::Pool: AsyncResult, callbacks, and exceptions thrown by tasks.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

TEST(PoolAsyncResult, GetWaitReadyAndSuccessfulFollowTheTaskState) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    auto slow = pool.apply_async(sleep_then_square, 400, 7);
    EXPECT_FALSE(slow.ready());
    EXPECT_THROW((void)slow.successful(), mproc::StateError);
    const auto start = Clock::now();
    EXPECT_THROW(slow.get(50ms), mproc::TimeoutError);
    EXPECT_GE(seconds_since(start), 0.045);
    EXPECT_FALSE(slow.wait(10ms));
    EXPECT_TRUE(slow.wait(5s));
    EXPECT_TRUE(slow.ready());
    EXPECT_TRUE(slow.successful());
    EXPECT_EQ(slow.get(), 49);
    EXPECT_EQ(slow.get(0s), 49);  // ready: no timeout
    EXPECT_EQ(slow.get(), 49);    // as often as wanted

    auto failing = pool.apply_async([](int) -> int { throw std::invalid_argument("no"); }, 1);
    failing.wait();
    EXPECT_TRUE(failing.ready());
    EXPECT_FALSE(failing.successful());
    EXPECT_THROW(failing.get(), std::invalid_argument);
    EXPECT_THROW(failing.get(1s), std::invalid_argument);  // the task's error, not a timeout
}

TEST(PoolAsyncResult, ManyThreadsMayWaitForOneResult) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    auto result = pool.apply_async(sleep_then_square, 200, 9);
    std::atomic<int> right{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i)
        waiters.emplace_back([&] {
            if (result.get() == 81) ++right;
        });
    for (auto& waiter : waiters) waiter.join();
    EXPECT_EQ(right.load(), 4);
}

// What a callback saw, guarded for reading from the test thread.
struct CallbackLog {
    std::mutex mutex;
    int calls = 0;
    int error_calls = 0;
    std::thread::id thread;
    std::string what;
    std::string error_type;
    void called() {
        std::lock_guard lock(mutex);
        ++calls;
        thread = std::this_thread::get_id();
    }
    void failed(const std::exception& e) {
        std::lock_guard lock(mutex);
        ++error_calls;
        thread = std::this_thread::get_id();
        what = e.what();
        error_type = typeid(e).name();
    }
};

TEST(PoolCallbacks, CallbackRunsOnceOnALibraryThreadBeforeGetReturns) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    CallbackLog log;
    int seen = 0;
    auto result = pool.apply_async(
        mproc::callbacks(
            [&](const int& value) {
                seen = value;
                log.called();
            },
                         [&](const std::exception& e) { log.failed(e); }),
        sleep_then_square, 100, 6);
    EXPECT_EQ(result.get(), 36);
    {
        std::lock_guard lock(log.mutex);
        EXPECT_EQ(log.calls, 1) << "not run before get() returned";
        EXPECT_EQ(seen, 36);
        EXPECT_NE(log.thread, std::this_thread::get_id());
    }
    sleep_ms(50);
    std::lock_guard lock(log.mutex);
    EXPECT_EQ(log.calls, 1);
    EXPECT_EQ(log.error_calls, 0);
}

TEST(PoolCallbacks, ErrorCallbackGetsTheTasksExceptionOnce) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto thrower = [](int) -> int { throw std::invalid_argument("bad input"); };
    CallbackLog log;
    auto only_error =
        pool.apply_async(mproc::error_callback([&](const std::exception& e) { log.failed(e); }), thrower, 1);
    EXPECT_THROW(only_error.get(), std::invalid_argument);
    {
        std::lock_guard lock(log.mutex);
        EXPECT_EQ(log.error_calls, 1);
        EXPECT_EQ(log.what, "bad input");
        EXPECT_EQ(log.error_type, typeid(std::invalid_argument).name());
        EXPECT_NE(log.thread, std::this_thread::get_id());
    }
    CallbackLog both;
    auto failing = pool.apply_async(
        mproc::callbacks([&](int) { both.called(); }, [&](const std::exception& e) { both.failed(e); }), thrower, 1);
    EXPECT_THROW(failing.get(), std::invalid_argument);
    sleep_ms(20);
    std::lock_guard lock(both.mutex);
    EXPECT_EQ(both.calls, 0);
    EXPECT_EQ(both.error_calls, 1);
}

TEST(PoolCallbacks, VoidTasksCallTheirCallbackWithNoArgument) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    CallbackLog log;
    auto result = pool.apply_async(mproc::callbacks([&] { log.called(); }), [](int) {}, 0);
    result.get();
    std::lock_guard lock(log.mutex);
    EXPECT_EQ(log.calls, 1);
}

TEST(PoolCallbacks, MapAndStarmapCallbacksGetTheWholeResultOnce) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    CallbackLog log;
    std::vector<int> seen;
    auto mapped = pool.map_async(mproc::callbacks([&](const std::vector<int>& values) {
                                     seen = values;
                                     log.called();
                                 }),
                                 square, std::views::iota(0, 30), {.chunksize = 3});
    EXPECT_EQ(mapped.get(), squares(30));
    {
        std::lock_guard lock(log.mutex);
        EXPECT_EQ(log.calls, 1);
        EXPECT_EQ(seen, squares(30));
        EXPECT_NE(log.thread, std::this_thread::get_id());
    }
    CallbackLog star;
    auto starred = pool.starmap_async(mproc::callbacks([&](const std::vector<int>&) { star.called(); }), multiply,
                                      std::vector<std::tuple<int, int>>{{2, 3}, {4, 5}});
    EXPECT_EQ(starred.get(), (std::vector<int>{6, 20}));
    {
        std::lock_guard lock(star.mutex);
        EXPECT_EQ(star.calls, 1);
    }
    CallbackLog failing;
    auto failed = pool.map_async(mproc::callbacks([&](const std::vector<int>&) { failing.called(); },
                                                  [&](const std::exception& e) { failing.failed(e); }),
                                 [](int x) {
                                     if (x == 3 || x == 8) throw std::range_error("item " + std::to_string(x));
                                     return x;
                                 },
                                 std::views::iota(0, 10), {.chunksize = 1});
    EXPECT_THROW(failed.get(), std::range_error);
    sleep_ms(20);
    std::lock_guard lock(failing.mutex);
    EXPECT_EQ(failing.calls, 0);
    EXPECT_EQ(failing.error_calls, 1) << "one error callback per map, not per failed item";
    EXPECT_EQ(failing.what, "item 3");
}

TEST(PoolCallbacks, ErrorCallbackGetsWorkerCrashed) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    CallbackLog log;
    auto result = pool.apply_async(mproc::error_callback([&](const std::exception& e) { log.failed(e); }),
                                   [](int) -> int { crash(Crash::sigkill); }, 0);
    EXPECT_THROW(result.get(), mproc::WorkerCrashed);
    std::lock_guard lock(log.mutex);
    EXPECT_EQ(log.error_calls, 1);
    EXPECT_EQ(log.error_type, typeid(mproc::WorkerCrashed).name());
}

TEST(PoolCallbacks, ThrowingCallbackIsReportedAndHarmsNothing) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    std::string text;
    {
        CaptureStderr capture;
        auto result =
            pool.apply_async(mproc::callbacks([](int) { throw std::runtime_error("callback broke"); }), square, 4);
        EXPECT_EQ(result.get(), 16);
        EXPECT_EQ(pool.apply(square, 5), 25) << "the pool's thread died with the callback";
        text = capture.text();
    }
    EXPECT_NE(text.find("callback broke"), std::string::npos) << text;
}

TEST(PoolCallbacks, CallbacksRunOnALibraryThreadEvenWhenTheOutcomeIsKnownAtSubmission) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 1, .max_message_size = 1 << 20});
    // An empty map is complete at once; an argument over the message limit fails at once.
    CallbackLog empty;
    pool.map_async(mproc::callbacks([&](const std::vector<int>&) { empty.called(); }), square, std::vector<int>{})
        .get();
    {
        std::lock_guard lock(empty.mutex);
        EXPECT_EQ(empty.calls, 1);
        EXPECT_NE(empty.thread, std::this_thread::get_id()) << "callback of an empty map ran on the caller's thread";
    }
    CallbackLog oversized;
    auto result = pool.apply_async(mproc::error_callback([&](const std::exception& e) { oversized.failed(e); }),
                                   [](const std::vector<std::byte>& v) { return v.size(); },
                                   std::vector<std::byte>(std::size_t{2} << 20));
    EXPECT_THROW(result.get(), mproc::SerializationError);
    std::lock_guard lock(oversized.mutex);
    EXPECT_EQ(oversized.error_calls, 1);
    EXPECT_NE(oversized.thread, std::this_thread::get_id())
        << "error callback of an unsendable task ran on the caller's thread, inside apply_async";
}

// ---------------------------------------------------------------------------------------------
// Exceptions thrown by tasks.

void throw_standard(int kind) {
    switch (kind) {
        case 0: throw std::runtime_error("runtime");
        case 1: throw std::logic_error("logic");
        case 2: throw std::invalid_argument("invalid");
        case 3: throw std::out_of_range("range");
        case 4: throw std::domain_error("domain");
        case 5: throw std::length_error("length");
        case 6: throw std::range_error("range error");
        case 7: throw std::overflow_error("overflow");
        case 8: throw std::underflow_error("underflow");
        case 9: throw std::bad_alloc();
    }
}

TEST(PoolErrors, StandardExceptionsKeepTheirTypeAndMessage) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const std::type_info* types[] = {&typeid(std::runtime_error), &typeid(std::logic_error),
                                     &typeid(std::invalid_argument), &typeid(std::out_of_range),
                                     &typeid(std::domain_error), &typeid(std::length_error),
                                     &typeid(std::range_error), &typeid(std::overflow_error),
                                     &typeid(std::underflow_error), &typeid(std::bad_alloc)};
    const char* messages[] = {"runtime", "logic",    "invalid",   "range",     "domain",
                              "length",  "range error", "overflow", "underflow", nullptr};
    for (int kind = 0; kind < 10; ++kind) {
        SCOPED_TRACE(types[kind]->name());
        try {
            pool.apply(throw_standard, kind);
            ADD_FAILURE() << "apply did not throw";
        } catch (const std::exception& e) {
            EXPECT_TRUE(typeid(e) == *types[kind]) << "got " << typeid(e).name();
            if (messages[kind]) {
                EXPECT_STREQ(e.what(), messages[kind]);
            }
        }
        try {
            pool.apply_async(throw_standard, kind).get();
            ADD_FAILURE() << "get did not throw";
        } catch (const std::exception& e) {
            EXPECT_TRUE(typeid(e) == *types[kind]) << "got " << typeid(e).name();
        }
    }
    EXPECT_EQ(pool.apply(square, 4), 16) << "pool unusable after exceptions";
}

int fail_on_two_and_five(int x) {
    if (x == 5) throw std::invalid_argument("five");
    if (x == 2) throw std::out_of_range("two");
    return x;
}

TEST(PoolErrors, MapRethrowsTheEarliestFailedItemsException) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    for (std::size_t chunksize : {0, 1, 3}) {
        SCOPED_TRACE("chunksize " + std::to_string(chunksize));
        try {
            pool.map(fail_on_two_and_five, std::views::iota(0, 10), {.chunksize = chunksize});
            ADD_FAILURE() << "map did not throw";
        } catch (const std::out_of_range& e) {
            EXPECT_STREQ(e.what(), "two");
        }
        EXPECT_THROW(pool.map_async(fail_on_two_and_five, std::views::iota(0, 10), {.chunksize = chunksize}).get(),
                     std::out_of_range);
        EXPECT_THROW(pool.starmap([](int x) { return fail_on_two_and_five(x); },
                                  std::vector<std::tuple<int>>{{7}, {5}, {1}}, {.chunksize = chunksize}),
                     std::invalid_argument);
    }
    EXPECT_EQ(pool.map(square, std::views::iota(0, 10)), squares(10)) << "pool unusable after exceptions";
}

TEST(PoolErrors, ImapRethrowsAnItemsExceptionAndIterationCanGoOn) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Range-for: the loop ends with the exception; starting it again resumes after the failed item.
    auto results = pool.imap(fail_on_two_and_five, std::views::iota(0, 8));
    std::vector<int> got;
    std::vector<std::string> errors;
    for (bool done = false; !done;) {
        try {
            for (int x : results) got.push_back(x);
            done = true;
        } catch (const std::exception& e) {
            errors.push_back(e.what());
        }
    }
    EXPECT_EQ(got, (std::vector<int>{0, 1, 3, 4, 6, 7}));
    EXPECT_EQ(errors, (std::vector<std::string>{"two", "five"}));

    // next(): the same, in completion order for imap_unordered.
    auto unordered = pool.imap_unordered(fail_on_two_and_five, std::views::iota(0, 8), {.chunksize = 2});
    got.clear();
    int failures = 0;
    for (;;) {
        try {
            auto value = unordered.next(10s);
            if (!value) break;
            got.push_back(*value);
        } catch (const std::out_of_range&) {
            ++failures;
        } catch (const std::invalid_argument&) {
            ++failures;
        }
    }
    EXPECT_EQ(sorted(got), (std::vector<int>{0, 1, 3, 4, 6, 7}));
    EXPECT_EQ(failures, 2);
}

TEST(PoolErrors, OtherExceptionsBecomeRemoteErrorWithTypeNameAndPid) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto workers = pool.worker_pids();
    try {
        pool.apply([](int) -> int { throw ParseError("bad token"); }, 0);
        ADD_FAILURE() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_NE(e.type_name().find("ParseError"), std::string::npos) << e.type_name();
        EXPECT_EQ(e.message(), "bad token");
        EXPECT_TRUE(contains(workers, e.pid())) << "pid " << e.pid();
        EXPECT_NE(e.pid(), ::getpid());
    }
    try {
        pool.map([](int x) -> int { if (x == 4) throw 42; return x; }, std::views::iota(0, 6));
        ADD_FAILURE() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "int");
        EXPECT_TRUE(contains(workers, e.pid()));
    }
    EXPECT_THROW(collect(pool.imap([](int) -> int { throw ParseError("x"); }, std::vector{1})), mproc::RemoteError);
    EXPECT_EQ(pool.apply(square, 5), 25) << "pool unusable after exceptions";
    EXPECT_EQ(pool.worker_pids(), workers) << "an exception must not cost a worker";
}

}  // namespace
