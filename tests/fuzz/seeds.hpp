// The fuzzers' seed corpora: each fuzzer builds its seeds in code (so that they follow the
// encoders) and writes them out when run with --write-seeds=DIR.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

}  // namespace mproc::fuzz
