// SPDX-License-Identifier: MIT
'use strict';
const raw = require('./native');
const json = require('./json');
const { Engine } = require('./engine');
const { Job, jobFromRaw } = require('./job');
const { SaqError, JobError, codes } = require('./errors');
const log = require('./log');
const { checkOptions, checkSignal, onAbort, seconds, deprecate } = require('./options');

/** The longest delay setTimeout keeps (a longer one fires after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `promise` (which never rejects) settles within `ms`. */
async function within(promise, ms) {
  let timer = null;
  const inTime = await Promise.race([promise.then(() => true), new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  })]);
  clearTimeout(timer);
  return inTime;
}

/** The tag of the log records on a Queue's cq (operation tags start at 1). */
const LOG_TAG = 0;

const QUEUE_CONF = {
  url: 'url',
  name: 'name',
  dialect: 'dialect',
  maxConcurrentOps: 'max_concurrent_ops',
  maxPayloadBytes: 'max_payload_bytes',
  minReplicas: 'min_replicas',
  failedTtl: 'failed_ttl',
};
/** Queue options that are durations: the option (seconds), its deprecated
 *  form (milliseconds, before 0.2), the libsaq conf key (milliseconds). */
const QUEUE_DURATIONS = [
  ['commandTimeout', 'commandTimeoutMs', 'command_timeout_ms'],
  ['connectTimeout', 'connectTimeoutMs', 'connect_timeout_ms'],
  ['reconnectMax', 'reconnectMaxMs', 'reconnect_max_ms'],
  ['minReplicasTimeout', 'minReplicasTimeoutMs', 'min_replicas_timeout_ms'],
];
const QUEUE_OPTIONS = [...Object.keys(QUEUE_CONF), ...QUEUE_DURATIONS.flatMap(([s, ms]) => [s, ms]),
  'sentinel', 'defaults', 'retry', 'bigint', 'logger', 'logLevel', 'conf'];
/** Queue option `sentinel`: the sentinels' own credentials (redis+sentinel:// urls). */
const SENTINEL_CONF = { username: 'sentinel.username', password: 'sentinel.password' };
/** Queue option `defaults` (saq #302): given to the jobs enqueued through the queue that were
 *  not given the field; the record carries them. */
const DEFAULTS_CONF = { timeout: 'defaults.timeout', retries: 'defaults.retries', ttl: 'defaults.ttl',
  retryDelay: 'defaults.retry_delay', retryBackoff: 'defaults.retry_backoff' };
/** Queue option `retry` (saq #289): the minimum delay of a retry, saq's jitter on or off. */
const RETRY_CONF = { minDelay: 'retry.min_delay', jitter: 'retry.jitter' };

/** A saq_conf_t from [key, value] pairs; throws SaqError with libsaq's message
 *  (after a pair's optional third element, which names the option the user
 *  gave when it is not the key itself, e.g. a duration in seconds). */
function makeConf(pairs) {
  const conf = raw.saq_conf_new();
  if (!conf) throw new SaqError(codes.ENOMEM);
  for (const [k, v, given] of pairs) {
    let value;
    try {
      value = cstr(typeof v === 'object' && v !== null ? json.stringify(v) : String(v), k);
    } catch (err) {
      raw.saq_conf_free(conf);
      throw err;
    }
    const rc = raw.saq_conf_set(conf, k, value);
    if (rc !== 0) {
      const msg = raw.saq_conf_errmsg(conf);
      raw.saq_conf_free(conf);
      // libsaq's message usually names the key already ("url: redis url: ...")
      const text = msg && msg.startsWith(k) ? msg : `${k}: ${msg || raw.saq_strerror(rc)}`;
      throw new SaqError(rc, given ? `${given}: ${text}` : text);
    }
  }
  return conf;
}

function confPairs(options, table) {
  const pairs = [];
  for (const [js, key] of Object.entries(table)) {
    if (options[js] !== undefined && options[js] !== null) pairs.push([key, options[js]]);
  }
  for (const [js, old, key] of QUEUE_DURATIONS) {
    const s = seconds(options, js, old, `LIBSAQ_DEP_${old.toUpperCase()}`, 'new Queue()');
    if (s !== undefined) {
      const ms = Number.isFinite(s) ? Math.round(s * 1000) : s;
      const [name, unit] = options[js] === undefined || options[js] === null ? [old, 'ms'] : [js, 'seconds'];
      pairs.push([key, ms, `${name} ${options[name]} (${unit}; ${key} ${ms})`]);
    }
  }
  return pairs.concat(nestedPairs(options.sentinel, SENTINEL_CONF, 'sentinel'),
    nestedPairs(options.defaults, DEFAULTS_CONF, 'defaults'), nestedPairs(options.retry, RETRY_CONF, 'retry'),
    Object.entries(options.conf || {}));
}

/** [conf key, value] pairs of a nested option object (`sentinel: { password }`);
 *  an unknown member is a TypeError naming the known ones. */
function nestedPairs(obj, table, what) {
  if (obj === undefined || obj === null) return [];
  if (typeof obj !== 'object') throw new TypeError(`${what} must be an object`);
  const pairs = [];
  for (const [k, v] of Object.entries(obj)) {
    if (!Object.prototype.hasOwnProperty.call(table, k)) {
      throw new TypeError(`unknown ${what} option "${k}" (${Object.keys(table).join(', ')})`);
    }
    if (v !== undefined && v !== null) pairs.push([table[k], v]);
  }
  return pairs;
}

/** Text that crosses into C as a NUL-terminated string: an embedded NUL
 *  would silently cut it short there (another function, another key). */
