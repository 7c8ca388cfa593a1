#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shape of src/ (issue 13), checked on every run of the C stage:
#   - every file compiles clean with -Wall -Wextra -Wshadow -Wmissing-prototypes -Werror
#     (gcc, and clang when installed): no function without a declaration in a header;
#     the one C++ file (tz.cc, Abseil's time zones behind tz.h) likewise with -std=c++17
#     -Wmissing-declarations (g++, and clang++ when installed);
#   - no local prototypes: a .c file declares no non-static function at file scope
#     (cross-file functions are declared in their file's section of core.h/internal.h);
#   - no file in src/ over 900 lines;
#   - allocations only through util.c's saq__ wrappers, reference counts through saq__ref/unref.
# Usage: check-src.sh [REPO]
set -uo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$repo"
hiredis=$(pkg-config --cflags hiredis 2>/dev/null || echo -I/usr/include/hiredis)
uv=$(pkg-config --cflags libuv 2>/dev/null)
rc=0
for cc in gcc clang; do
  command -v $cc >/dev/null || continue
  for f in src/*.c; do
    if ! out=$($cc -std=c11 -fsyntax-only -Wall -Wextra -Wshadow -Wmissing-prototypes -Wno-unused-parameter \
               -Werror -Iabi -Isrc $hiredis $uv "$f" 2>&1); then
      echo "FAIL: $cc warns on $f:"; echo "$out" | head -20; rc=1
    fi
  done
done
for cxx in g++ clang++; do
  command -v $cxx >/dev/null || continue
  for f in src/*.cc; do
    [ -e "$f" ] || continue
    if ! out=$($cxx -std=c++17 -fsyntax-only -Wall -Wextra -Wshadow -Wmissing-declarations -Wno-unused-parameter \
               -Werror -Iabi -Isrc "$f" 2>&1); then
      echo "FAIL: $cxx warns on $f:"; echo "$out" | head -20; rc=1
    fi
  done
done
# a file-scope declaration of a function in a .c file (not static, not a
# definition; it may span lines and end in a comment)
local_protos=$(perl -0777 -ne 'while (/^(?!static|typedef|return)([A-Za-z_][\w \*]*?\b(saq_\w+)\s*\([^;{}]*\)\s*(?:__attribute__\s*\(\(.*?\)\))?\s*;)/mg) { my $d = $1; $d =~ s/\s+/ /g; print "$ARGV: $d\n" }' src/*.c)
if [ -n "$local_protos" ]; then
  echo "FAIL: local prototypes (declare them in the file's header section):"; echo "$local_protos"; rc=1
fi
# every allocation through util.c's wrappers, every reference count through saq__ref/saq__unref
raw=$(grep -nE '(^|[^_a-zA-Z0-9])(malloc|calloc|realloc|strdup|strndup)\(' src/*.c | grep -v '^src/util.c:' || true)
if [ -n "$raw" ]; then
  echo "FAIL: allocations outside the saq__ wrappers:"; echo "$raw"; rc=1
fi
rawref=$(grep -nE 'atomic_fetch_(add|sub)\(&[a-z_>.-]*refs' src/*.c || true)
if [ -n "$rawref" ]; then
  echo "FAIL: reference counts outside saq__ref/saq__unref:"; echo "$rawref"; rc=1
fi
big=$(wc -l src/*.c src/*.cc src/*.h | awk '$2 != "total" && $1 > 900 {print "  " $2 ": " $1 " lines"}')
if [ -n "$big" ]; then
  echo "FAIL: files over 900 lines:"; echo "$big"; rc=1
fi
[ $rc = 0 ] && echo "OK: $(ls src/*.c src/*.cc | wc -l) source files: no warnings (-Wmissing-prototypes -Werror), no local prototypes, none over 900 lines, no raw allocations or reference counts"
exit $rc
