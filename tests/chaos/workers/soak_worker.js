// SPDX-License-Identifier: MIT
'use strict';
// The Node worker of the chaos soak (tests/chaos/soak), on the libsaq binding
// (bindings/node; the orchestrator sets SAQ_NODE_PKG to its directory).
//   node soak_worker.js --url URL --queue NAME --id ID --concurrency N --log FILE
// soak(ms, fail_until): the contract of soak_worker.c ("S ..." at start,
// "E ... ok|fail" before settling, one O_APPEND write per line).
const fs = require('fs');
const { Queue, Worker } = require(process.env.SAQ_NODE_PKG || 'libsaq');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const fd = fs.openSync(args.log, 'a');
const line = (...parts) => fs.writeSync(fd, parts.join(' ') + '\n');

async function soak(job) {
  const attempt = job.attempts;
  line('S', job.key, attempt, Date.now());
  await new Promise((resolve) => setTimeout(resolve, job.kwargs.ms || 0));
  if (attempt <= (job.kwargs.fail_until || 0)) {
    line('E', job.key, attempt, Date.now(), 'fail');
    throw new Error('planned failure');
  }
  line('E', job.key, attempt, Date.now(), 'ok');
  return attempt;
}

async function main() {
  const queue = Queue.fromUrl(args.url, { name: args.queue });
  const worker = new Worker(queue, { concurrency: Number(args.concurrency || 10), id: args.id, functions: { soak } });
  const run = worker.run();
  console.log(`ready ${worker.id}`);
  await run;
  await queue.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
