# SPDX-License-Identifier: MIT
"""Checklist items 36-38: update, listen (pub/sub) and refresh."""

from __future__ import annotations

import asyncio
import time

import pytest
from saq import Status

import compat
import libsaq
from helpers import (IS013, LIB2PY, PY2LIB, STATE, alisteners_ready, await_until, checklist, field_diff,
                     jid, pubsub_numpat, raw, saqbug, shape)
from test_abort import PyListener

# ---- 36 --------------------------------------------------------------------


@checklist(36, direction=PY2LIB)
async def test_python_updates_libsaq_listens(lq, pyq, rds):
    job = await pyq.enqueue("noop")
    before = pubsub_numpat(rds)
    lis = lq.listen_start([job.key], timeout=0)
    await alisteners_ready(rds, before)
    collecting = asyncio.create_task(asyncio.to_thread(lis.collect, None, 20000))
    await job.update(progress=0.1)
    job.status = Status.ACTIVE  # in memory only
    await job.update(progress=0.2)
    await await_until(lambda: len(lis.messages) >= 2, 10, what="two update messages")
    await asyncio.sleep(0.2)  # a window for any further message
    lis.stop()
    msgs = await asyncio.wait_for(collecting, 20)
    lis.close()
    if IS013:
        # 0.13's update writes (and publishes) the in-memory status
        assert msgs == [(job.key, "queued"), (job.key, "active")]
    else:
        # 0.26 keeps the stored status: queued twice, and the record stays queued
        assert msgs == [(job.key, "queued"), (job.key, "queued")]
        assert lq.job(job.key).job_view["status"] == "queued"
        assert compat.status_text(job.status) == "active"
    assert lq.job(job.key).job_view["progress"] == 0.2


@checklist(36, direction=LIB2PY)
async def test_libsaq_updates_python_listens(lq, pyq, rds):
    key = lq.enqueue("noop").job["key"]
    lis = await PyListener(pyq, [key], until_terminal=False).start(rds)
    assert lq.update(key, progress=0.1).int == 1
    assert lq.update(key, progress=0.2).int == 1
    await await_until(lambda: len(lis.got) >= 2, 10, what="two update messages")
    await asyncio.sleep(0.2)  # a window for any further message
    lis.task.cancel()
    assert lis.got == [(key, "queued"), (key, "queued")]
    assert raw(rds, key)["status"] == "queued"


# ---- 37 --------------------------------------------------------------------


@checklist(37, direction=PY2LIB)
async def test_python_update_read_by_libsaq(lq, pyq, rds):
    job = await pyq.enqueue("noop")
    job.attempts = 1
    await job.update(progress=0.5, meta={"m": 1})
    v = lq.job(job.key).job_view
    assert v["attempts"] == 1 and v["progress"] == 0.5 and v["meta"] == {"m": 1}
    assert v["touched"] > 0 and v["status"] == "queued"


@checklist(37, direction=LIB2PY)
async def test_libsaq_update_read_by_python(lq, pyq, rds):
    key = lq.enqueue("noop").job["key"]
    assert lq.update(key, progress=0.5, meta={"m": 1}, attempts=1).int == 1
    job = await pyq.job(key)
    assert job.attempts == 1 and job.progress == 0.5 and job.meta == {"m": 1}
    assert job.touched > 0 and compat.status_text(job.status) == "queued"


@checklist(37, direction=STATE)
async def test_update_records_match(lq, pyq, rds):
    await pyq.enqueue("noop", key="py")
    await pyq.enqueue("noop", key="lib")
    job = await pyq.job("py")
    await job.update(progress=0.5, meta={"m": 1})
    lq.update("lib", progress=0.5, meta={"m": 1})
    a, b = shape(raw(rds, "lib"), {"key"}), shape(raw(rds, "py"), {"key"})
    assert a == b, field_diff(a, b)


