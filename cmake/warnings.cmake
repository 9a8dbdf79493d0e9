# Warnings for mproc's own targets only; consumers are not affected.
function(mproc_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                         -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast
                         # Options are meant to be given with designated initializers, naming only
                         # the fields that differ from their defaults.
                         -Wno-missing-field-initializers)
endfunction()
