# SPDX-License-Identifier: MIT
"""Checklist items 12 and 15: retry and its delay, field by field."""

from __future__ import annotations

import json
import time

import pytest
from saq import Job

import compat
import libsaq
from helpers import (IS013, LIB2PY, PY2LIB, STATE, checklist, counts, field_diff, jid, raw, shape,
                     saqbug)

INC = "saq:default:incomplete"


async def _dequeue_and_mark(pyq, key: str) -> Job:
    job = await pyq.dequeue(1)
    assert job is not None and job.key == key
    await compat.mark_active(job, "w1")
    return job


# ---- 12 --------------------------------------------------------------------


@checklist(12, direction=PY2LIB)
async def test_libsaq_retries_python_job(lq, pyq, rds):
    job = await pyq.enqueue("noop", retries=2)
    await _dequeue_and_mark(pyq, job.key)
    r = lq.retry(job.key, "try again")
    assert r.int == 1
    assert lq.stats()["retried"] == 1
    await job.refresh()
    assert compat.status_text(job.status) == "queued"
    assert job.error == "try again" and job.started == 0 and job.completed == 0
    assert job.attempts == 1
    rec = raw(rds, job.key)
    assert "started" not in rec and "completed" not in rec and rec["touched"] > 0
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (1, 1, 0)


@checklist(12, direction=LIB2PY)
async def test_python_retries_libsaq_job(lq, pyq, rds):
    key = lq.enqueue("noop", retries=2).job["key"]
    job = await _dequeue_and_mark(pyq, key)
    await pyq.retry(job, "try again")
    assert pyq.retried == 1
    v = lq.job(key).job_view
    assert v["status"] == "queued" and v["error"] == "try again"
    assert v["started"] == 0 and v["completed"] == 0 and v["attempts"] == 1
    assert lq.counts() == (1, 1, 0)


@checklist(12, direction=STATE)
async def test_retry_records_match(lq, pyq, rds):
    """Queue.retry by each side on the same state: same record, same lists."""
    results = {}
    for side in ("py", "lib"):
        rds.flushdb()
        job = await pyq.enqueue("noop", key="r", retries=2, meta={"m": 1})
        job = await _dequeue_and_mark(pyq, "r")
        if side == "py":
            await pyq.retry(job, "again")
        else:
            lq.retry("r", "again")
        results[side] = (raw(rds, "r"), counts(rds), rds.zscore(INC, jid("r")),
                         rds.lrange("saq:default:queued", 0, -1))
    (lib, lc, ls, ll), (py, pc, ps, pl) = results["lib"], results["py"]
    assert shape(lib) == shape(py), field_diff(shape(lib), shape(py))
    assert (lc, ls, ll) == (pc, ps, pl)


# ---- 15 --------------------------------------------------------------------

# (options, attempts already made before the failing run, delay range in s).
# A delay of exactly 0 means "pushed again at once" (score 0, in queued).
CASES = [
    ("no backoff, delay 0", {"retry_delay": 0}, 0, (0, 0)),
    ("no backoff, delay 1.0", {"retry_delay": 1.0}, 0, (1.0, 1.0)),
    ("backoff 0 is not written: behaves as no backoff", {"retry_delay": 1.0, "retry_backoff": 0}, 0, (1.0, 1.0)),
    ("backoff true, attempts 3, base 1 -> [0, 4)", {"retry_delay": 1, "retry_backoff": True}, 2, (0, 4)),
    ("backoff cap 0.5 (a number), base 10", {"retry_delay": 10, "retry_backoff": 0.5}, 2, (0, 0.5)),
    ("backoff 1 is a cap of 1 s, not true", {"retry_delay": 100, "retry_backoff": 1}, 4, (0, 1)),
    ("backoff with base 0 -> 0", {"retry_delay": 0, "retry_backoff": True}, 3, (0, 0)),
]


def _delay_of(rds, key: str) -> float:
    rec = raw(rds, key)
    score = rds.zscore(INC, jid(key))
    if score == 0:
        assert jid(key) in rds.lrange("saq:default:queued", 0, -1)
        return 0.0
    return score - rec["touched"] / 1000


