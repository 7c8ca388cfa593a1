# SPDX-License-Identifier: MIT
"""Thin ctypes wrapper over libsaq.so, for the interop tests only.

This is test tooling, not a product binding: every operation uses the blocking
pattern (saq_cq_new + op(..., cq, tag) + saq_cq_wait(cq, tag, timeout)), copies
what the event carries into plain Python values and frees the event at once.

    q = Queue(url, name="default", dialect="0.26")
    r = q.enqueue("add", a=1, b=2)        # Result: .status .int .json .job ...
    r.job["key"]

Async tests call the blocking methods through `q.a.<method>(...)`, which runs
them in a thread (ctypes releases the GIL) so an in-process Python saq worker
keeps running meanwhile.

Path of the library: env SAQ_LIB (e.g. build-interop/libsaq.so).
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import json
import os
import threading
from ctypes import (
    CFUNCTYPE,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable

# ---- constants (abi/saq.h) -------------------------------------------------

OK = 0
ERRORS = {
    -1: "SAQ_EINVAL", -2: "SAQ_ENOMEM", -3: "SAQ_ETIMEDOUT", -4: "SAQ_ECLOSED",
    -5: "SAQ_EFORKED", -6: "SAQ_EREDIS", -7: "SAQ_EPROTO", -8: "SAQ_ECONN", -9: "SAQ_EURL",
    -10: "SAQ_EJSON", -11: "SAQ_ENOTFOUND", -12: "SAQ_EWRONGQUEUE", -13: "SAQ_EJOB",
    -14: "SAQ_EUNKNOWN_KEY", -15: "SAQ_ECRON", -16: "SAQ_ESTATE", -17: "SAQ_ETOOBIG",
    -18: "SAQ_EUVVERSION", -19: "SAQ_ETLS",
}
EINVAL, ETIMEDOUT, ECLOSED, EJSON, ENOTFOUND, EWRONGQUEUE, EJOB, ECRON, ESTATE, ETLS = (
    -1, -3, -4, -10, -11, -12, -13, -15, -16, -19,
)

EV_ENQUEUE, EV_JOB, EV_JOBS, EV_ABORT, EV_RETRY, EV_FINISH, EV_UPDATE, EV_COUNT, EV_INFO = range(1, 10)
EV_STATS, EV_LISTEN, EV_LISTEN_END, EV_APPLY, EV_MAP, EV_SCHEDULE, EV_SWEEP = range(10, 17)
EV_BATCH_ABORT, EV_LEASE, EV_CANCEL, EV_WORKER_STOPPED, EV_PING = range(17, 22)

HOOK_STARTUP, HOOK_SHUTDOWN, HOOK_BEFORE_PROCESS, HOOK_AFTER_PROCESS = 1, 2, 3, 4
CANCEL_NONE, CANCEL_ABORTED, CANCEL_TIMEOUT, CANCEL_SHUTDOWN, CANCEL_HEARTBEAT, CANCEL_LOST = range(6)

DEFAULT_TIMEOUT_MS = 30000

HANDLER_FN = CFUNCTYPE(None, c_void_p, c_void_p)
HOOK_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)

# ---- library loading -------------------------------------------------------

_lib = None
_lib_lock = threading.Lock()


def _declare(lib: ctypes.CDLL) -> None:
    V, S, I, U64, I64, D, Z = c_void_p, c_char_p, c_int, c_uint64, c_int64, c_double, c_size_t
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "saq_version": (c_uint, []),
        "saq_version_str": (S, []),
        "saq_strerror": (S, [I]),
        "saq_err_name": (S, [I]),
        "saq_conf_new": (V, []),
        "saq_conf_free": (None, [V]),
        "saq_conf_set": (I, [V, S, S]),
        "saq_conf_get": (S, [V, S]),
        "saq_conf_errmsg": (S, [V]),
        "saq_cq_new": (V, []),
        "saq_cq_wait": (V, [V, U64, I]),
        "saq_cq_poll": (V, [V, I]),
        "saq_cq_free": (None, [V]),
        "saq_cq_wakeup": (None, [V]),
        "saq_event_type": (I, [V]),
        "saq_event_tag": (U64, [V]),
        "saq_event_status": (I, [V]),
        "saq_event_errmsg": (S, [V]),
        "saq_event_int": (I64, [V]),
        "saq_event_json": (S, [V]),
        "saq_event_key": (S, [V]),
        "saq_event_job_status": (S, [V]),
        "saq_event_job": (V, [V]),
        "saq_event_take_job": (V, [V]),
        "saq_event_job_count": (Z, [V]),
        "saq_event_job_at": (V, [V, Z]),
        "saq_event_free": (None, [V]),
        "saq_job_new": (V, [S]),
        "saq_job_from_json": (V, [S]),
        "saq_job_dup": (V, [V]),
        "saq_job_free": (None, [V]),
        "saq_job_function": (S, [V]),
        "saq_job_key": (S, [V]),
        "saq_job_id": (S, [V]),
        "saq_job_queue": (S, [V]),
        "saq_job_kwargs": (S, [V]),
        "saq_job_result": (S, [V]),
        "saq_job_error": (S, [V]),
        "saq_job_meta": (S, [V]),
        "saq_job_worker_id": (S, [V]),
        "saq_job_status": (S, [V]),
        "saq_job_status_code": (I, [V]),
        "saq_job_timeout": (D, [V]),
        "saq_job_heartbeat": (D, [V]),
        "saq_job_retries": (I, [V]),
        "saq_job_ttl": (I, [V]),
        "saq_job_retry_delay": (D, [V]),
        "saq_job_retry_backoff": (I, [V]),
        "saq_job_retry_backoff_cap": (D, [V]),
        "saq_job_scheduled": (D, [V]),
        "saq_job_progress": (D, [V]),
        "saq_job_attempts": (I, [V]),
        "saq_job_queued_ms": (I64, [V]),
        "saq_job_started_ms": (I64, [V]),
        "saq_job_completed_ms": (I64, [V]),
        "saq_job_touched_ms": (I64, [V]),
        "saq_job_to_json": (S, [V]),
        "saq_job_set_key": (I, [V, S]),
        "saq_job_set_kwargs": (I, [V, S]),
        "saq_job_set_timeout": (I, [V, D]),
        "saq_job_set_heartbeat": (I, [V, D]),
        "saq_job_set_retries": (I, [V, I]),
        "saq_job_set_ttl": (I, [V, I]),
        "saq_job_set_retry_delay": (I, [V, D]),
        "saq_job_set_retry_backoff": (I, [V, I, D]),
        "saq_job_set_scheduled": (I, [V, D]),
        "saq_job_set_meta": (I, [V, S]),
        "saq_job_set_progress": (I, [V, D]),
        "saq_job_set_call_kwargs": (I, [V, S]),
        "saq_job_set_json": (I, [V, S]),
        "saq_job_errmsg": (S, [V]),
        "saq_job_complete": (I, [V, S]),
        "saq_job_fail": (I, [V, S]),
        "saq_job_cancelled": (I, [V]),
        "saq_job_touch": (I, [V, S]),
        "saq_job_lease_id": (U64, [V]),
        "saq_queue_new": (V, [V]),
        "saq_queue_name": (S, [V]),
        "saq_queue_dialect": (S, [V]),
        "saq_queue_ping": (I, [V, V, U64]),
        "saq_queue_enqueue": (I, [V, V, V, U64]),
        "saq_queue_enqueue_call": (I, [V, S, S, V, U64]),
        "saq_queue_job": (I, [V, S, V, U64]),
        "saq_queue_jobs": (I, [V, S, V, U64]),
        "saq_queue_abort": (I, [V, S, S, I, V, U64]),
        "saq_queue_retry": (I, [V, S, S, V, U64]),
        "saq_queue_finish": (I, [V, S, S, S, S, V, U64]),
        "saq_queue_update": (I, [V, S, S, V, U64]),
        "saq_queue_count": (I, [V, S, V, U64]),
        "saq_queue_info": (I, [V, I, I, I, V, U64]),
        "saq_queue_stats": (I, [V, I, V, U64]),
        "saq_queue_overview": (I, [V, V, U64]),
        "saq_queue_metrics": (I, [V, V, U64]),
        "saq_queue_iter_jobs": (I, [V, S, S, I, V, U64]),
        "saq_queue_pause": (I, [V, V, U64]),
        "saq_queue_resume": (I, [V, V, U64]),
        "saq_queue_paused": (I, [V, V, U64]),
        "saq_queue_delete": (I, [V, S, I, I, V, U64]),
        "saq_event_text": (S, [V]),
        "saq_queue_listen": (I, [V, S, D, V, U64]),
        "saq_queue_listen_stop": (I, [V, V, U64]),
        "saq_queue_apply": (I, [V, V, D, V, U64]),
        "saq_queue_map": (I, [V, S, S, S, D, I, V, U64]),
        "saq_queue_schedule": (I, [V, I, V, U64]),
        "saq_queue_sweep": (I, [V, I, D, V, U64]),
        "saq_queue_close": (I, [V, I]),
        "saq_queue_free": (None, [V]),
        "saq_queue_batch": (V, [V]),
        "saq_batch_size": (Z, [V]),
        "saq_batch_abort": (I, [V, S, V, U64]),
        "saq_batch_free": (None, [V]),
        "saq_flow_new": (V, [V]),
        "saq_flow_add": (I, [V, V]),
        "saq_flow_set_ttl": (I, [V, I]),
        "saq_flow_free": (None, [V]),
        "saq_queue_enqueue_flow": (I, [V, V, V, U64]),
        "saq_queue_flow": (I, [V, S, V, U64]),
        "saq_worker_new": (V, [V, V]),
        "saq_worker_id": (S, [V]),
        "saq_worker_errmsg": (S, [V]),
        "saq_worker_register": (I, [V, S, HANDLER_FN, V]),
        "saq_worker_register_pull": (I, [V, S]),
        "saq_worker_add_cron": (I, [V, S, S, S]),
        "saq_worker_add_hook": (I, [V, I, HOOK_FN, V]),
        "saq_worker_start": (I, [V, V, U64]),
        "saq_worker_stop": (I, [V, I]),
        "saq_worker_wait": (I, [V, I]),
        "saq_worker_stats_json": (S, [V]),
        "saq_worker_free": (None, [V]),
    }
    for name, (restype, argtypes) in sigs.items():
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = argtypes


def lib() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            path = os.environ.get("SAQ_LIB")
            if not path:
                raise RuntimeError("set SAQ_LIB to the path of libsaq.so")
            loaded = ctypes.CDLL(path)
            _declare(loaded)
            _lib = loaded
        return _lib


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def _s(b: bytes | None) -> str | None:
    return None if b is None else b.decode()


def _j(b: bytes | None) -> Any:
    return None if b is None else json.loads(b.decode())


def version() -> str:
    return _s(lib().saq_version_str())


class SaqError(Exception):
    def __init__(self, code: int, msg: str | None, result: "Result | None" = None):
        self.code = code
        self.name = ERRORS.get(code, f"SAQ_E{code}")
        self.msg = msg
        self.result = result
        super().__init__(f"{self.name}: {msg}")


# ---- jobs ------------------------------------------------------------------


def job_dict(jp: int | None) -> dict | None:
    """The record of a (borrowed) saq_job_t as saq's to_dict() would give it."""
    if not jp:
        return None
    return json.loads(lib().saq_job_to_json(jp).decode())


