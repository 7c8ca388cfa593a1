#!/usr/bin/env node
// SPDX-License-Identifier: MIT
'use strict';
// A job round trip with libsaq: a worker and a client in one process.
//   REDIS_URL=redis://127.0.0.1:6379/0 node examples/roundtrip.js
// Prints one JSON line and exits on its own (an idle queue does not keep the
// process alive).
const { Queue, Worker, JobError } = require('libsaq');

async function main() {
  const queue = Queue.fromUrl(process.env.REDIS_URL || 'redis://localhost:6379/0', {
    name: process.env.SAQ_QUEUE || `example-${process.pid}`,
  });
  const worker = new Worker(queue, {
    concurrency: 4,
    functions: {
      // handlers are async functions (job, { signal }); the signal fires on
      // timeout, abort and shutdown
      add: async (job) => job.kwargs.a + job.kwargs.b,
      sleepy: async (job, { signal }) => {
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, job.kwargs.ms);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(signal.reason);
          });
        });
        return 'rested';
      },
      broken: async () => {
        throw new Error('this job always fails');
      },
    },
  });
  await worker.start();

  const job = await queue.enqueue('add', { a: 1, b: 2, timeout: 5 }); // timeout is a job option (seconds)
  const sum = await queue.apply('add', { a: 20, b: 22 }, { timeout: 5 });
  const many = await queue.map('add', [{ a: 1 }, { a: 2 }], { defaults: { b: 100 }, timeout: 5 });
  let failure = null;
  try {
    await queue.apply('broken', {}, { timeout: 5 });
  } catch (err) {
    if (!(err instanceof JobError)) throw err;
    failure = err.job.error.split('\n')[0];
  }
  // an element's own timeout (a job option) beats the map's, as in saq
  const timedOut = await queue.map('sleepy', [{ ms: 10 }, { ms: 5000, timeout: 0.5 }], { timeout: 5, returnExceptions: true });
  const first = await queue.job(job.key);

  await worker.stop();
  await queue.close();
  const ok = first.status === 'complete' && first.result === 3 && sum === 42;
  console.log(JSON.stringify({
    ok,
    enqueued: { key: job.key, status: first.status, result: first.result },
    apply: sum,
    map: many,
    failure,
    timedOut: timedOut.map((r) => (r instanceof Error ? `${r.job.status}: ${r.job.error.split('\n')[0]}` : r)),
  }));
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
