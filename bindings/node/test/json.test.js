// SPDX-License-Identifier: MIT
'use strict';
// JSON values JavaScript cannot hold exactly (integers beyond 2^53, -0.0, 1.0
// as a float) and the NaN/Infinity codec: the exact paths (rawJson, the
// *Json texts of a Job, bigint mode) and no string ever decoding to a number.
const { test, describe } = require('node:test');
const assert = require('assert');
const { execFile } = require('child_process');
const { REDIS_URL, uniqueName, waitStatus } = require('./helpers');
const { Queue, Worker, JobError, rawJson } = require('..');
const json = require('../lib/json');

const PY = process.env.SAQ_PYTHON;
const EXACT = '{"n": 12345678901234567890, "z": -0.0, "o": 1.0}';

function python(code, args) {
  return new Promise((resolve, reject) => {
    execFile(PY, ['-c', code, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${PY} failed: ${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

describe('the NaN-aware codec', () => {
  test('a string equal to an internal marker stays a string, both ways', () => {
    // the old codec rewrote bare NaN/Infinity tokens into "\u0000saq:..."
    // strings and turned every such string back into a number
    const v = json.parse('[NaN, "\\u0000saq:Infinity", "\\u0000saq:NaN", {"k": "\\u0000saq:-Infinity"}]');
    assert.ok(Number.isNaN(v[0]));
    assert.deepEqual(v.slice(1), ['\u0000saq:Infinity', '\u0000saq:NaN', { k: '\u0000saq:-Infinity' }]);
    assert.equal(json.stringify(['\u0000saq:NaN', NaN, { k: '\u0000saq:Infinity' }]),
      '["\\u0000saq:NaN",NaN,{"k":"\\u0000saq:Infinity"}]');
  });

  test('tokens inside strings, escapes, __proto__ and malformed text', () => {
    const v = json.parse('{"a": "x\\"NaN\\\\", "b": -Infinity, "__proto__": {"p": 1}, "c": [1e400, -0.0]}');
    assert.equal(v.a, 'x"NaN\\');
    assert.equal(v.b, -Infinity);
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, '__proto__').value, { p: 1 });
    assert.equal(v.c[0], Infinity);
    assert.ok(Object.is(v.c[1], -0));
    for (const bad of ['[NaN,]', 'NaNx', '-NaN', '[nan, NaN]', '{"a" NaN}', '[NaN', '"\u0001" NaN']) {
      assert.throws(() => json.parse(bad), SyntaxError, bad);
    }
  });

  test('BigInt and RawJson are written exactly; cycles still throw', () => {
    assert.equal(json.stringify({ n: 12345678901234567890n, r: rawJson('-0.0'), x: NaN, u: undefined }),
      '{"n":12345678901234567890,"r":-0.0,"x":NaN}');
    assert.equal(json.stringify(rawJson(EXACT)), EXACT);
    const a = [NaN];
    a.push(a);
    assert.throws(() => json.stringify(a), TypeError);
    assert.deepEqual(json.parse(EXACT, null, { bigint: true }), { n: 12345678901234567890n, z: -0, o: 1 });
    assert.equal(typeof json.parse('[9007199254740993, 9007199254740991]', null, { bigint: true })[1], 'number');
    assert.throws(() => rawJson('1\u0000'), TypeError);
  });
});

describe('exact kwargs and results through Redis', () => {
  test('rawJson kwargs, job.kwargsJson, a rawJson result, apply/map { rawJson: true }', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('exact') });
    const w = new Worker(q, {
      functions: {
        echo: async (job) => rawJson(job.kwargsJson),
        lossy: async (job) => job.kwargs,
      },
    });
    await w.start();
    try {
      const job = await q.enqueue('lossy', rawJson(EXACT));
      assert.equal(job.kwargsJson, EXACT);
      assert.equal(job.kwargs.n, 12345678901234567000); // what JSON.parse makes of it
      const done = await waitStatus(q, job.key, 'complete');
      assert.equal(done.kwargsJson, EXACT);
      assert.notEqual(done.resultJson, EXACT); // the JavaScript values changed
      assert.equal(await q.apply('echo', rawJson(EXACT), { rawJson: true, timeout: 10 }), EXACT);
      assert.deepEqual(await q.map('echo', [rawJson(EXACT), { a: 1 }], { rawJson: true, timeout: 10 }), [EXACT, '{"a": 1}']);
      const fin = await q.enqueue('nobody');
      const after = await q.finish(fin, 'complete', { result: rawJson('[1.0, -0.0, 12345678901234567890]') });
      assert.equal(after.resultJson, '[1.0, -0.0, 12345678901234567890]');
      await after.refresh();
      assert.equal(after.resultJson, '[1.0, -0.0, 12345678901234567890]');
    } finally {
      await w.stop();
      await q.close();
    }
  });

  test('bigint mode reads integers beyond 2^53 exactly; BigInt results are written exactly', async () => {
    const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('bigint'), bigint: true });
    let seen = null;
    const w = new Worker(q, {
      functions: {
        big: async (job) => {
          seen = job.kwargs;
          return { n: job.kwargs.n + 1n };
        },
      },
    });
    await w.start();
    try {
      const res = await q.apply('big', rawJson('{"n": 12345678901234567890, "small": 3}'), { timeout: 10 });
      assert.deepEqual(seen, { n: 12345678901234567890n, small: 3 });
      assert.deepEqual(res, { n: 12345678901234567891n });
      const info = await q.info({ jobs: true });
      assert.equal(info.jobs.length, 0);
    } finally {
      await w.stop();
      await q.close();
    }
  });

  const PY_APPLY = `
import asyncio, json, math, sys
from saq import Queue
async def main(url, name):
    q = Queue.from_url(url, name=name)
    res = await q.apply("echo", n=12345678901234567890, z=-0.0, o=1.0, timeout=10)
    ok = (res["n"] == 12345678901234567890 and isinstance(res["n"], int)
          and isinstance(res["z"], float) and math.copysign(1.0, res["z"]) == -1.0
          and isinstance(res["o"], float) and res["o"] == 1.0)
    print(json.dumps({"ok": ok, "res": repr(res)}))
    await q.disconnect()
asyncio.run(main(sys.argv[1], sys.argv[2]))
`;

  test('kwargs 12345678901234567890, -0.0 and 1.0 enqueued by Python arrive exactly and go back exactly',
    { skip: !PY && 'SAQ_PYTHON is not set' }, async () => {
      const name = uniqueName('pyexact');
      const q = Queue.fromUrl(REDIS_URL, { name });
      let seen = null;
      const w = new Worker(q, {
        functions: {
          echo: async (job) => {
            seen = job.kwargsJson;
            return rawJson(job.kwargsJson);
          },
        },
      });
      await w.start();
      try {
        const out = JSON.parse(await python(PY_APPLY, [REDIS_URL, name]));
        assert.equal(seen, EXACT);
        assert.ok(out.ok, out.res);
      } finally {
        await w.stop();
        await q.close();
      }
    });
});

