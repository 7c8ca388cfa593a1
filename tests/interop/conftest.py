# SPDX-License-Identifier: MIT
"""Fixtures and the checklist reporter of the interop suite.

Each test is tagged with the checklist items it checks and its direction:

    @pytest.mark.checklist(10, 39, direction=PY2LIB)

optionally restricted to one dialect with @pytest.mark.dialect("0.26"), or
tagged with a saq bug of spec section 7 it checks libsaq's fix of
(@pytest.mark.saqbug("U1")). At the end of the session the reporter prints,
for this run's dialect, how many checklist items passed / failed / were
skipped in each direction, and writes the raw results to
$SAQ_INTEROP_REPORT (JSON) for summary.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest
import redis as redis_sync

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compat  # noqa: E402
import libsaq  # noqa: E402
from checklist import DIRECTIONS  # noqa: E402
from summary import merge_results  # noqa: E402

DIALECT = compat.DIALECT


def pytest_configure(config):
    config.addinivalue_line("markers", "checklist(*items, direction): spec 6 items checked")
    config.addinivalue_line("markers", "dialect(name): only run for this dialect")
    config.addinivalue_line("markers", "saqbug(name): checks libsaq's fix of a spec 7 saq bug")
    config.addinivalue_line("markers", "scenario(name): an end-to-end scenario of the issue (mixed fleet)")
    config._interop_results = []


def pytest_collection_modifyitems(config, items):
    for item in items:
        m = item.get_closest_marker("dialect")
        if m and DIALECT not in m.args:
            item.add_marker(pytest.mark.skip(reason=f"only for dialect {'/'.join(m.args)}"))


def _outcome(rep) -> str | None:
    if hasattr(rep, "wasxfail"):
        return "xfailed" if rep.skipped else "xpassed"
    if rep.when == "call":
        return rep.outcome
    if rep.when == "setup" and rep.outcome != "passed":
        return "skipped" if rep.skipped else "failed"
    if rep.when == "teardown" and rep.failed:
        return "failed"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    o = _outcome(rep)
    if o is None:
        return
    m = item.get_closest_marker("checklist")
    items = list(m.args) if m else []
    direction = m.kwargs.get("direction") if m else None
    if m:
        assert direction in DIRECTIONS, f"{item.nodeid}: bad direction {direction!r}"
    bug = item.get_closest_marker("saqbug")
    scen = item.get_closest_marker("scenario")
    skip_reason = ""
    if o == "skipped" and isinstance(rep.longrepr, tuple):
        skip_reason = rep.longrepr[2]
    item.config._interop_results.append({
        "test": item.nodeid, "items": items, "direction": direction, "outcome": o,
        "bug": list(bug.args) if bug else [], "when": rep.when, "skip_reason": skip_reason,
        "scenario": scen.args[0] if scen else None,
        "xfail_reason": getattr(rep, "wasxfail", ""),
    })


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config._interop_results
    path = os.environ.get("SAQ_INTEROP_REPORT")
    if path:
        Path(path).write_text(json.dumps({"dialect": DIALECT, "saq": compat.SAQ_VERSION,
                                          "results": results}, indent=1))
    final = merge_results(results)
    tr = terminalreporter
    tr.section(f"checklist items, dialect {DIALECT} (saq {compat.SAQ_VERSION})")
    tr.write_line(f"{'direction':16} {'passed':>7} {'failed':>7} {'xfail':>7} {'skipped':>8}")
    for d in DIRECTIONS:
        c = defaultdict(int)
        for (it, dd), o in final.items():
            if dd == d:
                c[o] += 1
        tr.write_line(f"{d:16} {c['passed']:>7} {c['failed']:>7} {c['xfail']:>7} {c['skipped']:>8}")


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.exit("REDIS_URL is not set: run under tests/support/with-redis (see README)", 2)
    return url


@pytest.fixture(scope="session")
def tls_url() -> str:
    """rediss:// URL of the same server's TLS port (with-redis --tls), with
    redis-py's ssl_ca_certs parameter: the URL Python saq and libsaq share."""
    url = os.environ.get("REDIS_TLS_URL")
    if not url:
        pytest.fail("REDIS_TLS_URL is not set: run under tests/support/with-redis --tls (run.sh does)")
    return url


@pytest.fixture(scope="session")
def rds_session(redis_url):
    r = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    yield r
    r.close()


