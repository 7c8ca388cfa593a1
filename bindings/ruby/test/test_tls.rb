# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "test_helper"

# rediss:// with the URL of tests/support/with-redis --tls (REDIS_TLS_URL,
# redis-py's ssl_ca_certs parameter) passed unchanged.
class TestTLS < Minitest::Test
  include SaqTestHelper

  ADD = ->(job) { job.kwargs["a"] + job.kwargs["b"] }

  def tls_url
    url = ENV.fetch("REDIS_TLS_URL", "")
    skip "REDIS_TLS_URL is not set: run under tests/support/with-redis --tls (see run-tests.sh)" if url.empty?
    url
  end

  def tls_queue(url)
    q = Saq::Queue.from_url(url, name: "rb-tls-#{SecureRandom.hex(4)}")
    @queues << q
    q
  end

  def test_round_trip_over_tls
    q = tls_queue(tls_url)
    assert_match(/\A\d+\.\d+\.\d+\z/, q.ping)
    start_worker(q, functions: { "add" => ADD })
    job = q.enqueue("add", a: 40, b: 2)
    done = wait_terminal(q, job.key)
    assert_equal :complete, done.status
    assert_equal 42, done.result
    assert_equal 3, q.apply("add", a: 1, b: 2, timeout: 5) # the result through pub/sub over TLS
    # the same record, read through the plaintext port of the same server
    plain = Saq::Queue.from_url(REDIS_URL, name: q.name)
    @queues << plain
    assert_equal :complete, plain.job(job.key).status
  end

  def test_wrong_ca_raises_tls_error
    url = tls_url
    assert_includes url, "/ca.pem"
    q = tls_queue(url.sub("/ca.pem", "/other-ca.pem"))
    err = assert_raises(Saq::TLSError) { q.ping }
    assert_kind_of Saq::Error, err
    assert_equal "SAQ_ETLS", err.code_name
    assert_equal(-19, err.code)
    assert_includes err.message, "certificate"
  end
end
