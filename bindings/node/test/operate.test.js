// SPDX-License-Identifier: MIT
'use strict';
// Operating libsaq from Node (issue 17): the logger option (libsaq's log
// records through the queue's completion queue), the Worker's events,
// overview(), metrics(), jobPages()/iterJobs(), the worker's metrics and final
// stats after its stop, and a W3C traceparent from enqueue to the handler.
const { test, describe } = require('node:test');
const assert = require('assert');
const net = require('net');
const { REDIS_URL, uniqueName, waitFor, waitStatus, runNode, withWorker } = require('./helpers');
const { Queue, Worker, SaqError, JobError, CancelledError, collectMetrics, metricsContentType } = require('..');
const { merge } = require('../lib/metrics');

/** A logger that keeps what it is given: [{ method, fields, message }]. */
function capture(extra = {}) {
  const records = [];
  const logger = { records, ...extra };
  for (const method of ['debug', 'info', 'warn', 'error']) {
    logger[method] = function logged(fields, message) {
      assert.equal(this, logger, 'called as a method of the logger');
      records.push({ method, fields, message });
    };
  }
  return logger;
}

test('the default stderr line cuts a long field value; the fields keep it whole', () => {
  const { line } = require('../lib/log');
  const fields = { reason: 'x'.repeat(5000), code: -8 };
  assert.equal(line('warn', 'job failed', fields), `saq: WARNING job failed reason=${'x'.repeat(200)}... code=-8\n`);
  assert.equal(fields.reason.length, 5000);
});

/** A loopback port nothing listens on. */
async function closedPort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** withWorker on a queue that logs nowhere. */
const quietWorker = (options, fn) => withWorker(options, fn, { logger: false });

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('logger', () => {
  test('a queue on an unreachable Redis logs a warning with the queue and the error code', async () => {
    const port = await closedPort();
    const logger = capture();
    const name = uniqueName('unreach');
    const q = Queue.fromUrl(`redis://127.0.0.1:${port}/0`, { name, logger, connectTimeout: 0.2, commandTimeout: 0.5 });
    try {
      await assert.rejects(q.ping(), (e) => e instanceof SaqError);
      const rec = await waitFor(() => logger.records.find((r) => r.method === 'warn' && r.fields.queue === name),
        { what: 'a warning about the unreachable Redis' });
      assert.equal(typeof rec.message, 'string');
      assert.ok(rec.message.length > 0);
      assert.match(String(rec.fields.error), /^SAQ_E/, JSON.stringify(rec));
      assert.ok(!logger.records.some((r) => r.method === 'info' || r.method === 'debug'),
        'the default level (warning) keeps info and debug records out');
    } finally {
      await q.close();
    }
  });

  test('logLevel info: the worker logs its start and stop; logLevel off: nothing', async () => {
    const logger = capture();
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('loginfo'), logger, logLevel: 'info' });
    const w = new Worker(q, { functions: { noop: () => null } });
    await w.start();
    const started = await waitFor(() => logger.records.find((r) => r.method === 'info' && r.fields.worker === w.id),
      { what: "the worker's start record" });
    assert.equal(started.fields.queue, q.name);
    await w.stop();
    await waitFor(() => logger.records.filter((r) => r.method === 'info' && r.fields.worker === w.id).length >= 2,
      { what: "the worker's stop record" });
    await q.close();

    const silent = capture();
    const q2 = Queue.fromUrl(REDIS_URL, { name: uniqueName('logoff'), logger: silent, logLevel: 'off' });
    const w2 = new Worker(q2, { functions: { noop: () => null } });
    await w2.start();
    await w2.stop();
    await q2.close();
    assert.deepEqual(silent.records, []);
  });

  test("the logger's own level is the default log level (pino's 'info')", async () => {
    const logger = capture({ level: 'info' });
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('loglevel'), logger });
    const w = new Worker(q, { functions: { noop: () => null } });
    await w.start();
    await w.stop();
    await q.close();
    assert.ok(logger.records.some((r) => r.method === 'info' && r.fields.worker === w.id),
      JSON.stringify(logger.records));
  });

  test('bad logger options are TypeErrors; a logger that throws does not stop the queue', async () => {
    assert.throws(() => new Queue({ logger: { warn() {} } }), { name: 'TypeError', message: /lacks debug, info, error/ });
    assert.throws(() => new Queue({ logger: 'console' }), TypeError);
    assert.throws(() => new Queue({ logLevel: 'loud' }), { name: 'TypeError', message: /logLevel must be one of/ });
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('logbad') });
    assert.throws(() => new Worker(q, { logger: console }), { name: 'TypeError', message: /Queue options/ });
    await q.close();

    const port = await closedPort();
    let calls = 0;
    const thrower = { debug() {}, info() {}, warn() { calls++; throw new Error('logger down'); }, error() {} };
    const bad = Queue.fromUrl(`redis://127.0.0.1:${port}/0`, { logger: thrower, connectTimeout: 0.2 });
    await assert.rejects(bad.ping(), SaqError);
    await waitFor(() => calls > 0, { what: 'the throwing logger to be called' });
    await assert.rejects(bad.ping(), SaqError); // the pump still delivers completions
    await bad.close();
  });

  test('without a logger: libsaq-style lines on stderr; logger false: none', async () => {
    const port = await closedPort();
    const script = (opts) => `
      const { Queue } = require(process.env.SAQ_PKG);
      const q = Queue.fromUrl('redis://127.0.0.1:${port}/0', { name: 'stderrq', connectTimeout: 0.2, ${opts} });
      q.ping().catch(() => {}).then(() => new Promise((r) => setTimeout(r, 300))).then(() => q.close());`;
    const env = { SAQ_LOG_LEVEL: '' };
    const dflt = await runNode(script(''), { env });
    assert.equal(dflt.code, 0, dflt.stderr);
    assert.match(dflt.stderr, /^saq: WARNING \S.* queue=stderrq( |$)/m);
    const quiet = await runNode(script('logger: false'), { env });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
  });
});


