// mproc/detail/pool_submit.hpp: how Pool's map, starmap and apply calls become jobs for the pool
// engine (pool_core.hpp): the input is read (or borrowed), cut into chunks (chunk_job.hpp) whose
// results gather in a sink (result_sinks.hpp) that completes the call's AsyncResult.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <ranges>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/async_result.hpp>
#include <mproc/detail/chunk.hpp>
#include <mproc/detail/chunk_job.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/detail/progress.hpp>
#include <mproc/detail/result_sinks.hpp>
#include <mproc/pool_options.hpp>

namespace mproc::detail {

template <class Range>
using range_item_t = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;

template <class T>
inline constexpr bool is_callbacks = false;
template <class C, class E>
inline constexpr bool is_callbacks<Callbacks<C, E>> = true;

// What may come before the function in an apply call: Callbacks, TaskOptions.
template <class T>
concept call_prefix = is_callbacks<std::remove_cvref_t<T>> || std::is_same_v<std::remove_cvref_t<T>, TaskOptions>;

template <class C, class E>
constexpr bool has_callbacks(const Callbacks<C, E>&) {
    return !std::is_same_v<C, NoCallback> || !std::is_same_v<E, NoCallback>;
}

template <class T, class C, class E>
void attach_callbacks(ResultState<T>& state, Callbacks<C, E>& callbacks) {
    if constexpr (!std::is_same_v<C, NoCallback>) state.set_callback(std::move(callbacks.callback));
    if constexpr (!std::is_same_v<E, NoCallback>) state.set_error_callback(std::move(callbacks.error_callback));
}

inline ProgressOutput progress_output(const MapOptions& options) {
    return {options.progress_label, options.progress_file, options.progress_fd, std::nullopt};
}

// Blocking: the caller waits for the whole result, so its input outlives every job. An input laid
// out as an array is then read in place instead of being copied first.
enum class Blocking { no, yes };

// map and starmap (Spread: each item is a tuple of arguments). The result is complete once every
// chunk has delivered.
template <bool Spread, Blocking blocking = Blocking::no, class F, class Range, class C = NoCallback,
          class E = NoCallback>
auto submit_map(const std::shared_ptr<PoolCore>& core, F f, Range&& range, const MapOptions& options,
                Callbacks<C, E> handlers = {}) {
    using Item = range_item_t<Range>;
    require_shippable_chunk<F, Item, Spread>();
    using V = value_t<item_result_t<F, Item, Spread>>;
    using Sink = MapSink<V>;

    std::shared_ptr<const std::vector<Item>> copy;
    std::span<const Item> items;
    if constexpr (blocking == Blocking::yes && std::ranges::contiguous_range<Range> && std::ranges::sized_range<Range> &&
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
        const std::size_t chunks = static_cast<std::size_t>(core->processes()) * 4;
        chunksize = std::max<std::size_t>(1, (items.size() + chunks - 1) / chunks);
    }
    auto result = std::make_shared<ResultState<std::vector<V>>>();
    attach_callbacks(*result, handlers);
    result->set_source(core);
    auto progress = options.progress ? std::make_unique<Progress>(items.size(), progress_output(options)) : nullptr;
    auto sink = std::make_shared<Sink>(items.size(), result, std::move(progress));
    // Nothing to run: the (empty) result is still delivered by the pool's thread, callbacks too.
    if (items.empty()) core->post([sink] { sink->complete(); });
    auto jobs = chunk_jobs<F, Spread>(f, copy, items, sink,
                                      {.chunksize = chunksize,
                                       .first_index = 0,
                                       .timeout = to_timeout(options.timeout),
                                       .runs_callbacks = has_callbacks(handlers)});
    if (!jobs.empty()) {
        TaskControl& control = result->enable_cancel(jobs.size());
        for (auto& job : jobs) job->control = &control;
    }
    // All at once: if the pool refuses them (closed meanwhile), none was queued, and none reads a
    // borrowed input after this call throws.
    if (!jobs.empty()) core->submit(jobs);
    return result;
}

// apply: one call, a chunk of one item (the tuple of its arguments).
template <class C, class E, class F, class... Args>
auto submit_apply(const std::shared_ptr<PoolCore>& core, const TaskOptions& options, Callbacks<C, E> handlers, F f,
                  Args&&... args) {
    using Item = shipped_arguments_t<F, Args...>;
    require_shippable_chunk<F, Item, true>();
    using R = item_result_t<F, Item, true>;
    using Sink = ApplySink<R>;
    auto result = std::make_shared<ResultState<R>>();
    attach_callbacks(*result, handlers);
    result->set_source(core);
    auto job = std::make_unique<ApplyJob<F, Item, Sink>>(f, Item(std::forward<Args>(args)...), Sink(result));
    job->set_timeout(to_timeout(options.timeout));
    job->runs_callbacks = has_callbacks(handlers);
    job->control = &result->enable_cancel(1);
    core->submit(std::move(job));
    return result;
}

}  // namespace mproc::detail
