// SPDX-License-Identifier: MIT
'use strict';
// JSON as Python's json module writes and reads it: NaN, Infinity and
// -Infinity are accepted (Python saq stores them for non-finite floats) and
// written back as such, so values survive a round trip through Python.
//
// Plain JSON goes through V8's JSON.parse/JSON.stringify. Only text that
// JSON.parse refuses (it holds one of those tokens) or that must be read
// exactly (bigint mode) goes through the small parser below, and only values
// JSON.stringify cannot write (non-finite numbers, BigInts, RawJson) through
// the writer below. Neither uses in-band markers: no string can turn into a
// number or the reverse.

/** JSON text kept exactly as written: a handler may return it as its result,
 *  and enqueue/apply take it as kwargs, to pass values JavaScript numbers
 *  cannot hold (integers beyond 2^53, -0.0, 1.0 as a float). */
class RawJson {
  constructor(text) {
    if (typeof text !== 'string') throw new TypeError('rawJson(text): text must be a string of JSON');
    if (text.includes('\0')) throw new TypeError('rawJson(text): the text must not contain a NUL character');
    Object.defineProperty(this, 'text', { value: text, enumerable: true });
    Object.freeze(this);
  }

  toString() {
    return this.text;
  }
}

function rawJson(text) {
  return text instanceof RawJson ? text : new RawJson(text);
}

class Parser {
  constructor(text, bigint) {
    this.s = text;
    this.i = 0;
    this.bigint = bigint;
  }

  fail(what) {
    throw new SyntaxError(`${what} in JSON at position ${this.i}`);
  }

  ws() {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
    this.i = i;
  }

  word(w) {
    if (this.s.startsWith(w, this.i)) {
      this.i += w.length;
      return true;
    }
    return false;
  }

  document() {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('Unexpected token');
    return v;
  }

  /** The exact text of each element of a top-level array. */
  elements() {
    this.ws();
    if (this.s[this.i] !== '[') this.fail('Expected an array');
    const out = [];
    this.array(0, (start, end) => out.push(this.s.slice(start, end)));
    this.ws();
    if (this.i !== this.s.length) this.fail('Unexpected token');
    return out;
  }

  value(depth) {
    if (depth > 10000) this.fail('Nested too deeply');
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    if (this.word('NaN')) return NaN;
    if (this.word('Infinity')) return Infinity;
    if (this.word('-Infinity')) return -Infinity;
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    return this.fail(c === undefined ? 'Unexpected end' : `Unexpected token ${JSON.stringify(c)}`);
  }

  object(depth) {
    this.i++;
    const obj = {};
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('Expected a property name');
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("Expected ':'");
      this.i++;
      this.ws();
      const v = this.value(depth + 1);
      if (k === '__proto__') {
        // an own property, as JSON.parse makes it (an assignment would set the prototype)
        Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
      } else obj[k] = v;
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return obj;
      if (c !== ',') {
        this.i--;
        this.fail("Expected ',' or '}'");
      }
    }
  }

  array(depth, onElement) {
    this.i++;
    const arr = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return arr;
    }
    for (;;) {
      this.ws();
      const start = this.i;
      arr.push(this.value(depth + 1));
      if (onElement) onElement(start, this.i);
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return arr;
      if (c !== ',') {
        this.i--;
        this.fail("Expected ',' or ']'");
      }
    }
  }

  string() {
    const s = this.s;
    const start = this.i;
    let i = start + 1;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 34) break; // "
      if (Number.isNaN(c)) {
        this.i = start;
        this.fail('Unterminated string');
      }
      i += c === 92 ? 2 : 1; // backslash
    }
    this.i = i + 1;
    return JSON.parse(s.slice(start, i + 1)); // escapes and control characters exactly as JSON.parse
  }

  number() {
    const s = this.s;
    const start = this.i;
    let i = start;
    const digits = () => {
      const from = i;
      while (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
      return i - from;
    };
    if (s[i] === '-') i++;
    if (s[i] === '0') i++;
    else if (!digits()) this.fail('No number after minus sign');
    let integer = true;
    if (s[i] === '.') {
      i++;
      integer = false;
      if (!digits()) this.fail('Unterminated fractional number');
    }
    if (s[i] === 'e' || s[i] === 'E') {
      i++;
      integer = false;
      if (s[i] === '+' || s[i] === '-') i++;
      if (!digits()) this.fail('Exponent part is missing a number');
    }
    this.i = i;
    const text = s.slice(start, i);
    const n = Number(text);
    return this.bigint && integer && !Number.isSafeInteger(n) ? BigInt(text) : n;
  }
}

const BIG_INTEGER = /\d{16}/; // an integer beyond 2^53 has at least 16 digits

/** Parse JSON text from libsaq; null/undefined (no value) gives `dflt`.
 *  Options: bigint (integers beyond 2^53 become BigInts). */
function parse(text, dflt = null, { bigint = false } = {}) {
  if (text === null || text === undefined) return dflt;
  if (bigint && BIG_INTEGER.test(text)) return new Parser(text, true).document();
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/NaN|Infinity/.test(text)) throw err;
    return new Parser(text, bigint).document();
  }
}

/** The exact text of each element of a JSON array (map results). */
function elements(text) {
  return new Parser(text, false).elements();
}

function nonFinite(n) {
  return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
}

/** JSON.stringify's algorithm, writing non-finite numbers as Python does,
 *  BigInts as their digits and RawJson as its text. */
function write(holder, key, value, stack) {
  if (value !== null && (typeof value === 'object' || typeof value === 'bigint') && typeof value.toJSON === 'function') {
    value = value.toJSON(key);
  }
  if (value instanceof RawJson) return value.text;
  if (value instanceof Number) value = Number(value);
  else if (value instanceof String) value = String(value);
  else if (value instanceof Boolean) value = value.valueOf();
  else if (value instanceof BigInt) value = value.valueOf();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : nonFinite(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined; // undefined, functions, symbols
  }
  if (value === null) return 'null';
  if (stack.includes(value)) throw new TypeError('Converting circular structure to JSON');
  stack.push(value);
  const parts = [];
  let out;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const s = write(value, String(i), value[i], stack);
      parts.push(s === undefined ? 'null' : s);
    }
    out = `[${parts.join(',')}]`;
  } else {
    for (const k of Object.keys(value)) {
      const s = write(value, k, value[k], stack);
      if (s !== undefined) parts.push(`${JSON.stringify(k)}:${s}`);
    }
    out = `{${parts.join(',')}}`;
  }
  stack.pop();
  return out;
}

/** JSON text for libsaq; undefined becomes null. Non-finite numbers are
 *  written as NaN/Infinity/-Infinity, BigInts as their digits, RawJson as
 *  its text. Throws on cycles. */
function stringify(value) {
  if (value === undefined) return 'null';
  let special = false;
  const s = JSON.stringify(value, (k, v) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) special = true;
    } else if (typeof v === 'bigint') {
      special = true;
      return null; // JSON.stringify would throw; the writer below handles it
    } else if (v instanceof RawJson || v instanceof Number || v instanceof BigInt) {
      special = true;
    }
    return v;
  });
  if (!special) return s === undefined ? 'null' : s;
  const out = write({ '': value }, '', value, []);
  return out === undefined ? 'null' : out;
}

module.exports = { parse, stringify, elements, rawJson, RawJson };
