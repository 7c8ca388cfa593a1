# SPDX-License-Identifier: MIT
"""Checklist items 17-24: aborts across the line, of waiting and running jobs."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from saq import Job

import compat
import libsaq
from helpers import (IS013, LIB2PY, PY2LIB, STATE, alisteners_ready, await_status, await_until,
                    checklist, counts, field_diff, jid, now_ms, pubsub_numpat, raw, shape)


class PyListener:
    """Python saq's queue.listen() on some keys, collecting (key, status)."""

    def __init__(self, q, keys, until_terminal: bool = True):
        self.q = q
        self.keys = keys
        self.got: list[tuple[str, str]] = []
        self.error: BaseException | None = None
        self.until_terminal = until_terminal

    async def start(self, rds):
        before = pubsub_numpat(rds)

        def cb(key, status):
            self.got.append((key, compat.status_text(status)))
            return self.until_terminal and compat.status_text(status) in compat.TERMINAL

        async def run():
            try:
                await self.q.listen(self.keys, cb, timeout=15)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                self.error = e

        self.task = asyncio.create_task(run())
        await alisteners_ready(rds, before)
        return self

    async def wait(self, timeout=10):
        await asyncio.wait_for(self.task, timeout)
        return self.got


# ---- 17 --------------------------------------------------------------------


def _check_aborted_waiting(rec, rds, key):
    assert rec["status"] == "aborted" and rec["error"] == "stop it"
    assert rec["completed"] > 0
    assert not rds.exists(f"saq:abort:{key}")
    assert 590 < rds.ttl(jid(key)) <= 600
    assert counts(rds)[:2] == (0, 0)


@checklist(17, direction=PY2LIB)
async def test_libsaq_aborts_waiting_python_job(lq, pyq, rds):
    job = await pyq.enqueue("noop")
    r = lq.abort(job.key, "stop it")
    assert r.int == 2
    _check_aborted_waiting(raw(rds, job.key), rds, job.key)
    await job.refresh()
    assert compat.status_text(job.status) == "aborted" and job.error == "stop it"
    assert (await pyq.count("queued"), await pyq.count("incomplete")) == (0, 0)


@checklist(17, direction=LIB2PY)
async def test_python_aborts_waiting_libsaq_job(lq, pyq, rds):
    key = lq.enqueue("noop").job["key"]
    await pyq.abort(await pyq.job(key), "stop it")
    _check_aborted_waiting(raw(rds, key), rds, key)
    v = lq.job(key).job_view
    assert v["status"] == "aborted" and v["error"] == "stop it"
    assert lq.counts()[:2] == (0, 0)


@checklist(17, direction=STATE)
async def test_abort_waiting_records_match(lq, pyq, rds):
    await pyq.enqueue("noop", key="py", meta={"a": 1})
    await pyq.enqueue("noop", key="lib", meta={"a": 1})
    await pyq.abort(await pyq.job("py"), "stop it")
    lq.abort("lib", "stop it")
    py, lib = raw(rds, "py"), raw(rds, "lib")
    assert shape(lib, {"key"}) == shape(py, {"key"}), field_diff(shape(lib), shape(py))


# ---- 18 / 19 ---------------------------------------------------------------


async def _running_job(pyq, key="run"):
    """A job dequeued and marked active by a (Python) process, no worker
    running it: the state right before an abort of an active job."""
    await pyq.enqueue("sleep", key=key, s=30)
    job = await pyq.dequeue(1)
    await compat.mark_active(job, "w1")
    return job


def _check_after_active_abort(rds, key):
    assert rds.get(f"saq:abort:{key}") == "test"
    assert 0 < rds.ttl(f"saq:abort:{key}") <= 5
    assert counts(rds) == (0, 0, 0)
    rec = raw(rds, key)
    if IS013:
        # 0.13: status untouched, the record expires after ttl + 1 s
        assert rec["status"] == "active"
        assert 0 < rds.ttl(jid(key)) <= 6
    else:
        assert rec["status"] == "aborting" and rec["error"] == "test"
        assert rds.ttl(jid(key)) == -1
    return rec