@pytest.fixture(autouse=True)
def rds(rds_session):
    """A plain redis client; the database is emptied before every test."""
    rds_session.flushdb()
    yield rds_session


@pytest.fixture
async def pyq(redis_url):
    """Python saq's queue `default`."""
    q = await compat.make_queue(redis_url)
    yield q
    try:
        await q.disconnect()
    except Exception:
        pass


@pytest.fixture
def lq(redis_url):
    """libsaq's queue `default` in this run's dialect."""
    q = libsaq.Queue(redis_url, dialect=DIALECT)
    yield q
    q.close()


@pytest.fixture
def make_lq(redis_url):
    made = []

    def make(**conf):
        conf.setdefault("dialect", DIALECT)
        q = libsaq.Queue(redis_url, **conf)
        made.append(q)
        return q

    yield make
    for q in made:
        q.close()


def testworker_path() -> str:
    p = os.environ.get("SAQ_TESTWORKER")
    if not p:
        pytest.exit("SAQ_TESTWORKER is not set (run.sh builds it)", 2)
    return p


def all_threads_stopped(pid: int) -> bool:
    """Every thread of the process is in job-control stop (state T), read
    from /proc/<pid>/task/*/stat."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # a thread that just ended
        states.append(text[text.rindex(")") + 2])
    return bool(states) and all(s in "Tt" for s in states)


class Proc:
    """A worker process (C test worker or Python pyworker) that printed
    'ready <id>'."""

    def __init__(self, argv: list[str], env: dict | None = None, log: str | None = None,
                 hooklog: str | None = None, ready_timeout: float = 15):
        self.argv = argv
        self.log = log
        self.hooklog = hooklog
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
                                     text=True)
        self.id = None
        deadline = time.time() + ready_timeout
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.proc.kill()
            self.proc.wait()
            self.stderr.seek(0)
            raise RuntimeError(f"{argv[0]} did not start: {line!r} {self.stderr.read().decode()[-2000:]}")
        assert time.time() < deadline
        self.id = line.split()[1]

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def runs(self) -> list[tuple[str, str, int]]:
        """Executions logged so far: (function, key, attempt)."""
        if not self.log or not os.path.exists(self.log):
            return []
        out = []
        for line in Path(self.log).read_text().splitlines():
            f, k, a = line.rsplit(" ", 2)
            out.append((f, k, int(a)))
        return out

    def hooks(self) -> list[list[str]]:
        if not self.hooklog or not os.path.exists(self.hooklog):
            return []
        return [line.split(" ") for line in Path(self.hooklog).read_text().splitlines()]

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def pause(self, timeout: float = 10) -> None:
        """SIGSTOP the process and wait until every one of its threads has
        stopped. kill() only queues the stop: one thread takes the signal and
        then stops the others, so for some milliseconds (tens of them on a
        loaded machine) another thread, e.g. a libsaq worker's event loop
        reading a reply, still runs after kill() has returned."""
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.time() + timeout
        while not all_threads_stopped(self.proc.pid):
            if time.time() > deadline:
                raise AssertionError(f"{self.argv[0]} did not stop within {timeout}s of SIGSTOP")
            time.sleep(0.001)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_exit(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)


def settle(redis_url: str, queue: str = "default", timeout: float = 3) -> None:
    """Wait until a just-started worker has run its first sweep (the sweep
    lock exists): a sweep that overlaps the test's first jobs would add
    timing noise (it may legitimately sweep a job aborted meanwhile)."""
    r = redis_sync.Redis.from_url(redis_url)
    try:
        deadline = time.time() + timeout
        while not r.exists(f"saq:{queue}:sweep") and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)
    finally:
        r.close()


@pytest.fixture
def cworker(redis_url, tmp_path):
    """Start the C test worker: cworker(conf={...}, cron=[...], queue=...);
    url= another URL of the same server (the TLS one)."""
    procs: list[Proc] = []

    def start(conf: dict | None = None, cron: list[str] | None = None, queue: str | None = None,
              log: bool = True, wait_ready: bool = True, extra: list[str] | None = None,
              url: str | None = None) -> Proc:
        conf = dict(conf or {})
        conf.setdefault("dialect", DIALECT)
        argv = [testworker_path(), "--url", url or redis_url]
        if queue:
            argv += ["--queue", queue]
        for k, v in conf.items():
            argv += ["--conf", f"{k}={v}"]
        for c in cron or []:
            argv += ["--cron", c]
        logp = str(tmp_path / f"cworker{len(procs)}.log") if log else None
        if logp:
            argv += ["--log", logp]
        argv += extra or []
        p = Proc(argv, log=logp)
        procs.append(p)
        if wait_ready:
            settle(redis_url, queue or "default")
        return p

    yield start
    for p in procs:
        p.kill()


@pytest.fixture
def pyworker_proc(redis_url, tmp_path):
    """Start a Python saq worker process (pyworker.py); url= another URL of
    the same server (the TLS one)."""
    procs: list[Proc] = []

    def start(concurrency: int = 10, timers: dict | None = None, queue: str = "default",
              wid: str | None = None, dequeue_timeout: float = 0, url: str | None = None) -> Proc:
        n = len(procs)
        logp = str(tmp_path / f"pyworker{n}.log")
        hookp = str(tmp_path / f"pyworker{n}.hooks")
        argv = [sys.executable, str(HERE / "pyworker.py"), "--url", url or redis_url, "--queue", queue,
                "--concurrency", str(concurrency), "--timers", json.dumps(timers or {}),
                "--log", logp, "--hooklog", hookp, "--dequeue-timeout", str(dequeue_timeout)]
        if wid:
            argv += ["--id", wid]
        env = dict(os.environ, SAQ_INTEROP_DIALECT=DIALECT)
        p = Proc(argv, env=env, log=logp, hooklog=hookp)
        procs.append(p)
        settle(redis_url, queue)
        return p

    yield start
    for p in procs:
        p.kill()


@pytest.fixture
def pylog(tmp_path, monkeypatch):
    """Run logs of in-process Python workers (pyfuncs writes them)."""
    logp = tmp_path / "inproc.log"
    hookp = tmp_path / "inproc.hooks"
    monkeypatch.setenv("SAQ_PYWORKER_LOG", str(logp))
    monkeypatch.setenv("SAQ_PYWORKER_HOOKLOG", str(hookp))

    class Logs:
        def runs(self):
            if not logp.exists():
                return []
            return [(lambda f, k, a: (f, k, int(a)))(*l.rsplit(" ", 2)) for l in logp.read_text().splitlines()]

        def hooks(self):
            if not hookp.exists():
                return []
            return [l.split(" ") for l in hookp.read_text().splitlines()]

    return Logs()


class InProcWorker:
    """A Python saq Worker running as a task of the test's event loop."""

    def __init__(self, worker):
        import asyncio

        self.worker = worker
        self.task = None
        self._asyncio = asyncio

    @property
    def id(self) -> str:
        return compat.worker_id(self.worker)

    async def start(self, initial_sweep: bool = False):
        if not initial_sweep:
            # saq 0.26 sweeps at start and sweeps at once a job another
            # process has just dequeued but not yet marked (#277, spec 7):
            # taking the sweep lock first keeps that race out of tests that
            # enqueue before starting a Python worker.
            r = redis_sync.Redis.from_url(self.redis_url)
            r.set(f"saq:{self.worker.queue.name}:sweep", 1, ex=30, nx=True)
            r.close()
        self.task = self._asyncio.create_task(self.worker.start())
        await self._asyncio.sleep(0.05)
        await self._asyncio.to_thread(settle, self.redis_url, self.worker.queue.name)
        return self

    async def process(self):
        """One process() iteration (dequeue one job and run it)."""
        return await self.worker.process()

    async def stop(self):
        if self.task is None:
            return
        await self.worker.stop()
        try:
            await self._asyncio.wait_for(self.task, 10)
        except BaseException:
            pass
        self.task = None


@pytest.fixture
async def pyworker(redis_url):
    """Make in-process Python workers on their own Queue object:
    w = await pyworker(concurrency=1, ...); await w.start(); ... (stopped at teardown)."""
    import pyfuncs

    made = []

    async def make(functions=None, queue=None, **kw):
        q = queue or await compat.make_queue(redis_url)
        w = InProcWorker(compat.make_worker(q, functions or pyfuncs.FUNCTIONS, **kw))
        w.redis_url = redis_url
        w.queue = q
        w.own_queue = queue is None
        made.append(w)
        return w

    yield make
    for w in made:
        await w.stop()
        if w.own_queue:
            try:
                await w.queue.disconnect()
            except Exception:
                pass
