# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

# A real Redis Cluster (3 masters with a replica each) started by
# tests/support/with-redis --cluster, which exports REDIS_CLUSTER_URL
# (redis+cluster://..., passed unchanged) and REDIS_CLUSTER_QUEUES (three
# hash-tagged queue names whose slots are on three different masters).
class TestCluster < Minitest::Test
  include SaqTestHelper

  def cluster_env
    url = ENV.fetch("REDIS_CLUSTER_URL", "")
    names = ENV.fetch("REDIS_CLUSTER_QUEUES", "").split
    if url.empty? || names.size != 3
      skip "REDIS_CLUSTER_URL/REDIS_CLUSTER_QUEUES are not set: run under tests/support/with-redis --cluster " \
           "(see bindings/ruby/run-tests.sh)"
    end
    [url, names]
  end

  def test_multi_queue_worker_across_three_masters
    url, names = cluster_env
    # min_replicas: 1: every master has a replica, so each enqueue and finish
    # waits for its acknowledgement (WAIT) and succeeds
    qs = names.map do |n|
      q = Saq::Queue.from_url(url, name: n, min_replicas: 1, min_replicas_timeout_ms: 2000)
      @queues << q
      q
    end
    assert_equal names, qs.map(&:name)
    fn = ->(job, n:) { [job.ctx[:queue].name, n * 2] }
    w = start_worker(qs[0], functions: { "double" => fn }, queues: qs[1..], queue_order: :weighted)

    # apply on each queue: enqueue on its master, the result through that
    # master's pub/sub, run by the one worker
    qs.each_with_index do |q, i|
      assert_equal [q.name, 2 * i], q.apply("double", n: i, timeout: 10)
    end
    jobs = qs.flat_map { |q| Array.new(5) { |j| [q, q.enqueue("double", n: j)] } }
    jobs.each do |q, job|
      done = wait_terminal(q, job.key, timeout: 10)
      assert_equal :complete, done.status
      assert_equal [q.name, 2 * job.kwargs["n"]], done.result
    end
    per_queue = w.stats["queues"].map { |s| [s["name"], s["complete"]] }
    assert_equal names.map { |n| [n, 6] }, per_queue
    assert w.stop(timeout: 10)
  end

  def test_queue_name_without_hash_tag_is_refused
    url, = cluster_env
    e = assert_raises(Saq::InvalidArgumentError) { Saq::Queue.from_url(url, name: "orders") }
    assert_equal "SAQ_EINVAL", e.code_name
    assert_includes e.message, "hash tag"
    assert_includes e.message, "{orders}"
  end
end
