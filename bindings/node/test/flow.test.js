// SPDX-License-Identifier: MIT
'use strict';
// Flows (issue 19): member jobs and a callback enqueued exactly once when
// every member is terminal, with their outcomes in its kwargs.
const { test } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, sleep, waitStatus, waitFor, withWorker } = require('./helpers');
const { Queue, SaqError, flowOutcome } = require('..');

test('the callback runs once, after every member ended, with their outcomes', async () => {
  const seen = [];
  const functions = {
    add: (job) => job.kwargs.a + job.kwargs.b,
    boom: () => {
      throw new Error('boom');
    },
    done: (job) => {
      seen.push(job.kwargs);
      return 'ok';
    },
  };
  await withWorker({ functions }, async (q) => {
    const out = await q.enqueueFlow(
      [['add', { a: 1, b: 2, key: 'n1' }], { fn: 'boom', kwargs: { key: 'n2', retries: 1 } }, ['add', { a: 40, b: 2, key: 'n3' }]],
      ['done', { note: 'hi', key: 'node-flow' }],
      { ttl: 3600 },
    );
    assert.deepEqual(out, { id: 'node-flow', callback: 'node-flow', members: ['n1', 'n2', 'n3'] });
    assert.equal(await q.enqueueFlow([['add', { key: 'n1' }]], ['done', { key: 'node-flow' }]), null);
    await waitFor(() => seen.length > 0, { what: 'the callback', timeout: 15000 });
    const kw = seen[0];
    assert.equal(kw.note, 'hi');
    const flow = flowOutcome(kw);
    assert.equal(flow.id, 'node-flow');
    assert.deepEqual(flow.members.map((m) => [m.key, m.status]), [['n1', 'complete'], ['n2', 'failed'], ['n3', 'complete']]);
    assert.equal(flow.members[2].result, 42);
    assert.match(flow.members[1].error, /boom/);
    await waitStatus(q, 'node-flow', 'complete');
    assert.equal(flowOutcome(await q.job('node-flow')).members.length, 3);
    await sleep(2500); // a periodic check or two: still once
    assert.equal(seen.length, 1);
    const info = await q.flow('node-flow');
    assert.equal(info.state, 'done');
    assert.equal(info.pending, 0);
    assert.equal(info.total, 3);
    assert.ok(info.doneMs > 0);
  });
});

test('members finished elsewhere are picked up by flow(); refusals write nothing', async () => {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('flow') });
  try {
    await q.enqueueFlow([['py', { key: 'p1' }], ['py', { key: 'p2' }]], ['cb', { key: 'fl' }]);
    let info = await q.flow('fl');
    assert.deepEqual([info.state, info.pending, info.members[0].status], ['open', 2, 'queued']);
    await q.finish('p1', 'complete', { result: [1, 2] });
    await q.finish('p2', 'failed', { error: 'no' });
    info = await q.flow('fl');
    assert.equal(info.state, 'done');
    assert.deepEqual(info.members[0].result, [1, 2]);
    assert.equal(info.members[1].error, 'no');
    const cb = await q.job('fl');
    assert.equal(cb.status, 'queued');
    assert.deepEqual(flowOutcome(cb).members.map((m) => m.status), ['complete', 'failed']);

    assert.equal(await q.flow('nope'), null);
    const einval = (e) => e instanceof SaqError && e.code === 'SAQ_EINVAL';
    await assert.rejects(q.enqueueFlow([], ['cb']), einval);
    await assert.rejects(q.enqueueFlow([['x', { key: 'd' }], ['x', { key: 'd' }]], ['cb']), einval);
    await assert.rejects(q.enqueueFlow([['x']], ['cb', { flow: 1 }]), einval);
    await q.enqueue('x', { key: 'taken' });
    await assert.rejects(q.enqueueFlow([['x', { key: 'free' }], ['x', { key: 'taken' }]], ['cb', { key: 'f2' }]),
      (e) => e instanceof SaqError && e.code === 'SAQ_ESTATE');
    assert.equal(await q.job('free'), null);
    assert.equal(await q.flow('f2'), null);
  } finally {
    await q.close();
  }
});

test('outcomes over max_payload_bytes: the callback gets them without results, told so; flow() has them', async () => {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('flowbig'), maxPayloadBytes: 16384 });
  try {
    const keys = [0, 1, 2, 3, 4, 5, 6].map((i) => `b${i}`);
    await q.enqueueFlow(keys.map((key) => ['py', { key }]), ['cb', { key: 'fb' }]);
    const big = 'x'.repeat(3000);
    for (const key of keys) await q.finish(key, 'complete', { result: big });
    const info = await q.flow('fb'); // records them: the callback is enqueued
    assert.equal(info.members[6].result, big);
    const out = flowOutcome(await q.job('fb'));
    assert.deepEqual(out.omitted, ['result']);
    assert.deepEqual(out.members.map((m) => [m.status, m.result]), keys.map(() => ['complete', null]));
  } finally {
    await q.close();
  }
});
