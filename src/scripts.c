/* SPDX-License-Identifier: MIT */
/* The Lua scripts libsaq runs in Redis. ENQUEUE, SCHEDULE and SWEEP are
 * semantically identical to saq's (spec 3.2, 3.10, 3.11). The others make
 * saq's multi-command steps atomic so the races listed in spec 7 cannot
 * happen, without changing what ends up in Redis:
 *   DEQUEUE  non-blocking batch of saq's move (LMOVE, FIFO) plus the GETs;
 *   MARK     mark active only if the job is still in `active` and still
 *            queued (saq #277, U13); refuses duplicates already marked (U1);
 *   ENQUEUES the ENQUEUEs one turn of the loop sent, in one call;
 *   MARKS    the MARKs of a dequeued batch in one call;
 *   FINISHES the FINISHes of the outcomes settled in one turn of the loop;
 *   FINISH / RETRY  saq's finish/retry pipelines; in guarded mode (worker
 *            leases) they refuse when the lease was lost (-2), report an abort
 *            instead of overwriting it (-1: U2, 0.26.0's "avoid race" fix), and
 *            do nothing when the same outcome is already stored (3), so a
 *            write whose reply was lost can be sent again;
 *   UPDATE   saq's status-preserving update in one step, never re-creating a
 *            deleted or finished record (U4);
 *   ABORT    saq's abort pipeline applied to the record as currently stored
 *            (compare-and-set) instead of the caller's stale copy (U3);
 *   RECOVER  compare-and-set retry/finish of a job whose worker died.
 *   ALIVE    libsaq workers' liveness entries (an extension saq ignores).
 *   UNREADABLE  settle failed a record a worker cannot use.
 *   OVERVIEW queue-wide figures in one snapshot (saq_queue_overview), and the
 *            registry samples behind its per-minute rates (an extension).
 *   DELETE   remove a job's record and every entry of it (saq_queue_delete, an
 *            extension), compare-and-set on the record as read.
 *   LIMIT / LIMIT_RELEASE / LIMIT_INFO  rate limits and global concurrency
 *            (an extension in libsaq's own keys): their text is in
 *            limitscript.c (limit.c and limitinfo.c lay out their KEYS/ARGV).
 *   GIVE_BACK  put a move the worker will not run back at the head of
 *            `queued`, only while it is still that move (not swept, aborted,
 *            recovered or deleted since).
 * Records are read with cjson.decode only to look at status/attempts/started;
 * they are never re-encoded in Lua, so user data keeps its exact bytes.
 * Each script's KEYS/ARGV are documented above its text; its builder in
 * transition.c (saq__tx_<script>) is the only code that lays them out, and
 * saq__tx_decode the only code that reads its status reply (the "Reply:"
 * lines name the saq__tx_t each answer decodes to). */
#include "core.h"

#define GUARD                                                                                      \
    "local function guard(id, mode, attempts, started, marker_key, target, expect)\n"              \
    "  if mode ~= '1' then return nil end\n"                                                       \
    "  local cur = redis.call('GET', id)\n"                                                        \
    "  if not cur then return nil end\n"                                                           \
    "  if expect == '' or cur ~= expect then\n"                                                    \
    "    local ok, rec = pcall(cjson.decode, cur)\n"                                               \
    "    if not ok or type(rec) ~= 'table' then return nil end\n"                                  \
    "    local st = string.lower(tostring(rec['status'] or 'new'))\n"                              \
    "    if (tonumber(rec['attempts']) or 0) ~= tonumber(attempts) or\n"                           \
    "       (tonumber(rec['started']) or 0) ~= tonumber(started) then\n"                           \
    /* an abort written from a stale copy of this run (saq's job.abort on the   \
     * enqueue-time Job: fewer attempts, no started) still aborts this run;    \
     * a record with more attempts belongs to a later run elsewhere */          \
    "      if st ~= 'aborting' or (tonumber(rec['attempts']) or 0) > tonumber(attempts) then\n"   \
    "        return {-2}\n"                                                                      \
    "      end\n"                                                                                 \
    "      if target == 'aborted' then return nil end\n"                                          \
    "      local e = rec['error']\n"                                                               \
    "      if type(e) ~= 'string' then e = '' end\n"                                              \
    "      return {-1, e}\n"                                                                       \
    "    end\n"                                                                                   \
    "    if st == target then return {3} end\n"                                                    \
    "    if target == 'aborted' then return nil end\n"                                             \
    "    if st == 'aborting' or st == 'aborted' then\n"                                            \
    "      local e = rec['error']\n"                                                               \
    "      if type(e) ~= 'string' then e = '' end\n"                                               \
    "      return {-1, e}\n"                                                                       \
    "    end\n"                                                                                    \
    "  elseif target == 'aborted' then\n"                                                          \
    "    return nil\n"                                                                             \
    "  end\n"                                                                                      \
    "  if marker_key ~= '' then\n"                                                                 \
    "    local m = redis.call('GET', marker_key)\n"                                                \
    "    if m then return {-1, m} end\n"                                                           \
    "  end\n"                                                                                      \
    "  return nil\n"                                                                               \
    "end\n"

