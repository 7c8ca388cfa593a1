# SPDX-License-Identifier: MIT
"""Checklist item 42: worker hooks, around jobs of the other side.

What crosses the line here is the Redis state the hooks observe: the job each
before/after hook gets, and the state of a job cancelled by shutdown, which
saq 0.26 requeues *before* the shutdown hooks run (0.13 ran them first)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import redis as redis_sync

import compat
import libsaq
from helpers import IS013, LIB2PY, PY2LIB, await_status, await_until, checklist, jid, raw


@checklist(42, direction=PY2LIB)
async def test_libsaq_worker_hooks_on_python_jobs(redis_url, pyq, rds):
    """A libsaq worker (in-process, Python handlers through the C ABI) runs
    Python-enqueued jobs: before/after once per job, failures included,
    startup once before any job, shutdown once after the running job was
    cancelled and requeued."""
    events: list[tuple] = []
    lock = threading.Lock()
    r = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    q = libsaq.Queue(redis_url, dialect=compat.DIALECT)

    def slow(job, cancelled):
        while not cancelled():
            time.sleep(0.01)
        raise RuntimeError("cancelled")

    def boom(job, cancelled):
        raise RuntimeError("boom")

    def hook(kind, job):
        with lock:
            if kind == libsaq.HOOK_SHUTDOWN:
                rec = json.loads(r.get(jid("slow")))
                events.append(("shutdown", rec["status"], rec.get("error")))
            elif kind == libsaq.HOOK_STARTUP:
                events.append(("startup",))
            else:
                events.append(("before" if kind == libsaq.HOOK_BEFORE_PROCESS else "after", job["key"],
                               job["status"]))

    w = libsaq.Worker(q, {"noop": lambda job, c: None, "boom": boom, "slow": slow})
    for kind in (libsaq.HOOK_STARTUP, libsaq.HOOK_SHUTDOWN, libsaq.HOOK_BEFORE_PROCESS,
                 libsaq.HOOK_AFTER_PROCESS):
        w.add_hook(kind, hook)
    try:
        await pyq.enqueue("noop", key="ok")
        await pyq.enqueue("boom", key="bad")
        w.start()
        await await_status(rds, "ok", "complete", 5)
        await await_status(rds, "bad", "failed", 5)
        await pyq.enqueue("slow", key="slow")
        await await_status(rds, "slow", "active", 5)
        w.stop(0)
        assert await asyncio.to_thread(w.wait, 10000) == 0
    finally:
        w.free()
        q.close()
        r.close()
    assert events[0] == ("startup",)
    per_job = {}
    for e in events[1:-1]:
        per_job.setdefault(e[1], []).append((e[0], e[2]))
    assert per_job["ok"] == [("before", "active"), ("after", "complete")]
    assert per_job["bad"] == [("before", "active"), ("after", "failed")]
    assert [k for k, _ in per_job["slow"]] == ["before", "after"]
    assert events[-1] == ("shutdown", "queued", "cancelled")
    assert not w.errors


@checklist(42, direction=LIB2PY)
async def test_python_worker_hooks_on_libsaq_jobs(redis_url, lq, rds, pyworker, pylog):
    events = []

    async def before(ctx):
        events.append(("before", ctx["job"].key, compat.status_text(ctx["job"].status)))

    async def after(ctx):
        events.append(("after", ctx["job"].key, compat.status_text(ctx["job"].status)))

    async def startup(ctx):
        events.append(("startup",))

    async def shutdown(ctx):
        rec = raw(rds, "slow")
        events.append(("shutdown", rec["status"], rec.get("error")))

    lq.enqueue("noop", key="ok")
    lq.enqueue("fail", key="bad")
    w = await pyworker(before_process=before, after_process=after, startup=startup, shutdown=shutdown)
    await w.start()
    await await_status(rds, "ok", "complete", 5)
    await await_status(rds, "bad", "failed", 5)
    lq.enqueue("sleep", key="slow", s=10)
    await await_status(rds, "slow", "active", 5)
    # running, not just marked (see test_worker.python_job_running)
    await await_until(lambda: ("sleep", "slow", 1) in pylog.runs(), 10, what="slow running")
    await w.stop()
    assert events[0] == ("startup",)
    assert ("before", "ok", "active") in events and ("after", "ok", "complete") in events
    assert ("before", "bad", "active") in events and ("after", "bad", "failed") in events
    assert len([e for e in events if e[0] == "shutdown"]) == 1
    shutdown_event = [e for e in events if e[0] == "shutdown"][0]
    if IS013:
        # saq 0.13 ran shutdown hooks before cancelling the running job
        assert shutdown_event[1] == "active"
    else:
        assert shutdown_event == ("shutdown", "queued", "cancelled")
    # the libsaq side reads the requeued job
    v = lq.job("slow").job_view
    assert v["status"] == "queued" and v["error"] == "cancelled"