@checklist(18, 19, direction=LIB2PY)
async def test_libsaq_aborts_active_job_python_listens(lq, pyq, rds):
    job = await _running_job(pyq)
    lis = await PyListener(pyq, [job.key], until_terminal=False).start(rds)
    r = lq.abort(job.key, "test")
    assert r.int == 1
    rec = _check_after_active_abort(rds, job.key)
    # the running job's record keeps what its worker wrote (saq bug U3 fixed)
    assert rec["attempts"] == 1 and rec["started"] == job.started
    # 19: enqueueing the job again changes nothing while the marker lives
    before = rds.get(jid(job.key))
    assert await pyq.enqueue(Job(function="sleep", key=job.key)) is None
    assert lq.enqueue("sleep", key=job.key).int == 0
    assert rds.get(jid(job.key)) == before and counts(rds) == (0, 0, 0)
    if not IS013:
        await await_until(lambda: lis.got, 10, what="the `aborting` message")
    await asyncio.sleep(0.3)  # a window for any further message
    lis.task.cancel()
    assert lis.error is None or isinstance(lis.error, asyncio.CancelledError)
    # 0.26: `aborting` is published; 0.13 listeners never get it (they'd raise)
    assert lis.got == ([] if IS013 else [(job.key, "aborting")])


@checklist(18, 19, direction=PY2LIB)
async def test_python_aborts_active_job_libsaq_listens(lq, pyq, rds):
    job = await _running_job(pyq)
    before = pubsub_numpat(rds)
    lis = lq.listen_start([job.key], timeout=0)
    await alisteners_ready(rds, before)
    collecting = asyncio.create_task(asyncio.to_thread(lis.collect, None, 20000))
    await job.refresh()
    await pyq.abort(job, "test")
    _check_after_active_abort(rds, job.key)
    v = lq.job(job.key).job_view
    assert v["status"] == ("active" if IS013 else "aborting")
    before = rds.get(jid(job.key))
    assert lq.enqueue("sleep", key=job.key).int == 0
    assert rds.get(jid(job.key)) == before and lq.counts() == (0, 0, 0)
    if not IS013:
        await await_until(lambda: lis.messages, 10, what="the `aborting` message")
    await asyncio.sleep(0.3)  # a window for any further message
    lis.stop()
    msgs = await asyncio.wait_for(collecting, 20)
    lis.close()
    assert msgs == ([] if IS013 else [(job.key, "aborting")])


@checklist(18, direction=STATE)
async def test_abort_active_records_match(lq, pyq, rds):
    out = {}
    for side in ("py", "lib"):
        rds.flushdb()
        job = await _running_job(pyq, key="run")
        if side == "py":
            await pyq.abort(job, "test")
        else:
            lq.abort("run", "test")
        out[side] = (raw(rds, "run"), counts(rds), rds.get("saq:abort:run"), rds.ttl("saq:abort:run"),
                     rds.ttl(jid("run")))
    (py, *pyrest), (lib, *librest) = out["py"], out["lib"]
    assert shape(lib) == shape(py), field_diff(shape(lib), shape(py))
    assert pyrest == librest


# ---- 20 / 21 / 24: a libsaq worker stops a job Python aborted -------------


