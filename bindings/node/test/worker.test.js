// SPDX-License-Identifier: MIT
'use strict';
const { test, describe } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, sleep, waitFor, waitStatus, withWorker } = require('./helpers');
const { Queue, Worker, CancelledError, SaqError } = require('..');


describe('Worker', () => {
  test('round trip: enqueue, run, complete; progress and hooks', async () => {
    const calls = [];
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('roundtrip') });
    const w = new Worker(q, {
      functions: {
        add: async (job, ctx) => {
          calls.push(['add', ctx.signal instanceof AbortSignal, ctx.db, ctx.job === job]);
          await job.update({ progress: 0.5, meta: { half: true } });
          return job.kwargs.a + job.kwargs.b;
        },
      },
      startup: async (ctx) => {
        calls.push(['startup', ctx.worker === w]);
        ctx.db = 'connection';
      },
      shutdown: (ctx) => calls.push(['shutdown', ctx.db]),
      beforeProcess: (ctx) => calls.push(['before', ctx.job.status]),
      afterProcess: (ctx) => calls.push(['after', ctx.result, ctx.exception]),
    });
    await w.start();
    const job = await q.enqueue('add', { a: 1, b: 2 });
    const done = await waitStatus(q, job.key, 'complete');
    assert.equal(done.result, 3);
    assert.equal(done.attempts, 1);
    assert.equal(done.workerId, w.id);
    assert.equal(done.progress, 1);
    assert.deepEqual(done.meta, { half: true });
    assert.ok(done.completed >= done.started && done.started > 0);
    await waitFor(() => calls.some((c) => c[0] === 'after'), { what: 'afterProcess' });
    const stats = w.stats();
    assert.equal(stats.complete, 1);
    await w.stop();
    await q.close();
    assert.deepEqual(calls, [
      ['startup', true],
      ['before', 'active'],
      ['add', true, 'connection', true],
      ['after', 3, undefined],
      ['shutdown', 'connection'],
    ]);
  });

  test('a thrown error fails the job with its message and stack', async () => {
    await withWorker({ functions: { explode: async function explode() { throw new RangeError('out of range: 42'); } } }, async (q) => {
      const job = await q.enqueue('explode', {});
      const failed = await waitStatus(q, job.key, 'failed');
      assert.match(failed.error, /^RangeError: out of range: 42\n/);
      assert.match(failed.error, /at explode \(.*worker\.test\.js/);
    });
  });

  test('retry: a failing attempt is retried until retries are used', async () => {
    let attempts = 0;
    let seenError = null;
    await withWorker({
      functions: {
        flaky: async (job) => {
          attempts++;
          seenError = job.error;
          if (job.attempts < 2) throw new Error(`flaky attempt ${job.attempts}`);
          return 'ok';
        },
      },
    }, async (q) => {
      const job = await q.enqueue('flaky', { retries: 3 });
      const done = await waitStatus(q, job.key, 'complete');
      assert.equal(done.result, 'ok');
      assert.equal(done.attempts, 2);
      assert.equal(attempts, 2);
      assert.match(seenError, /^Error: flaky attempt 1\n\s+at /, 'the second attempt sees the error of the first');
    });
  });

  test('timeout: the AbortSignal fires with reason "timeout" and the job fails with TimeoutError', async () => {
    let reason = null;
    await withWorker({
      functions: {
        slow: (job, { signal }) => new Promise((resolve, reject) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
      },
    }, async (q) => {
      const job = await q.enqueue('slow', { timeout: 0.3 });
      const failed = await waitStatus(q, job.key, 'failed');
      assert.match(failed.error, /TimeoutError/);
      assert.ok(reason instanceof CancelledError);
      assert.equal(reason.reason, 'timeout');
    });
  });

  test('abort: a running job gets reason "aborted" and ends aborted', async () => {
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
      const marked = await q.abort(job.key, 'user abort');
      assert.equal(marked.status, 'aborting');
      const aborted = await waitStatus(q, job.key, 'aborted');
      assert.equal(aborted.error, 'user abort');
      assert.equal(reason.reason, 'aborted');
    });
  });

  test('concurrency is back-pressure: never more than `concurrency` handlers at once', async () => {
    let running = 0;
    let peak = 0;
    await withWorker({
      concurrency: 2,
      functions: {
        busy: async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(60);
          running--;
          return true;
        },
      },
    }, async (q) => {
      const jobs = await Promise.all(Array.from({ length: 6 }, (_, i) => q.enqueue('busy', { i })));
      for (const j of jobs) await waitStatus(q, j.key, 'complete');
      assert.equal(peak, 2);
    });
  });

  test('an unknown function fails the job with KeyError', async () => {
    await withWorker({ functions: { known: async () => 1 } }, async (q) => {
      const job = await q.enqueue('unknown', {});
      const failed = await waitStatus(q, job.key, 'failed');
      assert.match(failed.error, /KeyError/);
    });
  });

  test('cron jobs run on their schedule', async () => {
    let runs = 0;
    await withWorker({
      functions: {},
      cronJobs: [{ function: async function tick() { runs++; return runs; }, cron: '* * * * * */1', timeout: 5 }],
    }, async (q) => {
      await waitFor(() => runs >= 1, { timeout: 5000, what: 'the cron job to run' });
      const rec = await q.job('cron:tick');
      assert.ok(rec, 'unique cron jobs use the key cron:<function>');
    });
    assert.throws(() => new Worker(Queue.fromUrl(REDIS_URL, { name: uniqueName('cron') }), {
      functions: { f: async () => 1 },
      cronJobs: [{ function: 'f', cron: 'not a cron' }],
    }), (e) => e instanceof SaqError && e.code === 'SAQ_ECRON');
  });

  test('cronTz: the expression is read in an IANA time zone (saq\'s cron_tz)', async () => {
    assert.throws(() => new Worker(Queue.fromUrl(REDIS_URL, { name: uniqueName('crontz') }), {
      functions: { f: async () => 1 },
      cronJobs: [{ function: 'f', cron: '0 3 * * *', cronTz: 'Mars/Olympus' }],
    }), (e) => e instanceof SaqError && e.code === 'SAQ_ECRON' && /unknown time zone 'Mars\/Olympus'/.test(e.message));
    // 03:00 in Kolkata (+05:30, no DST) is 21:30 UTC, not 03:00 UTC
    const next0300 = (t, off = 19800) => { // the next 03:00 at UTC offset `off` (seconds) after t
      const day = Math.floor((t + off) / 86400) * 86400 - off + 3 * 3600;
      return day > t ? day : day + 86400;
    };
    const before = Math.floor(Date.now() / 1000);
    await withWorker({
      functions: { tz: async () => 1 },
      cronJobs: [{ function: 'tz', cron: '0 3 * * *', cronTz: 'Asia/Kolkata' }],
    }, async (q) => {
      let rec = null;
      await waitFor(async () => (rec = await q.job('cron:tz')) !== null, { timeout: 5000, what: 'the cron job to be enqueued' });
      const after = Math.floor(Date.now() / 1000);
      const scheduled = Math.floor(rec.scheduled);
      assert.ok([next0300(before), next0300(after)].includes(scheduled), `scheduled ${scheduled}, want ${next0300(before)}`);
    });
    // the worker's cronTz (saq's Worker(cron_tz=...)) for the cron jobs that set none
    assert.throws(() => new Worker(Queue.fromUrl(REDIS_URL, { name: uniqueName('crontz') }), {
      functions: { f: async () => 1 }, cronTz: 'Mars/Olympus',
    }), (e) => e instanceof SaqError && e.code === 'SAQ_EINVAL' && /unknown time zone/.test(e.message));
    const start = Math.floor(Date.now() / 1000);
    await withWorker({
      functions: { ist: async () => 1, utc: async () => 1 },
      cronTz: 'Asia/Kolkata',
      cronJobs: [{ function: 'ist', cron: '0 3 * * *' }, { function: 'utc', cron: '0 3 * * *', cronTz: 'UTC' }],
    }, async (q) => {
      const ist = await waitFor(() => q.job('cron:ist'), { timeout: 5000, what: 'cron:ist' });
      const utc = await waitFor(() => q.job('cron:utc'), { timeout: 5000, what: 'cron:utc' });
      const end = Math.floor(Date.now() / 1000);
      assert.ok([next0300(start), next0300(end)].includes(Math.floor(ist.scheduled)), `ist ${ist.scheduled}`);
      assert.ok([next0300(start, 0), next0300(end, 0)].includes(Math.floor(utc.scheduled)), `utc ${utc.scheduled}`);
    });
  });

  test('cronTz null or \'\' is UTC over the worker\'s cronTz, undefined is the worker\'s; a new zone moves the stored run', async () => {
    const next0300 = (t, off) => { // the next 03:00 at UTC offset `off` (seconds) after t
      const day = Math.floor((t + off) / 86400) * 86400 - off + 3 * 3600;
      return day > t ? day : day + 86400;
    };
    const name = uniqueName('crontz-null');
    const fns = { a: async () => 1, b: async () => 1, c: async () => 1, d: async () => 1 };
    const run = async (options, check) => {
      const q = Queue.fromUrl(REDIS_URL, { name, logger: false });
      const w = new Worker(q, { timers: { schedule: 0.1 }, functions: fns, ...options });
      const start = Math.floor(Date.now() / 1000);
      await w.start();
      try {
        await check(q, start);
      } finally {
        await w.stop({ grace: 0 });
        await q.close();
      }
    };
    // the cron:<fn> run stored with the scheduled time of 03:00 at offset `off`
    const scheduledAt = (q, fn, start, off) => waitFor(async () => {
      const rec = await q.job(`cron:${fn}`);
      const end = Math.floor(Date.now() / 1000);
      return rec && [next0300(start, off), next0300(end + 5, off)].includes(Math.floor(rec.scheduled)) ? rec : null;
    }, { timeout: 5000, what: `cron:${fn} at 03:00 (UTC offset ${off} s)` });
    // first registration: every cron job in Kolkata (the worker's zone, or its own)
    await run({
      cronTz: 'Asia/Kolkata',
      cronJobs: [{ function: 'a', cron: '0 3 * * *' }, { function: 'b', cron: '0 3 * * *', cronTz: 'Asia/Kolkata' },
        { function: 'c', cron: '0 3 * * *' }, { function: 'd', cron: '0 3 * * *' }],
    }, async (q, start) => {
      for (const fn of ['a', 'b', 'c', 'd']) await scheduledAt(q, fn, start, 19800);
    });
    // registered again with null, '': UTC, over the worker's zone, and the runs stored by the first
    // worker move to 03:00 UTC; undefined is "not given", as d without the key: the worker's zone
    await run({
      cronTz: 'Asia/Kolkata',
      cronJobs: [{ function: 'a', cron: '0 3 * * *', cronTz: null }, { function: 'b', cron: '0 3 * * *', cronTz: undefined },
        { function: 'c', cron: '0 3 * * *', cronTz: '' }, { function: 'd', cron: '0 3 * * *' }],
    }, async (q, start) => {
      for (const fn of ['a', 'c']) await scheduledAt(q, fn, start, 0);
      for (const fn of ['b', 'd']) await scheduledAt(q, fn, start, 19800);
    });
  });

  test('cronTz: undefined follows the worker\'s America/New_York; null and \'\' are UTC', async () => {
    const next0300 = (t, off) => { // the next 03:00 at UTC offset `off` (seconds) after t
      const day = Math.floor((t + off) / 86400) * 86400 - off + 3 * 3600;
      return day > t ? day : day + 86400;
    };
    const start = Math.floor(Date.now() / 1000);
    await withWorker({
      timers: { schedule: 0.1 },
      functions: { undef: async () => 1, nul: async () => 1, empty: async () => 1 },
      cronTz: 'America/New_York',
      cronJobs: [{ function: 'undef', cron: '0 3 * * *', cronTz: undefined },
        { function: 'nul', cron: '0 3 * * *', cronTz: null }, { function: 'empty', cron: '0 3 * * *', cronTz: '' }],
    }, async (q) => {
      const at = async (fn) => Math.floor((await waitFor(() => q.job(`cron:${fn}`), { timeout: 5000, what: `cron:${fn}` })).scheduled);
      const end = Math.floor(Date.now() / 1000) + 5;
      const want = (offs) => offs.flatMap((off) => [next0300(start, off), next0300(end, off)]);
      const ny = want([-18000, -14400]); // 03:00 EST or EDT
      const utc = want([0]);
      const u = await at('undef');
      assert.ok(ny.includes(u), `cronTz undefined: scheduled ${u}, want 03:00 New York (${ny}), not UTC`);
      for (const fn of ['nul', 'empty']) {
        const s = await at(fn);
        assert.ok(utc.includes(s), `cron ${fn}: scheduled ${s}, want 03:00 UTC (${utc})`);
      }
    });
  });

  test('stop: running jobs get their grace, then the signal fires with "shutdown" and the job is retried', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('stop') });
    let reason = null;
    let started = false;
    const w = new Worker(q, {
      cancellationHardDeadline: 0.5,
      functions: {
        long: async (job, { signal }) => {
          started = true;
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          reason = signal.reason;
          throw signal.reason;
        },
      },
    });
    await w.start();
    const job = await q.enqueue('long', { timeout: 30 });
    await waitFor(() => started, { what: 'the job to start' });
    const t0 = Date.now();
    await w.stop({ grace: 0.2 });
    assert.ok(Date.now() - t0 >= 150, 'the grace period was honoured');
    assert.equal(reason.reason, 'shutdown');
    const rec = await q.job(job.key);
    assert.equal(rec.status, 'queued');
    assert.equal(rec.error, 'cancelled');
    await q.close();
  });

  test('the hard deadline and grace period are libsaq\'s, also when set through conf', async () => {
    // a handler that ignores its signal after a timeout: libsaq stores the
    // outcome (its text) after the 0.2 s hard deadline and gives the slot to
    // the next job at once (the binding used its own 1 s and ignored conf)
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('hardconf') });
    let release;
    const stuck = new Promise((r) => { release = r; });
    const w = new Worker(q, {
      concurrency: 1,
      conf: { cancellation_hard_deadline: '0.2' },
      functions: { stubborn: async () => stuck, quick: async () => 'quick' },
    });
    await w.start();
    try {
      const job = await q.enqueue('stubborn', { timeout: 1 });
      const failed = await waitStatus(q, job.key, 'failed');
      assert.equal(failed.error, `TimeoutError: job ${job.key} timed out after 1 seconds`);
      const t0 = Date.now();
      assert.equal(await q.apply('quick', {}, { timeout: 5 }), 'quick');
      assert.ok(Date.now() - t0 < 600, `the next job waited ${Date.now() - t0} ms for the slot`);
    } finally {
      release();
      await w.stop({ grace: 0 });
    }
    // close waits for the grace period set through conf (the binding counted 0 s)
    const w2 = new Worker(q, {
      conf: { shutdown_grace_period: '5' },
      functions: { slow: async () => { await sleep(2000); return 'slow'; } },
    });
    await w2.start();
    const job = await q.enqueue('slow', {});
    await waitStatus(q, job.key, 'active');
    await q.close({ timeout: 0.1 });
    const q2 = Queue.fromUrl(REDIS_URL, { name: q.name });
    try {
      const done = await q2.job(job.key);
      assert.equal(done.status, 'complete', `${done.status} ${done.error}`);
    } finally {
      await q2.close();
    }
  });

  test('close({ timeout }) finishes when an afterProcess hook never settles', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('hanghook'), logger: false });
    const shutdown = [];
    const w = new Worker(q, {
      functions: { ok: async () => 1 },
      afterProcess: () => new Promise(() => {}),
      shutdown: () => { shutdown.push('ran'); },
    });
    await w.start();
    assert.equal(await q.apply('ok', {}, { timeout: 5 }), 1);
    const t0 = Date.now();
    const closed = q.close({ timeout: 0.2 }).then(() => 'closed');
    const late = sleep(6000).then(() => 'still waiting after 6 s');
    assert.equal(await Promise.race([closed, late]), 'closed');
    assert.ok(Date.now() - t0 < 4000, `close took ${Date.now() - t0} ms`);
    await w.done();
  });

  test('close({ timeout }) beyond what setTimeout holds waits (no TimeoutOverflowWarning, no stop at once)', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('closehuge'), logger: false });
    const w = new Worker(q, { shutdownGracePeriod: 5, functions: { slow: async () => { await sleep(800); return 'slow'; } } });
    await w.start();
    const job = await q.enqueue('slow', {});
    await waitStatus(q, job.key, 'active');
    const warnings = [];
    const onWarning = (wr) => warnings.push(wr.name);
    process.on('warning', onWarning);
    try {
      await q.close({ timeout: 1e7 }); // 115 days: more than 2^31-1 ms
    } finally {
      process.removeListener('warning', onWarning);
    }
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), warnings.join(', '));
    const q2 = Queue.fromUrl(REDIS_URL, { name: q.name });
    try {
      const done = await q2.job(job.key);
      assert.equal(done.status, 'complete', `${done.status} ${done.error}`);
    } finally {
      await q2.close();
    }
  });

  test('a handler that ignores its signal cannot hold the worker after the hard deadline', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('stubborn') });
    let started = false;
    const w = new Worker(q, {
      cancellationHardDeadline: 0.2,
      functions: {
        stubborn: async () => {
          started = true;
          await sleep(1500);
          return 'late';
        },
      },
    });
    await w.start();
    const job = await q.enqueue('stubborn', { timeout: 0.2 });
    await waitFor(() => started, { what: 'the job to start' });
    const failed = await waitStatus(q, job.key, 'failed');
    assert.match(failed.error, /TimeoutError/);
    const t0 = Date.now();
    await w.stop({ grace: 0 });
    assert.ok(Date.now() - t0 < 1000, 'stop did not wait for the stubborn handler');
    await q.close();
  });
});
