# SPDX-License-Identifier: MIT
"""A Python saq worker process for the interop tests (the peer of
tests/tools/saq-testworker.c):

    python pyworker.py --url URL [--queue NAME] [--concurrency N]
                       [--timers JSON] [--id ID] [--log FILE]

Runs saq.Worker with the functions of pyfuncs.py, prints "ready <worker id>"
once started and exits 0 after SIGTERM/SIGINT (saq's own signal handling)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compat  # noqa: E402
import pyfuncs  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--queue", default="default")
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--timers", default="{}")
    ap.add_argument("--id")
    ap.add_argument("--log")
    ap.add_argument("--hooklog")
    ap.add_argument("--dequeue-timeout", type=float, default=0)
    args = ap.parse_args()
    if args.log:
        os.environ["SAQ_PYWORKER_LOG"] = args.log
    if args.hooklog:
        os.environ["SAQ_PYWORKER_HOOKLOG"] = args.hooklog
    queue = await compat.make_queue(args.url, args.queue)
    worker = compat.make_worker(queue, pyfuncs.FUNCTIONS, id=args.id, concurrency=args.concurrency,
                                timers=json.loads(args.timers), dequeue_timeout=args.dequeue_timeout,
                                after_process=pyfuncs.after_process)
    print("ready", compat.worker_id(worker), flush=True)
    try:
        await worker.start()
    finally:
        await queue.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
