#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis's own cost of libsaq's worker protocol, without any worker: a
synthetic client replays exactly what the C worker sends per job (the
DEQUEUE batch script, one MARKS and one FINISHES call per batch, with the
scripts taken from src/scripts.c)
in deep pipelines, and Redis's CPU time (INFO cpu) and command time (INFO
commandstats) per job are read. This is the Redis side of the "physical
limit" with no client in the way, and it makes script changes measurable
without the noise of a full worker.

    python3 bench/redis_cost.py [--jobs 20000] [--batch 100] [--variant NAME ...] [--tls]

The client speaks plain RESP over TCP; with --tls it talks to a TLS port of
the same redis-server (certificates made for the run, as bench/run does for
its TLS rows), which adds Redis's TLS record work to its CPU time per job.

Variants rewrite the scripts in memory to show what each part costs (they
are experiments, not libsaq behaviour): see VARIANTS below.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SRC = os.path.join(h.REPO, "src", "scripts.c")


def load_scripts():
    text = open(SRC).read()
    macros = {}
    for m in re.finditer(r'#define (\w+)\s*\\\n((?:.*\\\n)*.*)\n', text):
        macros[m.group(1)] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
    out = {}
    for m in re.finditer(r'\[SCRIPT_(\w+)\]\s*=\s*(.*?)(?=,\n\n|,\n};)', text, re.S):
        body = m.group(2)
        parts = []
        for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|\b([A-Z_]{3,})\b', body):
            if tok.group(1) is not None:
                parts.append(tok.group(1))
            elif tok.group(2) in macros:
                parts.append(macros[tok.group(2)])
        s = "".join(parts)
        s = s.encode().decode("unicode_escape")
        out[m.group(1)] = s
    return out


# Each variant is a set of scripts plus flags saying how the replay calls them.
# "current" is what the C worker sends today (issue 16): one MARKS call per
# dequeued batch and one FINISHES call per batch of outcomes, both on their
# fast paths (the record as dequeued / as marked is sent along, so Lua
# compares bytes instead of decoding); the others are the ways before, or
# what-ifs.
VARIANTS = {
    "current": lambda s: s,
    # before issue 16: one MARK and one FINISH per job
    "single": lambda s: {**s, "_single_marks": True, "_single_finishes": True},
    # one MARKS per batch, one FINISH per job (issue 16's first step)
    "single-finishes": lambda s: {**s, "_single_finishes": True},
    # what the decode costs when the fast paths do not apply (a record changed
    # since it was read: an abort, a Python writer)
    "no-fast-path": lambda s: {**s, "_no_fast_path": True},
    # what LPOS costs (existence of the id in `active`)
    "no-lpos": lambda s: {**s, "MARKS": re.sub(r"redis\.call\('LPOS'[^)]*\)", "true", s["MARKS"])},
}


class Client(h.Redis):
    def pipeline(self, cmds):
        self.s.sendall(b"".join(h.multinode.encode(args) for args in cmds))
        return [self._read_any() for _ in cmds]

    def _read_any(self):
        try:
            return self._read()
        except h.multinode.ReplyError as e:
            return e


