// mproc::Pool: every method on every kind of input, result order, values of every kind.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

// map, map_async, imap, imap_unordered, starmap and starmap_async of `make()`, which yields 0..n-1.
template <class MakeInput>
void expect_every_method_squares(mproc::Pool& pool, MakeInput make, int n) {
    const auto expected = squares(n);
    EXPECT_EQ(pool.map(square, make()), expected) << "map";
    EXPECT_EQ(pool.map_async(square, make()).get(), expected) << "map_async";
    EXPECT_EQ(collect(pool.imap(square, make())), expected) << "imap";
    EXPECT_EQ(sorted(collect(pool.imap_unordered(square, make()))), expected) << "imap_unordered";
    const auto twice = [](int x) { return std::tuple<int, int>{x, x}; };
    EXPECT_EQ(pool.starmap(multiply, make() | std::views::transform(twice)), expected) << "starmap";
    EXPECT_EQ(pool.starmap_async(multiply, make() | std::views::transform(twice)).get(), expected)
        << "starmap_async";
}

TEST(PoolInputs, EveryMethodAcceptsAVector) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::vector<int> input(50);
    std::iota(input.begin(), input.end(), 0);
    expect_every_method_squares(pool, [&]() -> std::vector<int>& { return input; }, 50);  // lvalue
    expect_every_method_squares(pool, [&] { return input; }, 50);                         // rvalue
    // As the argument of apply: 0 + 1 + ... + 49.
    const auto total = [](const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0); };
    EXPECT_EQ(pool.apply(total, input), 1225);
    EXPECT_EQ(pool.apply_async(total, input).get(), 1225);
}

TEST(PoolInputs, EveryMethodAcceptsAnIotaView) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    expect_every_method_squares(pool, [] { return std::views::iota(0, 77); }, 77);
    // As the argument of apply (an iota view is plain data): 0 + 1 + ... + 76.
    const auto total = [](std::ranges::iota_view<int, int> view) {
        return std::accumulate(view.begin(), view.end(), 0);
    };
    EXPECT_EQ(pool.apply(total, std::views::iota(0, 77)), 2926);
    EXPECT_EQ(pool.apply_async(total, std::views::iota(0, 77)).get(), 2926);
}

TEST(PoolInputs, EveryMethodAcceptsAList) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::list<int> input;
    for (int i = 0; i < 33; ++i) input.push_back(i);
    expect_every_method_squares(pool, [&]() -> std::list<int>& { return input; }, 33);  // lvalue
    expect_every_method_squares(pool, [&] { return input; }, 33);                       // rvalue
    // As the argument of apply: 0 + 1 + ... + 32.
    const auto total = [](const std::list<int>& list) { return std::accumulate(list.begin(), list.end(), 0); };
    EXPECT_EQ(pool.apply(total, input), 528);
    EXPECT_EQ(pool.apply_async(total, input).get(), 528);
}

TEST(PoolInputs, EveryMethodAcceptsAGeneratorOfUnknownLength) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    expect_every_method_squares(pool, [] { return Generated(41); }, 41);
}

TEST(PoolInputs, EmptyInputGivesEmptyResults) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    expect_every_method_squares(pool, [] { return std::vector<int>{}; }, 0);
    expect_every_method_squares(pool, [] { return Generated(0); }, 0);
    auto result = pool.map_async(square, std::views::iota(0, 0));
    EXPECT_TRUE(result.wait(5s));
    EXPECT_TRUE(result.successful());
    EXPECT_TRUE(result.get().empty());
}

TEST(PoolInputs, StarmapSpreadsTuplesAndPairsOfMixedTypes) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto repeat = [](std::string s, int times) {
        std::string out;
        for (int i = 0; i < times; ++i) out += s;
        return out;
    };
    EXPECT_EQ(pool.starmap(repeat, std::vector<std::pair<std::string, int>>{{"ab", 2}, {"x", 3}, {"", 5}}),
              (std::vector<std::string>{"abab", "xxx", ""}));
    std::list<std::tuple<std::string, int>> list{{"q", 1}, {"zz", 0}};
    EXPECT_EQ(pool.starmap(repeat, list), (std::vector<std::string>{"q", ""}));
    EXPECT_EQ(pool.starmap([](int a, int b, int c) { return a + b + c; },
                           std::vector<std::tuple<int, int, int>>{{1, 2, 3}, {4, 5, 6}}),
              (std::vector<int>{6, 15}));
}

