#!/usr/bin/env node
// SPDX-License-Identifier: MIT
'use strict';
// Offline build of the addon (the package's `install` script).
//
// Compiles src/saq_native_wrap.cxx (SWIG 4.1 output, shipped in the tarball)
// into build/saq_native.node with the C++ compiler directly: no node-gyp, no
// download of Node headers, no network. Inputs:
//   - Node's headers: $SAQ_NODE_INCLUDE, else those of <prefix of
//     process.execPath>/include/node (/usr/include/node for Debian's and
//     NodeSource's node) or $npm_config_nodedir/include/node, the first for
//     the running node's module ABI;
//   - libsaq: `pkg-config libsaq` ($PKG_CONFIG_PATH is honoured; $PKG_CONFIG
//     names another pkg-config). The addon records an rpath to libsaq's libdir,
//     so no LD_LIBRARY_PATH is needed at run time.
//   - $CXX (default c++), extra $CXXFLAGS / $LDFLAGS.
// Never runs SWIG: the wrapper is committed (regenerate it with `npm run gen`
// after a change of saq_node.i or abi/; run-tests.sh fails while it is stale).
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const pkgDir = path.resolve(__dirname, '..');
const wrapper = path.join(pkgDir, 'src', 'saq_native_wrap.cxx');
const outDir = path.join(pkgDir, 'build');
const out = path.join(outDir, 'saq_native.node');
const verbose = process.argv.includes('--verbose') || !!process.env.SAQ_BUILD_VERBOSE;

function fail(msg) {
  console.error(`\nlibsaq: cannot build the Node addon: ${msg}\n`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts });
}

function splitFlags(s) {
  return (s || '').trim().split(/\s+/).filter(Boolean);
}

// 1. the SWIG wrapper (committed; shipped in the tarball)
if (!fs.existsSync(wrapper)) {
  fail(`${path.relative(process.cwd(), wrapper)} is missing. The npm tarball and the repository ship it; ` +
    'in a checkout, "npm run gen" regenerates it (needs SWIG 4.1: apt-get install swig).');
}

