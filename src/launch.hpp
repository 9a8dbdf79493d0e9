// Starting a child by one of the three start methods (see mproc/start_method.hpp).
//
// Under fork a child runs a closure over the parent's memory. Under spawn and forkserver it cannot
// be handed one: it is given a Bootstrap instead, an entry point and its encoded arguments,
// over a socket whose other end the child inherits. The fork server itself is a spawned child
// whose entry is to serve forks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <mproc/serialize.hpp>
#include <mproc/start_method.hpp>

#include "os/child_process.hpp"
#include "os/unique_fd.hpp"

namespace mproc::launch {

// --- Entries ----------------------------------------------------------------------------------
//
// What a child started by spawn or forkserver runs is named in its bootstrap by a number, its
// entry. Each entry is registered beside the function it runs (launch.cpp registers only the fork
// server's), by an EntryRegistration at namespace scope: registration is then done during static
// initialization, before main() calls mproc::init, which is where a spawned child takes its
// bootstrap. The child runs the same program as the parent that named the entry, so it has the
// same entries; a bootstrap naming one that is not registered is refused before the child
// confirms its start.

// An entry's number in a bootstrap. 0 names none.
enum class Entry : std::uint16_t {};

// Runs an entry in the child. `payload` and `fds` are its Bootstrap's. Returns the exit code.
using EntryFunction = int (*)(Reader& payload, std::vector<os::UniqueFd>& fds);

// What becomes of the socket the bootstrap came on: closed before the entry runs, so that the
// child's own code never holds it, or handed to the entry after the Bootstrap's descriptors (the
// fork server takes its requests on it).
enum class BootstrapSocket { close, pass };

struct RegisteredEntry {
    Entry id{};
    const char* name = nullptr;
    EntryFunction run = nullptr;
    BootstrapSocket socket = BootstrapSocket::close;
};

// Registers `run` as entry `id`. Not thread-safe: call it during static initialization, through
// an EntryRegistration. Number 0, a number registered already, or more entries than the registry
// holds end the program with a message: two files would each believe a child runs theirs.
void register_entry(Entry id, const char* name, EntryFunction run,
                    BootstrapSocket socket = BootstrapSocket::close) noexcept;
// The entry registered as `id`, or null.
[[nodiscard]] const RegisteredEntry* find_entry(Entry id) noexcept;

// Registers an entry when constructed. Define one at namespace scope in the file that defines the
// entry's function and is linked into every program that names the entry (with a static library,
// a file nothing refers to is left out, and its registration with it).
struct EntryRegistration {
    EntryRegistration(Entry id, const char* name, EntryFunction run,
                      BootstrapSocket socket = BootstrapSocket::close) noexcept {
        register_entry(id, name, run, socket);
    }
};

// --- Starting children -------------------------------------------------------------------------

struct Bootstrap {
    Entry entry{};
    std::vector<std::byte> payload;  // the entry's arguments
    std::vector<int> fds;            // descriptors the entry receives, in this order
    std::shared_ptr<const void> keep_alive;  // whatever keeps `fds` open until the child has them
};

// Starts a child: under fork it runs `body`; under spawn and forkserver, the Bootstrap that
// `bootstrap` makes (it is not called under fork). Returns once a spawned child has received its
// bootstrap; throws StartError if it dies or stalls before (main() not calling mproc::init).
// Every child keeps the method it was started with as its default (see keep_start_method).
os::ChildProcess start_child(StartMethod method, const std::function<int()>& body,
                             const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options = {});

// The same in two steps, so that several children can start at once: begin_child returns at
// once, with the socket on which the child confirms (none under fork); await_start waits for
// that confirmation, as start_child does.
struct StartingChild {
    os::ChildProcess process;
    os::UniqueFd confirmation;
    StartMethod method = StartMethod::fork;
    Entry entry{};
};
StartingChild begin_child(StartMethod method, const std::function<int()>& body,
                          const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options = {});
void await_start(StartingChild& child);

// For mproc::init: in a program started by spawn (a child, or a fork server), runs its bootstrap
// and exits; otherwise returns. A MPROC_BOOTSTRAP_FD that is not a genuine bootstrap (a stray or
// forged value) is removed from the environment and ignored, with a warning on stderr.
void serve_if_spawned();
// For mproc::init and set_start_method: starts the fork server now, if forkserver is `method`.
void prepare(StartMethod method);

// Makes `method` this process's default start method, as set_start_method(method, true) would but
// starting nothing: what a child does first, so that it keeps the method it was started with, as
// in Python. Defined in start_method.cpp.
void keep_start_method(StartMethod method) noexcept;

// --- The bootstrap's wire format --------------------------------------------------------------
//
// A program started by spawn finds its bootstrap socket in its environment, as
// MPROC_BOOTSTRAP_FD=<descriptor>:<cookie>: the cookie is 16 random bytes (32 lowercase hex
// digits) made for that child alone, and the bootstrap's header repeats it. The child takes a
// bootstrap only from a socket its parent made whose first message is a header carrying that
// cookie; children of the fork server get the cookie with the fork request. Both decoders take
// untrusted input and are fuzzed (tests/fuzz/bootstrap_fuzzer.cpp).

using Cookie = std::array<std::byte, 16>;

struct BootstrapAddress {
    int fd = -1;
    Cookie cookie{};
};
std::string encode_bootstrap_address(const BootstrapAddress& address);
// The address, or nothing unless `text` is exactly what encode_bootstrap_address makes.
std::optional<BootstrapAddress> decode_bootstrap_address(std::string_view text) noexcept;

struct BootstrapHeader {
    std::uint32_t magic;
    std::uint16_t entry;
    std::uint16_t reserved;  // zero
    std::uint32_t fd_count;  // descriptors sent in a second message
    std::uint32_t reserved2; // zero
    std::uint64_t payload_size;  // bytes of the memfd sent beside the header
    Cookie cookie;
};
static_assert(std::is_trivially_copyable_v<BootstrapHeader> && sizeof(BootstrapHeader) == 40,
              "BootstrapHeader is sent as bytes: keep it free of padding");
BootstrapHeader make_bootstrap_header(Entry entry, std::size_t fd_count, std::size_t payload_size,
                                      const Cookie& cookie) noexcept;
// The header, or nothing unless `bytes` are one of ours carrying `expected`. Its entry is checked
// for form (not 0), not looked up: the child looks it up before confirming its start.
std::optional<BootstrapHeader> decode_bootstrap_header(std::span<const std::byte> bytes,
                                                       const Cookie& expected) noexcept;

}  // namespace mproc::launch
