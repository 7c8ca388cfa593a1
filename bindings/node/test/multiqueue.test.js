// SPDX-License-Identifier: MIT
'use strict';
// One worker serving several queues (options queues / queueOrder /
// queueWeight: saq_worker_add_queue and the conf keys queue_order,
// queue_weight), and the queue options of issue 15 that a plain redis can
// check (minReplicas, sentinel).
const { test, describe } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, waitFor, waitStatus, checkMultiWorker } = require('./helpers');
const { Queue, Worker, SaqError, codes } = require('..');

function openQueues(n, prefix) {
  return Array.from({ length: n }, (_, i) => Queue.fromUrl(REDIS_URL, { name: uniqueName(`${prefix}${i}`) }));
}

async function closeAll(worker, queues) {
  if (worker) await worker.stop({ grace: 0 });
  await Promise.all(queues.map((q) => q.close()));
}

/** Asserts `fn` throws (or rejects with) a SaqError of `code` whose message matches `re`. */
function isSaqError(code, re) {
  return (err) => {
    assert.ok(err instanceof SaqError, `${err && err.stack}`);
    assert.equal(err.code, `SAQ_${code}`, err.message);
    assert.equal(err.errno, codes[code]);
    if (re) assert.match(err.message, re);
    return true;
  };
}

