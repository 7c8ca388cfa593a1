# SPDX-License-Identifier: MIT
"""Checklist items 1-4, 7-9, 49, 51: enqueue, ids and the job JSON."""

from __future__ import annotations

import json
import time

import pytest
from saq import Job

import compat
import libsaq
from helpers import (LIB2PY, PY2LIB, STATE, IS013, checklist, counts, jid, raw, field_diff,
                     shape)


def pydict(job) -> dict:
    """Python's to_dict() as it goes to Redis (json round trip)."""
    return json.loads(json.dumps(job.to_dict()))


# ---- 1 ---------------------------------------------------------------------


@checklist(1, direction=LIB2PY)
async def test_enqueue_by_libsaq_read_by_python(lq, pyq, rds):
    j = libsaq.Job("noop")
    r = lq.enqueue_job(j)
    assert r.int == 1
    key = r.job["key"]
    stored = await pyq.job(key)
    assert pydict(stored) == r.job == raw(rds, key)
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (1, 1, 0)
    before = rds.get(jid(key))
    assert lq.enqueue_job(j).int == 0  # the same job object again
    assert await pyq.enqueue("noop", key=key) is None  # Python sees it as a duplicate too
    assert rds.get(jid(key)) == before
    assert counts(rds) == (1, 1, 0)
    assert lq.enqueue("noop").int == 1
    assert await pyq.count("queued") == 2


@checklist(1, direction=LIB2PY)
async def test_every_field_set_in_c_is_what_python_loads(lq, pyq, rds):
    """Issue 2's acceptance test: a job enqueued through the C API with every
    settable field is loaded by Python saq's Queue.job(key) with each field
    equal to what was set (units as on the wire: seconds, ms)."""
    when = int(time.time()) + 3600
    kwargs = {"n": 12345678901234567890, "f": 0.1, "s": "caf\u00e9 \U0001f600", "l": [1, {"x": None}], "b": False}
    r = lq.enqueue("report", key="every-field", timeout=2.5, heartbeat=3, retries=4, ttl=120,
                   retry_delay=1.5, retry_backoff=30, scheduled=when, meta={"trace": "t-1", "n": 2},
                   **kwargs)
    assert r.int == 1
    job = await pyq.job("every-field")
    assert job is not None
    assert (job.function, job.key, job.queue.name) == ("report", "every-field", pyq.name)
    assert job.kwargs == kwargs
    assert (job.timeout, job.heartbeat, job.retries, job.ttl) == (2.5, 3, 4, 120)
    assert (job.retry_delay, job.retry_backoff, job.scheduled) == (1.5, 30, when)
    assert job.meta == {"trace": "t-1", "n": 2}
    assert compat.status_text(job.status) == "queued"
    assert job.queued == r.job["queued"] and abs(job.queued - time.time() * 1000) < 60_000
    assert (job.attempts, job.started, job.completed, job.progress) == (0, 0, 0, 0)
    assert job.result is None and job.error is None


@checklist(1, direction=PY2LIB)
async def test_enqueue_by_python_read_by_libsaq(lq, pyq, rds):
    job = Job(function="noop")
    assert await pyq.enqueue(job) is job
    assert lq.get(job.key) == pydict(job) == raw(rds, job.key)
    assert lq.counts() == (1, 1, 0)
    before = rds.get(job.id)
    assert lq.enqueue("noop", key=job.key).int == 0
    assert lq.enqueue_job(libsaq.Job("noop", key=job.key)).int == 0
    assert await pyq.enqueue(job) is None
    assert rds.get(job.id) == before
    assert await pyq.enqueue("noop")
    assert lq.count("queued") == 2


# ---- 2 ---------------------------------------------------------------------


@checklist(2, direction=LIB2PY)
async def test_enqueue_by_name_libsaq(lq, pyq):
    r = lq.enqueue("test", y=1, timeout=1)
    job = await pyq.job(r.job["key"])
    assert job.kwargs == {"y": 1}
    assert job.timeout == 1
    assert job.heartbeat == 0 and job.retries == 1 and job.ttl == 600


