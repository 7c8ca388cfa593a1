// SPDX-License-Identifier: MIT
// Type declarations for libsaq (Node.js binding of the libsaq C core).
// Units: every duration you pass is in seconds (job timeout, heartbeat, ttl,
// retry_delay, the timeouts of apply/map/listen/close, stop's grace, the
// Queue's commandTimeout, ...); a job's scheduled is epoch seconds. Read-only
// figures keep saq's units and say them: a Job's queued, started, completed
// and touched are epoch milliseconds, stats' uptime and overview's uptimeMs
// milliseconds.
//
// Typed functions: a Queue<F> and Worker<F> take the type of a functions map
// (`typeof functions`); the kwargs and result types of each handler then flow
// to enqueue, apply and map. Without F (the default) any name, any kwargs and
// an `unknown` result are accepted.
/// <reference types="node" />
import { EventEmitter } from 'events';

export type JobStatus = 'new' | 'queued' | 'active' | 'aborting' | 'aborted' | 'failed' | 'complete';
export type CountKind = 'queued' | 'active' | 'incomplete';
export type CancelReason = 'aborted' | 'timeout' | 'shutdown' | 'heartbeat' | 'lost';

/** The kwargs of a job whose function is not typed: a JSON object. */
export type Kwargs = Record<string, any>;

/** The job options enqueue, apply and map split off the kwargs, as Python saq
 *  does (snake_case, as on the wire). */
export interface JobOptions {
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
}

