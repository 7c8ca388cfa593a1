# SPDX-License-Identifier: MIT
"""saq bugs of spec section 7 that libsaq fixes without changing the wire,
checked against the same situation in Python saq where it can be built.
(Further ones live next to their checklist items: U1 in test_retry, U3 in
test_abort/test_sweep, U4 and U11 in test_update_listen, U7 in test_info,
#277 in test_sweep.)"""

from __future__ import annotations

import asyncio
import random
import threading
import time


import compat
import libsaq
from helpers import (IS013, STATE, RawPublishes, await_status, await_until, blocked_dequeues, checklist, jid, raw,
                     saqbug)


@checklist(20, direction=STATE)
@saqbug("U2")
async def test_abort_finishes_once(redis_url, lq, pyq, rds, cworker, pyworker):
    """saq bug U2: a 0.26 worker finishes an aborted job twice (its abort
    check and the cancelled process loop): two `aborted` publishes and the
    aborted counter raised by 2. libsaq finishes it once."""
    counts_ = {}
    for side in ("lib", "py"):
        rds.flushdb()
        pub = RawPublishes(redis_url)
        pub.start()
        if side == "lib":
            w = cworker({"timers.abort": "0.1"})
        else:
            pw = await (await pyworker(timers={"abort": 0.1})).start()
        key = lq.enqueue("sleep", s=10).job["key"]
        await await_status(rds, key, "active", 5)
        await lq.a.abort(key, "stop")
        await await_status(rds, key, "aborted", 5)
        # saq 0.26's second finish comes from its cancelled process loop, some
        # time after the first: wait for it (bounded) rather than a fixed time
        expect = 2 if side == "py" and not IS013 else 1
        await await_until(lambda: sum(1 for c, s in pub.got if c == jid(key) and s == "aborted") >= expect,
                          10, what=f"{expect} `aborted` publishes")
        await asyncio.sleep(0.3)  # and a window for any further (duplicate) publish
        pub.stop()
        if side == "lib":
            w.stop()
        else:
            await pw.stop()
            counts_["py_counter"] = pw.queue.aborted
        counts_[side] = [s for c, s in pub.got if c == jid(key) and s == "aborted"]
    assert len(counts_["lib"]) == 1
    if not IS013:
        assert len(counts_["py"]) == 2 and counts_["py_counter"] == 2  # saq 0.26's double finish


@checklist(41, direction=STATE)
@saqbug("U9")
async def test_stop_never_strands_a_job(redis_url, lq, rds):
    """saq bug U9: cancelling a blocked dequeue can lose the move's reply, so
    a job sits in `active` with status `queued` until a sweep. libsaq stops a
    blocked dequeue with CLIENT UNBLOCK and runs (or puts back) whatever it
    moved: after any stop, every job is either done or waiting in `queued`."""

    def quick(job, cancelled):
        return 1

    for i in range(25):
        rds.flushdb()
        q = libsaq.Queue(redis_url, dialect=compat.DIALECT)
        w = libsaq.Worker(q, {"noop": quick}, concurrency=2)
        w.start()
        await asyncio.sleep(0.02)
        key = f"k{i}"
        t = threading.Thread(target=lambda: (time.sleep(random.random() * 0.004), lq.enqueue("noop", key=key)))
        t.start()
        time.sleep(random.random() * 0.004)
        w.stop(0)
        assert await asyncio.to_thread(w.wait, 5000) == 0
        t.join()
        w.free()
        q.close()
        rec = raw(rds, key)
        stranded = rds.lrange("saq:default:active", 0, -1)
        assert stranded == [], (i, rec, stranded)
        if rec["status"] != "complete":
            assert rec["status"] == "queued" and rds.lrange("saq:default:queued", 0, -1) == [jid(key)], (i, rec)


@checklist(18, direction=STATE)
@saqbug("U13")
async def test_abort_between_move_and_mark(lq, pyq, rds, cworker, pyworker_proc):
    """saq bug U13: a job aborted after a worker moved it to `active` but
    before the worker marked it active is marked anyway and run to
    completion by saq: the abort is lost. Made deterministic by stopping the
    worker process (SIGSTOP) while its BLMOVE is blocked: Redis still moves
    the job, the abort lands, then the worker continues (SIGCONT).
    libsaq does not run the job and it ends `aborted` with the abort's reason."""
    out = {}
    for side in ("lib", "py"):
        rds.flushdb()
        blocked = blocked_dequeues(rds)
        w = cworker({"concurrency": "1"}) if side == "lib" else pyworker_proc(concurrency=1)
        # blocked in its dequeue (as the server sees it), then frozen: every
        # thread stopped, not just signalled
        await await_until(lambda: blocked_dequeues(rds) > blocked, 10, what="the worker's blocked dequeue")
        await asyncio.to_thread(w.pause)
        try:
            job = await pyq.enqueue("add", key=side, a=1, b=1)
            await await_until(lambda: rds.lrange("saq:default:active", 0, -1) == [jid(side)], 10)
            await pyq.abort(job, "stop")
        finally:
            w.resume()
        # the job ends (saq: complete, libsaq: aborted); runs are read once
        # the worker has exited, so nothing it does later can be missed
        rec = await await_status(rds, side, {"complete", "failed", "aborted"}, 10)
        w.stop()
        out[side] = (rec, w.runs())
    py, py_runs = out["py"]
    assert py["status"] == "complete" and py_runs == [("add", "py", 1)]  # saq: the abort is lost
    lib, lib_runs = out["lib"]
    assert lib_runs == []
    assert lib["status"] == "aborted" and lib["error"] == "stop", lib
