#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the SWIG layer of the Go binding (saqraw.go, saqraw_wrap.c).
#   internal/saqraw/generate.sh [OUTDIR]
# OUTDIR defaults to this directory; run-tests.sh generates into a temporary
# directory and compares, so the committed output must be what SWIG 4.1
# produces from saqraw.i + abi/saq.i with exactly these flags.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
abi=$(cd "$here/../../../../abi" && pwd)
cd "$here"
version=$(${SWIG:-swig} -version | sed -n 's/^SWIG Version //p')
case "$version" in
  4.1.*) ;;
  *) echo "generate.sh: SWIG $version found; the committed output comes from SWIG 4.1 (Debian 12)" >&2 ;;
esac
${SWIG:-swig} -go -cgo -intgosize 64 -package saqraw -I"$abi" \
  -o "$out/saqraw_wrap.c" -outdir "$out" saqraw.i
