#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis's own cost of libsaq's worker protocol, without any worker: a
synthetic client replays exactly what the C worker sends per job (the
DEQUEUE batch script, MARK, FINISH, with the scripts taken from src/scripts.c)
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


VARIANTS = {
    "current": lambda s: s,
    # what the two cjson.decode calls cost: MARK and the FINISH guard skip them
    "no-decode": lambda s: {**s,
                            "MARK": s["MARK"].replace("pcall(cjson.decode, cur)", "true, {status='queued'}"),
                            "FINISH": s["FINISH"].replace("pcall(cjson.decode, cur)",
                                                          "true, {attempts=attempts, started=started, status='active'}")},
    # what LPOS costs (existence of the id in `active`)
    "no-lpos": lambda s: {**s, "MARK": re.sub(r"redis\.call\('LPOS'[^)]*\)", "true", s["MARK"])},
}


# What-if: one script call marks (or finishes) a whole batch, the per-job work
# being exactly that of MARK / FINISH (the same redis.call()s and decode).
MARK_BATCH_WRAP = """
local function one(KEYS, ARGV)
%s
end
local out = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local r = one({KEYS[1], KEYS[2 * i], KEYS[2 * i + 1]}, {ARGV[2 + i], ARGV[1], ARGV[2]})
  out[i] = r[1]
end
return out
"""
FINISH_BATCH_WRAP = """
%s
local out = {}
local n = (#KEYS - 2) / 2
for i = 1, n do
  local b = (i - 1) * 8
  local r = one({KEYS[1], KEYS[2], KEYS[1 + 2 * i], KEYS[2 + 2 * i]},
                {ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8]})
  out[i] = r[1]
end
return out
"""


def batched(scripts):
    fin = scripts["FINISH"]
    head, sep, body = fin.partition("local g = guard(")
    finish_fn = head + "local function one(KEYS, ARGV)\n" + sep + body + "\nend"
    return {**scripts, "MARK": MARK_BATCH_WRAP % scripts["MARK"], "FINISH": FINISH_BATCH_WRAP % finish_fn,
            "_batched": True}


VARIANTS["batched"] = batched
VARIANTS["batched-no-decode"] = lambda s: batched(VARIANTS["no-decode"](s))


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
    sha = {k: r.cmd("SCRIPT", "LOAD", v) for k, v in scripts.items() if k in ("DEQUEUE", "MARK", "FINISH")}
    q, a, inc = f"saq:{queue}:queued", f"saq:{queue}:active", f"saq:{queue}:incomplete"
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
        marks, recs = [], []
        for jid, raw in pairs:
            rec = json.loads(raw)
            rec.update(attempts=rec.get("attempts", 0) + 1, started=now, touched=now,
                       status="active", worker_id=worker_id)
            recs.append((jid, rec))
            key = jid.split(":", 3)[3]
            marks.append(["EVALSHA", sha["MARK"], 3, a, jid, f"saq:abort:{key}", json.dumps(rec), "0", "0"])
        if scripts.get("_batched"):
            keys = [a] + [x for m in marks for x in (m[4], m[5])]
            res = r.pipeline([["EVALSHA", sha["MARK"], len(keys)] + keys + ["0", "0"] + [m[6] for m in marks]])[0]
            res = [[x] for x in res] if isinstance(res, list) else [res]
        else:
            res = r.pipeline(marks)
        bad = [x for x in res if not (isinstance(x, list) and x and x[0] == 1)]
        if bad:
            raise SystemExit(f"MARK answered {bad[:3]}")
        fins = []
        for jid, rec in recs:
            att, st = rec["attempts"], rec["started"]
            rec.update(status="complete", result=1, completed=now, progress=1.0)
            key = jid.split(":", 3)[3]
            fins.append(["EVALSHA", sha["FINISH"], 4, a, inc, jid, f"saq:abort:{key}", json.dumps(rec),
                         rec.get("ttl", 600), "complete", "1", att, st, "0", "0"])
        if scripts.get("_batched"):
            keys = [a, inc] + [x for f in fins for x in (f[5], f[6])]
            res = r.pipeline([["EVALSHA", sha["FINISH"], len(keys)] + keys + [x for f in fins for x in f[7:]]])[0]
            res = [[x] for x in res] if isinstance(res, list) else [res]
        else:
            res = r.pipeline(fins)
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
    for k in ("DEQUEUE", "MARK", "FINISH"):
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
