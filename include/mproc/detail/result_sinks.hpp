// mproc/detail/result_sinks.hpp: where the decoded results of a Pool's chunks go (see
// decode_chunk_reply in chunk.hpp): MapSink gathers a map's results into one vector, ApplySink
// hands apply's single result to its AsyncResult, ImapSink queues an imap's results for the
// thread that iterates them. Every sink takes deliver(index, value), deliver_error(index, error)
// and deliver_block(first, Reader&, count), from the pool's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/async_result.hpp>
#include <mproc/detail/chunk.hpp>
#include <mproc/detail/progress.hpp>

namespace mproc::detail {

// Results of void functions are std::monostate in vectors (Python's list of None).
template <class R>
using value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// Collects the items of a map into one vector, in input order.
template <class V>
class MapSink {
    // Results land in their final place; only types without a default constructor need optional.
    using Slot = std::conditional_t<std::is_default_constructible_v<V>, V, std::optional<V>>;

public:
    MapSink(std::size_t count, std::shared_ptr<ResultState<std::vector<V>>> result, std::unique_ptr<Progress> progress)
        : slots_(count), remaining_(count), result_(std::move(result)), progress_(std::move(progress)) {}
    void deliver(long index, V value) {
        std::unique_lock lock(mutex_);
        slots_[static_cast<std::size_t>(index)] = std::move(value);
        done(1, lock);
    }
    void deliver_block(long first, Reader& in, std::size_t count) {
        std::unique_lock lock(mutex_);
        decode_block<V>(in, count, slots_.data() + first);
        done(count, lock);
    }
    void deliver_error(long index, std::exception_ptr error) {
        std::unique_lock lock(mutex_);
        if (!error_ || index < error_index_) {
            error_ = std::move(error);
            error_index_ = index;
        }
        done(1, lock);
    }

    // Delivers the result once every item is in (the pool calls it itself for an empty map).
    void complete() {
        if (progress_) progress_->finish();
        if (error_) return result_->set_error(error_);
        if constexpr (std::is_same_v<Slot, V>) {
            result_->set_value(std::move(slots_));
        } else {
            std::vector<V> values;
            values.reserve(slots_.size());
            for (auto& slot : slots_) values.push_back(std::move(*slot));
            result_->set_value(std::move(values));
        }
    }

private:
    void done(std::size_t items, std::unique_lock<std::mutex>& lock) {
        if (progress_) progress_->advance(items);
        remaining_ -= items;
        if (remaining_ == 0) {
            lock.unlock();
            complete();
        }
    }

    std::mutex mutex_;
    std::vector<Slot> slots_;
    std::size_t remaining_;
    std::exception_ptr error_;
    long error_index_ = 0;
    std::shared_ptr<ResultState<std::vector<V>>> result_;
    std::unique_ptr<Progress> progress_;
};

// The single result of apply/apply_async.
template <class R>
class ApplySink {
public:
    explicit ApplySink(std::shared_ptr<ResultState<R>> result) : result_(std::move(result)) {}
    void deliver(long, value_t<R> value) {
        if constexpr (std::is_void_v<R>)
            result_->set_value();
        else
            result_->set_value(std::move(value));
    }
    void deliver_block(long first, Reader& in, std::size_t count) { deliver_each<value_t<R>>(*this, first, in, count); }
    void deliver_error(long, std::exception_ptr error) { result_->set_error(std::move(error)); }

private:
    std::shared_ptr<ResultState<R>> result_;
};

// Results of an imap, waiting to be taken by the consuming thread.
template <class V>
class ImapSink {
public:
    using Outcome = std::variant<V, std::exception_ptr>;

    explicit ImapSink(bool ordered, std::unique_ptr<Progress> progress)
        : ordered_(ordered), progress_(std::move(progress)) {}

