#include "pool/worker.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include <mproc/detail/item_marker.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/log.hpp>

#include "launch.hpp"
#include "mapping_cache.hpp"
#include "message_fds.hpp"
#include "os/memfd.hpp"
#include "os_error.hpp"
#include "os/spin.hpp"

namespace mproc {
namespace pool {
namespace {

// Releases a task's record once, whether its decoder let it go early (release_input) or the task
// failed: a second release of a spilled record would free the spill area under the next message.
struct ReleaseContext {
    transport::Ring* ring;
    const transport::Record* record;
    bool released = false;

    void release() {
        if (!std::exchange(released, true)) ring->release(*record);
    }
};

void release_task(void* context) { static_cast<ReleaseContext*>(context)->release(); }

struct ParentLink {
    const PoolSignals& signals;
    ReplyCount& reply_count;
    const os::EventFd& wake;
};

// `now`: the steady clock read at the end of the task, or earlier (0: not read), for the stream
// lease. An earlier time that still falls within the lease is checked against the clock: the
// parent is left asleep only while the lease truly runs.
void publish(Channel& channel, const ParentLink& parent, int fd_socket, Writer& reply, std::int64_t now) {
    if (!reply.fds().empty()) {
        try {
            detail::send_fds(fd_socket, reply.fds());
        } catch (...) {
            reply.truncate(0);
            reply.clear_fds();
            detail::encode_current_exception(reply);
        }
    }
    channel.replies.commit();
    // A full barrier too. Pairs with the parent's fences before its pool thread sleeps and after a
    // helper stops: either the parent sees the reply, or we see that it must be woken.
    parent.reply_count.replies.fetch_add(1);
    const PoolSignals& signals = parent.signals;
    if (signals.helpers.load() != 0) return;
    if (const std::int64_t lease = signals.stream_lease_ns.load(); now < lease && steady_now_ns() < lease) return;
    const std::uint32_t sleep = signals.sleep_generation.load();
    if (sleep % 2 == 1 && channel.status->woke_generation.exchange(sleep) != sleep) parent.wake.notify();
}

// How long an idle worker sleeps before it looks for dropped objects again: forever when it holds
// none.
std::optional<std::chrono::nanoseconds> idle_sweep_interval(bool holding_mappings) {
    if (!holding_mappings) return std::nullopt;
    return std::chrono::milliseconds(100);
}

}  // namespace

int run_worker(Channel& channel, const PoolSignals& signals, ReplyCount& reply_count, const os::EventFd& parent_wake,
               int fd_socket, std::span<const std::byte> initializer, std::span<const int> initializer_fds,
               long max_tasks) {
    const ParentLink parent{signals, reply_count, parent_wake};
    // Tasks often take the same shared objects again: keep them mapped (mapping_cache.hpp).
    detail::enable_mapping_cache();
    detail::ItemMarker::set_current(&channel.status->current_item, nullptr);
    bool initialized = true;
    {
        Writer& out = channel.replies.begin(ready_message, 0);
        if (initializer.empty()) {
            out.write_value(detail::ReplyStatus::value);
        } else {
            Reader in(initializer, initializer_fds);
            detail::run_packed_call(in, out);
            initialized = *out.data_at(0) == static_cast<std::byte>(detail::ReplyStatus::value);
        }
        publish(channel, parent, fd_socket, out, steady_now_ns());
    }
    if (!initialized) return 1;

    // A worker waiting for its next task spins for a while, so that a task sent soon after its
    // last reply is taken without a wake-up at either end: when a parent thread is waiting for a
    // result (apply().get(), the end of a map), it may well send the next task as soon as it
    // gets this one's reply. Otherwise the parent is busy elsewhere, often taking a stream of
    // results: a spinning worker would only compete for its CPU (and, always runnable, be moved
    // to it), and the parent sends jobs in batches, a wake-up per batch. A spinning worker yields
    // its CPU now and then, for the parent may be waiting for this very CPU.
    const bool spin = signals.workers_spin.load(std::memory_order_relaxed) != 0;
    os::SpinBudget budget;
    // Tasks that come back to back make a run, timed as a whole: the clock is read when a run
    // ends (the ring is empty, a timed task comes, or it has run_length tasks), not once per task,
    // for a read can cost as much as a tiny task itself. The run's time, spread over its tasks,
    // feeds the average the parent plans with. A timed task is a run of its own: its start is
    // read from the clock, for its timeout counts from it.
    constexpr long run_length = 16;
    std::int64_t run_start = 0;  // when the run under way began; 0 before the first task
    long run_tasks = 0;
    const auto end_run = [&](std::int64_t now) {
        const std::int64_t took = (now - run_start) / run_tasks;
        const std::int64_t average = channel.status->average_task_ns.load(std::memory_order_relaxed);
        channel.status->average_task_ns.store(average == 0 ? took : (4 * average + took) / 5, std::memory_order_relaxed);
        run_tasks = 0;
    };
    for (long done = 0; max_tasks <= 0 || done < max_tasks; ++done) {
        // Mappings whose objects the parent has dropped are let go after each task, and now and
        // then while idle, so that the memory behind them is freed without waiting for a task.
        const bool holding_mappings = detail::sweep_released_mappings();
        bool spun_in_vain = false;
        if (spin && signals.helpers.load(std::memory_order_relaxed) > 0)
            spun_in_vain = !os::spin_until_yielding(budget, [&] { return !channel.tasks.empty(); });
        const bool was_waiting = !channel.tasks.empty();
        // (A timed wait reads the clock: none when a task is already there.)
        auto record = channel.tasks.wait(was_waiting ? std::nullopt : idle_sweep_interval(holding_mappings));
        while (!record) record = channel.tasks.wait(idle_sweep_interval(detail::sweep_released_mappings()));
        if (spun_in_vain) budget.woke();
        if (record->type == exit_message) {
            channel.tasks.release(*record);
            return 0;
        }
        // A timed task's items record their start too (see ItemMarker).
        detail::ItemMarker::set_current(&channel.status->current_item, record->type == timed_task_message
                                                                            ? &channel.status->item_started_ns
                                                                            : nullptr);
        channel.status->current_item.store(0, std::memory_order_relaxed);
        const bool timed = record->type == timed_task_message;
        if (timed || !was_waiting || run_start == 0) {
            const std::int64_t now = steady_now_ns();
            if (run_tasks > 0) end_run(now);
            run_start = now;
        }
        // (For an untimed task, only an estimate: nothing counts from it.)
        channel.status->item_started_ns.store(run_start, std::memory_order_relaxed);
        channel.status->current_task.store(record->tag, std::memory_order_release);
        ReleaseContext release{&channel.tasks, &*record};
        Writer& out = channel.replies.begin(reply_message, record->tag);
        std::vector<os::UniqueFd> received;
        std::vector<int> fds;
        try {
            if (record->fd_count) received = detail::receive_fds(fd_socket, record->fd_count);
            for (const auto& fd : received) fds.push_back(fd.get());
            Reader in(record->payload, fds);
            in.on_release(&release_task, &release);
            detail::run_packed_call(in, out);
            in.release_input();
        } catch (...) {
            release.release();
            detail::encode_current_exception(out);
        }
        std::int64_t now = 0;
        if (++run_tasks == run_length || timed || channel.tasks.empty()) {
            now = steady_now_ns();
            end_run(now);
            // The next task, if it is waiting by then, starts a run now.
            run_start = now;
        }
        publish(channel, parent, fd_socket, out, now);
        channel.status->current_task.store(0, std::memory_order_relaxed);
    }
    return 0;
}

}  // namespace pool

namespace {

// A worker started by spawn or forkserver: it maps what its parent set up, then lives as a forked
// worker does. The order of the payload and the descriptors is LocalEngine::worker_bootstrap's.
int run_spawned_worker(Reader& payload, std::vector<os::UniqueFd>& fds) {
    const auto max_message_size = static_cast<std::size_t>(payload.read_value<std::uint64_t>());
    const auto max_tasks = payload.read_value<std::int64_t>();
    const auto initializer = decode<std::vector<std::byte>>(payload);
    detail::adopt_worker_log_settings(decode<std::string>(payload));
    constexpr std::size_t own_fds = 7;
    if (fds.size() < own_fds) payload.fail("pool worker bootstrap without its descriptors");
    auto region = detail::or_throw(os::MappedMemfd::attach(std::move(fds[0]), pool::Channel::region_size()));
    const os::UniqueFd task_spill = std::move(fds[1]);
    const os::UniqueFd reply_spill = std::move(fds[2]);
    const auto signals = detail::or_throw(
        os::MappedMemfd::attach(std::move(fds[3]), sizeof(pool::PoolSignals), os::Mapping::Access::read_only));
    auto reply_count = detail::or_throw(os::MappedMemfd::attach(std::move(fds[4]), sizeof(pool::ReplyCount)));
    const os::EventFd parent_wake(std::move(fds[5]));
    const os::UniqueFd fd_socket = std::move(fds[6]);
    std::vector<int> initializer_fds;
    for (std::size_t i = own_fds; i < fds.size(); ++i) initializer_fds.push_back(fds[i].get());
    pool::Channel channel(region.data(), task_spill.get(), reply_spill.get(), max_message_size,
                          pool::Channel::Setup::attach);
    return pool::run_worker(channel, *reinterpret_cast<const pool::PoolSignals*>(signals.data()),
                            *reinterpret_cast<pool::ReplyCount*>(reply_count.data()), parent_wake, fd_socket.get(),
                            initializer, initializer_fds, max_tasks);
}

const launch::EntryRegistration worker_registration(pool::worker_entry, "pool worker", &run_spawned_worker);

}  // namespace

}  // namespace mproc
