// mproc/pool.hpp: mproc::Pool, a pool of worker processes (Python's multiprocessing.Pool).
//
//   int square(int x) { return x * x; }
//
//   mproc::Pool pool(4);                                    // 4 workers; Pool() uses cpu_count()
//   std::vector<int> a = pool.map(square, std::vector{1, 2, 3});
//   auto r = pool.map_async(square, std::views::iota(0, 1000));   // AsyncResult<std::vector<int>>
//   for (int x : pool.imap(square, std::views::iota(0, 10))) { }  // in order, lazily
//   for (int x : pool.imap_unordered(square, items, {.chunksize = 16})) { }  // completion order
//   auto s = pool.starmap([](int a, int b) { return a + b; }, std::vector<std::tuple<int, int>>{{1, 2}});
//   int v = pool.apply_async(square, 2).get();
//
// Functions, arguments and results cross a process boundary: see serialize.hpp for what can. A
// task is a function, a captureless lambda, or mproc::partial(f, values...) for one that needs
// values a lambda would capture (partial.hpp): a lambda with captures does not compile.
// Inputs may be any input range: containers, views, generators. map and starmap read their whole
// input first (as Python does); imap and imap_unordered read it lazily with a bounded number of
// items in flight, so an endless generator works in bounded memory.
//
// Failures (errors.hpp): an exception thrown by a task is rethrown by get()/map/the imap
// iteration. A worker that dies while running a task (a crash, a signal, exit()) fails only that
// task, with mproc::WorkerCrashed, and is replaced. A task running longer than its timeout fails
// with mproc::TimeoutError; its worker is killed (with anything it started) and replaced. map and
// map_async wait for every chunk, then report the failure of the earliest failed item.
//
// Lifetime: close() stops new submissions; join() waits for the work and the workers; terminate()
// kills the workers at once and fails unfinished tasks with mproc::PoolTerminated. The destructor
// of a pool that was not terminated finishes the work already submitted (close + join): no result
// is silently dropped. (Python's `with Pool()` terminates instead.)
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/async_result.hpp>
#include <mproc/detail/chunk.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/errors.hpp>
#include <mproc/process.hpp>

