# SPDX-License-Identifier: MIT
"""Issue 17 across the line: libsaq's saq_queue_overview and saq_queue_metrics
see Python saq workers (from saq's own registry) next to libsaq ones, with
their counters; saq_queue_iter_jobs lists jobs Python saq enqueued (checklist
item 54, python->libsaq)."""

from __future__ import annotations

import shutil
import subprocess
import time

import compat
from helpers import PY2LIB, checklist, wait_status, wait_until


def _worker(ov: dict, libsaq: bool) -> list[dict]:
    return [w for w in ov["workers"] if w["libsaq"] is libsaq]


@checklist(46, direction=PY2LIB)
async def test_overview_counts_python_and_libsaq_workers(lq, pyq, rds, pyworker_proc, cworker):
    pyworker_proc(timers={"worker_info": 1})
    keys = [(await pyq.enqueue("noop", key=f"n{i}")).key for i in range(4)]
    fkey = (await pyq.enqueue("fail", key="f0", retries=1)).key
    for k in keys:
        wait_status(rds, k, ["complete"])
    wait_status(rds, fkey, ["failed"])

    def python_counted():
        ov = lq.overview()
        py = _worker(ov, False)
        return ov if py and py[0]["complete"] == 4 and py[0]["failed"] == 1 else None

    ov = wait_until(python_counted, timeout=5, what="the Python worker's counters in the overview")
    assert ov["workers_alive"] == 1
    assert ov["jobs"] == {"queued": 0, "active": 0, "scheduled": 0, "incomplete": 0}
    assert ov["totals"]["complete"] == 4 and ov["totals"]["failed"] == 1
    assert ov["oldest_queued_age_s"] is None
    assert _worker(ov, False)[0]["uptime_ms"] > 0

    # a libsaq worker next to it: both listed, told apart
    cworker()
    ov = wait_until(lambda: (lambda o: o if o["workers_alive"] == 2 else None)(lq.overview()),
                    timeout=5, what="both workers in the overview")
    assert len(_worker(ov, True)) == 1 and len(_worker(ov, False)) == 1
    # saq's own info() lists the same workers
    info = await pyq.info()
    assert {w["id"] for w in ov["workers"]} == set(info["workers"])

    # a queued job: counted, with its age
    await pyq.enqueue("noop", key="later", scheduled=int(time.time()) + 3600)
    text = lq.metrics()
    assert 'saq_queue_workers{queue="default"} 2\n' in text
    assert 'saq_queue_jobs{queue="default",state="scheduled"} 1\n' in text
    pyid = _worker(ov, False)[0]["id"]
    assert f'saq_worker_jobs_total{{queue="default",worker="{pyid}",outcome="complete"}} 4\n' in text
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr


@checklist(54, direction=PY2LIB)
async def test_libsaq_iter_jobs_over_python_jobs(lq, pyq, rds):
    keys = {(await pyq.enqueue("noop", key=f"k{i}")).key for i in range(9)}
    for count in (1, 2, 3, 100):
        assert {j["key"] for j in lq.iter_jobs(count=count)} == keys
    job = await pyq.dequeue(1)
    await compat.mark_active(job, "w")
    assert [j["key"] for j in lq.iter_jobs(statuses=["active"])] == [job.key]
    assert {j["key"] for j in lq.iter_jobs(statuses=["queued"])} == keys - {job.key}
