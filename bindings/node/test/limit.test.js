// SPDX-License-Identifier: MIT
'use strict';
// Rate limits and global concurrency (the worker option limits:
// saq_worker_set_limit), shared by two workers on their own connections to
// one queue.
const { test, describe } = require('node:test');
const assert = require('assert');
const { spawnSync } = require('child_process');
const { REDIS_URL, uniqueName, waitStatus } = require('./helpers');
const { Queue, Worker, SaqError } = require('..');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A handler that notes each start time and the most running at once. */
function probe(ms) {
  const p = { starts: [], running: 0, max: 0 };
  p.fn = async () => {
    p.starts.push(Date.now());
    p.running++;
    p.max = Math.max(p.max, p.running);
    await sleep(ms);
    p.running--;
    return true;
  };
  p.maxInWindow = (windowMs) => {
    const s = [...p.starts].sort((a, b) => a - b);
    let best = 0;
    for (let i = 0; i < s.length; i++) {
      let n = 0;
      while (i + n < s.length && s[i + n] - s[i] < windowMs) n++;
      best = Math.max(best, n);
    }
    return best;
  };
  return p;
}

/** Two workers, each on its own Queue object of the same name. */
async function fleet(name, functions, limits) {
  const queues = [0, 1].map(() => Queue.fromUrl(REDIS_URL, { name }));
  const workers = queues.map((q) => new Worker(q, { functions, limits, concurrency: 4, timers: { schedule: 0.1 } }));
  for (const w of workers) await w.start();
  return {
    async close() {
      for (const w of workers) await w.stop({ grace: 0 });
      for (const q of queues) await q.close();
    },
  };
}

describe('limits', () => {
  test('bad limits are refused', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('lim') });
    try {
      assert.throws(() => new Worker(q, { functions: { f: () => 1 }, limits: { f: { maxJobs: 5 } } }),
        (e) => e instanceof SaqError && e.code === 'SAQ_EINVAL' && /period/.test(e.message));
      assert.throws(() => new Worker(q, { functions: { f: () => 1 }, limits: { '': { maxRunning: -1 } } }), SaqError);
      assert.throws(() => new Worker(q, { functions: { f: () => 1 }, limits: { f: { rate: 1 } } }), TypeError);
    } finally {
      await q.close();
    }
  });

  test("the queue's concurrency is shared by two workers", async () => {
    const name = uniqueName('limq');
    const p = probe(100);
    const f = await fleet(name, { job: p.fn }, { '': { maxRunning: 2 } });
    const q = Queue.fromUrl(REDIS_URL, { name });
    try {
      const jobs = [];
      for (let i = 0; i < 12; i++) jobs.push(await q.enqueue('job'));
      for (const j of jobs) await waitStatus(q, j.key, 'complete', 15000);
      assert.ok(p.max <= 2 && p.max >= 1, `at most ${p.max} running at once`);
      assert.equal(await q.count('queued'), 0);
      // the limit as the workers publish it (every second)
      let ls = [];
      for (let i = 0; i < 50 && ls.length === 0; i++) {
        ls = await q.limits();
        if (!ls.length) await sleep(100);
      }
      assert.deepEqual(ls, [{ function: null, maxJobs: 0, period: 0, maxRunning: 2, running: 0, started: 0, waiting: 0 }]);
    } finally {
      await f.close();
      await q.close();
    }
  });

  test("a function's rate: its jobs wait, another function's do not", async () => {
    const name = uniqueName('limf');
    const p = probe(0);
    const f = await fleet(name, { slow: p.fn, add: (job) => job.kwargs.a + 1 },
      new Map([['slow', { maxJobs: 5, period: 1 }]]));
    const q = Queue.fromUrl(REDIS_URL, { name });
    try {
      const t0 = Date.now();
      const slow = [];
      for (let i = 0; i < 15; i++) slow.push(await q.enqueue('slow'));
      const adds = [];
      for (let i = 0; i < 5; i++) adds.push(await q.enqueue('add', { a: i }));
      for (const j of adds) await waitStatus(q, j.key, 'complete', 5000);
      assert.ok(Date.now() - t0 < 2000, 'the other function is not held back');
      for (const j of slow) await waitStatus(q, j.key, 'complete', 15000);
      assert.ok(Date.now() - t0 >= 1900, `15 jobs at 5 per second in ${Date.now() - t0} ms`);
      assert.ok(p.maxInWindow(1000) <= 5, `${p.maxInWindow(1000)} starts in one second`);
    } finally {
      await f.close();
      await q.close();
    }
  });

  test('a published limit no worker writes is listed as invalid, with its text', async () => {
    const name = uniqueName('limh');
    const r = spawnSync('redis-cli', ['-u', REDIS_URL, 'HSET', `saq:${name}:libsaq:limits`,
      '', '1 9000000000000000000 0', 'ok', '5 1000 2'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const q = Queue.fromUrl(REDIS_URL, { name });
    try {
      const ls = await q.limits();
      const by = new Map(ls.map((l) => [l.function, l]));
      assert.deepEqual(by.get(null), { function: null, invalid: '1 9000000000000000000 0', maxJobs: null,
        period: null, maxRunning: null, running: 0, started: null, waiting: 0 });
      assert.deepEqual(by.get('ok'), { function: 'ok', maxJobs: 5, period: 1, maxRunning: 2, running: 0, started: 0,
        waiting: 0 });
    } finally {
      await q.close();
    }
  });
});
