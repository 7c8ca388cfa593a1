# SPDX-License-Identifier: MIT
"""The conformance checklist of ../shared/spec/saq-redis-protocol.md section 6,
and the written reasons for every (item, direction) the suite does not test.

Directions:
  python->libsaq  Python saq writes (enqueues, aborts, updates, finishes, or
                  sets up the Redis state); libsaq reads it or runs the jobs.
  libsaq->python  libsaq writes; Python saq reads it or runs the jobs.
  both/state      The same operation done by each side ends in the same Redis
                  state (compared field by field), or a property of the state
                  both sides share (key layout, TTLs, scores).

Every item 1..54 has at least one test per dialect, or a reason below that
covers it entirely. A direction not tested for an item also has a reason
here (NOT_TESTED). tests/interop/summary.py fails the run when an item or
direction has neither a test nor a reason.
"""

from __future__ import annotations

PY2LIB = "python->libsaq"
LIB2PY = "libsaq->python"
STATE = "both/state"
DIRECTIONS = (PY2LIB, LIB2PY, STATE)
ALL = DIRECTIONS

ITEMS = {
    1: "enqueue stores the returned job; duplicate returns none",
    2: "enqueue by name splits kwargs and job options",
    3: "key 1 -> id saq:job:default:1; second enqueue returns none",
    4: "scheduled enqueue: counts (0,1,0), exact incomplete score",
    5: "dequeue moves (1,1,0) -> (0,1,1); a blocked dequeue wakes up",
    6: "FIFO; interleaved enqueue/dequeue counts",
    7: "dequeue timeout on an empty queue returns none, creates no keys",
    8: "enqueue JSON holds exactly the canonical fields",
    9: "abort marker blocks enqueue; afterwards re-enqueue overwrites",
    10: "finish complete: status, result, progress 1.0, counts 0",
    11: "ttl 5 / 0 / -1 after finish",
    12: "retry of an active job: counter, counts, stored fields",
    13: "failing job with retries 2, no delay",
    14: "failing job with retry_delay 100",
    15: "retry delay and backoff",
    16: "registry stats counters",
    17: "abort of a waiting job",
    18: "abort of an active job: marker, aborting, publish",
    19: "enqueue of a running job changes nothing",
    20: "worker abort check waits for the task to unwind",
    21: "re-enqueue after the marker is gone; abort while waiting",
    22: "after_process sees aborted",
    23: "batch() error aborts every job of the scope",
    24: "abort of a sync / cancellation-ignoring function",
    25: "schedule promotion and its lock",
    26: "scheduled job runs once due",
    27: "invalid cron expression rejected",
    28: "cron job key/id and tz",
    29: "cron (0.13) record key and counts",
    30: "per-second cron runs with concurrency 1",
    31: "cron kwargs and options in the stored JSON",
    32: "sweep decisions and outcomes",
    33: "sweep lock",
    34: "heartbeat-less job is swept and never completes",
    35: "stuck predicate",
    36: "listener gets queued per update; update keeps stored status",
    37: "update writes fields; touched > 0",
    38: "refresh: missing, timeout, wait for completion",
    39: "noop job record; dict result round trip",
    40: "timeout 0.05 with retries 2 -> failed TimeoutError",
    41: "worker stop mid-job requeues with error cancelled",
    42: "worker hooks",
    43: "worker_id of the running job",
    44: "burst mode",
    45: "info of an empty queue",
    46: "info lists a registered worker with metadata; expiry",
    47: "registry key TTL and zset score",
    48: "a job in active and incomplete is listed once",
    49: "minimal serialization",
    50: "status case, timeout null, apply writes timeout null",
    51: "key round trip with ':'",
    52: "apply / map results and errors",
    53: "map timeout; apply poll interval",
    54: "iter_jobs",
}

