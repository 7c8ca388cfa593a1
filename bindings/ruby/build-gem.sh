#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the gem: bindings/ruby/build-gem.sh [OUTDIR]   (default: bindings/ruby/pkg)
# Stages the gem's sources (stage.sh) and runs `gem build` in it. Neither step
# needs SWIG: the resulting saq-<version>.gem contains the committed SWIG
# wrapper and the saq.h it was generated from, so `gem install` needs a C
# compiler, Ruby headers and an installed libsaq (found through pkg-config).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/pkg}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d /tmp/saq-gem-stage-XXXXXX)
trap 'rm -rf "$stage"' EXIT
"$here/stage.sh" "$stage/saq"
(cd "$stage/saq" && gem build saq.gemspec --output "$out/saq.gem.tmp" > "$stage/gem-build.log" 2>&1) ||
  { cat "$stage/gem-build.log" >&2; exit 1; }
version=$(ruby -I"$here/lib" -e 'require "saq/version"; print Saq::VERSION')
mv "$out/saq.gem.tmp" "$out/saq-$version.gem"
echo "$out/saq-$version.gem"
