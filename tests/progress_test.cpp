// The progress bar of map and imap: its text (a pure function of its state and the time, tested
// without time passing), when it is drawn, and where: in place on a terminal (a pseudo-terminal
// here), as whole lines in a pipe or a file.
#include <mproc/pool.hpp>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ranges>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::detail::format_interval;
using mproc::detail::format_progress;
using mproc::detail::format_rate;
using mproc::detail::progress_due;
using mproc::detail::ProgressState;
using mproc::test::LeakCheck;

int square(int x) { return x * x; }

ProgressState state(std::optional<std::size_t> total, std::size_t done, std::string label = "") {
    ProgressState s;
    s.label = std::move(label);
    s.total = total;
    s.done = done;
    s.start = ProgressState::Clock::time_point{} + 1h;
    return s;
}

// Everything a descriptor yields until it has been quiet for a while (or is closed).
std::string read_all(int fd) {
    std::string text;
    char buffer[4096];
    for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 500) <= 0) return text;
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) return text;
        text.append(buffer, static_cast<std::size_t>(n));
    }
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t begin = 0;
    for (std::size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1)
        lines.push_back(text.substr(begin, end - begin));
    if (begin < text.size()) lines.push_back(text.substr(begin));
    return lines;
}

// The lines a non-terminal bar writes over a simulated run: `items` items, one each `every`.
std::vector<std::string> simulate(std::optional<std::size_t> total, std::size_t items,
                                  std::chrono::milliseconds every, bool terminal = false) {
    ProgressState s = state(total, 0);
    s.terminal = terminal;
    std::vector<std::string> drawn;
    auto draw = [&](ProgressState::Clock::time_point now, bool final) {
        if (!progress_due(s, now, final)) return;
        drawn.push_back(format_progress(s, now));
        s.drawn = true;
        s.last_draw = now;
        s.last_drawn_done = s.done;
    };
    draw(s.start, false);
    auto now = s.start;
    for (std::size_t i = 0; i < items; ++i) {
        now += every;
        ++s.done;
        draw(now, false);
    }
    draw(now, true);
    return drawn;
}

TEST(ProgressFormat, LooksLikeTqdm) {
    const auto s = state(1000, 450, "squares");
    EXPECT_EQ(format_progress(s, s.start + 12s), "squares:  45%|#########           | 450/1000 [00:12<00:14, 37.50 items/s]");
    const auto done = state(1000, 1000, "squares");
    EXPECT_EQ(format_progress(done, done.start + 20s),
              "squares: 100%|####################| 1000/1000 [00:20<00:00, 50.00 items/s]");
}

TEST(ProgressFormat, WithoutLabelStartsWithThePercentage) {
    const auto s = state(10, 0);
    EXPECT_EQ(format_progress(s, s.start), "  0%|                    | 0/10 [00:00<?, ? items/s]");
}

TEST(ProgressFormat, PercentageIsRoundedDownSoThatOnlyTheEndShowsAHundred) {
    const auto s = state(1000, 999);
    EXPECT_EQ(format_progress(s, s.start + 1s).substr(0, 4), " 99%");
}

TEST(ProgressFormat, UnknownTotalShowsDoneElapsedAndRate) {
    const auto s = state(std::nullopt, 30, "lines");
    EXPECT_EQ(format_progress(s, s.start + 2s), "lines: 30 done [00:02, 15.00 items/s]");
}

TEST(ProgressFormat, IntervalsAreMinutesAndSecondsUnderAnHourThenHours) {
    EXPECT_EQ(format_interval(0), "00:00");
    EXPECT_EQ(format_interval(59.9), "00:59");
    EXPECT_EQ(format_interval(61), "01:01");
    EXPECT_EQ(format_interval(3599), "59:59");
    EXPECT_EQ(format_interval(3600), "1:00:00");
    EXPECT_EQ(format_interval(5234.2), "1:27:14");
    EXPECT_EQ(format_interval(-1), "00:00");
}

TEST(ProgressFormat, SlowTasksShowSecondsPerItemNotZeroItemsPerSecond) {
    EXPECT_EQ(format_rate(3, 30), "10.00 s/item");
    EXPECT_EQ(format_rate(1, 1), "1.00 items/s");
    EXPECT_EQ(format_rate(0, 5), "? items/s");
    const auto s = state(100, 3, "slow");
    EXPECT_EQ(format_progress(s, s.start + 30s), "slow:   3%|                    | 3/100 [00:30<16:10, 10.00 s/item]");
}

TEST(ProgressFormat, LongRunsShowHoursLeft) {
    const auto s = state(10000, 100);
    EXPECT_NE(format_progress(s, s.start + 60s).find("[01:00<1:39:00, 1.67 items/s]"), std::string::npos);
}

