# SPDX-License-Identifier: MIT
"""Checklist items 32-35: sweeping stuck jobs.

saq's sweep test mocks the clock (setup at 1 s, sweep at 3 s). Here the
same setup is made with the marked jobs' started/touched written 1.3 s in the
past, right before the sweep: timeout-1 and heartbeat-1 jobs are then past
their limit, timeout-2 and heartbeat-2 jobs are not (strict >)."""

from __future__ import annotations

import asyncio
import json
import time

from saq import Status

import compat
from helpers import (IS013, LIB2PY, PY2LIB, STATE, await_status, await_until, checklist, field_diff,
                     jid, now_ms, raw, saqbug, shape)

ACTIVE = "saq:default:active"
INC = "saq:default:incomplete"


async def _mark(job, **fields):
    """Mark a dequeued job active the way saq's sweep test does (status,
    attempts untouched)."""
    await job.update(status=Status.ACTIVE, **fields)


async def _setup_32(pyq, rds, enqueue):
    """job1 (heartbeat 1, retries 0), job2 (timeout 1), t2 (timeout 2), h2
    (heartbeat 2) marked active; job3 dequeued, not marked; a fake id."""
    for key, opts in (("job1", {"heartbeat": 1, "retries": 0}), ("job2", {"timeout": 1}),
                      ("t2", {"timeout": 2}), ("h2", {"heartbeat": 2, "timeout": 0}), ("job3", {"timeout": 1})):
        await enqueue(key, opts)
    jobs = [await pyq.dequeue(1) for _ in range(4)]
    job3 = await pyq.dequeue(1)
    assert job3.key == "job3"
    rds.rpush(ACTIVE, "saq:job:default:fake")
    assert rds.llen(ACTIVE) == 6
    for job in jobs:
        await _mark(job)
    # started and touched 1.3 s ago, written as the last step before the
    # sweep: the sweep sees them 1.3 s old plus a few round trips (sleeping
    # 1.3 s instead can be stretched past t2/h2's 2 s limit on a loaded
    # machine). Written into the stored records because saq 0.13's update()
    # stamps `touched` with the current time.
    then = now_ms() - 1300
    for job in jobs:
        rec = raw(rds, job.key)
        rec["started"] = rec["touched"] = then
        rds.set(jid(job.key), json.dumps(rec))


def _check_32(swept, rds):
    assert sorted(swept) == sorted(jid(k) for k in ("job1", "job2", "job3", "fake"))
    j1, j2, j3 = raw(rds, "job1"), raw(rds, "job2"), raw(rds, "job3")
    assert j1["status"] == "aborted" and j1["error"] == "swept"
    assert j2["status"] == "queued" and j2["error"] == "swept"
    assert j3["status"] == "queued" and j3["error"] == "swept"
    assert rds.llen(ACTIVE) == 2
    assert sorted(rds.lrange(ACTIVE, 0, -1)) == sorted([jid("t2"), jid("h2")])
    assert raw(rds, "t2")["status"] == raw(rds, "h2")["status"] == "active"


@checklist(32, direction=PY2LIB)
async def test_libsaq_sweeps_python_state(lq, pyq, rds):
    await _setup_32(pyq, rds, lambda k, o: pyq.enqueue("noop", key=k, **o))
    swept = await lq.a.sweep(lock=60, abort=0.01)
    _check_32(swept, rds)
    for k in ("job1", "job2", "job3"):
        await (await pyq.job(k)).refresh()  # Python reads every outcome


@checklist(32, direction=LIB2PY)
async def test_python_sweeps_libsaq_jobs(lq, pyq, rds):
    async def enq(k, o):
        assert lq.enqueue("noop", key=k, **o).int == 1

    await _setup_32(pyq, rds, enq)
    swept = await pyq.sweep(lock=60, abort=0.01)
    swept = [s.decode() if isinstance(s, bytes) else s for s in swept]
    _check_32(swept, rds)
    for k in ("job1", "job2", "job3"):
        assert lq.job(k).ok


