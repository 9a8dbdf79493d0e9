# Install rules for mproc: the library, its headers, a CMake package (find_package(mproc) gives
# mproc::mproc) and a pkg-config file (mproc.pc). Included by the top-level CMakeLists.txt when
# MPROC_INSTALL is ON (the default when mproc is the top-level project).
#
# Both the CMake package and the .pc files are relocatable: `cmake --install build --prefix /any/where`
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

# mproc::mpi, where it is configured: an export of its own, loaded by find_package(mproc
# COMPONENTS mpi) once MPI is found, so that users of mproc::mproc alone never need MPI.
# A build of some targets only (scripts/run-demo.sh builds the demo) may not have built
# libmproc_mpi: then it is left out of the install, with its CMake export and mproc-mpi.pc, rather
# than failing the whole install (find_package(mproc COMPONENTS mpi) then says it is not found).
if(TARGET mproc_mpi)
  install(TARGETS mproc_mpi
    EXPORT mprocMpiTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} OPTIONAL
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} OPTIONAL
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} OPTIONAL)
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

# mproc-mpi.pc: mproc::mpi's static library needs MPI's libraries at link time (not its headers).
if(TARGET mproc_mpi)
  set(MPROC_PC_MPI_LIBS "")
  foreach(library IN LISTS MPI_C_LIBRARIES)
    string(APPEND MPROC_PC_MPI_LIBS " ${library}")
  endforeach()
  configure_file("${CMAKE_CURRENT_LIST_DIR}/mproc-mpi.pc.in" "${PROJECT_BINARY_DIR}/mproc-mpi.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/mproc-mpi.pc" DESTINATION ${MPROC_INSTALL_PKGCONFIGDIR})

  # Last of the mpi rules: undo what was installed for a libmproc_mpi that was not built.
  install(CODE "
    if(NOT EXISTS \"$<TARGET_FILE:mproc_mpi>\")
      message(STATUS \"mproc: libmproc_mpi was not built: mproc::mpi is not installed\")
      set(_mproc_dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
      file(GLOB _mproc_mpi_files \"\${_mproc_dest}/${MPROC_INSTALL_CMAKEDIR}/mprocMpiTargets*.cmake\")
      file(REMOVE \${_mproc_mpi_files} \"\${_mproc_dest}/${MPROC_INSTALL_PKGCONFIGDIR}/mproc-mpi.pc\")
    endif()")
endif()

# --- documentation ------------------------------------------------------------------------------
install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/" DESTINATION ${CMAKE_INSTALL_DOCDIR}
  FILES_MATCHING PATTERN "*.md" PATTERN "*.png")

if(MPROC_IS_TOP_LEVEL)
  include("${CMAKE_CURRENT_LIST_DIR}/package.cmake")
endif()