def job_view(jp: int | None) -> dict | None:
    """The accessors of a (borrowed) saq_job_t, for checks of the reader side."""
    if not jp:
        return None
    L = lib()
    return {
        "function": _s(L.saq_job_function(jp)),
        "key": _s(L.saq_job_key(jp)),
        "id": _s(L.saq_job_id(jp)),
        "queue": _s(L.saq_job_queue(jp)),
        "kwargs": _j(L.saq_job_kwargs(jp)),
        "result": _j(L.saq_job_result(jp)),
        "has_result": L.saq_job_result(jp) is not None,
        "error": _s(L.saq_job_error(jp)),
        "meta": _j(L.saq_job_meta(jp)),
        "worker_id": _s(L.saq_job_worker_id(jp)),
        "status": _s(L.saq_job_status(jp)),
        "timeout": L.saq_job_timeout(jp),
        "heartbeat": L.saq_job_heartbeat(jp),
        "retries": L.saq_job_retries(jp),
        "ttl": L.saq_job_ttl(jp),
        "retry_delay": L.saq_job_retry_delay(jp),
        "retry_backoff": L.saq_job_retry_backoff(jp),
        "retry_backoff_cap": L.saq_job_retry_backoff_cap(jp),
        "scheduled": L.saq_job_scheduled(jp),
        "progress": L.saq_job_progress(jp),
        "attempts": L.saq_job_attempts(jp),
        "queued": L.saq_job_queued_ms(jp),
        "started": L.saq_job_started_ms(jp),
        "completed": L.saq_job_completed_ms(jp),
        "touched": L.saq_job_touched_ms(jp),
    }


