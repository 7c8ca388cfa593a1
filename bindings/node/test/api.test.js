// SPDX-License-Identifier: MIT
'use strict';
// Issue 18 (Node): AbortSignal on enqueue, apply, map and listen, cancelled in
// libsaq (saq_queue_cancel); unknown options rejected; durations in seconds
// with the old millisecond names deprecated; afterProcess sees the stored
// outcome (final status) and the exception that ended the job; a job's
// kwargs are never null.
const { test, describe } = require('node:test');
const assert = require('assert');
const { spawnSync } = require('child_process');
const { REDIS_URL, uniqueName, sleep, waitFor, privateRedis } = require('./helpers');
const { Queue, Worker, CancelledError } = require('..');

/** Resolves to how many ms `promise` took to settle, and its rejection. */
async function rejection(promise) {
  const t0 = Date.now();
  try {
    await promise;
  } catch (err) {
    return { err, ms: Date.now() - t0 };
  }
  assert.fail('expected a rejection');
  return null;
}

/** close() of a queue whose aborted operations libsaq really stopped is
 *  quick; one still waiting in libsaq would hold it for `timeout` seconds. */
async function closesAtOnce(q) {
  const t0 = Date.now();
  await q.close({ timeout: 5 });
  const ms = Date.now() - t0;
  assert.ok(ms < 1500, `close took ${ms} ms: an aborted operation was still pending in libsaq`);
}