@checklist(32, direction=STATE)
async def test_sweep_outcomes_match(lq, pyq, rds):
    out = {}
    for side in ("py", "lib"):
        rds.flushdb()
        await _setup_32(pyq, rds, lambda k, o: pyq.enqueue("noop", key=k, **o))
        if side == "py":
            await pyq.sweep(lock=60, abort=0.01)
        else:
            await lq.a.sweep(lock=60, abort=0.01)
        out[side] = {k: raw(rds, k) for k in ("job1", "job2", "job3", "t2", "h2")}
        out[side]["lists"] = (sorted(rds.lrange(ACTIVE, 0, -1)), sorted(rds.lrange("saq:default:queued", 0, -1)),
                              sorted(rds.zrange(INC, 0, -1)))
    for k in ("job1", "job2", "job3", "t2", "h2"):
        a, b = shape(out["lib"][k]), shape(out["py"][k])
        assert a == b, (k, field_diff(a, b))
    assert out["lib"]["lists"] == out["py"]["lists"]


# ---- 35 --------------------------------------------------------------------

STUCK_CASES = {
    # key: (record fields, swept?)
    "active-timeout0": ({"status": "active", "timeout": 0, "started": "now"}, False),
    "active-t1-started0": ({"status": "active", "timeout": 1}, True),
    "aborting-t1-started0": ({"status": "aborting", "timeout": 1}, True),
    "active-t10-fresh": ({"status": "active", "timeout": 10, "started": "now"}, False),
}


def _write_stuck_cases(rds):
    now = now_ms()
    for key, (fields, _) in STUCK_CASES.items():
        rec = {"function": "noop", "queue": "default", "key": key, "retries": 0, "attempts": 1}
        rec.update({k: (now if v == "now" else v) for k, v in fields.items()})
        if IS013 and rec["status"] == "aborting":
            continue
        rds.set(jid(key), json.dumps(rec))
        rds.rpush(ACTIVE, jid(key))
        rds.zadd(INC, {jid(key): 0})


def _expected_swept():
    return sorted(jid(k) for k, (f, s) in STUCK_CASES.items() if s and not (IS013 and f["status"] == "aborting"))


@checklist(35, direction=PY2LIB)
async def test_libsaq_stuck_decisions(lq, rds):
    _write_stuck_cases(rds)
    assert sorted(await lq.a.sweep(lock=60, abort=0.01)) == _expected_swept()


@checklist(35, direction=STATE)
async def test_stuck_decisions_match(lq, pyq, rds):
    _write_stuck_cases(rds)
    py = sorted(s.decode() if isinstance(s, bytes) else s for s in await pyq.sweep(lock=60, abort=0.01))
    py_state = {k: raw(rds, k) for k in STUCK_CASES}
    rds.flushdb()
    _write_stuck_cases(rds)
    lib = sorted(await lq.a.sweep(lock=60, abort=0.01))
    assert lib == py == _expected_swept()
    for k in STUCK_CASES:
        a, b = shape(raw(rds, k) or {}), shape(py_state[k] or {})
        assert a == b, (k, field_diff(a, b))


@checklist(35, direction=STATE)
@saqbug("U3")
async def test_sweep_of_terminal_record_in_active(lq, pyq, rds):
    """A `complete` record still listed in `active` (e.g. a crash between two
    writes) is swept by both (status != active). saq then aborts it with the
    record it read, turning a finished job into `aborted` (U3: abort writes
    over a terminal job); libsaq only drops the stale list entry and leaves
    the finished record alone."""
    rec = {"function": "noop", "queue": "default", "key": "done", "status": "complete", "result": 1,
           "attempts": 1, "completed": now_ms(), "retries": 0}
    for side in ("py", "lib"):
        rds.flushdb()
        rds.set(jid("done"), json.dumps(rec))
        rds.rpush(ACTIVE, jid("done"))
        if side == "py":
            swept = await pyq.sweep(lock=60, abort=0.01)
            assert len(swept) == 1
            assert raw(rds, "done")["status"] == "aborted"  # the finished job was rewritten
        else:
            assert await lq.a.sweep(lock=60, abort=0.01) == [jid("done")]
            assert raw(rds, "done") == rec  # untouched
        assert rds.llen(ACTIVE) == 0


# ---- #277: a job dequeued a moment ago is not swept by libsaq -------------


