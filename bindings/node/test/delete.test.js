// SPDX-License-Identifier: MIT
'use strict';
// Issue 19: Queue.delete (libsaq's saq_queue_delete): a job's record and every
// entry of it; a running job refused unless forced, a forced delete aborts it
// first so its worker stops it.
const { test } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, waitFor, waitStatus, withWorker } = require('./helpers');
const { Queue, SaqError } = require('..');

async function assertEmpty(q) {
  for (const kind of ['queued', 'active', 'incomplete']) assert.equal(await q.count(kind), 0, kind);
}

test('delete: waiting, scheduled and finished jobs, with every entry', async () => {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('delete'), logger: false });
  try {
    const waiting = await q.enqueue('f', { a: 1 });
    const sched = await q.enqueue('f', { scheduled: Date.now() / 1000 + 3600 });
    const done = await q.enqueue('f');
    await q.finish(done.key, 'complete', { result: 7 });
    for (const j of [waiting, sched, done]) {
      const r = await q.delete(j);
      assert.equal(r.outcome, 'deleted');
      assert.equal(r.job.key, j.key);
      assert.equal(await q.job(j.key), null);
    }
    await assertEmpty(q);
    const left = [];
    for await (const j of q.iterJobs()) left.push(j.key);
    assert.deepEqual(left, []);
    assert.equal(await q.delete(done.key), null);
    await assert.rejects(q.delete('k', { wait: -1 }), RangeError);
    await assert.rejects(q.delete('k', { bogus: 1 }), TypeError);
    assert.ok(await q.enqueue('f', { key: waiting.key }), 'the key can be enqueued again');
  } finally {
    await q.close();
  }
});

test('delete: a running job is refused unless forced; forced, its worker stops it', async () => {
  let started = false;
  let reason = null;
  await withWorker({
    functions: {
      forever: async (job, { signal }) => {
        started = true;
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        reason = signal.reason;
        throw signal.reason;
      },
    },
  }, async (q) => {
    const job = await q.enqueue('forever', { timeout: 30 });
    await waitFor(() => started, { what: 'the job to start' });
    await waitStatus(q, job.key, 'active');
    await assert.rejects(q.delete(job.key), (err) => err instanceof SaqError && err.code === 'SAQ_ESTATE');
    assert.equal((await q.job(job.key)).status, 'active');
    const r = await q.delete(job.key, { force: true, wait: 5 });
    assert.equal(r.outcome, 'stopped');
    assert.deepEqual([r.job.status, r.job.error], ['aborted', 'deleted']);
    assert.equal(reason.reason, 'aborted');
    await new Promise((res) => setTimeout(res, 300)); // nothing writes it back
    assert.equal(await q.job(job.key), null);
    await assertEmpty(q);
  });
});
