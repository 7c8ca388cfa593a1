#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C++ wrapper as a user gets it: `cmake --install` into a temporary prefix
# must put saq.hpp beside saq.h, and the README's C++ quickstart (the ```cpp
# block of its "## C++" section, taken as is) must build outside the tree with
# `c++ -std=c++17 ... $(pkg-config --cflags --libs libsaq)` against that copy
# and run against a private redis-server: a job enqueued, run by the worker,
# and an apply that prints its result.
#   check-install.sh BUILD_DIR [CXX]
set -euo pipefail
build=${1:?build dir}
cxx=${2:-c++}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
inc="$tmp/prefix/include"
[ -f "$inc/saq.h" ] && [ -f "$inc/saq.hpp" ] || { echo "FAIL: saq.hpp is not installed beside saq.h"; ls "$inc"; exit 1; }
cmp -s "$inc/saq.hpp" "$repo/abi/saq.hpp" || { echo "FAIL: the installed saq.hpp differs from abi/saq.hpp"; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(find "$tmp/prefix" -name libsaq.pc -printf '%h\n' | head -n1)
mkdir "$tmp/outside"
awk '/^## C\+\+$/ {s=1; next} s && /^## / {exit} s && /^```cpp$/ {c=1; next} c && /^```$/ {exit} c {print}' \
  "$repo/README.md" > "$tmp/outside/app.cpp"
[ -s "$tmp/outside/app.cpp" ] || { echo "FAIL: no \`\`\`cpp block in README.md's \"## C++\" section"; exit 1; }
cd "$tmp/outside"
# shellcheck disable=SC2046
"$cxx" -std=c++17 -Wall -Wextra -Werror -o app app.cpp $(pkg-config --cflags --libs libsaq) \
  -Wl,-rpath,"$(pkg-config --variable=libdir libsaq)"
libs=$(ldd ./app)
grep -q "$tmp/prefix" <<<"$libs" || { echo "FAIL: app does not load the installed libsaq"; echo "$libs"; exit 1; }
out=$("$repo/tests/support/with-redis" -- ./app 2>&1) || { echo "FAIL: the README's C++ quickstart failed:"; echo "$out"; exit 1; }
echo "$out"
grep -q '^enqueued ' <<<"$out" && grep -q '^running .*"a": *1' <<<"$out" && grep -q '^apply: 3$' <<<"$out" ||
  { echo "FAIL: the quickstart's output lacks the enqueue, the run or the apply's result"; exit 1; }
echo "OK: saq.hpp installed beside saq.h; the README's C++ quickstart builds outside the tree with pkg-config and runs"
