// SPDX-License-Identifier: MIT
'use strict';
// Option objects: unknown keys are a TypeError naming the known ones (a typo
// such as `returnException` must not pass unnoticed), deprecated keys warn
// once per process, and AbortSignals are checked before use.

const warned = new Set();

/** process.emitWarning(message) as a DeprecationWarning with `code`, once per
 *  code in this process. */
function deprecate(code, message) {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { type: 'DeprecationWarning', code });
}

/** `options` as an object ({} for undefined or null). Throws a TypeError for
 *  anything but a plain object, or for a key outside `known` (`what` names
 *  the call, e.g. "apply()"). */
function checkOptions(options, known, what) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${what}: options must be an object`);
  }
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) {
      throw new TypeError(`${what}: unknown option "${k}" (known: ${known.join(', ')})`);
    }
  }
  return options;
}

/** The `signal` option: undefined/null, or an AbortSignal (TypeError else). */
function checkSignal(signal, what) {
  if (signal === undefined || signal === null) return null;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`${what}: signal must be an AbortSignal`);
  return signal;
}

/** signal -> { fns, listener }: the one 'abort' listener of a signal, shared
 *  by every pending operation given it. */
const aborters = new WeakMap();

/** Call fn() when `signal` aborts. Every operation pending on one signal
 *  shares one listener, so a signal reused by many concurrent calls does not
 *  grow its listener list (nor trip Node's MaxListenersExceededWarning, which
 *  says "possible memory leak" at 11). Returns the function that unregisters
 *  fn (the listener goes with the last one). */
function onAbort(signal, fn) {
  let entry = aborters.get(signal);
  if (!entry) {
    const fns = new Set();
    const listener = () => {
      aborters.delete(signal);
      let first = null;
      for (const f of [...fns]) {
        try {
          f();
        } catch (err) {
          first = first || { err };
        }
      }
      fns.clear();
      if (first) throw first.err;
    };
    entry = { fns, listener };
    aborters.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  entry.fns.add(fn);
  const e = entry;
  return () => {
    if (!e.fns.delete(fn) || e.fns.size > 0 || aborters.get(signal) !== e) return;
    aborters.delete(signal);
    signal.removeEventListener('abort', e.listener);
  };
}

/** A number of seconds from the option `name` (seconds) or its deprecated
 *  form `oldName` (milliseconds; a DeprecationWarning with `code`): the value
 *  in seconds, or undefined when neither is set. Both set is a TypeError. */
function seconds(options, name, oldName, code, what) {
  const v = options[name];
  const old = options[oldName];
  const set = (x) => x !== undefined && x !== null;
  if (set(v) && set(old)) throw new TypeError(`${what}: give ${name} (seconds) or ${oldName}, not both`);
  if (set(old)) {
    deprecate(code, `libsaq: ${what} option ${oldName} (milliseconds) is deprecated: use ${name} (seconds)`);
    if (typeof old !== 'number' || Number.isNaN(old)) throw new TypeError(`${what}: ${oldName} must be a number`);
    return old / 1000;
  }
  if (!set(v)) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${what}: ${name} must be a number of seconds`);
  return v;
}

module.exports = { deprecate, checkOptions, checkSignal, onAbort, seconds };
