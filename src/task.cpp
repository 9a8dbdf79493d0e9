#include <mproc/detail/task.hpp>

#include <cxxabi.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <typeinfo>

#include "os/code_modules.hpp"

namespace mproc::detail {

// The module's name travels as a std::string would (its length, then its bytes), read back in
// place: no string is made at either end.
void encode_code_address(Writer& out, std::uintptr_t address) {
    const auto location = os::locate_code(address);
    if (!location) throw SerializationError("mproc: function is not in any loaded module");
    out.write_value(static_cast<std::uint64_t>(location->module.size()));
    out.write(location->module.data(), location->module.size());
    out.write_value(static_cast<std::uint64_t>(location->offset));
}

std::uintptr_t decode_code_address(Reader& in) {
    const auto name = in.take(in.read_length(1));
    os::CodeLocation location;
    location.module = std::string_view(reinterpret_cast<const char*>(name.data()), name.size());
    location.offset = static_cast<std::uintptr_t>(in.read_value<std::uint64_t>());
    const auto address = os::resolve_code(location);
    if (!address)
        in.fail("code offset " + std::to_string(location.offset) + " is not in module '" +
                std::string(location.module) + "' of this process (is it running the same binary?)");
    return address;
}

void run_packed_call(Reader& call, Writer& reply) {
    const std::size_t reply_start = reply.size();
    try {
        const auto entry = reinterpret_cast<Trampoline>(decode_code_address(call));
        entry(call, reply);
        if (!call.at_end()) call.fail("unexpected bytes after the call's arguments");
    } catch (...) {
        reply.truncate(reply_start);
        encode_current_exception(reply);
    }
}

// --- Exceptions across processes ---------------------------------------------------------------

// Reaches the constructors that recreate an error with the fields it had in the other process.
struct ErrorRebuilder {
    [[noreturn]] static void throw_os_error(int code, const std::string& what) { throw OSError(code, what); }
};

namespace {

// Exception types rebuilt with their own type on the receiving side. The order is the wire
// format; append only.
enum class ExceptionKind : std::uint8_t {
    remote,  // anything else: becomes mproc::RemoteError
    runtime_error,
    logic_error,
    invalid_argument,
    out_of_range,
    domain_error,
    length_error,
    range_error,
    overflow_error,
    underflow_error,
    bad_alloc,
    mproc_error,
    state_error,
    serialization_error,
    timeout_error,
    pool_closed,
    pool_terminated,
    owner_died,
    worker_crashed,
    os_error,
    start_error,
    full,
    empty,
    eof_error,
    broken_barrier_error,
    cancelled_error,
    buffer_too_short,
    authentication_error,
};

struct KnownType {
    const std::type_info& type;
    ExceptionKind kind;
};

// Matched by exact type: a class derived from one of these is not one of these.
const KnownType known_types[] = {
    {typeid(std::runtime_error), ExceptionKind::runtime_error},
    {typeid(std::logic_error), ExceptionKind::logic_error},
    {typeid(std::invalid_argument), ExceptionKind::invalid_argument},
    {typeid(std::out_of_range), ExceptionKind::out_of_range},
    {typeid(std::domain_error), ExceptionKind::domain_error},
    {typeid(std::length_error), ExceptionKind::length_error},
    {typeid(std::range_error), ExceptionKind::range_error},
    {typeid(std::overflow_error), ExceptionKind::overflow_error},
    {typeid(std::underflow_error), ExceptionKind::underflow_error},
    {typeid(std::bad_alloc), ExceptionKind::bad_alloc},
    {typeid(Error), ExceptionKind::mproc_error},
    {typeid(StateError), ExceptionKind::state_error},
    {typeid(SerializationError), ExceptionKind::serialization_error},
    {typeid(TimeoutError), ExceptionKind::timeout_error},
    {typeid(PoolClosed), ExceptionKind::pool_closed},
    {typeid(PoolTerminated), ExceptionKind::pool_terminated},
    {typeid(CancelledError), ExceptionKind::cancelled_error},
    {typeid(OwnerDied), ExceptionKind::owner_died},
    {typeid(WorkerCrashed), ExceptionKind::worker_crashed},
    {typeid(OSError), ExceptionKind::os_error},
    {typeid(StartError), ExceptionKind::start_error},
    {typeid(Full), ExceptionKind::full},
    {typeid(Empty), ExceptionKind::empty},
    {typeid(EOFError), ExceptionKind::eof_error},
    {typeid(BrokenBarrierError), ExceptionKind::broken_barrier_error},
    {typeid(BufferTooShort), ExceptionKind::buffer_too_short},
    {typeid(AuthenticationError), ExceptionKind::authentication_error},
};

std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                 &std::free);
    return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

// Reply: ReplyStatus::exception, kind, type name, what() (RemoteError: the original message),
// pid of the thrower, then the fields of the kind: WorkerCrashed's pid, exit code and task index,
// OSError's code, BufferTooShort's message.
struct PackedException {
    ExceptionKind kind = ExceptionKind::remote;
    std::string type_name;
    std::string what;
    std::int32_t pid = 0;
    // WorkerCrashed only.
    std::int32_t crashed_pid = 0;
    std::int32_t crashed_exitcode = 0;
    std::optional<std::int64_t> crashed_task;
    // OSError only.
    std::int32_t os_code = 0;
    // BufferTooShort only.
    std::vector<std::byte> short_buffer_message;
};

void encode_packed(Writer& out, const PackedException& e) {
    out.write_value(ReplyStatus::exception);
    out.write_value(e.kind);
    encode(out, e.type_name);
    encode(out, e.what);
    out.write_value(e.pid);
    if (e.kind == ExceptionKind::worker_crashed) {
        out.write_value(e.crashed_pid);
        out.write_value(e.crashed_exitcode);
        encode(out, e.crashed_task);
    } else if (e.kind == ExceptionKind::os_error) {
        out.write_value(e.os_code);
    } else if (e.kind == ExceptionKind::buffer_too_short) {
        encode(out, e.short_buffer_message);
    }
}

}  // namespace

