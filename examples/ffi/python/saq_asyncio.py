# SPDX-License-Identifier: MIT
"""libsaq from Python through cffi (ABI mode: no compiler, no SWIG), driven by asyncio.

    pip install cffi            # in a venv
    REDIS_URL=redis://localhost:6379/0 python saq_asyncio.py

The C declarations come from saq_ffi.h, the plain-declarations copy of saq.h that cffi's
cdef() reads as is (installed beside saq.h; $SAQ_FFI_HEADER overrides), and the library from
pkg-config's libdir ($SAQ_LIB overrides). One completion queue (saq_cq_t) carries every event
of the queue operations and of the worker; asyncio watches its file descriptor with
loop.add_reader(saq_cq_fd(cq)) and drains it with saq_cq_poll(cq, 0), so nothing blocks the
event loop and no libsaq thread ever calls into Python. The worker runs in pull mode: libsaq
hands each job over as a SAQ_EVENT_LEASE event and the coroutine registered for its function
runs as an asyncio task, then settles the job with saq_job_complete or saq_job_fail.

Run as a script it enqueues a job and sees the worker complete it, applies one that succeeds
and one that fails, maps two, aborts a running one (its task is cancelled), and exits 0 only
when every outcome is the expected one.
"""
import asyncio
import itertools
import json
import os
import subprocess
import sys
import traceback

import cffi

ffi = cffi.FFI()


def _pkg_config_var(name):
    return subprocess.run(["pkg-config", "--variable=" + name, "libsaq"], check=True,
                          capture_output=True, text=True).stdout.strip()


def load_lib():
    """cdef() saq_ffi.h as it is, then dlopen libsaq (ABI mode)."""
    header = os.environ.get("SAQ_FFI_HEADER") or os.path.join(_pkg_config_var("includedir"),
                                                              "saq_ffi.h")
    with open(header, encoding="utf-8") as f:
        ffi.cdef(f.read())
    return ffi.dlopen(os.environ.get("SAQ_LIB") or
                      os.path.join(_pkg_config_var("libdir"), "libsaq.so.0"))


lib = load_lib()


def _text(p):
    """A borrowed const char * as a Python str (None for NULL)."""
    return None if p == ffi.NULL else ffi.string(p).decode()


class SaqError(Exception):
    """A libsaq error: code (SAQ_E*), name ("SAQ_EJOB"), message, and for SAQ_EJOB the final
    job record (a dict) that tells why."""

    def __init__(self, code, message=None, job=None):
        self.code, self.name, self.job = code, _text(lib.saq_err_name(code)), job
        super().__init__("%s: %s" % (self.name, message or _text(lib.saq_strerror(code))))


def _record(job):
    """A job as saq's record (a dict), or None."""
    return None if job == ffi.NULL else json.loads(_text(lib.saq_job_to_json(job)))


