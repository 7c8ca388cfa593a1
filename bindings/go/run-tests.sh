#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Test entry point of the Go binding, called by the top-level test command.
#
# Environment (all required):
#   SAQ_BUILD_DIR  a built libsaq build tree (its pkgconfig/libsaq.pc is the
#                  uninstalled .pc used for the in-tree tests)
#   SAQ_PREFIX     a prefix where libsaq was installed (cmake --install), used
#                  to build a program outside the repository
#   SAQ_PYTHON     a python with saq (pip install 'saq[redis]==0.26.3'; the interop test)
# Optional: GO (the go command), SWIG (the swig command).
#
# Steps: (1) regenerating the SWIG layer gives no diff, (2) gofmt, go vet,
# and a CGO_ENABLED=0 build fails with the clear message, (3) go test -race
# against a private redis-server and Redis Cluster, (4) outside the repository,
# against the installed libsaq and with LD_LIBRARY_PATH unset: the README's
# Quickstart pasted as it is (a replace directive) and examples/quickstart in a
# go.work workspace, each built with the rpath libsaq.pc gives and run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
with_redis="$root/tests/support/with-redis"

fail() { echo "go binding: FAIL: $*" >&2; exit 1; }

: "${SAQ_BUILD_DIR:?SAQ_BUILD_DIR must name a libsaq build directory}"
: "${SAQ_PREFIX:?SAQ_PREFIX must name an installed libsaq prefix}"
: "${SAQ_PYTHON:?SAQ_PYTHON must name a python with saq 0.26.3}"
SAQ_BUILD_DIR=$(cd "$SAQ_BUILD_DIR" && pwd)
SAQ_PREFIX=$(cd "$SAQ_PREFIX" && pwd)
export SAQ_PYTHON

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || command -v "$GO" >/dev/null || fail "no go command (set GO)"
# Offline and reproducible: stdlib only, never download a toolchain.
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS="${GOFLAGS:-} -buildvcs=false"
if [ -z "${HOME:-}" ] && [ -z "${GOCACHE:-}" ]; then
  export GOCACHE="${TMPDIR:-/tmp}/saq-go-cache" GOPATH="${TMPDIR:-/tmp}/saq-go-path"
fi

