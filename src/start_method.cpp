#include <mproc/context.hpp>
#include <mproc/start_method.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <mproc/errors.hpp>

#include "launch.hpp"

namespace mproc {
namespace {

StartMethod method_from_environment() {
    const char* name = std::getenv("MPROC_START_METHOD");
    if (!name || !*name) return StartMethod::fork;
    try {
        return parse_start_method(name);
    } catch (const std::invalid_argument& error) {
        std::fprintf(stderr, "mproc: MPROC_START_METHOD: %s; using fork\n", error.what());
        return StartMethod::fork;
    }
}

// Atomics, not a mutex: a forked child reads and sets them while another thread of its parent
// may have held a lock at the moment of the fork.
struct DefaultMethod {
    std::atomic<StartMethod> method{method_from_environment()};
    std::atomic<bool> set{false};
};

DefaultMethod& default_method() {
    static auto* state = new DefaultMethod;  // never destroyed: used while the program exits
    return *state;
}

}  // namespace

std::string_view to_string(StartMethod method) noexcept {
    switch (method) {
        case StartMethod::fork: return "fork";
        case StartMethod::spawn: return "spawn";
        case StartMethod::forkserver: return "forkserver";
    }
    return "?";
}

StartMethod parse_start_method(std::string_view name) {
    for (auto method : {StartMethod::fork, StartMethod::spawn, StartMethod::forkserver})
        if (name == to_string(method)) return method;
    throw std::invalid_argument("mproc: unknown start method '" + std::string(name) +
                                "' (expected fork, spawn or forkserver)");
}

void set_start_method(StartMethod method, bool force) {
    auto& state = default_method();
    if (state.set.exchange(true) && !force)
        throw StateError("mproc::set_start_method: the start method has already been set");
    state.method.store(method);
    launch::prepare(method);
}

void set_start_method(std::string_view name, bool force) { set_start_method(parse_start_method(name), force); }

StartMethod get_start_method() noexcept { return default_method().method.load(); }

void launch::keep_start_method(StartMethod method) noexcept {
    auto& state = default_method();
    state.method.store(method);
    state.set.store(true);
}

std::vector<StartMethod> get_all_start_methods() {
    std::vector<StartMethod> methods{get_start_method()};
    for (auto method : {StartMethod::fork, StartMethod::spawn, StartMethod::forkserver})
        if (method != methods.front()) methods.push_back(method);
    return methods;
}

Context get_context() { return get_context(get_start_method()); }

Context get_context(StartMethod method) {
    launch::prepare(method);
    return Context(method);
}

Context get_context(std::string_view name) { return get_context(parse_start_method(name)); }

}  // namespace mproc
