// SPDX-License-Identifier: MIT
'use strict';
// Node binding (libsaq) side of libsaq's benchmark harness (bench/run); the
// protocol is that of bench/c/saq_bench.c:
//   node bench.js enqueue URL QUEUE N INFLIGHT
//   node bench.js enqueue-bulk URL QUEUE N CHUNK   queue.enqueueMany of CHUNK jobs, sequentially
//   node bench.js worker  URL QUEUE CONCURRENCY EXPECT REMAINING
//   node bench.js apply   URL QUEUE N
// The package is loaded from $SAQ_NODE_PKG (a built copy of bindings/node that
// bench/run prepares), else from the checkout's bindings/node.
const path = require('path');
const readline = require('readline');
const { Queue, Worker } = require(process.env.SAQ_NODE_PKG || path.join(__dirname, '..', '..', 'bindings', 'node'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lines = () => {
  const it = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    return r.done ? '' : r.value.trim();
  };
};

async function connect(url, name, maxConcurrentOps = 20) {
  const q = Queue.fromUrl(url, { name, maxConcurrentOps });
  await q.count('queued');
  return q;
}

async function enqueue(url, name, n, inflight) {
  const q = await connect(url, name, inflight);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await q.enqueue('noop');
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, lane));
  console.log(JSON.stringify({ jobs: n, elapsed: (performance.now() - t0) / 1000 }));
  await q.close();
}

async function enqueueBulk(url, name, n, chunk) {
  const q = await connect(url, name);
  const t0 = performance.now();
  for (let i = 0; i < n; i += chunk) {
    await q.enqueueMany(Array.from({ length: Math.min(chunk, n - i) }, () => ({ fn: 'noop' })));
  }
  console.log(JSON.stringify({ jobs: n, elapsed: (performance.now() - t0) / 1000 }));
  await q.close();
}

async function worker(url, name, concurrency, expect, remaining) {
  const q = await connect(url, name);
  let handled = 0;
  let reached;
  const reachedP = new Promise((r) => { reached = r; });
  const count = () => { if (++handled === expect) reached(); };
  const w = new Worker(q, {
    concurrency,
    functions: {
      noop: async () => { count(); return 1; },
      sleep: async (job) => { await sleep(job.kwargs.s * 1000); count(); return 1; },
    },
  });
  const next = lines();
  console.log('ready');
  if ((await next()) !== 'go') process.exit(1);
  const t0 = Date.now() / 1000;
  await w.start();
  console.log('started');
  if (expect > 0) {
    await reachedP;
    while ((await q.count('incomplete')) > remaining) await sleep(0.2);
    const t1 = Date.now() / 1000;
    console.log(JSON.stringify({ jobs: expect, t0, t1, elapsed: t1 - t0 }));
  }
  for (;;) {
    const l = await next();
    if (l === 'stop' || l === '') break;
  }
  await w.stop({ grace: 1 });
  await q.close();
}

async function apply(url, name, n) {
  const q = await connect(url, name);
  const lat = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await q.apply('noop', {}, { timeout: 10 });
    lat.push(performance.now() - t);
  }
  console.log(JSON.stringify({ jobs: n, lat_ms: lat }));
  await q.close();
}

async function main() {
  const [cmd, url, name, a, b, c] = process.argv.slice(2);
  if (cmd === 'enqueue') await enqueue(url, name, Number(a), Number(b));
  else if (cmd === 'enqueue-bulk') await enqueueBulk(url, name, Number(a), Number(b));
  else if (cmd === 'worker') await worker(url, name, Number(a), Number(b), Number(c));
  else if (cmd === 'apply') await apply(url, name, Number(a));
  else {
    console.error('usage: bench.js enqueue|enqueue-bulk|worker|apply ...');
    process.exit(2);
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