@checklist(2, direction=PY2LIB)
async def test_enqueue_by_name_python(lq, pyq):
    job = await pyq.enqueue("test", y=1, timeout=1)
    v = lq.job(job.key).job_view
    assert v["kwargs"] == {"y": 1}
    assert v["timeout"] == 1
    assert v["heartbeat"] == 0 and v["retries"] == 1 and v["ttl"] == 600
    assert v["function"] == "test" and v["status"] == "queued"


# ---- 3 / 51 ----------------------------------------------------------------


@checklist(3, 51, direction=LIB2PY)
@pytest.mark.parametrize("key", ["1", "a", "a:b"])
async def test_key_and_id_libsaq(lq, pyq, rds, key):
    r = lq.enqueue("noop", key=key)
    assert r.job_view["id"] == f"saq:job:default:{key}"
    assert rds.exists(f"saq:job:default:{key}")
    job = await pyq.job(key)
    assert job.key == key and job.id == f"saq:job:default:{key}"
    assert pyq.job_key_from_id(job.id) == key
    assert await pyq.enqueue("noop", key=key) is None
    assert await pyq.enqueue(Job(function="noop", key=key)) is None


@checklist(3, 51, direction=PY2LIB)
@pytest.mark.parametrize("key", ["1", "a", "a:b"])
async def test_key_and_id_python(lq, pyq, rds, key):
    job = await pyq.enqueue("noop", key=key)
    assert job.id == f"saq:job:default:{key}"
    r = lq.job(key)
    assert r.job_view["key"] == key and r.job_view["id"] == job.id
    assert lq.enqueue("noop", key=key).int == 0
    assert lq.enqueue_job(libsaq.Job("noop", key=key)).int == 0
    assert lq.jobs([key]).job_views[0]["key"] == key


# ---- 4 ---------------------------------------------------------------------


@checklist(4, direction=LIB2PY)
async def test_scheduled_libsaq(lq, pyq, rds):
    when = time.time() + 10.123456
    r = lq.enqueue("noop", scheduled=when)
    key = r.job["key"]
    assert (await pyq.count("queued"), await pyq.count("incomplete"), await pyq.count("active")) == (0, 1, 0)
    assert rds.zscore("saq:default:incomplete", jid(key)) == when
    assert (await pyq.job(key)).scheduled == when


@checklist(4, direction=PY2LIB)
async def test_scheduled_python(lq, pyq, rds):
    when = time.time() + 10.123456
    job = await pyq.enqueue("noop", scheduled=when)
    assert lq.counts() == (0, 1, 0)
    assert rds.zscore("saq:default:incomplete", job.id) == when
    assert lq.job(job.key).job_view["scheduled"] == when


@checklist(4, direction=STATE)
@pytest.mark.parametrize("when", [1e9 + 0.1, 2e9 + 0.123456789, 1700000000, 4102444800.5])
async def test_scheduled_score_text(lq, pyq, rds, when):
    """The same `scheduled` gives the same score and JSON value either way."""
    await pyq.enqueue("noop", key="py", scheduled=when)
    lq.enqueue("noop", key="lib", scheduled=when)
    assert rds.zscore("saq:default:incomplete", jid("lib")) == rds.zscore("saq:default:incomplete", jid("py")) == when
    assert raw(rds, "lib")["scheduled"] == raw(rds, "py")["scheduled"]


# ---- 7 ---------------------------------------------------------------------


def _queue_keys(rds) -> list[str]:
    """Keys other than the worker registry, the upkeep locks every worker
    takes at start (saq:<q>:schedule, saq:<q>:sweep), libsaq's liveness
    entries (saq:<q>:libsaq:alive) and its registry samples (saq:<q>:libsaq:samples,
    behind saq_queue_overview's rates): extensions saq ignores."""
    return sorted(k for k in rds.keys("*")
                  if k not in ("saq:default:stats", "saq:default:sweep", "saq:default:schedule",
                               "saq:default:libsaq:alive", "saq:default:libsaq:samples")
                  and not k.startswith("saq:default:worker_info:")
                  and not k.startswith("saq:default:stats:"))


