# SPDX-License-Identifier: MIT
"""The Python saq 0.26 worker of the chaos soak (tests/chaos/soak).

    python soak_worker.py --url URL --queue NAME --id ID --concurrency N --log FILE

Runs saq.Worker with one function, soak(ms, fail_until), with the same
contract as soak_worker.c: "S <key> <attempt> <epoch ms>" when a run starts,
"E <key> <attempt> <epoch ms> ok|fail" just before it returns or raises
(RuntimeError when attempt <= fail_until), one O_APPEND write per line.
Every other setting is saq's default. Prints "ready <worker id>"; exits after
SIGTERM/SIGINT (saq's own signal handling)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from saq import Queue, Worker

LOG_FD = -1


def _line(*parts: object) -> None:
    os.write(LOG_FD, (" ".join(map(str, parts)) + "\n").encode())


async def soak(ctx, ms=0, fail_until=0, **_kw):
    job = ctx["job"]
    attempt = job.attempts
    _line("S", job.key, attempt, int(time.time() * 1000))
    await asyncio.sleep(ms / 1000)
    if attempt <= fail_until:
        _line("E", job.key, attempt, int(time.time() * 1000), "fail")
        raise RuntimeError("planned failure")
    _line("E", job.key, attempt, int(time.time() * 1000), "ok")
    return attempt


async def main() -> None:
    global LOG_FD
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--queue", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    LOG_FD = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    queue = Queue.from_url(a.url, name=a.queue)
    await queue.connect()
    worker = Worker(queue, functions=[soak], concurrency=a.concurrency, id=a.id)
    print("ready", worker.id, flush=True)
    try:
        await worker.start()
    finally:
        await queue.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