class Queue:
    """A saq Queue on the running asyncio loop (make it inside a coroutine): each operation is a
    coroutine that submits the asynchronous libsaq call with a fresh tag and awaits its
    completion event."""

    def __init__(self, url, name="default"):
        conf = lib.saq_conf_new()
        try:
            for key, value in (("url", url), ("name", name)):
                rc = lib.saq_conf_set(conf, key.encode(), value.encode())
                if rc != lib.SAQ_OK:
                    raise SaqError(rc, _text(lib.saq_conf_errmsg(conf)))
            out = ffi.new("saq_queue_t **")
            rc = lib.saq_queue_open(out, conf)
            if rc != lib.SAQ_OK:
                raise SaqError(rc, _text(lib.saq_conf_errmsg(conf)))
        finally:
            lib.saq_conf_free(conf)
        self.q = out[0]
        self.cq = lib.saq_cq_new()
        self.loop = asyncio.get_running_loop()
        self._tags = itertools.count(1)
        self._pending = {}   # tag -> (future, how to turn the event into a result)
        self._workers = {}   # tag -> Worker, for their LEASE/CANCEL/OUTCOME/... events
        self._fd = lib.saq_cq_fd(self.cq)
        self.loop.add_reader(self._fd, self._drain)

    def _drain(self):
        """The cq's fd is readable: take every event waiting, without blocking."""
        while True:
            ev = lib.saq_cq_poll(self.cq, 0)
            if ev == ffi.NULL:
                return
            try:
                tag = lib.saq_event_tag(ev)
                if tag in self._workers:
                    self._workers[tag]._on_event(ev)
                elif tag in self._pending:
                    fut, convert = self._pending.pop(tag)
                    status = lib.saq_event_status(ev)
                    if fut.done():
                        pass
                    elif status != lib.SAQ_OK:
                        fut.set_exception(SaqError(status, _text(lib.saq_event_errmsg(ev)),
                                                   _record(lib.saq_event_job(ev))))
                    else:
                        fut.set_result(convert(ev))
            finally:
                lib.saq_event_free(ev)

    def _submit(self, convert, call, *args):
        tag = next(self._tags)
        fut = self.loop.create_future()
        self._pending[tag] = (fut, convert)
        rc = call(self.q, *args, self.cq, tag)
        if rc != lib.SAQ_OK:        # no event will come
            del self._pending[tag]
            raise SaqError(rc)
        return fut

    async def enqueue(self, function, **kwargs):
        """saq's queue.enqueue(function, **kwargs): the job's key (None when a job with that
        key was already enqueued)."""
        return await self._submit(
            lambda ev: _text(lib.saq_job_key(lib.saq_event_job(ev)))
            if lib.saq_event_int(ev) else None,
            lib.saq_queue_enqueue_call, function.encode(), json.dumps(kwargs).encode())

    async def job(self, key):
        """saq's queue.job(key): the record as a dict (SaqError SAQ_ENOTFOUND when gone)."""
        return await self._submit(lambda ev: _record(lib.saq_event_job(ev)),
                                  lib.saq_queue_job, key.encode())

    async def abort(self, key, error="aborted", ttl=5):
        """saq's queue.abort: 2 aborted at once (it was waiting), 1 its worker is stopping it,
        0 already over."""
        return await self._submit(lambda ev: lib.saq_event_int(ev), lib.saq_queue_abort,
                                  key.encode(), error.encode(), ttl)

    async def apply(self, function, timeout=0, **kwargs):
        """saq's queue.apply(function, timeout, **kwargs): the job's result; SaqError with
        code SAQ_EJOB (and .job, the final record) when it failed or was aborted. A cancelled
        await stops the wait in the core (saq_queue_cancel) and leaves the job alone."""
        job = lib.saq_job_new(function.encode())
        try:
            rc = lib.saq_job_set_call_kwargs(job, json.dumps(kwargs).encode())
            if rc != lib.SAQ_OK:
                raise SaqError(rc, _text(lib.saq_job_errmsg(job)))
            fut = self._submit(lambda ev: json.loads(_text(lib.saq_event_json(ev))),
                               lib.saq_queue_apply, job, float(timeout))
        finally:
            lib.saq_job_free(job)       # the queue enqueues a copy
        return await self._cancellable(fut)

    async def map(self, function, iter_kwargs, timeout=0, return_exceptions=False, **defaults):
        """saq's queue.map: the results in item order."""
        fut = self._submit(lambda ev: json.loads(_text(lib.saq_event_json(ev))),
                           lib.saq_queue_map, function.encode(), json.dumps(iter_kwargs).encode(),
                           json.dumps(defaults).encode(), float(timeout),
                           1 if return_exceptions else 0)
        return await self._cancellable(fut)

    async def _cancellable(self, fut):
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            tag = next((t for t, (f, _) in self._pending.items() if f is fut), None)
            if tag is not None:
                lib.saq_queue_cancel(self.q, self.cq, tag)
                fut.add_done_callback(lambda f: f.exception())   # SAQ_ECLOSED, expected
            raise

    async def close(self, timeout_ms=5000):
        """Let the operations in flight end, then release everything (workers first)."""
        for w in list(self._workers.values()):
            await w.stop()
        # saq_queue_close blocks: a thread of the default executor waits for it
        await self.loop.run_in_executor(None, lib.saq_queue_close, self.q, timeout_ms)
        self._drain()
        self.loop.remove_reader(self._fd)
        lib.saq_cq_free(self.cq)
        lib.saq_queue_free(self.q)


