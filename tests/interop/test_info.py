# SPDX-License-Identifier: MIT
"""Checklist items 16 and 45-48: counters, info(), the worker registry and
saq's web UI (the aiohttp app of saq.web) over libsaq workers and jobs."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp.test_utils import TestClient, TestServer
from saq import Status

import compat
from helpers import (IS013, LIB2PY, PY2LIB, STATE, await_status, await_until, checklist, now_ms,
                     raw, saqbug)

STATS = "saq:default:stats"


def reg_key(wid: str) -> str:
    return f"saq:default:stats:{wid}" if IS013 else f"saq:default:worker_info:{wid}"


def saq_part(doc: dict) -> dict:
    """libsaq's info is saq's document plus its pause flag (issue 19: "paused", an extension
    member saq's info does not have; False on these queues): the rest is compared."""
    assert doc.pop("paused") is False
    return doc


def worker_stats(entry: dict) -> dict:
    """The stats of one info()['workers'] entry (0.13: flat)."""
    return entry if IS013 else entry["stats"]


# ---- 16 --------------------------------------------------------------------


async def _rounds(pyq, enqueue, retry, finish):
    for i in range(10):
        for st in ("retry", "aborted", "failed", "complete"):
            key = await enqueue(f"{st}-{i}")
            job = await pyq.dequeue(1)
            assert job.key == key
            if st == "retry":
                await retry(job)
            else:
                await finish(job, st)


@checklist(16, direction=LIB2PY)
async def test_libsaq_counters_seen_by_python(lq, pyq, rds):
    async def enqueue(k):
        return lq.enqueue("noop", key=k).job["key"]

    async def retry(job):
        lq.retry(job.key, "again")
        # take the retried job out again so the queue stays in step
        assert (await pyq.dequeue(1)).key == job.key
        lq.finish(job.key, "complete")

    async def finish(job, st):
        lq.finish(job.key, st)

    await _rounds(pyq, enqueue, retry, finish)
    stats = lq.stats(ttl=60)
    assert {k: stats[k] for k in ("complete", "failed", "retried", "aborted")} == \
        {"complete": 20, "failed": 10, "retried": 10, "aborted": 10}
    assert stats["uptime"] > 0
    info = await pyq.info()
    assert len(info["workers"]) == 1
    (wid, entry), = info["workers"].items()
    assert worker_stats(entry) == stats
    if not IS013:
        assert entry["queue_key"] == "default" and entry["metadata"] is None


@checklist(16, direction=PY2LIB)
async def test_python_counters_seen_by_libsaq(lq, pyq, rds):
    async def enqueue(k):
        return (await pyq.enqueue("noop", key=k)).key

    async def retry(job):
        await pyq.retry(job, "again")
        job = await pyq.dequeue(1)
        await pyq.finish(job, Status.COMPLETE)

    async def finish(job, st):
        await pyq.finish(job, Status(st))

    await _rounds(pyq, enqueue, retry, finish)
    await compat.write_registry(pyq, "pyworker", ttl=60)
    info = lq.info()
    assert len(info["workers"]) == 1
    (wid, entry), = info["workers"].items()
    assert wid == (pyq.uuid if IS013 else "pyworker")
    st = worker_stats(entry)
    assert {k: st[k] for k in ("complete", "failed", "retried", "aborted")} == \
        {"complete": 20, "failed": 10, "retried": 10, "aborted": 10}
    assert st["uptime"] > 0


# ---- 45 --------------------------------------------------------------------


@checklist(45, direction=STATE)
async def test_empty_queue_info(lq, pyq):
    expected = {"workers": {}, "name": "default", "queued": 0, "active": 0, "scheduled": 0, "jobs": []}
    assert saq_part(lq.info(jobs=True)) == expected
    assert await pyq.info(jobs=True) == expected


# ---- 46 --------------------------------------------------------------------


@checklist(46, direction=LIB2PY)
async def test_python_info_sees_libsaq_worker(pyq, rds, cworker):
    keys = [(await pyq.enqueue("noop")).key for _ in range(2)]
    conf = {"timers.worker_info": "1", "burst": "true", "max_burst_jobs": "1", "dequeue_timeout": "0.5"}
    if not IS013:
        conf["metadata"] = json.dumps({"foo": "bar"})
    w = cworker(conf)
    assert w.wait_exit(10) == 0
    info = await pyq.info(jobs=True)
    assert list(info["workers"]) == [w.id]
    entry = info["workers"][w.id]
    if IS013:
        assert set(entry) == {"complete", "failed", "retried", "aborted", "uptime"}
    else:
        assert entry["metadata"] == {"foo": "bar"} and entry["queue_key"] == "default"
        assert set(entry["stats"]) == {"complete", "failed", "retried", "aborted", "uptime"}
    assert (info["queued"], info["active"], info["scheduled"]) == (1, 0, 0)
    assert len(info["jobs"]) == 1 and info["jobs"][0]["key"] in keys
    # ttl = worker_info timer + 1 = 2 s: then the worker is gone
    await asyncio.sleep(2.1)
    assert (await pyq.info())["workers"] == {}


@checklist(46, direction=PY2LIB)
async def test_libsaq_info_sees_python_worker(lq, pyq, rds, pyworker):
    keys = [(await pyq.enqueue("noop")).key for _ in range(2)]
    kw = {} if IS013 else {"metadata": {"foo": "bar"}, "id": "py-w"}
    w = await pyworker(dequeue_timeout=0.5, **kw)
    await w.process()
    if IS013:
        await w.queue.stats(1)
    else:
        await w.worker.worker_info(ttl=1)
    info = lq.info(jobs=True)
    assert list(info["workers"]) == [w.id]
    entry = info["workers"][w.id]
    if IS013:
        assert entry["complete"] == 1
    else:
        assert entry["metadata"] == {"foo": "bar"} and entry["queue_key"] == "default"
        assert entry["stats"]["complete"] == 1
    assert (info["queued"], info["active"], info["scheduled"]) == (1, 0, 0)
    assert [j["key"] for j in info["jobs"]] == [k for k in keys if raw(rds, k)["status"] == "queued"]
    await asyncio.sleep(1.1)
    assert lq.info()["workers"] == {}


# ---- 47 --------------------------------------------------------------------


@checklist(47, direction=STATE)
async def test_registry_ttl_and_score(pyq, rds, cworker, pyworker):
    """Default upkeep: record TTL 11, zset score = now_ms + 11000, zset TTL 11,
    for a libsaq worker exactly as for a Python worker."""
    out = {}
    for side in ("py", "lib"):
        rds.flushdb()
        t = now_ms()
        if side == "py":
            w = await (await pyworker()).start()
            wid = w.id
        else:
            wid = cworker().id
        await await_until(lambda: rds.exists(reg_key(wid)), 3)
        member = reg_key(wid)
        score = rds.zscore(STATS, member)
        out[side] = (rds.ttl(member), rds.ttl(STATS), rds.zrange(STATS, 0, -1))
        assert t + 11000 <= score <= now_ms() + 11000, side
        assert out[side][2] == [member]
        if side == "py":
            await w.stop()
    assert out["lib"][:2] == out["py"][:2] == (11, 11)


# ---- 48 / U7 ---------------------------------------------------------------


@checklist(48, direction=LIB2PY)
async def test_python_info_lists_libsaq_running_job_once(pyq, rds, cworker):
    cworker()
    job = await pyq.enqueue("sleep", s=1)
    await await_status(rds, job.key, "active", 5)
    info = await pyq.info(jobs=True)
    assert [j["key"] for j in info["jobs"]] == [job.key]
    assert compat.status_text(info["jobs"][0]["status"]) == "active"


@checklist(48, direction=PY2LIB)
async def test_libsaq_info_lists_python_running_job_once(lq, rds, pyworker):
    await (await pyworker()).start()
    key = lq.enqueue("sleep", s=1).job["key"]
    await await_status(rds, key, "active", 5)
    info = lq.info(jobs=True)
    assert [j["key"] for j in info["jobs"]] == [key]
    assert info["jobs"][0]["status"] == "active" and info["active"] == 1


@checklist(48, direction=STATE)
@saqbug("U7")
async def test_info_jobs_pagination(lq, pyq, rds):
    """Same listing from offset 0; saq bug U7: saq's end index is limit-1, so
    any offset >= limit lists nothing. libsaq lists offset..offset+limit-1."""
    keys = [f"k{i}" for i in range(6)]
    for k in keys:
        await pyq.enqueue("noop", key=k)
    py = await pyq.info(jobs=True)
    lib = saq_part(lq.info(jobs=True))
    assert json.loads(json.dumps(py)) == lib
    assert [j["key"] for j in lq.info(jobs=True, offset=2, limit=2)["jobs"]] == ["k2", "k3"]
    assert (await pyq.info(jobs=True, offset=2, limit=2))["jobs"] == []  # U7
    assert [j["key"] for j in lq.info(jobs=True, offset=4, limit=10)["jobs"]] == ["k4", "k5"]


# ---- saq's web UI over libsaq workers and jobs ----------------------------


@checklist(46, 48, direction=LIB2PY)
async def test_web_ui_lists_libsaq_workers_and_jobs(pyq, rds, cworker, lq):
    from saq.web.aiohttp import create_app

    w = cworker({"timers.abort": "0.1"})
    running = lq.enqueue("sleep", s=10).job["key"]
    waiting = lq.enqueue("noop", scheduled=time.time() + 100).job["key"]
    failed = lq.enqueue("fail", message="ui").job["key"]
    await await_status(rds, running, "active", 5)
    await await_status(rds, failed, "failed", 5)
    client = TestClient(TestServer(create_app([pyq])))
    await client.start_server()
    try:
        body = await (await client.get("/api/queues")).json()
        assert "error" not in body, body
        (q,) = body["queues"]
        assert w.id in q["workers"] and (q["active"], q["scheduled"]) == (1, 1)
        body = await (await client.get("/api/queues/default")).json()
        assert "error" not in body, body
        listed = {j["key"]: compat.status_text(j["status"]) for j in body["queue"]["jobs"]}
        assert listed == {running: "active", waiting: "queued"}
        assert w.id in body["queue"]["workers"]
        body = await (await client.get(f"/api/queues/default/jobs/{failed}")).json()
        assert "error" not in body and body["job"]["status"] == "failed" and "ui" in body["job"]["error"]
        # the UI's abort reaches the libsaq worker running the job
        body = await (await client.post(f"/api/queues/default/jobs/{running}/abort")).json()
        assert body == {}
        rec = await await_status(rds, running, "aborted", 5)
        assert rec["error"] == "aborted from ui"
        # the UI's retry puts the failed job back; the libsaq worker runs it again
        body = await (await client.post(f"/api/queues/default/jobs/{failed}/retry")).json()
        assert body == {}
        await await_until(lambda: [a for _f, k, a in w.runs() if k == failed] == [1, 2], 5)
        assert (await (await client.get("/health")).text()) == "OK"
    finally:
        await client.close()


@checklist(45, 46, 48, direction=STATE)
async def test_info_identical_on_both_sides(lq, pyq, rds, cworker, pyworker):
    """With a Python and a libsaq worker registered and jobs waiting, running
    and scheduled, libsaq's info() is Python's info(), document for document."""
    pw = await (await pyworker(timers={"worker_info": 1})).start()
    cw = cworker({"timers.worker_info": "1"})
    running = lq.enqueue("sleep", s=3).job["key"]
    await await_status(rds, running, "active", 5)
    await pyq.enqueue("noop", key="later", scheduled=time.time() + 100)
    lq.enqueue("noop", key="later2", scheduled=time.time() + 200)
    await await_until(lambda: rds.zcard("saq:default:stats") == 2, 3)
    for _ in range(3):  # the registry is rewritten every second: retry on a tick in between
        py = json.loads(json.dumps(await pyq.info(jobs=True)))
        lib = saq_part(lq.info(jobs=True))
        if py == lib:
            break
        await asyncio.sleep(0.1)
    assert lib == py
    assert set(lib["workers"]) == {pw.id, cw.id}
    assert (lib["active"], lib["scheduled"]) == (1, 2)
