#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Multi-node Redis deployments on loopback for the tests, and their supervisor.

    tests/support/multinode.py sentinel|cluster [--tls --certs DIR] [--requirepass PW]
                               [--sentinel-pass PW] [--down-after MS] [--node-timeout MS]

starts, in a private temporary directory (/tmp/saq-test-<kind>-XXXXXX, one
sub-directory per process with its config file and log):

  sentinel  two data nodes (node 0 the master, node 1 `replicaof` it) and three
            sentinels (nodes 2-4, `redis-server --sentinel`) monitoring the master
            as "mymaster", quorum 2, down-after-milliseconds 1000, failover-timeout
            5000, so a failover ends within a few seconds. Ready (about 2-4 s) when
            the replica is in sync and every sentinel knows the master, the replica
            and the two other sentinels: a failover can be ordered at once.
  cluster   six nodes (cluster-enabled, cluster-node-timeout 1500, no persistence)
            made a 3-master, 3-replica cluster by `redis-cli --cluster create
            --cluster-replicas 1`. Ready (about 2-4 s) when every node says
            cluster_state:ok, every node has the same slot map and every replica
            is in sync.

Every port (client, TLS, cluster bus) is a free loopback port chosen by binding
port 0; a node whose port was taken meanwhile is started again on new ones.
With --tls every process also listens on a TLS port with the certificates of
tests/support/tls-certs in DIR, and replication, the sentinels' links and the
cluster bus use TLS (tls-replication, tls-cluster): the addresses the sentinels
hand out are then the TLS ports (so REDIS_SENTINEL_URL is empty; a cluster node
answers a plaintext connection with plaintext ports, so REDIS_CLUSTER_URL stays). The plaintext ports stay (the
test's own assertion clients use them). --requirepass: the data nodes require it
(masterauth too), the sentinels know it (sentinel auth-pass); --sentinel-pass:
the sentinels' own requirepass (and sentinel-pass between them).

When ready it prints KEY=value lines (the environment tests/support/with-redis
exports), then READY. Names (SENTINEL or CLUSTER):
  REDIS_SENTINEL_URL       redis+sentinel://[:pw@]127.0.0.1:S1,...,127.0.0.1:S3/mymaster/0
                           ("" with --tls: the sentinels hand out TLS addresses)
  REDIS_SENTINEL_TLS_URL   rediss+sentinel://...TLS ports.../mymaster/0?ssl_ca_certs=DIR/ca.pem
  REDIS_SENTINEL_PORTS, REDIS_SENTINEL_TLS_PORTS, REDIS_SENTINEL_PIDS   the sentinels
  REDIS_SENTINEL_DATA_PORTS, REDIS_SENTINEL_DATA_TLS_PORTS, REDIS_SENTINEL_DATA_PIDS
                           the data nodes (0 the first master, 1 its replica)
  REDIS_SENTINEL_MASTER_NAME (mymaster), REDIS_SENTINEL_DIR
  REDIS_CLUSTER_URL        redis+cluster://[:pw@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
                           (the three first masters' plaintext ports; with --tls too: a
                           cluster node hands out the ports of the connection's kind,
                           plaintext ones in CLUSTER SLOTS/SHARDS and MOVED/ASK on a
                           plaintext connection, TLS ones on a TLS connection)
  REDIS_CLUSTER_TLS_URL    rediss+cluster://...TLS ports...?ssl_ca_certs=DIR/ca.pem
  REDIS_CLUSTER_PORTS, REDIS_CLUSTER_TLS_PORTS, REDIS_CLUSTER_PIDS   all six nodes
  REDIS_CLUSTER_QUEUES     three hash-tagged queue names ({saq0} ...) whose slots are
                           served by three different masters
  REDIS_CLUSTER_DIR
(space-separated lists, in node order). Then it serves commands, one a line on
stdin, each answered by one line "OK ..." or "ERR message" (node indexes as above):
  kill I                   SIGKILL node I                                  -> OK
  restart I                start node I again (same ports, config, dir)    -> OK pid
  master                   (sentinel) the master a sentinel names          -> OK i
  failover TIMEOUT_MS      (sentinel) wait until settled, SENTINEL FAILOVER, wait until a
                           sentinel names the other node and it says role:master -> OK i ms
  wait_master_change OLD TIMEOUT_MS (sentinel) -> OK i ms, or OK -1 ms on timeout
  owner SLOT               (cluster) the node serving SLOT as master       -> OK i
  queues                   (cluster) REDIS_CLUSTER_QUEUES for the current map -> OK names
  moveslot SLOT TO STEP    (cluster) STEP prepare (SETSLOT IMPORTING on TO, MIGRATING on the
                           owner), keys (MIGRATE every key of the slot), finish (SETSLOT NODE
                           on every master, wait until every node agrees) -> OK
  reshard FROM TO N        (cluster) redis-cli --cluster reshard of N slots -> OK
  slots                    (cluster) the slot map: OK FIRST-LAST:i FIRST-LAST:i ...
  wait_failover SLOT TIMEOUT_MS (cluster) until a live master serves SLOT (another one when
                           its master was killed), every live node says cluster_state:ok
                           and has the same map, all of whose masters are live
                           -> OK i ms, or OK -1 ms on timeout
  settle TIMEOUT_MS        (sentinel) until the master the sentinels name has its replica
                           in sync, known to every live sentinel (a former master is made
                           its replica at once: the sentinels would do it ~10 s later);
                           (cluster) until one slot map and every replica in sync -> OK
                           (restart does it before it answers)
  stop                     stop everything                                 -> OK
On stop, end of stdin (the test process is gone), SIGTERM or SIGINT, every
process is killed and the directory removed. Each server also gets
PR_SET_PDEATHSIG, so none outlives a killed supervisor. Python 3 standard
library only; no Redis client library needed (a small RESP client is below).
"""
import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MASTER_NAME = "mymaster"


class Fail(Exception):
    """A deployment could not be started or a command failed."""


class ReplyError(Exception):
    """An error reply (-ERR ...) from Redis."""


def encode(args):
    """One command as a RESP array of bulk strings (bytes are sent as they
    are, anything else as str(x) in UTF-8). Also used by bench/harness.py."""
    out = [b"*%d\r\n" % len(args)]
    for x in args:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)


def resp_call(port, args, password=None, timeout=2.0):
    """One command on a new plaintext connection to 127.0.0.1:port: the reply
    (str, int, list, None). Raises OSError when unreachable, ReplyError on an
    error reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        f = s.makefile("rb")
        cmds = ([["AUTH", password]] if password else []) + [args]
        s.sendall(b"".join(encode(a) for a in cmds))
        if password:
            read_reply(f)
        return read_reply(f)


def read_reply(f):
    """One reply read from the binary file f: str (simple and bulk strings,
    UTF-8 with replacement), int, list, None (null). Raises ReplyError on an
    error reply, OSError on a closed connection or a malformed reply. Also
    used by bench/harness.py."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed")
    t, rest = line[:1], line[1:-2].decode("utf-8", "replace")
    if t == b"+":
        return rest
    if t == b"-":
        raise ReplyError(rest)
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise OSError("unexpected reply %r" % line)


def info(port, password=None):
    """INFO replication as a dict."""
    text = resp_call(port, ["INFO", "replication"], password)
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def pairs(flat):
    """A flat [k1, v1, k2, v2 ...] reply as a dict."""
    return dict(zip(flat[0::2], flat[1::2]))


def free_port(taken):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in taken and p + 10000 not in taken:
            taken.add(p)
            return p


def _pdeathsig():
    # die with the supervisor, even when it is SIGKILLed
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def wait_for(what, timeout, cond, dep):
    """Poll cond() (truthy result returned) every 50 ms until timeout seconds."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except (OSError, ReplyError, ValueError, KeyError, IndexError) as e:
            last = e
        if time.monotonic() > end:
            raise Fail("timed out after %.1f s waiting for %s%s (logs in %s)"
                       % (timeout, what, " (last error: %s)" % last if last else "", dep.dir))
        time.sleep(0.05)


class Node:
    """One redis-server (or sentinel) process: its ports, directory, config."""

    def __init__(self, dep, name, kind):
        self.dep, self.name, self.kind = dep, name, kind  # kind: data, sentinel, cluster
        self.dir = os.path.join(dep.dir, name)
        os.mkdir(self.dir)
        self.conf = os.path.join(self.dir, "sentinel.conf" if kind == "sentinel" else "redis.conf")
        self.proc = None
        self.port = self.tls_port = self.bus_port = 0
        self.extra = []

    @property
    def password(self):
        return self.dep.sentinel_pass if self.kind == "sentinel" else self.dep.requirepass

    @property
    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else 0

    @property
    def addr_port(self):
        """The port other nodes and clients are told about (TLS with --tls)."""
        return self.tls_port or self.port

    def pick_ports(self):
        t = self.dep.taken
        self.port = free_port(t)
        self.tls_port = free_port(t) if self.dep.tls else 0
        self.bus_port = free_port(t) if self.kind == "cluster" else 0

    def write_conf(self):
        d = self.dep
        lines = ["port %d" % self.port, "bind 127.0.0.1", "dir %s" % self.dir,
                 "logfile %s" % os.path.join(self.dir, "redis.log"), "daemonize no",
                 "protected-mode no"]
        if self.kind != "sentinel":
            lines += ['save ""', "appendonly no", "repl-diskless-sync yes",
                      "repl-diskless-sync-delay 0", "repl-ping-replica-period 1"]
        if d.tls:
            c = d.certs
            lines += ["tls-port %d" % self.tls_port, "tls-cert-file %s/server.pem" % c,
                      "tls-key-file %s/server.key" % c, "tls-ca-cert-file %s/ca.pem" % c,
                      "tls-client-cert-file %s/client.pem" % c, "tls-client-key-file %s/client.key" % c,
                      "tls-auth-clients no", "tls-replication yes"]
            if self.kind == "cluster":
                lines.append("tls-cluster yes")
        if self.kind == "sentinel":
            m = d.nodes[0]
            lines += ["sentinel monitor %s 127.0.0.1 %d 2" % (MASTER_NAME, m.addr_port),
                      "sentinel down-after-milliseconds %s %d" % (MASTER_NAME, d.down_after),
                      "sentinel failover-timeout %s %d" % (MASTER_NAME, d.failover_timeout),
                      "sentinel parallel-syncs %s 1" % MASTER_NAME]
            if d.requirepass:
                lines.append("sentinel auth-pass %s %s" % (MASTER_NAME, d.requirepass))
            if d.sentinel_pass:
                lines += ["requirepass %s" % d.sentinel_pass, "sentinel sentinel-pass %s" % d.sentinel_pass]
        else:
            if d.requirepass:
                lines += ["requirepass %s" % d.requirepass, "masterauth %s" % d.requirepass]
            if self.kind == "cluster":
                lines += ["cluster-enabled yes", "cluster-config-file nodes.conf",
                          "cluster-node-timeout %d" % d.node_timeout, "cluster-port %d" % self.bus_port,
                          "cluster-require-full-coverage yes", "cluster-replica-validity-factor 0"]
        lines += self.extra
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def spawn(self):
        """Start the process; True when it answers PING, False when it exited
        (a port was taken); raises Fail when it does not answer in 10 s."""
        argv = ["redis-server", self.conf] + (["--sentinel"] if self.kind == "sentinel" else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_pdeathsig, cwd=self.dir)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                if resp_call(self.port, ["PING"], self.password, timeout=0.5) == "PONG":
                    if self.dep.tls:
                        self.tls_ping()
                    return True
            except (OSError, ReplyError):
                pass
            time.sleep(0.02)
        raise Fail("%s (port %d) did not answer PING within 10 s; see %s/redis.log"
                   % (self.name, self.port, self.dir))

    def tls_ping(self):
        argv = ["redis-cli", "--tls", "--cacert", os.path.join(self.dep.certs, "ca.pem"),
                "-p", str(self.tls_port)]
        if self.password:
            argv += ["--no-auth-warning", "-a", self.password]
        for _ in range(40):
            r = subprocess.run(argv + ["ping"], capture_output=True, text=True, timeout=5)
            if r.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise Fail("%s does not answer a TLS PING on port %d; see %s/redis.log"
                   % (self.name, self.tls_port, self.dir))

    def start(self):
        """First start, on new ports until one set is free (5 attempts)."""
        for _ in range(5):
            self.pick_ports()
            self.write_conf()
            if self.spawn():
                return
        raise Fail("%s could not be started (is redis-server installed? see %s/redis.log)"
                   % (self.name, self.dir))

    def kill(self):
        if self.proc:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self):
        self.kill()
        end = time.monotonic() + 10
        while time.monotonic() < end:  # the port may be held briefly
            if self.spawn():
                return
            time.sleep(0.1)
        raise Fail("%s could not be restarted on port %d; see %s/redis.log"
                   % (self.name, self.port, self.dir))

    def call(self, *args, timeout=2.0):
        return resp_call(self.port, list(args), self.password, timeout)