class Job:
    """An owned saq_job_t built on the C side (saq_job_new + setters)."""

    def __init__(self, function: str | None = None, *, json_text: str | None = None, **options: Any):
        L = lib()
        if json_text is not None:
            self.ptr = L.saq_job_from_json(json_text.encode())
            if not self.ptr:
                raise SaqError(EJSON, "saq_job_from_json refused the record")
        else:
            self.ptr = L.saq_job_new(_b(function))
            if not self.ptr:
                raise SaqError(EINVAL, "saq_job_new failed")
        if options:
            self.set_call_kwargs(**options)

    def _check(self, rc: int) -> None:
        if rc:
            raise SaqError(rc, _s(lib().saq_job_errmsg(self.ptr)))

    def set_call_kwargs(self, **kw: Any) -> "Job":
        self._check(lib().saq_job_set_call_kwargs(self.ptr, json.dumps(kw).encode()))
        return self

    def set(self, field: str, *args: Any) -> "Job":
        fn = getattr(lib(), f"saq_job_set_{field}")
        conv = [a.encode() if isinstance(a, str) else a for a in args]
        self._check(fn(self.ptr, *conv))
        return self

    def to_dict(self) -> dict:
        return job_dict(self.ptr)

    def view(self) -> dict:
        return job_view(self.ptr)

    @property
    def key(self) -> str:
        return _s(lib().saq_job_key(self.ptr))

    def free(self) -> None:
        if self.ptr:
            lib().saq_job_free(self.ptr)
            self.ptr = None

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:
            pass