namespace mproc {

/// A function and its arguments, packed to run in another process (used for initializers):
/// `mproc::call(setup, "config.ini")`. The arguments are converted to f's parameter types and
/// checked as a task's are.
///
/// Python: the initializer and initargs arguments of multiprocessing.pool.Pool, together.
/// Throws (from mproc::call) mproc::SerializationError if an argument cannot be encoded.
/// Thread safety: an immutable value once made; share it freely.
class Call {
public:
    /// No function: PoolOptions::initializer's default, meaning "no initializer".
    Call() = default;
    /// Whether this holds no function.
    bool empty() const noexcept { return packed_.empty(); }
    /// The encoded function and arguments, as a worker decodes them.
    const std::vector<std::byte>& packed() const noexcept { return packed_; }
    /// Descriptors of the shared objects among the arguments, kept open as long as the Call is.
    const std::shared_ptr<const std::vector<int>>& fds() const noexcept { return fds_; }

private:
    template <class F, class... Args>
    friend Call call(F f, Args&&... args);
    std::vector<std::byte> packed_;
    std::shared_ptr<const std::vector<int>> fds_;
};

/// Packs f and its arguments into a Call (see Call). Python: Pool(initializer=f, initargs=args).
/// Throws mproc::SerializationError if an argument cannot be encoded. Cost: encodes the
/// arguments once, in the calling thread.
template <class F, class... Args>
Call call(F f, Args&&... args) {
    const detail::shipped_arguments_t<F, Args...> shipped(std::forward<Args>(args)...);
    Call packed;
    Writer out(packed.packed_);
    std::apply([&](const auto&... arg) { detail::pack_call(out, f, arg...); }, shipped);
    packed.fds_ = detail::keep_fds(out.fds());
    return packed;
}

/// Options of Pool's constructor. Python: the arguments of multiprocessing.pool.Pool.
struct PoolOptions {
    /// Number of worker processes; 0 means cpu_count().
    int processes = 0;
    /// Run by every worker before its first task, as Python's initializer/initargs:
    /// `.initializer = mproc::call(setup, 42)`. If it throws, the Pool constructor throws it.
    Call initializer;
    /// A worker exits after this many tasks (chunks) and is replaced, as in Python.
    std::optional<long> maxtasksperchild;
    /// Largest message (task or result) the transport carries; larger ones fail with
    /// SerializationError. Only touched memory is used, so the default costs nothing.
    std::size_t max_message_size = std::size_t{4} << 30;
    /// How workers start (see start_method.hpp); unset: get_start_method().
    std::optional<StartMethod> start_method;
};

/// Options of one map, starmap or imap call. Python: the chunksize argument (timeout and
/// progress have no Python counterpart).
struct MapOptions {
    /// Items per task. 0: as Python, len/(4*processes) rounded up for map, 1 for imap.
    std::size_t chunksize = 0;
    /// Longest time one item may run; past it, mproc::TimeoutError and the worker is replaced.
    std::optional<std::chrono::duration<double>> timeout;
    /// Draw a progress bar, as tqdm does:
    ///   "squares:  45%|#########           | 450/1000 [00:12<00:15, 36.50 items/s]"
    /// On a terminal it is redrawn in place; elsewhere (a pipe, a log file) a line is written each
    /// tenth of the way, or each 30 s, and at the end.
    bool progress = false;
    /// Text before the bar (tqdm's desc).
    std::string progress_label;
    /// Where the bar goes: this stream if set, else the descriptor progress_fd if set, else stderr.
    std::FILE* progress_file = nullptr;
    /// A descriptor to draw on, when progress_file is not set (-1: none).
    int progress_fd = -1;
};

/// Options of one apply or apply_async call.
struct TaskOptions {
    /// Longest time the call may run; past it, mproc::TimeoutError and the worker is replaced.
    /// Python has no per-task timeout.
    std::optional<std::chrono::duration<double>> timeout;
};

/// The absence of a callback, in Callbacks.
struct NoCallback {};

/// Python's callback and error_callback arguments of apply_async, map_async and starmap_async,
/// passed first: `pool.apply_async(mproc::callbacks(on_done, on_error), f, x)`. Made by
/// mproc::callbacks or mproc::error_callback.
///
/// Both run on the pool's thread, exactly once, before get() returns to any waiter. They must be
/// quick and must not wait for other results of the same pool (that would deadlock the thread
/// that delivers them). An exception they throw is printed to stderr and dropped.
template <class Callback, class ErrorCallback>
struct Callbacks {
    /// `void(const R&)` for a result of type R (`void()` for a void task; a map's R is its
    /// std::vector of results). Python: callback.
    Callback callback;
    /// `void(const std::exception&)`: the exception the task threw (or the mproc::Error that
    /// failed it: WorkerCrashed, TimeoutError, PoolTerminated, RemoteError, ...). An exception
    /// not derived from std::exception does not call it; get() still rethrows it. Python:
    /// error_callback.
    ErrorCallback error_callback;
};
/// Python's callback= and error_callback= arguments: see Callbacks for their signatures.
template <class Callback, class ErrorCallback = NoCallback>
Callbacks<Callback, ErrorCallback> callbacks(Callback callback, ErrorCallback error_callback = {}) {
    return {std::move(callback), std::move(error_callback)};
}
/// Python's error_callback= alone: `void(const std::exception&)`, see Callbacks.
template <class ErrorCallback>
Callbacks<NoCallback, ErrorCallback> error_callback(ErrorCallback error_callback) {
    return {{}, std::move(error_callback)};
}

namespace detail {

inline ProgressOutput progress_output(const MapOptions& options) {
    return {options.progress_label, options.progress_file, options.progress_fd, std::nullopt};
}

template <class T>
inline constexpr bool is_callbacks = false;
template <class C, class E>
inline constexpr bool is_callbacks<Callbacks<C, E>> = true;

template <class T>
concept call_prefix = is_callbacks<std::remove_cvref_t<T>> || std::is_same_v<std::remove_cvref_t<T>, TaskOptions>;

// Results of void functions are std::monostate in vectors (Python's list of None).
template <class R>
using value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class C, class E>
constexpr bool has_callbacks(const Callbacks<C, E>&) {
    return !std::is_same_v<C, NoCallback> || !std::is_same_v<E, NoCallback>;
}

template <class T, class C, class E>
void attach_callbacks(ResultState<T>& state, Callbacks<C, E>& callbacks) {
    if constexpr (!std::is_same_v<C, NoCallback>) state.set_callback(std::move(callbacks.callback));
    if constexpr (!std::is_same_v<E, NoCallback>) state.set_error_callback(std::move(callbacks.error_callback));
}

inline std::optional<std::chrono::nanoseconds> to_timeout(std::optional<std::chrono::duration<double>> timeout) {
    if (!timeout) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout);
}

// Decodes a chunk's reply (see chunk.hpp) into the sink: sink.deliver_block(first, Reader&, count)
// for a block of values, sink.deliver(index, value) / sink.deliver_error(index, error) otherwise.
// Each item gets exactly one outcome, whatever the reply holds.
template <class R, class Sink>
void decode_chunk_reply(Reader& in, long first, std::size_t count, Sink& sink) {
    const auto fail_from = [&](std::size_t i, std::exception_ptr error) {
        for (; i < count; ++i) sink.deliver_error(first + static_cast<long>(i), error);
    };
    const auto current = [] { return std::current_exception(); };
    std::uint8_t layout = 0;
    try {
        layout = in.read_value<std::uint8_t>();
        if (layout == static_cast<std::uint8_t>(ReplyStatus::exception)) rethrow_exception_reply(in);
        if (layout == static_cast<std::uint8_t>(ChunkReply::all_values)) {
            if constexpr (std::is_void_v<R>)
                for (std::size_t i = 0; i < count; ++i) sink.deliver(first + static_cast<long>(i), std::monostate{});
            else
                sink.deliver_block(first, in, count);
            return;
        }
        if (layout != static_cast<std::uint8_t>(ChunkReply::per_item)) in.fail("invalid chunk reply");
    } catch (...) {
        return fail_from(0, current());
    }
    for (std::size_t i = 0; i < count; ++i) {
        const long index = first + static_cast<long>(i);
        try {
            const auto status = in.read_value<ReplyStatus>();
            if (status == ReplyStatus::exception) {
                try {
                    rethrow_exception_reply(in);
                } catch (...) {
                    sink.deliver_error(index, current());
                }
                continue;
            }
            if (status != ReplyStatus::value) in.fail("invalid reply status");
            if constexpr (std::is_void_v<R>)
                sink.deliver(index, std::monostate{});
            else
                sink.deliver(index, decode<R>(in));
        } catch (...) {
            return fail_from(i, current());
        }
    }
}

// Decodes a block of `count` values into consecutive slots starting at `out`.
template <class V, class Slot>
void decode_block(Reader& in, std::size_t count, Slot* out) {
    const std::size_t length = in.read_length(min_encoded_size<V>());
    if (length != count) in.fail("chunk reply holds " + std::to_string(length) + " results, not " + std::to_string(count));
    if constexpr (std::is_same_v<Slot, V> && trivially_transferable<V> && !std::is_same_v<V, bool>) {
        in.read(out, count * sizeof(V));
    } else {
        for (std::size_t i = 0; i < count; ++i) out[i] = decode<V>(in);
    }
}

// A chunk of items of one map/imap/apply call.
template <class F, class Item, bool Spread, class Sink>
class ChunkJob final : public Job {
public:
    using R = item_result_t<F, Item, Spread>;

