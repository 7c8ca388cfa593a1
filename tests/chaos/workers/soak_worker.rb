# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# The Ruby worker of the chaos soak (tests/chaos/soak), on the libsaq binding.
#   ruby -I bindings/ruby/lib -I <ext>/lib soak_worker.rb --url URL --queue NAME --id ID --concurrency N --log FILE
# soak(ms, fail_until): the contract of soak_worker.c ("S ..." at start,
# "E ... ok|fail" before settling, one O_APPEND write per line).
require "saq"

args = ARGV.each_slice(2).to_h { |k, v| [k.delete_prefix("--"), v] }
LOG = File.open(args.fetch("log"), File::WRONLY | File::CREAT | File::APPEND)
LOG.sync = true

def line(*parts)
  LOG.syswrite(parts.join(" ") + "\n")
end

def now_ms = (Process.clock_gettime(Process::CLOCK_REALTIME) * 1000).to_i

soak = lambda do |job|
  attempt = job.attempts
  line("S", job.key, attempt, now_ms)
  sleep((job.kwargs["ms"] || 0) / 1000.0)
  if attempt <= (job.kwargs["fail_until"] || 0)
    line("E", job.key, attempt, now_ms, "fail")
    raise "planned failure"
  end
  line("E", job.key, attempt, now_ms, "ok")
  attempt
end

queue = Saq::Queue.from_url(args.fetch("url"), name: args.fetch("queue"))
worker = Saq::Worker.new(queue, concurrency: Integer(args.fetch("concurrency", "10")), id: args.fetch("id"),
                                functions: { "soak" => soak })
worker.start
$stdout.puts "ready #{worker.id}"
$stdout.flush
stop = Queue.new
%w[INT TERM].each { |sig| Signal.trap(sig) { stop << sig } }
stop.pop
worker.stop
queue.close
