// mproc/mproc.hpp: everything mproc offers, in one include.
#pragma once

#include <mproc/async_result.hpp>
#include <mproc/context.hpp>
#include <mproc/errors.hpp>
#include <mproc/init.hpp>
#include <mproc/log.hpp>
#include <mproc/partial.hpp>
#include <mproc/pipe.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>
#include <mproc/serialize.hpp>
#include <mproc/shared.hpp>
#include <mproc/shared_memory.hpp>
#include <mproc/start_method.hpp>
#include <mproc/sync.hpp>