    // `items` stay valid as long as `owner` lives (or, with no owner, until the call that
    // submitted the job has its whole result).
    ChunkJob(const F& f, std::shared_ptr<const void> owner, const Item* items, std::size_t count,
             std::shared_ptr<Sink> sink)
        : f_(f), owner_(std::move(owner)), items_(items), count_(count), sink_(std::move(sink)) {}

    void encode(Writer& out) override { pack_chunk<F, Item, Spread>(out, f_, std::span<const Item>(items_, count_)); }
    void deliver(Reader& reply) override { decode_chunk_reply<R>(reply, first_index, count_, *sink_); }
    void fail(std::exception_ptr error) override {
        for (std::size_t i = 0; i < count_; ++i) sink_->deliver_error(first_index + static_cast<long>(i), error);
    }

private:
    F f_;
    std::shared_ptr<const void> owner_;
    const Item* items_;
    std::size_t count_;
    std::shared_ptr<Sink> sink_;
};

// Decodes a block of values and hands them to sink.deliver one by one.
template <class V, class Sink>
void deliver_each(Sink& sink, long first, Reader& in, std::size_t count) {
    if constexpr (trivially_transferable<V> && !std::is_same_v<V, bool>) {
        // Straight out of the message, with no vector in between; all of it checked before the
        // first delivery, so that a corrupt reply cannot give an item two outcomes.
        if (in.read_length(sizeof(V)) != count) in.fail("chunk reply holds the wrong number of results");
        const std::byte* bytes = in.take(count * sizeof(V)).data();
        for (std::size_t i = 0; i < count; ++i) {
            V value;
            std::memcpy(&value, bytes + i * sizeof(V), sizeof(V));
            sink.deliver(first + static_cast<long>(i), value);
        }
    } else {
        auto values = decode<std::vector<V>>(in);
        if (values.size() != count) in.fail("chunk reply holds the wrong number of results");
        for (std::size_t i = 0; i < count; ++i) sink.deliver(first + static_cast<long>(i), std::move(values[i]));
    }
}

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

