// mproc/imap_results.hpp: mproc::ImapResults, the lazy range of results that Pool::imap and
// Pool::imap_unordered return (Python's multiprocessing.pool.IMapIterator).
//
//   for (int y : pool.imap(square, std::views::iota(0, 1000))) { ... }   // in input order
//   auto results = pool.imap_unordered(square, items);                   // in completion order
//   while (auto y = results.next(2s)) { ... }                            // TimeoutError after 2 s
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include <mproc/detail/imap_stream.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/pool_options.hpp>

namespace mproc {

/// The range returned by imap and imap_unordered: an input range over the results, which also
/// offers next(timeout) as Python's IMapIterator does. It keeps a bounded number of items in
/// flight and reads more input only as results are taken.
///
/// Python: multiprocessing.pool.IMapIterator (and IMapUnorderedIterator).
/// Iteration rethrows a failed item's exception (the task's own, or mproc::WorkerCrashed,
/// mproc::TimeoutError, mproc::PoolTerminated) where the iteration reaches that item, and the
/// input's own exception after the items read before it. Cost: items are sent in batches as
/// half the window empties, so a worker is woken about once per batch, not once per item.
///
/// Thread safety: not thread-safe; one thread iterates it at a time. Separate imaps of one
/// Pool may be iterated from separate threads at once.
template <class F, class View, bool Spread, bool Ordered>
class ImapResults {
    using Stream = detail::ImapStream<F, View, Spread, Ordered>;
    using V = typename Stream::V;

public:
    /// Made by Pool::imap and Pool::imap_unordered, which start sending the first items.
    ImapResults(std::shared_ptr<detail::PoolCore> core, F f, View input, const MapOptions& options)
        : stream_(std::move(core), std::move(f), std::move(input), options) {}
    /// Made by an executor's map (futures.hpp), which sends every item at once; no result is
    /// waited for past `deadline` (TimeoutError).
    ImapResults(std::shared_ptr<detail::PoolCore> core, F f, View input, const MapOptions& options,
                std::chrono::steady_clock::time_point deadline)
        : stream_(std::move(core), std::move(f), std::move(input), options, detail::Reading::at_once),
          deadline_(deadline) {}
    /// Moves the iteration; the moved-from object may only be destroyed or assigned to.
    ImapResults(ImapResults&&) noexcept = default;
    /// Moves the iteration; the moved-from object may only be destroyed or assigned to.
    ImapResults& operator=(ImapResults&&) noexcept = default;
    /// Before the end: reads no more input; the items in flight still run, their results dropped.
    ~ImapResults() = default;

    /// The next result; nothing once all are taken. Rethrows the item's exception; an
    /// executor's map throws mproc::TimeoutError past its timeout.
    std::optional<V> next() { return taken(stream_.next_before(deadline_, name)); }
    /// As next(), but throws mproc::TimeoutError if no result is ready within `timeout`.
    std::optional<V> next(std::chrono::duration<double> timeout) {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
        return taken(stream_.next_before(std::min(deadline, deadline_), name));
    }

    /// An input iterator over the results: each result is taken once, by next().
    class iterator {
    public:
        /// The result type (std::monostate for a void function).
        using value_type = V;
        /// Required of an iterator; never used.
        using difference_type = std::ptrdiff_t;

        /// A singular iterator.
        iterator() = default;
        /// An iterator over `owner`'s results.
        explicit iterator(ImapResults* owner) : owner_(owner) {}
        /// The current result; waits for it. Rethrows the item's exception.
        V& operator*() const {
            fetch();
            return *current_;
        }
        /// Moves past the current result.
        iterator& operator++() {
            fetch();
            fetched_ = false;
            return *this;
        }
        /// Moves past the current result.
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            it.fetch();
            return it.current_ == nullptr;
        }

    private:
        // Results are taken in place, not copied out: an optional returned per item costs more
        // than the rest of the iteration.
        void fetch() const {
            if (fetched_) return;
            fetched_ = true;
            current_ = owner_->stream_.next_before(owner_->deadline_, name);
        }
        ImapResults* owner_ = nullptr;
        mutable V* current_ = nullptr;
        mutable bool fetched_ = false;
    };

    /// Where a range-for starts; only one pass is possible.
    iterator begin() { return iterator(this); }
    /// Reached once every result has been taken.
    std::default_sentinel_t end() { return {}; }

private:
    static std::optional<V> taken(V* result) {
        if (result == nullptr) return std::nullopt;
        return std::move(*result);
    }

    static constexpr const char* name = "mproc::ImapResults";
    Stream stream_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace mproc
