// Starting and finishing MPI, and the message primitives of mproc::mpi.
//
// MPI is initialized only when a launcher started the program (its environment says so), so that
// the same binary runs without mpirun as an ordinary program. Rank 0 returns to main; the other
// ranks serve tasks and leave the program without returning. Rank 0 finishes MPI at exit: it tells
// the worker ranks to stop, then calls MPI_Finalize (also when the program called MPI_Init itself:
// it must leave MPI_Finalize to mproc, since the worker ranks only stop when told). If rank 0 dies
// instead (an uncaught exception, a signal), the launcher aborts the job and with it the worker
// ranks; an uncaught exception is reported first, and MPI_Abort makes mpirun stop every rank at
// once.
#include "runtime.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <typeinfo>

#include <cxxabi.h>

#include <mproc/errors.hpp>
#include <mproc/mpi.hpp>

namespace mproc::mpi {
namespace detail {
namespace {

struct Runtime {
    std::mutex mutex;  // serializes start-up
    std::atomic<bool> started{false};  // then the fields below no longer change
    int provided = MPI_THREAD_SINGLE;
    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0;
    int size = 1;
};

Runtime& runtime() {
    static auto* state = new Runtime;  // never destroyed: used from atexit handlers
    return *state;
}

bool launcher_environment() noexcept {
    // Open MPI's mpirun/mpiexec, PMIx launchers (srun --mpi=pmix, prterun), MPICH's hydra and
    // PMI-1/2 launchers.
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
        if (std::getenv(name)) return true;
    return false;
}

void check(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw Error(std::string("mproc::mpi: ") + what + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

// Rank 0 at exit: the worker ranks leave, then MPI is finalized.
void finish_at_exit() {
    finish_active_pool();
    auto& rt = runtime();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;  // the program did it itself: too late to tell the workers anything
    for (int rank = 1; rank < rt.size; ++rank) MPI_Send(nullptr, 0, MPI_BYTE, rank, stop_tag, rt.comm);
    MPI_Comm_free(&rt.comm);
    MPI_Finalize();
}

std::terminate_handler previous_terminate = nullptr;

// Rank 0 dying of an uncaught exception: say why, then abort the whole job, so that the worker
// ranks do not wait for a rank 0 that is gone (mpirun would stop them too, but only once it
// notices the death).
[[noreturn]] void terminate_job() {
    std::string what = "std::terminate";
    if (const auto error = std::current_exception()) {
        const std::type_info* type = abi::__cxa_current_exception_type();
        int status = 0;
        char* name = type ? abi::__cxa_demangle(type->name(), nullptr, nullptr, &status) : nullptr;
        what = std::string("an uncaught exception of type ") + (name ? name : type ? type->name() : "unknown");
        std::free(name);
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            what += ": ";
            what += e.what();
        } catch (...) {
        }
    }
    std::fprintf(stderr, "mproc::mpi: rank 0 terminated by %s; aborting the MPI job\n", what.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 134);
    if (previous_terminate) previous_terminate();
    std::abort();
}

}  // namespace

bool ensure_started() {
    auto& rt = runtime();
    {
        std::lock_guard lock(rt.mutex);
        if (rt.started) return true;
        if (!launcher_environment()) return false;
        int initialized = 0;
        check(MPI_Initialized(&initialized), "MPI_Initialized");
        if (initialized) {
            check(MPI_Query_thread(&rt.provided), "MPI_Query_thread");
        } else {
            check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &rt.provided), "MPI_Init_thread");
        }
        check(MPI_Comm_dup(MPI_COMM_WORLD, &rt.comm), "MPI_Comm_dup");
        check(MPI_Comm_rank(rt.comm, &rt.rank), "MPI_Comm_rank");
        check(MPI_Comm_size(rt.comm, &rt.size), "MPI_Comm_size");
        rt.started = true;
    }
    if (rt.rank != 0) {
        try {
            serve();
        } catch (...) {
            // Never return into main on a worker rank: this rank is broken, and so is the job.
            std::string why = "unknown error";
            try {
                throw;
            } catch (const std::exception& e) {
                why = e.what();
            } catch (...) {
            }
            std::fprintf(stderr, "mproc::mpi: worker rank %d failed: %s; aborting the MPI job\n", rt.rank, why.c_str());
            std::fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Comm_free(&rt.comm);
        MPI_Finalize();
        // main never ran on this rank: nothing of it is left to destroy.
        std::fflush(nullptr);
        ::_exit(0);
    }
    std::atexit(&finish_at_exit);
    previous_terminate = std::set_terminate(&terminate_job);
    return true;
}

bool started() noexcept { return runtime().started; }

std::string thread_support_problem() {
    if (runtime().provided >= MPI_THREAD_SERIALIZED) return {};
    return "mproc::mpi::Pool: the MPI library gives only thread support level " + std::to_string(runtime().provided) +
           "; the pool needs MPI_THREAD_SERIALIZED (initialize MPI with MPI_Init_thread, or let mproc::init do it)";
}

void send(int destination, int tag, std::span<const std::byte> bytes) {
    if (bytes.size() > max_mpi_message) throw SerializationError("mproc::mpi: message larger than 2 GiB");
    check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, destination, tag, runtime().comm),
          "MPI_Send");
}

