# SPDX-License-Identifier: MIT
"""Rate limits and global concurrency (saq_worker_set_limit, an extension in
libsaq's own keys) on a queue that a Python saq worker serves too. The libsaq
worker limits `sleep` to 1 running at once and 4 starts per second; the jobs
it holds back wait as saq sees a waiting job: status `queued`, in `queued` or
scheduled in `incomplete`, never failed, never an extra attempt. Then a
Python saq worker joins (it does not honour the limit): every job runs
exactly once, on one worker or the other, completes with attempts 1, and
nothing is left behind; Python saq's info() and job() read the queue as
usual."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

import compat
from helpers import counts, jid

Q = "lim"
N = 24


@pytest.mark.scenario("limits: libsaq worker with a function limit + Python saq worker, each job once")
async def test_limits_next_to_python(make_lq, rds, redis_url, cworker, pyworker_proc):
    q = make_lq(name=Q)
    cw = cworker({"concurrency": "4"}, queue=Q, extra=["--limit", "sleep=4/1,1"])
    keys = [f"s-{i}" for i in range(N)]
    for k in keys:
        assert q.enqueue("sleep", key=k, s=0.05).int == 1
    others = [f"n-{i}" for i in range(6)]
    for k in others:
        assert q.enqueue("noop", key=k).int == 1

    # the libsaq worker alone: at most 1 sleep at once, the noops pass
    pq = await compat.make_queue(redis_url, Q)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            done = {k for _f, k, _a in cw.runs()}
            if set(others) <= done:
                break
            await asyncio.sleep(0.05)
        assert set(others) <= {k for _f, k, _a in cw.runs()}
        # what Python saq reads meanwhile: the waiting jobs are queued, none failed
        jobs = await compat.jobs(pq, keys)
        statuses = Counter(compat.status_text(j.status) for j in jobs)
        assert set(statuses) <= {"queued", "active", "complete"}, statuses
        assert statuses["queued"] > 0, statuses
        # one snapshot: a job whose record says queued is in `queued`, deferred
        # (a positive score in `incomplete`), or just moved to `active`
        with rds.pipeline(transaction=True) as p:
            p.lrange(f"saq:{Q}:queued", 0, -1)
            p.lrange(f"saq:{Q}:active", 0, -1)
            p.zrange(f"saq:{Q}:incomplete", 0, -1, withscores=True)
            for k in keys:
                p.get(jid(k, Q))
            queued, active, incomplete, *recs = p.execute()
        incomplete = dict(incomplete)
        deferred = 0
        for k, rec in zip(keys, recs):
            if '"status": "queued"' in rec or '"status":"queued"' in rec:
                i = jid(k, Q)
                assert i in queued or i in active or incomplete.get(i, 0) > 0, k
                deferred += incomplete.get(i, 0) > 0
        assert deferred > 0
        info = await pq.info()
        assert cw.id in info["workers"]

        # a Python saq worker joins: the rest is processed, each job once
        py = pyworker_proc(concurrency=4, queue=Q, timers={"schedule": 0.1})
        deadline = time.time() + 60
        while counts(rds, Q)[1] and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert counts(rds, Q) == (0, 0, 0)
        c_runs, p_runs = cw.runs(), py.runs()
        per_key = Counter(k for _f, k, _a in c_runs + p_runs)
        assert set(per_key) == set(keys) | set(others)
        assert max(per_key.values()) == 1, [k for k, n in per_key.items() if n > 1]
        assert all(a == 1 for _f, _k, a in c_runs + p_runs)
        jobs = await compat.jobs(pq, keys + others)
        assert all(compat.status_text(j.status) == "complete" for j in jobs)
        assert all(j.attempts == 1 for j in jobs)
        # the libsaq worker left no running slot behind
        assert rds.zcard(f"saq:{Q}:libsaq:limit:fn:sleep:running") == 0
    finally:
        try:
            await pq.disconnect()
        except Exception:
            pass
    assert cw.stop() == 0 and py.stop() == 0
