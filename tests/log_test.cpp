// mproc's logger: off by default, on by one call or by MPROC_LOG, the pool's events (a worker
// started, died with its pid and signal, timed out; the pool closing, terminating), lines that
// workers write tagged with their name and pid, a log file, a handler.
#include <mproc/log.hpp>
#include <mproc/pool.hpp>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ranges>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/leak_check.hpp"
#include "support/reexec.hpp"
#include "support/run_self.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::LogLevel;
using mproc::test::LeakCheck;

int square(int x) { return x * x; }

int kill_self(int) {
    ::kill(::getpid(), SIGKILL);
    return 0;
}

int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}

int log_from_worker(int i) {
    mproc::log_info("hello " + std::to_string(i));
    return static_cast<int>(::getpid());
}

int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// Whether a line of `text` starts with `start`, then has `middle` somewhere, and ends with `end`.
bool has_line(const std::string& text, const std::string& start, const std::string& middle, const std::string& end) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(start, 0) != 0 || line.size() < start.size() + end.size()) continue;
        if (line.compare(line.size() - end.size(), end.size(), end) != 0) continue;
        const auto at = line.find(middle, start.size());
        if (at != std::string::npos && at + middle.size() <= line.size() - end.size()) return true;
    }
    return false;
}

// A pool's whole life, one worker crashing: what a program with logging off must not hear of.
const mproc::test::RegisterRole pool_life_role("pool-life", [] {
    if (mproc::get_log_level() != LogLevel::off && !std::getenv("MPROC_LOG")) return 3;
    mproc::Pool pool(2);
    try {
        pool.apply(kill_self, 0);
        return 4;
    } catch (const mproc::WorkerCrashed&) {
    }
    if (pool.map(square, std::views::iota(0, 10)).size() != 10) return 5;
    pool.close();
    pool.join();
    return 0;
});

// Runs the pool-life role with MPROC_LOG set to `value` (unset when null).
mproc::test::RunResult run_pool_life(const char* value) {
    if (value) ::setenv("MPROC_LOG", value, 1);
    auto result = mproc::test::run_self("pool-life");
    ::unsetenv("MPROC_LOG");
    return result;
}

// Records delivered to a handler, kept for the test to look at.
struct Collected {
    std::mutex mutex;
    std::vector<std::tuple<LogLevel, std::string, int, std::string>> records;

    Collected() {
        mproc::set_log_handler([this](const mproc::LogRecord& record) {
            std::lock_guard lock(mutex);
            records.emplace_back(record.level, std::string(record.process), record.pid, std::string(record.message));
        });
    }
    ~Collected() { mproc::log_to(nullptr); }
    // The messages at `level` containing `part`.
    std::vector<std::string> find(LogLevel level, const std::string& part) {
        std::lock_guard lock(mutex);
        std::vector<std::string> found;
        for (const auto& [l, process, pid, message] : records)
            if (l == level && message.find(part) != std::string::npos) found.push_back(message);
        return found;
    }
};

class Log : public ::testing::Test {
protected:
    void SetUp() override {
        mproc::log_to(nullptr);
        mproc::set_log_level(LogLevel::off);
    }
    void TearDown() override { SetUp(); }
};

TEST_F(Log, LevelsParseAndPrintAsPythonNamesThem) {
    EXPECT_EQ(mproc::parse_log_level("info"), LogLevel::info);
    EXPECT_EQ(mproc::parse_log_level("WARNING"), LogLevel::warning);
    EXPECT_EQ(mproc::parse_log_level("warn"), LogLevel::warning);
    EXPECT_EQ(mproc::parse_log_level("Debug"), LogLevel::debug);
    EXPECT_EQ(mproc::parse_log_level("off"), LogLevel::off);
    EXPECT_EQ(mproc::parse_log_level("verbose"), std::nullopt);
    EXPECT_EQ(mproc::to_string(LogLevel::error), "ERROR");
}

TEST_F(Log, OffByDefaultAPoolSaysNothing) {
    const auto result = run_pool_life(nullptr);
    EXPECT_EQ(result.exitcode, 0) << result.err;
    EXPECT_EQ(result.err, "");
    EXPECT_EQ(result.out, "");
}