function cstr(s, what) {
  if (s.includes('\0')) throw new TypeError(`${what} must not contain a NUL character`);
  return s;
}

function keyOf(jobOrKey) {
  if (typeof jobOrKey === 'string') return cstr(jobOrKey, 'a job key');
  if (jobOrKey && typeof jobOrKey.key === 'string') return cstr(jobOrKey.key, 'a job key');
  throw new TypeError('expected a job key (string) or a Job');
}

/** Job keys from a key, a Job, or an iterable of them. */
function keysOf(keys, what) {
  if (typeof keys === 'string' || (keys && typeof keys === 'object' && typeof keys.key === 'string')) return [keyOf(keys)];
  if (keys === null || keys === undefined || typeof keys[Symbol.iterator] !== 'function') {
    throw new TypeError(`${what} must be a job key, a Job or an iterable of them`);
  }
  return Array.from(keys, keyOf);
}

/** A wait timeout in seconds: Infinity means none (0), as absent does. */
function waitTimeout(v, what) {
  const t = num(v, what, 0);
  return t === Infinity ? 0 : t;
}

function num(v, what, dflt) {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${what} must be a number`);
  return v;
}

function kwargsJson(kwargs, what = 'kwargs') {
  if (kwargs === undefined || kwargs === null) return '{}';
  if (kwargs instanceof json.RawJson) return kwargs.text; // libsaq checks it is a JSON object
  if (typeof kwargs !== 'object' || Array.isArray(kwargs)) throw new TypeError(`${what} must be an object`);
  return json.stringify(kwargs);
}

/** The statuses option of jobPages/iterJobs as libsaq's comma-separated text (null: all). */
function statusList(statuses) {
  if (statuses === undefined || statuses === null) return null;
  if (typeof statuses === 'string') return cstr(statuses, 'statuses');
  if (typeof statuses[Symbol.iterator] !== 'function') throw new TypeError('statuses must be an array of job statuses');
  return cstr(Array.from(statuses, String).join(','), 'statuses');
}

function fnName(fn) {
  if (typeof fn === 'function' && fn.name) return cstr(fn.name, 'the job function');
  if (typeof fn !== 'string' || fn === '') throw new TypeError('the job function must be a non-empty string');
  return cstr(fn, 'the job function');
}

/** The error of a completion event, or null when it succeeded. */
function eventError(ev, queue) {
  const st = raw.saq_event_status(ev);
  if (st === 0) return null;
  const msg = raw.saq_event_errmsg(ev) || raw.saq_strerror(st);
  if (st === codes.EJOB) {
    const p = raw.saq_event_job(ev);
    return new JobError(p ? jobFromRaw(p, queue) : null, msg);
  }
  return new SaqError(st, msg);
}

/** The job of an event (snapshot), or null. */
function eventJob(ev, queue) {
  const p = raw.saq_event_job(ev);
  return p ? jobFromRaw(p, queue) : null;
}

/** A new saq_job_t (owned: saq_job_free) for fn(**kwargs), with the W3C
 *  traceparent in its meta unless it is null/undefined. Throws SaqError
 *  (SAQ_EINVAL for a malformed traceparent, with libsaq's message). */
function callJob(name, kwargsText, traceparent) {
  if (traceparent !== undefined && traceparent !== null && typeof traceparent !== 'string') {
    throw new TypeError('traceparent must be a string ("00-<trace id>-<parent id>-<flags>")');
  }
  const job = raw.saq_job_new(name);
  if (!job) throw new SaqError(codes.ENOMEM);
  try {
    let rc = raw.saq_job_set_call_kwargs(job, kwargsText);
    if (rc === 0 && traceparent !== undefined && traceparent !== null) {
      rc = raw.saq_job_set_traceparent(job, cstr(traceparent, 'traceparent'));
    }
    if (rc !== 0) throw new SaqError(rc, raw.saq_job_errmsg(job) || undefined);
  } catch (err) {
    raw.saq_job_free(job);
    throw err;
  }
  return job;
}

/** A flow's job from [fn, kwargs] or { fn, kwargs } (owned: raw.saq_job_free). */
function flowJob(spec, what) {
  const [fn, kwargs] = Array.isArray(spec) ? spec : spec && typeof spec === 'object' ? [spec.fn, spec.kwargs] : [];
  if (fn === undefined) throw new TypeError(`${what} must be [fn, kwargs] or { fn, kwargs }`);
  return callJob(fnName(fn), kwargsJson(kwargs), null);
}

/** The members' outcomes a flow's callback job received ({ id, members }, and
 *  omitted, total, statuses when they did not all fit: see enqueueFlow), or
 *  null when the job (or kwargs object) is not a flow's callback. */
function flowOutcome(job) {
  const kw = job && job.kwargs !== undefined ? job.kwargs : job;
  return kw && typeof kw === 'object' && kw.flow && typeof kw.flow === 'object' ? kw.flow : null;
}

/** snake_case keys of libsaq's documents as camelCase, with the unit
 *  suffix _s spelled out (oldest_queued_age_s -> oldestQueuedAgeSeconds,
 *  time_ms -> timeMs). `metadata` (the user's own) is kept as it is. */
function camel(value) {
  if (Array.isArray(value)) return value.map(camel);
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    const name = k.replace(/_s$/, '_seconds').replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
    out[name] = k === 'metadata' ? v : camel(v);
  }
  return out;
}

/** saq's Queue: one Redis queue name with its connections. Every operation
 *  returns a Promise and never blocks the event loop. */
class Queue {
  /** saq's Queue.from_url(url, name=...). */
  static fromUrl(url, options = {}) {
    return new Queue({ ...checkOptions(options, QUEUE_OPTIONS, 'Queue.fromUrl()'), url });
  }

  constructor(options = {}) {
    options = checkOptions(options, QUEUE_OPTIONS, 'new Queue()');
    const { logger, logLevel } = options;
    log.checkLogger(logger);
    const pairs = confPairs(options, QUEUE_CONF);
    const level = log.confLevel(logger, logLevel);
    if (level !== undefined) pairs.unshift(['log_level', level]);
    const conf = makeConf(pairs);
    let engine;
    try {
      engine = new Engine();
    } catch (err) {
      raw.saq_conf_free(conf);
      if (err instanceof SaqError) err.message = `cannot create the queue: ${err.message}`;
      throw err;
    }
    // the queue's log records (and its workers') come back through the pump
    const lrc = raw.saq_conf_set_log_cq(conf, engine.cq, LOG_TAG);
    const out = [];
    const rc = lrc !== 0 ? lrc : raw.saq_queue_open(out, conf);
    const msg = raw.saq_conf_errmsg(conf);
    raw.saq_conf_free(conf);
    if (rc !== 0) {
      engine.close(new SaqError(codes.ECLOSED));
      throw new SaqError(rc, `cannot create the queue: ${msg}`);
    }
    const q = out[0];
    this._q = q;
    this._engine = engine;
    const sink = log.sinkFor(logger);
    engine.onLog = (ev) => {
      const [lvl, message, fields] = log.readEvent(ev);
      sink(lvl, message, fields);
      for (const w of this._workers) w._onLog(lvl, message, fields);
    };
    this._closing = null;
    this._keepNative = false;
    this._workers = new Set();
    this._listeners = new Set();
    /** Queue name. */
    this.name = raw.saq_queue_name(q);
    /** Wire dialect: "0.26" or "0.13". */
    this.dialect = raw.saq_queue_dialect(q);
    /** Integers beyond 2^53 in kwargs, results, meta and info are read as
     *  BigInts (option `bigint`); otherwise they are rounded to doubles. */
    this.bigint = !!options.bigint;
  }

  get _jsonOpts() {
    return { bigint: this.bigint };
  }

  _live() {
    if (this._closing || !this._q) throw new SaqError(codes.ECLOSED, 'the queue is closed');
    return this._q;
  }

  /** An operation of this queue (Engine.op); with `signal`, an abort
   *  cancels it in libsaq (saq_queue_cancel) and rejects with its reason. */
  _op(submit, convert, signal = null) {
    let q;
    try {
      q = this._live();
    } catch (err) {
      return Promise.reject(err);
    }
    // errors surface in the pump; give them the caller's stack instead
    const site = {};
    Error.captureStackTrace(site, Queue.prototype._op);
    const cq = this._engine.cq;
    const cancel = (tag) => raw.saq_queue_cancel(q, cq, tag);
    return this._engine.op((tag) => submit(q, cq, tag), (ev) => {
      const err = eventError(ev, this);
      if (err) {
        const frames = site.stack.slice(site.stack.indexOf('\n') + 1);
        err.stack = `${err.name}: ${err.message}\n${frames}`;
        throw err;
      }
      return convert(ev);
    }, signal, cancel);
  }

  /** Round trip to Redis; resolves to the server's version ("7.0.15"). */
  ping() {
    return this._op((q, cq, tag) => raw.saq_queue_ping(q, cq, tag), (ev) => {
      const v = raw.saq_event_int(ev);
      return `${Math.floor(v / 65536)}.${Math.floor(v / 256) % 256}.${v % 256}`;
    });
  }

  /** saq's Queue.enqueue("function", **kwargs): `kwargs` holds the function's
   *  keyword arguments and any job options (key, timeout, heartbeat, retries,
   *  ttl, retry_delay, retry_backoff, scheduled, meta, progress), split by
   *  libsaq as saq does. Resolves to the Job, or null when a job with the same
   *  key is still incomplete (already enqueued). Options: traceparent, signal
   *  (an AbortSignal: aborted first, nothing is sent; aborted while the
   *  enqueue waits for a maxConcurrentOps slot, libsaq withdraws it; once
   *  sent it may still be stored; the Promise rejects with the reason). */
  async enqueue(fn, kwargs = {}, options = {}) {
    const { traceparent, signal } = checkOptions(options, ['traceparent', 'signal'], 'enqueue()');
    const sig = checkSignal(signal, 'enqueue()');
    const name = fnName(fn);
    const text = kwargsJson(kwargs);
    const convert = (ev) => (raw.saq_event_int(ev) === 1 ? eventJob(ev, this) : null);
    if (traceparent === undefined || traceparent === null) {
      return this._op((q, cq, tag) => raw.saq_queue_enqueue_call(q, name, text, cq, tag), convert, sig);
    }
    const job = callJob(name, text, traceparent);
    try {
      return await this._op((q, cq, tag) => raw.saq_queue_enqueue(q, job, cq, tag), convert, sig);
    } finally {
      raw.saq_job_free(job); // the submit copied it
    }
  }

  /** Bulk enqueue (BullMQ's addBulk, Sidekiq's push_bulk): every `{ fn, kwargs, traceparent }`
   *  of `jobs` as enqueue would, in one operation whose scripts are pipelined (many per round
   *  trip). Resolves to one entry per job, in order: the job as sent, or null when a job with
   *  its key was already enqueued. A job that cannot be sent rejects the whole call before
   *  anything is written (its index in the message); a Redis error while the replies come in
   *  rejects (the message counts what was enqueued; read the others back with job()). */
  async enqueueMany(jobs, options = {}) {
    const { signal } = checkOptions(options, ['signal'], 'enqueueMany()');
    const sig = checkSignal(signal, 'enqueueMany()');
    if (jobs === null || typeof jobs !== 'object' || typeof jobs[Symbol.iterator] !== 'function') {
      throw new TypeError('enqueueMany(jobs): jobs must be an array of { fn, kwargs } objects');
    }
    const specs = Array.from(jobs);
    const made = [];
    let arr = null;
    try {
      specs.forEach((spec, i) => {
        const what = `enqueueMany(jobs): jobs[${i}]`;
        if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
          throw new TypeError(`${what} must be a { fn, kwargs } object`);
        }
        const { fn, kwargs, traceparent } = checkOptions(spec, ['fn', 'kwargs', 'traceparent'], what);
        try {
          made.push(callJob(fnName(fn), kwargsJson(kwargs, `${what}.kwargs`), traceparent));
        } catch (err) {
          err.message = `${what}: ${err.message}`;
          throw err;
        }
      });
      if (made.length) {
        arr = raw.new_saq_job_array(made.length);
        made.forEach((job, i) => raw.saq_job_array_setitem(arr, i, job));
      }
      return await this._op((q, cq, tag) => raw.saq_queue_enqueue_many(q, arr, made.length, cq, tag), (ev) => {
        const outcomes = JSON.parse(raw.saq_event_json(ev));
        return made.map((_, i) => (outcomes[i] === 1 ? jobFromRaw(raw.saq_event_job_at(ev, i), this) : null));
      }, sig);
    } finally {
      if (arr) raw.delete_saq_job_array(arr);
      for (const job of made) raw.saq_job_free(job); // the submit copied them
    }
  }

  /** saq's Queue.job(key): the record, or null when there is none. */
  async job(key) {
    const k = keyOf(key);
    try {
      return await this._op((q, cq, tag) => raw.saq_queue_job(q, k, cq, tag), (ev) => eventJob(ev, this));
    } catch (err) {
      if (err.errno === codes.ENOTFOUND) return null;
      throw err;
    }
  }

  /** saq's Queue.jobs(keys): records in order, null where missing. */
  async jobs(keys) {
    const ks = json.stringify(keysOf(keys, 'jobs(keys)'));
    return this._op((q, cq, tag) => raw.saq_queue_jobs(q, ks, cq, tag), (ev) => {
      const n = raw.saq_event_job_count(ev);
      const out = [];
      for (let i = 0; i < n; i++) {
        const p = raw.saq_event_job_at(ev, i);
        out.push(p ? jobFromRaw(p, this) : null);
      }
      return out;
    });
  }

  /** saq's Queue.abort(job, error, ttl): a waiting job ends aborted at once, a
   *  running one is marked aborting and its worker stops it. Resolves to the
   *  record after the abort, or null when there is no such job. */
  async abort(jobOrKey, error = 'aborted', options = {}) {
    const { ttl = 5 } = checkOptions(options, ['ttl'], 'abort()');
    const k = keyOf(jobOrKey);
    const t = num(ttl, 'ttl', 5);
    try {
      return await this._op((q, cq, tag) => raw.saq_queue_abort(q, k, String(error), t, cq, tag), (ev) =>
        eventJob(ev, this));
    } catch (err) {
      if (err.errno === codes.ENOTFOUND) return null;
      throw err;
    }
  }

  /** Delete a job: its record and every entry of it in Redis (queued,
   *  incomplete/scheduled, active, libsaq's own), so the key can be enqueued
   *  again at once (an extension: Python saq has no delete; its workers never
   *  see a deleted job again). A running job rejects with SaqError ESTATE
   *  (nothing changes) unless `force`: then it is aborted first (reason
   *  "deleted") so that its worker stops it, and deleted once it ended or
   *  after `wait` seconds (default 5; 0 = no wait). Resolves to
   *  { outcome, job }: outcome 'deleted' (it did not run), 'stopped' (its
   *  worker stopped it) or 'unconfirmed' (the wait ran out; a worker that ends
   *  it later writes its finished record again, in no list), job the record
   *  as last read (null when unreadable); null when there is no such job
   *  (stray list entries of the key are removed all the same). */
  async delete(jobOrKey, options = {}) {
    const { force = false, wait = 5 } = checkOptions(options, ['force', 'wait'], 'delete()');
    const k = keyOf(jobOrKey);
    const w = num(wait, 'wait', 5);
    if (!(w >= 0 && w <= 3600)) throw new RangeError('wait must be 0..3600 seconds');
    const outcomes = { 1: 'deleted', 2: 'stopped', 3: 'unconfirmed' };
    try {
      return await this._op((q, cq, tag) => raw.saq_queue_delete(q, k, force ? 1 : 0, Math.round(w * 1000), cq, tag),
        (ev) => ({ outcome: outcomes[Number(raw.saq_event_int(ev))], job: eventJob(ev, this) }));
    } catch (err) {
      if (err.errno === codes.ENOTFOUND) return null;
      throw err;
    }
  }

  /** saq's Queue.retry(job, error). Resolves to the record after, or null. */
  async retry(jobOrKey, error = 'retried') {
    const k = keyOf(jobOrKey);
    return this._rmw((q, cq, tag) => raw.saq_queue_retry(q, k, String(error), cq, tag));
  }

  /** saq's Queue.finish(job, status, result, error); status is "complete",
   *  "failed" or "aborted". Resolves to the record after, or null. */
  async finish(jobOrKey, status, options = {}) {
    const { result, error } = checkOptions(options, ['result', 'error'], 'finish()');
    const k = keyOf(jobOrKey);
    const r = json.stringify(result === undefined ? null : result);
    const e = error === undefined || error === null ? null : String(error);
    return this._rmw((q, cq, tag) => raw.saq_queue_finish(q, k, String(status), r, e, cq, tag));
  }

  /** saq's Job.update(**fields) on a stored job (progress, meta, ...). */
  async update(jobOrKey, fields = {}) {
    const k = keyOf(jobOrKey);
    const f = kwargsJson(fields, 'fields');
    return this._rmw((q, cq, tag) => raw.saq_queue_update(q, k, f, cq, tag));
  }

  async _rmw(submit) {
    try {
      return await this._op(submit, (ev) => eventJob(ev, this));
    } catch (err) {
      if (err.errno === codes.ENOTFOUND) return null;
      throw err;
    }
  }

  /** saq's Queue.count(kind): kind "queued", "active" or "incomplete". */
  async count(kind = 'queued') {
    return this._op((q, cq, tag) => raw.saq_queue_count(q, String(kind), cq, tag), (ev) => raw.saq_event_int(ev));
  }

  /** Pause the queue (saq_queue_pause, a libsaq extension): every libsaq worker
   *  of the queue, in any process, stops taking its jobs within about half a
   *  second (worker timer `pause`), lets the jobs it runs finish and waits; a
   *  worker started on a paused queue waits too. Python saq workers do not
   *  know the flag. Resolves to true when this call paused the queue, false
   *  when it was paused already. */
  async pause() {
    return this._op((q, cq, tag) => raw.saq_queue_pause(q, cq, tag), (ev) => raw.saq_event_int(ev) === 1);
  }

  /** Resume a paused queue: its libsaq workers take jobs again at once.
   *  Resolves to true when this call resumed it, false when it was not paused. */
  async resume() {
    return this._op((q, cq, tag) => raw.saq_queue_resume(q, cq, tag), (ev) => raw.saq_event_int(ev) === 1);
  }

  /** Whether the queue is paused (pause()). */
  async isPaused() {
    return this._op((q, cq, tag) => raw.saq_queue_paused(q, cq, tag), (ev) => raw.saq_event_int(ev) === 1);
  }

  /** saq's Queue.info(jobs, offset, limit): workers, counts and (with
   *  `jobs: true`) job records, as saq returns them (snake_case records). */
  async info(options = {}) {
    const { jobs = false, offset = 0, limit = 10 } = checkOptions(options, ['jobs', 'offset', 'limit'], 'info()');
    const o = num(offset, 'offset', 0);
    const l = num(limit, 'limit', 10);
    return this._op((q, cq, tag) => raw.saq_queue_info(q, jobs ? 1 : 0, o, l, cq, tag), (ev) =>
      json.parse(raw.saq_event_json(ev), null, this._jsonOpts));
  }

  /** saq's Queue.stats(ttl): this queue object's counters, also written to the
   *  worker registry for `ttl` seconds. */
  async stats(options = {}) {
    const { ttl = 60 } = checkOptions(options, ['ttl'], 'stats()');
    const t = num(ttl, 'ttl', 60);
    return this._op((q, cq, tag) => raw.saq_queue_stats(q, t, cq, tag), (ev) => json.parse(raw.saq_event_json(ev)));
  }

  /** Queue-wide figures read from Redis, the same from any process and
   *  counting Python saq workers too (saq_queue_overview): job counts by
   *  state, the age of the oldest queued job, the live workers with their
   *  counters, totals and per-minute rates. */
  async overview() {
    return this._op((q, cq, tag) => raw.saq_queue_overview(q, cq, tag), (ev) =>
      camel(json.parse(raw.saq_event_json(ev), null, this._jsonOpts)));
  }

  /** The rate limits and global concurrency the queue's libsaq workers
   *  enforce (the worker option limits; published every second while a
   *  worker with limits runs, kept 30 s after the last one stopped), with
   *  their state now (saq_queue_limits): [{ function (null: the whole
   *  queue), maxJobs, period (seconds), maxRunning, running (slots live
   *  workers hold now), started (in the last period), waiting (jobs waiting
   *  for a running slot) }]; [] when no worker publishes limits. An entry
   *  that is not one a libsaq worker publishes has invalid (its text as
   *  stored) and null maxJobs, period, maxRunning and started. */
  async limits() {
    return this._op((q, cq, tag) => raw.saq_queue_limits(q, cq, tag), (ev) =>
      camel(json.parse(raw.saq_event_json(ev), null, this._jsonOpts)).limits);
  }

  /** The queue-wide figures of overview() as a Prometheus text exposition
   *  (format 0.0.4; saq_queue_metrics). */
  async metrics() {
    return this._op((q, cq, tag) => raw.saq_queue_metrics(q, cq, tag), (ev) => raw.saq_event_text(ev) ?? '');
  }

  /** saq's Queue.iter_jobs one page at a time: resolves to { jobs, cursor },
   *  cursor null when the scan is over (else pass it back as `cursor`). */
  async _jobsPage(statuses, cursor, count) {
    return this._op((q, cq, tag) => raw.saq_queue_iter_jobs(q, statuses, cursor, count, cq, tag), (ev) => {
      const n = raw.saq_event_job_count(ev);
      const jobs = [];
      for (let i = 0; i < n; i++) {
        const p = raw.saq_event_job_at(ev, i);
        if (p) jobs.push(jobFromRaw(p, this));
      }
      const next = raw.saq_event_key(ev);
      return { jobs, cursor: next === null || next === undefined || next === '0' ? null : next };
    });
  }

  /** The pages of a scan over this queue's job records of any status
   *  (finished ones included, until their ttl), as an async iterator of
   *  { jobs, cursor }. Options: statuses (an array or comma-separated text;
   *  default all), count (SCAN's hint, 1..10000, default 100: a page may hold
   *  fewer or more jobs, and is empty only when the scan is over, cursor null), cursor (resume after a page: its cursor).
   *  As with SCAN, a job present during the whole scan comes at least once. */
  async *jobPages(options = {}) {
    const { statuses, count = 100, cursor } = checkOptions(options, ['statuses', 'count', 'cursor'], 'jobPages()');
    const st = statusList(statuses);
    const n = num(count, 'count', 100);
    let c = cursor === undefined || cursor === null ? '0' : cstr(String(cursor), 'cursor');
    do {
      const page = await this._jobsPage(st, c, n);
      yield page;
      c = page.cursor;
    } while (c !== null);
  }

  /** saq's Queue.iter_jobs(statuses): every job record of this queue (any
   *  status, finished ones included), one Job at a time, fetched a page at a
   *  time (jobPages). */
  async *iterJobs(options = {}) {
    checkOptions(options, ['statuses', 'count', 'cursor'], 'iterJobs()');
    for await (const page of this.jobPages(options)) yield* page.jobs;
  }

  /** saq's Queue.schedule(lock): promote due scheduled jobs; resolves to ids. */
  async schedule(options = {}) {
    const { lock = 1 } = checkOptions(options, ['lock'], 'schedule()');
    const l = num(lock, 'lock', 1);
    return this._op((q, cq, tag) => raw.saq_queue_schedule(q, l, cq, tag), (ev) => json.parse(raw.saq_event_json(ev), []));
  }

  /** saq's Queue.sweep(lock, abort): recover stuck jobs; resolves to ids. */
  async sweep(options = {}) {
    const { lock = 60, abort = 5 } = checkOptions(options, ['lock', 'abort'], 'sweep()');
    const l = num(lock, 'lock', 60);
    const a = num(abort, 'abort', 5);
    return this._op((q, cq, tag) => raw.saq_queue_sweep(q, l, a, cq, tag), (ev) => json.parse(raw.saq_event_json(ev), []));
  }

  /** saq's Queue.listen(job_keys, callback, timeout).
   *  - listen(keys, { timeout }) returns an async iterator of { key, status };
   *    breaking out of the loop stops the listen.
   *  - listen(keys, callback, { timeout }) calls callback(key, status) and
   *    resolves once it returns (or resolves to) a truthy value.
   *  `timeout` (seconds, default 10; 0 = none) is the longest wait for a
   *  message; it ends the listen with a SaqError SAQ_ETIMEDOUT. `signal` (an
   *  AbortSignal) stops it in libsaq and ends it with the signal's reason. */
  listen(keys, callback, options) {
    if (typeof callback !== 'function') {
      return new Listener(this, keys, callback);
    }
    let it;
    try {
      it = new Listener(this, keys, options || {});
    } catch (err) {
      return Promise.reject(err);
    }
    return (async () => {
      for await (const { key, status } of it) {
        if (await callback(key, status)) break;
      }
    })();
  }

  /** saq's Queue.apply(func, timeout, **kwargs): enqueue and wait for the
   *  result. `timeout` (seconds; 0/absent = none; defaults to kwargs.timeout)
   *  bounds the wait and becomes the job's timeout, as in saq. `rawJson:
   *  true` resolves to the result's exact JSON text instead ("null" for
   *  none). Rejects with JobError when the job failed
   *  or was aborted, SaqError SAQ_ETIMEDOUT on timeout. */
  async apply(fn, kwargs = {}, options = {}) {
    const { timeout, rawJson = false, traceparent, signal } =
      checkOptions(options, ['timeout', 'rawJson', 'traceparent', 'signal'], 'apply()');
    const sig = checkSignal(signal, 'apply()');
    const name = fnName(fn);
    const text = kwargsJson(kwargs);
    // saq's apply(func, timeout=None, **kwargs): a `timeout` among the kwargs
    // is apply's timeout there, so it counts as one here too
    const kw = kwargs instanceof json.RawJson ? json.parse(text) : kwargs;
    const t = waitTimeout(timeout ?? (kw && kw.timeout), 'timeout');
    const job = callJob(name, text, traceparent);
    try {
      return await this._op((q, cq, tag) => raw.saq_queue_apply(q, job, t, cq, tag), (ev) => {
        const res = raw.saq_event_json(ev);
        return rawJson ? res ?? 'null' : json.parse(res, null, this._jsonOpts);
      }, sig);
    } finally {
      raw.saq_job_free(job); // the submit copied it
    }
  }

  /** saq's Queue.map(func, iter_kwargs, timeout, return_exceptions,
   *  **defaults): one job per element, results in order. Options: timeout
   *  (seconds, one deadline for all), returnExceptions (failed/aborted jobs
   *  become JobError values in the array instead of rejecting), rawJson
   *  (each result is its exact JSON text), defaults (saq's **defaults:
   *  merged under each element), signal (an AbortSignal: cancels the wait
   *  in libsaq and rejects with its reason; jobs already enqueued stay). */
  async map(fn, iterKwargs, options = {}) {
    const { timeout = 0, returnExceptions = false, rawJson = false, defaults, signal } = checkOptions(options,
      ['timeout', 'returnExceptions', 'rawJson', 'defaults', 'signal'], 'map() (job defaults go in `defaults`)');
    const sig = checkSignal(signal, 'map()');
    const name = fnName(fn);
    if (iterKwargs === null || iterKwargs === undefined || typeof iterKwargs[Symbol.iterator] !== 'function' ||
        typeof iterKwargs === 'string') {
      throw new TypeError('map(fn, iterKwargs): iterKwargs must be an iterable of kwargs objects');
    }
    const items = Array.from(iterKwargs);
    for (const it of items) kwargsJson(it, 'each element of iterKwargs');
    const itemsJson = json.stringify(items);
    const defaultsJson = kwargsJson(defaults, 'defaults');
    const t = waitTimeout(timeout, 'timeout');
    return this._op(
      (q, cq, tag) => raw.saq_queue_map(q, name, itemsJson, defaultsJson, t, returnExceptions ? 1 : 0, cq, tag),
      (ev) => {
        const doc = raw.saq_event_json(ev);
        const results = doc === null || doc === undefined ? [] : rawJson ? json.elements(doc) : json.parse(doc, [], this._jsonOpts);
        if (returnExceptions) {
          const n = raw.saq_event_job_count(ev);
          for (let i = 0; i < n && i < results.length; i++) {
            const p = raw.saq_event_job_at(ev, i);
            if (!p) continue;
            const code = raw.saq_job_status_code(p);
            if (code === raw.SAQ_STATUS_FAILED || code === raw.SAQ_STATUS_ABORTED) {
              results[i] = new JobError(jobFromRaw(p, this));
            }
          }
        }
        return results;
      },
      sig,
    );
  }

  /** Flows (an extension Python saq ignores): enqueue member jobs and record a
   *  callback job that libsaq enqueues exactly once, when every member is
   *  terminal (complete, failed or aborted), with the members' outcomes in its
   *  kwargs under "flow": { id, members: [{ key, status, result, error }] }
   *  (flowOutcome(job) reads them). When the outcomes would make the
   *  callback's record larger than max_payload_bytes (less 256 bytes), the
   *  callback still runs, once, with "omitted": ["result"] (every result
   *  null), then ["result", "error"], then ["result", "error", "members"]
   *  (members [], with total and statuses: { status: count }); flow(id)
   *  still has them all. Each of `members` and `callback` is
   *  [fn, kwargs] or { fn, kwargs }, kwargs split as enqueue() splits them
   *  (key, timeout, retries, ... set the job). The flow id is the callback's
   *  key. Everything is written in one step, or nothing. Options: ttl
   *  (seconds the flow's record is kept after its callback was enqueued;
   *  default 86400, 0 forever). Resolves to { id, callback, members: [keys] },
   *  or null when a flow with that id is recorded already. Rejects with
   *  SAQ_ESTATE when a member's key is already enqueued, SAQ_EINVAL for no
   *  member, a key used twice, or callback kwargs with "flow". */
  async enqueueFlow(members, callback, options = {}) {
    const { ttl } = checkOptions(options, ['ttl'], 'enqueueFlow()');
    if (!Array.isArray(members)) throw new TypeError('members must be an array of [fn, kwargs] or { fn, kwargs }');
    const cb = flowJob(callback, 'callback');
    const f = raw.saq_flow_new(cb);
    raw.saq_job_free(cb);
    if (!f) throw new SaqError(codes.ENOMEM);
    try {
      if (ttl !== undefined && ttl !== null) {
        const rc = raw.saq_flow_set_ttl(f, num(ttl, 'ttl', 86400));
        if (rc !== 0) throw new SaqError(rc, 'flow ttl must be >= 0');
      }
      members.forEach((m, i) => {
        const j = flowJob(m, `members[${i}]`);
        const rc = raw.saq_flow_add(f, j);
        raw.saq_job_free(j);
        if (rc !== 0) throw new SaqError(rc, `flow member ${i}: its key is the callback's or another member's`);
      });
      return await this._op((q, cq, tag) => raw.saq_queue_enqueue_flow(q, f, cq, tag), (ev) =>
        raw.saq_event_int(ev) === 0 ? null : json.parse(raw.saq_event_json(ev), null));
    } finally {
      raw.saq_flow_free(f); // the submit copied it
    }
  }

  /** Read a flow (after recording any member found terminal, and enqueuing
   *  the callback when that was the last one): { id, state ("open" or
   *  "done"), callback, total, pending, createdMs, doneMs, members: [{ key,
   *  status, result, error }] } with every outcome (a malformed one in Redis:
   *  status "unknown" and an error saying why), or null when no flow has that
   *  id. Rejects with SAQ_EPROTO when the flow's own fields are malformed. */
  async flow(id) {
    const k = cstr(String(id), 'a flow id');
    try {
      return await this._op((q, cq, tag) => raw.saq_queue_flow(q, k, cq, tag), (ev) => {
        const d = json.parse(raw.saq_event_json(ev), {});
        return { id: d.id, state: d.state, callback: d.callback, total: d.total, pending: d.pending,
          createdMs: d.created_ms, doneMs: d.done_ms, members: d.members };
      });
    } catch (err) {
      if (err.errno === codes.ENOTFOUND) return null;
      throw err;
    }
  }

  /** saq's `async with queue.batch()`: runs `fn`; if it throws, every job
   *  enqueued on this queue meanwhile is aborted ("cancelled") and the error
   *  is rethrown. Resolves to fn's result. */
  async batch(fn) {
    const q = this._live();
    const b = raw.saq_queue_batch(q);
    if (!b) throw new SaqError(codes.ECLOSED, 'cannot start a batch');
    let result;
    try {
      result = await fn(this);
    } catch (err) {
      try {
        await this._engine.op(
          (tag) => raw.saq_batch_abort(b, 'cancelled', this._engine.cq, tag),
          (ev) => raw.saq_event_int(ev),
        );
      } catch (_) {
        /* individual failures are ignored, as saq does */
      } finally {
        raw.saq_batch_free(b);
      }
      throw err;
    }
    raw.saq_batch_free(b);
    return result;
  }

  /** saq's Queue.disconnect: stop the workers built on this queue, end the
   *  listens, wait up to `timeout` seconds (default 5) for operations in
   *  flight (they reject with SAQ_ECLOSED after that), then release the
   *  connections. Idempotent. */
  close(options = {}) {
    if (this._closing) return this._closing;
    let secs;
    try {
      const { timeout: t = 5 } = checkOptions(options, ['timeout'], 'close()');
      secs = num(t, 'close(): timeout', 5);
    } catch (err) {
      return Promise.reject(err); // as every other operation: a rejection, not a throw
    }
    if (secs >= 300) {
      deprecate('LIBSAQ_CLOSE_TIMEOUT_SECONDS', `libsaq: queue.close({ timeout: ${secs} }) waits up to ${secs} seconds: ` +
        'the timeout is in seconds since 0.2 (it was milliseconds)');
    }
    // ms from here on; < 0: no limit. A wait past what setTimeout can hold
    // (2^31-1 ms, 24.8 days) is no limit too: Node would fire it after 1 ms.
    const timeout = secs * 1000 >= MAX_TIMER_MS ? -1 : secs * 1000;
    this._closing = (async () => {
      // Workers stop gracefully. One that has not stopped `timeout` ms after
      // its grace period and hard deadline (Redis gone: a job's outcome can
      // never be written) is stopped at once, so close always finishes.
      await Promise.all([...this._workers].map(async (w) => {
        const stopped = w.stop().then(() => true, () => true);
        if (!(timeout >= 0) || w._stopMs + timeout >= MAX_TIMER_MS) return stopped;
        if (await within(stopped, w._stopMs + timeout)) return true;
        // hooks (afterProcess, shutdown) that still have not settled
        // `timeout` ms after the hard stop are no longer waited for
        const hard = w._hardStop().then(() => true, () => true);
        if (!(await within(hard, timeout))) {
          w._abandonHooks();
          await hard;
        }
        return true;
      }));
      for (const w of [...this._workers]) w._free(); // defensive: workers go before their queue
      for (const l of [...this._listeners]) l._stop();
      await this._engine.idle(timeout);
      const q = this._q;
      this._q = null;
      // never blocks; the I/O thread drains and exits on its own. After a
      // worker had to be stopped at once, the native queue (and the cq its
      // I/O thread may still post to) are left alive: see Worker._hardStop.
      if (!this._keepNative) raw.saq_queue_free(q);
      this._engine.close(new SaqError(codes.ECLOSED, 'the queue was closed'), { keepCq: !!this._keepNative });
    })();
    return this._closing;
  }
}

/** The async iterator behind Queue.listen. */
class Listener {
  constructor(queue, keys, options) {
    const { timeout = 10, signal } = checkOptions(options, ['timeout', 'signal'], 'listen()');
    const sig = checkSignal(signal, 'listen()');
    const ks = json.stringify(keysOf(keys, 'listen(keys)'));
    const t = timeout === Infinity ? 0 : num(timeout, 'timeout', 10);
    this._queue = queue;
    this._buf = [];
    this._waiters = [];
    this._done = false;
    this._error = null;
    this._unlisten = null; // unregisters the abort of `signal`
    if (sig && sig.aborted) {
      // nothing is submitted: the iteration ends with the reason
      this._done = true;
      this._stopped = true;
      this._error = sig.reason;
      return;
    }
    const q = queue._live();
    const engine = queue._engine;
    this._tag = engine.newTag();
    const rc = raw.saq_queue_listen(q, ks, t, engine.cq, this._tag);
    if (rc !== 0) throw new SaqError(rc);
    queue._listeners.add(this);
    engine.add(this._tag, {
      event: (ev) => {
        const type = raw.saq_event_type(ev);
        if (type === raw.SAQ_EVENT_LISTEN) {
          this._push({ key: raw.saq_event_key(ev), status: raw.saq_event_job_status(ev) });
        } else {
          engine.remove(this._tag);
          this._end(eventError(ev, queue));
        }
      },
      abandon: (err) => this._end(err),
    });
    if (sig) {
      // libsaq stops the listen (saq_queue_listen_stop = saq_queue_cancel);
      // the iteration ends at once with the reason, buffered messages dropped
      this._unlisten = onAbort(sig, () => {
        this._unlisten = null;
        this._stop(sig.reason);
      });
    }
  }

  _push(msg) {
    if (this._done) return;
    const w = this._waiters.shift();
    if (w) w.resolve({ value: msg, done: false });
    else this._buf.push(msg);
  }

  _end(err) {
    this._queue._listeners.delete(this);
    if (this._unlisten) this._unlisten();
    this._unlisten = null;
    if (this._done) return;
    this._done = true;
    this._error = err;
    for (const w of this._waiters.splice(0)) {
      if (this._error) {
        w.reject(this._error);
        this._error = null;
      } else w.resolve({ value: undefined, done: true });
    }
  }

  /** Stop the listen in libsaq; the iteration ends (with `err` if given). */
  _stop(err = null) {
    if (this._stopped) return;
    this._stopped = true;
    const q = this._queue._q;
    if (q && !this._done) raw.saq_queue_listen_stop(q, this._queue._engine.cq, this._tag);
    this._buf = [];
    this._end(err);
  }

  next() {
    if (this._buf.length) return Promise.resolve({ value: this._buf.shift(), done: false });
    if (this._done) {
      if (this._error) {
        const e = this._error;
        this._error = null;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  return() {
    this._stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

module.exports = { Queue, Listener, camel, makeConf, keyOf, eventError, kwargsJson, fnName, Job, flowOutcome };
