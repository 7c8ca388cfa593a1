// SPDX-License-Identifier: MIT
'use strict';
// index.d.ts as a TypeScript user meets it: test/types/usage.ts (the 0.2 API:
// logger, worker events, overview, metrics, jobPages/iterJobs, traceparent)
// and test/types/typed.ts (a functions map's kwargs and results typing
// enqueue/apply/map, AbortSignal, seconds) must compile with tsc --strict,
// and their @ts-expect-error misuses must fail.
// run-tests.sh installs TypeScript and @types/node into test/types
// (npm install there) and sets SAQ_REQUIRE_TSC=1; elsewhere the test is
// skipped when they are missing.
const { test } = require('node:test');
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const dir = path.join(__dirname, 'types');
const tsc = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
const have = fs.existsSync(tsc) && fs.existsSync(path.join(dir, 'node_modules', '@types', 'node'));
const skip = !have && !process.env.SAQ_REQUIRE_TSC
  ? 'TypeScript is not installed in test/types (npm install there; run-tests.sh does)' : false;

test('index.d.ts: the typed usage compiles under tsc --strict', { skip }, () => {
  assert.ok(have, `no TypeScript in ${dir}/node_modules (run-tests.sh installs it)`);
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
