# SPDX-License-Identifier: MIT
"""Issue 19, libsaq's extensions next to Python saq workers on the same queue:
pause/resume (libsaq workers honour it, a Python saq worker does not read the
flag and goes on processing the queue's jobs correctly), the queue's job
defaults (written into the records, so a Python saq worker honours them too),
failed_ttl and retry.min_delay (applied where libsaq writes the outcome; a
Python saq worker keeps its own behaviour). Not checklist items of spec 6:
extensions, reported without an item."""

from __future__ import annotations

import time

import pytest

from helpers import jid, raw, wait_status, wait_until


@pytest.mark.scenario("pause (extension): a libsaq worker takes nothing from a paused queue, a Python saq "
                      "worker on it processes its jobs correctly")
async def test_python_worker_processes_a_paused_queue(lq, pyq, rds, pyworker_proc, cworker):
    cworker()
    assert lq.pause() == 1
    assert lq.paused() == 1
    time.sleep(1.0)  # the libsaq worker has read the flag by now (every 0.5 s)
    keys = [(await pyq.enqueue("noop", key=f"p{i}")).key for i in range(5)]
    time.sleep(1.2)
    assert rds.llen("saq:default:queued") == 5, "the libsaq worker took jobs from a paused queue"
    assert lq.info()["paused"] is True and lq.overview()["paused"] is True
    info = await pyq.info()  # saq's own info is unaffected by the extra key
    assert info["queued"] == 5
    # a Python saq worker does not know the flag: it processes the jobs, correctly
    pyworker_proc()
    for k in keys:
        rec = wait_status(rds, k, "complete")
        assert rec["attempts"] == 1
    assert rds.llen("saq:default:active") == 0
    assert lq.resume() == 1 and lq.paused() == 0
    assert lq.info()["paused"] is False
    # resumed: the queue keeps working with both workers on it
    more = [(await pyq.enqueue("noop", key=f"r{i}")).key for i in range(6)]
    for k in more:
        wait_status(rds, k, "complete")


@pytest.mark.scenario("job defaults (extension): a Python saq worker honours the queue's defaults (in the records)")
async def test_python_worker_honours_the_queues_job_defaults(make_lq, rds, pyworker_proc):
    lq = make_lq(defaults__retries=2, defaults__ttl=1234, defaults__timeout=1, defaults__retry_delay=0.2)
    pyworker_proc()
    ok = lq.enqueue("noop").job["key"]
    bad = lq.enqueue("fail").job["key"]
    slow = lq.enqueue("sleep", s=5).job["key"]
    given = lq.enqueue("fail", retries=1).job["key"]  # given by the caller: the default stays out
    rec = wait_status(rds, ok, "complete")
    assert rec["ttl"] == 1234 and 1200 < rds.ttl(jid(ok)) <= 1234  # Python's finish used the record's ttl
    rec = wait_status(rds, bad, "failed")
    assert rec["retries"] == 2 and rec["attempts"] == 2  # Python retried it once, as the default says
    rec = wait_status(rds, slow, "failed", timeout=15)
    assert rec["timeout"] == 1 and rec["attempts"] == 2  # each attempt cut after 1 s
    rec = wait_status(rds, given, "failed")
    assert rec["attempts"] == 1


@pytest.mark.scenario("failed_ttl, retry.min_delay (extension): applied where libsaq writes; a Python saq "
                      "worker keeps its own")
async def test_failed_ttl_and_min_delay_where_libsaq_writes_the_outcome(make_lq, rds, pyworker_proc, cworker):
    # a libsaq worker's queue with failed_ttl keeps its failures that long
    cworker(queue="libft", conf={"failed_ttl": 5000})
    lq = make_lq(name="libft")
    k = lq.enqueue("fail").job["key"]
    wait_status(rds, k, "failed", queue="libft")
    assert 4900 < rds.ttl(jid(k, "libft")) <= 5000
    # a Python saq worker keeps them for the job's ttl (it does not know failed_ttl)
    pyworker_proc(queue="pyft")
    lq2 = make_lq(name="pyft", failed_ttl=5000)
    k2 = lq2.enqueue("fail").job["key"]
    wait_status(rds, k2, "failed", queue="pyft")
    assert 0 < rds.ttl(jid(k2, "pyft")) <= 600
    # retry.min_delay: a libsaq retry of a job without a delay is due in 2 s, and a Python worker
    # then runs it normally
    lq3 = make_lq(name="pyft", **{"retry__min_delay": 2})
    k3 = lq3.enqueue("noop", scheduled=int(time.time()) + 3600).job["key"]
    lq3.retry(k3, "again")
    score = rds.zscore("saq:pyft:incomplete", jid(k3, "pyft"))
    assert 1.0 < score - time.time() <= 2.1
    rec = wait_until(lambda: (r := raw(rds, k3, "pyft")) and r.get("status") == "complete" and r, timeout=10,
                     what="the retried job to run on the Python worker")
    assert rec["attempts"] == 1
