# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# libsaq for Ruby: enqueue jobs and run them with a worker in the same process.
#
#   gem install saq-0.2.0.gem            # needs libsaq installed (pkg-config libsaq)
#   REDIS_URL=redis://localhost:6379/0 ruby roundtrip.rb
#
# A Python saq 0.26 worker or client on the same Redis and queue name would
# see the same jobs.
require "saq"

url = ENV.fetch("REDIS_URL", "redis://localhost:6379/0")
queue = Saq::Queue.from_url(url, name: "ruby-example-#{Process.pid}")

worker = Saq::Worker.new(
  queue,
  concurrency: 4,
  functions: {
    "add" => ->(job) { job.kwargs["a"] + job.kwargs["b"] },
    "greet" => ->(_job, name:) { "hello #{name}" }, # keyword parameters come from kwargs
    "fail" => ->(_job) { raise ArgumentError, "no such thing" }
  }
)
worker.start # or worker.run: blocks and stops gracefully on SIGINT/SIGTERM

# enqueue: job fields (timeout, retries, ...) are split from the kwargs, as in saq
job = queue.enqueue("add", a: 20, b: 22, timeout: 5, retries: 2)
deadline = Time.now + 10
until job.terminal?
  abort "the job did not finish in time" if Time.now > deadline
  sleep 0.02
  job = queue.job(job.key) # a fresh snapshot of the record
end
puts "#{job.key}: #{job.status} result=#{job.result.inspect}"

# apply: enqueue and wait for the result
greeting = queue.apply("greet", name: "saq", timeout: 5)
puts greeting

# a failing job raises Saq::JobError carrying the final record
begin
  queue.apply("fail", timeout: 5)
rescue Saq::JobError => e
  puts "failed as expected: #{e.job.error.lines.first.strip}"
end

ok = job.status == :complete && job.result == 42 && greeting == "hello saq"
worker.stop(timeout: 10)
queue.close
puts "saq #{Saq::VERSION} (libsaq #{Saq.libsaq_version}) from #{Gem.loaded_specs["saq"]&.full_gem_path || "source"}"
puts ok ? "round trip OK" : "round trip FAILED"
exit(ok ? 0 : 1)