def _check(rds, keys):
    for (name, _o, _a, (lo, hi)), ks in zip(CASES, keys):
        delays = [_delay_of(rds, k) for k in ks]
        for d in delays:
            if lo == hi:
                assert abs(d - lo) < 0.01, (name, delays)
            else:
                assert lo - 0.01 <= d < hi + 0.01, (name, delays)
        if name.startswith("backoff true"):
            # jitter over [0, 4): not all eight below 1 (would mean no 2^2 factor)
            assert max(delays) > 1, (name, delays)


N_EACH = 8


@checklist(15, direction=PY2LIB)
async def test_backoff_by_libsaq_worker(pyq, rds, cworker):
    keys = []
    for _name, opts, attempts, _r in CASES:
        ks = []
        for _ in range(N_EACH):
            job = Job(function="fail", retries=10, attempts=attempts, **opts)
            await pyq.enqueue(job)
            ks.append(job.key)
        keys.append(ks)
    n = len(CASES) * N_EACH
    w = cworker({"burst": "true", "max_burst_jobs": str(n), "dequeue_timeout": "0.5", "concurrency": "4"})
    assert w.wait_exit(20) == 0
    _check(rds, keys)


@checklist(15, direction=LIB2PY)
async def test_backoff_by_python_worker(lq, rds, pyworker):
    keys = []
    for _name, opts, attempts, _r in CASES:
        ks = []
        for _ in range(N_EACH):
            rec = {"function": "fail", "retries": 10, "attempts": attempts, **opts}
            j = libsaq.Job(json_text=json.dumps(rec))
            assert lq.enqueue_job(j).int == 1
            ks.append(j.key)
        keys.append(ks)
    w = await pyworker(dequeue_timeout=0.5)
    for _ in range(len(CASES) * N_EACH):
        await w.process()
    _check(rds, keys)


@checklist(14, 15, direction=STATE)
async def test_delayed_retry_records_match(pyq, rds, cworker, pyworker):
    """A delayed retry leaves the same record and score either way (the
    JSON `scheduled` is not changed; the zset score carries the due time)."""
    for side in ("py", "lib"):
        await pyq.enqueue("fail", key=side, retries=3, retry_delay=50)
        if side == "py":
            w = await pyworker(dequeue_timeout=0.5)
            await w.process()
        else:
            assert cworker({"burst": "true", "max_burst_jobs": "1", "dequeue_timeout": "0.5"}).wait_exit(10) == 0
    py, lib = raw(rds, "py"), raw(rds, "lib")
    assert shape(lib, {"key"}, error_prefix=True) == shape(py, {"key"}, error_prefix=True), field_diff(lib, py)
    assert "scheduled" not in lib
    for side in ("py", "lib"):
        assert abs(rds.zscore(INC, jid(side)) - raw(rds, side)["touched"] / 1000 - 50) < 0.01
    assert counts(rds) == (0, 2, 0)


# ---- U1: an immediate retry of a scheduled job ----------------------------


@checklist(12, direction=STATE)
@saqbug("U1")
async def test_immediate_retry_of_scheduled_job_writes_score_0(lq, pyq, rds):
    """saq bug U1: saq's retry re-adds a scheduled job with score = its old
    `scheduled` (a past time) AND pushes it onto queued, so the next promotion
    pushes it again: two queue entries, a double run. libsaq writes score 0
    ("already pushed", which Python reads the same way), so the job is queued
    exactly once. Compared here: Python's state (showing the bug) and
    libsaq's."""
    out = {}
    for side in ("py", "lib"):
        rds.flushdb()
        past = time.time() - 5
        job = await pyq.enqueue("noop", key="s", scheduled=past, retries=3)
        assert await pyq.schedule() == [job.id] or IS013
        job = await _dequeue_and_mark(pyq, "s")
        if side == "py":
            await pyq.retry(job, "again")
        else:
            lq.retry("s", "again")
        score = rds.zscore(INC, jid("s"))
        rds.delete("saq:default:schedule")  # let the next promotion run
        await pyq.schedule()
        out[side] = (score, rds.lrange("saq:default:queued", 0, -1))
    assert out["py"][0] == pytest.approx(past, abs=1) and out["py"][1] == [jid("s"), jid("s")]
    assert out["lib"] == (0, [jid("s")])
