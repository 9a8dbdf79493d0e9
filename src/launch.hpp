// Starting a child by one of the three start methods (see mproc/start_method.hpp).
//
// Under fork a child runs a closure over the parent's memory. Under spawn and forkserver it cannot
// be handed one: it is given a Bootstrap instead, an entry point and its encoded arguments,
// over a socket whose other end the child inherits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <mproc/serialize.hpp>
#include <mproc/start_method.hpp>

#include "os/child_process.hpp"
#include "os/unique_fd.hpp"

namespace mproc::launch {

enum class Entry : std::uint16_t { pool_worker = 1, process = 2 };

struct Bootstrap {
    Entry entry{};
    std::vector<std::byte> payload;  // the entry's arguments
    std::vector<int> fds;            // descriptors the entry receives, in this order
    std::shared_ptr<const void> keep_alive;  // whatever keeps `fds` open until the child has them
};

// Starts a child: under fork it runs `body`; under spawn and forkserver, the Bootstrap that
// `bootstrap` makes (it is not called under fork). Returns once a spawned child has received its
// bootstrap; throws StartError if it dies or stalls before (main() not calling mproc::init).
os::ChildProcess start_child(StartMethod method, const std::function<int()>& body,
                             const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options = {});

// The same in two steps, so that several children can start at once: begin_child returns at
// once, with the socket on which the child confirms (none under fork); await_start waits for
// that confirmation, as start_child does.
struct StartingChild {
    os::ChildProcess process;
    os::UniqueFd confirmation;
    StartMethod method = StartMethod::fork;
};
StartingChild begin_child(StartMethod method, const std::function<int()>& body,
                          const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options = {});
void await_start(StartingChild& child);

// The entries, defined beside what they run. `fds` are the Bootstrap's. Return the exit code.
int run_pool_worker(Reader& payload, std::vector<os::UniqueFd>& fds);
int run_process(Reader& payload, std::vector<os::UniqueFd>& fds);

// Receives a bootstrap on `socket` and runs it; returns the exit code. In children of the fork
// server, and through serve_if_spawned.
int run_bootstrap(int socket);

// For mproc::init: in a child started by spawn, runs its bootstrap and exits; otherwise returns.
void serve_if_spawned();
// For mproc::init and set_start_method: starts the fork server now, while the program has a
// single thread, if forkserver is the default method.
void prepare(StartMethod method);

}  // namespace mproc::launch
