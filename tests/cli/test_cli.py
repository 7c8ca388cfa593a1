#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tests of the `saq` command-line tool (cli/) against real servers: a redis-server this file
starts (and stops and restarts for the outage cases), a libsaq worker (saq-testworker), tmux
for `saq watch`, promtool and a real Prometheus server for `saq metrics`.

Standard library only (unittest). Run by ctest (label cli) as
    SAQ_CLI=build/cli/saq SAQ_TESTWORKER=build/tests/saq-testworker python3 tests/cli/test_cli.py
Needs redis-server, tmux, promtool and prometheus on PATH (.ci/setup test installs them).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

SAQ = os.environ.get("SAQ_CLI", "build/cli/saq")
WORKER = os.environ.get("SAQ_TESTWORKER", "build/tests/saq-testworker")
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.1, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Redis:
    """A private redis-server on a loopback port; stop() and start() keep the port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="saq-cli-redis-")
        self.port = free_port()
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", 10, what="redis-server")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                           text=True)
        return r.stdout.strip()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def saq(*args, url=None, env=None, timeout=30):
    e = dict(os.environ)
    for k in ("SAQ_URL", "REDIS_URL", "SAQ_QUEUE", "SAQ_LOG_LEVEL"):
        e.pop(k, None)
    if url:
        e["SAQ_URL"] = url
    if env:
        e.update(env)
    return subprocess.run([SAQ, *args], capture_output=True, text=True, env=e, timeout=timeout)


class Worker:
    """saq-testworker on `queue`; `log` holds one line per run ("function key attempt")."""

    def __init__(self, url, queue="default", extra=()):
        self.log = tempfile.mktemp(prefix="saq-cli-worker-", suffix=".log")
        self.proc = subprocess.Popen([WORKER, "--url", url, "--queue", queue, "--log", self.log, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), line
        self.id = line.split()[1]

    def runs(self, key):
        try:
            with open(self.log) as f:
                return sum(1 for l in f if l.split()[1:2] == [key])
        except FileNotFoundError:
            return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        if os.path.exists(self.log):
            os.unlink(self.log)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.redis.start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()

    def setUp(self):
        self.redis.cli("FLUSHALL")

    def run_ok(self, *args, **kw):
        r = saq(*args, url=kw.pop("url", self.redis.url), **kw)
        self.assertEqual(r.returncode, 0, f"saq {' '.join(args)}: {r.stderr}")
        return r

    def job_json(self, key, queue="default"):
        r = saq("job", key, "--json", "-q", queue, url=self.redis.url)
        return json.loads(r.stdout) if r.returncode == 0 else None

    # ---------------------------------------------------------------- usage

    def test_help_version_usage_errors(self):
        r = saq("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^saq \d+\.\d+\.\d+ \(libsaq \d+\.\d+\.\d+\)$")
        r = saq("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ("info", "jobs", "job", "enqueue", "abort", "retry", "delete", "sweep", "watch",
                    "check", "metrics", "cron", "limits"):
            self.assertIn(f"  {cmd}", r.stdout)
            h = saq(cmd, "--help")
            self.assertEqual(h.returncode, 0, cmd)
            self.assertTrue(h.stdout.startswith(f"usage: saq {cmd}"), h.stdout)
        r = saq()
        self.assertEqual(r.returncode, 2)
        r = saq("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "saq: unknown command 'frobnicate' (saq --help)\n")
        r = saq("jobs", "--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "saq jobs: unknown option '--bogus' (saq jobs --help)\n")
        r = saq("jobs", "--status", "sleeping", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown status 'sleeping'", r.stderr)
        r = saq("job", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing the job's KEY", r.stderr)
        r = saq("enqueue", "f", "[1, 2]", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("KWARGS_JSON", r.stderr)
        r = saq("metrics", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--listen ADDR or --once", r.stderr)

    def test_cron_preview_in_a_time_zone(self):
        # no Redis: a dead url is never used
        dead = f"redis://127.0.0.1:{free_port()}/0"
        r = saq("cron", "30 2 * * *", "--tz", "America/New_York", "--after", "2024-03-09T12:00:00Z",
                "-n", "2", url=dead)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^cron '30 2 \* \* \*' in America/New_York \(tz data 20\d\d[a-z]\):$")
        # 02:30 does not exist on 2024-03-10 in New York: 03:00 EDT, as croniter
        self.assertEqual(lines[2].split(), ["2024-03-10", "03:00:00", "-04:00", "2024-03-10T07:00:00Z",
                                            "1710054000"])
        self.assertEqual(lines[3].split()[:3], ["2024-03-11", "02:30:00", "-04:00"])
        r = saq("cron", "0 1 * * *", "--tz", "Europe/London", "--after", "1729900800", "-n", "3",
                "--json", url=dead)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["cron_tz"], "Europe/London")
        self.assertRegex(doc["tzdata"], r"^20\d\d[a-z]$")
        # 2024-10-27: 01:00 BST and again 01:00 GMT (the hour repeats), then 01:00 GMT
        self.assertEqual([(f["local"], f["utc_offset"]) for f in doc["fire_times"]],
                         [("2024-10-27 01:00:00", 3600), ("2024-10-27 01:00:00", 0),
                          ("2024-10-28 01:00:00", 0)])
        r = saq("cron", "0 0 * * *", url=dead)
        self.assertEqual((r.returncode, len(r.stdout.splitlines())), (0, 7))  # UTC, 5 by default
        self.assertIn(" in UTC (tz data ", r.stdout)
        r = saq("cron", "0 0 31 2 *", url=dead)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no later fire time", r.stdout)
        r = saq("cron", "0 0 * * *", "--tz", "Mars/Olympus", url=dead)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown time zone 'Mars/Olympus'", r.stderr)
        r = saq("cron", "61 * * * *", url=dead)
        self.assertEqual(r.returncode, 2)
        self.assertIn("out of range", r.stderr)
        r = saq("cron", url=dead)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing the cron EXPR", r.stderr)
        r = saq("cron", "* * * * *", "-n", "0", url=dead)
        self.assertEqual(r.returncode, 2)

    @unittest.skipUnless(shutil.which("groff"), "groff is not installed")
    def test_man_page_renders_clean(self):
        page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cli", "saq.1")
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True,
                           text=True)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        with open(page) as f:
            text = f.read()
        for cmd in ("info", "jobs", "job", "enqueue", "abort", "retry", "delete", "sweep", "watch",
                    "check", "metrics", "cron"):
            self.assertRegex(text, rf"(?m)^\.(B|BI|TP\n\.B) ?{cmd}\b|^\.BI {cmd}\\ ", cmd)

    def test_bad_url_and_unreachable_redis(self):
        r = saq("info", url="foo://x")
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith("saq: bad url 'foo://x': "), r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1)
        dead = f"redis://:sekret@127.0.0.1:{free_port()}/0"
        for args in (["info"], ["jobs"], ["job", "k"], ["enqueue", "f"], ["abort", "k"],
                     ["retry", "k"], ["delete", "k"], ["sweep"], ["check"], ["metrics", "--once"],
                     ["--json", "info"]):
            r = saq("--timeout", "2", *args, url=dead)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
            self.assertTrue(r.stderr.startswith("saq: cannot reach Redis at redis://:***@127.0.0.1:"),
                            f"{args}: {r.stderr}")
            self.assertIn("connection refused", r.stderr)
            self.assertNotIn("sekret", r.stderr + r.stdout)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertEqual(r.stdout, "")
        # the sentinels' password in the query is not shown either
        r = saq("--timeout", "2", "check", url=f"redis+sentinel://:data@127.0.0.1:{free_port()}/m/0"
                                              "?sentinel_password=sentpw&sentinel_username=u")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"^saq: cannot reach Redis at redis\+sentinel://:\*\*\*@127\.0\.0\.1:"
                                   r"\d+/m/0\?sentinel_password=\*\*\*&sentinel_username=u: ")
        self.assertNotIn("sentpw", r.stderr)
        self.assertNotIn("data", r.stderr)
        # a frozen Redis: no answer within --timeout is "cannot reach" too, in about that time
        self.redis.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            r = saq("--timeout", "1", "check", url=self.redis.url)
            took = time.time() - t0
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        self.assertEqual(r.returncode, 2)
        # the CLI's own wait and the request's deadline are both --timeout: either says so
        self.assertRegex(r.stderr, r"^saq: cannot reach Redis at redis://127\.0\.0\.1:\d+/0: .*"
                                   r"(no answer|no connection to redis at \S+) within 1000 ms\n$")
        self.assertLess(took, 4)
        # the url from the environment: SAQ_URL first, then REDIS_URL
        r = saq("info", env={"REDIS_URL": self.redis.url, "SAQ_URL": dead})
        self.assertEqual(r.returncode, 2)
        r = saq("info", env={"REDIS_URL": self.redis.url})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_environment_and_dialect(self):
        r = saq("enqueue", "noop", "--key", "e1", env={"SAQ_URL": self.redis.url,
                                                        "SAQ_QUEUE": "envq"})
        self.assertEqual((r.returncode, r.stdout), (0, "e1\n"), r.stderr)
        self.assertEqual(self.redis.cli("EXISTS", "saq:job:envq:e1"), "1")
        r = saq("--dialect", "0.12", "info", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith("saq: bad --dialect '0.12': "), r.stderr)
        r = saq("-q", "a:b", "info", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith("saq: bad queue name 'a:b': "), r.stderr)
        # --dialect 0.13 writes a record the tool reads back
        self.run_ok("--dialect", "0.13", "enqueue", "noop", "--key", "old")
        self.assertEqual(self.job_json("old")["status"], "queued")

    def test_url_forms_tls_sentinel_cluster(self):
        """rediss://, redis+sentinel:// (over TLS) and redis+cluster:// as the library takes them,
        on the deployments tests/support/with-redis starts."""
        script = r"""
