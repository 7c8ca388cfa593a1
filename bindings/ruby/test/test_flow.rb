# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# Flows (issue 19): member jobs and a callback enqueued exactly once when
# every member is terminal, with their outcomes in its kwargs.
require_relative "test_helper"

class TestFlow < Minitest::Test
  include SaqTestHelper

  def test_callback_once_with_outcomes
    q = new_queue
    runs = Queue.new
    start_worker(q, functions: {
                   "add" => ->(job) { job.kwargs["a"] + job.kwargs["b"] },
                   "boom" => ->(_job) { raise "boom" },
                   "done" => ->(job) { runs << job.kwargs; "ok" }
                 })
    out = q.enqueue_flow([["add", { a: 1, b: 2, key: "r1" }], ["boom", { key: "r2", retries: 1 }],
                          ["add", { a: 40, b: 2, key: "r3" }]],
                         ["done", { note: "hi", key: "rb-flow" }], ttl: 3600)
    assert_equal({ id: "rb-flow", callback: "rb-flow", members: %w[r1 r2 r3] }, out)
    assert_nil q.enqueue_flow([["add", { key: "r1" }]], ["done", { key: "rb-flow" }]) # recorded already
    kwargs = wait_for("the callback", timeout: 15) { runs.empty? ? nil : runs.pop }
    assert_equal "hi", kwargs["note"]
    flow = Saq.flow_outcome(kwargs)
    assert_equal "rb-flow", flow["id"]
    assert_equal [%w[r1 complete], %w[r2 failed], %w[r3 complete]], flow["members"].map { |m| [m["key"], m["status"]] }
    assert_equal 42, flow["members"][2]["result"]
    assert_match(/boom/, flow["members"][1]["error"])
    assert_equal "complete", wait_terminal(q, "rb-flow", timeout: 5).status.to_s
    sleep 2.5 # a periodic check or two: still once
    assert runs.empty?, "the callback ran twice"
    info = q.flow("rb-flow")
    assert_equal "done", info[:state]
    assert_equal 0, info[:pending]
    assert_equal 3, info[:total]
    assert_operator info[:done_ms], :>, 0
  end

  def test_finished_elsewhere_and_refusals
    q = new_queue
    q.enqueue_flow([["py", { key: "p1" }], ["py", { key: "p2" }]], ["cb", { key: "fl" }])
    info = q.flow("fl")
    assert_equal ["open", 2, "queued"], [info[:state], info[:pending], info[:members][0]["status"]]
    q.finish("p1", :complete, result: [1, 2])
    q.finish("p2", :failed, error: "no")
    info = q.flow("fl") # records what it finds: the callback is enqueued
    assert_equal "done", info[:state]
    assert_equal [[1, 2], "no"], [info[:members][0]["result"], info[:members][1]["error"]]
    cb = q.job("fl")
    assert_equal "queued", cb.status.to_s
    assert_equal %w[complete failed], Saq.flow_outcome(cb)["members"].map { |m| m["status"] }

    assert_nil q.flow("nope")
    assert_raises(Saq::InvalidArgumentError) { q.enqueue_flow([], ["cb", {}]) }
    assert_raises(Saq::InvalidArgumentError) { q.enqueue_flow([["x", { key: "d" }], ["x", { key: "d" }]], ["cb", {}]) }
    assert_raises(Saq::InvalidArgumentError) { q.enqueue_flow([["x", {}]], ["cb", { flow: 1 }]) }
    q.enqueue("x", key: "taken")
    assert_raises(Saq::StateError) { q.enqueue_flow([["x", { key: "free" }], ["x", { key: "taken" }]], ["cb", { key: "f2" }]) }
    assert_nil q.job("free")
    assert_nil q.flow("f2")
  end

  def test_outcomes_over_max_payload
    q = new_queue(max_payload_bytes: 16_384)
    keys = (0..6).map { |i| "b#{i}" }
    q.enqueue_flow(keys.map { |k| ["py", { key: k }] }, ["cb", { key: "fb" }])
    big = "x" * 3000
    keys.each { |k| q.finish(k, :complete, result: big) }
    info = q.flow("fb") # records them: the callback is enqueued
    assert_equal big, info[:members][6]["result"]
    out = Saq.flow_outcome(q.job("fb"))
    assert_equal ["result"], out["omitted"]
    assert_equal keys.map { ["complete", nil] }, out["members"].map { |m| [m["status"], m["result"]] }
  end
end