LOCKS = ("saq:default:schedule", "saq:default:sweep")


@checklist(7, direction=STATE)
async def test_dequeue_timeout_creates_no_keys(lq, pyq, rds, cworker):
    # Python: a dequeue with timeout 1 on an empty queue returns None after ~1 s
    t0 = time.time()
    assert await pyq.dequeue(1) is None
    assert 0.9 <= time.time() - t0 < 2.5
    assert rds.keys("*") == []
    py_keys = None
    if not IS013:
        # a Python burst worker on the empty queue: the keys a worker leaves
        w = compat.make_worker(pyq, [], burst=True, dequeue_timeout=1)
        await w.start()
        py_keys = sorted(k.replace(w.id, "<id>") for k in rds.keys("*") if k not in LOCKS)
        rds.flushdb()
    # libsaq: a burst worker whose first dequeue (timeout 1) finds nothing
    # stops; besides its registry entry and the upkeep locks it writes no key
    t0 = time.time()
    cw = cworker({"burst": "true", "dequeue_timeout": "1"})
    assert cw.wait_exit(10) == 0
    assert 0.9 <= time.time() - t0 < 4
    assert _queue_keys(rds) == []
    if py_keys is not None:
        # libsaq workers write a dual registry (spec 7, "dual registry"): the
        # 0.13 record saq:<q>:stats:<id> next to the 0.26 worker_info record,
        # so 0.13 UIs see them too. That key, the liveness set
        # saq:<q>:libsaq:alive (fast crash recovery) and the registry samples
        # saq:<q>:libsaq:samples (the overview's rates) are libsaq's additions.
        # (the upkeep locks expire after 1 s, so whether they are still there
        # depends on timing)
        lib_keys = sorted(k.replace(cw.id, "<id>") for k in rds.keys("*")
                          if k not in (f"saq:default:stats:{cw.id}", "saq:default:libsaq:alive",
                                       "saq:default:libsaq:samples")
                          and k not in LOCKS)
        assert lib_keys == py_keys, (lib_keys, py_keys)


# ---- 8 ---------------------------------------------------------------------


@checklist(1, 8, direction=STATE)
async def test_enqueue_json_fields(lq, pyq, rds):
    await pyq.enqueue("noop", key="k1", a=1)
    py = raw(rds, "k1")
    rds.flushdb()
    lq.enqueue("noop", key="k1", a=1)
    lib = raw(rds, "k1")
    expected = {"function", "kwargs", "queue", "key", "queued", "status"}
    assert set(py) == expected
    assert set(lib) == expected, field_diff(lib, py)
    assert shape(lib) == shape(py)
    assert lib["status"] == "queued" and lib["kwargs"] == {"a": 1} and lib["queue"] == "default"


@checklist(8, direction=LIB2PY)
async def test_enqueue_json_read_by_python(lq, pyq, rds):
    lq.enqueue("noop", key="k1", a=1)
    job = await pyq.job("k1")
    assert pydict(job) == raw(rds, "k1")
    assert compat.status_text(job.status) == "queued"


@checklist(8, direction=PY2LIB)
async def test_enqueue_json_read_by_libsaq(lq, pyq, rds):
    await pyq.enqueue("noop", key="k1", a=1)
    assert lq.get("k1") == raw(rds, "k1")


# ---- 9 ---------------------------------------------------------------------


@checklist(9, direction=LIB2PY)
async def test_abort_marker_blocks_python_enqueue(lq, pyq, rds):
    """libsaq's abort marker stops Python's enqueue of that key until it is gone."""
    when = time.time() + 100
    await pyq.enqueue("noop", key="m", scheduled=when)
    lq.abort("m", "stop", ttl=1)
    assert rds.get("saq:abort:m") == "stop"
    before = rds.get(jid("m"))
    assert await pyq.enqueue("noop", key="m") is None
    assert rds.get(jid("m")) == before
    assert counts(rds) == (0, 0, 0)
    deadline = time.time() + 3
    while rds.exists("saq:abort:m") and time.time() < deadline:
        time.sleep(0.05)
    assert not rds.exists("saq:abort:m")
    job = await pyq.enqueue("noop", key="m", b=2)
    assert job is not None
    rec = raw(rds, "m")
    assert rec["status"] == "queued" and rec["kwargs"] == {"b": 2}
    assert rds.ttl(jid("m")) == -1
    assert counts(rds) == (1, 1, 0)


