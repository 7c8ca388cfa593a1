# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# Issue 19 (extensions Python saq tolerates): pausing and resuming a queue,
# the queue's job defaults (saq #302), failed_ttl (#268), retry: min_delay
# and jitter (#289).
require_relative "test_helper"

class TestPause < Minitest::Test
  include SaqTestHelper

  def test_pause_lets_running_jobs_finish_and_resume_is_immediate
    q = new_queue
    runs = Queue.new
    start_worker(q, functions: { "slow" => ->(_) { sleep 0.7; runs << 1 }, "fast" => ->(_) { runs << 1 } })
    refute q.paused?
    slow = q.enqueue("slow")
    wait_for("slow to run") { q.job(slow.key).status == :active }
    assert q.pause
    refute q.pause # paused already
    assert q.paused?
    assert_equal true, q.info["paused"]
    o = q.overview
    assert_equal true, o[:paused]
    assert_kind_of Integer, o[:paused_since_ms]
    assert_match(/^saq_queue_paused\{queue="#{q.name}"\} 1$/, q.metrics)
    assert_equal :complete, wait_terminal(q, slow.key).status # the running job finishes
    sleep 1.0
    jobs = Array.new(3) { q.enqueue("fast") }
    sleep 1.2
    assert_equal 3, q.count(:queued)
    assert_equal 1, runs.size
    t0 = monotonic
    assert q.resume
    jobs.each { |j| assert_equal :complete, wait_terminal(q, j.key).status }
    assert_operator monotonic - t0, :<, 1.0
    refute q.resume # not paused
    assert_equal false, q.info["paused"]
    assert_nil q.overview[:paused_since_ms]
  end

  def test_worker_started_on_a_paused_queue_waits
    q = new_queue
    q.pause
    job = q.enqueue("fast")
    start_worker(q, functions: { "fast" => ->(_) { 1 } })
    sleep 1.5
    assert_equal 1, q.count(:queued)
    q.resume
    assert_equal :complete, wait_terminal(q, job.key).status
  end

  def test_timers_pause_zero_ignores_the_flag
    q = new_queue
    q.pause
    start_worker(q, functions: { "fast" => ->(_) { 1 } }, timers: FAST_TIMERS.merge(pause: 0))
    job = q.enqueue("fast")
    assert_equal :complete, wait_terminal(q, job.key).status
  end

  def test_job_defaults
    q = new_queue(defaults: { timeout: 3, retries: 4, ttl: 100, retry_delay: 2, retry_backoff: 30 })
    j = q.enqueue("f", retries: 1)
    assert_equal [3.0, 1, 100, 2.0, 30.0], [j.timeout, j.retries, j.ttl, j.retry_delay, j.retry_backoff]
    stored = q.job(j.key)
    assert_equal [3.0, 100], [stored.timeout, stored.ttl]
    q2 = new_queue(defaults: { retry_backoff: true })
    assert_equal true, q2.enqueue("f").retry_backoff
    assert_raises(ArgumentError) { new_queue(defaults: { nope: 1 }) }
    assert_raises(Saq::InvalidArgumentError) { new_queue(defaults: { ttl: -2 }) }
  end

  def test_failed_ttl_and_retry_timing
    q = new_queue(failed_ttl: -1) # failures deleted at once
    start_worker(q, functions: { "bad" => ->(_) { raise "bad" }, "good" => ->(_) { 1 } })
    good = q.enqueue("good")
    bad = q.enqueue("bad")
    wait_terminal(q, good.key)
    wait_for("the failed job to be deleted") { q.job(bad.key).nil? }
    refute_nil q.job(good.key)

    # no jitter: a 4 s backoff delay is 4 s (full jitter would make three such retries all due
    # after 2 s one time in eight); a minimum of 4 s lifts a 0 delay
    [[{ retry: { jitter: false } }, { retry_delay: 4, retry_backoff: true }],
     [{ retry: { min_delay: 4 } }, {}]].each do |opts, job_opts|
      rq = new_queue(**opts)
      t0 = monotonic
      3.times { rq.retry(rq.enqueue("f", **job_opts), "again") }
      sleep(2 - (monotonic - t0))
      assert_equal 3, rq.overview[:jobs][:scheduled], "#{opts}: a retry is due within 2 s"
      sleep(5 - (monotonic - t0))
      o = rq.overview[:jobs]
      assert_equal [0, 3], [o[:scheduled], o[:incomplete]], "#{opts}: the retries are not due after 5 s"
    end
  end
end
