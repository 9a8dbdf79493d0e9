// A worker rank: serves the pools of rank 0 until told to stop.
//
// Each task message carries a packed job, exactly what a local worker receives; its reply goes back
// as the local worker's would. Without local processes the rank runs the task itself, between two
// polls. With local processes (hierarchical mode) the rank is the parent of a local mproc::Pool:
// tasks are forwarded to it unchanged, and its replies (or its verdicts: WorkerCrashed,
// TimeoutError, PoolTerminated) are sent back as they come, from this thread, the only one here
// that calls MPI.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>

#include <mproc/detail/pool_core.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>

#include "runtime.hpp"

namespace mproc::mpi::detail {
namespace {

using mproc::detail::Job;
using mproc::detail::PoolCore;

template <class Header>
Header read_header(const Message& message) {
    Header header;
    if (message.bytes.size() < sizeof header)
        throw SerializationError("mproc::mpi: truncated message (tag " + std::to_string(message.tag) + ")");
    std::memcpy(&header, message.bytes.data(), sizeof header);
    return header;
}

// A reply whose value cannot go to rank 0 becomes the error saying why.
void replace_with_error(std::vector<std::byte>& reply, std::size_t keep, const std::string& why) {
    reply.resize(keep);
    Writer out(reply);
    try {
        throw SerializationError(why);
    } catch (...) {
        mproc::detail::encode_current_exception(out);
    }
}

std::vector<std::byte> reply_header(std::uint64_t id) {
    std::vector<std::byte> reply(sizeof(ReplyHeader));
    const ReplyHeader header{id};
    std::memcpy(reply.data(), &header, sizeof header);
    return reply;
}

// Replies of the local pool, waiting for the main thread to send them.
struct Outbox {
    std::mutex mutex;
    std::condition_variable arrived;
    std::deque<std::vector<std::byte>> replies;

    void push(std::vector<std::byte> reply) {
        {
            std::lock_guard lock(mutex);
            replies.push_back(std::move(reply));
        }
        arrived.notify_one();
    }
};

// A task forwarded to the local pool: the same packed job, its reply passed back as it is.
class ForwardJob final : public Job {
public:
    ForwardJob(std::uint64_t id, Message message, std::shared_ptr<Outbox> outbox)
        : id_(id), message_(std::move(message)), outbox_(std::move(outbox)) {}

    void encode(Writer& out) override {
        out.write(message_.bytes.data() + sizeof(TaskHeader), message_.bytes.size() - sizeof(TaskHeader));
    }
    void deliver(Reader& reply) override {
        const auto rest = reply.take(reply.remaining());
        auto bytes = reply_header(id_);
        if (rest.size() > max_mpi_message - sizeof(ReplyHeader)) {
            replace_with_error(bytes, sizeof(ReplyHeader), "mproc::mpi: the result is larger than an MPI message can be (2 GiB)");
        } else {
            bytes.resize(sizeof(ReplyHeader) + rest.size());
            std::copy(rest.begin(), rest.end(), bytes.begin() + sizeof(ReplyHeader));
        }
        outbox_->push(std::move(bytes));
    }
    void fail(std::exception_ptr error) override {
        auto bytes = reply_header(id_);
        Writer out(bytes);
        try {
            std::rethrow_exception(error);
        } catch (...) {
            mproc::detail::encode_current_exception(out);
        }
        outbox_->push(std::move(bytes));
    }

private:
    std::uint64_t id_;
    Message message_;
    std::shared_ptr<Outbox> outbox_;
};

class WorkerRank {
public:
    // Returns when rank 0 says stop.
    void run() {
        Backoff backoff;
        for (;;) {
            bool progressed = flush();
            if (auto message = poll(0)) {
                if (message->tag == stop_tag) break;
                handle(*message);
                progressed = true;
            }
            if (progressed) {
                backoff.reset();
            } else if (local_) {
                // Replies of the local pool wake us at once.
                std::unique_lock lock(outbox_->mutex);
                if (const auto wait = backoff.next(); wait.count() > 0)
                    outbox_->arrived.wait_for(lock, wait, [&] { return !outbox_->replies.empty(); });
                else {
                    lock.unlock();
                    backoff.pause();
                }
            } else {
                backoff.pause();
            }
        }
        end_pool();
    }

private:
    void handle(Message& message) {
        switch (message.tag) {
            case task_tag: return run_task(message);
            case start_tag: return start_pool(message);
            case cancel_tag:
                if (local_) local_->terminate();
                return;
            case end_tag:
                end_pool();
                return send(0, ended_tag, {});
            default: return;  // not ours to answer
        }
    }