TEST(PoolInputs, ChunksizeDoesNotChangeTheResults) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto expected = squares(100);
    for (std::size_t chunksize : {1, 2, 7, 50, 99, 100, 101, 1000}) {
        SCOPED_TRACE("chunksize " + std::to_string(chunksize));
        const mproc::MapOptions options{.chunksize = chunksize};
        EXPECT_EQ(pool.map(square, std::views::iota(0, 100), options), expected);
        EXPECT_EQ(pool.map_async(square, std::views::iota(0, 100), options).get(), expected);
        EXPECT_EQ(collect(pool.imap(square, Generated(100), options)), expected);
        EXPECT_EQ(sorted(collect(pool.imap_unordered(square, std::views::iota(0, 100), options))), expected);
        EXPECT_EQ(pool.starmap(multiply,
                               std::views::iota(0, 100) | std::views::transform([](int x) { return std::tuple{x, x}; }),
                               options),
                  expected);
    }
}

// Which process ran an item, and how many items that process had run by then.
long g_items_run_here = 0;
std::pair<int, long> who_runs(int) { return {static_cast<int>(::getpid()), ++g_items_run_here}; }

// Items of one chunk run one after another in one worker.
void expect_chunks_of(const std::vector<std::pair<int, long>>& runs, std::size_t chunksize) {
    for (std::size_t i = 1; i < runs.size(); ++i) {
        if (i % chunksize == 0) continue;  // first item of a chunk
        EXPECT_EQ(runs[i].first, runs[i - 1].first) << "item " << i << " not in the chunk of item " << i - 1;
        EXPECT_EQ(runs[i].second, runs[i - 1].second + 1) << "item " << i << " not right after item " << i - 1;
    }
}

TEST(PoolInputs, ExplicitChunksizeSendsItemsInChunksOfThatSize) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    expect_chunks_of(pool.map(who_runs, std::views::iota(0, 40), {.chunksize = 5}), 5);
    expect_chunks_of(collect(pool.imap(who_runs, std::views::iota(0, 40), {.chunksize = 8})), 8);
}

TEST(PoolInputs, MapWithoutChunksizeChoosesItAsPythonDoes) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Python: ceil(len / (4 * processes)): 100 items on 2 workers -> 13; 16 items -> 2.
    expect_chunks_of(pool.map(who_runs, std::views::iota(0, 100)), 13);
    expect_chunks_of(pool.map(who_runs, std::views::iota(0, 16)), 2);
}

TEST(PoolInputs, DefaultProcessCountIsCpuCount) {
    LeakCheck leaks;
    mproc::Pool pool;
    EXPECT_EQ(pool.processes(), mproc::cpu_count());
    EXPECT_EQ(static_cast<int>(pool.worker_pids().size()), mproc::cpu_count());
}

// Item i of 4 sleeps (4 - i) * 80 ms: later items finish first.
int reverse_sleeper(int i) {
    sleep_ms((4 - i) * 80);
    return i;
}

TEST(PoolOrder, ImapUnorderedYieldsInCompletionOrder) {
    LeakCheck leaks;
    mproc::Pool pool(4);
    EXPECT_EQ(collect(pool.imap_unordered(reverse_sleeper, std::views::iota(0, 4))), (std::vector<int>{3, 2, 1, 0}));
}

TEST(PoolOrder, MapAndImapYieldInInputOrderWhenLaterItemsFinishFirst) {
    LeakCheck leaks;
    mproc::Pool pool(4);
    EXPECT_EQ(collect(pool.imap(reverse_sleeper, std::views::iota(0, 4))), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(pool.map(reverse_sleeper, std::views::iota(0, 4), {.chunksize = 1}), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(pool.starmap_async([](int i) { return reverse_sleeper(i); },
                                 std::vector<std::tuple<int>>{{0}, {1}, {2}, {3}}, {.chunksize = 1})
                  .get(),
              (std::vector<int>{0, 1, 2, 3}));
}

TEST(PoolOrder, UnevenTasksAreBalancedDynamically) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Item 0 takes 1 s, the 19 others 50 ms. Handed out dynamically the map takes about 1.05 s;
    // split statically between two workers, one of them would need 1.45 s.
    const auto start = Clock::now();
    pool.map([](int x) { sleep_ms(x == 0 ? 1000 : 50); return x; }, std::views::iota(0, 20), {.chunksize = 1});
    EXPECT_LT(seconds_since(start), 1.3);
}

TEST(PoolValues, VoidFunctionsGiveMonostatesAndRunEveryItemOnce) {
    MPROC_TEST_REQUIRES_FORK();
    LeakCheck leaks;
    Pipe pipe;
    mproc::Pool pool(2);
    const int fd = pipe.write_end;
    const auto mark = mproc::partial([](int out, int x) { (void)!::write(out, x % 2 ? "o" : "e", 1); }, fd);
    auto results = pool.map(mark, std::views::iota(0, 20));
    static_assert(std::is_same_v<decltype(results), std::vector<std::monostate>>);
    EXPECT_EQ(results.size(), 20u);
    std::string marks = pipe.read_exactly(20);
    EXPECT_EQ(std::ranges::count(marks, 'o'), 10);

    auto imapped = collect(pool.imap(mark, std::vector<int>{1, 2, 3}));
    static_assert(std::is_same_v<decltype(imapped), std::vector<std::monostate>>);
    EXPECT_EQ(imapped.size(), 3u);
    EXPECT_EQ(pool.starmap_async(mproc::partial([](int out, int, int) { (void)!::write(out, "s", 1); }, fd),
                                 std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}})
                  .get()
                  .size(),
              2u);
    pool.apply(mark, 1);
    auto async = pool.apply_async(mark, 2);
    static_assert(std::is_same_v<decltype(async), mproc::AsyncResult<void>>);
    async.get();
    EXPECT_TRUE(async.successful());
    marks = pipe.read_exactly(3 + 2 + 2);
    std::ranges::sort(marks);
    EXPECT_EQ(marks, "eeoooss");
}


