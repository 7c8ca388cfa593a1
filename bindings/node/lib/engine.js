// SPDX-License-Identifier: MIT
'use strict';
// The completion pump: one libsaq completion queue (cq) per Queue, watched
// through a dup of its notification pipe wrapped in a net.Socket. libsaq makes
// the pipe readable while events wait; on 'data' the pump drains the cq with
// saq_cq_poll(cq, 0), which never blocks. Nothing runs on Node's thread pool
// and no libsaq call made from here waits.
//
// The socket is unref'd whenever nothing is pending, so an idle Queue does not
// keep the process alive; a pending operation, an open listen or a running
// worker holds a reference.
const net = require('net');
const raw = require('./native');
const { SaqError, codes } = require('./errors');
const { onAbort } = require('./options');

const MAX_TAG = 2 ** 53 - 1; // tags must survive the trip through a double

class Engine {
  constructor() {
    this.cq = raw.saq_cq_new();
    if (!this.cq) throw new SaqError(codes.ENOMEM, 'cannot create its completion queue: out of memory or file descriptors');
    const fd = raw.saq_cq_fd_dup(this.cq);
    if (fd < 0) {
      raw.saq_cq_free(this.cq);
      throw new SaqError(codes.ENOMEM, 'cannot create its completion queue: no file descriptor left for its notification pipe');
    }
    this.handlers = new Map(); // tag -> { event(ev), abandon(err), hold }
    // SAQ_EVENT_LOG records (saq_conf_set_log_cq): not completions, so they
    // neither hold the process nor count as pending work
    this.onLog = null;
    this.nextTag = 1;
    this.holds = 0;
    this.closed = false;
    this.idleWaiters = [];
    this.sock = new net.Socket({ fd, readable: true, writable: false });
    this.sock.on('data', () => this.drain());
    this.sock.on('error', (err) => {
      // cannot happen for a pipe we own; make it visible and keep draining
      process.emitWarning(`libsaq: completion pipe error: ${err.message}`);
      this.drain();
    });
    this.sock.unref();
  }

  newTag() {
    const t = this.nextTag;
    this.nextTag = t >= MAX_TAG ? 1 : t + 1;
    return t;
  }

  hold() {
    if (this.holds++ === 0 && !this.closed) this.sock.ref();
  }

  release() {
    if (--this.holds === 0 && !this.closed) this.sock.unref();
  }

  /** Register a handler for `tag` (it stays until removed). */
  add(tag, handler, keepAlive = true) {
    handler.hold = keepAlive;
    this.handlers.set(tag, handler);
    if (keepAlive) this.hold();
  }

  remove(tag) {
    const h = this.handlers.get(tag);
    if (!h) return;
    this.handlers.delete(tag);
    if (h.hold) this.release();
    if (this.handlers.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** One asynchronous operation: `submit(tag)` calls a saq_queue_* function
   *  and returns its int; `convert(ev)` turns the completion into a value or
   *  throws. Returns a Promise. With an AbortSignal: an aborted signal
   *  rejects with its reason before anything is submitted; an abort while
   *  the operation is pending calls `cancel(tag)` (saq_queue_cancel) and
   *  rejects at once with the reason. The handler stays registered until
   *  libsaq's own completion comes (keeping close() and the process's
   *  reference count right); that late event is discarded. */
  op(submit, convert, signal = null, cancel = null) {
    if (this.closed) return Promise.reject(new SaqError(codes.ECLOSED, 'the queue is closed'));
    if (signal && signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const tag = this.newTag();
      const rc = submit(tag); // SWIG argument errors throw here, inside the executor
      if (rc !== 0) {
        reject(new SaqError(rc));
        return;
      }
      let stopListening = null;
      const unlisten = () => {
        if (stopListening) stopListening();
        stopListening = null;
      };
      this.add(tag, {
        event: (ev) => {
          this.remove(tag);
          unlisten();
          try {
            resolve(convert(ev));
          } catch (err) {
            reject(err);
          }
        },
        abandon: (err) => {
          unlisten();
          reject(err);
        },
      });
      if (signal) {
        stopListening = onAbort(signal, () => {
          stopListening = null;
          if (cancel && !this.closed) cancel(tag);
          reject(signal.reason);
        });
      }
    });
  }

  drain() {
    let ev;
    while (!this.closed && (ev = raw.saq_cq_poll(this.cq, 0)) !== null) {
      try {
        if (raw.saq_event_type(ev) === raw.SAQ_EVENT_LOG) {
          if (this.onLog) this.onLog(ev);
        } else {
          const h = this.handlers.get(raw.saq_event_tag(ev));
          if (h) h.event(ev);
        }
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      } finally {
        raw.saq_event_free(ev);
      }
    }
  }

  /** Resolves when no handler is registered, or after `timeoutMs`
   *  (resolving false then). */
  idle(timeoutMs) {
    if (this.handlers.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
      if (timeoutMs >= 0) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((f) => f !== done);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  close(err, { keepCq = false } = {}) {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    const hs = [...this.handlers.values()];
    this.handlers.clear();
    for (const h of hs) {
      try {
        if (h.abandon) h.abandon(err);
      } catch (_) {
        /* ignore */
      }
    }
    this.sock.destroy();
    if (!keepCq) raw.saq_cq_free(this.cq); // else libsaq may still post to it
    this.cq = null;
    for (const f of this.idleWaiters.splice(0)) f();
  }
}

module.exports = { Engine };
