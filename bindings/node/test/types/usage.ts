// SPDX-License-Identifier: MIT
// Compiled (never run) by test/types.test.js with tsc --strict: the 0.2 API as a TypeScript
// user writes it must type-check, and the misuses marked @ts-expect-error must not.
import { createServer } from 'http';
import {
  Queue, Worker, Job, SaqError, JobError, CancelledError, Logger, LogFields, QueueOverview, JobPage,
  WorkerStats, collectMetrics, metricsContentType,
} from 'libsaq';

async function main(): Promise<void> {
  // logging: console and any (fields, message) logger fit; false silences
  const q = Queue.fromUrl('redis://localhost:6379/0', { name: 'default', logger: console, logLevel: 'info' });
  const lines: string[] = [];
  const mine: Logger = {
    debug: (f: LogFields, m: string) => lines.push(`debug ${m} ${f.queue}`),
    info: (f, m) => lines.push(`info ${m}`),
    warn: (f, m) => lines.push(`warn ${m} ${f.error ?? ''} ${f.code ?? 0}`),
    error: (f, m) => lines.push(`error ${m}`),
    level: 'warn',
  };
  const quiet = new Queue({ logger: false });
  const other = new Queue({ logger: mine, logLevel: 'warning' });
  // @ts-expect-error: not a log level
  new Queue({ logLevel: 'loud' });
  // @ts-expect-error: a logger needs the four methods
  new Queue({ logger: { warn: () => {} } });

  // events
  const w = new Worker(q, { functions: { add: async (job: Job) => (job.kwargs?.a ?? 0) + 1 } });
  w.on('started', () => {});
  w.on('completed', (job: Job, result: unknown) => lines.push(`${job.key} ${String(result)}`));
  w.on('failed', (job: Job, err: Error) => lines.push(`${job.key} ${err.message}`));
  w.on('retried', (job, err) => lines.push(`${job.attempts} ${err instanceof CancelledError ? err.reason : ''}`));
  w.on('aborted', (job) => lines.push(job.status));
  w.once('error', (err) => lines.push(`${err.code} ${err.errno} ${err.fields?.worker} ${err.key} ${err.job?.key}`));
  w.on('stopped', (stats: WorkerStats | null) => lines.push(String(stats?.complete)));

  // metrics, overview, jobs
  const o: QueueOverview = await q.overview();
  const n: number = o.jobs.queued + o.jobs.active + o.jobs.scheduled + o.jobs.incomplete + o.workersAlive;
  const age: number | null = o.oldestQueuedAgeSeconds;
  const rate = o.perMinute ? o.perMinute.complete / o.perMinute.windowSeconds : 0;
  const libsaqWorkers = o.workers.filter((x) => x.libsaq).map((x) => `${x.id} ${x.uptimeMs}`);
  // @ts-expect-error: no such state
  o.jobs.done;
  // issue 19: pause/resume, job defaults, failedTtl, retry timing
  const paused: boolean = (await q.pause()) && (await q.isPaused()) && o.paused && (await q.info()).paused;
  const since: number | null = o.pausedSinceMs;
  await q.resume();
  const tuned = new Queue({ defaults: { timeout: 3, retryBackoff: true }, failedTtl: -1, retry: { minDelay: 1, jitter: false } });
  // @ts-expect-error: no such default
  new Queue({ defaults: { heartbeat: 1 } });
  const text: string = await q.metrics();
  const own: string = w.metrics();
  const del = await q.delete('k', { force: true, wait: 1 });
  if (del !== null && del.outcome !== 'deleted') lines.push(del.outcome, del.job?.status ?? '');
  for await (const page of q.jobPages({ statuses: ['complete', 'failed'], count: 50 })) {
    const p: JobPage = page;
    if (p.cursor !== null) await q.jobPages({ cursor: p.cursor }).next();
  }
  for await (const job of q.iterJobs({ statuses: 'queued,active' })) lines.push(job.key);
  // @ts-expect-error: not a status
  q.iterJobs({ statuses: ['done'] });
  const all: string = await collectMetrics(q, w, text);
  await collectMetrics([q, other]);
  createServer(async (_req, res) => {
    res.setHeader('Content-Type', metricsContentType);
    res.end(await collectMetrics(q, w));
  });

  // tracing
  const job = await q.enqueue('add', { a: 1 }, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const tp: string | null = job ? job.traceparent : null;
  await q.apply('add', { a: 1 }, { timeout: 5, traceparent: tp ?? undefined });
  // @ts-expect-error: traceparent is a string
  await q.enqueue('add', {}, { traceparent: 1 });

  await w.start();
  await w.stop();
  const final: WorkerStats | null = w.stats();
  try {
    await q.apply('add');
  } catch (e) {
    if (e instanceof JobError) lines.push(e.job?.error ?? '');
    else if (e instanceof SaqError) lines.push(e.code);
  }
  await Promise.all([q.close(), quiet.close(), other.close()]);
  void [n, age, rate, libsaqWorkers, own, all, final];
}

void main;
