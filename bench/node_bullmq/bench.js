// SPDX-License-Identifier: MIT
'use strict';
// BullMQ side of libsaq's benchmark harness (bench/run).
//
//   node bench.js enqueue      URL QUEUE N INFLIGHT   N x Queue.add, at most INFLIGHT in flight
//   node bench.js enqueue-bulk URL QUEUE N CHUNK      Queue.addBulk of CHUNK jobs, sequentially
//   node bench.js fill         URL QUEUE N [SLEEPFILE] pre-enqueue (addBulk; not a measurement)
//   node bench.js worker       URL QUEUE CONCURRENCY EXPECT REMAINING
//   node bench.js apply        URL QUEUE N            Queue.add + job.waitUntilFinished(QueueEvents)
//
// The worker protocol is that of bench/c/saq_bench.c: "ready", wait for "go",
// t0, start; once EXPECT jobs ran and EXPECT jobs are in the completed set, t1
// and one JSON line; then wait for "stop" and close. REMAINING is unused here
// (the completed set counts processed jobs exactly).
const fs = require('fs');
const readline = require('readline');
const { Queue, Worker, QueueEvents } = require('bullmq');

function connOf(url) {
  const u = new URL(url);
  const db = Number((u.pathname || '/0').slice(1) || 0);
  return { host: u.hostname, port: Number(u.port || 6379), db };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lines = () => {
  const rl = readline.createInterface({ input: process.stdin });
  const it = rl[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    return r.done ? '' : r.value.trim();
  };
};

async function enqueue(url, name, n, inflight) {
  const q = new Queue(name, { connection: connOf(url) });
  await q.waitUntilReady();
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await q.add('noop', {});
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, lane));
  const el = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ jobs: n, elapsed: el }));
  await q.close();
}

async function enqueueBulk(url, name, n, chunk, sleeps) {
  const q = new Queue(name, { connection: connOf(url) });
  await q.waitUntilReady();
  const t0 = performance.now();
  for (let i = 0; i < n; i += chunk) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) {
      jobs.push(sleeps ? { name: 'sleep', data: { s: sleeps[j] } } : { name: 'noop', data: {} });
    }
    await q.addBulk(jobs);
  }
  const el = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ jobs: n, elapsed: el }));
  await q.close();
}

async function worker(url, name, concurrency, expect) {
  const connection = connOf(url);
  const q = new Queue(name, { connection });
  await q.waitUntilReady();
  let handled = 0;
  let reached;
  const reachedP = new Promise((r) => { reached = r; });
  const processor = async (job) => {
    if (job.name === 'sleep') await sleep(job.data.s * 1000);
    if (++handled === expect) reached();
    return 1;
  };
  const next = lines();
  console.log('ready');
  if ((await next()) !== 'go') process.exit(1);
  const t0 = Date.now() / 1000;
  const w = new Worker(name, processor, { connection, concurrency });
  w.on('error', (e) => console.error('worker error', e));
  console.log('started');
  if (expect > 0) {
    await reachedP;
    while ((await q.getCompletedCount()) < expect) await sleep(0.2);
    const t1 = Date.now() / 1000;
    console.log(JSON.stringify({ jobs: expect, t0, t1, elapsed: t1 - t0 }));
  }
  for (;;) {
    const l = await next();
    if (l === 'stop' || l === '') break;
  }
  await w.close();
  await q.close();
}

async function apply(url, name, n) {
  const connection = connOf(url);
  const q = new Queue(name, { connection });
  // from the stream's start (the queue is fresh): with the default '$' an event
  // written before the first XREAD is issued would be missed
  const qe = new QueueEvents(name, { connection, lastEventId: '0-0' });
  await q.waitUntilReady();
  await qe.waitUntilReady();
  const lat = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const job = await q.add('noop', {});
    await job.waitUntilFinished(qe, 10000);
    lat.push(performance.now() - t);
  }
  console.log(JSON.stringify({ jobs: n, lat_ms: lat }));
  await qe.close();
  await q.close();
}

async function main() {
  const [cmd, url, name, a, b, c] = process.argv.slice(2);
  if (cmd === 'enqueue') await enqueue(url, name, Number(a), Number(b));
  else if (cmd === 'enqueue-bulk') await enqueueBulk(url, name, Number(a), Number(b));
  else if (cmd === 'fill') {
    const sleeps = b ? fs.readFileSync(b, 'utf8').trim().split('\n').map(Number) : null;
    await enqueueBulk(url, name, Number(a), 1000, sleeps);
  } else if (cmd === 'worker') await worker(url, name, Number(a), Number(b), Number(c));
  else if (cmd === 'apply') await apply(url, name, Number(a));
  else {
    console.error('usage: bench.js enqueue|enqueue-bulk|fill|worker|apply ...');
    process.exit(2);
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
