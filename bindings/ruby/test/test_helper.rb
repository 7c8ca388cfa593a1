# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# Run under tests/support/with-redis (it exports REDIS_URL), with the
# extension built by build-ext.sh on the load path; see run-tests.sh.
require "minitest/autorun"
require "securerandom"
require "timeout"
require "socket"
require "logger"
require "saq"

REDIS_URL = ENV.fetch("REDIS_URL") do
  abort "REDIS_URL is not set: run the tests through tests/support/with-redis (see bindings/ruby/run-tests.sh)"
end

module SaqTestHelper
  # Fast upkeep timers, so aborts and scheduled jobs are seen within ~0.2 s.
  FAST_TIMERS = { schedule: 0.1, abort: 0.1, worker_info: 1, sweep: 60 }.freeze

  def setup
    super
    @queues = []
    @workers = []
  end

  def teardown
    @workers.each { |w| w.stop(grace: 0, timeout: 10) }
    @queues.each(&:close)
    super
  end

  # A queue with a name no other test uses.
  def new_queue(**opts)
    name = "rb-#{self.class.name.downcase.gsub(/\W/, "")}-#{SecureRandom.hex(4)}"
    q = Saq::Queue.from_url(REDIS_URL, name: name, **opts)
    @queues << q
    q
  end

  def start_worker(queue, **opts)
    opts = { concurrency: 4, timers: FAST_TIMERS, logger: Logger.new(nil) }.merge(opts)
    w = Saq::Worker.new(queue, **opts)
    @workers << w
    w.start
  end

  # Poll until the block returns a truthy value (returned), or fail.
  def wait_for(what, timeout: 5)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      v = yield
      return v if v
      flunk "timed out after #{timeout}s waiting for #{what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
  end

  def wait_terminal(queue, key, timeout: 5)
    wait_for("job #{key} to end", timeout: timeout) do
      j = queue.job(key)
      j if j&.terminal?
    end
  end

  # Enqueue a job whose kwargs are the JSON text given, bypassing Ruby's
  # JSON (what a Python or C producer may send). Returns the job's key.
  def enqueue_raw(queue, function, kwargs_json)
    n = Saq::Native
    cq = n.saq_cq_new
    begin
      assert_equal 0, n.saq_queue_enqueue_call(queue.raw, function, kwargs_json, cq, 1)
      ev = Saq.__wait(cq)
      begin
        assert_equal 0, n.saq_event_status(ev), n.saq_event_errmsg(ev).to_s
        n.saq_job_key(n.saq_event_job(ev))
      ensure
        n.saq_rb_event_release(ev)
      end
    ensure
      n.saq_rb_cq_release(cq)
    end
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end
