#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the extension for development and tests, out of the source tree:
#   bindings/ruby/build-ext.sh BUILDDIR
# Uses the libsaq that pkg-config finds (for a build tree:
# PKG_CONFIG_PATH=<build>/pkgconfig). Leaves BUILDDIR/lib/saq/native.so;
# run Ruby with -I bindings/ruby/lib -I BUILDDIR/lib.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
b=${1:?usage: build-ext.sh BUILDDIR}
mkdir -p "$b"
b=$(cd "$b" && pwd)
"$here/stage.sh" "$b/src" >/dev/null
mkdir -p "$b/obj" "$b/lib/saq"
(cd "$b/obj" && ruby "$b/src/ext/saq/extconf.rb" >/dev/null && make -s V=0 >/dev/null)
cp "$b/obj/native.so" "$b/lib/saq/native.so"
echo "$b/lib/saq/native.so"
