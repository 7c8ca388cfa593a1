// SPDX-License-Identifier: MIT
'use strict';
// libsaq's log records in JavaScript. Every Queue hands libsaq its completion
// queue as the log sink (saq_conf_set_log_cq); the records come back through
// the pump as SAQ_EVENT_LOG events (level, message, JSON fields) and go to the
// queue's logger: logger[method](fields, message), pino's and bunyan's order,
// which console prints as well. Without a logger they are written to stderr
// the way libsaq's own default sink writes them.
const raw = require('./native');
const json = require('./json');

const METHODS = ['debug', 'info', 'warn', 'error'];

/** libsaq level -> logger method. */
function methodOf(level) {
  if (level <= raw.SAQ_LOG_ERROR) return 'error';
  if (level <= raw.SAQ_LOG_WARNING) return 'warn';
  if (level <= raw.SAQ_LOG_INFO) return 'info';
  return 'debug';
}

/** The words of the conf key log_level. */
const CONF_LEVELS = new Set(['debug', 'info', 'warning', 'warn', 'error', 'off']);

/** A logger's own level (pino, winston, bunyan, log4js: `logger.level`) as a
 *  log_level word, or undefined when it has none we know. */
const LOGGER_LEVELS = {
  trace: 'debug', silly: 'debug', debug: 'debug', verbose: 'debug',
  info: 'info', http: 'info', notice: 'info',
  warn: 'warning', warning: 'warning',
  error: 'error', fatal: 'error', crit: 'error', alert: 'error', emerg: 'error',
  silent: 'off', off: 'off',
};

/** The log_level conf value for the Queue options `logger` and `logLevel`:
 *  logLevel when given, else the logger's own level, else undefined
 *  (libsaq's default: SAQ_LOG_LEVEL, else warning). */
function confLevel(logger, logLevel) {
  if (logLevel !== undefined && logLevel !== null) {
    if (typeof logLevel !== 'string' || !CONF_LEVELS.has(logLevel.toLowerCase())) {
      throw new TypeError(`logLevel must be one of ${[...CONF_LEVELS].join(', ')}`);
    }
    return logLevel;
  }
  let own;
  try {
    own = logger && typeof logger.level === 'string' ? LOGGER_LEVELS[logger.level.toLowerCase()] : undefined;
  } catch (_) {
    own = undefined; // a throwing getter: ignore it
  }
  return own;
}

/** Checks the `logger` option: undefined (libsaq-style lines on stderr),
 *  false/null (silent) or an object with debug, info, warn and error. */
function checkLogger(logger) {
  if (logger === undefined || logger === null || logger === false) return;
  if (typeof logger !== 'object' && typeof logger !== 'function') {
    throw new TypeError('logger must be an object with debug, info, warn and error methods (console, pino, ...), or false');
  }
  const missing = METHODS.filter((m) => typeof logger[m] !== 'function');
  if (missing.length) throw new TypeError(`logger lacks ${missing.join(', ')} (it needs debug, info, warn and error)`);
}

const LEVEL_WORDS = { error: 'ERROR', warn: 'WARNING', info: 'INFO', debug: 'DEBUG' };

/** A value of a key=value pair as libsaq writes it: bare when it is a plain
 *  word (no space, control character, quote, '=' or backslash), else
 *  JSON-quoted; numbers as they are. */
function pairValue(v) {
  if (typeof v === 'number') return String(v);
  let s = String(v);
  // a long value (a stack trace) is cut, as libsaq's line does; the fields keep it whole
  if (s.length > 200) s = `${s.slice(0, 200)}...`;
  return s !== '' && !/[\x00-\x20"=\\\x7f]/.test(s) ? s : JSON.stringify(s);
}

/** One line as libsaq's default sink writes it: "saq: WARNING message key=value ...". */
function line(method, message, fields) {
  let out = `saq: ${LEVEL_WORDS[method]} ${message}`;
  for (const [k, v] of Object.entries(fields)) out += ` ${k}=${pairValue(v)}`;
  return `${out}\n`;
}

/** The function a Queue calls for each record: (level, message, fields). */
function sinkFor(logger) {
  if (logger === false || logger === null) return () => {};
  if (logger === undefined) {
    return (level, message, fields) => process.stderr.write(line(methodOf(level), message, fields));
  }
  let warned = false;
  return (level, message, fields) => {
    try {
      logger[methodOf(level)](fields, message);
    } catch (err) {
      // a logger that throws must not stop the queue's pump
      if (!warned) {
        warned = true;
        process.emitWarning(`libsaq: the logger threw (${err && err.message}); later failures are not reported`);
      }
    }
  };
}

/** Reads a SAQ_EVENT_LOG event: [level, message, fields]. */
function readEvent(ev) {
  let fields = null;
  try {
    fields = json.parse(raw.saq_event_json(ev), null);
  } catch (_) {
    fields = null;
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) fields = {};
  return [Number(raw.saq_event_int(ev)), raw.saq_event_text(ev) ?? '', fields];
}

module.exports = { checkLogger, confLevel, sinkFor, readEvent, methodOf, line };
