#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Ruby binding checks, the entry point used by the top-level test command.
#
# Environment (set by the caller):
#   SAQ_BUILD_DIR  a built libsaq tree (it has pkgconfig/libsaq.pc, uninstalled)
#   SAQ_PREFIX     an installed libsaq (cmake --install ... --prefix SAQ_PREFIX)
#   SAQ_PYTHON     a python with saq (pip install 'saq[redis]==0.26.3'), for the interop test
#                  (SAQ_RUBY_SKIP_PYTHON=1 skips that test instead of failing)
#
# Steps:
#   0. the committed SWIG wrapper (ext/saq/saq_ruby_wrap.c) is what a fresh
#      `swig -ruby` run makes of saq_ruby.i and abi/saq.i (ext/saq/generate.sh);
#      fails when it is stale
#   1. stage the gem sources and build the extension against SAQ_BUILD_DIR
#   2. run the minitest suite under tests/support/with-redis --tls --cluster (plaintext
#      and TLS ports; a 3-master Redis Cluster for test_cluster.rb)
#   3. gem build (build-gem.sh) with SWIG hidden from PATH; the gem's wrapper and
#      saq.h are the committed wrapper and abi/saq.h byte for byte
#   4. from a clean directory, gem install --local into a fresh GEM_HOME against
#      SAQ_PREFIX, with SWIG hidden from PATH (tests/support/path-without)
#   5. outside the repository, with only that GEM_HOME, run
#      examples/ruby/roundtrip.rb (require "saq", worker + enqueue + result)
#      and README.md's quickstart (its first ruby block, as it stands)
# Exits non-zero on any failure; the last line is a summary.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
with_redis="$repo/tests/support/with-redis"

fail() { echo "ruby bindings: FAILED: $*" >&2; exit 1; }
: "${SAQ_BUILD_DIR:?set SAQ_BUILD_DIR to a built libsaq tree (with pkgconfig/libsaq.pc)}"
: "${SAQ_PREFIX:?set SAQ_PREFIX to an installed libsaq prefix}"
SAQ_BUILD_DIR=$(cd "$SAQ_BUILD_DIR" && pwd)
SAQ_PREFIX=$(cd "$SAQ_PREFIX" && pwd)
[ -f "$SAQ_BUILD_DIR/pkgconfig/libsaq.pc" ] || fail "no $SAQ_BUILD_DIR/pkgconfig/libsaq.pc"
installed_pc=$(find "$SAQ_PREFIX" -path '*pkgconfig*' -name libsaq.pc -print -quit)
[ -n "$installed_pc" ] || fail "no libsaq.pc under $SAQ_PREFIX"

py_note="python interop: run"
if [ -z "${SAQ_PYTHON:-}" ]; then
  if [ "${SAQ_RUBY_SKIP_PYTHON:-}" = 1 ]; then
    py_note="python interop: SKIPPED (no SAQ_PYTHON)"
  else
    fail "SAQ_PYTHON is not set (a python where pip install 'saq[redis]==0.26.3' was run; or SAQ_RUBY_SKIP_PYTHON=1)"
  fi
else
  "$SAQ_PYTHON" -c 'import saq' 2>/dev/null || fail "SAQ_PYTHON=$SAQ_PYTHON cannot import saq"
  export SAQ_PYTHON
fi

