# SPDX-License-Identifier: MIT
"""Records written in one dialect never break a reader of that dialect.

libsaq (queue and C worker in this run's dialect) goes through every kind of
write it makes: enqueue of every option, mark active, complete, fail, retry
(immediate and delayed), timeout, heartbeat/progress updates, abort of a
waiting, a scheduled and a running job, sweep, batch abort, cron, apply/map
and the worker registry. Meanwhile a raw pub/sub client records every status
message. Then:
  * every record parses with this dialect's Python reader (Job(**record));
    in 0.13 no record carries a field 0.13 does not know (worker_id,
    priority, group_key) and no status 0.13 cannot read (aborting);
  * every published status is one the dialect's listeners can map (0.13
    listeners raise KeyError on `aborting`, spec 2.5);
  * Python's info(jobs=True) and the web UI's job route read everything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from saq import Job

import libsaq
from helpers import (IS013, LIB2PY, RawPublishes, await_status, await_until, checklist, jid)

STATUSES_013 = {"new", "deferred", "queued", "active", "aborted", "failed", "complete"}
STATUSES_026 = {"new", "queued", "active", "aborting", "aborted", "failed", "complete"}


@checklist(8, 18, 49, direction=LIB2PY)
async def test_every_libsaq_record_reads_in_its_dialect(redis_url, lq, pyq, rds, cworker):
    lis = RawPublishes(redis_url)
    lis.start()
    await asyncio.sleep(0.1)
    w = cworker({"timers.abort": "0.1", "timers.schedule": "0.2"}, cron=["cron_tick=* * * * * */1"])
    keys = []

    def enq(fn, **kw):
        r = lq.enqueue(fn, **kw)
        keys.append(r.job["key"])
        return r.job["key"]

    enq("add", a=1, b=2)
    enq("echo", key="keyed:x", x={"u": "\u00e9"}, meta={"m": 1}, ttl=0)
    enq("noop", scheduled=time.time() + 0.5, timeout=0, heartbeat=5, retries=3,
        retry_delay=0.1, retry_backoff=True)
    enq("noop", scheduled=time.time() + 100)
    enq("fail", retries=2)
    enq("fail", retries=2, retry_delay=0.2, retry_backoff=0.5)
    enq("sleep", s=0.3, timeout=0.05, retries=2)
    enq("heartbeat", n=3, s=0.05, heartbeat=1)
    run = enq("sleep", s=10)
    await await_status(rds, run, "active", 5)
    await lq.a.abort(run, "stop")
    waiting = libsaq.Job("noop")
    lq.enqueue_job(waiting)
    keys.append(waiting.key)
    # a waiting job in a queue nobody serves is aborted at once
    sched = enq("noop", scheduled=time.time() + 50)
    lq.abort(sched, "stop")
    b = lq.batch()
    keys += [lq.enqueue("noop", scheduled=time.time() + 60).job["key"] for _ in range(2)]
    b.abort()
    b.free()
    keys.append("ap")
    await lq.a.apply("add", 0, a=1, b=1, key="ap")
    await lq.a.map("add", [{"a": 1, "key": "m1"}, {"a": 2, "key": "m2"}], b=0)
    keys += ["m1", "m2"]
    # a stuck record swept by libsaq
    rec = {"function": "noop", "queue": "default", "key": "stuck", "status": "active", "timeout": 1,
           "attempts": 1, "retries": 1}
    rds.set(jid("stuck"), json.dumps(rec))
    rds.rpush("saq:default:active", jid("stuck"))
    rds.zadd("saq:default:incomplete", {jid("stuck"): 0})
    rds.delete("saq:default:sweep")
    await lq.a.sweep(lock=1, abort=0.5)
    keys.append("stuck")
    # an update by key, a retry and a finish through the queue API
    upd = enq("noop", scheduled=time.time() + 60)
    lq.update(upd, progress=0.5, meta={"p": 1})
    await asyncio.sleep(2.0)  # retries, delays, cron ticks
    await await_until(lambda: rds.exists(jid("cron:cron_tick")), 2)
    keys.append("cron:cron_tick")
    lis.stop()

    # -- every record parses with this dialect's reader
    fields = {f.name for f in dataclasses.fields(Job)}
    allowed_status = STATUSES_013 if IS013 else STATUSES_026
    seen = 0
    for k in rds.scan_iter("saq:job:default:*"):
        data = rds.get(k)
        if data is None:
            continue
        d = json.loads(data)
        assert set(d) <= fields, (k, set(d) - fields)
        assert d.get("status", "new") in allowed_status, (k, d.get("status"))
        job = pyq.deserialize(data)  # Job(**record): raises on an unknown field
        assert job.key == k[len("saq:job:default:"):]
        seen += 1
    assert seen >= 15
    if IS013:
        statuses = {s for _c, s in lis.got}
        assert "aborting" not in statuses, "a 0.13 listener would raise KeyError"
    assert {s for _c, s in lis.got} <= allowed_status
    # -- Python's info(jobs=True) and the UI's job route read them
    info = await pyq.info(jobs=True, limit=100)
    assert w.id in info["workers"]
    from saq.web.common import job_dict
    for k in keys:
        job = await pyq.job(k)
        if job is not None:
            job_dict(job)