void encode_current_exception(Writer& reply) {
    PackedException packed;
    packed.pid = static_cast<std::int32_t>(::getpid());
    try {
        throw;
    } catch (const RemoteError& e) {
        // Re-raised from a nested process: keep the original thrower's type and pid.
        packed.type_name = e.type_name();
        packed.what = e.message();
        packed.pid = e.pid();
    } catch (const std::exception& e) {
        packed.type_name = demangle(typeid(e).name());
        packed.what = e.what();
        for (const auto& known : known_types)
            if (typeid(e) == known.type) packed.kind = known.kind;
        // The kind is the exact type, so these casts are exact.
        if (packed.kind == ExceptionKind::worker_crashed) {
            const auto& crash = static_cast<const WorkerCrashed&>(e);
            packed.crashed_pid = crash.pid();
            packed.crashed_exitcode = crash.exitcode();
            if (crash.task_index()) packed.crashed_task = *crash.task_index();
        } else if (packed.kind == ExceptionKind::os_error) {
            packed.os_code = static_cast<const OSError&>(e).code();
        } else if (packed.kind == ExceptionKind::buffer_too_short) {
            packed.short_buffer_message = static_cast<const BufferTooShort&>(e).message();
        }
    } catch (...) {
        const std::type_info* type = abi::__cxa_current_exception_type();
        packed.type_name = type ? demangle(type->name()) : "unknown exception";
    }
    encode_packed(reply, packed);
}

void rethrow_exception_reply(Reader& reply) {
    PackedException e;
    e.kind = reply.read_value<ExceptionKind>();
    e.type_name = decode<std::string>(reply);
    e.what = decode<std::string>(reply);
    e.pid = reply.read_value<std::int32_t>();
    switch (e.kind) {
        case ExceptionKind::remote: throw RemoteError(e.type_name, e.what, e.pid);
        case ExceptionKind::runtime_error: throw std::runtime_error(e.what);
        case ExceptionKind::logic_error: throw std::logic_error(e.what);
        case ExceptionKind::invalid_argument: throw std::invalid_argument(e.what);
        case ExceptionKind::out_of_range: throw std::out_of_range(e.what);
        case ExceptionKind::domain_error: throw std::domain_error(e.what);
        case ExceptionKind::length_error: throw std::length_error(e.what);
        case ExceptionKind::range_error: throw std::range_error(e.what);
        case ExceptionKind::overflow_error: throw std::overflow_error(e.what);
        case ExceptionKind::underflow_error: throw std::underflow_error(e.what);
        case ExceptionKind::bad_alloc: throw std::bad_alloc();
        case ExceptionKind::mproc_error: throw Error(e.what);
        case ExceptionKind::state_error: throw StateError(e.what);
        case ExceptionKind::serialization_error: throw SerializationError(e.what);
        case ExceptionKind::timeout_error: throw TimeoutError(e.what);
        case ExceptionKind::pool_closed: throw PoolClosed(e.what);
        case ExceptionKind::pool_terminated: throw PoolTerminated(e.what);
        case ExceptionKind::cancelled_error: throw CancelledError(e.what);
        case ExceptionKind::owner_died: throw OwnerDied(e.what);
        case ExceptionKind::worker_crashed: {
            const auto pid = reply.read_value<std::int32_t>();
            const auto exitcode = reply.read_value<std::int32_t>();
            const auto task = decode<std::optional<std::int64_t>>(reply);
            throw WorkerCrashed(pid, exitcode, task ? std::optional<long>(*task) : std::nullopt);
        }
        case ExceptionKind::os_error: ErrorRebuilder::throw_os_error(reply.read_value<std::int32_t>(), e.what);
        case ExceptionKind::start_error: throw StartError(e.what);
        case ExceptionKind::full: throw Full(e.what);
        case ExceptionKind::empty: throw Empty(e.what);
        case ExceptionKind::eof_error: throw EOFError(e.what);
        case ExceptionKind::broken_barrier_error: throw BrokenBarrierError(e.what);
        case ExceptionKind::buffer_too_short: {
            auto message = decode<std::vector<std::byte>>(reply);
            throw BufferTooShort(e.what, std::move(message));
        }
        case ExceptionKind::authentication_error: throw AuthenticationError(e.what);
    }
    reply.fail("unknown exception kind");
}

}  // namespace mproc::detail
