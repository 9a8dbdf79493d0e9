// mproc::connection against Python's multiprocessing.connection (tests/python/connection_peer.py):
// Python's Client to mproc's Listener and mproc's Client to Python's Listener, over Unix paths,
// abstract names and TCP, with the right key, a wrong key and none; bytes messages both ways.
//
// The Python is MPROC_TEST_PYTHON, or /usr/bin/python3 (Debian 12's: Python 3.11, which speaks the
// legacy HMAC-MD5 handshake; mproc must meet it exactly as Python 3.12 does). tests/CMakeLists.txt
// runs the same tests again under a Python 3.12+ when it finds one, which speaks the sha256 form.
#include <mproc/connection.hpp>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/python_peer.hpp"

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
namespace conn = mproc::connection;

using mproc::test::python;

std::string text_of(std::span<const std::byte> bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

std::string ping() {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "ping";
    return text;
}

std::string reversed(std::string text) { return {text.rbegin(), text.rend()}; }

struct Endpoint {
    conn::Address address;
    std::string spec;  // for connection_peer.py
};

Endpoint unix_path(const char* stem) {
    const std::string path = "/tmp/mproc-python-" + std::string(stem) + "-" + std::to_string(::getpid()) + ".sock";
    return {conn::Address(path), "unix:" + path};
}

Endpoint abstract_name(const char* stem) {
    const std::string name = "mproc-python-" + std::string(stem) + "-" + std::to_string(::getpid());
    return {conn::Address("\0"s + name), "abstract:" + name};
}

std::string tcp_spec(const conn::Address& address) {
    return "tcp:" + address.host() + ":" + std::to_string(address.port());
}

// mproc listens, Python connects. Returns what accept() threw ("" if nothing) and Python's exit
// code. When Python fails before it connects, a plain client unblocks accept().
std::pair<std::string, int> python_client_to_mproc_listener(conn::Listener& listener, const std::string& spec,
                                                            const std::string& python_key) {
    mproc::test::PythonPeer peer(MPROC_TEST_CONNECTION_PEER, {"client", spec, python_key});
    auto python_result = std::async(std::launch::async, [&] {
        const int code = peer.exit_code();
        try {
            (void)conn::Client(listener.address(), {.authkey = conn::no_authkey});
        } catch (const mproc::Error&) {
        }
        return code;
    });
    std::string error;
    try {
        auto c = listener.accept();
        c.send_bytes("from mproc");
        const auto message = c.recv_bytes();
        EXPECT_EQ(text_of(message), ping());
        c.send_bytes(reversed(text_of(message)));
        EXPECT_EQ(text_of(c.recv_bytes()), "bye");
    } catch (const mproc::AuthenticationError&) {
        error = "AuthenticationError";
    } catch (const mproc::Error& e) {
        error = e.what();
    }
    return {error, python_result.get()};
}

// Python listens, mproc connects. Returns what Client() threw ("" if nothing) and Python's exit code.
std::pair<std::string, int> mproc_client_to_python_listener(const std::string& spec, const std::string& python_key,
                                                            conn::ClientOptions options, bool tcp) {
    mproc::test::PythonPeer peer(MPROC_TEST_CONNECTION_PEER, {"server", spec, python_key});
    const std::string ready = peer.read_line();
    EXPECT_EQ(ready.substr(0, 6), "ready ");
    if (ready.substr(0, 6) != "ready ") return {"python did not start", peer.exit_code()};
    conn::Address address = tcp ? conn::Address("127.0.0.1", std::stoi(ready.substr(6))) : conn::Address("");
    if (!tcp) address = conn::Address(spec.rfind("abstract:", 0) == 0 ? "\0"s + spec.substr(9) : spec.substr(5));
    std::string error;
    try {
        auto c = conn::Client(address, std::move(options));
        EXPECT_EQ(text_of(c.recv_bytes()), "from python");
        c.send_bytes(ping());
        EXPECT_EQ(text_of(c.recv_bytes()), reversed(ping()));
        c.send_bytes("bye");
    } catch (const mproc::AuthenticationError&) {
        error = "AuthenticationError";
    } catch (const mproc::Error& e) {
        error = e.what();
    }
    return {error, peer.exit_code()};
}

// What both sides report: mproc's error and Python's exit code (3: Python's AuthenticationError).
const std::pair<std::string, int> succeeded{"", 0};
const std::pair<std::string, int> refused_on_both_sides{"AuthenticationError", 3};

TEST(PythonInterop, PythonClientToMprocListenerOverAUnixPath) {
    MPROC_REQUIRE_PYTHON();
    const auto endpoint = unix_path("listener");
    conn::Listener listener(endpoint.address, {.authkey = "shared secret"});
    EXPECT_EQ(python_client_to_mproc_listener(listener, endpoint.spec, "shared secret"), succeeded);
}

TEST(PythonInterop, PythonClientToMprocListenerOverAnAbstractName) {
    MPROC_REQUIRE_PYTHON();
    const auto endpoint = abstract_name("listener");
    conn::Listener listener(endpoint.address, {.authkey = "shared secret"});
    EXPECT_EQ(python_client_to_mproc_listener(listener, endpoint.spec, "shared secret"), succeeded);
}

TEST(PythonInterop, PythonClientToMprocListenerOverTcp) {
    MPROC_REQUIRE_PYTHON();
    conn::Listener listener({"127.0.0.1", 0}, {.authkey = "shared secret"});
    EXPECT_EQ(python_client_to_mproc_listener(listener, tcp_spec(listener.address()), "shared secret"), succeeded);
}

TEST(PythonInterop, PythonClientWithoutAKeyToMprocListenerWithoutOne) {
    MPROC_REQUIRE_PYTHON();
    const auto endpoint = unix_path("nokey");
    conn::Listener listener(endpoint.address);
    EXPECT_EQ(python_client_to_mproc_listener(listener, endpoint.spec, "-"), succeeded);
}

TEST(PythonInterop, PythonClientWithAWrongKeyIsRefusedOnBothSides) {
    MPROC_REQUIRE_PYTHON();
    conn::Listener listener({"127.0.0.1", 0}, {.authkey = "shared secret"});
    EXPECT_EQ(python_client_to_mproc_listener(listener, tcp_spec(listener.address()), "wrong secret"),
              refused_on_both_sides);
}

TEST(PythonInterop, MprocClientToPythonListenerOverAUnixPath) {
    MPROC_REQUIRE_PYTHON();
    const auto endpoint = unix_path("client");
    EXPECT_EQ(mproc_client_to_python_listener(endpoint.spec, "shared secret", {.authkey = "shared secret"}, false),
              succeeded);
}

TEST(PythonInterop, MprocClientToPythonListenerOverAnAbstractName) {
    MPROC_REQUIRE_PYTHON();
    const auto endpoint = abstract_name("client");
    EXPECT_EQ(mproc_client_to_python_listener(endpoint.spec, "shared secret", {.authkey = "shared secret"}, false),
              succeeded);
}

TEST(PythonInterop, MprocClientToPythonListenerOverTcp) {
    MPROC_REQUIRE_PYTHON();
    EXPECT_EQ(mproc_client_to_python_listener("tcp:127.0.0.1:0", "shared secret", {.authkey = "shared secret"}, true),
              succeeded);
}

TEST(PythonInterop, MprocClientWithAWrongKeyIsRefusedOnBothSides) {
    MPROC_REQUIRE_PYTHON();
    EXPECT_EQ(mproc_client_to_python_listener("tcp:127.0.0.1:0", "shared secret", {.authkey = "wrong secret"}, true),
              refused_on_both_sides);
}

TEST(PythonInterop, MprocClientWithoutAKeyToPythonListenerWithoutOne) {
    MPROC_REQUIRE_PYTHON();
    const auto endpoint = unix_path("nokey-client");
    EXPECT_EQ(mproc_client_to_python_listener(endpoint.spec, "-", {}, false), succeeded);
}

}  // namespace
