// Owner of one mapping of an unnamed memfd, possibly larger than the file (a reservation the
// file may grow into without the mapping moving). mproc's shared objects hold it through
// detail::SharedBlock.
#pragma once

#include <cstddef>

#include "os/unique_fd.hpp"

namespace mproc::os {

class BlockMapping {
public:
    // A new zero-filled memfd of `size` bytes, mapped over max(size, reserve) bytes.
    static BlockMapping create(const char* debug_name, std::size_t size, std::size_t reserve);
    // Maps an existing memfd (takes ownership of fd) over max(file size, reserve) bytes.
    static BlockMapping attach(UniqueFd fd, std::size_t reserve);

    BlockMapping(BlockMapping&& other) noexcept;
    BlockMapping& operator=(BlockMapping&&) = delete;
    ~BlockMapping();

    std::byte* data() const noexcept { return data_; }
    std::size_t mapped_size() const noexcept { return mapped_size_; }
    int fd() const noexcept { return fd_.get(); }
    std::size_t file_size() const;

private:
    BlockMapping() = default;
    UniqueFd fd_;
    std::byte* data_ = nullptr;
    std::size_t mapped_size_ = 0;
};

}  // namespace mproc::os
