# SPDX-License-Identifier: MIT
"""The mixed fleet: one queue, two Python saq workers and two libsaq workers
(separate processes), 2,000 jobs enqueued half by Python and half by libsaq.
Every job must complete exactly once, and both sides must read every result."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

import compat
from helpers import counts

N = 2000


@pytest.mark.scenario("mixed fleet: 2 Python + 2 libsaq workers, 2,000 jobs")
async def test_mixed_fleet(lq, pyq, rds, cworker, pyworker_proc):
    pws = [pyworker_proc(concurrency=10) for _ in range(2)]
    cws = [cworker({"concurrency": "10"}) for _ in range(2)]
    t0 = time.time()
    py_keys = [f"py-{i}" for i in range(N // 2)]
    lib_keys = [f"lib-{i}" for i in range(N // 2)]

    async def py_enqueue():
        for chunk in range(0, len(py_keys), 100):
            await asyncio.gather(*(pyq.enqueue("add", key=k, a=i, b=1)
                                   for i, k in enumerate(py_keys[chunk:chunk + 100], start=chunk)))

    def lib_enqueue():
        for i, k in enumerate(lib_keys):
            assert lq.enqueue("add", key=k, a=i, b=2).int == 1

    await asyncio.gather(py_enqueue(), asyncio.to_thread(lib_enqueue))
    deadline = time.time() + 60
    while counts(rds)[1] and time.time() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.time() - t0
    assert counts(rds) == (0, 0, 0), f"not finished after {elapsed:.1f} s"

    # every job ran exactly once, on some worker, at its first attempt
    runs = [r for w in pws + cws for r in w.runs()]
    per_key = Counter(k for _f, k, _a in runs)
    assert len(per_key) == N
    assert max(per_key.values()) == 1, [k for k, n in per_key.items() if n > 1][:10]
    assert all(a == 1 for _f, _k, a in runs)
    by_worker = [len(w.runs()) for w in pws + cws]
    assert sum(by_worker[:2]) > 0 and sum(by_worker[2:]) > 0, by_worker

    # Python reads every result
    jobs = await compat.jobs(pyq, py_keys + lib_keys)
    for i, job in enumerate(jobs):
        assert compat.status_text(job.status) == "complete", job
        assert job.attempts == 1
        a = i if i < N // 2 else i - N // 2
        assert job.result == a + (1 if i < N // 2 else 2)
    # libsaq reads every result
    for start in range(0, N, 500):
        ks = (py_keys + lib_keys)[start:start + 500]
        r = lq.jobs(ks)
        for k, v in zip(ks, r.job_views):
            side, i = k.split("-")
            assert v["status"] == "complete" and v["result"] == int(i) + (1 if side == "py" else 2)
    for w in pws + cws:
        assert w.stop() == 0, w.errors()[-2000:]
    print(f"\nmixed fleet ({compat.DIALECT}): {N} jobs in {elapsed:.1f} s; runs per worker "
          f"(py, py, lib, lib) = {by_worker}")
