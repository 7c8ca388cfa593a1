# SPDX-License-Identifier: MIT
"""Issue 19, item 1: cron jobs in an IANA time zone (saq 0.26's cron_tz).

A libsaq worker's cron job with the cron option "cron_tz" writes the record
saq 0.26's Worker(cron_tz=ZoneInfo(zone)).schedule() writes for the same
CronJob (scheduled = croniter's next fire time in that zone), and a Python
saq worker on the queue runs such a job (and the queue's other jobs) as any
other: cron_tz changes only when libsaq's worker enqueues the runs, nothing
in Redis that a Python worker reads."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from saq import CronJob

import compat
import pyfuncs
from helpers import await_until, jid, libsaq_cron_tick, only026, raw

INC = "saq:default:incomplete"
ZONE = "America/New_York"
EXPR = "30 2 * * *"  # 02:30 New York time: never 02:30 UTC


@only026
async def test_cron_tz_record_matches_saq(pyq, rds, make_lq):
    tz = ZoneInfo(ZONE)
    opts = {"timeout": 5, "kwargs": {"x": 1}}
    pw = compat.make_worker(pyq, [pyfuncs.echo], cron_jobs=[CronJob(pyfuncs.echo, cron=EXPR, **opts)],
                            cron_tz=tz)
    await pw.schedule()
    py = raw(rds, "cron:echo")
    rds.flushdb()
    lib = await libsaq_cron_tick(make_lq, rds, "echo", EXPR, {**opts, "cron_tz": ZONE})
    want = int(croniter(EXPR, datetime.now(tz)).get_next())
    assert lib["scheduled"] == want and py["scheduled"] == want
    assert want != int(croniter(EXPR, time.time()).get_next())  # not UTC
    py.pop("queued"), lib.pop("queued")
    assert lib == py


async def test_python_worker_runs_cron_tz_jobs(pyq, rds, make_lq, pyworker):
    """The run a libsaq worker enqueued with cron_tz, made due, is promoted and
    run by a Python saq worker (0.26.3 and 0.13.3), next to an ordinary job."""
    lib = await libsaq_cron_tick(make_lq, rds, "echo", EXPR, {"kwargs": {"x": 1}, "cron_tz": ZONE})
    tz = ZoneInfo(ZONE)
    assert lib["scheduled"] == int(croniter(EXPR, datetime.now(tz)).get_next())
    rds.zadd(INC, {jid("cron:echo"): time.time() - 1})  # due now
    rds.delete("saq:default:schedule")
    other = await pyq.enqueue("echo", y=2)
    w = await pyworker(timers={"schedule": 1})
    await w.start()
    rec = await await_until(lambda: (r := raw(rds, "cron:echo")) and r.get("status") == "complete" and r, 5)
    assert rec["result"] == {"x": 1} and rec["key"] == "cron:echo"
    done = await await_until(lambda: (r := raw(rds, other.key)) and r.get("status") == "complete" and r, 5)
    assert done["result"] == {"y": 2}
