# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"
require "open3"

# Payloads and exceptions that a Python or C producer, or a careless
# handler, can legitimately produce: none may stop the worker's loop or
# leave a job unsettled.
class TestHostileJobs < Minitest::Test
  include SaqTestHelper

  def nested(depth)
    depth.times.inject(1) { |acc, _| [acc] }
  end

  def depth_of(value)
    d = 0
    while value.is_a?(Array)
      d += 1
      value = value.first
    end
    d
  end

  # Ruby's JSON stops at 100 levels by default: such a job used to end the
  # worker's event loop (JSON::NestingError), and the worker took no job again.
  def test_jobs_deeper_than_100_levels_run_and_the_worker_goes_on
    q = new_queue
    start_worker(q, functions: { "depth" => ->(job) { depth_of(job.kwargs["v"]) }, "ok" => ->(_job) { 1 } })
    key = enqueue_raw(q, "depth", JSON.generate({ "v" => nested(300) }, max_nesting: false))
    job = wait_terminal(q, key)
    assert_equal :complete, job.status, job.error
    assert_equal 300, job.result
    assert_equal 1, q.apply("ok", timeout: 5)
  end

  # A Python producer sends a lone surrogate as "\udbff" (json.dumps of
  # "\udbff"); Ruby's parser refused it and the worker's loop died. Now the
  # handler gets the surrogate as WTF-8 bytes and an echo stores the very
  # same escapes.
  def test_lone_surrogates_reach_the_handler_and_round_trip
    q = new_queue
    seen = ::Queue.new
    start_worker(q, functions: { "echo" => ->(job) { seen << job.kwargs; job.kwargs }, "ok" => ->(_job) { 1 } })
    text = '{"s":"a\udbffb","t":"\ud800\udbff\udc00","u":"\udc00","k":{"\udbff":"\\\\ud800"}}'
    key = enqueue_raw(q, "echo", text)
    kwargs = Timeout.timeout(5) { seen.pop }
    assert_equal "a\xED\xAF\xBFb".b, kwargs["s"].b
    assert_equal "\xED\xA0\x80\u{10FC00}".b, kwargs["t"].b # a high surrogate, then a valid pair
    assert_equal "\xED\xB0\x80".b, kwargs["u"].b
    assert_equal "\\ud800", kwargs["k"]["\xED\xAF\xBF"]
    job = wait_terminal(q, key)
    assert_equal :complete, job.status, job.error
    assert_equal kwargs, job.result
    # the record holds the escapes Python wrote, not U+FFFD
    record = job.to_json
    assert_includes record, '"s":"a\udbffb"'
    assert_includes record, '"u":"\udc00"'
    assert_includes record, '{"\udbff":"\\\\ud800"}'
    assert_equal 1, q.apply("ok", timeout: 5)
  end

  # A job that Ruby cannot decode at all is failed with the reason (it used
  # to end the event loop instead).
  def test_a_job_ruby_cannot_decode_is_failed_visibly
    q = new_queue
    start_worker(q, functions: { "f" => ->(_job) { 1 } })
    hook = Module.new do
      def load(text)
        raise JSON::ParserError, "test: refused" if text&.include?("__undecodable__") && Thread.current.name == "saq-poller"

        super
      end
    end
    Saq::Codec.singleton_class.prepend(hook)
    begin
      key = enqueue_raw(q, "f", '{"x":"__undecodable__"}')
      job = wait_terminal(q, key)
    ensure
      hook.send(:remove_method, :load)
    end
    assert_equal :failed, job.status
    assert_match(/\ASaq::DecodeError: the Ruby worker cannot decode job .*test: refused/, job.error)
    assert_equal 1, q.apply("f", timeout: 5)
  end

  # saq_job_fail takes a C string: a NUL in the message raised ArgumentError
  # and the job stayed active.
  def test_an_exception_message_with_a_nul_byte_fails_the_job
    q = new_queue
    start_worker(q, functions: { "nul" => ->(_job) { raise "a\0b" } })
    e = assert_raises(Saq::JobError) { q.apply("nul", timeout: 5) }
    assert_equal :failed, e.job.status
    assert_match(/\ARuntimeError: a\\u0000b\n/, e.job.error)
  end

  def test_exception_messages_in_any_encoding_or_unreadable_fail_the_job
    q = new_queue
    bad = RuntimeError.new("x")
    def bad.message = raise(NoMethodError, "no message today")
    start_worker(q, concurrency: 1, functions: {
                   "utf16" => ->(_job) { raise ArgumentError, "h\u00e9llo\0".encode("UTF-16LE") },
                   "sjis" => ->(_job) { raise "\u3042".encode("Shift_JIS") },
                   "binary" => ->(_job) { raise "caf\xC3\xA9 \xff".b },
                   "unreadable" => ->(_job) { raise bad },
                   "ok" => ->(_job) { 1 }
                 })
    {
      "utf16" => /\AArgumentError: h\u00e9llo\\u0000\n/,
      "sjis" => /\ARuntimeError: \u3042\n/,
      "binary" => /\ARuntimeError: caf\u00e9 \uFFFD\n/,
      "unreadable" => /\ARuntimeError: \(the message could not be read: NoMethodError\)/
    }.each do |fn, want|
      e = assert_raises(Saq::JobError, fn) { q.apply(fn, timeout: 5) }
      assert_equal :failed, e.job.status, fn
      assert_match want, e.job.error, fn
    end
    assert_equal 1, q.apply("ok", timeout: 5)
  end

  # apply and map raised JSON::NestingError / ParserError on results that
  # Python or C wrote; Ruby handlers could not even return them.
  def test_apply_and_map_return_deep_and_surrogate_results
    q = new_queue
    start_worker(q, functions: { "echo" => ->(job) { job.kwargs["v"] } })
    deep = nested(200)
    assert_equal deep, q.apply("echo", v: deep, timeout: 5)
    lone = "x\xED\xAF\xBFy".dup.force_encoding(Encoding::UTF_8)
    r = q.map("echo", [{ v: deep }, { v: lone }], timeout: 5)
    assert_equal deep, r[0]
    assert_equal lone.b, r[1].b
  end

  def test_bigints_nan_infinity_frozen_and_unencodable_results
    q = new_queue
    cyclic = []
    cyclic << cyclic
    start_worker(q, concurrency: 1, functions: {
                   "echo" => ->(job) { job.kwargs["v"] },
                   "special" => ->(_job) { [Float::NAN, Float::INFINITY, -Float::INFINITY, 2**70, -(2**80)] },
                   "frozen" => ->(_job) { { "a" => "b".freeze }.freeze },
                   "cyclic" => ->(_job) { cyclic },
                   "binary" => ->(_job) { "\xff".b },
                   "ok" => ->(_job) { 1 }
                 })
    assert_equal 2**70, q.apply("echo", v: 2**70, timeout: 5)
    r = q.apply("special", timeout: 5)
    assert r[0].nan?
    assert_equal [Float::INFINITY, -Float::INFINITY, 2**70, -(2**80)], r[1..]
    assert_equal({ "a" => "b" }, q.apply("frozen", timeout: 5))
    e = assert_raises(Saq::JobError) { q.apply("cyclic", timeout: 5) }
    assert_match(/JSON::NestingError/, e.job.error)
    e = assert_raises(Saq::JobError) { q.apply("binary", timeout: 5) }
    assert_match(/JSON::GeneratorError/, e.job.error)
    assert_equal 1, q.apply("ok", timeout: 5)
  end

  EXIT_SCRIPT = <<~'RUBY'
    require "saq"
    q = Saq::Queue.from_url(ENV.fetch("REDIS_URL"), name: ARGV[0])
    w = Saq::Worker.new(q, concurrency: 2, interrupt: ARGV[1] != "no-interrupt",
                           cancellation_hard_deadline: 0.5, logger: Logger.new(nil),
                           shutdown: ->(_ctx) { $stdout.puts "shutdown hook"; $stdout.flush },
                           functions: { "slow" => ->(_job) { sleep 60 } })
    w.start
    key = q.enqueue("slow", retries: 1).key
    $stdout.puts key
    $stdout.flush
    sleep 0.05 until q.job(key).active?
    case ARGV[1]
    when "sigterm" then sleep # until the test's SIGTERM (no trap: Ruby's default)
    when "raise" then raise "the script fails"
    end
    # otherwise the script ends here, without w.stop
  RUBY

  # A script that ended without stopping its worker failed the running jobs
  # ("the handler's thread was killed"), ending them (retries 1). Now the
  # worker is stopped at exit like a saq worker on SIGTERM: the job is put
  # back in the queue, error "cancelled", and the shutdown hooks run.
  def test_exiting_without_stop_puts_running_jobs_back
    lib = $LOAD_PATH.find { |d| File.exist?(File.join(d, "saq.rb")) }
    ext = $LOAD_PATH.find { |d| File.exist?(File.join(d, "saq", "native.so")) }
    %w[end no-interrupt raise sigterm].each do |mode|
      q = new_queue
      t0 = monotonic
      Open3.popen3({ "REDIS_URL" => REDIS_URL }, RbConfig.ruby, "-I#{lib}", "-I#{ext}",
                   "-e", EXIT_SCRIPT, q.name, mode) do |stdin, stdout, stderr, thr|
        stdin.close
        key = stdout.gets&.chomp
        refute_nil key, -> { "#{mode}: #{stderr.read}" } # read only on failure: the child may still run
        if mode == "sigterm"
          wait_for("the job to start") { q.job(key).active? }
          Process.kill("TERM", thr.pid)
        end
        rest = stdout.read
        st = thr.value
      rescue Exception # rubocop:disable Lint/RescueException -- never leave the child behind
        Process.kill("KILL", thr.pid) if thr.alive?
        raise
      else
        elapsed = monotonic - t0
        job = q.job(key)
        assert_equal :queued, job.status, "#{mode}: #{job.error}"
        assert_equal "cancelled", job.error, mode
        assert_equal 1, job.attempts, mode
        assert_equal 1, q.count(:queued), mode
        assert_equal "shutdown hook\n", rest, mode
        assert_operator elapsed, :<, 15, mode
        case mode
        when "sigterm" then assert_equal "TERM", Signal.signame(st.termsig.to_i), "#{mode}: #{st.inspect}"
        when "raise" then assert_equal 1, st.exitstatus, mode
        else assert st.success?, -> { "#{mode}: #{stderr.read}" }
        end
      end
    end
  end
end
