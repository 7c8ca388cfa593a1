# SPDX-License-Identifier: MIT
"""Checklist items 52-54: apply, map and iter_jobs across the line."""

from __future__ import annotations

import asyncio
import time

import pytest
from saq import Status

import compat
import libsaq
from helpers import LIB2PY, PY2LIB, STATE, await_until, checklist, field_diff, only026, raw, shape

# Python's apply/map: 0.26 polls (every 0.5 s by default), 0.13 listens
PI = {} if compat.IS013 else {"poll_interval": 0.05}


# ---- 52 --------------------------------------------------------------------


@checklist(52, direction=PY2LIB)
async def test_python_apply_map_on_libsaq_worker(pyq, rds, cworker):
    cworker()
    assert await pyq.apply("echo", a=1, ttl=-1, **PI) is None
    assert await pyq.apply("add", a=1, b=0, **PI) == 1
    assert await pyq.apply("echo", a=1, b=[], **PI) == {"a": 1, "b": []}
    with pytest.raises(compat.JobError) as e:
        await pyq.apply("fail", message="nope", **PI)
    assert "nope" in str(e.value)
    assert await pyq.map("add", [], **PI) == []
    assert await pyq.map("add", [{"a": 1}], **PI) == [1]
    assert await pyq.map("add", [{"a": 1}, {"a": 2}], **PI) == [1, 2]
    assert await pyq.map("add", [{}, {"a": 2}], a=3, b=0, **PI) == [3, 2]
    res = await pyq.map("fail", [{}, {}], return_exceptions=True, **PI)
    assert len(res) == 2 and all(isinstance(r, compat.JobError) for r in res)
    # mapping over an existing incomplete key waits for that job
    await pyq.enqueue("add", key="existing", a=40, b=2, scheduled=time.time() + 0.5)
    assert await pyq.map("add", [{"key": "existing", "a": 0}], **PI) == [42]


@checklist(52, direction=LIB2PY)
async def test_libsaq_apply_map_on_python_worker(lq, pyq, rds, pyworker):
    await (await pyworker(timers={"schedule": 1})).start()
    a = lq.a
    assert (await a.apply("echo", 0, a=1, ttl=-1)).json is None
    assert (await a.apply("add", 0, a=1, b=0)).json == 1
    assert (await a.apply("echo", 0, a=1, b=[])).json == {"a": 1, "b": []}
    r = await a.apply("fail", 0, check=False, message="nope")
    assert r.status == libsaq.EJOB and "nope" in r.job["error"] and r.job["status"] == "failed"
    assert (await a.map("add", [])).json == []
    assert (await a.map("add", [{"a": 1}])).json == [1]
    assert (await a.map("add", [{"a": 1}, {"a": 2}])).json == [1, 2]
    assert (await a.map("add", [{}, {"a": 2}], a=3, b=0)).json == [3, 2]
    r = await a.map("fail", [{}, {}], return_exceptions=True)
    assert r.json == [None, None]
    assert [j["status"] for j in r.jobs] == ["failed", "failed"]
    r = await a.map("fail", [{}, {}], check=False)
    assert r.status == libsaq.EJOB and r.job["status"] == "failed"
    lq.enqueue("add", key="existing", a=40, b=2, scheduled=time.time() + 0.5)
    assert (await a.map("add", [{"key": "existing", "a": 0}])).json == [42]


# ---- 53 --------------------------------------------------------------------


@checklist(53, direction=LIB2PY)
async def test_libsaq_map_timeout(lq, rds):
    t0 = time.time()
    r = lq.map("add", [{"a": 1}], timeout=0.1, check=False, key="mt")
    assert r.status == libsaq.ETIMEDOUT and time.time() - t0 < 1
    assert raw(rds, "mt")["timeout"] == 0.1


@checklist(50, 53, direction=STATE)
async def test_apply_map_records_match(lq, pyq, rds):
    """The jobs apply/map write: the map timeout is the job timeout, and no
    timeout writes "timeout": null, on both sides."""
    with pytest.raises(asyncio.TimeoutError):
        await pyq.map("add", [{"a": 1}], timeout=0.1, key="py-t", **PI)
    lq.map("add", [{"a": 1}], timeout=0.1, check=False, key="lib-t")
    task = asyncio.create_task(pyq.apply("add", a=1, key="py-n"))
    await await_until(lambda: raw(rds, "py-n"), 10, what="py-n written")
    task.cancel()
    ltask = asyncio.create_task(lq.a.apply("add", 0.0, check=False, a=1, key="lib-n"))
    await await_until(lambda: raw(rds, "lib-n"), 10, what="lib-n written")
    for k in ("py-t", "lib-t", "py-n", "lib-n"):
        assert raw(rds, k) is not None, k
    a, b = shape(raw(rds, "lib-t"), {"key"}), shape(raw(rds, "py-t"), {"key"})
    assert a == b, field_diff(a, b)
    a, b = shape(raw(rds, "lib-n"), {"key"}), shape(raw(rds, "py-n"), {"key"})
    assert a == b, field_diff(a, b)
    assert raw(rds, "lib-n")["timeout"] is None
    # let libsaq's apply end: finish its job
    await lq.a.finish("lib-n", "complete", result=1)
    assert (await asyncio.wait_for(ltask, 5)).json == 1


# ---- 54 --------------------------------------------------------------------


@checklist(54, direction=LIB2PY)
@only026
async def test_python_iter_jobs_over_libsaq_jobs(lq, pyq, rds):
    keys = {lq.enqueue("noop", key=f"k{i}").job["key"] for i in range(9)}
    for batch in (1, 2, 3, None):
        kw = {} if batch is None else {"batch_size": batch}
        assert {j.key async for j in pyq.iter_jobs(**kw)} == keys
    job = await pyq.dequeue(1)
    await compat.mark_active(job, "w")
    assert [j.key async for j in pyq.iter_jobs(statuses=[Status.ACTIVE])] == [job.key]
