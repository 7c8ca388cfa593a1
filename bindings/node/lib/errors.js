// SPDX-License-Identifier: MIT
'use strict';
const raw = require('./native');

const codes = Object.freeze({
  OK: raw.SAQ_OK,
  EINVAL: raw.SAQ_EINVAL,
  ENOMEM: raw.SAQ_ENOMEM,
  ETIMEDOUT: raw.SAQ_ETIMEDOUT,
  ECLOSED: raw.SAQ_ECLOSED,
  EFORKED: raw.SAQ_EFORKED,
  EREDIS: raw.SAQ_EREDIS,
  EPROTO: raw.SAQ_EPROTO,
  ECONN: raw.SAQ_ECONN,
  EURL: raw.SAQ_EURL,
  EJSON: raw.SAQ_EJSON,
  ENOTFOUND: raw.SAQ_ENOTFOUND,
  EWRONGQUEUE: raw.SAQ_EWRONGQUEUE,
  EJOB: raw.SAQ_EJOB,
  EUNKNOWN_KEY: raw.SAQ_EUNKNOWN_KEY,
  ECRON: raw.SAQ_ECRON,
  ESTATE: raw.SAQ_ESTATE,
  ETOOBIG: raw.SAQ_ETOOBIG,
  EUVVERSION: raw.SAQ_EUVVERSION,
  ETLS: raw.SAQ_ETLS,
});

/** An error reported by libsaq. `code` is the stable name ("SAQ_ETIMEDOUT"),
 *  `errno` the negative number. */
class SaqError extends Error {
  constructor(errno, message, options) {
    super(message || raw.saq_strerror(errno), options);
    this.name = 'SaqError';
    this.errno = errno;
    this.code = raw.saq_err_name(errno);
  }
}

/** apply()/map(): the job ended failed or aborted. `job` is its final record. */
class JobError extends SaqError {
  constructor(job, message) {
    super(codes.EJOB, message || (job ? `Job ${job.id} ${job.status}${job.error ? `\n\n${job.error}` : ''}` : 'job failed'));
    this.name = 'JobError';
    this.job = job || null;
  }
}

const CANCEL_REASONS = ['none', 'aborted', 'timeout', 'shutdown', 'heartbeat', 'lost'];

/** The reason of a job handler's AbortSignal: the worker wants the job to
 *  stop. `reason` is "aborted", "timeout", "shutdown", "heartbeat" or "lost". */
class CancelledError extends Error {
  constructor(why, key) {
    const reason = CANCEL_REASONS[why] || `cancel(${why})`;
    super(`job ${key} cancelled: ${reason}`);
    this.name = 'CancelledError';
    this.reason = reason;
    this.key = key;
  }
}

/** The SaqError for a failed synchronous call, message from libsaq. */
function check(rc, message) {
  if (rc !== 0) throw new SaqError(rc, message ? `${raw.saq_strerror(rc)}: ${message}` : undefined);
}

module.exports = { SaqError, JobError, CancelledError, codes, check, CANCEL_REASONS };
