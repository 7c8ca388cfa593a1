# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

class TestThreadsAndFork < Minitest::Test
  include SaqTestHelper

  # A thread blocked in a libsaq call must not hold the GVL.
  def test_other_threads_run_while_apply_blocks
    q = new_queue
    counter = 0
    stop = false
    ticker = Thread.new { counter += 1 until stop }
    sleep 0.05
    before = counter
    t0 = monotonic
    assert_raises(Saq::TimeoutError) { q.apply("nobody-runs-this", timeout: 1) }
    blocked = monotonic - t0
    during = counter - before
    stop = true
    ticker.join
    assert_operator blocked, :>=, 0.9
    # Holding the GVL for the whole second would leave the ticker at ~0.
    assert_operator during, :>, 100_000, "the ticker thread ran only #{during} times while apply blocked"
  end

  def test_blocked_call_is_interruptible
    q = new_queue
    t0 = monotonic
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { q.apply("nobody-runs-this", timeout: 0) } }
    assert_operator monotonic - t0, :<, 1.5
    waiter = Thread.new { q.listen(["nothing"], timeout: 0) { false } }
    waiter.report_on_exception = false
    sleep 0.2
    t1 = monotonic
    waiter.raise(Interrupt)
    assert_raises(Interrupt) { waiter.join }
    assert_operator monotonic - t1, :<, 1
    assert_equal 1, q.count(:queued) # the queue is still usable (apply had enqueued its job)
  end

  def test_many_threads_share_one_queue
    q = new_queue
    threads = Array.new(8) { |t| Thread.new { Array.new(25) { |i| q.enqueue("f", t: t, i: i).key } } }
    keys = threads.flat_map(&:value)
    assert_equal 200, keys.uniq.size
    assert_equal 200, q.count(:queued)
  end

  def test_forked_child_gets_forked_error_and_can_make_its_own_queue
    q = new_queue
    q.enqueue("f")
    r, w = IO.pipe
    pid = fork do
      r.close
      out = []
      begin
        q.count(:queued)
        out << "no error"
      rescue Saq::ForkedError => e
        out << "forked:#{e.code_name}"
      end
      # the same through the raw layer: libsaq itself refuses the inherited handle
      cq = Saq::Native.saq_cq_new
      out << "raw:#{Saq::Native.saq_err_name(Saq::Native.saq_queue_count(q.raw, "queued", cq, 1))}"
      begin
        Saq::Worker.new(q, functions: { "f" => ->(_j) {} })
      rescue Saq::ForkedError
        out << "worker:forked"
      end
      own = Saq::Queue.from_url(REDIS_URL, name: q.name)
      out << "count:#{own.count(:queued)}"
      own.enqueue("f", from: "child")
      own.close
      w.write(out.join(","))
      w.close
      exit!(0)
    end
    w.close
    _, status = Process.wait2(pid)
    assert status.success?
    assert_equal "forked:SAQ_EFORKED,raw:SAQ_EFORKED,worker:forked,count:1", r.read
    assert_equal 2, q.count(:queued) # the parent's handle is unaffected
  end

  def test_worker_threads_do_not_block_the_process
    q = new_queue
    start_worker(q, functions: { "add" => ->(job) { job.kwargs["a"] + 1 } }, concurrency: 2)
    counter = 0
    stop = false
    ticker = Thread.new { counter += 1 until stop }
    sleep 0.3 # the worker's event thread is blocked in libsaq meanwhile
    stop = true
    ticker.join
    assert_operator counter, :>, 100_000
    assert_equal 2, q.apply("add", a: 1, timeout: 5)
  end
end
