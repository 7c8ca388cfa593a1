// SPDX-License-Identifier: MIT
'use strict';
const raw = require('./native');
const json = require('./json');
const { SaqError, codes } = require('./errors');

/** A job record. Units follow the SAQ wire: timeout, heartbeat, ttl,
 *  retryDelay and scheduled are seconds (scheduled: epoch seconds); queued,
 *  started, completed and touched are epoch milliseconds. */
class Job {
  constructor(fields, queue, rawText = null) {
    Object.assign(this, fields);
    Object.defineProperty(this, '_queue', { value: queue || null, writable: true, enumerable: false });
    Object.defineProperty(this, '_lease', { value: null, writable: true, enumerable: false });
    Object.defineProperty(this, '_raw', { value: rawText || {}, writable: true, enumerable: false });
  }

  /** The job's kwargs exactly as stored (JSON text), or null. JSON.parse
   *  turns integers beyond 2^53 into nearby doubles, -0.0 into 0 and 1.0
   *  into 1; this text keeps them. */
  get kwargsJson() {
    return this._raw.kwargs ?? null;
  }

  /** The result exactly as stored (JSON text), or null when there is none. */
  get resultJson() {
    return this._raw.result ?? null;
  }

  /** The meta exactly as stored (JSON text), or null. */
  get metaJson() {
    return this._raw.meta ?? null;
  }

  _assign(other) {
    Object.assign(this, other);
    this._raw = other._raw;
  }

  /** Re-read the record from Redis (throws SAQ_ENOTFOUND when it is gone). */
  async refresh() {
    const q = needQueue(this);
    const fresh = await q.job(this.key);
    if (!fresh) throw new SaqError(codes.ENOTFOUND, `job ${this.id} does not exist`);
    this._assign(fresh);
    return this;
  }

  /** saq's Job.abort(error, ttl): see Queue.abort. */
  abort(error, options) {
    return needQueue(this).abort(this.key, error, options);
  }

  /** Progress/meta/heartbeat. Inside a job handler this touches the leased
   *  job (fire-and-forget, never overwrites an abort); elsewhere it is saq's
   *  Job.update(**fields) (Queue.update). */
  async update(fields = {}) {
    if (this._lease && !this._lease.settled) {
      const rc = raw.saq_job_touch(this._lease.p, json.stringify(fields));
      if (rc !== 0) throw new SaqError(rc, raw.saq_job_errmsg(this._lease.p) || undefined);
      if ('progress' in fields) this.progress = fields.progress;
      if ('meta' in fields) {
        this.meta = fields.meta;
        this._raw = { ...this._raw, meta: json.stringify(fields.meta) };
      }
      this.touched = Date.now();
      return this;
    }
    const after = await needQueue(this).update(this.key, fields);
    if (after) this._assign(after);
    return this;
  }

  /** Heartbeat of a leased job (touched = now). */
  touch() {
    return this.update({});
  }

  toJSON() {
    return { ...this };
  }
}

function needQueue(job) {
  if (!job._queue) throw new SaqError(codes.ESTATE, 'this job is not bound to a Queue');
  return job._queue;
}

/** Snapshot of a saq_job_t (borrowed or owned) as a Job. */
function jobFromRaw(p, queue) {
  const backoff = raw.saq_job_retry_backoff(p);
  const cap = raw.saq_job_retry_backoff_cap(p);
  const text = { kwargs: raw.saq_job_kwargs(p), result: raw.saq_job_result(p), meta: raw.saq_job_meta(p) };
  const opts = { bigint: !!(queue && queue.bigint) };
  return new Job(
    {
      function: raw.saq_job_function(p),
      key: raw.saq_job_key(p),
      id: raw.saq_job_id(p) ?? null,
      queue: raw.saq_job_queue(p) ?? null,
      // saq calls a function with **(job.kwargs or {}): never null here either
      kwargs: json.parse(text.kwargs, null, opts) ?? {},
      status: raw.saq_job_status(p),
      result: json.parse(text.result, null, opts),
      error: raw.saq_job_error(p) ?? null,
      meta: json.parse(text.meta, {}, opts),
      traceparent: raw.saq_job_traceparent(p) ?? null,
      workerId: raw.saq_job_worker_id(p) ?? null,
      timeout: raw.saq_job_timeout(p),
      heartbeat: raw.saq_job_heartbeat(p),
      retries: raw.saq_job_retries(p),
      ttl: raw.saq_job_ttl(p),
      retryDelay: raw.saq_job_retry_delay(p),
      retryBackoff: backoff ? (cap > 0 ? cap : true) : false,
      scheduled: raw.saq_job_scheduled(p),
      progress: raw.saq_job_progress(p),
      attempts: raw.saq_job_attempts(p),
      queued: raw.saq_job_queued_ms(p),
      started: raw.saq_job_started_ms(p),
      completed: raw.saq_job_completed_ms(p),
      touched: raw.saq_job_touched_ms(p),
    },
    queue,
    text,
  );
}

module.exports = { Job, jobFromRaw };
