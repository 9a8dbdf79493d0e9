// mproc/shared_memory.hpp: named shared memory segments (Python's
// multiprocessing.shared_memory.SharedMemory).
//
//   auto shm = mproc::SharedMemory::create(1024);         // Python: SharedMemory(create=True, size=1024)
//   std::span<std::byte> bytes = shm.buf();
//   mproc::SharedMemory other(shm.name());                // Python: SharedMemory(name)
//   other.close();
//   shm.close();
//   shm.unlink();                                         // removes the name; call it once
//
// Names follow Python's rules: a segment created without a name gets a fresh one ("psm_"
// followed by 8 hex digits); names are given without a leading '/' (one is accepted and ignored)
// and may not otherwise contain '/'. The segment lives in /dev/shm under that name until unlink().
// Creating a name that exists throws OSError with code() == EEXIST (Python's FileExistsError);
// attaching to a name that does not exist throws OSError with code() == ENOENT
// (FileNotFoundError).
//
// Leftovers are cleaned up as by Python's resource tracker: a segment this program creates is
// registered with a small tracker process, started with the first one. The program's processes
// (the one that started it, the children it starts from then on by any start method, theirs)
// keep a channel to it open; once the last of them is gone, however it ended (SIGKILL included),
// the tracker unlinks the segments still registered and warns on stderr ("mproc:
// resource_tracker: There appear to be 1 leaked shared_memory objects to clean up at shutdown:
// psm_..."). unlink() unregisters. A child started before its parent had a tracker gets its own
// with its first segment. With {.track = false} (Python 3.13's track=False) a segment is left to
// unlink() alone and may outlive the program. Attaching by name never registers (Python's
// track=True registers attachers too, so that a process that merely attached removes the segment
// when it ends).
//
// A SharedMemory object is a handle: copies share the mapping, which close() releases for every
// copy in this process. It can be passed to a Process or sent to another process (it travels as a
// descriptor, so it works even after unlink(); its track option goes with it).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <mproc/detail/codec_fwd.hpp>
#include <mproc/errors.hpp>

namespace mproc {

/// Options of SharedMemory.
struct SharedMemoryOptions {
    /// Python 3.13's track. Created segments are registered with the resource tracker, which
    /// unlinks them once the program is gone; false: left to unlink(). For every handle, whether
    /// unlink() tells the tracker.
    bool track = true;
};

/// A named block of shared memory that any process can attach to by name. Python:
/// multiprocessing.shared_memory.SharedMemory.
///
/// Errors: mproc::OSError when the segment cannot be created (EEXIST for a taken name), opened
/// (ENOENT), sized or mapped; std::invalid_argument for an invalid name or a zero size;
/// mproc::StateError from name(), size() and buf() after close().
///
/// Thread safety: the handle may be used from any number of threads at once, except that close()
/// must not run while another thread of this process uses it or its bytes. The bytes themselves
/// are plain memory: synchronize access to them yourself (a Lock, a Barrier, atomics).
/// Cost: reading and writing buf() is plain memory access, no system call.
class SharedMemory {
public:
    /// Creates a segment of `size` bytes (zero-filled) under a fresh name, or under `name`.
    /// Python: SharedMemory(create=True, size=size).
    static SharedMemory create(std::size_t size, SharedMemoryOptions options = {});
    /// Creates a segment of `size` bytes under `name`. Python: SharedMemory(name, create=True,
    /// size=size).
    static SharedMemory create(const std::string& name, std::size_t size, SharedMemoryOptions options = {});
    /// Attaches to an existing segment. Python: SharedMemory(name).
    explicit SharedMemory(const std::string& name, SharedMemoryOptions options = {});
    /// Python's signature: SharedMemory(name=None, create=False, size=0, *, track=True).
    SharedMemory(std::optional<std::string> name, bool create, std::size_t size = 0, SharedMemoryOptions options = {});

    /// Without the leading '/'. Python: name.
    const std::string& name() const;
    /// The size in bytes. Python: size.
    std::size_t size() const;
    /// The mapped bytes. Python: buf.
    std::span<std::byte> buf() const;

    /// Unmaps the segment in this process (every copy of this handle here). Idempotent.
    /// Python: close().
    void close() noexcept;
    /// Whether close() was called in this process.
    bool closed() const noexcept;
    /// Removes the name (the memory lives on while mapped) and, when tracked, tells the resource
    /// tracker. OSError (ENOENT) if already removed. Python: unlink().
    void unlink();

    /// The library's state of a segment.
    struct Impl;

private:
    explicit SharedMemory(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    Impl& impl() const;
    std::shared_ptr<Impl> impl_;
    friend struct Codec<SharedMemory>;
};

template <>
struct Codec<SharedMemory> {
    static void encode(Writer& out, const SharedMemory& memory);
    static SharedMemory decode(Reader& in);
};

}  // namespace mproc
