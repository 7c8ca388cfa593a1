#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The interop conformance suite: Python saq (0.26.3 and 0.13.3) as the peer of
# libsaq. From a clean clone:
#
#   tests/interop/run.sh [pytest args...]
#
# 1. libsaq.so: $SAQ_LIB, or built into $SAQ_BUILD_DIR (default
#    <repo>/build-interop) with CMake.
# 2. the C test worker: $SAQ_TESTWORKER, or the CMake target saq-testworker
#    when the build has it, or compiled from tests/tools/saq-testworker.c
#    into a temporary directory.
# 3. two virtual environments, created once and reused while their
#    requirements file is unchanged: $SAQ_VENV_DIR/.venv-interop-026 and
#    .venv-interop-013 (default SAQ_VENV_DIR = <repo>).
# 4. pytest once per dialect ($SAQ_INTEROP_DIALECTS, default "0.26 0.13"),
#    each under tests/support/with-redis --tls (a private redis-server with a
#    plaintext port and a TLS port: REDIS_URL and REDIS_TLS_URL).
# 5. summary.py: per dialect and direction, how many checklist items passed.
# Exit status 0 only when every dialect's run and the summary are clean.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dialects=${SAQ_INTEROP_DIALECTS:-"0.26 0.13"}
venv_dir=${SAQ_VENV_DIR:-$repo}
python=${PYTHON:-python3}
work=$(mktemp -d /tmp/saq-interop-XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { printf '[interop] %s\n' "$*" >&2; }

# ---- 1. libsaq ---------------------------------------------------------------
build=${SAQ_BUILD_DIR:-$repo/build-interop}
if [ -z "${SAQ_LIB:-}" ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    log "configuring libsaq in $build"
    cmake -S "$repo" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log" 2>&1 ||
      { cat "$work/cmake.log" >&2; exit 2; }
  fi
  log "building libsaq ($build)"
  cmake --build "$build" --target saq >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 2; }
  SAQ_LIB=$build/libsaq.so
fi
[ -f "$SAQ_LIB" ] || { log "SAQ_LIB=$SAQ_LIB does not exist"; exit 2; }
export SAQ_LIB

# ---- 2. the C test worker ----------------------------------------------------
if [ -z "${SAQ_TESTWORKER:-}" ]; then
  if [ -f "$build/CMakeCache.txt" ] && cmake --build "$build" --target saq-testworker >"$work/tw.log" 2>&1; then
    SAQ_TESTWORKER=$(find "$build" -name saq-testworker -type f -perm -u+x | head -n1)
  fi
  if [ -z "${SAQ_TESTWORKER:-}" ]; then
    libdir=$(dirname "$SAQ_LIB")
    SAQ_TESTWORKER=$work/saq-testworker
    log "compiling tests/tools/saq-testworker.c"
    ${CC:-cc} -O1 -g -I"$repo/abi" "$repo/tests/tools/saq-testworker.c" -L"$libdir" -Wl,-rpath,"$libdir" \
      -lsaq -lcjson -lm -o "$SAQ_TESTWORKER"
  fi
fi
export SAQ_TESTWORKER

# ---- 3. virtual environments -------------------------------------------------
venv_for() {  # dialect -> venv path (created/updated when its requirements changed)
  SAQ_VENV_DIR=$venv_dir PYTHON=$python "$repo/tests/support/interop-venv" "$1"
}

# ---- 4. pytest per dialect ---------------------------------------------------
reports=()
status=0
for d in $dialects; do
  v=$(venv_for "$d")
  report=$work/report-$d.json
  reports+=("$report")
  log "dialect $d: $("$v/bin/python" -c 'import saq; print("saq", saq.__version__)')"
  set +e
  (cd "$here" && SAQ_INTEROP_DIALECT=$d SAQ_INTEROP_REPORT=$report \
     "$repo/tests/support/with-redis" --tls -- "$v/bin/python" -m pytest -q -rfEx "$@")
  rc=$?
  set -e
  [ $rc -eq 0 ] || status=1
done

# ---- 5. summary --------------------------------------------------------------
set +e
"$python" "$here/summary.py" "${reports[@]}"
[ $? -eq 0 ] || status=1
if [ -n "${SAQ_INTEROP_KEEP_REPORTS:-}" ]; then
  mkdir -p "$SAQ_INTEROP_KEEP_REPORTS" && cp "${reports[@]}" "$SAQ_INTEROP_KEEP_REPORTS"/ 2>/dev/null
fi
exit $status
