// SPDX-License-Identifier: MIT
'use strict';
// libsaq for Node.js: saq's Queue and Worker (wire-compatible with Python saq
// 0.26) on top of the libsaq C core. Every operation returns a Promise and
// never blocks the event loop.
const raw = require('./native');
const { Queue, flowOutcome } = require('./queue');
const { Worker } = require('./worker');
const { Job } = require('./job');
const { SaqError, JobError, CancelledError, codes } = require('./errors');
const { rawJson, RawJson } = require('./json');
const metrics = require('./metrics');

module.exports = {
  Queue,
  Worker,
  Job,
  SaqError,
  JobError,
  CancelledError,
  codes,
  /** flowOutcome(job): the members' outcomes a flow's callback received ({ id, members }), or null. */
  flowOutcome,
  /** rawJson(text): JSON text passed exactly (kwargs, a handler's result). */
  rawJson,
  RawJson,
  /** collectMetrics(...queuesWorkersOrTexts): one Prometheus text exposition. */
  collectMetrics: metrics.collectMetrics,
  /** Content-Type of the Prometheus text format 0.0.4 (for a /metrics response). */
  metricsContentType: metrics.contentType,
  /** Version of the loaded libsaq ("0.2.0"). */
  libsaqVersion: raw.saq_version_str(),
  /** Version of this package. */
  version: require('../package.json').version,
};
