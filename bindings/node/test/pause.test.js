// SPDX-License-Identifier: MIT
'use strict';
// Issue 19 (extensions Python saq tolerates): pause()/resume()/isPaused() of a
// queue, the `defaults` option (saq #302), failedTtl (#268) and `retry`
// (minDelay, jitter: #289).
const { test } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, sleep, waitFor, waitStatus, withWorker } = require('./helpers');
const { Queue } = require('..');

async function withQueue(options, fn) {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('pause'), logger: false, ...options });
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

test('pause lets running jobs finish, takes nothing more; resume picks up at once', async () => {
  let runs = 0;
  const functions = {
    slow: async () => { await sleep(700); runs += 1; return 1; },
    fast: async () => { runs += 1; return 1; },
  };
  await withWorker({ functions }, async (q) => {
    assert.equal(await q.isPaused(), false);
    const slow = await q.enqueue('slow', {});
    await waitStatus(q, slow.key, 'active');
    assert.equal(await q.pause(), true);
    assert.equal(await q.pause(), false); // paused already
    assert.equal(await q.isPaused(), true);
    assert.equal((await q.info()).paused, true);
    const o = await q.overview();
    assert.equal(o.paused, true);
    assert.ok(Math.abs(Date.now() - o.pausedSinceMs) < 60000);
    assert.match(await q.metrics(), new RegExp(`^saq_queue_paused\\{queue="${q.name}"\\} 1$`, 'm'));
    await waitStatus(q, slow.key, 'complete'); // the running job finishes
    await sleep(1000);
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await q.enqueue('fast', {}));
    await sleep(1200);
    assert.equal(await q.count('queued'), 3);
    assert.equal(runs, 1);
    const t0 = Date.now();
    assert.equal(await q.resume(), true);
    for (const j of jobs) await waitStatus(q, j.key, 'complete');
    assert.ok(Date.now() - t0 < 1000, `ran ${Date.now() - t0} ms after resume()`);
    assert.equal(await q.resume(), false); // not paused
    assert.equal((await q.overview()).pausedSinceMs, null);
  }, { logger: false });
});

test('a worker started on a paused queue waits; timers.pause 0 ignores the flag', async () => {
  const fast = { fast: async () => 1 };
  await withQueue({}, async (q0) => {
    await q0.pause();
    await withWorker({ functions: fast }, async (q) => {
      const j = await q.enqueue('fast', {});
      await sleep(1500);
      assert.equal(await q.count('queued'), 1);
      await q.resume();
      await waitStatus(q, j.key, 'complete');
    }, { name: q0.name, logger: false });
  });
  await withQueue({}, async (q0) => {
    await q0.pause();
    await withWorker({ functions: fast, timers: { abort: 0.1, pause: 0 } }, async (q) => {
      const j = await q.enqueue('fast', {});
      await waitStatus(q, j.key, 'complete');
    }, { name: q0.name, logger: false });
  });
});

test('queue defaults go to the jobs that were not given the field', async () => {
  await withQueue({ defaults: { timeout: 3, retries: 4, ttl: 100, retryDelay: 2, retryBackoff: 30 } }, async (q) => {
    const j = await q.enqueue('f', { retries: 1 });
    assert.deepEqual([j.timeout, j.retries, j.ttl, j.retryDelay, j.retryBackoff], [3, 1, 100, 2, 30]);
    const stored = await q.job(j.key);
    assert.deepEqual([stored.timeout, stored.ttl], [3, 100]);
  });
  await withQueue({ defaults: { retryBackoff: true } }, async (q) => {
    assert.equal((await q.enqueue('f', {})).retryBackoff, true);
  });
  assert.throws(() => Queue.fromUrl(REDIS_URL, { defaults: { nope: 1 } }), TypeError);
  assert.throws(() => Queue.fromUrl(REDIS_URL, { defaults: { ttl: -2 } }), /defaults.ttl/);
});

test('failedTtl, retry.minDelay and retry.jitter', async () => {
  const functions = { bad: async () => { throw new Error('bad'); }, good: async () => 1 };
  await withWorker({ functions }, async (q) => {
    const good = await q.enqueue('good', {});
    const bad = await q.enqueue('bad', {});
    await waitStatus(q, good.key, 'complete');
    await waitFor(async () => (await q.job(bad.key)) === null, { what: 'the failed job to be deleted' });
    assert.ok(await q.job(good.key));
  }, { failedTtl: -1, logger: false });
  // no jitter: a 4 s backoff delay is 4 s (full jitter would make three such retries all due
  // after 2 s one time in eight); a minimum of 4 s lifts a 0 delay
  for (const [opts, kwargs] of [[{ retry: { jitter: false } }, { retry_delay: 4, retry_backoff: true }],
    [{ retry: { minDelay: 4 } }, {}]]) {
    await withQueue(opts, async (q) => {
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) await q.retry(await q.enqueue('f', kwargs), 'again');
      await sleep(2000 - (Date.now() - t0));
      assert.equal((await q.overview()).jobs.scheduled, 3, `${JSON.stringify(opts)}: a retry is due within 2 s`);
      await sleep(5000 - (Date.now() - t0));
      const { scheduled, incomplete } = (await q.overview()).jobs;
      assert.deepEqual([scheduled, incomplete], [0, 3], `${JSON.stringify(opts)}: not due after 5 s`);
    });
  }
});
