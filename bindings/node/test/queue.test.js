// SPDX-License-Identifier: MIT
'use strict';
const { test, describe, before, after } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, sleep, waitStatus } = require('./helpers');
const { Queue, Worker, Job, SaqError, JobError, codes, libsaqVersion } = require('..');

describe('Queue', () => {
  let q;
  let w;
  before(async () => {
    q = Queue.fromUrl(REDIS_URL, { name: uniqueName('queue') });
  });
  after(async () => {
    if (w) await w.stop();
    await q.close();
  });

  test('construction, ping, versions', async () => {
    assert.match(libsaqVersion, /^\d+\.\d+\.\d+$/);
    assert.equal(q.dialect, '0.26');
    assert.match(await q.ping(), /^\d+\.\d+\.\d+$/);
    assert.throws(() => Queue.fromUrl('valkeys://localhost', { name: 'x' }), (e) => e instanceof SaqError && e.code === 'SAQ_EURL');
    assert.throws(() => Queue.fromUrl('rediss://localhost?ssl_cert_reqs=NONE', { name: 'x' }),
      (e) => e instanceof SaqError && e.code === 'SAQ_EURL' && /ssl_cert_reqs must be none, optional or required/.test(e.message));
    assert.throws(() => new Queue({ url: REDIS_URL, name: 'bad:name' }), SaqError);
  });

  test('enqueue splits job options from kwargs; a duplicate key gives null', async () => {
    const job = await q.enqueue('add', { a: 1, b: 2, timeout: 5, retries: 3, key: 'k-enq', meta: { who: 'node' } });
    assert.ok(job instanceof Job);
    assert.equal(job.function, 'add');
    assert.equal(job.key, 'k-enq');
    assert.equal(job.id, `saq:job:${q.name}:k-enq`);
    assert.equal(job.queue, q.name);
    assert.deepEqual(job.kwargs, { a: 1, b: 2 });
    assert.equal(job.timeout, 5);
    assert.equal(job.retries, 3);
    assert.deepEqual(job.meta, { who: 'node' });
    assert.equal(job.status, 'queued');
    assert.ok(job.queued > 1.5e12, 'queued is epoch ms');
    assert.equal(await q.enqueue('add', { a: 9, key: 'k-enq' }), null);
    await assert.rejects(q.enqueue('add', { timeout: 'soon' }), (e) => e instanceof SaqError && /timeout/.test(e.message));
    await assert.rejects(q.enqueue(''), TypeError);
    await assert.rejects(q.enqueue('add', [1, 2]), TypeError);
  });

  test('job, jobs, refresh', async () => {
    const a = await q.enqueue('add', { a: 1, key: 'k-job-a' });
    assert.equal(await q.job('no-such-key'), null);
    const got = await q.job('k-job-a');
    assert.deepEqual(got.kwargs, { a: 1 });
    assert.equal(got.status, 'queued');
    const list = await q.jobs(['k-job-a', 'missing', a]);
    assert.equal(list.length, 3);
    assert.equal(list[0].key, 'k-job-a');
    assert.equal(list[1], null);
    assert.equal(list[2].key, 'k-job-a');
    await q.update('k-job-a', { progress: 0.5, meta: { step: 1 } });
    await a.refresh();
    assert.equal(a.progress, 0.5);
    assert.deepEqual(a.meta, { step: 1 });
  });

  test('count and info', async () => {
    const q2 = Queue.fromUrl(REDIS_URL, { name: uniqueName('count') });
    try {
      assert.equal(await q2.count('queued'), 0);
      await q2.enqueue('f', { x: 1 });
      await q2.enqueue('f', { x: 2 });
      await q2.enqueue('f', { scheduled: Date.now() / 1000 + 3600 });
      assert.equal(await q2.count('queued'), 2);
      assert.equal(await q2.count('active'), 0);
      assert.equal(await q2.count('incomplete'), 3);
      await assert.rejects(q2.count('bogus'), (e) => e.code === 'SAQ_EINVAL');
      const info = await q2.info({ jobs: true, limit: 2 });
      assert.equal(info.name, q2.name);
      assert.equal(info.queued, 2);
      assert.equal(info.scheduled, 1);
      assert.equal(info.jobs.length, 2);
      assert.equal(info.jobs[0].function, 'f');
      const brief = await q2.info();
      assert.deepEqual(brief.jobs, []);
    } finally {
      await q2.close();
    }
  });

  test('schedule promotes due jobs; sweep finds nothing stuck', async () => {
    const q4 = Queue.fromUrl(REDIS_URL, { name: uniqueName('sched') });
    try {
      const j = await q4.enqueue('later', { scheduled: Date.now() / 1000 + 0.2 });
      assert.ok(j.scheduled > 0);
      assert.equal(await q4.count('queued'), 0);
      await sleep(400);
      assert.deepEqual(await q4.schedule({ lock: 1 }), [j.id]);
      assert.equal(await q4.count('queued'), 1);
      assert.deepEqual(await q4.sweep({ lock: 1 }), []);
    } finally {
      await q4.close();
    }
  });

  test('stats', async () => {
    const s = await q.stats({ ttl: 5 });
    for (const k of ['complete', 'failed', 'retried', 'aborted', 'uptime']) assert.equal(typeof s[k], 'number', k);
  });

  test('abort a queued job, retry and finish', async () => {
    await q.enqueue('add', { key: 'k-abort' });
    const aborted = await q.abort('k-abort', 'not wanted');
    assert.equal(aborted.status, 'aborted');
    assert.equal(aborted.error, 'not wanted');
    assert.equal(await q.abort('k-missing', 'x'), null);
    // a waiting job is finished at once and its abort marker removed (as saq):
    // the key can be enqueued again
    assert.equal((await q.enqueue('add', { key: 'k-abort' })).status, 'queued');

    const j = await q.enqueue('add', { key: 'k-finish' });
    const done = await q.finish(j, 'complete', { result: { ok: true } });
    assert.equal(done.status, 'complete');
    assert.deepEqual(done.result, { ok: true });
    const r = await q.enqueue('add', { key: 'k-retry' });
    const retried = await q.retry(r, 'again');
    assert.equal(retried.status, 'queued');
    assert.equal(retried.error, 'again');
  });

  test('listen: async iterator, callback form and timeout', async () => {
    await q.enqueue('add', { key: 'k-listen' });
    const it = q.listen(['k-listen'], { timeout: 5 });
    const seen = [];
    const reader = (async () => {
      for await (const msg of it) {
        seen.push(msg);
        if (msg.status === 'aborted') break;
      }
    })();
    await sleep(100); // the subscription is confirmed asynchronously
    await q.update('k-listen', { progress: 0.1 });
    await q.abort('k-listen', 'stop');
    await reader;
    assert.deepEqual(seen.at(-1), { key: 'k-listen', status: 'aborted' });
    assert.ok(seen.some((m) => m.status === 'queued'), JSON.stringify(seen));

    await q.enqueue('add', { key: 'k-listen-cb' });
    const statuses = [];
    const done = q.listen(['k-listen-cb'], (key, status) => {
      statuses.push(status);
      return status === 'complete';
    }, { timeout: 5 });
    await sleep(100);
    await q.finish('k-listen-cb', 'complete');
    await done;
    assert.deepEqual(statuses, ['complete']);

    const t0 = Date.now();
    await assert.rejects(async () => {
      for await (const _ of q.listen(['k-nothing'], { timeout: 0.3 })) assert.fail('no message expected');
    }, (e) => e instanceof SaqError && e.code === 'SAQ_ETIMEDOUT');
    assert.ok(Date.now() - t0 >= 250);
  });

  test('batch aborts its jobs when the body throws, and rethrows', async () => {
    const keys = await q.batch(async () => {
      const a = await q.enqueue('add', { key: 'k-batch-ok' });
      return [a.key];
    });
    assert.deepEqual(keys, ['k-batch-ok']);
    assert.equal((await q.job('k-batch-ok')).status, 'queued');
    const boom = new Error('boom');
    await assert.rejects(
      q.batch(async () => {
        await q.enqueue('add', { key: 'k-batch-1' });
        await q.enqueue('add', { key: 'k-batch-2' });
        throw boom;
      }),
      (e) => e === boom,
    );
    for (const k of ['k-batch-1', 'k-batch-2']) {
      const j = await q.job(k);
      assert.equal(j.status, 'aborted', k);
      assert.equal(j.error, 'cancelled');
    }
  });

  test('apply and map through a worker, with return_exceptions', async () => {
    w = new Worker(q, {
      concurrency: 4,
      functions: {
        add: async (job) => job.kwargs.a + (job.kwargs.b ?? 0),
        fail: async () => {
          throw new Error('nope');
        },
        nothing: async () => undefined,
        weird: async () => ({ nan: NaN, inf: -Infinity, s: 'é' }),
      },
    });
    await w.start();
    assert.equal(await q.apply('add', { a: 1, b: 2 }, { timeout: 5 }), 3);
    assert.equal(await q.apply('nothing', {}, { timeout: 5 }), null);
    assert.deepEqual(await q.apply('weird', {}, { timeout: 5 }), { nan: NaN, inf: -Infinity, s: 'é' });
    await assert.rejects(q.apply('fail', {}, { timeout: 5 }), (e) => {
      assert.ok(e instanceof JobError);
      assert.equal(e.code, 'SAQ_EJOB');
      assert.equal(e.job.status, 'failed');
      assert.match(e.job.error, /Error: nope/);
      return true;
    });
    assert.deepEqual(await q.map('add', [{ a: 1 }, { a: 2 }, { a: 3 }], { timeout: 5, defaults: { b: 10 } }), [11, 12, 13]);
    const mixed = await q.map('fail', [{ x: 1 }], { timeout: 5, returnExceptions: true });
    assert.equal(mixed.length, 1);
    assert.ok(mixed[0] instanceof JobError);
    assert.equal(mixed[0].job.status, 'failed');
    const keyed = await q.map('add', [{ a: 1, key: 'm1' }, { a: 2, key: 'm2' }], { timeout: 5, returnExceptions: true });
    assert.deepEqual(keyed, [1, 2]);
    await assert.rejects(q.map('fail', [{ y: 1 }, { y: 2 }], { timeout: 5 }), JobError);
    // the apply timeout bounds the wait (no worker on this queue)
    const idle = Queue.fromUrl(REDIS_URL, { name: uniqueName('noworker') });
    await assert.rejects(idle.apply('add', { a: 1 }, { timeout: 0.2 }), (e) => e instanceof SaqError && e.code === 'SAQ_ETIMEDOUT');
    // as in saq, a timeout keyword is apply's timeout
    await assert.rejects(idle.apply('add', { a: 1, timeout: 0.2 }), (e) => e.code === 'SAQ_ETIMEDOUT');
    await idle.close();
  });

  test('operations on a closed queue reject with SAQ_ECLOSED', async () => {
    const q3 = Queue.fromUrl(REDIS_URL, { name: uniqueName('closed') });
    const pending = q3.count('queued');
    await q3.close();
    assert.equal(await pending, 0, 'close waits for operations in flight');
    await assert.rejects(q3.count('queued'), (e) => e.errno === codes.ECLOSED);
    await q3.close(); // idempotent
  });
});
