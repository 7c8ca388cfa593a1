// SPDX-License-Identifier: MIT
'use strict';
// Interop with Python saq 0.26: a job enqueued by Python is run by the Node
// worker, and Python reads the outcome. SAQ_PYTHON names a python with
// saq[redis]==0.26.x installed (run-tests.sh sets it); without it the test
// is skipped.
const { test } = require('node:test');
const assert = require('assert');
const { execFile } = require('child_process');
const { REDIS_URL, uniqueName, waitStatus } = require('./helpers');
const { Queue, Worker } = require('..');

const PY = process.env.SAQ_PYTHON;

function python(code, args) {
  return new Promise((resolve, reject) => {
    execFile(PY, ['-c', code, ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${PY} failed: ${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

const ENQUEUE = `
import asyncio, sys
from saq import Queue
async def main(url, name):
    q = Queue.from_url(url, name=name)
    job = await q.enqueue("add", a=1, b=2)
    print(job.key)
    await q.disconnect()
asyncio.run(main(sys.argv[1], sys.argv[2]))
`;

const READ = `
import asyncio, json, sys
import saq
from saq import Queue
async def main(url, name, key):
    q = Queue.from_url(url, name=name)
    job = await q.job(key)
    print(json.dumps({"version": saq.__version__, "status": job.status.value if hasattr(job.status, "value") else str(job.status),
                      "result": job.result, "attempts": job.attempts, "worker_id": job.worker_id}))
    await q.disconnect()
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
`;

test('a job enqueued by Python saq 0.26 is run by the Node worker; Python reads the result', { skip: !PY && 'SAQ_PYTHON is not set' }, async () => {
  const name = uniqueName('py');
  const q = Queue.fromUrl(REDIS_URL, { name });
  const w = new Worker(q, { functions: { add: async (job) => job.kwargs.a + job.kwargs.b } });
  await w.start();
  try {
    const key = await python(ENQUEUE, [REDIS_URL, name]);
    assert.ok(key.length > 0);
    const done = await waitStatus(q, key, 'complete', 15000);
    assert.equal(done.result, 3);
    const seen = JSON.parse(await python(READ, [REDIS_URL, name, key]));
    assert.match(seen.version, /^0\.26\./);
    assert.equal(seen.status, 'complete');
    assert.equal(seen.result, 3);
    assert.equal(seen.attempts, 1);
    assert.equal(seen.worker_id, w.id);
  } finally {
    await w.stop();
    await q.close();
  }
});