test('a handler error larger than max_payload_bytes fails the job at once', async () => {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('hugeerr'), maxPayloadBytes: 64 * 1024 });
  const w = new Worker(q, {
    functions: {
      boom: async () => {
        throw new Error('x'.repeat(100 * 1024));
      },
    },
  });
  await w.start();
  try {
    await assert.rejects(q.apply('boom', {}, { timeout: 10 }), (err) => {
      assert.ok(err instanceof JobError, String(err));
      assert.equal(err.job.status, 'failed');
      assert.match(err.job.error, /^Error: xxxx[\s\S]*cut to fit max_payload_bytes/);
      return true;
    });
  } finally {
    await w.stop();
    await q.close();
  }
});

test('a NUL character in a thrown error does not cut the stored error text short', async () => {
  const q = Queue.fromUrl(REDIS_URL, { name: uniqueName('nulerr') });
  const w = new Worker(q, {
    functions: {
      boom: async () => {
        throw new Error('before\u0000after');
      },
    },
  });
  await w.start();
  try {
    await assert.rejects(q.apply('boom', {}, { timeout: 10 }), (err) => {
      assert.ok(err instanceof JobError, String(err));
      assert.match(err.job.error, /^Error: before\\x00after\n {4}at /);
      return true;
    });
  } finally {
    await w.stop();
    await q.close();
  }
});
