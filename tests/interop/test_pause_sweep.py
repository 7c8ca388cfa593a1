# SPDX-License-Identifier: MIT
"""Issue 19's pause next to a sweep (saq's or libsaq's): a libsaq worker
whose queue is paused while its blocked dequeue is moving a job gives that
move back to the head of `queued`. A sweep that listed the job in `active`
(status still `queued`: moved, not marked) in between aborts it (record
`aborting`, taken out of `active`) and queues it again after its abort wait.
A give-back that pushed the id back regardless put the job in `queued` as
well: a Python saq worker ran it (saq runs an `aborting` record it dequeues),
then the sweep re-queued it (error `swept`) and it ran a second time. The
give-back must leave a job the sweep took to the sweep (the worker finishes it
`aborted`, as its mark would, and the sweep retries it once). The same window
without the pause (the worker marks the move) is checked too: MARK refuses a
swept move (saq #277, U13). No checklist item (an extension)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis as redis_sync

from helpers import IS013, RawPublishes, await_status, await_until, blocked_dequeues, jid, raw

PAUSED = "saq:default:libsaq:paused"

# Runs in Redis for `ms` milliseconds after setting the pause flag: every
# command a client sends meanwhile (the worker's periodic read of the flag)
# waits, and is answered "paused" after it.
BUSY_PAUSE = """
redis.call('SET', KEYS[1], ARGV[1])
local t0 = redis.call('TIME')
local start = tonumber(t0[1]) * 1000000 + tonumber(t0[2])
while true do
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= tonumber(ARGV[2]) * 1000 then break end
end
return 1
"""


def _pause_in_flight(redis_url: str, w, busy_ms: int = 600) -> None:
    """Set the pause flag so that the worker `w` (its dequeue blocked) reads
    it only together with the reply of a move that lands next: a Lua script
    sets the flag and keeps Redis busy, the worker's read of the flag waits
    behind it, and the worker is frozen (SIGSTOP) before the script ends.
    When it continues (w.resume()), the answer "paused" and the reply of a move
    made while it was frozen are both waiting for it."""
    r = redis_sync.Redis.from_url(redis_url)
    done = threading.Event()

    def busy():
        try:
            r.eval(BUSY_PAUSE, 1, PAUSED, str(int(time.time() * 1000)), str(busy_ms))
        finally:
            done.set()

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    time.sleep(busy_ms / 2000)  # the worker reads the flag every 50 ms: one read is waiting now
    w.pause()
    assert done.wait(10)
    t.join()
    r.close()


def _swept(rds) -> bool:
    """The sweep aborted the job and took it out of `active` (0.13 aborts
    with a marker and leaves the status)."""
    rec = raw(rds, "x") or {}
    aborted = rds.exists("saq:abort:x") if IS013 else rec.get("status") == "aborting"
    return bool(aborted) and not rds.lrange("saq:default:active", 0, -1)


@pytest.mark.parametrize("sweeper", ["python", "libsaq"])
@pytest.mark.parametrize("paused", [True, False], ids=["paused", "not-paused"])
@pytest.mark.scenario("pause (extension) + a sweep: a move given back while a sweep takes the job runs once")
async def test_a_move_swept_before_its_give_back_runs_once(redis_url, pyq, lq, rds, cworker, pyworker_proc,
                                                          paused, sweeper):
    """The sweep (saq's or libsaq's) lists the libsaq worker's move before
    the worker gives it back (paused) or marks it (not paused: MARK refuses
    it, saq #277/U13), and aborts it; a Python saq worker serves the queue
    too. The job runs exactly once, after the sweep re-queued it."""
    pubs = RawPublishes(redis_url)
    pubs.start()
    w = cworker({"concurrency": "1", "timers.pause": "0.05", "timers.sweep": "3600", "dequeue_timeout": "60"})
    await await_until(lambda: blocked_dequeues(rds) >= 1, 10, what="the libsaq worker's blocked dequeue")
    # blocked after the libsaq worker: Redis hands the next job to the libsaq worker
    py = pyworker_proc(concurrency=1)
    await await_until(lambda: blocked_dequeues(rds) >= 2, 10, what="the Python worker's blocked dequeue")
    if paused:
        await asyncio.to_thread(_pause_in_flight, redis_url, w)
    else:
        await asyncio.to_thread(w.pause)
    try:
        # the libsaq worker's blocked dequeue moves the job (it is frozen: not marked)
        await pyq.enqueue("add", key="x", a=1, b=2, retries=2)
        await await_until(lambda: rds.lrange("saq:default:active", 0, -1) == [jid("x")], 10,
                          what="the move into active")
        # a sweep lists it (status queued in active) and aborts it
        rds.delete("saq:default:sweep")
        if sweeper == "python":
            sweep = asyncio.create_task(pyq.sweep(abort=2))
        else:
            sweep = asyncio.create_task(asyncio.to_thread(lq.sweep, 60, 2.0))
        await await_until(lambda: _swept(rds), 10, what="the sweep's abort")
    finally:
        w.resume()
    # the libsaq worker sees its move (and "paused"): it gives the move back, or marks it
    assert [i.decode() if isinstance(i, bytes) else i for i in await sweep] == [jid("x")]
    await await_status(rds, "x", {"complete", "failed"}, 10)
    await asyncio.sleep(1.0)  # a second run, if any, would be logged by now
    runs = w.runs() + py.runs()
    assert runs == [("add", "x", 1)], ("the job ran more than once", w.runs(), py.runs())
    if paused:
        assert w.runs() == [], "the paused libsaq worker ran the job"
    pubs.stop()
    # the libsaq worker found it aborted (instead of giving it back, or marking it) and finished it
    # `aborted` once; the sweep then queued it again
    assert pubs.got.count((jid("x"), "aborted")) == 1, pubs.got
    rec = raw(rds, "x")
    assert rec["status"] == "complete" and rec["attempts"] == 1, rec
    assert rds.lrange("saq:default:queued", 0, -1) == [] and rds.lrange("saq:default:active", 0, -1) == []