class Deployment:
    def __init__(self, a):
        self.tls = a.tls
        self.certs = os.path.abspath(a.certs) if a.certs else ""
        if self.tls and not self.certs:
            raise Fail("--tls needs --certs DIR (made by tests/support/tls-certs)")
        self.requirepass = a.requirepass or ""
        self.sentinel_pass = a.sentinel_pass or ""
        self.down_after = a.down_after
        self.failover_timeout = a.failover_timeout
        self.node_timeout = a.node_timeout
        self.taken = set()
        self.nodes = []
        self.dir = tempfile.mkdtemp(prefix="saq-test-%s-" % a.kind, dir=a.tmpdir)

    def node_by_port(self, port):
        port = int(port)
        for i, n in enumerate(self.nodes):
            if port in (n.port, n.tls_port):
                return i
        raise ValueError("no node has port %d" % port)

    def dump_logs(self):
        """The end of every process's log on stderr (before the directory goes)."""
        for n in self.nodes:
            try:
                with open(os.path.join(n.dir, "redis.log"), errors="replace") as f:
                    tail = f.readlines()[-15:]
            except OSError:
                continue
            sys.stderr.write("---- %s (port %d) redis.log:\n%s" % (n.name, n.port, "".join(tail)))

    def stop(self):
        for n in self.nodes:
            n.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def userinfo(self):
        return ":%s@" % self.requirepass if self.requirepass else ""

    def tls_query(self):
        return "?ssl_ca_certs=%s/ca.pem" % self.certs

    def env(self, prefix, nodes, key):
        return {"%s_PORTS" % prefix: " ".join(str(n.port) for n in nodes),
                "%s_TLS_PORTS" % prefix: " ".join(str(n.tls_port) for n in nodes) if self.tls else "",
                "%s_PIDS" % prefix: " ".join(str(n.pid) for n in nodes)}

    def command(self, words):
        cmd, args = words[0], words[1:]
        if cmd == "kill":
            self.nodes[int(args[0])].kill()
            return ""
        if cmd == "settle":
            self.wait_settled(int(args[0]) / 1000)
            return ""
        if cmd == "restart":
            n = self.nodes[int(args[0])]
            n.restart()
            self.wait_settled(20)
            return str(n.pid)
        fn = getattr(self, "cmd_" + cmd, None)
        if not fn:
            raise Fail("unknown command %r" % cmd)
        return fn(*args)