TEST(ProgressDrawing, InALogOneLineEachTenthOfTheWay) {
    const auto lines = simulate(1000, 1000, 10ms);
    ASSERT_EQ(lines.size(), 11u);  // 0%, 10%, ..., 100%; the final line is not repeated
    EXPECT_EQ(lines.front().substr(0, 4), "  0%");
    EXPECT_EQ(lines[5].substr(0, 4), " 50%");
    EXPECT_EQ(lines.back().substr(0, 4), "100%");
}

TEST(ProgressDrawing, InALogSlowRunsWriteALineEvery30SecondsAtMost) {
    // 20 items of 10 s: a line for each tenth (every other item, 20 s), none in between.
    EXPECT_EQ(simulate(20, 20, 10s).size(), 11u);
    // 50 items of 4 s out of 1000, no tenth reached: 0 s, then every 30 s (on the item past it), the end.
    EXPECT_EQ(simulate(1000, 50, 4s).size(), 1u + 200 / 32 + 1);
    // 30 items of 4 s, total unknown: 0 s, then every 30 s, then the final line.
    const auto unknown = simulate(std::nullopt, 30, 4s);
    ASSERT_EQ(unknown.size(), 1u + 120 / 32 + 1);
    EXPECT_EQ(unknown.back(), "30 done [02:00, 4.00 s/item]");
}

TEST(ProgressDrawing, OnATerminalRedrawsAtMostTenTimesASecond) {
    const auto lines = simulate(1000, 1000, 10ms, true);  // 10 s
    EXPECT_GE(lines.size(), 95u);
    EXPECT_LE(lines.size(), 102u);
}

TEST(ProgressOutput, InAPipeWholeLinesEachTenthAndTheEnd) {
    LeakCheck leaks;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    {
        mproc::Pool pool(2);
        const auto squares = pool.map(square, std::views::iota(0, 200),
                                      {.chunksize = 1, .progress = true, .progress_label = "squares", .progress_fd = fds[1]});
        EXPECT_EQ(squares.size(), 200u);
    }
    ::close(fds[1]);
    const std::string text = read_all(fds[0]);
    ::close(fds[0]);
    EXPECT_EQ(text.find('\r'), std::string::npos) << text;
    EXPECT_EQ(text.find('\033'), std::string::npos) << text;
    const auto lines = lines_of(text);
    ASSERT_GE(lines.size(), 2u) << text;
    EXPECT_LE(lines.size(), 11u) << text;
    EXPECT_EQ(lines.front().substr(0, 13), "squares:   0%") << text;
    EXPECT_EQ(lines.back().substr(0, 14), "squares: 100%|") << text;
    EXPECT_NE(lines.back().find("| 200/200 ["), std::string::npos) << text;
    EXPECT_EQ(text.back(), '\n');
}

TEST(ProgressOutput, ToAFileImapAndImapUnordered) {
    LeakCheck leaks;
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    {
        mproc::Pool pool(2);
        {
            auto results = pool.imap(square, std::vector<int>(25, 1), {.progress = true, .progress_file = file});
            for ([[maybe_unused]] int value : results) {
            }
        }
        {
            auto results = pool.imap_unordered(square, std::vector<int>(30, 1),
                                               {.progress = true, .progress_label = "unordered", .progress_file = file});
            for ([[maybe_unused]] int value : results) {
            }
        }
    }
    std::rewind(file);
    std::string text;
    char buffer[4096];
    for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, got);
    std::fclose(file);
    const auto lines = lines_of(text);
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(text.find("100%|####################| 25/25 ["), std::string::npos) << text;
    EXPECT_NE(lines.back().find("unordered: 100%|"), std::string::npos) << text;
    EXPECT_NE(lines.back().find("30/30"), std::string::npos) << text;
    EXPECT_LE(lines.size(), 22u) << text;
}

TEST(ProgressOutput, OnATerminalRedrawnInPlace) {
    LeakCheck leaks;
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    const int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    ASSERT_GE(terminal, 0);
    {
        mproc::Pool pool(2);
        const auto squares = pool.map(square, std::views::iota(0, 100), {.progress = true, .progress_fd = terminal});
        EXPECT_EQ(squares.size(), 100u);
    }
    const std::string text = read_all(master);
    ::close(terminal);
    ::close(master);
    EXPECT_EQ(text.front(), '\r') << text;
    EXPECT_NE(text.find("\033[K"), std::string::npos) << text;
    // One line in all, ended once (the terminal shows "\n" as "\r\n").
    const auto end = text.find('\n');
    ASSERT_NE(end, std::string::npos) << text;
    EXPECT_EQ(end, text.size() - 1) << text;
    const auto last = text.rfind('\r', text.size() - 3);
    EXPECT_EQ(text.substr(last + 1, 5), "100%|") << text;
    EXPECT_NE(text.find("| 100/100 ["), std::string::npos) << text;
}

}  // namespace