TEST_F(Log, EnvironmentVariableTurnsItOn) {
    const auto result = run_pool_life("info");
    EXPECT_EQ(result.exitcode, 0) << result.err;
    EXPECT_TRUE(has_line(result.err, "[INFO/MainProcess pid ", "PoolWorker-", ") started")) << result.err;
    EXPECT_TRUE(has_line(result.err, "[WARNING/MainProcess pid ", "PoolWorker-", ") died: killed by signal 9 (SIGKILL)"))
        << result.err;
    EXPECT_NE(result.err.find("] pool closing\n"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("[DEBUG/"), std::string::npos) << "debug records at level info: " << result.err;
}

TEST_F(Log, BadEnvironmentValueWarnsOnceAndIsIgnored) {
    const auto result = run_pool_life("verbose");
    EXPECT_EQ(result.exitcode, 0) << result.err;  // the role also checks that logging stayed off
    EXPECT_EQ(count(result.err, "ignoring MPROC_LOG=verbose"), 1) << result.err;  // not once per worker
    EXPECT_EQ(count(result.err, "\n"), 1) << result.err;
}

TEST_F(Log, LogToStderrTurnsItOnWithOneCall) {
    std::fflush(stderr);
    std::FILE* capture = std::tmpfile();
    const int saved = ::dup(2);
    ::dup2(::fileno(capture), 2);
    mproc::log_info("not yet");
    mproc::log_to_stderr(LogLevel::info);
    mproc::log_debug("below the level");
    mproc::log_info("now on");
    mproc::set_log_level(LogLevel::off);
    mproc::log_error("off again");
    ::dup2(saved, 2);
    ::close(saved);
    std::rewind(capture);
    char buffer[4096];
    const std::string text(buffer, std::fread(buffer, 1, sizeof buffer, capture));
    std::fclose(capture);
    EXPECT_EQ(text, "[INFO/MainProcess pid " + std::to_string(::getpid()) + "] now on\n");
}

TEST_F(Log, CrashedWorkerIsLoggedWithItsPidAndSignal) {
    LeakCheck leaks;
    Collected collected;
    mproc::set_log_level(LogLevel::info);
    mproc::Pool pool(2);
    int pid = 0;
    try {
        pool.apply(kill_self, 0);
        ADD_FAILURE() << "no crash";
    } catch (const mproc::WorkerCrashed& crash) {
        pid = crash.pid();
    }
    pool.close();
    pool.join();
    const auto died = collected.find(LogLevel::warning, "(pid " + std::to_string(pid) + ") died: ");
    ASSERT_EQ(died.size(), 1u);
    EXPECT_NE(died[0].find("killed by signal 9 (SIGKILL)"), std::string::npos) << died[0];
    EXPECT_EQ(collected.find(LogLevel::info, ") started").size(), 3u) << "two workers and the replacement";
    EXPECT_EQ(collected.find(LogLevel::info, "pool closing").size(), 1u);
    EXPECT_TRUE(collected.find(LogLevel::debug, "exited").empty()) << "debug records at level info";
}

TEST_F(Log, TimedOutTaskAndTerminateAreLogged) {
    LeakCheck leaks;
    Collected collected;
    mproc::set_log_level(LogLevel::debug);
    mproc::Pool pool(1);
    EXPECT_THROW(pool.apply(mproc::TaskOptions{.timeout = 200ms}, sleep_ms, 20000), mproc::TimeoutError);
    pool.terminate();
    pool.join();
    EXPECT_EQ(collected.find(LogLevel::warning, "task timed out; killing worker ").size(), 1u);
    EXPECT_TRUE(collected.find(LogLevel::warning, "died").empty()) << "a timed-out worker did not die unexpectedly";
    EXPECT_EQ(collected.find(LogLevel::info, "pool terminating").size(), 1u);
    EXPECT_EQ(collected.find(LogLevel::debug, "exited: killed by signal 9 (SIGKILL)").size(), 2u)
        << "the timed-out worker and the replacement killed by terminate";
}

TEST_F(Log, LogFileGetsWorkerLinesTaggedWithTheirNameAndPid) {
    LeakCheck leaks;
    const std::string path = std::filesystem::temp_directory_path() / ("mproc-log-test-" + std::to_string(::getpid()));
    std::filesystem::remove(path);
    mproc::log_to_file(path);
    mproc::set_log_level(LogLevel::info);
    std::vector<int> pids;
    {
        mproc::Pool pool(2);
        pids = pool.map(log_from_worker, std::views::iota(0, 4), {.chunksize = 1});
        pool.close();
        pool.join();
    }
    mproc::log_to(nullptr);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    std::filesystem::remove(path);
    const std::string log = text.str();
    for (int i = 0; i < 4; ++i) {
        const std::string method = mproc::get_start_method() == mproc::StartMethod::fork    ? "Fork"
                                   : mproc::get_start_method() == mproc::StartMethod::spawn ? "Spawn"
                                                                                            : "ForkServer";
        EXPECT_TRUE(has_line(log, "[INFO/" + method + "PoolWorker-",
                             " pid " + std::to_string(pids[i]) + "] ", "hello " + std::to_string(i)))
            << "item " << i << ":\n" << log;
    }
    EXPECT_EQ(count(log, ") started\n"), 2) << log;
    EXPECT_EQ(count(log, "\n"), 2 + 4 + 1) << "starts, hellos, closing:\n" << log;
}

TEST_F(Log, LevelFiltersRecords) {
    Collected collected;
    mproc::set_log_level(LogLevel::warning);
    EXPECT_FALSE(mproc::log_enabled(LogLevel::info));
    EXPECT_TRUE(mproc::log_enabled(LogLevel::error));
    mproc::log_info("dropped");
    mproc::log_warning("kept");
    mproc::log_error("kept too");
    EXPECT_TRUE(collected.find(LogLevel::info, "dropped").empty());
    EXPECT_EQ(collected.find(LogLevel::warning, "kept").size(), 1u);
    EXPECT_EQ(collected.find(LogLevel::error, "kept too").size(), 1u);
}

}  // namespace
