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
#include <iterator>
#include <map>
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

// Results of an imap, waiting to be taken by the consuming thread. They are kept as runs: the
// values of consecutive items that arrived together (a chunk's), handed to the consumer whole,
// so that neither side pays a lock, a queue operation or an error check per item.
template <class V>
class ImapSink {
public:
    // The values of consecutive items, or the error of one item. The consumer takes values in
    // place: bools are kept where a reference to each can be taken.
    struct Run {
        std::conditional_t<std::is_same_v<V, bool>, std::deque<bool>, std::vector<V>> values;
        std::exception_ptr error;
        std::size_t size() const { return error ? 1 : values.size(); }
    };

    explicit ImapSink(bool ordered, std::unique_ptr<Progress> progress)
        : ordered_(ordered), progress_(std::move(progress)) {}

    void deliver(long index, V value) {
        Run run;
        run.values.push_back(std::move(value));
        store(index, std::move(run));
    }
    // A chunk's results, decoded first and then stored under one lock.
    void deliver_block(long first, Reader& in, std::size_t count) {
        Run run;
        if constexpr (std::is_same_v<V, bool> || !std::is_default_constructible_v<V>) {
            decode_each<V>(in, count, [&](std::size_t, V&& value) { run.values.push_back(std::move(value)); });
        } else {
            run.values.resize(count);
            decode_block<V>(in, count, run.values.data());
        }
        store(first, std::move(run));
    }
    void deliver_error(long index, std::exception_ptr error) {
        Run run;
        run.error = std::move(error);
        store(index, std::move(run));
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
    // Replaces `out` with the next run, waiting at most until deadline; false if none is due by
    // then.
    bool take(std::chrono::steady_clock::time_point deadline, Run& out) {
        std::unique_lock lock(mutex_);
        if (!due_locked()) {
            ++takers_waiting_;
            const bool arrived = arrived_.wait_until(lock, deadline, [&] { return due_locked(); });
            --takers_waiting_;
            if (!arrived) return false;
        }
        pop_locked(out);
        return true;
    }
    // Replaces `out` with the next run if one is due now.
    bool take_due(Run& out) {
        std::lock_guard lock(mutex_);
        if (!due_locked()) return false;
        pop_locked(out);
        return true;
    }
    void finish() {
        if (progress_) progress_->finish();
    }

    // What an executor's map cancels its jobs through: here, since every job holds the sink.
    TaskControl control;

private:
    bool due_locked() const {
        if (!ordered_) return !unordered_.empty();
        return !ordered_runs_.empty() && ordered_runs_.begin()->first == next_;
    }
    void pop_locked(Run& out) {
        if (ordered_) {
            auto node = ordered_runs_.extract(ordered_runs_.begin());
            out = std::move(node.mapped());
        } else {
            out = std::move(unordered_.front());
            unordered_.pop_front();
        }
        next_ += static_cast<long>(out.size());
        in_flight_ -= out.size();
    }

    void store(long first, Run run) {
        const std::size_t count = run.size();
        bool notify;
        {
            std::lock_guard lock(mutex_);
            if (ordered_) {
                // Each item has one outcome; a second (only if failing a job that had delivered
                // threw) is dropped. Runs never straddle: a job's items arrive as one run or one
                // by one.
                if (first < next_) return;
                auto after = ordered_runs_.upper_bound(first);
                if (after != ordered_runs_.begin()) {
                    const auto before = std::prev(after);
                    if (first < before->first + static_cast<long>(before->second.size())) return;
                }
                ordered_runs_.emplace_hint(after, first, std::move(run));
            } else {
                unordered_.push_back(std::move(run));
            }
            arrivals_.fetch_add(count, std::memory_order_release);
            if (progress_) progress_->advance(count);
            notify = takers_waiting_ > 0;
        }
        if (notify) arrived_.notify_all();
    }

    const bool ordered_;
    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::map<long, Run> ordered_runs_;  // ordered: runs by their first item's index, from next_ on
    std::deque<Run> unordered_;         // unordered: runs in order of arrival
    std::atomic<std::size_t> arrivals_{0};
    long next_ = 0;                     // ordered: the item whose outcome is taken next
    std::size_t in_flight_ = 0;         // submitted and not yet taken; the consuming thread's
    int takers_waiting_ = 0;
    std::unique_ptr<Progress> progress_;
};

}  // namespace mproc::detail
