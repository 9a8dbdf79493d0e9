// mproc/detail/imap_stream.hpp: the machinery under mproc::ImapResults. It reads an imap's input
// lazily, keeps a bounded window of items in flight (sent as chunk jobs), and hands out the
// results, in input or completion order, as the iterating thread takes them.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <utility>
#include <vector>

#include <mproc/detail/chunk.hpp>
#include <mproc/detail/chunk_job.hpp>
#include <mproc/detail/handle.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/detail/pool_submit.hpp>
#include <mproc/detail/progress.hpp>
#include <mproc/detail/result_sinks.hpp>
#include <mproc/errors.hpp>
#include <mproc/pool_options.hpp>

namespace mproc::detail {

// How a stream reads its input: lazily (Pool::imap), or all of it at once (an executor's map,
// which Python also reads whole before it returns).
enum class Reading { lazily, at_once };

template <class F, class View, bool Spread, bool Ordered>
class ImapStream {
public:
    using Item = range_item_t<View>;
    using V = value_t<item_result_t<F, Item, Spread>>;

    // Starts sending the first items (all of them, read at_once).
    ImapStream(std::shared_ptr<PoolCore> core, F f, View input, const MapOptions& options,
               Reading reading = Reading::lazily)
        : input_(std::make_unique<Input>(std::move(core), std::move(input))),
          f_(std::move(f)),
          chunksize_(options.chunksize == 0 ? 1 : options.chunksize),
          // Enough items in flight to keep every worker busy, and no more.
          window_(reading == Reading::at_once
                      ? std::numeric_limits<std::size_t>::max()
                      : static_cast<std::size_t>(input_->core->processes()) * std::max<std::size_t>(4 * chunksize_, 256)),
          timeout_(to_timeout(options.timeout)),
          sink_(std::make_shared<Sink>(Ordered, options.progress ? std::make_unique<Progress>(known_size(input_->view), progress_output(options))
                                                                 : nullptr)),
          control_(reading == Reading::at_once ? &sink_->control : nullptr) {
        refill(PoolCore::Submission::new_work);
    }
    ImapStream(ImapStream&&) noexcept = default;
    ImapStream& operator=(ImapStream&&) noexcept = default;
    // Before the end: reads no more input; the items in flight still run, their results dropped.
    // An executor's map also cancels its items no worker has taken yet, as Python's does when
    // its iterator is closed.
    ~ImapStream() {
        if (!sink_) return;
        if (control_ && sink_->in_flight() != 0) input_->core->cancel_queued(control_);
        sink_->finish();
    }

    // The next result, waiting until `deadline` (TimeoutError past it), in place: valid until
    // the next call; nullptr once all are taken. Rethrows the item's exception. `type` names the
    // handle for a moved-from stream.
    V* next_before(std::chrono::steady_clock::time_point deadline, const char* type) {
        live(input_, type);
        if (taken_position_ == taken_.size()) {
            refill();
            if (sink_->in_flight() == 0) {
                // The input failed after the items before it: its exception comes after their
                // results, once, and ends the iteration (Python's imap does the same).
                if (input_->error) std::rethrow_exception(std::exchange(input_->error, nullptr));
                return nullptr;
            }
            input_->core->receive_stream();
            if (!sink_->take_due(taken_)) {
                std::size_t seen = sink_->arrivals();
                const bool helped = input_->core->help_until([&] {
                    const std::size_t arrivals = sink_->arrivals();
                    if (arrivals == seen) return false;
                    seen = arrivals;
                    return sink_->due();
                });
                const bool taken = sink_->take(deadline, taken_);
                if (!helped) input_->core->sleep_ended();
                if (!taken) throw TimeoutError("mproc: imap: no result within the timeout");
            }
            taken_position_ = 0;
            refill();
        }
        if (taken_.error) {
            ++taken_position_;
            std::rethrow_exception(taken_.error);
        }
        return &taken_.values[taken_position_++];
    }

private:
    using Sink = ImapSink<V>;
    struct Input;

    static std::optional<std::size_t> known_size(View& input) {
        if constexpr (std::ranges::sized_range<View>)
            return static_cast<std::size_t>(std::ranges::size(input));
        else
            return std::nullopt;
    }

    // Up to `room` items of the input, in one vector: a batch's jobs point into it.
    static std::shared_ptr<std::vector<Item>> read(Input& in, std::size_t room) {
        auto batch = std::make_shared<std::vector<Item>>();
        if constexpr (std::is_same_v<View, std::ranges::owning_view<std::vector<Item>>>) {
            // An executor's map hands over a vector of its own, read whole: taken, not copied.
            if (room >= in.view.size()) {
                *batch = std::move(in.view.base());
                in.exhausted = true;
                return batch;
            }
        }
        if constexpr (std::ranges::sized_range<View>)
            batch->reserve(std::min(room, static_cast<std::size_t>(std::ranges::size(in.view))));
        else
            batch->reserve(std::min<std::size_t>(room, 4096));
        try {
            for (; batch->size() < room && in.position != std::ranges::end(in.view); ++in.position)
                batch->push_back(*in.position);
            if (in.position == std::ranges::end(in.view)) in.exhausted = true;
        } catch (...) {
            // The items read so far still run; the error waits for their results.
            in.error = std::current_exception();
            in.exhausted = true;
        }
        return batch;
    }

    // Reads input until the window is full again, once it is half empty: refilling in batches
    // wakes each worker once per batch instead of once per item.
    void refill(PoolCore::Submission kind = PoolCore::Submission::continuation) {
        auto& in = *input_;
        if (in.exhausted || sink_->in_flight() > window_ / 2) return;
        auto batch = read(in, window_ - sink_->in_flight());
        auto jobs = chunk_jobs<F, Spread>(f_, batch, std::span<const Item>(*batch), sink_,
                                          {.chunksize = chunksize_, .first_index = next_index_, .timeout = timeout_});
        for (auto& job : jobs) job->control = control_;
        next_index_ += static_cast<long>(batch->size());
        sink_->submitted(batch->size());
        if (!jobs.empty()) {
            if (kind == PoolCore::Submission::new_work) {
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
        Input(std::shared_ptr<PoolCore> pool, View input)
            : core(std::move(pool)), view(std::move(input)), position(std::ranges::begin(view)) {
            core->open_stream();
        }
        ~Input() { close_stream(); }
        void close_stream() {
            if (open) core->close_stream();
            open = false;
        }

        std::shared_ptr<PoolCore> core;
        View view;
        std::ranges::iterator_t<View> position;
        bool exhausted = false;    // every item has been read, or reading the input threw
        std::exception_ptr error;  // what reading the input threw, until the iteration reaches it
        bool open = true;
    };

    std::unique_ptr<Input> input_;
    F f_;
    std::size_t chunksize_;
    std::size_t window_;
    std::optional<std::chrono::nanoseconds> timeout_;
    std::shared_ptr<Sink> sink_;
    TaskControl* control_;  // an executor's map: shared by its jobs, to cancel them (in sink_)
    // The run taken from the sink last, handed out one by one without its lock.
    typename Sink::Run taken_;
    std::size_t taken_position_ = 0;
    long next_index_ = 0;
};

}  // namespace mproc::detail
