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
#   check-abi.sh ffi LIB       abi/saq_ffi.h (the plain-declarations header for FFI tools) is
#                              what abi/gen-ffi-header.py makes of saq.h now, and holds the same
#                              content: the same functions, typedefs and integer constants, the
#                              compiler checking that each function's type is compatible with
#                              saq.h's and each constant's value equal; no directive in it
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
ffi)
  ffi=$here/saq_ffi.h
  python3 "$here/gen-ffi-header.py" "$here/saq.h" "$tmp/fresh_ffi.h"
  if ! diff -u "$ffi" "$tmp/fresh_ffi.h"; then
    echo "FAIL: abi/saq_ffi.h is stale: run abi/gen-ffi-header.py and commit the result"; exit 1
  fi
  if grep -nE '^[[:space:]]*#|__attribute__|SAQ_API' "$ffi"; then
    echo "FAIL: abi/saq_ffi.h has preprocessor lines or attributes (above)"; exit 1
  fi
  # the same names: functions, typedefs, integer constants (saq.h's #defines but the guard,
  # SAQ_API and the one string)
  strip() { perl -0pe 's{/\*.*?\*/|//[^\n]*}{}gs' "$1"; }
  strip "$here/saq.h" > "$tmp/h.txt"; strip "$ffi" > "$tmp/f.txt"
  fns() { grep -oE '\bsaq_[a-z0-9_]+[[:space:]]*\(' "$1" | tr -d ' (' | sort -u; }
  tds() { grep -oE 'typedef[^;]*' "$1" | grep -oE '\bsaq_[a-z0-9_]+(_t|_fn|_cb)\b' | sort -u; }
  fns "$tmp/h.txt" > "$tmp/h.fns"; fns "$tmp/f.txt" > "$tmp/f.fns"
  tds "$tmp/h.txt" > "$tmp/h.tds"; tds "$tmp/f.txt" > "$tmp/f.tds"
  grep -oE '^#define SAQ_[A-Z0-9_]+' "$tmp/h.txt" | awk '{print $2}' |
    grep -vxE 'SAQ_H|SAQ_API|SAQ_VERSION_STR' | sort -u > "$tmp/h.consts"
  grep -oE '^[[:space:]]+SAQ_[A-Z0-9_]+ = ' "$tmp/f.txt" | awk '{print $1}' | sort -u > "$tmp/f.consts"
  for k in fns tds consts; do
    diff -u "$tmp/h.$k" "$tmp/f.$k" || { echo "FAIL: saq.h and saq_ffi.h differ in their $k (above)"; exit 1; }
  done
  # the same content: saq.h's constants captured, its macros dropped, then saq_ffi.h in the same
  # C11 translation unit: a function declared with an incompatible type, a different typedef or
  # a constant of another value is a compile error
  {
    echo '#include <saq.h>'
    awk '{printf "enum { saq_h_%s = %s };\n", $1, $1}' "$tmp/h.consts"
    awk '{printf "#undef %s\n", $1}' "$tmp/h.consts"
    echo "#include \"$ffi\""
    awk '{printf "_Static_assert((int)saq_h_%s == (int)%s, \"%s differs\");\n", $1, $1, $1}' "$tmp/h.consts"
    echo 'int main(void) { return saq_version() == (unsigned)SAQ_VERSION_NUMBER ? 0 : 1; }'
  } > "$tmp/same.c"
  gcc -std=c11 -pedantic -Wall -Wextra -Werror -I"$here" "$tmp/same.c" "$lib" \
    -Wl,-rpath,"$(dirname "$lib")" -o "$tmp/same"
  "$tmp/same"
  echo "OK: abi/saq_ffi.h is up to date and declares what saq.h does: $(wc -l < "$tmp/h.fns") functions," \
    "$(wc -l < "$tmp/h.tds") typedefs, $(wc -l < "$tmp/h.consts") constants (types and values checked by gcc)"
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
