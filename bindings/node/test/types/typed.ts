// SPDX-License-Identifier: MIT
// Compiled (never run) by test/types.test.js with tsc --strict: a functions map's kwargs and
// result types flow to enqueue, apply and map; AbortSignal is accepted by enqueue, apply, map
// and listen; unknown options, wrong kwargs and unknown function names are errors; durations
// are seconds. Lines marked @ts-expect-error must fail to compile.
import { Queue, Worker, Job, JobError, KwargsOf, ResultOf } from 'libsaq';

const functions = {
  add: async (job: Job<{ a: number; b: number }>) => job.kwargs.a + job.kwargs.b,
  greet: (job: Job<{ name: string; polite?: boolean }>) => `hello ${job.kwargs.name}`,
  tick: async () => undefined,
  report: async (job: Job<{ day: string }>, { signal }: { signal: AbortSignal }) => ({ day: job.kwargs.day, rows: signal.aborted ? 0 : 3 }),
};

async function typed(): Promise<void> {
  const queue = Queue.fromUrl<typeof functions>('redis://localhost:6379/0', { name: 'typed' });
  const worker = new Worker(queue, { functions, concurrency: 2 });

  const sum: number = await queue.apply('add', { a: 1, b: 2 });
  const hello: string = await queue.apply('greet', { name: 'x', timeout: 5, key: 'g1' }, { timeout: 5 });
  const none: undefined = await queue.apply('tick');
  const rep: { day: string; rows: number } = await queue.apply('report', { day: 'mon' });
  const text: string = await queue.apply('add', { a: 1, b: 2 }, { rawJson: true });
  const sums: number[] = await queue.map('add', [{ a: 1, b: 2 }, { a: 3 }], { defaults: { b: 10 } });
  const mixed: Array<number | JobError> = await queue.map('add', [{ a: 1, b: 1 }], { returnExceptions: true });
  const texts: string[] = await queue.map('add', [{ a: 1, b: 1 }], { rawJson: true });
  const job = await queue.enqueue('greet', { name: 'y', scheduled: Date.now() / 1000 + 60 });
  if (job) {
    const name: string = job.kwargs.name;
    const polite: boolean | undefined = job.kwargs.polite;
    const result: string | null = job.result;
    void [name, polite, result];
  }
  const k: KwargsOf<typeof functions.add> = { a: 1, b: 2 };
  const r: ResultOf<typeof functions.add> = 3;

  // @ts-expect-error: no such function
  await queue.apply('sub', { a: 1, b: 2 });
  // @ts-expect-error: b must be a number
  await queue.apply('add', { a: 1, b: '2' });
  // @ts-expect-error: b is required
  await queue.apply('add', { a: 1 });
  // @ts-expect-error: kwargs are required when some are
  await queue.enqueue('greet');
  // @ts-expect-error: not a kwarg of greet
  await queue.enqueue('greet', { name: 'z', shout: true });
  // @ts-expect-error: add resolves to a number
  const wrong: string = await queue.apply('add', { a: 1, b: 2 });
  // @ts-expect-error: unknown option (a typo of returnExceptions)
  await queue.map('add', [{ a: 1, b: 2 }], { returnException: true });
  // @ts-expect-error: job defaults go in `defaults`
  await queue.map('add', [{ a: 1 }], { b: 10 });
  // @ts-expect-error: unknown option
  await queue.apply('add', { a: 1, b: 2 }, { timout: 5 });
  // @ts-expect-error: a map element's kwargs are checked too
  await queue.map('add', [{ a: 'one' }]);

  // enqueueMany: each element's kwargs are checked against its function
  const bulk = await queue.enqueueMany([{ fn: 'add', kwargs: { a: 1, b: 2 } }, { fn: 'greet', kwargs: { name: 'n', key: 'k' } }]);
  const firstKey: string | undefined = bulk[0]?.key;
  void firstKey;
  // @ts-expect-error: add's b must be a number, in a bulk element too
  await queue.enqueueMany([{ fn: 'add', kwargs: { a: 1, b: '2' } }]);
  // @ts-expect-error: no such function
  await queue.enqueueMany([{ fn: 'sub', kwargs: {} }]);

  // AbortSignal on enqueue, apply, map and listen
  const ac = new AbortController();
  const signal = AbortSignal.timeout(1000);
  await queue.enqueue('add', { a: 1, b: 2 }, { signal: ac.signal });
  await queue.apply('add', { a: 1, b: 2 }, { timeout: 5, signal });
  await queue.map('add', [{ a: 1, b: 2 }], { signal, timeout: 5 });
  for await (const { key, status } of queue.listen(['k'], { timeout: 10, signal })) void [key, status];
  await queue.listen(['k'], (key, status) => status === 'complete', { signal: ac.signal });
  // @ts-expect-error: signal must be an AbortSignal
  await queue.apply('add', { a: 1, b: 2 }, { signal: ac });

  // durations in seconds; the old millisecond names still compile (deprecated)
  const tuned = new Queue({ commandTimeout: 2.5, connectTimeout: 1, reconnectMax: 5, minReplicasTimeout: 0.5 });
  await worker.stop({ grace: 5 });
  await tuned.close({ timeout: 5 });
  // @ts-expect-error: not a Queue option
  new Queue({ commandTimeoutSeconds: 2 });

  // an untyped queue takes any name and kwargs; results are unknown until checked
  const loose = Queue.fromUrl('redis://localhost:6379/0');
  const any: unknown = await loose.apply('whatever', { x: 1 });
  // @ts-expect-error: unknown is not a number
  const n: number = await loose.apply('whatever');
  new Worker(loose, {
    functions: { double: async (j) => j.kwargs.n * 2 },
    afterProcess: (ctx) => {
      const st: string = ctx.job.status;
      const ex: unknown = ctx.exception;
      void [st, ex];
    },
  });
  void [sum, hello, none, rep, text, sums, mixed, texts, k, r, wrong, any, n];
}

void typed;