class Sentinel(Deployment):
    def start(self):
        for i in range(2):
            self.nodes.append(Node(self, "data%d" % i, "data"))
        self.nodes[0].start()
        self.nodes[1].extra = ["replicaof 127.0.0.1 %d" % self.nodes[0].addr_port]
        self.nodes[1].start()
        for i in range(3):
            n = Node(self, "sentinel%d" % i, "sentinel")
            self.nodes.append(n)
            n.start()
        self.wait_settled(20)

    @property
    def sentinels(self):
        return self.nodes[2:]

    def live_sentinels(self):
        return [s for s in self.sentinels if s.pid]

    def master(self):
        """The data node a live sentinel names as master."""
        last = None
        for s in self.live_sentinels():
            try:
                addr = s.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
                return self.node_by_port(addr[1])
            except (OSError, ReplyError, ValueError, TypeError) as e:
                last = e
        raise Fail("no sentinel names a master (%s)" % last)

    def is_master(self, i):
        n = self.nodes[i]
        return n.pid and info(n.port, n.password).get("role") == "master"

    def settled(self, m):
        """Node m is the master every live sentinel names, the other node is its
        replica in sync, and every live sentinel knows that replica and the
        other live sentinels, none flagged down or disconnected."""
        r = 1 - m
        if not self.is_master(m):
            return False
        ri = info(self.nodes[r].port, self.nodes[r].password)
        if ri.get("role") == "master" and all(
                self.node_by_port(s.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME)[1]) == m
                for s in self.live_sentinels()):
            # a former master (after a failover, or restarted after kill -9):
            # the sentinels turn it into a replica of the new master, but only
            # about 10 s later (their next INFO to it, 8 s after its role
            # changed); do what they will do now, so the tests need not wait
            n = self.nodes[r]
            n.call("REPLICAOF", "127.0.0.1", self.nodes[m].addr_port)
            n.call("CONFIG", "REWRITE")
            return False
        if ri.get("role") != "slave" or ri.get("master_link_status") != "up" or \
                int(ri.get("master_port", 0)) != self.nodes[m].addr_port:
            return False
        live = self.live_sentinels()
        for s in live:
            if self.node_by_port(s.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME)[1]) != m:
                return False
            reps = [pairs(x) for x in s.call("SENTINEL", "replicas", MASTER_NAME)]
            # (its master-link-status there is as of the sentinel's last INFO
            # to it, up to 10 s old: the link is checked on the replica above)
            if not any(int(x["port"]) == self.nodes[r].addr_port and x["flags"] == "slave" for x in reps):
                return False
            others = [pairs(x) for x in s.call("SENTINEL", "sentinels", MASTER_NAME)]
            good = [x for x in others if "disconnected" not in x["flags"] and "s_down" not in x["flags"]]
            if len(good) < len(live) - 1:
                return False
        return True

    def wait_settled(self, timeout):
        """Until settled() holds for the master the sentinels name (the data
        nodes live)."""
        if not all(n.pid for n in self.nodes[:2]):
            return
        wait_for("the master the sentinels name to have its replica in sync, known to every sentinel",
                 timeout, lambda: self.settled(self.master()), self)

    def environment(self):
        s, d = self.sentinels, self.nodes[:2]
        hosts = ",".join("127.0.0.1:%d" % n.port for n in s)
        tls_hosts = ",".join("127.0.0.1:%d" % n.tls_port for n in s)
        e = {"REDIS_SENTINEL_URL": "" if self.tls else
             "redis+sentinel://%s%s/%s/0" % (self.userinfo(), hosts, MASTER_NAME),
             "REDIS_SENTINEL_TLS_URL": "rediss+sentinel://%s%s/%s/0%s" % (
                 self.userinfo(), tls_hosts, MASTER_NAME, self.tls_query()) if self.tls else "",
             "REDIS_SENTINEL_MASTER_NAME": MASTER_NAME, "REDIS_SENTINEL_DIR": self.dir}
        e.update(self.env("REDIS_SENTINEL", s, "sentinel"))
        e.update(self.env("REDIS_SENTINEL_DATA", d, "data"))
        return e

    def cmd_master(self):
        return str(self.master())

    def cmd_failover(self, timeout_ms):
        timeout = int(timeout_ms) / 1000
        self.wait_settled(timeout)
        old = self.master()
        t0 = time.monotonic()

        def order():
            for s in self.live_sentinels():
                s.call("SENTINEL", "FAILOVER", MASTER_NAME)
                return True
        wait_for("a sentinel to accept SENTINEL FAILOVER", timeout, order, self)
        new = 1 - old
        wait_for("node %d to be named master by a sentinel and say role:master" % new, timeout,
                 lambda: self.master() == new and self.is_master(new), self)
        return "%d %d" % (new, (time.monotonic() - t0) * 1000)

    def cmd_wait_master_change(self, old, timeout_ms):
        old, t0 = int(old), time.monotonic()
        end = t0 + int(timeout_ms) / 1000
        while time.monotonic() < end:
            try:
                m = self.master()
                if m != old and self.is_master(m):
                    return "%d %d" % (m, (time.monotonic() - t0) * 1000)
            except (OSError, ReplyError, Fail):
                pass
            time.sleep(0.05)
        return "-1 %d" % ((time.monotonic() - t0) * 1000)


