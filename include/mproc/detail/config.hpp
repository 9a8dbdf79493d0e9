// mproc/detail/config.hpp: checks every mproc header makes first (errors.hpp, init.hpp and
// start_method.hpp include it, and every other public header includes one of those).
#pragma once

// mproc's headers use C++20 (concepts, std::span, designated initializers...). Below C++20 the
// first errors would come from deep inside them; say what is wrong instead. (-std=c++2a of
// g++ 10 reports 201709L and lacks parts of C++20 that mproc uses.)
#if __cplusplus < 202002L
#error "mproc needs C++20 or later: compile with -std=c++20 (CMake: target_link_libraries(app PRIVATE mproc::mproc) sets it)"
#endif