class Worker:
    """A saq Worker in pull mode: functions maps a function name to an async def taking the
    job's kwargs; its return value (JSON-serialisable) is the result, an exception fails the
    job (retried while attempts < retries, as saq does)."""

    def __init__(self, queue, functions, concurrency=10):
        self.queue, self.functions = queue, functions
        conf = lib.saq_conf_new()
        try:
            rc = lib.saq_conf_set(conf, b"concurrency", str(concurrency).encode())
            out = ffi.new("saq_worker_t **")
            if rc == lib.SAQ_OK:
                rc = lib.saq_worker_open(out, queue.q, conf)
            if rc != lib.SAQ_OK:
                raise SaqError(rc, _text(lib.saq_conf_errmsg(conf)))
        finally:
            lib.saq_conf_free(conf)
        self.w = out[0]
        for name in functions:
            rc = lib.saq_worker_register_pull(self.w, name.encode())
            if rc != lib.SAQ_OK:
                err = SaqError(rc, _text(lib.saq_worker_errmsg(self.w)))
                lib.saq_worker_free(self.w)
                raise err
        self.tag = next(queue._tags)
        self._running = {}      # lease id -> (task, job)
        self._outcomes = {}     # key -> future of the stored record (see outcome())
        self._stopped = queue.loop.create_future()

    def start(self):
        self.queue._workers[self.tag] = self
        rc = lib.saq_worker_start(self.w, self.queue.cq, self.tag)
        if rc != lib.SAQ_OK:
            del self.queue._workers[self.tag]
            raise SaqError(rc, _text(lib.saq_worker_errmsg(self.w)))

    def outcome(self, key):
        """A future of the record as stored when the job with this key ends on this worker."""
        return self._outcomes.setdefault(key, self.queue.loop.create_future())

    def _on_event(self, ev):
        kind = lib.saq_event_type(ev)
        if kind == lib.SAQ_EVENT_LEASE:
            job = lib.saq_event_take_job(ev)    # ours now: settle it, then saq_job_free
            lease = lib.saq_job_lease_id(job)
            task = self.queue.loop.create_task(self._run(job))
            self._running[lease] = (task, job)
            task.add_done_callback(lambda _t: self._running.pop(lease, None))
        elif kind == lib.SAQ_EVENT_CANCEL:     # abort, timeout, shutdown, ...
            key = _text(lib.saq_event_key(ev))
            for task, job in self._running.values():
                if _text(lib.saq_job_key(job)) == key and lib.saq_job_cancelled(job):
                    task.cancel()
        elif kind == lib.SAQ_EVENT_OUTCOME:
            key = _text(lib.saq_event_key(ev))
            fut = self.outcome(key)
            if not fut.done():
                if lib.saq_event_status(ev) == lib.SAQ_OK:
                    fut.set_result(_record(lib.saq_event_job(ev)))
                else:
                    fut.set_exception(SaqError(lib.saq_event_status(ev),
                                               _text(lib.saq_event_errmsg(ev))))
        elif kind == lib.SAQ_EVENT_WORKER_STOPPED and not self._stopped.done():
            self._stopped.set_result(None)

    async def _run(self, job):
        try:
            fn = self.functions[_text(lib.saq_job_function(job))]
            result = await fn(**json.loads(_text(lib.saq_job_kwargs(job)) or "{}"))
            lib.saq_job_complete(job, json.dumps(result).encode())
        except asyncio.CancelledError:
            lib.saq_job_fail(job, b"cancelled")    # the cancellation's reason decides the outcome
        except Exception:
            lib.saq_job_fail(job, traceback.format_exc().encode())
        finally:
            lib.saq_job_free(job)

    async def stop(self, grace_ms=5000):
        """Stop taking jobs, give running ones grace_ms, wait until stopped, release."""
        if self.w == ffi.NULL:
            return
        lib.saq_worker_stop(self.w, grace_ms)
        if self.tag in self.queue._workers:
            await self._stopped
        # returns at once now; runs the shutdown hooks (none here)
        await self.queue.loop.run_in_executor(None, lib.saq_worker_wait, self.w, 10000)
        self.queue._workers.pop(self.tag, None)
        lib.saq_worker_free(self.w)
        self.w = ffi.NULL


# ---------------------------------------------------------------------------------------------
# The example: enqueue, work, apply, map, abort.

async def add(a, b):
    await asyncio.sleep(0.01)
    return a + b


async def boom(message):
    raise ValueError(message)


started = cancelled = None     # asyncio.Event()s, made in main() (on its loop)


async def slow():
    started.set()
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:   # the worker's SAQ_EVENT_CANCEL cancelled this task
        cancelled.set()
        raise


async def main():
    global started, cancelled
    started, cancelled = asyncio.Event(), asyncio.Event()
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    queue = Queue(url, name="ffi-python-%d" % os.getpid())
    worker = Worker(queue, {"add": add, "boom": boom, "slow": slow})
    worker.start()
    failures = []

    def expect(what, ok, got):
        print("%-40s %s (%s)" % (what, "ok" if ok else "UNEXPECTED", got), flush=True)
        if not ok:
            failures.append(what)

    key = await queue.enqueue("add", a=1, b=2)
    record = await asyncio.wait_for(worker.outcome(key), 15)
    expect("enqueued add(1, 2), worked by the worker",
           record["status"] == "complete" and record["result"] == 3,
           "%s: %s -> %r" % (key, record["status"], record.get("result")))
    stored = await queue.job(key)
    expect("queue.job(key) reads it back", stored["status"] == "complete", stored["status"])

    result = await queue.apply("add", timeout=10, a=20, b=22)
    expect("apply add(20, 22)", result == 42, result)

    try:
        await queue.apply("boom", timeout=10, message="no luck", retries=1)
        expect("apply boom() raises", False, "returned")
    except SaqError as e:
        expect("apply boom() raises SAQ_EJOB", e.code == lib.SAQ_EJOB and
               e.job["status"] == "failed" and "ValueError: no luck" in e.job["error"],
               "%s, job %s" % (e.name, e.job and e.job["status"]))

    results = await queue.map("add", [{"a": 1, "b": 1}, {"a": 2, "b": 2}], timeout=10)
    expect("map add over 2 items", results == [2, 4], results)

    key = await queue.enqueue("slow", timeout=60)
    await asyncio.wait_for(started.wait(), 15)
    how = await queue.abort(key, "changed my mind")
    record = await asyncio.wait_for(worker.outcome(key), 15)
    expect("abort a running job: its task cancelled", how == 1 and cancelled.is_set() and
           record["status"] == "aborted" and record["error"] == "changed my mind",
           "abort %d, %s: %s" % (how, record["status"], record.get("error")))

    await worker.stop()
    await queue.close()
    print("libsaq %s from Python %s via cffi %s: %s" % (
        _text(lib.saq_version_str()), sys.version.split()[0], cffi.__version__,
        "FAILED: " + ", ".join(failures) if failures else "all as expected"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(), 60)))
