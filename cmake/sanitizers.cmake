# MPROC_SANITIZE applies to everything built in this tree (library, tests, examples), so that the
# instrumented library is exercised by the instrumented tests.
if(MPROC_SANITIZE)
  add_compile_options(-fsanitize=${MPROC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${MPROC_SANITIZE})
endif()