    void deliver(long index, V value) { store(index, Outcome(std::in_place_index<0>, std::move(value))); }
    void deliver_block(long first, Reader& in, std::size_t count) { deliver_each<V>(*this, first, in, count); }
    void deliver_error(long index, std::exception_ptr error) { store(index, Outcome(std::in_place_index<1>, error)); }

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
    // The next outcome if it is due now.
    std::optional<Outcome> take_due() {
        std::lock_guard lock(mutex_);
        if (!due_locked()) return std::nullopt;
        return pop_locked();
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

    void store(long index, Outcome outcome) {
        bool notify;
        {
            std::lock_guard lock(mutex_);
            if (ordered_) {
                // Items in flight are a bounded window from next_ on. Each has one outcome; a
                // second (only if failing a job that had delivered threw) is dropped.
                if (index < next_) return;
                const auto slot = static_cast<std::size_t>(index - next_);
                if (slot >= ready_.size()) ready_.resize(slot + 1);
                if (ready_[slot]) return;
                ready_[slot].emplace(std::move(outcome));
            } else {
                ready_.emplace_back(std::move(outcome));
            }
            arrivals_.fetch_add(1, std::memory_order_release);
            if (progress_) progress_->advance(1);
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

template <class Range>
using range_item_t = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;

}  // namespace detail

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
    using Item = detail::range_item_t<View>;
    using R = detail::item_result_t<F, Item, Spread>;
    using V = detail::value_t<R>;
    using Sink = detail::ImapSink<V>;

public:
    /// Made by Pool::imap and Pool::imap_unordered, which start sending the first items.
    ImapResults(std::shared_ptr<detail::PoolCore> core, F f, View input, const MapOptions& options)
        : input_(std::make_unique<Input>(std::move(core), std::move(input))),
          f_(std::move(f)),
          chunksize_(options.chunksize == 0 ? 1 : options.chunksize),
          // Enough items in flight to keep every worker busy, and no more.
          window_(static_cast<std::size_t>(input_->core->processes()) * std::max<std::size_t>(4 * chunksize_, 256)),
          timeout_(detail::to_timeout(options.timeout)),
          sink_(std::make_shared<Sink>(Ordered, options.progress ? std::make_unique<detail::Progress>(known_size(input_->view), detail::progress_output(options))
                                                                 : nullptr)) {
        refill(detail::PoolCore::Submission::new_work);
    }
    /// Moves the iteration; the moved-from object may only be destroyed or assigned to.
    ImapResults(ImapResults&&) noexcept = default;
    /// Moves the iteration; the moved-from object may only be destroyed or assigned to.
    ImapResults& operator=(ImapResults&&) noexcept = default;
    /// Before the end: reads no more input; the items in flight still run, their results dropped.
    ~ImapResults() {
        if (sink_) sink_->finish();
    }

    /// The next result; nothing once all are taken. Rethrows the item's exception.
    std::optional<V> next() { return next_before(std::chrono::steady_clock::time_point::max()); }
    /// As next(), but throws mproc::TimeoutError if no result is ready within `timeout`.
    std::optional<V> next(std::chrono::duration<double> timeout) {
        return next_before(std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
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
            current_.reset();
            fetched_ = false;
            return *this;
        }
        /// Moves past the current result.
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            it.fetch();
            return !it.current_.has_value();
        }

    private:
        void fetch() const {
            if (fetched_) return;
            fetched_ = true;
            current_ = owner_->next();
        }
        ImapResults* owner_ = nullptr;
        mutable std::optional<V> current_;
        mutable bool fetched_ = false;
    };

    /// Where a range-for starts; only one pass is possible.
    iterator begin() { return iterator(this); }
    /// Reached once every result has been taken.
    std::default_sentinel_t end() { return {}; }

private:
    static std::optional<std::size_t> known_size(View& input) {
        if constexpr (std::ranges::sized_range<View>)
            return static_cast<std::size_t>(std::ranges::size(input));
        else
            return std::nullopt;
    }

    std::optional<V> next_before(std::chrono::steady_clock::time_point deadline) {
        detail::live(input_, "mproc::ImapResults");
        refill();
        if (sink_->in_flight() == 0) {
            // The input failed after the items before it: its exception comes after their
            // results, once, and ends the iteration (Python's imap does the same).
            if (input_->error) std::rethrow_exception(std::exchange(input_->error, nullptr));
            return std::nullopt;
        }
        input_->core->receive_stream();
        auto outcome = sink_->take_due();
        if (!outcome) {
            std::size_t seen = sink_->arrivals();
            const bool helped = input_->core->help_until([&] {
                const std::size_t arrivals = sink_->arrivals();
                if (arrivals == seen) return false;
                seen = arrivals;
                return sink_->due();
            });
            outcome = sink_->take(deadline);
            if (!helped) input_->core->sleep_ended();
            if (!outcome) throw TimeoutError("mproc: imap: no result within the timeout");
        }
        refill();
        if (outcome->index() == 1) std::rethrow_exception(std::get<1>(*outcome));
        return std::move(std::get<0>(*outcome));
    }

    // Reads input until the window is full again, once it is half empty: refilling in batches
    // wakes each worker once per batch instead of once per item.
    void refill(detail::PoolCore::Submission kind = detail::PoolCore::Submission::continuation) {
        auto& in = *input_;
        if (in.exhausted || sink_->in_flight() > window_ / 2) return;
        // One vector holds the batch's items; its jobs point into it.
        const std::size_t room = window_ - sink_->in_flight();
        auto batch = std::make_shared<std::vector<Item>>();
        batch->reserve(room);
        try {
            for (; batch->size() < room && in.position != std::ranges::end(in.view); ++in.position)
                batch->push_back(*in.position);
            if (in.position == std::ranges::end(in.view)) in.exhausted = true;
        } catch (...) {
            // The items read so far still run; the error waits for their results.
            in.error = std::current_exception();
            in.exhausted = true;
        }
        std::vector<std::unique_ptr<detail::Job>> jobs;
        jobs.reserve((batch->size() + chunksize_ - 1) / chunksize_);
        for (std::size_t offset = 0; offset < batch->size(); offset += chunksize_) {
            const std::size_t count = std::min(chunksize_, batch->size() - offset);
            auto job = std::make_unique<detail::ChunkJob<F, Item, Spread, Sink>>(f_, batch, batch->data() + offset, count, sink_);
            job->first_index = next_index_;
            job->timeout = timeout_;
            next_index_ += static_cast<long>(count);
            jobs.push_back(std::move(job));
        }
        sink_->submitted(batch->size());
        if (!jobs.empty()) {
            if (kind == detail::PoolCore::Submission::new_work) {
                in.core->submit(jobs, kind);  // a closed pool refuses a new imap outright
            } else {
                try {
                    in.core->submit(jobs, kind);
                } catch (...) {
                    // Not queued (the pool was terminated): the items fail where the iteration
                    // reaches them.
                    for (auto& job : jobs) job->fail(std::current_exception());
                }
            }
        }
        // Only now, with its last jobs queued, may the stream let a closed pool wind down.
        if (in.exhausted) in.close_stream();
    }

    // The input lives on the heap: iterators of some views point into the view itself, so
    // neither may move once iteration has begun. While input remains, the stream is open: a
    // closed pool keeps its workers for it.
    struct Input {
        Input(std::shared_ptr<detail::PoolCore> pool, View input)
            : core(std::move(pool)), view(std::move(input)), position(std::ranges::begin(view)) {
            core->open_stream();
        }
        ~Input() { close_stream(); }
        void close_stream() {
            if (open) core->close_stream();
            open = false;
        }

        std::shared_ptr<detail::PoolCore> core;
        View view;
        std::ranges::iterator_t<View> position;
        bool exhausted = false;  // every item has been read, or reading the input threw
        std::exception_ptr error;  // what reading the input threw, until the iteration reaches it
        bool open = true;
    };

    std::unique_ptr<Input> input_;
    F f_;
    std::size_t chunksize_;
    std::size_t window_;
    std::optional<std::chrono::nanoseconds> timeout_;
    std::shared_ptr<Sink> sink_;
    long next_index_ = 0;
};

/// A pool of worker processes. Python: multiprocessing.pool.Pool. See the top of this file.
///
/// Errors: a task's own exception is rethrown by get(), map, starmap, apply and the imap
/// iteration (as a RemoteError when its type cannot be recreated); mproc::WorkerCrashed,
/// mproc::TimeoutError and mproc::PoolTerminated fail a task for the reasons their names say;
/// a submission throws mproc::PoolClosed after close(), mproc::PoolTerminated after terminate();
/// mproc::StateError is thrown by
/// any method of a moved-from Pool; mproc::SerializationError when a task, an argument or a
/// result cannot be encoded or is larger than PoolOptions::max_message_size.
///
/// Thread safety: every method may be called from any number of threads at once on one Pool
/// (submissions, waits and close/terminate/join are serialized by the pool's own lock; results
/// are delivered by the pool's thread). Moving or destroying the Pool while another thread uses
/// it is a race, as for any object. Each returned AsyncResult and ImapResults has its own rules.
///
/// Cost: a task (a chunk of items) is one round trip to a worker through shared memory. A
/// thread waiting for a result receives replies itself for a few dozen microseconds before it
/// sleeps, so a quick round trip wakes nobody in the parent.
class Pool {
public:
    /// `processes` workers; 0 means cpu_count(). Python: Pool(processes).
    /// Throws mproc::OSError or mproc::StartError if the workers cannot be started.
    explicit Pool(int processes = 0) : Pool(options_for(processes)) {}
    /// Python: Pool(processes, initializer, initargs, maxtasksperchild), plus a start method and
    /// a message size limit. Throws what the initializer threw (once, not per worker),
    /// mproc::OSError or mproc::StartError if the workers cannot be started.
    explicit Pool(const PoolOptions& options);
    /// Moves the pool; the moved-from Pool throws StateError from every method but destruction.
    Pool(Pool&&) noexcept = default;
    /// Moves the pool; the moved-from Pool throws StateError from every method but destruction.
    Pool& operator=(Pool&&) noexcept = default;
    /// Unless terminated: close(), then join(). Every submitted task runs to completion.
    ~Pool();

