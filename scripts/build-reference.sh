#!/usr/bin/env bash
# Builds mproc's API reference from the public headers (include/mproc/*.hpp, not detail/) with
# doxygen and docs/Doxyfile, into build/reference/html/ (open build/reference/html/index.html).
# Exits non-zero on any doxygen warning: an undocumented public class or function, or a broken
# doc comment, fails the build. The warnings are in build/reference/warnings.log.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v doxygen >/dev/null 2>&1; then
  echo "build-reference: doxygen not found (apt-get install doxygen, or scripts/install-deps.sh)" >&2
  exit 1
fi

out=build/reference
rm -rf "$out"
mkdir -p "$out"
doxygen docs/Doxyfile
# doxygen's WARN_AS_ERROR stops at the first warning or exits 0 after logging them, depending on
# its version; counting the log gives every warning in one run, whatever the version.
warnings=$(grep -c . "$out/warnings.log" || true)
if ((warnings > 0)); then
  cat "$out/warnings.log" >&2
  echo "build-reference: $warnings doxygen warning(s); see $out/warnings.log" >&2
  exit 1
fi
echo "build-reference: no warnings; open $out/html/index.html"