# ---- events ----------------------------------------------------------------


class Result:
    """Everything an event carried, copied out before the event is freed."""

    def __init__(self, ev: int):
        L = lib()
        self.type = L.saq_event_type(ev)
        self.tag = L.saq_event_tag(ev)
        self.status = L.saq_event_status(ev)
        self.errmsg = _s(L.saq_event_errmsg(ev))
        self.int = L.saq_event_int(ev)
        self.json_text = _s(L.saq_event_json(ev))
        self.json = json.loads(self.json_text) if self.json_text is not None else None
        self.key = _s(L.saq_event_key(ev))
        self.text = _s(L.saq_event_text(ev))
        self.job_status = _s(L.saq_event_job_status(ev))
        jp = L.saq_event_job(ev)
        self.job = job_dict(jp)
        self.job_view = job_view(jp)
        n = L.saq_event_job_count(ev)
        self.jobs = [job_dict(L.saq_event_job_at(ev, i)) for i in range(n)]
        self.job_views = [job_view(L.saq_event_job_at(ev, i)) for i in range(n)]

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def err_name(self) -> str:
        return ERRORS.get(self.status, "SAQ_OK" if self.status == 0 else str(self.status))

    def __repr__(self) -> str:
        return (f"Result(type={self.type}, status={self.err_name}, int={self.int}, "
                f"json={self.json_text!r}, errmsg={self.errmsg!r})")


