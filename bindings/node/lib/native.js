// SPDX-License-Identifier: MIT
'use strict';
// Loads the SWIG-generated addon (the raw `saq_*` functions). Internal: the
// public API is in index.js.
const { isMainThread } = require('worker_threads');

if (!isMainThread) {
  // SWIG 4.1's V8 back-end keeps its object templates in process-global
  // statics; once a worker thread that loaded the addon exits, the next
  // wrapped pointer made on the main thread crashes the process. Refuse
  // instead of crashing later.
  throw new Error(
    'libsaq cannot be loaded in a worker thread (worker_threads): its SWIG 4.1 addon keeps V8 ' +
      'templates in process-global state, which crashes the process once the worker exits. ' +
      'Use libsaq from the main thread; its operations never block the event loop.');
}

let raw;
try {
  raw = require('../build/saq_native.node');
} catch (err) {
  const e = new Error(
    `libsaq: cannot load the native addon build/saq_native.node: ${err.message}\n` +
      '  Rebuild it with "npm rebuild libsaq" (it needs libsaq through pkg-config, ' +
      "Node's headers and a C++ compiler; see the package README).");
  e.cause = err;
  throw e;
}

if (raw.saq_version() < raw.SAQ_VERSION_NUMBER) {
  throw new Error(
    `libsaq: the loaded libsaq ${raw.saq_version_str()} is older than the headers the addon was ` +
      `built with (${raw.SAQ_VERSION_STR}); rebuild the addon ("npm rebuild libsaq") or update libsaq.`);
}

module.exports = raw;
