// SPDX-License-Identifier: MIT
// Type declarations for libsaq (Node.js binding of the libsaq C core).
// Units follow the SAQ wire: job timeout, heartbeat, ttl, retry_delay and
// scheduled are seconds (scheduled: epoch seconds); queued, started,
// completed and touched are epoch milliseconds.
/// <reference types="node" />

export type JobStatus = 'new' | 'queued' | 'active' | 'aborting' | 'aborted' | 'failed' | 'complete';
export type CountKind = 'queued' | 'active' | 'incomplete';
export type CancelReason = 'aborted' | 'timeout' | 'shutdown' | 'heartbeat' | 'lost';

/** Keyword arguments of a job function. Names that are job options (key,
 *  timeout, heartbeat, retries, ttl, retry_delay, retry_backoff, scheduled,
 *  meta, progress) set those options instead, as Python saq does. */
export interface EnqueueKwargs {
  key?: string;
  /** seconds; 0 = no limit */
  timeout?: number;
  /** seconds between touches before the job counts as stuck; 0 = off */
  heartbeat?: number;
  /** maximum total attempts */
  retries?: number;
  /** seconds to keep the record after it ends; 0 forever, < 0 delete at once */
  ttl?: number;
  /** seconds */
  retry_delay?: number;
  /** true = exponential backoff, a number = exponential capped at that many seconds */
  retry_backoff?: boolean | number;
  /** epoch seconds; 0 = now */
  scheduled?: number;
  meta?: Record<string, unknown>;
  progress?: number;
  [kwarg: string]: unknown;
}

/** JSON text passed exactly as written: as kwargs of enqueue/apply/map, as
 *  a handler's result or finish's result. Make one with rawJson(text). */
export class RawJson {
  constructor(text: string);
  readonly text: string;
}
/** JSON text passed exactly (integers beyond 2^53, -0.0, 1.0 as a float). */
export function rawJson(text: string | RawJson): RawJson;

export class Job {
  readonly function: string;
  readonly key: string;
  /** "saq:job:<queue>:<key>" */
  readonly id: string | null;
  readonly queue: string | null;
  kwargs: Record<string, any> | null;
  status: JobStatus;
  result: any;
  error: string | null;
  meta: Record<string, any>;
  workerId: string | null;
  timeout: number;
  heartbeat: number;
  retries: number;
  ttl: number;
  retryDelay: number;
  retryBackoff: boolean | number;
  scheduled: number;
  progress: number;
  attempts: number;
  queued: number;
  started: number;
  completed: number;
  touched: number;
  /** kwargs exactly as stored (JSON text), or null. JSON.parse rounds integers beyond 2^53 and turns -0.0/1.0 into 0/1; this keeps them. */
  readonly kwargsJson: string | null;
  /** the result exactly as stored (JSON text), or null when there is none */
  readonly resultJson: string | null;
  /** meta exactly as stored (JSON text), or null */
  readonly metaJson: string | null;
  /** Re-read the record from Redis. */
  refresh(): Promise<this>;
  abort(error?: string, options?: { ttl?: number }): Promise<Job | null>;
  /** Inside a handler: heartbeat plus progress/meta of the leased job
   *  (fire-and-forget). Elsewhere: saq's Job.update on the stored record. */
  update(fields?: { progress?: number; meta?: Record<string, unknown>; [field: string]: unknown }): Promise<this>;
  /** Heartbeat of a leased job. */
  touch(): Promise<this>;
  toJSON(): Record<string, unknown>;
}

export interface QueueOptions {
  /**
   * Default redis://localhost:6379/0. Passed to libsaq unchanged:
   * - redis://[[user]:password@]host[:port][/db], rediss://... (TLS), unix://...;
   * - Sentinel: redis+sentinel://[user:pass@]h1:26379,h2:26379/<master-name>[/<db>]
   *   (also sentinel://; rediss+sentinel:// for TLS to the sentinels and the master);
   *   user:pass are the data nodes' credentials, the sentinels' own go in `sentinel`;
   * - Cluster: redis+cluster://[user:pass@]h1:p1,h2:p2 (also cluster://; rediss+cluster://
   *   for TLS); the queue name must carry a hash tag ("{orders}"), else SAQ_EINVAL.
   */
  url?: string;
  /** queue name, default "default" */
  name?: string;
  /** "0.26" (default) or "0.13" */
  dialect?: '0.26' | '0.13';
  maxConcurrentOps?: number;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  reconnectMaxMs?: number;
  maxPayloadBytes?: number;
  /** enqueue and a job's outcome wait until this many replicas acknowledged the write (Redis WAIT);
   *  0 (default) = no wait. Fewer in time: the operation rejects with SAQ_ETIMEDOUT (the write is on
   *  the master all the same). */
  minReplicas?: number;
  /** ms the minReplicas wait may take (default 1000) */
  minReplicasTimeoutMs?: number;
  /** the sentinels' own credentials (redis+sentinel:// urls only; SAQ_EINVAL with another url) */
  sentinel?: SentinelOptions;
  /** read integers beyond 2^53 in kwargs, results, meta and info as BigInts (default false: rounded doubles) */
  bigint?: boolean;
  /** raw libsaq configuration keys (saq_conf_set) */
  conf?: Record<string, string | number | boolean>;
}