@checklist(37, direction=STATE)
@saqbug("U4")
async def test_update_never_resurrects(lq, pyq, rds):
    """saq bug U4: an update that lands after the finish re-creates (ttl < 0)
    or un-expires the record. libsaq's update leaves finished records alone
    (int 0), Python's re-creates it."""
    for side in ("py", "lib"):
        await pyq.enqueue("noop", key=side, ttl=-1)
        job = await pyq.dequeue(1)
        stale = await pyq.job(side)
        await pyq.finish(job, Status.COMPLETE)
        assert not rds.exists(jid(side))
        if side == "py":
            await stale.update(progress=0.5)
            assert rds.exists(jid(side)) and rds.ttl(jid(side)) == -1  # resurrected, forever
        else:
            assert lq.update(side, progress=0.5, check=False).status == libsaq.ENOTFOUND or \
                lq.update(side, progress=0.5, check=False).int == 0
            assert not rds.exists(jid(side))
    await pyq.enqueue("noop", key="fin")
    job = await pyq.dequeue(1)
    await pyq.finish(job, Status.COMPLETE)
    ttl = rds.ttl(jid("fin"))
    assert lq.update("fin", progress=0.5, check=False).int == 0
    assert 0 < rds.ttl(jid("fin")) <= ttl and raw(rds, "fin")["status"] == "complete"


# ---- 38 --------------------------------------------------------------------


@checklist(38, direction=LIB2PY)
async def test_python_refresh_waits_for_libsaq_finish(lq, pyq, rds):
    key = lq.enqueue("noop").job["key"]
    job = await pyq.job(key)
    with pytest.raises(asyncio.TimeoutError):
        await job.refresh(0.01)
    waiter = asyncio.create_task(job.refresh(5))
    await asyncio.sleep(0.3)
    await pyq.dequeue(1)
    await lq.a.finish(key, "complete", result={"r": 1})
    await asyncio.wait_for(waiter, 5)
    assert compat.status_text(job.status) == "complete" and job.result == {"r": 1}
    # a job libsaq deleted (ttl -1) is missing for Python's refresh
    key2 = lq.enqueue("noop", ttl=-1).job["key"]
    job2 = await pyq.job(key2)
    await pyq.dequeue(1)
    lq.finish(key2, "complete")
    with pytest.raises(RuntimeError):
        await job2.refresh()


@checklist(38, direction=PY2LIB)
async def test_libsaq_waits_for_python_finish(lq, pyq, rds):
    job = await pyq.enqueue("add", a=1, b=2)
    assert lq.job("missing").status == libsaq.ENOTFOUND
    # listen with a short idle timeout ends with a timeout
    lis = lq.listen_start([job.key], timeout=0.01)
    lis.collect(wait_ms=2000)
    assert lis.end is not None and lis.end.status == libsaq.ETIMEDOUT
    lis.close()
    # libsaq's apply of an existing incomplete job waits for it (no re-enqueue)
    j = libsaq.Job("add", key=job.key, a=1, b=2)
    waiter = asyncio.create_task(lq.a.apply_job(j, 5))
    await asyncio.sleep(0.3)
    djob = await pyq.dequeue(1)
    await pyq.finish(djob, Status.COMPLETE, result=3)
    r = await asyncio.wait_for(waiter, 6)
    assert r.json == 3 and r.job["status"] == "complete"


@checklist(38, direction=STATE)
@saqbug("U11")
async def test_libsaq_subscribes_before_reading(lq, pyq, rds):
    """saq bug U11: refresh/apply read first and subscribe afterwards, so a
    terminal event in between is lost and the wait runs into its timeout.
    libsaq subscribes (confirmed) before reading: whatever the timing of the
    finish, its apply of an existing job returns at once."""
    quick = 0
    for i in range(12):
        job = await pyq.enqueue("noop", key=f"k{i}")
        djob = await pyq.dequeue(1)
        j = libsaq.Job("noop", key=job.key)
        t0 = time.time()
        waiter = asyncio.create_task(lq.a.apply_job(j, 1, check=False))
        await asyncio.sleep(0.002 + 0.001 * i)
        await pyq.finish(djob, Status.COMPLETE, result=i)
        r = await asyncio.wait_for(waiter, 5)
        if r.ok:
            assert r.json == i and time.time() - t0 < 0.9
            quick += 1
        else:
            # only acceptable when the finish came before apply's enqueue: the
            # key was no longer incomplete, so apply enqueued it anew (as saq's
            # map does) and nobody ran it. A lost event would leave it complete.
            assert r.status == libsaq.ETIMEDOUT
            assert raw(rds, f"k{i}")["status"] == "queued", "terminal event lost (U11)"
            rds.delete("saq:default:queued")
    assert quick >= 6
