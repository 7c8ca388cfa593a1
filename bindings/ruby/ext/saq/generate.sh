#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the committed SWIG wrapper of the Ruby extension:
#   bindings/ruby/ext/saq/generate.sh [OUTFILE]
# OUTFILE defaults to ext/saq/saq_ruby_wrap.c (the committed file; commit the
# result). run-tests.sh generates into a temporary file and compares, so the
# committed wrapper must be exactly what SWIG 4.1 makes of saq_ruby.i and
# abi/saq.i with these flags (relative paths: the output names no directory).
# Packing and installing the gem never run SWIG.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/saq_ruby_wrap.c}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$here"
version=$(${SWIG:-swig} -version | sed -n 's/^SWIG Version //p')
case "$version" in
  4.1.*) ;;
  *) echo "generate.sh: SWIG $version found; the committed wrapper comes from SWIG 4.1 (Debian 12)" >&2 ;;
esac
${SWIG:-swig} -ruby -I../../../../abi -o "$out" saq_ruby.i