export interface SentinelOptions {
  /** ACL user for the sentinels (conf key sentinel.username; the url's query: sentinel_username) */
  username?: string;
  /** password for the sentinels (conf key sentinel.password; the url's query: sentinel_password) */
  password?: string;
}

export interface ListenMessage {
  key: string;
  status: JobStatus;
}

export interface ListenOptions {
  /** seconds without a message before the listen fails with SAQ_ETIMEDOUT; 0 or Infinity = never; default 10 */
  timeout?: number;
}

export interface QueueInfo {
  workers: Record<string, { stats: Record<string, number> | null; queue_key: string; metadata: unknown }>;
  name: string;
  queued: number;
  active: number;
  scheduled: number;
  /** saq records as stored (snake_case) */
  jobs: Array<Record<string, any>>;
}

export interface QueueStats {
  complete: number;
  failed: number;
  retried: number;
  aborted: number;
  /** ms */
  uptime: number;
}

export class Queue {
  static fromUrl(url: string, options?: Omit<QueueOptions, 'url'>): Queue;
  constructor(options?: QueueOptions);
  readonly name: string;
  readonly dialect: '0.26' | '0.13';
  /** the bigint option */
  readonly bigint: boolean;
  /** Redis server version, e.g. "7.0.15". */
  ping(): Promise<string>;
  /** Resolves to the job, or null when a job with the same key is still incomplete. */
  enqueue(fn: string, kwargs?: EnqueueKwargs | RawJson): Promise<Job | null>;
  job(key: string | Job): Promise<Job | null>;
  jobs(keys: string | Job | Iterable<string | Job>): Promise<Array<Job | null>>;
  abort(job: string | Job, error?: string, options?: { ttl?: number }): Promise<Job | null>;
  retry(job: string | Job, error?: string): Promise<Job | null>;
  finish(job: string | Job, status: 'complete' | 'failed' | 'aborted', options?: { result?: unknown; error?: string }): Promise<Job | null>;
  update(job: string | Job, fields?: Record<string, unknown>): Promise<Job | null>;
  count(kind?: CountKind): Promise<number>;
  info(options?: { jobs?: boolean; offset?: number; limit?: number }): Promise<QueueInfo>;
  stats(options?: { ttl?: number }): Promise<QueueStats>;
  schedule(options?: { lock?: number }): Promise<string[]>;
  sweep(options?: { lock?: number; abort?: number }): Promise<string[]>;
  /** Status messages of the given jobs; break out of the loop to stop. */
  listen(keys: string | Job | Iterable<string | Job>, options?: ListenOptions): AsyncIterableIterator<ListenMessage>;
  /** saq's callback form: a truthy return value stops the listen. */
  listen(keys: string | Job | Iterable<string | Job>, callback: (key: string, status: JobStatus) => unknown, options?: ListenOptions): Promise<void>;
  /** Enqueue and wait for the result. timeout (seconds; 0 or Infinity = none; defaults to kwargs.timeout) also becomes the job's timeout. */
  apply<T = any>(fn: string, kwargs?: EnqueueKwargs | RawJson, options?: { timeout?: number; rawJson?: false }): Promise<T>;
  /** rawJson: resolves to the result's exact JSON text ("null" for none). */
  apply(fn: string, kwargs: EnqueueKwargs | RawJson | undefined, options: { timeout?: number; rawJson: true }): Promise<string>;
  /** One job per element; results in order. Extra options are defaults merged under each element. */
  map<T = any>(fn: string, iterKwargs: Iterable<EnqueueKwargs | RawJson>, options?: { timeout?: number; returnExceptions?: false; rawJson?: boolean; defaults?: EnqueueKwargs; [dflt: string]: unknown }): Promise<T[]>;
  map<T = any>(fn: string, iterKwargs: Iterable<EnqueueKwargs | RawJson>, options: { timeout?: number; returnExceptions: true; rawJson?: boolean; defaults?: EnqueueKwargs; [dflt: string]: unknown }): Promise<Array<T | JobError>>;
  /** If fn throws, the jobs enqueued meanwhile are aborted and the error rethrown. */
  batch<T>(fn: (queue: this) => Promise<T> | T): Promise<T>;
  /** Stop workers (one still running timeout ms after its grace period and hard deadline is stopped at once) and listens, wait up to timeout ms for operations in flight, release the connections. */
  close(options?: { timeout?: number }): Promise<void>;
}

export interface WorkerContext {
  worker: Worker;
  queue: Queue;
  [entry: string]: any;
}

export interface JobContext extends WorkerContext {
  /** the queue the job came from (one of worker.queues) */
  queue: Queue;
  job: Job;
  /** Fires with a CancelledError on timeout, abort, shutdown, missed heartbeat or lost lease. */
  signal: AbortSignal;
  /** afterProcess: the handler's result, or the error it threw */
  result?: unknown;
  exception?: unknown;
}

