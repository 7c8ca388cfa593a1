#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ABI checks run by ctest (label "abi"):
#   check-abi.sh symbols LIB   exported symbols == abi/libsaq.symbols, and every
#                              SAQ_API declaration == version-script global ==
#                              exported symbol (nothing hidden by mistake, nothing extra)
#   check-abi.sh headers LIB   saq.h compiles as C99 -pedantic -Werror and as C++11
#   check-abi.sh swig LIB      SWIG 4.1 parses abi/saq.i for Ruby, Go and Node
#   check-abi.sh version LIB   newest version-script node == SAQ_<major>.<minor>, and the
#                              library's runtime version == the header's
# When symbols change on purpose: update abi/libsaq.map (new node for new
# symbols, see abi/README.md), regenerate abi/libsaq.symbols with
#   nm -D --defined-only build/libsaq.so | awk '$2!="A"{print $3}' | sort > abi/libsaq.symbols
# and add an "ABI" note to CHANGELOG.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:?mode}
lib=${2:?library path}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case "$mode" in
symbols)
  nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sort > "$tmp/actual"
  if ! diff -u "$here/libsaq.symbols" "$tmp/actual"; then
    echo "FAIL: the exported symbols differ from abi/libsaq.symbols (see the diff above)"
    exit 1
  fi
  grep -oE 'SAQ_API[^;]*\bsaq_[a-z0-9_]+[[:space:]]*\(' "$here/saq.h" \
    | grep -oE 'saq_[a-z0-9_]+[[:space:]]*\($' | tr -d ' (' | sort -u > "$tmp/declared"
  sed -n '/global:/,/local:/p' "$here/libsaq.map" | grep -oE '\bsaq_[a-z0-9_]+' | sort -u > "$tmp/mapped"
  sed 's/@.*//' "$tmp/actual" | sort -u > "$tmp/exported"
  diff -u "$tmp/declared" "$tmp/mapped" || { echo "FAIL: SAQ_API declarations differ from abi/libsaq.map globals"; exit 1; }
  diff -u "$tmp/mapped" "$tmp/exported" || { echo "FAIL: map globals differ from exported symbols"; exit 1; }
  if grep -vqE '@@?SAQ_[0-9]+\.[0-9]+$' "$tmp/actual"; then
    echo "FAIL: unversioned exported symbols:"; grep -vE '@@?SAQ_' "$tmp/actual"; exit 1
  fi
  nm -D --defined-only "$lib" | grep -qiE ' (redis|sds|uv_)' && { echo "FAIL: hiredis/libuv symbols leak from $lib"; exit 1; }
  echo "OK: $(wc -l < "$tmp/actual") symbols, all declared, versioned and listed; no dependency symbols exported"
  ;;
headers)
  printf '#include <saq.h>\nint main(void){ return saq_version() == SAQ_VERSION_NUMBER ? 0 : 1; }\n' > "$tmp/c.c"
  cp "$tmp/c.c" "$tmp/cpp.cpp"
  gcc -std=c99 -pedantic -Wall -Wextra -Werror -I"$here" -c "$tmp/c.c" -o "$tmp/c.o"
  g++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$here" -c "$tmp/cpp.cpp" -o "$tmp/cpp.o"
  g++ "$tmp/cpp.o" "$lib" -Wl,-rpath,"$(dirname "$lib")" -o "$tmp/cpp" && "$tmp/cpp"
  echo "OK: saq.h compiles as C99 -pedantic -Werror and as C++11, and links from C++"
  ;;
swig)
  command -v swig >/dev/null || { echo "FAIL: swig is not installed"; exit 1; }
  printf '%%module saqcheck\n%%include "saq.i"\n' > "$tmp/t.i"
  swig -ruby -I"$here" -o "$tmp/r.c" "$tmp/t.i"
  swig -go -cgo -intgosize 64 -I"$here" -outdir "$tmp" -o "$tmp/g.c" "$tmp/t.i"
  swig -javascript -node -c++ -I"$here" -o "$tmp/n.cxx" "$tmp/t.i"
  echo "OK: SWIG $(swig -version | awk '/Version/{print $3}') parses abi/saq.i for ruby, go and node"
  ;;
version)
  maj=$(awk '/#define SAQ_VERSION_MAJOR/{print $3}' "$here/saq.h")
  min=$(awk '/#define SAQ_VERSION_MINOR/{print $3}' "$here/saq.h")
  newest=$(grep -oE '^SAQ_[0-9]+\.[0-9]+' "$here/libsaq.map" | tail -n1)
  [ "$newest" = "SAQ_$maj.$min" ] || { echo "FAIL: newest map node $newest != SAQ_$maj.$min"; exit 1; }
  printf '#include <saq.h>\n#include <stdio.h>\n#include <string.h>\nint main(void){ printf("%%s\\n", saq_version_str()); return strcmp(saq_version_str(), SAQ_VERSION_STR) || saq_version() != SAQ_VERSION_NUMBER; }\n' > "$tmp/v.c"
  gcc -I"$here" "$tmp/v.c" "$lib" -Wl,-rpath,"$(dirname "$lib")" -o "$tmp/v"
  "$tmp/v" >/dev/null || { echo "FAIL: runtime version differs from the header"; exit 1; }
  echo "OK: version $maj.$min, map node $newest, runtime version matches the header"
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
