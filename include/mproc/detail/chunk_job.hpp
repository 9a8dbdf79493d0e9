// mproc/detail/chunk_job.hpp: a chunk of one map, imap or apply call as the pool engine sees it
// (a Job, pool_core.hpp): it encodes its items as chunk.hpp lays them out and decodes the reply
// into the call's result sink (result_sinks.hpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <mproc/detail/chunk.hpp>
#include <mproc/detail/pool_core.hpp>

namespace mproc::detail {

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
    void deliver(Reader& reply) override {
        if (cancelled()) return fail(nullptr);
        decode_chunk_reply<R>(reply, first_index, count_, *sink_);
    }
    void fail(std::exception_ptr error) override {
        if (cancelled()) error = cancelled_error();
        for (std::size_t i = 0; i < count_; ++i) sink_->deliver_error(first_index + static_cast<long>(i), error);
    }

private:
    F f_;
    std::shared_ptr<const void> owner_;
    const Item* items_;
    std::size_t count_;
    std::shared_ptr<Sink> sink_;
};

// The single call of an apply: its arguments and its result's sink live in the job itself, so
// that a submit costs one allocation for the job (a submit-heavy program makes millions).
template <class F, class Item, class Sink>
class ApplyJob final : public Job {
public:
    using R = item_result_t<F, Item, true>;

    ApplyJob(const F& f, Item arguments, Sink sink) : f_(f), arguments_(std::move(arguments)), sink_(std::move(sink)) {}

    void encode(Writer& out) override { pack_chunk<F, Item, true>(out, f_, std::span<const Item>(&arguments_, 1)); }
    void deliver(Reader& reply) override {
        if (cancelled()) return fail(nullptr);
        decode_chunk_reply<R>(reply, first_index, 1, sink_);
    }
    void fail(std::exception_ptr error) override {
        if (cancelled()) error = cancelled_error();
        sink_.deliver_error(first_index, std::move(error));
    }

private:
    F f_;
    Item arguments_;
    Sink sink_;
};

// What the jobs cut from one batch of items share.
struct ChunkPlan {
    std::size_t chunksize = 1;
    // Index of the batch's first item in its call's input.
    long first_index = 0;
    std::optional<std::chrono::nanoseconds> timeout;
    bool runs_callbacks = false;
};

// Cuts `items` (kept alive by `owner`, as ChunkJob says) into jobs of plan.chunksize items.
template <class F, bool Spread, class Item, class Sink>
std::vector<std::unique_ptr<Job>> chunk_jobs(const F& f, const std::shared_ptr<const void>& owner,
                                             std::span<const Item> items, const std::shared_ptr<Sink>& sink,
                                             const ChunkPlan& plan) {
    std::vector<std::unique_ptr<Job>> jobs;
    jobs.reserve((items.size() + plan.chunksize - 1) / plan.chunksize);
    for (std::size_t offset = 0; offset < items.size(); offset += plan.chunksize) {
        const std::size_t count = std::min(plan.chunksize, items.size() - offset);
        auto job = std::make_unique<ChunkJob<F, Item, Spread, Sink>>(f, owner, items.data() + offset, count, sink);
        job->first_index = plan.first_index + static_cast<long>(offset);
        job->set_timeout(plan.timeout);
        job->runs_callbacks = plan.runs_callbacks;
        jobs.push_back(std::move(job));
    }
    return jobs;
}

inline std::optional<std::chrono::nanoseconds> to_timeout(std::optional<std::chrono::duration<double>> timeout) {
    if (!timeout) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout);
}

}  // namespace mproc::detail
