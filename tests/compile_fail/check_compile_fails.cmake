# Runs the compiler on one source that must not compile, and passes only if compilation fails
# with mproc's explanation in the diagnostics: "cannot cross a process boundary", or the text of a
# line `// Expected diagnostic: TEXT` in the source. A line `// Compile flags: FLAGS` adds
# compiler flags (say -Werror, for a mistake the compiler reports as a warning).
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

set(expected "cannot cross a process boundary")
file(STRINGS ${SOURCE} expected_lines REGEX "^// Expected diagnostic: ")
if(expected_lines)
  list(GET expected_lines 0 expected)
  string(REGEX REPLACE "^// Expected diagnostic: " "" expected "${expected}")
endif()

set(extra_flags)
file(STRINGS ${SOURCE} flag_lines REGEX "^// Compile flags: ")
if(flag_lines)
  list(GET flag_lines 0 extra_flags)
  string(REGEX REPLACE "^// Compile flags: " "" extra_flags "${extra_flags}")
  separate_arguments(extra_flags UNIX_COMMAND "${extra_flags}")
endif()

execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only ${extra_flags} ${include_flags} ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not: what it sends must not cross a process boundary")
endif()
string(FIND "${output}" "${expected}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile, but not with mproc's explanation "
                      "(\"${expected}\"). Compiler output:\n${output}")
endif()
message(STATUS "${SOURCE} was rejected with mproc's explanation, as it should be")
