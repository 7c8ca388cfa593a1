// SPDX-License-Identifier: MIT
'use strict';
// The worker: libsaq leases the jobs (pull mode) and owns everything that
// touches Redis: the blocking dequeue on its own connection, concurrency
// (back-pressure: it never leases more than `concurrency` jobs), timeouts,
// heartbeats, aborts, sweeps, the schedule and cron. JavaScript only runs the
// async handlers on the main thread and settles each lease.
const util = require('util');
const { EventEmitter } = require('events');
const raw = require('./native');
const json = require('./json');
const { jobFromRaw } = require('./job');
const { makeConf } = require('./queue');
const { SaqError, JobError, CancelledError, codes } = require('./errors');
const { checkOptions, seconds } = require('./options');

const WORKER_CONF = {
  concurrency: 'concurrency',
  dequeueTimeout: 'dequeue_timeout',
  burst: 'burst',
  maxBurstJobs: 'max_burst_jobs',
  shutdownGracePeriod: 'shutdown_grace_period',
  cancellationHardDeadline: 'cancellation_hard_deadline',
  id: 'id',
  metadata: 'metadata',
  sweptErrorMessage: 'swept_error_message',
  deadWorkerCheck: 'dead_worker_check',
  queueOrder: 'queue_order',
  queueWeight: 'queue_weight',
  cronTz: 'cron_tz',
};
const INT_MAX = 2147483647;
const TIMERS = { schedule: 'timers.schedule', workerInfo: 'timers.worker_info', stats: 'timers.worker_info',
  sweep: 'timers.sweep', abort: 'timers.abort', worker_info: 'timers.worker_info', pause: 'timers.pause' };
const CRON_OPTIONS = ['kwargs', 'timeout', 'heartbeat', 'retries', 'ttl', 'unique', 'cronTz'];
// the option names libsaq's saq_worker_add_cron reads, where they differ
const CRON_OPTION_NAMES = { cronTz: 'cron_tz' };
const WORKER_OPTIONS = [...Object.keys(WORKER_CONF), 'functions', 'cronJobs', 'startup', 'shutdown',
  'beforeProcess', 'afterProcess', 'timers', 'queues', 'conf', 'limits'];

const LIMIT_KEYS = ['maxJobs', 'period', 'maxRunning'];
// the event each stored status is reported with (_onOutcome)
const OUTCOME_EVENTS = {
  [raw.SAQ_STATUS_COMPLETE]: 'completed',
  [raw.SAQ_STATUS_FAILED]: 'failed',
  [raw.SAQ_STATUS_QUEUED]: 'retried',
  [raw.SAQ_STATUS_ABORTED]: 'aborted',
};

/** The `limits` option: [function ('' = the queue), maxJobs, period, maxRunning] entries. */
function limitEntries(limits) {
  if (limits === undefined || limits === null) return [];
  if (typeof limits !== 'object' || Array.isArray(limits)) {
    throw new TypeError('limits must be an object (or a Map) of function name => { maxJobs, period, maxRunning }');
  }
  const entries = limits instanceof Map ? [...limits] : Object.entries(limits);
  return entries.map(([fn, spec]) => {
    if (typeof fn !== 'string') throw new TypeError('limits: each function name must be a string (\'\' = the queue)');
    if (!spec || typeof spec !== 'object') throw new TypeError(`limits['${fn}'] must be { maxJobs, period, maxRunning }`);
    checkOptions(spec, LIMIT_KEYS, `limits['${fn}']`);
    const int = (k) => {
      const v = spec[k] === undefined || spec[k] === null ? 0 : spec[k];
      if (!Number.isInteger(v)) throw new TypeError(`limits['${fn}'].${k} must be an integer`);
      if (v < 0 || v > INT_MAX) throw new SaqError(codes.EINVAL, `limits['${fn}'].${k} must be between 0 and ${INT_MAX}, got ${v}`);
      return v;
    };
    const period = spec.period === undefined || spec.period === null ? 0 : spec.period;
    if (typeof period !== 'number') throw new TypeError(`limits['${fn}'].period must be a number of seconds`);
    return [fn, int('maxJobs'), period, int('maxRunning')];
  });
}

function hooks(h, what) {
  const list = h === undefined || h === null ? [] : Array.isArray(h) ? h : [h];
  for (const f of list) if (typeof f !== 'function') throw new TypeError(`${what} hooks must be functions`);
  return list;
}