class _Async:
    def __init__(self, target: Any):
        self._t = target

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(self._t, name)

        async def call(*a: Any, **kw: Any) -> Any:
            return await asyncio.to_thread(fn, *a, **kw)

        return call


# ---- queue -----------------------------------------------------------------


class Queue:
    _tags = itertools.count(1)

    def __init__(self, url: str, name: str = "default", dialect: str | None = None, **conf: Any):
        L = lib()
        c = L.saq_conf_new()
        try:
            settings = {"url": url, "name": name}
            if dialect:
                settings["dialect"] = dialect
            settings.update({k.replace("__", "."): v for k, v in conf.items()})
            for k, v in settings.items():
                if L.saq_conf_set(c, k.encode(), str(v).encode()):
                    raise SaqError(EINVAL, _s(L.saq_conf_errmsg(c)))
            self.ptr = L.saq_queue_new(c)
            if not self.ptr:
                raise SaqError(EINVAL, _s(L.saq_conf_errmsg(c)))
        finally:
            L.saq_conf_free(c)
        self.cq = L.saq_cq_new()
        self.name = name
        self.a = _Async(self)

    # -- plumbing --
    def _tag(self) -> int:
        return next(Queue._tags)

    def _run(self, submit: Callable[[int, int], int], timeout_ms: int = DEFAULT_TIMEOUT_MS,
             check: bool = True) -> Result:
        L = lib()
        tag = self._tag()
        rc = submit(self.cq, tag)
        if rc:
            raise SaqError(rc, "submit failed: " + _s(L.saq_strerror(rc)))
        ev = L.saq_cq_wait(self.cq, tag, timeout_ms)
        if not ev:
            raise SaqError(ETIMEDOUT, f"no event within {timeout_ms} ms")
        try:
            r = Result(ev)
        finally:
            L.saq_event_free(ev)
        if check and not r.ok:
            raise SaqError(r.status, r.errmsg, r)
        return r

    # -- operations (saq's Queue API) --
    def ping(self, check: bool = True) -> Result:
        return self._run(lambda cq, t: lib().saq_queue_ping(self.ptr, cq, t), check=check)

    def enqueue(self, function: str, _check: bool = True, **kwargs: Any) -> Result:
        """saq's queue.enqueue("function", **kwargs): r.int 1 enqueued / 0 duplicate."""
        kj = json.dumps(kwargs).encode()
        return self._run(lambda cq, t: lib().saq_queue_enqueue_call(self.ptr, _b(function), kj, cq, t),
                         check=_check)

    def enqueue_job(self, job: Job, check: bool = True) -> Result:
        return self._run(lambda cq, t: lib().saq_queue_enqueue(self.ptr, job.ptr, cq, t), check=check)

    def job(self, key: str, check: bool = False) -> Result:
        return self._run(lambda cq, t: lib().saq_queue_job(self.ptr, _b(key), cq, t), check=check)

    def get(self, key: str) -> dict | None:
        """The stored record as a dict, or None when missing."""
        r = self.job(key)
        if r.status == ENOTFOUND:
            return None
        if not r.ok:
            raise SaqError(r.status, r.errmsg, r)
        return r.job

    def jobs(self, keys: list[str]) -> Result:
        kj = json.dumps(keys).encode()
        return self._run(lambda cq, t: lib().saq_queue_jobs(self.ptr, kj, cq, t))

    def abort(self, key: str, error: str, ttl: int = 5, check: bool = True) -> Result:
        return self._run(lambda cq, t: lib().saq_queue_abort(self.ptr, _b(key), _b(error), ttl, cq, t),
                         check=check)

    def delete(self, key: str, force: bool = False, wait_ms: int = 5000, check: bool = True) -> Result:
        """saq_queue_delete (an extension): r.int 1 deleted, 2 after its worker stopped it, 3 after
        wait_ms without that."""
        return self._run(lambda cq, t: lib().saq_queue_delete(self.ptr, _b(key), int(force), wait_ms, cq, t),
                         timeout_ms=DEFAULT_TIMEOUT_MS + wait_ms, check=check)

    def retry(self, key: str, error: str | None) -> Result:
        return self._run(lambda cq, t: lib().saq_queue_retry(self.ptr, _b(key), _b(error), cq, t))

    def finish(self, key: str, status: str, result: Any = None, error: str | None = None,
               result_json: str | None = None) -> Result:
        rj = result_json if result_json is not None else (None if result is None else json.dumps(result))
        return self._run(lambda cq, t: lib().saq_queue_finish(self.ptr, _b(key), _b(status), _b(rj),
                                                              _b(error), cq, t))

    def update(self, key: str, check: bool = True, **fields: Any) -> Result:
        fj = json.dumps(fields).encode() if fields else None
        return self._run(lambda cq, t: lib().saq_queue_update(self.ptr, _b(key), fj, cq, t), check=check)

    def count(self, kind: str) -> int:
        return self._run(lambda cq, t: lib().saq_queue_count(self.ptr, _b(kind), cq, t)).int

    def counts(self) -> tuple[int, int, int]:
        """(queued, incomplete, active), the checklist's "counts"."""
        return (self.count("queued"), self.count("incomplete"), self.count("active"))

    def info(self, jobs: bool = False, offset: int = 0, limit: int = 10) -> dict:
        return self._run(lambda cq, t: lib().saq_queue_info(self.ptr, int(jobs), offset, limit, cq, t)).json

    def stats(self, ttl: int = 60) -> dict:
        return self._run(lambda cq, t: lib().saq_queue_stats(self.ptr, ttl, cq, t)).json

    def overview(self) -> dict:
        return self._run(lambda cq, t: lib().saq_queue_overview(self.ptr, cq, t)).json

    def metrics(self) -> str:
        return self._run(lambda cq, t: lib().saq_queue_metrics(self.ptr, cq, t)).text

    def pause(self) -> int:
        """saq_queue_pause (libsaq's extension): 1 when this call paused the queue."""
        return self._run(lambda cq, t: lib().saq_queue_pause(self.ptr, cq, t)).int

    def resume(self) -> int:
        return self._run(lambda cq, t: lib().saq_queue_resume(self.ptr, cq, t)).int

    def paused(self) -> int:
        return self._run(lambda cq, t: lib().saq_queue_paused(self.ptr, cq, t)).int

    def iter_jobs(self, statuses: list[str] | None = None, count: int = 100) -> list[dict]:
        """Every page of saq_queue_iter_jobs, concatenated (saq's iter_jobs)."""
        st = _b(",".join(statuses)) if statuses else None
        cursor, jobs = "0", []
        while True:
            r = self._run(lambda cq, t: lib().saq_queue_iter_jobs(self.ptr, st, _b(cursor), count, cq, t))
            jobs += r.jobs
            cursor = r.key
            if cursor == "0":
                return jobs

    def schedule(self, lock: int = 1) -> list[str]:
        return self._run(lambda cq, t: lib().saq_queue_schedule(self.ptr, lock, cq, t)).json

    def sweep(self, lock: int = 60, abort: float = 5.0, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> list[str]:
        return self._run(lambda cq, t: lib().saq_queue_sweep(self.ptr, lock, abort, cq, t),
                         timeout_ms=timeout_ms).json

    def apply_job(self, job: Job, timeout: float = 0.0, check: bool = True,
                  timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Result:
        return self._run(lambda cq, t: lib().saq_queue_apply(self.ptr, job.ptr, timeout, cq, t),
                         timeout_ms=timeout_ms, check=check)

    def apply(self, function: str, timeout: float = 0.0, check: bool = True, **kwargs: Any) -> Result:
        job = Job(function, **kwargs)
        try:
            return self.apply_job(job, timeout, check=check)
        finally:
            job.free()

    def map(self, function: str, iter_kwargs: list[dict], timeout: float = 0.0,
            return_exceptions: bool = False, check: bool = True, **defaults: Any) -> Result:
        ik = json.dumps(iter_kwargs).encode()
        dj = json.dumps(defaults).encode() if defaults else None
        return self._run(lambda cq, t: lib().saq_queue_map(self.ptr, _b(function), ik, dj, timeout,
                                                           int(return_exceptions), cq, t),
                         check=check)

    # -- listen: start, then collect --
    def listen_start(self, keys: list[str], timeout: float = 0.0) -> "Listener":
        return Listener(self, keys, timeout)

    # -- batch --
    def enqueue_flow(self, members: list[Job], callback: Job, ttl: int | None = None,
                     check: bool = True, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Result:
        """saq_queue_enqueue_flow: r.int 1 written / 0 the flow exists; r.json its keys."""
        L = lib()
        f = L.saq_flow_new(callback.ptr)
        if not f:
            raise SaqError(ENOMEM, "saq_flow_new failed")
        try:
            if ttl is not None and L.saq_flow_set_ttl(f, ttl):
                raise SaqError(EINVAL, "bad flow ttl")
            for m in members:
                rc = L.saq_flow_add(f, m.ptr)
                if rc:
                    raise SaqError(rc, f"saq_flow_add refused {m.key}")
            return self._run(lambda cq, t: L.saq_queue_enqueue_flow(self.ptr, f, cq, t), timeout_ms=timeout_ms,
                             check=check)
        finally:
            L.saq_flow_free(f)

    def flow(self, fid: str) -> dict | None:
        """saq_queue_flow: the flow as a dict, or None when there is none."""
        r = self._run(lambda cq, t: lib().saq_queue_flow(self.ptr, _b(fid), cq, t), check=False)
        if r.status == ENOTFOUND:
            return None
        if not r.ok:
            raise SaqError(r.status, r.errmsg, r)
        return r.json

    def batch(self) -> "Batch":
        return Batch(self)

    def close(self, timeout_ms: int = 2000) -> None:
        L = lib()
        if self.ptr:
            L.saq_queue_close(self.ptr, timeout_ms)
            L.saq_queue_free(self.ptr)
            self.ptr = None
        if self.cq:
            L.saq_cq_free(self.cq)
            self.cq = None


class Listener:
    """A running saq_queue_listen; collect() gathers LISTEN events until the end."""

    def __init__(self, q: Queue, keys: list[str], timeout: float):
        self.q = q
        self.cq = lib().saq_cq_new()
        self.tag = q._tag()
        rc = lib().saq_queue_listen(q.ptr, json.dumps(keys).encode(), timeout, self.cq, self.tag)
        if rc:
            raise SaqError(rc, "listen submit failed")
        self.messages: list[tuple[str, str]] = []
        self.end: Result | None = None

    def collect(self, until: Callable[[str, str], bool] | None = None, wait_ms: int = 10000) -> list[tuple[str, str]]:
        """Take events until LISTEN_END, or until `until(key, status)` is true
        (then the listen is stopped), or until wait_ms passes without one."""
        L = lib()
        while self.end is None:
            ev = L.saq_cq_wait(self.cq, self.tag, wait_ms)
            if not ev:
                break
            try:
                r = Result(ev)
            finally:
                L.saq_event_free(ev)
            if r.type == EV_LISTEN_END:
                self.end = r
                break
            self.messages.append((r.key, r.job_status))
            if until and until(r.key, r.job_status):
                self.stop()
        return self.messages

    def stop(self) -> None:
        lib().saq_queue_listen_stop(self.q.ptr, self.cq, self.tag)

    def close(self) -> None:
        if self.cq:
            if self.end is None:
                self.stop()
                self.collect(wait_ms=2000)
            lib().saq_cq_free(self.cq)
            self.cq = None


class Batch:
    def __init__(self, q: Queue):
        self.q = q
        self.ptr = lib().saq_queue_batch(q.ptr)

    def size(self) -> int:
        return lib().saq_batch_size(self.ptr)

    def abort(self, reason: str | None = None) -> Result:
        return self.q._run(lambda cq, t: lib().saq_batch_abort(self.ptr, _b(reason), cq, t))

    def free(self) -> None:
        if self.ptr:
            lib().saq_batch_free(self.ptr)
            self.ptr = None


# ---- in-process worker with Python handlers --------------------------------


class Worker:
    """A libsaq worker whose job functions are Python callables run on
    libsaq's handler threads: fn(job_view_dict, cancelled_fn) -> result or
    raise. Hooks are Python callables hook(kind, job_view_dict_or_None)."""

    def __init__(self, q: Queue, functions: dict[str, Callable[..., Any]], **conf: Any):
        L = lib()
        self.q = q
        c = L.saq_conf_new()
        try:
            for k, v in conf.items():
                k = k.replace("__", ".")
                if L.saq_conf_set(c, k.encode(), str(v).encode()):
                    raise SaqError(EINVAL, _s(L.saq_conf_errmsg(c)))
            self.ptr = L.saq_worker_new(q.ptr, c)
            if not self.ptr:
                raise SaqError(EINVAL, _s(L.saq_conf_errmsg(c)))
        finally:
            L.saq_conf_free(c)
        self._keep: list[Any] = []
        self.errors: list[BaseException] = []
        for name, fn in functions.items():
            cb = HANDLER_FN(self._make_handler(fn))
            self._keep.append(cb)
            rc = L.saq_worker_register(self.ptr, name.encode(), cb, None)
            if rc:
                raise SaqError(rc, _s(L.saq_worker_errmsg(self.ptr)))

    @property
    def id(self) -> str:
        return _s(lib().saq_worker_id(self.ptr))

    def _make_handler(self, fn: Callable[..., Any]) -> Callable[[int, int], None]:
        def handler(jp: int, _ud: int) -> None:
            L = lib()
            try:
                view = job_view(jp)
                result = fn(view, lambda: L.saq_job_cancelled(jp))
                L.saq_job_complete(jp, None if result is None else json.dumps(result).encode())
            except Exception as e:  # the job error, as saq stores a traceback
                L.saq_job_fail(jp, f"{type(e).__name__}: {e}".encode())
            finally:
                L.saq_job_free(jp)

        return handler

    def add_cron(self, function: str, cron: str, options: dict | None = None) -> int:
        L = lib()
        return L.saq_worker_add_cron(self.ptr, function.encode(), cron.encode(),
                                     None if options is None else json.dumps(options).encode())

    def errmsg(self) -> str:
        return _s(lib().saq_worker_errmsg(self.ptr))

    def add_hook(self, kind: int, fn: Callable[[int, dict | None], Any]) -> None:
        def hook(_w: int, jp: int, _ud: int) -> int:
            try:
                r = fn(kind, job_view(jp) if jp else None)
                return 1 if r else 0
            except Exception as e:
                self.errors.append(e)
                return 0

        cb = HOOK_FN(hook)
        self._keep.append(cb)
        rc = lib().saq_worker_add_hook(self.ptr, kind, cb, None)
        if rc:
            raise SaqError(rc, self.errmsg())

    def start(self) -> None:
        rc = lib().saq_worker_start(self.ptr, None, 0)
        if rc:
            raise SaqError(rc, self.errmsg())

    def stop(self, grace_ms: int = -1) -> None:
        lib().saq_worker_stop(self.ptr, grace_ms)

    def wait(self, timeout_ms: int = 10000) -> int:
        return lib().saq_worker_wait(self.ptr, timeout_ms)

    def stats(self) -> dict:
        return json.loads(lib().saq_worker_stats_json(self.ptr).decode())

    def free(self) -> None:
        if self.ptr:
            lib().saq_worker_free(self.ptr)
            self.ptr = None