    void start_pool(const Message& message) {
        end_pool();
        const auto header = read_header<StartHeader>(message);
        const std::span<const std::byte> initializer(message.bytes.data() + sizeof header,
                                                     message.bytes.size() - sizeof header);
        std::vector<std::byte> ready(sizeof(ReadyHeader));
        const ReadyHeader ready_header{static_cast<std::int32_t>(::getpid())};
        std::memcpy(ready.data(), &ready_header, sizeof ready_header);
        Writer out(ready);
        if (header.local_processes > 0) {
            mproc::detail::PoolConfig config;
            config.processes = header.local_processes;
            config.start_method = get_start_method();
            config.max_message_size = header.max_message_size;
            config.initializer.assign(initializer.begin(), initializer.end());
            try {
                local_ = PoolCore::start(config);
                outbox_ = std::make_shared<Outbox>();
                out.write_value(mproc::detail::ReplyStatus::value);
            } catch (...) {
                mproc::detail::encode_current_exception(out);
            }
        } else if (initializer.empty()) {
            out.write_value(mproc::detail::ReplyStatus::value);
        } else {
            Reader in(initializer);
            mproc::detail::run_packed_call(in, out);
        }
        send(0, ready_tag, ready);
    }

    void run_task(Message& message) {
        const auto header = read_header<TaskHeader>(message);
        if (local_) {
            auto job = std::make_unique<ForwardJob>(header.id, std::move(message), outbox_);
            if (header.timeout_ns >= 0) job->set_timeout(std::chrono::nanoseconds(header.timeout_ns));
            job->first_index = static_cast<long>(header.first_index);
            std::vector<std::unique_ptr<Job>> jobs;
            jobs.push_back(std::move(job));
            try {
                local_->submit(jobs);
            } catch (...) {
                // Refused (the local pool was cancelled): the job is still ours to answer.
                for (auto& refused : jobs) refused->fail(std::current_exception());
            }
            return;
        }
        auto reply = reply_header(header.id);
        {
            Writer out(reply);
            Reader in(std::span<const std::byte>(message.bytes).subspan(sizeof header));
            mproc::detail::run_packed_call(in, out);
            if (!out.fds().empty())
                replace_with_error(reply, sizeof(ReplyHeader),
                                   "mproc::mpi::Pool: the result holds a shared object (Value, Array, Lock, Queue, ...); "
                                   "shared objects only work with the local mproc::Pool");
        }
        if (reply.size() > max_mpi_message)
            replace_with_error(reply, sizeof(ReplyHeader), "mproc::mpi: the result is larger than an MPI message can be (2 GiB)");
        send(0, reply_tag, reply);
    }

    // Sends what the local pool has answered. Returns whether there was anything.
    bool flush() {
        if (!outbox_) return false;
        std::deque<std::vector<std::byte>> replies;
        {
            std::lock_guard lock(outbox_->mutex);
            replies.swap(outbox_->replies);
        }
        for (const auto& reply : replies) send(0, reply_tag, reply);
        return !replies.empty();
    }

    // Every task answered, then the local pool (if any) is gone.
    void end_pool() {
        if (local_) {
            if (!local_->is_terminated()) local_->close();
            local_->join();
            local_.reset();
        }
        flush();
        outbox_.reset();
    }

    std::shared_ptr<PoolCore> local_;
    std::shared_ptr<Outbox> outbox_;
};

}  // namespace

void serve() { WorkerRank().run(); }

}  // namespace mproc::mpi::detail
