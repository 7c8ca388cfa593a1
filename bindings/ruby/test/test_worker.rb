# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"

class TestWorker < Minitest::Test
  include SaqTestHelper

  ADD = ->(job) { job.kwargs["a"] + job.kwargs["b"] }

  def test_round_trip_enqueue_apply_map
    q = new_queue
    w = start_worker(q, functions: { "add" => ADD, "mul" => ->(_job, a:, b:) { a * b } })
    assert w.running?
    job = q.enqueue("add", a: 1, b: 2)
    done = wait_terminal(q, job.key)
    assert_equal :complete, done.status
    assert_equal 3, done.result
    assert_equal 1.0, done.progress
    assert_equal 1, done.attempts
    assert_equal w.id, done.worker_id
    assert_operator done.completed, :>=, done.started

    assert_equal 42, q.apply("mul", a: 6, b: 7, timeout: 5) # keyword handler
    assert_equal [2, 5, 9], q.map("add", [{ a: 1 }, { a: 2, b: 3 }, { a: 3, b: 6 }], timeout: 5, b: 1)
    assert_operator w.stats["complete"], :>=, 5
    assert w.stop(timeout: 5)
    refute w.running?
  end

  def test_exception_fails_job_with_message_and_backtrace
    q = new_queue
    start_worker(q, functions: { "boom" => ->(_job) { raise ArgumentError, "bad input" } })
    err = assert_raises(Saq::JobError) { q.apply("boom", timeout: 5) }
    job = err.job
    assert_equal :failed, job.status
    assert_match(/\AArgumentError: bad input\n/, job.error)
    assert_includes job.error, "test_worker.rb" # the backtrace
    assert_includes err.message, "bad input"
  end

  def test_map_return_exceptions
    q = new_queue
    start_worker(q, functions: { "div" => ->(job) { 10 / job.kwargs["d"] } })
    results = q.map("div", [{ d: 2 }, { d: 0 }, { d: 5 }], timeout: 5, return_exceptions: true)
    assert_equal 5, results[0]
    assert_instance_of Saq::JobError, results[1]
    assert_match(/ZeroDivisionError/, results[1].job.error)
    assert_equal 2, results[2]
    assert_raises(Saq::JobError) { q.map("div", [{ d: 1 }, { d: 0 }], timeout: 5) }
  end

  def test_retry_then_success
    q = new_queue
    attempts = Queue.new
    flaky = lambda do |job|
      attempts << job.attempts
      raise "transient" if job.attempts == 1

      "ok after #{job.attempts}"
    end
    start_worker(q, functions: { "flaky" => flaky })
    job = q.enqueue("flaky", retries: 2)
    done = wait_terminal(q, job.key)
    assert_equal :complete, done.status
    assert_equal "ok after 2", done.result
    assert_equal 2, done.attempts
    assert_equal [1, 2], [attempts.pop, attempts.pop]

    once = q.enqueue("flaky", retries: 1, key: "no-retry")
    attempts.clear
    failed = wait_terminal(q, once.key)
    assert_equal :failed, failed.status
    assert_match(/RuntimeError: transient/, failed.error)
  end

  def test_timeout_cancels_handler
    q = new_queue
    seen = Queue.new
    slow = lambda do |job|
      sleep 10
    rescue Saq::Cancelled => e
      seen << [e.reason, job.timed_out?, job.cancelled?]
      raise
    end
    start_worker(q, functions: { "slow" => slow })
    t0 = monotonic
    job = q.enqueue("slow", timeout: 1)
    done = wait_terminal(q, job.key, timeout: 6)
    assert_operator monotonic - t0, :<, 4
    assert_equal :failed, done.status
    assert_match(/TimeoutError/, done.error)
    assert_equal [:timeout, true, true], seen.pop
  end

  def test_abort_cancels_running_handler
    q = new_queue
    seen = Queue.new
    started = Queue.new
    slow = lambda do |job|
      started << true
      sleep 10
    rescue Saq::Cancelled => e
      seen << [e.reason, job.aborted?]
      raise
    end
    start_worker(q, functions: { "slow" => slow })
    job = q.enqueue("slow", timeout: 30)
    started.pop
    wait_for("active") { q.job(job).status == :active }
    assert_equal :aborting, q.abort(job, "stop it").status
    done = wait_terminal(q, job.key)
    assert_equal :aborted, done.status
    assert_equal "stop it", done.error
    assert_equal [:aborted, true], seen.pop
  end

  def test_cooperative_cancellation_without_interrupts
    q = new_queue
    seen = Queue.new
    poller = lambda do |job|
      sleep 0.02 until job.cancelled?
      seen << job.cancel_reason
      "ignored"
    end
    start_worker(q, functions: { "poll" => poller }, interrupt: false)
    job = q.enqueue("poll", timeout: 30)
    wait_for("active") { q.job(job).status == :active }
    q.abort(job, "bye")
    done = wait_terminal(q, job.key)
    assert_equal :aborted, done.status # aborted wins over the late result
    assert_equal :aborted, seen.pop
  end

  def test_touch_reports_progress
    q = new_queue
    go = Queue.new
    handler = lambda do |job|
      job.touch(progress: 0.5, meta: { "stage" => "half" })
      go.pop
      :done
    end
    start_worker(q, functions: { "work" => handler })
    job = q.enqueue("work")
    mid = wait_for("progress") { (j = q.job(job)).progress == 0.5 && j }
    assert_equal :active, mid.status
    assert_equal({ "stage" => "half" }, mid.meta)
    assert_operator mid.touched, :>, 0
    go << true
    assert_equal "done", wait_terminal(q, job.key).result
  end

  def test_hooks_and_context
    q = new_queue
    log = Queue.new
    w = start_worker(
      q,
      functions: { "add" => ->(job) { job.ctx[:db] + job.kwargs["a"] }, "bad" => ->(_j) { raise "x" } },
      startup: ->(ctx) { ctx[:db] = 100; log << [:startup, ctx[:worker].class] },
      shutdown: [->(ctx) { log << [:shutdown, ctx[:db]] }],
      before_process: ->(ctx) { log << [:before, ctx[:job].function] },
      after_process: ->(ctx) { log << [:after, ctx[:job].status, ctx[:job].result, ctx[:exception]&.class] }
    )
    assert_equal 101, q.apply("add", a: 1, timeout: 5)
    assert_raises(Saq::JobError) { q.apply("bad", timeout: 5) }
    w.stop(timeout: 5)
    entries = []
    entries << log.pop until log.empty?
    assert_equal [:startup, Saq::Worker], entries[0]
    assert_includes entries, [:before, "add"]
    assert_includes entries, [:after, :complete, 101, nil]
    assert_includes entries, [:after, :failed, nil, RuntimeError]
    assert_equal [:shutdown, 100], entries.last
  end

  def test_before_process_error_fails_job
    q = new_queue
    start_worker(q, functions: { "add" => ADD }, before_process: ->(_ctx) { raise IOError, "no db" })
    err = assert_raises(Saq::JobError) { q.apply("add", a: 1, b: 1, timeout: 5) }
    assert_match(/IOError: no db/, err.job.error)
  end

  def test_result_must_be_json
    q = new_queue
    start_worker(q, functions: { "nan" => ->(_j) { Float::NAN }, "sym" => ->(_j) { { a: :b } } })
    assert q.apply("nan", timeout: 5).nan?
    assert_equal({ "a" => "b" }, q.apply("sym", timeout: 5))
  end

  def test_cron_job_runs
    q = new_queue
    runs = Queue.new
    start_worker(q, functions: {},
                    cron_jobs: [Saq::CronJob.new("tick", "* * * * * *", ->(job) { runs << job.key; 1 }, timeout: 5),
                                { function: "tock", cron: "0 0 1 1 *", handler: ->(_j) {} }])
    key = Timeout.timeout(4) { runs.pop }
    assert_equal "cron:tick", key
  end

  # cron_tz: 03:00 in Kolkata (+05:30, no DST) is 21:30 UTC, not 03:00 UTC
  def test_cron_job_in_a_time_zone
    q = new_queue
    err = assert_raises(Saq::CronError) do
      Saq::Worker.new(q, functions: { "f" => ->(_j) {} },
                         cron_jobs: [Saq::CronJob.new("f", "0 3 * * *", cron_tz: "Mars/Olympus")])
    end
    assert_includes err.message, "unknown time zone 'Mars/Olympus'"
    before = Time.now.to_i
    start_worker(q, functions: { "tz" => ->(_j) {} },
                    cron_jobs: [{ function: "tz", cron: "0 3 * * *", cron_tz: "Asia/Kolkata" }])
    job = nil
    Timeout.timeout(5) { sleep 0.02 until (job = q.job("cron:tz")) }
    after = Time.now.to_i
    want = [before, after].map do |t|
      day = (t + 19_800) / 86_400 * 86_400 - 19_800 + 3 * 3600
      day > t ? day : day + 86_400
    end
    assert_includes want, job.scheduled.to_i
  end

  # the worker's cron_tz: (saq's Worker(cron_tz=...)) for cron jobs that set none
  def test_worker_cron_tz_default
    q = new_queue
    err = assert_raises(Saq::InvalidArgumentError) do
      Saq::Worker.new(q, functions: { "f" => ->(_j) {} }, cron_tz: "Mars/Olympus")
    end
    assert_includes err.message, "unknown time zone"
    before = Time.now.to_i
    start_worker(q, functions: { "ist" => ->(_j) {}, "utc" => ->(_j) {} }, cron_tz: "Asia/Kolkata",
                    cron_jobs: [{ function: "ist", cron: "0 3 * * *" },
                                { function: "utc", cron: "0 3 * * *", cron_tz: "UTC" }])
    { "ist" => 19_800, "utc" => 0 }.each do |fn, off|
      job = nil
      Timeout.timeout(5) { sleep 0.02 until (job = q.job("cron:#{fn}")) }
      want = [before, Time.now.to_i].map do |t|
        day = (t + off) / 86_400 * 86_400 - off + 3 * 3600
        day > t ? day : day + 86_400
      end
      assert_includes want, job.scheduled.to_i, fn
    end
  end

  # cron_tz: nil or "" is UTC over the worker's cron_tz: (Python saq's default zone), and a worker
  # that registers a cron job again in another zone moves the run the previous one stored
  def test_cron_tz_nil_is_utc_and_moves_the_stored_run
    q = new_queue
    fns = %w[a b c d].to_h { |f| [f, ->(_j) {}] }
    at = lambda do |t, off| # the next 03:00 at UTC offset `off` (seconds) after t
      day = (t + off) / 86_400 * 86_400 - off + 3 * 3600
      day > t ? day : day + 86_400
    end
    expect = lambda do |fn, start, off|
      wait_for("cron:#{fn} at 03:00 (UTC offset #{off} s)") do
        job = q.job("cron:#{fn}")
        job && [at.call(start, off), at.call(Time.now.to_i + 5, off)].include?(job.scheduled.to_i)
      end
    end
    start = Time.now.to_i
    w = start_worker(q, functions: fns, cron_tz: "Asia/Kolkata",
                        cron_jobs: %w[a b c d].map { |f| { function: f, cron: "0 3 * * *" } })
    %w[a b c d].each { |fn| expect.call(fn, start, 19_800) }
    w.stop(grace: 0, timeout: 10)
    start = Time.now.to_i
    start_worker(q, functions: fns, cron_tz: "Asia/Kolkata",
                    cron_jobs: [Saq::CronJob.new("a", "0 3 * * *", cron_tz: nil),
                                { function: "b", cron: "0 3 * * *", cron_tz: nil },
                                Saq::CronJob.new("c", "0 3 * * *", cron_tz: ""),
                                { function: "d", cron: "0 3 * * *" }])
    %w[a b c].each { |fn| expect.call(fn, start, 0) }
    expect.call("d", start, 19_800)
    assert_nil Saq::CronJob.new("a", "0 3 * * *").cron_tz
    refute Saq::CronJob.new("a", "0 3 * * *").cron_tz?
    assert Saq::CronJob.new("a", "0 3 * * *", cron_tz: nil).cron_tz?
  end

  def test_bad_cron_and_unknown_option
    q = new_queue
    err = assert_raises(Saq::CronError) do
      Saq::Worker.new(q, functions: { "f" => ->(_j) {} }, cron_jobs: [Saq::CronJob.new("f", "not a cron")])
    end
    assert_includes err.message, "not a cron"
    assert_raises(ArgumentError) { Saq::Worker.new(q, functions: { "f" => ->(_j) {} }, colour: 1) }
    assert_raises(ArgumentError) { Saq::Worker.new(q, functions: { "f" => 42 }) }
  end

  def test_graceful_stop_waits_for_running_job
    q = new_queue
    w = start_worker(q, functions: { "slow" => ->(_j) { sleep 0.5; "finished" } })
    job = q.enqueue("slow")
    wait_for("active") { q.job(job).status == :active }
    assert w.stop(grace: 5, timeout: 10)
    assert_equal "finished", q.job(job).result
  end

  def test_stop_without_grace_retries_running_job
    q = new_queue
    w = start_worker(q, functions: { "slow" => ->(_j) { sleep 10 } }, cancellation_hard_deadline: 0.5)
    job = q.enqueue("slow", retries: 1)
    wait_for("active") { q.job(job).status == :active }
    t0 = monotonic
    assert w.stop(grace: 0, timeout: 10)
    assert_operator monotonic - t0, :<, 3
    back = q.job(job)
    assert_equal :queued, back.status
    assert_equal "cancelled", back.error
  end

  # after_process sees the record libsaq stored (its OUTCOME event) instead
  # of a prediction: the timeout text as C writes it ("1 seconds"; Ruby wrote
  # "1.0"), the worker's swept message (Ruby wrote "swept"), the abort
  # reason (Ruby wrote "abort"), and the attempts of a retry.
  def test_after_process_sees_the_stored_outcome
    q = new_queue
    seen = Queue.new
    start_worker(q, timers: { abort: 0.05, schedule: 0.1 }, swept_error_message: "gone fishing",
                    after_process: ->(ctx) { seen << ctx[:job] },
                    functions: { "slow" => ->(_job) { sleep 5 }, "boom" => ->(_job) { raise "boom" } })
    check = lambda do |key, status, error, attempts|
      job = wait_for("after_process") { seen.pop(true) rescue nil }
      stored = q.job(key)
      assert_equal [key, status, error, attempts], [job.key, job.status, job.error, job.attempts]
      assert_equal [stored.status, stored.error, stored.attempts], [job.status, job.error, job.attempts]
    end
    t = q.enqueue("slow", timeout: 1)
    check.call(t.key, :failed, "TimeoutError: job #{t.key} timed out after 1 seconds", 1)
    h = q.enqueue("slow", timeout: 0, heartbeat: 0.3)
    check.call(h.key, :aborted, "gone fishing", 1)
    a = q.enqueue("slow", timeout: 0)
    wait_for("active") { q.job(a.key).active? }
    q.abort(a, "stop it")
    check.call(a.key, :aborted, "stop it", 1)
    r = q.enqueue("boom", retries: 2)
    job = wait_for("after_process") { seen.pop(true) rescue nil }
    assert_equal [r.key, :queued, 1], [job.key, job.status, job.attempts]
    assert_match(/\ARuntimeError: boom/, job.error)
    job = wait_for("after_process") { seen.pop(true) rescue nil }
    assert_equal [:failed, 2], [job.status, job.attempts]
  end

  # after_process gets the final status with the exception that caused a
  # timeout, an abort or a failure in ctx[:exception] (before: only a
  # handler's own exception; nil for a timeout or an abort).
  def test_after_process_sees_the_exception_of_a_timeout_abort_or_failure
    q = new_queue
    seen = Queue.new
    start_worker(q, timers: { abort: 0.05, schedule: 0.1 },
                    after_process: ->(ctx) { seen << [ctx[:job].key, ctx[:job].status, ctx[:exception]] },
                    functions: {
                      "slow" => ->(_job) { sleep 5 },
                      "deaf" => lambda do |_job| # swallows its cancellation and returns
                        sleep 5
                      rescue Saq::Cancelled
                        "ignored"
                      end,
                      "boom" => ->(_job) { raise IOError, "disk on fire" },
                      "ok" => ->(_job) { 1 }
                    })
    next_seen = -> { wait_for("after_process") { seen.pop(true) rescue nil } }
    check = lambda do |job, status, klass, reason|
      key, got_status, exc = next_seen.call
      assert_equal [job.key, status], [key, got_status]
      assert_instance_of klass, exc
      assert_equal reason, exc.reason if reason
      assert_equal status, q.job(job.key).status unless status == :queued # a retry may have started
      exc
    end
    check.call(q.enqueue("slow", timeout: 1), :failed, Saq::Cancelled, :timeout)
    check.call(q.enqueue("deaf", timeout: 1), :failed, Saq::Cancelled, :timeout)
    a = q.enqueue("slow", timeout: 0)
    wait_for("active") { q.job(a.key).active? }
    q.abort(a, "stop it")
    check.call(a, :aborted, Saq::Cancelled, :aborted)
    exc = check.call(q.enqueue("boom"), :failed, IOError, nil)
    assert_equal "disk on fire", exc.message
    r = q.enqueue("slow", timeout: 1, retries: 2) # a timeout that will be retried
    check.call(r, :queued, Saq::Cancelled, :timeout)
    key, status, exc = next_seen.call # the second attempt
    assert_equal [r.key, :failed, :timeout], [key, status, exc.reason]
    ok = q.enqueue("ok")
    assert_equal [ok.key, :complete, nil], next_seen.call # nothing to report
  end

  # interrupt: false: the handler never sees its timeout and returns a result
  # late; libsaq stored the timeout, and after_process says so.
  def test_after_process_sees_a_timeout_the_handler_never_saw
    q = new_queue
    seen = Queue.new
    start_worker(q, interrupt: false, cancellation_hard_deadline: 0.2,
                    after_process: ->(ctx) { seen << [ctx[:job].status, ctx[:exception]] },
                    functions: { "late" => ->(_job) { sleep 1.5; "too late" } })
    job = q.enqueue("late", timeout: 1)
    status, exc = wait_for("after_process", timeout: 8) { seen.pop(true) rescue nil }
    assert_equal :failed, status
    assert_instance_of Saq::Cancelled, exc
    assert_equal :timeout, exc.reason
    assert_equal :failed, q.job(job.key).status
  end

  # A result libsaq refuses (over max_payload_bytes) fails the job: after_process
  # sees the failure's cause in ctx[:exception] (before: nil, as for a success).
  def test_after_process_sees_why_a_refused_result_failed_the_job
    q = new_queue(max_payload_bytes: 10_000)
    seen = Queue.new
    start_worker(q, after_process: ->(ctx) { seen << [ctx[:job].status, ctx[:exception]] },
                    functions: { "big" => ->(_job) { "x" * 20_000 } })
    job = q.enqueue("big")
    status, exc = wait_for("after_process") { seen.pop(true) rescue nil }
    assert_equal :failed, status
    assert_kind_of Saq::TooBigError, exc
    assert_match(/max_payload_bytes/, exc.message)
    assert_match(/max_payload_bytes/, q.job(job.key).error)
  end

  # A handler that ignores its cancellation past the hard deadline gives up
  # its slot: libsaq gives the job back and a fresh thread runs the next job
  # (before, the stuck thread kept the slot until its handler returned).
  def test_a_stuck_handler_gives_up_its_slot_after_the_hard_deadline
    q = new_queue
    gate = Queue.new
    w = start_worker(q, concurrency: 1, interrupt: false, cancellation_hard_deadline: 0.2,
                        functions: { "stuck" => ->(_job) { gate.pop }, "add" => ADD })
    stuck = q.enqueue("stuck", timeout: 1)
    assert_equal :failed, wait_terminal(q, stuck.key).status
    assert_equal 3, q.apply("add", a: 1, b: 2, timeout: 5)
    gate << :go
    assert w.stop(timeout: 5)
  end

  def test_run_stops_on_sigterm
    q = new_queue
    lib = File.expand_path("../lib", __dir__)
    script = <<~RUBY
      require "saq"
      q = Saq::Queue.from_url(ENV["REDIS_URL"], name: #{q.name.dump})
      w = Saq::Worker.new(q, functions: { "slow" => ->(_j) { sleep 0.5; "done" } }, shutdown_grace_period: 5,
                             shutdown: ->(_ctx) { puts "shutdown hook" })
      w.run
      puts "stopped cleanly"
    RUBY
    load_path = $LOAD_PATH.select { |p| File.exist?(File.join(p, "saq", "native.so")) }
    args = [RbConfig.ruby, "-I", lib, *load_path.flat_map { |p| ["-I", p] }, "-e", script]
    r, wr = IO.pipe
    pid = Process.spawn(*args, out: wr)
    wr.close
    job = q.enqueue("slow")
    wait_for("the child worker to take the job", timeout: 10) { q.job(job).status == :active }
    Process.kill("TERM", pid)
    _, status = Process.wait2(pid)
    assert status.success?, "worker exited with #{status.inspect}"
    assert_equal "shutdown hook\nstopped cleanly\n", r.read
    assert_equal "done", q.job(job).result
  end
end
