// mproc::Manager (Python's multiprocessing.Manager()): its server's start and shutdown, the proxies
// of dict, list, Value, Namespace and the synchronization objects, used from Processes and Pool
// tasks, and what happens when the manager or a client dies. Ports the behaviours of CPython's
// _TestContainers and _TestManagerRestart (Lib/test/_test_multiprocessing.py) as named tests.
#include <mproc/manager.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/pool.hpp>
#include <mproc/process.hpp>

#include "support/children.hpp"
#include "support/leak_check.hpp"
#include "support/start_methods.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::test::require;

// --- _TestContainers ---------------------------------------------------------------------------

TEST(ManagerContainers, ListBehavesAsPythonsList) {
    mproc::Manager manager;
    auto a = manager.list<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    EXPECT_EQ(a.copy(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    auto b = manager.list<int>();
    EXPECT_EQ(b.size(), 0u);
    b.extend({0, 1, 2, 3, 4});
    b.append(5);
    EXPECT_EQ(b.copy(), (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(b.at(-1), 5);
    EXPECT_EQ(b.at(2), 2);
    b.set(0, 10);
    b.insert(0, -1);
    b.insert(-1, 42);   // before the last, as Python's
    b.insert(100, 99);  // clamped to the end
    EXPECT_EQ(b.copy(), (std::vector<int>{-1, 10, 1, 2, 3, 4, 42, 5, 99}));
    EXPECT_EQ(b.pop(), 99);
    EXPECT_EQ(b.pop(0), -1);
    b.erase(-2);
    EXPECT_EQ(b.index(3), 3u);
    EXPECT_EQ(b.count(10), 1u);
    b.remove(10);
    b.reverse();
    EXPECT_EQ(b.copy(), (std::vector<int>{5, 4, 3, 2, 1}));
    b.sort();
    EXPECT_EQ(b.copy(), (std::vector<int>{1, 2, 3, 4, 5}));
    EXPECT_THROW(b.at(5), std::out_of_range);
    EXPECT_THROW(b.index(77), std::invalid_argument);
    b.clear();
    EXPECT_THROW(b.pop(), std::out_of_range);
}

TEST(ManagerContainers, ListOfListsHoldsProxiesOfOtherLists) {
    // Python's test_list_proxy_in_list: a proxy is a value like any other.
    mproc::Manager manager;
    auto outer = manager.list<mproc::ListProxy<int>>();
    for (int i = 0; i < 3; ++i) outer.append(manager.list<int>({i}));
    outer.at(0).append(10);
    EXPECT_EQ(outer.at(0).copy(), (std::vector<int>{0, 10}));
    EXPECT_EQ(outer.at(2).copy(), (std::vector<int>{2}));
}

TEST(ManagerContainers, DictBehavesAsPythonsDict) {
    mproc::Manager manager;
    auto d = manager.dict<int, std::string>();
    for (int i = 5; i < 10; ++i) d.set(i, std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ(d.size(), 5u);
    EXPECT_EQ(d.at(5), "f");
    EXPECT_EQ(d.keys(), (std::vector<int>{5, 6, 7, 8, 9}));
    EXPECT_EQ(d.values(), (std::vector<std::string>{"f", "g", "h", "i", "j"}));
    EXPECT_TRUE(d.contains(9));
    EXPECT_FALSE(d.contains(10));
    EXPECT_EQ(d.get(10), std::nullopt);
    EXPECT_EQ(d.get(10, "z"), "z");
    EXPECT_THROW(d.at(10), std::out_of_range);
    EXPECT_EQ(d.setdefault(10, "k"), "k");
    EXPECT_EQ(d.setdefault(10, "other"), "k");
    EXPECT_EQ(d.pop(10), "k");
    EXPECT_EQ(d.pop(10, "gone"), "gone");
    EXPECT_THROW(d.pop(10), std::out_of_range);
    EXPECT_EQ(d.popitem(), (std::pair<int, std::string>(9, "j")));
    d.erase(5);
    EXPECT_THROW(d.erase(5), std::out_of_range);
    d.update({{1, "b"}, {6, "G"}});
    EXPECT_EQ(d.copy(), (std::map<int, std::string>{{1, "b"}, {6, "G"}, {7, "h"}, {8, "i"}}));
    d.clear();
    EXPECT_EQ(d.size(), 0u);
}

TEST(ManagerContainers, DictOfListsHoldsProxies) {
    // Python's test_dict_proxy_nested.
    mproc::Manager manager;
    auto pets = manager.dict<std::string, mproc::ListProxy<std::string>>();
    pets.set("ferrets", manager.list<std::string>({"Ferret"}));
    pets.at("ferrets").append("Polecat");
    EXPECT_EQ(pets.at("ferrets").copy(), (std::vector<std::string>{"Ferret", "Polecat"}));
}

TEST(ManagerContainers, NamespaceHoldsTypedAttributes) {
    mproc::Manager manager;
    auto n = manager.Namespace();
    n.set("name", std::string("Bob"));
    n.set("job", std::string("Builder"));
    n.set("count", 3);
    EXPECT_EQ(n.get<std::string>("name"), "Bob");
    EXPECT_EQ(n.get<int>("count"), 3);
    EXPECT_THROW(n.get<double>("count"), std::invalid_argument);
    EXPECT_EQ(n.names(), (std::vector<std::string>{"count", "job", "name"}));
    n.erase("job");
    EXPECT_THROW(n.get<std::string>("job"), std::out_of_range);
    EXPECT_THROW(n.erase("job"), std::out_of_range);
}

TEST(ManagerContainers, ValueGetsAndSets) {
    mproc::Manager manager;
    auto v = manager.Value<double>(1.5);
    EXPECT_EQ(v.get(), 1.5);
    v.set(-2.25);
    EXPECT_EQ(v.get(), -2.25);
}

// A local manager's requests and replies travel through rings of 64 KiB: larger ones go beside
// them, whole, in both directions.
// Whether process `pid` maps a Pipe's shared memory: a manager's server does once a local client's
// connection has moved to its rings.
bool maps_a_pipe(int pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(maps, line))
        if (line.find("memfd:mproc-pipe") != std::string::npos) return true;
    return false;
}

TEST(ManagerContainers, ValuesLargerThanTheRingsTravelWhole) {
    mproc::Manager manager;
    const std::string big(4 << 20, 'x');
    auto d = manager.dict<int, std::string>();
    d.set(1, big);
    EXPECT_EQ(d.at(1), big);
    std::vector<int> numbers(1'000'000);
    for (int i = 0; i < 1'000'000; ++i) numbers[i] = i;
    auto l = manager.list<int>(numbers);
    EXPECT_EQ(l.copy(), numbers);
    d.set(2, "small after large");
    EXPECT_EQ(d.at(2), "small after large");
    EXPECT_TRUE(maps_a_pipe(*manager.pid()));  // the calls went through rings
}

// --- Proxies in other processes -----------------------------------------------------------------

void add_in_child(int i, mproc::DictProxy<std::string, int> d, mproc::ListProxy<int> l, mproc::ValueProxy<int> v,
                  mproc::LockProxy lock) {
    d.set("child" + std::to_string(i), i);
    l.append(i);
    for (int k = 0; k < 50; ++k) {
        std::lock_guard guard(lock);
        v.set(v.get() + 1);  // atomic only under the lock
    }
}

TEST(ManagerProxies, ProcessesShareDictListAndValue) {
    mproc::test::LeakCheck leaks;
    {
        mproc::Manager manager;
        auto d = manager.dict<std::string, int>();
        auto l = manager.list<int>();
        auto v = manager.Value<int>(0);
        auto lock = manager.Lock();
        auto children = mproc::test::start_children(3, add_in_child, d, l, v, lock);
        EXPECT_EQ(mproc::test::join_all(children), (std::vector<int>{0, 0, 0}));
        EXPECT_EQ(d.copy(), (std::map<std::string, int>{{"child0", 0}, {"child1", 1}, {"child2", 2}}));
        l.sort();
        EXPECT_EQ(l.copy(), (std::vector<int>{0, 1, 2}));
        EXPECT_EQ(v.get(), 150);
    }
}

int count_in_task(mproc::DictProxy<int, int> d, int key) {
    d.set(key, key * key);
    return static_cast<int>(d.size());
}

TEST(ManagerProxies, PoolTasksUseProxiesEvenFromAPoolMadeBefore) {
    // The manager's server is forked beside the pool's thread, and starts threads.
    MPROC_TEST_SKIP_THREADED_CHILD_OF_THREADED_FORK_UNDER_TSAN();
    mproc::Pool pool(2);  // before the manager: its workers get the proxies as task arguments
    mproc::Manager manager;
    auto d = manager.dict<int, int>();
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(count_in_task, d, i));
    for (auto& result : results) EXPECT_GE(result.get(), 1);
    EXPECT_EQ(d.size(), 10u);
    EXPECT_EQ(d.at(9), 81);
}

// --- Failure semantics --------------------------------------------------------------------------

TEST(ManagerFailures, KilledManagerMakesEveryProxyCallThrowEOFError) {
    mproc::Manager manager;
    auto d = manager.dict<int, int>();
    auto lock = manager.Lock();
    d.set(1, 1);
    ASSERT_EQ(::kill(*manager.pid(), SIGKILL), 0);
    for (int attempt = 0; attempt < 2; ++attempt) {
        EXPECT_THROW(d.set(2, 2), mproc::EOFError);
        EXPECT_THROW((void)d.at(1), mproc::EOFError);
        EXPECT_THROW((void)lock.acquire(), mproc::EOFError);
    }
    EXPECT_THROW(((void)manager.list<int>()), mproc::EOFError);
}

template <class Lock>
void acquire_and_wait(Lock lock, mproc::EventProxy started) {
    (void)lock.acquire();
    started.set();
    std::this_thread::sleep_for(60s);  // killed while holding the lock
}

void wait_for_lock_forever(mproc::LockProxy lock) { (void)lock.acquire(); }

TEST(ManagerFailures, ManagerKilledDuringABlockedCallFailsTheCall) {
    mproc::Manager manager;
    auto lock = manager.Lock();
    ASSERT_TRUE(lock.acquire());
    std::thread killer([pid = *manager.pid()] {
        std::this_thread::sleep_for(300ms);
        ::kill(pid, SIGKILL);
    });
    EXPECT_THROW((void)lock.acquire(), mproc::EOFError);  // blocked at the server, then gone
    killer.join();
}

// A child takes `lock` and is killed holding it: the server must release it.
template <class Lock>
void expect_released_when_its_holder_is_killed(mproc::Manager& manager, Lock lock) {
    auto started = manager.Event();
    mproc::Process holder(acquire_and_wait<Lock>, lock, started);
    holder.start();
    ASSERT_TRUE(started.wait(60s));
    EXPECT_FALSE(lock.acquire(false));
    holder.kill();
    holder.join();
    EXPECT_TRUE(lock.acquire(true, 30s));
    lock.release();
}

TEST(ManagerFailures, ClientKilledHoldingALockReleasesIt) {
    mproc::Manager manager;
    expect_released_when_its_holder_is_killed(manager, manager.Lock());
}

// A client that forks keeps its connections to itself: its child, which never uses the manager
// and outlives it, must not keep them open, or the server would not see the client die, and the
// client's Lock would stay held until the child ends. (Python drops them after a fork too.)
TEST(ManagerFailures, ClientKilledWhileItsForkedChildLivesOnReleasesItsLock) {
    mproc::Manager manager;
    auto lock = manager.Lock();
    auto child_forked = manager.Event();
    int child_stays[2];
    ASSERT_EQ(::pipe(child_stays), 0);
    const pid_t client = ::fork();
    ASSERT_GE(client, 0);
    if (client == 0) {
        ::close(child_stays[1]);
        if (!lock.acquire(true, 30s)) ::_exit(1);
        if (::fork() == 0) {  // never uses the manager; ends once the test closes its pipe
            char byte;
            (void)!::read(child_stays[0], &byte, 1);
            ::_exit(0);
        }
        child_forked.set();
        for (;;) ::pause();
    }
    ::close(child_stays[0]);
    ASSERT_TRUE(child_forked.wait(30s));
    ::kill(client, SIGKILL);
    ::waitpid(client, nullptr, 0);
    EXPECT_TRUE(lock.acquire(true, 20s)) << "the client's child kept the client's connection open";
    ::close(child_stays[1]);  // the grandchild ends
}

TEST(ManagerFailures, ClientKilledHoldingAConditionOverALockReleasesTheLock) {
    mproc::Manager manager;
    // No proxy of the lock is left but its condition's.
    expect_released_when_its_holder_is_killed(manager, manager.Condition(manager.Lock()));
}

TEST(ManagerFailures, WaiterOfAKilledClientDoesNotTakeTheLock) {
    // A client blocked in acquire() that dies must not leave the lock taken for it.
    mproc::Manager manager;
    auto lock = manager.Lock();
    ASSERT_TRUE(lock.acquire());
    mproc::Process waiter(wait_for_lock_forever, lock);
    waiter.start();
    std::this_thread::sleep_for(300ms);
    waiter.kill();
    waiter.join();
    std::this_thread::sleep_for(300ms);  // the server notices within its polling slice
    lock.release();
    EXPECT_TRUE(lock.acquire(true, 30s));
}

// Under a limit on address space, a server cannot reserve a Pipe's spill areas (16 GiB a
// direction): its connections stay on their sockets, and every call works.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MPROC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MPROC_TEST_SANITIZED 1
#endif
#endif

void limit_address_space() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    statm >> pages;
    rlimit limit{};
    ::getrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) + (std::size_t{4} << 30);
    ::setrlimit(RLIMIT_AS, &limit);
}

TEST(ManagerFailures, ServerThatCannotMakeRingsServesOverItsSockets) {
#ifdef MPROC_TEST_SANITIZED
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: no limit can be set under them";
#endif
    mproc::Manager manager(mproc::not_started);
    manager.start(limit_address_space);
    auto d = manager.dict<int, std::string>();
    d.set(1, std::string(1 << 20, 'x'));  // larger than a ring would hold, too
    EXPECT_EQ(d.at(1).size(), 1u << 20);
    auto lock = manager.Lock();
    EXPECT_TRUE(lock.acquire(false));
    lock.release();
    EXPECT_FALSE(maps_a_pipe(*manager.pid()));  // the calls went through sockets
}

TEST(ManagerFailures, AConnectionThatCannotMoveToRingsIsRefusedAndKeptOpen) {
    mproc::ManagerOptions options;
    options.address = mproc::connection::Address("127.0.0.1", 0);
    options.authkey = "key";
    mproc::Manager manager(options);
    auto c = mproc::connection::Client(manager.address(), {.authkey = std::string("key")});
    const auto ask = [&c](auto write_request) {
        std::vector<std::byte> request;
        mproc::Writer out(request);
        write_request(out);
        c.send_bytes(request);
        const auto reply = c.recv_bytes();
        mproc::Reader in(reply);
        mproc::detail::unpack_reply<void>(in);
    };
    ask([](mproc::Writer& out) { mproc::detail::manager::encode_hello(out, 1); });
    // TCP carries no descriptors: no Pipe can reach this client. Asked twice: the connection is
    // still served after a refusal.
    for (int i = 0; i < 2; ++i)
        EXPECT_THROW(ask([](mproc::Writer& out) { out.write_value(mproc::detail::manager::Op::channel); }),
                     mproc::StateError);
    auto d = manager.dict<int, int>();
    d.set(1, 2);
    EXPECT_EQ(d.at(1), 2);
}

TEST(ManagerFailures, MalformedRequestGetsAnErrorAndTheServerGoesOn) {
    mproc::Manager manager;
    auto d = manager.dict<int, int>();
    auto c = mproc::connection::Client(manager.address(), {.family = std::nullopt, .authkey = manager.authkey()});
    c.send_bytes(std::string_view("\x07garbage"));  // before any hello, and no such request
    const auto reply = c.recv_bytes();
    mproc::Reader in(reply);
    EXPECT_THROW(mproc::detail::unpack_reply<void>(in), mproc::SerializationError);
    d.set(1, 2);
    EXPECT_EQ(d.at(1), 2);
}

TEST(ManagerFailures, WrongAuthkeyIsRefused) {
    mproc::Manager manager;
    EXPECT_THROW(mproc::Manager::connect(manager.address(), "not the key"), mproc::AuthenticationError);
}

// --- _TestManagerRestart and the server's life --------------------------------------------------

TEST(ManagerLife, ShutdownEndsTheServerAndLeavesNothing) {
    mproc::test::LeakCheck leaks;
    mproc::Manager manager;
    const int pid = *manager.pid();
    auto d = manager.dict<int, int>();
    d.set(1, 1);
    manager.shutdown();
    manager.shutdown();  // idempotent
    EXPECT_NE(::kill(pid, 0), 0);
    EXPECT_THROW(d.set(1, 2), mproc::EOFError);
    EXPECT_THROW(((void)manager.dict<int, int>()), mproc::StateError);
}

TEST(ManagerLife, RestartAtTheSameAddress) {
    // Python's test_rapid_restart: a manager at a fixed address, shut down, and another there.
    const mproc::connection::Address address(std::string("\0mproc-manager-restart-") + std::to_string(::getpid()));
    for (int round = 0; round < 2; ++round) {
        mproc::ManagerOptions options;
        options.address = address;
        options.authkey = "abc";
        mproc::Manager manager(options);
        auto q = manager.list<int>({round});
        EXPECT_EQ(q.at(0), round);
    }
}

TEST(ManagerLife, ConnectReachesAManagerByAddressAndKey) {
    mproc::Manager manager;
    auto d = manager.dict<std::string, int>();
    d.set("x", 1);
    mproc::Manager client = mproc::Manager::connect(manager.address(), manager.authkey());
    auto l = client.list<int>({5});
    EXPECT_EQ(l.at(0), 5);
    EXPECT_EQ(client.pid(), std::nullopt);
}

void kill_me_with_a_manager(mproc::ValueProxy<int> report) {
    mproc::Manager manager;
    report.set(*manager.pid());
    ::kill(::getpid(), SIGKILL);
}

TEST(ManagerLife, ServerDiesWithItsOwner) {
    mproc::Manager outer;
    auto report = outer.Value<int>(0);
    mproc::Process owner(kill_me_with_a_manager, report);
    owner.start();
    owner.join();
    const int server = report.get();
    ASSERT_GT(server, 0);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (::kill(server, 0) == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    EXPECT_NE(::kill(server, 0), 0);
}

TEST(ManagerLife, ProxyDroppedEverywhereDestroysTheObject) {
    mproc::Manager manager;
    auto d = manager.dict<int, int>();
    const auto id = d.id();
    { auto copy = d; }
    d.set(1, 1);  // still alive: copies share one reference
    {
        auto moved = std::move(d);
    }
    // A proxy made from the dead object's id (as a receiver would) finds nothing.
    auto core = std::make_shared<mproc::detail::manager::ProxyCore>(
        mproc::detail::manager::Client::of(manager.address(), manager.authkey()), id,
        mproc::detail::manager::served_type_name<mproc::detail::manager::DictObject<int, int>>(), false);
    auto ghost = mproc::detail::manager::ProxyAccess::make<mproc::DictProxy<int, int>>(core);
    EXPECT_THROW(ghost.set(1, 1), std::out_of_range);
}

TEST(ManagerLife, TenThousandProxiesCreatedAndDroppedLeaveNoGrowth) {
    mproc::Manager manager;
    const auto batch = [&] {
        for (int i = 0; i < 10000; ++i) {
            auto d = manager.dict<int, int>({{i, i}});
            auto copy = d;
            copy.set(0, i);
        }
    };
    batch();  // warm up: the connections, the allocators' pools
    const auto fds = mproc::test::open_fds();
    const long before = mproc::test::resident_bytes(*manager.pid());
    batch();
    EXPECT_EQ(mproc::test::open_fds(), fds);
    const long after = mproc::test::resident_bytes(*manager.pid());
    ASSERT_GT(before, 0);
    // The sanitizers keep freed memory in quarantine or shadow memory: there, only descriptors
    // and the server's liveness are checked.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    EXPECT_LT(after - before, 8l << 20) << "the server grew from " << before / 1024 << " KiB to " << after / 1024 << " KiB";
#else
    (void)after;
#endif
}

// --- A manager started apart: SyncManager(), start(), connect(), get_server() --------------------

// An abstract Unix name of this test process's own.
std::string abstract_name(const std::string& what) {
    return std::string(1, '\0') + "mproc-manager-" + what + "-" + std::to_string(::getpid());
}

// What the server's initializer saw, read back through a registered type: it ran in the server.
int server_initialized_with = 0;
struct InitializedWith {
    using Init = std::monostate;
    static constexpr bool serialized = true;
    explicit InitializedWith(Init) {}
    int get() { return server_initialized_with; }
    static void describe(mproc::detail::manager::MethodTable<InitializedWith>& t) { t.add("get", &InitializedWith::get); }
};
const bool initialized_with_registered = mproc::register_managed<InitializedWith>("InitializedWith");

void initialize_server(int value) { server_initialized_with = value; }
void fail_to_initialize_server() { throw std::invalid_argument("no configuration"); }

TEST(ManagerStart, NotStartedManagerStartsWithAnInitializerInTheServer) {
    ASSERT_TRUE(initialized_with_registered);
    mproc::Manager manager(mproc::not_started);  // Python: manager = SyncManager()
    EXPECT_EQ(manager.pid(), std::nullopt);
    EXPECT_EQ(manager.authkey().size(), 32u);
    EXPECT_THROW((void)(manager.dict<int, int>()), mproc::StateError);
    EXPECT_THROW((void)manager.address(), mproc::StateError) << "no address before it listens";
    manager.start(initialize_server, 42);  // Python: manager.start(initialize_server, (42,))
    ASSERT_TRUE(manager.pid().has_value());
    EXPECT_EQ(manager.create<InitializedWith>({}).call<int>("get"), 42);
    EXPECT_EQ(server_initialized_with, 0) << "the initializer runs in the server, not here";
    EXPECT_THROW(manager.start(), mproc::StateError);  // Python: ProcessError, already started
    EXPECT_THROW(manager.connect(), mproc::StateError);
    EXPECT_THROW((void)manager.get_server(), mproc::StateError);
    const int server = *manager.pid();
    manager.shutdown();
    manager.shutdown();  // idempotent, as Python's
    EXPECT_NE(::kill(server, 0), 0);
    EXPECT_THROW(manager.start(), mproc::StateError);  // Python: ProcessError, has shut down
}

TEST(ManagerStart, InitializerExceptionIsRethrownByStart) {
    mproc::Manager manager(mproc::not_started);
    EXPECT_THROW(manager.start(fail_to_initialize_server), std::invalid_argument);
    EXPECT_EQ(manager.pid(), std::nullopt);
    EXPECT_THROW((void)manager.list<int>(), mproc::StateError);
}

TEST(ManagerStart, ConnectReachesAServingManagerAndFailsWhereNoneServes) {
    const mproc::connection::Address address(abstract_name("connect"));
    mproc::Manager nobody({.address = address, .authkey = "abc"}, mproc::not_started);
    EXPECT_EQ(nobody.address(), address);
    EXPECT_THROW(nobody.connect(), mproc::EOFError);  // Python: ConnectionRefusedError
    EXPECT_THROW(mproc::Manager(mproc::not_started).connect(), mproc::StateError) << "no address to connect to";

    mproc::Manager server({.address = address, .authkey = "abc"});
    server.named("greeting").Value<std::string>("hello");
    mproc::Manager client({.address = address, .authkey = "abc"}, mproc::not_started);
    client.connect();  // Python: m = SyncManager(address, b'abc'); m.connect()
    EXPECT_EQ(client.named("greeting").Value<std::string>().get(), "hello");
    EXPECT_EQ(client.pid(), std::nullopt);
    client.shutdown();  // forgets it: the server goes on
    EXPECT_EQ(server.named("greeting").Value<std::string>().get(), "hello");
    mproc::Manager wrong_key({.address = address, .authkey = "not abc"}, mproc::not_started);
    EXPECT_THROW(wrong_key.connect(), mproc::AuthenticationError);
}

// A program whose whole job is serving: Python's manager.get_server().serve_forever().
void serve_in_this_process(std::string name, std::string authkey, mproc::connection::Connection ready) {
    mproc::Manager manager({.address = mproc::connection::Address(name), .authkey = authkey}, mproc::not_started);
    mproc::ManagerServer server = manager.get_server();
    ready.send_bytes(std::string_view("listening"));
    server.serve_forever();
}

TEST(ManagerStart, GetServerServesForeverInTheProcessThatCallsIt) {
    MPROC_TEST_SKIP_THREADED_CHILD_OF_THREADED_FORK_UNDER_TSAN();
    const std::string name = abstract_name("serve-forever");
    auto [ready, theirs] = mproc::connection::Pipe();
    mproc::Process serving(serve_in_this_process, name, std::string("xyz"), theirs);
    serving.start();
    theirs.close();
    ASSERT_TRUE(ready.poll(60s));
    ASSERT_EQ(ready.recv_bytes().size(), 9u);

    const mproc::connection::Address address(name);
    mproc::Manager client({.address = address, .authkey = "xyz"}, mproc::not_started);
    client.connect();
    auto jobs = client.named("jobs").list<int>({1});
    jobs.append(2);
    mproc::Manager other = mproc::Manager::connect(address, "xyz");
    EXPECT_EQ(other.named("jobs").list<int>().copy(), (std::vector<int>{1, 2}));
    auto lock = client.Lock();
    EXPECT_TRUE(lock.acquire(false));
    EXPECT_THROW((void)mproc::Manager({.address = address}, mproc::not_started).get_server(), mproc::StartError)
        << "the address is in use";

    other.shutdown_server();  // Python: dispatch(conn, None, 'shutdown')
    serving.join();
    EXPECT_EQ(serving.exitcode(), 0) << "serve_forever() ends its process with status 0, as Python's sys.exit(0)";
    EXPECT_THROW(jobs.append(3), mproc::EOFError);
    EXPECT_THROW(other.shutdown_server(), mproc::StateError) << "other has shut down";
    EXPECT_THROW(client.shutdown_server(), mproc::EOFError) << "the server is gone";
}

TEST(ManagerStart, ShutdownServerRemovesTheSocketFileOfAServerOnAPath) {
    MPROC_TEST_SKIP_THREADED_CHILD_OF_THREADED_FORK_UNDER_TSAN();
    const std::filesystem::path directory = std::filesystem::temp_directory_path() /
                                            ("mproc-manager-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory);
    const std::string path = (directory / "server").string();
    auto [ready, theirs] = mproc::connection::Pipe();
    mproc::Process serving(serve_in_this_process, path, std::string("xyz"), theirs);
    serving.start();
    theirs.close();
    ASSERT_TRUE(ready.poll(60s));
    (void)ready.recv_bytes();
    EXPECT_TRUE(std::filesystem::exists(path));
    mproc::Manager::connect(mproc::connection::Address(path), "xyz").shutdown_server();
    serving.join();
    EXPECT_EQ(serving.exitcode(), 0);
    EXPECT_FALSE(std::filesystem::exists(path)) << "left behind";
    std::filesystem::remove_all(directory);
}

TEST(ManagerStart, AClientsShutdownServerStopsAStartedManagersServer) {
    const mproc::connection::Address address(abstract_name("client-stops"));
    mproc::Manager owner({.address = address, .authkey = "abc"});
    auto d = owner.dict<int, int>();
    d.set(1, 2);
    const int server = *owner.pid();
    mproc::Manager::connect(address, "abc").shutdown_server();
    EXPECT_THROW(d.set(3, 4), mproc::EOFError);
    owner.shutdown();  // joins the server that ended by itself
    EXPECT_NE(::kill(server, 0), 0);
}

void use_remote_manager(std::string host, int port, std::string key) {
    mproc::Manager remote = mproc::Manager::connect(mproc::connection::Address(host, port), key);
    auto d = remote.dict<std::string, int>();
    d.set("from child", 7);
    require(d.at("from child") == 7, "a remote dict round trip");
}

TEST(ManagerRemote, ManagerServesOverTcpWithAnAuthkey) {
    mproc::ManagerOptions options;
    options.address = mproc::connection::Address("127.0.0.1", 0);
    options.authkey = "remote secret";
    mproc::Manager manager(options);
    ASSERT_EQ(manager.address().family(), mproc::connection::Family::tcp);
    ASSERT_NE(manager.address().port(), 0);
    auto d = manager.dict<std::string, int>();
    d.set("here", 1);
    EXPECT_EQ(mproc::test::run_child(use_remote_manager, manager.address().host(),
                                        static_cast<int>(manager.address().port()), std::string("remote secret")),
              0);
    EXPECT_THROW(mproc::Manager::connect(manager.address(), "wrong"), mproc::AuthenticationError);
    // A proxy sent over to another process goes over TCP too.
    auto l = manager.list<int>();
    EXPECT_EQ(l.address(), manager.address());
}

void put_into_named_queue(std::string host, int port, std::string key) {
    mproc::Manager remote = mproc::Manager::connect(mproc::connection::Address(host, port), key);
    auto jobs = remote.named("jobs").Queue<int>(/*maxsize=*/123);  // made already: the argument is ignored
    for (int i = 0; i < 5; ++i) jobs.put(i);
}

// Python's BaseManager.register('get_jobs', callable=lambda: jobs): independent clients meet at an
// object by its name.
TEST(ManagerRemote, NamedObjectsAreOneObjectForEveryClientAndLiveAsLongAsTheServer) {
    mproc::ManagerOptions options;
    options.address = mproc::connection::Address("127.0.0.1", 0);
    options.authkey = "named objects";
    mproc::Manager manager(options);
    {
        auto jobs = manager.named("jobs").Queue<int>();
        EXPECT_EQ(mproc::test::run_child(put_into_named_queue, manager.address().host(),
                                         static_cast<int>(manager.address().port()), std::string("named objects")),
                  0);
        for (int i = 0; i < 5; ++i) EXPECT_EQ(jobs.get(true, 60s), i);
        jobs.put(42);
    }
    // Every proxy of it is gone; the server keeps it.
    EXPECT_EQ(manager.named("jobs").Queue<int>().get(true, 60s), 42);
    auto first = manager.named("settings").dict<std::string, int>({{"a", 1}});
    auto second = manager.named("settings").dict<std::string, int>({{"b", 2}});
    EXPECT_EQ(second.size(), 1u) << "only the first call's arguments count";
    EXPECT_EQ(second.at("a"), 1);
    second.set("c", 3);
    EXPECT_EQ(first.at("c"), 3);
    EXPECT_EQ((manager.dict<std::string, int>().size()), 0u) << "an unnamed dict is a new one";
    EXPECT_THROW((void)manager.named("settings").list<int>(), std::invalid_argument);
    EXPECT_THROW((void)manager.named(""), std::invalid_argument);
    EXPECT_THROW((void)manager.named(std::string(513, 'n')), std::invalid_argument);
}

// --- Synchronization objects --------------------------------------------------------------------

TEST(ManagerSync, LockAcquireTimesOutAndRejectsUnlockedRelease) {
    mproc::Manager manager;
    auto lock = manager.Lock();
    EXPECT_TRUE(lock.acquire());
    EXPECT_FALSE(lock.acquire(false));
    EXPECT_FALSE(lock.acquire(true, 100ms));
    lock.release();
    EXPECT_THROW(lock.release(), mproc::StateError);
}

TEST(ManagerSync, RLockIsReentrantAndOwnedByAThread) {
    mproc::Manager manager;
    auto rlock = manager.RLock();
    EXPECT_TRUE(rlock.acquire());
    EXPECT_TRUE(rlock.acquire());
    std::thread other([&] {
        EXPECT_FALSE(rlock.acquire(false));
        EXPECT_THROW(rlock.release(), mproc::StateError);
    });
    other.join();
    rlock.release();
    rlock.release();
    EXPECT_THROW(rlock.release(), mproc::StateError);
}

TEST(ManagerSync, SemaphoreCountsAndBoundedSemaphoreRefusesExtraRelease) {
    mproc::Manager manager;
    auto s = manager.Semaphore(2);
    EXPECT_TRUE(s.acquire());
    EXPECT_TRUE(s.acquire());
    EXPECT_FALSE(s.acquire(true, 50ms));
    s.release(2);
    EXPECT_EQ(s.get_value(), 2);
    auto b = manager.BoundedSemaphore(1);
    EXPECT_THROW(b.release(), mproc::StateError);
}

void set_event_later(mproc::EventProxy event) {
    std::this_thread::sleep_for(100ms);
    event.set();
}

TEST(ManagerSync, EventWakesAWaiterInAnotherProcess) {
    mproc::Manager manager;
    auto event = manager.Event();
    EXPECT_FALSE(event.wait(10ms));
    mproc::Process setter(set_event_later, event);
    setter.start();
    EXPECT_TRUE(event.wait(60s));
    EXPECT_TRUE(event.is_set());
    setter.join();
    event.clear();
    EXPECT_FALSE(event.is_set());
}

void notify_when_ready(mproc::ConditionProxy condition, mproc::ValueProxy<int> state) {
    std::lock_guard guard(condition);
    state.set(1);
    condition.notify_all();
}

TEST(ManagerSync, ConditionWaitForSeesANotifyFromAnotherProcess) {
    mproc::Manager manager;
    auto condition = manager.Condition();
    auto state = manager.Value<int>(0);
    EXPECT_THROW(condition.notify(), mproc::StateError);
    std::lock_guard guard(condition);
    mproc::Process notifier(notify_when_ready, condition, state);
    notifier.start();
    EXPECT_TRUE(condition.wait_for([&] { return state.get() == 1; }, 60s));
    notifier.join();
    EXPECT_FALSE(condition.wait(10ms));
}

void notify_under_the_lock(mproc::LockProxy lock, mproc::ConditionProxy condition, mproc::ValueProxy<int> state) {
    std::lock_guard guard(lock);  // holding the lock is holding the condition
    state.set(1);
    condition.notify_all();
}

// Python: condition = manager.Condition(manager.Lock()).
TEST(ManagerSync, ConditionOverALockSharesItWithTheLocksProxies) {
    mproc::Manager manager;
    auto lock = manager.Lock();
    auto condition = manager.Condition(lock);
    auto state = manager.Value<int>(0);
    EXPECT_THROW(condition.notify(), mproc::StateError) << "the lock is not held";
    lock.acquire();
    condition.notify();  // holding the lock is holding the condition
    EXPECT_FALSE(condition.wait(10ms));
    EXPECT_FALSE(lock.acquire(false)) << "wait() takes the lock again before it returns";
    mproc::Process notifier(notify_under_the_lock, lock, condition, state);
    notifier.start();
    EXPECT_TRUE(condition.wait_for([&] { return state.get() == 1; }, 60s)) << "wait() releases the lock";
    condition.release();  // the lock's release, through the condition
    EXPECT_TRUE(lock.acquire(false));
    lock.release();
    notifier.join();
    EXPECT_EQ(notifier.exitcode(), 0);
}

// Python: condition = manager.Condition(manager.RLock()).
TEST(ManagerSync, ConditionOverAnRLockRestoresItsDepthAfterWait) {
    mproc::Manager manager;
    auto rlock = manager.RLock();
    auto condition = manager.Condition(rlock);
    rlock.acquire();
    rlock.acquire();
    EXPECT_FALSE(condition.wait(10ms));
    rlock.release();
    rlock.release();  // held twice again after wait()
    EXPECT_THROW(rlock.release(), mproc::StateError);
    EXPECT_THROW(condition.notify(), mproc::StateError) << "the RLock is not held";
    condition.acquire();
    bool taken_by_another_thread = true;
    std::thread([&] { taken_by_another_thread = rlock.acquire(false); }).join();
    EXPECT_FALSE(taken_by_another_thread) << "the condition holds the RLock itself";
    condition.notify_all();
    rlock.release();  // the condition's acquire(), undone through the RLock
    EXPECT_THROW(condition.release(), mproc::StateError);
}

TEST(ManagerSync, ConditionOverAnotherManagersLockIsRefused) {
    mproc::Manager one;
    mproc::Manager other;
    EXPECT_THROW((void)one.Condition(other.Lock()), std::invalid_argument);
    EXPECT_THROW((void)one.Condition(other.RLock()), std::invalid_argument);
}

// --- Queues, Barrier, Array ---------------------------------------------------------------------

void produce(mproc::JoinableQueueProxy<int> queue) {
    for (int i = 0; i < 10; ++i) queue.put(i);
}

TEST(ManagerQueues, JoinableQueueCarriesItemsAcrossProcessesAndJoins) {
    mproc::Manager manager;
    auto queue = manager.JoinableQueue<int>();
    mproc::Process producer(produce, queue);
    producer.start();
    int sum = 0;
    for (int i = 0; i < 10; ++i) {
        sum += queue.get(true, 60s);
        queue.task_done();
    }
    producer.join();
    queue.join();  // every item done
    EXPECT_EQ(sum, 45);
    EXPECT_THROW(queue.task_done(), mproc::StateError);
    EXPECT_THROW(queue.get_nowait(), mproc::Empty);
}

TEST(ManagerQueues, BoundedQueueRefusesPutWhenFull) {
    mproc::Manager manager;
    auto queue = manager.Queue<std::string>(1);
    queue.put("a");
    EXPECT_TRUE(queue.full());
    EXPECT_THROW(queue.put("b", true, 50ms), mproc::Full);
    EXPECT_EQ(queue.qsize(), 1u);
    EXPECT_EQ(queue.get(), "a");
    EXPECT_TRUE(queue.empty());
}

void wait_at_barrier(int, mproc::BarrierProxy barrier, mproc::ListProxy<std::int64_t> indices) {
    indices.append(barrier.wait(60s));
}

TEST(ManagerQueues, BarrierReleasesAllPartiesTogether) {
    mproc::Manager manager;
    auto barrier = manager.Barrier(3);
    auto indices = manager.list<std::int64_t>();
    auto children = mproc::test::start_children(2, wait_at_barrier, barrier, indices);
    indices.append(barrier.wait(60s));
    EXPECT_EQ(mproc::test::join_all(children), (std::vector<int>{0, 0}));
    indices.sort();
    EXPECT_EQ(indices.copy(), (std::vector<std::int64_t>{0, 1, 2}));
    EXPECT_EQ(barrier.parties(), 3);
    EXPECT_THROW(barrier.wait(50ms), mproc::BrokenBarrierError);  // alone: times out, breaks
    EXPECT_TRUE(barrier.broken());
    barrier.reset();
    EXPECT_FALSE(barrier.broken());
}

TEST(ManagerQueues, ArrayHasAFixedSize) {
    mproc::Manager manager;
    auto array = manager.Array<double>({1.0, 2.0, 3.0});
    array.set(-1, 9.5);
    EXPECT_EQ(array.at(2), 9.5);
    EXPECT_EQ(array.size(), 3u);
    EXPECT_THROW(array.at(3), std::out_of_range);
    EXPECT_EQ(array.copy(), (std::vector<double>{1.0, 2.0, 9.5}));
}

// --- Types of your own (BaseManager.register) ---------------------------------------------------

struct Counter {
    using Init = std::int64_t;
    static constexpr bool serialized = true;
    std::int64_t value;
    explicit Counter(Init start) : value(start) {}
    std::int64_t add(std::int64_t n) { return value += n; }
    static void describe(mproc::detail::manager::MethodTable<Counter>& t) { t.add("add", &Counter::add); }
};
const bool counter_registered = mproc::register_managed<Counter>("Counter");

void add_to_counter(mproc::ObjectProxy<Counter> counter) { (void)counter.call<std::int64_t>("add", std::int64_t{5}); }

TEST(ManagerRegister, RegisteredTypeIsServedUnderItsName) {
    ASSERT_TRUE(counter_registered);
    mproc::Manager manager;
    auto counter = manager.create<Counter>(10);
    EXPECT_EQ(counter.call<std::int64_t>("add", std::int64_t{1}), 11);
    EXPECT_EQ(mproc::test::run_child(add_to_counter, counter), 0);
    EXPECT_EQ(counter.call<std::int64_t>("add", std::int64_t{0}), 16);
    EXPECT_THROW((void)counter.call<std::int64_t>("subtract", std::int64_t{1}), std::invalid_argument);
    EXPECT_THROW((void)counter.call<std::int64_t>("add", std::string("abc")), mproc::SerializationError);
}

}  // namespace
