# mproc::mpi: mproc::mpi::Pool over MPI (include <mproc/mpi.hpp>). Built when an MPI library with
# C bindings is found (Debian: libopenmpi-dev, installed by scripts/install-deps.sh); without one,
# the rest of mproc builds as usual and MPROC_HAVE_MPI is OFF.

# FindMPI checks its C component with the C compiler.
include(CheckLanguage)
check_language(C)
if(CMAKE_C_COMPILER)
  enable_language(C)
  find_package(MPI COMPONENTS C QUIET)
endif()
if(NOT MPI_C_FOUND)
  message(STATUS "mproc: no MPI library found; mproc::mpi is not built")
  set(MPROC_HAVE_MPI OFF)
  return()
endif()
set(MPROC_HAVE_MPI ON)

file(GLOB MPROC_MPI_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../src/mpi/*.cpp)
add_library(mproc_mpi ${MPROC_MPI_SOURCES})
add_library(mproc::mpi ALIAS mproc_mpi)
# mpi.h is included by mproc_mpi's sources only: users of mproc::mpi compile without MPI's headers
# but link its library.
target_link_libraries(mproc_mpi PUBLIC mproc::mproc PRIVATE MPI::MPI_C)
target_include_directories(mproc_mpi PRIVATE ${PROJECT_SOURCE_DIR}/src)
# Only MPI's C API is used; its deprecated C++ bindings would need another library.
target_compile_definitions(mproc_mpi PRIVATE OMPI_SKIP_MPICXX MPICH_SKIP_MPICXX)
set_target_properties(mproc_mpi PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  POSITION_INDEPENDENT_CODE ON EXPORT_NAME mpi OUTPUT_NAME mproc_mpi)
mproc_set_warnings(mproc_mpi)
# In a project that pulls mproc in (add_subdirectory, FetchContent), built only if something links it.
if(NOT MPROC_IS_TOP_LEVEL)
  set_target_properties(mproc_mpi PROPERTIES EXCLUDE_FROM_ALL ON)
endif()

# The launcher the tests, examples and benchmarks run under. Open MPI's is told that more ranks
# than cores are fine (3 ranks on 2 cores) and, for root, that root may run it.
find_program(MPROC_MPIEXEC NAMES mpiexec mpirun HINTS ${MPIEXEC_EXECUTABLE})
set(MPROC_MPIEXEC_ARGS "")
if(MPROC_MPIEXEC)
  execute_process(COMMAND ${MPROC_MPIEXEC} --version OUTPUT_VARIABLE _mproc_mpiexec_version ERROR_QUIET)
  if(_mproc_mpiexec_version MATCHES "Open MPI|OpenRTE")
    list(APPEND MPROC_MPIEXEC_ARGS --oversubscribe)
    execute_process(COMMAND id -u OUTPUT_VARIABLE _mproc_uid OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_mproc_uid STREQUAL "0")
      list(APPEND MPROC_MPIEXEC_ARGS --allow-run-as-root)
    endif()
  endif()
endif()