/* ENQUEUE's body (saq's, with a type check first), for one job
 * (SCRIPT_ENQUEUE) or a batch (SCRIPT_ENQUEUES). */
#define ENQUEUE_FN                                                                                 \
    "local function enqueue(incomplete, id, queued, marker, json, score)\n"                        \
    /* not saq's: refuse before writing anything when `queued` is not a list   \
     * (a key of another type there would make the RPUSH fail after the SET) */ \
    "  local t = redis.call('TYPE', queued)['ok']\n"                                                \
    "  if t ~= 'list' and t ~= 'none' then\n"                                                       \
    "    return redis.error_reply('WRONGTYPE ' .. queued .. ' is a ' .. t .. ', not a list')\n"    \
    "  end\n"                                                                                       \
    "  if not redis.call('ZSCORE', incomplete, id) and redis.call('EXISTS', marker) == 0 then\n"   \
    "    redis.call('SET', id, json)\n"                                                             \
    "    redis.call('ZADD', incomplete, score, id)\n"                                               \
    "    if score == '0' then redis.call('RPUSH', queued, id) end\n"                                \
    "    return 1\n"                                                                                \
    "  else\n"                                                                                      \
    "    return nil\n"                                                                              \
    "  end\n"                                                                                       \
    "end\n"

/* MARK's body, for one job (SCRIPT_MARK) or a batch (SCRIPT_MARKS). */
#define MARK_FN                                                                                    \
    "local function mark(active, id, marker, json, chk, opaque, dq, resent)\n"                    \
    "  local cur = redis.call('GET', id)\n"                                                        \
    "  if resent == '1' and cur == json then return {1} end\n"                                     \
        /* RANK -1: searched from the tail, where the move just put it */                          \
    "  if not redis.call('LPOS', active, id, 'RANK', -1) then\n"                                   \
        /* gone from `active` after our move: an abort in between (U13) is                         \
         * reported so the worker finishes it aborted instead of leaving it */                     \
    "    if not cur then return {0} end\n"                                                         \
    "    if opaque ~= '1' then\n"                                                                  \
    "      local ok, rec = pcall(cjson.decode, cur)\n"                                             \
    "      if ok and type(rec) == 'table' and\n"                                                   \
    "         string.lower(tostring(rec['status'] or 'new')) == 'aborting' then\n"                 \
    "        return {-1, 'aborting', cur}\n"                                                       \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "    local m = chk == '1' and redis.call('GET', marker)\n"                                     \
    "    if m then return {-1, 'aborting', cur, m} end\n"                                          \
    "    return {0}\n"                                                                             \
    "  end\n"                                                                                      \
    "  if not cur then return {0} end\n"                                                           \
    "  if opaque ~= '1' and (dq == '' or cur ~= dq) then\n"                                        \
    "    local ok, rec = pcall(cjson.decode, cur)\n"                                               \
    "    if not ok or type(rec) ~= 'table' then return {-3} end\n"                                 \
    "    local st = string.lower(tostring(rec['status'] or 'new'))\n"                              \
    "    if st ~= 'queued' and st ~= 'new' then\n"                                                 \
        /* running or finished elsewhere: this move is a stale entry of                            \
         * `active`, to drop only if it is one of two (U1: the same id twice)                      \
         * or the job is finished. A single entry of a running job is its                          \
         * worker's: ours was taken back while this process was stalled. */                        \
    "      if st ~= 'aborting' and (st == 'complete' or st == 'failed' or st == 'aborted' or\n"    \
    "         #redis.call('LPOS', active, id, 'COUNT', 0) >= 2) then\n"                            \
    "        redis.call('LREM', active, 1, id)\n"                                                  \
    "      end\n"                                                                                  \
    "      return {-1, st, cur}\n"                                                                 \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  local m = chk == '1' and redis.call('GET', marker)\n"                                       \
    "  if m then return {-1, 'aborting', cur, m} end\n"                                            \
    "  redis.call('SET', id, json)\n"                                                              \
    "  redis.call('PUBLISH', id, 'active')\n"                                                      \
    "  return {1}\n"                                                                               \
    "end\n"

/* FINISH's body, for one job (SCRIPT_FINISH) or a batch (SCRIPT_FINISHES);
 * after GUARD. */
