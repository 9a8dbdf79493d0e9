// mproc/detail/byte_buffer.hpp: the byte buffers under mproc::Writer and mproc::Reader
// (serialize.hpp), with what transports and shared objects need beyond the Codec contract:
// writing into memory the writer does not own (transports encode straight into shared memory),
// descriptors that travel beside the bytes (shared objects are backed by memfds), and a hook
// that tells a transport when a decoder no longer needs the memory it lent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <mproc/errors.hpp>

namespace mproc::detail {

// A close-on-exec duplicate of fd (SerializationError if it is not open), and its release.
// Defined in src/message_fds.cpp.
int duplicate_fd(int fd);
void close_fd(int fd) noexcept;
// Duplicates of the descriptors, closed when the last owner lets go.
std::shared_ptr<const std::vector<int>> keep_fds(const std::vector<int>& fds);

// Where a Writer's bytes go: a std::vector (its own or the caller's), or storage it does not own,
// grown on demand; and the descriptors to send with them, out of band.
class OutputBuffer {
public:
    // Memory a Writer may fill. When a write does not fit, `grow` is called with the bytes used so
    // far and the total needed, and returns new storage that holds the used bytes at its start
    // and at least `needed` bytes in all; it throws SerializationError if it cannot.
    struct Storage {
        std::byte* data = nullptr;  // where the encoded bytes go
        std::size_t capacity = 0;   // how many bytes fit there
    };
    using Grow = Storage (*)(void* context, std::size_t used, std::size_t needed);

    // A buffer of its own.
    OutputBuffer() = default;
    // Appends to `buffer`.
    explicit OutputBuffer(std::vector<std::byte>& buffer) : vector_(&buffer) {}
    // Writes into `storage`, calling grow(context, used, needed) when it is full.
    OutputBuffer(Storage storage, Grow grow, void* context)
        : vector_(nullptr), storage_(storage), grow_(grow), grow_context_(context) {}
    OutputBuffer(const OutputBuffer&) = delete;
    OutputBuffer& operator=(const OutputBuffer&) = delete;
    ~OutputBuffer() { clear_fds(); }

    // Registers a descriptor to send with the message; returns its index in the message. The
    // buffer keeps its own duplicate of the descriptor until it is destroyed, so that the message
    // stays valid even if the object that owned the descriptor is gone by the time the message is
    // sent (a result object is destroyed as soon as it is encoded). Throws mproc::SerializationError
    // if the descriptor cannot be duplicated.
    std::uint32_t attach_fd(int fd) {
        fds_.push_back(duplicate_fd(fd));
        return static_cast<std::uint32_t>(fds_.size() - 1);
    }
    // The descriptors attached so far (the buffer's own duplicates).
    const std::vector<int>& fds() const noexcept { return fds_; }
    // Closes and forgets the attached descriptors.
    void clear_fds() noexcept {
        for (int fd : fds_) close_fd(fd);
        fds_.clear();
    }

protected:
    void append(const void* data, std::size_t size) {
        if (size != 0) std::memcpy(extend(size), data, size);
    }
    // `size` more bytes, left for the caller to fill: where they start.
    std::byte* extend(std::size_t size) {
        if (vector_) {
            // resize rather than insert(end, first, last): g++ 12 at -O3 warns
            // (-Wstringop-overflow, a false positive) about the insert into a vector it sees empty.
            const std::size_t used = vector_->size();
            vector_->resize(used + size);
            return vector_->data() + used;
        }
        if (size > storage_.capacity - used_) storage_ = grow_(grow_context_, used_, used_ + size);
        std::byte* place = storage_.data + used_;
        used_ += size;
        return place;
    }
    std::size_t used() const noexcept { return vector_ ? vector_->size() : used_; }
    void take_back(std::size_t size) {
        if (vector_)
            vector_->resize(size);
        else
            used_ = size;
    }
    std::byte* at(std::size_t offset) noexcept { return (vector_ ? vector_->data() : storage_.data) + offset; }

private:
    std::vector<std::byte> own_;
    std::vector<std::byte>* vector_ = &own_;
    Storage storage_;
    std::size_t used_ = 0;
    Grow grow_ = nullptr;
    void* grow_context_ = nullptr;
    std::vector<int> fds_;
};

// What a Reader reads: a span of bytes, never read past its end, the descriptors that came with
// them, and the hook through which a transport that lent the bytes learns they are no longer
// needed.
class InputBuffer {
public:
    explicit InputBuffer(std::span<const std::byte> bytes, std::span<const int> fds = {}) : bytes_(bytes), fds_(fds) {}

    // A transport that lends its memory learns through this hook when the decoder no longer
    // needs it (see release_input()).
    void on_release(void (*release)(void* context), void* context) noexcept {
        release_ = release;
        release_context_ = context;
    }
    // Called by decoders once everything they need has been copied out, so that the transport
    // may reuse the memory. Only the first call has an effect; nothing more can be read after it.
    void release_input() {
        if (release_) std::exchange(release_, nullptr)(release_context_);
        bytes_ = bytes_.first(position_);
    }
    // The descriptor attached at `index` (see OutputBuffer::attach_fd); owned by the message.
    // Throws SerializationError for an index the message does not hold.
    int fd(std::uint32_t index) const {
        if (index >= fds_.size()) fail("file descriptor index out of range");
        return fds_[index];
    }

    // Throws SerializationError: "cannot decode message: <what> (at byte N of M)".
    [[noreturn]] void fail(const std::string& what) const {
        throw SerializationError("mproc: cannot decode message: " + what + " (at byte " + std::to_string(position_) +
                                 " of " + std::to_string(bytes_.size()) + ")");
    }

protected:
    std::span<const std::byte> bytes_;
    std::size_t position_ = 0;

private:
    std::span<const int> fds_;
    void (*release_)(void*) = nullptr;
    void* release_context_ = nullptr;
};

}  // namespace mproc::detail
