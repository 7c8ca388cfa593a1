# SPDX-License-Identifier: MIT
"""The few places where the Python saq API differs between 0.13.3 and 0.26.3.

The suite runs once per dialect, each time in a virtual environment holding
the matching saq (SAQ_INTEROP_DIALECT = "0.26" or "0.13")."""

from __future__ import annotations

import os
import typing as t

import saq
from saq import Job, Queue, Status, Worker

DIALECT = os.environ.get("SAQ_INTEROP_DIALECT", "0.26")
IS013 = DIALECT == "0.13"
SAQ_VERSION = saq.__version__

if IS013:
    from saq.queue import JobError  # type: ignore[attr-defined]  # noqa: F401
else:
    from saq.queue.base import JobError  # type: ignore[no-redef]  # noqa: F401

assert SAQ_VERSION.startswith("0.13." if IS013 else "0.26."), (
    f"dialect {DIALECT} needs its own saq, this environment has saq {SAQ_VERSION}")

TERMINAL = {"complete", "failed", "aborted"}


def status_text(s: t.Any) -> str:
    """A job status as lower-case text (0.13 keeps the raw string)."""
    return s.value if hasattr(s, "value") else str(s)


async def make_queue(url: str, name: str = "default") -> Queue:
    q = Queue.from_url(url, name=name)
    if hasattr(q, "connect"):
        await q.connect()
    return q


def make_worker(queue: Queue, functions: list, *, id: str | None = None, concurrency: int = 10,
                timers: dict | None = None, dequeue_timeout: float = 0, burst: bool = False,
                max_burst_jobs: int | None = None, metadata: dict | None = None,
                cron_jobs: list | None = None, before_process=None, after_process=None,
                startup=None, shutdown=None, cron_tz=None) -> Worker:
    kw: dict[str, t.Any] = dict(concurrency=concurrency, dequeue_timeout=dequeue_timeout)
    timers = dict(timers or {})
    if IS013:
        if "worker_info" in timers:
            timers["stats"] = timers.pop("worker_info")
        if burst or max_burst_jobs or metadata or id:
            raise NotImplementedError("saq 0.13 has no burst mode, worker metadata or worker id")
    else:
        kw.update(burst=burst, max_burst_jobs=max_burst_jobs, metadata=metadata)
        if id:
            kw["id"] = id
    if timers:
        kw["timers"] = timers
    if cron_jobs:
        kw["cron_jobs"] = cron_jobs
    if cron_tz is not None:  # saq >= 0.26 (issue 19's cron_tz tests)
        kw["cron_tz"] = cron_tz
    for name, hook in (("before_process", before_process), ("after_process", after_process),
                       ("startup", startup), ("shutdown", shutdown)):
        if hook is not None:
            kw[name] = hook
    return Worker(queue, functions=functions, **kw)


def worker_id(w: Worker) -> str:
    """The id under which a Python worker registers (0.13: its queue's uuid)."""
    return w.queue.uuid if IS013 else w.id


async def mark_active(job: Job, worker_id: str | None = None) -> None:
    """What a saq worker does right after a dequeue (process() step 2)."""
    from saq.utils import now

    job.started = now()
    job.attempts += 1
    if IS013:
        job.status = Status.ACTIVE
        await job.update()
    else:
        job.worker_id = worker_id
        await job.update(status=Status.ACTIVE)


async def write_registry(q: Queue, wid: str, ttl: int, metadata: dict | None = None) -> None:
    """saq's registry write (0.26 worker_info, 0.13 stats under the queue uuid)."""
    if IS013:
        await q.stats(ttl)
    else:
        await q.worker_info(wid, queue_key=q.name, metadata=metadata, ttl=ttl)


def supports_worker_id() -> bool:
    return not IS013


async def jobs(q: Queue, keys: list[str]) -> list:
    """Queue.jobs(keys) (0.13 has none: MGET + its own deserialize)."""
    if hasattr(q, "jobs"):
        return await q.jobs(keys)
    return [q.deserialize(b) for b in await q.redis.mget([q.job_id(k) for k in keys])]