/** The `queues` option: [Queue, weight] pairs, in order. Each entry is a
 *  Queue (weight 1) or { queue, weight }; the weight is an integer (libsaq
 *  refuses one below 1 with SAQ_EINVAL). */
function queueEntries(list) {
  if (list === undefined || list === null) return [];
  if (typeof list === 'string' || typeof list[Symbol.iterator] !== 'function') {
    throw new TypeError('queues must be an array of Queues or { queue, weight } objects');
  }
  return Array.from(list, (e, i) => {
    const isQueue = (x) => x !== null && typeof x === 'object' && '_q' in x && typeof x._live === 'function';
    const queue = isQueue(e) ? e : e && typeof e === 'object' ? e.queue : undefined;
    if (!isQueue(queue)) throw new TypeError(`queues[${i}] must be a Queue or { queue: Queue, weight }`);
    const weight = isQueue(e) || e.weight === undefined || e.weight === null ? 1 : e.weight;
    if (typeof weight !== 'number' || !Number.isInteger(weight)) {
      throw new TypeError(`queues[${i}].weight must be an integer`);
    }
    if (weight > INT_MAX) throw new SaqError(codes.EINVAL, `queues[${i}].weight must be at most ${INT_MAX}, got ${weight}`);
    return [queue, weight];
  });
}

/** util.inspect that never throws (a revoked Proxy, a throwing getter). */
function describe(value) {
  try {
    return typeof value === 'string' ? value : util.inspect(value);
  } catch (_) {
    try {
      return Object.prototype.toString.call(value);
    } catch (__) {
      return '<uninspectable value>';
    }
  }
}

/** Text stored as the job's error: the stack (which starts with
 *  "Name: message"), plus causes, as saq stores a Python traceback. Never
 *  throws, whatever the handler threw (a revoked Proxy, an Error whose
 *  `message` or `stack` getter throws, ...). */
