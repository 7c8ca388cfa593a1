# SPDX-License-Identifier: MIT
"""Flows (issue 19: saq_queue_enqueue_flow, an extension Python saq ignores)
on queues that Python saq workers serve.

A Python saq worker runs a flow's members and its callback as ordinary jobs,
each exactly once, with the records it expects; it does not do the flow's
bookkeeping (the flow's keys are libsaq's own, under saq:<queue>:libsaq:), so
the callback is enqueued by a libsaq worker's periodic check or by a
saq_queue_flow call. In a mixed fleet every callback runs exactly once, with
every member's outcome, whoever ran the members."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

import compat
import libsaq
from helpers import counts


def _flow(lq, fid: str, members: list[tuple[str, str, dict]], **cb_kwargs) -> dict:
    jobs = [libsaq.Job(fn, key=key, **kw) for fn, key, kw in members]
    cb = libsaq.Job("echo", key=fid, **cb_kwargs)
    r = lq.enqueue_flow(jobs, cb)
    assert r.int == 1, r
    return r.json


async def _wait(what: str, cond, timeout: float = 30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _status(lq, key: str) -> str | None:
    rec = lq.get(key)
    return rec and rec["status"]


@pytest.mark.scenario("flow served by Python saq alone: members and callback run once; saq_queue_flow completes it")
async def test_flow_on_python_worker(make_lq, redis_url, rds, pyworker_proc):
    lq = make_lq(name="fl-py")
    py = pyworker_proc(concurrency=4, queue="fl-py")
    members = [("add", f"m-{i}", {"a": i, "b": 100}) for i in range(8)] + [("fail", "m-bad", {"message": "no"})]
    out = _flow(lq, "fl-cb", members, tag="py")
    assert out == {"id": "fl-cb", "callback": "fl-cb", "members": [k for _f, k, _kw in members]}
    await _wait("the members", lambda: all(_status(lq, k) in ("complete", "failed") for _f, k, _kw in members))
    assert [_status(lq, k) for _f, k, _kw in members] == ["complete"] * 8 + ["failed"]
    await asyncio.sleep(1.0)
    assert lq.get("fl-cb") is None  # Python saq does not do the flow's bookkeeping
    assert lq.flow("fl-cb")["pending"] == 0  # the read records the members: the callback is enqueued
    await _wait("the callback", lambda: _status(lq, "fl-cb") == "complete")

    cb = lq.get("fl-cb")
    flow = cb["result"]["flow"]  # echo returns its kwargs: what Python saq passed the callback
    assert cb["result"]["tag"] == "py"
    assert flow["id"] == "fl-cb"
    assert [(m["key"], m["status"]) for m in flow["members"]] == \
        [(k, "complete") for _f, k, _kw in members[:8]] + [("m-bad", "failed")]
    assert [m["result"] for m in flow["members"][:8]] == [i + 100 for i in range(8)]
    assert "no" in flow["members"][8]["error"]
    per_key = Counter(k for _f, k, _a in py.runs())
    assert per_key == Counter({**{k: 1 for _f, k, _kw in members}, "fl-cb": 1})

    # Python saq reads the callback's record like any other
    pq = await compat.make_queue(redis_url, "fl-py")
    try:
        (job,) = await compat.jobs(pq, ["fl-cb"])
        assert compat.status_text(job.status) == "complete"
        assert job.kwargs["flow"]["members"][0]["key"] == "m-0"
    finally:
        await pq.disconnect()
    assert counts(rds, "fl-py") == (0, 0, 0)


@pytest.mark.scenario("flows on a mixed fleet: 1 Python + 1 libsaq worker, 12 flows, each callback once")
async def test_flows_on_mixed_fleet(make_lq, rds, cworker, pyworker_proc):
    lq = make_lq(name="fl-mix")
    py = pyworker_proc(concurrency=4, queue="fl-mix")
    cw = cworker({"concurrency": "4"}, queue="fl-mix")
    nflows, nmembers = 12, 5
    want = {}
    for f in range(nflows):
        members = [("sleep", f"f{f}-m{i}", {"s": 0.01}) for i in range(nmembers - 1)]
        members.append(("fail", f"f{f}-bad", {"message": "boom"}))
        _flow(lq, f"f{f}-cb", members)
        want[f"f{f}-cb"] = [(k, "failed" if fn == "fail" else "complete") for fn, k, _kw in members]
    await _wait("every callback", lambda: all(_status(lq, k) == "complete" for k in want), timeout=60)
    await asyncio.sleep(2.5)  # a periodic check or two more: nothing runs twice

    runs = cw.runs() + py.runs()
    per_key = Counter(k for _f, k, _a in runs)
    expected = {k for ms in want.values() for k, _st in ms} | set(want)
    assert set(per_key) == expected
    assert max(per_key.values()) == 1, [k for k, n in per_key.items() if n > 1]
    # both sides took part, so some flows were completed by the libsaq side for Python's members
    c_keys, p_keys = {k for _f, k, _a in cw.runs()}, {k for _f, k, _a in py.runs()}
    assert c_keys and p_keys, (len(c_keys), len(p_keys))
    for fid, members in want.items():
        flow = lq.get(fid)["result"]["flow"]
        assert [(m["key"], m["status"]) for m in flow["members"]] == members, fid
        assert lq.flow(fid)["state"] == "done"
    assert counts(rds, "fl-mix") == (0, 0, 0)
    assert rds.hlen("saq:fl-mix:libsaq:flowof") == 0
    assert rds.zcard("saq:fl-mix:libsaq:flows") == 0


@pytest.mark.scenario("flow whose outcomes exceed max_payload_bytes, served by Python saq: the callback runs once, "
                      "told the results were omitted; saq_queue_flow keeps them")
async def test_flow_outcomes_over_max_payload_on_python_worker(make_lq, pyworker_proc):
    lq = make_lq(name="fl-big", max_payload_bytes=16384)
    py = pyworker_proc(concurrency=4, queue="fl-big")
    pad = "x" * 3000
    members = [("echo", f"b{i}", {"pad": pad}) for i in range(7)]
    _flow(lq, "fl-big-cb", members)
    await _wait("the members", lambda: all(_status(lq, k) == "complete" for _f, k, _kw in members))
    assert lq.flow("fl-big-cb")["pending"] == 0  # the read records the members: the callback is enqueued
    await _wait("the callback", lambda: _status(lq, "fl-big-cb") == "complete")
    flow = lq.get("fl-big-cb")["result"]["flow"]  # echo returns its kwargs: what Python saq passed
    assert flow["omitted"] == ["result"]
    assert [(m["key"], m["status"], m["result"]) for m in flow["members"]] == \
        [(k, "complete", None) for _f, k, _kw in members]
    assert [m["result"] for m in lq.flow("fl-big-cb")["members"]] == [{"pad": pad}] * 7
    assert Counter(k for _f, k, _a in py.runs())["fl-big-cb"] == 1