#define FINISH_FN                                                                                  \
    "local function finish(active, incomplete, id, marker, json, ttl, status, guarded, attempts,\n"  \
    "                      started, chk, del, expect)\n"                                             \
    "  local g = guard(id, guarded, attempts, started, chk == '1' and marker or '', status, expect)\n" \
    "  if g then return g end\n"                                                                    \
    "  redis.call('LREM', active, 1, id)\n"                                                         \
    "  redis.call('ZREM', incomplete, id)\n"                                                        \
    "  local t = tonumber(ttl)\n"                                                                   \
    /* ttl as sent (digits): a Lua number would be formatted back by printf */ \
    "  if t > 0 then redis.call('SETEX', id, ttl, json)\n"                                          \
    "  elseif t == 0 then redis.call('SET', id, json)\n"                                            \
    "  else redis.call('DEL', id) end\n"                                                            \
    "  if del == '1' then redis.call('DEL', marker) end\n"                                          \
    "  redis.call('PUBLISH', id, status)\n"                                                         \
    "  return {1}\n"                                                                                \
    "end\n"

const char *const saq__script_text[SCRIPT_COUNT_] = {
    /* ENQUEUE: KEYS incomplete, id, queued, abort marker; ARGV json, score.
     * Reply: 1 (OK) or nil (REFUSED) */
    [SCRIPT_ENQUEUE] = ENQUEUE_FN
        "return enqueue(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])\n",

    /* ENQUEUES: a batch of ENQUEUEs in one call (the enqueues one turn of the
     * queue's loop sent). KEYS incomplete, queued, then each job's id and
     * abort marker; ARGV each job's json and score.
     * Reply: {each job's ENQUEUE reply, in order, nil as false} */
    [SCRIPT_ENQUEUES] = ENQUEUE_FN
        "local out = {}\n"
        "for i = 1, (#KEYS - 2) / 2 do\n"
        "  out[i] = enqueue(KEYS[1], KEYS[1 + 2 * i], KEYS[2], KEYS[2 + 2 * i], ARGV[2 * i - 1], ARGV[2 * i])\n"
        "          or false\n"
        "end\n"
        "return out\n",

    /* DEQUEUE: KEYS queued, active; ARGV max jobs, '1' = LMOVE (FIFO) else RPOPLPUSH.
     * Reply: {id, record or nil, ...} */
    [SCRIPT_DEQUEUE] =
        "local out = {}\n"
        "for i = 1, tonumber(ARGV[1]) do\n"
        "  local id\n"
        "  if ARGV[2] == '1' then id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')\n"
        "  else id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2]) end\n"
        "  if not id then break end\n"
        "  out[#out + 1] = id\n"
        /* an id whose key is not a string (never aborts the batch): {its type},
         * for the worker to settle it failed, visibly (UNREADABLE) */
        "  local rec = redis.pcall('GET', id)\n"
        "  if type(rec) == 'table' then rec = {redis.call('TYPE', id)['ok']} end\n"
        "  out[#out + 1] = rec\n"
        "end\n"
        "return out\n",

    /* MARK: KEYS active, id, abort marker; ARGV json, check marker ('1'),
     * opaque ('1'), the record as dequeued ('' when it was not queued), resent
     * ('1' after a lost reply). Fast path: the record is still the bytes we
     * dequeued, so it is still queued: no cjson.decode. A MARK sent again
     * after a lost reply finds its own record and succeeds (idempotent).
     * Reply: {1} OK, {0} REFUSED, {-3} OPAQUE, {-1, 'aborting', record[,
     * marker text]} ABORTED, {-1, other status, record} TAKEN */
    [SCRIPT_MARK] = MARK_FN
        "return mark(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])\n",

    /* MARKS: a batch of MARKs in one call (the jobs one DEQUEUE moved).
     * KEYS active, then each job's id and abort marker; ARGV check marker
     * ('1'), opaque ('1'), then each job's json, record as dequeued, resent.
     * Reply: {each job's MARK reply, in order} */
    [SCRIPT_MARKS] = MARK_FN
        "local out = {}\n"
        "for i = 1, (#KEYS - 1) / 2 do\n"
        "  local a = 3 * i\n"
        "  out[i] = mark(KEYS[1], KEYS[2 * i], KEYS[2 * i + 1], ARGV[a], ARGV[1], ARGV[2], ARGV[a + 1],\n"
        "                ARGV[a + 2])\n"
        "end\n"
        "return out\n",

    /* FINISH: KEYS active, incomplete, id, abort marker;
     * ARGV json, ttl, status, guarded, attempts, started, check marker, delete marker,
     * the record this lease last wrote ('' = unknown; equal = fast path, no decode).
     * Reply (from GUARD): {1} OK, {3} SAME, {-1, error} ABORTED, {-2} LOST */
    [SCRIPT_FINISH] = GUARD FINISH_FN
        "return finish(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],\n"
        "              ARGV[6], ARGV[7], ARGV[8], ARGV[9] or '')\n",

    /* FINISHES: a batch of FINISHes in one call (the outcomes one turn of the
     * worker's loop settled). KEYS active, incomplete, then each job's id and
     * abort marker; ARGV each job's 9 FINISH arguments, in order.
     * Reply: {each job's FINISH reply, in order} */
    [SCRIPT_FINISHES] = GUARD FINISH_FN
        "local out = {}\n"
        "for i = 1, (#KEYS - 2) / 2 do\n"
        "  local b = 9 * (i - 1)\n"
        "  out[i] = finish(KEYS[1], KEYS[2], KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[b + 1], ARGV[b + 2],\n"
        "                  ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8],\n"
        "                  ARGV[b + 9])\n"
        "end\n"
        "return out\n",

    /* RETRY: KEYS active, queued, incomplete, id, abort marker;
     * ARGV json, score, push ('1'), guarded, attempts, started, check marker,
     * the record this lease last wrote ('' = unknown). Reply: as FINISH */
    [SCRIPT_RETRY] = GUARD
        "local g = guard(KEYS[4], ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1' and KEYS[5] or '', 'queued',\n"
        "                ARGV[8] or '')\n"
        "if g then return g end\n"
        "redis.call('LREM', KEYS[1], 1, KEYS[4])\n"
        "redis.call('LREM', KEYS[2], 1, KEYS[4])\n"
        "redis.call('ZADD', KEYS[3], ARGV[2], KEYS[4])\n"
        "if ARGV[3] == '1' then redis.call('RPUSH', KEYS[2], KEYS[4]) end\n"
        "redis.call('SET', KEYS[4], ARGV[1])\n"
        "redis.call('PUBLISH', KEYS[4], 'queued')\n"
        "return {1}\n",

    /* UPDATE: KEYS id; ARGV json head, error member, json tail, fallback status,
     * guarded, attempts, started. Writes head..error..status..tail with the
     * stored status; while the job is aborting the stored error (the abort
     * reason) is kept as well. Reply: 1 OK, 0 REFUSED */
    [SCRIPT_UPDATE] =
        "local cur = redis.call('GET', KEYS[1])\n"
        "if not cur then return 0 end\n"
        "local st = ARGV[4]\n"
        "local err = ARGV[2]\n"
        "local ok, rec = pcall(cjson.decode, cur)\n"
        "if ok and type(rec) == 'table' then\n"
        "  local s = rec['status']\n"
        "  if type(s) == 'string' and string.match(s, '^[%a_]+$') then st = s end\n"
        "  local l = string.lower(st)\n"
        "  if l == 'complete' or l == 'failed' or l == 'aborted' then return 0 end\n"
        "  if ARGV[5] == '1' and ((tonumber(rec['attempts']) or 0) ~= tonumber(ARGV[6]) or\n"
        "     (tonumber(rec['started']) or 0) ~= tonumber(ARGV[7])) then return 0 end\n"
        "  if l == 'aborting' and type(rec['error']) == 'string' then\n"
        "    err = ', \"error\": ' .. cjson.encode(rec['error'])\n"
        "  end\n"
        "end\n"
        "redis.call('SET', KEYS[1], ARGV[1] .. err .. ', \"status\": \"' .. st .. ARGV[3])\n"
        "redis.call('PUBLISH', KEYS[1], st)\n"
        "return 1\n",

    /* ABORT: KEYS queued, incomplete, id, abort marker, active[, watch];
     * ARGV record as read, new record, marker ttl, reason[, watch ms ('' =
     * none), '013' (saq 0.13's form: no compare-and-set, no status change,
     * the record expires after ttl + 1 s), 'sweep' (the sweep's abort)].
     * Reply: -1 CHANGED, -2 REFUSED
     * (the sweep's abort, 0.26 form, of a job no longer in `active`: given
     * back or finished since the sweep listed it, so not stuck; aborting it
     * out of `queued` would leave it in no list, unwatched), 0 OK (it was
     * not waiting), n > 0 DEQUEUED (taken out of queued) */
    [SCRIPT_ABORT] =
        "if ARGV[6] ~= '013' and redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end\n"
        "if ARGV[7] == 'sweep' and ARGV[6] ~= '013' and\n"
        "   not redis.call('LPOS', KEYS[5], KEYS[3]) then return -2 end\n"
        "local dequeued = redis.call('LREM', KEYS[1], 0, KEYS[3])\n"
        "redis.call('ZREM', KEYS[2], KEYS[3])\n"
        "if ARGV[6] == '013' then\n" /* saq 0.13's sweep abort: the record expires */
        "  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]) + 1)\n"
        "else\n"
        "  redis.call('SET', KEYS[3], ARGV[2])\n"
        "end\n"
        "redis.call('SETEX', KEYS[4], ARGV[3], ARGV[4])\n"
        "if ARGV[6] ~= '013' then redis.call('PUBLISH', KEYS[3], 'aborting') end\n"
        "if dequeued == 0 then redis.call('LREM', KEYS[5], 0, KEYS[3]) end\n"
        /* watched until it ends: the sweep's abort until its retry, so that
         * the job is retried even when the sweeping process dies in between;
         * a running job's until its worker finishes it; a waiting one's until
         * the caller's finish, which a lost connection may never send (the
         * record would stay `aborting`, in no list) */
        "if KEYS[6] and ARGV[5] ~= '' then\n"
        /* libsaq's own key: a value of another type written there by hand is
         * replaced, or the job would go unwatched */
        "  local ty = redis.call('TYPE', KEYS[6])['ok']\n"
        "  if ty ~= 'zset' and ty ~= 'none' then redis.call('DEL', KEYS[6]) end\n"
        "  local t = redis.call('TIME')\n"
        "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
        "  redis.pcall('ZADD', KEYS[6], now + tonumber(ARGV[5]), KEYS[3])\n"
        "end\n"
        "return dequeued\n",

    /* SCHEDULE: KEYS lock, incomplete, queued; ARGV lock milliseconds, now seconds.
     * Reply: the ids moved (nil when the lock was held) */
    [SCRIPT_SCHEDULE] =
        "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
        "  redis.call('PSETEX', KEYS[1], ARGV[1], 1)\n"
        "  local jobs = redis.call('ZRANGEBYSCORE', KEYS[2], 1, ARGV[2])\n"
        "  for _, v in ipairs(jobs) do\n"
        "    redis.call('ZADD', KEYS[2], 0, v)\n"
        "    redis.call('RPUSH', KEYS[3], v)\n"
        "  end\n"
        "  return jobs\n"
        "end\n",

    /* SWEEP: KEYS lock, active; ARGV lock milliseconds. Reply: {{id, record, nil
     * (missing) or {type} (a key of another type than a string)}, ...} */
    [SCRIPT_SWEEP] =
        "local id_jobs = {}\n"
        "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
        "  redis.call('PSETEX', KEYS[1], ARGV[1], 1)\n"
        "  for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do\n"
        /* not a string key: {its type}, for the sweep to settle it failed, visibly */
        "    local rec = redis.pcall('GET', v)\n"
        "    if type(rec) == 'table' then rec = {redis.call('TYPE', v)['ok']} end\n"
        "    id_jobs[i] = {v, rec}\n"
        "  end\n"
        "end\n"
        "return id_jobs\n",

    /* REPLACE: KEYS id; ARGV new record, status to publish, the record as
     * last written ('' = unknown). Rewrites an opaque record (a queue with a
     * dump transform, which Lua cannot read) only if it is still there and,
     * when known, still exactly what this worker wrote: an abort or a sweep
     * in between is never overwritten. Reply: 1 OK, 0 REFUSED */
    [SCRIPT_REPLACE] =
        "local cur = redis.call('GET', KEYS[1])\n"
        "if not cur or (ARGV[3] ~= '' and cur ~= ARGV[3]) then return 0 end\n"
        "redis.call('SET', KEYS[1], ARGV[1])\n"
        "redis.call('PUBLISH', KEYS[1], ARGV[2])\n"
        "return 1\n",

    /* RECOVER: KEYS active, queued, incomplete, id[, watch];
     * ARGV record as read, new record, 'retry'|'finish', score, push, ttl, status
     * [, '1' = also when the id is in no list (a sweep's job after its abort)].
     * Reply: 1 OK, 0 REFUSED */
    [SCRIPT_RECOVER] =
        "if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end\n"
        "if redis.call('LREM', KEYS[1], 1, KEYS[4]) == 0 and ARGV[8] ~= '1' then return 0 end\n"
        "if KEYS[5] then redis.pcall('ZREM', KEYS[5], KEYS[4]) end\n"
        "if ARGV[3] == 'retry' then\n"
        "  redis.call('LREM', KEYS[2], 1, KEYS[4])\n"
        "  redis.call('ZADD', KEYS[3], ARGV[4], KEYS[4])\n"
        "  if ARGV[5] == '1' then redis.call('RPUSH', KEYS[2], KEYS[4]) end\n"
        "  redis.call('SET', KEYS[4], ARGV[2])\n"
        "  redis.call('PUBLISH', KEYS[4], 'queued')\n"
        "else\n"
        "  redis.call('ZREM', KEYS[3], KEYS[4])\n"
        "  local ttl = tonumber(ARGV[6])\n"
        "  if ttl > 0 then redis.call('SETEX', KEYS[4], ttl, ARGV[2])\n"
        "  elseif ttl == 0 then redis.call('SET', KEYS[4], ARGV[2])\n"
        "  else redis.call('DEL', KEYS[4]) end\n"
        "  redis.call('PUBLISH', KEYS[4], ARGV[7])\n"
        "end\n"
        "return 1\n",

    /* ALIVE: KEYS alive, watch, abort watch; ARGV worker id, entry ms, then ids to forget.
     * Refreshes this worker's liveness entry (server clock) and returns the
     * libsaq workers whose entry expired (with their expiry), the watched sweep aborts that are
     * past their deadline, and the server time. An id to forget is removed
     * only if it is still expired (a worker that came back stays).
     * Reply: {expired {wid, expiry, ...}, sweep watch due, now ms, abort watch due} */
    [SCRIPT_ALIVE] =
        /* a libsaq key of the wrong type (written by hand) reads as empty
         * instead of failing the whole refresh */
        "local function z(...)\n"
        "  local r = redis.pcall(...)\n"
        "  if type(r) == 'table' and r['err'] then return {} end\n"
        "  return r\n"
        "end\n"
        "for i = 1, 3 do\n" /* libsaq's own keys: another type written by hand is replaced */
        "  local ty = redis.call('TYPE', KEYS[i])['ok']\n"
        "  if ty ~= 'zset' and ty ~= 'none' then redis.call('DEL', KEYS[i]) end\n"
        "end\n"
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
        "for i = 3, #ARGV do\n"
        "  local s = z('ZSCORE', KEYS[1], ARGV[i])\n"
        "  if type(s) == 'string' and tonumber(s) < now then z('ZREM', KEYS[1], ARGV[i]) end\n"
        "end\n"
        "z('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
        "z('PEXPIRE', KEYS[1], 86400000)\n"
        "z('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)\n"
        "return {z('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 100),\n"
        "        z('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100), now,\n"
        "        z('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)}\n",

    /* ABORT_DUE: KEYS abort watch, id, alive, registry, active; ARGV 0.26 and
     * 0.13 registry member prefixes. An aborted job past its watch deadline:
     * done (dropped from the set), still in `active` with a live worker
     * (watched 2 s more), or aborting with no live worker holding it (its
     * worker died, or it is in no list: a waiting job whose abort's second
     * step, the caller's finish, never came, or a running job whose outcome
     * was written between the two steps): {1, record} for the caller to
     * finish it aborted (compare-and-set). Reply: {0} OK, {1, record} DUE */
    [SCRIPT_ABORT_DUE] =
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
        "local cur = redis.pcall('GET', KEYS[2])\n"
        "if type(cur) ~= 'string' then cur = false end\n"
        "local ok, rec = false, nil\n"
        "if cur then ok, rec = pcall(cjson.decode, cur) end\n"
        "if not ok or type(rec) ~= 'table' or\n"
        "   string.lower(tostring(rec['status'] or '')) ~= 'aborting' then\n"
        "  redis.pcall('ZREM', KEYS[1], KEYS[2])\n"
        "  return {0}\n"
        "end\n"
        "local function num(x) if type(x) == 'string' then return tonumber(x) end end\n"
        "local wid = rec['worker_id']\n"
        "if type(wid) == 'string' and redis.pcall('LPOS', KEYS[5], KEYS[2]) then\n"
        /* a libsaq worker by its liveness entry; any other by saq's registry */
        "  local a = num(redis.pcall('ZSCORE', KEYS[3], wid))\n"
        "  local live\n"
        "  if a then live = a >= now else\n"
        "    local r1 = num(redis.pcall('ZSCORE', KEYS[4], ARGV[1] .. wid))\n"
        "    local r2 = num(redis.pcall('ZSCORE', KEYS[4], ARGV[2] .. wid))\n"
        "    live = (r1 and r1 >= now) or (r2 and r2 >= now)\n"
        "  end\n"
        "  if live then\n"
        "    redis.pcall('ZADD', KEYS[1], now + 2000, KEYS[2])\n"
        "    return {0}\n"
        "  end\n"
        "end\n"
        "return {1, cur}\n",

    /* UNREADABLE: KEYS active, incomplete, id, keep; ARGV record as read,
     * failed record, ttl s, '1' when the key holds another type than a
     * string. A record a worker dequeued but cannot use (not JSON, another
     * transform, too large, not a string) is settled failed instead of being
     * left in `active`; the original (its bytes, or the key itself renamed)
     * is kept beside it for the ttl. Reply: 1 OK, 0 REFUSED */
    [SCRIPT_UNREADABLE] =
        "local ty = redis.call('TYPE', KEYS[3])['ok']\n"
        "if ARGV[4] == '1' then\n"
        "  if ty == 'string' or ty == 'none' then return 0 end\n"
        "  redis.call('RENAME', KEYS[3], KEYS[4])\n"
        "  redis.call('EXPIRE', KEYS[4], ARGV[3])\n"
        "else\n"
        "  if ty ~= 'string' or redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end\n"
        "  redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[3])\n"
        "end\n"
        "redis.call('LREM', KEYS[1], 1, KEYS[3])\n"
        "redis.call('ZREM', KEYS[2], KEYS[3])\n"
        "redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])\n"
        "redis.call('PUBLISH', KEYS[3], 'failed')\n"
        "return 1\n",

    /* OVERVIEW: KEYS queued, active, incomplete, registry, alive, samples, paused;
     * ARGV mode ('o' the figures, 's' the sample only), the dialect's
     * registry record prefix, the other family's prefix, '1' when records
     * are flat stats (0.13), sample spacing ms, samples kept, their ttl s.
     * First a sample of the live registry's counters is pushed onto the
     * samples list unless the newest one is younger than the spacing:
     * '{"t": <ms>, "w": {"<wid>": [complete, failed, retried, aborted,
     * uptime], ...}}', "t" first (read back without decoding). Reply: 's':
     * the server's time (ms); 'o': {time ms, queued, active, incomplete, not
     * yet due, {head id, head record}, {wid, ...}, {record, ...}, {libsaq
     * 1|0, ...} (each worker once, however many registry members end in
     * its id), {sample, ...} newest first, the kept ones only (a list
     * grown by another client, or not trimmed for a user that may not write,
     * is not read whole), the pause flag or false}. A libsaq worker writes both
     * registry families and keeps a liveness entry (either tells). */
    [SCRIPT_OVERVIEW] =
        "local function z(...)\n"
        "  local r = redis.pcall(...)\n"
        "  if type(r) == 'table' and r['err'] then return false end\n"
        "  return r\n"
        "end\n"
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
        "local head = z('LINDEX', KEYS[6], 0)\n"
        "local last = type(head) == 'string' and tonumber(string.match(head, '^{\"t\": (%d+)'))\n"
        "local due = not last or now - last >= tonumber(ARGV[5]) or last > now\n"
        "if not due and ARGV[1] ~= 'o' then return now end\n"
        "local wids, recs, seen = {}, {}, {}\n"
        "for _, m in ipairs(z('ZRANGEBYSCORE', KEYS[4], now, '+inf') or {}) do\n"
        "  local wid = string.match(m, '([^:]*)$')\n"
        "  local rec = not seen[wid] and z('GET', ARGV[2] .. wid)\n"
        "  seen[wid] = true\n"
        "  if type(rec) == 'string' then wids[#wids + 1] = wid; recs[#recs + 1] = rec end\n"
        "end\n"
        "if due then\n"
        "  local parts = {}\n"
        "  for i, wid in ipairs(wids) do\n"
        "    local ok, v = pcall(cjson.decode, recs[i])\n"
        "    if ok and type(v) == 'table' and ARGV[4] ~= '1' then v = v['stats'] end\n"
        "    if ok and type(v) == 'table' then\n"
        "      local f = {}\n"
        "      for k, name in ipairs({'complete', 'failed', 'retried', 'aborted', 'uptime'}) do\n"
        "        local x = tonumber(v[name]) or 0\n"
        "        if x ~= x or x < 0 or x > 1e15 then x = 0 end\n"
        "        f[k] = string.format('%d', math.floor(x))\n"
        "      end\n"
        "      parts[#parts + 1] = cjson.encode(wid) .. ': [' .. table.concat(f, ', ') .. ']'\n"
        "    end\n"
        "  end\n"
        /* best effort: a user allowed to read only still gets the figures */
        "  local ty = z('TYPE', KEYS[6])\n"
        "  if ty and ty['ok'] ~= 'list' and ty['ok'] ~= 'none' then z('DEL', KEYS[6]) end\n"
        "  if z('LPUSH', KEYS[6], '{\"t\": ' .. string.format('%d', now) .. ', \"w\": {' ..\n"
        "       table.concat(parts, ', ') .. '}}') then\n"
        "    z('LTRIM', KEYS[6], 0, tonumber(ARGV[6]) - 1)\n"
        "    z('EXPIRE', KEYS[6], ARGV[7])\n"
        "  end\n"
        "end\n"
        "if ARGV[1] ~= 'o' then return now end\n"
        "local flags = {}\n"
        "for i, wid in ipairs(wids) do\n"
        "  local lib = z('EXISTS', ARGV[3] .. wid) == 1 or z('ZSCORE', KEYS[5], wid)\n"
        "  flags[i] = lib and 1 or 0\n"
        "end\n"
        "local hid = z('LINDEX', KEYS[1], 0)\n"
        "local hrec = false\n"
        "if type(hid) == 'string' then hrec = z('GET', hid) else hid = false end\n"
        "return {now, z('LLEN', KEYS[1]) or 0, z('LLEN', KEYS[2]) or 0, z('ZCARD', KEYS[3]) or 0,\n"
        "        z('ZCOUNT', KEYS[3], '(' .. string.format('%.3f', now / 1000), '+inf') or 0,\n"
        "        {hid, hrec}, wids, recs, flags, z('LRANGE', KEYS[6], 0, tonumber(ARGV[6]) - 1) or {},\n"
        "        z('GET', KEYS[7]) or false}\n",

    /* DELETE: KEYS id, queued, incomplete, active, sweep watch, abort watch,
     * abort marker, kept unreadable bytes; ARGV the record as read ('' = none),
     * '1' = refuse when the job is in `active`, '1' = delete the abort marker.
     * The watch sets are libsaq's own keys: a value of another type there is
     * left alone. Reply: -1 CHANGED (the record is no longer the one read),
     * -2 REFUSED (in `active`), n >= 0 OK: the keys and entries removed */
    [SCRIPT_DELETE] =
        "if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return -1 end\n"
        "if ARGV[2] == '1' and redis.call('LPOS', KEYS[4], KEYS[1]) then return -2 end\n"
        "local n = redis.call('DEL', KEYS[1], KEYS[8]) + redis.call('LREM', KEYS[2], 0, KEYS[1]) +\n"
        "  redis.call('ZREM', KEYS[3], KEYS[1]) + redis.call('LREM', KEYS[4], 0, KEYS[1])\n"
        "for _, w in ipairs({KEYS[5], KEYS[6]}) do\n"
        "  local r = redis.pcall('ZREM', w, KEYS[1])\n"
        "  if type(r) == 'number' then n = n + r end\n"
        "end\n"
        "if ARGV[3] == '1' then n = n + redis.call('DEL', KEYS[7]) end\n"
        "return n\n",

    /* FLOW: flows' bookkeeping (an extension saq ignores): flowscript.c */
    [SCRIPT_FLOW] = saq__flow_script,

    /* LIMIT, LIMIT_RELEASE, LIMIT_INFO: rate limits (an extension saq
     * ignores): limitscript.c */
    [SCRIPT_LIMIT] = saq__limit_script,
    [SCRIPT_LIMIT_RELEASE] = saq__limit_release_script,
    [SCRIPT_LIMIT_INFO] = saq__limit_info_script,

    /* GIVE_BACK: KEYS active, queued, id, abort marker; ARGV the record as
     * dequeued ('' when not read), check marker ('1': the 0.13 dialect).
     * Puts the move back at the head of `queued` only while it is still the
     * move: its record untouched and still queued when Lua can read it (a
     * sweep's abort, saq's or libsaq's, or any abort changes it; 0.13's sets
     * the marker) and its id in `active` (a sweep, a recovery or a delete may
     * have taken it out). A sweep that took it
     * queues it again itself: pushing it back too ran it twice.
     * Reply (MARK's shapes): {1} OK (back in queued); {0} REFUSED (not in
     * active any more, or no record: nothing pushed); {-1, 'aborting', record,
     * marker text} ABORTED (0.13's marker); {-1, 'changed', record} TAKEN:
     * left where it is (the caller reads the record: aborted, it finishes it) */
    [SCRIPT_GIVE_BACK] =
        "local cur = redis.pcall('GET', KEYS[3])\n"
        /* a key of another type than a string: back in queued as it is, where
         * a dequeue settles it failed, visibly (UNREADABLE) */
        "if type(cur) == 'table' then\n"
        "  if redis.call('LREM', KEYS[1], 1, KEYS[3]) == 0 then return {0} end\n"
        "  redis.call('LPUSH', KEYS[2], KEYS[3])\n"
        "  return {1}\n"
        "end\n"
        "if not cur then\n"
        "  redis.call('LREM', KEYS[1], 1, KEYS[3])\n"
        "  return {0}\n"
        "end\n"
        "local m = ARGV[2] == '1' and redis.call('GET', KEYS[4])\n"
        "if m then return {-1, 'aborting', cur, m} end\n"
        "if ARGV[1] ~= '' and cur ~= ARGV[1] then return {-1, 'changed', cur} end\n"
        /* read after the move (BLMOVE, then GET): an abort may precede the read */
        "local ok, rec = pcall(cjson.decode, cur)\n"
        "if ok and type(rec) == 'table' then\n"
        "  local st = string.lower(tostring(rec['status'] or 'new'))\n"
        "  if st ~= 'queued' and st ~= 'new' then return {-1, 'changed', cur} end\n"
        "end\n"
        "if redis.call('LREM', KEYS[1], 1, KEYS[3]) == 0 then return {0} end\n"
        "redis.call('LPUSH', KEYS[2], KEYS[3])\n"
        "return {1}\n",
};
