// The state under AsyncResult and Future (mproc/async_result.hpp), without a pool: its status
// word (waiting, timed waiting, waking every waiter), its extras, made only when a callback or
// an observer is added, and the listeners of as_completed and wait, kept in place without extras. A pool completes states from its own thread; here a test thread does.
#include <mproc/async_result.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using mproc::detail::ResultState;

TEST(AsyncResultState, APendingResultWithoutCallbacksIsSmall) {
    // A pool may hold a million pending results: the word, the control, the source, the error, the
    // extras pointer and the value, nothing more (the extras come with the first callback).
    EXPECT_LE(sizeof(ResultState<int>), 7 * sizeof(void*));
    EXPECT_EQ(sizeof(mproc::detail::TaskControl), 16u);
}

TEST(AsyncResultState, TimedWaitsTimeOutUntilTheValueIsSetThenReturnItAtOnce) {
    ResultState<int> state;
    EXPECT_FALSE(state.ready());
    EXPECT_FALSE(state.wait(0s));
    EXPECT_FALSE(state.wait(-1s));
    EXPECT_FALSE(state.wait(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())));  // no time
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(state.wait(30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 29ms);
    EXPECT_THROW((void)state.get(1ms), mproc::TimeoutError);
    EXPECT_THROW((void)state.successful(), mproc::StateError);
    EXPECT_EQ(state.error(), nullptr);
    state.set_value(5);
    EXPECT_TRUE(state.wait(0s));
    EXPECT_TRUE(state.wait(std::chrono::duration<double>(1e30)));  // no overflow of the deadline
    EXPECT_EQ(state.get(0s), 5);
    EXPECT_TRUE(state.successful());
}

TEST(AsyncResultState, EveryThreadWaitingForOneResultWakesWithTheValue) {
    ResultState<int> state;
    constexpr int threads = 16;
    std::atomic<int> started{0}, right{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < threads; ++i)
        waiters.emplace_back([&, i] {
            ++started;
            // Untimed, timed and get(): each sleeps on the same word.
            if (i % 3 == 0) state.wait();
            if (i % 3 == 1 && !state.wait(60s)) return;
            if (state.get() == 42) ++right;
        });
    while (started.load() != threads) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // most of them asleep by now
    state.set_value(42);
    for (auto& waiter : waiters) waiter.join();
    EXPECT_EQ(right.load(), threads);
}

TEST(AsyncResultState, TheCallbackRunsOnceBeforeAnyWaiterReturns) {
    auto state = std::make_shared<ResultState<int>>();
    std::atomic<int> calls{0};
    state->set_callback([&](const int& value) {
        std::this_thread::sleep_for(20ms);  // a waiter that returned early would see no call
        calls += value;
    });
    std::atomic<int> saw_call_first{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i)
        waiters.emplace_back([&] {
            state->wait();
            if (calls.load() == 1) ++saw_call_first;
        });
    state->set_value(1);
    for (auto& waiter : waiters) waiter.join();
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(saw_call_first.load(), 4);
}

TEST(AsyncResultState, TheErrorCallbackGetsTheErrorOnceAndGetRethrowsIt) {
    ResultState<int> state;
    int calls = 0;
    std::string what;
    state.set_error_callback([&](const std::exception& e) {
        ++calls;
        what = e.what();
    });
    state.set_error(std::make_exception_ptr(std::runtime_error("broken")));
    state.set_error(std::make_exception_ptr(std::runtime_error("later")));  // only the first counts
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(what, "broken");
    EXPECT_FALSE(state.successful());
    EXPECT_THROW((void)state.get(), std::runtime_error);
}

TEST(AsyncResultState, AnObserverAddedAfterCompletionRunsAtOnceExactlyOnce) {
    ResultState<void> state;
    state.set_value();
    int calls = 0;
    std::thread::id thread;
    EXPECT_EQ(state.add_observer([&] {
        ++calls;
        thread = std::this_thread::get_id();
    }),
              0u);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(thread, std::this_thread::get_id());
    state.set_value();  // a second completion is ignored, and runs nothing again
    EXPECT_EQ(calls, 1);
}

TEST(AsyncResultState, ObserversRunOnceInOrderAndARemovedOneNever) {
    ResultState<int> state;
    std::vector<int> order;
    const auto first = state.add_observer([&] { order.push_back(1); });
    const auto second = state.add_observer([&] { order.push_back(2); });
    state.add_observer([&] { order.push_back(3); });
    EXPECT_NE(first, 0u);
    EXPECT_NE(second, first);
    state.remove_observer(second);
    state.set_value(7);
    state.remove_observer(first);  // done: nothing left to remove
    EXPECT_EQ(order, (std::vector<int>{1, 3}));
}

