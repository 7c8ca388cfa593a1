# SPDX-License-Identifier: MIT
"""Small helpers shared by the interop tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Callable

import pytest
import redis as redis_sync

import compat
from checklist import LIB2PY, PY2LIB, STATE  # noqa: F401  (re-exported for the tests)

Q = "default"
DIALECT = compat.DIALECT
IS013 = compat.IS013

checklist = pytest.mark.checklist
only026 = pytest.mark.dialect("0.26")
only013 = pytest.mark.dialect("0.13")
saqbug = pytest.mark.saqbug


def jid(key: str, queue: str = Q) -> str:
    return f"saq:job:{queue}:{key}"


def raw(rds, key: str, queue: str = Q) -> dict | None:
    """The stored record as Redis holds it (plain json.loads, no saq)."""
    v = rds.get(jid(key, queue))
    return None if v is None else json.loads(v)


def counts(rds, queue: str = Q) -> tuple[int, int, int]:
    """(queued, incomplete, active) read straight from Redis."""
    return (rds.llen(f"saq:{queue}:queued"), rds.zcard(f"saq:{queue}:incomplete"),
            rds.llen(f"saq:{queue}:active"))


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(pred: Callable[[], Any], timeout: float = 10, interval: float = 0.02, what: str = "") -> Any:
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
        time.sleep(interval)


async def await_until(pred: Callable[[], Any], timeout: float = 10, interval: float = 0.02,
                      what: str = "") -> Any:
    deadline = time.time() + timeout
    while True:
        v = pred()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
        await asyncio.sleep(interval)


def status_of(rds, key: str, queue: str = Q) -> str | None:
    r = raw(rds, key, queue)
    return None if r is None else r.get("status")


def wait_status(rds, key: str, statuses, timeout: float = 10, queue: str = Q) -> dict:
    if isinstance(statuses, str):
        statuses = {statuses}
    return wait_until(lambda: (r := raw(rds, key, queue)) and r.get("status") in statuses and r,
                      timeout, what=f"{key} in {statuses}")


async def await_status(rds, key: str, statuses, timeout: float = 10, queue: str = Q) -> dict:
    if isinstance(statuses, str):
        statuses = {statuses}
    return await await_until(lambda: (r := raw(rds, key, queue)) and r.get("status") in statuses and r,
                             timeout, what=f"{key} in {statuses}")


# Fields whose value depends on when or by whom an operation ran.
VOLATILE = {"key", "queued", "started", "touched", "completed", "worker_id"}


def shape(rec: dict, drop: set[str] = frozenset(), error_prefix: bool = False) -> dict:
    """A record with times replaced by 'set' (non-zero) so that two records
    made by different sides can be compared field by field."""
    out = {}
    for k, v in rec.items():
        if k in drop:
            continue
        if k in ("queued", "started", "touched", "completed"):
            out[k] = "set" if v else v
        elif k == "worker_id":
            out[k] = "set" if v else v
        elif k == "error" and error_prefix and isinstance(v, str):
            out[k] = v.splitlines()[-1].split(":")[0] if v else v
        else:
            out[k] = v
    return out


def field_diff(a: dict, b: dict) -> dict:
    keys = set(a) | set(b)
    return {k: (a.get(k, "<absent>"), b.get(k, "<absent>")) for k in sorted(keys) if a.get(k, "<absent>") != b.get(k, "<absent>")}


def pubsub_numpat(rds) -> int:
    """Subscriptions (pattern and channel) over all clients (CLIENT LIST
    psub/sub), which unlike PUBSUB NUMPAT counts a pattern once per client."""
    total = 0
    for c in rds.client_list():
        total += int(c.get("psub", 0)) + int(c.get("sub", 0))
    return total


def listeners_ready(rds, before: int, timeout: float = 5) -> None:
    """Wait until one more pattern subscription is live on the server."""
    wait_until(lambda: pubsub_numpat(rds) > before, timeout, what="PSUBSCRIBE confirmation")


async def alisteners_ready(rds, before: int, timeout: float = 5) -> None:
    await await_until(lambda: pubsub_numpat(rds) > before, timeout, what="PSUBSCRIBE confirmation")


def blocked_dequeues(rds) -> int:
    """Clients blocked in a dequeue (BLMOVE / BRPOPLPUSH) on the server."""
    return sum(1 for c in rds.client_list()
               if c.get("cmd") in ("blmove", "brpoplpush") and "b" in c.get("flags", ""))


class RawPublishes(threading.Thread):
    """Every status message published on the default queue's job channels, as
    (channel, status) pairs: a raw PSUBSCRIBE, confirmed before start returns."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.r = redis_sync.Redis.from_url(url, decode_responses=True)
        self.ps = self.r.pubsub()
        self.ps.psubscribe("saq:job:default*")
        self.got: list[tuple[str, str]] = []
        self.stop_flag = False
        while self.ps.get_message(timeout=1) is None:
            pass  # the psubscribe confirmation

    def run(self):
        while not self.stop_flag:
            m = self.ps.get_message(timeout=0.05)
            if m and m["type"] == "pmessage":
                self.got.append((m["channel"], m["data"]))

    def stop(self):
        self.stop_flag = True
        self.join(2)
        self.ps.close()
        self.r.close()


async def libsaq_cron_tick(make_lq, rds, function: str, expr: str, options: dict) -> dict:
    """One schedule tick of an in-process libsaq worker with the cron job
    function/expr/options (its handler returns the kwargs); the record it
    wrote. The worker is stopped before the run is due."""
    import libsaq

    q = make_lq()
    w = libsaq.Worker(q, {function: lambda job, c: job["kwargs"]}, **{"timers.schedule": "60"})
    assert w.add_cron(function, expr, options) == 0, w.errmsg()
    w.start()
    try:
        await await_until(lambda: rds.exists(jid("cron:" + function)), 3)
    finally:
        w.stop(0)
        await asyncio.to_thread(w.wait, 5000)
        w.free()
    return raw(rds, "cron:" + function)
