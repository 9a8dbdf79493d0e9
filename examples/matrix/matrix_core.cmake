# mproc_matrix_core: the parser, generator, kernels and pool tasks of mproc-matrix, as a library
# that both the program (examples/matrix) and its unit test (tests/matrix_test.cpp) link.
# Included from examples/matrix/CMakeLists.txt and from tests/CMakeLists.txt, whichever comes
# first, so that the test builds even when the examples are not.
include_guard(GLOBAL)

add_library(mproc_matrix_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/matrix.cpp
  ${CMAKE_CURRENT_LIST_DIR}/parallel.cpp)
target_include_directories(mproc_matrix_core PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(mproc_matrix_core PUBLIC mproc::mproc)
# Each element is computed as written (no fused multiply-add, whatever -march says), so results
# also match bench/matrix_bench.py's, which computes the same operations in the same order.
target_compile_options(mproc_matrix_core PRIVATE -ffp-contract=off)
mproc_set_warnings(mproc_matrix_core)

if(TARGET matrix_test)
  target_link_libraries(matrix_test PRIVATE mproc_matrix_core)
endif()