describe('AbortSignal', () => {
  test('apply and map: an abort rejects at once with the reason and cancels the wait in libsaq', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('sigapply') });
    const ac = new AbortController();
    const applied = q.apply('nobody_runs_this', { a: 1 }, { signal: ac.signal });
    const mapped = q.map('nobody_runs_this', [{ a: 1 }, { a: 2 }], { signal: ac.signal, timeout: 30 });
    await sleep(200);
    const why = new Error('user went away');
    ac.abort(why);
    const a = await rejection(applied);
    const m = await rejection(mapped);
    assert.equal(a.err, why);
    assert.equal(m.err, why);
    assert.ok(a.ms < 200 && m.ms < 200, `${a.ms} ms, ${m.ms} ms`);
    // the jobs were enqueued before the abort and stay, as with saq's asyncio cancellation
    assert.equal(await q.count('queued'), 3);
    await closesAtOnce(q);
  });

  test('listen: the iteration and the callback form end with the reason; libsaq stops listening', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('siglisten') });
    const ac = new AbortController();
    const seen = [];
    const iterated = (async () => {
      for await (const { key } of q.listen(['k1'], { timeout: 0, signal: ac.signal })) seen.push(key);
    })();
    const called = q.listen(['k2'], () => false, { timeout: 0, signal: ac.signal });
    await sleep(200);
    ac.abort();
    const i = await rejection(iterated);
    const c = await rejection(called);
    assert.equal(i.err.name, 'AbortError');
    assert.equal(c.err.name, 'AbortError');
    assert.deepEqual(seen, []);
    await closesAtOnce(q);
  });

  test('an aborted signal rejects before anything is sent', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('sigfirst') });
    const signal = AbortSignal.abort(new Error('too late'));
    for (const p of [
      q.enqueue('f', { a: 1 }, { signal }),
      q.apply('f', { a: 1 }, { signal }),
      q.map('f', [{ a: 1 }], { signal }),
      q.listen(['k'], () => true, { signal }),
      q.listen(['k'], { signal }).next(),
    ]) {
      await assert.rejects(p, /too late/);
    }
    assert.equal(await q.count('incomplete'), 0);
    await closesAtOnce(q);
  });

  test('enqueue: libsaq withdraws one still waiting for a maxConcurrentOps slot', async (t) => {
    const redis = await privateRedis(t);
    if (!redis) return;
    const q = Queue.fromUrl(redis.url, { name: uniqueName('sigenq'), maxConcurrentOps: 1 });
    try {
      assert.equal(await q.count('queued'), 0); // connected
      redis.cli('CLIENT', 'PAUSE', '1000', 'WRITE'); // the first enqueue holds the only slot
      const ac = new AbortController();
      const sent = q.enqueue('f', { key: 'sent' });
      const waiting = q.enqueue('f', { key: 'waiting' }, { signal: ac.signal });
      await sleep(200);
      ac.abort();
      assert.equal((await rejection(waiting)).err.name, 'AbortError');
      assert.equal((await sent).key, 'sent');
      assert.equal(await q.count('queued'), 1);
      assert.equal(await q.job('waiting'), null, 'the withdrawn enqueue was written');
    } finally {
      await q.close();
      redis.stop();
    }
  });

  test('one signal shared by many concurrent calls: one listener, no MaxListenersExceededWarning', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('sigshared') });
    const { getEventListeners } = require('events');
    const warnings = [];
    const onWarning = (w) => warnings.push(w.name);
    process.on('warning', onWarning);
    const ac = new AbortController();
    try {
      const listens = Array.from({ length: 15 }, (_, i) => q.listen([`k${i}`], { timeout: 0, signal: ac.signal }));
      const applies = Array.from({ length: 15 }, () => q.apply('nobody_runs_this', {}, { signal: ac.signal }).catch((e) => e));
      const enqueues = Array.from({ length: 15 }, (_, i) => q.enqueue('f', { i }, { signal: ac.signal }));
      assert.ok(getEventListeners(ac.signal, 'abort').length <= 1, `${getEventListeners(ac.signal, 'abort').length} listeners`);
      assert.equal((await Promise.all(enqueues)).filter(Boolean).length, 15);
      ac.abort();
      for (const e of await Promise.all(applies)) assert.equal(e.name, 'AbortError');
      for (const it of listens) await assert.rejects(it.next(), { name: 'AbortError' });
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
      await sleep(10); // a warning is emitted on the next tick
      assert.ok(!warnings.includes('MaxListenersExceededWarning'), warnings.join(', '));
      // a long-lived signal keeps no listener once its operations are over
      const keep = new AbortController();
      await Promise.all(Array.from({ length: 15 }, () => q.count('queued')));
      await Promise.all(Array.from({ length: 15 }, (_, i) => q.enqueue('f', { j: i }, { signal: keep.signal })));
      assert.equal(getEventListeners(keep.signal, 'abort').length, 0);
    } finally {
      process.removeListener('warning', onWarning);
    }
    await closesAtOnce(q);
  });

  test('a signal that is not an AbortSignal is a TypeError', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('sigbad') });
    await assert.rejects(q.apply('f', {}, { signal: new AbortController() }), TypeError);
    assert.throws(() => q.listen(['k'], { signal: {} }), TypeError);
    await q.close();
  });
});

