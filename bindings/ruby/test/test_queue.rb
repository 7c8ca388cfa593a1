# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

class TestQueue < Minitest::Test
  include SaqTestHelper

  def test_version_and_ping
    assert_equal Saq::VERSION, Saq.libsaq_version
    assert_match(/\A\d+\.\d+\.\d+\z/, new_queue.ping)
  end

  def test_enqueue_splits_job_fields_from_kwargs
    q = new_queue
    at = Time.now + 3600
    job = q.enqueue("add", a: 1, b: { "c" => [1, 2] }, timeout: 5, retries: 3, ttl: 30, heartbeat: 2,
                           retry_delay: 0.5, retry_backoff: true, meta: { trace: "x" }, key: "k1", scheduled: at)
    assert_instance_of Saq::Job, job
    assert_equal "k1", job.key
    assert_equal "saq:job:#{q.name}:k1", job.id
    assert_equal q.name, job.queue
    assert_equal({ "a" => 1, "b" => { "c" => [1, 2] } }, job.kwargs)
    assert_equal 5.0, job.timeout
    assert_equal 3, job.retries
    assert_equal 30, job.ttl
    assert_equal 2.0, job.heartbeat
    assert_equal 0.5, job.retry_delay
    assert_equal true, job.retry_backoff
    assert_equal({ "trace" => "x" }, job.meta)
    assert_in_delta at.to_f, job.scheduled, 0.001
    assert_equal :queued, job.status
    assert job.queued?
    assert_operator job.queued, :>, 0

    stored = q.job("k1")
    assert_equal job.kwargs, stored.kwargs
    assert_equal "add", stored.to_h["function"]
    assert_equal 5, stored.to_h["timeout"]
    # a scheduled job waits in incomplete, not in queued
    assert_equal 0, q.count(:queued)
    assert_equal 1, q.count(:incomplete)
    # saq returns None for a key that is still incomplete
    assert_nil q.enqueue("add", key: "k1")
  end

  def test_enqueue_many
    q = new_queue
    q.enqueue("add", key: "old")
    specs = [["add", { a: 1, key: "k1", retries: 3 }], ["add", { key: "old" }], [:mul, { a: 2 }], ["add", { key: "k1" }]]
    jobs = q.enqueue_many(specs)
    assert_equal 4, jobs.size
    assert_nil jobs[1]
    assert_nil jobs[3]
    assert_equal "k1", jobs[0].key
    assert_equal 3, jobs[0].retries
    assert_equal :queued, jobs[0].status
    assert_equal "mul", jobs[2].to_h["function"]
    assert_equal({ "a" => 2 }, q.job(jobs[2].key).kwargs)
    assert_equal 3, q.count(:queued)
    assert_equal [], q.enqueue_many([])
    assert_equal [nil], q.enqueue_many([q.job("old")]) # a Saq::Job: still incomplete

    # a bad element refuses the whole call, nothing written
    err = assert_raises(ArgumentError) { q.enqueue_many([["add", { key: "nope" }], 42]) }
    assert_match(/jobs\[1\]/, err.message)
    err = assert_raises(Saq::InvalidArgumentError) { q.enqueue_many([["add", { key: "nope" }], ["add", { timeout: "soon" }]]) }
    assert_match(/jobs\[1\]/, err.message)
    assert_nil q.job("nope")
    assert_raises(ArgumentError) { q.enqueue_many("add") }
  end

  def test_enqueue_a_job_object_again
    q = new_queue
    job = q.enqueue("f", a: 1, timeout: 3, key: "again")
    assert_nil q.enqueue(job) # still incomplete
    q.finish(job, :complete, result: 1)
    back = q.enqueue(q.job(job), a: 2)
    assert_equal "again", back.key
    assert_equal :queued, back.status
    assert_equal({ "a" => 2 }, back.kwargs)
    assert_equal 3.0, back.timeout
  end

  def test_json_values_round_trip
    q = new_queue
    kwargs = { "s" => "h\u00e9llo \u{1F600}", "n" => nil, "f" => 1.5, "big" => 2**62, "l" => [true, false],
               "nan" => Float::NAN, "inf" => -Float::INFINITY }
    job = q.enqueue("f", **kwargs)
    back = q.job(job).kwargs
    assert_equal kwargs.except("nan"), back.except("nan")
    assert back["nan"].nan?
  end

  def test_job_and_jobs_for_missing_keys
    q = new_queue
    a = q.enqueue("f", x: 1)
    assert_nil q.job("missing")
    found = q.jobs([a.key, "missing", a])
    assert_equal [a.key, nil, a.key], found.map { |j| j&.key }
  end

  def test_count_kinds_and_bad_kind
    q = new_queue
    3.times { |i| q.enqueue("f", i: i) }
    assert_equal 3, q.count(:queued)
    assert_equal 3, q.count("incomplete")
    assert_equal 0, q.count(:active)
    err = assert_raises(Saq::InvalidArgumentError) { q.count(:bogus) }
    assert_equal Saq::Native::SAQ_EINVAL, err.code
    assert_equal "SAQ_EINVAL", err.code_name
  end

  def test_abort_waiting_job_and_missing_job
    q = new_queue
    job = q.enqueue("f")
    after = q.abort(job, "changed my mind")
    assert_equal :aborted, after.status
    assert_equal "changed my mind", after.error
    assert_equal :aborted, q.job(job.key).status
    assert q.job(job.key).aborted?
    assert_equal 0, q.count(:queued)
    assert_raises(Saq::NotFoundError) { q.abort("no-such-job", "x") }
  end

  def test_info_and_stats
    q = new_queue
    job = q.enqueue("f", a: 1)
    info = q.info(jobs: true)
    assert_equal q.name, info["name"]
    assert_equal 1, info["queued"]
    assert_equal [job.key], info["jobs"].map { |j| j["key"] }
    assert_equal({}, info["workers"])
    assert_empty q.info(jobs: true, offset: 1)["jobs"]
    stats = q.stats(ttl: 10)
    %w[complete failed retried aborted uptime].each { |k| assert_kind_of Integer, stats.fetch(k) }
  end

  def test_retry_finish_update
    q = new_queue
    job = q.enqueue("f")
    assert_in_delta 0.25, q.update(job, progress: 0.25, meta: { "step" => 1 }).progress, 1e-9
    assert_equal({ "step" => 1 }, q.job(job).meta)
    retried = q.retry(job, "try again")
    assert_equal :queued, retried.status
    assert_equal "try again", retried.error
    done = q.finish(job, :complete, result: { "ok" => true })
    assert_equal :complete, done.status
    assert_equal({ "ok" => true }, q.job(job).result)
    assert_raises(Saq::NotFoundError) { q.finish("nope", :failed, error: "x") }
  end

  def test_schedule_promotes_due_jobs
    q = new_queue
    job = q.enqueue("f", scheduled: Time.now + 0.3)
    assert_equal 0, q.count(:queued)
    sleep 0.5
    assert_equal [job.id], q.schedule(lock: 1)
    assert_equal 1, q.count(:queued)
  end

  def test_sweep_returns_ids
    assert_equal [], new_queue.sweep(lock: 1, abort: 0.1)
  end

  def test_listen_yields_statuses_until_truthy
    q = new_queue
    job = q.enqueue("f")
    seen = []
    finisher = Thread.new do
      sleep 0.2
      q.update(job, progress: 0.5)
      q.finish(job, :complete, result: 1)
    end
    q.listen([job], timeout: 5) do |key, status|
      seen << [key, status]
      status == :complete
    end
    finisher.join
    assert_equal [job.key, :complete], seen.last
    assert_includes seen.map(&:last), :queued # update publishes the stored status
  end

  def test_listen_times_out
    q = new_queue
    t0 = monotonic
    assert_raises(Saq::TimeoutError) { q.listen(["nobody"], timeout: 0.3) { false } }
    assert_operator monotonic - t0, :<, 2
  end

  def test_listen_stops_when_block_raises
    q = new_queue
    job = q.enqueue("f")
    Thread.new { sleep 0.1; q.update(job, progress: 0.1) }
    assert_raises(ArgumentError) { q.listen(job, timeout: 5) { raise ArgumentError, "stop" } }
    # the queue still works, and the listen was stopped (no leaked subscription user)
    assert_equal 1, q.count(:queued)
  end

  def test_apply_times_out_without_worker
    q = new_queue
    t0 = monotonic
    assert_raises(Saq::TimeoutError) { q.apply("nobody", timeout: 0.3) }
    assert_operator monotonic - t0, :<, 2
  end

  def test_batch_aborts_recorded_jobs_on_error
    q = new_queue
    keys = []
    err = assert_raises(RuntimeError) do
      q.batch do
        keys << q.enqueue("f", i: 1).key
        keys << q.enqueue("f", i: 2).key
        raise "oops"
      end
    end
    assert_equal "oops", err.message
    statuses = keys.map { |k| q.job(k).status }
    assert_equal %i[aborted aborted], statuses
    assert_equal "cancelled", q.job(keys[0]).error

    kept = nil
    q.batch { kept = q.enqueue("f", i: 3).key }
    assert_equal :queued, q.job(kept).status
  end

  def test_errors_are_generated_per_code
    assert_operator Saq::TimeoutError, :<, Saq::Error
    assert_operator Saq::JobError, :<, Saq::Error
    assert_equal Saq::Native::SAQ_ETIMEDOUT, Saq::TimeoutError::CODE
    assert_equal Saq::Native::SAQ_EFORKED, Saq::ForkedError::CODE
    assert_same Saq::NotFoundError, Saq::ERRORS[Saq::Native::SAQ_ENOTFOUND]
    Saq::ERRORS.each { |code, klass| assert_equal code, klass::CODE }
    assert_operator Saq::ERRORS.size, :>=, 18
    assert_instance_of Saq::Error, Saq.error_for(-9999, "x")
    refute_operator Saq::Cancelled, :<, StandardError
  end

  def test_bad_configuration
    assert_raises(Saq::URLError) { Saq::Queue.from_url("valkeys://localhost:1/0", name: "x") }
    e = assert_raises(Saq::URLError) { Saq::Queue.from_url("redis://localhost:1/0?ssl_cert_reqs=none", name: "x") }
    assert_match(%r{ssl_cert_reqs needs TLS \(a rediss://, rediss\+sentinel:// or rediss\+cluster:// url\)}, e.message)
    assert_raises(Saq::InvalidArgumentError) { Saq::Queue.from_url(REDIS_URL, name: "bad:name") }
    assert_raises(ArgumentError) { Saq::Queue.from_url(REDIS_URL, name: "x", colour: "red") }
    # tls: is libsaq's tls.* keys: refused on a plaintext url, unknown keys refused, files read at open
    e = assert_raises(Saq::InvalidArgumentError) { Saq::Queue.from_url(REDIS_URL, name: "x", tls: { cert_reqs: "none" }) }
    assert_match(/tls.cert_reqs needs a rediss:\/\/ url/, e.message)
    e = assert_raises(ArgumentError) { Saq::Queue.from_url("rediss://localhost:1/0", name: "x", tls: { ca_file: "x" }) }
    assert_match(/unknown tls option\(s\): ca_file/, e.message)
    e = assert_raises(Saq::TLSError) { Saq::Queue.from_url("rediss://localhost:1/0", name: "x", tls: { ca_certs: "/nonexistent/ca.pem" }) }
    assert_match(%r{ssl_ca_certs '/nonexistent/ca.pem': No such file}, e.message)
    q = Saq::Queue.from_url(REDIS_URL, name: "x", dialect: "0.13", command_timeout_ms: 1000)
    assert_equal "0.13", q.dialect
    q.close
  end

  # A failed open raises the code libsaq reports, with its message (the gem
  # used to say EINVAL for every queue that could not be made).
  def test_a_failed_open_raises_libsaqs_code
    Saq::Queue.from_url(REDIS_URL, name: "fds").close # libuv's one-time set-up needs descriptors
    old = Process.getrlimit(:NOFILE)
    files = []
    begin
      Process.setrlimit(:NOFILE, [old[0], 1024].min, old[1])
      loop { files << File.open(File::NULL) }
    rescue Errno::EMFILE
      err = assert_raises(Saq::OutOfMemoryError) { Saq::Queue.from_url(REDIS_URL, name: "fds") }
    ensure
      files.each(&:close)
      Process.setrlimit(:NOFILE, *old)
    end
    assert_equal Saq::Native::SAQ_ENOMEM, err.code
    assert_match(/cannot create the event loop/, err.message)

    q = new_queue
    err = assert_raises(Saq::InvalidArgumentError) { Saq::Worker.new(q, functions: {}, burst: true) }
    assert_match(/burst mode needs dequeue_timeout > 0/, err.message)
    q.close
    err = assert_raises(Saq::ClosedError) { Saq::Worker.new(q, functions: {}) }
    assert_equal "cannot create the worker: #{Saq::Native.saq_strerror(Saq::Native::SAQ_ECLOSED)}", err.message
  end

  def test_close_then_use_raises_closed
    q = Saq::Queue.from_url(REDIS_URL, name: "closing") { |qq| qq.ping && qq }
    assert q.closed?
    assert_raises(Saq::ClosedError) { q.count(:queued) }
  end

  def test_connection_refused_is_an_error
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] } rescue 1
    q = Saq::Queue.from_url("redis://127.0.0.1:#{port}/0", name: "down", connect_timeout_ms: 200, logger: nil,
                                                              command_timeout_ms: 500)
    @queues << q
    assert_raises(Saq::ConnectionError, Saq::TimeoutError) { q.count(:queued) }
  end
end
