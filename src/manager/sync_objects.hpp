// The synchronization objects and the Namespace a Manager's server holds, behind LockProxy,
// RLockProxy, SemaphoreProxy, ConditionProxy, EventProxy, BarrierProxy and NamespaceProxy (sync_objects.cpp).
#pragma once

#include <string_view>

namespace mproc::manager_server {

// Registers them under the names below; the server calls it when it starts (idempotent).
void register_sync_objects();

inline constexpr std::string_view lock_type = "mproc.Lock";
inline constexpr std::string_view rlock_type = "mproc.RLock";
inline constexpr std::string_view semaphore_type = "mproc.Semaphore";
inline constexpr std::string_view condition_type = "mproc.Condition";
inline constexpr std::string_view event_type = "mproc.Event";
inline constexpr std::string_view namespace_type = "mproc.Namespace";
inline constexpr std::string_view barrier_type = "mproc.Barrier";

}  // namespace mproc::manager_server
