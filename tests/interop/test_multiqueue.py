# SPDX-License-Identifier: MIT
"""A libsaq worker serving several queues (saq_worker_add_queue, saq #284)
next to a Python saq worker on one of them: the libsaq worker serves queues
mq-a (its own) and mq-b in strict order, a Python saq worker serves mq-b
too. Every job of both queues runs exactly once, mq-a's only on libsaq, mq-b's
on both; Python saq's info() of each queue lists libsaq's part of the worker
there (its id on mq-b is the worker's id + ".1")."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

import compat
from helpers import counts

N = 150


@pytest.mark.scenario("multi-queue worker: libsaq on queues [mq-a, mq-b] + Python saq on mq-b, each job once")
async def test_multiqueue_worker_next_to_python(make_lq, rds, redis_url, cworker, pyworker_proc):
    qa, qb = make_lq(name="mq-a"), make_lq(name="mq-b")
    py = pyworker_proc(concurrency=4, queue="mq-b")
    cw = cworker({"concurrency": "6"}, queue="mq-a", extra=["--also-queue", "mq-b"])
    keys_a = [f"a-{i}" for i in range(N)]
    keys_b = [f"b-{i}" for i in range(N)]
    for ka, kb in zip(keys_a, keys_b):
        assert qb.enqueue("sleep", key=kb, s=0.01).int == 1
        assert qa.enqueue("sleep", key=ka, s=0.01).int == 1
    deadline = time.time() + 60
    while (counts(rds, "mq-a")[1] or counts(rds, "mq-b")[1]) and time.time() < deadline:
        await asyncio.sleep(0.05)
    assert counts(rds, "mq-a") == (0, 0, 0)
    assert counts(rds, "mq-b") == (0, 0, 0)

    c_runs, p_runs = cw.runs(), py.runs()
    per_key = Counter(k for _f, k, _a in c_runs + p_runs)
    assert set(per_key) == set(keys_a) | set(keys_b)
    assert max(per_key.values()) == 1, [k for k, n in per_key.items() if n > 1][:10]
    assert all(a == 1 for _f, _k, a in c_runs + p_runs)
    c_keys = {k for _f, k, _a in c_runs}
    p_keys = {k for _f, k, _a in p_runs}
    assert set(keys_a) <= c_keys and not (p_keys & set(keys_a))
    assert p_keys and c_keys & set(keys_b), (len(p_keys), len(c_keys & set(keys_b)))
    for k in keys_a + keys_b:
        assert qa.get(k) if k.startswith("a-") else qb.get(k)

    # Python saq's registry of each queue lists libsaq's part of the worker on it
    pa, pb = await compat.make_queue(redis_url, "mq-a"), await compat.make_queue(redis_url, "mq-b")
    try:
        ia, ib = await pa.info(), await pb.info()
        assert cw.id in ia["workers"], ia["workers"].keys()
        assert f"{cw.id}.1" in ib["workers"] and py.id in ib["workers"], ib["workers"].keys()
        jobs = await compat.jobs(pb, keys_b)
        assert all(compat.status_text(j.status) == "complete" for j in jobs)
        wids = {getattr(j, "worker_id", None) for j in jobs} - {None}
        if compat.supports_worker_id():
            assert f"{cw.id}.1" in wids and py.id in wids, wids
    finally:
        for q in (pa, pb):
            try:
                await q.disconnect()
            except Exception:
                pass
    assert cw.stop() == 0 and py.stop() == 0
