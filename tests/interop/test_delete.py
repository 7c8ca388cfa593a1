# SPDX-License-Identifier: MIT
"""Issue 19, item 4: saq_queue_delete (an extension: saq has no delete) on a queue a Python saq
worker serves. Jobs Python saq enqueued and finished are listed by libsaq's iter_jobs and deleted
(Python saq's Queue.job no longer finds them); a scheduled job deleted before it is due never
runs; a job the Python worker runs is refused, then force-deleted: the Python worker notices the
abort (its abort check reads the record's status, or in 0.13 the abort marker), stops the job and
finishes it aborted, and the delete removes what is left. Meanwhile and afterwards the Python
worker processes the queue's other jobs exactly once with the right results."""

from __future__ import annotations

import time

import pytest

from helpers import counts, raw, wait_status, wait_until
from libsaq import ESTATE, ENOTFOUND


@pytest.mark.scenario("delete (extension): a Python saq worker on the queue keeps processing; "
                      "finished, scheduled and running (forced) jobs deleted")
async def test_delete_next_to_a_python_worker(lq, pyq, rds, pyworker_proc):
    py = pyworker_proc(concurrency=4)
    done = (await pyq.enqueue("add", key="done", a=1, b=2)).key
    wait_status(rds, done, ["complete"])
    assert done in {j["key"] for j in lq.iter_jobs(statuses=["complete"])}
    r = lq.delete(done)
    assert (r.int, r.job["status"]) == (1, "complete")
    assert raw(rds, done) is None and await pyq.job(done) is None

    # scheduled 2 s ahead, deleted now: it never runs
    await pyq.enqueue("noop", key="sched", scheduled=int(time.time()) + 2)
    assert lq.delete("sched").int == 1
    assert counts(rds) == (0, 0, 0)

    # running on the Python worker: refused, then forced
    await pyq.enqueue("sleep", key="long", s=60, timeout=120)
    wait_status(rds, "long", ["active"])
    r = lq.delete("long", check=False)
    assert r.status == ESTATE, r
    assert raw(rds, "long")["status"] == "active"
    t0 = time.time()
    r = lq.delete("long", force=True, wait_ms=10000)
    assert r.ok, r
    assert r.int == 2, f"{r}: the Python worker did not end it within the wait"
    assert time.time() - t0 < 8
    assert r.job["status"] == "aborted"
    assert raw(rds, "long") is None
    assert counts(rds) == (0, 0, 0)
    assert lq.delete("long", check=False).status == ENOTFOUND

    # the Python worker goes on: every other job runs once, with its result
    keys = [(await pyq.enqueue("add", key=f"p{i}", a=i, b=1)).key for i in range(10)]
    keys += [lq.enqueue("add", key=f"l{i}", a=i, b=2).job["key"] for i in range(10)]
    for k in keys:
        rec = wait_status(rds, k, ["complete"])
        assert rec["result"] == int(k[1:]) + (1 if k[0] == "p" else 2)
    time.sleep(2.5)  # past the deleted job's due time
    ran = [k for (_f, k, _a) in py.runs()]
    assert sorted(ran) == sorted(["done", "long"] + keys), ran
    assert raw(rds, "long") is None, "the aborted run did not write its record back"
    assert counts(rds) == (0, 0, 0)
