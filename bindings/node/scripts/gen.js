#!/usr/bin/env node
// SPDX-License-Identifier: MIT
'use strict';
// Generate src/saq_native_wrap.cxx from saq_node.i (which %includes the shared
// abi/saq.i) with SWIG 4.1 (`npm run gen`, in a libsaq checkout). The wrapper
// is committed and shipped in the tarball: building, packing and installing
// never run SWIG. run-tests.sh runs --check (regenerate into a temp file and
// fail if it differs from the committed one). --if-stale regenerates only
// when an input is newer than the wrapper.
// Environment: SWIG (default "swig"), SAQ_ABI_DIR (default ../../abi).
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const pkgDir = path.resolve(__dirname, '..');
const abiDir = process.env.SAQ_ABI_DIR || path.resolve(pkgDir, '..', '..', 'abi');
const iface = path.join(pkgDir, 'saq_node.i');
const out = path.join(pkgDir, 'src', 'saq_native_wrap.cxx');
const swig = process.env.SWIG || 'swig';

function fail(msg) {
  console.error(`libsaq gen: ${msg}`);
  process.exit(1);
}

function inputs() {
  return [iface, path.join(abiDir, 'saq.i'), path.join(abiDir, 'saq.h')];
}

function generate(target) {
  for (const f of inputs()) {
    if (!fs.existsSync(f)) fail(`${f} is missing (run inside a libsaq checkout, or set SAQ_ABI_DIR to its abi/ directory)`);
  }
  const v = spawnSync(swig, ['-version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) fail(`cannot run "${swig}" (SWIG 4.1 generates the addon's wrapper in a checkout; install it with apt-get install swig)`);
  const m = /SWIG Version (\d+)\.(\d+)\.(\d+)/.exec(v.stdout);
  if (!m) fail(`cannot read the SWIG version from "${swig} -version"`);
  if (!(m[1] === '4' && m[2] === '1')) {
    console.warn(`libsaq gen: warning: SWIG ${m[1]}.${m[2]}.${m[3]} is not 4.1; the binding is written for SWIG 4.1's -node output`);
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // relative paths keep the output independent of where the checkout lives
  const r = spawnSync(swig, ['-javascript', '-node', '-I' + (path.relative(pkgDir, abiDir) || '.'), '-o',
    path.relative(pkgDir, target), 'saq_node.i'], { cwd: pkgDir, encoding: 'utf8' });
  if (r.error || r.status !== 0) fail(`swig failed:\n${r.stderr || r.error}`);
}

const args = process.argv.slice(2);
if (args.includes('--check')) {
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'saq-gen-')), 'saq_native_wrap.cxx');
  generate(tmp);
  const same = fs.existsSync(out) && fs.readFileSync(out).equals(fs.readFileSync(tmp));
  fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  if (!same) fail(`${path.relative(process.cwd(), out)} is not what saq_node.i + abi/saq.i generate; run "npm run gen"`);
  console.log('libsaq gen: wrapper is up to date');
  process.exit(0);
}
if (args.includes('--if-stale') && fs.existsSync(out)) {
  const t = fs.statSync(out).mtimeMs;
  if (inputs().every((f) => !fs.existsSync(f) || fs.statSync(f).mtimeMs <= t)) process.exit(0);
}
generate(out);
console.log(`libsaq gen: wrote ${path.relative(process.cwd(), out)}`);