std::optional<Message> poll(int source) {
    auto& rt = runtime();
    int arrived = 0;
    MPI_Status status;
    check(MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, MPI_ANY_TAG, rt.comm, &arrived, &status), "MPI_Iprobe");
    if (!arrived) return std::nullopt;
    int count = 0;
    check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    Message message;
    message.source = status.MPI_SOURCE;
    message.tag = status.MPI_TAG;
    message.bytes.resize(static_cast<std::size_t>(count));
    // Only this thread receives: the probed message is the one received.
    check(MPI_Recv(message.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, rt.comm,
                   MPI_STATUS_IGNORE),
          "MPI_Recv");
    return message;
}

PendingSend::PendingSend(int destination, int tag, std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {
    if (bytes_.size() > max_mpi_message) throw SerializationError("mproc::mpi: message larger than 2 GiB");
    auto* request = new MPI_Request;
    const int code = MPI_Isend(bytes_.data(), static_cast<int>(bytes_.size()), MPI_BYTE, destination, tag,
                               runtime().comm, request);
    if (code != MPI_SUCCESS) {
        delete request;
        check(code, "MPI_Isend");
    }
    request_ = request;
}

PendingSend::PendingSend(PendingSend&& other) noexcept
    : bytes_(std::move(other.bytes_)), request_(std::exchange(other.request_, nullptr)) {}

PendingSend::~PendingSend() {
    if (!request_) return;
    auto* request = static_cast<MPI_Request*>(request_);
    // Still in flight: the buffer must outlive the send.
    if (*request != MPI_REQUEST_NULL) MPI_Wait(request, MPI_STATUS_IGNORE);
    delete request;
}

bool PendingSend::completed() {
    auto* request = static_cast<MPI_Request*>(request_);
    if (!request || *request == MPI_REQUEST_NULL) return true;
    int done = 0;
    check(MPI_Test(request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
}

namespace {
std::mutex pool_slot_mutex;
bool pool_slot_taken = false;
}  // namespace

void claim_pool_slot() {
    std::lock_guard lock(pool_slot_mutex);
    if (pool_slot_taken)
        throw StateError("mproc::mpi::Pool: another mproc::mpi::Pool is alive; the worker ranks serve one pool at a time");
    pool_slot_taken = true;
}

void release_pool_slot() noexcept {
    std::lock_guard lock(pool_slot_mutex);
    pool_slot_taken = false;
}

std::chrono::nanoseconds Backoff::next() const {
    using namespace std::chrono_literals;
    const auto idle = Clock::now() - idle_since_;
    if (idle < 200us) return 0ns;
    return std::clamp(std::chrono::duration_cast<std::chrono::nanoseconds>(idle / 8), std::chrono::nanoseconds(20us),
                      std::chrono::nanoseconds(1ms));
}

void Backoff::pause() const {
    const auto wait = next();
    if (wait.count() == 0)
        std::this_thread::yield();
    else
        std::this_thread::sleep_for(wait);
}

// gethostname is what Open MPI's MPI_Get_processor_name answers too, and any thread may call it.
std::string hostname() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

}  // namespace detail

bool launched() noexcept { return detail::launcher_environment(); }
int rank() noexcept { return detail::started() ? detail::runtime().rank : 0; }
int world_size() noexcept { return detail::started() ? detail::runtime().size : 1; }
std::string processor_name() { return detail::hostname(); }

void detail::init_hook(int, char**) { ensure_started(); }

}  // namespace mproc::mpi
