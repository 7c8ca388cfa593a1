# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"
require "open3"

# A job enqueued by Python saq 0.26 is run by the Ruby worker, and Python
# reads the outcome. SAQ_PYTHON is a python with saq[redis]==0.26.x.
class TestPythonInterop < Minitest::Test
  include SaqTestHelper

  PY = <<~PY
    import asyncio, json, sys
    from saq import Queue

    async def main(url, name, mode, arg):
        q = Queue.from_url(url, name=name)
        await q.connect()
        try:
            if mode == "enqueue":
                job = await q.enqueue("add", a=1, b=2, retries=2, timeout=7)
                print(job.key)
            else:
                job = await q.job(arg)
                print(json.dumps({"status": job.status.value, "result": job.result,
                                  "attempts": job.attempts, "worker_id": job.worker_id}))
        finally:
            await q.disconnect()

    asyncio.run(main(*sys.argv[1:5]))
  PY

  # A Python worker (burst: it stops once the queue is empty) whose results
  # Ruby's JSON refused by default: 300 levels deep, lone surrogates.
  PY_WORKER = <<~'PY'
    import asyncio, sys
    from saq import Queue, Worker

    async def deep(ctx, *, n):
        v = 1
        for _ in range(n):
            v = [v]
        return v

    async def surrogate(ctx, *, s):
        return s + "\udbff" + "\ud800\udbff\udc00"

    async def main(url, name):
        q = Queue.from_url(url, name=name)
        await q.connect()
        try:
            await Worker(q, functions=[deep, surrogate], burst=True, dequeue_timeout=0.5).start()
        finally:
            await q.disconnect()

    asyncio.run(main(*sys.argv[1:3]))
  PY

  def python
    py = ENV["SAQ_PYTHON"]
    skip "SAQ_PYTHON is not set (a python where pip install 'saq[redis]==0.26.3' was run)" if py.nil? || py.empty?
    py
  end

  def run_py(*args)
    out, err, st = Open3.capture3(python, "-c", PY, REDIS_URL, *args)
    assert st.success?, "python failed: #{err}"
    out.strip
  end

  def test_python_enqueued_job_runs_on_ruby_worker
    py = python
    version, = Open3.capture2(py, "-c", "import importlib.metadata as m; print(m.version('saq'))")
    assert_match(/\A0\.26\./, version.strip)

    q = new_queue
    key = run_py(q.name, "enqueue", "")
    queued = q.job(key)
    assert_equal({ "a" => 1, "b" => 2 }, queued.kwargs)
    assert_equal 7.0, queued.timeout

    seen = Queue.new
    w = start_worker(q, functions: { "add" => ->(job) { seen << job.kwargs; job.kwargs["a"] + job.kwargs["b"] } })
    assert_equal({ "a" => 1, "b" => 2 }, Timeout.timeout(5) { seen.pop })
    wait_terminal(q, key)

    outcome = JSON.parse(run_py(q.name, "job", key))
    assert_equal({ "status" => "complete", "result" => 3, "attempts" => 1, "worker_id" => w.id }, outcome)
  end

  def test_apply_and_map_return_what_a_python_worker_returns
    py = python
    q = new_queue
    applied = Thread.new { q.apply("deep", n: 300, timeout: 30) }
    mapped = Thread.new { q.map("surrogate", [{ s: "a" }, { s: "\u00e9" }], timeout: 30) }
    wait_for("3 queued jobs") { q.count(:queued) == 3 }
    # Take saq's sweep lock (60 s) first: Python saq 0.26's start-up sweep
    # races its own first dequeue (a job already in the active list whose
    # record still says "queued" is swept: "aborted: swept"), a flake of
    # this test about once in ten runs.
    assert_equal [], q.sweep(lock: 60)
    _out, err, st = Open3.capture3(py, "-c", PY_WORKER, REDIS_URL, q.name)
    assert st.success?, "python worker failed: #{err}"
    deep = applied.value
    depth = 0
    (depth += 1; deep = deep.first) while deep.is_a?(Array)
    assert_equal [300, 1], [depth, deep]
    tail = "\xED\xAF\xBF\xED\xA0\x80\u{10FC00}".b
    assert_equal ["a".b + tail, "\u00e9".b + tail], mapped.value.map(&:b)
    assert_equal "\"a\\udbff\\ud800\u{10FC00}\"", Saq::Codec.dump(mapped.value[0]) # Python's text again
  end
end
