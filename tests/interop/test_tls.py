# SPDX-License-Identifier: MIT
"""Python saq and libsaq on one queue over rediss:// (issue 14).

run.sh starts the suite's redis-server with tests/support/with-redis --tls:
one server, a plaintext port (REDIS_URL, used by the assertion client) and a
TLS port (REDIS_TLS_URL, rediss://...?ssl_ca_certs=.../ca.pem). Every peer
here gets the TLS URL unchanged: Python saq (redis-py speaks TLS), the C test
worker and libsaq's producer."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis as redis_sync

import compat
import libsaq
from helpers import counts, jid, wait_until

DIALECT = compat.DIALECT
# Python's apply: 0.26 polls (every 0.5 s by default), 0.13 listens
PI = {} if compat.IS013 else {"poll_interval": 0.05}


def _complete(rds, keys: list[str]) -> bool:
    vals = rds.mget([jid(k) for k in keys])
    return all(v is not None and '"status": "complete"' in v for v in vals)


@pytest.mark.scenario("rediss://: Python saq and libsaq workers and producers on one TLS queue")
async def test_mixed_over_tls(tls_url, rds, cworker, pyworker_proc):
    pyq = await compat.make_queue(tls_url)
    lq = libsaq.Queue(tls_url, dialect=DIALECT)
    try:
        # python -> libsaq: Python saq enqueues over TLS, a libsaq worker
        # (TLS) runs the jobs, Python's apply gets a result from it
        cw = cworker(url=tls_url)
        py_keys = [f"py-{i}" for i in range(10)]
        for i, k in enumerate(py_keys):
            await pyq.enqueue("add", key=k, a=i, b=1)
        assert await pyq.apply("add", a=20, b=22, **PI) == 42
        await asyncio.to_thread(wait_until, lambda: _complete(rds, py_keys), 15, 0.05, "py jobs on libsaq")
        assert {k for _f, k, _a in cw.runs()} >= set(py_keys)
        assert cw.stop() == 0, cw.errors()[-2000:]

        # libsaq -> python: libsaq enqueues over TLS, a Python saq worker
        # (TLS) runs the jobs, libsaq's apply gets a result from it
        pw = pyworker_proc(url=tls_url)
        lib_keys = [f"lib-{i}" for i in range(10)]
        for i, k in enumerate(lib_keys):
            assert lq.enqueue("add", key=k, a=i, b=2).int == 1
        assert (await lq.a.apply("add", 0, a=1, b=2)).json == 3
        await asyncio.to_thread(wait_until, lambda: _complete(rds, lib_keys), 15, 0.05, "lib jobs on Python")
        assert {k for _f, k, _a in pw.runs()} >= set(lib_keys)

        # both workers and both producers at once on the TLS queue
        cw2 = cworker(url=tls_url, conf={"concurrency": "10"})
        mixed = [f"m{side}-{i}" for i in range(100) for side in ("py", "lib")]

        async def py_enqueue():
            await asyncio.gather(*(pyq.enqueue("add", key=k, a=i, b=1)
                                   for i, k in enumerate(mixed) if k.startswith("mpy")))

        def lib_enqueue():
            for i, k in enumerate(mixed):
                if k.startswith("mlib"):
                    assert lq.enqueue("add", key=k, a=i, b=1).int == 1

        await asyncio.gather(py_enqueue(), asyncio.to_thread(lib_enqueue))
        deadline = time.time() + 30
        while counts(rds)[1] and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert counts(rds) == (0, 0, 0)
        runs = Counter(k for w in (pw, cw2) for _f, k, _a in w.runs() if k.startswith("m"))
        assert set(runs) == set(mixed) and max(runs.values()) == 1
        # each side reads every result over TLS
        for j in await compat.jobs(pyq, mixed):
            assert compat.status_text(j.status) == "complete" and j.result == mixed.index(j.key) + 1
        r = lq.jobs(mixed)
        assert [v["result"] for v in r.job_views] == [i + 1 for i in range(len(mixed))]
        assert pw.stop() == 0, pw.errors()[-2000:]
        assert cw2.stop() == 0, cw2.errors()[-2000:]
    finally:
        lq.close()
        await pyq.disconnect()


def test_tls_url_means_the_same(tls_url):
    """The same rediss:// URL means the same in redis-py and in libsaq: a CA
    that did not sign the server's certificate is refused by both (libsaq:
    SAQ_ETLS naming the certificate), ssl_cert_reqs=none accepts it in both."""
    wrong = tls_url.replace("/ca.pem", "/other-ca.pem")
    assert wrong != tls_url
    with pytest.raises(redis_sync.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis_sync.Redis.from_url(wrong).ping()
    q = libsaq.Queue(wrong, name="tls-wrong-ca", dialect=DIALECT)
    try:
        r = q.ping(check=False)
        assert r.err_name == "SAQ_ETLS", r
        assert "certificate" in r.errmsg, r
    finally:
        q.close()
    unverified = wrong + "&ssl_cert_reqs=none"
    assert redis_sync.Redis.from_url(unverified).ping()
    q = libsaq.Queue(unverified, name="tls-unverified", dialect=DIALECT)
    try:
        assert q.ping().ok
    finally:
        q.close()
