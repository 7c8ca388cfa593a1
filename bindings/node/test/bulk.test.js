// SPDX-License-Identifier: MIT
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName } = require('./helpers');
const { Queue, Worker, Job, SaqError } = require('..');

describe('Queue.enqueueMany', () => {
  let q;
  before(async () => {
    q = Queue.fromUrl(REDIS_URL, { name: uniqueName('bulk') });
  });
  after(async () => {
    await q.close();
  });

  test('one outcome per job, in order; duplicates are null', async () => {
    await q.enqueue('add', { key: 'old' });
    const jobs = await q.enqueueMany([
      { fn: 'add', kwargs: { a: 1, key: 'k1', retries: 3 } },
      { fn: 'add', kwargs: { key: 'old' } },
      { fn: 'mul', kwargs: { a: 2 } },
      { fn: 'add', kwargs: { key: 'k1' } },
    ]);
    assert.equal(jobs.length, 4);
    assert.ok(jobs[0] instanceof Job);
    assert.equal(jobs[0].key, 'k1');
    assert.equal(jobs[0].retries, 3);
    assert.equal(jobs[0].status, 'queued');
    assert.equal(jobs[1], null);
    assert.equal(jobs[3], null);
    assert.equal(jobs[2].function, 'mul');
    assert.deepEqual((await q.job(jobs[2].key)).kwargs, { a: 2 });
    assert.equal(await q.count('queued'), 3);
    assert.deepEqual(await q.enqueueMany([]), []);
  });

  test('a bad element rejects the whole call and writes nothing', async () => {
    await assert.rejects(q.enqueueMany([{ fn: 'add', kwargs: { key: 'nope' } }, { fn: '' }]),
      (e) => e instanceof TypeError && /jobs\[1\]/.test(e.message));
    await assert.rejects(q.enqueueMany([{ fn: 'add', kwargs: { key: 'nope' } }, { fn: 'add', kwargs: { timeout: 'soon' } }]),
      (e) => e instanceof SaqError && /jobs\[1\]/.test(e.message));
    await assert.rejects(q.enqueueMany([{ fn: 'add', kwarg: {} }]), (e) => e instanceof TypeError && /unknown option "kwarg"/.test(e.message));
    await assert.rejects(q.enqueueMany('add'), TypeError);
    assert.equal(await q.job('nope'), null);
  });

  test('an aborted signal sends nothing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(q.enqueueMany([{ fn: 'add', kwargs: { key: 'never' } }], { signal: ac.signal }), /stop/);
    assert.equal(await q.job('never'), null);
  });

  test('the jobs are worked', async () => {
    const wq = Queue.fromUrl(REDIS_URL, { name: uniqueName('bulkwork') });
    const seen = new Set();
    const w = new Worker(wq, { functions: { work: (job) => { seen.add(job.kwargs.i); } } });
    await w.start();
    try {
      const items = Array.from({ length: 50 }, (_, i) => ({ fn: 'work', kwargs: { i } }));
      const jobs = await wq.enqueueMany(items);
      assert.equal(jobs.filter((j) => j !== null).length, 50);
      for (let t = 0; t < 150 && seen.size < 50; t++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.size, 50);
    } finally {
      await w.stop();
      await wq.close();
    }
  });
});