describe('options', () => {
  test('unknown options are a TypeError naming the known ones', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('opts') });
    try {
      await assert.rejects(q.apply('f', {}, { timout: 5 }), /apply\(\): unknown option "timout" \(known: timeout,/);
      await assert.rejects(q.map('f', [{}], { returnException: true }), /unknown option "returnException"/);
      await assert.rejects(q.map('f', [{}], { b: 10 }), /map\(\) \(job defaults go in `defaults`\): unknown option "b"/);
      await assert.rejects(q.enqueue('f', {}, { tracepartent: 'x' }), TypeError);
      await assert.rejects(q.info({ job: true }), TypeError);
      assert.throws(() => q.listen(['k'], { timout: 1 }), TypeError);
      assert.throws(() => Queue.fromUrl(REDIS_URL, { commandTimeoutSeconds: 1 }), /unknown option "commandTimeoutSeconds"/);
      assert.throws(() => new Queue({ nmae: 'x' }), TypeError);
      assert.throws(() => new Worker(q, { concurency: 2 }), /new Worker\(\): unknown option "concurency"/);
      assert.throws(() => new Worker(q, { functions: { f: () => 1 }, cronJobs: [{ function: 'f', cron: '* * * * *', kwarg: {} }] }),
        /unknown option "kwarg"/);
      assert.equal(await q.count('incomplete'), 0, 'a refused call enqueued something');
    } finally {
      await q.close();
    }
  });

  test('durations are seconds; the millisecond names still work with a DeprecationWarning', async (t) => {
    const redis = await privateRedis(t);
    if (!redis) return;
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    const fast = Queue.fromUrl(redis.url, { name: uniqueName('secs'), commandTimeout: 0.3 });
    const old = Queue.fromUrl(redis.url, { name: uniqueName('ms'), commandTimeoutMs: 300 });
    try {
      await fast.ping();
      await old.ping();
      // a command Redis holds longer than the command timeout: 0.3 s either way
      redis.cli('CLIENT', 'PAUSE', '1500', 'ALL');
      for (const q of [fast, old]) {
        const { err, ms } = await rejection(q.count('queued'));
        assert.equal(err.code, 'SAQ_ETIMEDOUT');
        assert.ok(ms >= 250 && ms < 1300, `timed out after ${ms} ms`);
      }
      await waitFor(() => warnings.some((w) => w.code === 'LIBSAQ_DEP_COMMANDTIMEOUTMS'), { what: 'the deprecation' });
      const dep = warnings.find((w) => w.code === 'LIBSAQ_DEP_COMMANDTIMEOUTMS');
      assert.equal(dep.name, 'DeprecationWarning');
      assert.match(dep.message, /commandTimeoutMs \(milliseconds\) is deprecated: use commandTimeout \(seconds\)/);
      assert.throws(() => new Queue({ commandTimeout: 1, commandTimeoutMs: 1000 }), /not both/);
    } finally {
      process.removeListener('warning', onWarning);
      redis.cli('CLIENT', 'UNPAUSE');
      await Promise.all([fast.close({ timeout: 1 }), old.close({ timeout: 1 })]);
      redis.stop();
    }
  });

  test('close() and stop() reject bad options (no synchronous throw); the queue stays usable', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('badclose') });
    const w = new Worker(q, { functions: { f: () => 1 } });
    let p;
    assert.doesNotThrow(() => { p = q.close({ timout: 1 }); });
    await assert.rejects(p, /close\(\): unknown option "timout"/);
    assert.doesNotThrow(() => { p = q.close({ timeout: 'soon' }); });
    await assert.rejects(p, TypeError);
    assert.doesNotThrow(() => { p = w.stop({ grace: NaN }); });
    await assert.rejects(p, TypeError);
    assert.equal(await q.count('queued'), 0);
    await q.close();
  });

  test('a duration libsaq refuses is reported as the option given, in its unit', () => {
    // libsaq checks the millisecond key; the message names what the user wrote
    assert.throws(() => new Queue({ url: REDIS_URL, commandTimeout: 0.0001 }),
      /^SaqError: commandTimeout 0\.0001 \(seconds; command_timeout_ms 0\): command_timeout_ms must be/);
    assert.throws(() => new Queue({ url: REDIS_URL, reconnectMax: -1 }),
      /reconnectMax -1 \(seconds; reconnect_max_ms -1000\): reconnect_max_ms must be/);
  });

  test('stop({ grace }) is in seconds; graceMs warns', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('grace') });
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      let signalled = 0;
      const w = new Worker(q, { functions: {
        hold: (job, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => {
          signalled = Date.now();
          resolve(1);
        })),
      } });
      await w.start();
      await q.enqueue('hold', { timeout: 60 });
      await waitFor(() => w.stats().running === 1, { what: 'the job to run' });
      const t0 = Date.now();
      await w.stop({ grace: 0.4 });
      const ms = signalled - t0;
      assert.ok(ms >= 350 && ms < 2000, `the handler was signalled after ${ms} ms, not 0.4 s`);
      const w2 = new Worker(q, { functions: { f: () => 1 } });
      await w2.start();
      await w2.stop({ graceMs: 0 });
      await waitFor(() => warnings.some((x) => x.code === 'LIBSAQ_DEP_GRACEMS'), { what: 'the deprecation' });
    } finally {
      process.removeListener('warning', onWarning);
      await q.close();
    }
  });
});

