/* SPDX-License-Identifier: MIT */
/* The rate limits' Lua text (an extension in libsaq's own keys,
 * saq:<q>:libsaq:limit:*, which Python saq ignores): LIMIT and LIMIT_RELEASE
 * (limit.c lays out their KEYS/ARGV), LIMIT_INFO (limitinfo.c); scripts.c
 * lists them as SCRIPT_LIMIT, SCRIPT_LIMIT_RELEASE, SCRIPT_LIMIT_INFO.
 *
 * A function's waiting list holds "<due> <job id>" entries: the job's score
 * in `incomplete` as written when it was put on the list (the 30 s safety
 * net). An entry is stale when that job no longer waits there: it came back
 * by itself (its score is 0, or a later retry's or schedule's), it was
 * aborted or deleted (no score), enqueued again, or finished; a wake drops
 * a stale entry without touching its job, so no job starts before it is due
 * and none is put back twice (a job waiting again has a new entry). */
#include "core.h"

/* Whether running slot `member` (score `score`, "<worker id>:<job id>")
 * counts: it was taken within the grace (a worker's liveness entry may not
 * be written yet), or its worker's liveness entry has not expired. A score
 * in the future beyond the grace (not one a script wrote) needs a live
 * worker too. Needs now, grace and alive. */
#define LIMIT_LIVE                                                                                 \
    "local function live(member, score)\n"                                                         \
    "  local s = tonumber(score)\n"                                                                \
    "  if s and s >= now - grace and s <= now + grace then return true end\n"                      \
    "  local e = redis.pcall('ZSCORE', alive, string.match(member, '^([^:]*):') or '')\n"          \
    "  return type(e) == 'string' and (tonumber(e) or 0) >= now\n"                                 \
    "end\n"

/* The job id of waiting-list entry e if that job still waits there: its
 * score in `incomplete` is the entry's due (and, when deep, its record is
 * queued); nil for a stale entry. Needs incomplete. */
#define LIMIT_STILL_WAITING                                                                        \
    "local function still_waiting(e, deep)\n"                                                      \
    "  local due, id = string.match(e, '^(%d+%.?%d*) (.+)$')\n"                                    \
    "  if not due then return nil end\n"                                                           \
    "  local s = redis.pcall('ZSCORE', incomplete, id)\n"                                          \
    "  if type(s) ~= 'string' or tonumber(s) ~= tonumber(due) then return nil end\n"              \
    "  if not deep then return id end\n"                                                           \
    "  local r = redis.pcall('GET', id)\n"                                                         \
    "  if type(r) ~= 'string' then return nil end\n"                                               \
    "  local ok, rec = pcall(cjson.decode, r)\n"                                                   \
    "  if not ok or type(rec) ~= 'table' then return nil end\n"                                    \
    "  local st = string.lower(tostring(rec['status'] or 'queued'))\n"                             \
    "  if st ~= 'queued' and st ~= 'new' then return nil end\n"                                    \
    "  return id\n"                                                                                \
    "end\n"

/* Put back at the head of `queued` up to n jobs of a function's waiting
 * list that still wait there (stale entries are dropped on the way). Needs
 * incomplete and queued. */
#define LIMIT_WAKE                                                                                 \
    LIMIT_STILL_WAITING                                                                            \
    "local function wake(waiting, n)\n"                                                            \
    "  local woke = 0\n"                                                                           \
    "  for _ = 1, 100 do\n"                                                                        \
    "    if woke >= n then break end\n"                                                            \
    "    local e = redis.pcall('LPOP', waiting)\n"                                                 \
    "    if type(e) ~= 'string' then break end\n"                                                  \
    "    local id = still_waiting(e, true)\n"                                                      \
    "    if id then\n"                                                                             \
    "      redis.call('ZADD', incomplete, 0, id)\n"                                                \
    "      redis.call('LPUSH', queued, id)\n"                                                      \
    "      woke = woke + 1\n"                                                                      \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "end\n"

