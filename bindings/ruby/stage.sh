#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stage a complete, SWIG-free gem source tree in OUTDIR:
#   bindings/ruby/stage.sh OUTDIR
# Copies the gemspec, lib/, ext/saq/extconf.rb and docs, generates
# ext/saq/saq_ruby_wrap.c with `swig -ruby` from ext/saq/saq_ruby.i and the
# shared interface abi/saq.i, and copies abi/saq.h (the header SWIG read) next
# to it. OUTDIR can then be built (ruby extconf.rb && make) or packed
# (gem build saq.gemspec) on a machine without SWIG.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: stage.sh OUTDIR}
command -v swig >/dev/null || { echo "stage.sh: swig (4.1) is needed to generate the wrapper" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out/ext/saq" "$out/lib"
cp "$here/saq.gemspec" "$here/README.md" "$here/CHANGELOG.md" "$here/LICENSE" "$out/"
cp -R "$here/lib/." "$out/lib/"
find "$out/lib" -name '*.so' -delete
cp "$here/ext/saq/extconf.rb" "$here/ext/saq/saq_ruby.i" "$out/ext/saq/"
cp "$repo/abi/saq.h" "$repo/abi/saq.i" "$out/ext/saq/"
# -I<abi> finds saq.i and saq.h; the generated file includes "saq.h", which
# the compiler finds next to it (the shipped copy) before any installed one.
swig -ruby -I"$repo/abi" -o "$out/ext/saq/saq_ruby_wrap.c" "$here/ext/saq/saq_ruby.i"
echo "staged $out (swig $(swig -version | awk '/SWIG Version/ {print $3}'))"