work=$(mktemp -d /tmp/saq-ruby-tests-XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

echo "== ruby: the committed SWIG wrapper is what swig generates"
command -v swig >/dev/null || fail "swig is not installed (needed to check the committed wrapper; .ci/setup installs it)"
"$here/ext/saq/generate.sh" "$work/regen_wrap.c" || fail "swig -ruby failed"
if ! cmp -s "$here/ext/saq/saq_ruby_wrap.c" "$work/regen_wrap.c"; then
  diff -u "$here/ext/saq/saq_ruby_wrap.c" "$work/regen_wrap.c" | head -n 40 >&2 || true
  fail "ext/saq/saq_ruby_wrap.c is stale (differs from SWIG's output): run bindings/ruby/ext/saq/generate.sh and commit"
fi

# a PATH where swig cannot be found, for packing and installing
noswig_path=$("$repo/tests/support/path-without" "$work/noswig" swig)
PATH="$noswig_path" bash -c '! command -v swig' >/dev/null || fail "could not hide swig from PATH"

echo "== ruby: building the extension against $SAQ_BUILD_DIR"
PKG_CONFIG_PATH="$SAQ_BUILD_DIR/pkgconfig" "$here/build-ext.sh" "$work/ext" || fail "extension build"

echo "== ruby: minitest (under with-redis)"
set +e
"$with_redis" --tls --cluster -- ruby -I"$here/lib" -I"$work/ext/lib" \
  -e 'Dir[ARGV[0] + "/test_*.rb"].sort.each { |f| require f }' "$here/test" 2>&1 | tee "$work/minitest.log"
rc=${PIPESTATUS[0]}
set -e
tests_line=$(grep -E '^[0-9]+ runs, ' "$work/minitest.log" | tail -n1 || true)
[ "$rc" -eq 0 ] || fail "minitest: ${tests_line:-no summary} (exit $rc)"
[ -n "$tests_line" ] || fail "minitest printed no summary"
if [ -n "${SAQ_PYTHON:-}" ] && ! grep -q ' 0 skips' <<<"$tests_line"; then
  fail "minitest skipped tests although SAQ_PYTHON is set: $tests_line"
fi

echo "== ruby: gem build (no swig on PATH)"
gem_file=$(PATH="$noswig_path" "$here/build-gem.sh" "$work/pkg" | tail -n1)
[ -f "$gem_file" ] || fail "gem build produced no gem"
mkdir "$work/unpacked"
tar -xOf "$gem_file" data.tar.gz | tar -xzf - -C "$work/unpacked" || fail "cannot unpack $gem_file"
cmp -s "$work/unpacked/ext/saq/saq_ruby_wrap.c" "$here/ext/saq/saq_ruby_wrap.c" ||
  fail "the gem's ext/saq/saq_ruby_wrap.c is missing or is not the committed (checked) wrapper"
cmp -s "$work/unpacked/ext/saq/saq.h" "$repo/abi/saq.h" || fail "the gem's ext/saq/saq.h is missing or is not abi/saq.h"

echo "== ruby: gem install --local from a clean directory into a clean GEM_HOME (libsaq from $SAQ_PREFIX, no swig on PATH)"
gem_home="$work/gemhome"
clean="$work/clean"
mkdir -p "$gem_home" "$clean"
cp "$gem_file" "$clean/"
(cd "$clean" && env -u RUBYLIB -u RUBYOPT -u LD_LIBRARY_PATH \
  GEM_HOME="$gem_home" GEM_PATH="$gem_home" PATH="$noswig_path" \
  PKG_CONFIG_PATH="$(dirname "$installed_pc")" \
  gem install --local --no-document "./$(basename "$gem_file")") > "$work/gem-install.log" 2>&1 ||
  { cat "$work/gem-install.log" >&2; find "$gem_home" -name mkmf.log -exec cat {} + >&2 || true; fail "gem install"; }
native=$(find "$gem_home" -path '*saq*' -name native.so -print -quit)
[ -n "$native" ] || fail "the installed gem has no native.so"
linked=$(ldd "$native" | grep 'libsaq' || true)
case "$linked" in
  *"$SAQ_PREFIX/"*) ;;
  *) fail "native.so does not load libsaq from $SAQ_PREFIX: ${linked:-libsaq not linked}" ;;
esac

echo "== ruby: out-of-repo round trip with the installed gem"
outside="$work/outside"
mkdir -p "$outside"
cp "$repo/examples/ruby/roundtrip.rb" "$outside/"
set +e
(cd "$outside" && env -u RUBYLIB -u RUBYOPT -u LD_LIBRARY_PATH -u SAQ_PYTHON \
  GEM_HOME="$gem_home" GEM_PATH="$gem_home" \
  "$with_redis" -- ruby roundtrip.rb) 2>&1 | tee "$work/roundtrip.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || fail "out-of-repo round trip (exit $rc)"
grep -q "from $gem_home" "$work/roundtrip.log" || fail "the round trip did not load the installed gem"
grep -q '^round trip OK$' "$work/roundtrip.log" || fail "the round trip did not report OK"

echo "== ruby: README quickstart, outside the repository with the installed gem"
awk '/^```ruby$/ { if (++n == 1) { on = 1; next } } /^```$/ { on = 0 } on' "$here/README.md" > "$outside/quickstart.rb"
[ "$(wc -l < "$outside/quickstart.rb")" -le 10 ] || fail "README.md's quickstart is over 10 lines"
grep -q 'require "saq"' "$outside/quickstart.rb" || fail "no quickstart block at the top of README.md"
set +e
quick=$(cd "$outside" && env -u RUBYLIB -u RUBYOPT -u LD_LIBRARY_PATH -u SAQ_PYTHON \
  GEM_HOME="$gem_home" GEM_PATH="$gem_home" timeout 60 "$with_redis" -- ruby quickstart.rb 2>&1)
rc=$?
set -e
echo "$quick"
[ "$rc" -eq 0 ] || fail "the README quickstart exited $rc"
grep -qx '42' <<<"$quick" && grep -qxF '[3, 7]' <<<"$quick" || fail "the README quickstart did not print 42 and [3, 7]"

echo "ruby bindings: OK: committed SWIG wrapper up to date; minitest $tests_line; $(basename "$gem_file") built and installed without swig into a clean GEM_HOME against $SAQ_PREFIX; out-of-repo round trip and README quickstart OK; $py_note"