/** Resolves to the arguments of the first `event` whose job has `key`. */
function nextEvent(w, event, key) {
  return new Promise((resolve) => {
    const on = (job, ...rest) => {
      if (job.key !== key) return;
      w.off(event, on);
      resolve([job, ...rest]);
    };
    w.on(event, on);
  });
}

describe('Worker events', () => {
  test('completed (job, result), failed (job, the thrown error), retried, aborted; started and stopped', async () => {
    const boom = new RangeError('boom');
    const seen = [];
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('events'), logger: false });
    const w = new Worker(q, {
      timers: { abort: 0.1 },
      functions: {
        add: async (job) => job.kwargs.a + job.kwargs.b,
        explode: async () => {
          throw boom;
        },
        flaky: async (job) => {
          if (job.attempts < 2) throw new Error(`attempt ${job.attempts}`);
          return 'ok';
        },
        text: async () => {
          throw 'not an Error'; // eslint-disable-line no-throw-literal
        },
        slow: async (job, { signal }) => new Promise((resolve) => signal.addEventListener('abort', resolve)),
      },
    });
    w.on('started', () => seen.push('started'));
    w.on('stopped', (stats) => seen.push(['stopped', stats.complete]));
    await w.start();
    assert.deepEqual(seen, ['started']);

    let job = await q.enqueue('add', { a: 2, b: 3 });
    let [got, result] = await nextEvent(w, 'completed', job.key);
    assert.equal(got.status, 'complete');
    assert.equal(got.result, 5);
    assert.equal(result, 5);
    assert.equal(got.workerId, w.id);
    assert.equal((await q.job(job.key)).status, 'complete', "stored before 'completed'");

    job = await q.enqueue('explode', {});
    let err;
    [got, err] = await nextEvent(w, 'failed', job.key);
    assert.equal(got.status, 'failed');
    assert.strictEqual(err, boom, 'the very error the handler threw');
    assert.match(got.error, /^RangeError: boom/);

    job = await q.enqueue('flaky', { retries: 2 });
    const retried = nextEvent(w, 'retried', job.key);
    const completed = nextEvent(w, 'completed', job.key);
    [got, err] = await retried;
    assert.equal(got.status, 'queued');
    assert.equal(got.attempts, 1);
    assert.equal(err.message, 'attempt 1');
    [got, result] = await completed;
    assert.equal(result, 'ok');
    assert.equal(got.attempts, 2);

    job = await q.enqueue('text', {});
    [got, err] = await nextEvent(w, 'failed', job.key);
    assert.ok(err instanceof JobError, 'a thrown non-Error becomes a JobError');
    assert.equal(err.message, 'not an Error');
    assert.equal(err.job.key, job.key);

    job = await q.enqueue('slow', { timeout: 0.3 });
    [got, err] = await nextEvent(w, 'failed', job.key);
    assert.ok(err instanceof CancelledError, `${err}`);
    assert.equal(err.reason, 'timeout');

    job = await q.enqueue('slow', {});
    await waitStatus(q, job.key, 'active');
    const aborted = nextEvent(w, 'aborted', job.key);
    await q.abort(job.key, 'no longer needed');
    [got] = await aborted;
    assert.equal(got.status, 'aborted');

    await w.stop();
    assert.deepEqual(seen, ['started', ['stopped', 2]]);
    await q.close();
  });

  test("'error': a worker on an unreachable Redis reports it with its code, only to a listener", async () => {
    const port = await closedPort();
    const q = Queue.fromUrl(`redis://127.0.0.1:${port}/0`, { name: uniqueName('werr'), logger: false, connectTimeout: 0.2 });
    const w = new Worker(q, { functions: { noop: () => null } });
    const errors = [];
    w.on('error', (e) => errors.push(e));
    try {
      await w.start();
      const err = await waitFor(() => errors[0], { what: "an 'error' event" });
      assert.ok(err instanceof SaqError, `${err}`);
      assert.match(err.code, /^SAQ_E(CONN|TIMEDOUT)$/, `${err.code}: ${err.message}`);
      assert.equal(err.fields.queue, q.name, JSON.stringify(err.fields));
      assert.equal(err.fields.error, err.code);
    } finally {
      await q.close({ timeout: 0.1 });
    }
    // without a listener nothing throws (an EventEmitter's unheard 'error' would)
    const r = await runNode(`
      const { Queue, Worker } = require(process.env.SAQ_PKG);
      const q = Queue.fromUrl('redis://127.0.0.1:${port}/0', { logger: false, connectTimeout: 0.2 });
      const w = new Worker(q, { functions: { noop: () => null } });
      w.start().then(() => new Promise((r) => setTimeout(r, 1500))).then(() => q.close({ timeout: 0.1 }))
        .then(() => console.log('closed'));`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'closed');
  });
});

