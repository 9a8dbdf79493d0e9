#include "transport/spsc_ring.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "os/futex.hpp"
#include "os_error.hpp"
#include "transport/futex_wait.hpp"

namespace mproc::transport {

struct Ring::Header {
    std::uint64_t length;  // of the payload, inline or spilled
    std::uint64_t tag;
    std::uint16_t placement;
    std::uint16_t type;
    std::uint32_t fd_count;  // descriptors sent beside the ring for this record
    std::uint64_t unused = 0;
};

namespace {

enum Placement : std::uint16_t { inline_payload = 0, spilled_payload = 1, padding = 2 };

constexpr std::size_t page = 4096;
constexpr std::size_t header_size = Ring::alignment;
// A record is only started where at least this much payload fits inline; smaller gaps at the end
// of the ring are padded over.
constexpr std::size_t min_inline = 256;

constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

std::size_t Ring::region_size(std::size_t capacity) { return page + round_up(capacity, page); }

Ring::Ring(std::byte* region, std::size_t capacity, int spill_file, std::size_t spill_limit, Setup setup)
    : control_(setup == Setup::create ? new (region) RingControl : reinterpret_cast<RingControl*>(region)),
      data_(region + page),
      capacity_(capacity),
      spill_(spill_file),
      spill_limit_(spill_limit) {
    static_assert(sizeof(RingControl) <= page);
    static_assert(sizeof(Header) == alignment, "a record header is one alignment unit");
}

std::size_t Ring::free_bytes() const noexcept {
    const auto written = control_->write_position.load(std::memory_order_relaxed);
    const auto read = control_->read_position.load(std::memory_order_acquire);
    return capacity_ - static_cast<std::size_t>(written - read);
}

bool Ring::can_start_without_blocking() const noexcept {
    if (control_->spill_busy.load(std::memory_order_acquire) != 0) return false;
    const std::size_t tail = capacity_ - control_->write_position.load(std::memory_order_relaxed) % capacity_;
    const std::size_t padding_needed = tail < header_size + min_inline ? tail : 0;
    return free_bytes() >= padding_needed + header_size + min_inline;
}

void Ring::wait_for_space(std::size_t bytes) {
    while (free_bytes() < bytes) {
        const auto seen = control_->consumed.load(std::memory_order_acquire);
        control_->producer_waiting.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (free_bytes() < bytes) os::futex_wait(control_->consumed, seen);
        control_->producer_waiting.store(0, std::memory_order_relaxed);
    }
}

Writer& Ring::begin(std::uint16_t type, std::uint64_t tag) {
    for (;;) {
        const auto position = control_->write_position.load(std::memory_order_relaxed);
        const std::size_t offset = position % capacity_;
        const std::size_t tail = capacity_ - offset;
        const std::size_t contiguous = std::min(tail, free_bytes());
        if (contiguous >= header_size + min_inline) {
            header_position_ = position;
            type_ = type;
            tag_ = tag;
            spilling_ = false;
            spill_reserved_ = 0;
            writer_.emplace(Writer::Storage{data_ + offset + header_size, contiguous - header_size}, &Ring::grow, this);
            return *writer_;
        }
        if (tail < header_size + min_inline && free_bytes() >= tail) {
            const Header filler{tail - header_size, 0, padding, 0, 0};
            std::memcpy(data_ + offset, &filler, sizeof filler);
            control_->write_position.store(position + tail, std::memory_order_release);
            continue;
        }
        // Wait for exactly what the branches above need. Asking for more could wait forever: the
        // consumer skips trailing padding without releasing it, so an idle ring need not be empty.
        wait_for_space(tail >= header_size + min_inline ? header_size + min_inline : tail);
    }
}

Writer::Storage Ring::grow(void* context, std::size_t used, std::size_t needed) {
    auto& ring = *static_cast<Ring*>(context);
    if (needed > ring.spill_limit_)
        throw SerializationError("mproc: message of more than " + std::to_string(ring.spill_limit_) +
                                 " bytes exceeds the transport's limit (max_message_size)");
    if (!ring.spilling_) {
        while (ring.control_->spill_busy.load(std::memory_order_acquire) != 0)
            os::futex_wait(ring.control_->spill_busy, 1);
    }
    // Geometrically, for a message written in many small pieces; the file keeps its size for the
    // next large message.
    constexpr std::size_t min_spill = std::size_t{1} << 20;
    const std::size_t size =
        std::min(ring.spill_limit_, round_up(std::max({needed, 2 * ring.spill_reserved_, min_spill}), page));
    std::byte* spill = detail::or_throw(ring.spill_.at_least(size, os::GrowingMapping::Mode::grow_file));
    ring.spill_reserved_ = size;
    if (!ring.spilling_) {
        const std::size_t offset = ring.header_position_ % ring.capacity_;
        std::memcpy(spill, ring.data_ + offset + header_size, used);
        ring.spilling_ = true;
    }
    return {spill, size};
}

bool Ring::commit() {
    const std::size_t length = writer_->size();
    const auto fd_count = static_cast<std::uint32_t>(writer_->fds().size());
    writer_.reset();
    const Header header{length, tag_, spilling_ ? spilled_payload : inline_payload, type_, fd_count};
    std::memcpy(data_ + header_position_ % capacity_, &header, sizeof header);
    if (spilling_) control_->spill_busy.store(1, std::memory_order_relaxed);
    const std::uint64_t advance = header_size + (spilling_ ? 0 : round_up(length, alignment));
    control_->write_position.store(header_position_ + advance, std::memory_order_release);
    // One producer: a plain increment.
    control_->published.store(control_->published.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // Pairs with the fence in wait(): either the consumer sees this record, or we see it waiting.
    // Whoever clears the flag wakes it: one wake-up per sleep, however many records follow
    // before the consumer runs.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return control_->consumer_waiting.load(std::memory_order_relaxed) != 0 &&
           control_->consumer_waiting.exchange(0, std::memory_order_relaxed) != 0;
}

void Ring::abandon() noexcept { writer_.reset(); }

void Ring::wake_consumer() const noexcept { os::futex_wake(control_->published); }

bool Ring::empty() const noexcept {
    return control_->read_position.load(std::memory_order_relaxed) ==
           control_->write_position.load(std::memory_order_acquire);
}

std::optional<Record> Ring::peek() const {
    auto position = control_->read_position.load(std::memory_order_relaxed);
    for (;;) {
        if (position == control_->write_position.load(std::memory_order_acquire)) return std::nullopt;
        Header header;
        const std::size_t offset = position % capacity_;
        std::memcpy(&header, data_ + offset, sizeof header);
        // The producer may be a crashed or misbehaving process: check before trusting the header.
        const std::size_t room = capacity_ - offset - header_size;
        if (header.placement == padding) {
            if (header.length != room) throw SerializationError("mproc: corrupt ring record (padding)");
            position += capacity_ - offset;
            // Padding holds nothing; skipping it in our own view is enough, release() catches up.
            continue;
        }
        Record record;
        record.type = header.type;
        record.tag = header.tag;
        record.fd_count = header.fd_count;
        record.spilled = header.placement == spilled_payload;
        const auto corrupt = [&] {
            return SerializationError("mproc: corrupt ring record (length " + std::to_string(header.length) + ")");
        };
        const std::byte* payload = data_ + offset + header_size;
        if (record.spilled) {
            if (header.length > spill_limit_) throw corrupt();
            payload = detail::or_throw(spill_.at_least(std::max<std::size_t>(header.length, 1), os::GrowingMapping::Mode::existing));
            if (!payload) throw corrupt();  // the producer never grew the spill file that far
        } else if (header.length > room) {
            throw corrupt();
        }
        record.payload = {payload, header.length};
        record.end_position = position + header_size + (record.spilled ? 0 : round_up(header.length, alignment));
        return record;
    }
}

std::optional<Record> Ring::wait(std::optional<std::chrono::nanoseconds> timeout) {
    const Deadline deadline = timeout ? Deadline(std::chrono::steady_clock::now() + *timeout) : std::nullopt;
    for (;;) {
        if (auto record = peek()) return record;
        const auto seen = control_->published.load(std::memory_order_acquire);
        control_->consumer_waiting.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (auto record = peek()) {
            control_->consumer_waiting.store(0, std::memory_order_relaxed);
            return record;
        }
        const bool slept = futex_wait_until(control_->published, seen, deadline);
        control_->consumer_waiting.store(0, std::memory_order_relaxed);
        if (!slept) return std::nullopt;
    }
}

void Ring::release(const Record& record) {
    if (record.spilled) {
        control_->spill_busy.store(0, std::memory_order_release);
        os::futex_wake(control_->spill_busy);
    }
    control_->read_position.store(record.end_position, std::memory_order_release);
    // One consumer at a time: a plain increment.
    control_->consumed.store(control_->consumed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (control_->producer_waiting.load(std::memory_order_relaxed) != 0 &&
        control_->producer_waiting.exchange(0, std::memory_order_relaxed) != 0)
        os::futex_wake(control_->consumed);
}

}  // namespace mproc::transport