@checklist(20, 21, 24, direction=PY2LIB)
@pytest.mark.parametrize("fn", ["sleep", "sleep_uncancellable"])
async def test_python_aborts_job_on_libsaq_worker(lq, pyq, rds, cworker, fn):
    w = cworker({"timers.abort": "0.1"})
    job = await pyq.enqueue(fn, s=1.2 if fn == "sleep_uncancellable" else 10)
    await await_status(rds, job.key, "active", 5)
    t_start = raw(rds, job.key)["started"]
    await job.refresh()
    t_abort = now_ms()
    await pyq.abort(job, "test")
    rec = await await_status(rds, job.key, "aborted", 5)
    assert rec["error"] == "test" and "result" not in rec
    if fn == "sleep_uncancellable":
        # the abort waited for the function to return (it ignores cancellation)
        assert rec["completed"] >= t_start + 1200
    else:
        assert rec["completed"] - t_abort < 1500
    assert counts(rds) == (0, 0, 0)
    # 21: the worker deleted the marker, so the job can come back at once
    await await_until(lambda: not rds.exists(f"saq:abort:{job.key}"), 10)
    w.stop()
    assert await pyq.enqueue(Job(function=fn, key=job.key, kwargs={"s": 10})) is not None
    assert counts(rds) == (1, 1, 0)
    assert lq.abort(job.key, "again").int == 2
    assert counts(rds) == (0, 0, 0)
    assert raw(rds, job.key)["status"] == "aborted"
    assert w.runs() == [(fn, job.key, 1)]


@checklist(20, direction=PY2LIB)
@pytest.mark.parametrize("fn", ["sleep", "sleep_uncancellable"])
async def test_python_aborts_with_its_stale_copy_on_libsaq_worker(lq, pyq, rds, cworker, fn):
    """saq's documented `job = await q.enqueue(...)`, then `await job.abort(...)`
    without a refresh: 0.26 writes that enqueue-time copy (no attempts, no
    started) over the running job's record. The libsaq worker still ends the
    job aborted, with a TTL and in no list (it used to stay `aborting` for good)."""
    cworker({"timers.abort": "0.1"})
    job = await pyq.enqueue(fn, s=1.0 if fn == "sleep_uncancellable" else 10)
    await await_status(rds, job.key, "active", 5)
    await job.abort("x")
    rec = await await_status(rds, job.key, "aborted", 5)
    assert rec["error"] == "x" and rec["attempts"] == 1 and rec["completed"] > 0
    assert 0 < rds.ttl(jid(job.key)) <= 600
    assert counts(rds) == (0, 0, 0)
    await job.refresh()
    assert compat.status_text(job.status) == "aborted"


# ---- 20 / 21 / 22 / 24: a Python worker stops a job libsaq aborted --------


@checklist(20, 21, 22, 24, direction=LIB2PY)
@pytest.mark.parametrize("fn", ["cleanup_sleep", "sleep_uncancellable"])
async def test_libsaq_aborts_job_on_python_worker(lq, pyq, rds, pyworker, pylog, caplog, fn):
    import pyfuncs

    caplog.set_level(logging.INFO, logger="saq")
    w = await (await pyworker(timers={"abort": 0.1}, after_process=pyfuncs.after_process)).start()
    kwargs = {"s": 10, "c": 0.5} if fn == "cleanup_sleep" else {"s": 1.2}
    key = lq.enqueue(fn, **kwargs).job["key"]
    await await_status(rds, key, "active", 5)
    t_start = raw(rds, key)["started"]
    await asyncio.sleep(0.2)
    t_abort = now_ms()
    r = await lq.a.abort(key, "test")
    assert r.int == 1
    rec = await await_status(rds, key, "aborted", 5)
    assert rec["error"] == "test"
    if fn == "cleanup_sleep":
        # the abort check waited for the task to unwind (0.5 s of cleanup)
        assert rec["completed"] >= t_abort + 450
    elif not IS013:
        # 0.26 waits for the thread of a sync function (0.13 does not)
        assert rec["completed"] >= t_start + 1200
    # saq 0.13 logs it after the finish and the marker's DEL: wait for it
    await await_until(lambda: f"Aborting {jid(key)}" in caplog.text, 10, what="saq's 'Aborting' log line")
    assert lq.counts() == (0, 0, 0)
    # 22: after_process saw the job aborted
    await await_until(lambda: pylog.hooks(), 10)
    assert pylog.hooks()[-1] == ["after", fn, key, "aborted"]
    # 21: the marker is gone once the worker is done; the job can come back
    await await_until(lambda: not rds.exists(f"saq:abort:{key}"), 10)
    await w.stop()
    assert lq.enqueue(fn, key=key, s=10).int == 1
    assert lq.counts() == (1, 1, 0)
    await pyq.abort(await pyq.job(key), "again")
    assert lq.counts() == (0, 0, 0)