function errorText(err) {
  try {
    if (!(err instanceof Error)) return describe(err);
    const stack = err.stack;
    const message = err.message;
    let text = typeof stack === 'string' && stack.includes(message) ? stack : `${err.name}: ${message}\n${stack || ''}`;
    const seen = new Set([err]);
    let cause = err.cause;
    for (let depth = 0; cause !== undefined && !seen.has(cause) && depth < 5; depth++) {
      seen.add(cause);
      text += `\n\nThe above error was caused by:\n${cause instanceof Error ? cause.stack || String(cause) : describe(cause)}`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    return text;
  } catch (_) {
    return describe(err);
  }
}

/** A short description of a thrown value for messages; never throws. */
function errorMessage(err) {
  try {
    if (err instanceof Error) return String(err.message);
  } catch (_) {
    /* fall through */
  }
  return describe(err);
}

/** The error a 'failed' or 'retried' event carries: the CancelledError the
 *  handler's signal fired with (timeout, shutdown, ...), else what the
 *  handler threw when it is an Error, else a JobError with the stored text. */
function outcomeError(lease, job) {
  if (lease) {
    const sig = lease.ac.signal;
    if (sig.aborted && isError(sig.reason)) return sig.reason;
    if (isError(lease.thrown)) return lease.thrown;
  }
  const first = job.error ? String(job.error).split('\n', 1)[0] : '';
  return new JobError(job, first || `job ${job.key} ${job.status}`);
}

/** instanceof Error that never throws (a revoked Proxy). */
function isError(v) {
  try {
    return v instanceof Error;
  } catch (_) {
    return false;
  }
}

/** Whether a log record is about worker `id` (or its "<id>.<n>" on an added queue). */
function ownRecord(fields, id) {
  const w = fields.worker;
  return typeof w === 'string' && (w === id || w.startsWith(`${id}.`));
}

class Worker extends EventEmitter {
  /**
   * @param queue a Queue
   * @param options functions ({ name: async (job, ctx) => result } or an array
   *   of named functions), concurrency, cronJobs, startup, shutdown,
   *   beforeProcess, afterProcess, dequeueTimeout, timers, burst,
   *   maxBurstJobs, shutdownGracePeriod, cancellationHardDeadline, id,
   *   metadata, sweptErrorMessage, deadWorkerCheck (seconds, as in saq),
   *   queues (more queues to serve: Queues or { queue, weight }, after
   *   `queue` in order), queueOrder ('strict' or 'weighted'), queueWeight
   *   (`queue`'s weight), conf, limits ({ [function]: { maxJobs, period,
   *   maxRunning } }, '' = every job of the queue: rate limits and global
   *   concurrency over every libsaq worker of the queue).
   */
  constructor(queue, options = {}) {
    super();
    if (!queue || !queue._q) throw new TypeError('new Worker(queue, options): queue must be an open Queue');
    if (options && (options.logger !== undefined || options.logLevel !== undefined)) {
      throw new TypeError('logger and logLevel are Queue options: a worker logs through its queue (new Queue({ logger }))');
    }
    options = checkOptions(options, WORKER_OPTIONS, 'new Worker()');
    this.queue = queue;
    const added = queueEntries(options.queues);
    const limits = limitEntries(options.limits);
    /** Every queue the worker serves, its own first. */
    this.queues = Object.freeze([queue, ...added.map(([q]) => q)]);
    this._functions = new Map();
    const fns = options.functions || {};
    if (Array.isArray(fns)) {
      for (const f of fns) this._addFunction(f.name, f);
    } else if (fns instanceof Map) {
      for (const [k, f] of fns) this._addFunction(k, f);
    } else {
      for (const [k, f] of Object.entries(fns)) this._addFunction(k, f);
    }
    const crons = [];
    for (const c of options.cronJobs || []) {
      if (!c || typeof c.cron !== 'string') throw new TypeError('each cron job needs a cron expression (cron: "* * * * *")');
      checkOptions(c, ['function', 'cron', 'name', ...CRON_OPTIONS], `cron job ${c.cron}`);
      let name = c.function;
      if (typeof name === 'function') {
        const f = name;
        name = c.name || f.name;
        if (!this._functions.has(name)) this._addFunction(name, f);
      }
      if (typeof name !== 'string' || !this._functions.has(name)) {
        throw new TypeError(`cron job ${c.cron}: its function must be registered in functions (or be a named function)`);
      }
      const opts = {};
      for (const k of CRON_OPTIONS) if (c[k] !== undefined && c[k] !== null) opts[CRON_OPTION_NAMES[k] || k] = c[k];
      // cronTz null or '' is UTC, over the worker's cronTz (libsaq's cron_tz null or ""); undefined is
      // "not given", as a missing key: the cron job takes the worker's
      if (c.cronTz === null) opts.cron_tz = null;
      crons.push([name, c.cron, json.stringify(opts)]);
    }
    this._startup = hooks(options.startup, 'startup');
    this._shutdown = hooks(options.shutdown, 'shutdown');
    this._before = hooks(options.beforeProcess, 'beforeProcess');
    this._after = hooks(options.afterProcess, 'afterProcess');

    const pairs = [];
    for (const [js, key] of Object.entries(WORKER_CONF)) {
      const v = options[js];
      if (v !== undefined && v !== null) pairs.push([key, typeof v === 'boolean' ? (v ? 'true' : 'false') : v]);
    }
    for (const [k, v] of Object.entries(options.timers || {})) {
      if (!TIMERS[k]) throw new TypeError(`unknown timer "${k}" (schedule, workerInfo, sweep, abort, pause)`);
      pairs.push([TIMERS[k], v]);
    }
    for (const [k, v] of Object.entries(options.conf || {})) pairs.push([k, v]);
    const conf = makeConf(pairs);
    const out = [];
    const rc = raw.saq_worker_open(out, queue._live(), conf);
    const msg = raw.saq_conf_errmsg(conf);
    raw.saq_conf_free(conf);
    if (rc !== 0) throw new SaqError(rc, `cannot create the worker: ${msg}`);
    const w = out[0];
    this._w = w;
    try {
      for (const name of this._functions.keys()) {
        const rc = raw.saq_worker_register_pull(w, name);
        if (rc !== 0) throw new SaqError(rc, `register ${name}: ${raw.saq_worker_errmsg(w)}`);
      }
      for (const [name, expr, opts] of crons) {
        const rc = raw.saq_worker_add_cron(w, name, expr, opts);
        if (rc !== 0) throw new SaqError(rc, `cron job ${name} (${expr}): ${raw.saq_worker_errmsg(w)}`);
      }
      for (const [fn, maxJobs, period, maxRunning] of limits) {
        const rc = raw.saq_worker_set_limit(w, fn, maxJobs, period, maxRunning);
        if (rc !== 0) throw new SaqError(rc, `limits['${fn}']: ${raw.saq_worker_errmsg(w)}`);
      }
      added.forEach(([q, weight], i) => {
        const rc = raw.saq_worker_add_queue(w, q._live(), weight);
        if (rc !== 0) throw new SaqError(rc, `queues[${i}] ('${q.name}'): ${raw.saq_worker_errmsg(w)}`);
      });
    } catch (err) {
      raw.saq_worker_free(w);
      this._w = null;
      throw err;
    }
    /** Worker id (uuid1 unless set); shown in saq's info() and web UI. */
    this.id = raw.saq_worker_id(w);
    // how long a stop may take before Queue.close stops at once: the grace
    // period and hard deadline libsaq runs with (however they were set)
    const setting = (key) => Number(raw.saq_worker_conf_get(w, key));
    this._stopMs = 1000 * (setting('shutdown_grace_period') + setting('cancellation_hard_deadline'));
    this._leases = new Map(); // lease id -> lease
    this._settled = new Map(); // lease id -> settled lease whose OUTCOME is still to come
    this._final = null; // { stats, metrics } read just before the native worker is freed
    this._started = false;
    this._afterRuns = new Set();
    this._state = 'new'; // new -> starting -> running -> stopping -> stopped
    this._tag = 0;
    this._ctx = null;
    this._done = new Promise((resolve, reject) => {
      this._resolveDone = resolve;
      this._rejectDone = reject;
    });
    this._done.catch(() => {});
    // _abandonHooks(): the stop no longer waits for the afterProcess and
    // shutdown hooks that have not settled (Queue.close, after its timeout
    // twice: one that never settles would hold it forever)
    this._hooksAbandoned = new Promise((resolve) => {
      this._abandonHooks = resolve;
    });
    // closing any of its queues stops the worker (libsaq does the same)
    for (const q of this.queues) q._workers.add(this);
  }

  _addFunction(name, f) {
    if (typeof name !== 'string' || name === '') throw new TypeError('job functions need a name');
    if (typeof f !== 'function') throw new TypeError(`function ${name} must be a function`);
    this._functions.set(name, f);
  }

  /** Run the startup hooks, then start leasing jobs. Resolves once started;
   *  `done()` resolves when the worker has stopped. */
  async start() {
    if (this._state !== 'new') {
      throw new SaqError(codes.ESTATE, this._state === 'stopped' && this._tag === 0 && !this._ctx
        ? 'the worker was stopped before it started (stop() or its queue was closed); create a new Worker'
        : 'the worker was already started');
    }
    this._state = 'starting';
    const engine = this.queue._engine;
    try {
      this._ctx = { worker: this, queue: this.queue };
      for (const h of this._startup) await h(this._ctx);
      if (this._state !== 'starting') {
        // stop() came while the startup hooks ran
        await this._finish();
        return;
      }
      this._tag = engine.newTag();
      engine.add(this._tag, { event: (ev) => this._onEvent(ev), abandon: () => this._finish() });
      const rc = raw.saq_worker_start(this._w, engine.cq, this._tag);
      if (rc !== 0) {
        engine.remove(this._tag);
        throw new SaqError(rc, raw.saq_worker_errmsg(this._w) || undefined);
      }
    } catch (err) {
      this._state = 'stopped';
      this._free();
      this._rejectDone(err);
      throw err;
    }
    this._state = 'running';
    this._started = true;
    this.emit('started');
  }

  /** Stop taking jobs; running jobs get `grace` seconds (default: the
   *  shutdownGracePeriod setting) to finish, then their AbortSignal fires
   *  (reason "shutdown") and they are retried, as saq does. Then the shutdown
   *  hooks run. Resolves when the worker has stopped. Idempotent.
   *  `graceMs` (milliseconds) is the deprecated form of `grace`. */
  stop(options = {}) {
    let grace;
    try {
      const o = checkOptions(options, ['grace', 'graceMs'], 'stop()');
      grace = seconds(o, 'grace', 'graceMs', 'LIBSAQ_DEP_GRACEMS', 'stop()');
    } catch (err) {
      return Promise.reject(err); // a rejection, not a throw, as the Promise it returns says
    }
    if (this._state === 'new') {
      this._state = 'stopped';
      this._free();
      this._resolveDone();
    } else if (this._state !== 'stopped' && this._w) {
      const starting = this._state === 'starting';
      this._state = 'stopping';
      if (starting) return this._done;
      const g = grace === undefined ? -1 : Math.min(INT_MAX, Math.max(0, Math.round(grace * 1000)));
      if (this._tag) raw.saq_worker_stop(this._w, g);
    }
    return this._done;
  }

  /** Stop at once, without waiting for libsaq to report the worker stopped:
   *  the native worker is released (running jobs are retried with
   *  "cancelled" by libsaq, as far as Redis can still be reached), the
   *  handlers' signals fire with reason "shutdown", then the shutdown hooks
   *  run. For when a graceful stop cannot finish, e.g. Redis is gone and a
   *  job's outcome can never be written. Resolves when stopped. */
  _hardStop() {
    if (this._state === 'new' || this._state === 'stopped' || !this._w) return this.stop();
    if (this._state === 'starting') {
      this._state = 'stopping';
      return this._done;
    }
    this._state = 'stopping';
    if (this._tag) this.queue._engine.remove(this._tag);
    this._tag = 0;
    for (const lease of this._leases.values()) {
      if (!lease.settled && !lease.ac.signal.aborted) lease.ac.abort(new CancelledError(3, lease.job.key));
    }
    this._free(); // saq_worker_free: stops without grace, never blocks
    // A job outcome libsaq could not write yet (Redis gone) is still queued
    // on the queue's I/O thread. Freeing the native queue now would run
    // libsaq's teardown over that lease, which drops the worker's lease
    // reference twice (heap use-after-free in libsaq 0.1.0); close() leaves
    // the native queue to the I/O thread instead, which still writes the
    // outcome if Redis comes back before the process exits.
    for (const q of this.queues) q._keepNative = true;
    this._finish();
    return this._done;
  }

  /** Resolves when the worker has stopped (rejects if it failed to start). */
  done() {
    return this._done;
  }

  /** saq's Worker.start() for a program's main: start, stop gracefully on
   *  SIGINT/SIGTERM (shutdownGracePeriod applies), resolve when stopped. */
  async run() {
    // the first signal stops gracefully; a second one stops at once (a
    // graceful stop can wait forever when Redis is gone)
    let signals = 0;
    const onSignal = () => {
      if (signals++ === 0) this.stop();
      else this._hardStop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await this.start();
      await this._done;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  }

  /** Counters of this worker: { complete, failed, retried, aborted, uptime,
   *  running }. After the worker stopped: its final counters. */
  stats() {
    if (!this._w) return this._final ? { ...this._final.stats } : null;
    const s = json.parse(raw.saq_worker_stats_json(this._w));
    if (s && s.running === undefined) s.running = this._leases.size; // jobs in JS handlers now
    return s;
  }

  /** This worker's own metrics as a Prometheus text exposition (format
   *  0.0.4; saq_worker_metrics): jobs processed per function and outcome,
   *  the job duration histogram, jobs running, Redis errors met. Valid
   *  before, during and after a run (then: the figures of the run). */
  metrics() {
    if (!this._w) return this._final ? this._final.metrics : '';
    const text = raw.saq_worker_metrics(this._w);
    if (text === null || text === undefined) throw new SaqError(codes.ENOMEM, 'cannot read the worker metrics');
    return text;
  }

  /** 'error' only when someone listens: an EventEmitter's 'error' without a
   *  listener would throw, and the same trouble is logged anyway. */
  _error(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** A log record of one of this worker's queues: a warning or error that
   *  carries a libsaq error code and is about this worker or its queue as a
   *  whole (not about one job, nor another worker) becomes an 'error' event:
   *  Redis unreachable, a connection lost, a record that cannot be read. */
  _onLog(level, message, fields) {
    if (this._state === 'new' || this._state === 'stopped') return; // not (or no longer) running
    if (level > raw.SAQ_LOG_WARNING || fields.job !== undefined) return;
    if (typeof fields.code !== 'number' || !(fields.code < 0)) return;
    if (fields.worker !== undefined && !ownRecord(fields, this.id)) return;
    const err = new SaqError(fields.code, message);
    err.fields = fields;
    this._error(err);
  }

  /** SAQ_EVENT_OUTCOME: what libsaq stored for a lease, as a
   *  'completed', 'failed', 'retried' or 'aborted' event. */
  _onOutcome(ev) {
    const id = Number(raw.saq_event_int(ev));
    const lease = this._settled.get(id) || this._leases.get(id) || null;
    this._settled.delete(id);
    const st = raw.saq_event_status(ev);
    const p = raw.saq_event_job(ev);
    if (st !== 0 || !p) {
      const err = new SaqError(st || codes.ENOMEM, raw.saq_event_errmsg(ev) || undefined);
      err.key = raw.saq_event_key(ev);
      err.job = lease ? lease.job : null;
      if (lease) this._afterProcess(lease, null, null);
      this._error(err);
      return;
    }
    const code = raw.saq_job_status_code(p);
    if (!this._after.length && this.listenerCount(OUTCOME_EVENTS[code] || 'completed') === 0) {
      // nobody looks at the stored record: skip copying it into JavaScript
      if (lease) lease.afterDone = true;
      return;
    }
    const job = jobFromRaw(p, lease ? lease.job._queue : this._queueOf(p));
    let error = null;
    switch (code) {
      case raw.SAQ_STATUS_COMPLETE:
        if (lease) this._afterProcess(lease, job, null);
        this.emit('completed', job, job.result);
        break;
      case raw.SAQ_STATUS_FAILED:
        error = outcomeError(lease, job);
        if (lease) this._afterProcess(lease, job, error);
        this.emit('failed', job, error);
        break;
      case raw.SAQ_STATUS_QUEUED:
        error = outcomeError(lease, job);
        if (lease) this._afterProcess(lease, job, error);
        this.emit('retried', job, error);
        break;
      case raw.SAQ_STATUS_ABORTED:
        if (lease) this._afterProcess(lease, job, outcomeError(lease, job));
        this.emit('aborted', job);
        break;
      default:
        if (lease) this._afterProcess(lease, job, null);
        break;
    }
  }

  _onEvent(ev) {
    switch (raw.saq_event_type(ev)) {
      case raw.SAQ_EVENT_LEASE: {
        const p = raw.saq_event_take_job(ev);
        if (p) this._run(p);
        break;
      }
      case raw.SAQ_EVENT_CANCEL: {
        // The event names the job key only, which two queues of a worker may
        // both hold; the lease libsaq cancelled is the one whose job says so.
        const key = raw.saq_event_key(ev);
        for (const lease of this._leases.values()) {
          if (lease.job.key !== key || lease.settled || lease.ac.signal.aborted) continue;
          const why = raw.saq_job_cancelled(lease.p);
          if (why !== 0) lease.ac.abort(new CancelledError(why, key));
        }
        break;
      }
      case raw.SAQ_EVENT_GIVEN_BACK: {
        // past the hard deadline libsaq stored the outcome without the handler
        // and freed its slot; the handler's late result is discarded
        const lease = this._leases.get(Number(raw.saq_event_int(ev)));
        if (lease) this._settle(lease, false, lease.ac.signal.reason);
        break;
      }
      case raw.SAQ_EVENT_OUTCOME:
        this._onOutcome(ev);
        break;
      case raw.SAQ_EVENT_WORKER_STOPPED:
        this.queue._engine.remove(this._tag);
        this._finish();
        break;
      default:
        break;
    }
  }

  /** The Queue a leased job came from: by its queue name, or, when two of
   *  the worker's queues share a name (on different servers), by the worker
   *  id libsaq wrote on it ("<id>.<n>" on the n-th added queue). */
  _queueOf(p) {
    if (this.queues.length === 1) return this.queue;
    const name = raw.saq_job_queue(p);
    const same = this.queues.filter((q) => q.name === name);
    if (same.length === 1) return same[0];
    const wid = raw.saq_job_worker_id(p) || '';
    const n = wid === this.id ? 0 : wid.startsWith(`${this.id}.`) ? Number(wid.slice(this.id.length + 1)) : -1;
    return this.queues[n] || same[0] || this.queue;
  }

  _run(p) {
    const queue = this._queueOf(p);
    const job = jobFromRaw(p, queue);
    const ac = new AbortController();
    const ctx = { ...this._ctx, queue, job, signal: ac.signal };
    const lease = { id: Number(raw.saq_job_lease_id(p)), p, job, ac, ctx, settled: false };
    job._lease = lease;
    this._leases.set(lease.id, lease);
    const fn = this._functions.get(job.function);
    (async () => {
      try {
        for (const h of this._before) await h(ctx);
        if (!fn) throw new Error(`KeyError: '${job.function}' is not registered on this worker`);
        this._settle(lease, true, await fn(job, ctx));
      } catch (err) {
        this._settle(lease, false, err);
      }
    })();
  }

  _settle(lease, ok, value) {
    if (lease.settled) return;
    lease.settled = true;
    if (this._leases.get(lease.id) === lease) this._leases.delete(lease.id);
    if (!ok) lease.thrown = value;
    if (this._w) this._settled.set(lease.id, lease); // until its OUTCOME
    if (ok) {
      let text;
      try {
        text = json.stringify(value);
      } catch (err) {
        ok = false;
        value = new TypeError(`the job's result cannot be stored as JSON: ${errorMessage(err)}`);
      }
      if (ok) raw.saq_job_complete(lease.p, text);
    }
    if (!ok) {
      // errorText never throws; C would cut the text at a NUL (and cuts one
      // too large for max_payload_bytes itself)
      raw.saq_job_fail(lease.p, errorText(value).replace(/\0/g, '\\x00'));
    }
    raw.saq_job_free(lease.p);
    lease.p = null;
    if (ok) lease.ctx.result = value;
    else lease.ctx.exception = value;
    // afterProcess runs once libsaq reports the stored outcome (_onOutcome),
    // as saq runs after_process after job.finish/retry; with the native
    // worker gone no outcome comes
    if (!this._w) this._afterProcess(lease, null, null);
  }

  /** The afterProcess hooks of a lease, once (fire-and-forget; the stop
   *  waits for them). `job`: the record as stored (its final status), or
   *  null when nothing was stored (the lease's job stays as leased). */
  _afterProcess(lease, job, error) {
    if (lease.afterDone) return;
    lease.afterDone = true;
    const { ctx } = lease;
    if (job) lease.job._assign(job); // ctx.job is the handler's job: now as stored
    if (error) {
      // the cause: the signal's CancelledError (timeout, abort, ...), what
      // the handler threw (any value), else the stored error as a JobError
      const thrown = lease.thrown !== undefined && !lease.ac.signal.aborted;
      ctx.exception = thrown ? lease.thrown : error;
      delete ctx.result;
    }
    if (!this._after.length) return;
    const run = (async () => {
      for (const h of this._after) {
        try {
          await h(ctx);
        } catch (err) {
          process.emitWarning(`libsaq: afterProcess hook failed: ${errorMessage(err)}`);
        }
      }
    })();
    this._afterRuns.add(run);
    run.finally(() => this._afterRuns.delete(run));
  }

  async _finish() {
    if (this._state === 'stopped') return this._done;
    this._state = 'stopped';
    // leases cannot outlive WORKER_STOPPED; settle any the engine abandoned
    for (const lease of [...this._leases.values()]) this._settle(lease, false, new CancelledError(3, lease.job.key));
    // no OUTCOME comes after WORKER_STOPPED: the hooks see what is known
    for (const lease of [...this._settled.values()]) this._afterProcess(lease, null, null);
    const hooks = (async () => {
      await Promise.allSettled([...this._afterRuns]);
      for (const h of this._shutdown) await h(this._ctx);
    })();
    hooks.catch(() => {}); // its error is the stop's, unless the hooks were abandoned
    try {
      await Promise.race([hooks, this._hooksAbandoned]);
      this._free();
      this._resolveDone();
    } catch (err) {
      this._free();
      this._rejectDone(err);
    }
    if (this._started) this.emit('stopped', this.stats());
  }

  _free() {
    if (this._w) {
      // the figures of the run stay readable after the stop
      let stats = null;
      let metrics = '';
      try {
        stats = this.stats();
        metrics = this.metrics();
      } catch (_) {
        /* out of memory: keep what was read */
      }
      if (stats) stats.running = 0;
      this._final = { stats, metrics };
      raw.saq_worker_free(this._w);
      this._w = null;
    }
    // no OUTCOME comes any more: the hooks see what is known
    for (const lease of this._settled.values()) this._afterProcess(lease, null, null);
    this._settled.clear();
    for (const q of this.queues) q._workers.delete(this);
  }
}

module.exports = { Worker, errorText };
