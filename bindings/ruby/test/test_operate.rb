# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# Operating the Ruby binding (issue 17): libsaq's log records in Ruby's
# Logger, queue-wide overview and Prometheus metrics, iter_jobs, a worker's
# metrics and final stats, traceparent from enqueue to the handler.
require_relative "test_helper"
require "stringio"
require "open3"
require "tempfile"

class TestOperate < Minitest::Test
  include SaqTestHelper

  TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

  # A real Logger whose formatter also keeps what it was given.
  class RecordingLogger < Logger
    attr_reader :io

    def initialize(level: Logger::DEBUG)
      @io = StringIO.new
      @seen = []
      @seen_lock = Mutex.new
      super(@io, level: level, progname: "saq")
      self.formatter = proc do |severity, _time, progname, msg|
        @seen_lock.synchronize { @seen << [severity, msg] }
        "#{severity} #{progname}: #{msg}\n"
      end
    end

    # [[severity, msg], ...] so far.
    def seen
      @seen_lock.synchronize { @seen.dup }
    end

    # The records (LogMessage) of a severity ("WARN", ...) matching the block.
    def find(severity = nil, &blk)
      seen.select { |sev, msg| (severity.nil? || sev == severity) && msg.is_a?(Saq::LogMessage) && (blk.nil? || blk.call(msg)) }
          .map(&:last)
    end
  end

  def closed_port
    s = TCPServer.new("127.0.0.1", 0)
    port = s.addr[1]
    s.close
    port
  end

  def prom_samples(text)
    text.each_line.reject { |l| l.start_with?("#") || l.strip.empty? }.to_h do |l|
      series, value = l.strip.match(/\A(\S+?(?:\{.*\})?)\s+(\S+)(?:\s+\d+)?\z/).captures
      name = series[/\A[^{]+/]
      labels = series[/\{(.*)\}/, 1].to_s.scan(/(\w+)="((?:[^"\\]|\\.)*)"/).to_h
      [[name, labels], Float(value)]
    end
  end

  def sample(samples, name, **labels)
    want = labels.transform_keys(&:to_s)
    samples.find { |(n, l), _| n == name && l == want }&.last
  end

  # --- logging ---------------------------------------------------------

  def test_unreachable_redis_is_a_warning_with_fields_in_the_queues_logger
    log = RecordingLogger.new(level: Logger::INFO)
    q = Saq::Queue.from_url("redis://127.0.0.1:#{closed_port}/0", name: "rb-unreachable",
                            logger: log, connect_timeout_ms: 200, reconnect_max_ms: 200)
    @queues << q
    assert_same log, q.logger
    assert_raises(Saq::Error) { q.ping }
    w = Saq::Worker.new(q, functions: { "f" => ->(_) {} }, concurrency: 1)
    @workers << w
    w.start
    warning = wait_for("a warning about the unreachable Redis", timeout: 10) do
      log.find("WARN") { |m| m.fields[:queue] == "rb-unreachable" && m.fields.key?(:error) }.first
    end
    assert_equal :warn, warning.level
    assert_match(/SAQ_E/, warning.fields[:error].to_s)
    assert_includes warning, "queue=rb-unreachable" # the text a plain formatter prints
    assert warning.start_with?(warning.message)
    assert_match(/^WARN saq: .*queue=rb-unreachable/, log.io.string)
    w.stop(grace: 0, timeout: 10)
    # rate-limited: not one line per retry
    assert_operator log.find("WARN") { |m| m.fields[:queue] == "rb-unreachable" }.size, :<, 10
  end

  def test_worker_start_and_stop_are_info_records_before_stop_returns
    log = RecordingLogger.new(level: Logger::INFO)
    q = new_queue(logger: log)
    w = Saq::Worker.new(q, functions: { "f" => ->(_) {} }, concurrency: 1, timers: FAST_TIMERS)
    @workers << w
    assert_same log, w.logger # the queue's logger by default
    w.start
    started = wait_for("the worker's start record") do
      log.find("INFO") { |m| m.fields[:worker] == w.id && m.message.match?(/start/i) }.first
    end
    assert_equal q.name, started.fields[:queue]
    assert w.stop(timeout: 10)
    stopped = log.find("INFO") { |m| m.fields[:worker] == w.id && m.message.match?(/stop/i) }
    refute_empty stopped, "no stop record once stop returned: #{log.io.string}"
    assert_empty log.find("DEBUG"), "the INFO logger's level is applied"
  end

  def test_a_workers_own_logger_gets_its_records_and_its_queues_does_not
    qlog = RecordingLogger.new
    wlog = RecordingLogger.new
    q = new_queue(logger: qlog, log_level: :info)
    w = Saq::Worker.new(q, functions: { "boom" => ->(_) { raise "boom" } }, concurrency: 1,
                           timers: FAST_TIMERS, logger: wlog)
    @workers << w
    assert_same wlog, w.logger
    w.start
    wait_for("the worker's start record in its own logger") do
      wlog.find("INFO") { |m| m.fields[:worker] == w.id && m.message.match?(/start/i) }.any?
    end
    job = q.enqueue("boom", retries: 1)
    wait_terminal(q, job.key)
    failed = wait_for("a warning for the handler that raised") do
      wlog.find("WARN") { |m| m.fields[:job] == job.key }.first
    end
    assert_equal "boom", failed.fields[:function]
    assert_match(/RuntimeError: boom/, failed.fields[:reason].to_s)
    w.stop(timeout: 10)
    assert_empty qlog.find { |m| m.fields[:worker] == w.id }, "the queue's logger got the worker's records"
  end

  def test_a_failing_hook_is_logged_with_its_job
    log = RecordingLogger.new
    q = new_queue(logger: log)
    w = start_worker(q, functions: { "ok" => ->(_) { 1 } }, logger: log,
                        after_process: ->(_ctx) { raise ArgumentError, "bad hook" })
    job = q.enqueue("ok")
    hook = wait_for("the hook's warning") { log.find("WARN") { |m| m.fields[:hook] == "after_process" }.first }
    assert_equal [job.key, "ok", w.id, q.name], hook.fields.values_at(:job, :function, :worker, :queue)
    assert_equal "ArgumentError: bad hook", hook.fields[:error]
    assert_equal "hook failed queue=#{q.name} worker=#{w.id} hook=after_process job=#{job.key} function=ok " \
                 'error="ArgumentError: bad hook"', hook
  end

  def test_logger_nil_silences_and_saq_logger_is_the_default
    default = RecordingLogger.new
    saved = Saq.logger
    Saq.logger = default
    begin
      url = "redis://127.0.0.1:#{closed_port}/0"
      quiet = Saq::Queue.from_url(url, name: "rb-quiet", logger: nil, connect_timeout_ms: 200)
      loud = Saq::Queue.from_url(url, name: "rb-loud", connect_timeout_ms: 200)
      @queues << quiet << loud
      assert_nil quiet.logger
      assert_same default, loud.logger
      [quiet, loud].each { |q| assert_raises(Saq::Error) { q.ping } }
      wait_for("the default logger's warning", timeout: 10) do
        default.find("WARN") { |m| m.fields[:queue] == "rb-loud" }.any?
      end
      assert_empty default.find { |m| m.fields[:queue] == "rb-quiet" }

      # its level (INFO) when the queue is made is the queue's log_level
      default.level = Logger::INFO
      q = new_queue
      w = Saq::Worker.new(q, functions: { "f" => ->(_) {} }, concurrency: 1) # no logger: its queue's
      @workers << w
      w.start
      wait_for("the worker's start line in Saq.logger") do
        default.find("INFO") { |m| m.fields[:worker] == w.id }.any?
      end
    ensure
      Saq.logger = saved
    end
  end

  def test_log_options_are_checked
    assert_raises(ArgumentError) { Saq::Queue.from_url(REDIS_URL, log_level: :loud) }
    assert_raises(ArgumentError) { Saq::Queue.from_url(REDIS_URL, log_level: 9) }
    q = new_queue(logger: RecordingLogger.new, log_level: "warn")
    assert_match(/\A\d+\.\d+\.\d+\z/, q.ping)
  end

  def test_log_message_is_a_string_with_fields
    m = Saq::LogMessage.new(:warn, "connection lost", { "queue" => "a b", "code" => -8, "x" => "" })
    assert_kind_of String, m
    assert_equal 'connection lost queue="a b" code=-8 x=""', m
    assert_equal({ queue: "a b", code: -8, x: "" }, m.fields)
    assert_equal "connection lost", m.message
    assert_predicate m, :frozen?
    long = Saq::LogMessage.new(:warn, "job failed", { "reason" => "x" * 5000 })
    assert_equal "job failed reason=#{"x" * 200}...", long
    assert_equal "x" * 5000, long.fields[:reason]
  end

  # --- overview, metrics, iter_jobs --------------------------------------

  def test_overview_counts_jobs_and_workers
    q = new_queue
    2.times { |i| q.enqueue("wait", i: i) }
    q.enqueue("later", scheduled: Time.now + 3600)
    o = q.overview
    assert_equal q.name, o[:queue]
    assert_equal({ queued: 2, active: 0, scheduled: 1, incomplete: 3 }, o[:jobs])
    assert_kind_of Numeric, o[:oldest_queued_age_s]
    assert_operator o[:oldest_queued_age_s], :>=, 0
    assert_equal 0, o[:workers_alive]
    assert_kind_of Integer, o[:time_ms]

    gate = Queue.new
    w = start_worker(q, concurrency: 1, functions: { "wait" => ->(_) { gate.pop } })
    o = wait_for("a job active and the worker registered") do
      v = q.overview
      v if v[:jobs][:active] == 1 && v[:workers_alive] == 1
    end
    me = o[:workers].find { |x| x[:id] == w.id }
    assert me, "the worker is listed: #{o[:workers].inspect}"
    assert_equal true, me[:libsaq]
    2.times { gate << :go }
    o = wait_for("the registry's counters", timeout: 5) do
      v = q.overview
      v if v[:totals][:complete] == 2
    end
    assert_equal({ queued: 0, active: 0, scheduled: 1, incomplete: 1 }, o[:jobs])
    assert_nil o[:oldest_queued_age_s]
  end

  def test_queue_metrics_and_merging_two_queues
    q1 = new_queue
    q2 = new_queue
    3.times { q1.enqueue("x") }
    q2.enqueue("x")
    m1 = q1.metrics
    assert_match(/^# TYPE saq_queue_jobs gauge$/, m1)
    assert_match(/^# HELP saq_queue_oldest_job_age_seconds /, m1)
    s = prom_samples(m1)
    assert_equal 3.0, sample(s, "saq_queue_jobs", queue: q1.name, state: "queued")
    assert_equal 0.0, sample(s, "saq_queue_jobs", queue: q1.name, state: "active")
    assert_equal 0.0, sample(s, "saq_queue_workers", queue: q1.name)

    merged = Saq::Metrics.merge(m1, q2.metrics, m1)
    assert_equal 1, merged.scan(/^# TYPE saq_queue_jobs /).size
    s = prom_samples(merged)
    assert_equal 1.0, sample(s, "saq_queue_jobs", queue: q2.name, state: "queued")
    assert_equal 3.0, sample(s, "saq_queue_jobs", queue: q1.name, state: "queued")
    promtool_check(merged)

    status, headers, body = Saq::Metrics.rack_app(q1, q2).call({})
    assert_equal 200, status
    assert_equal "text/plain; version=0.0.4; charset=utf-8", headers["content-type"]
    assert_equal 3.0, sample(prom_samples(body.join), "saq_queue_jobs", queue: q1.name, state: "queued")
  end

  def test_rack_app_answers_503_when_redis_is_gone
    q = Saq::Queue.from_url("redis://127.0.0.1:#{closed_port}/0", name: "rb-gone", logger: nil,
                            connect_timeout_ms: 200, command_timeout_ms: 500)
    @queues << q
    status, _headers, body = Saq::Metrics.rack_app(q).call({})
    assert_equal 503, status
    assert_match(/\Asaq: Saq::/, body.join)
  end

  # a page is empty only when the scan is over, and the cursor moves on: one failed job among 150
  # queued ones, read 2 keys per SCAN step, comes in the first page (libsaq goes on scanning
  # within a call until it has a job to return)
  def test_jobs_page_is_empty_only_at_the_end
    q = new_queue
    q.enqueue_many(Array.new(150) { |i| ["later", { i: i }] })
    failed = q.enqueue("missing", retries: 0).key
    q.finish(failed, :failed, error: "no")
    seen = []
    cursor = nil
    pages = 0
    loop do
      jobs, nxt = q.jobs_page(statuses: :failed, cursor: cursor, count: 2)
      pages += 1
      refute_equal cursor, nxt, "the cursor moves on" unless nxt.nil?
      assert(!jobs.empty? || nxt.nil?, "page #{pages} is empty but the scan goes on (cursor #{nxt})")
      seen.concat(jobs.map(&:key))
      cursor = nxt
      break if cursor.nil?
    end
    assert_equal [failed], seen.uniq
    assert_operator pages, :<=, 2 # the page with the job, and maybe an empty last one
    assert_equal [failed], q.iter_jobs(statuses: :failed, batch_size: 1).map(&:key).uniq
  end

  def test_iter_jobs_pages_through_finished_and_waiting_jobs
    q = new_queue
    done = Array.new(5) { |i| q.enqueue("ok", i: i).key }
    w = start_worker(q, functions: { "ok" => ->(_) { 1 } })
    done.each { |k| wait_terminal(q, k) }
    w.stop(timeout: 10)
    failed = q.enqueue("missing", retries: 0).key
    q.finish(failed, :failed, error: "no")
    waiting = Array.new(3) { |i| q.enqueue("later", i: i).key }

    all_calls = count_iter_calls do
      assert_equal (done + [failed] + waiting).sort, q.iter_jobs(batch_size: 1).map(&:key).uniq.sort
    end
    assert_operator all_calls, :>, 1, "batch_size: 1 reads more than one page"
    complete = q.iter_jobs(statuses: :complete, batch_size: 2).to_a
    assert_equal done.sort, complete.map(&:key).uniq.sort
    assert complete.all? { |j| j.status == :complete && j.result == 1 }
    assert_equal (waiting + [failed]).sort,
                 q.iter_jobs(statuses: %i[queued failed]).map(&:key).uniq.sort

    enum = q.iter_jobs(batch_size: 1)
    assert_kind_of Enumerator, enum
    calls = count_iter_calls { assert_equal 1, enum.first(1).size }
    assert_operator calls, :<, all_calls, "first(1) stops paging early" # (the db holds other tests' keys too)
    # page by page on request (issue 19): every job once the cursor comes back nil
    seen = []
    cursor = nil
    pages = 0
    loop do
      jobs, cursor = q.jobs_page(statuses: %i[complete failed], cursor: cursor, count: 2)
      seen.concat(jobs.map(&:key))
      pages += 1
      break if cursor.nil?
    end
    assert_equal (done + [failed]).sort, seen.uniq.sort
    assert_operator pages, :>, 1
    assert_raises(Saq::InvalidArgumentError) { q.jobs_page(cursor: "x") }
    assert_raises(Saq::InvalidArgumentError) { q.iter_jobs(statuses: :bogus).first }
    assert_raises(Saq::InvalidArgumentError) { q.iter_jobs(batch_size: 0).first }
  end

  # --- worker metrics and final stats ------------------------------------

  def test_worker_metrics_and_final_stats_after_stop
    q = new_queue
    w = start_worker(q, functions: { "ok" => ->(_) { sleep 0.01; 1 }, "bad" => ->(_) { raise "no" } })
    keys = [q.enqueue("ok"), q.enqueue("ok"), q.enqueue("bad", retries: 0)].map(&:key)
    keys.each { |k| wait_terminal(q, k) }
    assert w.stop(timeout: 10)
    stats = w.stats
    assert_equal [2, 1], stats.values_at("complete", "failed"), "final stats readable after stop: #{stats}"
    text = w.metrics
    s = prom_samples(text)
    assert_equal 2.0, sample(s, "saq_jobs_processed_total", queue: q.name, function: "ok", outcome: "complete")
    assert_equal 1.0, sample(s, "saq_jobs_processed_total", queue: q.name, function: "bad", outcome: "failed")
    assert_equal 2.0, sample(s, "saq_job_duration_seconds_count", queue: q.name, function: "ok")
    assert_operator sample(s, "saq_job_duration_seconds_sum", queue: q.name, function: "ok"), :>=, 0.02
    assert_match(/^# TYPE saq_job_duration_seconds histogram$/, text)
    promtool_check(Saq::Metrics.merge(q.metrics, text))
  end

  # --- traceparent -------------------------------------------------------

  def test_traceparent_travels_from_enqueue_to_the_handler
    q = new_queue
    seen = Queue.new
    start_worker(q, functions: { "trace" => ->(job) { seen << [job.traceparent, job.meta]; job.traceparent } })
    job = q.enqueue("trace", traceparent: TRACEPARENT, meta: { "tenant" => "a" }, x: 1)
    assert_equal TRACEPARENT, job.traceparent
    assert_equal({ "x" => 1 }, job.kwargs)
    tp, meta = Timeout.timeout(5) { seen.pop }
    assert_equal TRACEPARENT, tp
    assert_equal({ "tenant" => "a", "traceparent" => TRACEPARENT }, meta)
    assert_equal TRACEPARENT, wait_terminal(q, job.key).traceparent
    assert_equal TRACEPARENT, q.apply("trace", traceparent: TRACEPARENT, timeout: 5)
    assert_nil q.apply("trace", timeout: 5)
    assert_nil q.enqueue("trace").traceparent
    err = assert_raises(Saq::InvalidArgumentError) { q.enqueue("trace", traceparent: "00-nothex-01") }
    refute_empty err.message
  end

  private

  def promtool_check(text)
    return unless system("command -v promtool >/dev/null 2>&1") # optional here; the CLI's tests require it

    out, st = Open3.capture2e("promtool", "check", "metrics", stdin_data: text)
    assert st.success?, "promtool check metrics: #{out}\n#{text}"
  end

  # Counts the saq_queue_iter_jobs submissions made by the block.
  def count_iter_calls
    Thread.current[:saq_iter_calls] = 0
    yield
    Thread.current[:saq_iter_calls]
  ensure
    Thread.current[:saq_iter_calls] = nil
  end

  module CountIter
    def saq_queue_iter_jobs(*args)
      Thread.current[:saq_iter_calls] += 1 if Thread.current[:saq_iter_calls]
      super
    end
  end
  Saq::Native.singleton_class.prepend(CountIter)
end
