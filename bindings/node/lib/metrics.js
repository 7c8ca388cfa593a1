// SPDX-License-Identifier: MIT
'use strict';
// One Prometheus text exposition out of several: Queue.metrics() of each
// queue, Worker.metrics() of each worker, and any other text (prom-client's
// register.metrics()). Concatenating them is not enough: the format wants
// each metric family once, with one # HELP and one # TYPE line, and two
// queues' expositions hold the same families.

/** Content-Type of the text exposition format 0.0.4. */
const contentType = 'text/plain; version=0.0.4; charset=utf-8';

const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', '_info'];

/** Whether sample `name` belongs to family `family` (a histogram's _bucket,
 *  _sum and _count; a counter declared with or without _total). */
function belongs(name, family) {
  if (name === family) return true;
  return SUFFIXES.some((s) => name === family + s);
}

/** Merge expositions (strings) into one: families in the order they first
 *  appear, each with its first # HELP and # TYPE and the samples of every
 *  input. Other comments are dropped. */
function merge(texts) {
  const families = new Map(); // name -> { meta: [lines], samples: [lines] }
  const family = (name) => {
    let f = families.get(name);
    if (!f) {
      f = { help: null, type: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const text of texts) {
    let current = null; // the family the last # HELP / # TYPE named
    for (const line of String(text).split('\n')) {
      if (line.trim() === '') continue;
      const m = /^#\s+(HELP|TYPE)\s+(\S+)/.exec(line);
      if (m) {
        current = m[2];
        const f = family(current);
        if (m[1] === 'HELP' && f.help === null) f.help = line;
        if (m[1] === 'TYPE' && f.type === null) f.type = line;
        continue;
      }
      if (line.startsWith('#')) continue;
      const name = /^[^\s{]+/.exec(line)[0];
      family(current !== null && belongs(name, current) ? current : name).samples.push(line);
    }
  }
  let out = '';
  for (const f of families.values()) {
    if (f.help) out += `${f.help}\n`;
    if (f.type) out += `${f.type}\n`;
    for (const s of f.samples) out += `${s}\n`;
  }
  return out;
}

/** One exposition of `sources`: Queues (their metrics(): queue-wide figures
 *  from Redis), Workers (their metrics(): this process's counters and
 *  histogram) and strings (e.g. prom-client's `await register.metrics()`). */
async function collectMetrics(...sources) {
  const list = sources.length === 1 && Array.isArray(sources[0]) ? sources[0] : sources;
  const texts = await Promise.all(list.map((s) => {
    if (typeof s === 'string') return s;
    if (s && typeof s.metrics === 'function') return s.metrics();
    throw new TypeError('collectMetrics: each source must be a Queue, a Worker or exposition text');
  }));
  return merge(texts);
}

module.exports = { collectMetrics, merge, contentType };
