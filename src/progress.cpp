#include <mproc/detail/pool_core.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace mproc::detail {

struct Progress::State {
    using Clock = std::chrono::steady_clock;
    static constexpr auto redraw_interval = std::chrono::milliseconds(100);

    std::mutex mutex;
    std::optional<std::size_t> total;
    std::size_t done = 0;
    Clock::time_point start = Clock::now();
    Clock::time_point last_draw{};
    bool finished = false;
    bool terminal = ::isatty(STDERR_FILENO) == 1;

    void draw(bool final) {
        const auto now = Clock::now();
        if (!final && now - last_draw < redraw_interval) return;
        last_draw = now;
        const double seconds = std::chrono::duration<double>(now - start).count();
        const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
        char line[160];
        if (total) {
            const double fraction = *total ? static_cast<double>(done) / static_cast<double>(*total) : 1.0;
            constexpr int width = 30;
            std::string bar(static_cast<std::size_t>(fraction * width), '#');
            bar.resize(width, '.');
            const double left = rate > 0 ? static_cast<double>(*total - done) / rate : 0;
            std::snprintf(line, sizeof line, "[%s] %zu/%zu  %.1f items/s  %.1fs left", bar.c_str(), done, *total, rate,
                          left);
        } else {
            std::snprintf(line, sizeof line, "%zu done  %.1f items/s", done, rate);
        }
        // On a terminal the bar redraws in place; in a log, one line per redraw.
        std::fprintf(stderr, terminal ? "\r%s\033[K%s" : "%s%s", line, final || !terminal ? "\n" : "");
        std::fflush(stderr);
    }
};

Progress::Progress(std::optional<std::size_t> total) : state_(std::make_unique<State>()) { state_->total = total; }

Progress::~Progress() { finish(); }

void Progress::advance(std::size_t items) {
    std::lock_guard lock(state_->mutex);
    state_->done += items;
    if (!state_->finished) state_->draw(false);
}

void Progress::finish() {
    std::lock_guard lock(state_->mutex);
    if (state_->finished) return;
    state_->finished = true;
    state_->draw(true);
}

}  // namespace mproc::detail
