#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cmake --install` into a temporary prefix, then build C programs outside the
# tree against the installed copy and run each against a private redis-server:
#   check-install.sh BUILD          libsaq.so: a program built with
#                                   `pkg-config --cflags --libs libsaq`, and one with
#                                   CMake's find_package(libsaq CONFIG) -> saq::saq;
#                                   the package's version checks
#   check-install.sh BUILD static   libsaq.a (a build with -DSAQ_STATIC=ON):
#                                   find_package -> saq::saq_static from a full prefix,
#                                   and from a prefix holding only the archive (install
#                                   components dev + static) `pkg-config --static` and
#                                   find_package(... COMPONENTS static); find_package
#                                   without pkg-config
# The libsaq.a programs also define names libsaq.a uses inside (clash.c).
set -euo pipefail
build=${1:?build dir}
mode=${2:-shared}
here=$(cd "$(dirname "$0")" && pwd)
with_redis="$here/../support/with-redis"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(find "$tmp/prefix" -name 'libsaq.pc' -printf '%h\n' | head -n1)
[ -n "$libdir" ] || fail "libsaq.pc was not installed"
libdir=$(dirname "$libdir")
test -f "$tmp/prefix/include/saq.h" || fail "saq.h not installed"
test -f "$libdir/cmake/libsaq/libsaqConfig.cmake" || fail "libsaqConfig.cmake not installed"
test -f "$libdir/cmake/libsaq/libsaqConfigVersion.cmake" || fail "libsaqConfigVersion.cmake not installed"
# the consumers' sources, outside the tree (cmake-consumer/ uses ../consumer.c)
mkdir "$tmp/outside"
cp -r "$here/consumer.c" "$here/clash.c" "$here/cmake-consumer" "$tmp/outside/"

# loads PROGRAM [yes|no]: whether PROGRAM loads a libsaq.so from the prefix
# (ldd's output is read whole: `ldd | grep -q` under pipefail fails when grep
# stops reading early and ldd gets SIGPIPE)
loads() {
  local libs
  libs=$(ldd "$1")
  if [ "$2" = yes ]; then
    grep -q "$tmp/prefix/.*libsaq.so" <<<"$libs" || { echo "$libs"; fail "$1 does not load the installed libsaq.so"; }
  else
    ! grep -q 'libsaq' <<<"$libs" || { echo "$libs"; fail "$1 loads a libsaq.so: libsaq.a was not linked"; }
  fi
}

# cmake_consumer DIR PREFIX -D...: configure and build cmake-consumer in DIR
# against PREFIX; prints the configure output
cmake_consumer() {
  local dir=$1 prefix=$2; shift 2
  cmake -S "$tmp/outside/cmake-consumer" -B "$dir" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" "$@" 2>&1
}

if [ "$mode" = shared ]; then
  real=$(find "$tmp/prefix" -name 'libsaq.so.*.*' | head -n1)
  soname=$(objdump -p "$real" | awk '/SONAME/{print $2}')
  [ "$soname" = "libsaq.so.0" ] || fail "SONAME is '$soname', expected libsaq.so.0"

  # pkg-config
  export PKG_CONFIG_PATH="$libdir/pkgconfig"
  (cd "$tmp/outside" &&
    # shellcheck disable=SC2046
    cc -Wall -o consumer consumer.c $(pkg-config --cflags --libs libsaq))
  loads "$tmp/outside/consumer" yes
  # the rpath libsaq.pc gives is the absolute libdir (cmake --install wrote the
  # prefix), not a path through lib/pkgconfig/.., which a runtime-only install lacks
  runpath=$(readelf -d "$tmp/outside/consumer" | sed -n 's/.*RUNPATH.*\[\(.*\)\]/\1/p')
  [ "$runpath" = "$(cd "$libdir" && pwd)" ] || fail "the program's RUNPATH is '$runpath', not the installed libdir $libdir"
  mv "$libdir/pkgconfig" "$libdir/pkgconfig.away"
  "$with_redis" -- "$tmp/outside/consumer"
  mv "$libdir/pkgconfig.away" "$libdir/pkgconfig"
  echo "OK: pkg-config: installed libsaq (SONAME $soname, pkg-config $(pkg-config --modversion libsaq)) builds and runs a program outside the tree"
  unset PKG_CONFIG_PATH

  # the time zones: libsaq.so does not link Abseil or libstdc++; it loads the
  # module installed beside it on the first cron_tz
  ! ldd "$real" | grep -qE 'libabsl|libstdc\+\+' || fail "libsaq.so links Abseil or libstdc++ (they belong to libsaq-tz.so.*)"
  [ -f "$(dirname "$real")/libsaq-tz.so.0.2.0" ] || fail "libsaq-tz.so.0.2.0 is not installed beside libsaq.so"
  cat > "$tmp/outside/crontz.c" <<'C'
