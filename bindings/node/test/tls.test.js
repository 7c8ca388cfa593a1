// SPDX-License-Identifier: MIT
'use strict';
// rediss:// with the URL of tests/support/with-redis --tls (REDIS_TLS_URL,
// redis-py's ssl_ca_certs parameter) passed unchanged.
const { test, describe } = require('node:test');
const assert = require('assert');
const { REDIS_URL, uniqueName, waitStatus } = require('./helpers');
const { Queue, Worker, SaqError, codes } = require('..');

const TLS_URL = process.env.REDIS_TLS_URL;
if (!TLS_URL) {
  throw new Error('REDIS_TLS_URL is not set: run the tests under tests/support/with-redis --tls (see run-tests.sh)');
}

describe('TLS (rediss://)', () => {
  test('round trip: enqueue, a worker runs it, apply', async () => {
    const q = Queue.fromUrl(TLS_URL, { name: uniqueName('tls') });
    const w = new Worker(q, { functions: { add: (job) => job.kwargs.a + job.kwargs.b } });
    try {
      assert.match(await q.ping(), /^\d+\.\d+\.\d+$/);
      await w.start();
      const job = await q.enqueue('add', { a: 40, b: 2 });
      const done = await waitStatus(q, job.key, 'complete');
      assert.equal(done.result, 42);
      assert.equal(await q.apply('add', { a: 1, b: 2 }, { timeout: 5 }), 3); // pub/sub over TLS
      // the same record through the plaintext port of the same server
      const plain = Queue.fromUrl(REDIS_URL, { name: q.name });
      try {
        assert.equal((await plain.job(job.key)).status, 'complete');
      } finally {
        await plain.close();
      }
    } finally {
      await w.stop({ grace: 0 });
      await q.close();
    }
  });

  test('a server certificate of another CA rejects with SAQ_ETLS', async () => {
    assert.ok(TLS_URL.includes('/ca.pem'), `REDIS_TLS_URL ${TLS_URL} has no ssl_ca_certs=.../ca.pem`);
    const q = Queue.fromUrl(TLS_URL.replace('/ca.pem', '/other-ca.pem'), { name: uniqueName('tlsca') });
    try {
      await assert.rejects(q.ping(), (err) => {
        assert.ok(err instanceof SaqError, `${err}`);
        assert.equal(err.code, 'SAQ_ETLS', err.message);
        assert.equal(err.errno, codes.ETLS);
        assert.match(err.message, /certificate/);
        return true;
      });
    } finally {
      await q.close();
    }
  });
});