@checklist(32, direction=STATE)
@saqbug("#277")
async def test_sweep_grace_for_just_dequeued_job(lq, pyq, rds):
    """saq #277 / spec 7: a job that a worker has moved to `active` but not
    yet marked (status still `queued`) is swept at once by saq 0.26 (and its
    worker then runs it anyway: a double run). libsaq re-reads it after a
    short grace (~1 s) and leaves it alone once its worker marked it."""
    await pyq.enqueue("noop", key="j")
    job = await pyq.dequeue(1)
    sweep = asyncio.create_task(lq.a.sweep(lock=60, abort=0.01))
    # the sweep has listed `active` (it takes its lock in the same step) and
    # is in its grace period for the unmarked job: mark it now
    await await_until(lambda: rds.exists("saq:default:sweep"), 10, what="the sweep's listing")
    await compat.mark_active(job, "w1")
    assert await sweep == []
    assert raw(rds, "j")["status"] == "active" and rds.lrange(ACTIVE, 0, -1) == [jid("j")]
    if not IS013:
        # saq 0.26 sweeps the same state without waiting (0.13 re-reads after 0.1 s)
        rds.flushdb()
        await pyq.enqueue("noop", key="j")
        await pyq.dequeue(1)
        assert len(await pyq.sweep(lock=60, abort=0.01)) == 1


# ---- 34: a heartbeat-less job, run on one side, swept by the other --------


@checklist(34, direction=PY2LIB)
async def test_python_sweeper_libsaq_runner(pyq, rds, cworker):
    """A job with heartbeat 1 and retries 2 whose function sleeps 4 s without
    heartbeats, run by a libsaq worker and swept by Python saq every second,
    never completes: swept, stopped, retried, swept again, aborted."""
    w = cworker({"timers.abort": "0.2"})
    job = await pyq.enqueue("sleep", s=4, heartbeat=1, retries=2)
    # sweep only once the job runs: saq's sweep would take a job dequeued but
    # not yet marked and abort it with its stale copy (#277 + U3), which makes
    # this a different test
    await await_status(rds, job.key, "active", 3)
    t0 = time.time()
    final = None
    while time.time() - t0 < 8:
        rds.delete("saq:default:sweep")
        await pyq.sweep(lock=1, abort=2)
        rec = raw(rds, job.key)
        assert rec["status"] != "complete"
        if rec["status"] in ("aborted", "failed"):
            final = rec
            break
        await asyncio.sleep(0.3)
    assert final is not None and final["status"] == "aborted" and final["attempts"] == 2
    assert time.time() - t0 < 6
    assert [a for _f, _k, a in w.runs()] == [1, 2]


@checklist(34, direction=LIB2PY)
async def test_libsaq_sweeper_python_runner(lq, rds, pyworker):
    """The mirror: a Python worker runs the heartbeat-less job, libsaq sweeps.
    With a saq 0.26 worker the outcome can be spoiled by saq's double finish
    of an aborted job (U2): its second finish lands after the sweep's retry,
    removes the retried job from `incomplete` and `active` and overwrites the
    record, so the next attempt is either lost (aborted after 1 attempt) or
    runs where no sweeper can see it (complete at attempt 2). Both are saq
    0.26 worker outcomes, accepted for 0.26 only; 0.13 finishes once."""
    await (await pyworker(timers={"abort": 0.2})).start()
    key = lq.enqueue("sleep", s=4, heartbeat=1, retries=2).job["key"]
    await await_status(rds, key, "active", 3)
    t0 = time.time()
    final = None
    swept_once = False
    while time.time() - t0 < 8:
        rds.delete("saq:default:sweep")
        if await lq.a.sweep(lock=1, abort=2):
            swept_once = True
        rec = raw(rds, key)
        if rec["status"] in ("aborted", "failed", "complete"):
            final = rec
            break
        await asyncio.sleep(0.3)
    assert swept_once and final is not None
    if final["status"] == "complete":
        assert not IS013 and final["attempts"] == 2, final  # U2 (see above)
    else:
        assert final["status"] == "aborted" and final["error"] == "swept"
        assert final["attempts"] == 2 or (not IS013 and final["attempts"] == 1), final
        assert time.time() - t0 < 6
