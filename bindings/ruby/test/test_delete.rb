# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# Issue 19: Queue#delete (libsaq's saq_queue_delete): a job's record and every
# entry of it; a running job refused unless forced, a forced delete aborts it
# first so its worker stops it.
require_relative "test_helper"

class TestDelete < Minitest::Test
  include SaqTestHelper

  def assert_empty_queue(q)
    assert_equal [0, 0, 0], %i[queued active incomplete].map { |k| q.count(k) }
  end

  def test_delete_waiting_scheduled_and_finished_jobs
    q = new_queue
    waiting = q.enqueue("f", a: 1)
    sched = q.enqueue("f", scheduled: Time.now.to_f + 3600)
    done = q.enqueue("f")
    q.finish(done, :complete, result: 7)
    [waiting, sched, done].each do |j|
      assert_equal :deleted, q.delete(j)
      assert_nil q.job(j.key)
    end
    assert_empty_queue(q)
    assert_equal [], q.iter_jobs.to_a
    assert_raises(Saq::NotFoundError) { q.delete(done.key) }
    assert_raises(Saq::InvalidArgumentError) { q.delete("k", wait: -1) }
    assert q.enqueue("f", key: waiting.key), "the key can be enqueued again"
  end

  def test_running_job_refused_unless_forced
    q = new_queue
    started = Queue.new
    cancelled = Queue.new
    slow = lambda do |_job|
      started << true
      sleep 10
    rescue Saq::Cancelled => e
      cancelled << e.reason
      raise
    end
    start_worker(q, functions: { "slow" => slow })
    job = q.enqueue("slow", timeout: 30)
    Timeout.timeout(10) { started.pop }
    wait_for("active") { q.job(job.key)&.status == :active }
    assert_raises(Saq::StateError) { q.delete(job) }
    assert_equal :active, q.job(job.key).status
    assert_equal :deleted_after_stop, q.delete(job, force: true, wait: 5)
    assert_equal :aborted, Timeout.timeout(10) { cancelled.pop }
    sleep 0.3 # nothing writes it back
    assert_nil q.job(job.key)
    assert_empty_queue(q)
  end
end
