#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs one FFI example as a user outside the tree would: libsaq installed into a fresh
# temporary prefix (`cmake --install`), found through pkg-config (PKG_CONFIG_PATH), and
# the example run against a private redis-server (tests/support/with-redis).
#   examples/ffi/check.sh python BUILD_DIR   cffi from PyPI in .venv-ffi/ (made once, inside
#                                            the checkout), then python/saq_asyncio.py
#   examples/ffi/check.sh rust BUILD_DIR     cargo (no crates) builds rust/ in a copy outside
#                                            the tree, then runs it
#   examples/ffi/check.sh luajit BUILD_DIR   luajit runs luajit/saq_example.lua
# ctest runs all three (label ffi; tests/run's C stage). Exits non-zero when the example does.
set -euo pipefail
lang=${1:?usage: check.sh python|rust|luajit BUILD_DIR}
build=$(cd "${2:?usage: check.sh python|rust|luajit BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d /tmp/saq-ffi-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pcdir=$(find "$tmp/prefix" -name libsaq.pc -printf '%h\n' | head -n1)
export PKG_CONFIG_PATH="$pcdir"
test -f "$(pkg-config --variable=includedir libsaq)/saq_ffi.h" ||
  { echo "FAIL: saq_ffi.h is not installed beside saq.h"; exit 1; }

case "$lang" in
python)
  venv=${SAQ_VENV_DIR:-$repo}/.venv-ffi
  req=$here/python/requirements.txt
  stamp=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.ffi-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "[ffi] creating $venv (cffi)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    echo "$stamp" >"$venv/.ffi-stamp"
  fi
  "$repo/tests/support/with-redis" -- "$venv/bin/python" "$here/python/saq_asyncio.py"
  # the top README's snippet (the first python block of its FFI section), as a user pastes it
  awk '/^## Other languages through FFI/{s=1} s&&/^```python$/{p=1;next} p&&/^```$/{exit} p' \
    "$repo/README.md" > "$tmp/readme.py"
  [ -s "$tmp/readme.py" ] || { echo "FAIL: no python snippet in the README's FFI section"; exit 1; }
  out=$("$repo/tests/support/with-redis" -- "$venv/bin/python" "$tmp/readme.py")
  echo "README snippet: $out"
  [ "$out" = "status 0, 0 queued" ] || { echo "FAIL: the README's snippet printed '$out'"; exit 1; }
  ;;
rust)
  command -v cargo >/dev/null || { echo "FAIL: cargo is not installed (.ci/setup test installs it)"; exit 1; }
  cp -r "$here/rust" "$tmp/rust"
  # the compiled crate is kept in the build directory between runs (a second run takes a second)
  export CARGO_TARGET_DIR="$build/ffi-rust-target"
  (cd "$tmp/rust" && cargo build --offline --quiet)
  bin="$CARGO_TARGET_DIR/debug/saq-ffi-example"
  libs=$(ldd "$bin")
  grep -q "$tmp/prefix" <<<"$libs" ||
    { echo "FAIL: the Rust example does not load the installed libsaq"; echo "$libs"; exit 1; }
  "$repo/tests/support/with-redis" -- "$bin"
  ;;
luajit)
  command -v luajit >/dev/null || { echo "FAIL: luajit is not installed (.ci/setup test installs it)"; exit 1; }
  "$repo/tests/support/with-redis" -- luajit "$here/luajit/saq_example.lua"
  ;;
*) echo "usage: check.sh python|rust|luajit BUILD_DIR" >&2; exit 2 ;;
esac
