// SPDX-License-Identifier: MIT
'use strict';
// Shared test helpers. The suite needs a redis-server: run it through
// tests/support/with-redis (run-tests.sh does), which exports REDIS_URL.
const assert = require('assert');
const path = require('path');
const net = require('net');
const { spawn, spawnSync } = require('child_process');

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) {
  throw new Error('REDIS_URL is not set: run the tests under tests/support/with-redis (see run-tests.sh)');
}

let n = 0;
/** A queue name no other test uses. */
function uniqueName(prefix = 'node') {
  n += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${n}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value (resolved to it) or time runs out. */
async function waitFor(fn, { timeout = 10000, interval = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** Wait until the stored job reaches one of `statuses`; resolves to it. */
function waitStatus(queue, key, statuses, timeout = 10000) {
  const want = [].concat(statuses);
  return waitFor(async () => {
    const j = await queue.job(key);
    return j && want.includes(j.status) ? j : null;
  }, { timeout, what: `job ${key} to become ${want.join('/')}` });
}

/** A worker of several queues: every queue's info() lists it (as "<id>.<n>" on
 *  the n-th added queue), and its stats reach `complete` jobs; resolves to
 *  the stats. */
async function checkMultiWorker(worker, complete) {
  for (const [i, q] of worker.queues.entries()) {
    const info = await q.info();
    const id = i === 0 ? worker.id : `${worker.id}.${i}`;
    assert.ok(Object.keys(info.workers).includes(id), `${q.name}: workers ${Object.keys(info.workers)}, not ${id}`);
  }
  return waitFor(() => {
    const s = worker.stats();
    return s.complete === complete ? s : null;
  }, { what: `stats.complete ${complete}` });
}

const pkgDir = path.resolve(__dirname, '..');

/** A queue (`queueOptions` added) plus a started worker (`options`, with short
 *  abort and schedule timers); `fn(q, w)` runs, then both are closed. */
async function withWorker(options, fn, queueOptions = {}) {
  const { Queue, Worker } = require('..');
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('worker'), ...queueOptions });
  const w = new Worker(q, { timers: { abort: 0.1, schedule: 0.1 }, ...options });
  try {
    await w.start();
    return await fn(q, w);
  } finally {
    await w.stop({ grace: 0 });
    await q.close();
  }
}

/** Run `node -e script` (with `fds`: under `ulimit -n fds`; `env`: added variables); resolves to { code, signal, stdout, stderr, ms }. */
function runNode(script, { timeoutMs = 10000, onStdout, fds, env = {} } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const [cmd, args] = fds ? ['sh', ['-c', `ulimit -n ${fds} && exec "$0" -e "$1"`, process.execPath, script]]
      : [process.execPath, ['-e', script]];
    const child = spawn(cmd, args, {
      cwd: pkgDir,
      env: { ...process.env, SAQ_PKG: pkgDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (onStdout) onStdout(stdout, child);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** A free loopback TCP port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A private redis-server on a free loopback port, for tests that pause or
 *  kill it (the suite's own server is shared by test files running at the
 *  same time). Resolves to { url, port, process, cli(...args) (redis-cli's
 *  output), stop() }, or null when redis-server is not on PATH (the test `t`
 *  is then skipped, saying so). */
async function privateRedis(t) {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    t.skip('redis-server is not on PATH');
    return null;
  }
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  const cli = (...args) => (spawnSync('redis-cli', ['-p', String(port), ...args]).stdout || '').toString().trim();
  const stop = () => proc.kill('SIGKILL');
  for (let i = 0; cli('ping') !== 'PONG'; i++) {
    if (i > 100) {
      stop();
      throw new Error('the private redis-server did not start');
    }
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}/0`, port, process: proc, cli, stop };
}

module.exports = { freePort, privateRedis, REDIS_URL, uniqueName, sleep, waitFor, waitStatus, checkMultiWorker, pkgDir, runNode, withWorker };
