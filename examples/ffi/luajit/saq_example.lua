-- SPDX-License-Identifier: MIT
-- libsaq from LuaJIT: ffi.cdef() of saq_ffi.h as is, ffi.load() of libsaq, nothing compiled.
--
--   REDIS_URL=redis://localhost:6379/0 luajit saq_example.lua
--
-- saq_ffi.h and libsaq are found through pkg-config ($SAQ_FFI_HEADER and $SAQ_LIB override).
-- LuaJIT has one thread and must never be entered from libsaq's threads, so everything goes
-- through one polling completion queue: the operations' completions and the worker's events
-- (pull mode: each job arrives as a SAQ_EVENT_LEASE, is run here and settled with
-- saq_job_complete or saq_job_fail). pump() takes the events until a condition holds. The
-- example enqueues a job and sees the worker complete it, applies a job that succeeds and one
-- that fails, and exits 0 only when every outcome is the expected one.
local ffi = require("ffi")

local function pkg_config(var)
  local p = assert(io.popen("pkg-config --variable=" .. var .. " libsaq"))
  local v = p:read("*l")
  p:close()
  assert(v and v ~= "", "pkg-config cannot find libsaq (set PKG_CONFIG_PATH)")
  return v
end

local header = os.getenv("SAQ_FFI_HEADER") or (pkg_config("includedir") .. "/saq_ffi.h")
local f = assert(io.open(header))
ffi.cdef(f:read("*a"))
f:close()
local lib = ffi.load(os.getenv("SAQ_LIB") or (pkg_config("libdir") .. "/libsaq.so.0"))

-- a borrowed const char * as a Lua string (nil for NULL)
local function str(p)
  if p == nil then return nil end
  return ffi.string(p)
end

local function check(rc, what, msg)
  if rc ~= lib.SAQ_OK then
    error(what .. ": " .. str(lib.saq_err_name(rc)) .. ": " .. (msg or ""), 2)
  end
end

-- queue and worker
local url = os.getenv("REDIS_URL") or "redis://localhost:6379/0"
local conf = lib.saq_conf_new()
check(lib.saq_conf_set(conf, "url", url), "url", str(lib.saq_conf_errmsg(conf)))
ffi.cdef("int getpid(void);")
check(lib.saq_conf_set(conf, "name", "ffi-luajit-" .. ffi.C.getpid()), "name")
local qp = ffi.new("saq_queue_t *[1]")
check(lib.saq_queue_open(qp, conf), "queue", str(lib.saq_conf_errmsg(conf)))
lib.saq_conf_free(conf)
local q = qp[0]
local cq = lib.saq_cq_new()

local WORKER = 1 -- the worker's events carry this tag; operations use 2, 3, ...
local wp = ffi.new("saq_worker_t *[1]")
check(lib.saq_worker_open(wp, q, nil), "worker")
local w = wp[0]
local functions = {
  add = function(kwargs)
    local a = tonumber(kwargs:match('"a"%s*:%s*(%-?%d+)'))
    local b = tonumber(kwargs:match('"b"%s*:%s*(%-?%d+)'))
    return tostring(a + b) -- the result as JSON
  end,
  boom = function() error("boom on purpose", 0) end,
}
for name in pairs(functions) do
  check(lib.saq_worker_register_pull(w, name), "register", str(lib.saq_worker_errmsg(w)))
end
check(lib.saq_worker_start(w, cq, WORKER), "start", str(lib.saq_worker_errmsg(w)))

-- the event pump
local done = {}     -- tag -> {status, errmsg, json, key, job_status, job_error} of a completion
local outcome = {}  -- key -> status of the record the worker stored
local stopped = false

local function on_event(ev)
  local kind, tag = lib.saq_event_type(ev), tonumber(lib.saq_event_tag(ev))
  if tag ~= WORKER then
    local job = lib.saq_event_job(ev)
    done[tag] = {
      status = lib.saq_event_status(ev), errmsg = str(lib.saq_event_errmsg(ev)),
      json = str(lib.saq_event_json(ev)), key = job ~= nil and str(lib.saq_job_key(job)) or nil,
      job_status = job ~= nil and str(lib.saq_job_status(job)) or nil,
      job_error = job ~= nil and str(lib.saq_job_error(job)) or nil,
    }
  elseif kind == lib.SAQ_EVENT_LEASE then
    local job = lib.saq_event_take_job(ev) -- ours: settle it once, then free it
    local fn = functions[str(lib.saq_job_function(job))]
    local ok, result = pcall(fn, str(lib.saq_job_kwargs(job)) or "{}")
    if ok then
      lib.saq_job_complete(job, result)
    else
      lib.saq_job_fail(job, tostring(result))
    end
    lib.saq_job_free(job)
  elseif kind == lib.SAQ_EVENT_OUTCOME then
    local job = lib.saq_event_job(ev)
    outcome[str(lib.saq_event_key(ev))] = job ~= nil and str(lib.saq_job_status(job)) or "not stored"
  elseif kind == lib.SAQ_EVENT_WORKER_STOPPED then
    stopped = true
  end
end

local function pump(cond, seconds)
  local deadline = os.time() + seconds
  while not cond() do
    if os.time() > deadline then error("timed out", 2) end
    local ev = lib.saq_cq_poll(cq, 100)
    if ev ~= nil then
      on_event(ev)
      lib.saq_event_free(ev)
    end
  end
end

local failures = 0
local function expect(what, ok, got)
  print(string.format("%-40s %s (%s)", what, ok and "ok" or "UNEXPECTED", got))
  if not ok then failures = failures + 1 end
end

local function apply(tag, fn, kwargs)
  local job = lib.saq_job_new(fn)
  check(lib.saq_job_set_call_kwargs(job, kwargs), "kwargs", str(lib.saq_job_errmsg(job)))
  check(lib.saq_queue_apply(q, job, 10, cq, tag), "apply")
  lib.saq_job_free(job) -- the queue enqueued a copy
  pump(function() return done[tag] end, 20)
  return done[tag]
end

-- enqueue, and see the worker complete it
check(lib.saq_queue_enqueue_call(q, "add", '{"a": 1, "b": 2}', cq, 2), "enqueue")
pump(function() return done[2] end, 10)
local key = done[2].key
pump(function() return outcome[key] end, 15)
expect("enqueued add(1, 2), worked by the worker", outcome[key] == "complete",
  tostring(key) .. ": " .. outcome[key])

local r = apply(3, "add", '{"a": 20, "b": 22}')
expect("apply add(20, 22)", r.status == lib.SAQ_OK and r.json == "42", tostring(r.json))

r = apply(4, "boom", '{"retries": 1}')
expect("apply boom() ends SAQ_EJOB, job failed",
  r.status == lib.SAQ_EJOB and r.job_status == "failed" and
  (r.job_error or ""):find("boom on purpose", 1, true) ~= nil,
  str(lib.saq_err_name(r.status)) .. ": " .. tostring(r.job_error))

-- stop: the worker's last event is WORKER_STOPPED; then wait, free the worker, then the queue
lib.saq_worker_stop(w, 5000)
pump(function() return stopped end, 15)
check(lib.saq_worker_wait(w, 10000), "wait")
lib.saq_worker_free(w)
lib.saq_queue_close(q, 5000)
lib.saq_queue_free(q)
lib.saq_cq_free(cq)
print(string.format("libsaq %s from %s: %s", str(lib.saq_version_str()), jit.version,
  failures == 0 and "all as expected" or "FAILED"))
os.exit(failures == 0 and 0 or 1)
