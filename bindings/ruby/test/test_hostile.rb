# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

# Careless and hostile usage found while break-testing the binding.
class TestHostile < Minitest::Test
  include SaqTestHelper

  def test_strings_with_null_bytes_are_refused_not_truncated
    q = new_queue
    q.enqueue("f", key: "k")
    # "k\0x" used to reach libsaq as "k": another job
    assert_raises(ArgumentError) { q.job("k\0x") }
    assert_raises(ArgumentError) { q.abort("k\0x") }
    assert_raises(ArgumentError) { q.enqueue("f\0g") }
    assert_raises(ArgumentError) { q.enqueue("f", key: "k\0x") }
    assert_equal :queued, q.job("k").status
    assert_equal 1, q.count(:queued)
    # kwargs travel as JSON and keep their NULs
    start_worker(q, functions: { "echo" => ->(job) { job.kwargs["s"] } })
    assert_equal "a\0b", q.apply("echo", s: "a\0b", timeout: 5)
  end

  def test_an_interrupted_apply_is_cancelled_in_libsaq
    q = new_queue # no worker: the applies would wait for ever
    3.times do
      assert_raises(Timeout::Error) { Timeout.timeout(0.2) { q.apply("nobody") } }
    end
    t0 = monotonic
    assert_equal true, q.close(timeout: 3), "close could not drain the interrupted applies"
    assert_operator monotonic - t0, :<, 1
  end

  def test_batch_aborts_on_exceptions_that_are_not_standard_errors
    q = new_queue
    key = nil
    assert_raises(Interrupt) do
      q.batch do
        key = q.enqueue("f").key
        raise Interrupt
      end
    end
    assert_equal :aborted, q.job(key).status
  end

  def test_join_timeout_is_honoured_when_a_handler_ignores_cancellation
    q = new_queue
    gate = ::Queue.new
    started = ::Queue.new
    w = start_worker(q, interrupt: false, shutdown_grace_period: 0.1, cancellation_hard_deadline: 0.3,
                        functions: { "stuck" => ->(_job) { started << true; gate.pop } })
    q.enqueue("stuck")
    started.pop # the handler runs (active in Redis comes earlier: a stop then cancels it before it starts)
    t0 = monotonic
    assert_equal false, w.stop(grace: 0, timeout: 1.5)
    assert_operator monotonic - t0, :<, 3
    gate << :go
    assert_equal true, w.join(5)
  end

  def test_a_handler_that_kills_its_thread_fails_the_job_and_the_pool_recovers
    q = new_queue
    start_worker(q, concurrency: 1, functions: { "die" => ->(_job) { Thread.exit }, "ok" => ->(_job) { 1 } })
    key = q.enqueue("die").key
    job = wait_terminal(q, key)
    assert_equal :failed, job.status
    assert_match(/thread was killed/, job.error)
    assert_equal 1, q.apply("ok", timeout: 5)
  end

  def test_a_workers_stop_in_a_forked_child_raises_and_runs_no_shutdown_hook
    q = new_queue
    hook_pid = []
    w = start_worker(q, functions: { "f" => ->(_j) {} }, shutdown: ->(_ctx) { hook_pid << Process.pid })
    r, wr = IO.pipe
    pid = fork do
      r.close
      out = begin
        w.stop(timeout: 1)
        "stopped"
      rescue Saq::ForkedError
        "forked"
      end
      out += ",hooks:#{hook_pid.size}"
      wr.write(out)
      wr.close
      exit!(0)
    end
    wr.close
    Process.wait(pid)
    assert_equal "forked,hooks:0", r.read
    assert w.running?
  end

  def test_infinite_and_huge_timeouts
    q = new_queue
    w = start_worker(q, functions: { "f" => ->(_j) { 1 } })
    assert_equal true, w.stop(grace: Float::INFINITY, timeout: 5)
    assert_equal true, q.close(timeout: Float::INFINITY)
    assert_raises(ArgumentError) { new_queue.close(timeout: Float::NAN) }
  end

  def test_configuration_errors_name_the_key_once
    e = assert_raises(Saq::URLError) { Saq::Queue.new(url: "http://x") }
    refute_match(/url: url:/, e.message)
    assert_equal "abc", Saq::Queue.from_url(REDIS_URL, name: :abc, &:name)
  end
end