#include <saq.h>
#include <stdio.h>
int main(void)
{
    int64_t t[1];
    int32_t off[1];
    char err[256];
    /* 2025-07-01 00:00 UTC: the next 09:00 in New York is 13:00 UTC (EDT, -4 h) */
    int n = saq_cron_next("0 9 * * *", "America/New_York", 1751328000, 1, t, off, err, sizeof err);
    if (n != 1 || t[0] != 1751374800 || off[0] != -4 * 3600) {
        fprintf(stderr, "saq_cron_next: %d %s\n", n, err);
        return 1;
    }
    return 0;
}
C
  (cd "$tmp/outside" && PKG_CONFIG_PATH="$libdir/pkgconfig" &&
    # shellcheck disable=SC2046
    cc -Wall -o crontz crontz.c $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs libsaq))
  "$tmp/outside/crontz" || fail "a cron_tz zone does not open through the installed libsaq.so"
  # a module cut short (a half-copied install): a clear error, not the
  # loader's SIGBUS on the first page past its end
  mkdir "$tmp/cut"
  cp -a "$(dirname "$real")"/libsaq.so* "$tmp/cut/"
  head -c 3000 "$(dirname "$real")/libsaq-tz.so.0.2.0" > "$tmp/cut/libsaq-tz.so.0.2.0"
  rc=0; out=$(LD_LIBRARY_PATH="$tmp/cut" "$tmp/outside/crontz" 2>&1) || rc=$?
  [ "$rc" = 1 ] && grep -q "truncated" <<<"$out" ||
    fail "a truncated libsaq-tz.so: exit $rc, '$out' (expected 1 and a message that it is truncated)"
  echo "OK: libsaq.so links neither Abseil nor libstdc++; a cron_tz loads the installed libsaq-tz.so.0.2.0"

  # find_package(libsaq 0.1 CONFIG) -> saq::saq; CMake sets the build rpath to the prefix
  out=$(cmake_consumer "$tmp/cm-shared" "$tmp/prefix" -DSAQ_WANT_VERSION=0.1) || { echo "$out"; fail "find_package(libsaq 0.1 CONFIG) failed"; }
  grep -q "libsaq 0.2.0 from $libdir/cmake/libsaq" <<<"$out" || { echo "$out"; fail "find_package did not find the installed copy"; }
  cmake --build "$tmp/cm-shared" >/dev/null || fail "the saq::saq consumer does not build"
  loads "$tmp/cm-shared/consumer" yes
  "$with_redis" -- "$tmp/cm-shared/consumer"
  echo "OK: find_package(libsaq 0.1 CONFIG): saq::saq builds and runs a program outside the tree"

  # the version file: any 0.x at least the one asked for (SONAME libsaq.so.0)
  for want in 0.3 1.0; do
    if out=$(cmake_consumer "$tmp/cm-v$want" "$tmp/prefix" -DSAQ_WANT_VERSION=$want); then
      fail "find_package(libsaq $want) accepted the installed 0.2.0"
    fi
    grep -q 'version: 0.2.0' <<<"$out" || { echo "$out"; fail "find_package(libsaq $want) failed for another reason"; }
  done
  echo "OK: find_package(libsaq 0.3) and (libsaq 1.0) reject the installed 0.2.0"
  if [ ! -f "$libdir/libsaq.a" ]; then
    if out=$(cmake_consumer "$tmp/cm-nostatic" "$tmp/prefix" -DSAQ_COMPONENTS=static); then
      fail "find_package(libsaq COMPONENTS static) succeeded without libsaq.a"
    fi
    grep -q 'component static: libsaq.a is not installed' <<<"$out" || { echo "$out"; fail "find_package(libsaq COMPONENTS static) failed for another reason"; }
    echo "OK: without libsaq.a, find_package(libsaq COMPONENTS static) is refused"
  fi
  exit 0
fi

[ "$mode" = static ] || fail "unknown mode '$mode'"
[ -f "$libdir/libsaq.a" ] || fail "libsaq.a was not installed (configure the build with -DSAQ_STATIC=ON)"
leaked=$(nm -g --defined-only "$libdir/libsaq.a" | awk 'NF == 3 && $3 !~ /^saq_/ {print $3}' | sort -u)
[ -z "$leaked" ] || fail "libsaq.a has global symbols besides saq_*: $(head -5 <<<"$leaked" | tr '\n' ' ')"
nm -g --defined-only "$libdir/libsaq.a" | awk 'NF == 3 {print $3}' | sort > "$tmp/static-globals"
diff -u <(sed 's/@.*//' "$here/../../abi/libsaq.symbols" | sort -u) "$tmp/static-globals" ||
  fail "libsaq.a's global symbols differ from abi/libsaq.symbols"
