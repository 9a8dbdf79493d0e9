# Install rules for mproc: the library, its headers, a CMake package (find_package(mproc) gives
# mproc::mproc) and a pkg-config file (mproc.pc). Included by the top-level CMakeLists.txt when
# MPROC_INSTALL is ON (the default when mproc is the top-level project).
#
# Both the CMake package and mproc.pc are relocatable: `cmake --install build --prefix /any/where`
# gives a tree that works from /any/where. Consumers must compile as C++20 or later; the CMake
# target says so itself (cxx_std_20), pkg-config users add -std=c++20 themselves.
include(CMakePackageConfigHelpers)

set(MPROC_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/mproc"
    CACHE STRING "Where mproc's CMake package files are installed, relative to the prefix")
set(MPROC_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where mproc.pc is installed, relative to the prefix")
mark_as_advanced(MPROC_INSTALL_CMAKEDIR MPROC_INSTALL_PKGCONFIGDIR)

install(TARGETS mproc
  EXPORT mprocTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Public headers, include/mproc/detail/ included. (The exported target's include directory comes
# from its INSTALL_INTERFACE in CMakeLists.txt.)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

install(EXPORT mprocTargets
  NAMESPACE mproc::
  FILE mprocTargets.cmake
  DESTINATION ${MPROC_INSTALL_CMAKEDIR})

# mproc::mpi, where it is built: an export of its own, loaded by find_package(mproc COMPONENTS mpi)
# once MPI is found, so that users of mproc::mproc alone never need MPI.
if(TARGET mproc_mpi)
  install(TARGETS mproc_mpi
    EXPORT mprocMpiTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT mprocMpiTargets
    NAMESPACE mproc::
    FILE mprocMpiTargets.cmake
    DESTINATION ${MPROC_INSTALL_CMAKEDIR})
endif()

# --- CMake package ------------------------------------------------------------------------------
# The cereal directory found here is only a hint for the installed package: mprocConfig.cmake
# looks for cereal again on the consumer's machine (the build tree's include path is a
# BUILD_INTERFACE one and is not exported).
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/mprocConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/mprocConfig.cmake"
  INSTALL_DESTINATION ${MPROC_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/mprocConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/mprocConfig.cmake"
  "${PROJECT_BINARY_DIR}/mprocConfigVersion.cmake"
  DESTINATION ${MPROC_INSTALL_CMAKEDIR})

# --- pkg-config ---------------------------------------------------------------------------------
# prefix is derived from the .pc file's own location (${pcfiledir}) so that the installed tree can
# be moved; absolute install directories are written as they are.
function(_mproc_pkgconfig_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

if(IS_ABSOLUTE "${MPROC_INSTALL_PKGCONFIGDIR}")
  set(MPROC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  # From <prefix>/<pkgconfigdir> back up to <prefix>: one ".." per path component.
  string(REGEX REPLACE "[^/]+" ".." _mproc_up "${MPROC_INSTALL_PKGCONFIGDIR}")
  string(REGEX REPLACE "/+$" "" _mproc_up "${_mproc_up}")
  set(MPROC_PC_PREFIX "\${pcfiledir}/${_mproc_up}")
endif()
_mproc_pkgconfig_dir(MPROC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
_mproc_pkgconfig_dir(MPROC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")

# cereal has no pkg-config file on Debian: its directory goes into Cflags, unless the compiler
# searches it anyway (/usr/include).
set(MPROC_PC_EXTRA_CFLAGS "")
if(MPROC_CEREAL_INCLUDE_DIR AND NOT MPROC_CEREAL_INCLUDE_DIR IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES
   AND NOT MPROC_CEREAL_INCLUDE_DIR STREQUAL "/usr/include")
  set(MPROC_PC_EXTRA_CFLAGS " -I${MPROC_CEREAL_INCLUDE_DIR}")
endif()

configure_file("${CMAKE_CURRENT_LIST_DIR}/mproc.pc.in" "${PROJECT_BINARY_DIR}/mproc.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/mproc.pc" DESTINATION ${MPROC_INSTALL_PKGCONFIGDIR})