describe('afterProcess and jobs', () => {
  test('afterProcess sees the stored status and the exception that ended the job', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('after') });
    const seen = new Map();
    const boom = new Error('boom');
    const w = new Worker(q, {
      functions: {
        ok: async (job) => job.kwargs.n * 2,
        fails: async () => {
          throw boom;
        },
        // ignores its signal: libsaq fails it for the timeout without the handler
        slow: () => new Promise((resolve) => setTimeout(() => resolve('late'), 1500)),
        retried: async () => {
          throw new Error('again');
        },
        aborted: (job, { signal }) => new Promise((resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      },
      afterProcess: (ctx) => {
        if (seen.has(ctx.job.function)) return; // 'retried' runs twice: keep its first attempt
        seen.set(ctx.job.function, { status: ctx.job.status, attempts: ctx.job.attempts, error: ctx.job.error,
          result: ctx.result, exception: ctx.exception, same: ctx.job });
      },
      cancellationHardDeadline: 0.2,
      timers: { abort: 0.1, schedule: 0.1 },
    });
    await w.start();
    try {
      await q.enqueue('ok', { n: 21 });
      await q.enqueue('fails');
      await q.enqueue('slow', { timeout: 0.3 });
      await q.enqueue('retried', { retries: 2 });
      const victim = await q.enqueue('aborted', { timeout: 60 });
      await waitFor(async () => (await q.job(victim.key)).status === 'active', { what: 'the job to run' });
      await q.abort(victim.key, 'not wanted');
      await waitFor(() => seen.size === 5, { timeout: 10000, what: 'five afterProcess calls' });
      const ok = seen.get('ok');
      assert.equal(ok.status, 'complete');
      assert.equal(ok.result, 42);
      assert.equal(ok.exception, undefined);
      const fails = seen.get('fails');
      assert.equal(fails.status, 'failed'); // it was the stale 'active' before
      assert.equal(fails.exception, boom);
      assert.match(fails.error, /Error: boom/);
      const slow = seen.get('slow');
      assert.equal(slow.status, 'failed');
      assert.ok(slow.exception instanceof CancelledError, String(slow.exception));
      assert.equal(slow.exception.reason, 'timeout');
      assert.equal(slow.result, undefined);
      const retried = seen.get('retried');
      assert.equal(retried.status, 'queued'); // stored for a retry
      assert.equal(retried.exception.message, 'again');
      assert.equal(retried.attempts, 1);
      const aborted = seen.get('aborted');
      assert.equal(aborted.status, 'aborted');
      assert.ok(aborted.exception instanceof CancelledError, String(aborted.exception));
      assert.equal(aborted.exception.reason, 'aborted');
    } finally {
      await w.stop({ grace: 0 });
      await q.close();
    }
  });

  test("a job's kwargs are {} when the record stores none (saq's **(job.kwargs or {}))", async () => {
    const name = uniqueName('nokw');
    const q = Queue.fromUrl(REDIS_URL, { name });
    try {
      // a record as Python saq writes a Job whose kwargs are None: no kwargs field
      const record = JSON.stringify({ function: 'f', key: 'bare', queue: name, status: 'queued', queued: Date.now() });
      const r = spawnSync('redis-cli', ['-u', REDIS_URL, 'SET', `saq:job:${name}:bare`, record], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const job = await q.job('bare');
      assert.equal(job.kwargsJson, null);
      assert.deepEqual(job.kwargs, {}); // it was null
    } finally {
      await q.close();
    }
  });
});
