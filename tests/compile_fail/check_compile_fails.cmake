# Runs the compiler on one source that must not compile, and passes only if compilation fails
# with mproc's explanation ("cannot cross a process boundary") in the diagnostics.
#   cmake -DCOMPILER=... -DSOURCE=... "-DINCLUDE_DIRS=a;b" -P check_compile_fails.cmake
foreach(variable COMPILER SOURCE INCLUDE_DIRS)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "check_compile_fails.cmake: ${variable} is not set")
  endif()
endforeach()

set(include_flags)
foreach(directory ${INCLUDE_DIRS})
  list(APPEND include_flags "-I${directory}")
endforeach()

execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only ${include_flags} ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not: its type must not cross a process boundary")
endif()
string(FIND "${output}" "cannot cross a process boundary" found)
if(found EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile, but not with mproc's explanation "
                      "(\"cannot cross a process boundary\"). Compiler output:\n${output}")
endif()
message(STATUS "${SOURCE} was rejected with mproc's explanation, as it should be")