[ -f "$SAQ_BUILD_DIR/pkgconfig/libsaq.pc" ] || fail "$SAQ_BUILD_DIR/pkgconfig/libsaq.pc not found (build libsaq first)"
installed_pc=$(find "$SAQ_PREFIX" -name libsaq.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$installed_pc" ] || fail "no installed libsaq.pc under $SAQ_PREFIX (run cmake --install)"
installed_pcdir=$(dirname "$installed_pc")
# The installed libsaq.pc derives its prefix from its own location; older
# ones baked in the configure-time CMAKE_INSTALL_PREFIX, which is wrong after
# `cmake --install --prefix X`. Then let pkg-config derive the prefix.
pc_prefix=$(PKG_CONFIG_PATH="$installed_pcdir" pkg-config --variable=prefix libsaq)
pc_prefix=$(cd "$pc_prefix" 2>/dev/null && pwd || echo "$pc_prefix")
PKG_CONFIG_CMD=pkg-config
if [ "$pc_prefix" != "$SAQ_PREFIX" ]; then
  echo "go binding: warning: $installed_pc says prefix=$pc_prefix, not $SAQ_PREFIX (configure-time prefix); using pkg-config --define-prefix" >&2
  PKG_CONFIG_CMD="pkg-config --define-prefix"
fi
installed_libdir=$(PKG_CONFIG_PATH="$installed_pcdir" $PKG_CONFIG_CMD --variable=libdir libsaq)
installed_libdir=$(cd "$installed_libdir" && pwd -P) || fail "libdir $installed_libdir of $installed_pc does not exist"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/saq-go-tests-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- 1. the committed SWIG output is what SWIG generates -------------------
mkdir "$tmp/regen"
"$here/internal/saqraw/generate.sh" "$tmp/regen" >/dev/null
for f in saqraw.go saqraw_wrap.c; do
  diff -u "$here/internal/saqraw/$f" "$tmp/regen/$f" >"$tmp/regen.diff" ||
    { head -n 40 "$tmp/regen.diff" >&2; fail "internal/saqraw/$f differs from SWIG's output: run internal/saqraw/generate.sh and commit"; }
done
echo "go binding: SWIG layer regenerates without diff"

cd "$here"
export PKG_CONFIG_PATH="$SAQ_BUILD_DIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# cmd/go keys its build cache neither on pkg-config's output nor on headers
# outside the package: a package cached against another libsaq build would
# be reused. Put both in CGO_CPPFLAGS, which is part of the cache key.
build_id=$( { pkg-config --cflags --libs libsaq; cat "$(pkg-config --variable=includedir libsaq)/saq.h"; } | sha256sum | cut -c1-16)
export CGO_CPPFLAGS="${CGO_CPPFLAGS:-} -DSAQ_GO_LIBSAQ_ID=$build_id"

# ---- 2. static checks --------------------------------------------------------
unformatted=$(gofmt -l saq examples internal/saqraw/doc.go internal/saqraw/nocgo.go)
[ -z "$unformatted" ] || fail "not gofmt'ed: $unformatted"
if grep -l '"unsafe"' saq/*.go examples/*/*.go >/dev/null 2>&1; then
  fail "the hand-written package must not import unsafe"
fi
# unsafeptr is off only because SWIG's generated swigCopyString trips it;
# the hand-written code does not use unsafe (checked above).
"$GO" vet -unsafeptr=false ./...
if CGO_ENABLED=0 "$GO" build ./... >"$tmp/nocgo.log" 2>&1; then
  fail "a CGO_ENABLED=0 build succeeded; the !cgo stub is missing"
fi
grep -q 'requires_cgo' "$tmp/nocgo.log" || { cat "$tmp/nocgo.log" >&2; fail "CGO_ENABLED=0 build fails without the clear message"; }
echo "go binding: gofmt, go vet, !cgo stub ok"

# ---- 3. go test -race against a private redis-server --------------------------
# (--cluster: also a 3-master Redis Cluster for TestCluster, ready in 2-3 s)
"$with_redis" --tls --cluster -- "$GO" test -race -count=1 -timeout 180s -v ./... >"$tmp/test.log" 2>&1 || {
  grep -Ev '^(=== (RUN|PAUSE|CONT)|    --- PASS)' "$tmp/test.log" | tail -n 80 >&2
  fail "go test -race"
}
grep -E '^(ok|FAIL|---)' "$tmp/test.log" | grep -v -- '--- PASS' || true
passed=$(grep -c -- '^--- PASS' "$tmp/test.log" || true)
skipped=$(grep -c -- '^--- SKIP' "$tmp/test.log" || true)
[ "$skipped" = 0 ] || { grep -A2 -- '^--- SKIP' "$tmp/test.log" >&2; fail "$skipped tests were skipped"; }
echo "go binding: go test -race: $passed tests passed"

# ---- 4. programs outside the repository, against the installed libsaq ----------
# From a fresh prefix (tests/run installs one), with LD_LIBRARY_PATH unset:
# (a) the README's Quickstart block, pasted as it is (a `replace` directive),
# (b) examples/quickstart in a go.work workspace (the README's other recipe).
# Each binary must find the installed libsaq through the rpath that the
# installed libsaq.pc gives cgo.
printf '#!/bin/sh\nexec %s "$@"\n' "$PKG_CONFIG_CMD" >"$tmp/pkg-config"
chmod +x "$tmp/pkg-config"
# check_binary BIN: its RUNPATH names the installed libdir, and the loader
# resolves libsaq there with LD_LIBRARY_PATH unset
check_binary() {
  local runpath resolved
  runpath=$(readelf -d "$1" | sed -n 's/.*R\(UN\)\{0,1\}PATH.*\[\(.*\)\]/\2/p')
  if [[ ":$runpath:" == *":$SAQ_BUILD_DIR:"* ]]; then
    echo "go binding: $1 has an rpath into the build tree $SAQ_BUILD_DIR" >&2; return 1
  fi
  resolved=$(env -u LD_LIBRARY_PATH ldd "$1" | awk '/libsaq\.so/ {print $3}')
  [ -n "$resolved" ] && [ "$(realpath -m "$(dirname "$resolved")")" = "$installed_libdir" ] || {
    echo "go binding: $1 (RUNPATH '$runpath') resolves libsaq to '$resolved', not $installed_libdir" >&2; return 1; }
  echo "go binding: $(basename "$1"): RUNPATH $runpath; libsaq from $installed_libdir"
}
# cmd/go does not key its build cache on pkg-config's output: a private
# cache (and an id of the installed copy, as above) makes sure the binding is
# really compiled against the installed headers and linked against the
# installed library, with its rpath.
outside_env() {
  export PKG_CONFIG="$tmp/pkg-config" PKG_CONFIG_PATH="$installed_pcdir" GOCACHE="$tmp/gocache"
  local id
  id=$( { $PKG_CONFIG --cflags --libs libsaq; cat "$($PKG_CONFIG --variable=includedir libsaq)/saq.h"; } | sha256sum | cut -c1-16)
  export CGO_CPPFLAGS="-DSAQ_GO_LIBSAQ_ID=$id"
  unset LD_LIBRARY_PATH GOWORK
}

# (a) the Quickstart: the first ```sh block under "## Quickstart", with
# LIBSAQ set to this checkout and the URL to the private Redis
awk '/^## Quickstart/ {q=1} q && /^```sh$/ {b=1; next} b && /^```$/ {exit} b' "$here/README.md" >"$tmp/quickstart.sh"
grep -q '^LIBSAQ=' "$tmp/quickstart.sh" && grep -q 'go run \.' "$tmp/quickstart.sh" ||
  fail "README.md: no Quickstart sh block with LIBSAQ= and go run ."
sed -i "s|^LIBSAQ=.*|LIBSAQ=$root|" "$tmp/quickstart.sh"
echo 'go build -o hello . && check_binary ./hello' >>"$tmp/quickstart.sh"
mkdir "$tmp/paste"
(
  cd "$tmp/paste"
  outside_env
  export -f check_binary
  export SAQ_BUILD_DIR installed_libdir
  "$with_redis" -- bash -c 'sed -i "s|redis://localhost:6379/0|$REDIS_URL|" "$1" && bash -e "$1"' _ "$tmp/quickstart.sh"
) >"$tmp/paste.log" 2>&1 || { cat "$tmp/paste.log" >&2; fail "the README's Quickstart, pasted outside the repository against $SAQ_PREFIX"; }
grep -qx '42 <nil>' "$tmp/paste.log" || { cat "$tmp/paste.log" >&2; fail "the README's Quickstart did not print '42 <nil>'"; }
grep '^go binding:' "$tmp/paste.log"
echo "go binding: the README's Quickstart ran outside the repository (replace directive): 42 <nil>"

# (b) a workspace: go.work uses the app and the checkout's module; the app's
# go.mod has no require or replace line
mkdir -p "$tmp/work/app"
cp "$here/examples/quickstart/main.go" "$tmp/work/app/main.go"
(
  cd "$tmp/work/app"
  outside_env
  "$GO" mod init example.com/saqconsumer
  cd .. && "$GO" work init ./app "$here" && cd app
  if grep -q 'libsaq' go.mod; then echo "go.mod names libsaq" >&2; exit 1; fi
  "$GO" build -o consumer .
  check_binary ./consumer
  SAQ_QUEUE=consumer "$with_redis" -- ./consumer
) >"$tmp/consumer.log" 2>&1 || { cat "$tmp/consumer.log" >&2; fail "the out-of-tree workspace program against $SAQ_PREFIX"; }
grep '^go binding:' "$tmp/consumer.log"
tail -n 1 "$tmp/consumer.log"
echo "go binding: examples/quickstart built in a go.work workspace outside the repository and round-tripped jobs"

echo "go binding: OK (SWIG regen clean, vet clean, $passed tests passed with -race, README Quickstart and workspace program run without LD_LIBRARY_PATH)"
