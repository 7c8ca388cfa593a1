#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cmake --install` into a temporary prefix, then build a C program outside the
# tree with `pkg-config --cflags --libs libsaq` against the installed copy and
# run it against a private redis-server.
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(find "$tmp/prefix" -name 'libsaq.pc' -printf '%h\n' | head -n1)
[ -n "$libdir" ] || { echo "FAIL: libsaq.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH="$libdir"
real=$(find "$tmp/prefix" -name 'libsaq.so.*.*' | head -n1)
soname=$(objdump -p "$real" | awk '/SONAME/{print $2}')
[ "$soname" = "libsaq.so.0" ] || { echo "FAIL: SONAME is '$soname', expected libsaq.so.0"; exit 1; }
test -f "$tmp/prefix/include/saq.h" || { echo "FAIL: saq.h not installed"; exit 1; }
mkdir "$tmp/outside" && cp "$here/consumer.c" "$tmp/outside/"
cd "$tmp/outside"
# shellcheck disable=SC2046
cc -Wall -o consumer consumer.c $(pkg-config --cflags --libs libsaq) -Wl,-rpath,"$(pkg-config --variable=libdir libsaq)"
# (ldd's output is read whole: `ldd | grep -q` under pipefail fails when grep
# stops reading early and ldd gets SIGPIPE)
libs=$(ldd ./consumer)
grep -q "$tmp/prefix" <<<"$libs" || { echo "FAIL: consumer does not load the installed libsaq"; echo "$libs"; exit 1; }
"$here/../support/with-redis" -- ./consumer
echo "OK: installed libsaq (SONAME $soname, pkg-config $(pkg-config --modversion libsaq)) builds and runs a program outside the tree"