@checklist(9, direction=PY2LIB)
async def test_abort_marker_blocks_libsaq_enqueue(lq, pyq, rds):
    """Python's abort marker stops libsaq's enqueue of that key until it is gone."""
    job = await pyq.enqueue("noop", key="m", scheduled=time.time() + 100)
    await pyq.abort(job, "stop", ttl=1)
    assert rds.get("saq:abort:m") == "stop"
    before = rds.get(jid("m"))
    assert lq.enqueue("noop", key="m").int == 0
    assert rds.get(jid("m")) == before
    deadline = time.time() + 3
    while rds.exists("saq:abort:m") and time.time() < deadline:
        time.sleep(0.05)
    assert lq.enqueue("noop", key="m", b=2).int == 1
    rec = raw(rds, "m")
    assert rec["status"] == "queued" and rec["kwargs"] == {"b": 2}
    assert rds.ttl(jid("m")) == -1
    assert counts(rds) == (1, 1, 0)


# ---- 49 --------------------------------------------------------------------

OPTION_SETS = [
    {},
    {"timeout": 10.0},
    {"timeout": 0},
    {"timeout": None},
    {"timeout": 0.05},
    {"heartbeat": 0.0},
    {"heartbeat": 2},
    {"retries": 0},
    {"retries": 3},
    {"ttl": 0},
    {"ttl": -1},
    {"ttl": 5},
    {"retry_delay": 0.0},
    {"retry_delay": 1.5},
    {"retry_backoff": False},
    {"retry_backoff": 0},
    {"retry_backoff": True},
    {"retry_backoff": 1},
    {"retry_backoff": 2.5},
    {"scheduled": 0},
    {"scheduled": 1234567890.5},
    {"progress": 0},
    {"progress": 0.5},
    {"meta": {}},
    {"meta": {"x": 1}},
    {"kwargs": {}},
    {"kwargs": {"a": [1, {"b": None}], "u": "\u00e9\u4e2d"}},
]


@checklist(49, direction=STATE)
async def test_minimal_serialization(pyq):
    j = libsaq.Job("f")
    j.set("key", "a")
    assert j.to_dict() == {"function": "f", "key": "a"} == pydict(Job(function="f", key="a"))


@checklist(49, direction=STATE)
async def test_serialization_with_queue_and_meta(lq, pyq, rds):
    py = Job(function="f", key="a", meta={"x": 1}, queue=pyq)
    assert pydict(py) == {"function": "f", "queue": "default", "key": "a", "meta": {"x": 1}}
    r = lq.enqueue("f", key="a", meta={"x": 1})
    lib = dict(r.job)
    assert lib.pop("queued") and lib.pop("status") == "queued"
    assert lib == pydict(py)


@checklist(49, direction=STATE)
@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: json.dumps(o))
async def test_serialization_matches_to_dict(pyq, opts):
    """libsaq's record of a job equals Python's to_dict(), option by option
    (including the omission rule: values equal to the default are left out)."""
    kw = dict(opts)
    kwargs = kw.pop("kwargs", None)
    j = libsaq.Job("f")
    j.set("key", "a")
    if kwargs is not None:
        j.set("kwargs", json.dumps(kwargs))
    if kw:
        j.set_call_kwargs(**kw)
    py = Job(function="f", key="a", kwargs=kwargs, **kw)
    assert j.to_dict() == pydict(py), field_diff(j.to_dict(), pydict(py))
    # and the C reader gives back the same record
    back = libsaq.Job(json_text=json.dumps(pydict(py)))
    assert back.to_dict() == pydict(py)
