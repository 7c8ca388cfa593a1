# SPDX-License-Identifier: MIT
"""Job functions of the Python saq workers used by the interop tests.

They mirror tests/tools/saq-testworker.c (same names, same kwargs, same
results) so that a job can be run by either side and give the same record:

  noop()                   no result
  echo(**kw)               result = the kwargs object
  add(a, b)                result = a + b
  sleep(s)                 asyncio.sleep(s), cancellable; result = s
  sleep_uncancellable(s)   a sync function (run in saq's thread pool) that
                           ignores cancellation; result = s
  fail(message)            raises RuntimeError(message) (default "oops")
  heartbeat(n, s)          n rounds of: sleep s, job.update(progress=i/n)
  cron_tick()              result = the current epoch second
  cleanup_sleep(s, c)      sleeps s; when cancelled, takes c more seconds to
                           unwind (checklist item 20), then re-raises

Every run appends "<function> <key> <attempt>" to $SAQ_PYWORKER_LOG when set
(one write per line, O_APPEND), like the C worker's --log, and after_process
hooks append "after <function> <key> <status>" to $SAQ_PYWORKER_HOOKLOG.
"""

from __future__ import annotations

import asyncio
import os
import time


def _append(path: str, line: str) -> None:
    """One line, appended with a single write (workers of several processes share the file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _record(ctx: dict) -> None:
    path = os.environ.get("SAQ_PYWORKER_LOG")
    job = ctx.get("job")
    if not path or job is None:
        return
    _append(path, f"{job.function} {job.key} {job.attempts}\n")


async def noop(ctx, **_kw):
    _record(ctx)
    return None


async def echo(ctx, **kw):
    _record(ctx)
    return kw


async def add(ctx, a=0, b=0, **_kw):
    _record(ctx)
    return a + b


async def sleep(ctx, s=1, **_kw):
    _record(ctx)
    await asyncio.sleep(s)
    return s


def sleep_uncancellable(ctx, s=1, **_kw):
    _record(ctx)
    time.sleep(s)
    return s


async def fail(ctx, message="oops", **_kw):
    _record(ctx)
    raise RuntimeError(message)


async def heartbeat(ctx, n=3, s=0.2, **_kw):
    _record(ctx)
    job = ctx["job"]
    for i in range(n):
        await asyncio.sleep(s)
        await job.update(progress=(i + 1) / n)
    return True


async def cron_tick(ctx, **_kw):
    _record(ctx)
    return int(time.time())


async def cleanup_sleep(ctx, s=5, c=0.5, **_kw):
    _record(ctx)
    try:
        await asyncio.sleep(s)
    except asyncio.CancelledError:
        # unwinding takes a while; a correct abort waits for it (item 20)
        await asyncio.sleep(c)
        raise
    return s


FUNCTIONS = [noop, echo, add, sleep, sleep_uncancellable, fail, heartbeat, cron_tick, cleanup_sleep]


async def after_process(ctx):
    path = os.environ.get("SAQ_PYWORKER_HOOKLOG")
    job = ctx.get("job")
    if not path or job is None:
        return
    status = job.status.value if hasattr(job.status, "value") else str(job.status)
    _append(path, f"after {job.function} {job.key} {status}\n")