TEST(AsyncResultState, ObserversAddedWhileAnotherThreadCompletesEachRunExactlyOnce) {
    for (int round = 0; round < 200; ++round) {
        ResultState<int> state;
        std::atomic<int> calls{0};
        std::thread completer([&] { state.set_value(round); });
        for (int i = 0; i < 8; ++i) state.add_observer([&] { ++calls; });
        completer.join();
        EXPECT_EQ(calls.load(), 8);
    }
}

TEST(AsyncResultState, AnObserverHoldingItsOwnResultDoesNotKeepItAliveOnceDone) {
    auto state = std::make_shared<ResultState<int>>();
    std::weak_ptr<ResultState<int>> watch = state;
    state->add_observer([self = state] { (void)self->ready(); });
    state->set_value(1);
    state.reset();
    EXPECT_TRUE(watch.expired());
}

// A listener that counts what it was told, for each tag.
struct CountingListener final : mproc::detail::CompletionListener {
    void completed(std::size_t tag) noexcept override { told[tag].fetch_add(1); }
    std::atomic<int> told[4] = {};
};

TEST(AsyncResultState, AListenerIsToldOnceAndAtOnceWhenTheResultIsReadyAlready) {
    CountingListener listener;
    mproc::detail::ListenerNode node{&listener, 1};
    ResultState<int> state;
    EXPECT_TRUE(state.add_listener(node));
    EXPECT_EQ(listener.told[1].load(), 0);
    state.set_value(3);
    state.set_value(4);  // a second completion tells nobody again
    EXPECT_EQ(listener.told[1].load(), 1);
    state.remove_listener(node);  // told already: nothing to remove

    ResultState<int> done;
    done.set_value(5);
    mproc::detail::ListenerNode late{&listener, 2};
    EXPECT_FALSE(done.add_listener(late));
    EXPECT_EQ(listener.told[2].load(), 1);
}

TEST(AsyncResultState, ListenersCallbacksAndRemovalsMixOnOneResult) {
    CountingListener listener;
    mproc::detail::ListenerNode first{&listener, 0}, second{&listener, 1}, removed{&listener, 2}, kept{&listener, 3};
    ResultState<int> state;
    int callback_calls = 0;
    // The first listener is kept in place; a callback, then more listeners, move it into extras.
    EXPECT_TRUE(state.add_listener(first));
    const auto key = state.add_observer([&] { ++callback_calls; });
    EXPECT_NE(key, 0u);
    EXPECT_TRUE(state.add_listener(second));
    EXPECT_TRUE(state.add_listener(removed));
    EXPECT_TRUE(state.add_listener(kept));
    state.remove_listener(removed);
    state.remove_observer(0);  // no callback has key 0: the listeners stay
    state.set_value(1);
    EXPECT_EQ(callback_calls, 1);
    EXPECT_EQ(listener.told[0].load(), 1);
    EXPECT_EQ(listener.told[1].load(), 1);
    EXPECT_EQ(listener.told[2].load(), 0);
    EXPECT_EQ(listener.told[3].load(), 1);

    ResultState<void> alone;
    mproc::detail::ListenerNode gone{&listener, 2};
    EXPECT_TRUE(alone.add_listener(gone));
    alone.remove_listener(gone);
    alone.set_value();
    EXPECT_EQ(listener.told[2].load(), 0);
}

// A listener that another thread may be telling while the owner removes it: once
// remove_listener returns, the owner poisons the node, and a late tell would be seen.
struct GuardedListener final : mproc::detail::CompletionListener {
    void completed(std::size_t tag) noexcept override {
        if (tag != expected_tag.load(std::memory_order_relaxed)) wrong_tags.fetch_add(1);
        told.fetch_add(1);
    }
    std::atomic<std::size_t> expected_tag{0};
    std::atomic<int> told{0};
    std::atomic<int> wrong_tags{0};
};

TEST(AsyncResultState, ARemovedListenerIsNeverToldAfterRemoveListenerReturns) {
    for (int round = 0; round < 2000; ++round) {
        GuardedListener listener;
        listener.expected_tag = static_cast<std::size_t>(round);
        auto node = std::make_unique<mproc::detail::ListenerNode>(mproc::detail::ListenerNode{&listener, listener.expected_tag});
        ResultState<int> state;
        const bool listening = state.add_listener(*node);
        ASSERT_TRUE(listening);
        std::thread completer([&] { state.set_value(round); });
        if (round % 2 == 0) std::this_thread::yield();
        state.remove_listener(*node);
        const int told_then = listener.told.load();
        node->tag = std::numeric_limits<std::size_t>::max();  // poisoned: a later tell counts as wrong
        node.reset();
        completer.join();
        EXPECT_EQ(listener.told.load(), told_then);
        EXPECT_LE(told_then, 1);
        EXPECT_EQ(listener.wrong_tags.load(), 0);
    }
}

}  // namespace
