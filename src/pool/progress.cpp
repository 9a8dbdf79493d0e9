#include <mproc/detail/progress.hpp>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <span>
#include <string>

#include "os/io.hpp"

namespace mproc::detail {
namespace {

constexpr auto terminal_redraw = std::chrono::milliseconds(100);
// Without a terminal every line stays: one per tenth of the total, or per this long at most.
constexpr auto log_redraw = std::chrono::seconds(30);
constexpr std::size_t bar_width = 20;

double seconds_between(ProgressState::Clock::time_point from, ProgressState::Clock::time_point to) {
    return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

std::size_t tenths(std::size_t done, std::size_t total) { return total ? done * 10 / total : 10; }

}  // namespace

std::string format_interval(double seconds) {
    const auto whole = static_cast<long long>(std::max(0.0, seconds));
    const long long hours = whole / 3600, minutes = whole % 3600 / 60, secs = whole % 60;
    char text[48];
    if (hours)
        std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", hours, minutes, secs);
    else
        std::snprintf(text, sizeof text, "%02lld:%02lld", minutes, secs);
    return text;
}

std::string format_rate(std::size_t done, double seconds) {
    if (done == 0 || seconds <= 0) return "? items/s";
    const double rate = static_cast<double>(done) / seconds;
    char text[64];
    if (rate >= 1)
        std::snprintf(text, sizeof text, "%.2f items/s", rate);
    else
        std::snprintf(text, sizeof text, "%.2f s/item", 1 / rate);
    return text;
}

std::string format_progress(const ProgressState& state, ProgressState::Clock::time_point now) {
    const double elapsed = seconds_between(state.start, now);
    std::string line = state.label.empty() ? "" : state.label + ": ";
    if (!state.total) {
        line += std::to_string(state.done) + " done [" + format_interval(elapsed) + ", " +
                format_rate(state.done, elapsed) + "]";
        return line;
    }
    const std::size_t total = *state.total;
    const std::size_t done = std::min(state.done, total);
    // Rounded down, as the bar: 100% only once everything is done.
    const std::size_t percent = total ? done * 100 / total : 100;
    const std::size_t filled = total ? done * bar_width / total : bar_width;
    std::string remaining = "?";
    if (done == total)
        remaining = format_interval(0);
    else if (done > 0 && elapsed > 0)
        remaining = format_interval(static_cast<double>(total - done) * elapsed / static_cast<double>(done));
    char percent_text[8];
    std::snprintf(percent_text, sizeof percent_text, "%3zu%%", percent);
    line += percent_text;
    line += '|' + std::string(filled, '#') + std::string(bar_width - filled, ' ') + "| ";
    line += std::to_string(done) + '/' + std::to_string(total) + " [" + format_interval(elapsed) + '<' + remaining +
            ", " + format_rate(done, elapsed) + "]";
    return line;
}

bool progress_due(const ProgressState& state, ProgressState::Clock::time_point now, bool final) {
    // In a log, the last line written may be the final one already.
    if (final) return state.terminal || !state.drawn || state.last_drawn_done != state.done;
    if (!state.drawn) return true;
    if (state.terminal) return now - state.last_draw >= terminal_redraw;
    if (state.total && tenths(state.done, *state.total) > tenths(state.last_drawn_done, *state.total)) return true;
    return now - state.last_draw >= log_redraw;
}

struct Progress::State {
    std::mutex mutex;
    ProgressState bar;
    std::FILE* file = nullptr;
    int fd = -1;
    bool finished = false;

    void write(const std::string& text) {
        if (file) {
            std::fwrite(text.data(), 1, text.size(), file);
            std::fflush(file);
            return;
        }
        // A bar that cannot be drawn is not worth failing the map for.
        (void)os::write_all(fd, std::as_bytes(std::span(text)));
    }

    void draw(bool final) {
        const auto now = ProgressState::Clock::now();
        if (!progress_due(bar, now, final)) return;
        const std::string line = format_progress(bar, now);
        // On a terminal the bar is redrawn in place, and the line cleared past its end.
        write(bar.terminal ? "\r" + line + "\033[K" + (final ? "\n" : "") : line + "\n");
        bar.drawn = true;
        bar.last_draw = now;
        bar.last_drawn_done = bar.done;
    }
};

Progress::Progress(std::optional<std::size_t> total, ProgressOutput output) : state_(std::make_unique<State>()) {
    auto& state = *state_;
    state.bar.label = std::move(output.label);
    state.bar.total = total;
    state.bar.start = ProgressState::Clock::now();
    if (output.file) {
        state.file = output.file;
    } else if (output.fd >= 0) {
        state.fd = output.fd;
    } else {
        state.file = stderr;
    }
    const int fd = state.file ? ::fileno(state.file) : state.fd;
    state.bar.terminal = output.terminal.value_or(os::is_terminal(fd));
    std::lock_guard lock(state.mutex);
    state.draw(false);  // 0% at once, as tqdm
}

Progress::~Progress() { finish(); }

void Progress::advance(std::size_t items) {
    std::lock_guard lock(state_->mutex);
    state_->bar.done += items;
    if (!state_->finished) state_->draw(false);
}

void Progress::finish() {
    std::lock_guard lock(state_->mutex);
    if (state_->finished) return;
    state_->finished = true;
    state_->draw(true);
}

}  // namespace mproc::detail