/** Keyword arguments of an untyped job function, with the job options. */
export interface EnqueueKwargs extends JobOptions {
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

/** A job of a flow: [fn, kwargs] or { fn, kwargs } (kwargs split as enqueue splits them). */
export type FlowJobSpec = [string, Kwargs?] | { fn: string; kwargs?: Kwargs };
/** What enqueueFlow wrote. */
export interface EnqueuedFlow {
  id: string;
  callback: string;
  members: string[];
}
/** A flow member as the flow records it: status "complete", "failed", "aborted" or "missing"
 *  once terminal, else its current status; "unknown" (with an error saying why) when its
 *  recorded outcome is malformed in Redis. */
export interface FlowMember {
  key: string;
  status: string;
  result: any;
  error: string | null;
}
/** The members' outcomes in a flow callback's kwargs ("flow"). When they would make the
 *  callback's record larger than the enqueuing queue's max_payload_bytes (less 256 bytes), the
 *  callback still runs, once, and `omitted` says what was left out: "result" (every result null),
 *  then "error" too (every error null), then "members" (members [], with total and statuses
 *  counting them). No `omitted` when nothing was left out; Queue.flow still has them all. */
export interface FlowOutcome {
  id: string;
  members: FlowMember[];
  omitted?: Array<'result' | 'error' | 'members'>;
  total?: number;
  statuses?: Record<string, number>;
}
/** A flow read with Queue.flow. */
export interface FlowInfo extends FlowOutcome {
  state: 'open' | 'done';
  callback: string;
  total: number;
  pending: number;
  createdMs: number;
  doneMs: number;
}
/** The members' outcomes a flow's callback received, or null when the job is not one. */
export function flowOutcome(job: Job<any, any> | Kwargs): FlowOutcome | null;

/** A job record. `K` is the type of its kwargs and `R` of its result (a job
 *  handler declares them: `async (job: Job<{ a: number }>) => ...`). */
export class Job<K extends object = Kwargs, R = any> {
  readonly function: string;
  readonly key: string;
  /** "saq:job:<queue>:<key>" */
  readonly id: string | null;
  readonly queue: string | null;
  /** the function's keyword arguments (`{}` when the record stores none; job options are not in it) */
  kwargs: K;
  status: JobStatus;
  /** null until the job completed */
  result: R | null;
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
  /** The W3C traceparent in the job's meta ("00-<trace id>-<parent id>-<flags>") when it holds a
   *  well-formed one (enqueue's `traceparent` option, or meta.traceparent set by any language),
   *  else null. Read when the record was: replacing `meta` in update() drops it unless kept. */
  traceparent: string | null;
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

/** The least severe libsaq log record passed on ('warn' = 'warning'; 'off' = none). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'warning' | 'error' | 'off';

/** Structured fields of a libsaq log record (a flat object; which fields appear depends on the
 *  record). */
export interface LogFields {
  queue?: string;
  worker?: string;
  /** job key */
  job?: string;
  function?: string;
  /** libsaq error name, e.g. "SAQ_ECONN" */
  error?: string;
  /** libsaq error number */
  code?: number;
  [field: string]: string | number | undefined;
}

/** A logger libsaq calls as logger[method](fields, message) (pino's and bunyan's order; console
 *  prints both): error for SAQ_LOG_ERROR, warn for warnings, info, debug. console, pino, bunyan
 *  and log4js loggers fit as they are; for winston, whose order is (message, meta), wrap it. */
export interface Logger {
  debug(fields: LogFields, message: string): unknown;
  info(fields: LogFields, message: string): unknown;
  warn(fields: LogFields, message: string): unknown;
  error(fields: LogFields, message: string): unknown;
  /** the logger's own level (pino, winston, ...): the default of logLevel when it is one we know */
  level?: string;
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
  /** seconds a Redis command may take (conf command_timeout_ms) */
  commandTimeout?: number;
  /** seconds a connection attempt may take (conf connect_timeout_ms) */
  connectTimeout?: number;
  /** longest pause between reconnection attempts, seconds (conf reconnect_max_ms) */
  reconnectMax?: number;
  /** @deprecated milliseconds: use commandTimeout (seconds) */
  commandTimeoutMs?: number;
  /** @deprecated milliseconds: use connectTimeout (seconds) */
  connectTimeoutMs?: number;
  /** @deprecated milliseconds: use reconnectMax (seconds) */
  reconnectMaxMs?: number;
  maxPayloadBytes?: number;
  /** enqueue and a job's outcome wait until this many replicas acknowledged the write (Redis WAIT);
   *  0 (default) = no wait. Fewer in time: the operation rejects with SAQ_ETIMEDOUT (the write is on
   *  the master all the same). */
  minReplicas?: number;
  /** seconds the minReplicas wait may take (default 1) */
  minReplicasTimeout?: number;
  /** @deprecated milliseconds: use minReplicasTimeout (seconds) */
  minReplicasTimeoutMs?: number;
  /** the sentinels' own credentials (redis+sentinel:// urls only; SAQ_EINVAL with another url) */
  sentinel?: SentinelOptions;
  /** read integers beyond 2^53 in kwargs, results, meta and info as BigInts (default false: rounded doubles) */
  bigint?: boolean;
  /** Where the log records of this queue and its workers go: a Logger (console, pino, ...);
   *  undefined (default): stderr, one "saq: WARNING <message> key=value ..." line each, as
   *  libsaq's own default sink; false or null: nowhere (records still feed Worker 'error'
   *  events). */
  logger?: Logger | false | null;
  /** conf key log_level. Default: the logger's own `level` when it is a known word, else the
   *  environment variable SAQ_LOG_LEVEL, else 'warning'. 'off' stops the records in libsaq
   *  (no Worker 'error' events from them either). */
  logLevel?: LogLevel;
  /** Job defaults (saq #302): given to each job enqueued through this queue that was not given
   *  the field, and written into its record (Python saq workers honour them too). Seconds;
   *  retryBackoff: true, false or a cap in seconds. */
  defaults?: { timeout?: number; retries?: number; ttl?: number; retryDelay?: number; retryBackoff?: boolean | number };
  /** seconds a job that ends failed is kept when this queue writes the failure (saq #268;
   *  0 forever, -1 deleted at once); default: the job's ttl */
  failedTtl?: number;
  /** retries this queue schedules (saq #289): minDelay seconds at least; jitter false turns saq's
   *  full jitter on backoff delays off */
  retry?: { minDelay?: number; jitter?: boolean };
  /** raw libsaq configuration keys (saq_conf_set) */
  conf?: Record<string, string | number | boolean>;
}

/** Options of enqueue (and apply) besides the job's kwargs. */
export interface EnqueueOptions {
  /** W3C trace context: stored as meta.traceparent ("00-<32 hex>-<16 hex>-<2 hex>", lower case;
   *  SaqError SAQ_EINVAL when malformed), read back as job.traceparent in the handler. */
  traceparent?: string;
  /** Aborted before the call: nothing is sent. Aborted while the enqueue waits for a
   *  maxConcurrentOps slot: libsaq withdraws it (saq_queue_cancel). Once sent it may still be
   *  stored. The Promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of apply. */
export interface ApplyOptions {
  /** seconds the wait may take, also the job's timeout; 0 or Infinity = none; default kwargs.timeout */
  timeout?: number;
  /** resolve to the result's exact JSON text */
  rawJson?: boolean;
  /** W3C trace context stored as meta.traceparent, as EnqueueOptions.traceparent */
  traceparent?: string;
  /** Stops the wait in libsaq (saq_queue_cancel) and rejects with the signal's reason; the job,
   *  once enqueued, stays (as saq's asyncio cancellation of apply). */
  signal?: AbortSignal;
}

/** Options of map. Job defaults (saq's **defaults) go in `defaults`. */
export interface MapOptions<K extends object = Kwargs> {
  /** seconds, one deadline for every job, also each job's timeout; 0 or Infinity = none */
  timeout?: number;
  /** failed or aborted jobs become JobError values in the results instead of rejecting */
  returnExceptions?: boolean;
  /** each result as its exact JSON text */
  rawJson?: boolean;
  /** merged under each element (saq's **defaults) */
  defaults?: Partial<K> & JobOptions;
  /** Stops the wait in libsaq (saq_queue_cancel) and rejects with the signal's reason; jobs
   *  already enqueued stay. */
  signal?: AbortSignal;
}

/** A job function: `job.kwargs` is K, its resolved value the job's result R. */
export type JobFunction<K extends object = any, R = unknown> = (job: Job<K>, ctx: JobContext) => R | Promise<R>;
/** A map of job functions by name (a Worker's `functions`). */
export type Functions = { [name: string]: JobFunction<any, any> };
/** The functions of an untyped Queue/Worker: any name, any kwargs, an unknown result. */
export type AnyFunctions = { [name: string]: (job: Job<Kwargs>, ctx: JobContext) => unknown };
/** The kwargs type of a job function. */
export type KwargsOf<Fn> = Fn extends (job: Job<infer K, any>, ...rest: any[]) => any
  ? (K extends object ? K : Kwargs) : Kwargs;
/** The result type of a job function (what its Promise resolves to). */
export type ResultOf<Fn> = Fn extends (...args: any[]) => infer R ? Awaited<R> : unknown;
/** An element of map's iterKwargs for function Fn: its kwargs (each may come from `defaults`)
 *  plus job options, or raw JSON. */
export type MapItem<Fn> = (Partial<KwargsOf<Fn>> & JobOptions) | RawJson;
/** What enqueue/apply take as kwargs for function Fn: its kwargs plus job options, or raw JSON. */
export type CallKwargs<Fn> = (KwargsOf<Fn> & JobOptions) | RawJson;
/** [kwargs, options] of enqueue/apply: kwargs may be left out when every one is optional. */
export type CallArgs<Fn, O> = {} extends KwargsOf<Fn>
  ? [kwargs?: CallKwargs<Fn>, options?: O]
  : [kwargs: CallKwargs<Fn>, options?: O];
/** One job of Queue.enqueueMany: a function of F, its kwargs (plus job options) as enqueue takes
 *  them, and an optional W3C traceparent. */
export type BulkJob<F, N extends FunctionName<F> = FunctionName<F>> = {
  [K in N]: { fn: K; kwargs?: CallKwargs<F[K]>; traceparent?: string };
}[N];
/** The function names of a functions map. */
export type FunctionName<F> = Extract<keyof F, string>;

/** Queue-wide figures (Queue.overview), the same from any process; Python saq workers count too. */
export interface QueueOverview {
  queue: string;
  /** Redis's clock, epoch ms */
  timeMs: number;
  /** incomplete = queued + active + scheduled (finished jobs are not counted: see iterJobs) */
  jobs: { queued: number; active: number; scheduled: number; incomplete: number };
  /** seconds since the oldest queued job was enqueued; null when none is queued */
  oldestQueuedAgeSeconds: number | null;
  /** the live workers of the queue's registry, with their counters (from 0 at their start) */
  workers: Array<{
    id: string;
    complete: number;
    failed: number;
    retried: number;
    aborted: number;
    uptimeMs: number;
    metadata: unknown;
    /** a libsaq worker (any language), not a Python saq one */
    libsaq: boolean;
  }>;
  workersAlive: number;
  /** sums over the live workers' counters */
  totals: { complete: number; failed: number; retried: number; aborted: number };
  /** rates over the last windowSeconds (about 60); null until libsaq has a sample 20 s old */
  perMinute: { complete: number; failed: number; retried: number; aborted: number; windowSeconds: number } | null;
  /** the queue is paused (Queue.pause) */
  paused: boolean;
  /** epoch ms of the pause; null when not paused */
  pausedSinceMs: number | null;
}

export interface DeleteOptions {
  /** delete a running job too: it is aborted first, its worker stops it */
  force?: boolean;
  /** seconds a forced delete waits for the worker to stop the job, 0..3600 (default 5) */
  wait?: number;
}

/** What Queue.delete did: 'deleted' (it did not run), 'stopped' (its worker stopped it, then
 *  deleted), 'unconfirmed' (deleted after the wait); job: the record as last read. */
export interface DeleteResult {
  outcome: 'deleted' | 'stopped' | 'unconfirmed';
  job: Job | null;
}

/** One page of a scan over a queue's jobs (Queue.jobPages). */
export interface JobPage {
  jobs: Job[];
  /** where the next page starts (pass it as `cursor` to resume); null once the scan is over */
  cursor: string | null;
}

export interface IterJobsOptions {
  /** statuses to keep (default: all) */
  statuses?: Iterable<JobStatus> | string;
  /** SCAN's COUNT hint per page, 1..10000 (default 100) */
  count?: number;
  /** resume after a page: its cursor */
  cursor?: string | null;
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
  /** Stops the listen in libsaq and ends it with the signal's reason (the iteration throws it,
   *  the callback form rejects with it). */
  signal?: AbortSignal;
}

export interface QueueInfo {
  workers: Record<string, { stats: Record<string, number> | null; queue_key: string; metadata: unknown }>;
  name: string;
  queued: number;
  active: number;
  scheduled: number;
  /** saq records as stored (snake_case) */
  jobs: Array<Record<string, any>>;
  /** the queue is paused (Queue.pause; libsaq's, not saq's) */
  paused: boolean;
}

export interface QueueStats {
  complete: number;
  failed: number;
  retried: number;
  aborted: number;
  /** ms */
  uptime: number;
}

/** saq's Queue. `F` is the type of the functions its jobs run (`typeof functions`): their
 *  names, kwargs and results then type enqueue, apply and map. */
export class Queue<F extends Functions = AnyFunctions> {
  static fromUrl<F extends Functions = AnyFunctions>(url: string, options?: Omit<QueueOptions, 'url'>): Queue<F>;
  constructor(options?: QueueOptions);
  readonly name: string;
  readonly dialect: '0.26' | '0.13';
  /** the bigint option */
  readonly bigint: boolean;
  /** Redis server version, e.g. "7.0.15". */
  ping(): Promise<string>;
  /** Resolves to the job, or null when a job with the same key is still incomplete. */
  enqueue<N extends FunctionName<F>>(fn: N, ...args: CallArgs<F[N], EnqueueOptions>): Promise<Job<KwargsOf<F[N]>, ResultOf<F[N]>> | null>;
  /** Bulk enqueue: one entry per job, in order: the job as sent, or null when a job with its key
   *  was already enqueued. Pipelined: many jobs per round trip. */
  enqueueMany<N extends FunctionName<F>>(jobs: Iterable<BulkJob<F, N>>, options?: { signal?: AbortSignal }): Promise<Array<Job<KwargsOf<F[N]>, ResultOf<F[N]>> | null>>;
  job(key: string | Job): Promise<Job | null>;
  jobs(keys: string | Job | Iterable<string | Job>): Promise<Array<Job | null>>;
  abort(job: string | Job, error?: string, options?: { ttl?: number }): Promise<Job | null>;
  retry(job: string | Job, error?: string): Promise<Job | null>;
  /** delete a job, record and every entry (an extension); a running one rejects (ESTATE) unless `force`; null when missing */
  delete(job: string | Job, options?: DeleteOptions): Promise<DeleteResult | null>;
  finish(job: string | Job, status: 'complete' | 'failed' | 'aborted', options?: { result?: unknown; error?: string }): Promise<Job | null>;
  update(job: string | Job, fields?: Record<string, unknown>): Promise<Job | null>;
  count(kind?: CountKind): Promise<number>;
  info(options?: { jobs?: boolean; offset?: number; limit?: number }): Promise<QueueInfo>;
  stats(options?: { ttl?: number }): Promise<QueueStats>;
  /** Pause the queue: libsaq workers take no more of its jobs (true: this call paused it). */
  pause(): Promise<boolean>;
  /** Resume a paused queue (true: this call resumed it). */
  resume(): Promise<boolean>;
  /** Whether the queue is paused. */
  isPaused(): Promise<boolean>;
  /** Queue-wide figures read from Redis (saq_queue_overview). */
  overview(): Promise<QueueOverview>;
  /** the rate limits and global concurrency the queue's libsaq workers enforce, with their state
   *  now (published every second while a worker with limits runs); [] when none */
  limits(): Promise<LimitState[]>;
  /** The same figures as a Prometheus text exposition, format 0.0.4 (saq_queue_metrics). */
  metrics(): Promise<string>;
  /** Pages of a scan over this queue's job records of any status, finished ones included. As
   *  with SCAN, a job present during the whole scan comes at least once (rarely twice). */
  jobPages(options?: IterJobsOptions): AsyncGenerator<JobPage, void, undefined>;
  /** saq's iter_jobs: every job record of this queue (any status), a page at a time. */
  iterJobs(options?: IterJobsOptions): AsyncGenerator<Job, void, undefined>;
  schedule(options?: { lock?: number }): Promise<string[]>;
  sweep(options?: { lock?: number; abort?: number }): Promise<string[]>;
  /** Status messages of the given jobs; break out of the loop to stop. */
  listen(keys: string | Job | Iterable<string | Job>, options?: ListenOptions): AsyncIterableIterator<ListenMessage>;
  /** saq's callback form: a truthy return value stops the listen. */
  listen(keys: string | Job | Iterable<string | Job>, callback: (key: string, status: JobStatus) => unknown, options?: ListenOptions): Promise<void>;
  /** rawJson: resolves to the result's exact JSON text ("null" for none). */
  apply<N extends FunctionName<F>>(fn: N, kwargs: CallKwargs<F[N]> | undefined, options: ApplyOptions & { rawJson: true }): Promise<string>;
  /** Enqueue and wait for the result: the function's result type. timeout (seconds; 0 or
   *  Infinity = none; defaults to kwargs.timeout) also becomes the job's timeout. Rejects with
   *  JobError when the job failed or was aborted. */
  apply<N extends FunctionName<F>>(fn: N, ...args: CallArgs<F[N], ApplyOptions & { rawJson?: false }>): Promise<ResultOf<F[N]>>;
  /** rawJson: each result's exact JSON text. */
  map<N extends FunctionName<F>>(fn: N, iterKwargs: Iterable<MapItem<F[N]>>, options: MapOptions<KwargsOf<F[N]>> & { rawJson: true; returnExceptions?: false }): Promise<string[]>;
  map<N extends FunctionName<F>>(fn: N, iterKwargs: Iterable<MapItem<F[N]>>, options: MapOptions<KwargsOf<F[N]>> & { rawJson: true; returnExceptions: true }): Promise<Array<string | JobError>>;
  /** returnExceptions: a failed or aborted job is a JobError in the results. */
  map<N extends FunctionName<F>>(fn: N, iterKwargs: Iterable<MapItem<F[N]>>, options: MapOptions<KwargsOf<F[N]>> & { returnExceptions: true; rawJson?: false }): Promise<Array<ResultOf<F[N]> | JobError>>;
  /** One job per element (merged over `defaults`); the results in order. Rejects with JobError
   *  for the first job that failed or was aborted. */
  map<N extends FunctionName<F>>(fn: N, iterKwargs: Iterable<MapItem<F[N]>>, options?: MapOptions<KwargsOf<F[N]>> & { returnExceptions?: false; rawJson?: false }): Promise<Array<ResultOf<F[N]>>>;
  /** Enqueue member jobs and record a callback job that libsaq enqueues exactly once, when
   *  every member is terminal, with the members' outcomes in its kwargs under "flow" (read them
   *  with flowOutcome). The flow id is the callback's key. Resolves to null when a flow with
   *  that id is recorded already. */
  enqueueFlow(members: FlowJobSpec[], callback: FlowJobSpec, options?: { ttl?: number }): Promise<EnqueuedFlow | null>;
  /** Read a flow (recording members that ended outside a libsaq worker); null when unknown. */
  flow(id: string): Promise<FlowInfo | null>;
  /** If fn throws, the jobs enqueued meanwhile are aborted and the error rethrown. */
  batch<T>(fn: (queue: this) => Promise<T> | T): Promise<T>;
  /** Stop workers (one still running `timeout` seconds after its grace period and hard deadline
   *  is stopped at once; its afterProcess and shutdown hooks still pending `timeout` seconds
   *  later are no longer waited for) and listens, wait up to `timeout` seconds (default 5; Infinity = no
   *  limit) for operations in flight, release the connections. (Before 0.2 the timeout was in
   *  milliseconds; a value of 300 or more warns once.) */
  close(options?: { timeout?: number }): Promise<void>;
}

export interface WorkerContext {
  worker: Worker<any>;
  queue: Queue<any>;
  [entry: string]: any;
}

export interface JobContext extends WorkerContext {
  /** the queue the job came from (one of worker.queues) */
  queue: Queue<any>;
  /** the handler's job; in afterProcess, the record as libsaq stored it: its final status
   *  ('complete', 'failed', 'aborted', or 'queued' for a retry), error, result and attempts */
  job: Job;
  /** Fires with a CancelledError on timeout, abort, shutdown, missed heartbeat or lost lease. */
  signal: AbortSignal;
  /** afterProcess: the handler's result (a job that completed) */
  result?: unknown;
  /** afterProcess: what ended the job when it did not complete: the CancelledError of a timeout,
   *  abort, shutdown or missed heartbeat (even when the handler ignored its signal), else what
   *  the handler threw, else a JobError with the stored error */
  exception?: unknown;
}

/** An untyped job handler. */
export type JobHandler = JobFunction<any, unknown>;
export type Hook<C> = ((ctx: C) => unknown | Promise<unknown>) | Array<(ctx: C) => unknown | Promise<unknown>>;

export interface CronJob {
  /** a registered function name, or a named function (registered under its name) */
  function: string | JobHandler;
  /** 5 fields (minute hour day month weekday), 6 with seconds last, or @hourly-style aliases; UTC unless cronTz */
  cron: string;
  name?: string;
  kwargs?: Record<string, unknown>;
  timeout?: number;
  heartbeat?: number;
  retries?: number;
  ttl?: number;
  /** default true: key "cron:<function>" */
  unique?: boolean;
  /** an IANA time zone ("America/New_York") whose wall clock `cron` is read in, as saq 0.26's
   *  Worker(cron_tz=...); null or '' = UTC (even on a worker with its own cronTz);
   *  without the key, or undefined: the worker's cronTz, else UTC. On clock changes as croniter: a time in a spring-forward gap
   *  fires at the first minute after it (with '*' hours the gap's times are skipped), a time that
   *  occurs twice fires twice. A zone the system's tz database lacks: SaqError SAQ_ECRON. */
  cronTz?: string | null;
}

/** Another queue for a worker to serve: a Queue (weight 1), or one with its weight. */
export type WorkerQueue = Queue<any> | { queue: Queue<any>; /** integer >= 1; used by queueOrder 'weighted'; default 1 */ weight?: number };

/** How a worker serving several queues shares its concurrency: 'strict' (default): a free slot
 *  goes to the first queue in order that may have jobs; 'weighted': the queues that have jobs share
 *  the free slots in proportion to their weights. */
export type QueueOrder = 'strict' | 'weighted';

/** A limit the queue's libsaq workers enforce, with its state now (Queue.limits()). */
export interface LimitState {
  /** null: the whole queue */
  function: string | null;
  /** the published entry as stored when it is not one a libsaq worker writes (maxJobs, period,
   *  maxRunning and started are null then); absent for a valid one */
  invalid?: string;
  maxJobs: number | null;
  /** seconds */
  period: number | null;
  maxRunning: number | null;
  /** running slots live workers hold now */
  running: number;
  /** starts in the last period */
  started: number | null;
  /** jobs of the function waiting for a running slot */
  waiting: number;
}

/** A rate limit and a concurrency limit (WorkerOptions.limits): at most maxJobs starts per period
 *  seconds (a sliding window; 0 = none) and at most maxRunning running at once (0 = none). */
export interface Limit {
  maxJobs?: number;
  /** seconds */
  period?: number;
  maxRunning?: number;
}

export interface WorkerOptions<F extends Functions = AnyFunctions> {
  /** the job functions by name (their types type a Queue<typeof functions>), or a Map, or an
   *  array of named functions */
  functions?: F | Map<string, JobHandler> | JobHandler[];
  concurrency?: number;
  cronJobs?: CronJob[];
  startup?: Hook<WorkerContext>;
  shutdown?: Hook<WorkerContext>;
  beforeProcess?: Hook<JobContext>;
  afterProcess?: Hook<JobContext>;
  /** seconds; 0 = block until a job or stop */
  dequeueTimeout?: number;
  /** seconds */
  /** pause: how often the queue's pause flag is read (Queue.pause; default 0.5, 0 ignores it) */
  timers?: { schedule?: number; workerInfo?: number; sweep?: number; abort?: number; pause?: number };
  burst?: boolean;
  maxBurstJobs?: number;
  /** seconds */
  shutdownGracePeriod?: number;
  /** seconds */
  cancellationHardDeadline?: number;
  id?: string;
  metadata?: Record<string, unknown> | null;
  sweptErrorMessage?: string;
  /** the IANA time zone of the cron jobs that set no cronTz, as saq 0.26's Worker(cron_tz=...);
   *  default (and null, ''): UTC. A zone the system's tz database lacks: SaqError SAQ_EINVAL from new Worker. */
  cronTz?: string | null;
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
  /** Rate limits and global concurrency over every libsaq worker of the queue (an extension kept
   *  in Redis; Python saq workers do not honour it), by function name ('' = every job of the
   *  queue). A job over a limit waits, never fails: over the queue's limit it stays at the head
   *  of the queue; over its function's rate it is deferred (scheduled) to its next free start;
   *  over its function's maxRunning it waits until a slot frees (at most 30 s, then it is tried
   *  again). A dead worker's slots are freed when its liveness entry expires. */
  limits?: Record<string, Limit> | Map<string, Limit>;
  /** raw libsaq worker configuration keys */
  conf?: Record<string, string | number | boolean>;
}

export interface WorkerStats extends QueueStats {
  running: number;
  /** Redis errors this worker's own writes and upkeep operations met */
  errors?: number;
  /** a worker of several queues: each queue's counters (the fields above are their sums) */
  queues?: Array<{ name: string; id: string; complete: number; failed: number; retried: number; aborted: number; running: number; errors: number }>;
}

/** The events of a Worker and their arguments. */
export interface WorkerEvents {
  /** start() has run the startup hooks and libsaq takes jobs */
  started: [];
  /** the worker stopped (after the shutdown hooks); its final counters */
  stopped: [stats: WorkerStats | null];
  /** libsaq stored the job complete; the job as stored, its result */
  completed: [job: Job, result: any];
  /** stored failed (retries used up): the CancelledError of a timeout/heartbeat/shutdown, what
   *  the handler threw when it is an Error, else a JobError with the stored error */
  failed: [job: Job, error: Error];
  /** stored queued again for a retry; the error as for 'failed' */
  retried: [job: Job, error: Error];
  /** stored aborted */
  aborted: [job: Job];
  /** emitted only while a listener is attached: trouble of the worker or of a queue it serves,
   *  with its libsaq code (a warning or error log record with an error code, not about one job
   *  nor another worker: Redis unreachable, a connection lost, an unreadable record; `fields`
   *  holds the record's fields), or a job outcome that could not be stored (`key`, `job`) */
  error: [error: WorkerError];
}

export interface WorkerError extends SaqError {
  /** the log record's fields (log-based errors) */
  fields?: LogFields;
  /** the job key (an outcome that could not be stored) */
  key?: string;
  job?: Job | null;
}

/** saq's Worker. `F` is its functions map's type (inferred from `functions`). */
export class Worker<F extends Functions = AnyFunctions> extends EventEmitter {
  constructor(queue: Queue<any>, options?: WorkerOptions<F>);
  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): boolean;
  emit(event: string | symbol, ...args: any[]): boolean;
  readonly queue: Queue<any>;
  /** every queue the worker serves, its own first, then `queues` in order */
  readonly queues: ReadonlyArray<Queue<any>>;
  readonly id: string;
  /** Startup hooks, then start leasing jobs. */
  start(): Promise<void>;
  /** Graceful stop: running jobs get `grace` seconds (default shutdownGracePeriod) to finish. */
  stop(options?: {
    grace?: number;
    /** @deprecated milliseconds: use grace (seconds) */
    graceMs?: number;
  }): Promise<void>;
  /** Resolves when the worker has stopped. */
  done(): Promise<void>;
  /** start(), stop on SIGINT/SIGTERM, resolve when stopped. */
  run(): Promise<void>;
  /** Counters; after the worker stopped, its final ones (null only for a worker whose native
   *  part was never made). */
  stats(): WorkerStats | null;
  /** This worker's metrics as a Prometheus text exposition, format 0.0.4 (saq_worker_metrics):
   *  saq_jobs_processed_total, saq_job_duration_seconds, saq_jobs_running,
   *  saq_worker_errors_total. After the stop: the figures of the run. */
  metrics(): string;
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

/** One Prometheus text exposition of Queues (their queue-wide metrics), Workers (their own) and
 *  texts (e.g. prom-client's `await register.metrics()`), each metric family once. */
export function collectMetrics(...sources: Array<Queue<any> | Worker<any> | string>): Promise<string>;
export function collectMetrics(sources: Array<Queue<any> | Worker<any> | string>): Promise<string>;
/** "text/plain; version=0.0.4; charset=utf-8" */
export const metricsContentType: string;

/** Version of the loaded libsaq ("0.2.0"). */
export const libsaqVersion: string;
/** Version of this package. */
export const version: string;