echo "OK: libsaq.a defines the $(wc -l < "$tmp/static-globals") saq_* functions of abi/libsaq.symbols and no other global"

# find_package -> saq::saq_static, from the full prefix (libsaq.so beside it)
out=$(cmake_consumer "$tmp/cm-static" "$tmp/prefix" -DSAQ_TARGET=saq::saq_static) || { echo "$out"; fail "find_package(libsaq CONFIG) failed"; }
cmake --build "$tmp/cm-static" >/dev/null || fail "the saq::saq_static consumer does not build"
loads "$tmp/cm-static/consumer" no
"$with_redis" -- "$tmp/cm-static/consumer"
echo "OK: find_package(libsaq CONFIG): saq::saq_static links libsaq.a (libuv, OpenSSL from its interface) into a program that runs"

# without pkg-config (libsaq.a's dependencies are found with it) saq::saq stays usable
out=$(cmake_consumer "$tmp/cm-nopc" "$tmp/prefix" -DPKG_CONFIG_EXECUTABLE=/nonexistent) ||
  { echo "$out"; fail "find_package(libsaq CONFIG) failed without pkg-config although libsaq.so is there"; }
if out=$(cmake_consumer "$tmp/cm-nopc-static" "$tmp/prefix" -DPKG_CONFIG_EXECUTABLE=/nonexistent -DSAQ_COMPONENTS=static); then
  fail "find_package(libsaq COMPONENTS static) succeeded without pkg-config"
fi
grep -q 'component static: libsaq.a needs pkg-config' <<<"$out" || { echo "$out"; fail "COMPONENTS static without pkg-config failed for another reason"; }
echo "OK: without pkg-config, find_package(libsaq) gives saq::saq and refuses COMPONENTS static with a reason"

# a prefix holding libsaq.a alone: install components dev and static
for c in dev static; do cmake --install "$build" --prefix "$tmp/static" --component $c >/dev/null; done
slibdir=$(dirname "$(find "$tmp/static" -name 'libsaq.pc' -printf '%h\n' | head -n1)")
[ -f "$slibdir/libsaq.a" ] || fail "--component static did not install libsaq.a"
! ls "$slibdir"/libsaq.so* >/dev/null 2>&1 || fail "--component dev/static installed libsaq.so"
export PKG_CONFIG_PATH="$slibdir/pkgconfig"
(cd "$tmp/outside" &&
  # shellcheck disable=SC2046
  cc -Wall -DSAQ_CLASH_CHECK -o consumer-static consumer.c clash.c $(pkg-config --cflags --libs --static libsaq))
loads "$tmp/outside/consumer-static" no
"$with_redis" -- "$tmp/outside/consumer-static"
echo "OK: pkg-config --static: libsaq.a with its Requires.private/Libs.private builds a program that runs"
unset PKG_CONFIG_PATH

out=$(cmake_consumer "$tmp/cm-static-only" "$tmp/static" -DSAQ_TARGET=saq::saq_static -DSAQ_COMPONENTS=static) ||
  { echo "$out"; fail "find_package(libsaq CONFIG COMPONENTS static) failed on the static-only prefix"; }
cmake --build "$tmp/cm-static-only" >/dev/null || fail "the static-only consumer does not build"
"$with_redis" -- "$tmp/cm-static-only/consumer"
if out=$(cmake_consumer "$tmp/cm-noshared" "$tmp/static" -DSAQ_COMPONENTS=shared); then
  fail "find_package(libsaq COMPONENTS shared) succeeded on a prefix without libsaq.so"
fi
grep -q 'component shared: libsaq.so is not installed' <<<"$out" || { echo "$out"; fail "find_package(libsaq COMPONENTS shared) failed for another reason"; }
# no components asked, saq::saq: the alias of saq::saq_static there
out=$(cmake_consumer "$tmp/cm-static-alias" "$tmp/static") ||
  { echo "$out"; fail "find_package(libsaq CONFIG) failed on the static-only prefix"; }
cmake --build "$tmp/cm-static-alias" >/dev/null || fail "saq::saq does not build on the static-only prefix"
loads "$tmp/cm-static-alias/consumer" no
"$with_redis" -- "$tmp/cm-static-alias/consumer"
echo "OK: a static-only prefix: find_package(... COMPONENTS static) links libsaq.a, so does saq::saq (its alias there); COMPONENTS shared is refused"
