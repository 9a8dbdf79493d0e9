// mproc/mproc.hpp: everything mproc offers, in one include.
#pragma once

#include <mproc/async_result.hpp>
#include <mproc/errors.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/serialize.hpp>