    /// @name map family: f(item) for each item
    /// @{

    /// f(item) for every item, in input order; blocks until all are done. Python: Pool.map.
    /// Reads the whole input first. Waits for every chunk, then throws the exception of the
    /// earliest failed item. Cost: one round trip per chunk (MapOptions::chunksize items); an
    /// input laid out as an array is sent from where it lies, without a copy.
    template <class F, std::ranges::input_range Range>
    auto map(F f, Range&& items, const MapOptions& options = {}) {
        return submit_map<false, Blocking::yes>(std::move(f), std::forward<Range>(items), options, callbacks(NoCallback{}))
            ->take();
    }
    /// As map, without blocking: an AsyncResult<std::vector<R>>. Python: Pool.map_async.
    /// Reads and copies the whole input before it returns.
    template <class F, std::ranges::input_range Range>
    auto map_async(F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(submit_map<false>(std::move(f), std::forward<Range>(items), options, callbacks(NoCallback{})));
    }
    /// As map_async, with Python's callback and error_callback (see Callbacks for their
    /// signatures). Python: Pool.map_async(f, items, callback=..., error_callback=...).
    template <class C, class E, class F, std::ranges::input_range Range>
    auto map_async(Callbacks<C, E> handlers, F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(submit_map<false>(std::move(f), std::forward<Range>(items), options, std::move(handlers)));
    }

