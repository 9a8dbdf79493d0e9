// What a Manager's server does with each request (see server.hpp).
#include "manager/server.hpp"

#include <string>
#include <vector>

#include <mproc/detail/task.hpp>

namespace mproc::manager_server {

using detail::ReplyStatus;
using detail::manager::Caller;
using detail::manager::Op;
using detail::manager::Request;

bool Objects::handle(Session& session, std::span<const std::byte> request, Writer& reply) {
    const std::size_t start = reply.size();
    bool replies = true;
    try {
        const Request decoded = detail::manager::decode_request(request);
        replies = decoded.op != Op::decref;
        run(session, decoded, reply);
    } catch (...) {
        reply.truncate(start);
        detail::encode_current_exception(reply);
    }
    return replies;
}

void Objects::run(Session& session, const Request& request, Writer& reply) {
    if (request.op == Op::hello) {
        if (session.greeted) throw StateError("mproc: a manager connection said hello twice");
        session.client = request.token;
        session.greeted = true;
        std::lock_guard lock(mutex_);
        ++clients_[session.client].connections;
        reply.write_value(ReplyStatus::value);
        return;
    }
    if (!session.greeted) throw StateError("mproc: a manager request before the connection's hello");
    const Caller caller{session.client, request.thread, session.gone};
    switch (request.op) {
        case Op::shutdown:
            // Python's Server.shutdown: the connection's loop ends the process after the reply.
            session.shutdown_asked = true;
            reply.write_value(ReplyStatus::value);
            return;
        case Op::channel:
            // The connection's loop makes the Pipe after the reply (a transport, not an object).
            session.channel_asked = true;
            reply.write_value(ReplyStatus::value);
            return;
        case Op::create:
        case Op::share: {
            const ServedType* type = detail::manager::find_served_type(request.type);
            if (!type || (allow_ && !allow_(*type, request.op)))
                throw std::invalid_argument("mproc: the manager has no type registered as '" + request.type +
                                            "' (both programs must be built from the same sources)");
            // `held`: whether this thread holds mutex_ (a named object is made under it).
            const auto make_entry = [&](std::uint64_t references, bool held) {
                Reader in(request.arguments);
                auto entry = std::make_shared<Entry>();
                entry->object = type->create(in, [this, held](ObjectId id) {
                    const std::shared_ptr<Entry> found = held ? find_held(id) : find(id);
                    return detail::manager::HeldObject{found->object, found->type->name};
                });
                entry->type = type;
                entry->references = references;
                return entry;
            };
            std::shared_ptr<Entry> created;
            if (request.op == Op::create) created = make_entry(1, false);
            std::lock_guard lock(mutex_);  // a named object is created once, by whoever asks first
            ObjectId id = 0;
            if (request.op == Op::share) {
                if (const auto named = names_.find(request.name); named != names_.end()) {
                    id = named->second;
                    Entry& entry = *entries_.at(id);
                    if (entry.type != type)
                        throw std::invalid_argument("mproc: the manager's object '" + request.name + "' is a '" +
                                                    entry.type->name + "', not a '" + request.type + "'");
                    ++entry.references;
                } else {
                    created = make_entry(2, true);  // the server's own reference and the caller's
                }
            }
            if (created) {
                id = next_id_++;
                entries_.emplace(id, std::move(created));
                if (request.op == Op::share) names_.emplace(request.name, id);
            }
            ++clients_[session.client].references[id];
            reply.write_value(ReplyStatus::value);
            reply.write_value(id);
            return;
        }
        case Op::call: {
            const std::shared_ptr<Entry> entry = find(request.id);
            if (entry->type->name != request.type)
                throw std::invalid_argument("mproc: manager object " + std::to_string(request.id) + " is not a '" +
                                            request.type + "'");
            if (allow_ && !allow_(*entry->type, Op::call))
                throw std::invalid_argument("mproc: this manager serves no calls of a '" + request.type + "'");
            const auto method = entry->type->methods.find(request.method);
            if (method == entry->type->methods.end())
                throw std::invalid_argument("mproc: the manager's '" + request.type + "' has no method '" +
                                            request.method + "'");
            Reader in(request.arguments);
            if (entry->type->serialized) {
                std::lock_guard lock(entry->calls);
                method->second(entry->object.get(), caller, in, reply);
            } else {
                method->second(entry->object.get(), caller, in, reply);
            }
            return;
        }
        case Op::incref: {
            std::lock_guard lock(mutex_);
            const auto found = entries_.find(request.id);
            if (found == entries_.end())
                throw std::out_of_range("mproc: the manager holds no object " + std::to_string(request.id) +
                                        " (its last proxy was dropped before this one was used)");
            ++found->second->references;
            ++clients_[session.client].references[request.id];
            reply.write_value(ReplyStatus::value);
            return;
        }
        case Op::decref: {
            // A decref for a reference this client never took (a proxy inherited through fork,
            // whose reference is its parent's) changes nothing.
            std::vector<std::shared_ptr<Entry>> dropped;  // destroyed after the lock is released
            std::lock_guard lock(mutex_);
            auto& held = clients_[session.client].references;
            const auto found = held.find(request.id);
            if (found == held.end()) return;
            if (--found->second == 0) held.erase(found);
            drop_references(request.id, 1, dropped);
            return;
        }
        case Op::hello: break;
    }
}

std::shared_ptr<Objects::Entry> Objects::find(ObjectId id) const {
    std::lock_guard lock(mutex_);
    return find_held(id);
}

std::shared_ptr<Objects::Entry> Objects::find_held(ObjectId id) const {
    const auto found = entries_.find(id);
    if (found == entries_.end())
        throw std::out_of_range("mproc: the manager holds no object " + std::to_string(id));
    return found->second;
}

void Objects::drop_references(ObjectId id, std::uint64_t count, std::vector<std::shared_ptr<Entry>>& dropped) {
    const auto found = entries_.find(id);
    if (found == entries_.end()) return;
    found->second->references -= count;
    if (found->second->references == 0) {
        dropped.push_back(std::move(found->second));
        entries_.erase(found);
    }
}

void Objects::closed(const Session& session) {
    if (!session.greeted) return;
    std::vector<std::shared_ptr<Entry>> to_tell;
    std::vector<std::shared_ptr<Entry>> dropped;
    {
        std::lock_guard lock(mutex_);
        auto record = clients_.find(session.client);
        if (record == clients_.end() || --record->second.connections > 0) return;
        // Its last connection: the client process is gone, or has dropped every proxy.
        for (const auto& [id, entry] : entries_)
            if (entry->type->client_gone) to_tell.push_back(entry);
        for (const auto& [id, count] : record->second.references) drop_references(id, count, dropped);
        clients_.erase(record);
    }
    for (const auto& entry : to_tell) entry->type->client_gone(entry->object.get(), session.client);
}

std::size_t Objects::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace mproc::manager_server
