# SPDX-License-Identifier: MIT
"""The producer of the chaos soak (tests/chaos/soak): enqueues its shard of
the job plan at a fixed pace, with Python saq 0.26 or libsaq (through the
interop suite's ctypes wrapper, tests/interop/libsaq.py).

    python producer.py --client py|libsaq --url URL --queue NAME --plan FILE
                       --shard I/N --rate JOBS_PER_S --start-at EPOCH_S --log FILE
                       [--flows FILE]   (libsaq: also these flows, spread over the same span)

Job i of the plan (all shards together) is sent at start-at + i/rate. A call
that fails (connection refused while Redis is down, a timeout, ...) is tried
again with the same key every 0.2 s for up to 60 s. Log lines (one write
each): "A <key> <ms>" acknowledged (the enqueue returned the job), "N <key>
<ms>" acknowledged as already present (an earlier attempt whose reply was
lost had stored it: saq returns None, libsaq 0), "X <key> <ms> <error>" a
failed attempt, "G <key> <ms>" given up. Ends with "DONE <ms>"."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RETRY_FOR_S = 60.0
CALL_TIMEOUT_S = 10.0

fd = -1


def out(*parts: object) -> None:
    os.write(fd, (" ".join(str(p) for p in parts) + "\n").encode())


def now_ms() -> int:
    return int(time.time() * 1000)


def job_fields(job: dict) -> dict:
    return dict(key=job["key"], ms=job["ms"], fail_until=job["fail_until"], retries=job["retries"],
                timeout=job["timeout"], ttl=job["ttl"])


async def run_py(a, jobs) -> None:
    from saq import Queue

    q = Queue.from_url(a.url, name=a.queue)
    await q.connect()
    sem = asyncio.Semaphore(32)

    async def one(i: int, job: dict) -> None:
        delay = a.start_at + i / a.rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        async with sem:
            first = time.time()
            while True:
                try:
                    r = await asyncio.wait_for(q.enqueue("soak", **job_fields(job)), CALL_TIMEOUT_S)
                    out("A" if r is not None else "N", job["key"], now_ms())
                    return
                except Exception as e:  # noqa: BLE001 - every failure is logged and retried
                    out("X", job["key"], now_ms(), type(e).__name__ + ":" + str(e).replace("\n", " ")[:120])
                if time.time() - first > RETRY_FOR_S:
                    out("G", job["key"], now_ms())
                    return
                await asyncio.sleep(0.2)

    await asyncio.gather(*(one(i, j) for i, j in jobs))
    try:
        await q.disconnect()
    except Exception:  # noqa: BLE001
        pass


def run_libsaq(a, jobs, flows: list[dict], plan_len: int) -> None:
    sys.path.insert(0, os.path.join(HERE, "..", "interop"))
    import libsaq

    lock = threading.Lock()
    it = iter(jobs)

    def thread() -> None:
        q = libsaq.Queue(a.url, name=a.queue)
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                break
            i, job = nxt
            delay = a.start_at + i / a.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            first = time.time()
            kw = json.dumps(job_fields(job)).encode()
            while True:
                try:
                    r = q._run(lambda cq, t: libsaq.lib().saq_queue_enqueue_call(q.ptr, b"soak", kw, cq, t),
                               timeout_ms=int(CALL_TIMEOUT_S * 1000), check=False)
                    if r.ok:
                        out("A" if r.int == 1 else "N", job["key"], now_ms())
                        break
                    err = f"{r.err_name}:{(r.errmsg or '')[:120]}"
                except libsaq.SaqError as e:
                    err = f"SaqError:{e}"
                out("X", job["key"], now_ms(), err.replace("\n", " "))
                if time.time() - first > RETRY_FOR_S:
                    out("G", job["key"], now_ms())
                    break
                time.sleep(0.2)
        q.close()

    ts = [threading.Thread(target=thread) for _ in range(8)]
    if flows:
        ts.append(threading.Thread(target=run_flows, args=(a, libsaq, flows, plan_len)))
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def run_flows(a, libsaq, flows: list[dict], plan_len: int) -> None:
    """Enqueue the flows (saq_queue_enqueue_flow: members and a callback) spread over the
    producing phase. An acknowledged flow logs every member key and the callback key ("A", or
    "N" when a retry found the flow recorded already: an earlier attempt's reply was lost);
    a failed attempt logs "X <callback key>" and is retried like a job."""
    q = libsaq.Queue(a.url, name=a.queue)
    span = plan_len / a.rate
    for i, fl in enumerate(flows):
        delay = a.start_at + (i + 0.5) * span / len(flows) - time.time()
        if delay > 0:
            time.sleep(delay)
        first = time.time()
        keys = [m["key"] for m in fl["members"]] + [fl["key"]]
        while True:
            try:
                members = [libsaq.Job("soak", **job_fields(m)) for m in fl["members"]]
                r = q.enqueue_flow(members, libsaq.Job("soak", **job_fields(fl["callback"])), check=False,
                                   timeout_ms=int(CALL_TIMEOUT_S * 1000))
                if r.ok:
                    for k in keys:
                        out("A" if r.int == 1 else "N", k, now_ms())
                    break
                err = f"{r.err_name}:{(r.errmsg or '')[:120]}"
            except libsaq.SaqError as e:
                err = f"SaqError:{e}"
            out("X", fl["key"], now_ms(), err.replace("\n", " "))
            if time.time() - first > RETRY_FOR_S:
                for k in keys:
                    out("G", k, now_ms())
                break
            time.sleep(0.2)
    q.close()


def main() -> None:
    global fd
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", choices=["py", "libsaq"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--queue", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--start-at", type=float, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--flows", help="flows to enqueue (libsaq client; JSON lines)")
    a = ap.parse_args()
    shard, nshards = map(int, a.shard.split("/"))
    fd = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with open(a.plan) as f:
        plan = [json.loads(line) for line in f]
    jobs = [(i, j) for i, j in enumerate(plan) if i % nshards == shard]
    if a.client == "py":
        asyncio.run(run_py(a, jobs))
    else:
        flows = []
        if a.flows:
            with open(a.flows) as f:
                flows = [json.loads(line) for line in f]
        run_libsaq(a, jobs, flows, len(plan))
    out("DONE", now_ms())


if __name__ == "__main__":
    main()