# ---- 22: libsaq's after_process hook sees a Python abort ------------------


@checklist(22, direction=PY2LIB)
async def test_libsaq_after_hook_sees_python_abort(redis_url, pyq, rds):
    q = libsaq.Queue(redis_url, dialect=compat.DIALECT)
    seen = []

    def slow(job, cancelled):
        while not cancelled():
            time.sleep(0.01)
        raise RuntimeError("cancelled")

    w = libsaq.Worker(q, {"slow": slow}, **{"timers.abort": "0.1"})
    w.add_hook(libsaq.HOOK_AFTER_PROCESS, lambda kind, job: seen.append((job["key"], job["status"])))
    w.start()
    try:
        job = await pyq.enqueue("slow")
        await await_status(rds, job.key, "active", 5)
        await job.refresh()
        await pyq.abort(job, "test")
        await await_status(rds, job.key, "aborted", 5)
        await await_until(lambda: seen, 3)
        assert seen == [(job.key, "aborted")]
    finally:
        w.stop(0)
        await asyncio.to_thread(w.wait, 5000)
        w.free()
        q.close()
    assert not w.errors


# ---- 23 --------------------------------------------------------------------


@checklist(23, direction=LIB2PY)
async def test_libsaq_batch_abort(lq, pyq, rds):
    b = lq.batch()
    keys = [lq.enqueue("noop").job["key"] for _ in range(3)]
    assert b.size() == 3
    r = b.abort()
    b.free()
    assert r.int == 3
    for k in keys:
        job = await pyq.job(k)
        assert compat.status_text(job.status) == "aborted" and job.error == "cancelled"
    assert (await pyq.count("queued"), await pyq.count("incomplete")) == (0, 0)


@checklist(23, direction=PY2LIB)
async def test_python_batch_abort(lq, pyq, rds):
    keys = []
    with pytest.raises(ValueError):
        async with pyq.batch():
            for _ in range(3):
                keys.append((await pyq.enqueue("noop")).key)
            raise ValueError("scope failed")
    for k in keys:
        v = lq.job(k).job_view
        assert v["status"] == "aborted" and v["error"] == "cancelled"
    assert lq.counts() == (0, 0, 0)


# ---- 0.13 listeners never see `aborting` ---------------------------------


@checklist(18, direction=LIB2PY)
async def test_python_refresh_survives_libsaq_abort(lq, pyq, rds, cworker):
    """A Python job.refresh(until_complete) (and apply) waiting on a job that
    libsaq aborts ends cleanly: in 0.13 no `aborting` reaches the listener
    (saq 0.13 raises KeyError on it, spec 2.5); in 0.26 it is published and
    read."""
    cworker({"timers.abort": "0.1"})
    job = await pyq.enqueue("sleep", s=10)
    await await_status(rds, job.key, "active", 5)
    before = pubsub_numpat(rds)
    waiter = asyncio.create_task(job.refresh(8))
    # saq's refresh reads, then subscribes (U11): abort once it listens
    await alisteners_ready(rds, before, 10)
    await lq.a.abort(job.key, "test")
    await asyncio.wait_for(waiter, 8)
    assert compat.status_text(job.status) == "aborted" and job.error == "test"
    # and a Python apply of a job libsaq aborts raises the job error
    task = asyncio.create_task(pyq.apply("sleep", s=10, key="ap"))
    await await_status(rds, "ap", "active", 5)
    await lq.a.abort("ap", "test")
    with pytest.raises(compat.JobError):
        await asyncio.wait_for(task, 8)