describe('overview, metrics, iterJobs', () => {
  test('overview: counts by state, oldest age, workers, totals', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('overview'), logger: false });
    try {
      for (let i = 0; i < 3; i++) await q.enqueue('add', { a: i, b: 1 });
      await q.enqueue('add', { a: 0, b: 0, scheduled: Date.now() / 1000 + 3600 });
      let o = await q.overview();
      assert.equal(o.queue, q.name);
      assert.deepEqual(o.jobs, { queued: 3, active: 0, scheduled: 1, incomplete: 4 });
      assert.equal(typeof o.oldestQueuedAgeSeconds, 'number');
      assert.ok(o.oldestQueuedAgeSeconds >= 0 && o.oldestQueuedAgeSeconds < 60, `${o.oldestQueuedAgeSeconds}`);
      assert.ok(Math.abs(o.timeMs - Date.now()) < 60000);
      assert.equal(o.workersAlive, 0);
      assert.deepEqual(o.workers, []);

      const w = new Worker(q, { functions: { add: (job) => job.kwargs.a + job.kwargs.b }, metadata: { host: 'test' } });
      await w.start();
      o = await waitFor(async () => {
        const v = await q.overview();
        return v.totals.complete === 3 ? v : null;
      }, { what: 'overview totals.complete 3 (registry lag)' });
      assert.deepEqual([o.jobs.queued, o.jobs.scheduled, o.workersAlive], [0, 1, 1]);
      assert.equal(o.oldestQueuedAgeSeconds, null);
      const me = o.workers.find((x) => x.id === w.id);
      assert.ok(me, JSON.stringify(o.workers));
      assert.equal(me.libsaq, true);
      assert.equal(me.complete, 3);
      assert.deepEqual(me.metadata, { host: 'test' });
      assert.equal(typeof me.uptimeMs, 'number');
      assert.ok(o.perMinute === null || typeof o.perMinute.windowSeconds === 'number');
      await w.stop();
    } finally {
      await q.close();
    }
  });

  test('metrics: Prometheus text of the queue and of the worker, merged by collectMetrics', async () => {
    await quietWorker({ functions: { add: (job) => job.kwargs.a + job.kwargs.b, bad: () => { throw new Error('no'); } } }, async (q, w) => {
      for (let i = 0; i < 2; i++) await waitStatus(q, (await q.enqueue('add', { a: i, b: 1 })).key, 'complete');
      await waitStatus(q, (await q.enqueue('bad', {})).key, 'failed');
      await q.enqueue('add', { a: 0, b: 0, scheduled: Date.now() / 1000 + 3600 });
      const text = await q.metrics();
      const name = q.name;
      assert.match(text, /^# HELP saq_queue_jobs /m);
      assert.match(text, /^# TYPE saq_queue_jobs gauge$/m);
      assert.match(text, new RegExp(`^saq_queue_jobs\\{queue="${name}",state="scheduled"\\} 1$`, 'm'));
      assert.match(text, new RegExp(`^saq_queue_workers\\{queue="${name}"\\} 1$`, 'm'));

      const own = w.metrics();
      assert.match(own, /^# TYPE saq_jobs_processed_total counter$/m);
      assert.match(own, new RegExp(`^saq_jobs_processed_total\\{[^}]*function="add"[^}]*outcome="complete"[^}]*\\} 2$`, 'm'));
      assert.match(own, new RegExp(`^saq_jobs_processed_total\\{[^}]*function="bad"[^}]*outcome="failed"[^}]*\\} 1$`, 'm'));
      assert.match(own, /^# TYPE saq_job_duration_seconds histogram$/m);
      assert.match(own, /^saq_job_duration_seconds_count\{[^}]*function="add"[^}]*\} 2$/m);

      // two queues' expositions: each family once
      const q2 = Queue.fromUrl(REDIS_URL, { name: uniqueName('metrics2'), logger: false });
      const all = await collectMetrics(q, q2, w, '# HELP app_up Up.\n# TYPE app_up gauge\napp_up 1\n');
      await q2.close();
      assert.equal(all.match(/^# TYPE saq_queue_jobs gauge$/gm).length, 1, all);
      assert.match(all, new RegExp(`^saq_queue_jobs\\{queue="${q2.name}",state="queued"\\} 0$`, 'm'));
      assert.match(all, /^saq_jobs_processed_total\{/m);
      assert.match(all, /^# TYPE app_up gauge\napp_up 1$/m);
      assert.equal(metricsContentType, 'text/plain; version=0.0.4; charset=utf-8');
    });
  });

  test('merge keeps a family together (histogram samples under one # TYPE)', () => {
    const a = '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1",q="a"} 1\nh_bucket{le="+Inf",q="a"} 1\nh_sum{q="a"} 0.5\nh_count{q="a"} 1\n';
    const b = '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1",q="b"} 0\nh_bucket{le="+Inf",q="b"} 2\nh_sum{q="b"} 4\nh_count{q="b"} 2\n# HELP c C.\n# TYPE c counter\nc_total 3\n';
    assert.equal(merge([a, b]), '# HELP h H.\n# TYPE h histogram\n' +
      'h_bucket{le="1",q="a"} 1\nh_bucket{le="+Inf",q="a"} 1\nh_sum{q="a"} 0.5\nh_count{q="a"} 1\n' +
      'h_bucket{le="1",q="b"} 0\nh_bucket{le="+Inf",q="b"} 2\nh_sum{q="b"} 4\nh_count{q="b"} 2\n' +
      '# HELP c C.\n# TYPE c counter\nc_total 3\n');
  });

  test('jobPages: a page is empty only when the scan is over, and the cursor moves on', async () => {
    // one failed job among 150 queued ones, 2 keys per SCAN step: libsaq goes on scanning within
    // a call until it has a job to return
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('pages'), logger: false });
    try {
      await q.enqueueMany(Array.from({ length: 150 }, (_, i) => ({ fn: 'later', kwargs: { i } })));
      const failed = (await q.enqueue('missing', { retries: 0 })).key;
      await q.finish(failed, 'failed', { error: 'no' });
      const seen = [];
      let cursor = '0';
      let pages = 0;
      for await (const page of q.jobPages({ statuses: ['failed'], count: 2 })) {
        pages += 1;
        assert.ok(page.jobs.length > 0 || page.cursor === null, `page ${pages} is empty but the scan goes on (${page.cursor})`);
        if (page.cursor !== null) assert.notEqual(page.cursor, cursor, 'the cursor moves on');
        cursor = page.cursor;
        seen.push(...page.jobs.map((j) => j.key));
      }
      assert.deepEqual([...new Set(seen)], [failed]);
      assert.ok(pages <= 2, `${pages} pages`); // the page with the job, and maybe an empty last one
    } finally {
      await q.close();
    }
  });

  test('iterJobs and jobPages: every job once over several pages, statuses, resume by cursor', async () => {
    await quietWorker({ functions: { add: (job) => job.kwargs.a } }, async (q) => {
      const done = [];
      for (let i = 0; i < 5; i++) done.push((await q.enqueue('add', { a: i })).key);
      for (const k of done) await waitStatus(q, k, 'complete');
      const waiting = [];
      for (let i = 0; i < 20; i++) waiting.push((await q.enqueue('later', { i, scheduled: Date.now() / 1000 + 3600 })).key);

      const keys = [];
      for await (const job of q.iterJobs()) keys.push(job.key);
      assert.deepEqual([...new Set(keys)].sort(), [...done, ...waiting].sort());

      const pages = [];
      for await (const page of q.jobPages({ count: 3 })) pages.push(page);
      assert.ok(pages.length > 1, `${pages.length} page(s)`);
      assert.equal(pages[pages.length - 1].cursor, null);
      assert.ok(pages.slice(0, -1).every((p) => typeof p.cursor === 'string' && p.cursor !== '0'));
      const paged = new Set(pages.flatMap((p) => p.jobs.map((j) => j.key)));
      assert.equal(paged.size, 25);

      // resume from the first page's cursor: the rest of the scan
      const rest = new Set(pages[0].jobs.map((j) => j.key));
      for await (const page of q.jobPages({ count: 3, cursor: pages[0].cursor })) page.jobs.forEach((j) => rest.add(j.key));
      assert.equal(rest.size, 25);

      const complete = [];
      for await (const job of q.iterJobs({ statuses: ['complete'] })) complete.push(job);
      assert.deepEqual(complete.map((j) => j.key).sort(), [...done].sort());
      assert.ok(complete.every((j) => j.status === 'complete' && typeof j.result === 'number'));
      let n = 0;
      for await (const job of q.iterJobs({ statuses: 'queued,active' })) n += job.function === 'later' ? 1 : 0;
      assert.equal(n, 20);
      await assert.rejects(q.iterJobs({ statuses: ['done'] }).next(), (e) => e.code === 'SAQ_EINVAL');
      await assert.rejects(q.iterJobs({ count: 0 }).next(), (e) => e.code === 'SAQ_EINVAL');
    });
  });
});

describe('final stats and traceparent', () => {
  test("a stopped worker's stats and metrics stay readable", async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('final'), logger: false });
    const w = new Worker(q, { functions: { add: (job) => job.kwargs.a, bad: () => { throw new Error('x'); } } });
    await w.start();
    await waitStatus(q, (await q.enqueue('add', { a: 1 })).key, 'complete');
    await waitStatus(q, (await q.enqueue('add', { a: 2 })).key, 'complete');
    await waitStatus(q, (await q.enqueue('bad', {})).key, 'failed');
    let stopped = null;
    w.on('stopped', (s) => {
      stopped = s;
    });
    await w.stop();
    await q.close();
    const s = w.stats();
    assert.deepEqual([s.complete, s.failed, s.running], [2, 1, 0]);
    assert.deepEqual(stopped, s);
    assert.match(w.metrics(), /^saq_jobs_processed_total\{[^}]*function="add"[^}]*outcome="complete"[^}]*\} 2$/m);
  });

  test('traceparent: from enqueue (and apply) to the handler, kept in meta; malformed is SAQ_EINVAL', async () => {
    const seen = [];
    await quietWorker({
      functions: {
        traced: async (job) => {
          seen.push([job.key, job.traceparent, job.meta.traceparent]);
          return job.traceparent;
        },
      },
    }, async (q) => {
      const job = await q.enqueue('traced', { x: 1, meta: { tenant: 'a' } }, { traceparent: TRACEPARENT });
      assert.equal(job.traceparent, TRACEPARENT);
      assert.deepEqual(job.meta, { tenant: 'a', traceparent: TRACEPARENT });
      assert.deepEqual(job.kwargs, { x: 1 });
      const done = await waitStatus(q, job.key, 'complete');
      assert.equal(done.result, TRACEPARENT);
      assert.deepEqual(seen[0], [job.key, TRACEPARENT, TRACEPARENT]);

      const other = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
      assert.equal(await q.apply('traced', {}, { timeout: 5, traceparent: other }), other);
      // set by another language: meta.traceparent as saq keeps it
      const py = await q.enqueue('traced', { meta: { traceparent: other } });
      assert.equal(py.traceparent, other);
      const plain = await q.enqueue('traced', {});
      assert.equal(plain.traceparent, null);
      await waitStatus(q, plain.key, 'complete');
      assert.deepEqual(seen.find((e) => e[0] === plain.key), [plain.key, null, undefined]);

      await assert.rejects(q.enqueue('traced', {}, { traceparent: '00-abc-def-01' }),
        (e) => e instanceof SaqError && e.code === 'SAQ_EINVAL');
      await assert.rejects(q.enqueue('traced', {}, { traceparent: 7 }), TypeError);
    });
  });
});
