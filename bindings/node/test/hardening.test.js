// SPDX-License-Identifier: MIT
'use strict';
// Regressions from break-testing the binding with hostile and careless usage.
const { test, describe } = require('node:test');
const assert = require('assert');
const { spawn } = require('child_process');
const { REDIS_URL, uniqueName, pkgDir, privateRedis } = require('./helpers');
const { Queue, Worker, SaqError, JobError } = require('..');

describe('hostile handlers and arguments', () => {
  test('any thrown value fails the job; no unhandled rejection, no leaked slot', async () => {
    const unhandled = [];
    const onUnhandled = (e) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const warnings = [];
    const onWarning = (w) => warnings.push(w.message);
    process.on('warning', onWarning);
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('hostile') });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    class BadMessage extends Error {
      get message() {
        throw new Error('message getter');
      }
    }
    const w = new Worker(q, {
      concurrency: 4,
      functions: {
        proxy: async () => {
          throw revoked.proxy;
        },
        badMessage: async () => {
          throw new BadMessage();
        },
        str: async () => {
          throw 'plain string';
        },
        undef: async () => {
          throw undefined;
        },
        toJSONThrows: async () => ({
          toJSON() {
            throw 'not serialisable'; // eslint-disable-line no-throw-literal
          },
        }),
      },
      afterProcess: (ctx) => {
        if (ctx.job.function === 'str') throw new BadMessage();
      },
    });
    try {
      await w.start();
      const outcome = async (fn) => {
        try {
          await q.apply(fn, {}, { timeout: 5 });
          return 'resolved';
        } catch (e) {
          assert.ok(e instanceof JobError, `${fn}: ${e.code} ${e.message}`);
          return e.job.error;
        }
      };
      assert.match(await outcome('proxy'), /Revoked Proxy/);
      assert.equal(typeof (await outcome('badMessage')), 'string');
      assert.equal(await outcome('str'), 'plain string');
      assert.equal(await outcome('undef'), 'undefined');
      assert.match(await outcome('toJSONThrows'), /cannot be stored as JSON: not serialisable/);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(w.stats().running, 0, 'every lease was given back');
      assert.deepEqual(unhandled, []);
      assert.ok(warnings.some((m) => m.includes('afterProcess hook failed')), warnings.join('; '));
    } finally {
      await w.stop({ grace: 0 });
      await q.close();
      process.removeListener('unhandledRejection', onUnhandled);
      process.removeListener('warning', onWarning);
    }
  });

  test('careless arguments give clear errors instead of wrong results', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('careless') });
    try {
      // a NUL would cut the string short in C: another function, another key
      await assert.rejects(q.enqueue('add\u0000evil'), (e) => e instanceof TypeError && /NUL/.test(e.message));
      await assert.rejects(q.job('k\u0000x'), (e) => e instanceof TypeError && /NUL/.test(e.message));
      assert.throws(() => Queue.fromUrl(REDIS_URL, { name: 'a\u0000b' }), (e) => e instanceof TypeError);
      // one key is one key, not its characters
      const j = await q.enqueue('f');
      const [one] = await q.jobs(j.key);
      assert.equal(one.key, j.key);
      assert.equal((await q.jobs(j.key)).length, 1);
      await assert.rejects(q.jobs(undefined), TypeError);
      await assert.rejects(q.map('f', 5), TypeError);
      await assert.rejects(q.map('f', null), TypeError);
      assert.throws(() => q.listen(5), TypeError);
      await assert.rejects(q.listen(5, () => true), TypeError);
      // libsaq's message already names the key
      assert.throws(() => Queue.fromUrl('http://x'), (e) => e instanceof SaqError && !/url: url:/.test(e.message) && /^url: /.test(e.message));
      // a stopped-before-start worker says so
      const w = new Worker(q, { functions: { f: async () => 1 } });
      await w.stop();
      await assert.rejects(w.start(), (e) => e.code === 'SAQ_ESTATE' && /stopped before it started/.test(e.message));
    } finally {
      await q.close();
    }
  });

  test('Infinity as a wait timeout means none (not "out of memory")', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('inf') });
    const w = new Worker(q, { functions: { add: async (job) => job.kwargs.a + job.kwargs.b } });
    try {
      await w.start();
      assert.equal(await q.apply('add', { a: 1, b: 2 }, { timeout: Infinity }), 3);
      assert.deepEqual(await q.map('add', [{ a: 1, b: 1 }], { timeout: Infinity }), [2]);
    } finally {
      await w.stop({ grace: 0 });
      await q.close();
    }
  });
});

test('close() finishes when Redis died under a busy worker, and the process exits cleanly', async (t) => {
  const redis = await privateRedis(t);
  if (!redis) return;
  try {
    const { url } = redis;
    // The child runs two jobs (one finishes after Redis is gone, so its
    // outcome can never be written; one never finishes), then the parent
    // kills Redis and the child closes its queue.
    const script = `
      const { Queue, Worker } = require(process.env.SAQ_PKG);
      const q = Queue.fromUrl(${JSON.stringify(url)}, { name: 'dead' });
      const w = new Worker(q, { functions: {
        slow: () => new Promise((r) => setTimeout(() => r(1), 800)),
        never: () => new Promise(() => {}),
      } });
      process.stdin.once('data', async () => {
        process.stdin.pause();
        await new Promise((r) => setTimeout(r, 1200));
        await q.close({ timeout: 0.3 });
        console.log('closed');
      });
      (async () => {
        await w.start();
        await q.enqueue('slow', { timeout: 60 });
        await q.enqueue('never', { timeout: 60 });
        while (w.stats().running < 2) await new Promise((r) => setTimeout(r, 20));
        console.log('running');
      })();
    `;
    const child = spawn(process.execPath, ['-e', script], {
      cwd: pkgDir,
      env: { ...process.env, SAQ_PKG: pkgDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('running') && !child.told) {
        child.told = true;
        redis.stop();
        child.stdin.end('go\n');
      }
    });
    const { code, signal } = await exited;
    clearTimeout(killer);
    assert.equal(signal, null, `the child hung or crashed (signal ${signal}): ${stderr}`);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /closed/);
  } finally {
    redis.stop();
  }
});