# Every (item, direction) that no test covers, with the reason. Keys:
# (item, direction) or (item, "*"); value: the reason, or {dialect: reason}
# when it holds for one dialect only. summary.py prints these as "n/a" (also
# for cells whose tests were skipped in a dialect that has a reason here).
_SAME = "both directions check the same rule against each side's writes; there is no further state to compare"
NOT_TESTED: dict[tuple[int, str], object] = {
    (2, STATE): "the records both sides write for the same call are compared field by field in 8 and 49",
    (3, STATE): _SAME + " (ids are checked for keys 1, a and a:b both ways)",
    (5, STATE): "a dequeue leaves no record change; the counts are checked in both directions",
    (6, STATE): "ordering is observed per direction; there is no state to compare",
    (7, PY2LIB): "a dequeue on an empty queue involves nothing written by the other side; "
                 "both sides' empty dequeues are compared in both/state",
    (7, LIB2PY): "as (7, python->libsaq)",
    (9, STATE): _SAME,
    (11, STATE): _SAME + " (TTL <= 5, -1 and -2; the complete records are compared in 10)",
    (16, STATE): "each side's counters are read by the other side's info(); the numbers are the same",
    (19, STATE): _SAME,
    (20, STATE): "the final aborted records are compared in 17/18 (both/state)",
    (21, STATE): _SAME,
    (22, STATE): "hooks leave no Redis state",
    (23, STATE): "the aborted records of a waiting job (what batch() aborts) are compared in 17",
    (24, STATE): "the aborted records are compared in 17/18 (both/state)",
    (26, STATE): _SAME,
    (27, PY2LIB): "cron expressions are worker configuration: nothing crosses the wire; both/state "
                  "compares libsaq's validation with croniter's, expression by expression",
    (27, LIB2PY): "as (27, python->libsaq)",
    (29, STATE): "the cron record written by each side is compared in 28 (both/state)",
    (30, STATE): _SAME,
    (33, PY2LIB): "the lock test (both/state) takes each lock on one side and checks the other side's "
                  "second call inside the lock period, in both orders",
    (33, LIB2PY): "as (33, python->libsaq)",
    (34, STATE): _SAME,
    (35, LIB2PY): "the stuck records are written raw by the test, not by libsaq; Python's and libsaq's "
                  "sweep decisions over the same records are compared in both/state",
    (36, STATE): _SAME + " (the stored status after updates)",
    (42, STATE): "hooks leave no Redis state of their own; the state they observe is checked per direction",
    (43, STATE): _SAME,
    (43, LIB2PY): {"0.13": "saq 0.13 workers write no worker_id (the field exists since 0.26.1)"},
    (44, STATE): _SAME,
    (44, LIB2PY): {"0.13": "saq 0.13 has no burst mode (added in 0.18.1)"},
    (45, PY2LIB): "an empty queue has no writer; both sides' info() of it are compared in both/state",
    (45, LIB2PY): "as (45, python->libsaq)",
    (47, PY2LIB): "reading the other side's registry entry is item 46 (both directions); 47 compares "
                  "the entries' TTLs and scores",
    (47, LIB2PY): "as (47, python->libsaq)",
    (49, PY2LIB): "serialization of a job object: both serializers are compared in both/state, and "
                  "Python reads every libsaq record in libsaq->python (test_dialect)",
    (51, STATE): _SAME,
    (52, STATE): "apply/map results are read back by each side; the records apply/map write are "
                 "compared in 53 (both/state)",
    (53, PY2LIB): "Python's map timeout with no worker involves no libsaq part; the job timeout a "
                  "map writes is compared in both/state and libsaq's map timeout is libsaq->python. "
                  "apply's poll_interval is Python's MGET polling: libsaq's apply/map are push based "
                  "(subscribe first, spec 7 U11), so there is no polling interval to compare",
    (54, STATE): "iter_jobs only reads: each side lists the other's jobs (python->libsaq, "
                 "libsaq->python); there is no state of its own to compare",
    (54, LIB2PY): {"0.13": "saq 0.13 has no iter_jobs (added in 0.16.0)"},
}

# Items that only exist in one dialect's checklist (the spec marks them).
DIALECT_ONLY = {
    29: "0.13",  # 0.13's cron test; the 0.26 form is item 28
}
DIALECT_ONLY_REASON = {
    29: "item 29 is saq 0.13's cron test (0.26 runs item 28)",
}

# Parts of items that are not testable across the line at all (they are
# listed in README.md; the rest of each item is tested):
PARTIAL = {
    15: "the no-jitter backoff table (1, 2, 4, 8, 10) is a pure function of saq's utils with jitter "
        "off; on the wire jitter is always applied, so the test checks the jittered ranges, the cap, "
        "JSON true vs 1 and base 0",
    20: "the log line 'Aborting <id>' is checked for Python workers; libsaq workers have no saq log",
    28: "cron_tz: libsaq evaluates cron in UTC only (saq_worker_add_cron), saq's default; the "
        "UTC-3 part of the test has no libsaq counterpart",
    37: "'touched > 0 while a refresh runs at the same time' is a race inside one Python process",
    38: "refresh(0) waiting forever is Python-local",
    53: "poll_interval: see NOT_TESTED[(53, python->libsaq)]",
}


def reason_for(item: int, direction: str, dialect: str) -> str | None:
    for key in ((item, direction), (item, "*")):
        r = NOT_TESTED.get(key)
        if isinstance(r, dict):
            r = r.get(dialect)
        if r:
            return r
    return None