    /// @}

    /// @name starmap family: f(args...) for each tuple of args
    /// @{

    /// std::apply(f, item) for every tuple (or pair) of arguments, in input order; blocks. Python:
    /// Pool.starmap. Errors and cost as map.
    template <class F, std::ranges::input_range Range>
    auto starmap(F f, Range&& items, const MapOptions& options = {}) {
        return submit_map<true, Blocking::yes>(std::move(f), std::forward<Range>(items), options, callbacks(NoCallback{}))
            ->take();
    }
    /// As starmap, without blocking. Python: Pool.starmap_async.
    template <class F, std::ranges::input_range Range>
    auto starmap_async(F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(submit_map<true>(std::move(f), std::forward<Range>(items), options, callbacks(NoCallback{})));
    }
    /// As starmap_async, with Python's callback and error_callback (see Callbacks).
    template <class C, class E, class F, std::ranges::input_range Range>
    auto starmap_async(Callbacks<C, E> handlers, F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(submit_map<true>(std::move(f), std::forward<Range>(items), options, std::move(handlers)));
    }

    /// @}

    /// @name imap family: lazily, in input order or in completion order
    /// @{

    /// f(item) for every item, as an ImapResults range in input order. Python: Pool.imap.
    /// Reads the input lazily, keeping a bounded number of items in flight (an endless input
    /// works). MapOptions::chunksize defaults to 1. Throws PoolClosed on a closed pool; a failed
    /// item throws where the iteration reaches it.
    template <class F, std::ranges::input_range Range>
    auto imap(F f, Range&& items, const MapOptions& options = {}) {
        return make_imap<true>(std::move(f), std::forward<Range>(items), options);
    }
    /// As imap, with the results in the order they complete. Python: Pool.imap_unordered.
    template <class F, std::ranges::input_range Range>
    auto imap_unordered(F f, Range&& items, const MapOptions& options = {}) {
        return make_imap<false>(std::move(f), std::forward<Range>(items), options);
    }

