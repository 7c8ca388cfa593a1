'use strict';
// JSON as Python's json module writes and reads it: NaN, Infinity and
// -Infinity are accepted (Python saq stores them for non-finite floats) and
// written back as such, so values survive a round trip through Python.

const TAG = '\u0000saq:';

function protect(s) {
  let out = '';
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j + 1;
    } else if (s.startsWith('NaN', i)) {
      out += '"\\u0000saq:NaN"';
      i += 3;
    } else if (s.startsWith('-Infinity', i)) {
      out += '"\\u0000saq:-Infinity"';
      i += 9;
    } else if (s.startsWith('Infinity', i)) {
      out += '"\\u0000saq:Infinity"';
      i += 8;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function revive(key, value) {
  return typeof value === 'string' && value.startsWith(TAG) ? Number(value.slice(TAG.length)) : value;
}

/** Parse JSON text from libsaq; null/undefined (no value) gives `dflt`. */
function parse(text, dflt = null) {
  if (text === null || text === undefined) return dflt;
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/NaN|Infinity/.test(text)) throw err;
    return JSON.parse(protect(text), revive);
  }
}

function replace(key, value) {
  return typeof value === 'number' && !Number.isFinite(value) ? TAG + String(value) : value;
}

/** JSON text for libsaq; undefined becomes null. Throws on BigInt/cycles. */
function stringify(value) {
  if (value === undefined) return 'null';
  const s = JSON.stringify(value, replace);
  if (s === undefined) return 'null'; // functions, symbols
  return s.includes('\\u0000saq:') ? s.replace(/"\\u0000saq:(NaN|-?Infinity)"/g, '$1') : s;
}

module.exports = { parse, stringify };
