// mproc/mproc.hpp: everything mproc offers, in one include.
#pragma once

#include <mproc/errors.hpp>
#include <mproc/process.hpp>
#include <mproc/serialize.hpp>
