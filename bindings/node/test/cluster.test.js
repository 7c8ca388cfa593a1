// SPDX-License-Identifier: MIT
'use strict';
// A real Redis Cluster (3 masters with a replica each) from
// tests/support/with-redis --cluster, which exports REDIS_CLUSTER_URL
// (redis+cluster://...) and REDIS_CLUSTER_QUEUES: three hash-tagged queue
// names whose slots belong to three different masters. run-tests.sh starts it.
const { test, describe } = require('node:test');
const assert = require('assert');
const { checkMultiWorker } = require('./helpers');
const { Queue, Worker, SaqError, codes } = require('..');

const CLUSTER_URL = process.env.REDIS_CLUSTER_URL;
const QUEUES = (process.env.REDIS_CLUSTER_QUEUES || '').split(/\s+/).filter(Boolean);
const skip = CLUSTER_URL
  ? false
  : 'REDIS_CLUSTER_URL is not set: run under tests/support/with-redis --cluster (run-tests.sh does)';

describe('Redis Cluster (redis+cluster://)', () => {
  test('a worker across three hash-tagged queues on three masters runs jobs applied on each', { skip }, async () => {
    assert.equal(QUEUES.length, 3, `REDIS_CLUSTER_QUEUES: ${QUEUES}`);
    // a queue's keys must share a slot: a name without a hash tag is refused
    assert.throws(() => Queue.fromUrl(CLUSTER_URL, { name: 'orders' }), (err) => {
      assert.ok(err instanceof SaqError, `${err}`);
      assert.equal(err.code, 'SAQ_EINVAL');
      assert.equal(err.errno, codes.EINVAL);
      assert.match(err.message, /queue name 'orders' has no hash tag/);
      return true;
    });
    // a unique tag-preserving name per run: the hash tag ({...}) decides the slot
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const qs = QUEUES.map((name) => Queue.fromUrl(CLUSTER_URL, { name: `${name}-${run}`, minReplicas: 1 }));
    const ran = [];
    const w = new Worker(qs[0], {
      queues: [qs[1], { queue: qs[2], weight: 2 }],
      queueOrder: 'weighted',
      functions: {
        add: (job, ctx) => {
          ran.push(ctx.queue.name);
          return job.kwargs.a + job.kwargs.b;
        },
      },
    });
    try {
      await w.start();
      // apply: enqueue on the queue's master, wait for the result through
      // pub/sub (PUBLISH on that master, heard cluster-wide)
      const results = await Promise.all(qs.map((q, i) => q.apply('add', { a: i, b: 40 }, { timeout: 15 })));
      assert.deepEqual(results, [40, 41, 42]);
      const more = await Promise.all(qs.flatMap((q, i) => [1, 2, 3].map((n) => q.apply('add', { a: i, b: n }, { timeout: 15 }))));
      assert.deepEqual(more, [1, 2, 3, 2, 3, 4, 3, 4, 5]);
      for (const q of qs) assert.equal(ran.filter((n) => n === q.name).length, 4, `jobs run on ${q.name}: ${ran}`);
      for (const q of qs) assert.equal(await q.count('incomplete'), 0);
      const stats = await checkMultiWorker(w, 12);
      assert.deepEqual(stats.queues.map((s) => s.complete), [4, 4, 4]);
    } finally {
      await w.stop({ grace: 0 });
      await Promise.all(qs.map((q) => q.close()));
    }
  });
});