    void deliver(long index, V value) {
        store(index, 1, [&](std::size_t) { return Outcome(std::in_place_index<0>, std::move(value)); });
    }
    // A chunk's results, decoded first and then stored under one lock.
    void deliver_block(long first, Reader& in, std::size_t count) {
        std::vector<V> values;
        if constexpr (std::is_default_constructible_v<V> && !std::is_same_v<V, bool>) {
            values.resize(count);
            decode_block<V>(in, count, values.data());
        } else {
            values = decode<std::vector<V>>(in);
            if (values.size() != count) in.fail("chunk reply holds the wrong number of results");
        }
        store(first, count, [&](std::size_t i) { return Outcome(std::in_place_index<0>, std::move(values[i])); });
    }
    void deliver_error(long index, std::exception_ptr error) {
        store(index, 1, [&](std::size_t) { return Outcome(std::in_place_index<1>, error); });
    }

    // Whether the next outcome is there to take.
    bool due() const {
        std::lock_guard lock(mutex_);
        return due_locked();
    }
    // Outcomes stored so far: cheap to watch.
    std::size_t arrivals() const noexcept { return arrivals_.load(std::memory_order_acquire); }

    // The consuming thread's own count, untouched by deliveries: no lock.
    void submitted(std::size_t items) { in_flight_ += items; }
    std::size_t in_flight() const { return in_flight_; }
    // The next outcome, waiting at most until deadline; nothing if none is due by then.
    std::optional<Outcome> take(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        if (!due_locked()) {
            ++takers_waiting_;
            const bool arrived = arrived_.wait_until(lock, deadline, [&] { return due_locked(); });
            --takers_waiting_;
            if (!arrived) return std::nullopt;
        }
        return pop_locked();
    }
    // Moves every outcome due now, in order, to the end of `out`; returns whether there was any.
    bool take_due(std::deque<Outcome>& out) {
        std::lock_guard lock(mutex_);
        if (!due_locked()) return false;
        do {
            out.push_back(pop_locked());
        } while (due_locked());
        return true;
    }
    void finish() {
        if (progress_) progress_->finish();
    }

private:
    bool due_locked() const { return !ready_.empty() && ready_.front().has_value(); }
    Outcome pop_locked() {
        Outcome outcome = std::move(*ready_.front());
        ready_.pop_front();
        ++next_;
        --in_flight_;
        return outcome;
    }

    // Stores the outcomes of items first .. first + count - 1, made by outcome(i).
    template <class MakeOutcome>
    void store(long first, std::size_t count, MakeOutcome outcome) {
        bool notify;
        {
            std::lock_guard lock(mutex_);
            std::size_t stored = 0;
            for (std::size_t i = 0; i < count; ++i) {
                const long index = first + static_cast<long>(i);
                if (ordered_) {
                    // Items in flight are a bounded window from next_ on. Each has one outcome; a
                    // second (only if failing a job that had delivered threw) is dropped.
                    if (index < next_) continue;
                    const auto slot = static_cast<std::size_t>(index - next_);
                    if (slot >= ready_.size()) ready_.resize(slot + 1);
                    if (ready_[slot]) continue;
                    ready_[slot].emplace(outcome(i));
                } else {
                    ready_.emplace_back(outcome(i));
                }
                ++stored;
            }
            arrivals_.fetch_add(stored, std::memory_order_release);
            if (progress_) progress_->advance(stored);
            notify = takers_waiting_ > 0;
        }
        if (notify) arrived_.notify_all();
    }

    const bool ordered_;
    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    // Ordered: the outcomes of items next_, next_ + 1, ... (empty where not arrived yet).
    // Unordered: outcomes in order of arrival.
    std::deque<std::optional<Outcome>> ready_;
    std::atomic<std::size_t> arrivals_{0};
    long next_ = 0;
    std::size_t in_flight_ = 0;  // submitted and not yet taken; the consuming thread's
    int takers_waiting_ = 0;
    std::unique_ptr<Progress> progress_;
};

}  // namespace mproc::detail
