# CPack: the libmproc-dev Debian package, from the install rules of cmake/install.cmake (headers,
# static libraries, CMake package, mproc.pc and mproc-mpi.pc, documentation). After a build:
#
#   cpack --config build/release/CPackConfig.cmake -B build/release/package
#   dpkg -i build/release/package/libmproc-dev_*.deb
#
# It installs under /usr; tests/install/run_package_test.sh builds, installs, uses and removes it.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libmproc-dev)
set(CPACK_PACKAGE_VENDOR "mproc")
set(CPACK_PACKAGE_CONTACT "mproc maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${PROJECT_DESCRIPTION}
 mproc gives C++20 programs Python's multiprocessing: Pool, Process, shared values and arrays,
 locks, queues, pipes, SharedMemory and the fork, spawn and forkserver start methods.
 .
 This package holds the headers, the static libraries (libmproc, and libmproc_mpi for
 mproc::mpi::Pool where it was built), CMake package files (find_package(mproc)) and pkg-config
 files (mproc, mproc-mpi).")
# cereal's headers are included by mproc's; MPI is needed only by mproc::mpi.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcereal-dev, libssl-dev")
if(TARGET mproc_mpi)
  set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libopenmpi-dev")
endif()
include(CPack)