    /// @}

    /// @name apply family: one call
    /// @{

    /// f(args...) in a worker; blocks and returns its result. Python: Pool.apply.
    /// The arguments are converted to f's parameter types, as a direct call would convert them:
    /// `apply(greet, "alice")` sends the std::string greet takes.
    /// Rethrows f's exception. Cost: one round trip to a worker.
    template <class F, class... Args>
        requires(!detail::call_prefix<F>)
    auto apply(F f, Args&&... args) {
        return submit_apply(TaskOptions{}, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...)->take();
    }
    /// As apply, with a timeout (TaskOptions::timeout: mproc::TimeoutError past it).
    template <class F, class... Args>
    auto apply(TaskOptions options, F f, Args&&... args) {
        return submit_apply(options, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...)->take();
    }
    /// f(args...) in a worker, without blocking: an AsyncResult<R>. Python: Pool.apply_async.
    /// Cost: one round trip to a worker; the call returns once the task is queued.
    template <class F, class... Args>
        requires(!detail::call_prefix<F>)
    auto apply_async(F f, Args&&... args) {
        return AsyncResult(submit_apply(TaskOptions{}, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...));
    }
    /// As apply_async, with a timeout (TaskOptions::timeout).
    template <class F, class... Args>
    auto apply_async(TaskOptions options, F f, Args&&... args) {
        return AsyncResult(submit_apply(options, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...));
    }
    /// As apply_async, with Python's callback and error_callback (see Callbacks for their
    /// signatures): `pool.apply_async(mproc::error_callback(on_error), f, x)`.
    template <class C, class E, class F, class... Args>
        requires(!detail::call_prefix<F>)
    auto apply_async(Callbacks<C, E> handlers, F f, Args&&... args) {
        return AsyncResult(submit_apply(TaskOptions{}, std::move(handlers), std::move(f), std::forward<Args>(args)...));
    }
    /// As apply_async, with callbacks and a timeout.
    template <class C, class E, class F, class... Args>
    auto apply_async(Callbacks<C, E> handlers, TaskOptions options, F f, Args&&... args) {
        return AsyncResult(submit_apply(options, std::move(handlers), std::move(f), std::forward<Args>(args)...));
    }

    /// @}

    /// @name lifetime
    /// @{

    /// No more tasks may be submitted (PoolClosed); those submitted still run. Python: Pool.close.
    void close();
    /// Kills the workers now; unfinished tasks fail with PoolTerminated. Python: Pool.terminate.
    void terminate();
    /// Waits for all tasks and the workers' exit. Call close() or terminate() first (StateError
    /// otherwise; also from a callback). Python: Pool.join.
    void join();

    /// @}

    /// The number of workers (Python: the processes argument, or os.cpu_count()).
    int processes() const;
    /// Current worker pids (they change as workers are replaced). Python: [p.pid for p in
    /// pool._pool].
    std::vector<int> worker_pids() const;

private:
    static PoolOptions options_for(int processes) {
        PoolOptions options;
        options.processes = processes;
        return options;
    }

    // Blocking: the caller waits for the whole result, so its input outlives every job. An input
    // laid out as an array is then read in place instead of being copied first.
    enum class Blocking { no, yes };