describe('Worker serving several queues', () => {
  test('jobs on three queues are processed, each with its own Queue and worker id', async () => {
    const qs = openQueues(3, 'mq');
    const seen = [];
    const w = new Worker(qs[0], {
      queues: [qs[1], { queue: qs[2], weight: 2 }],
      functions: {
        add: (job, ctx) => {
          seen.push([job.queue, ctx.queue, ctx.queue.name === job.queue]);
          return job.kwargs.a + job.kwargs.b;
        },
      },
    });
    try {
      assert.deepEqual(w.queues, qs);
      await w.start();
      const jobs = [];
      for (let round = 0; round < 3; round++) {
        for (const [i, q] of qs.entries()) jobs.push([i, q, await q.enqueue('add', { a: i, b: round })]);
      }
      for (const [i, q, job] of jobs) {
        const done = await waitStatus(q, job.key, 'complete');
        assert.equal(done.result, i + job.kwargs.b);
        assert.equal(done.queue, q.name);
        // libsaq names the member serving the n-th added queue "<id>.<n>"
        assert.equal(done.workerId, i === 0 ? w.id : `${w.id}.${i}`);
      }
      assert.equal(seen.length, 9);
      for (const [name, queue, same] of seen) {
        assert.ok(same, `ctx.queue ${queue.name} for a job of ${name}`);
        assert.ok(qs.includes(queue));
      }
      // apply on an added queue: its result comes back through that queue's pub/sub
      assert.equal(await qs[2].apply('add', { a: 40, b: 2 }, { timeout: 10 }), 42);
      // saq's info() of every queue lists the worker
      const stats = await checkMultiWorker(w, 10);
      assert.deepEqual(stats.queues.map((s) => [s.name, s.id, s.complete]),
        [[qs[0].name, w.id, 3], [qs[1].name, `${w.id}.1`, 3], [qs[2].name, `${w.id}.2`, 4]]);
    } finally {
      await closeAll(w, qs);
    }
  });

  test("strict order, concurrency 1: every job of the first queue before the second's, then the third's", async () => {
    const qs = openQueues(3, 'mqstrict');
    const order = [];
    // enqueued last queue first: the order must come from queueOrder, not from arrival
    for (const i of [2, 1, 0]) {
      for (let n = 0; n < 4; n++) await qs[i].enqueue('record', { q: i, n });
    }
    const w = new Worker(qs[0], {
      concurrency: 1,
      queues: [qs[1], qs[2]],
      queueOrder: 'strict',
      functions: {
        record: async (job) => {
          order.push(job.kwargs.q);
          await new Promise((r) => setTimeout(r, 5));
        },
      },
    });
    try {
      await w.start();
      await waitFor(() => order.length === 12, { what: '12 jobs' });
      assert.deepEqual(order, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
      for (const q of qs) await waitFor(async () => (await q.count('incomplete')) === 0, { what: `${q.name} drained` });
    } finally {
      await closeAll(w, qs);
    }
  });

  test('weighted order, concurrency 1, weights 1:3: the second queue gets three slots for each of the first', async () => {
    const qs = openQueues(2, 'mqweight');
    const order = [];
    for (const i of [0, 1]) {
      for (let n = 0; n < 20; n++) await qs[i].enqueue('record', { q: i, n });
    }
    const w = new Worker(qs[0], {
      concurrency: 1,
      queues: [{ queue: qs[1], weight: 3 }],
      queueOrder: 'weighted',
      queueWeight: 1,
      functions: { record: (job) => { order.push(job.kwargs.q); } },
    });
    try {
      await w.start();
      await waitFor(() => order.length === 40, { timeout: 20000, what: '40 jobs' });
      const second = order.slice(0, 20).filter((q) => q === 1).length;
      assert.ok(second >= 13 && second <= 17, `first 20 starts: ${order.slice(0, 20).join('')} (${second} of the second queue, 15 expected)`);
    } finally {
      await closeAll(w, qs);
    }
  });

  test('closing an added queue stops the worker', async () => {
    const qs = openQueues(2, 'mqclose');
    const w = new Worker(qs[0], { queues: [qs[1]], functions: { noop: () => null } });
    try {
      await w.start();
      await qs[1].close();
      await w.done();
      // stopped: the final counters stay readable (they were null before 0.2)
      assert.deepEqual([w.stats().complete, w.stats().running], [0, 0]);
      const job = await qs[0].enqueue('noop');
      assert.equal((await qs[0].job(job.key)).status, 'queued');
    } finally {
      await closeAll(w, qs);
    }
  });

  test('bad queues, weights and orders fail with SaqError codes (TypeError for wrong types)', async () => {
    const qs = openQueues(2, 'mqbad');
    const closed = Queue.fromUrl(REDIS_URL, { name: uniqueName('mqclosed') });
    await closed.close();
    const functions = { noop: () => null };
    try {
      assert.throws(() => new Worker(qs[0], { functions, queues: [{ queue: qs[1], weight: 0 }] }),
        isSaqError('EINVAL', /weight must be at least 1/));
      assert.throws(() => new Worker(qs[0], { functions, queues: [{ queue: qs[1], weight: 2 ** 31 }] }),
        isSaqError('EINVAL', /weight must be at most/));
      assert.throws(() => new Worker(qs[0], { functions, queues: [qs[1], qs[1]] }),
        isSaqError('EINVAL', /already serves this queue/));
      assert.throws(() => new Worker(qs[0], { functions, queues: [qs[0]] }),
        isSaqError('EINVAL', /already serves this queue/));
      assert.throws(() => new Worker(qs[0], { functions, queues: [qs[1]], queueOrder: 'random' }),
        isSaqError('EINVAL', /queue_order/));
      assert.throws(() => new Worker(qs[0], { functions, queueWeight: 0 }), isSaqError('EINVAL', /queue_weight/));
      assert.throws(() => new Worker(qs[0], { functions, queues: [closed] }), isSaqError('ECLOSED'));
      assert.throws(() => new Worker(qs[0], { functions, queues: [qs[1].name] }), TypeError);
      assert.throws(() => new Worker(qs[0], { functions, queues: [{ queue: qs[1], weight: 1.5 }] }), TypeError);
      assert.throws(() => new Worker(qs[0], { functions, queues: qs[1] }), TypeError);
      // none of the failed constructions left a worker on the queues
      assert.equal(qs[0]._workers.size + qs[1]._workers.size, 0);
    } finally {
      await closeAll(null, qs);
    }
  });
});

describe('queue options minReplicas and sentinel', () => {
  test('minReplicas: 1 on a server without replicas rejects the enqueue with SAQ_ETIMEDOUT after the wait', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('minrep'), minReplicas: 1, minReplicasTimeout: 0.1 });
    const plain = Queue.fromUrl(REDIS_URL, { name: q.name });
    try {
      const t0 = Date.now();
      await assert.rejects(q.enqueue('noop', { key: 'k1' }), isSaqError('ETIMEDOUT', /only 0 of min_replicas=1 replicas/));
      assert.ok(Date.now() - t0 >= 90, `rejected after ${Date.now() - t0} ms, before the 100 ms wait`);
      // written on the master all the same (the error says so)
      assert.equal((await plain.job('k1')).status, 'queued');
    } finally {
      await q.close();
      await plain.close();
    }
  });

  test('sentinel credentials need a redis+sentinel:// url; unknown members are a TypeError', () => {
    assert.throws(() => Queue.fromUrl(REDIS_URL, { sentinel: { password: 'secret' } }),
      isSaqError('EINVAL', /sentinel\.password needs a redis\+sentinel:\/\/ url/));
    assert.throws(() => Queue.fromUrl(REDIS_URL, { sentinel: { username: 'u' } }),
      isSaqError('EINVAL', /sentinel\.username needs a redis\+sentinel:\/\/ url/));
    assert.throws(() => Queue.fromUrl(REDIS_URL, { sentinel: { pass: 'x' } }), /unknown sentinel option "pass"/);
    assert.throws(() => Queue.fromUrl(REDIS_URL, { minReplicas: -1 }), isSaqError('EINVAL', /min_replicas/));
  });

  test('the sentinel and cluster url schemes reach libsaq unchanged', () => {
    // parsed and checked when the queue opens, before any connection
    assert.throws(() => Queue.fromUrl('redis+cluster://127.0.0.1:1', { name: 'orders' }),
      isSaqError('EINVAL', /queue name 'orders' has no hash tag.*'\{orders\}'/));
    assert.throws(() => Queue.fromUrl('redis+sentinel://127.0.0.1:1'), isSaqError('EURL'));
    assert.throws(() => Queue.fromUrl('redis+cluster://127.0.0.1:1?ssl=true', { name: '{orders}' }), isSaqError('EURL'));
  });
});