/* LIMIT: KEYS active, queued, incomplete, alive, the queue limit's starts
 * and running sets, then per job its function limit's starts, running,
 * next and waiting keys; ARGV worker id, the queue's max_jobs, period
 * (ms), max_running, the grace (ms) of a slot whose worker has no
 * liveness entry yet, the wait hint (ms) of a full concurrency limit, how
 * long (ms) a job on a waiting list stays deferred at most, then per job
 * its id and its function's max_jobs, period, max_running (0 0 0: none).
 * Each job in order: over the queue's limit it goes back to the head of
 * `queued` (the batch's order kept); over its function's rate it is
 * deferred to its next free start (spread over the period after it by a
 * counter in the `next` key) as a score in `incomplete`; over its function's
 * concurrency it goes on the waiting list ("<due> <id>") and in `incomplete`
 * ARGV[7] ms ahead (due); else its starts and running slots are taken. A job
 * no longer in `active` is left alone. The slots of dead workers (LIMIT_LIVE)
 * are dropped when a limit is full. A start recorded more than a minute
 * ahead of the server's clock is dropped and a wait is at most one period
 * (hostile values never defer a job for ever). Reply: {queue room after (-1:
 * no queue limit), its wait (ms), then per job {code, wait ms}}: 0 back,
 * 1 taken, 2 deferred, 3 gone. */