    template <bool Spread, Blocking blocking = Blocking::no, class F, class Range, class C, class E>
    auto submit_map(F f, Range&& range, const MapOptions& options, Callbacks<C, E> handlers) {
        using Item = detail::range_item_t<Range>;
        detail::require_shippable_chunk<F, Item, Spread>();
        using V = detail::value_t<detail::item_result_t<F, Item, Spread>>;
        using Sink = detail::MapSink<V>;

        std::shared_ptr<const std::vector<Item>> copy;
        std::span<const Item> items;
        if constexpr (blocking == Blocking::yes && std::ranges::contiguous_range<Range> &&
                      std::ranges::sized_range<Range> &&
                      std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<Range>>, Item>) {
            items = std::span<const Item>(std::ranges::data(range), std::ranges::size(range));
        } else {
            auto owned = std::make_shared<std::vector<Item>>();
            if constexpr (std::ranges::sized_range<Range>) owned->reserve(std::ranges::size(range));
            for (auto&& item : range) owned->push_back(item);
            items = *owned;
            copy = std::move(owned);
        }
        std::size_t chunksize = options.chunksize;
        if (chunksize == 0) {
            // Python's rule: about four chunks per worker.
            const std::size_t chunks = static_cast<std::size_t>(processes()) * 4;
            chunksize = std::max<std::size_t>(1, (items.size() + chunks - 1) / chunks);
        }
        auto result = std::make_shared<detail::ResultState<std::vector<V>>>();
        detail::attach_callbacks(*result, handlers);
        result->set_helper(core());
        auto progress = options.progress ? std::make_unique<detail::Progress>(items.size(), detail::progress_output(options)) : nullptr;
        auto sink = std::make_shared<Sink>(items.size(), result, std::move(progress));
        // Nothing to run: the (empty) result is still delivered by the pool's thread, callbacks too.
        if (items.empty()) core()->post([sink] { sink->complete(); });
        std::vector<std::unique_ptr<detail::Job>> jobs;
        for (std::size_t offset = 0; offset < items.size(); offset += chunksize) {
            const std::size_t count = std::min(chunksize, items.size() - offset);
            auto job = std::make_unique<detail::ChunkJob<F, Item, Spread, Sink>>(f, copy, items.data() + offset, count, sink);
            job->first_index = static_cast<long>(offset);
            job->timeout = detail::to_timeout(options.timeout);
            job->runs_callbacks = detail::has_callbacks(handlers);
            jobs.push_back(std::move(job));
        }
        // All at once: if the pool refuses them (closed meanwhile), none was queued, and none
        // reads a borrowed input after this call throws.
        if (!jobs.empty()) core()->submit(jobs);
        return result;
    }

    template <bool Ordered, class F, class Range>
    auto make_imap(F f, Range&& range, const MapOptions& options) {
        using View = std::views::all_t<Range>;
        using Item = detail::range_item_t<View>;
        // Judged here, before ImapResults<F, ...> is instantiated: GCC 12 gets a closure type's
        // Transferable wrong when it is first asked while that class is being instantiated.
        detail::require_shippable_callable<F>();
        detail::require_shippable_chunk<F, Item, false>();
        return ImapResults<F, View, false, Ordered>(core(), std::move(f), std::views::all(std::forward<Range>(range)), options);
    }

    template <class C, class E, class F, class... Args>
    auto submit_apply(const TaskOptions& options, Callbacks<C, E> handlers, F f, Args&&... args) {
        using Item = detail::shipped_arguments_t<F, Args...>;
        detail::require_shippable_chunk<F, Item, true>();
        using R = detail::item_result_t<F, Item, true>;
        using Sink = detail::ApplySink<R>;
        auto result = std::make_shared<detail::ResultState<R>>();
        detail::attach_callbacks(*result, handlers);
        result->set_helper(core());
        auto items = std::make_shared<std::vector<Item>>();
        items->emplace_back(std::forward<Args>(args)...);
        const Item* data = items->data();
        auto job = std::make_unique<detail::ChunkJob<F, Item, true, Sink>>(f, std::move(items), data, 1,
                                                                            std::make_shared<Sink>(result));
        job->timeout = detail::to_timeout(options.timeout);
        job->runs_callbacks = detail::has_callbacks(handlers);
        core()->submit(std::move(job));
        return result;
    }

protected:
    /// For other backends (mproc::mpi::Pool): the same front end over another engine.
    explicit Pool(std::shared_ptr<detail::PoolCore> core) : core_(std::move(core)) {}

private:
    // The engine; StateError for a pool that was moved from.
    const std::shared_ptr<detail::PoolCore>& core() const {
        detail::live(core_, "mproc::Pool");
        return core_;
    }
    std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace mproc