class Cluster(Deployment):
    def start(self):
        for i in range(6):
            n = Node(self, "node%d" % i, "cluster")
            self.nodes.append(n)
            n.start()
        argv = ["redis-cli"] + self.cli_auth() + ["--cluster", "create"] + \
               ["127.0.0.1:%d" % n.addr_port for n in self.nodes] + \
               ["--cluster-replicas", "1", "--cluster-yes"]
        self.run_cli(argv, "create")
        self.wait_settled(20)

    def cli_auth(self):
        a = []
        if self.tls:
            a += ["--tls", "--cacert", os.path.join(self.certs, "ca.pem")]
        if self.requirepass:
            a += ["--no-auth-warning", "-a", self.requirepass]
        return a

    def run_cli(self, argv, what):
        log = os.path.join(self.dir, "redis-cli-%s.log" % what)
        with open(log, "a") as f:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode:
            raise Fail("redis-cli --cluster %s failed (exit %d); see %s" % (what, r.returncode, log))

    def live(self):
        return [n for n in self.nodes if n.pid]

    def slot_map(self, n):
        """{slot range (start, end): master node index} from CLUSTER SLOTS on n."""
        return {(int(e[0]), int(e[1])): self.node_by_port(e[2][1]) for e in n.call("CLUSTER", "SLOTS")}

    def owner(self, slot):
        last = None
        for n in self.live():
            try:
                for (a, b), i in self.slot_map(n).items():
                    if a <= slot <= b:
                        return i
                return -1
            except (OSError, ReplyError, ValueError) as e:
                last = e
        raise Fail("no live node answers CLUSTER SLOTS (%s)" % last)

    def full_map(self, n):
        """[(first, last, master, (replicas...))] from CLUSTER SLOTS on n, sorted."""
        return sorted((int(e[0]), int(e[1]), self.node_by_port(e[2][1]),
                       tuple(sorted(self.node_by_port(r[1]) for r in e[3:]))) for e in n.call("CLUSTER", "SLOTS"))

    def agreed(self):
        """Every live node says cluster_state:ok and has the same slot map, with
        the same replicas; the map covers every slot, its masters are live and
        its replicas are every other live node."""
        maps = []
        for n in self.live():
            if "cluster_state:ok" not in n.call("CLUSTER", "INFO"):
                return False
            maps.append(self.full_map(n))
        if any(m != maps[0] for m in maps):
            return False
        masters = {e[2] for e in maps[0]}
        replicas = {r for e in maps[0] for r in e[3]}
        live = {i for i, n in enumerate(self.nodes) if n.pid}
        return masters <= live and replicas == live - masters and \
            sum(e[1] - e[0] + 1 for e in maps[0]) == 16384

    def wait_ok(self, timeout):
        wait_for("cluster_state:ok and one slot map (masters and replicas) on every node", timeout, self.agreed, self)

    def replicas_synced(self):
        masters = {i for _, i in self.slot_map(self.live()[0]).items()}
        synced = set()
        for i, n in enumerate(self.nodes):
            if not n.pid or i in masters:
                continue
            ri = info(n.port, n.password)
            if ri.get("role") != "slave" or ri.get("master_link_status") != "up":
                return False
            synced.add(self.node_by_port(ri["master_port"]))
        return masters <= synced or sum(1 for n in self.nodes if n.pid) < 6

    def wait_settled(self, timeout):
        """After a restart: one slot map, every replica in sync."""
        self.wait_ok(timeout)
        self.wait_replicas(timeout)

    def wait_replicas(self, timeout):
        wait_for("every cluster replica in sync", timeout, self.replicas_synced, self)

    def node_id(self, i):
        return self.nodes[i].call("CLUSTER", "MYID")

    def queues(self):
        """Three hash-tagged names whose slots three different masters serve
        (CLUSTER KEYSLOT computes the slot)."""
        n, seen, names = self.live()[0], set(), []
        for k in range(10000):
            name = "{saq%d}" % k
            o = self.owner(int(n.call("CLUSTER", "KEYSLOT", name)))
            if o not in seen:
                seen.add(o)
                names.append(name)
                if len(names) == 3:
                    return " ".join(names)
        raise Fail("fewer than three masters serve slots")

    def environment(self):
        masters = sorted({i for _, i in self.slot_map(self.nodes[0]).items()})
        e = {"REDIS_CLUSTER_URL": "redis+cluster://%s%s" % (
                 self.userinfo(), ",".join("127.0.0.1:%d" % self.nodes[i].port for i in masters)),
             "REDIS_CLUSTER_TLS_URL": "rediss+cluster://%s%s%s" % (
                 self.userinfo(), ",".join("127.0.0.1:%d" % self.nodes[i].tls_port for i in masters),
                 self.tls_query()) if self.tls else "",
             "REDIS_CLUSTER_QUEUES": self.queues(), "REDIS_CLUSTER_DIR": self.dir}
        e.update(self.env("REDIS_CLUSTER", self.nodes, "node"))
        return e

    def cmd_slots(self):
        for n in self.live():
            try:
                return " ".join("%d-%d:%d" % (a, b, i) for (a, b), i in sorted(self.slot_map(n).items()))
            except (OSError, ReplyError, ValueError):
                pass
        raise Fail("no live node answers CLUSTER SLOTS")

    def cmd_owner(self, slot):
        return str(self.owner(int(slot)))

    def cmd_queues(self):
        return self.queues()

    def masters(self):
        return sorted({i for _, i in self.slot_map(self.live()[0]).items()})

    def cmd_moveslot(self, slot, to, step):
        slot, to = int(slot), int(to)
        if step == "prepare":
            src = self.owner(slot)
            if src == to:
                raise Fail("node %d already serves slot %d" % (to, slot))
            if to not in self.masters():
                raise Fail("node %d is not a master" % to)
            self.moving = (slot, src, to)
            self.nodes[to].call("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(src))
            self.nodes[src].call("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(to))
            return ""
        if getattr(self, "moving", None) is None or self.moving[0] != slot or self.moving[2] != to:
            raise Fail("moveslot %d %d %s without prepare" % (slot, to, step))
        _, src, to = self.moving
        s = self.nodes[src]
        if step == "keys":
            while True:
                keys = s.call("CLUSTER", "GETKEYSINSLOT", slot, 100)
                if not keys:
                    return ""
                auth = ["AUTH", self.requirepass] if self.requirepass else []
                s.call("MIGRATE", "127.0.0.1", self.nodes[to].addr_port, "", 0, 5000, *auth, "KEYS", *keys,
                       timeout=10)
        if step == "finish":
            dst_id = self.node_id(to)
            order = [to, src] + [i for i in self.masters() if i not in (to, src)]
            for i in order:
                self.nodes[i].call("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            self.moving = None
            wait_for("every node to see slot %d on node %d" % (slot, to), 20,
                     lambda: self.agreed() and self.owner(slot) == to, self)
            return ""
        raise Fail("moveslot step must be prepare, keys or finish")

    def cmd_reshard(self, src, to, count):
        src, to = int(src), int(to)
        argv = ["redis-cli"] + self.cli_auth() + [
            "--cluster", "reshard", "127.0.0.1:%d" % self.nodes[to].addr_port,
            "--cluster-from", self.node_id(src), "--cluster-to", self.node_id(to),
            "--cluster-slots", str(int(count)), "--cluster-yes"]
        self.run_cli(argv, "reshard")
        self.wait_ok(20)
        return ""

    def cmd_wait_failover(self, slot, timeout_ms):
        slot, t0 = int(slot), time.monotonic()
        end = t0 + int(timeout_ms) / 1000
        while time.monotonic() < end:
            try:
                o = self.owner(slot)
                if o >= 0 and self.nodes[o].pid and self.agreed():
                    return "%d %d" % (o, (time.monotonic() - t0) * 1000)
            except (OSError, ReplyError, ValueError, Fail):
                pass
            time.sleep(0.05)
        return "-1 %d" % ((time.monotonic() - t0) * 1000)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["sentinel", "cluster"])
    p.add_argument("--tls", action="store_true")
    p.add_argument("--certs", help="certificate directory (tests/support/tls-certs)")
    p.add_argument("--requirepass")
    p.add_argument("--sentinel-pass")
    p.add_argument("--down-after", type=int, default=1000, help="sentinel down-after-milliseconds")
    p.add_argument("--failover-timeout", type=int, default=5000, help="sentinel failover-timeout (ms)")
    p.add_argument("--node-timeout", type=int, default=1500, help="cluster-node-timeout (ms)")
    p.add_argument("--tmpdir", default="/tmp")
    a = p.parse_args()
    dep = None

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        dep = (Sentinel if a.kind == "sentinel" else Cluster)(a)
        dep.start()
        for k, v in dep.environment().items():
            print("%s=%s" % (k, v))
        print("READY", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "stop":
                break
            try:
                r = dep.command(words)
                print(("OK " + r).rstrip(), flush=True)
            except (Fail, OSError, ReplyError, ValueError, IndexError, TypeError) as e:
                print("ERR %s: %s" % (" ".join(words), str(e).replace("\n", " ")), flush=True)
    except Fail as e:
        print("ERR %s" % e, flush=True)
        print("multinode: %s" % e, file=sys.stderr)
        if dep:
            dep.dump_logs()
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        if dep:
            dep.stop()
    try:
        print("OK", flush=True)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
