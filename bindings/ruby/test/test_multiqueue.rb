# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

# A worker serving several queues (Worker.new(q, queues: [...], queue_order:)),
# and the queue options for deployments past one Redis (min_replicas,
# sentinel:) on the plain redis-server of with-redis.
class TestMultiQueue < Minitest::Test
  include SaqTestHelper

  # Jobs that record (queue letter, order of start) in `log`.
  def recorder(log)
    ->(job) { log << job.kwargs["tag"]; job.kwargs["tag"] }
  end

  def test_three_queues_processed_with_their_queue_in_ctx
    qs = Array.new(3) { new_queue }
    seen = Queue.new
    fn = ->(job) { seen << [job.kwargs["n"], job.ctx[:queue].name, job.queue]; job.kwargs["n"] * 10 }
    w = start_worker(qs[0], functions: { "f" => fn }, queues: [qs[1], [qs[2], 2]])
    assert_equal qs, w.queues
    assert_includes w.inspect, qs[2].name

    keys = qs.each_with_index.flat_map do |q, i|
      Array.new(3) { |j| [q, q.enqueue("f", n: i * 3 + j).key] }
    end
    keys.each_with_index do |(q, key), n|
      done = wait_terminal(q, key)
      assert_equal :complete, done.status
      assert_equal n * 10, done.result
      assert_equal q.name, done.queue
      i = qs.index(q) # the worker's id on its own queue, "<id>.<n>" on the n-th added one
      assert_equal(i.zero? ? w.id : "#{w.id}.#{i}", done.worker_id)
    end
    runs = Array.new(9) { seen.pop }
    runs.each { |n, ctx_queue, job_queue| assert_equal [qs[n / 3].name] * 2, [ctx_queue, job_queue] }
    assert_equal (0...9).to_a, runs.map(&:first).sort

    stats = w.stats
    assert_equal 9, stats["complete"]
    assert_equal qs.map(&:name), stats["queues"].map { |s| s["name"] }
    assert_equal [3, 3, 3], stats["queues"].map { |s| s["complete"] }
    # each queue's saq info() lists the worker
    qs.each { |q| refute_empty q.info["workers"] }
    assert w.stop(timeout: 5)
  end

  def test_strict_order_with_concurrency_one
    a, b, c = Array.new(3) { new_queue }
    # enqueued last-queue first: the order comes from the worker, not from time
    2.times { c.enqueue("rec", tag: "c") }
    3.times { b.enqueue("rec", tag: "b") }
    3.times { a.enqueue("rec", tag: "a") }
    log = Queue.new
    start_worker(a, concurrency: 1, functions: { "rec" => recorder(log) }, queues: [b, c], queue_order: :strict)
    order = Array.new(8) { Timeout.timeout(10) { log.pop } }.join
    assert_equal "aaabbbcc", order
  end

  def test_weighted_order_shares_slots_by_weight
    a, b = Array.new(2) { new_queue }
    20.times { a.enqueue("rec", tag: "a") }
    20.times { b.enqueue("rec", tag: "b") }
    log = Queue.new
    start_worker(a, concurrency: 1, functions: { "rec" => recorder(log) },
                    queues: { b => 1 }, queue_order: :weighted, queue_weight: 3)
    order = Array.new(40) { Timeout.timeout(10) { log.pop } }.join
    first = order[0, 20]
    # 3:1 while both have jobs: 15 of the first 20 by the round robin (strict
    # order would give 20, an even share 10)
    assert_includes 13..17, first.count("a"), "first 20 starts: #{first}"
  end

  # Two queues may hold the same key: an abort of one must cancel that job's
  # handler, not the other's (the worker used to track running jobs by key,
  # and cancelled the one that started last).
  def test_abort_of_a_key_running_on_two_queues_cancels_the_right_one
    a, b = Array.new(2) { new_queue }
    started = Queue.new
    cancelled = Queue.new
    slow = lambda do |job|
      started << job.queue
      sleep 3
      "done"
    rescue Saq::Cancelled => e
      cancelled << [job.queue, e.reason]
      raise
    end
    start_worker(a, concurrency: 2, functions: { "slow" => slow }, queues: [b])
    jb = b.enqueue("slow", key: "same", timeout: 30)
    assert_equal b.name, Timeout.timeout(10) { started.pop }
    ja = a.enqueue("slow", key: "same", timeout: 30) # starts last
    assert_equal a.name, Timeout.timeout(10) { started.pop }
    assert_equal :aborting, b.abort(jb, "stop b").status
    done_b = wait_terminal(b, jb.key)
    assert_equal :aborted, done_b.status
    assert_equal [b.name, :aborted], Timeout.timeout(10) { cancelled.pop }
    done_a = wait_terminal(a, ja.key)
    assert_equal :complete, done_a.status, "a's job: #{done_a.error}"
    assert_equal "done", done_a.result
    assert cancelled.empty?, "cancelled too: #{cancelled.pop.inspect}" unless cancelled.empty?
  end

  def test_refusals_raise_the_binding_errors
    a, b = Array.new(2) { new_queue }
    fns = { "f" => ->(_job) {} }
    e = assert_raises(Saq::InvalidArgumentError) { Saq::Worker.new(a, functions: fns, queue_order: :random) }
    assert_includes e.message, "strict"
    assert_equal "SAQ_EINVAL", e.code_name
    e = assert_raises(Saq::InvalidArgumentError) { Saq::Worker.new(a, functions: fns, queues: [[b, 0]]) }
    assert_includes e.message, b.name
    assert_raises(Saq::InvalidArgumentError) { Saq::Worker.new(a, functions: fns, queues: [b, b]) }
    assert_raises(Saq::InvalidArgumentError) { Saq::Worker.new(a, functions: fns, queues: [a]) }
    assert_raises(ArgumentError) { Saq::Worker.new(a, functions: fns, queues: ["name"]) }
    assert_raises(ArgumentError) { Saq::Worker.new(a, functions: fns, queues: [[b, 1.5]]) }
    closed = new_queue
    closed.close
    assert_raises(Saq::ClosedError) { Saq::Worker.new(a, functions: fns, queues: [closed]) }
  end

  def test_min_replicas_waits_for_replicas
    # with-redis's server has no replica: the enqueue is written on the
    # master and reported as not acknowledged by enough replicas
    q = new_queue(min_replicas: 1, min_replicas_timeout_ms: 100)
    e = assert_raises(Saq::TimeoutError) { q.enqueue("f", key: "k1") }
    assert_match(/only 0 of min_replicas=1 replicas acknowledged/, e.message)
    assert_equal :queued, q.job("k1").status
    refute_nil new_queue(min_replicas: 0).enqueue("f") # 0: no WAIT
    assert_raises(Saq::InvalidArgumentError) { new_queue(min_replicas: -1) }
  end

  def test_sentinel_options_need_a_sentinel_url
    e = assert_raises(Saq::InvalidArgumentError) { new_queue(sentinel: { password: "s3cret" }) }
    assert_includes e.message, "redis+sentinel://"
    refute_includes e.message, "s3cret"
    e = assert_raises(ArgumentError) { new_queue(sentinel: { pass: "x" }) }
    assert_match(/unknown sentinel option\(s\): pass/, e.message)
    assert_raises(ArgumentError) { new_queue(sentinel: "x") }
    # the url forms are libsaq's: a sentinel url without a master name is refused there
    e = assert_raises(Saq::URLError) { Saq::Queue.new(url: "redis+sentinel://127.0.0.1:1", name: "x") }
    assert_includes e.message, "master name"
  end
end
