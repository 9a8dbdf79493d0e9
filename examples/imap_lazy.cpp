// imap reads its input lazily: an endless input works in bounded memory. Python's imap would
// try to read all of it first.
#include <cstdio>
#include <ranges>

#include <mproc/mproc.hpp>

bool is_prime(long n) {
    if (n < 2) return false;
    for (long d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

int main() {
    mproc::Pool pool(2);
    long found = 0;
    long n = 0;
    // std::views::iota(0L) never ends; we stop after the 1000th prime.
    for (bool prime : pool.imap(is_prime, std::views::iota(0L), {.chunksize = 64})) {
        if (prime && ++found == 1000) break;
        ++n;
    }
    std::printf("the 1000th prime is %ld\n", n);
    return n == 7919 ? 0 : 1;
}