const char saq__limit_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local active, queued, incomplete, alive = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local wid, grace, poll, safety = ARGV[1], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    LIMIT_WAKE
    LIMIT_LIVE
    "local function zkey(k)\n"
    "  local ty = redis.call('TYPE', k)['ok']\n"
    "  if ty ~= 'zset' and ty ~= 'none' then redis.call('DEL', k) end\n"
    "end\n"
    /* the running slots of workers whose liveness entry expired */
    "local function prune(running, waiting)\n"
    "  local m = redis.call('ZRANGE', running, 0, -1, 'WITHSCORES')\n"
    "  local dead = 0\n"
    "  for i = 1, #m, 2 do\n"
    "    if string.match(m[i], '^([^:]*):') ~= wid and not live(m[i], m[i + 1]) then\n"
    "      redis.call('ZREM', running, m[i])\n"
    "      dead = dead + 1\n"
    "    end\n"
    "  end\n"
    "  if dead > 0 and waiting then wake(waiting, dead) end\n"
    "end\n"
    "local function room(starts, running, waiting, rate, period, conc)\n"
    "  local free, wait = 1e15, 0\n"
    "  if rate > 0 then\n"
    "    zkey(starts)\n"
    "    redis.call('ZREMRANGEBYSCORE', starts, '-inf', '(' .. string.format('%d', now - period))\n"
    "    redis.call('ZREMRANGEBYSCORE', starts, '(' .. string.format('%d', now + 60000), '+inf')\n"
    "    local n = redis.call('ZCARD', starts)\n"
    "    if n >= rate then\n"
    "      local e = redis.call('ZRANGE', starts, n - rate, n - rate, 'WITHSCORES')\n"
    "      wait = math.min(math.max(tonumber(e[2]) + period - now + 1, 1), period + 1)\n"
    "    end\n"
    "    free = rate - n\n"
    "  end\n"
    "  if conc > 0 then\n"
    "    zkey(running)\n"
    "    if redis.call('ZCARD', running) >= conc then prune(running, waiting) end\n"
    "    local c = conc - redis.call('ZCARD', running)\n"
    "    if c < free then free = c end\n"
    "    if c <= 0 and wait < poll then wait = poll end\n"
    "  end\n"
    "  return free, wait\n"
    "end\n"
    "local function take(starts, running, rate, period, conc, member)\n"
    "  if rate > 0 then\n"
    "    redis.call('ZADD', starts, now, t[1] .. '.' .. t[2] .. ':' .. member)\n"
    "    redis.call('PEXPIRE', starts, period + 1000)\n"
    "  end\n"
    "  if conc > 0 then redis.call('ZADD', running, now, member) end\n"
    "end\n"
    "local qrate, qperiod, qconc = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local qlim = qrate > 0 or qconc > 0\n"
    "local qfree, qwait = -1, 0\n"
    "if qlim then qfree, qwait = room(KEYS[5], KEYS[6], nil, qrate, qperiod, qconc) end\n"
    "local out, back = {0, 0}, {}\n"
    "for j = 0, (#ARGV - 7) / 4 - 1 do\n"
    "  local id = ARGV[8 + 4 * j]\n"
    "  local frate, fperiod, fconc = tonumber(ARGV[9 + 4 * j]), tonumber(ARGV[10 + 4 * j]),\n"
    "                                tonumber(ARGV[11 + 4 * j])\n"
    "  local fs, fr, fnext, fw = KEYS[7 + 4 * j], KEYS[8 + 4 * j], KEYS[9 + 4 * j], KEYS[10 + 4 * j]\n"
    "  local flim = frate > 0 or fconc > 0\n"
    "  local member = wid .. ':' .. id\n"
    "  local code, wait = 1, 0\n"
    "  if qlim and qfree <= 0 then\n"
    "    code, wait = 0, qwait\n"
    "  elseif flim then\n"
    "    local ffree, fwait = room(fs, fr, fw, frate, fperiod, fconc)\n"
    "    if ffree <= 0 then code, wait = 2, fwait end\n"
    "  end\n"
    "  if code ~= 1 and redis.call('LREM', active, 1, id) == 0 then code = 3 end\n"
    "  if code == 1 then\n"
    "    if qlim then\n"
    "      take(KEYS[5], KEYS[6], qrate, qperiod, qconc, member)\n"
    "      qfree, qwait = room(KEYS[5], KEYS[6], nil, qrate, qperiod, qconc)\n"
    "    end\n"
    "    if flim then take(fs, fr, frate, fperiod, fconc, member) end\n"
    "  elseif code == 0 then\n"
    "    back[#back + 1] = id\n"
    "  elseif code == 2 then\n"
    "    local due, score\n"
    "    if fconc > 0 and redis.call('ZCARD', fr) >= fconc then\n"
    "      local ty = redis.call('TYPE', fw)['ok']\n"
    "      if ty ~= 'list' and ty ~= 'none' then redis.call('DEL', fw) end\n"
    "      due = now + safety\n"
    "      score = string.format('%.3f', due / 1000)\n"
    "      redis.call('RPUSH', fw, score .. ' ' .. id)\n"
    "      redis.call('PEXPIRE', fw, safety + 60000)\n"
    "    else\n"
    /* spread over the period after the first free start: the k-th job
     * deferred lands k/max_jobs periods later, modulo one period (those
     * that find no room then are deferred again; nothing drifts away) */
    "      local c = redis.pcall('INCR', fnext)\n"
    "      if type(c) ~= 'number' then redis.call('DEL', fnext); c = 1 end\n"
    "      redis.call('PEXPIRE', fnext, fperiod * 2)\n"
    "      due = now + wait + ((c - 1) % frate) * math.floor(fperiod / frate)\n"
    "      score = string.format('%.3f', due / 1000)\n"
    "    end\n"
    "    redis.call('ZADD', incomplete, score, id)\n"
    "    wait = due - now\n"
    "  end\n"
    "  out[#out + 1] = code\n"
    "  out[#out + 1] = wait\n"
    "end\n"
    "for i = #back, 1, -1 do redis.call('LPUSH', queued, back[i]) end\n"
    "if qlim then out[1] = math.max(qfree, 0); out[2] = qwait else out[1] = -1 end\n"
    "return out\n";

