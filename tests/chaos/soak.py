# SPDX-License-Identifier: MIT
"""The chaos soak: one queue, a fleet of worker processes, a paced producer,
and kill -9 / Redis restarts / a Redis freeze, then a drain and an audit of
every job. Run it through tests/chaos/soak (it builds the workers and picks
the Python environment); tests/chaos/README.md defines every figure printed.

    soak.py [--full] [--fleets mixed,python] [--out DIR] [--seed N] [--keep]

Worker binaries and environment come from the wrapper: SOAK_C_WORKER,
SOAK_GO_WORKER, SOAK_NODE_PKG, SOAK_RUBY_INC (the -I directories, ':'-joined),
SAQ_LIB (for the libsaq producer)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

try:
    import redis
except ImportError:  # --help works without the venv; a run needs it
    redis = None

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
WORKERS = os.path.join(HERE, "workers")
QUEUE = "soak"
TERMINAL = {"complete", "failed", "aborted"}

# Forms of the soak. Times in seconds; rates in jobs per second.
MODES = {
    "short": dict(jobs=1500, rate=37.5, kill_every=4.0, redis_kill_at=0.35, redis_stop_at=0.7,
                  stop_s=3.0, redis_down_s=1.0, drain_s=60.0, fleets=["mixed"]),
    "full": dict(jobs=20000, rate=200.0, kill_every=4.0, redis_kill_at=0.35, redis_stop_at=0.7,
                 stop_s=3.0, redis_down_s=1.0, drain_s=180.0, fleets=["mixed", "python"]),
}
# Worker slots and producers of each fleet (same total concurrency).
FLEETS = {
    "mixed": dict(workers=[("py", 2), ("c", 1), ("go", 1), ("node", 1), ("ruby", 1)],
                  producers=["py", "libsaq"], flows=True),
    "python": dict(workers=[("py", 6)], producers=["py", "py"]),
}
CONCURRENCY = 10           # per worker process (saq's default)
JOB_TIMEOUT = 10           # seconds (saq's default)
JOB_TTL = 3600             # keep records for the audit
RESTART_AFTER_S = 0.5      # a killed worker is started again after this
AT_RISK_S = 1.0            # an outcome written this close to a kill / outage may be lost
FAIL_SHARE = 0.05          # jobs that raise on their first attempt(s)
ALWAYS_FAIL_SHARE = 0.01   # jobs that raise on every attempt (end failed)
FLOW_EVERY = 25            # fleets with flows: one flow per this many plan jobs (libsaq producer)
FLOW_MEMBERS = 4           # member jobs per flow (10 % of them fail on every attempt)


def log(fleet: str, msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}{' ' + fleet if fleet else ''}] {msg}", flush=True)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raw_ping(port: int) -> bool:
    """PING on a fresh connection: True once the server answers +PONG (not -LOADING)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
            c.sendall(b"PING\r\n")
            return c.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def pct(vals: list[float], p: float) -> float | None:
    if not vals:
        return None
    v = sorted(vals)
    k = (len(v) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# --------------------------------------------------------------------------
# the job plan
# --------------------------------------------------------------------------

def make_plan(n: int, seed: int) -> list[dict]:
    """Every job sleeps 0-50 ms. 5 % raise on their first 1-2 attempts and
    have retries = failures + 1 (they complete on their last attempt when
    nothing else happens); 1 % raise on every attempt (retries 2: they end
    failed); the rest never raise and have retries 3, so that a run lost to a
    kill can be re-run."""
    rnd = random.Random(seed)
    plan = []
    for i in range(n):
        r = rnd.random()
        if r < ALWAYS_FAIL_SHARE:
            fail_until, retries = 99, 2
        elif r < ALWAYS_FAIL_SHARE + FAIL_SHARE:
            fail_until = rnd.choice([1, 2])
            retries = fail_until + 1
        else:
            fail_until, retries = 0, 3
        plan.append(dict(key=f"soak-{i:05d}", ms=rnd.randint(0, 50), fail_until=fail_until,
                         retries=retries, timeout=JOB_TIMEOUT, ttl=JOB_TTL))
    return plan


def make_flows(n: int, seed: int) -> list[dict]:
    """Flows (saq_queue_enqueue_flow) sent by the libsaq producer next to the plan: each has
    FLOW_MEMBERS soak jobs (10 % fail on every attempt, retries 2; the rest never raise,
    retries 3) and a soak callback (never raises, retries 3) that libsaq enqueues once every
    member is terminal, with their outcomes in its kwargs."""
    rnd = random.Random(seed * 31 + 1)
    flows = []
    for f in range(n // FLOW_EVERY):
        members = []
        for m in range(FLOW_MEMBERS):
            fail_until, retries = (99, 2) if rnd.random() < 0.1 else (0, 3)
            members.append(dict(key=f"flow-{f:04d}-m{m}", ms=rnd.randint(0, 50), fail_until=fail_until,
                                retries=retries, timeout=JOB_TIMEOUT, ttl=JOB_TTL))
        cb = dict(key=f"flow-{f:04d}", ms=rnd.randint(0, 50), fail_until=0, retries=3, timeout=JOB_TIMEOUT,
                  ttl=JOB_TTL)
        flows.append(dict(key=cb["key"], members=members, callback=cb))
    return flows


def audit_flows(srv, flows: list[dict], records: dict, acked: set[str]) -> dict:
    """Every acknowledged flow must be done (its callback enqueued: the callback key is then
    audited as a job, so a callback never enqueued is "lost" and one enqueued twice has
    "extra runs"), and its callback must carry every member's final status, in order."""
    not_done, mismatched = [], []
    for fl in flows:
        if fl["key"] not in acked:
            continue
        state = srv.call(lambda c: c.hget(f"saq:{QUEUE}:libsaq:flow:{fl['key']}", "state"))
        if state != "done":
            not_done.append(dict(flow=fl["key"], state=state))
            continue
        cb = records.get(fl["key"]) or {}
        got = [(m.get("key"), m.get("status")) for m in ((cb.get("kwargs") or {}).get("flow") or {}).get("members", [])]
        want = [(m["key"], (records.get(m["key"]) or {}).get("status", "missing")) for m in fl["members"]]
        if got != want:
            mismatched.append(dict(flow=fl["key"], callback_saw=got, records=want))
    n = sum(1 for fl in flows if fl["key"] in acked)
    return dict(flows=len(flows), flows_acknowledged=n, flows_done=n - len(not_done),
                flows_not_done=not_done, flows_mismatched=mismatched)


def planned_runs(job: dict) -> int:
    return min(job["fail_until"] + 1, job["retries"])


# --------------------------------------------------------------------------
# redis-server under our control
# --------------------------------------------------------------------------

class RedisServer:
    def __init__(self, workdir: str):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                                  socket_connect_timeout=1, decode_responses=True)
        self.state = "down"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        """Start (or restart, reloading the AOF) on the same port and dir; returns when it answers."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--logfile", os.path.join(self.dir, "redis.log"), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if raw_ping(self.port):
                self.state = "up"
                return time.time()
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError(f"redis-server did not start on port {self.port}: "
                           + open(os.path.join(self.dir, "redis.log")).read()[-2000:])

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.state = "down"
        return time.time()

    def pause(self) -> float:
        self.proc.send_signal(signal.SIGSTOP)
        self.state = "stopped"
        return time.time()

    def resume(self) -> float:
        self.proc.send_signal(signal.SIGCONT)
        self.state = "up"
        return time.time()

    def shutdown(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, fn, default=None):
        """A monitoring call; never while Redis is frozen or down."""
        if self.state != "up":
            return default
        try:
            return fn(self.client)
        except redis.exceptions.RedisError:
            return default


# --------------------------------------------------------------------------
# worker processes
# --------------------------------------------------------------------------

@dataclass
class Incarnation:
    slot: str
    kind: str
    n: int
    wid: str
    log: str
    out: str
    proc: subprocess.Popen
    started: float
    ready: float | None = None
    killed: float | None = None
    exited: float | None = None
    rc: int | None = None
    unexpected: bool = False


def worker_cmd(kind: str, a: list[str]) -> tuple[list[str], dict]:
    env = dict(os.environ)
    if kind == "py":
        return [sys.executable, os.path.join(WORKERS, "soak_worker.py")] + a, env
    if kind == "c":
        return [os.environ["SOAK_C_WORKER"]] + a, env
    if kind == "go":
        return [os.environ["SOAK_GO_WORKER"]] + a, env
    if kind == "node":
        env["SAQ_NODE_PKG"] = os.environ["SOAK_NODE_PKG"]
        return ["node", os.path.join(WORKERS, "soak_worker.js")] + a, env
    if kind == "ruby":
        inc = []
        for d in os.environ["SOAK_RUBY_INC"].split(":"):
            inc += ["-I", d]
        return ["ruby"] + inc + [os.path.join(WORKERS, "soak_worker.rb")] + a, env
    raise ValueError(kind)


class Fleet:
    def __init__(self, name: str, workdir: str, url: str):
        self.name = name
        self.dir = os.path.join(workdir, "workers")
        os.makedirs(self.dir)
        self.url = url
        self.slots: dict[str, str] = {}
        for kind, count in FLEETS[name]["workers"]:
            for i in range(count):
                self.slots[f"{kind}{i + 1}"] = kind
        self.incs: list[Incarnation] = []
        self.live: dict[str, Incarnation] = {}

    def start(self, slot: str) -> Incarnation:
        kind = self.slots[slot]
        n = sum(1 for x in self.incs if x.slot == slot) + 1
        wid = f"{self.name}-{slot}-{n}"
        base = os.path.join(self.dir, f"{slot}.{n}")
        cmd, env = worker_cmd(kind, ["--url", self.url, "--queue", QUEUE, "--id", wid,
                                     "--concurrency", str(CONCURRENCY), "--log", base + ".runs"])
        out = open(base + ".out", "w")
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        out.close()
        inc = Incarnation(slot, kind, n, wid, base + ".runs", base + ".out", proc, time.time())
        self.incs.append(inc)
        self.live[slot] = inc
        return inc

    def check_ready(self) -> None:
        for inc in self.live.values():
            if inc.ready is None:
                try:
                    with open(inc.out) as f:
                        if "ready " in f.read():
                            inc.ready = time.time()
                except OSError:
                    pass

    def wait_ready(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_ready()
            if all(i.ready for i in self.live.values()):
                return
            for i in self.live.values():
                if i.proc.poll() is not None:
                    raise RuntimeError(f"worker {i.slot} exited {i.proc.returncode} at start:\n{tail(i.out)}")
            time.sleep(0.05)
        late = [i.slot for i in self.live.values() if not i.ready]
        raise RuntimeError(f"workers not ready after {timeout:.0f} s: {late}")

    def kill(self, slot: str) -> Incarnation:
        inc = self.live.pop(slot)
        os.kill(inc.proc.pid, signal.SIGKILL)
        inc.killed = time.time()
        inc.proc.wait()
        inc.exited = time.time()
        inc.rc = inc.proc.returncode
        return inc

    def reap(self) -> list[Incarnation]:
        """Workers that exited by themselves (a defect: they are restarted)."""
        gone = []
        for slot, inc in list(self.live.items()):
            if inc.proc.poll() is not None:
                inc.exited, inc.rc, inc.unexpected = time.time(), inc.proc.returncode, True
                del self.live[slot]
                gone.append(inc)
        return gone

    def stop_all(self, grace: float = 15.0) -> list[str]:
        """SIGTERM every live worker; those still running after `grace` get SIGKILL (reported)."""
        for inc in self.live.values():
            inc.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + grace
        notes = []
        for slot, inc in list(self.live.items()):
            try:
                inc.proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                inc.proc.kill()
                inc.proc.wait()
                inc.exited, inc.rc = time.time(), inc.proc.returncode
                notes.append(f"{slot} ({inc.wid}) did not exit within {grace:.0f} s of SIGTERM: killed")
                continue
            inc.exited, inc.rc = time.time(), inc.proc.returncode
            if inc.rc != 0:
                notes.append(f"{slot} ({inc.wid}) exited {inc.rc} after SIGTERM:\n{tail(inc.out, 600)}")
        self.live.clear()
        return notes


def tail(path: str, n: int = 1500) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


# --------------------------------------------------------------------------
# one fleet under chaos
# --------------------------------------------------------------------------

def snapshot_leases(srv: RedisServer, wid: str) -> list[dict]:
    """Records in the active list that name this worker and are not terminal."""
    def f(c):
        ids = c.lrange(f"saq:{QUEUE}:active", 0, -1)
        out = []
        for i in range(0, len(ids), 500):
            for raw in c.mget(ids[i:i + 500]):
                if raw:
                    rec = json.loads(raw)
                    if rec.get("worker_id") == wid and rec.get("status") not in TERMINAL:
                        out.append(rec)
        return out
    return srv.call(f, [])


def busy_workers(srv: RedisServer) -> set[str]:
    """Worker ids named by the records in the active list."""
    def f(c):
        ids = c.lrange(f"saq:{QUEUE}:active", 0, -1)
        return {json.loads(raw).get("worker_id") for raw in (c.mget(ids) if ids else []) if raw}
    return srv.call(f, set())


def list_membership(srv: RedisServer) -> dict[str, list[str]]:
    """key -> the queue structures that hold its id (queued, active, incomplete)."""
    out: dict[str, list[str]] = {}
    prefix = f"saq:job:{QUEUE}:"
    for name, fn in (("queued", lambda c: c.lrange(f"saq:{QUEUE}:queued", 0, -1)),
                     ("active", lambda c: c.lrange(f"saq:{QUEUE}:active", 0, -1)),
                     ("incomplete", lambda c: c.zrange(f"saq:{QUEUE}:incomplete", 0, -1))):
        for jid in srv.call(fn, []) or []:
            if jid.startswith(prefix):
                out.setdefault(jid[len(prefix):], []).append(name)
    return out


def read_records(srv: RedisServer, keys: list[str]) -> dict[str, dict | None]:
    recs: dict[str, dict | None] = {}
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for attempt in range(20):
            try:
                raws = srv.client.mget([f"saq:job:{QUEUE}:{k}" for k in chunk])
                break
            except redis.exceptions.RedisError:
                time.sleep(0.5)
        else:
            raise RuntimeError("cannot read the job records")
        for k, raw in zip(chunk, raws):
            recs[k] = json.loads(raw) if raw else None
    return recs


def run_fleet(name: str, cfg: dict, workroot: str, seed: int) -> dict:
    rnd = random.Random(seed * 7919 + len(name))
    workdir = os.path.join(workroot, name)
    os.makedirs(workdir)
    plan = make_plan(cfg["jobs"], seed)
    plan_path = os.path.join(workdir, "plan.jsonl")
    with open(plan_path, "w") as f:
        for j in plan:
            f.write(json.dumps(j) + "\n")

    flows = make_flows(cfg["jobs"], seed) if FLEETS[name].get("flows") else []
    flows_path = os.path.join(workdir, "flows.jsonl")
    with open(flows_path, "w") as f:
        for fl in flows:
            f.write(json.dumps(fl) + "\n")

    srv = RedisServer(workdir)
    srv.start()
    fleet = Fleet(name, workdir, srv.url)
    events: list[dict] = []       # chaos events, in order
    outages: list[tuple[float, float, str]] = []
    kills: list[dict] = []
    unexpected: list[dict] = []
    progress: list[dict] = []
    producers = []
    try:
        log(name, f"redis-server on port {srv.port} (appendonly yes, appendfsync always); "
                  f"starting {len(fleet.slots)} workers: {', '.join(fleet.slots)}")
        for slot in fleet.slots:
            fleet.start(slot)
        fleet.wait_ready(60)

        produce_s = cfg["jobs"] / cfg["rate"]
        t0 = time.time() + 1.0
        prod_kinds = FLEETS[name]["producers"]
        for i, client in enumerate(prod_kinds):
            plog = os.path.join(workdir, f"producer{i + 1}.log")
            pout = open(os.path.join(workdir, f"producer{i + 1}.out"), "w")
            p = subprocess.Popen([sys.executable, os.path.join(HERE, "producer.py"), "--client", client,
                                  "--url", srv.url, "--queue", QUEUE, "--plan", plan_path,
                                  "--shard", f"{i}/{len(prod_kinds)}", "--rate", str(cfg["rate"]),
                                  "--start-at", str(t0), "--log", plog]
                                 + (["--flows", flows_path] if client == "libsaq" and flows else []),
                                 stdin=subprocess.DEVNULL, stdout=pout, stderr=subprocess.STDOUT)
            pout.close()
            producers.append((client, p, plog, os.path.join(workdir, f"producer{i + 1}.out")))

        # the chaos schedule
        t_rkill = t0 + cfg["redis_kill_at"] * produce_s
        t_rstop = t0 + cfg["redis_stop_at"] * produce_s
        chaos_end = t0 + produce_s + 3.0
        sched: list[tuple[float, str, str]] = [(t_rkill, "redis-kill", ""), (t_rstop, "redis-stop", "")]
        t = t0 + cfg["kill_every"] * rnd.uniform(0.5, 1.0)
        while t < chaos_end:
            # no worker kill near the Redis events, so each recovery has one cause
            if all(not (r - 1.5 <= t <= r + 5.0) for r in (t_rkill, t_rstop)):
                sched.append((t, "worker-kill", ""))
            t += cfg["kill_every"] * rnd.uniform(0.75, 1.25)
        sched.sort()
        log(name, f"producing {cfg['jobs']} jobs at {cfg['rate']:.0f}/s ({produce_s:.0f} s) with "
                  f"{sum(1 for s in sched if s[1] == 'worker-kill')} worker kills, a Redis SIGKILL at "
                  f"+{t_rkill - t0:.0f} s and a {cfg['stop_s']:.0f} s SIGSTOP at +{t_rstop - t0:.0f} s")

        next_print = t0 + 5
        kind_cycle: list[str] = []
        while True:
            now = time.time()
            fleet.check_ready()
            for inc in fleet.reap():
                unexpected.append(dict(slot=inc.slot, wid=inc.wid, t=inc.exited, rc=inc.rc,
                                       output=tail(inc.out)))
                log(name, f"UNEXPECTED: worker {inc.slot} ({inc.wid}) exited {inc.rc}; restarting it")
                sched.append((now + RESTART_AFTER_S, "restart", inc.slot))
                sched.sort()
            while sched and sched[0][0] <= now:
                _, what, arg = sched.pop(0)
                if what == "worker-kill":
                    # the kinds take turns (in a shuffled cycle); within the kind, a worker that
                    # holds a job (so that the kill leaves jobs to recover), waiting up to 1 s
                    # for one; else any worker of that kind
                    if not kind_cycle:
                        kind_cycle = sorted(set(fleet.slots.values()))
                        rnd.shuffle(kind_cycle)
                    kind = kind_cycle.pop()
                    of_kind = sorted(s for s, i in fleet.live.items() if i.kind == kind) or sorted(fleet.live)
                    wait_until = time.time() + 1.0
                    while True:
                        busy = busy_workers(srv)
                        cands = [s for s in of_kind if fleet.live[s].wid in busy]
                        if cands or time.time() >= wait_until:
                            break
                        time.sleep(0.02)
                    slot = rnd.choice(cands or of_kind)
                    inc = fleet.kill(slot)
                    leases = snapshot_leases(srv, inc.wid)
                    kills.append(dict(slot=slot, kind=inc.kind, wid=inc.wid, t=inc.killed,
                                      leased=[r["key"] for r in leases]))
                    events.append(dict(t=inc.killed, event="worker-kill", slot=slot, wid=inc.wid))
                    sched.append((time.time() + RESTART_AFTER_S, "restart", slot))
                    sched.sort()
                elif what == "restart":
                    inc = fleet.start(arg)
                    events.append(dict(t=inc.started, event="worker-start", slot=arg, wid=inc.wid))
                elif what == "redis-kill":
                    tk = srv.kill()
                    events.append(dict(t=tk, event="redis-kill"))
                    log(name, "Redis SIGKILLed")
                    time.sleep(cfg["redis_down_s"])
                    tr = srv.start()
                    events.append(dict(t=tr, event="redis-ready"))
                    outages.append((tk, tr, "kill"))
                    log(name, f"Redis restarted from its AOF ({tr - tk:.2f} s down)")
                elif what == "redis-stop":
                    ts = srv.pause()
                    events.append(dict(t=ts, event="redis-sigstop"))
                    time.sleep(cfg["stop_s"])
                    tc = srv.resume()
                    events.append(dict(t=tc, event="redis-sigcont"))
                    outages.append((ts, tc, "stop"))
                    log(name, f"Redis SIGSTOPped for {tc - ts:.2f} s")
            producing = any(p.poll() is None for _, p, _, _ in producers)
            if now >= next_print:
                inc_n = srv.call(lambda c: c.zcard(f"saq:{QUEUE}:incomplete"))
                acked = sum(count_acks(pl) for _, _, pl, _ in producers)
                progress.append(dict(t=now - t0, acked=acked, incomplete=inc_n, kills=len(kills)))
                log(name, f"+{now - t0:4.0f} s  acked {acked}/{cfg['jobs'] + len(flows) * (FLOW_MEMBERS + 1)}  "
                          f"incomplete {inc_n}  "
                          f"worker kills {len(kills)}")
                next_print = now + 5
            if not producing and now >= chaos_end and not sched:
                break
            time.sleep(0.02)
        for client, p, _, pout in producers:
            if p.returncode != 0:
                raise RuntimeError(f"the {client} producer exited {p.returncode}:\n{tail(pout)}")

        # drain
        t_drain = time.time()
        acked_keys, prod_info = read_producer_logs([pl for _, _, pl, _ in producers])
        keys = sorted(acked_keys)
        log(name, f"chaos over; draining (deadline {cfg['drain_s']:.0f} s)")
        drained_at = None
        next_full = last_full = 0.0
        while time.time() < t_drain + cfg["drain_s"]:
            for inc in fleet.reap():
                unexpected.append(dict(slot=inc.slot, wid=inc.wid, t=inc.exited, rc=inc.rc, output=tail(inc.out)))
                log(name, f"UNEXPECTED: worker {inc.slot} ({inc.wid}) exited {inc.rc}; restarting it")
                fleet.start(inc.slot)
            fleet.check_ready()
            counts = srv.call(lambda c: (c.zcard(f"saq:{QUEUE}:incomplete"), c.llen(f"saq:{QUEUE}:queued"),
                                         c.llen(f"saq:{QUEUE}:active")))
            if time.time() >= next_full and (counts == (0, 0, 0) or time.time() >= last_full + 5):
                last_full = time.time()
                recs = read_records(srv, keys)
                if all(r is not None and r.get("status") in TERMINAL for r in recs.values()):
                    drained_at = time.time()
                    break
                next_full = time.time() + 2
            if time.time() >= next_print:
                log(name, f"draining +{time.time() - t_drain:4.0f} s  incomplete/queued/active {counts}")
                next_print = time.time() + 5
            time.sleep(0.5)
        log(name, "drained" if drained_at else f"NOT drained after {cfg['drain_s']:.0f} s")
        stop_notes = fleet.stop_all()
        # the flows' members and callbacks are audited as jobs too
        plan = plan + [m for fl in flows for m in fl["members"]] + [fl["callback"] for fl in flows]
        records = read_records(srv, [j["key"] for j in plan])
        flow_audit = audit_flows(srv, flows, records, acked_keys) if flows else None
        lists = list_membership(srv)
        redis_info = srv.call(lambda c: c.info("server"), {})
    finally:
        for _, p, _, _ in producers:
            if p.poll() is None:
                p.kill()
                p.wait()
        for inc in list(fleet.live.values()):
            inc.proc.kill()
            inc.proc.wait()
        srv.shutdown()

    res = analyse(name, cfg, plan, records, lists, fleet, kills, outages, events, unexpected, stop_notes,
                  acked_keys, prod_info, t0, t_drain, drained_at, progress,
                  redis_info.get("redis_version", "?"))
    if flow_audit is not None:
        cbs = {fl["key"] for fl in flows}
        flow_audit["callbacks_with_extra_runs"] = sorted({e["key"] for e in res["extra_run_jobs"] if e["key"] in cbs})
        flow_audit["callbacks_lost"] = sorted(j["key"] for j in res["lost_jobs"] if j["key"] in cbs)
        res["flow_audit"] = flow_audit
    return res


def count_acks(path: str) -> int:
    try:
        with open(path) as f:
            return sum(1 for line in f if line[:2] in ("A ", "N "))
    except OSError:
        return 0


def read_producer_logs(paths: list[str]) -> tuple[set[str], dict]:
    acked: set[str] = set()
    info: dict = dict(errors=0, gave_up=[], retried_keys={}, first_ack_after={}, acks=[], error_kinds={})
    for p in paths:
        with open(p) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 3)
                if parts[0] in ("A", "N"):
                    acked.add(parts[1])
                    info["acks"].append(int(parts[2]) / 1000)
                    info.setdefault("ack_at", {})[parts[1]] = int(parts[2]) / 1000
                    if parts[0] == "N":
                        info.setdefault("already_present", []).append(parts[1])
                elif parts[0] == "X":
                    info["errors"] += 1
                    info["retried_keys"].setdefault(parts[1], []).append(int(parts[2]) / 1000)
                    kind = parts[3].split(":")[0] if len(parts) > 3 else "?"
                    info["error_kinds"][kind] = info["error_kinds"].get(kind, 0) + 1
                elif parts[0] == "G":
                    info["gave_up"].append(parts[1])
    return acked, info


# --------------------------------------------------------------------------
# the audit
# --------------------------------------------------------------------------

@dataclass
class Run:
    key: str
    attempt: int
    start: float
    inc: Incarnation
    end: float | None = None
    outcome: str | None = None
    category: str = ""
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.end is not None:
            how = f"{self.outcome} at {self.end:.3f}"
        elif self.inc.killed:
            how = f"killed at {self.inc.killed:.3f}"
        else:
            how = "no end recorded"
        return f"attempt {self.attempt} on {self.inc.wid} started {self.start:.3f}, {how}"


def read_runs(fleet: Fleet) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {}
    for inc in fleet.incs:
        open_runs: dict[tuple[str, int], list[Run]] = {}
        try:
            f = open(inc.log)
        except OSError:
            continue
        with f:
            for line in f:
                p = line.split()
                if len(p) < 4:
                    continue
                if p[0] == "S":
                    r = Run(p[1], int(p[2]), int(p[3]) / 1000, inc)
                    # one process may run the same attempt twice (a duplicate queue entry)
                    open_runs.setdefault((r.key, r.attempt), []).append(r)
                    runs.setdefault(r.key, []).append(r)
                elif p[0] == "E" and len(p) >= 5:
                    pending = open_runs.get((p[1], int(p[2])))
                    if pending:
                        r = pending.pop(0)
                        r.end, r.outcome = int(p[3]) / 1000, p[4]
    for rs in runs.values():
        rs.sort(key=lambda r: r.start)
    return runs


def analyse(name, cfg, plan, records, lists, fleet, kills, outages, events, unexpected, stop_notes,
            acked, prod, t0, t_drain, drained_at, progress, redis_version) -> dict:
    runs = read_runs(fleet)
    byjob = {j["key"]: j for j in plan}

    def outage_near(a: float, b: float) -> str | None:
        for (x, y, kind) in outages:
            if x <= b and y >= a:
                return f"Redis {'restart' if kind == 'kill' else 'SIGSTOP'}"
        return None

    def at_risk(r: Run) -> str | None:
        """Why the stored outcome of a finished run may be missing (None: it is not at risk)."""
        k = r.inc.killed
        if k is not None and k >= r.end and (k - r.end <= AT_RISK_S or outage_near(r.end, k)):
            return f"its worker was killed {k - r.end:.3f} s after it ended"
        for (x, y, kind) in outages:
            if kind == "kill" and x - AT_RISK_S <= r.end <= y:
                return "it ended just before or during the Redis restart"
        return None

    # classify every run
    cats: dict[str, int] = {}
    extra: list[dict] = []
    for key, rs in runs.items():
        job = byjob.get(key)
        retries = job["retries"] if job else 0
        # times at which the producer (re)sent this key after a failed attempt: any of them may
        # have stored the job again
        reenq = prod["retried_keys"].get(key, [])
        if reenq and key in prod.get("ack_at", {}):
            reenq = reenq + [prod["ack_at"][key]]
        for i, r in enumerate(rs):
            if job is None:
                r.category, r.reasons = "extra", ["a key the producer never sent"]
            elif i == 0:
                r.category = "first run"
            else:
                reasons = []
                if any(p.attempt == r.attempt for p in rs[:i]):
                    reasons.append("repeats the attempt number of an earlier run")
                if r.attempt > retries:
                    reasons.append(f"attempt {r.attempt} beyond retries {retries}")
                for p in rs[:i]:
                    p_end = p.end if p.end is not None else (p.inc.killed or p.inc.exited or float("inf"))
                    if p_end > r.start:
                        reasons.append(f"ran while the run of {p.inc.wid} (attempt {p.attempt}) was in progress")
                    elif p.end is not None and not at_risk(p) and not any(t > p.end for t in reenq):
                        if p.outcome == "ok":
                            reasons.append(f"started after attempt {p.attempt} had completed on {p.inc.wid}")
                        elif p.attempt >= retries:
                            reasons.append(f"started after the final failure (attempt {p.attempt}) on {p.inc.wid}")
                prev = rs[i - 1]
                if reasons:
                    r.category, r.reasons = "extra", reasons
                elif prev.end is None:
                    r.category = "recovery: previous run killed"
                elif prev.outcome == "fail" and prev.attempt < retries:
                    r.category = "retry after a planned failure"
                elif at_risk(prev):
                    r.category = "recovery: previous outcome lost to a kill or restart"
                else:
                    r.category = "recovery: producer re-sent the job"
            cats[r.category] = cats.get(r.category, 0) + 1
            if r.category == "extra":
                extra.append(dict(key=key, run=r.describe(), reasons=r.reasons,
                                  runs=[x.describe() for x in rs],
                                  record=summarize_record(records.get(key))))

    # job states ("lists": where each non-terminal job's id is at the end, read before the analysis)
    status_counts: dict[str, int] = {}
    stuck, lost = [], []
    never_ran_terminal = 0
    for key in sorted(acked):
        rec = records.get(key)
        if rec is None:
            lost.append(dict(key=key, runs=[r.describe() for r in runs.get(key, [])]))
            continue
        st = rec.get("status")
        status_counts[st] = status_counts.get(st, 0) + 1
        if st not in TERMINAL:
            stuck.append(dict(key=key, status=st, lists=lists.get(key, []), record=summarize_record(rec),
                              worker=owner(rec, fleet),
                              runs=[r.describe() for r in runs.get(key, [])]))
        elif key not in runs:
            never_ran_terminal += 1
    aborted_errors: dict[str, int] = {}
    failed_unplanned = 0
    for key in acked:
        rec = records.get(key)
        if rec and rec.get("status") == "aborted":
            e = (rec.get("error") or "").splitlines()[0][:100] if rec.get("error") else ""
            aborted_errors[e] = aborted_errors.get(e, 0) + 1
        if rec and rec.get("status") == "failed" and byjob[key]["fail_until"] < byjob[key]["retries"]:
            failed_unplanned += 1
    # attempts that the record counts but no worker log shows (a dequeue whose run never started)
    phantom = []
    for key in acked:
        rec = records.get(key)
        if rec and isinstance(rec.get("attempts"), int):
            seen = {r.attempt for r in runs.get(key, [])}
            missing = [a for a in range(1, rec["attempts"] + 1) if a not in seen]
            if missing:
                phantom.append(dict(key=key, missing_attempts=missing, record=summarize_record(rec),
                                    runs=[r.describe() for r in runs.get(key, [])]))
    unacked = [j["key"] for j in plan if j["key"] not in acked]
    unacked_present = [k for k in unacked if records.get(k) is not None]

    # recovery after worker kills
    rec_times: list[float] = []
    rec_by_kind: dict[str, list[float]] = {}
    not_restarted = []
    kill_rows = []
    for k in kills:
        inflight = {r.key for rs in runs.values() for r in rs if r.inc.wid == k["wid"] and r.end is None}
        inflight |= set(k["leased"])
        times = []
        for key in sorted(inflight):
            nxt = [r.start for r in runs.get(key, []) if r.start > k["t"]]
            if nxt:
                times.append(min(nxt) - k["t"])
            else:
                rec = records.get(key)
                not_restarted.append(dict(key=key, killed_worker=k["wid"], record=summarize_record(rec)))
        rec_times += times
        rec_by_kind.setdefault(k["kind"], []).extend(times)
        kill_rows.append(dict(t=k["t"] - t0, slot=k["slot"], wid=k["wid"], in_flight=len(inflight),
                              leased_in_redis=len(k["leased"]), restarted=len(times),
                              p50=pct(times, 0.5), max=max(times) if times else None))

    # recovery after the Redis events
    completions = sorted(r["completed"] / 1000 for r in records.values()
                         if r and r.get("status") == "complete" and r.get("completed"))
    starts = sorted((r.start, r.inc.kind) for rs in runs.values() for r in rs)
    redis_rec = []
    for (x, y, kind) in outages:
        first_done = next((c for c in completions if c >= y), None)
        first_start = next((s for s, _ in starts if s >= y), None)
        per_kind = {}
        for kd in sorted(set(fleet.slots.values())):
            s = next((s for s, k2 in starts if s >= y and k2 == kd), None)
            per_kind[kd] = None if s is None else round(s - y, 3)
        first_ack = min((a for a in prod["acks"] if a >= y), default=None)
        redis_rec.append(dict(
            event="SIGKILL + restart" if kind == "kill" else "SIGSTOP",
            at=x - t0, unavailable_s=y - x,
            first_completion_s=None if first_done is None else first_done - y,
            first_run_start_s=None if first_start is None else first_start - y,
            first_run_start_by_kind_s=per_kind,
            first_enqueue_ack_s=None if first_ack is None else first_ack - y,
            completions_stamped_while_unavailable=sum(1 for c in completions if x < c < y)))

    # the slowest jobs: queued stamp to terminal stamp
    lat = []
    for key in acked:
        rec = records.get(key)
        if rec and rec.get("status") in TERMINAL and rec.get("completed") and rec.get("queued"):
            lat.append(((rec["completed"] - rec["queued"]) / 1000, key))
    lat.sort(reverse=True)
    slowest = [dict(key=k, latency_s=round(v, 3), record=summarize_record(records[k]),
                    runs=[r.describe() for r in runs.get(k, [])]) for v, k in lat[:5]]
    lat_vals = [v for v, _ in lat]

    expected_runs = sum(planned_runs(byjob[k]) for k in acked)
    total_runs = sum(len(rs) for rs in runs.values())
    res = dict(
        fleet=name, workers={s: k for s, k in fleet.slots.items()}, redis_version=redis_version,
        jobs_planned=len(plan), acknowledged=len(acked),
        unacknowledged=len(unacked), unacknowledged_but_stored=len(unacked_present),
        producer_errors=prod["errors"], producer_error_kinds=prod["error_kinds"], producer_gave_up=len(prod["gave_up"]),
        acknowledged_as_present=len(prod.get("already_present", [])),
        terminal=sum(v for s, v in status_counts.items() if s in TERMINAL),
        status_counts=status_counts, aborted_errors=aborted_errors, failed_unplanned=failed_unplanned,
        terminal_without_a_run=never_ran_terminal,
        attempts_without_a_run=sum(len(p["missing_attempts"]) for p in phantom), attempts_without_a_run_jobs=phantom,
        stuck=len(stuck), lost=len(lost),
        runs_total=total_runs, runs_planned=expected_runs, run_categories=cats,
        extra_runs=cats.get("extra", 0),
        worker_kills=len(kills), kills=kill_rows,
        killed_in_flight=sum(r["in_flight"] for r in kill_rows),
        kill_recovery_p50_s=pct(rec_times, 0.5), kill_recovery_p90_s=pct(rec_times, 0.9),
        kill_recovery_max_s=max(rec_times) if rec_times else None,
        kill_recovery_by_kind={kd: dict(n=len(v), p50=pct(v, 0.5), max=max(v) if v else None)
                               for kd, v in rec_by_kind.items()},
        # the libsaq workers' kills alone (issue 12's targets: p50 < 3 s, max < 5 s); a Python
        # worker's jobs wait for saq's registry entry to expire
        kill_recovery_libsaq=(lambda v: dict(n=len(v), p50=pct(v, 0.5), max=max(v) if v else None))(
            sorted(x for kd, v in rec_by_kind.items() if kd != "py" for x in v)),
        killed_not_restarted=len(not_restarted), not_restarted_jobs=not_restarted,
        redis_events=redis_rec,
        unexpected_worker_exits=[dict(u, t=u["t"] - t0) for u in unexpected],
        stop_notes=stop_notes,
        chaos_s=t_drain - t0, drain_s=None if drained_at is None else drained_at - t_drain,
        drained=drained_at is not None,
        throughput_jobs_per_s=(len(acked) / ((drained_at or t_drain) - t0)) if acked else None,
        progress=progress,
        events=[dict(e, t=round(e["t"] - t0, 3)) for e in events],
        latency_p50_s=pct(lat_vals, 0.5), latency_p99_s=pct(lat_vals, 0.99),
        latency_max_s=max(lat_vals) if lat_vals else None,
        stuck_jobs=stuck, lost_jobs=lost, extra_run_jobs=extra, slowest_jobs=slowest,
    )
    return res


def summarize_record(rec: dict | None) -> dict | None:
    if rec is None:
        return None
    keep = ("status", "attempts", "retries", "worker_id", "error", "queued", "started", "touched", "completed")
    out = {k: rec.get(k) for k in keep if rec.get(k) is not None}
    if "error" in out:
        out["error"] = out["error"].strip().splitlines()[-1][:200] if out["error"].strip() else ""
    return out


def owner(rec: dict, fleet: Fleet) -> str:
    wid = rec.get("worker_id")
    for inc in fleet.incs:
        if inc.wid == wid:
            if inc.killed:
                return f"{wid} (killed at {inc.killed:.3f})"
            if inc.unexpected:
                return f"{wid} (exited by itself, rc {inc.rc})"
            return f"{wid} (alive until the end)"
    return f"{wid} (not a worker of this run)" if wid else "none"


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def fmt_s(v) -> str:
    return "-" if v is None else f"{v:.2f} s"


def render(result: dict) -> str:
    fl = result["fleets"]
    names = list(fl)
    title = {"mixed": "mixed fleet (libsaq C/Go/Node/Ruby + Python saq)", "python": "Python saq only (baseline)"}
    L = [f"# libsaq chaos soak ({result['mode']}), {result['started']}", ""]
    c = result["config"]
    L.append(f"{c['jobs']} jobs per fleet, enqueued at {c['rate']:.0f}/s by two producers; worker concurrency "
             f"{CONCURRENCY}; a worker SIGKILLed about every {c['kill_every']:.0f} s and restarted after "
             f"{RESTART_AFTER_S} s; Redis SIGKILLed once and restarted from its AOF after {c['redis_down_s']:.0f} s; "
             f"Redis SIGSTOPped once for {c['stop_s']:.0f} s; drain deadline {c['drain_s']:.0f} s. "
             f"redis-server with appendonly yes, appendfsync always. Seed {result['seed']}. "
             f"Machine: {result['machine']}.")
    L.append("")
    L.append("Definitions: tests/chaos/README.md. Command: `" + result["command"] + "`.")
    L.append("")
    L.append("| | " + " | ".join(title.get(n, n) for n in names) + " |")
    L.append("|---|" + "---|" * len(names))

    def row(label, fn):
        L.append(f"| {label} | " + " | ".join(fn(fl[n]) for n in names) + " |")

    row("workers", lambda f: ", ".join(f"{k}" for k in f["workers"]))
    row("acknowledged enqueues", lambda f: f"{f['acknowledged']} / {f['jobs_planned']}")
    row("terminal (complete / failed / aborted)", lambda f: f"{f['terminal']} ({f['status_counts'].get('complete', 0)} / "
        f"{f['status_counts'].get('failed', 0)} / {f['status_counts'].get('aborted', 0)})")
    row("**stuck**", lambda f: f"**{f['stuck']}**")
    row("**lost**", lambda f: f"**{f['lost']}**")
    row("**extra runs**", lambda f: f"**{f['extra_runs']}**")
    row("flows: done / acknowledged (callbacks with wrong outcomes, run twice)", lambda f: (
        "-" if not f.get("flow_audit") else
        f"{f['flow_audit']['flows_done']} / {f['flow_audit']['flows_acknowledged']} "
        f"({len(f['flow_audit']['flows_mismatched'])}, {len(f['flow_audit']['callbacks_with_extra_runs'])})"))
    row("runs: total / planned", lambda f: f"{f['runs_total']} / {f['runs_planned']}")
    row("re-runs after a kill or restart", lambda f: str(sum(v for k, v in f["run_categories"].items()
                                                             if k.startswith("recovery"))))
    row("worker kills / in-flight jobs", lambda f: f"{f['worker_kills']} / {f['killed_in_flight']}")
    row("recovery after a worker kill p50 / p90 / max", lambda f: f"{fmt_s(f['kill_recovery_p50_s'])} / "
        f"{fmt_s(f['kill_recovery_p90_s'])} / {fmt_s(f['kill_recovery_max_s'])}")
    row("... of libsaq workers (C, Go, Node, Ruby) p50 / max", lambda f: (
        f"{fmt_s(f['kill_recovery_libsaq']['p50'])} / {fmt_s(f['kill_recovery_libsaq']['max'])} "
        f"(n={f['kill_recovery_libsaq']['n']})" if f['kill_recovery_libsaq']['n'] else "-"))
    row("killed in-flight jobs never re-run", lambda f: str(f["killed_not_restarted"]))
    for i, what in enumerate(["Redis restart", "Redis SIGSTOP"]):
        row(f"{what}: to first completion / first run", lambda f, i=i: (
            f"{fmt_s(f['redis_events'][i]['first_completion_s'])} / {fmt_s(f['redis_events'][i]['first_run_start_s'])}"
            if len(f["redis_events"]) > i else "-"))
    row("attempts counted but never run", lambda f: str(f["attempts_without_a_run"]))
    row("failed although planned to complete", lambda f: str(f["failed_unplanned"]))
    row("unexpected worker exits", lambda f: str(len(f["unexpected_worker_exits"])))
    row("producer errors (retried) / gave up", lambda f: f"{f['producer_errors']} / {f['producer_gave_up']}")
    row("job latency (queued to terminal) p50 / p99 / max", lambda f: f"{fmt_s(f['latency_p50_s'])} / "
        f"{fmt_s(f['latency_p99_s'])} / {fmt_s(f['latency_max_s'])}")
    row("drained in", lambda f: fmt_s(f["drain_s"]) if f["drained"] else "**not drained**")
    row("chaos phase / throughput", lambda f: f"{f['chaos_s']:.0f} s / {f['throughput_jobs_per_s']:.0f} jobs/s")
    for n in names:
        f = fl[n]
        L += ["", f"## {title.get(n, n)}", ""]
        L.append("Runs by category: " + ", ".join(f"{k} {v}" for k, v in sorted(f["run_categories"].items())) + ".")
        if f["aborted_errors"]:
            L.append("Aborted jobs by error: " + ", ".join(f"`{k or '(none)'}` {v}" for k, v in f["aborted_errors"].items()) + ".")
        L.append("")
        L.append("Recovery after worker kills, by the kind of the killed worker: " + ", ".join(
            f"{k} n={v['n']} p50 {fmt_s(v['p50'])} max {fmt_s(v['max'])}" for k, v in sorted(f["kill_recovery_by_kind"].items())) + ".")
        L.append("")
        L.append("| kill at | worker | in flight (leased in Redis) | re-run | p50 | max |")
        L.append("|---|---|---|---|---|---|")
        for k in f["kills"]:
            L.append(f"| +{k['t']:.1f} s | {k['wid']} | {k['in_flight']} ({k['leased_in_redis']}) | {k['restarted']} | "
                     f"{fmt_s(k['p50'])} | {fmt_s(k['max'])} |")
        for e in f["redis_events"]:
            L.append("")
            L.append(f"Redis {e['event']} at +{e['at']:.1f} s, unavailable {e['unavailable_s']:.2f} s: first completion "
                     f"{fmt_s(e['first_completion_s'])}, first run {fmt_s(e['first_run_start_s'])} after it was back "
                     f"(by worker kind: " + ", ".join(f"{k} {fmt_s(v)}" for k, v in e["first_run_start_by_kind_s"].items())
                     + f"); first acknowledged enqueue {fmt_s(e['first_enqueue_ack_s'])}; "
                     f"{e['completions_stamped_while_unavailable']} completions stamped while it was unavailable "
                     f"(outcomes the workers kept and wrote afterwards).")
        for u in f["unexpected_worker_exits"]:
            L += ["", f"Worker {u['wid']} exited by itself (rc {u['rc']}) at +{u['t']:.1f} s; its output ends with:",
                  "```", u["output"][-800:], "```"]
        for note in f["stop_notes"]:
            L += ["", "At the end: " + note]
        for label, items in (("Stuck jobs", f["stuck_jobs"]), ("Lost jobs", f["lost_jobs"]),
                             ("Jobs with extra runs", f["extra_run_jobs"]),
                             ("Killed in-flight jobs never re-run", f["not_restarted_jobs"]),
                             ("Attempts counted in the record but never run", f["attempts_without_a_run_jobs"]),
                             ("Slowest jobs", f["slowest_jobs"])):
            if not items:
                continue
            L += ["", f"{label} ({len(items)}; the JSON file has all):", "```"]
            for it in items[:15]:
                L.append(json.dumps(it))
            L.append("```")
    return "\n".join(L) + "\n"


def print_summary(result: dict) -> None:
    for n, f in result["fleets"].items():
        print(f"\n== {n} fleet ({', '.join(f['workers'])})")
        print(f"   acknowledged {f['acknowledged']}/{f['jobs_planned']}  terminal {f['terminal']} "
              f"{f['status_counts']}  stuck {f['stuck']}  lost {f['lost']}  extra runs {f['extra_runs']}")
        print(f"   worker kills {f['worker_kills']}, in-flight jobs {f['killed_in_flight']}, recovery p50 "
              f"{fmt_s(f['kill_recovery_p50_s'])} max {fmt_s(f['kill_recovery_max_s'])} (libsaq workers: p50 "
              f"{fmt_s(f['kill_recovery_libsaq']['p50'])} max {fmt_s(f['kill_recovery_libsaq']['max'])}), never re-run "
              f"{f['killed_not_restarted']}")
        fa = f.get("flow_audit")
        if fa:
            print(f"   flows done {fa['flows_done']}/{fa['flows_acknowledged']}  callbacks with wrong outcomes "
                  f"{len(fa['flows_mismatched'])}  callbacks lost {len(fa['callbacks_lost'])}  run twice "
                  f"{len(fa['callbacks_with_extra_runs'])}")
            for it in (fa["flows_not_done"] + fa["flows_mismatched"])[:10]:
                print(f"   FLOW: {json.dumps(it)}")
        for e in f["redis_events"]:
            print(f"   Redis {e['event']}: first completion {fmt_s(e['first_completion_s'])} after it was back")
        if f["unexpected_worker_exits"]:
            print(f"   UNEXPECTED worker exits: " + ", ".join(f"{u['wid']} rc {u['rc']}" for u in f["unexpected_worker_exits"]))
        for label, items in (("STUCK", f["stuck_jobs"]), ("LOST", f["lost_jobs"]), ("EXTRA RUNS", f["extra_run_jobs"])):
            for it in items[:10]:
                print(f"   {label}: {json.dumps(it)}")
            if len(items) > 10:
                print(f"   {label}: ... {len(items) - 10} more in the JSON file")


def main() -> int:
    ap = argparse.ArgumentParser(description="libsaq chaos soak (see tests/chaos/README.md)")
    ap.add_argument("--full", action="store_true", help="the full form: 20,000 jobs, mixed fleet and Python baseline")
    ap.add_argument("--fleets", help="comma-separated: mixed, python (default: mixed for the short form, both for --full)")
    ap.add_argument("--jobs", type=int, help="override the number of jobs")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "soak"), help="where the results go (default bench/soak)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs of every worker)")
    a = ap.parse_args()
    mode = "full" if a.full else "short"
    cfg = dict(MODES[mode])
    if a.jobs:
        cfg["jobs"] = a.jobs
    fleets = a.fleets.split(",") if a.fleets else cfg.pop("fleets")
    cfg.pop("fleets", None)
    for n in fleets:
        if n not in FLEETS:
            ap.error(f"unknown fleet {n}")
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
    started = dt.datetime.now(dt.timezone.utc)
    workroot = tempfile.mkdtemp(prefix="saq-soak-")
    load0 = os.getloadavg()[0]
    result = dict(mode=mode, started=started.strftime("%Y-%m-%d %H:%M:%S UTC"), seed=seed, config=cfg,
                  command=" ".join(["tests/chaos/soak"] + sys.argv[1:]),
                  machine=f"{os.cpu_count()} cores, load average {load0:.2f} at start", fleets={})
    ok = True
    try:
        for n in fleets:
            log("", f"fleet {n}: {cfg['jobs']} jobs (seed {seed})")
            result["fleets"][n] = run_fleet(n, cfg, workroot, seed)
    except Exception:
        log("", f"the soak itself failed; logs kept in {workroot}")
        raise
    result["machine"] += f", {os.getloadavg()[0]:.2f} at end"
    os.makedirs(a.out, exist_ok=True)
    stem = os.path.join(a.out, f"soak-{mode}-{started.strftime('%Y%m%dT%H%M%SZ')}")
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(stem + ".md", "w") as f:
        f.write(render(result))
    print_summary(result)
    gate = [n for n in fleets if n != "python"] or fleets
    bad = [(n, result["fleets"][n]["stuck"], result["fleets"][n]["lost"]) for n in gate
           if result["fleets"][n]["stuck"] or result["fleets"][n]["lost"]]
    flow_bad = [(n, fa) for n in gate if (fa := result["fleets"][n].get("flow_audit")) and
                (fa["flows_not_done"] or fa["flows_mismatched"] or fa["callbacks_with_extra_runs"])]
    ok = not bad and not flow_bad
    keep = a.keep or not ok
    if keep:
        print(f"\nworker and producer logs: {workroot}")
    else:
        shutil.rmtree(workroot, ignore_errors=True)
    print(f"results: {stem}.md and {stem}.json")
    if bad or flow_bad:
        print("soak: FAIL: " + "; ".join([f"{n} fleet: {s} stuck, {l} lost" for n, s, l in bad] +
                                         [f"{n} fleet: flows not done {len(fa['flows_not_done'])}, "
                                          f"callbacks with wrong outcomes {len(fa['flows_mismatched'])}, "
                                          f"callbacks run twice {len(fa['callbacks_with_extra_runs'])}"
                                          for n, fa in flow_bad]))
        return 1
    print("soak: PASS (no stuck or lost job in " + ", ".join(gate) + " fleet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
