# SPDX-License-Identifier: MIT
"""Checklist items 5, 6, 10, 11, 13, 14, 26, 39-41, 43, 44, 50: jobs run by
the other side's worker.

python->libsaq: Python saq enqueues, the C test worker (libsaq) runs the job,
                Python reads the outcome.
libsaq->python: libsaq enqueues, a Python saq worker runs it, libsaq reads.
both/state:     the records both workers leave are compared field by field.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import compat
import libsaq
from helpers import (LIB2PY, PY2LIB, STATE, await_status, await_until, blocked_dequeues, checklist,
                     counts, field_diff, jid, only026, only013, raw, shape)

# one-job-at-a-time libsaq worker: stops after one job (burst), so the state
# after each attempt can be read (the Python side calls process() once)
ONE_JOB = {"burst": "true", "max_burst_jobs": "1", "dequeue_timeout": "0.5", "concurrency": "1"}


async def finished(rds, job, timeout: float = 5) -> None:
    """Wait for a terminal record, then refresh. (Python's refresh(until)
    reads, then subscribes: a job that ends in between is missed, saq bug
    U11, so the tests do not wait with it.)"""
    await await_status(rds, job.key, {"complete", "failed", "aborted"}, timeout)
    await job.refresh()


def pyrec(job) -> dict:
    return json.loads(json.dumps(job.to_dict()))


# ---- 5 ---------------------------------------------------------------------


@checklist(5, direction=PY2LIB)
async def test_blocked_libsaq_dequeue_wakes_up(pyq, rds, cworker):
    blocked = blocked_dequeues(rds)
    w = cworker({"concurrency": "1"})
    await await_until(lambda: blocked_dequeues(rds) > blocked, 10, what="the worker's blocked dequeue")
    job = await pyq.enqueue("sleep", s=0.6)
    await await_status(rds, job.key, "active", 5)
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (0, 1, 1)
    await await_status(rds, job.key, "complete", 5)
    assert counts(rds) == (0, 0, 0)
    assert w.runs() == [("sleep", job.key, 1)]


@checklist(5, direction=LIB2PY)
async def test_blocked_python_dequeue_wakes_up(lq, rds, pyworker, pylog):
    blocked = blocked_dequeues(rds)
    await (await pyworker(concurrency=1)).start()
    await await_until(lambda: blocked_dequeues(rds) > blocked, 10, what="the worker's blocked dequeue")
    key = lq.enqueue("sleep", s=0.6).job["key"]
    await await_status(rds, key, "active", 5)
    assert lq.counts() == (0, 1, 1)
    await await_status(rds, key, "complete", 5)
    assert lq.counts() == (0, 0, 0)
    assert pylog.runs() == [("sleep", key, 1)]


# ---- 6 ---------------------------------------------------------------------


@checklist(6, direction=PY2LIB)
async def test_fifo_python_enqueue_libsaq_worker(pyq, rds, cworker):
    keys = [f"j{i}" for i in range(8)]
    for k in keys:
        await pyq.enqueue("noop", key=k)
    w = cworker({"concurrency": "1"})
    await await_until(lambda: len(w.runs()) == len(keys), 10)
    assert [k for _, k, _ in w.runs()] == keys


@checklist(6, direction=LIB2PY)
async def test_fifo_libsaq_enqueue_python_worker(lq, rds, pyworker, pylog):
    keys = [f"j{i}" for i in range(8)]
    for k in keys:
        lq.enqueue("noop", key=k)
    await (await pyworker(concurrency=1)).start()
    await await_until(lambda: len(pylog.runs()) == len(keys), 10)
    assert [k for _, k, _ in pylog.runs()] == keys


@checklist(5, 6, direction=LIB2PY)
async def test_interleaved_enqueue_dequeue(lq, pyq):
    """libsaq enqueues, Python's dequeue() takes them: FIFO, and incomplete /
    active track what was enqueued / dequeued."""
    enq, deq = [], []
    for round_ in range(4):
        for i in range(3):
            k = f"r{round_}-{i}"
            assert lq.enqueue("noop", key=k).int == 1
            enq.append(k)
        for _ in range(2):
            job = await pyq.dequeue(1)
            deq.append(job.key)
        assert lq.count("incomplete") == len(enq)
        assert lq.count("active") == len(deq)
        assert lq.count("queued") == len(enq) - len(deq)
    assert deq == enq[:len(deq)]


# ---- 10 / 39 ---------------------------------------------------------------


@checklist(10, 39, direction=PY2LIB)
async def test_complete_by_libsaq_worker(pyq, rds, cworker):
    cworker()
    a = await pyq.enqueue("add", a=1, b=0)
    e = await pyq.enqueue("echo", a=1, b=[])
    n = await pyq.enqueue("noop")
    for job in (a, e, n):
        await finished(rds, job)
        assert compat.status_text(job.status) == "complete"
        assert job.started > 0 and job.completed >= job.started
        assert job.progress == 1.0
        assert job.attempts == 1
    assert a.result == 1
    assert e.result == {"a": 1, "b": []}
    assert n.result is None and "result" not in raw(rds, n.key)
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (0, 0, 0)


@checklist(3, 10, direction=PY2LIB)
@pytest.mark.parametrize("key", [42, -7, 10**20, 4.2, 1e16])
async def test_number_key_completed_by_libsaq_worker(pyq, rds, cworker, key):
    """saq takes any key: enqueue("echo", key=42) stores "key": 42 under
    saq:job:default:42 (an f-string of the key). A libsaq worker runs the job
    (it used to refuse the record and leave the job in `active`) and writes
    the key back as the same JSON number, so Python reads the same record."""
    w = cworker()
    job = await pyq.enqueue("echo", key=key, a=1)
    assert job.id == f"saq:job:default:{key}"
    assert type(raw(rds, str(key))["key"]) is type(key)
    await await_status(rds, str(key), "complete", 10)
    rec = raw(rds, str(key))
    assert rec["key"] == key and type(rec["key"]) is type(key)
    assert rec["result"] == {"a": 1}
    await job.refresh()
    assert compat.status_text(job.status) == "complete" and job.key == key
    assert counts(rds) == (0, 0, 0)
    assert w.runs() == [("echo", str(key), 1)]


@checklist(10, 39, direction=LIB2PY)
async def test_complete_by_python_worker(lq, rds, pyworker):
    await (await pyworker()).start()
    a = lq.enqueue("add", a=1, b=0).job["key"]
    e = lq.enqueue("echo", a=1, b=[]).job["key"]
    n = lq.enqueue("noop").job["key"]
    for k in (a, e, n):
        await await_status(rds, k, "complete", 5)
        v = lq.job(k).job_view
        assert v["status"] == "complete"
        assert v["started"] > 0 and v["completed"] >= v["started"]
        assert v["progress"] == 1.0 and v["attempts"] == 1
    assert lq.job(a).job_view["result"] == 1
    assert lq.job(e).job_view["result"] == {"a": 1, "b": []}
    assert lq.job(n).job_view["has_result"] is False
    assert lq.counts() == (0, 0, 0)


@checklist(10, 39, direction=STATE)
async def test_complete_records_match(lq, pyq, rds, cworker, pyworker):
    """The record a libsaq worker leaves equals the one a Python worker leaves."""
    await pyq.enqueue("echo", key="by-py", a=1, b=[])
    w = await (await pyworker()).start()
    py = await await_status(rds, "by-py", "complete", 5)
    await w.stop()
    await pyq.enqueue("echo", key="by-lib", a=1, b=[])
    cworker()
    lib = await await_status(rds, "by-lib", "complete", 5)
    assert shape(lib, {"key"}) == shape(py, {"key"}), field_diff(shape(lib), shape(py))
    assert rds.ttl(jid("by-lib")) > 590 and rds.ttl(jid("by-py")) > 590


# ---- 11 --------------------------------------------------------------------


def _check_ttls(rds, keys):
    assert 0 < rds.ttl(jid(keys[5])) <= 5
    assert rds.ttl(jid(keys[0])) == -1
    assert rds.ttl(jid(keys[-1])) == -2


@checklist(11, direction=PY2LIB)
async def test_ttl_after_libsaq_finish(pyq, rds, cworker):
    keys = {}
    for ttl in (5, 0, -1):
        keys[ttl] = (await pyq.enqueue("noop", ttl=ttl)).key
    w = cworker()
    await await_until(lambda: len(w.runs()) == 3, 5)
    await await_until(lambda: not rds.exists(jid(keys[-1])) and status_ok(rds, keys), 5)
    _check_ttls(rds, keys)
    assert await pyq.job(keys[-1]) is None
    assert (await pyq.count("incomplete")) == 0


def status_ok(rds, keys):
    return all((raw(rds, keys[t]) or {}).get("status") == "complete" for t in (5, 0))


@checklist(11, direction=LIB2PY)
async def test_ttl_after_python_finish(lq, rds, pyworker, pylog):
    keys = {ttl: lq.enqueue("noop", ttl=ttl).job["key"] for ttl in (5, 0, -1)}
    await (await pyworker()).start()
    await await_until(lambda: len(pylog.runs()) == 3, 5)
    await await_until(lambda: not rds.exists(jid(keys[-1])) and status_ok(rds, keys), 5)
    _check_ttls(rds, keys)
    assert lq.job(keys[-1]).status == libsaq.ENOTFOUND
    assert lq.count("incomplete") == 0


# ---- 13 --------------------------------------------------------------------


@checklist(13, direction=PY2LIB)
async def test_retry_no_delay_libsaq_worker(pyq, rds, cworker):
    job = await pyq.enqueue("fail", message="boom", retries=2)
    assert cworker(ONE_JOB).wait_exit(10) == 0
    await job.refresh()
    assert compat.status_text(job.status) == "queued"
    assert job.attempts == 1 and job.result is None
    assert job.started == 0 and job.completed == 0
    assert "boom" in job.error
    assert (await pyq.count("queued"), await pyq.count("incomplete")) == (1, 1)
    assert rds.zscore("saq:default:incomplete", job.id) == 0
    assert cworker(ONE_JOB).wait_exit(10) == 0
    await job.refresh()
    assert compat.status_text(job.status) == "failed"
    assert job.attempts == 2 and "boom" in job.error
    assert job.started and job.completed
    assert (await pyq.count("incomplete")) == 0


@checklist(13, direction=LIB2PY)
async def test_retry_no_delay_python_worker(lq, rds, pyworker):
    key = lq.enqueue("fail", message="boom", retries=2).job["key"]
    w = await pyworker(dequeue_timeout=0.5)
    await w.process()
    v = lq.job(key).job_view
    assert v["status"] == "queued" and v["attempts"] == 1 and not v["has_result"]
    assert v["started"] == 0 and v["completed"] == 0 and "boom" in v["error"]
    assert lq.counts()[:2] == (1, 1)
    await w.process()
    v = lq.job(key).job_view
    assert v["status"] == "failed" and v["attempts"] == 2 and "boom" in v["error"]
    assert v["started"] and v["completed"]
    assert lq.count("incomplete") == 0


# ---- 14 --------------------------------------------------------------------


@checklist(14, direction=PY2LIB)
async def test_retry_delay_libsaq_worker(pyq, rds, cworker):
    job = await pyq.enqueue("fail", retries=2, retry_delay=100)
    t = time.time()
    w = cworker(ONE_JOB)
    assert w.wait_exit(10) == 0
    await job.refresh()
    assert compat.status_text(job.status) == "queued" and job.attempts == 1
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (0, 1, 0)
    score = rds.zscore("saq:default:incomplete", job.id)
    assert t + 99 < score < time.time() + 101
    w2 = cworker(dict(ONE_JOB, dequeue_timeout="0.1"))
    assert w2.wait_exit(10) == 0
    assert w2.runs() == []
    await job.refresh()
    assert compat.status_text(job.status) == "queued" and job.attempts == 1


@checklist(14, direction=LIB2PY)
async def test_retry_delay_python_worker(lq, rds, pyworker):
    key = lq.enqueue("fail", retries=2, retry_delay=100).job["key"]
    t = time.time()
    w = await pyworker(dequeue_timeout=0.1)
    await w.process()
    v = lq.job(key).job_view
    assert v["status"] == "queued" and v["attempts"] == 1
    assert lq.counts() == (0, 1, 0)
    assert t + 99 < rds.zscore("saq:default:incomplete", jid(key)) < time.time() + 101
    await w.process()
    v = lq.job(key).job_view
    assert v["status"] == "queued" and v["attempts"] == 1


# ---- 26 --------------------------------------------------------------------


@checklist(26, direction=PY2LIB)
async def test_scheduled_job_runs_on_libsaq_worker(pyq, rds, cworker):
    cworker({"timers.schedule": "0.2"})
    due = time.time() + 1.5
    job = await pyq.enqueue("add", a=1, b=0, scheduled=due)
    await asyncio.sleep(0.5)
    assert (await pyq.count("queued"), await pyq.count("incomplete")) == (0, 1)
    assert compat.status_text((await pyq.job(job.key)).status) == "queued"
    await finished(rds, job)
    assert compat.status_text(job.status) == "complete" and job.result == 1
    assert job.started >= int(due * 1000)


@checklist(26, direction=LIB2PY)
async def test_scheduled_job_runs_on_python_worker(lq, rds, pyworker):
    await (await pyworker(timers={"schedule": 1})).start()  # saq's lock needs whole seconds
    due = time.time() + 1.5
    key = lq.enqueue("add", a=1, b=0, scheduled=due).job["key"]
    await asyncio.sleep(0.5)
    assert lq.counts()[:2] == (0, 1)
    rec = await await_status(rds, key, "complete", 5)
    assert rec["result"] == 1 and rec["started"] >= int(due * 1000)


# ---- 40 --------------------------------------------------------------------


def _check_timeout_record(rec):
    assert rec["status"] == "failed" and rec["attempts"] == 2
    assert "TimeoutError" in rec["error"]
    assert rec["started"] and rec["completed"]


@checklist(40, direction=PY2LIB)
async def test_timeout_on_libsaq_worker(pyq, rds, cworker):
    cworker()
    job = await pyq.enqueue("sleep", s=0.3, timeout=0.05, retries=2)
    await finished(rds, job)
    _check_timeout_record(raw(rds, job.key))
    assert compat.status_text(job.status) == "failed"


@checklist(40, direction=LIB2PY)
async def test_timeout_on_python_worker(lq, rds, pyworker):
    await (await pyworker()).start()
    key = lq.enqueue("sleep", s=0.3, timeout=0.05, retries=2).job["key"]
    _check_timeout_record(await await_status(rds, key, "failed", 5))
    assert lq.job(key).job_view["status"] == "failed"


@checklist(13, 40, direction=STATE)
async def test_failed_records_match(pyq, rds, cworker, pyworker):
    """Timed-out and failed jobs end with the same fields on both workers
    (the error text is a Python traceback vs libsaq's message: compared by
    its last line's exception class)."""
    for side in ("py", "lib"):
        await pyq.enqueue("sleep", key=f"t-{side}", s=0.3, timeout=0.05, retries=2)
        await pyq.enqueue("fail", key=f"f-{side}", message="boom", retries=2)
        if side == "py":
            w = await (await pyworker()).start()
        else:
            cworker()
        for k in (f"t-{side}", f"f-{side}"):
            await await_status(rds, k, "failed", 5)
        if side == "py":
            await w.stop()
    for k in ("t", "f"):
        lib, py = raw(rds, f"{k}-lib"), raw(rds, f"{k}-py")
        assert shape(lib, {"key"}, error_prefix=True) == shape(py, {"key"}, error_prefix=True), \
            field_diff(lib, py)
    assert raw(rds, "f-lib")["error"].splitlines()[-1] == raw(rds, "f-py")["error"].splitlines()[-1]


# ---- 41 --------------------------------------------------------------------


def _check_cancelled(rec):
    assert rec["status"] == "queued" and rec["error"] == "cancelled"
    assert rec.get("started", 0) == 0 and rec.get("completed", 0) == 0
    assert rec["attempts"] == 1 and rec["queued"]


@checklist(41, direction=PY2LIB)
async def test_libsaq_worker_stop_requeues(pyq, rds, cworker):
    w = cworker()
    job = await pyq.enqueue("sleep", s=5)
    await await_status(rds, job.key, "active", 5)
    assert w.stop() == 0
    rec = raw(rds, job.key)
    _check_cancelled(rec)
    await job.refresh()
    assert compat.status_text(job.status) == "queued" and job.error == "cancelled"
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (1, 1, 0)


async def python_job_running(pylog, key: str) -> None:
    """Wait until a Python worker's job function has started: saq 0.26 marks
    the job active before it creates the job's task, and a stop() in between
    fails on its own assertion and leaves the job `active` (a saq race that a
    loaded machine makes likely; these tests are about a running job)."""
    await await_until(lambda: any(k == key for _f, k, _a in pylog.runs()), 10, what=f"{key} running")


@checklist(41, direction=LIB2PY)
async def test_python_worker_stop_requeues(lq, rds, pyworker, pylog):
    w = await (await pyworker()).start()
    key = lq.enqueue("sleep", s=5).job["key"]
    await await_status(rds, key, "active", 5)
    await python_job_running(pylog, key)
    await w.stop()
    _check_cancelled(raw(rds, key))
    v = lq.job(key).job_view
    assert v["status"] == "queued" and v["error"] == "cancelled"
    assert lq.counts() == (1, 1, 0)


@checklist(41, direction=STATE)
async def test_stop_records_match(pyq, rds, cworker, pyworker, pylog):
    await pyq.enqueue("sleep", key="py", s=5)
    w = await (await pyworker()).start()
    await await_status(rds, "py", "active", 5)
    await python_job_running(pylog, "py")
    await w.stop()
    py = raw(rds, "py")
    py_lists = (rds.lrange("saq:default:queued", 0, -1), rds.zscore("saq:default:incomplete", jid("py")))
    rds.flushdb()
    await pyq.enqueue("sleep", key="lib", s=5)
    c = cworker()
    await await_status(rds, "lib", "active", 5)
    c.stop()
    lib = raw(rds, "lib")
    assert shape(lib, {"key"}) == shape(py, {"key"}), field_diff(shape(lib), shape(py))
    lib_lists = (rds.lrange("saq:default:queued", 0, -1), rds.zscore("saq:default:incomplete", jid("lib")))
    assert py_lists == ([jid("py")], 0) and lib_lists == ([jid("lib")], 0)


# ---- 43 --------------------------------------------------------------------


@checklist(43, direction=PY2LIB)
@only026
async def test_worker_id_of_libsaq_worker(pyq, rds, cworker):
    w = cworker()
    job = await pyq.enqueue("sleep", s=0.5)
    await await_status(rds, job.key, "active", 5)
    await job.refresh()
    assert job.worker_id == w.id
    await finished(rds, job)
    assert job.worker_id == w.id  # kept after the finish


@checklist(43, direction=LIB2PY)
@only026
async def test_worker_id_of_python_worker(lq, rds, pyworker):
    await (await pyworker(id="py-worker-1")).start()
    key = lq.enqueue("sleep", s=0.5).job["key"]
    await await_status(rds, key, "active", 5)
    assert lq.job(key).job_view["worker_id"] == "py-worker-1"


@checklist(43, direction=PY2LIB)
@only013
async def test_no_worker_id_in_013(pyq, rds, cworker):
    """0.13 records never carry worker_id (a 0.13 reader would raise)."""
    cworker()
    job = await pyq.enqueue("sleep", s=0.4)
    rec = await await_status(rds, job.key, "active", 5)
    assert "worker_id" not in rec
    await job.refresh()  # parses
    rec = await await_status(rds, job.key, "complete", 5)
    assert "worker_id" not in rec


# ---- 44 --------------------------------------------------------------------


@checklist(44, direction=PY2LIB)
async def test_burst_libsaq_worker(pyq, rds, cworker):
    with pytest.raises(RuntimeError, match="dequeue_timeout"):
        cworker({"burst": "true"})
    a = await pyq.enqueue("noop")
    b = await pyq.enqueue("noop")
    w = cworker({"burst": "true", "dequeue_timeout": "0.5", "concurrency": "1"})
    assert w.wait_exit(10) == 0
    for j in (a, b):
        await j.refresh()
        assert compat.status_text(j.status) == "complete"
    rds.flushdb()
    jobs = [await pyq.enqueue("noop") for _ in range(3)]
    w = cworker({"burst": "true", "dequeue_timeout": "0.5", "max_burst_jobs": "1"})
    assert w.wait_exit(10) == 0
    st = sorted([compat.status_text((await pyq.job(j.key)).status) for j in jobs])
    assert st == ["complete", "queued", "queued"]
    assert (await pyq.count("queued")) == 2


@checklist(44, direction=LIB2PY)
@only026
async def test_burst_python_worker(lq, rds, pyworker):
    with pytest.raises(ValueError):
        await pyworker(burst=True)
    keys = [lq.enqueue("noop").job["key"] for _ in range(2)]
    w = await pyworker(burst=True, dequeue_timeout=0.5, concurrency=1)
    await asyncio.wait_for(w.worker.start(), 10)
    assert [lq.job(k).job_view["status"] for k in keys] == ["complete", "complete"]
    rds.flushdb()
    keys = [lq.enqueue("noop").job["key"] for _ in range(3)]
    w = await pyworker(burst=True, dequeue_timeout=0.5, max_burst_jobs=1)
    await asyncio.wait_for(w.worker.start(), 10)
    assert sorted(lq.job(k).job_view["status"] for k in keys) == ["complete", "queued", "queued"]


# ---- 50 --------------------------------------------------------------------


@checklist(50, direction=PY2LIB)
async def test_null_timeout_and_status_case_read_by_libsaq(pyq, lq, rds, cworker):
    job = await pyq.enqueue("sleep", s=0.2, timeout=None)
    assert raw(rds, job.key)["timeout"] is None
    assert lq.job(job.key).job_view["timeout"] == 0  # no limit
    cworker()
    await finished(rds, job)
    assert compat.status_text(job.status) == "complete" and job.result == 0.2
    # status text in any case
    for text, expect in (("new", "new"), ("NEW", "new"), ("Queued", "queued"), ("COMPLETE", "complete")):
        rds.set(jid("case"), json.dumps({"function": "noop", "queue": "default", "key": "case",
                                         "status": text, "timeout": None}))
        v = lq.job("case").job_view
        assert v["status"] == expect and v["timeout"] == 0


@checklist(50, direction=LIB2PY)
async def test_null_timeout_written_by_libsaq_apply(lq, rds, pyworker):
    await (await pyworker()).start()
    r = await lq.a.apply("sleep", 0, s=0.2, key="ap")
    assert r.json == 0.2
    rec = raw(rds, "ap")
    assert "timeout" in rec and rec["timeout"] is None


# ---- every option survives a run on the other side ------------------------

OPTS = dict(meta={"m": 1, "trace": "t-1"}, retries=3, retry_delay=0.5, retry_backoff=2.5, timeout=7,
            ttl=100, heartbeat=5)


@checklist(2, 10, direction=PY2LIB)
async def test_options_survive_libsaq_worker(pyq, rds, cworker):
    cworker()
    job = await pyq.enqueue("echo", key="opts", x=[1, "\u00e9"], **OPTS)
    await finished(rds, job)
    assert compat.status_text(job.status) == "complete" and job.result == {"x": [1, "\u00e9"]}
    for k, v in OPTS.items():
        assert getattr(job, k) == v, k
    assert 90 < rds.ttl(jid("opts")) <= 100


@checklist(2, 10, direction=LIB2PY)
async def test_options_survive_python_worker(lq, rds, pyworker):
    await (await pyworker()).start()
    lq.enqueue("echo", key="opts", x=[1, "\u00e9"], **OPTS)
    await await_status(rds, "opts", "complete", 5)
    v = lq.job("opts").job_view
    assert v["result"] == {"x": [1, "\u00e9"]} and v["meta"] == OPTS["meta"]
    assert (v["retries"], v["retry_delay"], v["timeout"], v["ttl"], v["heartbeat"]) == (3, 0.5, 7, 100, 5)
    assert (v["retry_backoff"], v["retry_backoff_cap"]) == (1, 2.5)
    assert 90 < rds.ttl(jid("opts")) <= 100


@checklist(10, direction=STATE)
async def test_options_records_match(pyq, rds, cworker, pyworker):
    await pyq.enqueue("echo", key="py", x=1, **OPTS)
    w = await (await pyworker()).start()
    py = await await_status(rds, "py", "complete", 5)
    await w.stop()
    await pyq.enqueue("echo", key="lib", x=1, **OPTS)
    cworker()
    lib = await await_status(rds, "lib", "complete", 5)
    assert shape(lib, {"key"}) == shape(py, {"key"}), field_diff(shape(lib), shape(py))
