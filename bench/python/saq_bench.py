# SPDX-License-Identifier: MIT
"""Python saq side of libsaq's benchmark harness (bench/run).

    python saq_bench.py enqueue URL QUEUE N INFLIGHT
    python saq_bench.py worker  URL QUEUE CONCURRENCY EXPECT REMAINING
    python saq_bench.py apply   URL QUEUE N [--poll-interval SECONDS]

The same protocol as bench/c/saq_bench.c: the worker prints "ready", waits
for "go" on stdin, starts saq's Worker, and once EXPECT jobs ran and
count("incomplete") <= REMAINING prints one JSON line with t0/t1/elapsed;
then it waits for "stop" (or EOF) and stops. Functions as in saq's own
benchmarks/simple.py: noop returns 1, sleep sleeps kwargs["s"] seconds.
"""
import asyncio
import json
import sys
import time

from saq import Queue, Worker

HANDLED = 0
EXPECT = 0
REACHED = None


def counted():
    global HANDLED
    HANDLED += 1
    if HANDLED == EXPECT:
        REACHED.set()


async def noop(ctx):
    counted()
    return 1


async def sleep(ctx, *, s=0.0):
    await asyncio.sleep(s)
    counted()
    return 1


async def connect(url, name, **kw):
    queue = Queue.from_url(url, name=name, **kw)
    await queue.connect()
    await queue.count("queued")
    return queue


async def cmd_enqueue(url, name, n, inflight):
    queue = await connect(url, name, max_concurrent_ops=inflight)
    it = iter(range(n))

    async def lane():
        for _ in it:
            await queue.enqueue("noop")

    t0 = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(inflight)))
    el = time.monotonic() - t0
    print(json.dumps({"jobs": n, "elapsed": el}), flush=True)
    await queue.disconnect()


async def read_line():
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


async def cmd_worker(url, name, concurrency, expect, remaining):
    global EXPECT, REACHED
    EXPECT = expect
    REACHED = asyncio.Event()
    queue = await connect(url, name)
    worker = Worker(queue, functions=[noop, sleep], concurrency=concurrency)
    print("ready", flush=True)
    if await read_line() != "go":
        return
    t0 = time.time()
    task = asyncio.create_task(worker.start())
    print("started", flush=True)
    if expect > 0:
        await REACHED.wait()
        while await queue.count("incomplete") > remaining:
            await asyncio.sleep(0.0002)
        t1 = time.time()
        print(json.dumps({"jobs": expect, "t0": t0, "t1": t1, "elapsed": t1 - t0}), flush=True)
    while True:
        line = await read_line()
        if line in ("stop", ""):
            break
    await worker.stop()
    task.cancel()
    try:
        await task
    except BaseException:
        pass
    await queue.disconnect()


async def cmd_apply(url, name, n, poll_interval):
    queue = await connect(url, name)
    kw = {} if poll_interval is None else {"poll_interval": poll_interval}
    lat = []
    for _ in range(n):
        t = time.monotonic()
        await queue.apply("noop", timeout=10, **kw)
        lat.append((time.monotonic() - t) * 1000)
    print(json.dumps({"jobs": n, "lat_ms": lat}), flush=True)
    await queue.disconnect()


def main():
    a = sys.argv[1:]
    if len(a) >= 5 and a[0] == "enqueue":
        coro = cmd_enqueue(a[1], a[2], int(a[3]), int(a[4]))
    elif len(a) >= 6 and a[0] == "worker":
        coro = cmd_worker(a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
    elif len(a) >= 4 and a[0] == "apply":
        # --poll-interval X: saq's apply polls the job every poll_interval s (default 0.5)
        poll = float(a[5]) if len(a) >= 6 and a[4] == "--poll-interval" else None
        coro = cmd_apply(a[1], a[2], int(a[3]), poll)
    else:
        sys.exit("usage: saq_bench.py enqueue|worker|apply ...")
    asyncio.run(coro)


if __name__ == "__main__":
    main()