// A functor whose state (a string and a vector) travels through cereal.
struct Labeler {
    std::string prefix;
    std::vector<int> weights;
    template <class Archive>
    void serialize(Archive& archive) {
        archive(prefix, weights);
    }
    std::string operator()(int x) const {
        return prefix + std::to_string(x * weights.at(static_cast<std::size_t>(x) % weights.size()));
    }
};

TEST(PoolValues, PartialsAndFunctorsWithStateRunInWorkers) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const int offset = 1000;
    const double scale = 0.5;
    const auto shifted = mproc::partial([](int o, double s, int x) { return o + s * x; }, offset, scale);
    EXPECT_EQ(pool.map(shifted, std::vector{0, 2, 4}), (std::vector<double>{1000, 1001, 1002}));
    EXPECT_EQ(collect(pool.imap(shifted, std::views::iota(0, 3))), (std::vector<double>{1000, 1000.5, 1001}));
    EXPECT_EQ(pool.apply(shifted, 10), 1005);
    EXPECT_EQ(
        pool.starmap(mproc::partial([](int o, int a, int b) { return a * b + o; }, offset), std::vector<std::tuple<int, int>>{{2, 3}}),
        (std::vector<int>{1006}));

    const Labeler labeler{"n=", {1, 10}};
    EXPECT_EQ(pool.map(labeler, std::views::iota(0, 4)), (std::vector<std::string>{"n=0", "n=10", "n=2", "n=30"}));
    EXPECT_EQ(pool.apply_async(labeler, 3).get(), "n=30");
    EXPECT_EQ(sorted(collect(pool.imap_unordered(labeler, std::vector{1, 2}))),
              (std::vector<std::string>{"n=10", "n=2"}));
    // State made after the workers were forked still reaches them.
    const Labeler later{std::string(3000, 'x'), {2}};
    EXPECT_EQ(pool.apply(later, 1), std::string(3000, 'x') + "2");
}

TEST(PoolValues, StringsContainersOptionalsAndVariantsRoundTrip) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto upper = [](std::string s) {
        for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return s;
    };
    EXPECT_EQ(pool.map(upper, std::vector<std::string>{"ab", "", std::string(100000, 'q')}),
              (std::vector<std::string>{"AB", "", std::string(100000, 'Q')}));
    const auto split = [](const std::string& s) {
        std::vector<std::string> words;
        std::string word;
        for (char c : s + " ") {
            if (c != ' ') {
                word += c;
            } else if (!word.empty()) {
                words.push_back(word);
                word.clear();
            }
        }
        return words;
    };
    EXPECT_EQ(pool.apply(split, std::string("a bb  ccc")), (std::vector<std::string>{"a", "bb", "ccc"}));
    const auto summarize = [](std::string name, std::vector<int> values, std::map<std::string, int> extra) {
        return std::pair{name + ":" + std::to_string(values.size()),
                         std::accumulate(values.begin(), values.end(), 0) + extra.at("bonus")};
    };
    EXPECT_EQ(
        pool.apply(summarize, std::string("v"), std::vector<int>{1, 2, 3}, std::map<std::string, int>{{"bonus", 10}}),
        (std::pair<std::string, int>{"v:3", 16}));
    const auto classify = [](int x) -> std::variant<int, std::string, std::optional<double>> {
        if (x % 3 == 0) return x;
        if (x % 3 == 1) return std::to_string(x);
        return std::optional<double>();
    };
    using Classified = std::variant<int, std::string, std::optional<double>>;
    EXPECT_EQ(
        pool.map(classify, std::views::iota(0, 3)),
        (std::vector<Classified>{Classified(0), Classified(std::string("1")), Classified(std::optional<double>())}));
}

}  // namespace
