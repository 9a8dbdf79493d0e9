#pragma once
// The progress bar of map and imap (MapOptions::progress). Its text is a pure function of its
// state and the time, so that it can be tested without time passing; Progress adds the clock,
// the lock and the stream. Defined in src/pool/progress.cpp.

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace mproc::detail {

struct ProgressState {
    using Clock = std::chrono::steady_clock;

    std::string label;
    std::optional<std::size_t> total;
    std::size_t done = 0;
    Clock::time_point start;
    // On a terminal the bar is redrawn in place ("\r") ten times a second at most; elsewhere (a
    // pipe, a log file) it is written as whole lines, one each tenth of the total or each 30 s.
    bool terminal = false;
    Clock::time_point last_draw;
    std::size_t last_drawn_done = 0;
    bool drawn = false;
};

// tqdm's interval: "mm:ss", or "h:mm:ss" from an hour on.
std::string format_interval(double seconds);
// tqdm's rate: "12.34 items/s", or "2.50 s/item" when slower than one item a second; "? items/s"
// before any item is done.
std::string format_rate(std::size_t done, double seconds);
// The bar's line, without "\r" or newline:
//   "squares:  45%|#########           | 450/1000 [00:12<00:15, 36.50 items/s]"
//   "squares: 450 done [00:12, 36.50 items/s]"   (total unknown)
std::string format_progress(const ProgressState& state, ProgressState::Clock::time_point now);
// Whether the bar is due to be drawn at `now`; `final`: the run is over (in a log, its last line
// is not repeated).
bool progress_due(const ProgressState& state, ProgressState::Clock::time_point now, bool final);

// Where and how a bar is drawn: to `file`, else to the descriptor `fd`, else to stderr.
// `terminal` unset: whether that is a terminal (isatty).
struct ProgressOutput {
    std::string label;
    std::FILE* file = nullptr;
    int fd = -1;
    std::optional<bool> terminal;
};

class Progress {
public:
    Progress(std::optional<std::size_t> total, ProgressOutput output = {});
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    void advance(std::size_t items);
    void finish();

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace mproc::detail