S="$1"
q=${REDIS_CLUSTER_QUEUES%% *}
echo "unix-enqueue $("$S" --url "unix://$REDIS_SOCKET" enqueue noop --key u1)"
echo "tls-enqueue $("$S" --url "$REDIS_TLS_URL" enqueue noop --key t1)"
echo "tls-info $("$S" --url "$REDIS_TLS_URL" --json info | tr -d ' \t\n')"
echo "sentinel-enqueue $("$S" --url "$REDIS_SENTINEL_TLS_URL" enqueue noop --key s1)"
echo "sentinel-job $("$S" --url "$REDIS_SENTINEL_TLS_URL" job s1 --json)"
echo "cluster-enqueue $("$S" --url "$REDIS_CLUSTER_URL" -q "$q" enqueue noop --key c1)"
echo "cluster-job $("$S" --url "$REDIS_CLUSTER_URL" -q "$q" job c1 --json)"
"$S" --url "$REDIS_CLUSTER_URL" info 2>&1; echo "cluster-untagged $?"
bad=${REDIS_TLS_URL%%\?*}
"$S" --url "$bad?ssl_ca_certs=/nonexistent.pem" info 2>&1; echo "tls-badca $?"
"""
        r = subprocess.run([os.path.join(REPO, "tests", "support", "with-redis"), "--tls",
                            "--sentinel", "--cluster", "--", "bash", "-c", script, "bash",
                            os.path.abspath(SAQ)], capture_output=True, text=True, timeout=120)
        out = r.stdout
        self.assertEqual(r.returncode, 0, out + r.stderr)
        self.assertIn("unix-enqueue u1\n", out)
        self.assertIn("tls-enqueue t1\n", out)
        self.assertRegex(out, r'tls-info \{"queues":\[\{"queue":"default".*"queued":2')  # u1 and t1: one server
        self.assertIn("sentinel-enqueue s1\n", out)
        self.assertRegex(out, r'sentinel-job \{.*"key": ?"s1"')
        self.assertIn("cluster-enqueue c1\n", out)
        self.assertRegex(out, r'cluster-job \{.*"key": ?"c1"')
        self.assertRegex(out, r"saq: cannot open queue 'default': queue name 'default' has no "
                              r"hash tag.*\ncluster-untagged 2\n")
        self.assertRegex(out, r"saq: cannot open queue 'default': .*nonexistent\.pem.*\n"
                              r"tls-badca 2\n")

    def test_installed_with_the_library(self):
        build = os.path.dirname(os.path.dirname(os.path.abspath(SAQ)))
        prefix = tempfile.mkdtemp(prefix="saq-cli-prefix-")
        try:
            subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True,
                           capture_output=True)
            self.assertTrue(os.path.isfile(os.path.join(prefix, "share", "man", "man1", "saq.1")))
            env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
            r = subprocess.run([os.path.join(prefix, "bin", "saq"), "--version"],
                               capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("saq "))
            ldd = subprocess.run(["ldd", os.path.join(prefix, "bin", "saq")], capture_output=True,
                                 text=True).stdout
            self.assertRegex(ldd, rf"libsaq\.so\.0 => {re.escape(prefix)}/(bin/\.\./)?lib[^/]*/libsaq\.so\.0")
        finally:
            shutil.rmtree(prefix, ignore_errors=True)

    # ---------------------------------------------------------------- enqueue, job, jobs

    def test_enqueue_and_job(self):
        r = self.run_ok("enqueue", "add", '{"a": 1, "b": 2}', "--retries", "3", "--timeout", "7",
                        "--ttl", "60", "--heartbeat", "2", "--meta", '{"team": "x"}')
        key = r.stdout.strip()
        self.assertRegex(key, r"^[0-9a-f-]{36}$")
        rec = self.job_json(key)
        self.assertEqual(rec["function"], "add")
        self.assertEqual(rec["kwargs"], {"a": 1, "b": 2})
        self.assertEqual(rec["retries"], 3)
        self.assertEqual(rec["timeout"], 7)
        self.assertEqual(rec["ttl"], 60)
        self.assertEqual(rec["heartbeat"], 2)
        self.assertEqual(rec["meta"], {"team": "x"})
        self.assertEqual(rec["status"], "queued")
        self.assertEqual(rec["key"], key)
        # the record is what Redis holds
        self.assertEqual(json.loads(self.redis.cli("GET", f"saq:job:default:{key}")), rec)
        t = self.run_ok("job", key).stdout
        self.assertRegex(t, r"(?m)^function +add$")
        self.assertRegex(t, r"(?m)^status +queued$")
        self.assertRegex(t, r"(?m)^attempts +0 of 3$")
        self.assertRegex(t, r'(?m)^kwargs +\{"a": ?1, ?"b": ?2\}$')
        self.assertRegex(t, r"(?m)^queued +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(.* ago\)$")
        # a given key, and the same key again: nothing written, exit 1
        self.assertEqual(self.run_ok("enqueue", "noop", "--key", "k1").stdout, "k1\n")
        r = saq("enqueue", "noop", "--key", "k1", url=self.redis.url)
        self.assertEqual(r.returncode, 1)
        self.assertIn("'k1' is still unfinished", r.stderr)
        # --json: the record as sent
        r = self.run_ok("enqueue", "noop", "--key", "k2", "--json")
        self.assertEqual(json.loads(r.stdout)["key"], "k2")
        # scheduled jobs: --delay and --scheduled
        self.run_ok("enqueue", "noop", "--key", "later", "--delay", "300")
        self.assertAlmostEqual(self.job_json("later")["scheduled"], time.time() + 300, delta=5)
        self.run_ok("enqueue", "noop", "--key", "at", "--scheduled", "2099-01-02T03:04:05Z")
        self.assertEqual(self.job_json("at")["scheduled"], 4071006245)
        r = saq("enqueue", "noop", "--delay", "5", "--scheduled", "1", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        info = json.loads(self.run_ok("info", "--json").stdout)["queues"][0]
        self.assertEqual(info["queue"], "default")
        self.assertEqual(info["jobs"]["queued"], 3)
        self.assertEqual(info["jobs"]["scheduled"], 2)
        self.assertEqual(info["jobs"]["incomplete"], 5)
        self.assertGreaterEqual(info["oldest_queued_age_s"], 0)
        self.assertLess(info["oldest_queued_age_s"], 60)
        # unknown job
        r = saq("job", "nope", url=self.redis.url)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "saq: job 'nope' not found in queue 'default'\n")
        r = saq("job", "nope", "--json", url=self.redis.url)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")

    def test_job_shows_the_backoff_cap(self):
        """saq job: a capped exponential backoff (saq's retry_backoff as a number) names its cap."""
        self.run_ok("enqueue", "noop", "--key", "capped", "--retry-delay", "2")
        rec = json.loads(self.redis.cli("GET", "saq:job:default:capped"))
        for backoff, want in ((60, "2 s, exponential backoff (capped at 60 s)"),
                              (True, "2 s, exponential backoff"), (False, "2 s")):
            rec["retry_backoff"] = backoff
            self.redis.cli("SET", "saq:job:default:capped", json.dumps(rec))
            t = self.run_ok("job", "capped").stdout
            self.assertRegex(t, rf"(?m)^retry_delay +{re.escape(want)}$")

    def test_jobs_filter_and_pages(self):
        keys = {f"j{i:02d}" for i in range(25)}
        for k in sorted(keys):
            self.run_ok("enqueue", "noop", "--key", k, "-q", "pages")
        self.run_ok("enqueue", "noop", "--key", "other-queue")
        seen, cursor, pages = [], None, 0
        while True:
            args = ["jobs", "-q", "pages", "--limit", "10", "--json"]
            if cursor:
                args += ["--cursor", cursor]
            doc = json.loads(self.run_ok(*args).stdout)
            self.assertEqual(doc["queue"], "pages")
            seen += [j["key"] for j in doc["jobs"]]
            queued = [(j["queued"], j["key"]) for j in doc["jobs"]]
            self.assertEqual(queued, sorted(queued))  # a page in the order it was queued
            for j in doc["jobs"]:
                self.assertEqual(j["status"], "queued")
            pages += 1
            cursor = doc["cursor"]
            if cursor is None:
                break
            self.assertLess(pages, 30)
        self.assertEqual(set(seen), keys)
        # the table: a header, one row per job, and the next cursor when there is more
        t = self.run_ok("jobs", "-q", "pages", "--limit", "5").stdout.splitlines()
        self.assertEqual(t[0].split(), ["KEY", "FUNCTION", "STATUS", "ATTEMPTS", "QUEUED", "ERROR"])
        rows = [l for l in t[1:] if re.match(r"^j\d\d ", l)]
        self.assertGreaterEqual(len(rows), 5)
        self.assertRegex(rows[0], r"^j\d\d +noop +queued +0/1 +\d{4}-")
        self.assertRegex(t[-1], r"^next: --cursor \d+$")
        # --status filters
        doc = json.loads(self.run_ok("jobs", "-q", "pages", "--status", "active,failed",
                                     "--json", "--limit", "100").stdout)
        self.assertEqual(doc["jobs"], [])
        r = self.run_ok("jobs", "-q", "empty")
        self.assertEqual(r.stdout, "no jobs\n")

    def test_jobs_lists_finished_jobs(self):
        w = Worker(self.redis.url, "fin")
        try:
            ok = self.run_ok("enqueue", "add", '{"a": 1, "b": 2}', "-q", "fin").stdout.strip()
            bad = self.run_ok("enqueue", "fail", '{"message": "nope"}', "-q", "fin").stdout.strip()
            wait_for(lambda: (self.job_json(bad, "fin") or {}).get("status") == "failed", 10)
            wait_for(lambda: (self.job_json(ok, "fin") or {}).get("status") == "complete", 10)
        finally:
            w.stop()
        self.run_ok("enqueue", "noop", "-q", "fin", "--key", "waiting")
        doc = json.loads(self.run_ok("jobs", "-q", "fin", "--json").stdout)
        self.assertEqual({j["key"]: j["status"] for j in doc["jobs"]},
                         {ok: "complete", bad: "failed", "waiting": "queued"})
        doc = json.loads(self.run_ok("jobs", "-q", "fin", "--json", "--status",
                                     "failed,complete").stdout)
        self.assertEqual(sorted(j["key"] for j in doc["jobs"]), sorted([ok, bad]))
        t = self.run_ok("jobs", "-q", "fin", "-s", "failed").stdout
        self.assertRegex(t, rf"(?m)^{bad} +fail +failed +1/1 +\S+ +RuntimeError: nope$")

    # ---------------------------------------------------------------- with a worker

    def test_check_info_with_worker(self):
        r = saq("check", url=self.redis.url)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "default: 0 workers alive\n")
        w = Worker(self.redis.url)
        try:
            wait_for(lambda: saq("check", url=self.redis.url).returncode == 0, 15,
                     what="check to see the worker")
            self.assertEqual(saq("check", url=self.redis.url).stdout, "default: 1 worker alive\n")
            # several queues: each must have a worker
            r = saq("check", "-q", "default", "-q", "nobody", url=self.redis.url)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "default: 1 worker alive\nnobody: 0 workers alive\n")
            r = saq("check", "--json", "-q", "default", "-q", "nobody", url=self.redis.url)
            self.assertEqual(json.loads(r.stdout), {
                "queues": [{"queue": "default", "workers_alive": 1},
                           {"queue": "nobody", "workers_alive": 0}], "ok": False})
            doc = json.loads(self.run_ok("info", "--json", "-q", "default", "-q", "nobody").stdout)
            self.assertEqual([d["queue"] for d in doc["queues"]], ["default", "nobody"])
            d = doc["queues"][0]
            self.assertEqual(d["workers_alive"], 1)
            self.assertEqual([x["id"] for x in d["workers"]], [w.id])
            t = self.run_ok("info", "-q", "default", "-q", "nobody").stdout
            self.assertRegex(t, r"(?m)^QUEUE +QUEUED +ACTIVE +SCHEDULED +INCOMPLETE +OLDEST +WORKERS")
            self.assertRegex(t, r"(?m)^default +0 +0 +0 +0 +\S+ +1 ")
            self.assertRegex(t, r"(?m)^nobody +0 +0 +0 +0 +\S+ +0 ")
            self.assertRegex(t, rf"(?m)^{w.id} +default +\d+ +\d+ +\d+ +\d+ +\S+ +libsaq$")
            self.assertIs(d["workers"][0]["libsaq"], True)
        finally:
            w.stop()

    def test_limits(self):
        r = saq("limits", "-q", "lim", url=self.redis.url)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no limits published", r.stdout)
        w = Worker(self.redis.url, queue="lim", extra=["--limit", "*=20/60,0", "--limit", "sleep=0/0,1"])
        try:
            for _ in range(3):
                self.run_ok("enqueue", "-q", "lim", "sleep", '{"s": 3}')
            def waiting():
                r = saq("limits", "-q", "lim", "--json", url=self.redis.url)
                return r.returncode == 0 and any(d["waiting"] == 2 for d in json.loads(r.stdout)["limits"])
            wait_for(waiting, 10, what="two sleeps waiting")
            doc = json.loads(self.run_ok("limits", "-q", "lim", "--json").stdout)
            by_fn = {d["function"]: d for d in doc["limits"]}
            self.assertEqual(by_fn[None], {"function": None, "max_jobs": 20, "period": 60, "max_running": 0,
                                           "running": 0, "started": 1, "waiting": 0})
            self.assertEqual(by_fn["sleep"], {"function": "sleep", "max_jobs": 0, "period": 0, "max_running": 1,
                                              "running": 1, "started": 0, "waiting": 2})
            t = self.run_ok("limits", "-q", "lim").stdout
            self.assertRegex(t, r"(?m)^FUNCTION +MAX_JOBS +PERIOD +MAX_RUNNING +RUNNING +STARTED +WAITING$")
            self.assertRegex(t, r"(?m)^\* +20 +60s +- +0 +1 +0$")
            self.assertRegex(t, r"(?m)^sleep +- +- +1 +1 +- +2$")  # STARTED: no rate, -
        finally:
            w.stop()

    def test_limits_dead_worker(self):
        """A worker SIGKILLed while holding both running slots: once its liveness entry expired,
        `saq limits` shows 0 running (as the limit counts them), and a new worker runs jobs."""
        w = Worker(self.redis.url, queue="limd", extra=["--limit", "*=0/0,2"])
        try:
            for _ in range(2):
                self.run_ok("enqueue", "-q", "limd", "sleep", '{"s": 60}')

            def running():
                r = saq("limits", "-q", "limd", "--json", url=self.redis.url)
                return r.returncode == 0 and json.loads(r.stdout)["limits"][0]["running"]
            wait_for(lambda: running() == 2, 10, what="two slots held")
        finally:
            w.proc.kill()
            w.proc.wait()
            w.stop()
        t0 = time.time()
        wait_for(lambda: running() == 0, 15, step=0.2, what="the dead worker's slots not counted")
        self.assertEqual(self.redis.cli("ZCARD", "saq:limd:libsaq:limit:queue:running").strip(), "2")
        self.assertRegex(self.run_ok("limits", "-q", "limd").stdout, r"(?m)^\* +- +- +2 +0 +- +0$")
        w = Worker(self.redis.url, queue="limd", extra=["--limit", "*=0/0,2"])
        try:
            self.run_ok("enqueue", "-q", "limd", "noop", "{}", "--key", "after")
            wait_for(lambda: w.runs("after") == 1, 15, what="a job run after the kill")
            print(f"dead worker: 0 running in `saq limits` and a job run {time.time() - t0:.1f} s after the kill",
                  file=sys.stderr)
        finally:
            w.stop()

    def test_limits_hostile_values(self):
        """Published limits someone else wrote (huge, negative, not numbers) are shown as invalid,
        never as an overflowed number; --json stays valid JSON."""
        self.redis.cli("HSET", "saq:limh:libsaq:limits", "", "1 9000000000000000000 0", "big",
                       "99999999999999999999 1000 1", "word", "abc", "neg", "-1 1000 1", "inf", "1 inf 0",
                       "ok", "5 1000 2", 'q"x', "1 1e3 1")
        t = self.run_ok("limits", "-q", "limh").stdout
        print(t, file=sys.stderr)
        self.assertNotRegex(t, r"e\+|-9")
        self.assertRegex(t, r"(?m)^\* +invalid +invalid +invalid +0 +- +0$")
        for fn in ("big", "word", "neg", "inf", 'q"x'):
            self.assertRegex(t, rf"(?m)^{re.escape(fn)} +invalid +invalid +invalid +0 +- +0$")
        self.assertRegex(t, r"(?m)^ok +5 +1s +2 +0 +0 +0$")
        r = self.run_ok("limits", "-q", "limh", "--json")
        subprocess.run([sys.executable, "-m", "json.tool"], input=r.stdout, text=True, check=True,
                       capture_output=True)
        by_fn = {d["function"]: d for d in json.loads(r.stdout)["limits"]}
        self.assertEqual(by_fn[None], {"function": None, "invalid": "1 9000000000000000000 0", "max_jobs": None,
                                       "period": None, "max_running": None, "running": 0, "started": None,
                                       "waiting": 0})
        self.assertEqual(by_fn['q"x']["invalid"], "1 1e3 1")
        self.assertEqual(by_fn["ok"], {"function": "ok", "max_jobs": 5, "period": 1, "max_running": 2,
                                       "running": 0, "started": 0, "waiting": 0})

    def test_pause_resume(self):
        """Issue 19: saq pause/resume; info and metrics show it; a libsaq worker honours it."""
        w = Worker(self.redis.url, queue="pq")
        try:
            r = self.run_ok("pause", "-q", "pq")
            self.assertTrue(r.stdout.startswith("paused queue 'pq': "), r.stdout)
            r = saq("pause", "-q", "pq", url=self.redis.url)
            self.assertEqual((r.returncode, r.stdout), (1, "queue 'pq' was paused already\n"))
            d = json.loads(self.run_ok("info", "--json", "-q", "pq").stdout)["queues"][0]
            self.assertIs(d["paused"], True)
            self.assertRegex(self.run_ok("info", "-q", "pq").stdout, r"(?m)^pq +0 +.* yes$")
            self.assertIn('saq_queue_paused{queue="pq"} 1\n', self.run_ok("metrics", "--once", "-q", "pq").stdout)
            time.sleep(1.0)
            key = self.run_ok("-q", "pq", "enqueue", "noop").stdout.strip()
            time.sleep(1.2)
            self.assertEqual(w.runs(key), 0, "a libsaq worker ran a job of a paused queue")
            self.assertEqual(json.loads(self.run_ok("resume", "--json", "-q", "pq").stdout),
                             {"queue": "pq", "paused": False, "changed": True})
            wait_for(lambda: w.runs(key) == 1, 3, what="the job to run after the resume")
            r = saq("resume", "-q", "pq", url=self.redis.url)
            self.assertEqual((r.returncode, r.stdout), (1, "queue 'pq' was not paused\n"))
            self.assertRegex(self.run_ok("info", "-q", "pq").stdout, r"(?m)^pq +.* no$")
            # the queue is -q as for every other command (a name as an argument is a usage
            # error, not a pause of "default"); without -q: $SAQ_QUEUE, else "default", named
            for args in (("pause", "pq"), ("resume", "pq"), ("pause", "a", "b")):
                r = saq(*args, url=self.redis.url)
                self.assertEqual(r.returncode, 2, args)
                self.assertIn(f"the queue is given with -q: saq {args[0]} -q {args[1]}", r.stderr)
            self.assertRegex(self.run_ok("info", "-q", "pq").stdout, r"(?m)^pq +.* no$")
            self.assertTrue(self.run_ok("pause").stdout.startswith("paused queue 'default': "))
            self.assertEqual(self.run_ok("resume").stdout, "resumed queue 'default'\n")
            r = self.run_ok("pause", env={"SAQ_QUEUE": "envq"})
            self.assertTrue(r.stdout.startswith("paused queue 'envq': "), r.stdout)
            self.assertEqual(self.run_ok("resume", env={"SAQ_QUEUE": "envq"}).stdout, "resumed queue 'envq'\n")
        finally:
            w.stop()

    def test_retry_abort_sweep(self):
        w = Worker(self.redis.url)
        try:
            key = self.run_ok("enqueue", "fail", '{"message": "boom"}').stdout.strip()
            wait_for(lambda: (self.job_json(key) or {}).get("status") == "failed", 10,
                     what="the job to fail")
            jr = self.run_ok("jobs", "--status", "failed")
            self.assertRegex(jr.stdout, rf"(?m)^{key} +fail +failed +1/1 .*RuntimeError: boom$")
            r = self.run_ok("retry", key)
            self.assertEqual(r.stdout, f"{key} enqueued again (was failed)\n")
            wait_for(lambda: w.runs(key) == 2, 10, what="the second run")
            wait_for(lambda: (self.job_json(key) or {}).get("status") == "failed", 10)
            self.assertEqual(self.job_json(key)["attempts"], 1)  # a fresh start: attempts 0 -> 1
            # an abort marker still there (a running job aborted a moment ago) blocks the key
            self.redis.cli("SETEX", f"saq:abort:{key}", "5", "stop")
            r = saq("retry", key, url=self.redis.url)
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot be enqueued again yet", r.stderr)
            self.assertEqual(self.job_json(key)["status"], "failed")
            self.redis.cli("DEL", f"saq:abort:{key}")
            # a complete job runs again too
            k2 = self.run_ok("enqueue", "add", '{"a": 1, "b": 2}').stdout.strip()
            wait_for(lambda: (self.job_json(k2) or {}).get("status") == "complete", 10)
            self.assertEqual(json.loads(self.run_ok("retry", k2, "--json").stdout),
                             {"key": k2, "result": "enqueued", "status": "queued"})
            wait_for(lambda: w.runs(k2) == 2, 10, what="the complete job's second run")
            # abort a running job: aborting, then aborted with the reason
            k3 = self.run_ok("enqueue", "sleep", '{"s": 30}').stdout.strip()
            wait_for(lambda: (self.job_json(k3) or {}).get("status") == "active", 10)
            r = self.run_ok("abort", k3, "--error", "operator said so")
            self.assertEqual(r.stdout, f"{k3} aborting: its worker stops it\n")
            wait_for(lambda: (self.job_json(k3) or {}).get("status") == "aborted", 10)
            self.assertEqual(self.job_json(k3)["error"], "operator said so")
            r = saq("abort", k3, url=self.redis.url)
            self.assertEqual(r.returncode, 1)
            self.assertIn("already finished (aborted)", r.stderr)
            # an unfinished job is not retried without --force
            k4 = self.run_ok("enqueue", "sleep", '{"s": 30}', "-q", "idle").stdout.strip()
            r = saq("retry", k4, "-q", "idle", url=self.redis.url)
            self.assertEqual(r.returncode, 1)
            self.assertIn("is queued, not finished", r.stderr)
            # a waiting job is aborted at once
            r = self.run_ok("abort", k4, "-q", "idle", "--json")
            self.assertEqual(json.loads(r.stdout), {"key": k4, "result": "aborted", "status": "aborted"})
            # (aborted while waiting: saq removes its abort marker at once) it can run again
            r = self.run_ok("retry", k4, "-q", "idle")
            self.assertEqual(r.stdout, f"{k4} enqueued again (was aborted)\n")
            rec = self.job_json(k4, "idle")
            self.assertEqual((rec["status"], rec.get("error"), rec["kwargs"]),
                             ("queued", None, {"s": 30}))
            for cmd in ("abort", "retry"):
                r = saq(cmd, "missing", url=self.redis.url)
                self.assertEqual(r.returncode, 1, cmd)
                self.assertEqual(r.stderr, "saq: job 'missing' not found in queue 'default'\n")
        finally:
            w.stop()
        # sweep: an active entry whose record is gone is swept
        self.redis.cli("RPUSH", "saq:sweepq:active", "saq:job:sweepq:ghost")
        r = self.run_ok("sweep", "-q", "sweepq", "--json", "--abort", "0")
        self.assertEqual(json.loads(r.stdout), {"queue": "sweepq", "swept": ["saq:job:sweepq:ghost"]})
        self.assertEqual(self.redis.cli("LLEN", "saq:sweepq:active"), "0")
        r = self.run_ok("sweep", "-q", "sweepq", "--lock", "1")
        self.assertEqual(r.stdout, "swept 0 jobs (none stuck, or another process swept within 1 s)\n")

    def test_delete(self):
        """issue 19: delete a finished job, refuse a running one, --force aborts it first."""
        w = Worker(self.redis.url, "delq")
        try:
            k1 = self.run_ok("enqueue", "add", '{"a": 1, "b": 2}', "-q", "delq").stdout.strip()
            wait_for(lambda: (self.job_json(k1, "delq") or {}).get("status") == "complete", 10)
            self.assertIn(k1, self.run_ok("jobs", "-q", "delq", "--status", "complete").stdout)
            r = self.run_ok("delete", k1, "-q", "delq")
            self.assertEqual(r.stdout, f"{k1} deleted\n")
            self.assertIsNone(self.job_json(k1, "delq"))
            self.assertNotIn(k1, self.run_ok("jobs", "-q", "delq").stdout)
            k2 = self.run_ok("enqueue", "sleep", '{"s": 30}', "-q", "delq").stdout.strip()
            wait_for(lambda: (self.job_json(k2, "delq") or {}).get("status") == "active", 10)
            r = saq("delete", k2, "-q", "delq", url=self.redis.url)
            self.assertEqual((r.returncode, r.stderr),
                             (1, f"saq: job '{k2}' is running: not deleted (--force aborts it first)\n"))
            self.assertEqual(self.job_json(k2, "delq")["status"], "active")
            r = self.run_ok("delete", k2, "-q", "delq", "--force", "--json")
            self.assertEqual(json.loads(r.stdout),
                             {"key": k2, "result": "deleted-after-abort", "status": "aborted"})
            self.assertIsNone(self.job_json(k2, "delq"))
            for k in ("queued", "active"):
                self.assertEqual(self.redis.cli("LLEN", f"saq:delq:{k}"), "0", k)
            self.assertEqual(self.redis.cli("ZCARD", "saq:delq:incomplete"), "0")
            r = saq("delete", "missing", url=self.redis.url)
            self.assertEqual((r.returncode, r.stderr), (1, "saq: job 'missing' not found in queue 'default'\n"))
            r = saq("delete", "k", "--wait", "x", url=self.redis.url)
            self.assertEqual(r.returncode, 2)
        finally:
            w.stop()

    def test_python_saq_worker(self):
        """A queue served by Python saq 0.26 (tests/interop's venv, made by the interop stage;
        skipped until it exists): check sees its worker, a job enqueued here runs there, info
        names the worker as Python saq's."""
        py = os.environ.get("SAQ_PYTHON") or os.path.join(REPO, ".venv-interop-026", "bin",
                                                          "python")
        if not os.path.exists(py) or subprocess.run([py, "-c", "import saq"],
                                                    capture_output=True).returncode != 0:
            self.skipTest("no Python with saq (SAQ_PYTHON, or the interop stage's venv)")
        proc = subprocess.Popen([py, os.path.join(REPO, "tests", "interop", "pyworker.py"),
                                 "--url", self.redis.url, "--queue", "pyq"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = proc.stdout.readline()
            self.assertTrue(line.startswith("ready "), line)
            wid = line.split()[1]
            wait_for(lambda: saq("check", "-q", "pyq", url=self.redis.url).returncode == 0, 15,
                     0.2, "check to see the Python worker")
            # Python saq's first sweep runs as it starts and can abort a job caught between its
            # dequeue and its mark (saq's sweeper race, saq-redis-protocol.md section 7): let
            # that sweep (it sets the lock saq:pyq:sweep) be over first
            wait_for(lambda: self.redis.cli("EXISTS", "saq:pyq:sweep") == "1", 15, 0.1,
                     "the Python worker's first sweep")
            time.sleep(0.5)
            key = self.run_ok("enqueue", "add", '{"a": 40, "b": 2}', "-q", "pyq").stdout.strip()
            wait_for(lambda: (self.job_json(key, "pyq") or {}).get("status") in
                     ("complete", "failed", "aborted"), 10, what="the Python worker to run the job")
            self.assertEqual(self.job_json(key, "pyq")["status"], "complete",
                             (self.job_json(key, "pyq"), self.redis.cli("KEYS", "*")))
            self.assertEqual(self.job_json(key, "pyq")["result"], 42)
            d = json.loads(self.run_ok("info", "-q", "pyq", "--json").stdout)["queues"][0]
            self.assertEqual([w["id"] for w in d["workers"]], [wid])
            self.assertIs(d["workers"][0]["libsaq"], False)
            self.assertRegex(self.run_ok("info", "-q", "pyq").stdout,
                             rf"(?m)^{re.escape(wid)} +pyq +.* saq$")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    def test_flow(self):
        # a flow made through libsaq (ctypes, tests/interop/libsaq.py): two members and a callback
        os.environ.setdefault("SAQ_LIB", os.path.join(os.path.dirname(os.path.abspath(SAQ)), "..", "libsaq.so"))
        sys.path.insert(0, os.path.join(REPO, "tests", "interop"))
        import libsaq  # noqa: E402 (needs SAQ_LIB)
        try:
            q = libsaq.Queue(self.redis.url, name="flows")
        except OSError as e:
            # the sanitizer stages' libsaq.so needs its runtime, which Python was not started
            # with; the C stage runs this test against the plain build
            if "__asan" in str(e) or "__tsan" in str(e):
                self.skipTest("a sanitizer build's libsaq.so cannot be loaded into Python: " + str(e))
            raise
        try:
            tb = 'Traceback (most recent call last):\n  File "job.py", line 3, in f2\nValueError: boom\n'
            r = q.enqueue_flow([libsaq.Job("noop", key="f1"), libsaq.Job("fail", key="f2", message=tb)],
                               libsaq.Job("noop", key="fl"))
            self.assertEqual(r.int, 1)
        finally:
            q.close()
        t = self.run_ok("flow", "fl", "-q", "flows").stdout
        self.assertRegex(t, r"(?m)^state +open$")
        self.assertRegex(t, r"(?m)^members +2 \(2 pending\)$")
        self.assertRegex(t, r"(?m)^  f1 +queued")
        w = Worker(self.redis.url, "flows")
        try:
            wait_for(lambda: w.runs("fl") == 1, what="the callback's run")
        finally:
            w.stop()
        doc = json.loads(self.run_ok("flow", "fl", "-q", "flows", "--json").stdout)
        self.assertEqual((doc["state"], doc["pending"], doc["callback"]), ("done", 0, "fl"))
        self.assertEqual([(m["key"], m["status"]) for m in doc["members"]], [("f1", "complete"), ("f2", "failed")])
        t = self.run_ok("flow", "fl", "-q", "flows").stdout
        self.assertRegex(t, r"(?m)^state +done$")
        self.assertRegex(t, r"(?m)^  f2 +failed +ValueError: boom$")  # the traceback's exception line
        self.assertIn("Traceback", doc["members"][1]["error"])  # --json: the whole error
        r = saq("flow", "nope", "-q", "flows", url=self.redis.url)
        self.assertEqual((r.returncode, r.stderr), (1, "saq: flow 'nope' not found in queue 'flows'\n"))
        self.assertEqual(saq("flow", url=self.redis.url).returncode, 2)

        # hostile values in the flow's hash: valid JSON and a clear word on the member, never a crash
        fk, f1 = "saq:flows:libsaq:flow:fl", "o:saq:job:flows:f1"
        hostile = ["not json {", '{"key":"f1","status":"comp\udcff\udcfe"}', '{"status":5,"error":[1]}',
                   '{"status":"complete","result":0x10}', '{"status":"complete","result":1e999999,'
                   '"error":"x\\u001b[2J\\nEvil: \\u001b]0;t\\u0007"}', "\udcff\x01", ""]
        for v in hostile:
            self.redis.cli("HSET", fk, f1, v)
            r = saq("flow", "fl", "-q", "flows", "--json", url=self.redis.url)
            self.assertEqual(r.returncode, 0, (v, r.stderr))
            p = subprocess.run([sys.executable, "-m", "json.tool"], input=r.stdout, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, (v, r.stdout, p.stderr))
            m = json.loads(r.stdout)["members"][0]
            self.assertEqual(m["key"], "f1")
            if m["status"] != "complete":  # the last two are JSON objects libsaq takes
                self.assertEqual((m["status"], m["result"]), ("unknown", None), v)
                self.assertIn("malformed", m["error"])
            r = saq("flow", "fl", "-q", "flows", url=self.redis.url)
            self.assertEqual(r.returncode, 0, (v, r.stderr))
            self.assertNotIn("\x1b", r.stdout)
            self.assertRegex(r.stdout, r"(?m)^  f2 +failed +ValueError: boom$")
        self.assertRegex(r.stdout, r"(?m)^  f1 +unknown +libsaq: .*malformed")
        for field, value in (("state", "\udcff"), ("n", "1e308"), ("created", "9" * 40), ("cb", "")):
            self.redis.cli("HSET", fk, field, value)
            for js in ((), ("--json",)):
                r = saq("flow", "fl", "-q", "flows", *js, url=self.redis.url)
                self.assertEqual((r.returncode, r.stdout), (2, ""), (field, r.stderr))
                self.assertRegex(r.stderr, r"^saq: flow 'fl' in queue 'flows' is malformed in Redis: .+\n$")
            self.redis.cli("HDEL", fk, field)
            self.redis.cli("HSET", fk, "state", "done", "n", "2", "created", "1", "cb", "saq:job:flows:fl")
        self.redis.cli("DEL", fk)
        self.redis.cli("SET", fk, "x")
        r = saq("flow", "fl", "-q", "flows", "--json", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a hash", r.stderr)

    # ---------------------------------------------------------------- metrics

    def test_metrics_once_promtool(self):
        for i in range(3):
            self.run_ok("enqueue", "noop", "-q", "m1")
        self.run_ok("enqueue", "noop", "-q", "m2", "--delay", "100")
        r = self.run_ok("metrics", "--once", "-q", "m1", "-q", "m2")
        text = r.stdout
        self.assertIn('saq_queue_jobs{queue="m1",state="queued"} 3\n', text)
        self.assertIn('saq_queue_jobs{queue="m2",state="scheduled"} 1\n', text)
        self.assertIn('saq_queue_workers{queue="m1"} 0\n', text)
        self.assertRegex(text, r'(?m)^saq_queue_oldest_job_age_seconds\{queue="m1"\} [0-9.e+-]+$')
        self.assertEqual(text.count("# TYPE saq_queue_jobs "), 1)  # one family for both queues
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")  # no lint remarks either

    def test_metrics_listen_errors(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            r = saq("metrics", "--listen", f"127.0.0.1:{port}", url=self.redis.url)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(r.stderr, f"saq: metrics: cannot listen on '127.0.0.1:{port}' (in use, "
                                       "or not an address of this host)\n")
        r = saq("metrics", "--listen", "127.0.0.1:99999", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("the port must be a number in 0..65535", r.stderr)
        r = saq("metrics", "--listen", "[::1:80", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        r = saq("metrics", "--listen", ":0", "--once", url=self.redis.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("either --listen ADDR or --once", r.stderr)

    def test_metrics_listen_scraped_by_prometheus(self):
        for i in range(4):
            self.run_ok("enqueue", "noop", "-q", "scraped")
        e = dict(os.environ, SAQ_URL=self.redis.url)
        srv = subprocess.Popen([SAQ, "metrics", "--listen", "127.0.0.1:0", "-q", "scraped"],
                               stderr=subprocess.PIPE, text=True, env=e)
        prom = None
        tmp = tempfile.mkdtemp(prefix="saq-cli-prom-")
        try:
            line = srv.stderr.readline()
            m = re.match(r"saq: serving metrics on http://127\.0\.0\.1:(\d+)/metrics$", line)
            self.assertTrue(m, line)
            port = int(m.group(1))
            base = f"http://127.0.0.1:{port}"
            with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
                self.assertEqual(resp.status, 200)
                self.assertTrue(resp.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
                body = resp.read().decode()
            self.assertIn('saq_queue_jobs{queue="scraped",state="queued"} 4\n', body)
            p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                               text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(base + "/nope", timeout=10)
            self.assertEqual(cm.exception.code, 404)
            # a real Prometheus scrapes it
            pport = free_port()
            with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: saq\n    static_configs:\n"
                        f"      - targets: ['127.0.0.1:{port}']\n")
            prom = subprocess.Popen(
                ["prometheus", f"--config.file={tmp}/prometheus.yml",
                 f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{pport}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def query(q):
                url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q})
                try:
                    with urllib.request.urlopen(url, timeout=5) as resp:
                        doc = json.load(resp)
                except (urllib.error.URLError, ConnectionError):
                    return None
                res = doc.get("data", {}).get("result", [])
                return res[0]["value"][1] if res else None

            self.assertEqual(wait_for(lambda: query('saq_queue_jobs{queue="scraped",state="queued"}'),
                                      60, 0.5, "Prometheus to scrape saq_queue_jobs"), "4")
            self.assertEqual(query('up{job="saq"}'), "1")
            # a new job shows in the next scrapes
            self.run_ok("enqueue", "noop", "-q", "scraped")
            wait_for(lambda: query('saq_queue_jobs{queue="scraped",state="queued"}') == "5", 30,
                     0.5, "the fifth job in Prometheus")
            # Redis gone: the scrape fails with 503 and the reason, the server lives on
            self.redis.stop()
            try:
                with self.assertRaises(urllib.error.HTTPError) as cm:
                    urllib.request.urlopen(base + "/metrics", timeout=15)
                self.assertEqual(cm.exception.code, 503)
                self.assertIn("cannot reach Redis at", cm.exception.read().decode())
                wait_for(lambda: query('up{job="saq"}') == "0", 30, 0.5, "up == 0")
            finally:
                self.redis.start()
            wait_for(lambda: query('up{job="saq"}') == "1", 30, 0.5, "up == 1 again")
            self.assertIsNone(srv.poll())
        finally:
            if prom:
                prom.terminate()
                prom.wait(20)
            srv.send_signal(signal.SIGTERM)
            self.assertEqual(srv.wait(10), 0)
            srv.stderr.close()
            shutil.rmtree(tmp, ignore_errors=True)

    # ---------------------------------------------------------------- watch in tmux

    def test_watch_workers_and_rates(self):
        sock = f"saq-cli-test-r{os.getpid()}"
        tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
        w = Worker(self.redis.url, "rq")

        def screen():
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", "r"], capture_output=True,
                                  text=True).stdout

        def complete_rate():
            m = re.search(r"(?m)^rq +\d+ +\d+ +\d+ +\S+ +1 +([0-9.]+) ", screen())
            return m and float(m.group(1)) > 0

        try:
            subprocess.run(tmux + ["new-session", "-d", "-s", "r", "-x", "160", "-y", "40",
                                   f"env SAQ_URL={self.redis.url} {SAQ} watch -i 0.5 -q rq"],
                           check=True)
            wait_for(lambda: re.search(rf"(?m)^{w.id} +rq +0 +0 +0 +0 ", screen()), 15, 0.2,
                     "the worker's row")
            # jobs run while the view is on: the completed rate goes up (the registry's
            # counters are read: they are as fresh as the workers write them)
            for i in range(20):
                self.run_ok("enqueue", "add", f'{{"a": {i}, "b": 1}}', "-q", "rq")
            wait_for(complete_rate, 25, 0.2, "a completed rate above 0")
            wait_for(lambda: re.search(rf"(?m)^{w.id} +rq +20 +0 +0 +0 ", screen()), 25, 0.2,
                     "the worker's 20 completed jobs")
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)
            w.stop()

    def test_watch_shows_a_paused_queue(self):
        """saq watch says which queues are paused (PAUSED column and a line), and follows a resume."""
        sock = f"saq-cli-test-p{os.getpid()}"
        tmux = ["tmux", "-L", sock, "-f", "/dev/null"]

        def screen():
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", "p"], capture_output=True,
                                  text=True).stdout

        try:
            subprocess.run(tmux + ["new-session", "-d", "-s", "p", "-x", "160", "-y", "40",
                                   f"env SAQ_URL={self.redis.url} {SAQ} watch -i 0.3 -q pw -q pw2"],
                           check=True)
            wait_for(lambda: re.search(r"(?m)^pw +0 +0 +0 +- +0 +\S+ +\S+ +\S+ +no$", screen()), 10, 0.2,
                     "pw not paused")
            self.assertRegex(screen(), r"(?m)^QUEUE +QUEUED +.* +RETRIED/S +PAUSED$")
            self.assertNotIn("PAUSED:", screen())
            self.run_ok("pause", "-q", "pw")
            wait_for(lambda: re.search(r"(?m)^pw +0 +.* yes$", screen()), 5, 0.2, "pw shown paused")
            self.assertRegex(screen(), r"(?m)^pw2 +0 +.* no$")
            self.assertIn("queue 'pw' is PAUSED: libsaq workers take none of its jobs (saq resume -q pw)",
                          screen())
            self.assertNotIn("queue 'pw2' is PAUSED", screen())
            self.run_ok("resume", "-q", "pw")
            wait_for(lambda: re.search(r"(?m)^pw +0 +.* no$", screen()), 5, 0.2, "pw shown resumed")
            self.assertNotIn("is PAUSED", screen())
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)

    def test_watch_in_tmux(self):
        sock = f"saq-cli-test-{os.getpid()}"
        tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
        env = f"SAQ_URL={self.redis.url}"

        def screen():
            r = subprocess.run(tmux + ["capture-pane", "-p", "-t", "w"], capture_output=True,
                               text=True)
            return r.stdout

        def alive():
            return subprocess.run(tmux + ["has-session", "-t", "w"],
                                  capture_output=True).returncode == 0

        def row(q):
            m = re.search(rf"(?m)^{q} +(\d+) +(\d+) +(\d+) ", screen())
            return m.groups() if m else None

        try:
            subprocess.run(tmux + ["new-session", "-d", "-s", "w", "-x", "160", "-y", "40",
                                   f"env {env} {SAQ} watch --interval 0.3 -q wq -q wq2"],
                           check=True)
            self.assertEqual(wait_for(lambda: row("wq"), 10, what="the first frame"), ("0", "0", "0"))
            self.assertIn("(q quits)", screen())
            self.assertEqual(row("wq2"), ("0", "0", "0"))
            first = screen()
            # a job enqueued shows up, in place (one frame on the screen, not a scroll)
            self.run_ok("enqueue", "noop", "-q", "wq")
            self.run_ok("enqueue", "noop", "-q", "wq2", "--delay", "100")
            wait_for(lambda: row("wq") == ("1", "0", "0"), 5, what="queued 1")
            wait_for(lambda: row("wq2") == ("0", "0", "1"), 5, what="scheduled 1")
            self.assertEqual(screen().count("saq watch "), 1)
            self.assertNotEqual(first, screen())
            # Redis goes away: the view says so and keeps the last figures
            self.redis.stop()
            wait_for(lambda: "Redis unreachable: " in screen(), 10, what="Redis unreachable")
            self.assertRegex(screen(), r"Redis unreachable: .*connection refused")
            self.assertEqual(row("wq"), ("1", "0", "0"))
            time.sleep(1)
            self.assertTrue(alive())
            # and comes back (empty: this server keeps nothing): the view follows
            self.redis.start()
            wait_for(lambda: "Redis unreachable" not in screen(), 15, what="recovery")
            wait_for(lambda: row("wq") == ("0", "0", "0"), 5)
            self.run_ok("enqueue", "noop", "-q", "wq")
            self.run_ok("enqueue", "noop", "-q", "wq")
            wait_for(lambda: row("wq") == ("2", "0", "0"), 5, what="queued 2 after the outage")
            # q quits
            subprocess.run(tmux + ["send-keys", "-t", "w", "q"], check=True)
            wait_for(lambda: not alive(), 5, what="q to quit")
            # Ctrl-C quits too
            subprocess.run(tmux + ["new-session", "-d", "-s", "w", "-x", "160", "-y", "40",
                                   f"env {env} {SAQ} watch --interval 0.3 -q wq"], check=True)
            wait_for(lambda: row("wq"), 10, what="the second watch's first frame")
            subprocess.run(tmux + ["send-keys", "-t", "w", "C-c"], check=True)
            wait_for(lambda: not alive(), 5, what="Ctrl-C to quit")
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)

    # ---------------------------------------------------------------- abuse (clibreaker)

    def test_output_to_a_full_disk_is_an_error(self):
        self.run_ok("enqueue", "f", "--key", "k1")
        for args in (["jobs"], ["info"], ["job", "k1"], ["--help"], ["metrics", "--once"],
                     ["watch", "--interval", "0.1"]):
            with open("/dev/full", "w") as full:
                e = dict(os.environ, SAQ_URL=self.redis.url)
                r = subprocess.run([SAQ, *args], stdout=full, stderr=subprocess.PIPE, text=True,
                                   env=e, timeout=20, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 2, f"saq {args}: {r.stderr}")
            self.assertIn("cannot write the output: No space left on device", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_hostile_data_does_not_reach_the_terminal_raw(self):
        # keys and function names with escape sequences, newlines, C1 controls, wide characters
        evil_key = "k\x1b]0;pwned\x07"
        self.run_ok("enqueue", "evil\x1b[2Jfn", "--key", evil_key)
        self.run_ok("enqueue", "new\nline\u009b31m", "--key", "wide漢字漢字")
        self.run_ok("enqueue", "plain", "--key", "a")
        for args in (["jobs"], ["job", evil_key], ["job", "wide漢字漢字"], ["info"]):
            r = self.run_ok(*args, env={"LC_ALL": "C"})
            for bad in ("\x1b", "\x07", "\u009b"):
                self.assertNotIn(bad, r.stdout, f"saq {args}: {r.stdout!r}")
        r = self.run_ok("jobs")
        self.assertIn("k\\e]0;pwned\\x07", r.stdout)
        self.assertIn("new\\nline\\x9B31m", r.stdout)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 4, r.stdout)  # a newline in a name does not break a row

        def col(line, word):  # display column of `word` (wide characters count 2)
            i = line.index(word)
            return sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in line[:i])
        for line in lines[1:]:
            self.assertEqual(col(line, "queued"), col(lines[0], "STATUS"), r.stdout)
        # error lines: one line, no escapes
        r = saq("job", "x\x1b[2J\ny", url=self.redis.url)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "saq: job 'x\\e[2J\\ny' not found in queue 'default'\n")

    def test_watch_in_a_small_pane_and_on_resize(self):
        self.run_ok("enqueue", "f")
        sock = f"saq-cli-small-{os.getpid()}"
        tmux = ["tmux", "-L", sock, "-f", "/dev/null"]

        def screen():
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", "w"], capture_output=True,
                                  text=True).stdout

        try:
            # a long interval: what changes on the screen comes from the resize, not a refresh
            subprocess.run(tmux + ["new-session", "-d", "-s", "w", "-x", "20", "-y", "5",
                                   f"env SAQ_URL={self.redis.url} {SAQ} watch --interval 60"],
                           check=True)
            wait_for(lambda: "QUEUE" in screen(), 10, what="the first frame")
            time.sleep(0.3)
            lines = screen().split("\n")
            # cut to the pane, not wrapped nor scrolled: the title stays on the first line
            self.assertTrue(lines[0].startswith("saq watch  redis://"), lines)
            self.assertEqual(lines[4].split()[0], "QUEUE", lines)
            subprocess.run(tmux + ["resize-window", "-t", "w", "-x", "100", "-y", "12"],
                           check=True)
            wait_for(lambda: re.search(r"(?m)^default +1 +0 +0 ", screen()), 5,
                     what="a redraw on resize")
            self.assertIn("(q quits)", screen())
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)

    def test_metrics_concurrent_scrapes_while_redis_is_frozen(self):
        import concurrent.futures
        frozen = Redis()  # its own server: SIGSTOP would stall the other tests
        frozen.start()
        e = dict(os.environ, SAQ_URL=frozen.url)
        srv = subprocess.Popen([SAQ, "--timeout", "1", "metrics", "--listen", "127.0.0.1:0"],
                               stderr=subprocess.PIPE, text=True, env=e)
        try:
            m = re.match(r"saq: serving metrics on http://127\.0\.0\.1:(\d+)/metrics$",
                         srv.stderr.readline())
            url = f"http://127.0.0.1:{m.group(1)}/metrics"
            self.assertEqual(urllib.request.urlopen(url, timeout=10).status, 200)
            time.sleep(1.2)
            frozen.proc.send_signal(signal.SIGSTOP)

            def scrape(_):
                t = time.time()
                try:
                    urllib.request.urlopen(url, timeout=30)
                    code = 200
                except urllib.error.HTTPError as err:
                    code = err.code
                return code, time.time() - t
            with concurrent.futures.ThreadPoolExecutor(6) as ex:
                got = list(ex.map(scrape, range(6)))
            # every scrape ends with 503 within about --timeout, none queues behind the others
            self.assertEqual([c for c, _ in got], [503] * 6, got)
            self.assertLess(max(t for _, t in got), 2.5, got)
            frozen.proc.send_signal(signal.SIGCONT)
            wait_for(lambda: scrape(0)[0] == 200, 10, what="200 again")
            srv.send_signal(signal.SIGTERM)
            self.assertEqual(srv.wait(10), 0)
        finally:
            if frozen.proc:
                frozen.proc.send_signal(signal.SIGCONT)
            if srv.poll() is None:
                srv.kill()
                srv.wait()
            srv.stderr.close()
            frozen.close()

    def test_jobs_long_listing_is_not_quadratic(self):
        # 20000 records copied from one: building the table must not copy the whole output at
        # every cell (under the ASan stage that took minutes and gigabytes)
        self.run_ok("enqueue", "f", "--key", "seed")
        self.redis.cli("EVAL", "local v=redis.call('GET',KEYS[1]) for i=1,20000 do "
                       "redis.call('SET','saq:job:default:c'..i,(string.gsub(v,'seed','c'..i))) "
                       "end return 1", "1", "saq:job:default:seed")
        t = time.time()
        r = saq("jobs", "--limit", "100000", url=self.redis.url, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 20002)
        self.assertLess(time.time() - t, 30)

    def test_metrics_slowloris_does_not_lock_out_scrapes(self):
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 1400:
            self.skipTest("needs 1400 open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400) if hard ==
                           resource.RLIM_INFINITY else min(max(soft, 1400), hard), hard))
        e = dict(os.environ, SAQ_URL=self.redis.url)
        srv = subprocess.Popen([SAQ, "metrics", "--listen", "127.0.0.1:0"],
                               stderr=subprocess.PIPE, text=True, env=e)
        socks = []
        try:
            m = re.match(r"saq: serving metrics on http://127\.0\.0\.1:(\d+)/metrics$",
                         srv.stderr.readline())
            port = int(m.group(1))
            # 1200 connections that never send a request (more than select() can watch)
            for _ in range(1200):
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.5)
            self.assertLess(len(os.listdir(f"/proc/{srv.pid}/task")), 50)  # not a thread each
            r = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
            self.assertEqual(r.status, 200)
            self.assertIn(b"saq_queue_jobs", r.read())
        finally:
            for so in socks:
                so.close()
            srv.send_signal(signal.SIGTERM)
            self.assertEqual(srv.wait(10), 0)
            srv.stderr.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def test_jobs_error_column_cut_on_characters(self):
        self.run_ok("enqueue", "f", "--key", "e1")
        rec = json.loads(self.redis.cli("GET", "saq:job:default:e1"))
        rec["error"] = "漢" * 100
        self.redis.cli("SET", "saq:job:default:e1", json.dumps(rec, ensure_ascii=False))
        r = self.run_ok("jobs")
        cell = r.stdout.splitlines()[1].split("  ")[-1].strip()
        # 28 wide characters and "...": 59 columns, not a UTF-8 character cut in two ("\xE6")
        self.assertEqual(cell, "漢" * 28 + "...", r.stdout)


if __name__ == "__main__":
    for tool in ("redis-server", "redis-cli", "tmux", "promtool", "prometheus"):
        if not shutil.which(tool):
            print(f"test_cli: {tool} is missing (.ci/setup test installs it)", file=sys.stderr)
            sys.exit(1)
    unittest.main(verbosity=2)
