// Small helpers for tests that run code in child processes with mproc::Process.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <mproc/process.hpp>

namespace mproc::test {

// Throws from a child when a check fails: the child then exits with code 1, which the parent sees.
inline void require(bool condition, const std::string& what) {
    if (!condition) throw std::runtime_error("check failed in child: " + what);
}

// Starts `count` children running target(i, args...) and returns them, started.
template <class F, class... Args>
std::vector<mproc::Process> start_children(int count, F target, Args... args) {
    std::vector<mproc::Process> children;
    children.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) children.emplace_back(target, i, args...);
    for (auto& child : children) child.start();
    return children;
}

// Joins them all; returns their exit codes.
inline std::vector<int> join_all(std::vector<mproc::Process>& children) {
    std::vector<int> codes;
    for (auto& child : children) {
        child.join();
        codes.push_back(child.exitcode().value_or(-1000));
    }
    return codes;
}

// Runs target(args...) in one child and returns its exit code.
template <class F, class... Args>
int run_child(F target, Args... args) {
    mproc::Process child(target, args...);
    child.start();
    child.join();
    return child.exitcode().value_or(-1000);
}

}  // namespace mproc::test