export type JobHandler = (job: Job, ctx: JobContext) => unknown | Promise<unknown>;
export type Hook<C> = ((ctx: C) => unknown | Promise<unknown>) | Array<(ctx: C) => unknown | Promise<unknown>>;

export interface CronJob {
  /** a registered function name, or a named function (registered under its name) */
  function: string | JobHandler;
  /** 5 fields (minute hour day month weekday), 6 with seconds last, or @hourly-style aliases; UTC */
  cron: string;
  name?: string;
  kwargs?: Record<string, unknown>;
  timeout?: number;
  heartbeat?: number;
  retries?: number;
  ttl?: number;
  /** default true: key "cron:<function>" */
  unique?: boolean;
}

/** Another queue for a worker to serve: a Queue (weight 1), or one with its weight. */
export type WorkerQueue = Queue | { queue: Queue; /** integer >= 1; used by queueOrder 'weighted'; default 1 */ weight?: number };

/** How a worker serving several queues shares its concurrency: 'strict' (default): a free slot
 *  goes to the first queue in order that may have jobs; 'weighted': the queues that have jobs share
 *  the free slots in proportion to their weights. */
export type QueueOrder = 'strict' | 'weighted';

export interface WorkerOptions {
  functions?: Record<string, JobHandler> | Map<string, JobHandler> | JobHandler[];
  concurrency?: number;
  cronJobs?: CronJob[];
  startup?: Hook<WorkerContext>;
  shutdown?: Hook<WorkerContext>;
  beforeProcess?: Hook<JobContext>;
  afterProcess?: Hook<JobContext>;
  /** seconds; 0 = block until a job or stop */
  dequeueTimeout?: number;
  /** seconds */
  timers?: { schedule?: number; workerInfo?: number; sweep?: number; abort?: number };
  burst?: boolean;
  maxBurstJobs?: number;
  /** seconds */
  shutdownGracePeriod?: number;
  /** seconds */
  cancellationHardDeadline?: number;
  id?: string;
  metadata?: Record<string, unknown> | null;
  sweptErrorMessage?: string;
  /** seconds; 0 disables liveness recovery */
  deadWorkerCheck?: number;
  /** More queues to serve, after the worker's own, in order (saq_worker_add_queue). Each keeps its
   *  own connections (in a cluster: to the master of its hash slot), registry entry and recovery;
   *  the worker's functions, hooks and settings apply to all, `concurrency` is the total. On the
   *  n-th added queue the worker's id is `${id}.${n}`. Closing any of the queues stops the worker. */
  queues?: Iterable<WorkerQueue>;
  /** default 'strict' */
  queueOrder?: QueueOrder;
  /** weight of the worker's own queue in 'weighted' order (integer 1..1000000, default 1) */
  queueWeight?: number;
  /** raw libsaq worker configuration keys */
  conf?: Record<string, string | number | boolean>;
}

export interface WorkerStats extends QueueStats {
  running: number;
  /** a worker of several queues: each queue's counters (the fields above are their sums) */
  queues?: Array<{ name: string; id: string; complete: number; failed: number; retried: number; aborted: number; running: number; errors: number }>;
}

export class Worker {
  constructor(queue: Queue, options?: WorkerOptions);
  readonly queue: Queue;
  /** every queue the worker serves, its own first, then `queues` in order */
  readonly queues: ReadonlyArray<Queue>;
  readonly id: string;
  /** Startup hooks, then start leasing jobs. */
  start(): Promise<void>;
  /** Graceful stop; graceMs defaults to shutdownGracePeriod. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Resolves when the worker has stopped. */
  done(): Promise<void>;
  /** start(), stop on SIGINT/SIGTERM, resolve when stopped. */
  run(): Promise<void>;
  stats(): WorkerStats | null;
}

export class SaqError extends Error {
  constructor(errno: number, message?: string);
  /** stable name, e.g. "SAQ_ETIMEDOUT" */
  readonly code: string;
  /** negative libsaq error number */
  readonly errno: number;
}

export class JobError extends SaqError {
  constructor(job: Job | null, message?: string);
  readonly job: Job | null;
}

export class CancelledError extends Error {
  readonly reason: CancelReason;
  readonly key: string;
}

export const codes: Readonly<{
  OK: 0;
  EINVAL: number;
  ENOMEM: number;
  ETIMEDOUT: number;
  ECLOSED: number;
  EFORKED: number;
  EREDIS: number;
  EPROTO: number;
  ECONN: number;
  EURL: number;
  EJSON: number;
  ENOTFOUND: number;
  EWRONGQUEUE: number;
  EJOB: number;
  EUNKNOWN_KEY: number;
  ECRON: number;
  ESTATE: number;
  ETOOBIG: number;
  EUVVERSION: number;
  /** TLS failed: a certificate or key file of a rediss:// URL, the server's certificate, or the handshake */
  ETLS: number;
}>;

/** Version of the loaded libsaq ("0.2.0"). */
export const libsaqVersion: string;
/** Version of this package. */
export const version: string;