// 2. Node's headers (never downloaded). $SAQ_NODE_INCLUDE wins; otherwise the
// first of the running node's own (<prefix>/include/node) and npm's nodedir
// whose NODE_MODULE_VERSION is the running node's ABI: npm's nodedir (often
// /usr, from a system npmrc) may belong to another node than the one that
// runs this script, and an addon built against it would not load.
const hasHeaders = (d) => fs.existsSync(path.join(d, 'node.h')) && fs.existsSync(path.join(d, 'v8.h'));
const abiOf = (d) => {
  try {
    return (/#define NODE_MODULE_VERSION (\d+)/.exec(fs.readFileSync(path.join(d, 'node_version.h'), 'utf8')) || [])[1];
  } catch (e) {
    return undefined;
  }
};
const nodeIncCandidates = [
  path.resolve(process.execPath, '..', '..', 'include', 'node'),
  process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
].filter(Boolean);
if (process.env.SAQ_NODE_INCLUDE && !hasHeaders(process.env.SAQ_NODE_INCLUDE)) {
  fail(`SAQ_NODE_INCLUDE=${process.env.SAQ_NODE_INCLUDE} does not hold Node's headers (node.h, v8.h).`);
}
const nodeInc = process.env.SAQ_NODE_INCLUDE ||
  nodeIncCandidates.find((d) => hasHeaders(d) && abiOf(d) === process.versions.modules) ||
  nodeIncCandidates.find(hasHeaders);
if (nodeInc && !process.env.SAQ_NODE_INCLUDE && abiOf(nodeInc) !== process.versions.modules) {
  console.warn(`libsaq: warning: the Node headers in ${nodeInc} are for module ABI ${abiOf(nodeInc) || '?'}, ` +
    `this node (${process.version}) is ABI ${process.versions.modules}; the addon may not load`);
}
if (!nodeInc) {
  fail(`Node's C++ headers (node.h, v8.h) were not found in ${nodeIncCandidates.join(', ')}.\n` +
    '  Install them (Debian: the nodejs package of NodeSource ships /usr/include/node; or apt-get install libnode-dev)\n' +
    '  or point SAQ_NODE_INCLUDE at the directory that holds node.h.');
}

// 3. libsaq through pkg-config
const pkgConfig = process.env.PKG_CONFIG || 'pkg-config';
const pcProbe = run(pkgConfig, ['--version']);
if (pcProbe.error || pcProbe.status !== 0) fail(`"${pkgConfig}" is not available (apt-get install pkg-config).`);
const exists = run(pkgConfig, ['--exists', '--print-errors', 'libsaq']);
if (exists.status !== 0) {
  fail('pkg-config cannot find libsaq (libsaq.pc).\n' +
    `  PKG_CONFIG_PATH=${process.env.PKG_CONFIG_PATH || '(unset)'}\n` +
    '  Install libsaq (cmake --install <build> --prefix <prefix>) and set\n' +
    '  PKG_CONFIG_PATH=<prefix>/lib/pkgconfig (or <prefix>/lib/<triplet>/pkgconfig).' +
    (exists.stderr ? `\n  pkg-config said: ${exists.stderr.trim()}` : ''));
}
// A .pc written at configure time names the configure-time prefix even when
// libsaq was installed elsewhere with `cmake --install --prefix`; let
// pkg-config derive the prefix from where the .pc file lives first, then
// trust the file as written. The first variant whose header and library
// exist wins.
const pc = (mode, args) => {
  const r = run(pkgConfig, [mode, ...args, 'libsaq']);
  if (r.status !== 0) fail(`"${pkgConfig} ${mode} ${args.join(' ')} libsaq" failed: ${r.stderr}`);
  return r.stdout.trim();
};
const hasHeader = (dirs) => dirs.some((d) => d && fs.existsSync(path.join(d, 'saq.h')));
const hasLib = (d) => !!d && fs.existsSync(d) && fs.readdirSync(d).some((f) => /^libsaq\.so/.test(f));
const tried = [];
let found = null;
for (const mode of ['--define-prefix', '--dont-define-prefix']) {
  const cand = {
    version: pc(mode, ['--modversion']),
    cflags: splitFlags(pc(mode, ['--cflags'])),
    libs: splitFlags(pc(mode, ['--libs'])),
    libdir: pc(mode, ['--variable=libdir']),
    includedir: pc(mode, ['--variable=includedir']),
  };
  const incDirs = [cand.includedir, ...cand.cflags.filter((f) => f.startsWith('-I')).map((f) => f.slice(2)),
    '/usr/include', '/usr/local/include'];
  tried.push(`  ${mode}: includedir ${cand.includedir || '(none)'}, libdir ${cand.libdir || '(none)'}`);
  if (hasHeader(incDirs) && hasLib(cand.libdir)) {
    found = cand;
    break;
  }
}
if (!found) {
  fail('pkg-config knows libsaq, but its header saq.h or its library libsaq.so is missing where libsaq.pc says:\n' +
    tried.join('\n') + '\n  Reinstall libsaq (cmake --install <build> --prefix <prefix>) or fix PKG_CONFIG_PATH.');
}
const { version, cflags, libs, libdir } = found;

// 4. compile and link
const cxx = process.env.CXX || 'c++';
const args = [
  '-std=gnu++17', '-O2', '-fPIC', '-shared', '-pthread',
  '-DBUILDING_NODE_EXTENSION', '-DNODE_GYP_MODULE_NAME=saq_native',
  // SWIG 4.1's V8 code uses APIs V8 11 marks deprecated; it is still correct
  '-Wno-deprecated-declarations', '-Wno-unused-parameter', '-Wno-unused-function',
  '-I' + nodeInc, ...cflags, ...splitFlags(process.env.CXXFLAGS),
  wrapper, '-o', out + '.tmp',
  ...libs, '-Wl,-rpath,' + libdir, ...splitFlags(process.env.LDFLAGS),
];
fs.mkdirSync(outDir, { recursive: true });
if (verbose) console.log(`libsaq: ${cxx} ${args.join(' ')}`);
const t0 = Date.now();
const cc = run(cxx, args, { stdio: verbose ? 'inherit' : 'pipe' });
if (cc.error) fail(`cannot run the C++ compiler "${cxx}" (${cc.error.message}); install g++ or set CXX.`);
if (cc.status !== 0) fail(`${cxx} failed:\n${cc.stderr || ''}${cc.stdout || ''}`);
fs.renameSync(out + '.tmp', out);
console.log(`libsaq: built ${path.relative(process.cwd(), out) || out} against libsaq ${version} (${libdir}) ` +
  `with Node headers from ${nodeInc} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
