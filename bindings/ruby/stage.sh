#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stage a complete gem source tree in OUTDIR:
#   bindings/ruby/stage.sh OUTDIR
# Copies the gemspec, lib/, ext/saq/ (extconf.rb, the .i file and the
# committed SWIG wrapper saq_ruby_wrap.c) and docs, and copies abi/saq.h (the
# header the wrapper was generated from: run-tests.sh checks that
# ext/saq/generate.sh gives the committed wrapper) and abi/saq.i next to it.
# Needs no SWIG. OUTDIR can then be built (ruby extconf.rb && make) or packed
# (gem build saq.gemspec).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: stage.sh OUTDIR}
rm -rf "$out"
mkdir -p "$out/ext/saq" "$out/lib"
cp "$here/saq.gemspec" "$here/README.md" "$here/CHANGELOG.md" "$here/LICENSE" "$out/"
cp -R "$here/lib/." "$out/lib/"
find "$out/lib" -name '*.so' -delete
cp "$here/ext/saq/extconf.rb" "$here/ext/saq/saq_ruby.i" "$here/ext/saq/saq_ruby_wrap.c" "$out/ext/saq/"
cp "$repo/abi/saq.h" "$repo/abi/saq.i" "$out/ext/saq/"
# the wrapper's #include "saq.h" finds the copy next to it before any installed one
echo "staged $out"