def run(r, scripts, jobs, batch, queue="cost", worker_id=None):
    worker_id = worker_id or str(uuid.uuid1())
    sha = {k: r.cmd("SCRIPT", "LOAD", v) for k, v in scripts.items()
           if k in ("DEQUEUE", "MARK", "MARKS", "FINISH", "FINISHES")}
    q, a, inc = f"saq:{queue}:queued", f"saq:{queue}:active", f"saq:{queue}:incomplete"
    fast = not scripts.get("_no_fast_path")
    r.cmd("CONFIG", "RESETSTAT")
    cpu0 = r.cpu()
    t0 = time.monotonic()
    done = 0
    while done < jobs:
        n = min(batch, jobs - done)
        rep = r.pipeline([["EVALSHA", sha["DEQUEUE"], 2, q, a, n, "1"]])[0]
        pairs = [(rep[i], rep[i + 1]) for i in range(0, len(rep), 2)]
        if not pairs:
            break
        now = int(time.time() * 1000)
        marks = []  # (id, marker, record as marked, record as dequeued)
        for jid, raw in pairs:
            rec = json.loads(raw)
            rec.update(attempts=rec.get("attempts", 0) + 1, started=now, touched=now,
                       status="active", worker_id=worker_id)
            key = jid.split(":", 3)[3]
            marks.append((jid, f"saq:abort:{key}", json.dumps(rec), raw if fast else "", rec))
        if scripts.get("_single_marks"):
            res = r.pipeline([["EVALSHA", sha["MARK"], 3, a, m[0], m[1], m[2], "0", "0", m[3], "0"] for m in marks])
        else:
            keys = [a] + [x for m in marks for x in (m[0], m[1])]
            argv = ["0", "0"] + [x for m in marks for x in (m[2], m[3], "0")]
            res = r.pipeline([["EVALSHA", sha["MARKS"], len(keys)] + keys + argv])[0]
        bad = [x for x in res if not (isinstance(x, list) and x and x[0] == 1)]
        if bad:
            raise SystemExit(f"MARK answered {bad[:3]}")
        fins = []
        for jid, marker, marked, _, rec in marks:
            att, st = rec["attempts"], rec["started"]
            rec.update(status="complete", result=1, completed=now, progress=1.0)
            fins.append(["EVALSHA", sha["FINISH"], 4, a, inc, jid, marker, json.dumps(rec),
                         rec.get("ttl", 600), "complete", "1", att, st, "0", "0", marked if fast else ""])
        if scripts.get("_single_finishes"):
            res = r.pipeline(fins)
        else:
            keys = [a, inc] + [x for f in fins for x in (f[5], f[6])]
            res = r.pipeline([["EVALSHA", sha["FINISHES"], len(keys)] + keys + [x for f in fins for x in f[7:]]])[0]
        bad = [x for x in res if not (isinstance(x, list) and x and x[0] == 1)]
        if bad:
            raise SystemExit(f"FINISH answered {bad[:3]}")
        done += len(pairs)
    el = time.monotonic() - t0
    cpu = r.cpu() - cpu0
    stats = r.commandstats()
    return {"jobs": done, "redis_us_per_job": cpu * 1e6 / done, "elapsed": el,
            "commands": {k: (v["calls"] / done, v["usec"] / done) for k, v in stats.items()
                         if k not in ("info", "config|resetstat", "script|load")}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variant", action="append")
    ap.add_argument("--tls", action="store_true", help="the client talks to a TLS port of the server")
    a = ap.parse_args()
    variants = a.variant or ["current"]
    scripts = load_scripts()
    for k in ("DEQUEUE", "MARK", "MARKS", "FINISH", "FINISHES"):
        if k not in scripts:
            raise SystemExit(f"could not read SCRIPT_{k} from {SRC}")
    tmp = tempfile.mkdtemp(prefix="saq-cost-")
    rs = h.RedisServer(tmp, tls=a.tls)
    if a.tls and not rs.tls_url:
        rs.stop()
        raise SystemExit(f"no TLS: {rs.tls_error}")
    c = h.System("c")
    h.setup_c(c)
    try:
        r = Client(rs.tls_port, tls_ca=rs.tls_ca) if a.tls else Client(rs.port)
        results = {v: [] for v in variants}
        for rep in range(a.reps):
            for v in variants:
                r.cmd("FLUSHALL", "SYNC")
                h.run_once(c, ["fill", rs.url, "cost", a.jobs], tmp, f"fill{rep}{v}", 300)
                results[v].append(run(r, VARIANTS[v](scripts), a.jobs, a.batch))
        for v in variants:
            rr = sorted(results[v], key=lambda x: x["redis_us_per_job"])
            mid = rr[len(rr) // 2]
            cmds = ", ".join(f"{k} {n:.2f}x/{us:.2f}us" for k, (n, us) in
                             sorted(mid["commands"].items(), key=lambda kv: -kv[1][1]) if n >= 0.01)
            print(f"{v:<10} Redis CPU {mid['redis_us_per_job']:.1f} us/job "
                  f"(runs: {', '.join('%.1f' % x['redis_us_per_job'] for x in results[v])}); "
                  f"limit {1e6 / mid['redis_us_per_job']:,.0f} jobs/s; {cmds}")
    finally:
        rs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