/* LIMIT_RELEASE: KEYS incomplete, queued, the queue limit's running set,
 * the function limit's running set and waiting list; ARGV the slot
 * ("<worker id>:<job id>"), which ones it holds (1 the queue's, 2 the
 * function's), the function's max_running (0: none). Freeing a function's
 * slot puts one of its waiting jobs back at the head of `queued`; with
 * max_running (the workers' periodic top-up, held 0: a job the waiting
 * list missed, e.g. one a Python worker ran), as many as it has room for.
 * Reply: 0 */
const char saq__limit_release_script[] =
    "local incomplete, queued = KEYS[1], KEYS[2]\n"
    LIMIT_WAKE
    "local held = tonumber(ARGV[2])\n"
    "if held % 2 == 1 then redis.pcall('ZREM', KEYS[3], ARGV[1]) end\n"
    "if held >= 2 and redis.pcall('ZREM', KEYS[4], ARGV[1]) == 1 then wake(KEYS[5], 1) end\n"
    "local max = tonumber(ARGV[3])\n"
    "if max > 0 then\n"
    "  local n = redis.pcall('ZCARD', KEYS[4])\n"
    "  if type(n) == 'number' and n < max then wake(KEYS[5], max - n) end\n"
    "end\n"
    "return 0\n";

/* LIMIT_INFO: KEYS the published limits (hash: "" or a function => "<max_jobs>
 * <period ms> <max_running>", as the workers write it; any bytes when
 * someone else did), the liveness set, incomplete; ARGV the limit keys' prefix, the
 * grace (ms) of a new slot. The keys read are the prefix's, in the queue's
 * hash slot (as OVERVIEW's registry keys). Counts only what the
 * enforcement counts: running slots that are live (LIMIT_LIVE), waiting
 * entries whose job still waits there (the first 1000 checked, the rest
 * counted as they are). Reply: {{function ("": the queue), the published
 * text as stored, running, started in the current period (-1: its period
 * is not a number of ms up to 366 days), waiting}, ...}; limitinfo.c checks
 * the text. */
const char saq__limit_info_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local alive, incomplete, grace = KEYS[2], KEYS[3], tonumber(ARGV[2])\n"
    LIMIT_LIVE
    LIMIT_STILL_WAITING
    "local function n(r) if type(r) == 'number' then return r end return 0 end\n"
    "local function running(k)\n"
    "  local m = redis.pcall('ZRANGE', k, 0, -1, 'WITHSCORES')\n"
    "  if type(m) ~= 'table' or m['err'] then return 0 end\n"
    "  local c = 0\n"
    "  for i = 1, #m, 2 do if live(m[i], m[i + 1]) then c = c + 1 end end\n"
    "  return c\n"
    "end\n"
    "local function waiting(k)\n"
    "  local l = redis.pcall('LRANGE', k, 0, 999)\n"
    "  if type(l) ~= 'table' or l['err'] then return 0 end\n"
    "  local c = math.max(n(redis.pcall('LLEN', k)) - #l, 0)\n"
    "  for _, e in ipairs(l) do if still_waiting(e, false) then c = c + 1 end end\n"
    "  return c\n"
    "end\n"
    "local h = redis.pcall('HGETALL', KEYS[1])\n"
    "if type(h) ~= 'table' or h['err'] then return {} end\n"
    "local out = {}\n"
    "for i = 1, #h, 2 do\n"
    "  local base = ARGV[1] .. (h[i] == '' and 'queue' or ('fn:' .. h[i])) .. ':'\n"
    "  local mj, per = string.match(h[i + 1], '^(%d+) (%d+) %d+$')\n"
    "  local started = -1\n"
    "  if mj and #mj <= 10 and #per <= 12 and tonumber(per) <= 31622400000 then\n"
    "    started = 0\n"
    "    if tonumber(mj) > 0 then\n"
    "      started = n(redis.pcall('ZCOUNT', base .. 'starts', '(' .. string.format('%d', now - tonumber(per)), '+inf'))\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = {h[i], h[i + 1], running(base .. 'running'), started, waiting(base .. 'waiting')}\n"
    "end\n"
    "return out\n";
