// SPDX-License-Identifier: MIT
'use strict';
// Event-loop behaviour: nothing blocks, an idle client lets the process exit,
// a running worker keeps it alive until SIGTERM, worker_threads are refused.
const { test } = require('node:test');
const assert = require('assert');
const path = require('path');
const { REDIS_URL, uniqueName, pkgDir, runNode } = require('./helpers');
const { Queue, Worker } = require('..');


test('a failed open throws the code libsaq reports, with its message', async () => {
  // no file descriptor left for the queue's event loop: ENOMEM (out of a resource), not EINVAL
  const r = await runNode(`
    const fs = require('fs');
    const { Queue } = require(process.env.SAQ_PKG);
    Queue.fromUrl(process.env.REDIS_URL).close(); // libuv's one-time set-up needs descriptors
    const fds = [];
    try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
    let err = null;
    try { Queue.fromUrl(process.env.REDIS_URL); } catch (e) { err = e; }
    fds.forEach((fd) => fs.closeSync(fd));
    console.log(JSON.stringify({ name: err && err.name, code: err && err.code, message: err && err.message }));
  `, { fds: 256 });
  assert.equal(r.code, 0, r.stderr);
  const err = JSON.parse(r.stdout);
  assert.equal(err.name, 'SaqError');
  assert.equal(err.code, 'SAQ_ENOMEM');
  // the queue's completion queue (made first since 0.2: it is the log sink) or its event loop
  assert.match(err.message, /^cannot create the queue: cannot create (its completion queue|the event loop): /);

  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('open') });
  assert.throws(() => new Worker(q, { functions: { f() {} }, burst: true }),
    (e) => e.code === 'SAQ_EINVAL' && /burst mode needs dequeue_timeout > 0/.test(e.message));
  await q.close();
});

test('the event loop keeps running during a long apply (a timer keeps firing)', async () => {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('loop') });
  const w = new Worker(q, {
    functions: { slow: async (job) => new Promise((r) => setTimeout(() => r('slept'), job.kwargs.ms)) },
  });
  await w.start();
  let ticks = 0;
  let last = Date.now();
  let maxGap = 0;
  const iv = setInterval(() => {
    const now = Date.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 20);
  const t0 = Date.now();
  const result = await q.apply('slow', { ms: 1000 }, { timeout: 10 });
  const elapsed = Date.now() - t0;
  clearInterval(iv);
  await w.stop();
  await q.close();
  assert.equal(result, 'slept');
  assert.ok(elapsed >= 1000, `apply took ${elapsed} ms`);
  assert.ok(ticks >= 30, `only ${ticks} timer ticks in ${elapsed} ms`);
  assert.ok(maxGap < 250, `the loop stalled for ${maxGap} ms`);
});

test('an idle Queue does not keep the process alive', async () => {
  const script = `
    const { Queue } = require(process.env.SAQ_PKG);
    const q = Queue.fromUrl(process.env.REDIS_URL, { name: 'idle-${process.pid}' });
    q.count('queued').then((n) => console.log('count=' + n));
  `;
  const r = await runNode(script, { timeoutMs: 8000 });
  assert.equal(r.signal, null, `the child had to be killed: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'count=0', 'a pending operation keeps the process alive until it completes');
  assert.ok(r.ms < 5000, `took ${r.ms} ms`);
});

test('a running worker keeps the process alive; SIGTERM stops it gracefully (run())', async () => {
  const name = uniqueName('run');
  const script = `
    const { Queue, Worker } = require(process.env.SAQ_PKG);
    const q = Queue.fromUrl(process.env.REDIS_URL, { name: '${name}' });
    const w = new Worker(q, {
      functions: { hello: async (job) => 'hi ' + job.kwargs.who },
      shutdown: () => console.log('shutdown hook'),
    });
    w.run().then(() => q.close()).then(() => console.log('stopped cleanly'));
    q.apply('hello', { who: 'there' }, { timeout: 5 }).then((r) => console.log('ready ' + r));
  `;
  const r = await runNode(script, {
    timeoutMs: 10000,
    onStdout: (out, child) => {
      if (out.includes('ready hi there') && !child.signalled) {
        child.signalled = true;
        setTimeout(() => child.kill('SIGTERM'), 300); // still alive while idle
      }
    },
  });
  assert.equal(r.signal, null, `killed by a signal: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['ready hi there', 'shutdown hook', 'stopped cleanly']);
});

test('loading libsaq in a worker thread fails with a clear error', async () => {
  const script = `
    const { Worker } = require('worker_threads');
    const w = new Worker('require(' + JSON.stringify(process.env.SAQ_PKG) + ')', { eval: true });
    w.on('error', (e) => { console.log('error: ' + e.message); });
    w.on('exit', () => {
      // the main thread can still use libsaq afterwards
      const { Queue } = require(process.env.SAQ_PKG);
      const q = Queue.fromUrl(process.env.REDIS_URL, { name: 'wt-${process.pid}' });
      q.ping().then(() => q.close()).then(() => console.log('main ok'));
    });
  `;
  const r = await runNode(script);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /error: libsaq cannot be loaded in a worker thread/);
  assert.match(r.stdout, /main ok/);
});

test('json: NaN and Infinity survive a round trip as Python writes them', () => {
  const json = require(path.join(pkgDir, 'lib', 'json'));
  const v = json.parse('{"a": NaN, "b": [Infinity, -Infinity], "s": "NaN Infinity \\" NaN"}');
  assert.ok(Number.isNaN(v.a));
  assert.deepEqual(v.b, [Infinity, -Infinity]);
  assert.equal(v.s, 'NaN Infinity " NaN');
  assert.equal(json.stringify({ a: NaN, b: [Infinity, -Infinity], s: 'NaN' }), '{"a":NaN,"b":[Infinity,-Infinity],"s":"NaN"}');
  assert.equal(json.stringify(undefined), 'null');
});
