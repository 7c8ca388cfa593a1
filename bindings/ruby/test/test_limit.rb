# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

# Rate limits and global concurrency (Worker.new(..., limits: {...})), shared
# by two workers on their own connections to one queue.
class TestLimit < Minitest::Test
  include SaqTestHelper

  # A handler that notes each start time and the most running at once.
  class Probe
    attr_reader :starts, :max

    def initialize(sleep_s)
      @sleep_s = sleep_s
      @lock = Mutex.new
      @starts = []
      @running = 0
      @max = 0
    end

    def call(_job)
      @lock.synchronize do
        @starts << Process.clock_gettime(Process::CLOCK_REALTIME)
        @running += 1
        @max = [@max, @running].max
      end
      sleep @sleep_s
      @lock.synchronize { @running -= 1 }
      true
    end

    def max_in_window(seconds)
      s = @lock.synchronize { @starts.sort }
      s.each_index.map { |i| s[i..].take_while { |t| t - s[i] < seconds }.size }.max || 0
    end
  end

  def same_queue(q)
    new_queue(name: q.name)
  end

  def test_bad_limits_raise
    q = new_queue
    assert_raises(Saq::InvalidArgumentError) do
      Saq::Worker.new(q, functions: { "f" => ->(_) {} }, limits: { "f" => { max_jobs: 5 } }, logger: nil)
    end
    assert_raises(Saq::InvalidArgumentError) do
      Saq::Worker.new(q, functions: { "f" => ->(_) {} }, limits: { nil => { max_running: -1 } }, logger: nil)
    end
    assert_raises(ArgumentError) do
      Saq::Worker.new(q, functions: { "f" => ->(_) {} }, limits: { "f" => { rate: 1 } }, logger: nil)
    end
  end

  def test_queue_concurrency_shared_by_two_workers
    q = new_queue
    probe = Probe.new(0.1)
    2.times { start_worker(same_queue(q), functions: { "job" => probe }, limits: { nil => { max_running: 2 } }) }
    keys = Array.new(12) { q.enqueue("job").key }
    keys.each { |k| assert_equal :complete, wait_terminal(q, k, timeout: 15).status }
    assert_operator probe.max, :<=, 2
    assert_equal 0, q.count(:queued)
    # the limit as the workers publish it (every second)
    limits = wait_for("the published limits") { (l = q.limits).empty? ? nil : l }
    assert_equal [{ function: nil, max_jobs: 0, period: 0, max_running: 2, running: 0, started: 0, waiting: 0 }], limits
  end

  def test_function_rate_shared_by_two_workers
    q = new_queue
    probe = Probe.new(0)
    fns = { "slow" => probe, "add" => ->(job) { job.kwargs["a"] + 1 } }
    2.times { start_worker(same_queue(q), functions: fns, limits: { "slow" => { max_jobs: 5, period: 1 } }) }
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    slow = Array.new(15) { q.enqueue("slow").key }
    adds = Array.new(5) { |i| q.enqueue("add", a: i).key }
    adds.each { |k| assert_equal :complete, wait_terminal(q, k).status }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0, :<, 2.0, "the other function is not held back"
    slow.each { |k| assert_equal :complete, wait_terminal(q, k, timeout: 15).status }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0, :>=, 1.9
    assert_operator probe.max_in_window(1.0), :<=, 5
  end

  # A published limit no libsaq worker writes (a huge period, text) is listed
  # with invalid: its text, and nil numbers; a valid one next to it as usual.
  def test_invalid_published_limit
    q = new_queue
    out = IO.popen(["redis-cli", "-u", REDIS_URL, "HSET", "saq:#{q.name}:libsaq:limits", "",
                    "1 9000000000000000000 0", "ok", "5 1000 2"], &:read)
    assert $?.success?, out
    by = q.limits.to_h { |l| [l[:function], l] }
    assert_equal({ function: nil, invalid: "1 9000000000000000000 0", max_jobs: nil, period: nil, max_running: nil,
                   running: 0, started: nil, waiting: 0 }, by[nil])
    assert_equal({ function: "ok", max_jobs: 5, period: 1, max_running: 2, running: 0, started: 0, waiting: 0 },
                 by["ok"])
  end
end
