// The fuzzers' seed corpora: each fuzzer builds its seeds in code (so that they follow the
// encoders) and writes them out when run with --write-seeds=DIR.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

namespace mproc::fuzz {

// Writes each seed to DIR/seed-NN-<label>-<first byte> when the arguments hold --write-seeds=DIR,
// then exits; returns otherwise. libFuzzer ignores arguments that start with "--".
inline void write_seeds_if_asked(int argc, char** argv, const std::vector<std::vector<std::byte>>& seeds,
                                 const char* label) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--write-seeds=", 14) != 0) continue;
        int number = 0;
        for (const auto& seed : seeds) {
            char path[4096];
            std::snprintf(path, sizeof(path), "%s/seed-%02d-%s-%02u", argv[i] + 14, number++, label,
                          static_cast<unsigned>(seed[0]));
            std::FILE* file = std::fopen(path, "wb");
            if (!file || std::fwrite(seed.data(), 1, seed.size(), file) != seed.size()) {
                std::perror(path);
                std::exit(1);
            }
            std::fclose(file);
        }
        std::exit(0);
    }
}

// Appends a seed: the byte that picks the decoder (see feed), then the decoder's input.
inline void add_seed(std::vector<std::vector<std::byte>>& seeds, std::uint8_t selector,
                     std::span<const std::byte> bytes) {
    std::vector<std::byte> input{std::byte{selector}};
    input.insert(input.end(), bytes.begin(), bytes.end());
    seeds.push_back(std::move(input));
}

// The body of LLVMFuzzerTestOneInput: the first byte of the input picks one of `decoders`
// (modulo their number), which gets the rest.
template <class Decoder, std::size_t N>
void feed(const Decoder (&decoders)[N], const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
    decoders[static_cast<std::size_t>(input[0]) % N](input.subspan(1));
}

}  // namespace mproc::fuzz
